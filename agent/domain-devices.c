/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The domain XML's character and display devices: <serial> and <console>
 * (the guest's first serial port), <graphics type='vnc'> and <video>. Like
 * every device, what ferry cannot give the guest is refused by name, and
 * only host-side details are listed as ignored. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "domain-priv.h"
#include "proto-xml.h"
#include "util.h"
#include "xml-cleanup.h"

#define WHAT DOMAIN_WHAT

/* <target port=...>: only port 0 (the first serial port). */
static int check_port0(struct parse_state *st, const xmlNode *target, const char *what)
{
    char port[16];
    int r;

    if ((r = agent_xml_prop(target, "port", port, sizeof port, what, st->err)) < 0)
        return r;
    if (port[0] && strcmp(port, "0") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <target port='%s'> is not supported (only the first serial "
                               "port, 0)",
                               what, port);
    return 0;
}

static int chr_type(struct parse_state *st, const xmlNode *n, const char *what,
                    enum domain_chr_type *ret)
{
    char type[16];
    int r;

    if ((r = agent_xml_prop(n, "type", type, sizeof type, what, st->err)) < 0)
        return r;
    if (!strcmp(type, "pty"))
        *ret = DOMAIN_CHR_PTY;
    else if (!strcmp(type, "unix"))
        *ret = DOMAIN_CHR_UNIX;
    else
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <%s type='%s'> is not supported (pty, unix)", what,
                               (const char *)n->name, type);
    return 0;
}

/* <source mode='bind' path=...> of a unix serial; a pty's <source path>
 * (a live document's /dev/pts/N) is QEMU's to choose and is dropped. */
static int chr_source(struct parse_state *st, const xmlNode *n, enum domain_chr_type type,
                      char **ret_path, const char *what)
{
    char mode[16];
    int r;

    if (type != DOMAIN_CHR_UNIX)
        return 0;
    if ((r = agent_xml_prop(n, "mode", mode, sizeof mode, what, st->err)) < 0)
        return r;
    if (mode[0] && strcmp(mode, "bind") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <source mode='%s'> is not supported (only bind: QEMU listens)",
                               what, mode);
    {
        _cleanup_(xmlFreep) xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)"path");

        if (!v)
            return 0;
        if (strlen((const char *)v) >= 108) /* sun_path */
            return ferry_error_set(st->err, EINVAL,
                                   "%s: <source path> is longer than a unix socket path may be",
                                   what);
        if (v[0] != '/')
            return ferry_error_set(st->err, EINVAL, "%s: <source path='%s'> is not absolute", what,
                                   (const char *)v);
        free(*ret_path);
        *ret_path = ferry_strdup((const char *)v);
    }
    return 0;
}

int domain_parse_serial(struct parse_state *st, const xmlNode *serial)
{
    struct domain_serial *s = &st->def->serial;
    const char *what = WHAT ": <serial>";
    enum domain_chr_type type;
    int r;

    if (st->seen_serial)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               WHAT ": more than one <serial> is not supported (only the first "
                                    "serial port)");
    st->seen_serial = true;
    if ((r = chr_type(st, serial, what, &type)) < 0)
        return r;
    /* A <console> before it named the same port: this one describes it. */
    free(s->path);
    s->path = NULL;
    s->type = type;
    for (const xmlNode *n = serial->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (agent_xml_is(n, "target")) {
            char ttype[32];
            const xmlNode *model = domain_xml_child(n, "model");

            if ((r = check_port0(st, n, what)) < 0 ||
                (r = agent_xml_prop(n, "type", ttype, sizeof ttype, what, st->err)) < 0)
                return r;
            if (ttype[0] && strcmp(ttype, "isa-serial") != 0)
                return ferry_error_set(st->err, EOPNOTSUPP,
                                       "%s: <target type='%s'> is not supported (isa-serial)", what,
                                       ttype);
            if (model) {
                char name[32];

                if ((r = agent_xml_prop(model, "name", name, sizeof name, what, st->err)) < 0)
                    return r;
                if (name[0] && strcmp(name, "isa-serial") != 0)
                    return ferry_error_set(st->err, EOPNOTSUPP,
                                           "%s: <model name='%s'> is not supported (isa-serial)",
                                           what, name);
            }
        } else if (agent_xml_is(n, "source")) {
            if ((r = chr_source(st, n, type, &s->path, what)) < 0)
                return r;
        } else {
            /* <log>, <alias>: the host's. */
            domain_parse_ignore(st, "devices/serial", n);
        }
    }
    return 0;
}

