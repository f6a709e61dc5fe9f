/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The domain XML's <features>, <clock> and <pm>: properties of the machine
 * the guest sees (its VMware port, SMM, HPET, the RTC's base, the ACPI
 * sleep states it offers). What ferry
 * gives is what the document says; a feature or timer it cannot give is
 * refused by name, and only host-side timing policies are listed as
 * ignored. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "domain-priv.h"
#include "proto-xml.h"
#include "util.h"

#define WHAT DOMAIN_WHAT

const char *domain_tristate_name(enum domain_tristate t)
{
    return t == DOMAIN_ON ? "on" : t == DOMAIN_OFF ? "off" : "";
}

/* <NAME state='on|off'/>, the state required. */
static int parse_state(struct parse_state *st, const xmlNode *n, enum domain_tristate *ret)
{
    static const char *const known[] = {"state", NULL};
    char path[48], what[64], v[8];
    int r;

    snprintf(path, sizeof path, "features/%s", (const char *)n->name);
    snprintf(what, sizeof what, WHAT ": <features><%s>", (const char *)n->name);
    if ((r = domain_check_attrs(st, n, path, known, NULL, what)) < 0 ||
        (r = agent_xml_prop(n, "state", v, sizeof v, what, st->err)) < 0)
        return r;
    if (!strcmp(v, "on"))
        *ret = DOMAIN_ON;
    else if (!strcmp(v, "off"))
        *ret = DOMAIN_OFF;
    else
        return ferry_error_set(st->err, EINVAL, "%s: state='%s' is not on or off", what, v);
    for (const xmlNode *c = n->children; c; c = c->next) {
        /* <smm><tseg>: the size of SMRAM, guest-visible. */
        if (c->type == XML_ELEMENT_NODE)
            return ferry_error_set(st->err, EOPNOTSUPP, "%s: <%s> is not supported", what,
                                   (const char *)c->name);
    }
    return 0;
}

int domain_parse_features(struct parse_state *st, const xmlNode *f)
{
    struct domain_machine_opts *o = &st->def->mopts;
    int r;

    if ((r = domain_parse_once(st, &st->seen_features, "features")) < 0)
        return r;
    for (const xmlNode *n = f->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (agent_xml_is(n, "acpi") || agent_xml_is(n, "apic") || agent_xml_is(n, "pae")) {
            /* What QEMU gives an x86_64 machine anyway (apic eoi= and the
             * like would not be). */
            static const char *const none[] = {NULL};
            char path[48];

            snprintf(path, sizeof path, "features/%s", (const char *)n->name);
            if ((r = domain_check_attrs(st, n, path, none, NULL, WHAT ": <features>")) < 0)
                return r;
        } else if (agent_xml_is(n, "vmport")) {
            if ((r = parse_state(st, n, &o->vmport)) < 0)
                return r;
        } else if (agent_xml_is(n, "smm")) {
            if ((r = parse_state(st, n, &o->smm)) < 0)
                return r;
        } else if (agent_xml_is(n, "ioapic") || agent_xml_is(n, "hap")) {
            /* Where the host emulates the IOAPIC, how it pages: the guest
             * sees the same machine. */
            domain_parse_ignore(st, "features", n);
        } else {
            /* <hyperv>, <kvm>, <pmu>, <vmcoreinfo>, <pvspinlock>, ...: each
             * changes what the guest sees, and ferry gives none. */
            return ferry_error_set(st->err, EOPNOTSUPP, WHAT ": <features><%s> is not supported",
                                   (const char *)n->name);
        }
    }
    return 0;
}

