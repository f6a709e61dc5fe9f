/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's lifecycle half: building QEMU's command line from a
 * domain definition, starting the process with its own QMP socket,
 * re-attaching after an agent restart, state from QMP, and stopping it.
 *
 * QEMU runs in its own session (setsid) with stdout/stderr in
 * STATE/run/NAME.log, so it outlives the agent; the agent finds it again
 * through STATE/run/NAME.pid and NAME.qmp. */
#include "qemu-priv.h"
#include "qemu-driver.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "ferry-config.h"
#include "json-cleanup.h"
#include "qemu-cmdline.h"

#define QEMU_START_TIMEOUT_MS 30000
#define QEMU_QMP_TIMEOUT_MS   30000

/* Set once by qemu_init (qemu-priv.h). */
struct qemu_driver qemu_drv;

static int qemu_init(struct agent *ag, struct ferry_error *err)
{
    const char *env = getenv("FERRY_QEMU");
    int fd;

    if (ag->cfg.qemu_binary)
        snprintf(qemu_drv.binary, sizeof qemu_drv.binary, "%s", ag->cfg.qemu_binary);
    else if (env && *env)
        snprintf(qemu_drv.binary, sizeof qemu_drv.binary, "%s", env);
    else
        snprintf(qemu_drv.binary, sizeof qemu_drv.binary, "%s", FERRY_QEMU_BINARY);
    if (access(qemu_drv.binary, X_OK) < 0 && strchr(qemu_drv.binary, '/'))
        return ferry_error_set_errno(err, errno, "QEMU binary '%s'", qemu_drv.binary);
    /* KVM only when we may open it read-write and FERRY_NO_KVM is unset.
     * The paravirtual kvm_pvm module (KVM nested inside some cloud VMs)
     * runs QEMU but cannot boot a multiboot guest kernel: use TCG there,
     * like any host without KVM. */
    fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    qemu_drv.kvm = fd >= 0 && !getenv("FERRY_NO_KVM") && access("/sys/module/kvm_pvm", F_OK) != 0;
    if (fd >= 0)
        close(fd);
    env = getenv("FERRY_TCG_RAM_ROUNDS");
    qemu_drv.tcg_ram_rounds = env && strcmp(env, "1") == 0;
    ferry_info("qemu driver: %s, accelerator %s", qemu_drv.binary, qemu_drv.kvm ? "kvm" : "tcg");
    if (!ag->cfg.qemu_user) {
        snprintf(qemu_drv.socket_dir, sizeof qemu_drv.socket_dir, "%s", ag->run_dir);
        return 0;
    }
    snprintf(qemu_drv.socket_dir, sizeof qemu_drv.socket_dir, "%s/qemu", ag->run_dir);
    if (mkdir(qemu_drv.socket_dir, 0700) < 0 && errno != EEXIST)
        return ferry_error_set_errno(err, errno, "cannot create '%s'", qemu_drv.socket_dir);
    return qemu_give_to_user(ag, qemu_drv.socket_dir, err);
}

const char *qemu_socket_dir(void)
{
    return qemu_drv.socket_dir;
}

int qemu_give_to_user(struct agent *ag, const char *path, struct ferry_error *err)
{
    if (!ag->cfg.qemu_user)
        return 0;
    if (chown(path, (uid_t)ag->cfg.qemu_uid, (gid_t)ag->cfg.qemu_gid) < 0)
        return ferry_error_set_errno(err, errno, "--qemu-user %s: cannot give it '%s'",
                                     ag->cfg.qemu_user, path);
    return 0;
}

/* Closes P's connection and keeps it until the domain is released (see
 * QEMU_RETIRED_MAX). Past the bound the oldest is freed: by then it has
 * been closed through QEMU_RETIRED_MAX restarts of the guest. */
static pthread_mutex_t retire_lock = PTHREAD_MUTEX_INITIALIZER;

static void retire_qmp(struct qemu_dom *p)
{
    struct qmp_conn *c;

    /* Stop (Confirm, Finish: no domain lock) and state (domain lock) may
     * both find QEMU gone at once. */
    pthread_mutex_lock(&retire_lock);
    c = __atomic_exchange_n(&p->qmp, NULL, __ATOMIC_SEQ_CST);
    if (!c) {
        pthread_mutex_unlock(&retire_lock);
        return;
    }
    qmp_conn_close(c);
    if (p->n_retired == QEMU_RETIRED_MAX) {
        qmp_conn_free(p->retired[0]);
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
        memmove(&p->retired[0], &p->retired[1], (QEMU_RETIRED_MAX - 1) * sizeof p->retired[0]);
        p->n_retired--;
    }
    p->retired[p->n_retired++] = c;
    pthread_mutex_unlock(&retire_lock);
}

