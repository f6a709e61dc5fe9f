/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Disk images ferryd created, where incoming disks go, and the removal of
 * copies that lost their guest (see volumes.h). Locks: the volume list's
 * own, a leaf: nothing else is taken while it is held; the registry and
 * domain locks are taken without it (in_use). */
#include "volumes.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "migparams.h"

#define VOLUMES_MAX      1024 /* images recorded per host */
#define VOLUMES_FILE_MAX (1u << 20)
#define NAME_TRIES       9 /* NAME-TARGET.FMT, then NAME-TARGET-2.FMT ... -9 */

struct volume {
    char path[VOLUME_PATH_MAX];
    char uuid[FERRY_UUID_STRLEN];
    char name[65];
    int64_t created_ms;
};

struct agent_volumes {
    pthread_mutex_t lock;
    size_t n;
    struct volume v[VOLUMES_MAX];
};

static char *file_path(struct agent *ag)
{
    return ferry_strdup_printf("%s/volumes.json", ag->cfg.state_dir);
}

/* Writes the list; called with the lock held. */
static int save_locked(struct agent *ag, struct ferry_error *err)
{
    struct agent_volumes *vs = ag->volumes;
    _cleanup_(json_object_putp) json_object *arr = json_object_new_array();
    _cleanup_free_ char *path = file_path(ag);
    const char *text;

    for (size_t i = 0; i < vs->n; i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "path", json_object_new_string(vs->v[i].path));
        json_object_object_add(o, "uuid", json_object_new_string(vs->v[i].uuid));
        json_object_object_add(o, "domain", json_object_new_string(vs->v[i].name));
        json_object_object_add(o, "created_ms", json_object_new_int64(vs->v[i].created_ms));
        json_object_array_add(arr, o);
    }
    text = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY);
    return ferry_write_file_atomic(path, text, strlen(text), 0600, err);
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v = NULL;

    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

int agent_volumes_init(struct agent *ag, struct ferry_error *err)
{
    struct agent_volumes *vs = ferry_calloc(1, sizeof *vs);
    _cleanup_free_ char *path = file_path(ag);
    _cleanup_free_ char *text = NULL;
    _cleanup_(json_object_putp) json_object *arr = NULL;
    size_t len = 0, dropped = 0;

    pthread_mutex_init(&vs->lock, NULL);
    ag->volumes = vs;
    if (ferry_read_file(path, VOLUMES_FILE_MAX, &text, &len, NULL) < 0)
        return 0; /* none yet */
    arr = json_tokener_parse(text);
    if (!arr || !json_object_is_type(arr, json_type_array)) {
        ferry_warn("'%s' is not a list of images: ignoring it", path);
        return 0;
    }
    for (size_t i = 0; i < json_object_array_length(arr) && vs->n < VOLUMES_MAX; i++) {
        json_object *o = json_object_array_get_idx(arr, i);
        const char *p = jstr(o, "path"), *u = jstr(o, "uuid"), *n = jstr(o, "domain");
        json_object *c = NULL;
        struct volume *v = &vs->v[vs->n];

        if (!p || p[0] != '/' || strlen(p) >= sizeof v->path || !u || !ferry_uuid_valid(u))
            continue;
        if (access(p, F_OK) < 0) {
            dropped++; /* a Prepare that failed, or an operator, removed it */
            continue;
        }
        snprintf(v->path, sizeof v->path, "%s", p);
        snprintf(v->uuid, sizeof v->uuid, "%s", u);
        snprintf(v->name, sizeof v->name, "%s", n ? n : "");
        if (json_object_object_get_ex(o, "created_ms", &c))
            v->created_ms = json_object_get_int64(c);
        vs->n++;
    }
    if (dropped) {
        pthread_mutex_lock(&vs->lock);
        if (save_locked(ag, err) < 0)
            ferry_warn("cannot save '%s': %s", path, ferry_error_msg(err));
        pthread_mutex_unlock(&vs->lock);
        ferry_error_clear(err);
    }
    return 0;
}

void agent_volumes_fini(struct agent *ag)
{
    if (ag->volumes) {
        pthread_mutex_destroy(&ag->volumes->lock);
        free(ag->volumes);
        ag->volumes = NULL;
    }
}

static ssize_t find_locked(struct agent_volumes *vs, const char *path)
{
    for (size_t i = 0; i < vs->n; i++)
        if (strcmp(vs->v[i].path, path) == 0)
            return (ssize_t)i;
    return -1;
}

