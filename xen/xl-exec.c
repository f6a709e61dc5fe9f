/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Runs one xl command with captured, bounded output and a deadline. */
#define XEN_XL_EXEC_IMPL /* the definitions, not xl-exec.h's analyzer wrapper */
#include "xl-exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"
#include "buf.h"

#define XL_DRAIN_MS   2000 /* output still read after xl exits */
#define POLL_SLICE_MS 200  /* how soon xl's exit is noticed */

void xen_xl_result_clear(struct xen_xl_result *r)
{
    free(r->out);
    free(r->errtxt);
    memset(r, 0, sizeof *r);
}

static void drain(int fd, struct ferry_buf *b, bool *open_)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        *open_ = false;
        return;
    }
    /* Past the limit we keep reading (so xl never blocks) but drop. */
    if (b->len + (size_t)n <= XEN_XL_OUTPUT_MAX)
        ferry_buf_append(b, chunk, (size_t)n);
}

int xen_xl_run(const char *xl, const char *const *argv, int timeout_ms,
               const struct xen_xl_watch *watch, struct xen_xl_result *res, struct ferry_error *err)
{
    volatile pid_t *pid_slot = watch ? watch->pid_slot : NULL;
    int outp[2], errp[2];
    size_t argc = 0;

    memset(res, 0, sizeof *res);
    while (argv[argc])
        argc++;
    _cleanup_free_ const char **full = ferry_calloc(argc + 2, sizeof *full);
    full[0] = xl;
    for (size_t i = 0; i < argc; i++)
        full[i + 1] = argv[i];

    if (pipe2(outp, O_CLOEXEC) < 0)
        return ferry_error_set_errno(err, errno, "xl %s: pipe", argv[0]);
    if (pipe2(errp, O_CLOEXEC) < 0) {
        int e = errno;
        close(outp[0]);
        close(outp[1]);
        return ferry_error_set_errno(err, e, "xl %s: pipe", argv[0]);
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(outp[0]);
        close(outp[1]);
        close(errp[0]);
        close(errp[1]);
        return ferry_error_set_errno(err, e, "xl %s: fork", argv[0]);
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(outp[1], 1);
        dup2(errp[1], 2);
        /* Default signal dispositions for the toolstack. */
        signal(SIGPIPE, SIG_DFL);
        execvp(xl, (char *const *)full);
        /* Only async-signal-safe calls here: the agent has threads. */
        if (write(2, "cannot execute ", 15) < 0 || write(2, xl, strlen(xl)) < 0 ||
            write(2, "\n", 1) < 0) {
            /* nothing left to tell */
        }
        _exit(127);
    }
    if (pid_slot)
        *pid_slot = pid;
    close(outp[1]);
    close(errp[1]);

    struct ferry_buf out = {0}, eb = {0};
    bool out_open = true, err_open = true, timed_out = false, exited = false;
    int64_t deadline = ferry_now_ms() + timeout_ms, drain_until = 0;
    int64_t next_tick = 0;
    int status = 0;
    while (out_open || err_open) {
        struct pollfd p[2] = {{.fd = out_open ? outp[0] : -1, .events = POLLIN},
                              {.fd = err_open ? errp[0] : -1, .events = POLLIN}};
        if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            if (pid_slot)
                *pid_slot = 0;
            drain_until = ferry_now_ms() + XL_DRAIN_MS;
        }
        /* xl is gone but something it started (a transport, a daemon) still
         * holds its output open: what xl itself said has arrived. */
        if (exited && ferry_now_ms() >= drain_until)
            break;
        int left = ferry_ms_left(deadline);
        if (left == 0) {
            timed_out = true;
            break;
        }
        if (watch && watch->tick) {
            if (ferry_now_ms() >= next_tick) {
                watch->tick(watch->opaque);
                next_tick = ferry_now_ms() + watch->tick_ms;
            }
            if (left < 0 || left > watch->tick_ms)
                left = watch->tick_ms;
        }
        if (left < 0 || left > POLL_SLICE_MS)
            left = POLL_SLICE_MS;
        int n = poll(p, 2, left);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (p[0].revents)
            drain(outp[0], &out, &out_open);
        if (p[1].revents)
            drain(errp[0], &eb, &err_open);
    }
    close(outp[0]);
    close(errp[0]);

    if (!exited) {
        if (timed_out)
            kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (pid_slot)
            *pid_slot = 0;
    }
    res->out = ferry_buf_steal(&out);
    res->errtxt = ferry_buf_steal(&eb);
    res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (timed_out) {
        xen_xl_result_clear(res);
        return ferry_error_set(err, ETIMEDOUT, "xl %s: no answer within %d ms (killed)", argv[0],
                               timeout_ms);
    }
    if (res->status == 127 && strstr(res->errtxt, "cannot execute")) {
        int r = ferry_error_set(err, ENOENT, "xl %s: %s", argv[0], res->errtxt);
        if (err && err->msg[0] && err->msg[strlen(err->msg) - 1] == '\n')
            err->msg[strlen(err->msg) - 1] = '\0';
        xen_xl_result_clear(res);
        return r;
    }
    return 0;
}

int xen_xl_fail(const char *cmd, const struct xen_xl_result *res, struct ferry_error *err)
{
    /* The last two non-empty lines of stderr carry xl's reason. */
    const char *e = res->errtxt ? res->errtxt : "";
    size_t len = strlen(e);
    while (len > 0 && e[len - 1] == '\n')
        len--;
    size_t start = len;
    for (int lines = 0; start > 0; start--) {
        if (e[start - 1] == '\n' && ++lines == 2)
            break;
    }
    _cleanup_free_ char *tail = strndup(e + start, len - start);
    if (!tail)
        abort();
    for (char *p = tail; *p; p++)
        if (*p == '\n')
            *p = ' ';
    if (res->status >= 128)
        return ferry_error_set(err, EIO, "xl %s: killed by signal %d%s%s", cmd, res->status - 128,
                               *tail ? ": " : "", tail);
    return ferry_error_set(err, EIO, "xl %s: exit status %d%s%s", cmd, res->status,
                           *tail ? ": " : "", tail);
}