static int parse_timer(struct parse_state *st, const xmlNode *t)
{
    static const char *const known[] = {"name", "present", NULL};
    /* How the host makes up for ticks the guest missed: the same devices. */
    static const char *const host_side[] = {"tickpolicy", "track", NULL};
    const char *what = WHAT ": <clock><timer>";
    char name[16], present[8];
    int r;

    if ((r = domain_check_attrs(st, t, "clock/timer", known, host_side, what)) < 0 ||
        (r = agent_xml_prop(t, "name", name, sizeof name, what, st->err)) < 0 ||
        (r = agent_xml_prop(t, "present", present, sizeof present, what, st->err)) < 0)
        return r;
    if (present[0] && strcmp(present, "yes") && strcmp(present, "no"))
        return ferry_error_set(st->err, EINVAL, "%s: present='%s' is not yes or no", what, present);
    for (const xmlNode *c = t->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) /* <catchup threshold slew limit> */
            domain_parse_ignore(st, "clock/timer", c);
    }
    if (!strcmp(name, "hpet")) {
        if (present[0])
            st->def->mopts.hpet = strcmp(present, "no") ? DOMAIN_ON : DOMAIN_OFF;
        return 0;
    }
    /* The RTC, the PIT and kvmclock are always there; removing one, or
     * adding another timer (hypervclock, tsc), would change the guest. */
    if ((!strcmp(name, "rtc") || !strcmp(name, "pit") || !strcmp(name, "kvmclock")) &&
        strcmp(present, "no") != 0)
        return 0;
    return ferry_error_set(st->err, EOPNOTSUPP,
                           "%s: <timer name='%s'%s%s%s> is not supported (rtc, pit, kvmclock, "
                           "hpet present='yes|no')",
                           what, name, present[0] ? " present='" : "", present,
                           present[0] ? "'" : "");
}

int domain_parse_clock(struct parse_state *st, const xmlNode *c)
{
    static const char *const known[] = {"offset", NULL};
    const char *what = WHAT ": <clock>";
    char offset[16];
    int r;

    if ((r = domain_parse_once(st, &st->seen_clock, "clock")) < 0 ||
        (r = domain_check_attrs(st, c, "clock", known, NULL, what)) < 0 ||
        (r = agent_xml_prop(c, "offset", offset, sizeof offset, what, st->err)) < 0)
        return r;
    if (!strcmp(offset, "localtime"))
        st->def->mopts.rtc_localtime = true;
    else if (offset[0] && strcmp(offset, "utc") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               "%s: offset='%s' is not supported (utc, localtime)", what, offset);
    for (const xmlNode *n = c->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (!agent_xml_is(n, "timer"))
            return ferry_error_set(st->err, EOPNOTSUPP, "%s: <%s> is not supported", what,
                                   (const char *)n->name);
        if ((r = parse_timer(st, n)) < 0)
            return r;
    }
    return 0;
}

int domain_parse_pm(struct parse_state *st, const xmlNode *pm)
{
    static const char *const known[] = {"enabled", NULL};
    const char *what = WHAT ": <pm>";
    int r;

    if ((r = domain_parse_once(st, &st->seen_pm, "pm")) < 0 ||
        (r = domain_check_attrs(st, pm, "pm", NULL, NULL, what)) < 0)
        return r;
    for (const xmlNode *n = pm->children; n; n = n->next) {
        enum domain_tristate *t;
        char v[8];

        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (agent_xml_is(n, "suspend-to-mem"))
            t = &st->def->mopts.s3;
        else if (agent_xml_is(n, "suspend-to-disk"))
            t = &st->def->mopts.s4;
        else
            return ferry_error_set(st->err, EOPNOTSUPP, "%s: <%s> is not supported", what,
                                   (const char *)n->name);
        if ((r = domain_check_attrs(st, n, "pm/suspend", known, NULL, what)) < 0 ||
            (r = agent_xml_prop(n, "enabled", v, sizeof v, what, st->err)) < 0)
            return r;
        if (!strcmp(v, "yes"))
            *t = DOMAIN_ON;
        else if (!strcmp(v, "no"))
            *t = DOMAIN_OFF;
        else
            return ferry_error_set(st->err, EINVAL, "%s: <%s enabled='%s'> is not yes or no", what,
                                   (const char *)n->name, v);
    }
    return 0;
}
