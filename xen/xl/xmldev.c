/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The <devices> of a domain XML document, read into struct xlconv_config:
 * disks (file, block, rbd network), interfaces (bridge/ethernet, Open vSwitch
 * VLANs, one <ip> per address), VNC and SPICE graphics, and the SPICE agent
 * channel. What has a meaning xl.cfg cannot say is refused, naming the
 * element; what has no xl equivalent and changes nothing guest-visible is
 * listed in the notes. */
#include <arpa/inet.h>
#include <ctype.h>
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
#include "xmlparse.h"

/* --- disks --- */

/* <source protocol='rbd' name='POOL/IMAGE'> with <snapshot name> and
 * <host name port> children, into XP->rbd[IDX]. Other protocols (iscsi,
 * nbd, gluster...) have no xl.cfg form. */
static int parse_network_source(struct xparse *xp, const xmlNode *src, size_t idx, const char *what)
{
    _cleanup_free_ char *protocol = xlconv_xp_prop(src, "protocol");
    struct xlconv_rbd *rbd = &xp->rbd[idx];

    if (!protocol || strcmp(protocol, "rbd") != 0)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: %s: network protocol '%.32s' has no xl.cfg "
                               "equivalent (only rbd)",
                               what, protocol ? protocol : "");
    rbd->name = xlconv_xp_prop(src, "name");
    if (!rbd->name || !*rbd->name)
        return ferry_error_set(xp->err, EINVAL, "domain XML: %s: rbd <source> needs name=", what);
    for (const xmlNode *c = src->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (xlconv_xp_is(c, "host")) {
            _cleanup_free_ char *name = xlconv_xp_prop(c, "name");
            _cleanup_free_ char *port = xlconv_xp_prop(c, "port");
            _cleanup_free_ char *transport = xlconv_xp_prop(c, "transport");
            uint64_t p;
            if (rbd->n_hosts >= XLCONV_MAX_RBD_HOSTS)
                return ferry_error_set(xp->err, EINVAL, "domain XML: %s: more than %d <host>", what,
                                       XLCONV_MAX_RBD_HOSTS);
            if (!name || !*name || (transport && strcmp(transport, "tcp") != 0))
                return ferry_error_set(xp->err, EINVAL,
                                       "domain XML: %s: <host> needs name= (and TCP)", what);
            if (port && xlconv_xp_uint(xp, "disk <host port>", port, 65535, &p) < 0)
                return -EINVAL;
            if (strchr(name, ':') && name[0] != '[') {
                /* An IPv6 monitor: bracketed in the rbd string. */
                char *b = ferry_strdup_printf("[%s]", name);
                free(name);
                name = b;
            }
            rbd->hosts[rbd->n_hosts].name = TAKE_PTR(name);
            if (port)
                snprintf(rbd->hosts[rbd->n_hosts].port, sizeof rbd->hosts[0].port, "%s", port);
            rbd->n_hosts++;
        } else if (xlconv_xp_is(c, "snapshot")) {
            if (rbd->snap)
                return ferry_error_set(xp->err, EINVAL, "domain XML: %s: <snapshot> twice", what);
            rbd->snap = xlconv_xp_prop(c, "name");
            if (!rbd->snap || !*rbd->snap)
                return ferry_error_set(xp->err, EINVAL,
                                       "domain XML: %s: <snapshot> needs name=", what);
        } else {
            /* <auth>, <config>, <reconnect>...: their meaning would be lost. */
            return ferry_error_set(xp->err, EINVAL,
                                   "domain XML: %s: <source><%s> has no xl.cfg equivalent", what,
                                   (const char *)c->name);
        }
    }
    /* libvirt's reading of an rbd source without <auth>; a <ferry:rbd> in
     * the metadata replaces it with the options xl.cfg had. */
    rbd->options = ferry_strdup("auth_supported=none");
    xp->is_rbd[idx] = true;
    return 0;
}

