/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <interface> elements of the domain XML: the NIC types ferry runs (user,
 * ethernet, bridge), their models and MAC addresses. A MAC is generated
 * once, when the definition is parsed without one, in libvirt's
 * 52:54:00 range, and kept in the definition from then on: the guest's
 * network configuration is keyed on it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "domain-priv.h"
#include "proto-xml.h"

const char *domain_nic_type_name(enum domain_nic_type t)
{
    switch (t) {
    case DOMAIN_NIC_USER:
        return "user";
    case DOMAIN_NIC_ETHERNET:
        return "ethernet";
    case DOMAIN_NIC_BRIDGE:
        return "bridge";
    }
    return "user";
}

const char *domain_nic_model_name(enum domain_nic_model m)
{
    switch (m) {
    case DOMAIN_NIC_RTL8139:
        return "rtl8139";
    case DOMAIN_NIC_VIRTIO:
        return "virtio";
    case DOMAIN_NIC_E1000:
        return "e1000";
    }
    return "rtl8139";
}

/* Six hex pairs separated by ':', unicast (a guest NIC cannot have a
 * multicast address). Lower-cased in place. */
static bool mac_valid(char *mac)
{
    unsigned first;

    if (strlen(mac) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        char c = mac[i];

        if (i % 3 == 2) {
            if (c != ':')
                return false;
            continue;
        }
        if (c >= 'A' && c <= 'F')
            mac[i] = c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    if (sscanf(mac, "%2x", &first) != 1 || (first & 1))
        return false;
    return !strcmp(mac, "00:00:00:00:00:00") ? false : true;
}

/* A Linux interface name: 1..15 bytes, no '/', ':', '%' or whitespace,
 * not "." or "..". */
static bool ifname_valid(const char *n)
{
    size_t len = strlen(n);

    if (len == 0 || len >= DOMAIN_IFNAME_MAX || !strcmp(n, ".") || !strcmp(n, ".."))
        return false;
    for (; *n; n++) {
        if (*n <= ' ' || *n == '/' || *n == ':' || *n == '%' || *n == 0x7f)
            return false;
    }
    return true;
}

static int parse_model(struct parse_state *st, const xmlNode *n, struct domain_nic *nic,
                       const char *what)
{
    char model[32];
    int r;

    if ((r = agent_xml_prop(n, "type", model, sizeof model, what, st->err)) < 0)
        return r;
    if (!strcmp(model, "virtio"))
        nic->model = DOMAIN_NIC_VIRTIO;
    else if (!strcmp(model, "e1000"))
        nic->model = DOMAIN_NIC_E1000;
    else if (!strcmp(model, "rtl8139"))
        nic->model = DOMAIN_NIC_RTL8139;
    else
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <model type='%s'> is not supported (virtio, e1000, rtl8139)",
                               what, model);
    return 0;
}

