/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Storage migration for the QEMU driver, the destination's side: Prepare
 * checks room in the image dir and creates the target images (removed
 * again on failure), then starts QEMU's NBD server on a listening socket
 * of ferryd's own (TCP_NODELAY) with one writable export per disk; Finish
 * stops it. The source's side is qemu-storage.c. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "json.h"
#include "migparams.h"
#include "qemu-priv.h"
#include "qemu-storage.h"

#define QMP_TIMEOUT_MS    30000
#define SPACE_MARGIN      (64ull << 20) /* keep this much free after the copy */
#define QEMU_IMG_TIMEOUT  60
#define NBD_LISTEN_FDNAME "ferry-nbd-listen" /* getfd name of the NBD listener */

static int run_qemu_img(char *const argv[], struct ferry_error *err)
{
    int pfd[2];
    pid_t pid;
    char out[512] = "";
    ssize_t n, len = 0;
    int status;

    if (pipe2(pfd, O_CLOEXEC) < 0)
        return ferry_error_set_errno(err, errno, "pipe");
    pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return ferry_error_set_errno(err, errno, "fork");
    }
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        alarm(QEMU_IMG_TIMEOUT);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    while ((n = read(pfd[0], out + len, sizeof out - 1 - (size_t)len)) > 0)
        len += n;
    out[len] = '\0';
    close(pfd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        out[strcspn(out, "\n")] = '\0';
        return ferry_error_set(err, EIO, "qemu-img create failed: %s", out[0] ? out : "no output");
    }
    return 0;
}

static int create_target(const char *path, const struct cookie_nbd_disk *cd,
                         struct ferry_error *err)
{
    _cleanup_close_ int fd = -1;
    char size[32];

    if (strcmp(cd->format, "qcow2") == 0) {
        char *argv[12];
        size_t n = 0;

        snprintf(size, sizeof size, "%llu", (unsigned long long)cd->capacity);
        argv[n++] = (char *)"qemu-img";
        argv[n++] = (char *)"create";
        argv[n++] = (char *)"-q";
        argv[n++] = (char *)"-f";
        argv[n++] = (char *)"qcow2";
        if (cd->backing[0]) {
            argv[n++] = (char *)"-b";
            argv[n++] = (char *)cd->backing;
            argv[n++] = (char *)"-F";
            argv[n++] = (char *)(cd->backing_format[0] ? cd->backing_format : "raw");
        }
        argv[n++] = (char *)path;
        argv[n++] = size;
        argv[n] = NULL;
        if (access(path, F_OK) == 0)
            return ferry_error_set(err, EEXIST, "target image '%s' already exists", path);
        return run_qemu_img(argv, err);
    }
    if (strcmp(cd->format, "raw") != 0 && cd->format[0])
        return ferry_error_set(err, ENOTSUP, "disk '%s': cannot create a '%s' target", cd->target,
                               cd->format);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return ferry_error_set(err, EEXIST, "target image '%s' already exists", path);
        return ferry_error_set_errno(err, errno, "cannot create target image '%s'", path);
    }
    if (ftruncate(fd, (off_t)cd->capacity) < 0) {
        int e = errno;
        unlink(path);
        return ferry_error_set_errno(err, e, "cannot size target image '%s'", path);
    }
    return 0;
}

void qemu_storage_remove_targets(struct mig_ctx *m)
{
    struct qemu_dom *p = m->dom->priv;
    struct storage *s = p ? p->storage : NULL;

    if (!s)
        return;
    for (size_t i = 0; i < s->n_created; i++) {
        ferry_info("removing target image '%s'", s->created[i]);
        unlink(s->created[i]);
        free(s->created[i]);
    }
    s->n_created = 0;
}

/* Room for every target's data, counted per file system (the targets
 * may be in the image dir or wherever the caller put them). */
static int check_room(struct mig_ctx *m, struct ferry_error *err)
{
    const struct cookie *ci = &m->cookie_in;
    unsigned long fsid[MIG_MAX_DISKS];

    for (size_t i = 0; i < ci->n_nbd_disks; i++) {
        _cleanup_free_ char *dir = ferry_strdup(m->target_paths[i] ? m->target_paths[i] : "/");
        struct statvfs sv;
        uint64_t need = 0, have;

        *strrchr(dir, '/') = '\0';
        if (statvfs(dir[0] ? dir : "/", &sv) < 0)
            return ferry_error_set_errno(err, errno, "disk '%s': directory '%s'",
                                         ci->nbd_disks[i].target, dir);
        fsid[i] = sv.f_fsid;
        for (size_t k = 0; k <= i; k++)
            if (fsid[k] == fsid[i])
                need += ci->nbd_disks[k].allocation;
        have = (uint64_t)sv.f_bavail * sv.f_frsize;
        if (need + SPACE_MARGIN > have)
            return ferry_error_set(err, ENOSPC,
                                   "'%s' has %llu MiB free, disk '%s' needs room for %llu MiB of "
                                   "data in all",
                                   dir, (unsigned long long)(have >> 20), ci->nbd_disks[i].target,
                                   (unsigned long long)((need + SPACE_MARGIN) >> 20));
    }
    return 0;
}