static int parse_disk(struct xparse *xp, const xmlNode *n)
{
    struct xlconv_config *cfg = xp->cfg;
    struct xlconv_disk d = {0};
    _cleanup_free_ char *device = xlconv_xp_prop(n, "device");
    _cleanup_free_ char *type = xlconv_xp_prop(n, "type");
    size_t idx = cfg->n_disks;
    bool have_readonly = false, network = type && strcmp(type, "network") == 0;
    int r = 0;

    static const char *const once[] = {"driver", "source", "target", "readonly", NULL};

    if (cfg->n_disks >= XLCONV_MAX_DISKS)
        return ferry_error_set(xp->err, EINVAL, "domain XML: more than %d disks", XLCONV_MAX_DISKS);
    if ((r = xlconv_xp_unique(xp, n, once, "disk")) < 0)
        return r;
    if (device && strcmp(device, "cdrom") == 0)
        d.cdrom = true;
    else if (device && strcmp(device, "disk") != 0)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: disk device '%s' has no xl.cfg equivalent", device);
    if (type && !network && strcmp(type, "file") != 0 && strcmp(type, "block") != 0)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: disk type '%.32s' has no xl.cfg equivalent (file, "
                               "block, network)",
                               type);

    for (const xmlNode *c = n->children; c && r == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (xlconv_xp_is(c, "driver")) {
            _cleanup_free_ char *name = xlconv_xp_prop(c, "name"),
                                *dtype = xlconv_xp_prop(c, "type");
            if (name && strcmp(name, "file") != 0) {
                const char *bt = NULL;
                static const char *const map[][2] = {{"phy", "phy"},
                                                     {"qemu", "qdisk"},
                                                     {"tap", "tap"},
                                                     {"tap2", "tap"},
                                                     {"standalone", "standalone"}};
                for (size_t i = 0; i < ARRAY_SIZE(map); i++)
                    if (strcmp(name, map[i][0]) == 0)
                        bt = map[i][1];
                if (!bt)
                    r = ferry_error_set(xp->err, EINVAL,
                                        "domain XML: disk driver '%s' has no xl backendtype", name);
                else
                    snprintf(d.backendtype, sizeof d.backendtype, "%s", bt);
            }
            if (dtype && strlen(dtype) < sizeof d.format)
                snprintf(d.format, sizeof d.format, "%s", dtype);
            else if (dtype)
                r = ferry_error_set(xp->err, EINVAL, "domain XML: unknown disk format '%.40s'",
                                    dtype);
        } else if (xlconv_xp_is(c, "source") && network) {
            r = parse_network_source(xp, c, idx, "network disk");
        } else if (xlconv_xp_is(c, "source")) {
            char *src = xlconv_xp_prop(c, "file");
            if (!src)
                src = xlconv_xp_prop(c, "dev");
            if (!src)
                r = ferry_error_set(xp->err, EINVAL,
                                    "domain XML: disk <source> needs a file or dev attribute");
            free(d.target);
            d.target = src;
        } else if (xlconv_xp_is(c, "target")) {
            _cleanup_free_ char *dev = xlconv_xp_prop(c, "dev"), *bus = xlconv_xp_prop(c, "bus");
            if (!dev || !*dev || strlen(dev) >= sizeof d.vdev)
                r = ferry_error_set(xp->err, EINVAL,
                                    "domain XML: disk <target dev> missing or "
                                    "too long");
            else if (bus && strcmp(bus, xlconv_internal_disk_bus(dev)) != 0)
                r = ferry_error_set(xp->err, EINVAL,
                                    "domain XML: disk '%s' on bus '%.16s': xl derives the bus "
                                    "from the name ('%s' is %s)",
                                    dev, bus, dev, xlconv_internal_disk_bus(dev));
            else
                snprintf(d.vdev, sizeof d.vdev, "%s", dev);
        } else if (xlconv_xp_is(c, "readonly")) {
            have_readonly = true;
        } else {
            xlconv_xp_note_ignored(xp, "devices/disk", c);
        }
    }
    if (r == 0 && !d.vdev[0])
        r = ferry_error_set(xp->err, EINVAL, "domain XML: disk without <target dev>");
    if (r == 0 && network && !xp->is_rbd[idx])
        r = ferry_error_set(xp->err, EINVAL,
                            "domain XML: network disk '%s' without <source protocol='rbd'>",
                            d.vdev);
    if (r < 0) {
        xlconv_disk_clear(&d);
        xlconv_rbd_clear(&xp->rbd[idx]);
        xp->is_rbd[idx] = false;
        return r;
    }
    if (!d.format[0])
        snprintf(d.format, sizeof d.format, "%s", d.target || network ? "raw" : "empty");
    d.readonly = have_readonly || d.cdrom;
    cfg->disks[cfg->n_disks++] = d;
    return 0;
}

