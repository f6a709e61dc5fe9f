/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Domain definitions after parsing: formatting back to libvirt-shaped XML
 * (built with libxml2's tree API so every value is escaped), comparison,
 * deep copy and release. */
#include "domain.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "proto-xml.h"
#include "xml-cleanup.h"

const char *domain_disk_format_name(enum domain_disk_format f)
{
    switch (f) {
    case DOMAIN_DISK_RAW:
        return "raw";
    case DOMAIN_DISK_QCOW2:
        return "qcow2";
    }
    return "raw";
}

const char *domain_disk_cache_name(enum domain_disk_cache c)
{
    switch (c) {
    case DOMAIN_CACHE_DEFAULT:
        return "default";
    case DOMAIN_CACHE_NONE:
        return "none";
    case DOMAIN_CACHE_WRITEBACK:
        return "writeback";
    case DOMAIN_CACHE_WRITETHROUGH:
        return "writethrough";
    case DOMAIN_CACHE_UNSAFE:
        return "unsafe";
    }
    return "default";
}

static xmlNode *add_text(xmlNode *parent, const char *name, const char *text)
{
    /* xmlNewTextChild escapes TEXT; xmlNewChild would not. */
    return xmlNewTextChild(parent, NULL, (const xmlChar *)name, (const xmlChar *)text);
}

/* <features>, <pm> and <clock>, when the definition sets something. */
static void add_machine_opts(xmlNode *root, const struct domain_machine_opts *o)
{
    xmlNode *n, *t;

    if (o->vmport || o->smm) {
        n = xmlNewChild(root, NULL, (const xmlChar *)"features", NULL);
        if (o->vmport)
            xmlNewProp(xmlNewChild(n, NULL, (const xmlChar *)"vmport", NULL),
                       (const xmlChar *)"state", (const xmlChar *)domain_tristate_name(o->vmport));
        if (o->smm)
            xmlNewProp(xmlNewChild(n, NULL, (const xmlChar *)"smm", NULL), (const xmlChar *)"state",
                       (const xmlChar *)domain_tristate_name(o->smm));
    }
    if (o->s3 || o->s4) {
        n = xmlNewChild(root, NULL, (const xmlChar *)"pm", NULL);
        if (o->s3)
            xmlNewProp(xmlNewChild(n, NULL, (const xmlChar *)"suspend-to-mem", NULL),
                       (const xmlChar *)"enabled",
                       (const xmlChar *)(o->s3 == DOMAIN_ON ? "yes" : "no"));
        if (o->s4)
            xmlNewProp(xmlNewChild(n, NULL, (const xmlChar *)"suspend-to-disk", NULL),
                       (const xmlChar *)"enabled",
                       (const xmlChar *)(o->s4 == DOMAIN_ON ? "yes" : "no"));
    }
    if (o->hpet || o->rtc_localtime) {
        n = xmlNewChild(root, NULL, (const xmlChar *)"clock", NULL);
        xmlNewProp(n, (const xmlChar *)"offset",
                   (const xmlChar *)(o->rtc_localtime ? "localtime" : "utc"));
        if (o->hpet) {
            t = xmlNewChild(n, NULL, (const xmlChar *)"timer", NULL);
            xmlNewProp(t, (const xmlChar *)"name", (const xmlChar *)"hpet");
            xmlNewProp(t, (const xmlChar *)"present",
                       (const xmlChar *)(o->hpet == DOMAIN_ON ? "yes" : "no"));
        }
    }
}

/* <cpu>: nothing while unpinned (a definition not yet through the
 * driver's define). */
static void add_cpu(xmlNode *root, const struct domain_cpu *c)
{
    xmlNode *cpu, *n;
    char num[16];

    if (c->mode == DOMAIN_CPU_ABSENT)
        return;
    cpu = xmlNewChild(root, NULL, (const xmlChar *)"cpu", NULL);
    xmlNewProp(cpu, (const xmlChar *)"mode", (const xmlChar *)domain_cpu_mode_name(c->mode));
    if (c->mode == DOMAIN_CPU_CUSTOM) {
        xmlNewProp(cpu, (const xmlChar *)"match", (const xmlChar *)"exact");
        add_text(cpu, "model", c->model);
    }
    if (c->sockets) {
        n = xmlNewChild(cpu, NULL, (const xmlChar *)"topology", NULL);
        snprintf(num, sizeof num, "%u", c->sockets);
        xmlNewProp(n, (const xmlChar *)"sockets", (const xmlChar *)num);
        snprintf(num, sizeof num, "%u", c->cores);
        xmlNewProp(n, (const xmlChar *)"cores", (const xmlChar *)num);
        snprintf(num, sizeof num, "%u", c->threads);
        xmlNewProp(n, (const xmlChar *)"threads", (const xmlChar *)num);
    }
}

static void add_pci_address(xmlNode *parent, const struct domain_pci_addr *a)
{
    xmlNode *n;
    char slot[8];

    if (!a->set)
        return;
    snprintf(slot, sizeof slot, "%#04x", a->slot);
    n = xmlNewChild(parent, NULL, (const xmlChar *)"address", NULL);
    xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)"pci");
    xmlNewProp(n, (const xmlChar *)"domain", (const xmlChar *)"0x0000");
    xmlNewProp(n, (const xmlChar *)"bus", (const xmlChar *)"0x00");
    xmlNewProp(n, (const xmlChar *)"slot", (const xmlChar *)slot);
    xmlNewProp(n, (const xmlChar *)"function", (const xmlChar *)"0x0");
}