/* Drops the entries whose file is gone: a Prepare that failed removed
 * its targets, or an operator did. True when any went. */
static bool prune_locked(struct agent_volumes *vs)
{
    size_t n = 0;

    for (size_t i = 0; i < vs->n; i++)
        if (access(vs->v[i].path, F_OK) == 0)
            vs->v[n++] = vs->v[i];
    if (n == vs->n)
        return false;
    vs->n = n;
    return true;
}

int agent_volume_add(struct agent *ag, const char *path, const char *uuid, const char *name,
                     struct ferry_error *err)
{
    struct agent_volumes *vs = ag->volumes;
    ssize_t i;
    int r;

    if (strlen(path) >= VOLUME_PATH_MAX)
        return ferry_error_set(err, ENAMETOOLONG, "image path '%.64s...' is too long", path);
    pthread_mutex_lock(&vs->lock);
    i = find_locked(vs, path);
    if (i < 0 && vs->n >= VOLUMES_MAX) {
        pthread_mutex_unlock(&vs->lock);
        return ferry_error_set(err, ENOSPC, "ferryd already keeps %d images", VOLUMES_MAX);
    }
    if (i < 0)
        i = (ssize_t)vs->n++;
    snprintf(vs->v[i].path, sizeof vs->v[i].path, "%s", path);
    snprintf(vs->v[i].uuid, sizeof vs->v[i].uuid, "%s", uuid);
    snprintf(vs->v[i].name, sizeof vs->v[i].name, "%s", name);
    vs->v[i].created_ms = ferry_wall_ms();
    r = save_locked(ag, err);
    pthread_mutex_unlock(&vs->lock);
    return r;
}

bool agent_volume_owned(struct agent *ag, const char *path)
{
    bool owned;

    pthread_mutex_lock(&ag->volumes->lock);
    owned = find_locked(ag->volumes, path) >= 0;
    pthread_mutex_unlock(&ag->volumes->lock);
    return owned;
}

static bool def_names(const struct domain_def *def, const char *path)
{
    for (size_t i = 0; def && i < def->n_disks; i++)
        if (def->disks[i].source && strcmp(def->disks[i].source, path) == 0)
            return true;
    return false;
}

enum use { USE_NONE = 0, USE_DEFINITION, USE_RUNNING };

/* Who on this host names PATH: a running (or incoming) guest, a
 * definition, or nobody. EXCEPT (may be NULL), the domain an incoming
 * migration is preparing, is left out: its live definition, which holds
 * the source's paths, and with EXCEPT_DEF also its persistent one (the
 * stale copy that migration replaces). */
static enum use in_use(struct agent *ag, const char *path, const struct agent_domain *except,
                       bool except_def, char *who, size_t wl)
{
    struct agent_domain **doms = NULL;
    size_t n = agent_domain_list(ag, &doms);
    enum use u = USE_NONE;

    for (size_t i = 0; i < n; i++) {
        struct agent_domain *d = doms[i];

        pthread_mutex_lock(&d->lock);
        if (u != USE_RUNNING && d != except && (d->active || d->incoming || d->job_busy) &&
            def_names(d->def, path)) {
            u = USE_RUNNING;
            snprintf(who, wl, "%s", d->def->name);
        } else if (u == USE_NONE && !(d == except && except_def) &&
                   def_names(d->persistent_def, path)) {
            u = USE_DEFINITION;
            snprintf(who, wl, "%s", d->def->name);
        }
        pthread_mutex_unlock(&d->lock);
        agent_domain_unref(ag, d);
    }
    free(doms);
    return u;
}