/* glibc malloc settings for the QEMUs ferryd starts, unless the agent's own
 * environment already has GLIBC_TUNABLES (the operator's choice wins).
 * QEMU's NBD server allocates each request's buffer (1 MiB for ferry's
 * engine and QEMU's mirror alike). With glibc's defaults such a buffer is
 * either mmapped or, once the dynamic threshold has risen, taken from a
 * heap whose top is trimmed again as soon as 2 MiB of it are free: either
 * way every page is faulted in and zeroed anew, 263,000 faults per GiB
 * written. A 4 MiB mmap threshold keeps buffers in the heap and a 32 MiB
 * trim threshold keeps the heap's top: about 5,000 faults per GiB, and
 * the destination QEMU's CPU per GiB written falls from 1.3 to 0.8 s
 * (mirror/README.md, "The destination's NBD listener"). The price: freed
 * buffers stay resident, 16-22 MiB more RSS after a 1 GiB copy here (at
 * most 32 MiB of free heap kept per malloc arena). */
#define QEMU_MALLOC_TUNABLES                                                                       \
    "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=33554432"

/* The environment for a QEMU child: the agent's, plus QEMU_MALLOC_TUNABLES.
 * Returns a NULL-terminated array of borrowed strings (free the array
 * only). */
static char **qemu_child_env(void)
{
    extern char **environ;
    size_t n = 0;
    bool have = false;
    char **env;

    for (char **e = environ; e && *e; e++, n++)
        have = have || strncmp(*e, "GLIBC_TUNABLES=", 15) == 0;
    env = ferry_calloc(n + 2, sizeof *env);
    for (size_t i = 0; i < n; i++)
        env[i] = environ[i];
    if (!have)
        env[n++] = (char *)QEMU_MALLOC_TUNABLES;
    env[n] = NULL;
    return env;
}

/* ---- process ---- */

static int read_log_tail(const char *path, char *buf, size_t len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    off_t size;
    ssize_t r;

    buf[0] = '\0';
    if (fd < 0)
        return -errno;
    size = lseek(fd, 0, SEEK_END);
    if (size < 0)
        return -errno;
    if ((size_t)size > len - 1)
        lseek(fd, size - (off_t)(len - 1), SEEK_SET);
    else
        lseek(fd, 0, SEEK_SET);
    r = read(fd, buf, len - 1);
    if (r < 0)
        return -errno;
    buf[r] = '\0';
    /* Trim trailing newlines; keep the last line, QEMU's error. */
    while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == '\r'))
        buf[--r] = '\0';
    return 0;
}

static bool pid_alive(pid_t pid)
{
    char path[64], buf[512];
    _cleanup_close_ int fd = -1;
    ssize_t n;
    char *rp;

    if (pid <= 0)
        return false;
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return false;
    /* A zombie is dead: nobody may have reaped it yet. */
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof buf - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    rp = strrchr(buf, ')');
    if (!rp || rp[1] == '\0' || rp[2] == 'Z' || rp[2] == 'X')
        return false;
    return true;
}

/* True when PID's command line carries "-name guest=NAME," (guards against
 * pid reuse after a reboot of the agent). */
static bool pid_is_guest(pid_t pid, const char *name)
{
    char path[64];
    _cleanup_free_ char *buf = NULL;
    _cleanup_free_ char *want = ferry_strdup_printf("guest=%s,", name);
    size_t len;

    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    if (ferry_read_file(path, 1 << 20, &buf, &len, NULL) < 0)
        return false;
    for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
        if (strncmp(buf + i, want, strlen(want)) == 0)
            return true;
    return false;
}

static void reap_if_child(struct qemu_dom *p)
{
    if (p->child && p->pid > 0 && waitpid(p->pid, NULL, WNOHANG) == p->pid)
        p->child = false;
}

