/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* struct xlconv_config as libvirt-style domain XML (<domain type='xen'>) and
 * back, with libxml2. Input XML is hostile until proven otherwise: bounded
 * size, no DTD (so no entities), no network; every value that ends up in an
 * xl.cfg file is checked by re-parsing what we would write. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>

#include "cleanup.h"
#include "internal.h"
#include "util.h"
#include "buf.h"
#include "xlconv.h"
#include "xlcfg.h"
#include "xml-cleanup.h"

#define BADCAST (const xmlChar *)

/* --- writing --- */

static xmlNode *add_text(xmlNode *parent, const char *name, const char *text)
{
    return xmlNewTextChild(parent, NULL, BADCAST name, BADCAST text);
}

static void set_prop(xmlNode *n, const char *name, const char *val)
{
    xmlNewProp(n, BADCAST name, BADCAST val);
}

/* xl has no bus setting: the vdev name decides (hdX IDE, sdX SCSI, xvdX
 * Xen PV), as libvirt writes it. */
const char *xlconv_internal_disk_bus(const char *vdev)
{
    if (strncmp(vdev, "hd", 2) == 0)
        return "ide";
    if (strncmp(vdev, "sd", 2) == 0)
        return "scsi";
    return "xen";
}

/* backendtype <-> libvirt's <driver name>. */
static const char *const backend_map[][2] = {
    {"phy", "phy"}, {"qdisk", "qemu"}, {"tap", "tap"}, {"standalone", "standalone"}};

/* An rbd: target as libvirt's network disk source: name, snapshot and
 * monitors; the other rbd options go to the metadata (see metadata_to_xml). */
static void rbd_source_to_xml(xmlNode *disk, const char *target)
{
    struct xlconv_rbd rbd = {0};
    struct ferry_error err = {0};

    /* Checked by xlconv_disk_check_representable on the way in. */
    if (xlconv_rbd_parse(target, &rbd, &err) < 0)
        abort();
    xmlNode *src = xmlNewChild(disk, NULL, BADCAST "source", NULL);
    set_prop(src, "protocol", "rbd");
    set_prop(src, "name", rbd.name);
    if (rbd.snap)
        set_prop(xmlNewChild(src, NULL, BADCAST "snapshot", NULL), "name", rbd.snap);
    for (size_t i = 0; i < rbd.n_hosts; i++) {
        xmlNode *h = xmlNewChild(src, NULL, BADCAST "host", NULL);
        const char *name = rbd.hosts[i].name;
        size_t len = strlen(name);
        /* libvirt writes IPv6 monitors bare; xl's string needs brackets. */
        if (name[0] == '[' && name[len - 1] == ']') {
            _cleanup_free_ char *bare = strndup(name + 1, len - 2);
            if (!bare)
                abort();
            set_prop(h, "name", bare);
        } else {
            set_prop(h, "name", name);
        }
        if (rbd.hosts[i].port[0])
            set_prop(h, "port", rbd.hosts[i].port);
    }
    xlconv_rbd_clear(&rbd);
}

static void disk_to_xml(xmlNode *devices, const struct xlconv_disk *d)
{
    xmlNode *disk = xmlNewChild(devices, NULL, BADCAST "disk", NULL);
    bool rbd = xlconv_target_is_rbd(d->target);
    bool block = d->target && strncmp(d->target, "/dev/", 5) == 0;

    set_prop(disk, "type", rbd ? "network" : block ? "block" : "file");
    set_prop(disk, "device", d->cdrom ? "cdrom" : "disk");
    const char *driver_name = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(backend_map); i++)
        if (strcmp(d->backendtype, backend_map[i][0]) == 0)
            driver_name = backend_map[i][1];
    bool has_type = strcmp(d->format, "empty") != 0;
    if (driver_name || has_type) {
        xmlNode *drv = xmlNewChild(disk, NULL, BADCAST "driver", NULL);
        if (driver_name)
            set_prop(drv, "name", driver_name);
        if (has_type)
            set_prop(drv, "type", d->format);
    }
    if (rbd) {
        rbd_source_to_xml(disk, d->target);
    } else if (d->target) {
        xmlNode *src = xmlNewChild(disk, NULL, BADCAST "source", NULL);
        set_prop(src, block ? "dev" : "file", d->target);
    }
    xmlNode *tgt = xmlNewChild(disk, NULL, BADCAST "target", NULL);
    set_prop(tgt, "dev", d->vdev);
    set_prop(tgt, "bus", xlconv_internal_disk_bus(d->vdev));
    if (d->readonly)
        xmlNewChild(disk, NULL, BADCAST "readonly", NULL);
}

