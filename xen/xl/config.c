/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the keys of an xl.cfg file mean: the parsed tree (xlcfg.c) becomes a
 * struct xlconv_config, and a config is written back as an xl.cfg file.
 * Keys ferry does not convert are kept verbatim, in file order. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "util.h"
#include "buf.h"
#include "xlconv.h"
#include "internal.h"
#include "xlcfg.h"

static const char *const guest_type_names[] = {
    [XLCONV_GUEST_PV] = "pv", [XLCONV_GUEST_PVH] = "pvh", [XLCONV_GUEST_HVM] = "hvm"};

static const char *const action_names[] = {
    [XLCONV_ACTION_UNSET] = "",
    [XLCONV_ACTION_DESTROY] = "destroy",
    [XLCONV_ACTION_RESTART] = "restart",
    [XLCONV_ACTION_RENAME_RESTART] = "rename-restart",
    [XLCONV_ACTION_PRESERVE] = "preserve",
    [XLCONV_ACTION_COREDUMP_DESTROY] = "coredump-destroy",
    [XLCONV_ACTION_COREDUMP_RESTART] = "coredump-restart",
    [XLCONV_ACTION_SOFT_RESET] = "soft-reset",
};

const char *xlconv_guest_type_name(enum xlconv_guest_type t)
{
    return (unsigned)t < ARRAY_SIZE(guest_type_names) ? guest_type_names[t] : "?";
}

const char *xlconv_action_name(enum xlconv_action a)
{
    return (unsigned)a < ARRAY_SIZE(action_names) ? action_names[a] : "?";
}

int xlconv_internal_action_parse(const char *s, enum xlconv_action *ret)
{
    for (size_t i = 1; i < ARRAY_SIZE(action_names); i++) {
        if (strcmp(s, action_names[i]) == 0) {
            *ret = (enum xlconv_action)i;
            return 0;
        }
    }
    return -EINVAL;
}

struct xlconv_config *xlconv_config_new(void)
{
    struct xlconv_config *cfg = ferry_calloc(1, sizeof *cfg);

    cfg->vncdisplay = -1;
    cfg->vncunused = -1;
    cfg->spiceport = -1;
    cfg->spicetls_port = -1;
    cfg->spicedisable_ticketing = -1;
    cfg->spiceagent_mouse = -1;
    cfg->spice_clipboard_sharing = -1;
    return cfg;
}

void xlconv_config_free(struct xlconv_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->name);
    free(cfg->bios_path);
    free(cfg->spicehost);
    free(cfg->spicepasswd);
    free(cfg->spice_image_compression);
    free(cfg->spice_streaming_video);
    free(cfg->kernel);
    free(cfg->ramdisk);
    free(cfg->cmdline);
    free(cfg->vnclisten);
    free(cfg->vncpasswd);
    for (size_t i = 0; i < cfg->n_disks; i++)
        xlconv_disk_clear(&cfg->disks[i]);
    for (size_t i = 0; i < cfg->n_vifs; i++)
        xlconv_vif_clear(&cfg->vifs[i]);
    for (size_t i = 0; i < cfg->n_kept; i++) {
        free(cfg->kept[i].key);
        free(cfg->kept[i].raw);
    }
    free(cfg->kept);
    for (size_t i = 0; i < cfg->n_notes; i++)
        free(cfg->notes[i]);
    free(cfg);
}

void xlconv_internal_note(struct xlconv_config *cfg, char *msg)
{
    if (cfg->n_notes + 1 < XLCONV_MAX_NOTES) {
        cfg->notes[cfg->n_notes++] = msg;
        return;
    }
    free(msg);
    if (cfg->n_notes + 1 == XLCONV_MAX_NOTES)
        cfg->notes[cfg->n_notes++] = ferry_strdup("(further notes omitted)");
}

void xlconv_internal_keep(struct xlconv_config *cfg, const char *key, char *raw)
{
    struct xlconv_kept *k = reallocarray(cfg->kept, cfg->n_kept + 1, sizeof *k);
    if (!k)
        abort();
    cfg->kept = k;
    k[cfg->n_kept++] = (struct xlconv_kept){.key = ferry_strdup(key), .raw = raw};
}

