/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a migration with storage copy does to the definitions and images
 * on each host, so that no definition ever points at stale data and no
 * copy is left behind (docs/control-api.md, "Disk images and who owns
 * them"). The steps in migrate.c call these at their ends; recovery after
 * a restart reaches them through the same Finish and Confirm paths. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "location.h"
#include "migrate-priv.h"
#include "volumes.h"

static bool copies(const struct mig_params *p)
{
    return (p->flags & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)) != 0;
}

/* "vda,vdb": the disks of DEF that P copies. */
static void copied_list(const struct mig_params *p, const struct domain_def *def, char *buf,
                        size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < def->n_disks; i++) {
        int n;
        if (!mig_params_copies_disk(p, &def->disks[i]))
            continue;
        n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", def->disks[i].target);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
}

void mig_images_leaving(struct agent *ag, struct mig_step *s)
{
    char disks[256];
    bool persistent;

    if (!copies(&s->params))
        return;
    pthread_mutex_lock(&s->dom->lock);
    persistent = s->dom->persistent_def != NULL;
    copied_list(&s->params, s->dom->def, disks, sizeof disks);
    pthread_mutex_unlock(&s->dom->lock);
    /* A transient guest has no definition that could boot its images
     * later; a persistent one is marked before any byte leaves. */
    if (persistent && disks[0])
        agent_location_set(ag, s->dom, LOCATION_LEAVING, &s->m.cookie_in, disks);
}

int mig_images_plan(struct agent *ag, struct mig_step *s, const char *source_xml,
                    struct ferry_error *err)
{
    struct domain_def *src_def = NULL;
    int r;

    if (!copies(&s->params) || !s->m.cookie_in.has_nbd)
        return 0;
    /* With --xml the destination's definition may name new paths: the
     * disks whose path differs from the source's go there. */
    if (s->params.dest_xml && source_xml &&
        (r = domain_def_parse(source_xml, strlen(source_xml), &src_def, err)) < 0) {
        ferry_error_prefix(err, "domain XML from the source");
        return r;
    }
    r = agent_volumes_plan(ag, s->dom, &s->m.cookie_in, &s->params, src_def, s->m.target_paths,
                           err);
    domain_def_free(src_def);
    if (r < 0)
        return r;
    /* Recorded before they exist: a crash inside Prepare then still
     * knows them as ferryd's to remove. */
    for (size_t i = 0; i < s->m.cookie_in.n_nbd_disks; i++) {
        r = agent_volume_add(ag, s->m.target_paths[i], s->dom->def->uuid, s->dom->def->name, err);
        if (r < 0)
            return r;
    }
    return 0;
}

void mig_images_arrived(struct agent *ag, struct mig_step *s)
{
    struct agent_job *job = &s->dom->job;
    bool save = false;
    struct ferry_error err = {0};

    /* The data is here now. A definition of this guest that was already
     * here (kept when it left, or defined by an operator) is made to name
     * the images that hold it, as --persistent's does. */
    pthread_mutex_lock(&s->dom->lock);
    pthread_mutex_lock(&job->lock);
    for (size_t i = 0; s->dom->persistent_def && i < job->n_created; i++) {
        for (size_t k = 0; k < s->dom->def->n_disks; k++) {
            const struct domain_disk *live = &s->dom->def->disks[k];
            struct domain_disk *pd;

            if (!live->source || strcmp(live->source, job->created[i]) != 0)
                continue;
            pd = domain_def_find_disk(s->dom->persistent_def, live->target);
            if (pd && (!pd->source || strcmp(pd->source, live->source) != 0)) {
                free(pd->source);
                pd->source = strdup(live->source);
                pd->format = live->format;
                pd->block = live->block;
                save = true;
            }
        }
    }
    pthread_mutex_unlock(&job->lock);
    pthread_mutex_unlock(&s->dom->lock);
    if (save && agent_domain_save_def(ag, s->dom, &err) < 0)
        ferry_warn("domain '%s': cannot save its definition with the new images: %s",
                   s->dom->def->name, ferry_error_msg(&err));
    agent_location_clear(ag, s->dom);
}

void mig_images_confirmed(struct agent *ag, struct mig_step *s, bool cancelled)
{
    bool postcopy, persistent;

    if (!copies(&s->params))
        return;
    pthread_mutex_lock(&s->dom->job.lock);
    postcopy = s->dom->job.postcopy;
    pthread_mutex_unlock(&s->dom->job.lock);
    pthread_mutex_lock(&s->dom->lock);
    persistent = s->dom->persistent_def != NULL;
    pthread_mutex_unlock(&s->dom->lock);
    if (!cancelled && persistent)
        agent_location_set(ag, s->dom, LOCATION_MOVED, &s->m.cookie_in, NULL);
    else if (cancelled && !postcopy)
        /* The guest runs here, or may: its data never left. Past a
         * post-copy switch it may run there instead: the mark stays. */
        agent_location_clear(ag, s->dom);
}

void mig_images_collect(struct agent *ag, struct mig_step *s, const char *why)
{
    if (copies(&s->params) && !s->params.keep_images)
        agent_volumes_collect(ag, s->dom->def->uuid, why);
}
