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

static const char *disk_bus(const char *vdev)
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

static void disk_to_xml(xmlNode *devices, const struct xlconv_disk *d)
{
    xmlNode *disk = xmlNewChild(devices, NULL, BADCAST "disk", NULL);
    bool block = d->target && strncmp(d->target, "/dev/", 5) == 0;

    set_prop(disk, "type", block ? "block" : "file");
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
    if (d->target) {
        xmlNode *src = xmlNewChild(disk, NULL, BADCAST "source", NULL);
        set_prop(src, block ? "dev" : "file", d->target);
    }
    xmlNode *tgt = xmlNewChild(disk, NULL, BADCAST "target", NULL);
    set_prop(tgt, "dev", d->vdev);
    set_prop(tgt, "bus", disk_bus(d->vdev));
    if (d->readonly)
        xmlNewChild(disk, NULL, BADCAST "readonly", NULL);
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
    if (v->script) {
        n = xmlNewChild(nic, NULL, BADCAST "script", NULL);
        set_prop(n, "path", v->script);
    }
    if (v->ip) {
        n = xmlNewChild(nic, NULL, BADCAST "ip", NULL);
        set_prop(n, "address", v->ip);
    }
    if (v->vifname) {
        n = xmlNewChild(nic, NULL, BADCAST "target", NULL);
        set_prop(n, "dev", v->vifname);
    }
    if (v->model) {
        n = xmlNewChild(nic, NULL, BADCAST "model", NULL);
        set_prop(n, "type", v->model);
    }
}

static void metadata_to_xml(xmlNode *root, const struct xlconv_config *cfg)
{
    bool any = cfg->n_kept > 0;

    for (size_t i = 0; i < cfg->n_disks; i++)
        any = any || cfg->disks[i].extra;
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
    for (size_t i = 0; i < cfg->n_vifs; i++) {
        if (!cfg->vifs[i].extra)
            continue;
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", i);
        xmlNode *k = xmlNewTextChild(xl, ns, BADCAST "vif", BADCAST cfg->vifs[i].extra);
        set_prop(k, "index", idx);
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
