/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pieces of HELLO's shared-key authentication (proto/auth.h): key
 * files, nonces, proofs and the "auth" member. The exchange itself runs in
 * the client (proto/client.c) and the agent's server (agent/server.c). */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "cleanup.h"
#include "util.h"

#define AUTH_LABEL "ferry-auth-v1"

static void hex_encode(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int wire_auth_key_load(const char *path, struct wire_auth_key **ret, struct ferry_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct wire_auth_key *k;
    uint8_t digest[32];
    struct stat st;
    ssize_t n;

    if (fd < 0)
        return ferry_error_set_errno(err, errno, "auth key '%s'", path);
    if (fstat(fd, &st) < 0)
        return ferry_error_set_errno(err, errno, "auth key '%s'", path);
    if (!S_ISREG(st.st_mode))
        return ferry_error_set(err, EINVAL, "auth key '%s' is not a regular file", path);
    /* A key others can read is a key others have. */
    if (st.st_mode & 077)
        return ferry_error_set(err, EPERM,
                               "auth key '%s' is accessible by group or others (mode %04o): "
                               "chmod 600 it",
                               path, (unsigned)(st.st_mode & 07777));
    k = ferry_calloc(1, sizeof *k);
    n = read(fd, k->bytes, sizeof k->bytes);
    if (n < 0) {
        int e = errno;
        wire_auth_key_free(k);
        return ferry_error_set_errno(err, e, "auth key '%s'", path);
    }
    /* One byte over the maximum reads as a full buffer: check for more. */
    if ((size_t)n == sizeof k->bytes) {
        uint8_t extra;
        if (read(fd, &extra, 1) > 0) {
            wire_auth_key_free(k);
            return ferry_error_set(err, EINVAL, "auth key '%s' is longer than %d bytes", path,
                                   WIRE_AUTH_KEY_MAX);
        }
    }
    while (n > 0 && (k->bytes[n - 1] == '\n' || k->bytes[n - 1] == '\r' || k->bytes[n - 1] == ' ' ||
                     k->bytes[n - 1] == '\t'))
        n--;
    if (n < WIRE_AUTH_KEY_MIN) {
        wire_auth_key_free(k);
        return ferry_error_set(err, EINVAL,
                               "auth key '%s' holds %zd bytes, fewer than the %d required "
                               "(make one with: head -c 32 /dev/urandom | base64 > FILE)",
                               path, n, WIRE_AUTH_KEY_MIN);
    }
    k->len = (size_t)n;
    gnutls_hash_fast(GNUTLS_DIG_SHA256, k->bytes, k->len, digest);
    hex_encode(digest, 8, k->fingerprint);
    *ret = k;
    return 0;
}

void wire_auth_key_free(struct wire_auth_key *k)
{
    if (!k)
        return;
    explicit_bzero(k, sizeof *k);
    free(k);
}

int wire_auth_nonce(uint8_t nonce[WIRE_AUTH_NONCE], struct ferry_error *err)
{
    if (gnutls_rnd(GNUTLS_RND_NONCE, nonce, WIRE_AUTH_NONCE) < 0)
        return ferry_error_set(err, EIO, "auth: cannot generate a random nonce");
    return 0;
}

void wire_auth_proof(const struct wire_auth_key *k, const char *side,
                     const uint8_t client_nonce[WIRE_AUTH_NONCE],
                     const uint8_t server_nonce[WIRE_AUTH_NONCE], const char *host_uuid,
                     uint8_t ret[WIRE_AUTH_PROOF])
{
    /* label, side and uuid are short and NUL-terminated: the message has
     * one reading only. */
    uint8_t msg[sizeof AUTH_LABEL + 16 + 2 * WIRE_AUTH_NONCE + 64];
    size_t n = 0, ls = strlen(side), lu = strnlen(host_uuid, 63);

    memcpy(msg + n, AUTH_LABEL, sizeof AUTH_LABEL);
    n += sizeof AUTH_LABEL;
    ls = ls > 15 ? 15 : ls;
    memcpy(msg + n, side, ls);
    n += ls;
    msg[n++] = 0;
    memcpy(msg + n, client_nonce, WIRE_AUTH_NONCE);
    n += WIRE_AUTH_NONCE;
    memcpy(msg + n, server_nonce, WIRE_AUTH_NONCE);
    n += WIRE_AUTH_NONCE;
    memcpy(msg + n, host_uuid, lu);
    n += lu;
    msg[n++] = 0;
    gnutls_hmac_fast(GNUTLS_MAC_SHA256, k->bytes, k->len, msg, n, ret);
}

bool wire_auth_proof_equal(const uint8_t a[WIRE_AUTH_PROOF], const uint8_t b[WIRE_AUTH_PROOF])
{
    volatile uint8_t acc = 0;

    for (size_t i = 0; i < WIRE_AUTH_PROOF; i++)
        acc |= a[i] ^ b[i];
    return acc == 0;
}

json_object *wire_auth_to_json(const uint8_t *nonce, const uint8_t *proof)
{
    json_object *o = json_object_new_object();
    char hex[2 * 32 + 1];

    json_object_object_add(o, "scheme", json_object_new_string(WIRE_AUTH_SCHEME));
    if (nonce) {
        hex_encode(nonce, WIRE_AUTH_NONCE, hex);
        json_object_object_add(o, "nonce", json_object_new_string(hex));
    }
    if (proof) {
        hex_encode(proof, WIRE_AUTH_PROOF, hex);
        json_object_object_add(o, "proof", json_object_new_string(hex));
    }
    return o;
}

bool wire_auth_present(json_object *hello)
{
    json_object *a;

    return json_object_object_get_ex(hello, "auth", &a) && a;
}

int wire_auth_get(json_object *hello, const char *member, uint8_t ret[32], struct ferry_error *err)
{
    json_object *a, *scheme, *v;
    const char *s;

    if (!json_object_object_get_ex(hello, "auth", &a) || !a)
        return -ENOENT;
    if (!json_object_is_type(a, json_type_object))
        return ferry_error_set(err, EPROTO, "hello: \"auth\" is not an object");
    if (!json_object_object_get_ex(a, "scheme", &scheme) ||
        !json_object_is_type(scheme, json_type_string) ||
        strcmp(json_object_get_string(scheme), WIRE_AUTH_SCHEME) != 0)
        return ferry_error_set(err, EPROTO, "hello: \"auth\".\"scheme\" must be \"%s\"",
                               WIRE_AUTH_SCHEME);
    if (!json_object_object_get_ex(a, member, &v) || !json_object_is_type(v, json_type_string) ||
        json_object_get_string_len(v) != 64)
        return ferry_error_set(err, EPROTO, "hello: \"auth\".\"%s\" must be 64 hex digits", member);
    s = json_object_get_string(v);
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ferry_error_set(err, EPROTO, "hello: \"auth\".\"%s\" must be 64 hex digits",
                                   member);
        ret[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int wire_auth_get_key_id(json_object *hello, char ret[17], struct ferry_error *err)
{
    json_object *a, *v;
    const char *s;

    if (!json_object_object_get_ex(hello, "auth", &a) || !a ||
        !json_object_object_get_ex(a, "key", &v) || !v)
        return -ENOENT;
    if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) != 16)
        return ferry_error_set(err, EPROTO, "hello: \"auth\".\"key\" must be 16 hex digits");
    s = json_object_get_string(v);
    for (size_t i = 0; i < 16; i++)
        if (hex_digit(s[i]) < 0 || (s[i] >= 'A' && s[i] <= 'F'))
            return ferry_error_set(err, EPROTO,
                                   "hello: \"auth\".\"key\" must be 16 lowercase hex digits");
    memcpy(ret, s, 17);
    return 0;
}