static void add_disk(xmlNode *devices, const struct domain_disk *d)
{
    bool block = d->block;
    xmlNode *disk = xmlNewChild(devices, NULL, (const xmlChar *)"disk", NULL);
    xmlNode *n;

    xmlNewProp(disk, (const xmlChar *)"type", (const xmlChar *)(block ? "block" : "file"));
    xmlNewProp(disk, (const xmlChar *)"device", (const xmlChar *)(d->cdrom ? "cdrom" : "disk"));
    n = xmlNewChild(disk, NULL, (const xmlChar *)"driver", NULL);
    xmlNewProp(n, (const xmlChar *)"name", (const xmlChar *)"qemu");
    xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)domain_disk_format_name(d->format));
    if (d->cache != DOMAIN_CACHE_DEFAULT)
        xmlNewProp(n, (const xmlChar *)"cache", (const xmlChar *)domain_disk_cache_name(d->cache));
    if (d->io[0])
        xmlNewProp(n, (const xmlChar *)"io", (const xmlChar *)d->io);
    if (d->discard[0])
        xmlNewProp(n, (const xmlChar *)"discard", (const xmlChar *)d->discard);
    if (d->detect_zeroes[0])
        xmlNewProp(n, (const xmlChar *)"detect_zeroes", (const xmlChar *)d->detect_zeroes);
    if (d->source) {
        n = xmlNewChild(disk, NULL, (const xmlChar *)"source", NULL);
        xmlNewProp(n, (const xmlChar *)(block ? "dev" : "file"), (const xmlChar *)d->source);
    }
    n = xmlNewChild(disk, NULL, (const xmlChar *)"target", NULL);
    xmlNewProp(n, (const xmlChar *)"dev", (const xmlChar *)d->target);
    xmlNewProp(n, (const xmlChar *)"bus", (const xmlChar *)(d->bus[0] ? d->bus : "virtio"));
    if (d->readonly)
        xmlNewChild(disk, NULL, (const xmlChar *)"readonly", NULL);
    if (d->shareable)
        xmlNewChild(disk, NULL, (const xmlChar *)"shareable", NULL);
    if (d->serial[0])
        add_text(disk, "serial", d->serial);
    add_pci_address(disk, &d->addr);
    if (d->drive >= 0 && !strcmp(d->bus, "scsi")) {
        char unit[8];

        snprintf(unit, sizeof unit, "%d", d->drive);
        n = xmlNewChild(disk, NULL, (const xmlChar *)"address", NULL);
        xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)"drive");
        xmlNewProp(n, (const xmlChar *)"controller", (const xmlChar *)"0");
        xmlNewProp(n, (const xmlChar *)"bus", (const xmlChar *)"0");
        xmlNewProp(n, (const xmlChar *)"target", (const xmlChar *)"0");
        xmlNewProp(n, (const xmlChar *)"unit", (const xmlChar *)unit);
    } else if (d->drive >= 0 && (!strcmp(d->bus, "sata") || !strcmp(d->bus, "ide"))) {
        bool sata = strcmp(d->bus, "sata") == 0;
        char bus[8], unit[8];

        snprintf(bus, sizeof bus, "%d", sata ? 0 : d->drive / 2);
        snprintf(unit, sizeof unit, "%d", sata ? d->drive : d->drive % 2);
        n = xmlNewChild(disk, NULL, (const xmlChar *)"address", NULL);
        xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)"drive");
        xmlNewProp(n, (const xmlChar *)"controller", (const xmlChar *)"0");
        xmlNewProp(n, (const xmlChar *)"bus", (const xmlChar *)bus);
        xmlNewProp(n, (const xmlChar *)"target", (const xmlChar *)"0");
        xmlNewProp(n, (const xmlChar *)"unit", (const xmlChar *)unit);
    }
}

