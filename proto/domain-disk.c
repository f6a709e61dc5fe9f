/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <disk> of the domain XML: file and block images, CD-ROMs, the
 * <driver> options QEMU honours, the bus and address a disk sits on. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "domain-priv.h"
#include "proto-xml.h"
#include "util.h"
#include "xml-cleanup.h"

#define WHAT DOMAIN_WHAT

static bool target_valid(const char *t)
{
    size_t len = strlen(t);

    if (len < 2 || len > 31)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9')))
            return false;
    }
    return true;
}

static bool serial_valid(const char *s)
{
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("_.+- ", *s)))
            return false;
    }
    return true;
}

/* VALUE must be one of LIST (NULL-terminated) or empty. */
static int one_of(struct parse_state *st, const char *what, const char *attr, const char *value,
                  const char *const *list, const char *names)
{
    if (value[0] && !domain_in_list(list, value))
        return ferry_error_set(st->err, EOPNOTSUPP, "%s: <driver %s='%s'> is not supported (%s)",
                               what, attr, value, names);
    return 0;
}

static int parse_driver(struct parse_state *st, const xmlNode *n, struct domain_disk *d,
                        const char *what)
{
    static const char *const known[] = {"name",    "type",          "cache", "io",
                                        "discard", "detect_zeroes", NULL};
    /* What QEMU does on an I/O error, and host threads: the guest's
     * hardware is the same. */
    static const char *const host_side[] = {"error_policy", "rerror_policy", "iothread", NULL};
    static const char *const ios[] = {"native", "threads", "io_uring", NULL};
    static const char *const discards[] = {"unmap", "ignore", NULL};
    static const char *const zeroes[] = {"off", "on", "unmap", NULL};
    char name[16], type[16], cache[16];
    int r;

    if ((r = domain_check_attrs(st, n, "devices/disk/driver", known, host_side, what)) < 0)
        return r;
    if ((r = agent_xml_prop(n, "name", name, sizeof name, what, st->err)) < 0 ||
        (r = agent_xml_prop(n, "type", type, sizeof type, what, st->err)) < 0 ||
        (r = agent_xml_prop(n, "cache", cache, sizeof cache, what, st->err)) < 0 ||
        (r = agent_xml_prop(n, "io", d->io, sizeof d->io, what, st->err)) < 0 ||
        (r = agent_xml_prop(n, "discard", d->discard, sizeof d->discard, what, st->err)) < 0 ||
        (r = agent_xml_prop(n, "detect_zeroes", d->detect_zeroes, sizeof d->detect_zeroes, what,
                            st->err)) < 0)
        return r;
    /* Xen's disk backends (xl's backendtype) besides qemu. */
    if (name[0] && strcmp(name, "qemu") != 0 &&
        !(st->xen && (strcmp(name, "phy") == 0 || strcmp(name, "tap") == 0 ||
                      strcmp(name, "standalone") == 0)))
        return ferry_error_set(st->err, EOPNOTSUPP, "%s: driver name '%s' is not supported", what,
                               name);
    if (!type[0] || !strcmp(type, "raw"))
        d->format = DOMAIN_DISK_RAW;
    else if (!strcmp(type, "qcow2"))
        d->format = DOMAIN_DISK_QCOW2;
    else
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: image format '%s' is not supported (raw, qcow2)", what, type);
    if (!cache[0] || !strcmp(cache, "default"))
        d->cache = DOMAIN_CACHE_DEFAULT;
    else if (!strcmp(cache, "none"))
        d->cache = DOMAIN_CACHE_NONE;
    else if (!strcmp(cache, "writeback"))
        d->cache = DOMAIN_CACHE_WRITEBACK;
    else if (!strcmp(cache, "writethrough"))
        d->cache = DOMAIN_CACHE_WRITETHROUGH;
    else if (!strcmp(cache, "unsafe"))
        d->cache = DOMAIN_CACHE_UNSAFE;
    else
        return ferry_error_set(st->err, EOPNOTSUPP, "%s: cache mode '%s' is not supported", what,
                               cache);
    if (st->xen) {
        d->io[0] = d->discard[0] = d->detect_zeroes[0] = '\0';
        return 0;
    }
    if ((r = one_of(st, what, "io", d->io, ios, "native, threads, io_uring")) < 0 ||
        (r = one_of(st, what, "discard", d->discard, discards, "unmap, ignore")) < 0 ||
        (r = one_of(st, what, "detect_zeroes", d->detect_zeroes, zeroes, "off, on, unmap")) < 0)
        return r;
    /* QEMU's own rules, refused here with the attribute's name rather than
     * by QEMU at start. */
    if (!strcmp(d->io, "native") && d->cache != DOMAIN_CACHE_NONE)
        return ferry_error_set(st->err, EINVAL,
                               "%s: <driver io='native'> needs cache='none' (O_DIRECT)", what);
    if (!strcmp(d->detect_zeroes, "unmap") && !strcmp(d->discard, "ignore"))
        return ferry_error_set(st->err, EINVAL,
                               "%s: <driver detect_zeroes='unmap'> needs discard='unmap'", what);
    return 0;
}

