/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The domain definition: a libvirt-style domain XML subset, parsed with
 * libxml2 under strict limits (no network, no external entities, no DTD
 * loading, bounded size and depth), and formatted back.
 *
 * Elements outside the subset are accepted and listed in
 * domain_def.ignored (XPath-like paths such as "devices/interface") so the
 * caller can report them; elements we cannot safely ignore (for example a
 * disk type we cannot open) are refused with a message naming them. */
#ifndef FERRY_AGENT_DOMAIN_H
#define FERRY_AGENT_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "util.h"

#define DOMAIN_XML_MAX     (1u * 1024 * 1024) /* bytes of XML accepted */
#define DOMAIN_MAX_DISKS   32
#define DOMAIN_MAX_NICS    8
#define DOMAIN_MAX_IGNORED 64
#define DOMAIN_MAX_VCPUS   512
#define DOMAIN_PATH_MAX    1024 /* source file paths */
#define DOMAIN_TEXT_MAX    4096 /* any other attribute value or text, cmdline, description */
#define DOMAIN_DEPTH_MAX   32   /* element nesting */
#define DOMAIN_MACHINE_MAX 64   /* bytes of a machine type name, NUL included */

enum domain_disk_format { DOMAIN_DISK_RAW = 0, DOMAIN_DISK_QCOW2 };

enum domain_disk_cache {
    DOMAIN_CACHE_DEFAULT = 0, /* QEMU's default: writeback */
    DOMAIN_CACHE_NONE,        /* O_DIRECT, write-through to the device */
    DOMAIN_CACHE_WRITEBACK,
    DOMAIN_CACHE_WRITETHROUGH,
    DOMAIN_CACHE_UNSAFE,
};

/* <address type='pci' domain bus slot function/>: where a PCI device sits.
 * Assigned once, when the definition is parsed without one, and kept from
 * then on, so that the order of elements never moves a device (the guest
 * names its devices by these). Only the root bus (0) of domain 0, function
 * 0: ferry adds no PCI bridges or root ports. */
struct domain_pci_addr {
    bool set;
    unsigned slot; /* 1..31; 0 is the host bridge */
};

struct domain_disk {
    char target[32]; /* "vda": unique within the domain */
    bool cdrom;      /* <disk device='cdrom'>: read-only, may be empty, never copied */
    char bus[16];    /* "virtio" (default), "sata", "scsi", "ide" */
    char *source;    /* absolute path; NULL for an empty drive */
    /* <disk type='block'> (<source dev>) rather than 'file': kept as
     * written, since a file may live under /dev (/dev/shm) and libvirt
     * keeps its type either way. */
    bool block;
    enum domain_disk_format format;
    enum domain_disk_cache cache;
    /* <driver io= discard= detect_zeroes=> as libvirt spells them, ""
     * when absent: io native|threads|io_uring (QEMU's aio=), discard
     * unmap|ignore (absent: ferry's unmap, which keeps a migration's
     * target sparse), detect_zeroes off|on|unmap (QEMU's detect-zeroes). */
    char io[16];
    char discard[8];
    char detect_zeroes[8];
    bool readonly;
    bool shareable;              /* shared storage: never copied */
    char serial[64];             /* optional; "" if none */
    struct domain_pci_addr addr; /* bus virtio only */
    /* Bus sata/ide: the drive's position on the machine's disk controller
     * (q35: AHCI port; pc: IDE bus drive/2, unit drive%2); bus scsi: its
     * LUN on the virtio-scsi controller (target 0). Assigned once at
     * define like a PCI slot; <address type='drive'> in the XML. -1 until
     * then. */
    int drive;
};

/* <interface type=...>: how the NIC reaches the host. */
enum domain_nic_type {
    DOMAIN_NIC_USER = 0, /* QEMU's user-mode network (slirp) */
    DOMAIN_NIC_ETHERNET, /* a tap device, configured by the host */
    DOMAIN_NIC_BRIDGE,   /* a tap device attached to a host bridge */
};

/* <model type=...>: the device the guest sees. */
enum domain_nic_model {
    DOMAIN_NIC_RTL8139 = 0, /* libvirt's x86 default when <model> is absent */
    DOMAIN_NIC_VIRTIO,
    DOMAIN_NIC_E1000,
};

#define DOMAIN_IFNAME_MAX 16 /* IFNAMSIZ */

