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
#include "xmlparse.h"

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
    _cleanup_free_ char *unit = xlconv_xp_prop(n, "unit"), *val = NULL;
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
    r = xlconv_xp_text(xp, n, (const char *)n->name, &val);
    if (r < 0)
        return r;
    uint64_t max_units = XLCONV_MAX_MEM_MIB * 1048576 / mult;
    r = xlconv_xp_uint(xp, (const char *)n->name, val, max_units, &v);
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

/* <loader type='pflash' readonly='yes'>[PATH]</loader> is bios = "ovmf"
 * (PATH: bios_path_override); libvirt's <loader type='rom'>.../hvmloader
 * is xl's default firmware loader and needs no key. */
static int parse_loader(struct xparse *xp, const xmlNode *n)
{
    struct xlconv_config *cfg = xp->cfg;
    _cleanup_free_ char *type = xlconv_xp_prop(n, "type");
    _cleanup_free_ char *ro = xlconv_xp_prop(n, "readonly");
    _cleanup_free_ char *secure = xlconv_xp_prop(n, "secure");
    _cleanup_free_ char *path = NULL;
    int r = xlconv_xp_text(xp, n, "os/loader", &path);

    if (r < 0)
        return r;
    /* Surrounding blanks are layout, not part of the path. */
    size_t lead = strspn(path, " \t\n"), len = strlen(path);
    while (len > lead && strchr(" \t\n", path[len - 1]))
        len--;
    memmove(path, path + lead, len - lead);
    path[len - lead] = '\0';
    if (type && strcmp(type, "rom") == 0) {
        const char *base = strrchr(path, '/');
        if (!base || strcmp(base, "/hvmloader") != 0)
            return ferry_error_set(xp->err, EINVAL,
                                   "domain XML: <loader type='rom'>%.64s</loader>: only xl's "
                                   "own hvmloader has an xl.cfg equivalent",
                                   path);
        xlconv_internal_note(cfg, ferry_strdup_printf("domain XML: <os><loader type='rom'> is "
                                                      "xl's default hvmloader; no key written"));
        return 0;
    }
    if (!type || strcmp(type, "pflash") != 0)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: <loader type='%.16s'> has no xl.cfg equivalent "
                               "(pflash, rom)",
                               type ? type : "");
    if (ro && strcmp(ro, "yes") != 0)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: <loader type='pflash' readonly='%.8s'>: xl's OVMF "
                               "is read-only",
                               ro);
    if (secure && strcmp(secure, "no") != 0)
        return ferry_error_set(
            xp->err, EINVAL, "domain XML: <loader secure='%.8s'> has no xl.cfg equivalent", secure);
    if (cfg->ovmf)
        return ferry_error_set(xp->err, EINVAL, "domain XML: <loader> given twice");
    cfg->ovmf = true;
    if (*path) {
        if (path[0] != '/')
            return ferry_error_set(xp->err, EINVAL,
                                   "domain XML: <loader> '%.64s' is not an absolute path", path);
        cfg->bios_path = TAKE_PTR(path);
    }
    return 0;
}

