/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON bodies of CALL, REPLY and ERROR frames: building them, reading
 * them back under the rules of docs/protocol.md, and the stable error
 * codes orchestrators match on. Frames themselves are wire.c's. */
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "util.h"

struct json_object *wire_make_call(const char *method, struct json_object *params)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "method", json_object_new_string(method));
    json_object_object_add(o, "params", params ? params : json_object_new_object());
    return o;
}

struct json_object *wire_make_reply(struct json_object *result)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "result", result ? result : json_object_new_object());
    return o;
}

struct json_object *wire_make_error(const char *code, int errno_, const char *message)
{
    struct json_object *o = json_object_new_object();
    struct json_object *e = json_object_new_object();

    json_object_object_add(e, "code", json_object_new_string(code ? code : "operation-failed"));
    json_object_object_add(e, "errno", json_object_new_int(errno_ < 0 ? -errno_ : errno_));
    json_object_object_add(e, "message", json_object_new_string(message ? message : ""));
    json_object_object_add(o, "error", e);
    return o;
}

/* The stable codes. Several errnos share a code; the first errno listed for
 * a code is the one wire_code_errno() gives back. Append only: orchestrators
 * match on these strings. */
static const struct {
    int errnum;
    const char *code;
} code_table[] = {
    {EINVAL, "invalid-argument"},
    {EDOM, "invalid-argument"},
    {ERANGE, "invalid-argument"},
    {E2BIG, "invalid-argument"},
    {ENAMETOOLONG, "invalid-argument"},
    {ENOENT, "not-found"},
    {ESRCH, "not-found"},
    {ENODEV, "not-found"},
    {ENXIO, "not-found"},
    {EEXIST, "exists"},
    {EBUSY, "busy"},
    {EAGAIN, "busy"},
    {EALREADY, "busy"},
    {EINPROGRESS, "busy"},
    {EOPNOTSUPP, "unsupported"},
    {ENOSYS, "unsupported"},
    {EPROTONOSUPPORT, "unsupported"},
    {ETIMEDOUT, "timeout"},
    {EIO, "io-error"},
    {ENOSPC, "io-error"},
    {EPIPE, "io-error"},
    {ECONNRESET, "io-error"},
    {ECONNREFUSED, "io-error"},
    {EHOSTUNREACH, "io-error"},
    {ENETUNREACH, "io-error"},
    {EPROTO, "protocol-error"},
    {EBADMSG, "protocol-error"},
    {EMSGSIZE, "protocol-error"},
    {EPERM, "permission-denied"},
    {EACCES, "permission-denied"},
    {ENOMEM, "internal-error"},
    {EFAULT, "internal-error"},
    {ECANCELED, "cancelled"},
};

const char *wire_errno_code(int negative_errno)
{
    int e = negative_errno < 0 ? -negative_errno : negative_errno;

    for (size_t i = 0; i < ARRAY_SIZE(code_table); i++) {
        if (code_table[i].errnum == e)
            return code_table[i].code;
    }
    return "operation-failed";
}

int wire_code_errno(const char *code)
{
    if (code) {
        for (size_t i = 0; i < ARRAY_SIZE(code_table); i++) {
            if (strcmp(code_table[i].code, code) == 0)
                return code_table[i].errnum;
        }
    }
    return EIO;
}

/* A string member that contains no NUL byte (json-c keeps lengths, C code
 * reading the string would silently truncate). */
static const char *get_clean_string(struct json_object *o, size_t *ret_len)
{
    const char *s = json_object_get_string(o);
    size_t len = (size_t)json_object_get_string_len(o);

    if (!s || strlen(s) != len)
        return NULL;
    *ret_len = len;
    return s;
}

int wire_call_parse(struct json_object *obj, const char **ret_method,
                    struct json_object **ret_params, struct ferry_error *err)
{
    struct json_object *m, *p = NULL;
    const char *method;
    size_t len;

    if (!obj || !json_object_is_type(obj, json_type_object))
        return ferry_error_set(err, EPROTO, "CALL payload is not an object");
    if (!json_object_object_get_ex(obj, "method", &m) || !json_object_is_type(m, json_type_string))
        return ferry_error_set(err, EPROTO, "CALL payload: \"method\" missing or not a string");
    method = get_clean_string(m, &len);
    if (!method || len == 0 || len > 64)
        return ferry_error_set(err, EPROTO, "CALL payload: \"method\" must be 1..64 characters");
    if (json_object_object_get_ex(obj, "params", &p) && p &&
        !json_object_is_type(p, json_type_object))
        return ferry_error_set(err, EPROTO, "CALL payload: \"params\" must be an object");
    if (!p) {
        p = json_object_new_object();
        json_object_object_add(obj, "params", p);
    }
    *ret_method = method;
    *ret_params = p;
    return 0;
}

int wire_error_parse(struct json_object *obj, struct ferry_error *err)
{
    struct json_object *e, *v;
    const char *code = NULL, *message = "no message";
    int errnum = 0;
    size_t len;

    if (!obj || !json_object_object_get_ex(obj, "error", &e) ||
        !json_object_is_type(e, json_type_object))
        return ferry_error_set(err, EPROTO, "ERROR payload without an \"error\" object");
    if (json_object_object_get_ex(e, "code", &v) && json_object_is_type(v, json_type_string))
        code = get_clean_string(v, &len);
    if (!code)
        return ferry_error_set(err, EPROTO, "ERROR payload without a \"code\" string");
    if (json_object_object_get_ex(e, "message", &v) && json_object_is_type(v, json_type_string) &&
        get_clean_string(v, &len))
        message = json_object_get_string(v);
    if (json_object_object_get_ex(e, "errno", &v) && json_object_is_type(v, json_type_int)) {
        int64_t n = json_object_get_int64(v);
        if (n > 0 && n < 4096)
            errnum = (int)n;
    }
    if (!errnum)
        errnum = wire_code_errno(code);
    return ferry_error_set(err, errnum, "%s", message);
}
