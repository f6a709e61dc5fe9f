/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Domain XML (<domain type='xen'>) to struct xlconv_config. The document is
 * hostile: it goes through common/xml.h's hardened parser (bounded size,
 * depth and strings, no DTD and so no entities, no network access). Every
 * disk, vif and kept key is checked by formatting it as xl.cfg text and
 * parsing that back, so nothing in the XML can smuggle extra xl settings
 * into the file ferry writes. Elements with no xl.cfg equivalent are listed
 * in the config's notes. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "cleanup.h"
#include "internal.h"
#include "util.h"
#include "xlconv.h"
#include "xlcfg.h"
#include "xml-cleanup.h"
#include "xml.h"

#define BADCAST (const xmlChar *)

struct xparse {
    struct xlconv_config *cfg;
    struct ferry_error *err;
    bool have_vnc_graphics;
};

static bool is_elem(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* Attribute NAME of N (no namespace), or NULL. Caller frees with free(). */
static char *prop(const xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(n, BADCAST name);
    char *s;

    if (!v)
        return NULL;
    s = ferry_strdup((const char *)v);
    xmlFree(v);
    return s;
}

/* Text content of N, bounded. Caller frees *ret. */
static int text(const struct xparse *xp, const xmlNode *n, const char *what, char **ret)
{
    xmlChar *v = xmlNodeGetContent(n);

    if (!v)
        return ferry_error_set(xp->err, ENOMEM, "domain XML: <%s>: no memory", what);
    if (xmlStrlen(v) > (int)XLCONV_XLCFG_MAX_STRING) {
        xmlFree(v);
        return ferry_error_set(xp->err, EINVAL, "domain XML: <%s> longer than %u bytes", what,
                               XLCONV_XLCFG_MAX_STRING);
    }
    free(*ret);
    *ret = ferry_strdup((const char *)v);
    xmlFree(v);
    return 0;
}

static void note_ignored(struct xparse *xp, const char *parent, const xmlNode *n)
{
    xlconv_internal_note(xp->cfg, ferry_strdup_printf("domain XML: <%s%s%s> has no xl.cfg "
                                                      "equivalent; not converted",
                                                      parent ? parent : "", parent ? "/" : "",
                                                      (const char *)n->name));
}

static int parse_uint(const struct xparse *xp, const char *what, const char *s, uint64_t max,
                      uint64_t *ret)
{
    uint64_t v;

    if (!s || ferry_parse_u64(s, &v) < 0 || v > max)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: %s: '%s' is not an integer in 0..%" PRIu64, what,
                               s ? s : "", max);
    *ret = v;
    return 0;
}

/* <memory unit='...'>N</memory> in KiB, then whole MiB (rounded up, noted). */
static int parse_memory(struct xparse *xp, const xmlNode *n, uint64_t *ret_mib)
{
    static const struct {
        const char *unit;
        uint64_t bytes;
    } units[] = {
        {"b", 1},
        {"bytes", 1},
        {"KB", 1000},
        {"k", 1024},
        {"KiB", 1024},
        {"MB", 1000000},
        {"M", 1048576},
        {"MiB", 1048576},
        {"GB", 1000000000},
        {"G", 1073741824},
        {"GiB", 1073741824},
        {"TB", 1000000000000ull},
        {"T", 1099511627776ull},
        {"TiB", 1099511627776ull},
    };
    _cleanup_free_ char *unit = prop(n, "unit"), *val = NULL;
    uint64_t mult = 1024, v = 0;
    int r;

    if (unit) {
        mult = 0;
        for (size_t i = 0; i < ARRAY_SIZE(units); i++)
            if (strcmp(unit, units[i].unit) == 0)
                mult = units[i].bytes;
        if (!mult)
            return ferry_error_set(xp->err, EINVAL, "domain XML: <%s>: unknown unit '%s'",
                                   (const char *)n->name, unit);
    }
    r = text(xp, n, (const char *)n->name, &val);
    if (r < 0)
        return r;
    uint64_t max_units = XLCONV_MAX_MEM_MIB * 1048576 / mult;
    r = parse_uint(xp, (const char *)n->name, val, max_units, &v);
    if (r < 0)
        return r;
    uint64_t bytes = v * mult, mib = (bytes + 1048575) / 1048576;
    if (bytes % 1048576)
        xlconv_internal_note(xp->cfg,
                             ferry_strdup_printf("domain XML: <%s> %" PRIu64 " bytes is not whole "
                                                 "MiB; xl.cfg gets %" PRIu64 " MiB",
                                                 (const char *)n->name, bytes, mib));
    *ret_mib = mib;
    return 0;
}

