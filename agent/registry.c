/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent's domain registry, its on-disk definitions, job claims and the
 * event bus. Persistent definitions live in STATE/domains/NAME.xml; the
 * driver keeps run state of active guests in STATE/run. */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "location.h"
#include "metrics.h"

static void domain_free(struct agent *ag, struct agent_domain *dom)
{
    if (ag->driver && ag->driver->domain_release)
        ag->driver->domain_release(ag, dom);
    domain_def_free(dom->def);
    domain_def_free(dom->persistent_def);
    if (dom->job.disks)
        json_object_put(dom->job.disks);
    if (dom->job.completed_disks)
        json_object_put(dom->job.completed_disks);
    pthread_mutex_destroy(&dom->job.lock);
    pthread_mutex_destroy(&dom->lock);
    free(dom);
}

void agent_domain_ref(struct agent_domain *dom)
{
    __atomic_add_fetch(&dom->refs, 1, __ATOMIC_SEQ_CST);
}

void agent_domain_unref(struct agent *ag, struct agent_domain *dom)
{
    if (!dom)
        return;
    if (__atomic_sub_fetch(&dom->refs, 1, __ATOMIC_SEQ_CST) == 0)
        domain_free(ag, dom);
}

/* The first domain whose name (BY_UUID false) or uuid matches KEY, with a
 * new reference; NULL if none. */
static struct agent_domain *lookup_by(struct agent *ag, const char *key, bool by_uuid)
{
    struct agent_domain *found = NULL;

    if (!key)
        return NULL;
    pthread_mutex_lock(&ag->lock);
    for (size_t i = 0; i < ag->n_domains && !found; i++) {
        const struct domain_def *def = ag->domains[i]->def;
        if (by_uuid ? strcasecmp(def->uuid, key) == 0 : strcmp(def->name, key) == 0) {
            found = ag->domains[i];
            agent_domain_ref(found);
        }
    }
    pthread_mutex_unlock(&ag->lock);
    return found;
}

struct agent_domain *agent_domain_lookup(struct agent *ag, const char *name)
{
    return lookup_by(ag, name, false);
}

struct agent_domain *agent_domain_lookup_uuid(struct agent *ag, const char *uuid)
{
    return lookup_by(ag, uuid, true);
}

int agent_domain_add(struct agent *ag, struct domain_def *def, struct agent_domain **ret,
                     struct ferry_error *err)
{
    struct agent_domain *dom;

    pthread_mutex_lock(&ag->lock);
    for (size_t i = 0; i < ag->n_domains; i++) {
        const struct domain_def *o = ag->domains[i]->def;
        /* name and uuid are arrays inside the definitions, never NULL; the
         * analyzer carries lookup_by()'s `!key` branch over to here. */
        // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker)
        if (strcmp(o->name, def->name) == 0 || strcasecmp(o->uuid, def->uuid) == 0) {
            bool same_name = strcmp(o->name, def->name) == 0;
            pthread_mutex_unlock(&ag->lock);
            domain_def_free(def);
            if (same_name)
                return ferry_error_set(err, EEXIST, "domain '%s' already exists", o->name);
            return ferry_error_set(err, EEXIST, "domain '%s' already has uuid %s", o->name,
                                   o->uuid);
        }
    }
    if (ag->n_domains >= AGENT_MAX_DOMAINS) {
        pthread_mutex_unlock(&ag->lock);
        domain_def_free(def);
        return ferry_error_set(err, ENOSPC, "too many domains (limit %d)", AGENT_MAX_DOMAINS);
    }
    dom = ferry_calloc(1, sizeof *dom);
    pthread_mutex_init(&dom->lock, NULL);
    pthread_mutex_init(&dom->job.lock, NULL);
    dom->def = def;
    dom->refs = 1; /* the registry's */
    ag->domains[ag->n_domains++] = dom;
    agent_domain_ref(dom);
    pthread_mutex_unlock(&ag->lock);
    *ret = dom;
    return 0;
}

void agent_domain_remove(struct agent *ag, struct agent_domain *dom)
{
    bool found = false;

    pthread_mutex_lock(&ag->lock);
    for (size_t i = 0; i < ag->n_domains; i++) {
        if (ag->domains[i] == dom) {
            memmove(&ag->domains[i], &ag->domains[i + 1],
                    (ag->n_domains - i - 1) *
                        sizeof ag->domains[0]); // NOLINT(bugprone-sizeof-expression):
                                                // an array of pointers
            ag->n_domains--;
            found = true;
            break;
        }
    }
    dom->removed = true;
    pthread_mutex_unlock(&ag->lock);
    if (found)
        agent_domain_unref(ag, dom);
}