void agent_volumes_collect(struct agent *ag, const char *uuid, const char *why)
{
    struct agent_volumes *vs = ag->volumes;
    char cand[MIG_MAX_DISKS * 2][VOLUME_PATH_MAX];
    size_t nc = 0;
    bool changed;

    pthread_mutex_lock(&vs->lock);
    changed = prune_locked(vs);
    for (size_t i = 0; i < vs->n && nc < ARRAY_SIZE(cand); i++)
        if (strcasecmp(vs->v[i].uuid, uuid) == 0)
            memcpy(cand[nc++], vs->v[i].path, VOLUME_PATH_MAX);
    pthread_mutex_unlock(&vs->lock);

    for (size_t k = 0; k < nc; k++) {
        char who[65] = "";
        ssize_t i;

        if (in_use(ag, cand[k], NULL, false, who, sizeof who) != USE_NONE)
            continue;
        if (unlink(cand[k]) < 0 && errno != ENOENT) {
            ferry_warn("cannot remove image '%s': %s", cand[k], strerror(errno));
            continue;
        }
        ferry_info("removed image '%s': %s, and nothing here uses it", cand[k], why);
        pthread_mutex_lock(&vs->lock);
        i = find_locked(vs, cand[k]);
        if (i >= 0) {
            vs->v[i] = vs->v[--vs->n];
            changed = true;
        }
        pthread_mutex_unlock(&vs->lock);
    }
    if (changed) {
        struct ferry_error err = {0};
        pthread_mutex_lock(&vs->lock);
        if (save_locked(ag, &err) < 0)
            ferry_warn("cannot save the image list: %s", ferry_error_msg(&err));
        pthread_mutex_unlock(&vs->lock);
    }
}

/* ---- where incoming disks go ---- */

/* Absolute, no "." or ".." component, no "//", not too long. */
static bool plain_path(const char *p)
{
    if (!p || p[0] != '/' || strlen(p) >= VOLUME_PATH_MAX || strstr(p, "//"))
        return false;
    for (const char *s = p; s; s = strchr(s + 1, '/')) {
        const char *c = s + 1;
        size_t len = strcspn(c, "/");
        if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return false;
    }
    return p[strlen(p) - 1] != '/';
}

static const char *disk_path_of(const struct mig_params *p, const char *target)
{
    for (size_t i = 0; i < p->n_disk_paths; i++)
        if (strcmp(p->disk_paths[i].target, target) == 0)
            return p->disk_paths[i].path;
    return NULL;
}

int agent_volumes_check_params(const struct mig_params *p, const struct domain_def *def,
                               struct ferry_error *err)
{
    for (size_t i = 0; i < p->n_disk_paths; i++) {
        const char *t = p->disk_paths[i].target;
        const struct domain_disk *d = NULL;

        for (size_t k = 0; k < def->n_disks && !d; k++)
            if (strcmp(def->disks[k].target, t) == 0)
                d = &def->disks[k];
        if (!d)
            return ferry_error_set(
                err, EINVAL, "--disk-path: domain '%s' has no disk with target '%s'", def->name, t);
        if (!mig_params_copies_disk(p, d))
            return ferry_error_set(err, EINVAL,
                                   "--disk-path: disk '%s' is not copied by this migration "
                                   "(see --migrate-disks)",
                                   t);
    }
    return 0;
}

static const struct domain_disk *disk_of(const struct domain_def *def, const char *target)
{
    for (size_t i = 0; def && i < def->n_disks; i++)
        if (strcmp(def->disks[i].target, target) == 0)
            return &def->disks[i];
    return NULL;
}

/* An existing file at PATH, chosen by the caller (--same-path,
 * --disk-path, --xml): refused unless it is an empty regular file. */
static int check_caller_path(struct agent *ag, struct agent_domain *dom, const char *target,
                             const char *path, bool *empty, struct ferry_error *err)
{
    _cleanup_free_ char *copy = ferry_strdup(path);
    const char *dir = dirname(copy);
    struct stat st;
    char who[65] = "";

    *empty = false;
    if (!plain_path(path))
        return ferry_error_set(err, EINVAL,
                               "disk '%s': target path '%s' must be absolute, without '.' or "
                               "'..' components",
                               target, path);
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return ferry_error_set(err, ENOENT,
                               "disk '%s': directory '%s' does not exist on the destination "
                               "(create it, or choose another path with --disk-path %s=PATH)",
                               target, dir, target);
    if (lstat(path, &st) < 0)
        return 0;
    if (!S_ISREG(st.st_mode) || st.st_size > 0)
        return ferry_error_set(err, EEXIST,
                               "disk '%s': target image '%s' already exists on the destination and "
                               "is not empty: ferryd never overwrites an image (remove it there, "
                               "or choose another path with --disk-path %s=PATH)",
                               target, path, target);
    if (in_use(ag, path, dom, false, who, sizeof who) != USE_NONE)
        return ferry_error_set(err, EEXIST,
                               "disk '%s': target image '%s' is used by domain '%s' on the "
                               "destination",
                               target, path, who);
    *empty = true;
    return 0;
}

