/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* First-error-wins error object; see error.h. */
#define FERRY_ERROR_IMPL /* the definitions below, not error.h's analyzer wrappers */
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int normalise(int code)
{
    if (code < 0)
        code = -code;
    return code ? code : EIO;
}

int ferry_error_setv(struct ferry_error *err, int code, const char *fmt, va_list ap)
{
    code = normalise(code);
    if (err && err->code == 0) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return -code;
}

int ferry_error_set(struct ferry_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = ferry_error_setv(err, code, fmt, ap);
    va_end(ap);
    return r;
}

int ferry_error_set_errno(struct ferry_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    size_t len;

    code = normalise(code);
    if (!err || err->code != 0)
        return -code;
    va_start(ap, fmt);
    ferry_error_setv(err, code, fmt, ap);
    va_end(ap);
    len = strlen(err->msg);
    if (len < sizeof err->msg)
        snprintf(err->msg + len, sizeof err->msg - len, ": %s", strerror(code));
    return -code;
}

void ferry_error_prefix(struct ferry_error *err, const char *fmt, ...)
{
    char prefix[FERRY_ERROR_MSG_MAX];
    char old[FERRY_ERROR_MSG_MAX];
    va_list ap;

    if (!err || err->code == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
}

const char *ferry_error_msg(const struct ferry_error *err)
{
    if (!err || err->code == 0)
        return "unknown error";
    return err->msg;
}
