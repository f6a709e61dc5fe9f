/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parsing of the domain XML subset ferry runs (see domain.h). Real libvirt
 * documents are accepted: what ferry does not use is listed in
 * def->ignored, what it cannot honour (a cdrom, a network disk, an
 * encrypted image) is refused with a message naming the element. */
#include "domain.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "domain-priv.h"
#include "proto-xml.h"
#include "xml-cleanup.h"

#define WHAT DOMAIN_WHAT

FERRY_DEFINE_CLEANUP_FUNC(struct domain_def, domain_def_free)

/* libvirt's memory units: b/bytes, then k/M/G/T/P/E with a binary (K, KiB)
 * or decimal (KB) base, case-insensitive; no unit means KiB. */
static int memory_scale(const char *unit, uint64_t *ret)
{
    static const char prefixes[] = "kmgtpe";
    uint64_t base, scale = 1;
    const char *p;
    size_t len = strlen(unit);

    if (len == 0) {
        *ret = 1024;
        return 0;
    }
    if (!strcasecmp(unit, "b") || !strcasecmp(unit, "byte") || !strcasecmp(unit, "bytes")) {
        *ret = 1;
        return 0;
    }
    if (len == 1 || !strcasecmp(unit + 1, "iB"))
        base = 1024;
    else if (len == 2 && (unit[1] == 'b' || unit[1] == 'B'))
        base = 1000;
    else
        return -EINVAL;
    p = strchr(prefixes, unit[0] | 0x20);
    if (!p)
        return -EINVAL;
    for (long i = 0; i <= p - prefixes; i++)
        scale *= base;
    *ret = scale;
    return 0;
}

static int parse_memory(struct parse_state *st, const xmlNode *n)
{
    char text[32], unit[16];
    uint64_t value, scale, kib;
    int r;

    r = agent_xml_prop(n, "unit", unit, sizeof unit, WHAT ": <memory>", st->err);
    if (r < 0)
        return r;
    if (memory_scale(unit, &scale) < 0)
        return ferry_error_set(st->err, EINVAL, WHAT ": <memory> has unknown unit '%s'", unit);
    r = agent_xml_text(n, true, text, sizeof text, WHAT ": <memory>", st->err);
    if (r < 0)
        return r;
    if (ferry_parse_u64(text, &value) < 0)
        return ferry_error_set(st->err, EINVAL, WHAT ": <memory> value '%s' is not a number", text);
    if (value > UINT64_MAX / scale)
        return ferry_error_set(st->err, EINVAL, WHAT ": <memory> %s %s is too large", text,
                               unit[0] ? unit : "KiB");
    /* Bytes rounded up to KiB, as libvirt does. */
    kib = value * scale / 1024 + (value * scale % 1024 != 0);
    if (kib == 0)
        return ferry_error_set(st->err, EINVAL, WHAT ": <memory> must not be zero");
    st->def->memory_kib = kib;
    return 0;
}

static int parse_vcpu(struct parse_state *st, const xmlNode *n)
{
    static const char *const known[] = {NULL};
    /* Where the host runs the vCPUs; current= would start fewer vCPUs than
     * the guest has, which ferry does not do: refused. */
    static const char *const host_side[] = {"placement", "cpuset", NULL};
    char text[32];
    uint64_t v;
    int r;

    if ((r = domain_check_attrs(st, n, "vcpu", known, host_side, WHAT ": <vcpu>")) < 0)
        return r;
    r = agent_xml_text(n, true, text, sizeof text, WHAT ": <vcpu>", st->err);
    if (r < 0)
        return r;
    if (ferry_parse_u64(text, &v) < 0 || v < 1 || v > DOMAIN_MAX_VCPUS)
        return ferry_error_set(st->err, EINVAL, WHAT ": <vcpu> '%s' is not a count in 1..%d", text,
                               DOMAIN_MAX_VCPUS);
    st->def->vcpus = (unsigned)v;
    return 0;
}

/* <os><type arch= machine=>hvm</type>. The arch decides the guest's
 * instruction set: only x86_64 runs here, and a document asking for another
 * must not start an x86_64 guest in its place. */
