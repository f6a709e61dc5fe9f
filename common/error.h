/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The error object every ferry function that can fail takes as its last
 * parameter. Functions return 0 (or a value) on success and a negative errno
 * on failure; the human message goes into the error object. The first error
 * set wins: later calls on an already-set error change nothing, so the
 * outermost caller sees the root cause. */
#ifndef FERRY_COMMON_ERROR_H
#define FERRY_COMMON_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

#define FERRY_ERROR_MSG_MAX 1024

struct ferry_error {
    int code;                      /* positive errno, 0 when unset */
    char msg[FERRY_ERROR_MSG_MAX]; /* "context: detail", NUL-terminated */
};

/* Sets ERR (may be NULL) unless it is already set. CODE is a positive or
 * negative errno; returns it as a negative errno so callers can write
 * `return ferry_error_set(err, EINVAL, "...")`. */
int ferry_error_set(struct ferry_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ferry_error_setv(struct ferry_error *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Like ferry_error_set, with ": strerror(code)" appended. */
int ferry_error_set_errno(struct ferry_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* clang-tidy's analyzer looks at one file at a time and cannot see that the
 * setters above always return a negative errno (error.c's normalise()), so
 * it follows impossible "error set, r >= 0" paths and reports the unset
 * outputs on them. Under the analyzer only, the calls are wrapped so that a
 * non-negative result ends the path; compilers never see this. A file's own
 * variadic wrapper around a setter (which the analyzer does not inline) can
 * be wrapped the same way with ferry_error_analyzer_neg(). */
#ifdef __clang_analyzer__
/* A macro, not a function: the analyzer stops inlining calls a few frames
 * deep, and a call it does not inline would forget the constraint. */
#define ferry_error_analyzer_neg(x)                                                                \
    __extension__({                                                                                \
        int ferry_analyzer_r_ = (x);                                                               \
        if (ferry_analyzer_r_ >= 0)                                                                \
            __builtin_unreachable();                                                               \
        ferry_analyzer_r_;                                                                         \
    })
#ifndef FERRY_ERROR_IMPL
#define ferry_error_set(...)       ferry_error_analyzer_neg(ferry_error_set(__VA_ARGS__))
#define ferry_error_setv(...)      ferry_error_analyzer_neg(ferry_error_setv(__VA_ARGS__))
#define ferry_error_set_errno(...) ferry_error_analyzer_neg(ferry_error_set_errno(__VA_ARGS__))
#endif
#endif

/* Prepends "PREFIX: " to an already-set message (no-op when unset or NULL).
 * Used to add context on the way up: "prepare: disk 'vdb': ...". */
void ferry_error_prefix(struct ferry_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline bool ferry_error_is_set(const struct ferry_error *err)
{
    return err && err->code != 0;
}

static inline void ferry_error_clear(struct ferry_error *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

/* Never NULL: the message, or "unknown error" if unset. */
const char *ferry_error_msg(const struct ferry_error *err);

#endif
