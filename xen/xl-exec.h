/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running the xl toolstack: one command, its output captured (bounded), its
 * run time bounded, its failure turned into a message built from what xl
 * printed. Internal to xen/. */
#ifndef FERRY_XEN_XL_EXEC_H
#define FERRY_XEN_XL_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#define XEN_XL_OUTPUT_MAX (256u * 1024) /* bytes of stdout/stderr kept */

struct xen_xl_result {
    int status;   /* exit code; 128 + signal when killed */
    char *out;    /* stdout, NUL-terminated; caller frees */
    char *errtxt; /* stderr, NUL-terminated; caller frees */
};

void xen_xl_result_clear(struct xen_xl_result *r);

/* Optional watching of a long xl run (xl migrate). */
struct xen_xl_watch {
    volatile pid_t *pid_slot;   /* the child's pid while it runs, then 0: another
                                 * thread may signal it */
    void (*tick)(void *opaque); /* called about every TICK_MS while it runs */
    void *opaque;
    int tick_ms;
};

/* Runs XL with ARGV (NULL-terminated, without argv[0]) for at most
 * TIMEOUT_MS (killed by PID when over). Returns 0 when it ran (whatever its
 * exit status: see RES->status), a negative errno when it could not be run
 * or timed out. WATCH may be NULL. */
int xen_xl_run(const char *xl, const char *const *argv, int timeout_ms,
               const struct xen_xl_watch *watch, struct xen_xl_result *res,
               struct ferry_error *err);

/* "xl CMD: LAST LINES OF STDERR" into ERR for a failed run; returns -EIO. */
int xen_xl_fail(const char *cmd, const struct xen_xl_result *res, struct ferry_error *err);
#if defined(__clang_analyzer__) && !defined(XEN_XL_EXEC_IMPL)
/* Tells clang-tidy's analyzer the result is negative; see error.h. */
#define xen_xl_fail(...) ferry_error_analyzer_neg(xen_xl_fail(__VA_ARGS__))
#endif

#endif