static int parse_os(struct xparse *xp, const xmlNode *os)
{
    struct xlconv_config *cfg = xp->cfg;
    int r = 0;

    for (const xmlNode *c = os->children; c && r == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (is_elem(c, "type")) {
            _cleanup_free_ char *t = NULL, *machine = prop(c, "machine");
            r = text(xp, c, "os/type", &t);
            if (r < 0)
                return r;
            if (strcmp(t, "hvm") == 0)
                cfg->type = XLCONV_GUEST_HVM;
            else if (strcmp(t, "xenpvh") == 0 || (machine && strcmp(machine, "xenpvh") == 0))
                cfg->type = XLCONV_GUEST_PVH;
            else if (strcmp(t, "linux") == 0 || strcmp(t, "xen") == 0)
                cfg->type = XLCONV_GUEST_PV;
            else
                return ferry_error_set(xp->err, EINVAL,
                                       "domain XML: <os><type> '%s' is not a Xen guest type "
                                       "(linux, xenpvh, hvm)",
                                       t);
        } else if (is_elem(c, "kernel")) {
            r = text(xp, c, "os/kernel", &cfg->kernel);
        } else if (is_elem(c, "initrd")) {
            r = text(xp, c, "os/initrd", &cfg->ramdisk);
        } else if (is_elem(c, "cmdline")) {
            r = text(xp, c, "os/cmdline", &cfg->cmdline);
        } else {
            note_ignored(xp, "os", c);
        }
    }
    return r;
}

static int parse_disk(struct xparse *xp, const xmlNode *n)
{
    struct xlconv_config *cfg = xp->cfg;
    struct xlconv_disk d = {0};
    _cleanup_free_ char *device = prop(n, "device");
    bool have_readonly = false;
    int r = 0;

    if (cfg->n_disks >= XLCONV_MAX_DISKS)
        return ferry_error_set(xp->err, EINVAL, "domain XML: more than %d disks", XLCONV_MAX_DISKS);
    if (device && strcmp(device, "cdrom") == 0)
        d.cdrom = true;
    else if (device && strcmp(device, "disk") != 0)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: disk device '%s' has no xl.cfg equivalent", device);

    for (const xmlNode *c = n->children; c && r == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (is_elem(c, "driver")) {
            _cleanup_free_ char *name = prop(c, "name"), *type = prop(c, "type");
            if (name && strcmp(name, "file") != 0) {
                const char *bt = NULL;
                static const char *const map[][2] = {{"phy", "phy"},
                                                     {"qemu", "qdisk"},
                                                     {"tap", "tap"},
                                                     {"tap2", "tap"},
                                                     {"standalone", "standalone"}};
                for (size_t i = 0; i < ARRAY_SIZE(map); i++)
                    if (strcmp(name, map[i][0]) == 0)
                        bt = map[i][1];
                if (!bt)
                    r = ferry_error_set(xp->err, EINVAL,
                                        "domain XML: disk driver '%s' has no xl backendtype", name);
                else
                    snprintf(d.backendtype, sizeof d.backendtype, "%s", bt);
            }
            if (type && strlen(type) < sizeof d.format)
                snprintf(d.format, sizeof d.format, "%s", type);
            else if (type)
                r = ferry_error_set(xp->err, EINVAL, "domain XML: unknown disk format '%.40s'",
                                    type);
        } else if (is_elem(c, "source")) {
            char *src = prop(c, "file");
            if (!src)
                src = prop(c, "dev");
            if (!src)
                r = ferry_error_set(xp->err, EINVAL,
                                    "domain XML: disk <source> needs a file or dev attribute");
            free(d.target);
            d.target = src;
        } else if (is_elem(c, "target")) {
            _cleanup_free_ char *dev = prop(c, "dev");
            if (!dev || !*dev || strlen(dev) >= sizeof d.vdev)
                r = ferry_error_set(xp->err, EINVAL,
                                    "domain XML: disk <target dev> missing or "
                                    "too long");
            else
                snprintf(d.vdev, sizeof d.vdev, "%s", dev);
        } else if (is_elem(c, "readonly")) {
            have_readonly = true;
        } else {
            note_ignored(xp, "devices/disk", c);
        }
    }
    if (r == 0 && !d.vdev[0])
        r = ferry_error_set(xp->err, EINVAL, "domain XML: disk without <target dev>");
    if (r < 0) {
        xlconv_disk_clear(&d);
        return r;
    }
    if (!d.format[0])
        snprintf(d.format, sizeof d.format, "%s", d.target ? "raw" : "empty");
    d.readonly = have_readonly || d.cdrom;
    cfg->disks[cfg->n_disks++] = d;
    return 0;
}

