/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TEST CODE ONLY: the xl stand-in's `xl migrate` and `xl migrate-receive`:
 * xl's handshake (tools/xl/xl.h messages, its save header) around a stream
 * of our own, with the failure switches of xl-standin.c. Not Xen. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cleanup.h"
#include "util.h"
#include "xlconv.h"
#include "standin.h"

/* The fixed messages of xl's migration protocol (tools/xl/xl.h). */
static const char receiver_banner[] = "xl migration receiver ready, send binary domain data.\n";
static const char receiver_ready[] = "domain received, ready to unpause";
static const char permission_to_go[] = "domain is yours, you are cleared to unpause";
static const char report_msg[] = "my copy unpause results are as follows";
static const char save_magic[32] = "Xen saved domain, xl format\n \0 \r";
#define SAVE_BYTEORDER 0x01020304u

#define STREAM_MAGIC   "XLSTNDIN"
#define STREAM_TRAILER "XLSTEND\n"
#define STREAM_MAX     (1ull << 30)
#define CHUNK          65536

/* --- migration --- */

static int write_all(int fd, const void *buf, size_t len)
{
    return ferry_write_full(fd, buf, len);
}

static bool read_fixed(int fd, const char *msg, size_t len, const char *what, const char *rune)
{
    char buf[128];
    const char *stream = rune ? "migration receiver stream" : "migration stream";

    if (ferry_read_full(fd, buf, len) < 0) {
        fprintf(stderr, "%s: %s: unexpected end of file or read error\n", stream, what);
        return false;
    }
    if (memcmp(buf, msg, len) != 0) {
        fprintf(stderr, "%s contained unexpected data instead of %s\n", stream, what);
        if (rune)
            fprintf(stderr, "(command run was: %s )\n", rune);
        return false;
    }
    return true;
}