size_t agent_domain_list(struct agent *ag, struct agent_domain ***ret)
{
    struct agent_domain **arr;
    size_t n;

    pthread_mutex_lock(&ag->lock);
    n = ag->n_domains;
    arr = ferry_calloc(n ? n : 1,
                       sizeof *arr); // NOLINT(bugprone-sizeof-expression): an array of pointers
    for (size_t i = 0; i < n; i++) {
        arr[i] = ag->domains[i];
        agent_domain_ref(arr[i]);
    }
    pthread_mutex_unlock(&ag->lock);
    *ret = arr;
    return n;
}

int agent_domain_save_def(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *xml = NULL;
    const struct domain_def *def = dom->persistent_def ? dom->persistent_def : dom->def;

    path = ferry_strdup_printf("%s/%s.xml", ag->domains_dir, def->name);
    xml = domain_def_format(def);
    if (!xml)
        return ferry_error_set(err, ENOMEM, "cannot format domain '%s'", def->name);
    return ferry_write_file_atomic(path, xml, strlen(xml), 0600, err);
}

int agent_domain_delete_def(struct agent *ag, const char *name, struct ferry_error *err)
{
    _cleanup_free_ char *path = ferry_strdup_printf("%s/%s.xml", ag->domains_dir, name);
    _cleanup_free_ char *mark = ferry_strdup_printf("%s/%s.location.json", ag->domains_dir, name);

    if (unlink(path) < 0 && errno != ENOENT)
        return ferry_error_set_errno(err, errno, "cannot remove '%s'", path);
    /* The definition's mark (agent/location.h) goes with it. */
    if (unlink(mark) < 0 && errno != ENOENT)
        ferry_warn("cannot remove '%s': %s", mark, strerror(errno));
    return 0;
}

int agent_domain_begin_job(struct agent_domain *dom, const char *operation, struct ferry_error *err)
{
    int r = 0;

    pthread_mutex_lock(&dom->lock);
    if (dom->job_busy) {
        pthread_mutex_lock(&dom->job.lock);
        r = ferry_error_set(err, EBUSY, "domain '%s' is busy with job '%s'", dom->def->name,
                            dom->job.operation[0] ? dom->job.operation : "unknown");
        pthread_mutex_unlock(&dom->job.lock);
    } else {
        dom->job_busy = true;
    }
    (void)operation;
    pthread_mutex_unlock(&dom->lock);
    return r;
}

void agent_domain_end_job(struct agent_domain *dom)
{
    pthread_mutex_lock(&dom->lock);
    dom->job_busy = false;
    pthread_mutex_unlock(&dom->lock);
}

/* ---- event bus ---- */

#define MAX_SINKS 64

struct sink {
    int token;
    agent_event_sink fn;
    void *opaque;
};

static pthread_mutex_t sinks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sink sinks[MAX_SINKS];
static int next_token = 1;
/* Under sinks_lock: the last AGENT_EVENTS_KEPT events (references),
 * oldest at ring[ring_seq % AGENT_EVENTS_KEPT] once it is full, and the
 * seq the last event got (the first gets 1). */
static json_object *ring[AGENT_EVENTS_KEPT];
static uint64_t ring_seq;
static int64_t events_epoch;

static uint64_t oldest_seq_locked(void)
{
    if (ring_seq == 0)
        return 0;
    return ring_seq > AGENT_EVENTS_KEPT ? ring_seq - AGENT_EVENTS_KEPT + 1 : 1;
}

void agent_events_position(struct agent *ag, uint64_t *ret_oldest, uint64_t *ret_last,
                           int64_t *ret_epoch)
{
    (void)ag;
    pthread_mutex_lock(&sinks_lock);
    *ret_oldest = oldest_seq_locked();
    *ret_last = ring_seq;
    *ret_epoch = events_epoch;
    pthread_mutex_unlock(&sinks_lock);
}

static int subscribe(agent_event_sink sink, void *opaque, bool replay, uint64_t since)
{
    int token = -EMFILE;

    pthread_mutex_lock(&sinks_lock);
    for (size_t i = 0; i < MAX_SINKS; i++) {
        if (sinks[i].token == 0) {
            sinks[i].token = next_token++;
            sinks[i].fn = sink;
            sinks[i].opaque = opaque;
            token = sinks[i].token;
            break;
        }
    }
    /* The kept events go first, under the lock that orders them before
     * every event emitted from now on: none is missed or sent twice. */
    if (token > 0 && replay) {
        for (uint64_t seq = oldest_seq_locked(); seq && seq <= ring_seq; seq++)
            if (seq > since && ring[seq % AGENT_EVENTS_KEPT])
                sink(ring[seq % AGENT_EVENTS_KEPT], opaque);
    }
    pthread_mutex_unlock(&sinks_lock);
    return token;
}