/* The image dir's name for TARGET: NAME-TARGET.FMT, or the next free
 * NAME-TARGET-K.FMT when the name holds this guest's own stale copy (an
 * image ferryd made that only this host's inactive definition of the same
 * guest names: it is replaced once the migration succeeds, never
 * before). Anything else in the way is refused with what to run. */
static int image_dir_path(struct agent *ag, struct agent_domain *dom, const char *target,
                          const char *fmt, char **ret, struct ferry_error *err)
{
    for (int k = 1; k <= NAME_TRIES; k++) {
        _cleanup_free_ char *path =
            k == 1
                ? ferry_strdup_printf("%s/%s-%s.%s", ag->cfg.image_dir, dom->def->name, target, fmt)
                : ferry_strdup_printf("%s/%s-%s-%d.%s", ag->cfg.image_dir, dom->def->name, target,
                                      k, fmt);
        char who[65] = "";
        bool own_stale;

        if (strlen(path) >= VOLUME_PATH_MAX)
            return ferry_error_set(err, ENAMETOOLONG, "disk '%s': image dir path too long", target);
        if (access(path, F_OK) < 0) {
            *ret = TAKE_PTR(path);
            return 0;
        }
        pthread_mutex_lock(&dom->lock);
        own_stale = def_names(dom->persistent_def, path);
        pthread_mutex_unlock(&dom->lock);
        if (own_stale && agent_volume_owned(ag, path) &&
            in_use(ag, path, dom, true, who, sizeof who) == USE_NONE)
            continue;
        if (agent_volume_owned(ag, path) &&
            in_use(ag, path, dom, false, who, sizeof who) == USE_NONE)
            return ferry_error_set(err, EEXIST,
                                   "disk '%s': target image '%s' already exists: a copy ferryd "
                                   "made earlier that nothing uses (remove it with 'ferryctl "
                                   "vol-delete %s' on the destination)",
                                   target, path, path);
        if (who[0] || in_use(ag, path, dom, false, who, sizeof who) != USE_NONE)
            return ferry_error_set(err, EEXIST,
                                   "disk '%s': target image '%s' already exists and is used by "
                                   "domain '%s' on the destination",
                                   target, path, who);
        return ferry_error_set(err, EEXIST,
                               "disk '%s': target image '%s' already exists and ferryd did not "
                               "create it (move it away, or choose another path with "
                               "--disk-path %s=PATH)",
                               target, path, target);
    }
    return ferry_error_set(err, EEXIST,
                           "disk '%s': %d copies of it are in the image dir '%s' already "
                           "(see 'ferryctl vol-list')",
                           target, NAME_TRIES, ag->cfg.image_dir);
}

int agent_volumes_plan(struct agent *ag, struct agent_domain *dom, const struct cookie *cookie_in,
                       const struct mig_params *p, const struct domain_def *src_def,
                       char *ret_paths[MIG_MAX_DISKS], struct ferry_error *err)
{
    char *paths[MIG_MAX_DISKS] = {NULL};
    bool empty[MIG_MAX_DISKS] = {false};
    size_t n = cookie_in->n_nbd_disks;
    int r = 0;

    for (size_t i = 0; i < n && r == 0; i++) {
        const struct cookie_nbd_disk *cd = &cookie_in->nbd_disks[i];
        const struct domain_disk *d, *sd;
        const char *fmt = cd->format[0] ? cd->format : "raw";
        const char *chosen;

        pthread_mutex_lock(&dom->lock);
        d = disk_of(dom->def, cd->target);
        sd = src_def ? disk_of(src_def, cd->target) : d;
        /* The caller's path: --disk-path, else an --xml whose path differs
         * from the source's, else the source's own with --same-path. */
        chosen = disk_path_of(p, cd->target);
        if (!chosen && d && sd && d->source && sd->source && strcmp(d->source, sd->source) != 0)
            chosen = d->source;
        if (!chosen && p->same_path && sd)
            chosen = sd->source;
        paths[i] = chosen ? ferry_strdup(chosen) : NULL;
        pthread_mutex_unlock(&dom->lock);

        if (!d) {
            r = ferry_error_set(err, EINVAL, "disk '%s' from the cookie is not in the domain",
                                cd->target);
        } else if (paths[i]) {
            r = check_caller_path(ag, dom, cd->target, paths[i], &empty[i], err);
            if (r == 0 && cd->backing[0] && strcmp(cd->backing, paths[i]) == 0)
                r = ferry_error_set(err, EINVAL,
                                    "disk '%s': the target '%s' is its own backing file",
                                    cd->target, paths[i]);
        } else {
            r = image_dir_path(ag, dom, cd->target, fmt, &paths[i], err);
        }
        for (size_t k = 0; r == 0 && k < i; k++)
            if (strcmp(paths[k], paths[i]) == 0)
                r = ferry_error_set(err, EINVAL, "disks '%s' and '%s' would both go to '%s'",
                                    cookie_in->nbd_disks[k].target, cd->target, paths[i]);
    }
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(paths[i]);
        return r;
    }
    /* Every check passed: an empty file the caller left for us makes way
     * for the target, as if it had not been there. */
    for (size_t i = 0; i < n; i++) {
        if (empty[i] && unlink(paths[i]) < 0 && errno != ENOENT) {
            r = ferry_error_set_errno(err, errno, "disk '%s': cannot replace empty file '%s'",
                                      cookie_in->nbd_disks[i].target, paths[i]);
            for (size_t k = 0; k < n; k++)
                free(paths[k]);
            return r;
        }
        ret_paths[i] = paths[i];
    }
    return 0;
}

