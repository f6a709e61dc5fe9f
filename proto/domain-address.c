/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PCI addresses of the guest's devices: parsed from <address type='pci'>,
 * and assigned once, when a definition comes without them, to the lowest
 * free slot of the root bus. The definition keeps them, QEMU is given
 * them (addr= on each device), and so the same definition builds the same
 * PCI topology on every host and whatever the order of its elements: the
 * guest names its disks and NICs by their PCI addresses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain-priv.h"
#include "proto-xml.h"

/* Slot 0 of the root bus is the host bridge on every x86 machine. Slots
 * are assigned from 2 up (1 is the PIIX3 of pc machines), and 0x1f is left
 * to q35's ICH9 (LPC, SATA, SMBus). */
#define PCI_SLOT_FIRST_AUTO 0x02
#define PCI_SLOT_LAST_AUTO  0x1e
#define PCI_SLOT_MAX        0x1f

static int pci_number(struct parse_state *st, const xmlNode *n, const char *attr, unsigned max,
                      unsigned *ret, const char *what)
{
    char buf[16], *end;
    unsigned long v;
    int r;

    if ((r = agent_xml_prop(n, attr, buf, sizeof buf, what, st->err)) < 0)
        return r;
    if (r == 0) {
        *ret = 0; /* libvirt's default for an absent part */
        return 0;
    }
    errno = 0;
    v = strtoul(buf, &end, 0);
    if (errno || end == buf || *end || buf[0] == '-' || v > max)
        return ferry_error_set(st->err, EINVAL, "%s: <address %s='%s'> is not a number in 0..%#x",
                               what, attr, buf, max);
    *ret = (unsigned)v;
    return 0;
}