int qemu_storage_prepare_targets(struct mig_ctx *m, struct ferry_error *err)
{
    const struct cookie *ci = &m->cookie_in;
    struct domain_def *def = m->dom->def;
    struct storage *s;
    int r;

    if (!qemu_storage_copies(m))
        return 0;
    if (m->version < 3 || !ci->has_nbd)
        return ferry_error_set(err, ENOTSUP,
                               "storage copy needs the disk list of a protocol v3 Begin cookie");
    s = qemu_storage_get(m);
    for (size_t i = 0; i < ci->n_nbd_disks; i++) {
        if (!domain_def_find_disk(def, ci->nbd_disks[i].target))
            return ferry_error_set(err, EINVAL, "disk '%s' from the cookie is not in the domain",
                                   ci->nbd_disks[i].target);
        if (ci->nbd_disks[i].backing[0] && access(ci->nbd_disks[i].backing, R_OK) < 0)
            return ferry_error_set_errno(err, errno,
                                         "disk '%s': backing file '%s' is not on the destination "
                                         "(--copy-storage-inc copies only the top image)",
                                         ci->nbd_disks[i].target, ci->nbd_disks[i].backing);
    }
    if ((r = check_room(m, err)) < 0)
        return r;
    for (size_t i = 0; i < ci->n_nbd_disks; i++) {
        const struct cookie_nbd_disk *cd = &ci->nbd_disks[i];
        struct domain_disk *d = domain_def_find_disk(def, cd->target);
        const char *fmt = cd->format[0] ? cd->format : "raw";
        _cleanup_free_ char *path = NULL;

        /* The core chose the path and checked that nothing is there. */
        if (!m->target_paths[i]) {
            qemu_storage_remove_targets(m);
            return ferry_error_set(err, EINVAL, "disk '%s': no target path was chosen", cd->target);
        }
        path = ferry_strdup(m->target_paths[i]);
        r = create_target(path, cd, err);
        if (r < 0) {
            ferry_error_prefix(err, "disk '%s'", cd->target);
            qemu_storage_remove_targets(m);
            return r;
        }
        s->created[s->n_created++] = ferry_strdup(path);
        free(d->source);
        d->source = TAKE_PTR(path);
        d->block = false; /* an image file ferryd created, whatever the source was */
        d->format = strcmp(fmt, "qcow2") == 0 ? DOMAIN_DISK_QCOW2 : DOMAIN_DISK_RAW;
    }
    return 0;
}

/* The destination's NBD listening socket, made here rather than by QEMU:
 * QEMU 7.2's NBD server does not set TCP_NODELAY on the connections it
 * accepts, so its 16-byte replies wait behind Nagle's algorithm for the
 * client's delayed ACK (about 40 ms) whenever the client has nothing else
 * to send: QEMU's own mirror then ran at a third of its speed in most runs
 * here, and every round trip of a final disk pass can pay it. Accepted
 * sockets inherit TCP_NODELAY from the listener. Binding here also ends
 * the race of picking a free port that QEMU binds later. PORT 0 picks one;
 * *RET_PORT gets the bound port. */
static int nbd_listen_socket(const char *host, unsigned port, int *ret_fd, unsigned *ret_port,
                             struct ferry_error *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char ps[16];
    int e, saved = 0;

    snprintf(ps, sizeof ps, "%u", port);
    e = getaddrinfo(host[0] ? host : NULL, ps, &hints, &res);
    if (e != 0)
        return ferry_error_set(err, EINVAL, "NBD server address '%s': %s", host, gai_strerror(e));
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        _cleanup_close_ int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        union {
            struct sockaddr sa;
            struct sockaddr_in in;
            struct sockaddr_in6 in6;
        } bound;
        socklen_t bl = sizeof bound;
        int one = 1;

        memset(&bound, 0, sizeof bound);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0 ||
            getsockname(fd, &bound.sa, &bl) < 0) {
            saved = errno;
            continue;
        }
        *ret_port = ntohs(bound.sa.sa_family == AF_INET6 ? bound.in6.sin6_port : bound.in.sin_port);
        *ret_fd = TAKE_FD(fd);
        freeaddrinfo(res);
        return 0;
    }
    freeaddrinfo(res);
    return ferry_error_set_errno(err, saved ? saved : EADDRNOTAVAIL,
                                 "NBD server cannot listen on %s:%u", host, port);
}