static void on_qmp_event(struct qmp_conn *conn, const char *name, json_object *data, void *opaque)
{
    struct qemu_dom *p = opaque;
    const char *dname = p->dom->def->name;

    (void)conn;
    if (!name) {
        hv_emit_event(p->ag, "monitor-closed", dname, NULL);
        return;
    }
    if (strcmp(name, "STOP") == 0) {
        json_object *d = NULL;
        if (__atomic_load_n(&p->user_paused, __ATOMIC_SEQ_CST)) {
            d = json_object_new_object();
            json_object_object_add(d, "reason", json_object_new_string("user"));
        }
        hv_emit_event(p->ag, "suspended", dname, d);
    } else if (strcmp(name, "RESUME") == 0) {
        /* Whoever resumed it (domain.resume, a failed migration's
         * Confirm), the user's pause is over. */
        __atomic_store_n(&p->user_paused, false, __ATOMIC_SEQ_CST);
        hv_emit_event(p->ag, "resumed", dname, NULL);
    } else if (strcmp(name, "SHUTDOWN") == 0) {
        /* If QEMU now quits, the guest shut down rather than crashed (a
         * reboot's power-off becomes a reset instead). */
        if (!__atomic_load_n(&p->fake_reboot, __ATOMIC_SEQ_CST))
            __atomic_store_n(&p->stop_reason, "shutdown", __ATOMIC_SEQ_CST);
        qemu_guest_on_shutdown(p, data);
        hv_emit_event(p->ag, "shutdown", dname, data ? json_object_get(data) : NULL);
    } else if (strcmp(name, "POWERDOWN") == 0) {
        /* The ACPI power button was pressed (domain.shutdown, reboot). */
        hv_emit_event(p->ag, "powerdown", dname, NULL);
    } else if (strcmp(name, "RESET") == 0) {
        hv_emit_event(p->ag, "reset", dname, data ? json_object_get(data) : NULL);
    } else if (strcmp(name, "MIGRATION") == 0)
        hv_emit_event(p->ag, "migration-status", dname, data ? json_object_get(data) : NULL);
    else if (strncmp(name, "BLOCK_JOB_", 10) == 0 || strcmp(name, "JOB_STATUS_CHANGE") == 0) {
        json_object *d = json_object_new_object();
        json_object_object_add(d, "qemu_event", json_object_new_string(name));
        if (data)
            json_object_object_add(d, "data", json_object_get(data));
        hv_emit_event(p->ag, "block-job", dname, d);
    }
}

static int connect_qmp(struct qemu_dom *p, int timeout_ms, struct ferry_error *err)
{
    int r;

    r = qmp_conn_open(p->qmp_path, timeout_ms, &p->qmp, err);
    if (r < 0)
        return r;
    qmp_conn_set_event_cb(p->qmp, on_qmp_event, p);
    return 0;
}

static int write_run_state(struct agent *ag, struct agent_domain *dom, struct qemu_dom *p,
                           struct ferry_error *err)
{
    _cleanup_free_ char *xml = domain_def_format(dom->def);
    _cleanup_free_ char *xml_path = ferry_strdup_printf("%s/%s.xml", ag->run_dir, dom->def->name);
    _cleanup_free_ char *pid_path = ferry_strdup_printf("%s/%s.pid", ag->run_dir, dom->def->name);
    char pid_s[32];
    int r;

    if (!xml)
        return ferry_error_set(err, ENOMEM, "cannot format domain '%s'", dom->def->name);
    snprintf(pid_s, sizeof pid_s, "%d\n", (int)p->pid);
    if ((r = ferry_write_file_atomic(pid_path, pid_s, strlen(pid_s), 0600, err)) < 0)
        return r;
    return ferry_write_file_atomic(xml_path, xml, strlen(xml), 0600, err);
}

static void remove_run_state(struct agent *ag, const char *name)
{
    static const char *const exts[] = {"xml", "pid", "qmp", "incoming", "console"};

    for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
        _cleanup_free_ char *path = ferry_strdup_printf("%s/%s.%s", ag->run_dir, name, exts[i]);
        unlink(path);
    }
}

void qemu_remove_logs(struct agent *ag, const char *name)
{
    static const char *const exts[] = {"log", "serial"};

    for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
        _cleanup_free_ char *path = ferry_strdup_printf("%s/%s.%s", ag->run_dir, name, exts[i]);
        unlink(path);
    }
}

