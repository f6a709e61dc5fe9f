/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The domain XML's <cpu>: which processor the guest sees (a named model,
 * the host's, or the host's as far as it can migrate) and its topology.
 * Feature lists, NUMA cells and caches would change the guest in ways
 * ferry does not build: refused by name, never dropped. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "domain-priv.h"
#include "proto-xml.h"
#include "util.h"

#define WHAT DOMAIN_WHAT ": <cpu>"

const char *domain_cpu_mode_name(enum domain_cpu_mode m)
{
    switch (m) {
    case DOMAIN_CPU_ABSENT:
        break;
    case DOMAIN_CPU_CUSTOM:
        return "custom";
    case DOMAIN_CPU_HOST_MODEL:
        return "host-model";
    case DOMAIN_CPU_HOST_PASSTHROUGH:
        return "host-passthrough";
    }
    return "";
}

static int parse_count(struct parse_state *st, const xmlNode *n, const char *name, unsigned *ret)
{
    char v[16];
    uint64_t u;
    int r;

    if ((r = agent_xml_prop(n, name, v, sizeof v, WHAT, st->err)) < 0)
        return r;
    if (!v[0])
        return ferry_error_set(st->err, EINVAL, WHAT ": <topology> has no %s=", name);
    if (ferry_parse_u64(v, &u) < 0 || u < 1 || u > DOMAIN_MAX_VCPUS)
        return ferry_error_set(st->err, EINVAL, WHAT ": <topology %s='%s'> is not a count in 1..%d",
                               name, v, DOMAIN_MAX_VCPUS);
    *ret = (unsigned)u;
    return 0;
}

static int parse_topology(struct parse_state *st, const xmlNode *n)
{
    static const char *const known[] = {"sockets", "dies", "cores", "threads", NULL};
    struct domain_cpu *cpu = &st->def->cpu;
    char dies[16];
    int r;

    if ((r = domain_check_attrs(st, n, "cpu/topology", known, NULL, WHAT)) < 0 ||
        (r = parse_count(st, n, "sockets", &cpu->sockets)) < 0 ||
        (r = parse_count(st, n, "cores", &cpu->cores)) < 0 ||
        (r = parse_count(st, n, "threads", &cpu->threads)) < 0 ||
        (r = agent_xml_prop(n, "dies", dies, sizeof dies, WHAT, st->err)) < 0)
        return r;
    if (dies[0] && strcmp(dies, "1") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               WHAT ": <topology dies='%s'> is not supported (one die)", dies);
    return 0;
}

static int parse_model(struct parse_state *st, const xmlNode *n)
{
    /* fallback: whether libvirt may pick another model when the host
     * cannot give this one; ferry never does (a missing model is refused),
     * so the guest is the same either way. */
    static const char *const known[] = {NULL};
    static const char *const host_side[] = {"fallback", NULL};
    struct domain_cpu *cpu = &st->def->cpu;
    int r;

    if ((r = domain_check_attrs(st, n, "cpu/model", known, host_side, WHAT)) < 0 ||
        (r = agent_xml_text(n, true, cpu->model, sizeof cpu->model, WHAT ": <model>", st->err)) < 0)
        return r;
    if (!domain_qemu_name_valid(cpu->model))
        return ferry_error_set(st->err, EINVAL, WHAT ": <model> '%s' is not a CPU model name",
                               cpu->model);
    return 0;
}

int domain_parse_cpu(struct parse_state *st, const xmlNode *c)
{
    static const char *const known[] = {"mode", "match", "migratable", NULL};
    /* check: how far libvirt compares the host's CPU with the model before
     * starting; it changes nothing the guest sees. */
    static const char *const host_side[] = {"check", NULL};
    struct domain_cpu *cpu = &st->def->cpu;
    char mode[24], match[16], migratable[8];
    bool seen_model = false, seen_topology = false;
    int r;

    if ((r = domain_parse_once(st, &st->seen_cpu, "cpu")) < 0 ||
        (r = domain_check_attrs(st, c, "cpu", known, host_side, WHAT)) < 0 ||
        (r = agent_xml_prop(c, "mode", mode, sizeof mode, WHAT, st->err)) < 0 ||
        (r = agent_xml_prop(c, "match", match, sizeof match, WHAT, st->err)) < 0 ||
        (r = agent_xml_prop(c, "migratable", migratable, sizeof migratable, WHAT, st->err)) < 0)
        return r;
    if (!mode[0] || !strcmp(mode, "custom"))
        cpu->mode = DOMAIN_CPU_CUSTOM;
    else if (!strcmp(mode, "host-model"))
        cpu->mode = DOMAIN_CPU_HOST_MODEL;
    else if (!strcmp(mode, "host-passthrough"))
        cpu->mode = DOMAIN_CPU_HOST_PASSTHROUGH;
    else
        return ferry_error_set(st->err, EOPNOTSUPP,
                               WHAT ": <cpu mode='%s'> is not supported (custom, host-model, "
                                    "host-passthrough)",
                               mode);
    /* minimum would let the guest have more than the model: not what QEMU
     * is given. */
    if (match[0] && strcmp(match, "exact") != 0 && strcmp(match, "strict") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               WHAT ": <cpu match='%s'> is not supported (exact, strict)", match);
    if (migratable[0] && strcmp(migratable, "on") != 0)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               WHAT ": <cpu migratable='%s'> is not supported (on)", migratable);
    for (const xmlNode *n = c->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (agent_xml_is(n, "model")) {
            if ((r = domain_parse_once(st, &seen_model, "cpu/model")) < 0 ||
                (r = parse_model(st, n)) < 0)
                return r;
        } else if (agent_xml_is(n, "topology")) {
            if ((r = domain_parse_once(st, &seen_topology, "cpu/topology")) < 0 ||
                (r = parse_topology(st, n)) < 0)
                return r;
        } else {
            /* <feature>, <vendor>, <numa>, <cache>: each changes the CPU
             * the guest sees, and ferry gives QEMU none of them. */
            return ferry_error_set(st->err, EOPNOTSUPP, WHAT ": <%s> is not supported",
                                   (const char *)n->name);
        }
    }
    if (cpu->mode == DOMAIN_CPU_CUSTOM && !seen_model)
        return ferry_error_set(st->err, EINVAL, WHAT ": <cpu mode='custom'> names no <model>");
    if (cpu->mode != DOMAIN_CPU_CUSTOM && seen_model)
        return ferry_error_set(st->err, EOPNOTSUPP,
                               WHAT ": <model> is supported with mode='custom' only, not '%s'",
                               mode);
    return 0;
}

int domain_cpu_complete(struct domain_def *def, struct ferry_error *err)
{
    const struct domain_cpu *c = &def->cpu;

    if (!c->sockets)
        return 0;
    if ((uint64_t)c->sockets * c->cores * c->threads != def->vcpus)
        return ferry_error_set(err, EINVAL,
                               WHAT ": <topology> has %u sockets x %u cores x %u threads, not "
                                    "the %u of <vcpu>",
                               c->sockets, c->cores, c->threads, def->vcpus);
    return 0;
}