static int parse_interface(struct xparse *xp, const xmlNode *n)
{
    struct xlconv_config *cfg = xp->cfg;
    struct xlconv_vif v = {0};
    _cleanup_free_ char *type = prop(n, "type");
    int r = 0;

    if (cfg->n_vifs >= XLCONV_MAX_VIFS)
        return ferry_error_set(xp->err, EINVAL, "domain XML: more than %d interfaces",
                               XLCONV_MAX_VIFS);
    if (!type || (strcmp(type, "bridge") != 0 && strcmp(type, "ethernet") != 0))
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: interface type '%s' has no xl.cfg equivalent "
                               "(bridge, ethernet)",
                               type ? type : "");

    for (const xmlNode *c = n->children; c && r == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        char **field = NULL;
        const char *attr = NULL;
        if (is_elem(c, "mac")) {
            _cleanup_free_ char *mac = prop(c, "address");
            if (!mac || strlen(mac) >= sizeof v.mac)
                r = ferry_error_set(xp->err, EINVAL, "domain XML: bad interface <mac>");
            else
                for (size_t i = 0; mac[i]; i++)
                    v.mac[i] = (char)tolower((unsigned char)mac[i]);
            continue;
        }
        if (is_elem(c, "source"))
            field = &v.bridge, attr = "bridge";
        else if (is_elem(c, "script"))
            field = &v.script, attr = "path";
        else if (is_elem(c, "ip"))
            field = &v.ip, attr = "address";
        else if (is_elem(c, "target"))
            field = &v.vifname, attr = "dev";
        else if (is_elem(c, "model"))
            field = &v.model, attr = "type";
        if (!field) {
            note_ignored(xp, "devices/interface", c);
            continue;
        }
        char *val = prop(c, attr);
        if (!val)
            r = ferry_error_set(xp->err, EINVAL,
                                "domain XML: interface <%s> needs %s=", (const char *)c->name,
                                attr);
        else if (*field)
            r = ferry_error_set(xp->err, EINVAL, "domain XML: interface <%s> given twice",
                                (const char *)c->name);
        if (r < 0) {
            free(val);
            break;
        }
        *field = val;
    }
    if (r == 0 && strcmp(type, "bridge") == 0 && !v.bridge)
        r = ferry_error_set(xp->err, EINVAL,
                            "domain XML: bridge interface without <source bridge>");
    if (r < 0) {
        xlconv_vif_clear(&v);
        return r;
    }
    cfg->vifs[cfg->n_vifs++] = v;
    return 0;
}

