/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration cookies (cookie.h): parsed with the same hardened libxml2 setup
 * as domain XML, formatted with the libxml2 tree API. A cookie comes from
 * the peer agent, so every count and string in it is bounded, and a
 * mandatory feature this build does not know stops the migration. */
#include "cookie.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "proto-xml.h"
#include "xml-cleanup.h"

#define WHAT "migration cookie"

static const char *const known_features[] = {
    COOKIE_FEATURE_NBD,
    COOKIE_FEATURE_STATISTICS,
    COOKIE_FEATURE_PERSISTENT,
    COOKIE_FEATURE_STREAM_KEY,
};

/* <statistics> children: libvirt's names where libvirt has the figure. */
enum stat_kind { STAT_I64, STAT_U64 };
static const struct {
    const char *name;
    enum stat_kind kind;
    size_t offset;
} stat_fields[] = {
    {"started", STAT_I64, offsetof(struct cookie_stats, started_ms)},
    {"stopped", STAT_I64, offsetof(struct cookie_stats, stopped_ms)},
    {"time_elapsed", STAT_I64, offsetof(struct cookie_stats, time_elapsed_ms)},
    {"downtime", STAT_I64, offsetof(struct cookie_stats, downtime_ms)},
    {"setup_time", STAT_I64, offsetof(struct cookie_stats, setup_time_ms)},
    {"memory_total", STAT_U64, offsetof(struct cookie_stats, memory_total)},
    {"memory_processed", STAT_U64, offsetof(struct cookie_stats, memory_processed)},
    {"memory_remaining", STAT_U64, offsetof(struct cookie_stats, memory_remaining)},
    {"memory_bps", STAT_U64, offsetof(struct cookie_stats, memory_bps)},
    {"memory_dirty_rate", STAT_U64, offsetof(struct cookie_stats, memory_dirty_rate)},
    {"memory_iteration", STAT_U64, offsetof(struct cookie_stats, memory_iteration)},
    {"memory_transferred", STAT_U64, offsetof(struct cookie_stats, memory_transferred)},
    {"memory_normal", STAT_U64, offsetof(struct cookie_stats, memory_normal_pages)},
    {"memory_constant", STAT_U64, offsetof(struct cookie_stats, memory_duplicate_pages)},
    {"disk_total", STAT_U64, offsetof(struct cookie_stats, disk_total)},
    {"disk_processed", STAT_U64, offsetof(struct cookie_stats, disk_processed)},
    {"disk_remaining", STAT_U64, offsetof(struct cookie_stats, disk_remaining)},
    {"disk_bps", STAT_U64, offsetof(struct cookie_stats, disk_bps)},
    {"storage_downtime", STAT_I64, offsetof(struct cookie_stats, storage_downtime_ms)},
    {"disk_passes", STAT_U64, offsetof(struct cookie_stats, disk_passes)},
};

static bool feature_known(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(known_features); i++) {
        if (strcmp(known_features[i], name) == 0)
            return true;
    }
    return false;
}

bool cookie_has_feature(const struct cookie *c, const char *feature)
{
    for (size_t i = 0; i < c->n_features && i < COOKIE_MAX_FEATURES; i++) {
        if (strcmp(c->features[i], feature) == 0)
            return true;
    }
    return false;
}

void cookie_add_feature(struct cookie *c, const char *feature)
{
    size_t len = strlen(feature);

    /* Names are ours (COOKIE_FEATURE_*) or already validated by the parser. */
    if (len == 0 || len >= sizeof c->features[0] || cookie_has_feature(c, feature) ||
        c->n_features >= COOKIE_MAX_FEATURES)
        return;
    memcpy(c->features[c->n_features++], feature, len + 1);
}

static int once(bool *seen, const char *name, struct ferry_error *err)
{
    if (*seen)
        return ferry_error_set(err, EINVAL, WHAT ": <%s> appears more than once", name);
    *seen = true;
    return 0;
}

static bool token_valid(const char *s, size_t min, size_t max)
{
    size_t len = strlen(s);

    if (len < min || len > max)
        return false;
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
            return false;
    }
    return true;
}

