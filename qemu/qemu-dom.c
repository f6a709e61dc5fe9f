/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's per-domain state (struct qemu_dom, qemu-priv.h): made
 * on first use, with the paths of the guest's run files. The lowest file
 * of the driver: every other one may use it. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "qemu-priv.h"
#include "util.h"

struct qemu_dom *qemu_priv(struct agent *ag, struct agent_domain *dom)
{
    struct qemu_dom *p = dom->priv;

    if (!p) {
        p = ferry_calloc(1, sizeof *p);
        p->ag = ag;
        p->dom = dom;
        p->pid = -1;
        pthread_mutex_init(&p->mig_lock, NULL);
        pthread_rwlock_init(&p->handover_lock, NULL);
        dom->priv = p;
    }
    snprintf(p->qmp_path, sizeof p->qmp_path, "%s/%s.qmp", ag->run_dir, dom->def->name);
    snprintf(p->log_path, sizeof p->log_path, "%s/%s.log", ag->run_dir, dom->def->name);
    snprintf(p->serial_path, sizeof p->serial_path, "%s/%s.serial", ag->run_dir, dom->def->name);
    return p;
}

struct qmp_conn *qemu_dom_qmp(struct agent_domain *dom, struct ferry_error *err)
{
    struct qemu_dom *p = dom->priv;
    struct qmp_conn *q = p ? __atomic_load_n(&p->qmp, __ATOMIC_SEQ_CST) : NULL;

    if (!q || !dom->active) {
        ferry_error_set(err, ENOTCONN, "domain '%s' is not running", dom->def->name);
        return NULL;
    }
    return q;
}