static int parse_graphics(struct xparse *xp, const xmlNode *n)
{
    struct xlconv_config *cfg = xp->cfg;
    _cleanup_free_ char *type = prop(n, "type"), *port = prop(n, "port");
    _cleanup_free_ char *autoport = prop(n, "autoport"), *listen = prop(n, "listen");
    uint64_t p = 0;
    int r;

    if (!type || strcmp(type, "vnc") != 0) {
        note_ignored(xp, "devices", n);
        return 0;
    }
    if (cfg->vnc)
        return ferry_error_set(xp->err, EINVAL, "domain XML: more than one VNC <graphics>");
    cfg->vnc = true;
    xp->have_vnc_graphics = true;
    if (port && strcmp(port, "-1") != 0) {
        r = parse_uint(xp, "graphics port", port, 65535, &p);
        if (r < 0)
            return r;
        if (p < 5900)
            return ferry_error_set(xp->err, EINVAL,
                                   "domain XML: VNC port %" PRIu64 " is below 5900 (xl.cfg has "
                                   "only vncdisplay = port - 5900)",
                                   p);
        cfg->vncdisplay = (int)(p - 5900);
    }
    if (autoport) {
        if (strcmp(autoport, "yes") != 0 && strcmp(autoport, "no") != 0)
            return ferry_error_set(xp->err, EINVAL, "domain XML: graphics autoport '%s'", autoport);
        cfg->vncunused = strcmp(autoport, "yes") == 0;
    }
    if (!listen) {
        for (const xmlNode *c = n->children; c; c = c->next)
            if (is_elem(c, "listen") && !listen)
                listen = prop(c, "address");
    }
    cfg->vnclisten = TAKE_PTR(listen);
    cfg->vncpasswd = prop(n, "passwd");
    return 0;
}

static int parse_devices(struct xparse *xp, const xmlNode *devs)
{
    int r = 0;

    for (const xmlNode *c = devs->children; c && r == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (is_elem(c, "disk"))
            r = parse_disk(xp, c);
        else if (is_elem(c, "interface"))
            r = parse_interface(xp, c);
        else if (is_elem(c, "graphics"))
            r = parse_graphics(xp, c);
        else
            note_ignored(xp, "devices", c);
    }
    return r;
}

/* Keys whose meaning the converter owns: a kept copy would contradict it. */
static bool key_converted(const char *key)
{
    static const char *const keys[] = {"name",      "uuid",     "memory",  "maxmem", "vcpus",
                                       "maxvcpus",  "type",     "builder", "pvh",    "kernel",
                                       "ramdisk",   "cmdline",  "extra",   "root",   "on_poweroff",
                                       "on_reboot", "on_crash", "disk",    "vif",    NULL};

    for (size_t i = 0; keys[i]; i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

static int parse_metadata_key(struct xparse *xp, const xmlNode *k)
{
    struct xlconv_config *cfg = xp->cfg;
    _cleanup_free_ char *name = prop(k, "name"), *raw = NULL, *src = NULL;
    struct xlconv_xlcfg *x = NULL;
    struct ferry_error e = {0};
    int r;

    if (!name || !xlconv_xlkey_valid(name))
        return ferry_error_set(xp->err, EINVAL, "domain XML: <ferry:key> with a bad name '%.64s'",
                               name ? name : "");
    /* VNC keys are kept only when the XML has no VNC console (vnc = 0). */
    if (key_converted(name) ||
        ((strcmp(name, "vnc") == 0 || xlconv_internal_is_vnc_key(name)) && xp->have_vnc_graphics))
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: <ferry:key name='%s'>: this key is converted from "
                               "the XML and cannot be kept verbatim",
                               name);
    for (size_t i = 0; i < cfg->n_kept; i++)
        if (strcmp(cfg->kept[i].key, name) == 0)
            return ferry_error_set(xp->err, EINVAL, "domain XML: <ferry:key name='%s'> twice",
                                   name);
    r = text(xp, k, "ferry:key", &raw);
    if (r < 0)
        return r;
    src = ferry_strdup_printf("%s = %s\n", name, raw);
    r = xlconv_xlcfg_parse_syntax(src, strlen(src), "ferry:key", &x, &e);
    if (r == 0 && (x->n_settings != 1 || x->n_warnings != 0)) {
        r = ferry_error_set(&e, EINVAL, "more than one setting");
    }
    if (r < 0) {
        xlconv_xlcfg_free(x);
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: <ferry:key name='%s'> is not one xl value: %s", name,
                               e.msg);
    }
    xlconv_internal_keep(cfg, name, xlconv_xlval_format(x->settings[0].value, true));
    xlconv_xlcfg_free(x);
    return 0;
}