int agent_events_subscribe(struct agent *ag, agent_event_sink sink, void *opaque)
{
    (void)ag;
    return subscribe(sink, opaque, false, 0);
}

int agent_events_subscribe_since(struct agent *ag, agent_event_sink sink, void *opaque,
                                 uint64_t since)
{
    (void)ag;
    return subscribe(sink, opaque, true, since);
}

void agent_events_unsubscribe(struct agent *ag, int token)
{
    (void)ag;
    pthread_mutex_lock(&sinks_lock);
    for (size_t i = 0; i < MAX_SINKS; i++)
        if (sinks[i].token == token)
            memset(&sinks[i], 0, sizeof sinks[i]);
    pthread_mutex_unlock(&sinks_lock);
}

void agent_emit_event(struct agent *ag, const char *event, const char *domain, json_object *data)
{
    _cleanup_(json_object_putp) json_object *ev = json_object_new_object();
    json_object *kept = NULL;

    (void)ag;
    json_object_object_add(ev, "event", json_object_new_string(event));
    if (domain)
        json_object_object_add(ev, "domain", json_object_new_string(domain));
    json_object_object_add(ev, "timestamp", json_object_new_int64(ferry_wall_ms()));
    json_object_object_add(ev, "data", data ? data : json_object_new_object());
    ferry_debug("event %s %s", event, domain ? domain : "-");
    /* Sinks run under the lock: they only queue a frame on their own
     * connection (non-blocking enough), so unsubscribe cannot race a call. */
    pthread_mutex_lock(&sinks_lock);
    ring_seq++;
    json_object_object_add(ev, "seq", json_object_new_int64((int64_t)ring_seq));
    /* The ring keeps a copy of its own: json-c's reference counts are
     * not atomic, and DATA may share objects with the emitter's thread
     * (a QMP event's). The ring's copies are only touched under the lock. */
    if (json_object_deep_copy(ev, &kept, NULL) < 0)
        kept = NULL;
    json_object_put(ring[ring_seq % AGENT_EVENTS_KEPT]);
    ring[ring_seq % AGENT_EVENTS_KEPT] = kept;
    for (size_t i = 0; i < MAX_SINKS; i++)
        if (sinks[i].token)
            sinks[i].fn(ev, sinks[i].opaque);
    pthread_mutex_unlock(&sinks_lock);
}

/* ---- start-up ---- */

static int load_identity(struct agent *ag, struct ferry_error *err)
{
    _cleanup_free_ char *path = ferry_strdup_printf("%s/host-uuid", ag->cfg.state_dir);
    _cleanup_free_ char *buf = NULL;
    int r;

    if (ag->cfg.hostname)
        snprintf(ag->hostname, sizeof ag->hostname, "%s", ag->cfg.hostname);
    else if (gethostname(ag->hostname, sizeof ag->hostname - 1) < 0)
        snprintf(ag->hostname, sizeof ag->hostname, "localhost");

    if (ag->cfg.host_uuid) {
        if (!ferry_uuid_valid(ag->cfg.host_uuid))
            return ferry_error_set(err, EINVAL, "invalid host uuid '%s'", ag->cfg.host_uuid);
        snprintf(ag->host_uuid, sizeof ag->host_uuid, "%s", ag->cfg.host_uuid);
        return 0;
    }
    r = ferry_read_file(path, 128, &buf, NULL, NULL);
    if (r == 0) {
        buf[strcspn(buf, "\r\n")] = '\0';
        if (ferry_uuid_valid(buf)) {
            snprintf(ag->host_uuid, sizeof ag->host_uuid, "%s", buf);
            return 0;
        }
    }
    ferry_uuid_generate(ag->host_uuid);
    return ferry_write_file_atomic(path, ag->host_uuid, strlen(ag->host_uuid), 0644, err);
}

static void load_persistent(struct agent *ag)
{
    _cleanup_(closedirp) DIR *d = NULL;
    struct dirent *de;

    d = opendir(ag->domains_dir);
    if (!d)
        return;
    while ((de = readdir(d))) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ char *xml = NULL;
        struct ferry_error err = {0};
        struct domain_def *def = NULL;
        struct agent_domain *dom = NULL;
        size_t len;

        if (!strstr(de->d_name, ".xml") || de->d_name[0] == '.')
            continue;
        path = ferry_strdup_printf("%s/%s", ag->domains_dir, de->d_name);
        if (ferry_read_file(path, DOMAIN_XML_MAX, &xml, &len, &err) < 0 ||
            domain_def_parse(xml, len, &def, &err) < 0) {
            ferry_warn("skipping '%s': %s", path, ferry_error_msg(&err));
            continue;
        }
        if (agent_domain_add(ag, def, &dom, &err) < 0) {
            ferry_warn("skipping '%s': %s", path, ferry_error_msg(&err));
            continue;
        }
        dom->persistent_def = domain_def_copy(dom->def);
        agent_location_load(ag, dom);
        agent_domain_unref(ag, dom);
    }
}