int qemu_process_start(struct agent *ag, struct agent_domain *dom, bool incoming,
                       struct ferry_error *err)
{
    struct qemu_dom *p = qemu_priv(ag, dom);
    struct qemu_argv a = {0};
    struct qemu_cmdline_host host = {
        .binary = qemu_drv.binary,
        .kvm = qemu_drv.kvm,
        .incoming = incoming,
        .qmp_path = p->qmp_path,
        .serial_path = p->serial_path,
        .runas = ag->cfg.qemu_user,
    };
    _cleanup_free_ char **env = NULL;
    _cleanup_free_ char *console_path =
        ferry_strdup_printf("%s/%s.console", ag->run_dir, dom->def->name);
    _cleanup_free_ char *nvram_path = NULL;
    int tap_fds[DOMAIN_MAX_NICS], child_fds[DOMAIN_MAX_NICS], n_taps = 0;
    _cleanup_close_ int log_fd = -1;
    _cleanup_close_ int null_fd = -1;
    int64_t deadline;
    pid_t pid;
    int r;

    for (size_t i = 0; i < dom->def->n_disks; i++) {
        const struct domain_disk *d = &dom->def->disks[i];
        if (d->source && access(d->source, d->readonly ? R_OK : R_OK | W_OK) < 0)
            return ferry_error_set_errno(err, errno, "disk '%s': cannot open '%s'", d->target,
                                         d->source);
    }
    if (dom->def->kernel && access(dom->def->kernel, R_OK) < 0)
        return ferry_error_set_errno(err, errno, "kernel '%s'", dom->def->kernel);
    if (dom->def->initrd && access(dom->def->initrd, R_OK) < 0)
        return ferry_error_set_errno(err, errno, "initrd '%s'", dom->def->initrd);
    if (dom->def->loader && access(dom->def->loader, R_OK) < 0)
        return ferry_error_set_errno(err, errno, "loader '%s'", dom->def->loader);
    if (dom->def->loader && !dom->def->loader_rom) {
        nvram_path = qemu_firmware_nvram_path(ag->cfg.state_dir, dom->def);
        if ((r = qemu_firmware_prepare(dom->def, nvram_path, err)) < 0)
            return r;
        host.nvram_path = nvram_path;
    }
    host.console_path = console_path;
    if (dom->def->serial.type == DOMAIN_CHR_UNIX && !dom->def->serial.path)
        unlink(console_path); /* a socket the last QEMU left */
    /* A definition stored before machine types were pinned, or received
     * from such an agent: pinned now, in the live definition. */
    if ((!dom->def->machine[0] || dom->def->cpu.mode == DOMAIN_CPU_ABSENT) &&
        (r = qemu_pin_abi(dom->def, err)) < 0)
        return r;

