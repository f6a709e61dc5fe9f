/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the QEMU driver asks QEMU to build: the command line made from a
 * domain definition (pure, so unit tests can check the arguments each
 * element gives) and the host QEMU's machine types, read once from
 * `-machine help`, that pin an alias to a versioned machine at define
 * time. Internal to the QEMU driver. */
#ifndef FERRY_AGENT_QEMU_CMDLINE_H
#define FERRY_AGENT_QEMU_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain.h"
#include "error.h"

/* Bounded by the definition's own limits (disks, NICs, ...); exceeding it
 * is a programmer error. */
#define QEMU_MAX_ARGS 512

struct qemu_argv {
    char *v[QEMU_MAX_ARGS + 1]; /* NULL-terminated; owned */
    size_t n;
};

/* Host-side inputs of the command line: none of them is guest-visible. */
struct qemu_cmdline_host {
    const char *binary;      /* borrowed */
    bool kvm;                /* accel=kvm, else tcg */
    bool incoming;           /* -S -incoming defer */
    const char *qmp_path;    /* the monitor's unix socket; borrowed */
    const char *serial_path; /* the file the first serial port is logged to; borrowed */
    /* A unix <serial> without <source path>: the socket the agent keeps
     * for it (STATE/run/NAME.console); borrowed. */
    const char *console_path;
    /* A pflash <loader>: the guest's NVRAM file (def->nvram, or the
     * agent's own path); borrowed. */
    const char *nvram_path;
    /* Per NIC of the definition: the descriptor number of its tap in QEMU
     * (ethernet, bridge), -1 for a user NIC. NULL when it has no NICs. */
    const int *nic_fds;
    /* --qemu-user: -runas USER (borrowed; NULL: QEMU keeps the agent's user). */
    const char *runas;
};

/* The machine type used when a definition has none (libvirt's x86_64
 * default); the driver pins it like any alias. */
#define QEMU_MACHINE_DEFAULT "pc"

/* The CPU model a definition without <cpu> is pinned to: QEMU's own x86_64
 * default, so guests defined before ferry pinned CPUs keep their CPU. It
 * runs under KVM and TCG alike and migrates between any two x86 hosts. */
#define QEMU_CPU_DEFAULT "qemu64"

/* Appends QEMU's arguments for DEF (borrowed) to A; free them with
 * qemu_argv_clear(). */
void qemu_cmdline_build(const struct qemu_cmdline_host *h, const struct domain_def *def,
                        struct qemu_argv *a);
void qemu_argv_clear(struct qemu_argv *a);

/* The host side of NICs (qemu-net.c). */
/* Refuses, naming it, a bridge NIC whose bridge this host lacks. */
int qemu_net_check(const struct domain_def *def, struct ferry_error *err);
/* Opens a tap for each ethernet or bridge NIC of DEF (up, attached to its
 * bridge): FDS[i] (DEF->n_nics entries) is its descriptor, O_CLOEXEC, or -1
 * for a user NIC, and NAMES[i] the tap's name ("" for a user NIC). On
 * failure every one opened is closed again. Caller closes them with
 * qemu_net_close() once QEMU holds its copies. */
int qemu_net_open(const struct domain_def *def, int *fds, char (*names)[DOMAIN_IFNAME_MAX],
                  struct ferry_error *err);
void qemu_net_close(int *fds, size_t n);

/* UEFI firmware files (qemu-firmware.c). */
/* At define: pins the variables template of a pflash loader when DEF
 * names none (Debian's OVMF_VARS*.fd beside OVMF_CODE*.fd). */
void qemu_firmware_define(struct domain_def *def);
/* The guest's NVRAM file: def->nvram, or STATE_DIR/nvram/NAME_VARS.fd.
 * Caller frees. */
char *qemu_firmware_nvram_path(const char *state_dir, const struct domain_def *def);
/* Creates the NVRAM file PATH from the template when it does not exist
 * yet (first start); an existing one is the guest's and is kept. */
int qemu_firmware_prepare(const struct domain_def *def, const char *path, struct ferry_error *err);

#define QEMU_MACHINES_MAX 256

struct qemu_machine {
    char name[DOMAIN_MACHINE_MAX];
    char alias_of[DOMAIN_MACHINE_MAX]; /* "" unless NAME is an alias */
};

/* The machine types of one QEMU binary. */
struct qemu_machines {
    size_t n;
    struct qemu_machine m[QEMU_MACHINES_MAX];
};

/* Parses the output of `QEMU -machine help` (TEXT, NUL-terminated) into
 * *RET. Lines past QEMU_MACHINES_MAX are dropped. -EPROTO when TEXT lists
 * no machine at all. */
int qemu_machines_parse(const char *text, struct qemu_machines *ret, struct ferry_error *err);

/* Runs BINARY -machine help (bounded in time and output) and parses it. */
int qemu_machines_query(const char *binary, struct qemu_machines *ret, struct ferry_error *err);

/* The versioned machine type NAME stands for on this QEMU: an alias's
 * target, or NAME itself when QEMU lists it as a machine. Written to BUF
 * (DOMAIN_MACHINE_MAX bytes). -EOPNOTSUPP, naming NAME, when QEMU lacks
 * it. */
int qemu_machines_resolve(const struct qemu_machines *l, const char *name, char *buf,
                          struct ferry_error *err);

/* 0 when this QEMU has the versioned machine NAME as such (not as an
 * alias, which could stand for another machine); -EOPNOTSUPP naming it
 * otherwise. For a migration's destination. */
int qemu_machines_check(const struct qemu_machines *l, const char *name, struct ferry_error *err);

/* The x86 CPU models of one QEMU binary, from `QEMU -cpu help`. */
#define QEMU_CPUS_MAX 512

struct qemu_cpus {
    size_t n;
    char name[QEMU_CPUS_MAX][DOMAIN_CPU_MODEL_MAX];
};

/* Parses `-cpu help` output (TEXT, NUL-terminated); -EPROTO when it lists
 * no x86 model. */
int qemu_cpus_parse(const char *text, struct qemu_cpus *ret, struct ferry_error *err);
/* Runs BINARY -cpu help (bounded) and parses it. */
int qemu_cpus_query(const char *binary, struct qemu_cpus *ret, struct ferry_error *err);
/* 0 when the list has model NAME; -EOPNOTSUPP naming it otherwise. */
int qemu_cpus_check(const struct qemu_cpus *l, const char *name, struct ferry_error *err);

#endif