/* A <console> with a serial target is another name for the first serial
 * port (libvirt writes both); a console of its own (virtio) is not
 * supported. */
int domain_parse_console(struct parse_state *st, const xmlNode *console)
{
    struct domain_serial *s = &st->def->serial;
    const char *what = WHAT ": <console>";
    const xmlNode *target = domain_xml_child(console, "target");
    const xmlNode *source = domain_xml_child(console, "source");
    enum domain_chr_type type;
    int r;

    if (st->seen_console)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               WHAT ": more than one <console> is not supported");
    st->seen_console = true;
    if (target) {
        char ttype[32];

        if ((r = agent_xml_prop(target, "type", ttype, sizeof ttype, what, st->err)) < 0 ||
            (r = check_port0(st, target, what)) < 0)
            return r;
        if (ttype[0] && strcmp(ttype, "serial") != 0)
            return ferry_error_set(st->err, EOPNOTSUPP,
                                   "%s: <target type='%s'> is not supported (only serial: the "
                                   "first serial port)",
                                   what, ttype);
    }
    if ((r = chr_type(st, console, what, &type)) < 0)
        return r;
    if (st->seen_serial) {
        if (type != s->type)
            return ferry_error_set(st->err, EINVAL,
                                   "%s: type differs from the <serial> it is the console of", what);
        return 0;
    }
    /* No <serial> yet: the console defines the port. */
    s->type = type;
    if (source && (r = chr_source(st, source, type, &s->path, what)) < 0)
        return r;
    return 0;
}