/* ---- vol.list, vol.delete ---- */

json_object *agent_volumes_list_json(struct agent *ag)
{
    struct agent_volumes *vs = ag->volumes;
    json_object *arr = json_object_new_array();
    struct volume *copy;
    size_t n;

    pthread_mutex_lock(&vs->lock);
    if (prune_locked(vs)) {
        struct ferry_error err = {0};
        if (save_locked(ag, &err) < 0)
            ferry_warn("cannot save the image list: %s", ferry_error_msg(&err));
    }
    n = vs->n;
    copy = ferry_calloc(n ? n : 1, sizeof *copy);
    memcpy(copy, vs->v, n * sizeof *copy);
    pthread_mutex_unlock(&vs->lock);
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_new_object();
        char who[65] = "";
        struct stat st;
        enum use u = in_use(ag, copy[i].path, NULL, false, who, sizeof who);

        json_object_object_add(o, "path", json_object_new_string(copy[i].path));
        json_object_object_add(o, "domain", json_object_new_string(copy[i].name));
        json_object_object_add(o, "uuid", json_object_new_string(copy[i].uuid));
        if (stat(copy[i].path, &st) == 0) {
            json_object_object_add(o, "capacity", json_object_new_int64(st.st_size));
            json_object_object_add(o, "allocation",
                                   json_object_new_int64((int64_t)st.st_blocks * 512));
        }
        json_object_object_add(
            o, "used_by",
            u == USE_NONE ? NULL
                          : json_object_new_string(u == USE_RUNNING ? "running" : "definition"));
        json_object_object_add(o, "used_by_domain",
                               u == USE_NONE ? NULL : json_object_new_string(who));
        json_object_array_add(arr, o);
    }
    free(copy);
    return arr;
}

int agent_volume_delete(struct agent *ag, const char *path, struct ferry_error *err)
{
    struct agent_volumes *vs = ag->volumes;
    _cleanup_free_ char *full = strchr(path, '/')
                                    ? ferry_strdup(path)
                                    : ferry_strdup_printf("%s/%s", ag->cfg.image_dir, path);
    char who[65] = "";
    enum use u;
    ssize_t i;
    int r;

    if (!agent_volume_owned(ag, full))
        return ferry_error_set(err, ENOENT,
                               "'%s' is not an image ferryd created (ferryd never removes an "
                               "operator's image; see 'ferryctl vol-list')",
                               full);
    u = in_use(ag, full, NULL, false, who, sizeof who);
    if (u != USE_NONE)
        return ferry_error_set(err, EBUSY, "image '%s' is used by %s domain '%s'", full,
                               u == USE_RUNNING ? "the running" : "the definition of", who);
    if (unlink(full) < 0 && errno != ENOENT)
        return ferry_error_set_errno(err, errno, "cannot remove '%s'", full);
    pthread_mutex_lock(&vs->lock);
    i = find_locked(vs, full);
    if (i >= 0)
        vs->v[i] = vs->v[--vs->n];
    r = save_locked(ag, err);
    pthread_mutex_unlock(&vs->lock);
    ferry_info("removed image '%s' (vol-delete)", full);
    return r;
}