    /* A new QEMU: no pause of the user's carries over, nor a post-copy
     * state of the last one. */
    __atomic_store_n(&p->user_paused, false, __ATOMIC_SEQ_CST);
    __atomic_store_n(&p->run_reason, "booted", __ATOMIC_SEQ_CST);
    __atomic_store_n(&p->stop_reason, NULL, __ATOMIC_SEQ_CST);
    __atomic_store_n(&p->postcopy_failed, false, __ATOMIC_SEQ_CST);
    __atomic_store_n(&p->postcopy_unknown, false, __ATOMIC_SEQ_CST);
    __atomic_store_n(&p->mig_postcopy_active, false, __ATOMIC_SEQ_CST);
    /* Nor a reboot armed in the last one (its shutdown action is gone). */
    __atomic_store_n(&p->fake_reboot, false, __ATOMIC_SEQ_CST);
    unlink(p->qmp_path);
    log_fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0)
        return ferry_error_set_errno(err, errno, "cannot open log '%s'", p->log_path);
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0)
        return ferry_error_set_errno(err, errno, "cannot open /dev/null");
    /* The taps of ethernet and bridge NICs: QEMU gets them as descriptors
     * 3, 4, ... (qemu-net.c). */
    if ((r = qemu_net_open(dom->def, tap_fds, p->tap_names, err)) < 0)
        return r;
    for (size_t i = 0; i < dom->def->n_nics; i++)
        child_fds[i] = tap_fds[i] >= 0 ? 3 + n_taps++ : -1;
    host.nic_fds = child_fds;
    qemu_cmdline_build(&host, dom->def, &a);
    {
        char line[256];
        int n = snprintf(line, sizeof line, "---- ferryd starting %s%s\n", dom->def->name,
                         incoming ? " (incoming)" : "");
        if (n > 0)
            (void)!write(log_fd, line, (size_t)n);
    }

    env = qemu_child_env();
    pid = fork();
    if (pid < 0) {
        r = -errno;
        qemu_argv_clear(&a);
        qemu_net_close(tap_fds, dom->def->n_nics);
        return ferry_error_set_errno(err, -r, "fork");
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. The taps sit
         * above 100 (qemu-net.c), clear of 3..3+n_taps; dup2 drops their
         * close-on-exec. */
        setsid();
        dup2(null_fd, 0);
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        for (size_t i = 0; i < dom->def->n_nics; i++) {
            if (tap_fds[i] >= 0)
                dup2(tap_fds[i], child_fds[i]);
        }
        syscall(SYS_close_range, 3U + (unsigned)n_taps, ~0U, 0U);
        execve(a.v[0], a.v, env);
        _exit(127);
    }
    qemu_argv_clear(&a);
    qemu_net_close(tap_fds, dom->def->n_nics);
    p->pid = pid;
    qemu_handover_set(p, false);
    p->child = true;

    /* Wait for the QMP socket; a QEMU that exits meanwhile failed to start
     * and its log tail says why. */
    deadline = ferry_now_ms() + QEMU_START_TIMEOUT_MS;
    for (;;) {
        int status;
        struct ferry_error qerr = {0};

        if (waitpid(pid, &status, WNOHANG) == pid) {
            char tail[600];
            p->child = false;
            p->pid = -1;
            read_log_tail(p->log_path, tail, sizeof tail);
            {
                char *last = strrchr(tail, '\n');
                return ferry_error_set(err, EIO, "QEMU failed to start: %s",
                                       last ? last + 1 : tail);
            }
        }
        if (access(p->qmp_path, F_OK) == 0 && connect_qmp(p, 2000, &qerr) == 0)
            break;
        if (ferry_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            p->pid = -1;
            p->child = false;
            return ferry_error_set(err, ETIMEDOUT, "QEMU did not open its monitor within %d s",
                                   QEMU_START_TIMEOUT_MS / 1000);
        }
        usleep(20 * 1000);
    }
    dom->active = true;
    dom->incoming = incoming;
    if ((r = write_run_state(ag, dom, p, err)) < 0) {
        qemu_process_stop(ag, dom, NULL);
        return r;
    }
    if (incoming) {
        _cleanup_free_ char *path =
            ferry_strdup_printf("%s/%s.incoming", ag->run_dir, dom->def->name);
        ferry_write_file_atomic(path, "1\n", 2, 0600, NULL);
    }
    ferry_info("domain '%s': QEMU pid %d started%s", dom->def->name, (int)pid,
               incoming ? " for an incoming migration" : "");
    return 0;
}

int qemu_process_stop(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    struct qemu_dom *p = dom->priv;
    int64_t deadline;

    (void)err;
    if (!p)
        return 0;
    if (p->qmp && qmp_conn_alive(p->qmp))
        qmp_conn_execute(p->qmp, "quit", NULL, 3000, NULL, NULL);
    if (p->pid > 0) {
        deadline = ferry_now_ms() + 5000;
        while (pid_alive(p->pid) && ferry_now_ms() < deadline) {
            reap_if_child(p);
            usleep(10 * 1000);
        }
        if (pid_alive(p->pid)) {
            kill(p->pid, SIGTERM);
            deadline = ferry_now_ms() + 3000;
            while (pid_alive(p->pid) && ferry_now_ms() < deadline) {
                reap_if_child(p);
                usleep(10 * 1000);
            }
        }
        if (pid_alive(p->pid))
            kill(p->pid, SIGKILL);
        if (p->child)
            waitpid(p->pid, NULL, 0);
    }
    retire_qmp(p);
    p->pid = -1;
    p->child = false;
    dom->active = false;
    dom->incoming = false;
    remove_run_state(ag, dom->def->name);
    return 0;
}

static int qemu_domain_start(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    int r = qemu_process_start(ag, dom, false, err);

    if (r == 0)
        hv_emit_event(ag, "started", dom->def->name, NULL);
    return r;
}