static int parse_os_type(struct parse_state *st, const xmlNode *n)
{
    struct domain_def *def = st->def;
    char type[16], arch[32];
    int r;

    r = agent_xml_text(n, true, type, sizeof type, WHAT ": <os><type>", st->err);
    if (r < 0)
        return r;
    /* Xen: linux/xen = PV, xenpvh = PVH (as xlconv_config_from_xml). */
    if (strcmp(type, "hvm") != 0 &&
        !(st->xen &&
          (strcmp(type, "linux") == 0 || strcmp(type, "xen") == 0 || strcmp(type, "xenpvh") == 0)))
        return ferry_error_set(st->err, EOPNOTSUPP,
                               WHAT ": <os><type>%s</type> is not supported (only hvm%s)", type,
                               st->xen ? ", linux, xen, xenpvh" : "");
    if (st->xen)
        return 0; /* the Xen driver reads arch and machine from native_xml */
    if ((r = agent_xml_prop(n, "arch", arch, sizeof arch, WHAT ": <os><type>", st->err)) < 0)
        return r;
    if (arch[0] && strcmp(arch, "x86_64") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               WHAT ": <os><type arch='%s'> is not supported (only x86_64)", arch);
    if ((r = agent_xml_prop(n, "machine", def->machine, sizeof def->machine, WHAT ": <os><type>",
                            st->err)) < 0)
        return r;
    if (r > 0 && !domain_qemu_name_valid(def->machine))
        return ferry_error_set(st->err, EINVAL,
                               WHAT ": <os><type machine='%s'> is not a machine type name",
                               def->machine);
    return 0;
}

static int parse_os_path(struct parse_state *st, const xmlNode *n, bool *seen, const char *name,
                         char **ret)
{
    char what[64];
    int r;

    snprintf(what, sizeof what, WHAT ": <os><%s>", name);
    if ((r = domain_parse_once(st, seen, name)) < 0 ||
        (r = agent_xml_text_dup(n, true, DOMAIN_PATH_MAX, ret, what, st->err)) < 0)
        return r;
    return domain_check_path(st->err, *ret, what);
}

/* <loader readonly='yes' type='pflash'>CODE</loader> (UEFI) or
 * <loader type='rom'>BIOS</loader>. */
