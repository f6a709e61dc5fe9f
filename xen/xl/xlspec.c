/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The small languages inside xl.cfg strings: disk specifications
 * (xl-disk-configuration(5), including the deprecated xend forms libxlu
 * still accepts) and vif specifications (xl-network-configuration(5)).
 * Options ferry does not model are kept verbatim in ->extra; parameters xl
 * itself would reject are rejected here too. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "util.h"
#include "buf.h"
#include "xlconv.h"
#include "xlcfg.h"

#define SPEC_MAX 4096 /* bytes in one disk or vif spec */

static bool str_in(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

static void extra_add(char **extra, const char *s)
{
    char *n = *extra ? ferry_strdup_printf("%s,%s", *extra, s) : ferry_strdup(s);
    free(*extra);
    *extra = n;
}

/* --- disks --- */

static const char *const disk_formats[] = {"raw", "qcow", "qcow2", "vhd", "qed", "empty", NULL};
static const char *const disk_backendtypes[] = {"phy", "tap", "qdisk", "standalone", NULL};
/* key=value parameters xl knows and ferry keeps verbatim. */
static const char *const disk_kept_keys[] = {
    "backend",     "script",      "specification", "colo-host",   "colo-port",
    "colo-export", "active-disk", "hidden-disk",   "grant_usage", NULL};
static const char *const disk_kept_flags[] = {"direct-io-safe", "discard", "no-discard", "colo",
                                              "no-colo",        "trusted", "untrusted",  NULL};

struct disk_ctx {
    struct xlconv_disk *d;
    bool target_set, format_set, vdev_set, access_set, devtype_set, backendtype_set;
    bool had_depr_prefix;
    struct ferry_error *err;
};

static int disk_set_format(struct disk_ctx *c, const char *v)
{
    const char *f = *v ? v : "raw";

    if (!str_in(f, disk_formats))
        return ferry_error_set(c->err, EINVAL, "unknown disk format '%s'", v);
    if (c->format_set && strcmp(c->d->format, f) != 0)
        return ferry_error_set(c->err, EINVAL, "disk format respecified ('%s')", v);
    snprintf(c->d->format, sizeof c->d->format, "%s", f);
    c->format_set = true;
    return 0;
}

static int disk_set_access(struct disk_ctx *c, const char *v)
{
    if (strcmp(v, "r") == 0 || strcmp(v, "ro") == 0)
        c->d->readonly = true;
    else if (strcmp(v, "w") == 0 || strcmp(v, "rw") == 0 || *v == '\0')
        c->d->readonly = false;
    else
        return ferry_error_set(c->err, EINVAL, "unknown disk access '%s' (ro, r, rw or w)", v);
    if (c->access_set)
        return ferry_error_set(c->err, EINVAL, "disk access respecified ('%s')", v);
    c->access_set = *v != '\0';
    return 0;
}

static int disk_set_vdev(struct disk_ctx *c, const char *v)
{
    size_t n = strlen(v);

    if (c->vdev_set)
        return ferry_error_set(c->err, EINVAL, "disk vdev respecified ('%s')", v);
    if (n == 0 || n >= sizeof c->d->vdev)
        return ferry_error_set(c->err, EINVAL, "invalid disk vdev '%s'", v);
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]))
            return ferry_error_set(c->err, EINVAL,
                                   "invalid disk vdev '%s': letters and digits only", v);
    snprintf(c->d->vdev, sizeof c->d->vdev, "%s", v);
    c->vdev_set = true;
    return 0;
}

static int disk_set_devtype(struct disk_ctx *c, const char *v)
{
    if (strcmp(v, "cdrom") == 0)
        c->d->cdrom = true;
    else if (strcmp(v, "disk") == 0)
        c->d->cdrom = false;
    else
        return ferry_error_set(c->err, EINVAL, "unknown disk devtype '%s' (cdrom or disk)", v);
    c->devtype_set = true;
    return 0;
}

