/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A running guest's state as QEMU reports it, and the verbs that change or
 * read it without restarting it: domstate, suspend, resume, dominfo, the
 * monitor pass-through. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "ferry-config.h"
#include "json-cleanup.h"
#include "qemu-cmdline.h"
#include "qemu-priv.h"

#define QEMU_QMP_TIMEOUT_MS 30000

int qemu_query_status(struct qmp_conn *qmp, char *buf, size_t len, bool *ret_running,
                      struct ferry_error *err)
{
    _cleanup_(json_object_putp) json_object *ret = NULL;
    json_object *st = NULL, *running = NULL;
    int r;

    r = qmp_conn_execute(qmp, "query-status", NULL, QEMU_QMP_TIMEOUT_MS, &ret, err);
    if (r < 0)
        return r;
    if (!json_object_object_get_ex(ret, "status", &st) ||
        !json_object_object_get_ex(ret, "running", &running))
        return ferry_error_set(err, EPROTO, "query-status: unexpected reply");
    snprintf(buf, len, "%s", json_object_get_string(st));
    if (ret_running)
        *ret_running = json_object_get_boolean(running);
    return 0;
}

int qemu_domain_suspend(struct agent *ag, struct agent_domain *dom, bool *ret_changed,
                        struct ferry_error *err)
{
    struct qmp_conn *qmp = qemu_dom_qmp(dom, err);
    struct qemu_dom *p = dom->priv;
    char status[64];
    bool running = false;
    int r;

    (void)ag;
    *ret_changed = false;
    if (!qmp)
        return -ENOTCONN;
    if ((r = qemu_query_status(qmp, status, sizeof status, &running, err)) < 0)
        return r;
    if (!running)
        return 0; /* already paused, whatever paused it: libvirt's no-op */
    if (__atomic_load_n(&p->postcopy_failed, __ATOMIC_SEQ_CST))
        /* Its vCPUs wait inside page faults: "stop" would never end. */
        return ferry_error_set(err, EBUSY,
                               "domain '%s' failed in post-copy migration: its vCPUs wait for "
                               "memory that will not come and cannot be paused (destroy it)",
                               dom->def->name);
    /* Set before "stop": the STOP event may arrive before its reply. */
    __atomic_store_n(&p->user_paused, true, __ATOMIC_SEQ_CST);
    r = qmp_conn_execute(qmp, "stop", NULL, QEMU_QMP_TIMEOUT_MS, NULL, err);
    if (r < 0) {
        __atomic_store_n(&p->user_paused, false, __ATOMIC_SEQ_CST);
        return r;
    }
    /* Suspended during an outgoing migration: if the migration fails, the
     * guest stays paused as asked (Confirm resumes only a guest that ran
     * when the migration began or that ferry paused). */
    p->mig_was_running = false;
    p->mig_we_paused = false;
    *ret_changed = true;
    return 0;
}

/* QEMU run states a user may resume from; the others belong to a
 * migration (inmigrate, finish-migrate, postmigrate: the guest may run
 * elsewhere now), to QEMU's start (prelaunch) or to the guest (shutdown,
 * suspended: S3 needs a wakeup, not "cont"). */
static bool resumable(const char *status)
{
    static const char *const ok[] = {"paused", "io-error", "guest-panicked", "debug"};

    for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
        if (strcmp(status, ok[i]) == 0)
            return true;
    return false;
}

int qemu_domain_resume(struct agent *ag, struct agent_domain *dom, bool *ret_changed,
                       struct ferry_error *err)
{
    struct qmp_conn *qmp = qemu_dom_qmp(dom, err);
    char status[64];
    bool running = false;
    int r;

    (void)ag;
    *ret_changed = false;
    if (!qmp)
        return -ENOTCONN;
    if ((r = qemu_query_status(qmp, status, sizeof status, &running, err)) < 0)
        return r;
    if (running)
        return 0; /* libvirt's no-op */
    if (__atomic_load_n(&((struct qemu_dom *)dom->priv)->postcopy_failed, __ATOMIC_SEQ_CST))
        return ferry_error_set(err, EBUSY,
                               "domain '%s' is paused after a failed post-copy migration: its "
                               "memory is split between two hosts, resume refused (destroy it)",
                               dom->def->name);
    if (!resumable(status))
        return ferry_error_set(
            err, EBUSY, "domain '%s' is paused in QEMU state '%s'%s: resume refused",
            dom->def->name, status,
            strcmp(status, "postmigrate") == 0 || strcmp(status, "finish-migrate") == 0 ||
                    strcmp(status, "inmigrate") == 0
                ? " (a migration paused it)"
                : "");
    if ((r = qmp_conn_execute(qmp, "cont", NULL, QEMU_QMP_TIMEOUT_MS, NULL, err)) < 0)
        return r;
    __atomic_store_n(&((struct qemu_dom *)dom->priv)->run_reason, "unpaused", __ATOMIC_SEQ_CST);
    *ret_changed = true;
    return 0;
}

