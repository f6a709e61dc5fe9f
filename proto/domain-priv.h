/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* State and helpers shared by the domain XML parser's files (domain.c: the
 * document, <os> and disks; domain-nic.c: network interfaces). Internal
 * to the ferry-agent-proto library. */
#ifndef FERRY_AGENT_DOMAIN_PRIV_H
#define FERRY_AGENT_DOMAIN_PRIV_H

#include <stdbool.h>

#include <libxml/tree.h>

#include "domain.h"
#include "error.h"

#define DOMAIN_WHAT "domain XML"

struct parse_state {
    struct domain_def *def;
    struct ferry_error *err;
    bool seen_name, seen_uuid, seen_memory, seen_vcpu, seen_os, seen_devices, seen_description;
    bool seen_serial, seen_console, seen_graphics, seen_cpu, seen_scsi;
    bool seen_features, seen_clock, seen_pm;
    bool seen_on_poweroff, seen_on_reboot, seen_on_crash;
    bool xen; /* <domain type='xen'>: Xen's guest types, buses and backends too */
};

/* Lists PARENT/N's name in def->ignored (unless Xen keeps the document). */
/* domain-util.c */
void domain_add_ignored(struct domain_def *def, const char *path);
bool domain_in_list(const char *const *list, const char *s);
/* A machine type or CPU model name as QEMU spells them. */
bool domain_qemu_name_valid(const char *m);
/* PATH must be absolute; WHAT names the element in the message. */
int domain_check_path(struct ferry_error *err, const char *path, const char *what);
/* domain-disk.c: one <disk>. */
int domain_parse_disk(struct parse_state *st, const xmlNode *disk);
void domain_parse_ignore(struct parse_state *st, const char *parent, const xmlNode *n);
/* Single-valued elements: a second one is ambiguous, refused naming NAME. */
int domain_parse_once(struct parse_state *st, bool *seen, const char *name);
/* PARENT's first child element NAME, or NULL. Borrowed. */
const xmlNode *domain_xml_child(const xmlNode *parent, const char *name);

/* Checks every attribute of N: one in KNOWN (the caller reads it) passes;
 * one in HOST_SIDE (NULL-terminated, may be NULL: details of the host that
 * do not change what the guest sees) is listed ignored as "PATH@ATTR"; any
 * other is refused, naming it, since it may change the guest. */
int domain_check_attrs(struct parse_state *st, const xmlNode *n, const char *path,
                       const char *const *known, const char *const *host_side, const char *what);

/* <serial>, <console>, <graphics>, <video> (domain-devices.c). */
int domain_parse_serial(struct parse_state *st, const xmlNode *n);
int domain_parse_console(struct parse_state *st, const xmlNode *n);
int domain_parse_graphics(struct parse_state *st, const xmlNode *n);
int domain_parse_video(struct parse_state *st, const xmlNode *n);
/* After the whole document: a VGA card for a display that has none. */
void domain_devices_complete(struct domain_def *def);

/* <controller>: type='scsi' (virtio-scsi) is ferry's; the machine's own
 * (usb, sata, pci, ...) are listed ignored (domain-address.c). */
int domain_parse_controller(struct parse_state *st, const xmlNode *n);

/* <features>, <clock> (domain-features.c). */
int domain_parse_features(struct parse_state *st, const xmlNode *n);
int domain_parse_clock(struct parse_state *st, const xmlNode *n);
int domain_parse_pm(struct parse_state *st, const xmlNode *n);

/* <cpu> (domain-cpu.c). */
int domain_parse_cpu(struct parse_state *st, const xmlNode *n);
/* After the whole document: <topology> against <vcpu>. */
int domain_cpu_complete(struct domain_def *def, struct ferry_error *err);

/* <interface>: appends one NIC to st->def. */
int domain_parse_interface(struct parse_state *st, const xmlNode *n);
/* After the whole document: MACs generated for NICs that had none. */
void domain_nics_complete(struct domain_def *def);

/* <address type='pci' .../> of a PCI device into *ADDR; WHAT names the
 * device in messages. */
int domain_parse_pci_address(struct parse_state *st, const xmlNode *n, struct domain_pci_addr *addr,
                             const char *what);
/* <address type='drive' .../> of a sata or ide disk D into d->drive. */
int domain_parse_drive_address(struct parse_state *st, const xmlNode *n, struct domain_disk *d,
                               const char *what);
/* After the whole document: a drive position for every sata/ide disk
 * without one; refuses two disks at one. */
int domain_drive_assign(struct domain_def *def, struct ferry_error *err);
/* After the whole document: a PCI slot for every PCI device without one;
 * refuses two devices in one slot. */
int domain_pci_assign(struct domain_def *def, struct ferry_error *err);

#endif