static uint32_t fnv1a(uint32_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static uint64_t stream_bytes(void)
{
    const char *e = getenv("FERRY_XL_STANDIN_MEM_BYTES");
    uint64_t v = 4u << 20;

    if (e && (ferry_parse_u64(e, &v) < 0 || v > STREAM_MAX))
        die("xl (stand-in): bad FERRY_XL_STANDIN_MEM_BYTES '%s'\n", e);
    return v;
}

static void set_timeout(void)
{
    const char *e = getenv("FERRY_XL_STANDIN_TIMEOUT_S");
    unsigned s = e ? (unsigned)strtoul(e, NULL, 10) : 60;

    /* SIGALRM's default action ends the process: a stuck peer cannot hang
     * a test forever. */
    alarm(s ? s : 60);
}

static void rename_dom(uint32_t domid, const char *name)
{
    _cleanup_close_ int lock = lock_dir();
    struct dom d;

    if (dom_read(domid, &d)) {
        snprintf(d.name, sizeof d.name, "%s", name);
        dom_write(&d);
    }
}

static void set_paused(uint32_t domid, bool paused)
{
    _cleanup_close_ int lock = lock_dir();
    struct dom d;

    if (dom_read(domid, &d)) {
        d.paused = paused;
        dom_write(&d);
    }
}

/* Writes the save header (xl's struct save_file_header, host byte order)
 * and the config, then the domain stream; returns false if the transport
 * broke (or the cut-after switch fired). */
static bool send_domain(int fd, const struct dom *d, const char *config, const struct fail *f)
{
    uint32_t cfglen = (uint32_t)strlen(config) + 1;
    uint32_t hdr[4] = {SAVE_BYTEORDER, 0, 0, 4 + cfglen};
    uint64_t total = stream_bytes();
    uint8_t buf[CHUNK];
    uint32_t h = 2166136261u;
    uint64_t sent = 0;

    if (write_all(fd, save_magic, sizeof save_magic) < 0 || write_all(fd, hdr, sizeof hdr) < 0 ||
        write_all(fd, &cfglen, 4) < 0 || write_all(fd, config, cfglen) < 0)
        return false;
    if (write_all(fd, STREAM_MAGIC, 8) < 0 || write_all(fd, &total, 8) < 0)
        return false;
    while (sent < total) {
        size_t n = total - sent < CHUNK ? (size_t)(total - sent) : CHUNK;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)((sent + i) * 131 + d->domid * 7 + (unsigned char)d->name[0]);
        if (f->cut_after >= 0 && sent + n > (uint64_t)f->cut_after) {
            size_t part = (size_t)((uint64_t)f->cut_after - sent);
            (void)write_all(fd, buf, part);
            fprintf(stderr, "xl (stand-in): cut-after=%" PRId64 ": closing the stream\n",
                    f->cut_after);
            return false;
        }
        h = fnv1a(h, buf, n);
        if (write_all(fd, buf, n) < 0)
            return false;
        sent += n;
        if (f->delay_ms) {
            struct timespec ts = {f->delay_ms / 1000, (long)(f->delay_ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return write_all(fd, STREAM_TRAILER, 8) == 0 && write_all(fd, &h, 4) == 0;
}

static pid_t spawn_transport(const char *rune, int *send_fd, int *recv_fd)
{
    int sendp[2], recvp[2];

    if (pipe2(sendp, O_CLOEXEC) < 0 || pipe2(recvp, O_CLOEXEC) < 0)
        die("xl: pipe: %s\n", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        die("xl: fork: %s\n", strerror(errno));
    if (pid == 0) {
        dup2(sendp[0], 0);
        dup2(recvp[1], 1);
        execlp("sh", "sh", "-c", rune, (char *)NULL);
        perror("failed to exec sh");
        _exit(EXIT_FAILURE);
    }
    close(sendp[0]);
    close(recvp[1]);
    *send_fd = sendp[1];
    *recv_fd = recvp[0];
    return pid;
}

/* Gives the transport two seconds to exit, as xl does, and reports a
 * failure status. */
static void reap_transport(pid_t pid)
{
    int64_t deadline = ferry_now_ms() + 2000;
    int status;

    while (ferry_now_ms() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            if (status)
                fprintf(stderr,
                        "migration transport process [%ld] exited with error status "
                        "%d\n",
                        (long)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            return;
        }
        if (r < 0)
            return;
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "migration child [%ld] not exiting, no longer waiting\n", (long)pid);
}

int cmd_migrate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"debug", no_argument, NULL, 0x100}, {"live", no_argument, NULL, 0x200}, {0}};
    const char *ssh = "ssh";
    bool daemonize = true, debug = false, pause_after = false;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "+FC:s:epD", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            ssh = optarg;
            break;
        case 'e':
        case 'F':
            daemonize = false;
            break;
        case 'p':
            pause_after = true;
            break;
        case 0x100:
            debug = true;
            break;
        case 'C':
            die("xl migrate: -C is not supported by the stand-in\n");
        case 'D':
        case 0x200:
            break;
        default:
            die("Usage: xl migrate [options] <Domain> <host>\n");
        }
    }
    if (argc - optind != 2)
        die("Usage: xl migrate [options] <Domain> <host>\n");
    set_timeout();

    struct dom d;
    find_domain(argv[optind], &d);
    const char *host = argv[optind + 1];
    struct fail f = read_fail();
    _cleanup_free_ char *config = dom_config(d.domid);
    if (!config)
        die("No config file stored for running domain and none supplied - cannot "
            "migrate.\n");
    _cleanup_free_ char *rune =
        ssh[0] ? ferry_strdup_printf("exec %s %s xl migrate-receive%s%s%s", ssh, host,
                                     daemonize ? "" : " -e", debug ? " -d" : "",
                                     pause_after ? " -p" : "")
               : ferry_strdup(host);
    char name[sizeof d.name];
    snprintf(name, sizeof name, "%s", d.name);
    char away[sizeof d.name + 16];
    snprintf(away, sizeof away, "%s--migratedaway", name);
    char rc;

    int send_fd, recv_fd;
    signal(SIGPIPE, SIG_IGN);
    pid_t child = spawn_transport(rune, &send_fd, &recv_fd);

    if (!read_fixed(recv_fd, receiver_banner, sizeof receiver_banner - 1, "banner", rune)) {
        close(send_fd);
        reap_transport(child);
        exit(EXIT_FAILURE);
    }
    if (!send_domain(send_fd, &d, config, &f)) {
        fprintf(stderr, "migration sender: libxl_domain_suspend failed (rc=-3)\n");
        goto failed_resume;
    }
    /* Live migration ends with the guest suspended at the sender. */
    set_paused(d.domid, true);
    if (!read_fixed(recv_fd, receiver_ready, sizeof receiver_ready, "ready message", rune))
        goto failed_resume;

    fprintf(stderr, "migration sender: Target has acknowledged transfer.\n");
    rename_dom(d.domid, away);

    /* Point of no return: once GO is sent, two copies could run. */
    fprintf(stderr, "migration sender: Giving target permission to start.\n");
    if (write_all(send_fd, permission_to_go, sizeof permission_to_go) < 0)
        goto failed_badly;
    if (f.sender_die_after_go) {
        fprintf(stderr, "xl (stand-in): sender-die-after-go: killing myself\n");
        kill(getpid(), SIGKILL);
    }
    if (!read_fixed(recv_fd, report_msg, sizeof report_msg, "success/failure report message", rune))
        goto failed_badly;
    if (ferry_read_full(recv_fd, &rc, 1) < 0)
        goto failed_badly;
    if (rc) {
        fprintf(stderr, "migration sender: Target reports startup failure (status code %d).\n", rc);
        if (!read_fixed(recv_fd, permission_to_go, sizeof permission_to_go,
                        "permission for sender to resume", rune))
            goto failed_badly;
        fprintf(stderr, "migration sender: Trying to resume at our end.\n");
        rename_dom(d.domid, name);
        set_paused(d.domid, false);
        fprintf(stderr, "migration sender: Resumed OK.\n");
        fprintf(stderr, "Migration failed due to problems at target.\n");
        exit(EXIT_FAILURE);
    }
    fprintf(stderr, "migration sender: Target reports successful startup.\n");
    {
        _cleanup_close_ int lock = lock_dir();
        dom_remove(d.domid);
    }
    fprintf(stderr, "Migration successful.\n");
    close(send_fd);
    reap_transport(child);
    exit(EXIT_SUCCESS);

failed_resume:
    close(send_fd);
    reap_transport(child);
    fprintf(stderr, "Migration failed, resuming at sender.\n");
    set_paused(d.domid, false);
    exit(EXIT_FAILURE);

failed_badly:
    fprintf(stderr, "** Migration failed during final handshake **\n"
                    "Domain state is now undefined !\n"
                    "Please CHECK AT BOTH ENDS for running instances, before renaming and\n"
                    " resuming at most one instance.  Two simultaneous instances of the domain\n"
                    " would probably result in SEVERE DATA LOSS and it is now your\n"
                    " responsibility to avoid that.  Sorry.\n");
    close(send_fd);
    reap_transport(child);
    exit(EXIT_FAILURE);
}