/* One <ip> per address of xl's space-separated list; "ADDR/PREFIX" gives
 * the prefix attribute. */
static void ips_to_xml(xmlNode *nic, const char *list)
{
    _cleanup_free_ char *copy = ferry_strdup(list);
    char *save = NULL;

    for (char *a = strtok_r(copy, " \t", &save); a; a = strtok_r(NULL, " \t", &save)) {
        xmlNode *n = xmlNewChild(nic, NULL, BADCAST "ip", NULL);
        char *slash = strchr(a, '/');
        if (slash)
            *slash = '\0';
        set_prop(n, "address", a);
        if (slash)
            set_prop(n, "prefix", slash + 1);
    }
}

static void vif_to_xml(xmlNode *devices, const struct xlconv_vif *v)
{
    xmlNode *nic = xmlNewChild(devices, NULL, BADCAST "interface", NULL);
    xmlNode *n;

    set_prop(nic, "type", v->bridge ? "bridge" : "ethernet");
    if (v->mac[0]) {
        n = xmlNewChild(nic, NULL, BADCAST "mac", NULL);
        set_prop(n, "address", v->mac);
    }
    if (v->bridge) {
        n = xmlNewChild(nic, NULL, BADCAST "source", NULL);
        set_prop(n, "bridge", v->bridge);
    }
    if (v->n_tags) {
        xmlNode *vlan = xmlNewChild(nic, NULL, BADCAST "vlan", NULL);
        if (v->trunk)
            set_prop(vlan, "trunk", "yes");
        for (size_t i = 0; i < v->n_tags; i++) {
            char id[8];
            snprintf(id, sizeof id, "%u", v->tags[i]);
            set_prop(xmlNewChild(vlan, NULL, BADCAST "tag", NULL), "id", id);
        }
    }
    if (v->bridge && (v->n_tags || xlconv_vif_script_is_ovs(v->script)))
        set_prop(xmlNewChild(nic, NULL, BADCAST "virtualport", NULL), "type", "openvswitch");
    if (v->script) {
        n = xmlNewChild(nic, NULL, BADCAST "script", NULL);
        set_prop(n, "path", v->script);
    }
    if (v->ip)
        ips_to_xml(nic, v->ip);
    if (v->vifname) {
        n = xmlNewChild(nic, NULL, BADCAST "target", NULL);
        set_prop(n, "dev", v->vifname);
    }
    if (v->model) {
        n = xmlNewChild(nic, NULL, BADCAST "model", NULL);
        set_prop(n, "type", v->model);
    }
}

/* The rbd options domain XML has no element for ("id=admin", "conf=..."),
 * or NULL when they are exactly libvirt's reading of a source without
 * <auth> (auth_supported=none). Caller frees. */
static char *rbd_kept_options(const struct xlconv_disk *d)
{
    struct xlconv_rbd rbd = {0};
    struct ferry_error err = {0};
    char *opts = NULL;

    if (!xlconv_target_is_rbd(d->target) || xlconv_rbd_parse(d->target, &rbd, &err) < 0)
        return NULL;
    if (strcmp(rbd.options, "auth_supported=none") != 0)
        opts = TAKE_PTR(rbd.options);
    xlconv_rbd_clear(&rbd);
    return opts;
}