/* --- interfaces --- */

/* <vlan [trunk='yes']><tag id='N'/>...</vlan>: Open vSwitch tags. */
static int parse_vlan(struct xparse *xp, const xmlNode *n, struct xlconv_vif *v)
{
    _cleanup_free_ char *trunk = xlconv_xp_prop(n, "trunk");

    if (v->n_tags)
        return ferry_error_set(xp->err, EINVAL, "domain XML: interface <vlan> given twice");
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        _cleanup_free_ char *id = xlconv_xp_prop(c, "id");
        _cleanup_free_ char *native = xlconv_xp_prop(c, "nativeMode");
        uint64_t t;
        if (!xlconv_xp_is(c, "tag") || native)
            return ferry_error_set(xp->err, EINVAL,
                                   "domain XML: interface <vlan>: only <tag id=...> has an xl.cfg "
                                   "equivalent");
        if (xlconv_xp_uint(xp, "vlan tag id", id, 4095, &t) < 0)
            return -EINVAL;
        if (v->n_tags >= XLCONV_MAX_VLAN_TAGS)
            return ferry_error_set(xp->err, EINVAL, "domain XML: more than %d VLAN tags",
                                   XLCONV_MAX_VLAN_TAGS);
        v->tags[v->n_tags++] = (unsigned)t;
    }
    if (!v->n_tags)
        return ferry_error_set(xp->err, EINVAL, "domain XML: interface <vlan> without <tag>");
    if (trunk && strcmp(trunk, "yes") != 0 && strcmp(trunk, "no") != 0)
        return ferry_error_set(xp->err, EINVAL, "domain XML: <vlan trunk='%.8s'>", trunk);
    /* Several tags are a trunk whatever the attribute says (as in libvirt). */
    v->trunk = (trunk && strcmp(trunk, "yes") == 0) || v->n_tags > 1;
    if (trunk && strcmp(trunk, "no") == 0 && v->n_tags > 1)
        return ferry_error_set(xp->err, EINVAL, "domain XML: <vlan trunk='no'> with several tags");
    return 0;
}

/* <ip address='A' [prefix='P']/>, one per address: appended to xl's
 * space-separated list as A or A/P. */
static int parse_ip(struct xparse *xp, const xmlNode *n, struct xlconv_vif *v)
{
    _cleanup_free_ char *addr = xlconv_xp_prop(n, "address");
    _cleanup_free_ char *prefix = xlconv_xp_prop(n, "prefix");
    _cleanup_free_ char *peer = xlconv_xp_prop(n, "peer");
    unsigned char buf[16];
    uint64_t p = 0;
    bool v6;

    if (!addr)
        return ferry_error_set(xp->err, EINVAL, "domain XML: interface <ip> needs address=");
    v6 = strchr(addr, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, buf) != 1)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: interface <ip address='%.64s'> is not an IP address",
                               addr);
    if (peer)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: interface <ip peer=...> has no xl.cfg equivalent");
    if (prefix && xlconv_xp_uint(xp, "ip prefix", prefix, v6 ? 128 : 32, &p) < 0)
        return -EINVAL;
    char *item = prefix ? ferry_strdup_printf("%s/%" PRIu64, addr, p) : ferry_strdup(addr);
    char *list = v->ip ? ferry_strdup_printf("%s %s", v->ip, item) : ferry_strdup(item);
    free(item);
    free(v->ip);
    v->ip = list;
    return 0;
}

