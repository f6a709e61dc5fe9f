/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Post-copy in the QEMU driver (libvirt's VIR_MIGRATE_POSTCOPY): when the
 * switch is asked of QEMU, how each side learns that it happened, and what
 * becomes of a guest whose migration failed after it: kept, never resumed
 * twice and never killed where it may be the only whole copy. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include "json-cleanup.h"
#include "qemu-priv.h"

#define QMP_TIMEOUT_MS 30000

/* Post-copy needs Confirm: the source QEMU must keep serving pages after
 * Perform returns and until Finish saw the destination complete; v2 and
 * v1 stop the source guest at the end of Perform. */
int qemu_postcopy_check_version(struct mig_ctx *m, struct ferry_error *err)
{
    if ((m->params->flags & MIG_POSTCOPY) && m->version < 3)
        return ferry_error_set(err, ENOTSUP,
                               "--postcopy needs migration protocol v3 (this migration uses v%d: "
                               "without Confirm the source would stop while it still holds "
                               "guest memory)",
                               m->version);
    return 0;
}

/* ---- Post-copy (libvirt's VIR_MIGRATE_POSTCOPY) ----
 *
 * The switch: QEMU stops the guest here, reaches pre-switchover (so the
 * final disk pass runs exactly as for a pre-copy completion: QEMU 7.2's
 * postcopy_start pauses there before it inactivates the disks), and after
 * migrate-continue reports postcopy-active. Perform returns then, as
 * libvirt's does; Finish resumes the guest on the destination while this
 * QEMU still serves the pages not sent yet, and waits until the
 * destination has them all; Confirm stops this QEMU. A failure after the
 * switch never resumes the source and never kills a living destination:
 * both keep the guest (reason "postcopy-failed"; see postcopy_keep). */

static int postcopy_request(struct qmp_conn *qmp, struct ferry_error *err)
{
    return qmp_conn_execute(qmp, "migrate-start-postcopy", NULL, QMP_TIMEOUT_MS, NULL, err);
}

/* Perform's poll tick: asks QEMU for the switch once it is wanted, by
 * migrate.start_postcopy made before the RAM migration ran, or by
 * --postcopy-after-precopy once the first full RAM pass is over (QEMU then
 * synced its dirty bitmap a second time: virsh's iteration 2). *ASKED:
 * QEMU was asked already. */
void qemu_postcopy_tick(struct mig_ctx *m, struct qmp_conn *qmp, bool *asked)
{
    struct qemu_dom *p = qemu_mig_priv(m);
    struct ferry_error e = {0};
    bool want;

    if (!(m->params->flags & MIG_POSTCOPY) || *asked)
        return;
    uint64_t iteration = hv_job_stats_lock(m)->memory_iteration;
    hv_job_stats_unlock(m);
    pthread_mutex_lock(&p->mig_lock);
    if (m->params->postcopy_after_precopy && iteration >= 2)
        p->mig_postcopy_wanted = true;
    want = p->mig_postcopy_wanted;
    pthread_mutex_unlock(&p->mig_lock);
    if (!want)
        return;
    *asked = true;
    /* In the job record before QEMU hears of it: an agent that dies in
     * between must not resume a guest that may run on the destination. */
    hv_job_mark_postcopy(m->agent, m->dom);
    if (postcopy_request(qmp, &e) < 0)
        ferry_warn("migration of '%s': migrate-start-postcopy: %s", m->dom->def->name,
                   ferry_error_msg(&e));
    else
        ferry_debug("migration of '%s': post-copy requested", m->dom->def->name);
    ferry_error_clear(&e);
}

int qemu_migrate_start_postcopy(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    struct qemu_dom *p = dom->priv;
    struct qmp_conn *qmp = qemu_dom_qmp(dom, err);
    bool running;

    if (!p || !qmp)
        return -ENOTCONN;
    pthread_mutex_lock(&p->mig_lock);
    if (p->mig_postcopy_active) {
        pthread_mutex_unlock(&p->mig_lock);
        return ferry_error_set(err, EALREADY, "the migration of '%s' is in post-copy already",
                               dom->def->name);
    }
    p->mig_postcopy_wanted = true;
    running = p->mig_ram_running;
    pthread_mutex_unlock(&p->mig_lock);
    /* Before the RAM migration runs (a disk copy converging), Perform
     * asks QEMU as soon as it started it (and records it then). */
    if (!running)
        return 0;
    hv_job_mark_postcopy(ag, dom);
    return postcopy_request(qmp, err);
}

bool qemu_postcopy_status(const char *status)
{
    return strncmp(status, "postcopy-", 9) == 0;
}

/* Either side: the guest was switched to the destination (post-copy
 * started), so this side's guest must neither be resumed nor killed
 * here. From our own record, else from QEMU (an agent that restarted). */
bool qemu_postcopy_switched(struct mig_ctx *m)
{
    struct qemu_dom *p = qemu_mig_priv(m);
    char status[64] = "";
    bool sw;

    if (!(m->params->flags & MIG_POSTCOPY) || !p)
        return false;
    pthread_mutex_lock(&p->mig_lock);
    sw = p->mig_postcopy_active;
    pthread_mutex_unlock(&p->mig_lock);
    if (sw || !p->qmp || !qmp_conn_alive(p->qmp))
        return sw;
    /* "completed" on the destination may be a post-copy that ended: its
     * guest may be the only whole one, so it is kept too. */
    return qemu_migrate_query_status(p->qmp, status, sizeof status, NULL, 0, NULL) == 0 &&
           (qemu_postcopy_status(status) || (m->dom->incoming && strcmp(status, "completed") == 0));
}

/* A migration failed after the switch: keep the guest here, its QEMU
 * alive, and say so (domstate reason "postcopy-failed"). The source's
 * stays paused. The destination's is not paused, as libvirt does not
 * (its "running, postcopy-failed"): its vCPUs wait inside page faults for
 * pages that will not come, and QEMU's "stop" would wait for them forever,
 * with its monitor hung meanwhile. */
void qemu_postcopy_keep(struct mig_ctx *m, const struct ferry_error *why, bool unknown)
{
    struct qemu_dom *p = qemu_mig_priv(m);
    json_object *d = json_object_new_object();

    if (!m->dom->incoming && p->qmp && qmp_conn_alive(p->qmp))
        qmp_conn_execute(p->qmp, "stop", NULL, QMP_TIMEOUT_MS, NULL, NULL);
    pthread_mutex_lock(&p->mig_lock);
    p->postcopy_failed = true;
    p->postcopy_unknown = unknown;
    pthread_mutex_unlock(&p->mig_lock);
    p->mig_we_paused = false;
    json_object_object_add(d, "side",
                           json_object_new_string(m->dom->incoming ? "destination" : "source"));
    json_object_object_add(d, "outcome", json_object_new_string(unknown ? "unknown" : "failed"));
    if (why && ferry_error_is_set(why))
        json_object_object_add(d, "error", json_object_new_string(ferry_error_msg(why)));
    hv_emit_event(m->agent, "migration-postcopy-failed", m->dom->def->name, d);
}

/* Destination, post-copy: the guest runs here already; waits until the
 * source has sent every page (bounded below the orchestrator's step
 * timeout). */
#define POSTCOPY_FINISH_TIMEOUT_MS 270000

int qemu_postcopy_wait_incoming(struct mig_ctx *m, struct ferry_error *err)
{
    struct qemu_dom *p = qemu_mig_priv(m);
    int64_t deadline = ferry_now_ms() + POSTCOPY_FINISH_TIMEOUT_MS;
    char status[64], errdesc[512];
    int r;

    for (;;) {
        if ((r = qemu_migrate_query_status(p->qmp, status, sizeof status, errdesc, sizeof errdesc,
                                           err)) < 0)
            return r;
        if (strcmp(status, "completed") == 0)
            return 0;
        if (strcmp(status, "postcopy-active") != 0)
            return ferry_error_set(err, EIO, "incoming migration %s%s%s", status,
                                   errdesc[0] ? ": " : "", errdesc);
        if (ferry_now_ms() > deadline)
            return ferry_error_set(err, ETIMEDOUT, "the post-copy phase did not end within %d s",
                                   POSTCOPY_FINISH_TIMEOUT_MS / 1000);
        usleep(50 * 1000);
    }
}

/* Source, post-copy, the destination completed: QEMU here finishes the
 * stream and reports its final figures (total time, downtime) for the
 * job statistics. Bounded; the guest is whole on the destination anyway. */
void qemu_postcopy_wait_outgoing(struct mig_ctx *m)
{
    struct qemu_dom *p = qemu_mig_priv(m);
    int64_t deadline = ferry_now_ms() + 10000;
    char status[64] = "";

    while (p->qmp && qmp_conn_alive(p->qmp) && ferry_now_ms() < deadline) {
        if (qemu_migrate_poll_stats(m, p->qmp, status, sizeof status, NULL, 0) < 0 ||
            strcmp(status, "completed") == 0 || !qemu_postcopy_status(status))
            return;
        usleep(20 * 1000);
    }
}

/* Source, a cancelled Confirm after the switch: QEMU's outgoing status
 * into ST ("" when it cannot say), after waiting (bounded) while pages
 * still flow. */
#define POSTCOPY_CONFIRM_WAIT_MS 10000

void qemu_postcopy_wait_active(struct mig_ctx *m, char *st, size_t len)
{
    struct qemu_dom *p = qemu_mig_priv(m);
    int64_t deadline = ferry_now_ms() + POSTCOPY_CONFIRM_WAIT_MS;

    st[0] = '\0';
    while (p && p->qmp && qmp_conn_alive(p->qmp)) {
        if (qemu_migrate_query_status(p->qmp, st, len, NULL, 0, NULL) < 0) {
            st[0] = '\0';
            return;
        }
        if (strcmp(st, "postcopy-active") != 0 || ferry_now_ms() > deadline)
            return;
        usleep(50 * 1000);
    }
}