static int parse_loader(struct parse_state *st, const xmlNode *n)
{
    static const char *const known[] = {"type", "readonly", "secure", NULL};
    struct domain_def *def = st->def;
    const char *what = WHAT ": <os><loader>";
    char type[16], ro[8], secure[8];
    int r;

    if ((r = domain_check_attrs(st, n, "os/loader", known, NULL, what)) < 0 ||
        (r = agent_xml_prop(n, "type", type, sizeof type, what, st->err)) < 0 ||
        (r = agent_xml_prop(n, "readonly", ro, sizeof ro, what, st->err)) < 0 ||
        (r = agent_xml_prop(n, "secure", secure, sizeof secure, what, st->err)) < 0)
        return r;
    if (!strcmp(type, "rom"))
        def->loader_rom = true;
    else if (strcmp(type, "pflash") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <loader type='%s'> is not supported (pflash, rom)", what,
                               type[0] ? type : "");
    /* A writable pflash would hold code and variables in one shared file. */
    if (!def->loader_rom && strcmp(ro, "yes") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: <loader type='pflash' readonly='%s'> is not supported (only "
                               "readonly='yes', with an <nvram>)",
                               what, ro);
    /* Secure boot needs SMM and a matching variables store. */
    if (secure[0] && strcmp(secure, "no") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP, "%s: <loader secure='%s'> is not supported",
                               what, secure);
    if ((r = agent_xml_text_dup(n, true, DOMAIN_PATH_MAX, &def->loader, what, st->err)) < 0)
        return r;
    return domain_check_path(st->err, def->loader, what);
}

/* <nvram template=...>PATH</nvram>: both optional (see domain.h). */
static int parse_nvram(struct parse_state *st, const xmlNode *n)
{
    static const char *const known[] = {"template", NULL};
    struct domain_def *def = st->def;
    const char *what = WHAT ": <os><nvram>";
    _cleanup_(xmlFreep) xmlChar *t = NULL;
    int r;

    if ((r = domain_check_attrs(st, n, "os/nvram", known, NULL, what)) < 0)
        return r;
    t = xmlGetNoNsProp(n, (const xmlChar *)"template");
    if (t) {
        if (strlen((const char *)t) > DOMAIN_PATH_MAX)
            return ferry_error_set(st->err, EINVAL, "%s: template path too long", what);
        def->nvram_template = ferry_strdup((const char *)t);
        if ((r = domain_check_path(st->err, def->nvram_template, what)) < 0)
            return r;
    }
    if ((r = agent_xml_text_dup(n, true, DOMAIN_PATH_MAX, &def->nvram, what, st->err)) < 0)
        return r;
    if (!def->nvram[0]) {
        free(def->nvram);
        def->nvram = NULL;
        return 0;
    }
    return domain_check_path(st->err, def->nvram, what);
}

static int parse_os(struct parse_state *st, const xmlNode *os)
{
    struct domain_def *def = st->def;
    bool seen_type = false, seen_kernel = false, seen_initrd = false, seen_cmdline = false;
    bool seen_loader = false, seen_nvram = false;
    char firmware[16] = "";
    int r;

    if (!st->xen &&
        (r = agent_xml_prop(os, "firmware", firmware, sizeof firmware, WHAT ": <os>", st->err)) < 0)
        return r;

    for (const xmlNode *n = os->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (agent_xml_is(n, "type")) {
            if ((r = domain_parse_once(st, &seen_type, "type")) < 0 ||
                (r = parse_os_type(st, n)) < 0)
                return r;
        } else if (agent_xml_is(n, "kernel")) {
            if ((r = parse_os_path(st, n, &seen_kernel, "kernel", &def->kernel)) < 0)
                return r;
        } else if (agent_xml_is(n, "initrd")) {
            if ((r = parse_os_path(st, n, &seen_initrd, "initrd", &def->initrd)) < 0)
                return r;
        } else if (agent_xml_is(n, "loader") && !st->xen) {
            if ((r = domain_parse_once(st, &seen_loader, "loader")) < 0 ||
                (r = parse_loader(st, n)) < 0)
                return r;
        } else if (agent_xml_is(n, "nvram") && !st->xen) {
            if ((r = domain_parse_once(st, &seen_nvram, "nvram")) < 0 ||
                (r = parse_nvram(st, n)) < 0)
                return r;
        } else if (agent_xml_is(n, "cmdline")) {
            r = domain_parse_once(st, &seen_cmdline, "cmdline");
            if (r < 0)
                return r;
            r = agent_xml_text_dup(n, false, DOMAIN_TEXT_MAX, &def->cmdline, WHAT ": <os><cmdline>",
                                   st->err);
            if (r < 0)
                return r;
        } else {
            domain_parse_ignore(st, "os", n);
        }
    }
    if (!st->xen && !strcmp(firmware, "efi") && !def->loader)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               WHAT
                               ": <os firmware='efi'> without <loader> is not supported (no "
                               "firmware autoselection: name the <loader> and <nvram template>)");
    if (!st->xen && firmware[0] && strcmp(firmware, "efi") && strcmp(firmware, "bios"))
        return ferry_error_set(st->err, EOPNOTSUPP, WHAT ": <os firmware='%s'> is not supported",
                               firmware);
    if (seen_nvram && (!def->loader || def->loader_rom))
        return ferry_error_set(st->err, EINVAL,
                               WHAT ": <os><nvram> needs a <loader type='pflash'>");
    /* QEMU loads an initrd only beside a kernel it loads itself. */
    if (def->initrd && !def->kernel && !st->xen)
        return ferry_error_set(st->err, EINVAL, WHAT ": <os><initrd> needs an <os><kernel>");
    return 0;
}

/* Elements that change what the guest is or sees and that ferry cannot
 * give it: refused by name rather than dropped. */
static const char *const refused_root[] = {
    "launchSecurity", /* SEV/TDX: an encrypted guest */
    "vcpus",          /* per-vCPU hotplug state */
    "maxMemory",      /* memory hotplug slots */
    "genid",          /* a VM generation ID device */
    "keywrap",        /* s390 */
    NULL,
};

static const char *const refused_devices[] = {
    "hostdev",    "sound",    "watchdog", "tpm",    "smartcard",   "redirdev",
    "hub",        "shmem",    "memory",   "iommu",  "vsock",       "panic",
    "filesystem", "parallel", "nvram",    "crypto", "redirfilter", NULL,
};

