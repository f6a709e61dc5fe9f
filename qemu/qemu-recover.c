/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's part of recovering a migration an agent restart
 * interrupted (libvirt's qemuProcessRecoverJob): the driver state the job
 * record keeps, the disk targets Prepare will create, and what the lost
 * in-memory state would have undone in QEMU, found by name instead (the
 * "ferry-" prefix of every bitmap, export, node and block job the engines
 * create). The rules themselves are the core's (agent/recover.c). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "json.h"
#include "mir-sync.h"
#include "qemu-priv.h"

#define REC_QMP_TIMEOUT_MS 30000
#define REC_CANCEL_WAIT_MS 30000 /* a cancelled QEMU migration has ended by then */
#define REC_JOB_WAIT_MS    10000 /* a force-cancelled block job is gone by then */

static json_object *jprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_object *jprintf(const char *fmt, ...)
{
    _cleanup_free_ char *s = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return json_object_new_string(s ? s : "");
}

static bool ferry_named(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* DOM's live QMP connection (borrowed), or NULL. */
static struct qmp_conn *live_qmp(struct agent_domain *dom)
{
    struct qemu_dom *p = dom->priv;

    return p && p->qmp && qmp_conn_alive(p->qmp) ? p->qmp : NULL;
}

/* ---- the job record ---- */

void qemu_job_record_save(struct agent *ag, struct agent_domain *dom, json_object *record)
{
    struct qemu_dom *p = dom->priv;
    const struct domain_def *def = dom->def;
    json_object *bitmaps = json_object_new_array();
    json_object *exports = json_object_new_array();
    json_object *throttles = json_object_new_array();
    bool source;

    (void)ag;
    struct hv_job_facts job;
    hv_job_facts(dom, &job);
    source = job.outgoing;
    /* Set during Perform (a --timeout suspend, the switchover); the job's
     * claim keeps it still while we read it. */
    json_object_object_add(record, "we_paused", json_object_new_boolean(p && p->mig_we_paused));
    /* The names the engines give what they add to QEMU for DEF's disks
     * (mirror/sync.c, qemu-storage.c). For the operator reading a record:
     * the recovery itself sweeps every "ferry-" name. */
    for (size_t i = 0; i < def->n_disks; i++) {
        const char *t = def->disks[i].target;
        if (source) {
            json_object_array_add(bitmaps, jprintf("ferry-mir-%s", t));
            json_object_array_add(exports, jprintf("ferry-src-%s", t));
            json_object_array_add(exports, jprintf("ferry-dirty-%s", t));
            json_object_array_add(exports, jprintf("ferry-final-%s", t));
            json_object_array_add(throttles, jprintf(MIR_THROTTLE_GROUP_PREFIX "%s", t));
        } else {
            json_object_array_add(exports, jprintf("ferry-in-%s", t));
        }
    }
    json_object_object_add(record, "bitmaps", bitmaps);
    json_object_object_add(record, "exports", exports);
    /* Disk auto-converge's write caps (mirror/sync-converge.c): the sweep
     * finds them by their group name whatever the record says. */
    json_object_object_add(record, "throttles", throttles);
}

void qemu_job_record_restore(struct agent *ag, struct agent_domain *dom, json_object *record)
{
    struct qemu_dom *p = qemu_priv(ag, dom);
    json_object *v = NULL;

    /* What Begin and Perform knew: Confirm resumes by it. */
    struct hv_job_facts job;
    hv_job_facts(dom, &job);
    p->mig_was_running = job.was_running;
    /* Past the post-copy switch, as the record says: the driver's steps
     * treat the guest as switched whatever QEMU says now (a source QEMU
     * whose stream "completed" or was cancelled included). */
    pthread_mutex_lock(&p->mig_lock);
    p->mig_postcopy_active = job.postcopy;
    pthread_mutex_unlock(&p->mig_lock);
    p->mig_we_paused =
        record && json_object_object_get_ex(record, "we_paused", &v) && json_object_get_boolean(v);
}

/* ---- what the lost driver state would have undone in QEMU ---- */

/* QEMU's outgoing migration status ("none" when it never migrated). */
static void migration_status(struct qmp_conn *qmp, char *buf, size_t len)
{
    _cleanup_(json_object_putp) json_object *q = NULL;
    const char *st;

    snprintf(buf, len, "unknown");
    if (qmp_conn_execute(qmp, "query-migrate", NULL, REC_QMP_TIMEOUT_MS, &q, NULL) < 0)
        return;
    st = ferry_json_str(q, "status");
    snprintf(buf, len, "%s", st ? st : "none");
}

static bool migration_running(const char *status)
{
    static const char *const done[] = {"none", "completed", "failed", "cancelled", "unknown"};

    for (size_t i = 0; i < ARRAY_SIZE(done); i++)
        if (strcmp(done[i], status) == 0)
            return false;
    return true;
}

bool qemu_migrate_stream_completed(struct agent *ag, struct agent_domain *dom)
{
    struct qmp_conn *qmp = live_qmp(dom);
    char st[32] = "none";

    (void)ag;
    if (qmp)
        migration_status(qmp, st, sizeof st);
    return strcmp(st, "completed") == 0;
}

/* Cancels QEMU's migration if one runs and waits (bounded) until it has
 * ended. */
static void cancel_migration(struct qmp_conn *qmp, const char *name)
{
    int64_t deadline = ferry_now_ms() + REC_CANCEL_WAIT_MS;
    char st[32];

    migration_status(qmp, st, sizeof st);
    if (!migration_running(st))
        return;
    ferry_info("domain '%s': cancelling QEMU's migration (status %s)", name, st);
    qmp_conn_execute(qmp, "migrate_cancel", NULL, REC_QMP_TIMEOUT_MS, NULL, NULL);
    while (migration_running(st) && ferry_now_ms() < deadline) {
        usleep(50 * 1000);
        migration_status(qmp, st, sizeof st);
    }
    if (migration_running(st))
        ferry_warn("domain '%s': QEMU's migration is still '%s' after migrate_cancel", name, st);
}

static json_object *query(struct qmp_conn *qmp, const char *cmd, json_object *args)
{
    json_object *r = NULL;

    if (qmp_conn_execute(qmp, cmd, args, REC_QMP_TIMEOUT_MS, &r, NULL) < 0 ||
        !json_object_is_type(r, json_type_array)) {
        json_object_put(r);
        return NULL;
    }
    return r;
}

static size_t ferry_block_jobs(struct qmp_conn *qmp, bool cancel)
{
    _cleanup_(json_object_putp) json_object *jobs = query(qmp, "query-block-jobs", NULL);
    size_t n = 0;

    for (size_t i = 0; jobs && i < json_object_array_length(jobs); i++) {
        const char *dev = ferry_json_str(json_object_array_get_idx(jobs, i), "device");
        if (!ferry_named(dev, "ferry-"))
            continue;
        n++;
        if (cancel) {
            json_object *a = json_object_new_object();
            json_object_object_add(a, "device", json_object_new_string(dev));
            json_object_object_add(a, "force", json_object_new_boolean(true));
            qmp_conn_execute(qmp, "block-job-cancel", a, REC_QMP_TIMEOUT_MS, NULL, NULL);
        }
    }
    return n;
}

/* Removes every ferry block job, export, NBD client node and dirty bitmap
 * from the QEMU behind QMP; stops its NBD server when ferry had exports
 * there or STOP_SERVER. */
static void sweep_storage(struct qmp_conn *qmp, const char *name, bool stop_server,
                          json_object *removed)
{
    _cleanup_(json_object_putp) json_object *exports = NULL;
    _cleanup_(json_object_putp) json_object *nodes = NULL;
    json_object *args;
    int64_t deadline;
    bool had_exports = false, found = false;

    /* Block jobs first: a job holds its target node. */
    if (ferry_block_jobs(qmp, true) > 0) {
        deadline = ferry_now_ms() + REC_JOB_WAIT_MS;
        while (ferry_block_jobs(qmp, false) > 0 && ferry_now_ms() < deadline)
            usleep(50 * 1000);
        json_object_array_add(removed, json_object_new_string("block-jobs"));
    }
    /* Exports next: an exported bitmap is locked until its export goes. */
    exports = query(qmp, "query-block-exports", NULL);
    for (size_t i = 0; exports && i < json_object_array_length(exports); i++) {
        const char *id = ferry_json_str(json_object_array_get_idx(exports, i), "id");
        struct ferry_error err = {0};

        if (!ferry_named(id, "ferry-"))
            continue;
        had_exports = true;
        if (mir_export_del(qmp, id, &err) < 0)
            ferry_warn("domain '%s': removing export '%s': %s", name, id, ferry_error_msg(&err));
        else
            json_object_array_add(removed, jprintf("export:%s", id));
    }
    args = json_object_new_object();
    json_object_object_add(args, "flat", json_object_new_boolean(true));
    nodes = query(qmp, "query-named-block-nodes", args);
    for (size_t i = 0; nodes && i < json_object_array_length(nodes); i++) {
        json_object *n = json_object_array_get_idx(nodes, i), *bitmaps = NULL;
        const char *node = ferry_json_str(n, "node-name");
        struct ferry_error err = {0};

        if (!node)
            continue;
        if (ferry_named(node, "ferry-mig-")) {
            /* engine 'qemu': the NBD client node of the mirror */
            json_object *a = json_object_new_object();
            json_object_object_add(a, "node-name", json_object_new_string(node));
            if (qmp_conn_execute(qmp, "blockdev-del", a, REC_QMP_TIMEOUT_MS, NULL, &err) < 0)
                ferry_warn("domain '%s': %s", name, ferry_error_msg(&err));
            else
                json_object_array_add(removed, jprintf("node:%s", node));
            found = true;
            continue;
        }
        if (!json_object_object_get_ex(n, "dirty-bitmaps", &bitmaps) ||
            !json_object_is_type(bitmaps, json_type_array))
            continue;
        for (size_t k = 0; k < json_object_array_length(bitmaps); k++) {
            const char *bm = ferry_json_str(json_object_array_get_idx(bitmaps, k), "name");
            if (!ferry_named(bm, "ferry-mir-"))
                continue;
            ferry_error_clear(&err);
            if (mir_bitmap_remove(qmp, node, bm, &err) < 0)
                ferry_warn("domain '%s': removing bitmap '%s': %s", name, bm,
                           ferry_error_msg(&err));
            else
                json_object_array_add(removed, jprintf("bitmap:%s", bm));
            found = true;
        }
    }
    /* The engines' NBD server (mirror/sync.c, the destination's exports):
     * nothing else starts one in a QEMU ferry runs. */
    if (had_exports || found || stop_server)
        qmp_conn_execute(qmp, "nbd-server-stop", NULL, REC_QMP_TIMEOUT_MS, NULL, NULL);
}

/* Removes the write caps disk auto-converge left on the guest's devices
 * (a throttle group named MIR_THROTTLE_GROUP_PREFIX...): an agent that
 * died mid-migration must not leave the guest slowed down for good. */
static void sweep_throttles(struct qmp_conn *qmp, const char *name, json_object *removed)
{
    _cleanup_(json_object_putp) json_object *blocks = query(qmp, "query-block", NULL);

    for (size_t i = 0; blocks && i < json_object_array_length(blocks); i++) {
        json_object *b = json_object_array_get_idx(blocks, i), *ins = NULL;
        const char *qdev = ferry_json_str(b, "qdev");
        struct ferry_error err = {0};

        if (!json_object_object_get_ex(b, "inserted", &ins) || !qdev ||
            !ferry_named(ferry_json_str(ins, "group"), MIR_THROTTLE_GROUP_PREFIX))
            continue;
        json_object *a = json_object_new_object();
        json_object_object_add(a, "id", json_object_new_string(qdev));
        static const char *const keys[] = {"bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            json_object_object_add(a, keys[k], json_object_new_int64(0));
        if (qmp_conn_execute(qmp, "block_set_io_throttle", a, REC_QMP_TIMEOUT_MS, NULL, &err) < 0)
            ferry_warn("domain '%s': removing the write cap on '%s': %s", name, qdev,
                       ferry_error_msg(&err));
        else
            json_object_array_add(removed, jprintf("throttle:%s", qdev));
    }
}

void qemu_migrate_sweep(struct agent *ag, struct agent_domain *dom, unsigned flags,
                        json_object *removed)
{
    struct qmp_conn *qmp = live_qmp(dom);

    (void)ag;
    if (!qmp)
        return;
    if (flags & HV_SWEEP_CANCEL)
        cancel_migration(qmp, dom->def->name);
    sweep_storage(qmp, dom->def->name, (flags & HV_SWEEP_SERVER) != 0, removed);
    sweep_throttles(qmp, dom->def->name, removed);
    /* --tls: last, once the NBD server and client nodes that used the
     * credentials are gone. */
    if (qemu_tls_teardown(qmp))
        json_object_array_add(removed, json_object_new_string("tls-creds:" QEMU_TLS_CREDS_ID));
}

/* The unix sockets of NBD servers that sessions of an earlier agent
 * process started (mirror/sync.c: RUN/mir-PID-N.sock). No session of this
 * process exists yet; the servers themselves were stopped by the sweeps. */
void qemu_recover_host(struct agent *ag)
{
    _cleanup_(closedirp) DIR *d = opendir(qemu_socket_dir());
    char mine[32];
    struct dirent *de;

    snprintf(mine, sizeof mine, "mir-%d-", (int)getpid());
    while (d && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        _cleanup_free_ char *path = NULL;

        if (strncmp(de->d_name, "mir-", 4) != 0 || strncmp(de->d_name, mine, strlen(mine)) == 0 ||
            len < 5 || strcmp(de->d_name + len - 5, ".sock") != 0)
            continue;
        path = ferry_strdup_printf("%s/%s", qemu_socket_dir(), de->d_name);
        unlink(path);
    }
    (void)ag;
}