static int parse_interface(struct xparse *xp, const xmlNode *n)
{
    struct xlconv_config *cfg = xp->cfg;
    struct xlconv_vif v = {0};
    _cleanup_free_ char *type = xlconv_xp_prop(n, "type");
    bool ovs = false;
    int r = 0;

    static const char *const once[] = {"mac", "source", "script", "target", "model", NULL};

    if (cfg->n_vifs >= XLCONV_MAX_VIFS)
        return ferry_error_set(xp->err, EINVAL, "domain XML: more than %d interfaces",
                               XLCONV_MAX_VIFS);
    if ((r = xlconv_xp_unique(xp, n, once, "interface")) < 0)
        return r;
    if (!type || (strcmp(type, "bridge") != 0 && strcmp(type, "ethernet") != 0))
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: interface type '%s' has no xl.cfg equivalent "
                               "(bridge, ethernet)",
                               type ? type : "");

    for (const xmlNode *c = n->children; c && r == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        char **field = NULL;
        const char *attr = NULL;
        if (xlconv_xp_is(c, "mac")) {
            _cleanup_free_ char *mac = xlconv_xp_prop(c, "address");
            if (!mac || strlen(mac) >= sizeof v.mac)
                r = ferry_error_set(xp->err, EINVAL, "domain XML: bad interface <mac>");
            else
                for (size_t i = 0; mac[i]; i++)
                    v.mac[i] = (char)tolower((unsigned char)mac[i]);
            continue;
        }
        if (xlconv_xp_is(c, "ip")) {
            r = parse_ip(xp, c, &v);
            continue;
        }
        if (xlconv_xp_is(c, "vlan")) {
            r = parse_vlan(xp, c, &v);
            continue;
        }
        if (xlconv_xp_is(c, "virtualport")) {
            _cleanup_free_ char *vp = xlconv_xp_prop(c, "type");
            if (!vp || strcmp(vp, "openvswitch") != 0 || c->children || ovs)
                r = ferry_error_set(xp->err, EINVAL,
                                    "domain XML: interface <virtualport>: only one, "
                                    "type='openvswitch' without parameters, has an xl.cfg "
                                    "equivalent");
            ovs = true;
            continue;
        }
        if (xlconv_xp_is(c, "source"))
            field = &v.bridge, attr = "bridge";
        else if (xlconv_xp_is(c, "script"))
            field = &v.script, attr = "path";
        else if (xlconv_xp_is(c, "target"))
            field = &v.vifname, attr = "dev";
        else if (xlconv_xp_is(c, "model"))
            field = &v.model, attr = "type";
        if (!field) {
            xlconv_xp_note_ignored(xp, "devices/interface", c);
            continue;
        }
        char *val = xlconv_xp_prop(c, attr);
        if (!val)
            r = ferry_error_set(xp->err, EINVAL,
                                "domain XML: interface <%s> needs %s=", (const char *)c->name,
                                attr);
        else if (*field)
            r = ferry_error_set(xp->err, EINVAL, "domain XML: interface <%s> given twice",
                                (const char *)c->name);
        if (r < 0) {
            free(val);
            break;
        }
        *field = val;
    }
    if (r == 0 && strcmp(type, "bridge") == 0 && !v.bridge)
        r = ferry_error_set(xp->err, EINVAL,
                            "domain XML: bridge interface without <source bridge>");
    /* libvirt ignores a bridge on type='ethernet'; xl would plug into it. */
    if (r == 0 && strcmp(type, "ethernet") == 0 && v.bridge)
        r = ferry_error_set(xp->err, EINVAL,
                            "domain XML: interface type='ethernet' with <source bridge>: say "
                            "type='bridge'");
    /* xl knows VLANs only as vif-openvswitch's bridge syntax. */
    if (r == 0 && (ovs || v.n_tags) && (!v.bridge || strpbrk(v.bridge, ".:")))
        r = ferry_error_set(xp->err, EINVAL,
                            "domain XML: an Open vSwitch interface needs a <source bridge> "
                            "without '.' or ':'");
    if (r == 0 && v.n_tags && !ovs)
        r = ferry_error_set(xp->err, EINVAL,
                            "domain XML: interface <vlan> without <virtualport "
                            "type='openvswitch'>: xl.cfg has VLAN tags only for Open vSwitch");
    if (r == 0 && ovs && v.script && !xlconv_vif_script_is_ovs(v.script))
        r = ferry_error_set(xp->err, EINVAL,
                            "domain XML: <virtualport type='openvswitch'> with <script "
                            "path='%.64s'>: xl uses the script, not Open vSwitch",
                            v.script);
    if (r == 0 && ovs && !v.n_tags && !v.script) {
        /* Without a tag only the script says "Open vSwitch" in xl.cfg. */
        v.script = ferry_strdup("vif-openvswitch");
        xlconv_internal_note(cfg, ferry_strdup_printf("domain XML: interface %zu: <virtualport "
                                                      "type='openvswitch'> written as "
                                                      "script=vif-openvswitch",
                                                      cfg->n_vifs));
    }
    if (r < 0) {
        xlconv_vif_clear(&v);
        return r;
    }
    cfg->vifs[cfg->n_vifs++] = v;
    return 0;
}

/* --- graphics and channels --- */

