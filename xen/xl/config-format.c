/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* struct xlconv_config written as an xl.cfg file: every field the
 * converter knows, then the keys it kept verbatim. The reverse of
 * config.c's interpretation. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "internal.h"
#include "util.h"
#include "xlcfg.h"
#include "xlconv.h"

static void put_string(struct ferry_buf *b, const char *key, const char *val)
{
    _cleanup_free_ char *q = NULL;

    if (!val)
        return;
    q = xlconv_xl_quote(val);
    ferry_buf_printf(b, "%s = %s\n", key, q);
}

static void put_list(struct ferry_buf *b, const char *key, char **items, size_t n)
{
    if (n == 0)
        return;
    ferry_buf_printf(b, "%s = [", key);
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *q = xlconv_xl_quote(items[i]);
        ferry_buf_printf(b, n == 1 ? " %s ]\n" : "\n    %s,", q);
    }
    if (n > 1)
        ferry_buf_puts(b, "\n]\n");
}

static void put_int(struct ferry_buf *b, const char *key, int v)
{
    if (v >= 0)
        ferry_buf_printf(b, "%s = %d\n", key, v);
}

static void xlconv_buf_spice(struct ferry_buf *b, const struct xlconv_config *cfg)
{
    ferry_buf_puts(b, "spice = 1\n");
    put_string(b, "spicehost", cfg->spicehost);
    put_int(b, "spiceport", cfg->spiceport);
    put_int(b, "spicetls_port", cfg->spicetls_port);
    /* xl's default is ticketing on: say which, the password decides. */
    put_int(b, "spicedisable_ticketing", cfg->spicepasswd ? 0 : 1);
    put_string(b, "spicepasswd", cfg->spicepasswd);
    put_int(b, "spiceagent_mouse", cfg->spiceagent_mouse);
    if (cfg->spicevdagent)
        ferry_buf_puts(b, "spicevdagent = 1\n");
    put_int(b, "spice_clipboard_sharing", cfg->spice_clipboard_sharing);
    put_string(b, "spice_image_compression", cfg->spice_image_compression);
    put_string(b, "spice_streaming_video", cfg->spice_streaming_video);
}

char *xlconv_config_format_xlcfg(const struct xlconv_config *cfg)
{
    struct ferry_buf b = {0};

    put_string(&b, "name", cfg->name);
    if (cfg->uuid[0])
        put_string(&b, "uuid", cfg->uuid);
    put_string(&b, "type", xlconv_guest_type_name(cfg->type));
    if (cfg->memory_mib)
        ferry_buf_printf(&b, "memory = %" PRIu64 "\n", cfg->memory_mib);
    if (cfg->maxmem_mib && cfg->maxmem_mib != cfg->memory_mib)
        ferry_buf_printf(&b, "maxmem = %" PRIu64 "\n", cfg->maxmem_mib);
    if (cfg->vcpus)
        ferry_buf_printf(&b, "vcpus = %u\n", cfg->vcpus);
    if (cfg->maxvcpus && cfg->maxvcpus != cfg->vcpus)
        ferry_buf_printf(&b, "maxvcpus = %u\n", cfg->maxvcpus);
    put_string(&b, "kernel", cfg->kernel);
    put_string(&b, "ramdisk", cfg->ramdisk);
    put_string(&b, "cmdline", cfg->cmdline);
    if (cfg->on_poweroff)
        put_string(&b, "on_poweroff", xlconv_action_name(cfg->on_poweroff));
    if (cfg->on_reboot)
        put_string(&b, "on_reboot", xlconv_action_name(cfg->on_reboot));
    if (cfg->on_crash)
        put_string(&b, "on_crash", xlconv_action_name(cfg->on_crash));
    if (cfg->vnc) {
        ferry_buf_puts(&b, "vnc = 1\n");
        put_string(&b, "vnclisten", cfg->vnclisten);
        if (cfg->vncdisplay >= 0)
            ferry_buf_printf(&b, "vncdisplay = %d\n", cfg->vncdisplay);
        if (cfg->vncunused >= 0)
            ferry_buf_printf(&b, "vncunused = %d\n", cfg->vncunused);
        put_string(&b, "vncpasswd", cfg->vncpasswd);
    }

    if (cfg->ovmf) {
        put_string(&b, "bios", "ovmf");
        put_string(&b, "bios_path_override", cfg->bios_path);
    }
    if (cfg->spice) {
        xlconv_buf_spice(&b, cfg);
    }

    char *specs[XLCONV_MAX_DISKS > XLCONV_MAX_VIFS ? XLCONV_MAX_DISKS : XLCONV_MAX_VIFS];
    for (size_t i = 0; i < cfg->n_disks; i++)
        specs[i] = xlconv_disk_format(&cfg->disks[i]);
    put_list(&b, "disk", specs, cfg->n_disks);
    for (size_t i = 0; i < cfg->n_disks; i++)
        free(specs[i]);
    for (size_t i = 0; i < cfg->n_vifs; i++)
        specs[i] = xlconv_vif_format(&cfg->vifs[i]);
    put_list(&b, "vif", specs, cfg->n_vifs);
    for (size_t i = 0; i < cfg->n_vifs; i++)
        free(specs[i]);

    for (size_t i = 0; i < cfg->n_kept; i++)
        ferry_buf_printf(&b, "%s = %s\n", cfg->kept[i].key, cfg->kept[i].raw);
    return ferry_buf_steal(&b);
}