static int parse_metadata(struct xparse *xp, const xmlNode *md)
{
    struct xlconv_config *cfg = xp->cfg;
    int r = 0;

    for (const xmlNode *xl = md->children; xl && r == 0; xl = xl->next) {
        if (xl->type != XML_ELEMENT_NODE)
            continue;
        if (!is_elem(xl, "xl") || !xl->ns ||
            strcmp((const char *)xl->ns->href, XLCONV_XML_NS) != 0) {
            note_ignored(xp, "metadata", xl);
            continue;
        }
        for (const xmlNode *k = xl->children; k && r == 0; k = k->next) {
            if (k->type != XML_ELEMENT_NODE)
                continue;
            if (is_elem(k, "key")) {
                r = parse_metadata_key(xp, k);
                continue;
            }
            bool disk = is_elem(k, "disk");
            if (!disk && !is_elem(k, "vif"))
                return ferry_error_set(xp->err, EINVAL,
                                       "domain XML: unknown element <ferry:%s> in <ferry:xl>",
                                       (const char *)k->name);
            _cleanup_free_ char *id = prop(k, disk ? "dev" : "index"), *extra = NULL;
            char **slot = NULL;
            if (disk) {
                for (size_t i = 0; id && i < cfg->n_disks; i++)
                    if (strcmp(cfg->disks[i].vdev, id) == 0)
                        slot = &cfg->disks[i].extra;
            } else {
                uint64_t idx;
                if (id && ferry_parse_u64(id, &idx) == 0 && idx < cfg->n_vifs)
                    slot = &cfg->vifs[idx].extra;
            }
            if (!slot)
                return ferry_error_set(xp->err, EINVAL,
                                       "domain XML: <ferry:%s %s='%.32s'> names no such device",
                                       (const char *)k->name, disk ? "dev" : "index", id ? id : "");
            if (*slot)
                return ferry_error_set(xp->err, EINVAL,
                                       "domain XML: <ferry:%s %s='%s'> given twice",
                                       (const char *)k->name, disk ? "dev" : "index", id);
            r = text(xp, k, "ferry:disk", &extra);
            if (r == 0 && *extra)
                *slot = TAKE_PTR(extra);
        }
    }
    return r;
}

static bool str_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Formats each disk and vif as xl would read it and parses the result: the
 * fields must come back unchanged, or the XML held something (a comma in a
 * bridge name, "target=" in kept options...) that would change the meaning. */