static void add_nic(xmlNode *devices, const struct domain_nic *nic)
{
    xmlNode *iface = xmlNewChild(devices, NULL, (const xmlChar *)"interface", NULL);
    xmlNode *n;

    xmlNewProp(iface, (const xmlChar *)"type", (const xmlChar *)domain_nic_type_name(nic->type));
    n = xmlNewChild(iface, NULL, (const xmlChar *)"mac", NULL);
    xmlNewProp(n, (const xmlChar *)"address", (const xmlChar *)nic->mac);
    if (nic->type == DOMAIN_NIC_BRIDGE) {
        n = xmlNewChild(iface, NULL, (const xmlChar *)"source", NULL);
        xmlNewProp(n, (const xmlChar *)"bridge", (const xmlChar *)nic->bridge);
    }
    if (nic->tap[0]) {
        n = xmlNewChild(iface, NULL, (const xmlChar *)"target", NULL);
        xmlNewProp(n, (const xmlChar *)"dev", (const xmlChar *)nic->tap);
    }
    n = xmlNewChild(iface, NULL, (const xmlChar *)"model", NULL);
    xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)domain_nic_model_name(nic->model));
    add_pci_address(iface, &nic->addr);
}

/* <serial> and the <console> that names it, as libvirt writes them. */
static void add_serial(xmlNode *devices, const struct domain_serial *s)
{
    const char *type = s->type == DOMAIN_CHR_UNIX ? "unix" : "pty";

    if (s->type == DOMAIN_CHR_NONE)
        return;
    for (int i = 0; i < 2; i++) {
        xmlNode *e = xmlNewChild(devices, NULL, (const xmlChar *)(i ? "console" : "serial"), NULL);
        xmlNode *n;

        xmlNewProp(e, (const xmlChar *)"type", (const xmlChar *)type);
        if (s->path) {
            n = xmlNewChild(e, NULL, (const xmlChar *)"source", NULL);
            xmlNewProp(n, (const xmlChar *)"mode", (const xmlChar *)"bind");
            xmlNewProp(n, (const xmlChar *)"path", (const xmlChar *)s->path);
        }
        n = xmlNewChild(e, NULL, (const xmlChar *)"target", NULL);
        xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)(i ? "serial" : "isa-serial"));
        xmlNewProp(n, (const xmlChar *)"port", (const xmlChar *)"0");
    }
}