const char *const xlconv_mapped_keys[] = {
    "name",
    "uuid",
    "memory",
    "maxmem",
    "vcpus",
    "maxvcpus",
    "type",
    "builder",
    "pvh",
    "kernel",
    "ramdisk",
    "cmdline",
    "extra",
    "root",
    "on_poweroff",
    "on_reboot",
    "on_crash",
    "vnc",
    "vnclisten",
    "vncdisplay",
    "vncunused",
    "vncpasswd",
    "disk",
    "vif",
    "bios",
    "bios_path_override",
    "spice",
    "spicehost",
    "spiceport",
    "spicetls_port",
    "spicedisable_ticketing",
    "spicepasswd",
    "spiceagent_mouse",
    "spicevdagent",
    "spice_clipboard_sharing",
    "spice_image_compression",
    "spice_streaming_video",
    NULL,
};

/* The spice keys config.c converts (with spice = 1); other spice* keys
 * (spiceusbredirection...) are kept verbatim. */
static const char *const spice_keys[] = {
    "spicehost",
    "spiceport",
    "spicetls_port",
    "spicedisable_ticketing",
    "spicepasswd",
    "spiceagent_mouse",
    "spicevdagent",
    "spice_clipboard_sharing",
    "spice_image_compression",
    "spice_streaming_video",
};

bool xlconv_internal_is_spice_key(const char *key)
{
    for (size_t i = 0; i < ARRAY_SIZE(spice_keys); i++)
        if (strcmp(key, spice_keys[i]) == 0)
            return true;
    return false;
}