static int disk_set_target(struct disk_ctx *c, const char *v)
{
    if (c->d->target)
        return ferry_error_set(c->err, EINVAL, "disk target respecified ('%s')", v);
    c->target_set = true;
    if (*v)
        c->d->target = ferry_strdup(v);
    return 0;
}

/* "<vdev>:<devtype>", the deprecated way of naming a cdrom; returns 1 when
 * V had that form, 0 when it had no colon, a negative errno on error. */
static int disk_vdev_and_devtype(struct disk_ctx *c, const char *v)
{
    const char *colon = strrchr(v, ':');

    if (!colon)
        return 0;
    _cleanup_free_ char *vdev = strndup(v, (size_t)(colon - v));
    if (!vdev)
        abort();
    int r = disk_set_vdev(c, vdev);
    if (r < 0)
        return r;
    r = disk_set_devtype(c, colon + 1);
    return r < 0 ? r : 1;
}

/* Strips the deprecated "phy:", "file:", "tap:aio:", "raw:"... prefixes of
 * the first positional parameter, as libxlu does; returns the rest. */
static int disk_strip_prefixes(struct disk_ctx *c, const char *p, const char **rest)
{
    static const char *const ignored[] = {"tapdisk", "tap",  "tap2", "aio",
                                          "ioemu",   "file", "phy",  NULL};
    static const char *const scripts[] = {"iscsi", "nbd", "enbd", "drbd", NULL};
    static const char *const formats[] = {"raw", "qcow", "qcow2", "vhd", NULL};

    for (;;) {
        size_t n = 0;
        if (!(p[0] >= 'a' && p[0] <= 'z'))
            break;
        while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9'))
            n++;
        if (p[n] != ':')
            break;
        char word[16];
        if (n >= sizeof word)
            break;
        memcpy(word, p, n);
        word[n] = '\0';
        if (str_in(word, ignored)) {
            /* xl ignores these; so do we. */
        } else if (str_in(word, scripts)) {
            _cleanup_free_ char *s = ferry_strdup_printf("script=block-%s", word);
            extra_add(&c->d->extra, s);
        } else if (str_in(word, formats)) {
            int r = disk_set_format(c, word);
            if (r < 0)
                return r;
        } else if (!isalnum((unsigned char)p[n + 1])) {
            return ferry_error_set(c->err, EINVAL, "unknown deprecated disk prefix '%s:'", word);
        } else {
            break;
        }
        c->had_depr_prefix = true;
        p += n + 1;
    }
    *rest = p;
    return 0;
}

static int disk_positional(struct disk_ctx *c, const char *v)
{
    int r;

    if (!c->target_set) {
        const char *rest = v;
        r = disk_strip_prefixes(c, v, &rest);
        if (r < 0)
            return r;
        return disk_set_target(c, rest);
    }
    if (!c->had_depr_prefix && !c->format_set) {
        if (!c->d->target) {
            r = disk_vdev_and_devtype(c, v);
            if (r < 0)
                return r;
            if (r == 1)
                return disk_set_format(c, "empty");
        }
        return disk_set_format(c, v);
    }
    if (!c->vdev_set) {
        r = disk_vdev_and_devtype(c, v);
        if (r < 0)
            return r;
        return r == 1 ? 0 : disk_set_vdev(c, v);
    }
    if (!c->access_set)
        return disk_set_access(c, v);
    return ferry_error_set(c->err, EINVAL, "too many positional parameters ('%s')", v);
}