/* Reads the save header, config and stream from FD into a new paused
 * domain NAME--incoming; returns its domid, or 0 after printing why not. */
static uint32_t receive_domain(int fd, char **ret_name)
{
    char magic[32];
    uint32_t hdr[4], cfglen;

    if (ferry_read_full(fd, magic, sizeof magic) < 0 || ferry_read_full(fd, hdr, sizeof hdr) < 0 ||
        memcmp(magic, save_magic, sizeof magic) != 0 || hdr[0] != SAVE_BYTEORDER) {
        fprintf(stderr, "migration target: bad or truncated save header\n");
        return 0;
    }
    if (hdr[1] != 0 || hdr[3] < 4 || hdr[3] > CONFIG_MAX + 4 ||
        ferry_read_full(fd, &cfglen, 4) < 0 || cfglen + 4 != hdr[3] || cfglen == 0) {
        fprintf(stderr, "migration target: unsupported save header (stand-in streams only)\n");
        return 0;
    }
    _cleanup_free_ char *config = malloc(cfglen);
    if (!config || ferry_read_full(fd, config, cfglen) < 0 || config[cfglen - 1] != '\0') {
        fprintf(stderr, "migration target: truncated config in stream\n");
        return 0;
    }
    _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};
    if (xlconv_xlcfg_parse(config, cfglen - 1, "migration stream", &cfg, &err) < 0) {
        fprintf(stderr, "%s\n", ferry_error_msg(&err));
        return 0;
    }
    uint32_t domid;
    {
        _cleanup_close_ int lock = lock_dir();
        struct dom other;
        if (dom_find_name(cfg->name, &other)) {
            fprintf(stderr, "libxl: error: domain with name '%s' already exists (stand-in)\n",
                    cfg->name);
            return 0;
        }
        _cleanup_free_ char *incoming = ferry_strdup_printf("%s--incoming", cfg->name);
        domid = dom_create(cfg, incoming, config, true);
    }

    char smagic[8];
    uint64_t total, got = 0;
    uint8_t buf[CHUNK];
    uint32_t h = 2166136261u, want;
    if (ferry_read_full(fd, smagic, 8) < 0 || memcmp(smagic, STREAM_MAGIC, 8) != 0 ||
        ferry_read_full(fd, &total, 8) < 0 || total > STREAM_MAX)
        goto bad;
    while (got < total) {
        size_t n = total - got < CHUNK ? (size_t)(total - got) : CHUNK;
        if (ferry_read_full(fd, buf, n) < 0)
            goto bad;
        h = fnv1a(h, buf, n);
        got += n;
    }
    if (ferry_read_full(fd, smagic, 8) < 0 || memcmp(smagic, STREAM_TRAILER, 8) != 0 ||
        ferry_read_full(fd, &want, 4) < 0 || want != h)
        goto bad;
    *ret_name = ferry_strdup(cfg->name);
    return domid;

