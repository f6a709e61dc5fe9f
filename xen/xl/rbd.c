/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Ceph RBD disk targets as xl passes them to QEMU (backendtype=qdisk):
 * "rbd:POOL/IMAGE[@SNAP][:OPT=VAL]...", where '\' escapes ':' ';' '@' and
 * itself, and mon_host=HOST[\:PORT][\;HOST[\:PORT]]... lists the monitors.
 * Split here into what libvirt's <source protocol='rbd' name=...> with its
 * <host> and <snapshot> elements carries; every other option is kept as
 * written, in order. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "util.h"
#include "xlconv.h"

bool xlconv_target_is_rbd(const char *target)
{
    return target && strncmp(target, "rbd:", 4) == 0;
}

void xlconv_rbd_clear(struct xlconv_rbd *rbd)
{
    if (!rbd)
        return;
    free(rbd->name);
    free(rbd->snap);
    for (size_t i = 0; i < rbd->n_hosts; i++)
        free(rbd->hosts[i].name);
    free(rbd->options);
    memset(rbd, 0, sizeof *rbd);
}

/* The length of S up to the first unescaped STOP character (or the end). */
static size_t span_unescaped(const char *s, const char *stop)
{
    size_t i = 0;

    while (s[i] && !strchr(stop, s[i]))
        i += s[i] == '\\' && s[i + 1] ? 2 : 1;
    return i;
}

/* N bytes of S without their escapes. Caller frees. */
static char *unescape(const char *s, size_t n)
{
    char *out = ferry_calloc(n + 1, 1);
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n)
            i++;
        out[o++] = s[i];
    }
    return out;
}

static void put_escaped(struct ferry_buf *b, const char *s)
{
    for (; *s; s++) {
        if (strchr(":;@\\", *s))
            ferry_buf_puts(b, "\\");
        ferry_buf_append(b, s, 1);
    }
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* A monitor's name: a host name or IPv4 address, or an IPv6 address in
 * brackets. Anything else (a ',' most of all, which ends the target in an
 * xl disk spec) could not be written back as it was read. */
static bool host_name_ok(const char *h, size_t n)
{
    if (h[0] == '[')
        return n > 2 && h[n - 1] == ']' && strspn(h + 1, "0123456789abcdefABCDEF:.") == n - 2;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)h[i]) && !strchr(".-_", h[i]))
            return false;
    return true;
}

/* "host[:port]" (already unescaped) into one host slot. IPv6 addresses are
 * bracketed, so the port is whatever follows the last ':' outside them. */
static int parse_host(const char *h, struct xlconv_rbd *rbd, struct ferry_error *err)
{
    const char *colon = strrchr(h, ':');
    const char *close = strrchr(h, ']');
    size_t n = strlen(h);

    if (rbd->n_hosts >= XLCONV_MAX_RBD_HOSTS)
        return ferry_error_set(err, EINVAL, "rbd: more than %d mon_host entries",
                               XLCONV_MAX_RBD_HOSTS);
    if (colon && (!close || colon > close)) {
        if (h[0] != '[' && strchr(h, ':') != colon)
            return ferry_error_set(err, EINVAL,
                                   "rbd: mon_host '%s': write IPv6 monitors as [ADDR]:PORT", h);
        const char *port = colon + 1;
        if (!*port || strlen(port) >= sizeof rbd->hosts[0].port ||
            strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
            return ferry_error_set(err, EINVAL, "rbd: mon_host '%s': bad port", h);
        snprintf(rbd->hosts[rbd->n_hosts].port, sizeof rbd->hosts[0].port, "%s", port);
        n = (size_t)(colon - h);
    }
    if (n == 0)
        return ferry_error_set(err, EINVAL, "rbd: empty mon_host entry");
    if (!host_name_ok(h, n))
        return ferry_error_set(err, EINVAL, "rbd: mon_host '%.*s': not a host name or address",
                               (int)n, h);
    rbd->hosts[rbd->n_hosts].name = strndup(h, n);
    if (!rbd->hosts[rbd->n_hosts].name)
        abort();
    rbd->n_hosts++;
    return 0;
}

static int parse_mon_host(const char *raw, size_t len, struct xlconv_rbd *rbd,
                          struct ferry_error *err)
{
    _cleanup_free_ char *list = unescape(raw, len);
    char *save = NULL;

    if (rbd->n_hosts)
        return ferry_error_set(err, EINVAL, "rbd: mon_host given twice");
    for (char *h = strtok_r(list, ";", &save); h; h = strtok_r(NULL, ";", &save)) {
        int r = parse_host(h, rbd, err);
        if (r < 0)
            return r;
    }
    if (!rbd->n_hosts)
        return ferry_error_set(err, EINVAL, "rbd: empty mon_host");
    return 0;
}

int xlconv_rbd_parse(const char *target, struct xlconv_rbd *ret, struct ferry_error *err)
{
    struct xlconv_rbd rbd = {0};
    struct ferry_buf opts = {0};
    const char *p = target + 4;
    int r = 0;

    if (!xlconv_target_is_rbd(target))
        return ferry_error_set(err, EINVAL, "'%.64s' is not an rbd: target", target);
    /* POOL/IMAGE[@SNAP] */
    size_t n = span_unescaped(p, "@:");
    rbd.name = unescape(p, n);
    p += n;
    if (*p == '@') {
        p++;
        n = span_unescaped(p, ":");
        rbd.snap = unescape(p, n);
        p += n;
        if (!*rbd.snap)
            r = ferry_error_set(err, EINVAL, "rbd: empty snapshot name");
    }
    if (r == 0 && (!*rbd.name || has_control(rbd.name) || (rbd.snap && has_control(rbd.snap))))
        r = ferry_error_set(err, EINVAL, "rbd: target '%.64s' has no valid POOL/IMAGE", target);
    while (r == 0 && *p == ':') {
        p++;
        n = span_unescaped(p, ":");
        const char *eq = memchr(p, '=', n);
        if (!eq || eq == p)
            r = ferry_error_set(err, EINVAL, "rbd: option '%.*s' is not KEY=VALUE", (int)n, p);
        else if ((size_t)(eq - p) == 8 && strncmp(p, "mon_host", 8) == 0)
            r = parse_mon_host(eq + 1, n - 9, &rbd, err);
        else {
            if (opts.len)
                ferry_buf_puts(&opts, ":");
            ferry_buf_append(&opts, p, n);
        }
        p += n;
    }
    if (r == 0 && *p)
        r = ferry_error_set(err, EINVAL, "rbd: unexpected '%.32s'", p);
    rbd.options = ferry_buf_steal(&opts);
    if (r < 0) {
        xlconv_rbd_clear(&rbd);
        return r;
    }
    *ret = rbd;
    return 0;
}

char *xlconv_rbd_format(const struct xlconv_rbd *rbd)
{
    struct ferry_buf b = {0};

    ferry_buf_puts(&b, "rbd:");
    put_escaped(&b, rbd->name);
    if (rbd->snap) {
        ferry_buf_puts(&b, "@");
        put_escaped(&b, rbd->snap);
    }
    if (rbd->options && *rbd->options)
        ferry_buf_printf(&b, ":%s", rbd->options);
    for (size_t i = 0; i < rbd->n_hosts; i++) {
        ferry_buf_puts(&b, i ? "\\;" : ":mon_host=");
        put_escaped(&b, rbd->hosts[i].name);
        if (rbd->hosts[i].port[0])
            ferry_buf_printf(&b, "\\:%s", rbd->hosts[i].port);
    }
    return ferry_buf_steal(&b);
}