static int check_devices(struct xparse *xp)
{
    struct xlconv_config *cfg = xp->cfg;

    for (size_t i = 0; i < cfg->n_disks; i++) {
        const struct xlconv_disk *d = &cfg->disks[i];
        _cleanup_free_ char *spec = xlconv_disk_format(d);
        struct xlconv_disk back = {0};
        struct ferry_error e = {0};
        if (xlconv_disk_parse(spec, &back, &e) < 0)
            return ferry_error_set(xp->err, EINVAL, "domain XML: disk '%s': %s", d->vdev, e.msg);
        bool same = strcmp(back.vdev, d->vdev) == 0 && strcmp(back.format, d->format) == 0 &&
                    back.readonly == d->readonly && back.cdrom == d->cdrom &&
                    strcmp(back.backendtype, d->backendtype) == 0 &&
                    str_same(back.target, d->target) && str_same(back.extra, d->extra);
        xlconv_disk_clear(&back);
        if (!same)
            return ferry_error_set(xp->err, EINVAL,
                                   "domain XML: disk '%s' cannot be written as an xl disk spec "
                                   "without changing its meaning",
                                   d->vdev);
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->disks[j].vdev, d->vdev) == 0)
                return ferry_error_set(xp->err, EINVAL, "domain XML: disk target '%s' twice",
                                       d->vdev);
    }
    for (size_t i = 0; i < cfg->n_vifs; i++) {
        const struct xlconv_vif *v = &cfg->vifs[i];
        _cleanup_free_ char *spec = xlconv_vif_format(v);
        struct xlconv_vif back = {0};
        struct ferry_error e = {0};
        if (xlconv_vif_parse(spec, &back, &e) < 0)
            return ferry_error_set(xp->err, EINVAL, "domain XML: interface %zu: %s", i, e.msg);
        bool same = strcmp(back.mac, v->mac) == 0 && str_same(back.bridge, v->bridge) &&
                    str_same(back.model, v->model) && str_same(back.script, v->script) &&
                    str_same(back.ip, v->ip) && str_same(back.vifname, v->vifname) &&
                    str_same(back.extra, v->extra);
        xlconv_vif_clear(&back);
        if (!same)
            return ferry_error_set(xp->err, EINVAL,
                                   "domain XML: interface %zu cannot be written as an xl vif "
                                   "spec without changing its meaning",
                                   i);
    }
    return 0;
}

static int parse_root(struct xparse *xp, const xmlNode *root)
{
    struct xlconv_config *cfg = xp->cfg;
    const xmlNode *metadata = NULL;
    bool have_current = false;
    uint64_t mem = 0, cur = 0, u = 0;
    int r = 0;

    for (const xmlNode *c = root->children; c && r == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (is_elem(c, "name")) {
            r = text(xp, c, "name", &cfg->name);
            if (r == 0 && !ferry_name_valid(cfg->name))
                r = ferry_error_set(xp->err, EINVAL,
                                    "domain XML: name '%.64s' is not a valid ferry domain name",
                                    cfg->name);
        } else if (is_elem(c, "uuid")) {
            _cleanup_free_ char *uuid = NULL;
            r = text(xp, c, "uuid", &uuid);
            if (r == 0 && !ferry_uuid_valid(uuid))
                r = ferry_error_set(xp->err, EINVAL, "domain XML: '%.40s' is not a UUID", uuid);
            if (r == 0)
                snprintf(cfg->uuid, sizeof cfg->uuid, "%s", uuid);
        } else if (is_elem(c, "memory")) {
            r = parse_memory(xp, c, &mem);
        } else if (is_elem(c, "currentMemory")) {
            r = parse_memory(xp, c, &cur);
            have_current = true;
        } else if (is_elem(c, "vcpu")) {
            _cleanup_free_ char *v = NULL, *current = prop(c, "current");
            r = text(xp, c, "vcpu", &v);
            if (r == 0)
                r = parse_uint(xp, "vcpu", v, XLCONV_MAX_VCPUS, &u);
            if (r == 0)
                cfg->maxvcpus = cfg->vcpus = (unsigned)u;
            if (r == 0 && current) {
                r = parse_uint(xp, "vcpu current", current, u, &u);
                if (r == 0 && u == 0)
                    r = ferry_error_set(xp->err, EINVAL, "domain XML: vcpu current='0'");
                cfg->vcpus = (unsigned)u;
            }
        } else if (is_elem(c, "os")) {
            r = parse_os(xp, c);
        } else if (is_elem(c, "on_poweroff") || is_elem(c, "on_reboot") || is_elem(c, "on_crash")) {
            _cleanup_free_ char *a = NULL;
            enum xlconv_action *slot = is_elem(c, "on_poweroff") ? &cfg->on_poweroff
                                       : is_elem(c, "on_reboot") ? &cfg->on_reboot
                                                                 : &cfg->on_crash;
            r = text(xp, c, (const char *)c->name, &a);
            if (r == 0 && xlconv_internal_action_parse(a, slot) < 0)
                r = ferry_error_set(xp->err, EINVAL, "domain XML: <%s>: unknown action '%.40s'",
                                    (const char *)c->name, a);
        } else if (is_elem(c, "devices")) {
            r = parse_devices(xp, c);
        } else if (is_elem(c, "metadata")) {
            metadata = c; /* after devices: it refers to them */
        } else {
            note_ignored(xp, NULL, c);
        }
    }
    if (r == 0 && metadata)
        r = parse_metadata(xp, metadata);
    if (r < 0)
        return r;
    if (!cfg->name)
        return ferry_error_set(xp->err, EINVAL, "domain XML: missing <name>");
    if (cfg->maxvcpus == cfg->vcpus)
        cfg->maxvcpus = 0;
    if (have_current) {
        if (mem && cur > mem)
            return ferry_error_set(xp->err, EINVAL,
                                   "domain XML: <currentMemory> is above <memory>");
        cfg->memory_mib = cur;
        cfg->maxmem_mib = mem != cur ? mem : 0;
    } else {
        cfg->memory_mib = mem;
    }
    return check_devices(xp);
}