static int qemu_domain_attach(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    struct qemu_dom *p = qemu_priv(ag, dom);
    _cleanup_free_ char *pid_path = ferry_strdup_printf("%s/%s.pid", ag->run_dir, dom->def->name);
    _cleanup_free_ char *inc_path =
        ferry_strdup_printf("%s/%s.incoming", ag->run_dir, dom->def->name);
    _cleanup_free_ char *buf = NULL;
    uint64_t pid;

    if (ferry_read_file(pid_path, 64, &buf, NULL, NULL) < 0)
        goto gone;
    buf[strcspn(buf, "\n")] = '\0';
    if (ferry_parse_u64(buf, &pid) < 0 || pid == 0 || !pid_alive((pid_t)pid) ||
        !pid_is_guest((pid_t)pid, dom->def->name))
        goto gone;
    p->pid = (pid_t)pid;
    p->child = false;
    if (connect_qmp(p, 5000, err) < 0) {
        ferry_error_prefix(err, "domain '%s': re-attaching to QEMU pid %d", dom->def->name,
                           (int)p->pid);
        return -EIO;
    }
    dom->active = true;
    dom->incoming = access(inc_path, F_OK) == 0;
    ferry_info("domain '%s': re-attached to QEMU pid %d", dom->def->name, (int)p->pid);
    return 1;
gone:
    remove_run_state(ag, dom->def->name);
    return 0;
}

static int qemu_domain_destroy(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    int r = qemu_process_stop(ag, dom, err);

    if (r == 0) {
        __atomic_store_n(&((struct qemu_dom *)dom->priv)->stop_reason, "destroyed",
                         __ATOMIC_SEQ_CST);
        hv_emit_event(ag, "stopped", dom->def->name, NULL);
    }
    return r;
}

static int qemu_domain_state(struct agent *ag, struct agent_domain *dom, char *state_buf,
                             size_t state_len, char *reason_buf, size_t reason_len,
                             struct ferry_error *err)
{
    struct qemu_dom *p = dom->priv;
    /* Loaded once: a concurrent stop may retire it (it stays valid). */
    struct qmp_conn *q = p ? __atomic_load_n(&p->qmp, __ATOMIC_SEQ_CST) : NULL;
    char status[64];
    bool running = false;
    int r;

    (void)ag;
    if (!dom->active || !q || !qmp_conn_alive(q)) {
    gone:
        if (p && p->pid > 0) {
            reap_if_child(p);
            if (!pid_alive(p->pid)) {
                /* QEMU went away behind our back (crash, kill, guest
                 * poweroff): the domain is off now. */
                retire_qmp(p);
                p->pid = -1;
                dom->active = false;
                remove_run_state(ag, dom->def->name);
                if (!__atomic_load_n(&p->stop_reason, __ATOMIC_SEQ_CST))
                    __atomic_store_n(&p->stop_reason, "crashed", __ATOMIC_SEQ_CST);
            }
        }
        const char *why = p ? __atomic_load_n(&p->stop_reason, __ATOMIC_SEQ_CST) : NULL;

        snprintf(state_buf, state_len, "shutoff");
        snprintf(reason_buf, reason_len, "%s", dom->active ? "unknown" : why ? why : "");
        return 0;
    }
    r = qemu_query_status(q, status, sizeof status, &running, err);
    if (r < 0 && !qmp_conn_alive(q)) {
        /* The monitor closed under the query: QEMU is exiting or gone,
         * which is a state to report, not an error. */
        ferry_error_clear(err);
        goto gone;
    }
    if (r < 0)
        return r;
    if (running) {
        /* "postcopy-failed": a destination whose post-copy failed; its
         * vCPUs wait for pages that will not come (libvirt's running
         * reason of that name). */
        snprintf(state_buf, state_len, "running");
        const char *why = __atomic_load_n(&p->run_reason, __ATOMIC_SEQ_CST);

        snprintf(reason_buf, reason_len, "%s",
                 __atomic_load_n(&p->postcopy_failed, __ATOMIC_SEQ_CST) ? "postcopy-failed"
                 : why && strcmp(status, "running") == 0                ? why
                                                                        : status);
    } else if (strcmp(status, "shutdown") == 0) {
        snprintf(state_buf, state_len, "shutoff");
        snprintf(reason_buf, reason_len, "shutdown");
    } else {
        snprintf(state_buf, state_len, "paused");
        /* inmigrate, postmigrate, finish-migrate, prelaunch, paused, ...;
         * "user" for a domain.suspend, "postcopy" for a source switched
         * by post-copy, "postcopy-failed" after a failure past that point
         * (libvirt's reasons), "postcopy-unknown" when the source's job
         * ended without knowing the destination's outcome. */
        const char *reason = status;
        bool unknown = __atomic_load_n(&p->postcopy_unknown, __ATOMIC_SEQ_CST);

        if (__atomic_load_n(&p->postcopy_failed, __ATOMIC_SEQ_CST))
            reason = unknown ? "postcopy-unknown" : "postcopy-failed";
        else if (__atomic_load_n(&p->mig_postcopy_active, __ATOMIC_SEQ_CST))
            reason = "postcopy";
        else if (strcmp(status, "paused") == 0 &&
                 __atomic_load_n(&p->user_paused, __ATOMIC_SEQ_CST))
            reason = "user";
        snprintf(reason_buf, reason_len, "%s", reason);
    }
    return 0;
}

