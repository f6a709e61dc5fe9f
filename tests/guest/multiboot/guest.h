/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reads what the ferry test guest (tests/guest/multiboot) printed on its serial port,
 * so tests can tell it booted, keeps running (also after a migration) and
 * dirties memory at the rate it was given, and that no page came back
 * stale. Used by the e2e tests and the migration benchmarks. */
#ifndef FERRY_GUEST_H
#define FERRY_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Path of the guest kernel built by meson ("" when this toolchain cannot
 * build it), for QEMU's -kernel. */
const char *guest_kernel_path(void);

/* The -accel value for test guests: $FERRY_TEST_ACCEL when set; else
 * "kvm:tcg" when /dev/kvm is usable and is hardware KVM; else "tcg". Some
 * hosts offer a /dev/kvm backed by PVM (kvm_pvm), which runs only guests
 * built for it and emulates everything else, too slowly and without
 * protected-mode iret: the test guest uses TCG there. Borrowed string. */
const char *guest_accel(void);

/* Largest serial log guest_log_read accepts. */
#define GUEST_LOG_MAX_BYTES ((size_t)64 * 1024 * 1024)

struct guest_log {
    bool booted;            /* "ferry-guest: booted ..." seen */
    bool ready;             /* working set initialised, dirtying started */
    bool fatal;             /* the guest stopped itself (exception, no memory) */
    uint64_t rate_mib;      /* rate from the banner, MiB/s; UINT64_MAX for max */
    uint64_t size_mib;      /* working set from the banner */
    uint64_t heartbeats;    /* heartbeat lines seen */
    uint64_t alive;         /* counter of the last heartbeat (restarts never) */
    uint64_t dirtied_mib;   /* cumulative MiB dirtied at the last heartbeat */
    uint64_t errors;        /* stale/lost pages the guest found, last heartbeat */
    uint64_t corrupt_lines; /* "CORRUPT" lines seen */
    uint64_t warnings;      /* "warning:" lines (bad parameters) */
};

/* Parses a whole log text (NUL-terminated, borrowed) into *RET. Lines that
 * are not the guest's are skipped; firmware output may precede the banner on
 * the same line. Always succeeds. */
void guest_log_parse(const char *text, struct guest_log *ret);

/* Reads the serial log at PATH and parses it. A missing file reads as an
 * empty log. Returns 0 or a negative errno with ERR set. */
int guest_log_read(const char *path, struct guest_log *ret, struct ferry_error *err);

#endif