/* CPU time of PID (user + system) in ns, from /proc; 0 when unknown. */
static uint64_t cpu_time_ns(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;
    const char *rp;
    long tck = sysconf(_SC_CLK_TCK);
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0 || tck <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields count from
     * the last ')'. utime and stime are fields 14 and 15. */
    rp = strrchr(buf, ')');
    if (!rp ||
        sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (uint64_t)(ut + st) * (1000000000ull / (uint64_t)tck);
}

void qemu_domain_info(struct agent *ag, struct agent_domain *dom, json_object *info)
{
    struct qemu_dom *p = dom->priv;
    pid_t pid = dom->active && p && p->pid > 0 ? p->pid : 0;

    (void)ag;
    json_object_object_add(info, "pid", json_object_new_int64(pid));
    if (pid)
        json_object_object_add(info, "cpu_time", json_object_new_int64((int64_t)cpu_time_ns(pid)));
}

void qemu_handover_set(struct qemu_dom *p, bool on)
{
    pthread_rwlock_wrlock(&p->handover_lock);
    p->mig_handing_over = on;
    pthread_rwlock_unlock(&p->handover_lock);
}

static int domain_monitor(struct agent_domain *dom, const char *command, bool hmp,
                          char **ret_output, struct ferry_error *err);

int qemu_domain_monitor(struct agent *ag, struct agent_domain *dom, const char *command, bool hmp,
                        char **ret_output, struct ferry_error *err)
{
    struct qemu_dom *p = dom->priv;
    int r;

    (void)ag;
    /* Only HMP can write an image's data from the monitor (qemu-io),
     * directly or through QMP's human-monitor-command. Anything else
     * passes without the lock: operators and recovery inspect a
     * handed-over source, and a slow query must not hold up the handover
     * while the guest is paused. */
    bool writes = hmp || strstr(command, "human-monitor-command") != NULL;
    if (!p || !writes)
        return domain_monitor(dom, command, hmp, ret_output, err);
    /* Shared for the round trip: the handover waits for this command. */
    pthread_rwlock_rdlock(&p->handover_lock);
    if (p->mig_handing_over)
        r = ferry_error_set(err, EBUSY,
                            "domain '%s' is being handed over to the migration's destination: "
                            "HMP commands wait until the migration ends (a write to an image "
                            "QEMU has handed over would abort it)",
                            dom->def->name);
    else
        r = domain_monitor(dom, command, hmp, ret_output, err);
    pthread_rwlock_unlock(&p->handover_lock);
    return r;
}

static int domain_monitor(struct agent_domain *dom, const char *command, bool hmp,
                          char **ret_output, struct ferry_error *err)
{
    struct qmp_conn *qmp = qemu_dom_qmp(dom, err);
    _cleanup_(json_object_putp) json_object *cmd = NULL;
    _cleanup_(json_object_putp) json_object *ret = NULL;
    _cleanup_(json_object_putp) json_object *reply = NULL;
    json_object *exec = NULL, *args = NULL;
    struct qmp_error_info qe = {0};
    int r;

    if (!qmp)
        return -ENOTCONN;
    if (hmp)
        return qmp_conn_hmp(qmp, command, QEMU_QMP_TIMEOUT_MS, ret_output, err);

    cmd = json_tokener_parse(command);
    if (!cmd || !json_object_is_type(cmd, json_type_object) ||
        !json_object_object_get_ex(cmd, "execute", &exec) ||
        !json_object_is_type(exec, json_type_string))
        return ferry_error_set(err, EINVAL,
                               "monitor command must be a JSON object with a string 'execute'");
    if (json_object_object_get_ex(cmd, "arguments", &args)) {
        if (!json_object_is_type(args, json_type_object))
            return ferry_error_set(err, EINVAL, "monitor command 'arguments' must be an object");
        json_object_get(args);
    }
    r = qmp_conn_execute_full(qmp, json_object_get_string(exec), args, QEMU_QMP_TIMEOUT_MS, &ret,
                              &qe, err);
    reply = json_object_new_object();
    if (r == -EIO && qe.cls[0]) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "class", json_object_new_string(qe.cls));
        json_object_object_add(e, "desc", json_object_new_string(qe.desc));
        json_object_object_add(reply, "error", e);
        *ret_output = ferry_strdup(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
        return r;
    }
    if (r < 0)
        return r;
    json_object_object_add(reply, "return", TAKE_PTR(ret));
    *ret_output = ferry_strdup(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
    return 0;
}