static void add_graphics(xmlNode *devices, const struct domain_graphics *g)
{
    xmlNode *e, *n;
    char port[16];

    if (!g->vnc)
        return;
    snprintf(port, sizeof port, "%d", g->port);
    e = xmlNewChild(devices, NULL, (const xmlChar *)"graphics", NULL);
    xmlNewProp(e, (const xmlChar *)"type", (const xmlChar *)"vnc");
    xmlNewProp(e, (const xmlChar *)"port", (const xmlChar *)port);
    xmlNewProp(e, (const xmlChar *)"autoport", (const xmlChar *)(g->port < 0 ? "yes" : "no"));
    if (g->listen[0]) {
        xmlNewProp(e, (const xmlChar *)"listen", (const xmlChar *)g->listen);
        n = xmlNewChild(e, NULL, (const xmlChar *)"listen", NULL);
        xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)"address");
        xmlNewProp(n, (const xmlChar *)"address", (const xmlChar *)g->listen);
    }
}

static void add_video(xmlNode *devices, const struct domain_video *v)
{
    static const char *const names[] = {
        [DOMAIN_VIDEO_VGA] = "vga", [DOMAIN_VIDEO_VIRTIO] = "virtio", [DOMAIN_VIDEO_NONE] = "none"};
    xmlNode *e, *n;

    if (v->model == DOMAIN_VIDEO_ABSENT)
        return;
    e = xmlNewChild(devices, NULL, (const xmlChar *)"video", NULL);
    n = xmlNewChild(e, NULL, (const xmlChar *)"model", NULL);
    xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)names[v->model]);
    if (v->vram_kib) {
        char vram[16];

        snprintf(vram, sizeof vram, "%u", v->vram_kib);
        xmlNewProp(n, (const xmlChar *)"vram", (const xmlChar *)vram);
    }
    add_pci_address(e, &v->addr);
}

/* Sets the text of ROOT's first child element NAME to TEXT (added after
 * AFTER, or at the end, when there is none). */
static xmlNode *set_child_text(xmlNode *root, const char *name, const char *text, xmlNode *after)
{
    xmlNode *n;

    for (n = root->children; n; n = n->next) {
        if (agent_xml_is(n, name))
            break;
    }
    if (!n) {
        n = xmlNewDocNode(root->doc, NULL, (const xmlChar *)name, NULL);
        if (after)
            xmlAddNextSibling(after, n);
        else
            xmlAddChild(root, n);
    }
    xmlNodeSetContent(n, NULL);
    xmlNodeAddContent(n, (const xmlChar *)text); /* literal text, no entity parsing */
    return n;
}

/* The kept document (type='xen') with the fields that identify the guest. */
static char *format_native(const struct domain_def *def)
{
    _cleanup_(xmlFreeDocp) xmlDoc *doc = NULL;
    struct ferry_error err = {0};
    xmlNode *root, *name;

    if (agent_xml_parse(def->native_xml, strlen(def->native_xml), DOMAIN_XML_MAX, "domain XML",
                        &doc, &err) < 0)
        return NULL;
    root = xmlDocGetRootElement(doc);
    name = set_child_text(root, "name", def->name, NULL);
    set_child_text(root, "uuid", def->uuid, name);
    return agent_xml_format(doc);
}