static int parse_vnc(struct xparse *xp, const xmlNode *n)
{
    struct xlconv_config *cfg = xp->cfg;
    _cleanup_free_ char *port = xlconv_xp_prop(n, "port");
    _cleanup_free_ char *autoport = xlconv_xp_prop(n, "autoport"),
                        *listen = xlconv_xp_prop(n, "listen");
    uint64_t p = 0;
    int r;

    if (cfg->vnc)
        return ferry_error_set(xp->err, EINVAL, "domain XML: more than one VNC <graphics>");
    cfg->vnc = true;
    xp->have_vnc_graphics = true;
    if (port && strcmp(port, "-1") != 0) {
        r = xlconv_xp_uint(xp, "graphics port", port, 65535, &p);
        if (r < 0)
            return r;
        if (p < 5900)
            return ferry_error_set(xp->err, EINVAL,
                                   "domain XML: VNC port %" PRIu64 " is below 5900 (xl.cfg has "
                                   "only vncdisplay = port - 5900)",
                                   p);
        cfg->vncdisplay = (int)(p - 5900);
    }
    if (autoport) {
        if (strcmp(autoport, "yes") != 0 && strcmp(autoport, "no") != 0)
            return ferry_error_set(xp->err, EINVAL, "domain XML: graphics autoport '%s'", autoport);
        cfg->vncunused = strcmp(autoport, "yes") == 0;
    }
    if (!listen) {
        for (const xmlNode *c = n->children; c; c = c->next)
            if (xlconv_xp_is(c, "listen") && !listen)
                listen = xlconv_xp_prop(c, "address");
    }
    cfg->vnclisten = TAKE_PTR(listen);
    cfg->vncpasswd = xlconv_xp_prop(n, "passwd");
    return 0;
}

static int spice_port(struct xparse *xp, const xmlNode *n, const char *attr, int *ret)
{
    _cleanup_free_ char *v = xlconv_xp_prop(n, attr);
    uint64_t p;

    if (!v || strcmp(v, "-1") == 0)
        return 0;
    if (xlconv_xp_uint(xp, "spice graphics port", v, 65535, &p) < 0)
        return -EINVAL;
    *ret = (int)p;
    return 0;
}

/* A child attribute with a closed set of values; *RET gets a copy. */
static int spice_choice(struct xparse *xp, const xmlNode *c, const char *attr,
                        const char *const *allowed, char **ret)
{
    _cleanup_free_ char *v = xlconv_xp_prop(c, attr);

    for (size_t i = 0; v && allowed[i]; i++) {
        if (strcmp(v, allowed[i]) == 0) {
            free(*ret);
            *ret = TAKE_PTR(v);
            return 0;
        }
    }
    return ferry_error_set(xp->err, EINVAL,
                           "domain XML: spice <%s %s='%.32s'> has no xl.cfg equivalent",
                           (const char *)c->name, attr, v ? v : "");
}

/* <graphics type='spice'>: ports, listen address, password, and the
 * children xl.cfg(5) has keys for. Any other child (channel security,
 * file transfer, GL...) changes what the guest or its viewer may do, so it
 * is refused rather than dropped. */