static int parse_os(struct xparse *xp, const xmlNode *os)
{
    static const char *const once[] = {"type", "kernel", "initrd", "cmdline", "loader", NULL};
    struct xlconv_config *cfg = xp->cfg;
    int r = xlconv_xp_unique(xp, os, once, "os");

    if (r < 0)
        return r;

    for (const xmlNode *c = os->children; c && r == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (xlconv_xp_is(c, "type")) {
            _cleanup_free_ char *t = NULL, *machine = xlconv_xp_prop(c, "machine");
            r = xlconv_xp_text(xp, c, "os/type", &t);
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
            /* libvirt's machine names the same guest type; one that names
             * another must not be silently overruled. */
            static const char *const machines[] = {[XLCONV_GUEST_PV] = "xenpv",
                                                   [XLCONV_GUEST_PVH] = "xenpvh",
                                                   [XLCONV_GUEST_HVM] = "xenfv"};
            if (machine && strcmp(machine, machines[cfg->type]) != 0)
                return ferry_error_set(xp->err, EINVAL,
                                       "domain XML: <os><type machine='%.16s'>%s</type>: the "
                                       "machine names another guest type",
                                       machine, t);
        } else if (xlconv_xp_is(c, "kernel")) {
            r = xlconv_xp_text(xp, c, "os/kernel", &cfg->kernel);
        } else if (xlconv_xp_is(c, "initrd")) {
            r = xlconv_xp_text(xp, c, "os/initrd", &cfg->ramdisk);
        } else if (xlconv_xp_is(c, "cmdline")) {
            r = xlconv_xp_text(xp, c, "os/cmdline", &cfg->cmdline);
        } else if (xlconv_xp_is(c, "loader")) {
            r = parse_loader(xp, c);
        } else if (xlconv_xp_is(c, "nvram")) {
            r = ferry_error_set(xp->err, EINVAL,
                                "domain XML: <os><nvram> has no xl.cfg equivalent (xl's OVMF "
                                "keeps no variable store)");
        } else {
            xlconv_xp_note_ignored(xp, "os", c);
        }
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
    _cleanup_free_ char *name = xlconv_xp_prop(k, "name"), *raw = NULL, *src = NULL;
    struct xlconv_xlcfg *x = NULL;
    struct ferry_error e = {0};
    int r;

    if (!name || !xlconv_xlkey_valid(name))
        return ferry_error_set(xp->err, EINVAL, "domain XML: <ferry:key> with a bad name '%.64s'",
                               name ? name : "");
    /* VNC keys are kept only when the XML has no VNC console (vnc = 0). */
    if (key_converted(name) ||
        ((strcmp(name, "vnc") == 0 || xlconv_internal_is_vnc_key(name)) && xp->have_vnc_graphics) ||
        ((strcmp(name, "spice") == 0 || xlconv_internal_is_spice_key(name)) &&
         xp->have_spice_graphics) ||
        ((strcmp(name, "bios") == 0 || strcmp(name, "bios_path_override") == 0) && cfg->ovmf))
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: <ferry:key name='%s'>: this key is converted from "
                               "the XML and cannot be kept verbatim",
                               name);
    for (size_t i = 0; i < cfg->n_kept; i++)
        if (strcmp(cfg->kept[i].key, name) == 0)
            return ferry_error_set(xp->err, EINVAL, "domain XML: <ferry:key name='%s'> twice",
                                   name);
    r = xlconv_xp_text(xp, k, "ferry:key", &raw);
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

/* <ferry:rbd dev='V'>OPTIONS</ferry:rbd>: the rbd options of disk V as
 * xl.cfg had them (id=, conf=, auth_supported=...), instead of libvirt's
 * reading of a source without <auth>. */
static int parse_metadata_rbd(struct xparse *xp, const xmlNode *k)
{
    struct xlconv_config *cfg = xp->cfg;
    _cleanup_free_ char *dev = xlconv_xp_prop(k, "dev"), *opts = NULL;
    int r;

    for (size_t i = 0; dev && i < cfg->n_disks; i++) {
        if (strcmp(cfg->disks[i].vdev, dev) != 0)
            continue;
        if (!xp->is_rbd[i])
            break;
        if (xp->rbd_options_kept[i])
            return ferry_error_set(xp->err, EINVAL, "domain XML: <ferry:rbd dev='%s'> given twice",
                                   dev);
        if ((r = xlconv_xp_text(xp, k, "ferry:rbd", &opts)) < 0)
            return r;
        free(xp->rbd[i].options);
        xp->rbd[i].options = TAKE_PTR(opts);
        xp->rbd_options_kept[i] = true;
        return 0;
    }
    return ferry_error_set(xp->err, EINVAL, "domain XML: <ferry:rbd dev='%.32s'> names no rbd disk",
                           dev ? dev : "");
}

/* Kept keys that would switch on what the XML does not have: xl turns VNC
 * on for any vnc* key unless vnc = 0, spice = 1 adds a console, and
 * bios = "ovmf" is the <loader> element's job. */
static int check_kept_switches(const struct xparse *xp)
{
    const struct xlconv_config *cfg = xp->cfg;
    const char *vnc = NULL, *vnc_key = NULL;

    for (size_t i = 0; i < cfg->n_kept; i++) {
        const struct xlconv_kept *k = &cfg->kept[i];
        if (strcmp(k->key, "vnc") == 0)
            vnc = k->raw;
        else if (xlconv_internal_is_vnc_key(k->key))
            vnc_key = k->key;
        if ((strcmp(k->key, "vnc") == 0 || strcmp(k->key, "spice") == 0) &&
            strcmp(k->raw, "0") != 0)
            return ferry_error_set(xp->err, EINVAL,
                                   "domain XML: <ferry:key name='%s'> may only be 0: a console "
                                   "is a <graphics> element",
                                   k->key);
        if (strcmp(k->key, "bios") == 0 && strcmp(k->raw, "\"ovmf\"") == 0)
            return ferry_error_set(xp->err, EINVAL,
                                   "domain XML: <ferry:key name='bios'> \"ovmf\": UEFI is "
                                   "<loader type='pflash'>");
    }
    if (vnc_key && !vnc)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: <ferry:key name='%s'> without <ferry:key "
                               "name='vnc'>0</ferry:key> would turn VNC on",
                               vnc_key);
    return 0;
}