char *domain_def_format(const struct domain_def *def)
{
    _cleanup_(xmlFreeDocp) xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *root, *os, *n, *devices;
    char num[32];

    if (!doc)
        return NULL;
    if (def->native_xml) {
        char *native = format_native(def);
        if (native)
            return native;
        /* Unreachable for a document domain_def_parse accepted. */
    }
    root = xmlNewDocNode(doc, NULL, (const xmlChar *)"domain", NULL);
    xmlDocSetRootElement(doc, root);
    xmlNewProp(root, (const xmlChar *)"type", (const xmlChar *)"kvm");
    add_text(root, "name", def->name);
    add_text(root, "uuid", def->uuid);
    if (def->description)
        add_text(root, "description", def->description);
    snprintf(num, sizeof num, "%" PRIu64, def->memory_kib);
    n = add_text(root, "memory", num);
    xmlNewProp(n, (const xmlChar *)"unit", (const xmlChar *)"KiB");
    snprintf(num, sizeof num, "%u", def->vcpus);
    add_text(root, "vcpu", num);
    os = xmlNewChild(root, NULL, (const xmlChar *)"os", NULL);
    n = add_text(os, "type", "hvm");
    xmlNewProp(n, (const xmlChar *)"arch", (const xmlChar *)"x86_64");
    if (def->machine[0])
        xmlNewProp(n, (const xmlChar *)"machine", (const xmlChar *)def->machine);
    if (def->kernel)
        add_text(os, "kernel", def->kernel);
    if (def->initrd)
        add_text(os, "initrd", def->initrd);
    if (def->cmdline)
        add_text(os, "cmdline", def->cmdline);
    if (def->loader) {
        n = add_text(os, "loader", def->loader);
        if (def->loader_rom) {
            xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)"rom");
        } else {
            xmlNewProp(n, (const xmlChar *)"readonly", (const xmlChar *)"yes");
            xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)"pflash");
        }
    }
    if (def->loader && !def->loader_rom && (def->nvram || def->nvram_template)) {
        n = def->nvram ? add_text(os, "nvram", def->nvram)
                       : xmlNewChild(os, NULL, (const xmlChar *)"nvram", NULL);
        if (def->nvram_template)
            xmlNewProp(n, (const xmlChar *)"template", (const xmlChar *)def->nvram_template);
    }
    add_machine_opts(root, &def->mopts);
    add_cpu(root, &def->cpu);
    add_text(root, "on_poweroff", "destroy");
    add_text(root, "on_reboot", def->on_reboot == DOMAIN_REBOOT_DESTROY ? "destroy" : "restart");
    add_text(root, "on_crash", "destroy");
    devices = xmlNewChild(root, NULL, (const xmlChar *)"devices", NULL);
    for (size_t i = 0; i < def->n_disks && i < DOMAIN_MAX_DISKS; i++)
        add_disk(devices, &def->disks[i]);
    if (def->scsi.present) {
        n = xmlNewChild(devices, NULL, (const xmlChar *)"controller", NULL);
        xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)"scsi");
        xmlNewProp(n, (const xmlChar *)"index", (const xmlChar *)"0");
        xmlNewProp(n, (const xmlChar *)"model", (const xmlChar *)"virtio-scsi");
        add_pci_address(n, &def->scsi.addr);
    }
    for (size_t i = 0; i < def->n_nics && i < DOMAIN_MAX_NICS; i++)
        add_nic(devices, &def->nics[i]);
    add_serial(devices, &def->serial);
    add_graphics(devices, &def->graphics);
    add_video(devices, &def->video);
    return agent_xml_format(doc);
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool domain_def_equal(const struct domain_def *a, const struct domain_def *b)
{
    if (strcmp(a->name, b->name) || strcmp(a->uuid, b->uuid) || a->memory_kib != b->memory_kib ||
        a->vcpus != b->vcpus || strcmp(a->machine, b->machine) || !str_eq(a->kernel, b->kernel) ||
        !str_eq(a->initrd, b->initrd) || !str_eq(a->cmdline, b->cmdline) ||
        !str_eq(a->description, b->description) || a->n_disks != b->n_disks ||
        !str_eq(a->native_xml, b->native_xml) || !str_eq(a->loader, b->loader) ||
        a->loader_rom != b->loader_rom || !str_eq(a->nvram, b->nvram) ||
        !str_eq(a->nvram_template, b->nvram_template) || a->on_reboot != b->on_reboot ||
        a->serial.type != b->serial.type || !str_eq(a->serial.path, b->serial.path) ||
        a->graphics.vnc != b->graphics.vnc || a->graphics.port != b->graphics.port ||
        strcmp(a->graphics.listen, b->graphics.listen) || a->video.model != b->video.model ||
        a->video.vram_kib != b->video.vram_kib || a->video.addr.set != b->video.addr.set ||
        a->video.addr.slot != b->video.addr.slot || a->cpu.mode != b->cpu.mode ||
        strcmp(a->cpu.model, b->cpu.model) || a->cpu.sockets != b->cpu.sockets ||
        a->cpu.cores != b->cpu.cores || a->cpu.threads != b->cpu.threads ||
        a->scsi.present != b->scsi.present || a->scsi.addr.set != b->scsi.addr.set ||
        a->mopts.vmport != b->mopts.vmport || a->mopts.smm != b->mopts.smm ||
        a->mopts.hpet != b->mopts.hpet || a->mopts.rtc_localtime != b->mopts.rtc_localtime ||
        a->mopts.s3 != b->mopts.s3 || a->mopts.s4 != b->mopts.s4 ||
        a->scsi.addr.slot != b->scsi.addr.slot)
        return false;
    if (a->n_nics != b->n_nics)
        return false;
    for (size_t i = 0; i < a->n_nics; i++) {
        const struct domain_nic *x = &a->nics[i], *y = &b->nics[i];

        if (x->type != y->type || x->model != y->model || strcmp(x->mac, y->mac) ||
            strcmp(x->bridge, y->bridge) || strcmp(x->tap, y->tap) || x->addr.set != y->addr.set ||
            x->addr.slot != y->addr.slot)
            return false;
    }
    for (size_t i = 0; i < a->n_disks; i++) {
        const struct domain_disk *x = &a->disks[i], *y = &b->disks[i];

        if (strcmp(x->target, y->target) || strcmp(x->bus, y->bus) ||
            !str_eq(x->source, y->source) || x->format != y->format || x->cache != y->cache ||
            x->readonly != y->readonly || x->block != y->block || x->shareable != y->shareable ||
            strcmp(x->serial, y->serial) || x->cdrom != y->cdrom || strcmp(x->io, y->io) ||
            strcmp(x->discard, y->discard) || strcmp(x->detect_zeroes, y->detect_zeroes) ||
            (strcmp(x->bus, "virtio") && x->drive != y->drive) || x->addr.set != y->addr.set ||
            x->addr.slot != y->addr.slot)
            return false;
    }
    return true;
}