static int parse_feature(struct cookie *c, const xmlNode *n, size_t *count, struct ferry_error *err)
{
    char name[32], mandatory[8];
    int r;

    if (++*count > COOKIE_MAX_FEATURES)
        return ferry_error_set(err, EINVAL, WHAT ": more than %d <feature> elements",
                               COOKIE_MAX_FEATURES);
    if ((r = agent_xml_prop(n, "name", name, sizeof name, WHAT ": <feature>", err)) < 0 ||
        (r = agent_xml_prop(n, "mandatory", mandatory, sizeof mandatory, WHAT ": <feature>", err)) <
            0)
        return r;
    if (!name[0])
        return ferry_error_set(err, EINVAL, WHAT ": <feature> without a name");
    if (mandatory[0] && strcmp(mandatory, "yes") && strcmp(mandatory, "no"))
        return ferry_error_set(err, EINVAL,
                               WHAT ": <feature name='%s'> has mandatory='%s' (yes or no)", name,
                               mandatory);
    if (feature_known(name)) {
        cookie_add_feature(c, name);
        return 0;
    }
    if (!strcmp(mandatory, "yes"))
        return ferry_error_set(
            err, EOPNOTSUPP, WHAT ": mandatory feature '%s' is not supported by this agent", name);
    return 0; /* an optional feature of a newer peer */
}

static int parse_nbd(struct cookie *c, const xmlNode *nbd, struct ferry_error *err)
{
    char port[16];
    uint64_t v;
    int r;

    c->has_nbd = true;
    if ((r = agent_xml_prop(nbd, "host", c->nbd_host, sizeof c->nbd_host, WHAT ": <nbd>", err)) <
            0 ||
        (r = agent_xml_prop(nbd, "port", port, sizeof port, WHAT ": <nbd>", err)) < 0)
        return r;
    if (port[0] && (ferry_parse_u64(port, &v) < 0 || v < 1 || v > 65535))
        return ferry_error_set(err, EINVAL, WHAT ": <nbd port='%s'> is not a port in 1..65535",
                               port);
    c->nbd_port = port[0] ? (unsigned)v : 0;

    for (const xmlNode *n = nbd->children; n; n = n->next) {
        struct cookie_nbd_disk d = {0};
        char capacity[32], allocation[32];

        if (!agent_xml_is(n, "disk"))
            continue; /* unknown optional content */
        if (c->n_nbd_disks >= COOKIE_MAX_DISKS)
            return ferry_error_set(err, EINVAL, WHAT ": more than %d <nbd><disk> elements",
                                   COOKIE_MAX_DISKS);
        if ((r = agent_xml_prop(n, "target", d.target, sizeof d.target, WHAT ": <nbd><disk>",
                                err)) < 0)
            return r;
        if (!token_valid(d.target, 2, 31) || strchr(d.target, '-') || strchr(d.target, '_'))
            return ferry_error_set(err, EINVAL,
                                   WHAT ": <nbd><disk target='%s'> must be 2..31 characters of "
                                        "[a-z0-9]",
                                   d.target);
        if ((r = agent_xml_prop(n, "capacity", capacity, sizeof capacity, WHAT ": <nbd><disk>",
                                err)) < 0 ||
            (r = agent_xml_prop(n, "export", d.export_name, sizeof d.export_name,
                                WHAT ": <nbd><disk>", err)) < 0 ||
            (r = agent_xml_prop(n, "format", d.format, sizeof d.format, WHAT ": <nbd><disk>",
                                err)) < 0 ||
            (r = agent_xml_prop(n, "allocation", allocation, sizeof allocation,
                                WHAT ": <nbd><disk>", err)) < 0 ||
            (r = agent_xml_prop(n, "backing", d.backing, sizeof d.backing, WHAT ": <nbd><disk>",
                                err)) < 0 ||
            (r = agent_xml_prop(n, "backing_format", d.backing_format, sizeof d.backing_format,
                                WHAT ": <nbd><disk>", err)) < 0)
            return r;
        if (allocation[0] && ferry_parse_u64(allocation, &d.allocation) < 0)
            return ferry_error_set(err, EINVAL,
                                   WHAT ": disk '%s': allocation '%s' is not a byte count",
                                   d.target, allocation);
        if (d.backing[0] && d.backing[0] != '/')
            return ferry_error_set(err, EINVAL,
                                   WHAT ": disk '%s': backing '%s' is not an absolute path",
                                   d.target, d.backing);
        if (d.backing_format[0] && !token_valid(d.backing_format, 1, 15))
            return ferry_error_set(err, EINVAL, WHAT ": disk '%s': bad backing format '%s'",
                                   d.target, d.backing_format);
        if (ferry_parse_u64(capacity, &d.capacity) < 0)
            return ferry_error_set(err, EINVAL,
                                   WHAT ": disk '%s': capacity '%s' is not a byte count", d.target,
                                   capacity);
        if (d.format[0] && !token_valid(d.format, 1, 15))
            return ferry_error_set(err, EINVAL, WHAT ": disk '%s': bad format '%s'", d.target,
                                   d.format);
        for (size_t i = 0; i < c->n_nbd_disks; i++) {
            if (strcmp(c->nbd_disks[i].target, d.target) == 0)
                return ferry_error_set(err, EINVAL, WHAT ": disk '%s' listed twice in <nbd>",
                                       d.target);
        }
        c->nbd_disks[c->n_nbd_disks++] = d;
    }
    return 0;
}