int agent_init(struct agent *ag, struct ferry_error *err)
{
    int r;

    pthread_mutex_init(&ag->lock, NULL);
    pthread_mutex_lock(&sinks_lock);
    events_epoch = ferry_wall_ms();
    pthread_mutex_unlock(&sinks_lock);
    if (!ag->cfg.max_version)
        ag->cfg.max_version = 3;
    snprintf(ag->run_dir, sizeof ag->run_dir, "%s/run", ag->cfg.state_dir);
    snprintf(ag->domains_dir, sizeof ag->domains_dir, "%s/domains", ag->cfg.state_dir);
    if ((r = ferry_mkdir_p(ag->cfg.state_dir, 0700, err)) < 0 ||
        (r = ferry_mkdir_p(ag->run_dir, 0700, err)) < 0 ||
        (r = ferry_mkdir_p(ag->domains_dir, 0700, err)) < 0 ||
        (r = ferry_mkdir_p(ag->cfg.image_dir, 0755, err)) < 0)
        return r;
    /* A QEMU that runs as --qemu-user reaches its own directory below RUN
     * (the driver's); it may pass through, not list. */
    if (ag->cfg.qemu_user && (chmod(ag->cfg.state_dir, 0711) < 0 || chmod(ag->run_dir, 0711) < 0))
        return ferry_error_set_errno(err, errno, "--qemu-user: cannot open '%s' to QEMU",
                                     ag->run_dir);
    if ((r = load_identity(ag, err)) < 0)
        return r;
    /* The caller (ferryd's main) picked the driver: the core knows none by
     * name. */
    if (!ag->driver)
        return ferry_error_set(err, EINVAL, "no hypervisor driver");
    if (ag->driver->init && (r = ag->driver->init(ag, err)) < 0)
        return r;
    load_persistent(ag);
    return 0;
}

void agent_fini(struct agent *ag)
{
    pthread_mutex_lock(&ag->lock);
    while (ag->n_domains > 0) {
        struct agent_domain *dom = ag->domains[--ag->n_domains];
        pthread_mutex_unlock(&ag->lock);
        dom->removed = true;
        agent_domain_unref(ag, dom);
        pthread_mutex_lock(&ag->lock);
    }
    for (size_t i = 0; i < ag->n_departed; i++) {
        free(ag->departed[i].name);
        json_object_put(ag->departed[i].info);
    }
    ag->n_departed = 0;
    pthread_mutex_unlock(&ag->lock);
    pthread_mutex_lock(&sinks_lock);
    for (size_t i = 0; i < AGENT_EVENTS_KEPT; i++) {
        json_object_put(ring[i]);
        ring[i] = NULL;
    }
    pthread_mutex_unlock(&sinks_lock);
}

/* Re-attaches to guests that ran before the agent restarted: every
 * STATE/run/NAME.xml is a live definition; the driver decides whether its
 * process is still there. */
void agent_restore_running(struct agent *ag)
{
    _cleanup_(closedirp) DIR *d = opendir(ag->run_dir);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d))) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ char *xml = NULL;
        struct ferry_error err = {0};
        struct domain_def *def = NULL;
        struct agent_domain *dom = NULL;
        size_t len = strlen(de->d_name);
        int r;

        if (len < 5 || strcmp(de->d_name + len - 4, ".xml") != 0 || de->d_name[0] == '.')
            continue;
        path = ferry_strdup_printf("%s/%s", ag->run_dir, de->d_name);
        if (ferry_read_file(path, DOMAIN_XML_MAX, &xml, &len, &err) < 0 ||
            domain_def_parse(xml, len, &def, &err) < 0) {
            ferry_warn("ignoring run state '%s': %s", path, ferry_error_msg(&err));
            continue;
        }
        dom = agent_domain_lookup(ag, def->name);
        if (dom) {
            domain_def_free(dom->def);
            dom->def = def;
        } else if (agent_domain_add(ag, def, &dom, &err) < 0) {
            ferry_warn("ignoring run state '%s': %s", path, ferry_error_msg(&err));
            continue;
        }
        r = ag->driver->domain_attach(ag, dom, &err);
        if (r < 0)
            ferry_warn("domain '%s': %s", dom->def->name, ferry_error_msg(&err));
        if (r <= 0) {
            if (dom->persistent_def) {
                domain_def_free(dom->def);
                dom->def = domain_def_copy(dom->persistent_def);
            } else {
                agent_domain_remove(ag, dom);
            }
        }
        agent_domain_unref(ag, dom);
    }
}