bad:
    fprintf(stderr,
            "libxl: error: domain stream truncated or corrupt after %" PRIu64 " bytes (stand-in)\n",
            got);
    {
        _cleanup_close_ int lock = lock_dir();
        dom_remove(domid);
    }
    return 0;
}

int cmd_migrate_receive(int argc, char **argv)
{
    bool pause_after = false;
    int opt;

    optind = 1;
    while ((opt = getopt(argc, argv, "+Fedrpt")) != -1) {
        if (opt == 'p')
            pause_after = true;
        else if (opt == 'r')
            die("xl migrate-receive: -r (Remus) is not supported by the stand-in\n");
        else if (opt == '?')
            die("Usage: xl migrate-receive [-F] [-e] [-d] [-p]\n");
    }
    if (optind != argc)
        die("Usage: xl migrate-receive [-F] [-e] [-d] [-p]\n");
    set_timeout();
    signal(SIGPIPE, SIG_IGN);
    struct fail f = read_fail();
    int send_fd = STDOUT_FILENO, recv_fd = STDIN_FILENO;

    if (f.receiver_refuse)
        die("migration target: refusing to receive (stand-in switch receiver-refuse)\n");
    fprintf(stderr, "migration target: Ready to receive domain.\n");
    if (write_all(send_fd, receiver_banner, sizeof receiver_banner - 1) < 0)
        exit(EXIT_FAILURE);

    _cleanup_free_ char *name = NULL;
    uint32_t domid = receive_domain(recv_fd, &name);
    if (!domid) {
        fprintf(stderr, "migration target: Domain creation failed (code -3).\n");
        exit(EXIT_FAILURE);
    }
    fprintf(stderr, "migration target: Transfer complete, requesting permission to start "
                    "domain.\n");
    if (write_all(send_fd, receiver_ready, sizeof receiver_ready) < 0)
        exit(EXIT_FAILURE);

    char rc = 0;
    if (!read_fixed(recv_fd, permission_to_go, sizeof permission_to_go, "GO message", NULL)) {
        rc = 3; /* ERROR_FAIL */
    } else {
        fprintf(stderr, "migration target: Got permission, starting domain.\n");
        if (f.receiver_fail_start) {
            fprintf(stderr, "migration target: failing startup (stand-in switch "
                            "receiver-fail-start)\n");
            rc = 3;
        } else {
            rename_dom(domid, name);
            if (!pause_after)
                set_paused(domid, false);
            fprintf(stderr, "migration target: Domain started successfully.\n");
        }
    }
    if (write_all(send_fd, report_msg, sizeof report_msg) < 0 || write_all(send_fd, &rc, 1) < 0)
        exit(EXIT_FAILURE);
    if (rc) {
        fprintf(stderr, "migration target: Failure, destroying our copy.\n");
        {
            _cleanup_close_ int lock = lock_dir();
            dom_remove(domid);
        }
        fprintf(stderr, "migration target: Cleanup OK, granting sender permission to resume.\n");
        if (write_all(send_fd, permission_to_go, sizeof permission_to_go) < 0)
            exit(EXIT_FAILURE);
    }
    if (f.receiver_daemon) {
        pid_t child = fork();
        if (child == 0) {
            /* Holds stdin/stdout (the stream) as xl's daemon does. */
            sleep(20);
            _exit(0);
        }
        /* DIR/daemon.pid: tests stop it by PID. */
        _cleanup_free_ char *pp = ferry_strdup_printf("%s/daemon.pid", state_dir);
        _cleanup_free_ char *txt = ferry_strdup_printf("%ld\n", (long)child);
        struct ferry_error e = {0};
        ferry_write_file_atomic(pp, txt, strlen(txt), 0644, &e);
    }
    exit(EXIT_SUCCESS);
}