int xlconv_config_from_xml(const char *xml, size_t len, struct xlconv_config **ret,
                           struct ferry_error *err)
{
    _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL;
    _cleanup_(xmlFreeDocp) xmlDoc *doc = NULL;
    static const struct ferry_xml_limits limits = {
        .max_bytes = XLCONV_XML_MAX,
        .max_depth = XLCONV_XML_MAX_DEPTH,
        .max_string = XLCONV_XLCFG_MAX_STRING,
    };
    struct ferry_xml_failure why;
    struct ferry_error perr = {0}; /* reworded below: the first error set wins */
    int r;

    if (len > XLCONV_XML_MAX)
        return ferry_error_set(err, EFBIG, "domain XML: larger than %u bytes", XLCONV_XML_MAX);
    /* common/xml.c's protections with this converter's limits; the
     * messages keep the wording ferryctl users know. */
    r = ferry_xml_parse(xml, len, &limits, "domain XML", &doc, &why, &perr);
    if (r < 0 && why.fault == FERRY_XML_FAULT_DOCTYPE)
        return ferry_error_set(err, EINVAL, "domain XML: a DTD (<!DOCTYPE>) is not accepted");
    if (r < 0 && why.fault == FERRY_XML_FAULT_MALFORMED && why.message[0])
        return ferry_error_set(err, EINVAL, "domain XML: line %d: %s", why.line, why.message);
    if (r < 0)
        return ferry_error_set(err, -r, "%s", perr.msg);

    xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || !is_elem(root, "domain"))
        return ferry_error_set(err, EINVAL, "domain XML: the root element is not <domain>");
    _cleanup_free_ char *type = prop(root, "type");
    if (!type || strcmp(type, "xen") != 0)
        return ferry_error_set(err, EINVAL, "domain XML: <domain type='%.20s'> is not 'xen'",
                               type ? type : "");

    cfg = ferry_calloc(1, sizeof *cfg);
    cfg->vncdisplay = -1;
    cfg->vncunused = -1;
    struct xparse xp = {.cfg = cfg, .err = err};
    r = parse_root(&xp, root);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(cfg);
    return 0;
}