static void metadata_to_xml(xmlNode *root, const struct xlconv_config *cfg)
{
    bool any = cfg->n_kept > 0;

    for (size_t i = 0; i < cfg->n_disks; i++) {
        _cleanup_free_ char *o = rbd_kept_options(&cfg->disks[i]);
        any = any || cfg->disks[i].extra || o;
    }
    for (size_t i = 0; i < cfg->n_vifs; i++)
        any = any || cfg->vifs[i].extra;
    if (!any)
        return;

    xmlNode *md = xmlNewChild(root, NULL, BADCAST "metadata", NULL);
    xmlNode *xl = xmlNewChild(md, NULL, BADCAST "xl", NULL);
    xmlNs *ns = xmlNewNs(xl, BADCAST XLCONV_XML_NS, BADCAST "ferry");
    xmlSetNs(xl, ns);
    for (size_t i = 0; i < cfg->n_kept; i++) {
        xmlNode *k = xmlNewTextChild(xl, ns, BADCAST "key", BADCAST cfg->kept[i].raw);
        set_prop(k, "name", cfg->kept[i].key);
    }
    for (size_t i = 0; i < cfg->n_disks; i++) {
        if (!cfg->disks[i].extra)
            continue;
        xmlNode *k = xmlNewTextChild(xl, ns, BADCAST "disk", BADCAST cfg->disks[i].extra);
        set_prop(k, "dev", cfg->disks[i].vdev);
    }
    for (size_t i = 0; i < cfg->n_disks; i++) {
        _cleanup_free_ char *o = rbd_kept_options(&cfg->disks[i]);
        if (!o)
            continue;
        xmlNode *k = xmlNewTextChild(xl, ns, BADCAST "rbd", BADCAST o);
        set_prop(k, "dev", cfg->disks[i].vdev);
    }
    for (size_t i = 0; i < cfg->n_vifs; i++) {
        if (!cfg->vifs[i].extra)
            continue;
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", i);
        xmlNode *k = xmlNewTextChild(xl, ns, BADCAST "vif", BADCAST cfg->vifs[i].extra);
        set_prop(k, "index", idx);
    }
}

static void spice_to_xml(xmlNode *devices, const struct xlconv_config *cfg)
{
    xmlNode *g = xmlNewChild(devices, NULL, BADCAST "graphics", NULL);
    char num[16];

    set_prop(g, "type", "spice");
    if (cfg->spiceport >= 0) {
        snprintf(num, sizeof num, "%d", cfg->spiceport);
        set_prop(g, "port", num);
    }
    if (cfg->spicetls_port >= 0) {
        snprintf(num, sizeof num, "%d", cfg->spicetls_port);
        set_prop(g, "tlsPort", num);
    }
    /* xl has no automatic SPICE port: the ports are always given. */
    set_prop(g, "autoport", "no");
    if (cfg->spicehost)
        set_prop(g, "listen", cfg->spicehost);
    if (cfg->spicepasswd)
        set_prop(g, "passwd", cfg->spicepasswd);
    if (cfg->spice_image_compression)
        set_prop(xmlNewChild(g, NULL, BADCAST "image", NULL), "compression",
                 cfg->spice_image_compression);
    if (cfg->spice_streaming_video)
        set_prop(xmlNewChild(g, NULL, BADCAST "streaming", NULL), "mode",
                 cfg->spice_streaming_video);
    if (cfg->spiceagent_mouse >= 0)
        set_prop(xmlNewChild(g, NULL, BADCAST "mouse", NULL), "mode",
                 cfg->spiceagent_mouse ? "client" : "server");
    if (cfg->spice_clipboard_sharing >= 0)
        set_prop(xmlNewChild(g, NULL, BADCAST "clipboard", NULL), "copypaste",
                 cfg->spice_clipboard_sharing ? "yes" : "no");
    if (cfg->spicevdagent) {
        /* The SPICE agent is a virtio-serial port, as libvirt writes it. */
        xmlNode *ch = xmlNewChild(devices, NULL, BADCAST "channel", NULL);
        set_prop(ch, "type", "spicevmc");
        xmlNode *t = xmlNewChild(ch, NULL, BADCAST "target", NULL);
        set_prop(t, "type", "virtio");
        set_prop(t, "name", XLCONV_SPICE_AGENT_CHANNEL);
    }
}