int qemu_storage_prepare_exports(struct mig_ctx *m, struct ferry_error *err)
{
    const struct mig_params *mp = m->params;
    struct qemu_dom *p = m->dom->priv;
    struct storage *s;
    struct cookie *co = &m->cookie_out;
    char host[256];
    unsigned port = mp->disks_port;
    json_object *args, *addr, *data;
    int r;

    if (!qemu_storage_copies(m))
        return 0;
    s = qemu_storage_get(m);
    if (mp->disks_uri) {
        if (strncmp(mp->disks_uri, "tcp://", 6) != 0)
            return ferry_error_set(err, EINVAL, "disks_uri '%s': expected tcp://HOST:PORT",
                                   mp->disks_uri);
        qemu_storage_host_of_uri(mp->disks_uri, host, sizeof host);
        {
            const char *c = strrchr(mp->disks_uri + 6, ':');
            uint64_t v = 0;
            if (!c || ferry_parse_u64(c + 1, &v) < 0 || v == 0 || v > 65535)
                return ferry_error_set(err, EINVAL, "disks_uri '%s' has no valid port",
                                       mp->disks_uri);
            port = (unsigned)v;
        }
    } else if (mp->listen_address) {
        snprintf(host, sizeof host, "%s", mp->listen_address);
    } else {
        qemu_storage_host_of_uri(m->uri ? m->uri : "", host, sizeof host);
    }
    {
        _cleanup_close_ int lfd = -1;

        r = nbd_listen_socket(host, port, &lfd, &port, err);
        if (r < 0)
            return r;
        r = qmp_conn_getfd(p->qmp, NBD_LISTEN_FDNAME, lfd, QMP_TIMEOUT_MS, err);
    }
    if (r == 0) {
        args = json_object_new_object();
        addr = json_object_new_object();
        data = json_object_new_object();
        json_object_object_add(data, "str", json_object_new_string(NBD_LISTEN_FDNAME));
        json_object_object_add(addr, "type", json_object_new_string("fd"));
        json_object_object_add(addr, "data", data);
        json_object_object_add(args, "addr", addr);
        /* --tls: every client must use TLS and present a certificate of
         * our CA (the credentials were made with verify-peer). */
        if ((mp->flags & MIG_TLS) || p->stream_psk)
            json_object_object_add(args, "tls-creds", json_object_new_string(QEMU_TLS_CREDS_ID));
        r = qmp_conn_execute(p->qmp, "nbd-server-start", args, QMP_TIMEOUT_MS, NULL, err);
    }
    if (r < 0) {
        ferry_error_prefix(err, "NBD server on %s:%u", host, port);
        return r;
    }
    s->nbd_started = true;
    co->has_nbd = true;
    snprintf(co->nbd_host, sizeof co->nbd_host, "%s", host);
    co->nbd_port = port;
    for (size_t i = 0; i < m->cookie_in.n_nbd_disks; i++) {
        const struct cookie_nbd_disk *cd = &m->cookie_in.nbd_disks[i];
        char node[40], id[48];

        snprintf(node, sizeof node, "f-%s", cd->target);
        snprintf(id, sizeof id, "ferry-in-%s", cd->target);
        args = json_object_new_object();
        json_object_object_add(args, "type", json_object_new_string("nbd"));
        json_object_object_add(args, "id", json_object_new_string(id));
        json_object_object_add(args, "node-name", json_object_new_string(node));
        json_object_object_add(args, "name", json_object_new_string(cd->target));
        json_object_object_add(args, "writable", json_object_new_boolean(true));
        r = qmp_conn_execute(p->qmp, "block-export-add", args, QMP_TIMEOUT_MS, NULL, err);
        if (r < 0) {
            ferry_error_prefix(err, "disk '%s': export", cd->target);
            return r;
        }
        snprintf(s->exports[s->n_exports++], sizeof s->exports[0], "%s", id);
        co->nbd_disks[co->n_nbd_disks] = *cd;
        snprintf(co->nbd_disks[co->n_nbd_disks].export_name, sizeof co->nbd_disks[0].export_name,
                 "%s", cd->target);
        co->n_nbd_disks++;
    }
    cookie_add_feature(co, COOKIE_FEATURE_NBD);
    return 0;
}

int qemu_storage_finish(struct mig_ctx *m, struct ferry_error *err)
{
    struct qemu_dom *p = m->dom->priv;
    struct storage *s = p ? p->storage : NULL;
    int r = 0;

    if (!s)
        return 0;
    if (p->qmp && qmp_conn_alive(p->qmp)) {
        for (size_t i = 0; i < s->n_exports; i++) {
            json_object *args = json_object_new_object();
            json_object_object_add(args, "id", json_object_new_string(s->exports[i]));
            qmp_conn_execute(p->qmp, "block-export-del", args, QMP_TIMEOUT_MS, NULL, NULL);
        }
        if (s->nbd_started)
            r = qmp_conn_execute(p->qmp, "nbd-server-stop", NULL, QMP_TIMEOUT_MS, NULL, err);
    }
    s->n_exports = 0;
    s->nbd_started = false;
    if (r == 0 && !m->cancelled) {
        /* The targets are the guest's disks now. */
        for (size_t i = 0; i < s->n_created; i++)
            free(s->created[i]);
        s->n_created = 0;
    }
    return r;
}