struct domain_def *domain_def_copy(const struct domain_def *def)
{
    struct domain_def *c = ferry_calloc(1, sizeof *c);

    *c = *def;
    c->kernel = ferry_strdup(def->kernel);
    c->initrd = ferry_strdup(def->initrd);
    c->loader = ferry_strdup(def->loader);
    c->nvram = ferry_strdup(def->nvram);
    c->nvram_template = ferry_strdup(def->nvram_template);
    c->serial.path = ferry_strdup(def->serial.path);
    c->cmdline = ferry_strdup(def->cmdline);
    c->description = ferry_strdup(def->description);
    c->native_xml = ferry_strdup(def->native_xml);
    for (size_t i = 0; i < def->n_disks; i++)
        c->disks[i].source = ferry_strdup(def->disks[i].source);
    for (size_t i = 0; i < def->n_ignored; i++)
        c->ignored[i] = ferry_strdup(def->ignored[i]);
    return c;
}

void domain_def_free(struct domain_def *def)
{
    if (!def)
        return;
    free(def->kernel);
    free(def->initrd);
    free(def->loader);
    free(def->nvram);
    free(def->nvram_template);
    free(def->serial.path);
    free(def->cmdline);
    free(def->description);
    free(def->native_xml);
    for (size_t i = 0; i < def->n_disks && i < DOMAIN_MAX_DISKS; i++)
        free(def->disks[i].source);
    for (size_t i = 0; i < def->n_ignored && i < DOMAIN_MAX_IGNORED; i++)
        free(def->ignored[i]);
    free(def);
}

struct domain_disk *domain_def_find_disk(struct domain_def *def, const char *target)
{
    for (size_t i = 0; i < def->n_disks; i++) {
        if (strcmp(def->disks[i].target, target) == 0)
            return &def->disks[i];
    }
    return NULL;
}