/* Each rbd source becomes its disk's target; the disk checks below then
 * prove the string reads back as the same name, snapshot, monitors and
 * options. */
static int finish_rbd(struct xparse *xp)
{
    struct xlconv_config *cfg = xp->cfg;

    for (size_t i = 0; i < cfg->n_disks; i++) {
        if (!xp->is_rbd[i])
            continue;
        struct xlconv_disk *d = &cfg->disks[i];
        struct xlconv_rbd back = {0};
        struct ferry_error e = {0};
        free(d->target);
        d->target = xlconv_rbd_format(&xp->rbd[i]);
        if (xlconv_rbd_parse(d->target, &back, &e) < 0)
            return ferry_error_set(xp->err, EINVAL, "domain XML: disk '%s': %s", d->vdev, e.msg);
        bool same = strcmp(back.name, xp->rbd[i].name) == 0 && !back.snap == !xp->rbd[i].snap &&
                    (!back.snap || strcmp(back.snap, xp->rbd[i].snap) == 0) &&
                    strcmp(back.options, xp->rbd[i].options) == 0 &&
                    back.n_hosts == xp->rbd[i].n_hosts;
        for (size_t h = 0; same && h < back.n_hosts; h++)
            same = strcmp(back.hosts[h].name, xp->rbd[i].hosts[h].name) == 0 &&
                   strcmp(back.hosts[h].port, xp->rbd[i].hosts[h].port) == 0;
        xlconv_rbd_clear(&back);
        if (!same)
            return ferry_error_set(xp->err, EINVAL,
                                   "domain XML: disk '%s': its rbd source cannot be written as "
                                   "an xl target without changing its meaning",
                                   d->vdev);
    }
    return 0;
}