static int parse_devices(struct parse_state *st, const xmlNode *devices)
{
    for (const xmlNode *n = devices->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (agent_xml_is(n, "disk")) {
            int r = domain_parse_disk(st, n);
            if (r < 0)
                return r;
        } else if (agent_xml_is(n, "interface") && !st->xen) {
            int r = domain_parse_interface(st, n);
            if (r < 0)
                return r;
        } else if (agent_xml_is(n, "serial") && !st->xen) {
            int r = domain_parse_serial(st, n);
            if (r < 0)
                return r;
        } else if (agent_xml_is(n, "console") && !st->xen) {
            int r = domain_parse_console(st, n);
            if (r < 0)
                return r;
        } else if (agent_xml_is(n, "graphics") && !st->xen) {
            int r = domain_parse_graphics(st, n);
            if (r < 0)
                return r;
        } else if (agent_xml_is(n, "video") && !st->xen) {
            int r = domain_parse_video(st, n);
            if (r < 0)
                return r;
        } else if (agent_xml_is(n, "controller") && !st->xen) {
            int r = domain_parse_controller(st, n);
            if (r < 0)
                return r;
        } else {
            if (!st->xen && !n->ns && domain_in_list(refused_devices, (const char *)n->name))
                return ferry_error_set(st->err, EOPNOTSUPP, WHAT ": <devices><%s> is not supported",
                                       (const char *)n->name);
            domain_parse_ignore(st, "devices", n);
        }
    }
    return 0;
}

/* <on_poweroff>destroy</on_poweroff>, <on_reboot>restart|destroy</on_reboot>,
 * <on_crash>destroy</on_crash>: libvirt's defaults, and what QEMU does
 * (a reboot with -no-reboot ends it). A crash action needs a pvpanic
 * device to learn of the crash; ferry adds none, so only destroy is
 * honest. */
static int parse_lifecycle(struct parse_state *st, const xmlNode *n)
{
    const char *name = (const char *)n->name;
    bool *seen = !strcmp(name, "on_poweroff") ? &st->seen_on_poweroff
                 : !strcmp(name, "on_reboot") ? &st->seen_on_reboot
                                              : &st->seen_on_crash;
    char what[32], v[32];
    int r;

    snprintf(what, sizeof what, WHAT ": <%s>", name);
    if ((r = domain_parse_once(st, seen, name)) < 0 ||
        (r = agent_xml_text(n, true, v, sizeof v, what, st->err)) < 0)
        return r;
    if (!strcmp(name, "on_reboot") && !strcmp(v, "restart"))
        st->def->on_reboot = DOMAIN_REBOOT_RESTART;
    else if (!strcmp(name, "on_reboot") && !strcmp(v, "destroy"))
        st->def->on_reboot = DOMAIN_REBOOT_DESTROY;
    else if (strcmp(name, "on_reboot") && !strcmp(v, "destroy"))
        return 0;
    else
        return ferry_error_set(st->err, EOPNOTSUPP, "%s%s</%s> is not supported (%s)", what, v,
                               name,
                               !strcmp(name, "on_reboot") ? "restart, destroy" : "only destroy");
    return 0;
}

static int parse_root_child(struct parse_state *st, const xmlNode *n)
{
    struct domain_def *def = st->def;
    int r;

    if (agent_xml_is(n, "name")) {
        if ((r = domain_parse_once(st, &st->seen_name, "name")) < 0 ||
            (r = agent_xml_text(n, true, def->name, sizeof def->name, WHAT ": <name>", st->err)) <
                0)
            return r;
        if (!ferry_name_valid(def->name))
            return ferry_error_set(st->err, EINVAL,
                                   WHAT ": <name> '%s' must be 1..64 characters of "
                                        "[A-Za-z0-9_.+-], not starting with '.' or '-'",
                                   def->name);
    } else if (agent_xml_is(n, "uuid")) {
        if ((r = domain_parse_once(st, &st->seen_uuid, "uuid")) < 0 ||
            (r = agent_xml_text(n, true, def->uuid, sizeof def->uuid, WHAT ": <uuid>", st->err)) <
                0)
            return r;
        if (!ferry_uuid_valid(def->uuid))
            return ferry_error_set(st->err, EINVAL,
                                   WHAT ": <uuid> '%s' is not a canonical 8-4-4-4-12 UUID",
                                   def->uuid);
        for (char *p = def->uuid; *p; p++) {
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p - 'A' + 'a');
        }
    } else if (agent_xml_is(n, "memory")) {
        if ((r = domain_parse_once(st, &st->seen_memory, "memory")) < 0 ||
            (r = parse_memory(st, n)) < 0)
            return r;
    } else if (agent_xml_is(n, "vcpu")) {
        if ((r = domain_parse_once(st, &st->seen_vcpu, "vcpu")) < 0 || (r = parse_vcpu(st, n)) < 0)
            return r;
    } else if (!st->xen && agent_xml_is(n, "cpu")) {
        if ((r = domain_parse_cpu(st, n)) < 0)
            return r;
    } else if (!st->xen && agent_xml_is(n, "features")) {
        if ((r = domain_parse_features(st, n)) < 0)
            return r;
    } else if (!st->xen && agent_xml_is(n, "clock")) {
        if ((r = domain_parse_clock(st, n)) < 0)
            return r;
    } else if (!st->xen && agent_xml_is(n, "pm")) {
        if ((r = domain_parse_pm(st, n)) < 0)
            return r;
    } else if (agent_xml_is(n, "description")) {
        if ((r = domain_parse_once(st, &st->seen_description, "description")) < 0 ||
            (r = agent_xml_text_dup(n, false, DOMAIN_TEXT_MAX, &def->description,
                                    WHAT ": <description>", st->err)) < 0)
            return r;
    } else if (!st->xen && (agent_xml_is(n, "on_poweroff") || agent_xml_is(n, "on_reboot") ||
                            agent_xml_is(n, "on_crash"))) {
        if ((r = parse_lifecycle(st, n)) < 0)
            return r;
    } else if (agent_xml_is(n, "os")) {
        if ((r = domain_parse_once(st, &st->seen_os, "os")) < 0 || (r = parse_os(st, n)) < 0)
            return r;
    } else if (agent_xml_is(n, "devices")) {
        if ((r = domain_parse_once(st, &st->seen_devices, "devices")) < 0 ||
            (r = parse_devices(st, n)) < 0)
            return r;
    } else if (!st->xen && domain_in_list(refused_root, (const char *)n->name) && !n->ns) {
        return ferry_error_set(st->err, EOPNOTSUPP, WHAT ": <%s> is not supported",
                               (const char *)n->name);
    } else {
        /* <currentMemory> included: ferry gives the guest <memory>. */
        domain_parse_ignore(st, NULL, n);
    }
    return 0;
}