static int parse_spice(struct xparse *xp, const xmlNode *n)
{
    static const char *const compressions[] = {"auto_glz", "auto_lz", "quic", "glz",
                                               "lz",       "off",     NULL};
    static const char *const streamings[] = {"filter", "all", "off", NULL};
    static const char *const mouse[] = {"client", "server", NULL};
    static const char *const yesno[] = {"yes", "no", NULL};
    struct xlconv_config *cfg = xp->cfg;
    _cleanup_free_ char *autoport = xlconv_xp_prop(n, "autoport");
    _cleanup_free_ char *listen = xlconv_xp_prop(n, "listen");
    int r = 0;

    static const char *const once[] = {"listen", "image", "streaming", "mouse", "clipboard", NULL};

    if (cfg->spice)
        return ferry_error_set(xp->err, EINVAL, "domain XML: more than one SPICE <graphics>");
    if ((r = xlconv_xp_unique(xp, n, once, "graphics")) < 0)
        return r;
    cfg->spice = true;
    xp->have_spice_graphics = true;
    if ((r = spice_port(xp, n, "port", &cfg->spiceport)) < 0 ||
        (r = spice_port(xp, n, "tlsPort", &cfg->spicetls_port)) < 0)
        return r;
    if (cfg->spiceport < 0 && cfg->spicetls_port < 0)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: SPICE <graphics> without port or tlsPort: xl.cfg has "
                               "no automatic SPICE port");
    if (autoport && strcmp(autoport, "no") != 0)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: SPICE <graphics autoport='%.8s'>: xl.cfg has no "
                               "automatic SPICE port",
                               autoport);
    cfg->spicepasswd = xlconv_xp_prop(n, "passwd");
    cfg->spicedisable_ticketing = cfg->spicepasswd ? 0 : 1;
    for (const xmlNode *c = n->children; c && r == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (xlconv_xp_is(c, "listen")) {
            if (!listen)
                listen = xlconv_xp_prop(c, "address");
        } else if (xlconv_xp_is(c, "image")) {
            r = spice_choice(xp, c, "compression", compressions, &cfg->spice_image_compression);
        } else if (xlconv_xp_is(c, "streaming")) {
            r = spice_choice(xp, c, "mode", streamings, &cfg->spice_streaming_video);
        } else if (xlconv_xp_is(c, "mouse")) {
            _cleanup_free_ char *m = NULL;
            r = spice_choice(xp, c, "mode", mouse, &m);
            if (r == 0)
                cfg->spiceagent_mouse = strcmp(m, "client") == 0;
        } else if (xlconv_xp_is(c, "clipboard")) {
            _cleanup_free_ char *m = NULL;
            r = spice_choice(xp, c, "copypaste", yesno, &m);
            if (r == 0)
                cfg->spice_clipboard_sharing = strcmp(m, "yes") == 0;
        } else {
            r = ferry_error_set(xp->err, EINVAL,
                                "domain XML: <graphics type='spice'><%s> has no xl.cfg "
                                "equivalent",
                                (const char *)c->name);
        }
    }
    cfg->spicehost = TAKE_PTR(listen);
    return r;
}

static int parse_graphics(struct xparse *xp, const xmlNode *n)
{
    _cleanup_free_ char *type = xlconv_xp_prop(n, "type");

    if (type && strcmp(type, "vnc") == 0)
        return parse_vnc(xp, n);
    if (type && strcmp(type, "spice") == 0)
        return parse_spice(xp, n);
    xlconv_xp_note_ignored(xp, "devices", n);
    return 0;
}

/* <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/>
 * is the SPICE agent (spicevdagent); other channels have no xl key. */
static int parse_channel(struct xparse *xp, const xmlNode *n)
{
    _cleanup_free_ char *type = xlconv_xp_prop(n, "type");

    static const char *const once[] = {"target", NULL};

    if (!type || strcmp(type, "spicevmc") != 0) {
        xlconv_xp_note_ignored(xp, "devices", n);
        return 0;
    }
    if (xlconv_xp_unique(xp, n, once, "channel") < 0)
        return -EINVAL;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (!xlconv_xp_is(c, "target"))
            continue;
        _cleanup_free_ char *tt = xlconv_xp_prop(c, "type"), *name = xlconv_xp_prop(c, "name");
        if (tt && strcmp(tt, "virtio") == 0 && name &&
            strcmp(name, XLCONV_SPICE_AGENT_CHANNEL) == 0) {
            if (xp->cfg->spicevdagent)
                return ferry_error_set(xp->err, EINVAL,
                                       "domain XML: the SPICE agent channel is given twice");
            xp->cfg->spicevdagent = true;
            return 0;
        }
    }
    return ferry_error_set(xp->err, EINVAL,
                           "domain XML: a spicevmc <channel> other than the SPICE agent "
                           "(virtio, " XLCONV_SPICE_AGENT_CHANNEL ") has no xl.cfg equivalent");
}

int xlconv_xp_devices(struct xparse *xp, const xmlNode *devs)
{
    int r = 0;

    for (const xmlNode *c = devs->children; c && r == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (xlconv_xp_is(c, "disk"))
            r = parse_disk(xp, c);
        else if (xlconv_xp_is(c, "interface"))
            r = parse_interface(xp, c);
        else if (xlconv_xp_is(c, "graphics"))
            r = parse_graphics(xp, c);
        else if (xlconv_xp_is(c, "channel"))
            r = parse_channel(xp, c);
        else
            xlconv_xp_note_ignored(xp, "devices", c);
    }
    return r;
}