static void qemu_domain_release(struct agent *ag, struct agent_domain *dom)
{
    struct qemu_dom *p = dom->priv;

    (void)ag;
    if (!p)
        return;
    qmp_conn_free(p->qmp);
    for (size_t i = 0; i < p->n_retired; i++)
        qmp_conn_free(p->retired[i]);
    qemu_storage_free(p->storage);
    pthread_mutex_destroy(&p->mig_lock);
    pthread_rwlock_destroy(&p->handover_lock);
    free(p);
    dom->priv = NULL;
}

static void qemu_guest_caps(struct agent *ag, struct hv_guest_caps *ret)
{
    (void)ag;
    snprintf(ret->emulator, sizeof ret->emulator, "%s", qemu_drv.binary);
    snprintf(ret->domain_type, sizeof ret->domain_type, "%s", qemu_drv.kvm ? "kvm" : "qemu");
}

static const char *const qemu_uri_transports[] = {"tcp", "unix", NULL};

const struct hv_driver qemu_hv_driver = {
    .name = "qemu",
    .init = qemu_init,
    .domain_start = qemu_domain_start,
    .domain_attach = qemu_domain_attach,
    .domain_destroy = qemu_domain_destroy,
    .domain_state = qemu_domain_state,
    .domain_monitor = qemu_domain_monitor,
    .domain_release = qemu_domain_release,
    .storage_engines = 1u << MIG_STORAGE_FERRY | 1u << MIG_STORAGE_QEMU,
    /* Version 1 carries no domain XML, which QEMU's stream does not hold. */
    .min_version = 2,
    .uri_transports = qemu_uri_transports,
    .migrate_bandwidth = true,
    .migrate_rename = true,
    .guest_caps = qemu_guest_caps,
    .supported_flags = MIG_LIVE | MIG_PEER2PEER | MIG_TUNNELLED | MIG_PERSIST_DEST |
                       MIG_UNDEFINE_SOURCE | MIG_PAUSED | MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC |
                       MIG_OFFLINE | MIG_ABORT_ON_ERROR | MIG_AUTO_CONVERGE | MIG_PARALLEL |
                       MIG_CHANGE_PROTECTION | MIG_UNSAFE | MIG_TLS | MIG_POSTCOPY |
                       MIG_COMPRESSED | MIG_ZEROCOPY | MIG_NON_SHARED_SYNCHRONOUS_WRITES |
                       MIG_AUTO_CONVERGE_STORAGE,
    .migrate_begin = qemu_migrate_begin,
    .migrate_prepare = qemu_migrate_prepare,
    .migrate_perform = qemu_migrate_perform,
    .migrate_finish = qemu_migrate_finish,
    .migrate_confirm = qemu_migrate_confirm,
    .migrate_cancel = qemu_migrate_cancel,
    .domain_suspend = qemu_domain_suspend,
    .domain_power = qemu_domain_power,
    .domain_devices_info = qemu_domain_devices_info,
    .domain_resume = qemu_domain_resume,
    .domain_info = qemu_domain_info,
    .migrate_set_param = qemu_migrate_set_param,
    .migrate_get_param = qemu_migrate_get_param,
    .job_record_save = qemu_job_record_save,
    .job_record_restore = qemu_job_record_restore,
    .migrate_stream_completed = qemu_migrate_stream_completed,
    .migrate_sweep = qemu_migrate_sweep,
    .recover_host = qemu_recover_host,
    .migrate_start_postcopy = qemu_migrate_start_postcopy,
    .domain_define = qemu_domain_define,
};