static int disk_keyvalue(struct disk_ctx *c, const char *param, const char *eq)
{
    _cleanup_free_ char *key = strndup(param, (size_t)(eq - param));
    const char *v = eq + 1;

    if (!key)
        abort();
    if (strcmp(key, "format") == 0)
        return disk_set_format(c, v);
    if (strcmp(key, "access") == 0)
        return disk_set_access(c, v);
    if (strcmp(key, "vdev") == 0)
        return disk_set_vdev(c, v);
    if (strcmp(key, "devtype") == 0)
        return disk_set_devtype(c, v);
    if (strcmp(key, "backendtype") == 0) {
        if (!str_in(v, disk_backendtypes))
            return ferry_error_set(
                c->err, EINVAL, "unknown disk backendtype '%s' (phy, tap, qdisk, standalone)", v);
        if (c->backendtype_set)
            return ferry_error_set(c->err, EINVAL, "disk backendtype respecified ('%s')", v);
        snprintf(c->d->backendtype, sizeof c->d->backendtype, "%s", v);
        c->backendtype_set = true;
        return 0;
    }
    if (str_in(key, disk_kept_keys)) {
        extra_add(&c->d->extra, param);
        return 0;
    }
    return ferry_error_set(c->err, EINVAL, "unknown disk parameter '%s'", param);
}

void xlconv_disk_clear(struct xlconv_disk *disk)
{
    if (!disk)
        return;
    free(disk->target);
    free(disk->extra);
    memset(disk, 0, sizeof *disk);
}

int xlconv_disk_parse(const char *spec, struct xlconv_disk *disk, struct ferry_error *err)
{
    struct xlconv_disk d = {0};
    struct disk_ctx c = {.d = &d, .err = err};
    const char *p = spec;
    int r = 0;

    if (strlen(spec) > SPEC_MAX)
        return ferry_error_set(err, EINVAL, "disk spec longer than %d bytes", SPEC_MAX);

    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        if (strncmp(p, "target=", 7) == 0) {
            /* target= eats the rest of the spec, commas and all. */
            _cleanup_free_ char *t = ferry_strdup(p + 7);
            size_t n = strlen(t);
            if (n > 0 && t[n - 1] == ',')
                t[n - 1] = '\0';
            if (d.target) {
                r = ferry_error_set(err, EINVAL, "disk target respecified ('%s')", t);
                break;
            }
            c.target_set = true;
            if (*t)
                d.target = TAKE_PTR(t);
            break;
        }
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        _cleanup_free_ char *param = strndup(p, n);
        if (!param)
            abort();
        p += n + (comma ? 1 : 0);

        const char *eq = strchr(param, '=');
        bool keyish = param[0] >= 'a' && param[0] <= 'z';
        for (const char *q = param; keyish && eq && q < eq; q++)
            if (!islower((unsigned char)*q) && !isdigit((unsigned char)*q) && *q != '-' &&
                *q != '_')
                keyish = false;
        if (eq && keyish)
            r = disk_keyvalue(&c, param, eq);
        else if (eq)
            r = ferry_error_set(err, EINVAL, "bad disk parameter '%s'", param);
        else if (strcmp(param, "cdrom") == 0)
            r = disk_set_devtype(&c, "cdrom");
        else if (str_in(param, disk_kept_flags)) {
            extra_add(&d.extra, param);
            r = 0;
        } else
            r = disk_positional(&c, param);
        if (r < 0)
            break;
        /* An empty trailing parameter after a final comma is not one. */
    }
    if (r == 0 && !c.vdev_set)
        r = ferry_error_set(err, EINVAL, "disk spec '%s' has no vdev", spec);
    if (r < 0) {
        xlconv_disk_clear(&d);
        return r;
    }
    if (!c.format_set)
        snprintf(d.format, sizeof d.format, "%s", d.target ? "raw" : "empty");
    if (!c.access_set)
        d.readonly = d.cdrom;
    *disk = d;
    return 0;
}