int domain_parse_pci_address(struct parse_state *st, const xmlNode *n, struct domain_pci_addr *addr,
                             const char *what)
{
    char type[16], multi[8];
    unsigned domain, bus, slot, function;
    int r;

    if (addr->set)
        return ferry_error_set(st->err, EINVAL, "%s: <address> appears more than once", what);
    if ((r = agent_xml_prop(n, "type", type, sizeof type, what, st->err)) < 0)
        return r;
    if (strcmp(type, "pci") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <address type='%s'> is not supported for a PCI device (only "
                               "type='pci')",
                               what, type);
    if ((r = pci_number(st, n, "domain", 0xffff, &domain, what)) < 0 ||
        (r = pci_number(st, n, "bus", 0xff, &bus, what)) < 0 ||
        (r = pci_number(st, n, "slot", PCI_SLOT_MAX, &slot, what)) < 0 ||
        (r = pci_number(st, n, "function", 7, &function, what)) < 0 ||
        (r = agent_xml_prop(n, "multifunction", multi, sizeof multi, what, st->err)) < 0)
        return r;
    if (domain != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <address domain='%#x'> is not supported (only PCI domain 0)",
                               what, domain);
    if (bus != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <address bus='%#x'> is not supported (ferry puts devices on "
                               "the root bus, 0; it adds no PCI bridges or root ports)",
                               what, bus);
    if (function != 0 || (multi[0] && strcmp(multi, "off") != 0))
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <address function='%#x' multifunction='%s'> is not supported "
                               "(one device per slot)",
                               what, function, multi);
    if (slot == 0)
        return ferry_error_set(st->err, EINVAL,
                               "%s: <address slot='0x0'> is the host bridge's slot", what);
    addr->set = true;
    addr->slot = slot;
    return 0;
}

/* The six ports of q35's AHCI controller; a pc machine's IDE has four. */
#define DRIVE_MAX 6

int domain_parse_controller(struct parse_state *st, const xmlNode *c)
{
    static const char *const known[] = {"type", "index", "model", NULL};
    const char *what = DOMAIN_WHAT ": <controller type='scsi'>";
    char type[16], index[16], model[32];
    int r;

    if ((r = agent_xml_prop(c, "type", type, sizeof type, what, st->err)) < 0)
        return r;
    if (strcmp(type, "scsi") != 0) {
        /* usb, sata, pci, virtio-serial, ...: the machine's own, or not
         * given to the guest by ferry. */
        domain_parse_ignore(st, "devices", c);
        return 0;
    }
    if ((r = domain_parse_once(st, &st->seen_scsi, "controller type='scsi'")) < 0 ||
        (r = domain_check_attrs(st, c, "devices/controller", known, NULL, what)) < 0 ||
        (r = agent_xml_prop(c, "index", index, sizeof index, what, st->err)) < 0 ||
        (r = agent_xml_prop(c, "model", model, sizeof model, what, st->err)) < 0)
        return r;
    if (index[0] && strcmp(index, "0") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: index='%s' is not supported (one SCSI controller, 0)", what,
                               index);
    /* Without a model libvirt gives an emulated LSI controller: another
     * device than virtio-scsi, which ferry does not build. */
    if (strcmp(model, "virtio-scsi") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: model='%s' is not supported (only virtio-scsi)", what, model);
    st->def->scsi.present = true;
    for (const xmlNode *n = c->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (agent_xml_is(n, "address")) {
            if ((r = domain_parse_pci_address(st, n, &st->def->scsi.addr, what)) < 0)
                return r;
        } else if (agent_xml_is(n, "alias") || agent_xml_is(n, "driver")) {
            /* <driver queues iothread>: how the host serves it. */
            domain_parse_ignore(st, "devices/controller", n);
        } else {
            return ferry_error_set(st->err, EOPNOTSUPP, "%s: <%s> is not supported", what,
                                   (const char *)n->name);
        }
    }
    return 0;
}

int domain_parse_drive_address(struct parse_state *st, const xmlNode *n, struct domain_disk *d,
                               const char *what)
{
    char type[16];
    unsigned controller, bus, target, unit;
    bool sata = strcmp(d->bus, "sata") == 0, scsi = strcmp(d->bus, "scsi") == 0;
    int r;

    if (d->drive >= 0)
        return ferry_error_set(st->err, EINVAL, "%s: <address> appears more than once", what);
    if ((r = agent_xml_prop(n, "type", type, sizeof type, what, st->err)) < 0)
        return r;
    if (strcmp(type, "drive") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <address type='%s'> is not supported for a %s disk (only "
                               "type='drive')",
                               what, type, d->bus);
    if ((r = pci_number(st, n, "controller", 0xffff, &controller, what)) < 0 ||
        (r = pci_number(st, n, "bus", 0xffff, &bus, what)) < 0 ||
        (r = pci_number(st, n, "target", 0xffff, &target, what)) < 0 ||
        (r = pci_number(st, n, "unit", 0xffff, &unit, what)) < 0)
        return r;
    if (scsi) {
        /* libvirt's virtio-scsi numbering: the LUN is the unit. */
        if (controller != 0 || bus != 0 || target != 0 || unit >= DOMAIN_SCSI_LUNS)
            return ferry_error_set(st->err, EOPNOTSUPP,
                                   "%s: <address controller='%u' bus='%u' target='%u' unit='%u'> "
                                   "is not supported (controller 0, bus 0, target 0, unit "
                                   "0..%d)",
                                   what, controller, bus, target, unit, DOMAIN_SCSI_LUNS - 1);
        d->drive = (int)unit;
        return 0;
    }
    if (controller != 0 || target != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <address controller='%u' target='%u'> is not supported (the "
                               "machine's own controller, 0, target 0)",
                               what, controller, target);
    /* libvirt's numbering: a SATA port is the unit on bus 0; IDE has two
     * units per bus. */
    if (sata ? bus != 0 || unit >= DRIVE_MAX : bus > 1 || unit > 1)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <address bus='%u' unit='%u'> is not supported (%s)", what, bus,
                               unit, sata ? "bus 0, unit 0..5" : "bus 0..1, unit 0..1");
    d->drive = (int)(sata ? unit : bus * 2 + unit);
    return 0;
}

/* The LUNs of the disks on bus scsi, assigned like drive positions; the
 * controller is added when a disk needs it. */
static int scsi_assign(struct domain_def *def, struct ferry_error *err)
{
    const char *owner[DOMAIN_SCSI_LUNS] = {0};
    int next = 0;

    for (size_t i = 0; i < def->n_disks; i++) {
        struct domain_disk *d = &def->disks[i];

        if (strcmp(d->bus, "scsi") != 0)
            continue;
        def->scsi.present = true;
        if (d->drive < 0)
            continue;
        if (owner[d->drive])
            return ferry_error_set(err, EINVAL,
                                   DOMAIN_WHAT ": disk '%s': SCSI unit %d is already disk '%s''s",
                                   d->target, d->drive, owner[d->drive]);
        owner[d->drive] = d->target;
    }
    for (size_t i = 0; i < def->n_disks; i++) {
        struct domain_disk *d = &def->disks[i];

        if (d->drive >= 0 || strcmp(d->bus, "scsi") != 0)
            continue;
        while (next < DOMAIN_SCSI_LUNS && owner[next])
            next++;
        if (next == DOMAIN_SCSI_LUNS)
            return ferry_error_set(err, EINVAL,
                                   DOMAIN_WHAT ": disk '%s': no free unit left on the SCSI "
                                               "controller (%d)",
                                   d->target, DOMAIN_SCSI_LUNS);
        d->drive = next;
        owner[next] = d->target;
    }
    return 0;
}

int domain_drive_assign(struct domain_def *def, struct ferry_error *err)
{
    const char *owner[DRIVE_MAX] = {0};
    int next = 0;
    int r;

    if ((r = scsi_assign(def, err)) < 0)
        return r;
    for (size_t i = 0; i < def->n_disks; i++) {
        struct domain_disk *d = &def->disks[i];

        if (d->drive < 0 || !strcmp(d->bus, "scsi"))
            continue;
        if (owner[d->drive])
            return ferry_error_set(err, EINVAL,
                                   DOMAIN_WHAT ": disk '%s': drive address %d is already disk "
                                               "'%s''s",
                                   d->target, d->drive, owner[d->drive]);
        owner[d->drive] = d->target;
    }
    for (size_t i = 0; i < def->n_disks; i++) {
        struct domain_disk *d = &def->disks[i];

        if (d->drive >= 0 || (strcmp(d->bus, "sata") && strcmp(d->bus, "ide")))
            continue;
        while (next < DRIVE_MAX && owner[next])
            next++;
        if (next == DRIVE_MAX)
            return ferry_error_set(err, EINVAL,
                                   DOMAIN_WHAT ": disk '%s': no free drive address left on the "
                                               "machine's disk controller (%d)",
                                   d->target, DRIVE_MAX);
        d->drive = next;
        owner[next] = d->target;
    }
    return 0;
}

/* Every PCI address of DEF, with a name for messages. */
struct pci_user {
    struct domain_pci_addr *addr;
    char name[48];
};

static size_t pci_users(struct domain_def *def, struct pci_user *u)
{
    size_t n = 0;

    /* The video card first: it takes the lowest free slot, as libvirt's
     * does (0x02 on a pc machine). */
    if (def->video.model == DOMAIN_VIDEO_VGA || def->video.model == DOMAIN_VIDEO_VIRTIO) {
        u[n].addr = &def->video.addr;
        snprintf(u[n++].name, sizeof u[0].name, "<video>");
    }
    if (def->scsi.present) {
        u[n].addr = &def->scsi.addr;
        snprintf(u[n++].name, sizeof u[0].name, "<controller type='scsi'>");
    }
    for (size_t i = 0; i < def->n_disks; i++) {
        if (strcmp(def->disks[i].bus, "virtio") != 0)
            continue;
        u[n].addr = &def->disks[i].addr;
        snprintf(u[n++].name, sizeof u[0].name, "disk '%s'", def->disks[i].target);
    }
    for (size_t i = 0; i < def->n_nics; i++) {
        u[n].addr = &def->nics[i].addr;
        snprintf(u[n++].name, sizeof u[0].name, "interface '%s'", def->nics[i].mac);
    }
    return n;
}

int domain_pci_assign(struct domain_def *def, struct ferry_error *err)
{
    struct pci_user u[2 + DOMAIN_MAX_DISKS + DOMAIN_MAX_NICS];
    const char *owner[PCI_SLOT_MAX + 1] = {0};
    size_t n = pci_users(def, u);
    unsigned next = PCI_SLOT_FIRST_AUTO;

    for (size_t i = 0; i < n; i++) {
        unsigned s = u[i].addr->slot;

        if (!u[i].addr->set)
            continue;
        if (owner[s])
            return ferry_error_set(err, EINVAL, DOMAIN_WHAT ": %s: PCI slot %#x is already %s's",
                                   u[i].name, s, owner[s]);
        owner[s] = u[i].name;
    }
    for (size_t i = 0; i < n; i++) {
        if (u[i].addr->set)
            continue;
        while (next <= PCI_SLOT_LAST_AUTO && owner[next])
            next++;
        if (next > PCI_SLOT_LAST_AUTO)
            return ferry_error_set(
                err, EINVAL, DOMAIN_WHAT ": %s: no free PCI slot left on the root bus", u[i].name);
        u[i].addr->set = true;
        u[i].addr->slot = next;
        owner[next] = u[i].name;
    }
    return 0;
}