char *xlconv_config_to_xml(const struct xlconv_config *cfg)
{
    _cleanup_(xmlFreeDocp) xmlDoc *doc = xmlNewDoc(BADCAST "1.0");
    xmlNode *root = xmlNewNode(NULL, BADCAST "domain");
    xmlNode *n;
    char num[32];

    xmlDocSetRootElement(doc, root);
    set_prop(root, "type", "xen");
    add_text(root, "name", cfg->name ? cfg->name : "");
    if (cfg->uuid[0])
        add_text(root, "uuid", cfg->uuid);
    uint64_t max = cfg->maxmem_mib ? cfg->maxmem_mib : cfg->memory_mib;
    if (max) {
        snprintf(num, sizeof num, "%" PRIu64, max * 1024);
        set_prop(add_text(root, "memory", num), "unit", "KiB");
    }
    if (cfg->memory_mib) {
        snprintf(num, sizeof num, "%" PRIu64, cfg->memory_mib * 1024);
        set_prop(add_text(root, "currentMemory", num), "unit", "KiB");
    }
    unsigned maxv = cfg->maxvcpus ? cfg->maxvcpus : cfg->vcpus;
    if (maxv) {
        snprintf(num, sizeof num, "%u", maxv);
        n = add_text(root, "vcpu", num);
        set_prop(n, "placement", "static");
        if (cfg->vcpus && cfg->vcpus != maxv) {
            snprintf(num, sizeof num, "%u", cfg->vcpus);
            set_prop(n, "current", num);
        }
    }

    xmlNode *os = xmlNewChild(root, NULL, BADCAST "os", NULL);
    static const char *const os_type[][2] = {
        [XLCONV_GUEST_PV] = {"xenpv", "linux"},
        [XLCONV_GUEST_PVH] = {"xenpvh", "xenpvh"},
        [XLCONV_GUEST_HVM] = {"xenfv", "hvm"},
    };
    n = add_text(os, "type", os_type[cfg->type][1]);
    set_prop(n, "machine", os_type[cfg->type][0]);
    if (cfg->ovmf) {
        /* No path: xl's own OVMF build (bios_path_override names another). */
        n = add_text(os, "loader", cfg->bios_path);
        set_prop(n, "readonly", "yes");
        set_prop(n, "type", "pflash");
    }
    if (cfg->kernel)
        add_text(os, "kernel", cfg->kernel);
    if (cfg->ramdisk)
        add_text(os, "initrd", cfg->ramdisk);
    if (cfg->cmdline)
        add_text(os, "cmdline", cfg->cmdline);

    if (cfg->on_poweroff)
        add_text(root, "on_poweroff", xlconv_action_name(cfg->on_poweroff));
    if (cfg->on_reboot)
        add_text(root, "on_reboot", xlconv_action_name(cfg->on_reboot));
    if (cfg->on_crash)
        add_text(root, "on_crash", xlconv_action_name(cfg->on_crash));

    xmlNode *devices = xmlNewChild(root, NULL, BADCAST "devices", NULL);
    for (size_t i = 0; i < cfg->n_disks; i++)
        disk_to_xml(devices, &cfg->disks[i]);
    for (size_t i = 0; i < cfg->n_vifs; i++)
        vif_to_xml(devices, &cfg->vifs[i]);
    if (cfg->vnc) {
        n = xmlNewChild(devices, NULL, BADCAST "graphics", NULL);
        set_prop(n, "type", "vnc");
        if (cfg->vncdisplay >= 0) {
            snprintf(num, sizeof num, "%d", 5900 + cfg->vncdisplay);
            set_prop(n, "port", num);
        }
        if (cfg->vncunused >= 0)
            set_prop(n, "autoport", cfg->vncunused ? "yes" : "no");
        if (cfg->vnclisten)
            set_prop(n, "listen", cfg->vnclisten);
        if (cfg->vncpasswd)
            set_prop(n, "passwd", cfg->vncpasswd);
    }
    if (cfg->spice)
        spice_to_xml(devices, cfg);
    metadata_to_xml(root, cfg);

    xmlBuffer *buf = xmlBufferCreate();
    xmlSaveCtxt *save = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL);
    if (!buf || !save)
        abort();
    xmlSaveDoc(save, doc);
    xmlSaveClose(save);
    char *out = ferry_strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return out;
}