static int parse_stat(struct cookie_stats *s, const xmlNode *n, bool *seen, struct ferry_error *err)
{
    char text[32];
    int r;

    for (size_t i = 0; i < ARRAY_SIZE(stat_fields); i++) {
        char *field = (char *)s + stat_fields[i].offset;
        uint64_t u;

        if (!agent_xml_is(n, stat_fields[i].name))
            continue;
        if ((r = once(&seen[i], stat_fields[i].name, err)) < 0 ||
            (r = agent_xml_text(n, true, text, sizeof text, WHAT ": <statistics>", err)) < 0)
            return r;
        if (stat_fields[i].kind == STAT_U64) {
            if (ferry_parse_u64(text, &u) < 0)
                return ferry_error_set(err, EINVAL, WHAT ": <%s> '%s' is not a number",
                                       stat_fields[i].name, text);
            memcpy(field, &u, sizeof u);
        } else {
            bool neg = text[0] == '-';
            int64_t v;

            if (ferry_parse_u64(text + neg, &u) < 0 || u > (uint64_t)INT64_MAX)
                return ferry_error_set(err, EINVAL, WHAT ": <%s> '%s' is not a number",
                                       stat_fields[i].name, text);
            v = neg ? -(int64_t)u : (int64_t)u;
            memcpy(field, &v, sizeof v);
        }
        return 0;
    }
    return 0; /* unknown statistic: a newer peer's */
}