/* An address QEMU's -vnc takes: IPv4, IPv6 or a host name. */
static bool listen_valid(const char *a)
{
    if (!a[0])
        return false;
    for (; *a; a++) {
        if (!((*a >= '0' && *a <= '9') || (*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z') ||
              *a == '.' || *a == ':' || *a == '-'))
            return false;
    }
    return true;
}

int domain_parse_graphics(struct parse_state *st, const xmlNode *g)
{
    static const char *const known[] = {"type", "port", "autoport", "listen", NULL};
    /* Host-side: how the host's keyboard maps, who may share a session. */
    static const char *const host_side[] = {"keymap", "sharePolicy", NULL};
    struct domain_graphics *gr = &st->def->graphics;
    const char *what = WHAT ": <graphics>";
    char type[16], port[16], autoport[8], listen[64];
    int r;

    if (st->seen_graphics)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               WHAT ": more than one <graphics> is not supported");
    st->seen_graphics = true;
    if ((r = agent_xml_prop(g, "type", type, sizeof type, what, st->err)) < 0)
        return r;
    if (strcmp(type, "vnc") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <graphics type='%s'> is not supported (only vnc)", what, type);
    /* passwd, websocket, ...: a password ferry would not set is refused,
     * not dropped. */
    if ((r = domain_check_attrs(st, g, "devices/graphics", known, host_side, what)) < 0 ||
        (r = agent_xml_prop(g, "port", port, sizeof port, what, st->err)) < 0 ||
        (r = agent_xml_prop(g, "autoport", autoport, sizeof autoport, what, st->err)) < 0 ||
        (r = agent_xml_prop(g, "listen", listen, sizeof listen, what, st->err)) < 0)
        return r;
    gr->vnc = true;
    gr->port = -1;
    if (strcmp(autoport, "yes") != 0 && port[0] && strcmp(port, "-1") != 0) {
        uint64_t p;

        if (ferry_parse_u64(port, &p) < 0 || p < 5900 || p > 65535)
            return ferry_error_set(st->err, EINVAL,
                                   "%s: <graphics port='%s'> is not a port in 5900..65535", what,
                                   port);
        gr->port = (int)p;
    }
    for (const xmlNode *n = g->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (agent_xml_is(n, "listen")) {
            char ltype[16], addr[64];

            if ((r = agent_xml_prop(n, "type", ltype, sizeof ltype, what, st->err)) < 0 ||
                (r = agent_xml_prop(n, "address", addr, sizeof addr, what, st->err)) < 0)
                return r;
            if (strcmp(ltype, "address") != 0)
                return ferry_error_set(st->err, EOPNOTSUPP,
                                       "%s: <listen type='%s'> is not supported (only address)",
                                       what, ltype);
            if (addr[0] && listen[0] && strcmp(addr, listen) != 0)
                return ferry_error_set(st->err, EINVAL,
                                       "%s: <listen address='%s'> differs from listen='%s'", what,
                                       addr, listen);
            if (addr[0])
                snprintf(listen, sizeof listen, "%s", addr);
        } else {
            return ferry_error_set(st->err, EOPNOTSUPP, "%s: <%s> is not supported", what,
                                   (const char *)n->name);
        }
    }
    if (listen[0] && !listen_valid(listen))
        return ferry_error_set(st->err, EINVAL, "%s: listen address '%s' is not an address", what,
                               listen);
    snprintf(gr->listen, sizeof gr->listen, "%s", listen);
    return 0;
}

int domain_parse_video(struct parse_state *st, const xmlNode *v)
{
    static const char *const known[] = {"type", "vram", "heads", "primary", NULL};
    struct domain_video *video = &st->def->video;
    const xmlNode *model = domain_xml_child(v, "model");
    const char *what = WHAT ": <video>";
    char type[16], vram[16], heads[8];
    int r;

    if (video->model != DOMAIN_VIDEO_ABSENT)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               WHAT ": more than one <video> is not supported");
    if (!model)
        return ferry_error_set(st->err, EINVAL, "%s: no <model type=...>", what);
    if ((r = domain_check_attrs(st, model, "devices/video/model", known, NULL, what)) < 0 ||
        (r = agent_xml_prop(model, "type", type, sizeof type, what, st->err)) < 0 ||
        (r = agent_xml_prop(model, "vram", vram, sizeof vram, what, st->err)) < 0 ||
        (r = agent_xml_prop(model, "heads", heads, sizeof heads, what, st->err)) < 0)
        return r;
    if (!strcmp(type, "vga"))
        video->model = DOMAIN_VIDEO_VGA;
    else if (!strcmp(type, "virtio"))
        video->model = DOMAIN_VIDEO_VIRTIO;
    else if (!strcmp(type, "none"))
        video->model = DOMAIN_VIDEO_NONE;
    else
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <model type='%s'> is not supported (vga, virtio, none)", what,
                               type);
    if (heads[0] && strcmp(heads, "1") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <model heads='%s'> is not supported (one head)", what, heads);
    if (vram[0]) {
        uint64_t kib;

        /* virtio-vga has no such memory: libvirt's vram is VGA's. */
        if (video->model != DOMAIN_VIDEO_VGA)
            return ferry_error_set(st->err, EOPNOTSUPP,
                                   "%s: <model vram> is supported for type='vga' only", what);
        if (ferry_parse_u64(vram, &kib) < 0 || kib < 1024 || kib > 256 * 1024 || kib % 1024)
            return ferry_error_set(st->err, EINVAL,
                                   "%s: <model vram='%s'> is not a KiB count of whole MiB in "
                                   "1..256 MiB",
                                   what, vram);
        video->vram_kib = (unsigned)kib;
    }
    for (const xmlNode *n = model->children; n; n = n->next) {
        /* <acceleration accel3d=...>, <resolution>: another card. */
        if (n->type == XML_ELEMENT_NODE)
            return ferry_error_set(st->err, EOPNOTSUPP, "%s: <%s> is not supported", what,
                                   (const char *)n->name);
    }
    for (const xmlNode *n = v->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || n == model)
            continue;
        if (agent_xml_is(n, "address")) {
            if (video->model == DOMAIN_VIDEO_NONE)
                continue;
            if ((r = domain_parse_pci_address(st, n, &video->addr, what)) < 0)
                return r;
        } else if (agent_xml_is(n, "alias")) {
            domain_parse_ignore(st, "devices/video", n);
        } else {
            return ferry_error_set(st->err, EOPNOTSUPP, "%s: <%s> is not supported", what,
                                   (const char *)n->name);
        }
    }
    return 0;
}

void domain_devices_complete(struct domain_def *def)
{
    /* A display needs a video card: libvirt adds one, VGA, as here. */
    if (def->graphics.vnc && def->video.model == DOMAIN_VIDEO_ABSENT)
        def->video.model = DOMAIN_VIDEO_VGA;
}