int domain_parse_disk(struct parse_state *st, const xmlNode *disk)
{
    struct domain_def *def = st->def;
    struct domain_disk d = {.format = DOMAIN_DISK_RAW, .drive = -1};
    _cleanup_free_ char *source = NULL;
    const xmlNode *target = domain_xml_child(disk, "target");
    char type[16], device[16], what[96];
    bool seen_driver = false, seen_source = false, seen_serial = false;
    int r;

    /* The target first, so every later message can name the disk. */
    if (!target)
        return ferry_error_set(st->err, EINVAL, WHAT ": <disk> without <target dev=...>");
    if ((r = agent_xml_prop(target, "dev", d.target, sizeof d.target, WHAT ": disk <target>",
                            st->err)) < 0)
        return r;
    if (!target_valid(d.target))
        return ferry_error_set(st->err, EINVAL,
                               WHAT ": disk target dev '%s' must be 2..31 characters of [a-z0-9]",
                               d.target);
    snprintf(what, sizeof what, WHAT ": disk '%s'", d.target);

    if ((r = agent_xml_prop(disk, "type", type, sizeof type, what, st->err)) < 0 ||
        (r = agent_xml_prop(disk, "device", device, sizeof device, what, st->err)) < 0)
        return r;
    /* A Xen document's CD-ROM too: the Xen driver runs it from the kept
     * document, the QEMU driver reads it again by its own rules. */
    if (strcmp(device, "cdrom") == 0)
        d.cdrom = d.readonly = true;
    else if (device[0] && strcmp(device, "disk") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <disk device='%s'> is not supported (disk, cdrom)", what,
                               device);
    if (!type[0])
        strcpy(type, "file");
    if (strcmp(type, "file") && strcmp(type, "block"))
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <disk type='%s'> is not supported (only file and block)", what,
                               type);
    if ((r = agent_xml_prop(target, "bus", d.bus, sizeof d.bus, what, st->err)) < 0)
        return r;
    if (!d.bus[0])
        strcpy(d.bus, "virtio");
    if (strcmp(d.bus, "virtio") && strcmp(d.bus, "sata") && strcmp(d.bus, "ide") &&
        strcmp(d.bus, "scsi") && !(st->xen && strcmp(d.bus, "xen") == 0))
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: bus '%s' is not supported (virtio, sata, ide, scsi%s)", what,
                               d.bus, st->xen ? ", xen" : "");
    /* A CD-ROM drive sits on the machine's IDE/AHCI controller or the SCSI
     * one, as libvirt's do; a virtio one does not exist. */
    if (d.cdrom && strcmp(d.bus, "sata") && strcmp(d.bus, "ide") && strcmp(d.bus, "scsi"))
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <disk device='cdrom'> on bus '%s' is not supported (sata, ide, "
                               "scsi)",
                               what, d.bus);

    for (const xmlNode *n = disk->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || n == target)
            continue;
        if (agent_xml_is(n, "driver")) {
            if ((r = domain_parse_once(st, &seen_driver, "driver")) < 0 ||
                (r = parse_driver(st, n, &d, what)) < 0)
                return r;
        } else if (agent_xml_is(n, "source")) {
            const char *attr = strcmp(type, "block") == 0 ? "dev" : "file";
            _cleanup_(xmlFreep) xmlChar *v = NULL;

            if ((r = domain_parse_once(st, &seen_source, "source")) < 0)
                return r;
            v = xmlGetNoNsProp(n, (const xmlChar *)attr);
            if (!v)
                continue; /* an empty drive */
            if (strlen((const char *)v) > DOMAIN_PATH_MAX)
                return ferry_error_set(st->err, EINVAL,
                                       "%s: <source %s> is %zu characters, more than the %d "
                                       "accepted",
                                       what, attr, strlen((const char *)v), DOMAIN_PATH_MAX);
            source = ferry_calloc(1, DOMAIN_PATH_MAX + 1);
            if ((r = agent_xml_prop(n, attr, source, DOMAIN_PATH_MAX + 1, what, st->err)) < 0 ||
                (r = domain_check_path(st->err, source, what)) < 0)
                return r;
        } else if (agent_xml_is(n, "readonly")) {
            d.readonly = true;
        } else if (agent_xml_is(n, "shareable")) {
            d.shareable = true;
        } else if (agent_xml_is(n, "serial")) {
            if ((r = domain_parse_once(st, &seen_serial, "serial")) < 0 ||
                (r = agent_xml_text(n, true, d.serial, sizeof d.serial, what, st->err)) < 0)
                return r;
            if (!serial_valid(d.serial))
                return ferry_error_set(
                    st->err, EINVAL, "%s: <serial> '%s' must be [A-Za-z0-9_.+- ]", what, d.serial);
        } else if (agent_xml_is(n, "encryption") || agent_xml_is(n, "auth")) {
            return ferry_error_set(st->err, EOPNOTSUPP, "%s: <%s> is not supported", what,
                                   (const char *)n->name);
        } else if (agent_xml_is(n, "address") && !st->xen) {
            /* A virtio disk is a PCI device; sata/ide disks sit on their
             * controller (type='drive'). */
            r = strcmp(d.bus, "virtio") == 0 ? domain_parse_pci_address(st, n, &d.addr, what)
                                             : domain_parse_drive_address(st, n, &d, what);
            if (r < 0)
                return r;
        } else {
            domain_parse_ignore(st, "devices/disk", n);
        }
    }

    /* Only a CD-ROM's tray may be empty: a disk without a source would
     * be left out of the guest. */
    if (!source && !d.cdrom && !st->xen)
        return ferry_error_set(st->err, EINVAL,
                               "%s: <disk device='disk'> without <source>: only a cdrom may be "
                               "empty",
                               what);
    for (size_t i = 0; i < def->n_disks; i++) {
        if (strcmp(def->disks[i].target, d.target) == 0)
            return ferry_error_set(st->err, EINVAL, "%s: target used by more than one disk", what);
    }
    if (def->n_disks >= DOMAIN_MAX_DISKS)
        return ferry_error_set(st->err, EINVAL, WHAT ": more than %d disks", DOMAIN_MAX_DISKS);
    d.source = TAKE_PTR(source);
    d.block = strcmp(type, "block") == 0;
    def->disks[def->n_disks++] = d;
    return 0;
}