static int parse_statistics(struct cookie *c, const xmlNode *stats, struct ferry_error *err)
{
    bool seen[ARRAY_SIZE(stat_fields)] = {false};
    bool seen_status = false;
    int r;

    c->stats.set = true;
    for (const xmlNode *n = stats->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (agent_xml_is(n, "status")) {
            if ((r = once(&seen_status, "status", err)) < 0 ||
                (r = agent_xml_text(n, true, c->stats.status, sizeof c->stats.status,
                                    WHAT ": <statistics><status>", err)) < 0)
                return r;
            if (c->stats.status[0] && !token_valid(c->stats.status, 1, 31))
                return ferry_error_set(err, EINVAL, WHAT ": bad <status> '%s'", c->stats.status);
            continue;
        }
        r = parse_stat(&c->stats, n, seen, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* <nvram sha256='64 hex digits' size='bytes'/>. */
static int parse_nvram(struct cookie *c, const xmlNode *n, struct ferry_error *err)
{
    char size[24];
    int r;

    if (c->nvram_sha256[0])
        return ferry_error_set(err, EINVAL, WHAT ": <nvram> appears more than once");
    if ((r = agent_xml_prop(n, "sha256", c->nvram_sha256, sizeof c->nvram_sha256, WHAT ": <nvram>",
                            err)) < 0 ||
        (r = agent_xml_prop(n, "size", size, sizeof size, WHAT ": <nvram>", err)) < 0)
        return r;
    if (strlen(c->nvram_sha256) != 64 || strspn(c->nvram_sha256, "0123456789abcdef") != 64 ||
        ferry_parse_u64(size, &c->nvram_size) < 0 || c->nvram_size == 0)
        return ferry_error_set(err, EINVAL,
                               WHAT ": <nvram> needs sha256= (64 lower-case hex digits) and a "
                                    "size=");
    return 0;
}

static int parse_time_prop(const xmlNode *n, const char *name, bool required, int64_t *ret,
                           struct ferry_error *err)
{
    char text[32] = "";
    uint64_t u;
    int r;

    if ((r = agent_xml_prop(n, name, text, sizeof text, WHAT ": <timeline><phase>", err)) < 0)
        return r;
    if (!text[0] && !required) {
        *ret = 0;
        return 0;
    }
    if (ferry_parse_u64(text, &u) < 0 || u == 0 || u > (uint64_t)INT64_MAX)
        return ferry_error_set(err, EINVAL, WHAT ": <timeline><phase> %s='%s' is not a time", name,
                               text);
    *ret = (int64_t)u;
    return 0;
}

/* <timeline>: at most COOKIE_MAX_PHASES <phase> elements with valid,
 * distinct names and end >= start. */
static int parse_timeline(struct cookie *c, const xmlNode *tl, struct ferry_error *err)
{
    struct cookie_timeline *t = &c->timeline;
    int r;

    for (const xmlNode *n = tl->children; n; n = n->next) {
        struct cookie_phase ph = {0};
        char count[16] = "";
        uint64_t u = 1;

        if (n->type != XML_ELEMENT_NODE || !agent_xml_is(n, "phase"))
            continue;
        if (t->n == COOKIE_MAX_PHASES)
            return ferry_error_set(err, EINVAL, WHAT ": more than %d timeline phases",
                                   COOKIE_MAX_PHASES);
        if ((r = agent_xml_prop(n, "name", ph.name, sizeof ph.name, WHAT ": <timeline><phase>",
                                err)) < 0 ||
            (r = parse_time_prop(n, "start", true, &ph.start_us, err)) < 0 ||
            (r = parse_time_prop(n, "end", false, &ph.end_us, err)) < 0 ||
            (r = agent_xml_prop(n, "count", count, sizeof count, WHAT ": <timeline><phase>", err)) <
                0)
            return r;
        if (!cookie_phase_name_valid(ph.name))
            return ferry_error_set(err, EINVAL, WHAT ": bad timeline phase name '%s'", ph.name);
        if (cookie_timeline_find(t, ph.name))
            return ferry_error_set(err, EINVAL, WHAT ": timeline phase '%s' appears twice",
                                   ph.name);
        if (ph.end_us && ph.end_us < ph.start_us)
            return ferry_error_set(err, EINVAL, WHAT ": timeline phase '%s' ends before it starts",
                                   ph.name);
        if (count[0] && (ferry_parse_u64(count, &u) < 0 || u == 0 || u > UINT32_MAX))
            return ferry_error_set(err, EINVAL, WHAT ": timeline phase '%s': bad count '%s'",
                                   ph.name, count);
        ph.count = (uint32_t)u;
        t->p[t->n++] = ph;
    }
    return 0;
}

static int parse_child(struct cookie *c, const xmlNode *n, bool seen[7], size_t *n_features,
                       struct ferry_error *err)
{
    int r;

    if (agent_xml_is(n, "name")) {
        if ((r = once(&seen[0], "name", err)) < 0 ||
            (r = agent_xml_text(n, true, c->name, sizeof c->name, WHAT ": <name>", err)) < 0)
            return r;
        if (!ferry_name_valid(c->name))
            return ferry_error_set(err, EINVAL, WHAT ": <name> '%s' is not a valid domain name",
                                   c->name);
    } else if (agent_xml_is(n, "uuid")) {
        if ((r = once(&seen[1], "uuid", err)) < 0 ||
            (r = agent_xml_text(n, true, c->uuid, sizeof c->uuid, WHAT ": <uuid>", err)) < 0)
            return r;
        if (!ferry_uuid_valid(c->uuid))
            return ferry_error_set(err, EINVAL, WHAT ": <uuid> '%s' is not a UUID", c->uuid);
    } else if (agent_xml_is(n, "hostname")) {
        if ((r = once(&seen[2], "hostname", err)) < 0 ||
            (r = agent_xml_text(n, true, c->hostname, sizeof c->hostname, WHAT ": <hostname>",
                                err)) < 0)
            return r;
    } else if (agent_xml_is(n, "hostuuid")) {
        if ((r = once(&seen[3], "hostuuid", err)) < 0 ||
            (r = agent_xml_text(n, true, c->hostuuid, sizeof c->hostuuid, WHAT ": <hostuuid>",
                                err)) < 0)
            return r;
        if (!ferry_uuid_valid(c->hostuuid))
            return ferry_error_set(err, EINVAL, WHAT ": <hostuuid> '%s' is not a UUID",
                                   c->hostuuid);
    } else if (agent_xml_is(n, "feature")) {
        return parse_feature(c, n, n_features, err);
    } else if (agent_xml_is(n, "nbd")) {
        if ((r = once(&seen[4], "nbd", err)) < 0)
            return r;
        return parse_nbd(c, n, err);
    } else if (agent_xml_is(n, "migration")) {
        if ((r = once(&seen[5], "migration", err)) < 0)
            return r;
        r = agent_xml_prop(n, "uri", c->migrate_uri, sizeof c->migrate_uri, WHAT ": <migration>",
                           err);
        return r < 0 ? r : 0;
    } else if (agent_xml_is(n, "statistics")) {
        if (c->stats.set)
            return ferry_error_set(err, EINVAL, WHAT ": <statistics> appears more than once");
        return parse_statistics(c, n, err);
    } else if (agent_xml_is(n, "persistent")) {
        c->persistent = true;
    } else if (agent_xml_is(n, "nvram")) {
        return parse_nvram(c, n, err);
    } else if (agent_xml_is(n, "timeline")) {
        if ((r = once(&seen[6], "timeline", err)) < 0)
            return r;
        return parse_timeline(c, n, err);
    } else if (agent_xml_is(n, "stream-key")) {
        if (c->stream_psk[0])
            return ferry_error_set(err, EINVAL, WHAT ": <stream-key> appears more than once");
        r = agent_xml_prop(n, "psk", c->stream_psk, sizeof c->stream_psk, WHAT ": <stream-key>",
                           err);
        if (r < 0)
            return r;
        if (strlen(c->stream_psk) != 64 || strspn(c->stream_psk, "0123456789abcdef") != 64)
            return ferry_error_set(err, EINVAL,
                                   WHAT ": <stream-key psk> must be 64 lowercase hex digits");
    }
    /* Anything else (<flags>, libvirt's <lockstate>, <graphics>, ...) is an
     * optional element of another version: ignored. */
    return 0;
}

int cookie_parse(const char *xml, size_t len, struct cookie *ret, struct ferry_error *err)
{
    _cleanup_(xmlFreeDocp) xmlDoc *doc = NULL;
    _cleanup_free_ struct cookie *c = NULL;
    bool seen[7] = {false};
    size_t n_features = 0;
    const xmlNode *root;
    int r;

    if (!xml || len == 0) {
        memset(ret, 0, sizeof *ret);
        return 0;
    }
    r = agent_xml_parse(xml, len, COOKIE_XML_MAX, WHAT, &doc, err);
    if (r < 0)
        return r;
    root = xmlDocGetRootElement(doc);
    if (!agent_xml_is(root, "qemu-migration"))
        return ferry_error_set(err, EINVAL, WHAT ": root element is <%s>, not <qemu-migration>",
                               (const char *)root->name);
    c = ferry_calloc(1, sizeof *c);
    for (const xmlNode *n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        r = parse_child(c, n, seen, &n_features, err);
        if (r < 0)
            return r;
    }
    *ret = *c;
    return 0;
}

static xmlNode *add_text(xmlNode *parent, const char *name, const char *text)
{
    return xmlNewTextChild(parent, NULL, (const xmlChar *)name, (const xmlChar *)text);
}

static void set_prop(xmlNode *n, const char *name, const char *value)
{
    xmlNewProp(n, (const xmlChar *)name, (const xmlChar *)value);
}

static void format_statistics(xmlNode *root, const struct cookie_stats *s)
{
    xmlNode *stats = xmlNewChild(root, NULL, (const xmlChar *)"statistics", NULL);
    char num[32];

    if (s->status[0])
        add_text(stats, "status", s->status);
    for (size_t i = 0; i < ARRAY_SIZE(stat_fields); i++) {
        const char *field = (const char *)s + stat_fields[i].offset;

        if (stat_fields[i].kind == STAT_U64) {
            uint64_t u;
            memcpy(&u, field, sizeof u);
            snprintf(num, sizeof num, "%" PRIu64, u);
        } else {
            int64_t v;
            memcpy(&v, field, sizeof v);
            snprintf(num, sizeof num, "%" PRId64, v);
        }
        add_text(stats, stat_fields[i].name, num);
    }
}

static void format_timeline(xmlNode *root, const struct cookie_timeline *t)
{
    xmlNode *tl = xmlNewChild(root, NULL, (const xmlChar *)"timeline", NULL);
    char num[32];

    for (size_t i = 0; i < t->n && i < COOKIE_MAX_PHASES; i++) {
        const struct cookie_phase *p = &t->p[i];
        xmlNode *ph = xmlNewChild(tl, NULL, (const xmlChar *)"phase", NULL);

        set_prop(ph, "name", p->name);
        snprintf(num, sizeof num, "%" PRId64, p->start_us);
        set_prop(ph, "start", num);
        if (p->end_us && p->open == 0) {
            snprintf(num, sizeof num, "%" PRId64, p->end_us);
            set_prop(ph, "end", num);
        }
        snprintf(num, sizeof num, "%" PRIu32, p->count ? p->count : 1);
        set_prop(ph, "count", num);
    }
}

char *cookie_format(const struct cookie *c)
{
    _cleanup_(xmlFreeDocp) xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *root;
    char num[32];

    if (!doc)
        return NULL;
    root = xmlNewDocNode(doc, NULL, (const xmlChar *)"qemu-migration", NULL);
    xmlDocSetRootElement(doc, root);
    if (c->name[0])
        add_text(root, "name", c->name);
    if (c->uuid[0])
        add_text(root, "uuid", c->uuid);
    if (c->hostname[0])
        add_text(root, "hostname", c->hostname);
    if (c->hostuuid[0])
        add_text(root, "hostuuid", c->hostuuid);
    for (size_t i = 0; i < c->n_features && i < COOKIE_MAX_FEATURES; i++) {
        if (strcmp(c->features[i], COOKIE_FEATURE_STREAM_KEY) == 0)
            continue; /* written with its element below */
        xmlNode *f = xmlNewChild(root, NULL, (const xmlChar *)"feature", NULL);
        set_prop(f, "name", c->features[i]);
    }
    /* A source that cannot use the key must stop, not send in clear into
     * a destination that requires it. */
    if (c->stream_psk[0]) {
        xmlNode *f = xmlNewChild(root, NULL, (const xmlChar *)"feature", NULL);
        set_prop(f, "name", COOKIE_FEATURE_STREAM_KEY);
        set_prop(f, "mandatory", "yes");
        f = xmlNewChild(root, NULL, (const xmlChar *)"stream-key", NULL);
        set_prop(f, "psk", c->stream_psk);
    }
    if (c->has_nbd) {
        xmlNode *nbd = xmlNewChild(root, NULL, (const xmlChar *)"nbd", NULL);

        if (c->nbd_host[0])
            set_prop(nbd, "host", c->nbd_host);
        if (c->nbd_port) {
            snprintf(num, sizeof num, "%u", c->nbd_port);
            set_prop(nbd, "port", num);
        }
        for (size_t i = 0; i < c->n_nbd_disks && i < COOKIE_MAX_DISKS; i++) {
            const struct cookie_nbd_disk *d = &c->nbd_disks[i];
            xmlNode *disk = xmlNewChild(nbd, NULL, (const xmlChar *)"disk", NULL);

            set_prop(disk, "target", d->target);
            snprintf(num, sizeof num, "%" PRIu64, d->capacity);
            set_prop(disk, "capacity", num);
            if (d->export_name[0])
                set_prop(disk, "export", d->export_name);
            if (d->format[0])
                set_prop(disk, "format", d->format);
            if (d->allocation) {
                snprintf(num, sizeof num, "%" PRIu64, d->allocation);
                set_prop(disk, "allocation", num);
            }
            if (d->backing[0])
                set_prop(disk, "backing", d->backing);
            if (d->backing_format[0])
                set_prop(disk, "backing_format", d->backing_format);
        }
    }
    if (c->migrate_uri[0]) {
        xmlNode *m = xmlNewChild(root, NULL, (const xmlChar *)"migration", NULL);
        set_prop(m, "uri", c->migrate_uri);
    }
    if (c->stats.set)
        format_statistics(root, &c->stats);
    if (c->persistent)
        xmlNewChild(root, NULL, (const xmlChar *)"persistent", NULL);
    if (c->nvram_sha256[0]) {
        xmlNode *nv = xmlNewChild(root, NULL, (const xmlChar *)"nvram", NULL);

        set_prop(nv, "sha256", c->nvram_sha256);
        snprintf(num, sizeof num, "%" PRIu64, c->nvram_size);
        set_prop(nv, "size", num);
    }
    if (c->timeline.n)
        format_timeline(root, &c->timeline);
    return agent_xml_format(doc);
}