struct domain_nic {
    enum domain_nic_type type;
    enum domain_nic_model model;
    char mac[18];                   /* "52:54:00:xx:xx:xx", lower case; generated at define */
    char bridge[DOMAIN_IFNAME_MAX]; /* <source bridge>: type bridge only */
    char tap[DOMAIN_IFNAME_MAX];    /* <target dev>; "" lets the host name it (vnetN) */
    struct domain_pci_addr addr;
};

/* <serial>/<console>: the guest's first serial port (an isa-serial) and
 * how the host reaches it. */
enum domain_chr_type {
    DOMAIN_CHR_NONE = 0, /* none in the XML: ferry still gives the guest one,
                          * logged to the agent's STATE/run/NAME.serial */
    DOMAIN_CHR_PTY,      /* a pseudo-terminal QEMU opens */
    DOMAIN_CHR_UNIX,     /* a unix socket QEMU listens on */
};

struct domain_serial {
    enum domain_chr_type type;
    char *path; /* unix: <source mode='bind' path>; NULL: the agent's STATE/run/NAME.console */
};

/* <video><model type=...>. */
enum domain_video_model {
    DOMAIN_VIDEO_ABSENT = 0, /* no <video>: none, unless there is a <graphics> */
    DOMAIN_VIDEO_VGA,
    DOMAIN_VIDEO_VIRTIO,
    DOMAIN_VIDEO_NONE, /* <model type='none'>: explicitly none */
};

struct domain_video {
    enum domain_video_model model;
    unsigned vram_kib; /* vga: <model vram=> (QEMU's vgamem_mb), 0 = QEMU's default */
    struct domain_pci_addr addr;
};

/* <graphics type='vnc'>. */
struct domain_graphics {
    bool vnc;
    int port;        /* 5900..65535, or -1 for autoport */
    char listen[64]; /* an address; "" = 127.0.0.1 (libvirt's vnc_listen default) */
};

/* <cpu mode=...>: the processor the guest sees. */
enum domain_cpu_mode {
    DOMAIN_CPU_ABSENT = 0,       /* no <cpu>: the driver pins a named model at define */
    DOMAIN_CPU_CUSTOM,           /* a named model (MODEL): the same CPU on every host */
    DOMAIN_CPU_HOST_MODEL,       /* the host's CPU, as far as it can migrate */
    DOMAIN_CPU_HOST_PASSTHROUGH, /* the host's CPU as it is */
};

#define DOMAIN_CPU_MODEL_MAX 64 /* bytes of a CPU model name, NUL included */

struct domain_cpu {
    enum domain_cpu_mode mode;
    char model[DOMAIN_CPU_MODEL_MAX]; /* custom: QEMU's name ("qemu64", "Skylake-Server") */
    /* <topology sockets cores threads>: 0 when absent (QEMU's default, one
     * socket per vCPU); when present their product is <vcpu>. */
    unsigned sockets, cores, threads;
};

/* <controller type='scsi' index='0' model='virtio-scsi'>: the one SCSI
 * controller, which disks on bus scsi sit on; added when a disk needs it. */
#define DOMAIN_SCSI_LUNS 32

struct domain_scsi {
    bool present;
    struct domain_pci_addr addr;
};

/* A machine property as the document sets it: DEFAULT when it says
 * nothing (QEMU's default for the machine type). */
enum domain_tristate { DOMAIN_DEFAULT = 0, DOMAIN_ON, DOMAIN_OFF };

/* <features> and <clock>: properties of the machine. <acpi/>, <apic/>,
 * <pae/> are what QEMU gives an x86_64 machine and are not stored. */
struct domain_machine_opts {
    enum domain_tristate vmport; /* <features><vmport state=> */
    enum domain_tristate smm;    /* <features><smm state=> */
    enum domain_tristate hpet;   /* <clock><timer name='hpet' present=> */
    bool rtc_localtime;          /* <clock offset='localtime'>; else utc */
    /* <pm><suspend-to-mem|suspend-to-disk enabled=>: whether the guest's
     * ACPI offers S3 / S4 (ON: yes). */
    enum domain_tristate s3, s4;
};

/* <on_reboot>: what a guest reboot does. <on_poweroff> and <on_crash> can
 * only be destroy (a guest without a pvpanic device cannot tell QEMU it
 * crashed). */
enum domain_on_reboot { DOMAIN_REBOOT_RESTART = 0, DOMAIN_REBOOT_DESTROY };

