/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mark on a definition whose disk data left this host (location.h). */
#include "location.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"

static const char *const state_names[] = {"here", "leaving", "moved"};

static char *mark_path(struct agent *ag, const char *name)
{
    return ferry_strdup_printf("%s/%s.location.json", ag->domains_dir, name);
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v = NULL;

    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : "";
}

void agent_location_load(struct agent *ag, struct agent_domain *dom)
{
    _cleanup_free_ char *path = mark_path(ag, dom->def->name);
    _cleanup_free_ char *text = NULL;
    _cleanup_(json_object_putp) json_object *o = NULL;
    struct agent_location *l = &dom->location;
    json_object *v = NULL;
    const char *st;

    memset(l, 0, sizeof *l);
    if (ferry_read_file(path, 64 * 1024, &text, NULL, NULL) < 0)
        return;
    o = json_tokener_parse(text);
    st = o ? jstr(o, "state") : "";
    /* A mark that cannot be read still means "not here": the safe side. */
    l->state = strcmp(st, "moved") == 0 ? LOCATION_MOVED : LOCATION_LEAVING;
    if (!o) {
        ferry_warn("'%s' is unreadable: domain '%s' is kept from starting", path, dom->def->name);
        return;
    }
    snprintf(l->host, sizeof l->host, "%s", jstr(o, "host"));
    snprintf(l->host_uuid, sizeof l->host_uuid, "%s", jstr(o, "host_uuid"));
    snprintf(l->disks, sizeof l->disks, "%s", jstr(o, "disks"));
    if (json_object_object_get_ex(o, "since_ms", &v))
        l->since_ms = json_object_get_int64(v);
}

static void save(struct agent *ag, const char *name, const struct agent_location *l)
{
    _cleanup_free_ char *path = mark_path(ag, name);
    _cleanup_(json_object_putp) json_object *o = json_object_new_object();
    struct ferry_error err = {0};
    const char *text;

    json_object_object_add(o, "state", json_object_new_string(state_names[l->state]));
    json_object_object_add(o, "host", json_object_new_string(l->host));
    json_object_object_add(o, "host_uuid", json_object_new_string(l->host_uuid));
    json_object_object_add(o, "disks", json_object_new_string(l->disks));
    json_object_object_add(o, "since_ms", json_object_new_int64(l->since_ms));
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    if (ferry_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        ferry_warn("domain '%s': cannot save where its data is: %s", name, ferry_error_msg(&err));
}

void agent_location_set(struct agent *ag, struct agent_domain *dom, enum agent_location_state state,
                        const struct cookie *peer, const char *disks)
{
    struct agent_location l;
    char name[sizeof dom->def->name];

    pthread_mutex_lock(&dom->lock);
    l = dom->location;
    if (l.state == LOCATION_HERE)
        l.since_ms = ferry_wall_ms();
    l.state = state;
    if (peer && peer->hostuuid[0]) {
        snprintf(l.host, sizeof l.host, "%s", peer->hostname);
        snprintf(l.host_uuid, sizeof l.host_uuid, "%s", peer->hostuuid);
    }
    if (disks && disks[0])
        snprintf(l.disks, sizeof l.disks, "%s", disks);
    if (state == LOCATION_MOVED)
        l.since_ms = ferry_wall_ms();
    dom->location = l;
    snprintf(name, sizeof name, "%s", dom->def->name);
    pthread_mutex_unlock(&dom->lock);
    save(ag, name, &l);
}

void agent_location_clear(struct agent *ag, struct agent_domain *dom)
{
    _cleanup_free_ char *path = NULL;
    bool had;

    pthread_mutex_lock(&dom->lock);
    had = dom->location.state != LOCATION_HERE;
    memset(&dom->location, 0, sizeof dom->location);
    path = mark_path(ag, dom->def->name);
    pthread_mutex_unlock(&dom->lock);
    if (unlink(path) < 0 && errno != ENOENT)
        ferry_warn("cannot remove '%s': %s", path, strerror(errno));
    else if (had)
        ferry_info("domain '%s': its disk data is on this host again", dom->def->name);
}

static void when(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (ms <= 0 || !gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, len, "an unknown time");
}

int agent_location_check_start(const struct agent_domain *dom, struct ferry_error *err)
{
    const struct agent_location *l = &dom->location;
    char at[40];
    char host[320];

    if (l->state == LOCATION_HERE)
        return 0;
    when(l->since_ms, at, sizeof at);
    if (l->host[0] || l->host_uuid[0])
        snprintf(host, sizeof host, "host '%s' (uuid %s)", l->host[0] ? l->host : "?",
                 l->host_uuid[0] ? l->host_uuid : "?");
    else
        snprintf(host, sizeof host, "another host");
    if (l->state == LOCATION_MOVED)
        return ferry_error_set(
            err, ESTALE,
            "domain '%s' was migrated to %s at %s with its disks (%s): the images this "
            "definition names are stale and booting them would lose every write made since. "
            "Migrate it back from there (ferryctl -c THERE migrate --live --copy-storage-all %s "
            "HERE); to boot the stale images anyway, undefine and define it again",
            dom->def->name, host, at, l->disks[0] ? l->disks : "its copied disks", dom->def->name);
    return ferry_error_set(
        err, ESTALE,
        "domain '%s' was migrating its disks (%s) to %s since %s and how that ended is not "
        "known here: the newest data may be there. Check that host first (ferryctl -c THERE "
        "domstate %s); if the guest does not run there, undefine and define it again to boot "
        "these images",
        dom->def->name, l->disks[0] ? l->disks : "its copied disks", host, at, dom->def->name);
}

json_object *agent_location_json(const struct agent_domain *dom)
{
    const struct agent_location *l = &dom->location;
    json_object *o = json_object_new_object();

    json_object_object_add(o, "state", json_object_new_string(state_names[l->state]));
    if (l->state != LOCATION_HERE) {
        json_object_object_add(o, "host", json_object_new_string(l->host));
        json_object_object_add(o, "host_uuid", json_object_new_string(l->host_uuid));
        json_object_object_add(o, "disks", json_object_new_string(l->disks));
        json_object_object_add(o, "since_ms", json_object_new_int64(l->since_ms));
    }
    return o;
}