int domain_def_parse(const char *xml, size_t len, struct domain_def **ret, struct ferry_error *err)
{
    return domain_def_parse_flags(xml, len, 0, ret, err);
}

int domain_def_parse_flags(const char *xml, size_t len, unsigned flags, struct domain_def **ret,
                           struct ferry_error *err)
{
    _cleanup_(xmlFreeDocp) xmlDoc *doc = NULL;
    _cleanup_(domain_def_freep) struct domain_def *def = NULL;
    struct parse_state st = {.err = err};
    const xmlNode *root;
    int r;

    r = agent_xml_parse(xml, len, DOMAIN_XML_MAX, WHAT, &doc, err);
    if (r < 0)
        return r;
    root = xmlDocGetRootElement(doc);
    if (!agent_xml_is(root, "domain"))
        return ferry_error_set(err, EINVAL, WHAT ": root element is <%s>, not <domain>",
                               (const char *)root->name);
    {
        _cleanup_(xmlFreep) xmlChar *dtype = xmlGetNoNsProp(root, (const xmlChar *)"type");
        st.xen =
            dtype && strcmp((const char *)dtype, "xen") == 0 && !(flags & DOMAIN_PARSE_NOT_XEN);
    }
    def = ferry_calloc(1, sizeof *def);
    def->vcpus = 1;
    st.def = def;
    for (const xmlNode *n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        r = parse_root_child(&st, n);
        if (r < 0)
            return r;
    }
    if (!def->name[0])
        return ferry_error_set(err, EINVAL, WHAT ": <name> is missing");
    if (!st.seen_memory)
        return ferry_error_set(err, EINVAL, WHAT ": <memory> is missing");
    if (!def->uuid[0])
        ferry_uuid_generate(def->uuid);
    domain_nics_complete(def);
    domain_devices_complete(def);
    if (!st.xen &&
        /* Drives first: a disk on bus scsi adds the controller, whose
         * PCI slot is assigned next. */
        ((r = domain_drive_assign(def, err)) < 0 || (r = domain_pci_assign(def, err)) < 0 ||
         (r = domain_cpu_complete(def, err)) < 0))
        return r;
    if (st.xen) {
        /* The whole document, already checked against every limit above. */
        def->native_xml = agent_xml_format(doc);
        if (!def->native_xml)
            return ferry_error_set(err, ENOMEM, WHAT ": out of memory");
        /* With <name> and <uuid> as the fields say (a generated uuid, a
         * lower-cased one), so that parse(format(def)) keeps it unchanged. */
        char *norm = domain_def_format(def);
        if (!norm)
            return ferry_error_set(err, ENOMEM, WHAT ": out of memory");
        free(def->native_xml);
        def->native_xml = norm;
    }
    *ret = TAKE_PTR(def);
    return 0;
}
