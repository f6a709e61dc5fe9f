/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Storage that converges inside the downtime the caller allowed (issue
 * 15), the QEMU driver's side: the pause budget and its split between
 * RAM's last stage and the final disk pass, the storage session's
 * convergence options (the devices auto-converge throttles), and the
 * convergence figures of a disk's job.info line. The measuring, the
 * prediction and the throttle itself are mirror/sync-converge.c's.
 *
 * The caller's --max-downtime (else QEMU's downtime-limit when the
 * migration began, 300 ms by default) is the whole pause. Before RAM
 * moves, a disk converges when its predicted final pass fits half of it;
 * while RAM moves, QEMU's downtime-limit is what the slowest disk's
 * predicted final pass leaves of the budget, so QEMU pauses the guest only
 * when both parts fit. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "mir-sync.h"
#include "qemu-priv.h"

#define QMP_TIMEOUT_MS 30000

#define DEFAULT_DOWNTIME_MS 300u /* QEMU's downtime-limit default */

void qemu_converge_start_downtime(struct mig_ctx *m)
{
    struct qemu_dom *p = m->dom->priv;
    uint64_t ms = m->params->max_downtime_ms;

    if (!ms && qemu_migrate_get_param(m->agent, m->dom, HV_MIG_MAX_DOWNTIME, &ms, NULL) < 0)
        ms = DEFAULT_DOWNTIME_MS;
    pthread_mutex_lock(&p->mig_lock);
    p->mig_downtime_ms = ms ? ms : DEFAULT_DOWNTIME_MS;
    pthread_mutex_unlock(&p->mig_lock);
}

/* Whether RAM rounds beyond the one QEMU needs lose guest writes. QEMU
 * before 9.0 under TCG clears the migration dirty bits at each RAM sync
 * without resetting the TLB entries that already marked the page dirty
 * (fixed upstream by "physmem: Fix migration dirty bitmap coherency with
 * TCG memory access", 03bfc2188f, March 2024): a page written after a sync
 * while the vCPU still runs is not sent again. Shrinking downtime-limit
 * makes QEMU run such rounds until the disks fit, and the destination
 * then resumes the guest with stale pages: the Linux test guest died in
 * 14 of 15 ferry-engine hops of tests/e2e/test_switchover_ram.py (1-70
 * pages differed between the paused source and destination), and in none
 * of 10 with the limit left at the budget (docs/known-issues.md). Under KVM the
 * sync re-arms the write protection, and nothing is lost. */
static bool ram_rounds_lose_writes(struct qmp_conn *qmp)
{
    int major = 0;

    if (qemu_drv.kvm || qemu_drv.tcg_ram_rounds)
        return false;
    qmp_conn_version(qmp, &major, NULL, NULL);
    return major < 9;
}

void qemu_converge_downtime_split(struct mig_ctx *m, struct qmp_conn *qmp, uint64_t *applied)
{
    struct qemu_dom *p = m->dom->priv;
    uint64_t budget, pred, want;
    json_object *args;

    pthread_mutex_lock(&p->mig_lock);
    budget = p->mig_downtime_ms;
    pthread_mutex_unlock(&p->mig_lock);
    pred = qemu_storage_predicted_ms(p);
    /* QEMU takes 0 as "switch only when nothing is left", which a
     * running guest never reaches: 1 ms is the floor. Where extra rounds
     * lose writes, the whole budget stays RAM's: the final disk pass may
     * then overrun it, which costs time, not data. */
    if (ram_rounds_lose_writes(qmp))
        want = budget;
    else
        want = pred >= budget ? 1 : budget - pred;
    if (want == *applied)
        return;
    args = json_object_new_object();
    json_object_object_add(args, "downtime-limit", json_object_new_int64((int64_t)want));
    if (qmp_conn_execute(qmp, "migrate-set-parameters", args, QMP_TIMEOUT_MS, NULL, NULL) == 0) {
        ferry_debug("migration '%s': downtime-limit %" PRIu64 " ms (budget %" PRIu64
                    ", storage predicted %" PRIu64 ")",
                    m->dom->def->name, want, budget, pred);
        *applied = want;
    }
}

/* The session's convergence options and each disk's device for
 * auto-converge's throttle: the device holding the block backend, which
 * for virtio-blk-pci (id = target, qemu-cmdline.c) is its virtio-backend
 * child, for IDE/SATA the device itself. DEVS holds the names until
 * mir_sync_new copied them. */
void qemu_converge_opts(const struct mig_ctx *m, struct mir_sync_disk *disks, size_t n,
                        char (*devs)[80], struct mir_sync_opts *opts)
{
    struct qemu_dom *p = m->dom->priv;

    pthread_mutex_lock(&p->mig_lock);
    opts->budget_ms = (unsigned)(p->mig_downtime_ms / 2);
    pthread_mutex_unlock(&p->mig_lock);
    if (opts->budget_ms == 0)
        opts->budget_ms = 1;
    opts->auto_converge = (m->params->flags & MIG_AUTO_CONVERGE_STORAGE) != 0;
    for (size_t i = 0; i < n; i++) {
        const char *bus = "virtio";
        for (size_t k = 0; k < m->dom->def->n_disks; k++)
            if (strcmp(m->dom->def->disks[k].target, disks[i].target) == 0)
                bus = m->dom->def->disks[k].bus;
        if (strcmp(bus, "sata") == 0 || strcmp(bus, "ide") == 0)
            snprintf(devs[i], sizeof devs[i], "%s", disks[i].target);
        else
            snprintf(devs[i], sizeof devs[i], "/machine/peripheral/%s/virtio-backend",
                     disks[i].target);
        disks[i].device = devs[i];
    }
}

/* Engine 'ferry': the disk's convergence figures (mirror/sync-converge.c)
 * on its job.info line: the guest's dirty rate and the copy rate of the
 * last passes (bytes/s), the write cap (bytes/s, 0: none) and the final
 * pass's predicted length (ms; -1 while it cannot be predicted). */
void qemu_converge_line(json_object *o, const struct mir_progress *pr)
{
    json_object_object_add(o, "dirty_rate", json_object_new_int64((int64_t)pr->dirty_rate));
    json_object_object_add(o, "copy_rate", json_object_new_int64((int64_t)pr->copy_rate));
    json_object_object_add(o, "throttle", json_object_new_int64((int64_t)pr->throttle));
    json_object_object_add(
        o, "predicted_downtime",
        json_object_new_int64(pr->predicted_ms > INT32_MAX ? -1 : (int64_t)pr->predicted_ms));
}
