/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The machine types a QEMU binary offers, from `QEMU -machine help`, and
 * the versioned name an alias stands for ("q35" -> "pc-q35-7.2"). A domain
 * is pinned to that name when it is defined, as libvirt does, so that the
 * machine (the guest ABI) does not change with the QEMU version of the
 * host that later runs or receives it. */
#include "qemu-cmdline.h"

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

#define MACHINE_HELP_MAX        (256 * 1024) /* bytes of `-machine help` read */
#define MACHINE_HELP_TIMEOUT_MS 20000

/* One line: "NAME<spaces>DESCRIPTION", the description ending in
 * "(alias of TARGET)" for an alias. The header line has no such shape. */
static void parse_line(const char *line, size_t len, struct qemu_machines *l)
{
    static const char alias[] = "(alias of ";
    struct qemu_machine *m;
    size_t nlen = 0;
    const char *p;

    while (nlen < len && line[nlen] != ' ' && line[nlen] != '\t')
        nlen++;
    if (nlen == 0 || nlen >= DOMAIN_MACHINE_MAX || nlen == len || l->n >= QEMU_MACHINES_MAX)
        return;
    if (line[len - 1] == ':') /* "Supported machines are:" */
        return;
    m = &l->m[l->n++];
    memcpy(m->name, line, nlen);
    m->name[nlen] = '\0';
    m->alias_of[0] = '\0';
    p = memmem(line, len, alias, sizeof alias - 1);
    if (p) {
        const char *t = p + sizeof alias - 1, *end = memchr(t, ')', len - (size_t)(t - line));
        size_t tlen = end ? (size_t)(end - t) : 0;

        if (tlen > 0 && tlen < DOMAIN_MACHINE_MAX) {
            memcpy(m->alias_of, t, tlen);
            m->alias_of[tlen] = '\0';
        }
    }
}

int qemu_machines_parse(const char *text, struct qemu_machines *ret, struct ferry_error *err)
{
    ret->n = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);

        parse_line(p, len, ret);
        p += len + (nl ? 1 : 0);
    }
    if (ret->n == 0)
        return ferry_error_set(err, EPROTO, "QEMU's -machine help lists no machine type");
    return 0;
}

int qemu_machines_resolve(const struct qemu_machines *l, const char *name, char *buf,
                          struct ferry_error *err)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->m[i].name, name) != 0)
            continue;
        snprintf(buf, DOMAIN_MACHINE_MAX, "%s", l->m[i].alias_of[0] ? l->m[i].alias_of : name);
        return 0;
    }
    return ferry_error_set(err, EOPNOTSUPP,
                           "<os><type machine='%s'>: this host's QEMU has no such machine type",
                           name);
}

/* Runs BINARY OPTION help, bounded in time and output; *RET_TEXT (caller
 * frees) is its standard output. */
static int help_query(const char *binary, const char *option, char **ret_text,
                      struct ferry_error *err)
{
    _cleanup_free_ char *out = ferry_calloc(1, MACHINE_HELP_MAX + 1);
    int64_t deadline = ferry_now_ms() + MACHINE_HELP_TIMEOUT_MS;
    size_t len = 0;
    int fds[2], status = 0;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return ferry_error_set_errno(err, errno, "pipe");
    pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return ferry_error_set_errno(err, e, "fork");
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);

        dup2(null_fd, 0);
        dup2(fds[1], 1);
        dup2(null_fd, 2);
        execl(binary, binary, option, "help", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int64_t left = deadline - ferry_now_ms();
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            kill(pid, SIGKILL);
            break;
        }
        n = read(fds[0], out + len, MACHINE_HELP_MAX - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == MACHINE_HELP_MAX) {
            kill(pid, SIGKILL); /* it would block on a full pipe */
            break;
        }
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return ferry_error_set(err, EIO, "'%s %s help' failed (status %d)", binary, option, status);
    out[len] = '\0';
    *ret_text = TAKE_PTR(out);
    return 0;
}

int qemu_machines_query(const char *binary, struct qemu_machines *ret, struct ferry_error *err)
{
    _cleanup_free_ char *text = NULL;
    int r = help_query(binary, "-machine", &text, err);

    return r < 0 ? r : qemu_machines_parse(text, ret, err);
}

int qemu_machines_check(const struct qemu_machines *l, const char *name, struct ferry_error *err)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->m[i].name, name) == 0 && !l->m[i].alias_of[0])
            return 0;
    }
    return ferry_error_set(err, EOPNOTSUPP,
                           "<os><type machine='%s'>: this host's QEMU has no such machine type",
                           name);
}

/* ---- CPU models ---- */

int qemu_cpus_parse(const char *text, struct qemu_cpus *ret, struct ferry_error *err)
{
    ret->n = 0;
    /* "x86 NAME   DESCRIPTION" lines, up to the blank line before the
     * "Recognized CPUID flags:" list. */
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p), nlen = 0;

        if (len == 0)
            break;
        if (len > 4 && memcmp(p, "x86 ", 4) == 0 && ret->n < QEMU_CPUS_MAX) {
            const char *name = p + 4;

            while (4 + nlen < len && name[nlen] != ' ' && name[nlen] != '\t')
                nlen++;
            if (nlen > 0 && nlen < DOMAIN_CPU_MODEL_MAX) {
                memcpy(ret->name[ret->n], name, nlen);
                ret->name[ret->n++][nlen] = '\0';
            }
        }
        p += len + (nl ? 1 : 0);
    }
    if (ret->n == 0)
        return ferry_error_set(err, EPROTO, "QEMU's -cpu help lists no x86 CPU model");
    return 0;
}

int qemu_cpus_query(const char *binary, struct qemu_cpus *ret, struct ferry_error *err)
{
    _cleanup_free_ char *text = NULL;
    int r = help_query(binary, "-cpu", &text, err);

    return r < 0 ? r : qemu_cpus_parse(text, ret, err);
}

int qemu_cpus_check(const struct qemu_cpus *l, const char *name, struct ferry_error *err)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->name[i], name) == 0)
            return 0;
    }
    return ferry_error_set(err, EOPNOTSUPP,
                           "<cpu><model>%s</model>: this host's QEMU has no such CPU model", name);
}
