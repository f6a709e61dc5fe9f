/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Caps on concurrent migrations and the maintenance mode (admission.h).
 * The running jobs themselves are the count: a job is counted while its
 * `active` flag is set, so every path that ends a job (a step's failure, a
 * client gone, a restart's recovery) frees its slot without bookkeeping
 * here. */
#include "admission.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"

/* Lock order: admission_lock, then the registry lock, then a job lock. */
static pthread_mutex_t admission_lock = PTHREAD_MUTEX_INITIALIZER;
/* Written once before serving (caps) or under admission_lock (the rest);
 * maintenance is read without the lock by domain.start's check, where a
 * start racing with `maintenance on` may go either way. */
static unsigned max_out, max_in;
static volatile bool maintenance;
static char maintenance_path[1100];

int agent_admission_init(struct agent *ag, unsigned max_outgoing, unsigned max_incoming,
                         struct ferry_error *err)
{
    (void)err;
    max_out = max_outgoing;
    max_in = max_incoming;
    snprintf(maintenance_path, sizeof maintenance_path, "%s/maintenance", ag->cfg.state_dir);
    maintenance = access(maintenance_path, F_OK) == 0;
    if (maintenance)
        ferry_info("ferryd: in maintenance mode (%s exists): no incoming migrations, no new "
                   "guests",
                   maintenance_path);
    return 0;
}

static void count_jobs(struct agent *ag, unsigned *ret_out, unsigned *ret_in)
{
    struct agent_domain **doms = NULL;
    size_t n = agent_domain_list(ag, &doms);

    *ret_out = *ret_in = 0;
    for (size_t i = 0; i < n; i++) {
        struct agent_job *job = &doms[i]->job;
        pthread_mutex_lock(&job->lock);
        if (job->active && strcmp(job->operation, "migration-out") == 0)
            (*ret_out)++;
        else if (job->active && strcmp(job->operation, "migration-in") == 0)
            (*ret_in)++;
        pthread_mutex_unlock(&job->lock);
        agent_domain_unref(ag, doms[i]);
    }
    free(doms);
}

/* With admission_lock held. */
static int check_locked(struct agent *ag, const char *operation, struct ferry_error *err)
{
    bool in = strcmp(operation, "migration-in") == 0;
    unsigned out_now, in_now, cap = in ? max_in : max_out;

    if (in && maintenance)
        return ferry_error_set(err, EAGAIN,
                               "this agent is in maintenance mode: it takes no incoming "
                               "migrations (ferryctl maintenance off)");
    if (!cap)
        return 0;
    count_jobs(ag, &out_now, &in_now);
    if ((in ? in_now : out_now) >= cap)
        return ferry_error_set(err, EBUSY,
                               "this agent already runs %u %s migration%s, its limit "
                               "(--max-%s %u)",
                               in ? in_now : out_now, in ? "incoming" : "outgoing",
                               (in ? in_now : out_now) == 1 ? "" : "s",
                               in ? "incoming" : "outgoing", cap);
    return 0;
}

int agent_admission_enter(struct agent *ag, const char *operation, struct ferry_error *err)
{
    int r;

    pthread_mutex_lock(&admission_lock);
    r = check_locked(ag, operation, err);
    if (r < 0)
        pthread_mutex_unlock(&admission_lock);
    return r;
}

void agent_admission_leave(void)
{
    pthread_mutex_unlock(&admission_lock);
}

int agent_admission_check(struct agent *ag, const char *operation, struct ferry_error *err)
{
    int r = agent_admission_enter(ag, operation, err);

    if (r == 0)
        agent_admission_leave();
    return r;
}

int agent_admission_check_start(struct ferry_error *err)
{
    if (maintenance)
        return ferry_error_set(err, EAGAIN,
                               "this agent is in maintenance mode: it starts no guests "
                               "(ferryctl maintenance off)");
    return 0;
}

int agent_admission_set_maintenance(struct agent *ag, bool on, struct ferry_error *err)
{
    int r = 0;

    (void)ag;
    pthread_mutex_lock(&admission_lock);
    if (on && !maintenance) {
        static const char note[] = "ferryctl maintenance on: no incoming migrations, no new "
                                   "guests until `ferryctl maintenance off`\n";
        r = ferry_write_file_atomic(maintenance_path, note, sizeof note - 1, 0644, err);
    } else if (!on && maintenance && unlink(maintenance_path) < 0 && errno != ENOENT) {
        r = ferry_error_set_errno(err, errno, "cannot remove '%s'", maintenance_path);
    }
    if (r == 0)
        maintenance = on;
    pthread_mutex_unlock(&admission_lock);
    if (r == 0)
        ferry_info("ferryd: maintenance mode %s", on ? "on" : "off");
    return r;
}

void agent_admission_get(struct agent_admission_info *ret)
{
    memset(ret, 0, sizeof *ret);
    ret->maintenance = maintenance;
    ret->max_outgoing = max_out;
    ret->max_incoming = max_in;
}

void agent_admission_get_counts(struct agent *ag, struct agent_admission_info *ret)
{
    agent_admission_get(ret);
    if (ag)
        count_jobs(ag, &ret->outgoing, &ret->incoming);
}