bool xlconv_internal_is_vnc_key(const char *key)
{
    static const char *const keys[] = {"vnclisten", "vncdisplay", "vncunused", "vncpasswd"};

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

/* --- reading values --- */

struct interp {
    const char *source;
    struct xlconv_config *cfg;
    struct ferry_error *err;
};

static int verr(const struct interp *in, const struct xlconv_xlval *v, const char *key,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int verr(const struct interp *in, const struct xlconv_xlval *v, const char *key,
                const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ferry_error_set(in->err, EINVAL, "%s:%u:%u: %s: %s", in->source, v->line, v->col, key,
                           msg);
}
#ifdef __clang_analyzer__ /* verr always returns a negative errno; see error.h */
#define verr(...) ferry_error_analyzer_neg(verr(__VA_ARGS__))
#endif

static int get_string(const struct interp *in, const struct xlconv_xlset *s, char **ret)
{
    if (s->value->kind == XLCONV_XLVAL_LIST)
        return verr(in, s->value, s->key, "expected a string, got a list");
    free(*ret);
    *ret = ferry_strdup(s->value->str);
    return 0;
}

/* xl reads numbers with strtol base 0 from strings or bare numbers. */
static int get_u64(const struct interp *in, const struct xlconv_xlset *s, uint64_t max,
                   uint64_t *ret)
{
    const char *str = s->value->str;
    char *end;

    if (s->value->kind == XLCONV_XLVAL_LIST)
        return verr(in, s->value, s->key, "expected a number, got a list");
    if (!*str || str[0] == '-' || str[0] == '+' || str[0] == ' ')
        return verr(in, s->value, s->key, "'%s' is not a non-negative integer", str);
    errno = 0;
    unsigned long long v = strtoull(str, &end, 0);
    if (errno || *end)
        return verr(in, s->value, s->key, "'%s' is not a non-negative integer", str);
    if (v > max)
        return verr(in, s->value, s->key, "%llu is above the maximum %" PRIu64, v, max);
    *ret = v;
    return 0;
}

static int get_bool(const struct interp *in, const struct xlconv_xlset *s, int *ret)
{
    uint64_t v;
    int r = get_u64(in, s, UINT64_MAX, &v);

    if (r < 0)
        return r;
    if (v > 1)
        return verr(in, s->value, s->key, "expected 0 or 1, got %s", s->value->str);
    *ret = (int)v;
    return 0;
}

static int get_action(const struct interp *in, const struct xlconv_xlset *s,
                      enum xlconv_action *ret)
{
    _cleanup_free_ char *v = NULL;
    int r = get_string(in, s, &v);

    if (r < 0)
        return r;
    if (xlconv_internal_action_parse(v, ret) < 0)
        return verr(in, s->value, s->key,
                    "unknown action '%s' (destroy, restart, rename-restart, preserve, "
                    "coredump-destroy, coredump-restart, soft-reset)",
                    v);
    return 0;
}

/* An rbd target's options other than the monitors have no element in
 * domain XML unless they are libvirt's "no auth" (auth_supported=none). */
static void note_rbd_options(const struct interp *in, const struct xlconv_disk *d)
{
    struct xlconv_rbd rbd = {0};
    struct ferry_error e = {0};

    if (!xlconv_target_is_rbd(d->target) || xlconv_rbd_parse(d->target, &rbd, &e) < 0)
        return;
    if (strcmp(rbd.options, "auth_supported=none") != 0)
        xlconv_internal_note(in->cfg, ferry_strdup_printf("%s: disk '%s': rbd options '%s' have no "
                                                          "domain XML element; kept verbatim in "
                                                          "<ferry:rbd>",
                                                          in->source, d->vdev, rbd.options));
    xlconv_rbd_clear(&rbd);
}

static int get_disks(const struct interp *in, const struct xlconv_xlset *s)
{
    const struct xlconv_xlval *l = s->value;
    struct xlconv_config *cfg = in->cfg;

    if (l->kind != XLCONV_XLVAL_LIST)
        return verr(in, l, s->key, "expected a list of disk specs, [ '...', ... ]");
    if (l->n_items > XLCONV_MAX_DISKS)
        return verr(in, l, s->key, "more than %d disks", XLCONV_MAX_DISKS);
    for (size_t i = 0; i < l->n_items; i++) {
        const struct xlconv_xlval *it = l->items[i];
        if (it->kind == XLCONV_XLVAL_LIST)
            return verr(in, it, s->key, "item %zu: expected a string, got a list", i);
        struct ferry_error e = {0};
        if (xlconv_disk_parse(it->str, &cfg->disks[cfg->n_disks], &e) < 0)
            return verr(in, it, s->key, "%s", e.msg);
        cfg->n_disks++;
        const struct xlconv_disk *d = &cfg->disks[cfg->n_disks - 1];
        if (xlconv_disk_check_representable(d, &e) < 0)
            return verr(in, it, s->key, "%s", e.msg);
        note_rbd_options(in, d);
        for (size_t j = 0; j + 1 < cfg->n_disks; j++)
            if (strcmp(cfg->disks[j].vdev, cfg->disks[cfg->n_disks - 1].vdev) == 0)
                return verr(in, it, s->key, "vdev '%s' used twice", cfg->disks[j].vdev);
    }
    return 0;
}

static int get_vifs(const struct interp *in, const struct xlconv_xlset *s)
{
    const struct xlconv_xlval *l = s->value;
    struct xlconv_config *cfg = in->cfg;

    if (l->kind != XLCONV_XLVAL_LIST)
        return verr(in, l, s->key, "expected a list of vif specs, [ '...', ... ]");
    if (l->n_items > XLCONV_MAX_VIFS)
        return verr(in, l, s->key, "more than %d vifs", XLCONV_MAX_VIFS);
    for (size_t i = 0; i < l->n_items; i++) {
        const struct xlconv_xlval *it = l->items[i];
        if (it->kind == XLCONV_XLVAL_LIST)
            return verr(in, it, s->key, "item %zu: expected a string, got a list", i);
        struct ferry_error e = {0};
        if (xlconv_vif_parse(it->str, &cfg->vifs[cfg->n_vifs], &e) < 0)
            return verr(in, it, s->key, "%s", e.msg);
        cfg->n_vifs++;
    }
    return 0;
}

/* bios = "ovmf" (UEFI) and its bios_path_override; other BIOSes (seabios,
 * rombios) have no loader element of their own and stay kept verbatim. */
static int interpret_bios(const struct interp *in, const struct xlconv_xlset *bios,
                          const struct xlconv_xlset *path)
{
    struct xlconv_config *cfg = in->cfg;
    _cleanup_free_ char *b = NULL;
    int r;

    if (bios && (r = get_string(in, bios, &b)) < 0)
        return r;
    if (!b || strcmp(b, "ovmf") != 0) {
        if (bios)
            xlconv_internal_keep(cfg, "bios", xlconv_xlval_format(bios->value, true));
        if (path)
            xlconv_internal_keep(cfg, "bios_path_override", xlconv_xlval_format(path->value, true));
        return 0;
    }
    if (cfg->type != XLCONV_GUEST_HVM)
        return verr(in, bios->value, "bios",
                    "firmware is chosen only for type='hvm' guests (xl ignores it for %s)",
                    xlconv_guest_type_name(cfg->type));
    cfg->ovmf = true;
    if (path && (r = get_string(in, path, &cfg->bios_path)) < 0)
        return r;
    if (cfg->bios_path && cfg->bios_path[0] != '/')
        return verr(in, path->value, "bios_path_override", "'%s' is not an absolute path",
                    cfg->bios_path);
    return 0;
}

static int get_tristate(const struct interp *in, const struct xlconv_xlset *s, int *ret)
{
    return get_bool(in, s, ret);
}

static int get_choice(const struct interp *in, const struct xlconv_xlset *s,
                      const char *const *allowed, char **ret)
{
    int r = get_string(in, s, ret);

    if (r < 0)
        return r;
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(*ret, allowed[i]) == 0)
            return 0;
    return verr(in, s->value, s->key, "unknown value '%s'", *ret);
}

/* spice = 1 (HVM only) and the keys of xl.cfg(5) that libvirt's
 * <graphics type='spice'> carries. What xl itself refuses (no port, ticketing
 * without a password) is refused here with the key's position; with spice
 * unset or 0 every spice key is kept verbatim. */
static int interpret_spice(const struct interp *in, const struct xlconv_xlcfg *x)
{
    static const char *const compressions[] = {"auto_glz", "auto_lz", "quic", "glz",
                                               "lz",       "off",     NULL};
    static const char *const streamings[] = {"filter", "all", "off", NULL};
    struct xlconv_config *cfg = in->cfg;
    const struct xlconv_xlset *spice = xlconv_xlcfg_find(x, "spice");
    const struct xlconv_xlset *passwd = NULL, *clip = NULL;
    int on = 0, vdagent = -1, r = 0;

    if (spice && (r = get_bool(in, spice, &on)) < 0)
        return r;
    for (size_t i = 0; i < x->n_settings; i++) {
        const struct xlconv_xlset *s = &x->settings[i];
        uint64_t u;
        if (s != spice && !xlconv_internal_is_spice_key(s->key))
            continue;
        if (!on) {
            /* The switch kept as 0, whatever its spelling (as vnc's). */
            xlconv_internal_keep(
                cfg, s->key, s == spice ? ferry_strdup("0") : xlconv_xlval_format(s->value, true));
            continue;
        }
        if (s == spice)
            continue;
        if (strcmp(s->key, "spicehost") == 0) {
            r = get_string(in, s, &cfg->spicehost);
        } else if (strcmp(s->key, "spiceport") == 0 || strcmp(s->key, "spicetls_port") == 0) {
            r = get_u64(in, s, 65535, &u);
            if (r == 0) /* u is unset on failure */
                *(strcmp(s->key, "spiceport") == 0 ? &cfg->spiceport : &cfg->spicetls_port) =
                    (int)u;
        } else if (strcmp(s->key, "spicedisable_ticketing") == 0) {
            r = get_tristate(in, s, &cfg->spicedisable_ticketing);
        } else if (strcmp(s->key, "spicepasswd") == 0) {
            passwd = s;
            r = get_string(in, s, &cfg->spicepasswd);
        } else if (strcmp(s->key, "spiceagent_mouse") == 0) {
            r = get_tristate(in, s, &cfg->spiceagent_mouse);
        } else if (strcmp(s->key, "spicevdagent") == 0) {
            r = get_tristate(in, s, &vdagent);
        } else if (strcmp(s->key, "spice_clipboard_sharing") == 0) {
            clip = s;
            r = get_tristate(in, s, &cfg->spice_clipboard_sharing);
        } else if (strcmp(s->key, "spice_image_compression") == 0) {
            r = get_choice(in, s, compressions, &cfg->spice_image_compression);
        } else if (strcmp(s->key, "spice_streaming_video") == 0) {
            r = get_choice(in, s, streamings, &cfg->spice_streaming_video);
        }
        if (r < 0)
            return r;
    }
    if (!on)
        return 0;
    cfg->spice = true;
    cfg->spicevdagent = vdagent == 1;
    if (cfg->type != XLCONV_GUEST_HVM)
        return verr(in, spice->value, "spice",
                    "SPICE is only for type='hvm' guests (xl ignores it for %s)",
                    xlconv_guest_type_name(cfg->type));
    if (cfg->spiceport < 0 && cfg->spicetls_port < 0)
        return verr(in, spice->value, "spice",
                    "spice = 1 needs spiceport or spicetls_port (xl refuses it without)");
    if (cfg->spicedisable_ticketing != 1 && !cfg->spicepasswd)
        return verr(in, spice->value, "spice",
                    "SPICE ticketing is on (spicedisable_ticketing is not 1) but spicepasswd "
                    "is not set (xl refuses it)");
    if (cfg->spicedisable_ticketing == 1 && passwd)
        return verr(in, passwd->value, "spicepasswd",
                    "unused with spicedisable_ticketing = 1; domain XML cannot keep a password "
                    "that is not asked for");
    if (clip && cfg->spice_clipboard_sharing == 1 && !cfg->spicevdagent)
        return verr(in, clip->value, "spice_clipboard_sharing",
                    "needs spicevdagent = 1 (xl.cfg(5))");
    return 0;
}

static int interpret(struct interp *in, const struct xlconv_xlcfg *x)
{
    struct xlconv_config *cfg = in->cfg;
    const struct xlconv_xlset *type_set = NULL, *builder = NULL, *pvh = NULL;
    const struct xlconv_xlset *root = NULL, *extra = NULL, *cmdline = NULL, *vnc = NULL;
    const struct xlconv_xlset *bios = NULL, *bios_path = NULL;
    bool have_vnc_keys = false;
    int r = 0;

    for (size_t i = 0; i < x->n_settings && r == 0; i++) {
        const struct xlconv_xlset *s = &x->settings[i];
        const char *k = s->key;
        uint64_t u;

        if (strcmp(k, "name") == 0) {
            r = get_string(in, s, &cfg->name);
            if (r == 0 && !ferry_name_valid(cfg->name))
                r = verr(in, s->value, k,
                         "'%s' is not a valid ferry domain name (1-64 of A-Z a-z 0-9 _ . + -)",
                         cfg->name);
        } else if (strcmp(k, "uuid") == 0) {
            _cleanup_free_ char *u_str = NULL;
            r = get_string(in, s, &u_str);
            if (r == 0 && !ferry_uuid_valid(u_str))
                r = verr(in, s->value, k, "'%s' is not a UUID", u_str);
            if (r == 0)
                snprintf(cfg->uuid, sizeof cfg->uuid, "%s", u_str);
        } else if (strcmp(k, "memory") == 0) {
            r = get_u64(in, s, XLCONV_MAX_MEM_MIB, &u);
            if (r == 0) /* u is unset on failure */
                cfg->memory_mib = u;
        } else if (strcmp(k, "maxmem") == 0) {
            r = get_u64(in, s, XLCONV_MAX_MEM_MIB, &u);
            if (r == 0) /* u is unset on failure */
                cfg->maxmem_mib = u;
        } else if (strcmp(k, "vcpus") == 0) {
            r = get_u64(in, s, XLCONV_MAX_VCPUS, &u);
            if (r == 0) /* u is unset on failure */
                cfg->vcpus = (unsigned)u;
        } else if (strcmp(k, "maxvcpus") == 0) {
            r = get_u64(in, s, XLCONV_MAX_VCPUS, &u);
            if (r == 0) /* u is unset on failure */
                cfg->maxvcpus = (unsigned)u;
        } else if (strcmp(k, "type") == 0) {
            type_set = s;
        } else if (strcmp(k, "builder") == 0) {
            builder = s;
        } else if (strcmp(k, "pvh") == 0) {
            pvh = s;
        } else if (strcmp(k, "kernel") == 0) {
            r = get_string(in, s, &cfg->kernel);
        } else if (strcmp(k, "ramdisk") == 0) {
            r = get_string(in, s, &cfg->ramdisk);
        } else if (strcmp(k, "cmdline") == 0) {
            cmdline = s;
        } else if (strcmp(k, "extra") == 0) {
            extra = s;
        } else if (strcmp(k, "root") == 0) {
            root = s;
        } else if (strcmp(k, "on_poweroff") == 0) {
            r = get_action(in, s, &cfg->on_poweroff);
        } else if (strcmp(k, "on_reboot") == 0) {
            r = get_action(in, s, &cfg->on_reboot);
        } else if (strcmp(k, "on_crash") == 0) {
            r = get_action(in, s, &cfg->on_crash);
        } else if (strcmp(k, "vnc") == 0) {
            vnc = s;
        } else if (xlconv_internal_is_vnc_key(k)) {
            have_vnc_keys = true;
        } else if (strcmp(k, "bios") == 0) {
            bios = s;
        } else if (strcmp(k, "bios_path_override") == 0) {
            bios_path = s;
        } else if (strcmp(k, "spice") == 0 || xlconv_internal_is_spice_key(k)) {
            /* read below, once the guest type is known */
        } else if (strcmp(k, "disk") == 0) {
            r = get_disks(in, s);
        } else if (strcmp(k, "vif") == 0) {
            r = get_vifs(in, s);
        } else {
            xlconv_internal_keep(cfg, k, xlconv_xlval_format(s->value, true));
        }
    }
    if (r < 0)
        return r;

    /* Guest type: "type" wins over the deprecated "builder" and "pvh=1". */
    if (type_set) {
        _cleanup_free_ char *t = NULL;
        r = get_string(in, type_set, &t);
        if (r < 0)
            return r;
        if (strcmp(t, "pv") == 0)
            cfg->type = XLCONV_GUEST_PV;
        else if (strcmp(t, "pvh") == 0)
            cfg->type = XLCONV_GUEST_PVH;
        else if (strcmp(t, "hvm") == 0)
            cfg->type = XLCONV_GUEST_HVM;
        else
            return verr(in, type_set->value, "type", "unknown guest type '%s' (pv, pvh, hvm)", t);
        if (builder || pvh)
            xlconv_internal_note(cfg, ferry_strdup_printf("%s: 'type' overrides the deprecated "
                                                          "'%s' key, which is dropped",
                                                          in->source, builder ? "builder" : "pvh"));
    } else if (builder) {
        _cleanup_free_ char *b = NULL;
        r = get_string(in, builder, &b);
        if (r < 0)
            return r;
        if (strcmp(b, "hvm") == 0)
            cfg->type = XLCONV_GUEST_HVM;
        else if (strcmp(b, "generic") == 0 || strcmp(b, "linux") == 0)
            cfg->type = XLCONV_GUEST_PV;
        else
            return verr(in, builder->value, "builder", "unknown builder '%s' (generic, hvm)", b);
    } else if (pvh) {
        int on;
        r = get_bool(in, pvh, &on);
        if (r < 0)
            return r;
        cfg->type = on ? XLCONV_GUEST_PVH : XLCONV_GUEST_PV;
    }

    /* Kernel command line: xl uses "cmdline" alone when present, else
     * "root=ROOT EXTRA". */
    if (cmdline) {
        r = get_string(in, cmdline, &cfg->cmdline);
        if (r == 0 && (root || extra))
            xlconv_internal_note(cfg, ferry_strdup_printf("%s: 'cmdline' overrides 'root' and "
                                                          "'extra' (as in xl); they are dropped",
                                                          in->source));
    } else if (root || extra) {
        _cleanup_free_ char *rv = NULL, *ev = NULL;
        if (root)
            r = get_string(in, root, &rv);
        if (r == 0 && extra)
            r = get_string(in, extra, &ev);
        if (r == 0)
            cfg->cmdline = ferry_strdup_printf("%s%s%s%s", rv ? "root=" : "", rv ? rv : "",
                                               rv && ev ? " " : "", ev ? ev : "");
    }
    if (r < 0)
        return r;

    r = interpret_bios(in, bios, bios_path);
    if (r == 0)
        r = interpret_spice(in, x);
    if (r < 0)
        return r;

    /* VNC: on when vnc=1, or when vnc is absent and a vnc* key is set. With
     * vnc=0 every vnc key is kept verbatim (for HVM xl enables VNC by
     * default, so the 0 matters). */
    int vnc_on = -1;
    if (vnc) {
        r = get_bool(in, vnc, &vnc_on);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < x->n_settings; i++) {
        const struct xlconv_xlset *s = &x->settings[i];
        if (!xlconv_internal_is_vnc_key(s->key) && s != vnc)
            continue;
        if (vnc_on == 0) {
            /* The switch as what it means ("vnc = 00" is 0): the XML's
             * reader takes 0 only, a console being a <graphics> element. */
            xlconv_internal_keep(
                cfg, s->key, s == vnc ? ferry_strdup("0") : xlconv_xlval_format(s->value, true));
            continue;
        }
        uint64_t u;
        if (strcmp(s->key, "vnclisten") == 0) {
            r = get_string(in, s, &cfg->vnclisten);
        } else if (strcmp(s->key, "vncpasswd") == 0) {
            r = get_string(in, s, &cfg->vncpasswd);
        } else if (strcmp(s->key, "vncdisplay") == 0) {
            r = get_u64(in, s, 65535 - 5900, &u);
            if (r == 0) /* u is unset on failure */
                cfg->vncdisplay = (int)u;
        } else if (strcmp(s->key, "vncunused") == 0) {
            r = get_bool(in, s, &cfg->vncunused);
        }
        if (r < 0)
            return r;
    }
    cfg->vnc = vnc_on == 1 || (vnc_on == -1 && have_vnc_keys);

    /* libxl's defaults, made explicit so the XML means the same: memory
     * defaults to maxmem, and one vcpu is online unless vcpus says more. */
    if (!cfg->memory_mib && cfg->maxmem_mib) {
        cfg->memory_mib = cfg->maxmem_mib;
        cfg->maxmem_mib = 0;
    }
    if (!cfg->vcpus && cfg->maxvcpus)
        cfg->vcpus = 1;

    if (!cfg->name)
        return ferry_error_set(in->err, EINVAL, "%s: missing required key 'name'", in->source);
    if (cfg->maxmem_mib && cfg->memory_mib && cfg->maxmem_mib < cfg->memory_mib)
        return ferry_error_set(in->err, EINVAL,
                               "%s: maxmem (%" PRIu64 ") is below memory (%" PRIu64 ")", in->source,
                               cfg->maxmem_mib, cfg->memory_mib);
    if (cfg->maxvcpus && cfg->vcpus && cfg->maxvcpus < cfg->vcpus)
        return ferry_error_set(in->err, EINVAL, "%s: maxvcpus (%u) is below vcpus (%u)", in->source,
                               cfg->maxvcpus, cfg->vcpus);
    return 0;
}

int xlconv_xlcfg_parse(const char *text, size_t len, const char *source, struct xlconv_config **ret,
                       struct ferry_error *err)
{
    _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL;
    struct xlconv_xlcfg *x = NULL;
    int r;

    if (!source)
        source = "xl.cfg";
    r = xlconv_xlcfg_parse_syntax(text, len, source, &x, err);
    if (r < 0)
        return r;
    cfg = xlconv_config_new();
    for (size_t i = 0; i < x->n_warnings; i++)
        xlconv_internal_note(cfg, ferry_strdup(x->warnings[i]));
    struct interp in = {.source = source, .cfg = cfg, .err = err};
    r = interpret(&in, x);
    xlconv_xlcfg_free(x);
    if (r < 0)
        return r;
    for (size_t i = 0; i < cfg->n_kept; i++)
        xlconv_internal_note(cfg, ferry_strdup_printf("%s: key '%s' is not converted by ferry; "
                                                      "kept verbatim",
                                                      source, cfg->kept[i].key));
    *ret = TAKE_PTR(cfg);
    return 0;
}