int domain_parse_interface(struct parse_state *st, const xmlNode *iface)
{
    struct domain_def *def = st->def;
    struct domain_nic nic = {.model = DOMAIN_NIC_RTL8139};
    bool seen_mac = false, seen_model = false, seen_source = false, seen_target = false;
    char type[32], what[96];
    int r;

    snprintf(what, sizeof what, DOMAIN_WHAT ": interface %zu", def->n_nics);
    if ((r = agent_xml_prop(iface, "type", type, sizeof type, what, st->err)) < 0)
        return r;
    if (!strcmp(type, "user"))
        nic.type = DOMAIN_NIC_USER;
    else if (!strcmp(type, "ethernet"))
        nic.type = DOMAIN_NIC_ETHERNET;
    else if (!strcmp(type, "bridge"))
        nic.type = DOMAIN_NIC_BRIDGE;
    else
        /* network, direct, vhostuser, hostdev, ...: dropping the NIC would
         * change the guest's hardware. */
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <interface type='%s'> is not supported (user, ethernet, "
                               "bridge)",
                               what, type);
    /* The MAC first, so that every later message names the NIC by it. */
    {
        const xmlNode *m = domain_xml_child(iface, "mac");

        if (m) {
            if ((r = agent_xml_prop(m, "address", nic.mac, sizeof nic.mac, what, st->err)) < 0)
                return r;
            if (!mac_valid(nic.mac))
                return ferry_error_set(st->err, EINVAL,
                                       "%s: <mac address='%s'> is not a unicast MAC address", what,
                                       nic.mac);
            snprintf(what, sizeof what, DOMAIN_WHAT ": interface '%s'", nic.mac);
        }
    }
    for (const xmlNode *n = iface->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (agent_xml_is(n, "mac")) {
            if ((r = domain_parse_once(st, &seen_mac, "mac")) < 0)
                return r;
        } else if (agent_xml_is(n, "model")) {
            if ((r = domain_parse_once(st, &seen_model, "model")) < 0 ||
                (r = parse_model(st, n, &nic, what)) < 0)
                return r;
        } else if (agent_xml_is(n, "source")) {
            if ((r = domain_parse_once(st, &seen_source, "source")) < 0)
                return r;
            if (nic.type != DOMAIN_NIC_BRIDGE)
                return ferry_error_set(st->err, EOPNOTSUPP,
                                       "%s: <source> of <interface type='%s'> is not supported",
                                       what, type);
            if ((r = agent_xml_prop(n, "bridge", nic.bridge, sizeof nic.bridge, what, st->err)) < 0)
                return r;
            if (!ifname_valid(nic.bridge))
                return ferry_error_set(st->err, EINVAL,
                                       "%s: <source bridge='%s'> is not an interface name", what,
                                       nic.bridge);
        } else if (agent_xml_is(n, "target")) {
            if ((r = domain_parse_once(st, &seen_target, "target")) < 0 ||
                (r = agent_xml_prop(n, "dev", nic.tap, sizeof nic.tap, what, st->err)) < 0)
                return r;
            if (nic.type == DOMAIN_NIC_USER)
                return ferry_error_set(st->err, EOPNOTSUPP,
                                       "%s: <target dev> of <interface type='user'> is not "
                                       "supported (no host device)",
                                       what);
            if (!ifname_valid(nic.tap))
                return ferry_error_set(st->err, EINVAL,
                                       "%s: <target dev='%s'> is not an interface name", what,
                                       nic.tap);
        } else if (agent_xml_is(n, "address")) {
            if ((r = domain_parse_pci_address(st, n, &nic.addr, what)) < 0)
                return r;
        } else {
            domain_parse_ignore(st, "devices/interface", n);
        }
    }
    if (nic.type == DOMAIN_NIC_BRIDGE && !nic.bridge[0])
        return ferry_error_set(st->err, EINVAL,
                               "%s: <interface type='bridge'> without <source bridge=...>", what);
    for (size_t i = 0; i < def->n_nics; i++) {
        if (nic.mac[0] && strcmp(def->nics[i].mac, nic.mac) == 0)
            return ferry_error_set(st->err, EINVAL, "%s: MAC address used by more than one NIC",
                                   what);
        if (nic.tap[0] && strcmp(def->nics[i].tap, nic.tap) == 0)
            return ferry_error_set(st->err, EINVAL, "%s: <target dev='%s'> used twice", what,
                                   nic.tap);
    }
    if (def->n_nics >= DOMAIN_MAX_NICS)
        return ferry_error_set(st->err, EINVAL, DOMAIN_WHAT ": more than %d interfaces",
                               DOMAIN_MAX_NICS);
    def->nics[def->n_nics++] = nic;
    return 0;
}

static void random_mac(char mac[18])
{
    uint8_t b[3];
    size_t got = 0;

    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);

        if (r > 0)
            got += (size_t)r;
    }
    snprintf(mac, 18, "52:54:00:%02x:%02x:%02x", b[0], b[1], b[2]);
}

void domain_nics_complete(struct domain_def *def)
{
    for (size_t i = 0; i < def->n_nics; i++) {
        struct domain_nic *nic = &def->nics[i];
        bool clash;

        if (nic->mac[0])
            continue;
        do {
            random_mac(nic->mac);
            clash = false;
            for (size_t j = 0; j < def->n_nics; j++)
                clash = clash || (j != i && strcmp(def->nics[j].mac, nic->mac) == 0);
        } while (clash);
    }
}