static int parse_metadata(struct xparse *xp, const xmlNode *md)
{
    struct xlconv_config *cfg = xp->cfg;
    int r = 0;

    for (const xmlNode *xl = md->children; xl && r == 0; xl = xl->next) {
        if (xl->type != XML_ELEMENT_NODE)
            continue;
        if (!xlconv_xp_is(xl, "xl") || !xl->ns ||
            strcmp((const char *)xl->ns->href, XLCONV_XML_NS) != 0) {
            xlconv_xp_note_ignored(xp, "metadata", xl);
            continue;
        }
        for (const xmlNode *k = xl->children; k && r == 0; k = k->next) {
            if (k->type != XML_ELEMENT_NODE)
                continue;
            if (xlconv_xp_is(k, "key")) {
                r = parse_metadata_key(xp, k);
                continue;
            }
            if (xlconv_xp_is(k, "rbd")) {
                r = parse_metadata_rbd(xp, k);
                continue;
            }
            bool disk = xlconv_xp_is(k, "disk");
            if (!disk && !xlconv_xp_is(k, "vif"))
                return ferry_error_set(xp->err, EINVAL,
                                       "domain XML: unknown element <ferry:%s> in <ferry:xl>",
                                       (const char *)k->name);
            _cleanup_free_ char *id = xlconv_xp_prop(k, disk ? "dev" : "index"), *extra = NULL;
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
            r = xlconv_xp_text(xp, k, "ferry:disk", &extra);
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
        if (same && xlconv_disk_check_representable(d, &e) < 0)
            return ferry_error_set(xp->err, EINVAL, "domain XML: %s", e.msg);
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
                    str_same(back.extra, v->extra) && back.n_tags == v->n_tags &&
                    back.trunk == v->trunk &&
                    memcmp(back.tags, v->tags, v->n_tags * sizeof v->tags[0]) == 0;
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
    static const char *const once[] = {"name",        "uuid",      "memory",   "currentMemory",
                                       "vcpu",        "os",        "devices",  "metadata",
                                       "on_poweroff", "on_reboot", "on_crash", NULL};
    struct xlconv_config *cfg = xp->cfg;
    const xmlNode *metadata = NULL;
    bool have_current = false;
    uint64_t mem = 0, cur = 0, u = 0;
    int r = xlconv_xp_unique(xp, root, once, "domain");

    for (const xmlNode *c = root->children; c && r == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (xlconv_xp_is(c, "name")) {
            r = xlconv_xp_text(xp, c, "name", &cfg->name);
            if (r == 0 && !ferry_name_valid(cfg->name))
                r = ferry_error_set(xp->err, EINVAL,
                                    "domain XML: name '%.64s' is not a valid ferry domain name",
                                    cfg->name);
        } else if (xlconv_xp_is(c, "uuid")) {
            _cleanup_free_ char *uuid = NULL;
            r = xlconv_xp_text(xp, c, "uuid", &uuid);
            if (r == 0 && !ferry_uuid_valid(uuid))
                r = ferry_error_set(xp->err, EINVAL, "domain XML: '%.40s' is not a UUID", uuid);
            if (r == 0)
                snprintf(cfg->uuid, sizeof cfg->uuid, "%s", uuid);
        } else if (xlconv_xp_is(c, "memory")) {
            r = parse_memory(xp, c, &mem);
        } else if (xlconv_xp_is(c, "currentMemory")) {
            r = parse_memory(xp, c, &cur);
            have_current = true;
        } else if (xlconv_xp_is(c, "vcpu")) {
            _cleanup_free_ char *v = NULL, *current = xlconv_xp_prop(c, "current");
            r = xlconv_xp_text(xp, c, "vcpu", &v);
            if (r == 0)
                r = xlconv_xp_uint(xp, "vcpu", v, XLCONV_MAX_VCPUS, &u);
            if (r == 0)
                cfg->maxvcpus = cfg->vcpus = (unsigned)u;
            if (r == 0 && current) {
                r = xlconv_xp_uint(xp, "vcpu current", current, u, &u);
                if (r == 0 && u == 0)
                    r = ferry_error_set(xp->err, EINVAL, "domain XML: vcpu current='0'");
                cfg->vcpus = (unsigned)u;
            }
        } else if (xlconv_xp_is(c, "os")) {
            r = parse_os(xp, c);
        } else if (xlconv_xp_is(c, "on_poweroff") || xlconv_xp_is(c, "on_reboot") ||
                   xlconv_xp_is(c, "on_crash")) {
            _cleanup_free_ char *a = NULL;
            enum xlconv_action *slot = xlconv_xp_is(c, "on_poweroff") ? &cfg->on_poweroff
                                       : xlconv_xp_is(c, "on_reboot") ? &cfg->on_reboot
                                                                      : &cfg->on_crash;
            r = xlconv_xp_text(xp, c, (const char *)c->name, &a);
            if (r == 0 && xlconv_internal_action_parse(a, slot) < 0)
                r = ferry_error_set(xp->err, EINVAL, "domain XML: <%s>: unknown action '%.40s'",
                                    (const char *)c->name, a);
        } else if (xlconv_xp_is(c, "devices")) {
            r = xlconv_xp_devices(xp, c);
        } else if (xlconv_xp_is(c, "metadata")) {
            metadata = c; /* after devices: it refers to them */
        } else {
            xlconv_xp_note_ignored(xp, NULL, c);
        }
    }
    if (r == 0 && metadata)
        r = parse_metadata(xp, metadata);
    if (r == 0)
        r = check_kept_switches(xp);
    if (r == 0)
        r = finish_rbd(xp);
    if (r < 0)
        return r;
    if (cfg->spicevdagent && !cfg->spice)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: the SPICE agent <channel> without SPICE <graphics> "
                               "has no xl.cfg equivalent");
    if (cfg->spice_clipboard_sharing == 1 && !cfg->spicevdagent)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: SPICE <clipboard copypaste='yes'> needs the SPICE "
                               "agent <channel type='spicevmc'> (xl.cfg(5): spicevdagent)");
    /* xl ignores both for PV and PVH guests: refuse rather than drop. */
    if (cfg->type != XLCONV_GUEST_HVM && (cfg->ovmf || cfg->spice))
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: %s is only for <os><type>hvm</type> guests in xl",
                               cfg->ovmf ? "<loader type='pflash'>" : "SPICE <graphics>");
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
    if (!root || !xlconv_xp_is(root, "domain"))
        return ferry_error_set(err, EINVAL, "domain XML: the root element is not <domain>");
    _cleanup_free_ char *type = xlconv_xp_prop(root, "type");
    if (!type || strcmp(type, "xen") != 0)
        return ferry_error_set(err, EINVAL, "domain XML: <domain type='%.20s'> is not 'xen'",
                               type ? type : "");

    cfg = xlconv_config_new();
    _cleanup_free_ struct xparse *xp = ferry_calloc(1, sizeof *xp);
    xp->cfg = cfg;
    xp->err = err;
    r = parse_root(xp, root);
    for (size_t i = 0; i < XLCONV_MAX_DISKS; i++)
        xlconv_rbd_clear(&xp->rbd[i]);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(cfg);
    return 0;
}