struct domain_def {
    char name[65];                /* ferry_name_valid() */
    char uuid[FERRY_UUID_STRLEN]; /* generated when absent */
    uint64_t memory_kib;          /* <memory>, converted to KiB */
    unsigned vcpus;
    /* <os><type machine=...>: as written, or "" when absent, after
     * parsing; the driver pins it at define time (hv_driver.domain_define:
     * QEMU expands an alias such as "q35" to the versioned name its QEMU
     * resolves it to, "pc-q35-7.2"), so that the guest's machine does not
     * change with the QEMU of the host it runs on. The arch is always
     * x86_64: another is refused. */
    char machine[DOMAIN_MACHINE_MAX];
    /* <cpu>: pinned at define like the machine (no <cpu> becomes the
     * custom model QEMU_CPU_DEFAULT of the QEMU driver). */
    struct domain_cpu cpu;
    struct domain_machine_opts mopts;
    char *kernel;  /* <os><kernel>: optional direct boot */
    char *initrd;  /* <os><initrd>, optional, only with a kernel */
    char *cmdline; /* <os><cmdline>, optional */
    /* <os><loader>: firmware. type='pflash' readonly='yes' (UEFI: the code
     * read-only, the variables in a per-VM NVRAM file) or type='rom' (a
     * BIOS image). NULL: QEMU's SeaBIOS. */
    char *loader;
    bool loader_rom;
    /* <os><nvram template=...>PATH</nvram>, pflash only. NVRAM NULL: the
     * agent's own STATE/nvram/NAME_VARS.fd. Either is created from
     * NVRAM_TEMPLATE at the guest's first start; the QEMU driver pins a
     * template at define when the document names none. */
    char *nvram;
    char *nvram_template;
    enum domain_on_reboot on_reboot;
    struct domain_serial serial;
    struct domain_graphics graphics;
    struct domain_video video;
    struct domain_scsi scsi;
    char *description; /* optional */
    size_t n_disks;
    struct domain_disk disks[DOMAIN_MAX_DISKS];
    size_t n_nics;
    struct domain_nic nics[DOMAIN_MAX_NICS];
    size_t n_ignored;
    char *ignored[DOMAIN_MAX_IGNORED]; /* element paths we accepted but ignore */
    /* <domain type='xen'>: the whole document as parsed (normalised by
     * libxml2), for the Xen driver, which keeps what the fields above cannot
     * hold (PV/PVH, vifs, VNC, kept xl keys); domain_def_format() returns it
     * with <name> and <uuid> set from the fields. NULL for other types.
     * Nothing in it is listed in IGNORED: the driver reads all of it. */
    char *native_xml;
};

/* Parses XML (LEN bytes, need not be NUL-terminated). On success *ret is a
 * new definition; caller frees with domain_def_free(). Errors: -EINVAL for
 * malformed, hostile or over-limit documents and invalid values,
 * -EOPNOTSUPP for devices ferry cannot run (cdrom, network disks, ...); the
 * message names the element (and the disk's target). */
int domain_def_parse(const char *xml, size_t len, struct domain_def **ret, struct ferry_error *err);

/* As domain_def_parse; with DOMAIN_PARSE_NOT_XEN a <domain type='xen'>
 * document is read as any other type (no native_xml kept): for a driver
 * that runs no Xen guests, whose rules then apply to it, so that what it
 * cannot give the guest is refused by name rather than dropped. */
#define DOMAIN_PARSE_NOT_XEN 1u
int domain_def_parse_flags(const char *xml, size_t len, unsigned flags, struct domain_def **ret,
                           struct ferry_error *err);

/* Formats DEF as domain XML. Caller frees the string with free(). */
char *domain_def_format(const struct domain_def *def);

/* True when A and B define the same guest (every field but the ignored
 * list, which only describes the source document). */
bool domain_def_equal(const struct domain_def *a, const struct domain_def *b);

/* Deep copy; caller frees with domain_def_free(). */
struct domain_def *domain_def_copy(const struct domain_def *def);

void domain_def_free(struct domain_def *def);

/* The disk whose target is TARGET, or NULL. Borrowed. */
struct domain_disk *domain_def_find_disk(struct domain_def *def, const char *target);

const char *domain_disk_format_name(enum domain_disk_format f);
const char *domain_nic_type_name(enum domain_nic_type t);
const char *domain_nic_model_name(enum domain_nic_model m);
const char *domain_disk_cache_name(enum domain_disk_cache c);
const char *domain_cpu_mode_name(enum domain_cpu_mode m);
const char *domain_tristate_name(enum domain_tristate t); /* "on", "off", "" */

#endif