char *xlconv_disk_format(const struct xlconv_disk *d)
{
    struct ferry_buf b = {0};

    ferry_buf_printf(&b, "format=%s, vdev=%s, access=%s", d->format, d->vdev,
                     d->readonly ? "ro" : "rw");
    if (d->cdrom)
        ferry_buf_puts(&b, ", devtype=cdrom");
    if (d->backendtype[0])
        ferry_buf_printf(&b, ", backendtype=%s", d->backendtype);
    if (d->extra)
        ferry_buf_printf(&b, ", %s", d->extra);
    /* The reader drops one trailing ',' from target= (as libxl's does): a
     * target that ends in one gets one more, or it would come back short
     * (found by fuzz-xlcfg). */
    if (d->target)
        ferry_buf_printf(&b, ", target=%s%s", d->target,
                         d->target[0] && d->target[strlen(d->target) - 1] == ',' ? "," : "");
    return ferry_buf_steal(&b);
}

int xlconv_disk_check_representable(const struct xlconv_disk *d, struct ferry_error *err)
{
    /* A script= hotplug target (also the deprecated iscsi:, nbd:, enbd:,
     * drbd: prefixes) means whatever the script makes of it. */
    for (const char *e = d->extra; e && *e;) {
        size_t n = strcspn(e, ",");
        if (strncmp(e, "script=", 7) == 0)
            return ferry_error_set(err, EINVAL,
                                   "disk '%s': %.*s: the target is interpreted by a hotplug "
                                   "script; domain XML has no equivalent",
                                   d->vdev, (int)n, e);
        e += n + (e[n] == ',');
    }
    if (!d->target || d->target[0] == '/')
        return 0;
    if (xlconv_target_is_rbd(d->target)) {
        struct xlconv_rbd rbd = {0};
        struct ferry_error e = {0};
        int r = xlconv_rbd_parse(d->target, &rbd, &e);
        xlconv_rbd_clear(&rbd);
        if (r < 0)
            return ferry_error_set(err, EINVAL, "disk '%s': %s", d->vdev, e.msg);
        return 0;
    }
    /* "nbd:host:port", "iscsi://...", "gluster+tcp://...": QEMU reads a
     * protocol, not a path; only rbd has a mapping. */
    size_t n = 0;
    if (isalpha((unsigned char)d->target[0]))
        n = strspn(d->target, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
    if (n > 0 && d->target[n] == ':')
        return ferry_error_set(err, EINVAL,
                               "disk '%s': target '%.64s' is a '%.*s' network URI, not a file; "
                               "only rbd: targets have a domain XML form",
                               d->vdev, d->target, (int)n, d->target);
    return 0;
}

/* --- vifs --- */

static bool mac_normalize(const char *s, char out[18])
{
    if (strlen(s) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2) {
            if (s[i] != ':')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    out[17] = '\0';
    return true;
}

bool xlconv_vif_script_is_ovs(const char *script)
{
    const char *base = script ? strrchr(script, '/') : NULL;

    base = base ? base + 1 : script;
    return base && strcmp(base, "vif-openvswitch") == 0;
}

/* Reads "N" (0..4095) from *P up to a non-digit; -1 when not a tag. */
static long vlan_tag(const char **p)
{
    long v = 0;
    const char *s = *p;

    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++) {
        v = v * 10 + (*s - '0');
        if (v > 4095)
            return -1;
    }
    *p = s;
    return v;
}

/* vif-openvswitch reads "NAME[.TAG][:TRUNK[:TRUNK]...]" from the bridge
 * key. With that script, or none (xl's default may be it, and libvirt reads
 * it so), the VLAN part becomes tags; with another script the bridge is a
 * name as written. A tag together with trunks has no domain XML form. */
static int vif_split_vlan(struct xlconv_vif *v, struct ferry_error *err)
{
    bool ovs = xlconv_vif_script_is_ovs(v->script);
    const char *sep = strpbrk(v->bridge, ".:");

    if (!sep || (!ovs && v->script))
        return 0;
    const char *p = sep;
    bool bad = sep == v->bridge;
    bool dot = *p == '.';
    if (dot) {
        p++;
        long t = vlan_tag(&p);
        if (t < 0)
            bad = true;
        else
            v->tags[v->n_tags++] = (unsigned)t;
    }
    if (!bad && *p == ':') {
        if (dot)
            return ferry_error_set(err, EINVAL,
                                   "vif bridge '%s': an access tag together with trunk VLANs "
                                   "has no domain XML equivalent",
                                   v->bridge);
        v->trunk = true;
        while (!bad && *p == ':') {
            p++;
            long t = vlan_tag(&p);
            if (t < 0 || v->n_tags >= XLCONV_MAX_VLAN_TAGS)
                bad = true;
            else
                v->tags[v->n_tags++] = (unsigned)t;
        }
    }
    if (bad || *p) {
        v->n_tags = 0;
        v->trunk = false;
        if (!ovs)
            return 0; /* not VLAN syntax: a bridge name xl passes on as is */
        return ferry_error_set(err, EINVAL,
                               "vif bridge '%s' is not NAME[.TAG] or NAME:TAG[:TAG]... "
                               "(vif-openvswitch; tags 0-4095)",
                               v->bridge);
    }
    v->bridge[sep - v->bridge] = '\0';
    return 0;
}

/* xl's ip= is a space-separated list of addresses, each optionally with a
 * /PREFIX; domain XML has one <ip address [prefix]> per item, so each must
 * be an address. */
static int vif_check_ips(const char *list, struct ferry_error *err)
{
    _cleanup_free_ char *copy = ferry_strdup(list);
    char *save = NULL;
    unsigned n = 0;

    for (char *a = strtok_r(copy, " \t", &save); a; a = strtok_r(NULL, " \t", &save), n++) {
        unsigned char buf[16];
        char *slash = strchr(a, '/');
        bool v6 = strchr(a, ':') != NULL;
        if (slash)
            *slash = '\0';
        bool ok = inet_pton(v6 ? AF_INET6 : AF_INET, a, buf) == 1;
        if (ok && slash) {
            uint64_t p;
            ok = ferry_parse_u64(slash + 1, &p) == 0 && p <= (v6 ? 128u : 32u);
            *slash = '/';
        }
        if (!ok)
            return ferry_error_set(err, EINVAL, "vif ip '%s' is not an IP address[/PREFIX]", a);
    }
    if (n == 0)
        return ferry_error_set(err, EINVAL, "vif ip is empty");
    return 0;
}

/* The bridge key as xl reads it: the name and the VLAN part. Caller frees. */
static char *vif_bridge_with_vlan(const struct xlconv_vif *v)
{
    struct ferry_buf b = {0};

    if (!v->bridge)
        return NULL;
    ferry_buf_puts(&b, v->bridge);
    for (size_t i = 0; i < v->n_tags; i++)
        ferry_buf_printf(&b, "%c%u", v->trunk ? ':' : '.', v->tags[i]);
    return ferry_buf_steal(&b);
}

void xlconv_vif_clear(struct xlconv_vif *vif)
{
    if (!vif)
        return;
    free(vif->bridge);
    free(vif->model);
    free(vif->script);
    free(vif->ip);
    free(vif->vifname);
    free(vif->extra);
    memset(vif, 0, sizeof *vif);
}

static int vif_set(char **field, const char *key, const char *v, struct ferry_error *err)
{
    if (*field)
        return ferry_error_set(err, EINVAL, "vif %s respecified ('%s')", key, v);
    *field = ferry_strdup(v);
    return 0;
}

int xlconv_vif_parse(const char *spec, struct xlconv_vif *vif, struct ferry_error *err)
{
    struct xlconv_vif v = {0};
    const char *p = spec;
    bool type_vif = false;
    int r = 0;

    if (strlen(spec) > SPEC_MAX)
        return ferry_error_set(err, EINVAL, "vif spec longer than %d bytes", SPEC_MAX);

    while (*p && r == 0) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        _cleanup_free_ char *param = strndup(p, n);
        if (!param)
            abort();
        p += n + (comma ? 1 : 0);
        /* Trailing blanks of a parameter are not part of its value. */
        for (size_t k = strlen(param); k > 0 && (param[k - 1] == ' ' || param[k - 1] == '\t'); k--)
            param[k - 1] = '\0';
        if (!*param)
            continue;

        char *eq = strchr(param, '=');
        if (!eq) {
            if (strcmp(param, "trusted") == 0 || strcmp(param, "untrusted") == 0)
                extra_add(&v.extra, param);
            else
                r = ferry_error_set(err, EINVAL, "unknown vif flag '%s'", param);
            continue;
        }
        *eq = '\0';
        const char *key = param, *val = eq + 1;
        if (!xlconv_xlkey_valid(key)) {
            *eq = '=';
            r = ferry_error_set(err, EINVAL, "bad vif parameter '%s'", param);
        } else if (strcmp(key, "mac") == 0) {
            if (v.mac[0])
                r = ferry_error_set(err, EINVAL, "vif mac respecified ('%s')", val);
            else if (!mac_normalize(val, v.mac))
                r = ferry_error_set(err, EINVAL, "invalid vif mac '%s' (xx:xx:xx:xx:xx:xx)", val);
        } else if (strcmp(key, "bridge") == 0) {
            r = vif_set(&v.bridge, key, val, err);
        } else if (strcmp(key, "model") == 0) {
            r = vif_set(&v.model, key, val, err);
        } else if (strcmp(key, "script") == 0) {
            r = vif_set(&v.script, key, val, err);
        } else if (strcmp(key, "ip") == 0) {
            r = vif_set(&v.ip, key, val, err);
        } else if (strcmp(key, "vifname") == 0) {
            r = vif_set(&v.vifname, key, val, err);
        } else if (strcmp(key, "type") == 0 && strcmp(val, "vif") == 0) {
            /* A PV-only NIC: libvirt's model 'netfront'. */
            if (type_vif)
                r = ferry_error_set(err, EINVAL, "vif type respecified ('%s')", val);
            type_vif = true;
        } else {
            /* type, rate, mtu, vlan, backend, gatewaydev...: kept as written. */
            *eq = '=';
            extra_add(&v.extra, param);
        }
    }
    if (r == 0 && v.model && strcmp(v.model, "netfront") == 0)
        r = ferry_error_set(err, EINVAL,
                            "vif model 'netfront' is not an emulated NIC: xl.cfg says type=vif");
    if (r == 0 && type_vif && v.model)
        r = ferry_error_set(err, EINVAL,
                            "vif type=vif (PV only) and model=%s (an emulated NIC) contradict",
                            v.model);
    if (r == 0 && type_vif)
        v.model = ferry_strdup("netfront");
    if (r == 0 && v.bridge)
        r = vif_split_vlan(&v, err);
    if (r == 0 && v.ip)
        r = vif_check_ips(v.ip, err);
    if (r < 0) {
        xlconv_vif_clear(&v);
        return r;
    }
    *vif = v;
    return 0;
}

char *xlconv_vif_format(const struct xlconv_vif *v)
{
    struct ferry_buf b = {0};
    const char *sep = "";

#define VIF_PUT(key, val)                                                                          \
    do {                                                                                           \
        if (val) {                                                                                 \
            ferry_buf_printf(&b, "%s%s=%s", sep, key, val);                                        \
            sep = ",";                                                                             \
        }                                                                                          \
    } while (0)
    _cleanup_free_ char *bridge = vif_bridge_with_vlan(v);
    bool netfront = v->model && strcmp(v->model, "netfront") == 0;

    VIF_PUT("mac", v->mac[0] ? v->mac : NULL);
    VIF_PUT("bridge", bridge);
    VIF_PUT("model", netfront ? NULL : v->model);
    VIF_PUT("type", netfront ? "vif" : NULL);
    VIF_PUT("script", v->script);
    VIF_PUT("ip", v->ip);
    VIF_PUT("vifname", v->vifname);
#undef VIF_PUT
    if (v->extra)
        ferry_buf_printf(&b, "%s%s", sep, v->extra);
    return ferry_buf_steal(&b);
}
