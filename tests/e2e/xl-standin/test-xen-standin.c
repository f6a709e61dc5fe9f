/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The xl stand-in on its own, before any driver uses it: its commands and
 * messages, and its migration handshake between two "hosts" (two state
 * directories) over a transport command given with -s, including each
 * failure switch. Every xl run is bounded (30 s) and killed by PID on
 * timeout; the stand-in bounds itself too (FERRY_XL_STANDIN_TIMEOUT_S). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "util.h"

#define RUN_TIMEOUT_MS 30000

struct hosts {
    char root[64]; /* mkdtemp */
    char a[96], b[96];
};

struct run {
    int status; /* exit code, or 128 + signal */
    char *out, *err;
};

static void run_clear(struct run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

static char *slurp(const char *path)
{
    char *buf = NULL;
    struct ferry_error err = {0};

    if (ferry_read_file(path, 1u << 20, &buf, NULL, &err) < 0)
        return ferry_strdup("");
    return buf;
}

/* Runs the stand-in with FERRY_XL_STANDIN_DIR=DIR and ARGV (NULL-ended),
 * the stand-in's directory first on PATH. */
static struct run run_xl(const struct hosts *h, const char *dir, const char *const *argv)
{
    _cleanup_free_ char *outp = ferry_strdup_printf("%s/out", h->root);
    _cleanup_free_ char *errp = ferry_strdup_printf("%s/err", h->root);
    struct run r = {0};
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        const char *path = getenv("PATH");
        _cleanup_free_ char *np = ferry_strdup_printf("%s:%s", XL_STANDIN_DIR, path ? path : "");
        setenv("PATH", np, 1);
        setenv("FERRY_XL_STANDIN_DIR", dir, 1);
        setenv("FERRY_XL_STANDIN_TIMEOUT_S", "20", 1);
        setenv("FERRY_XL_STANDIN_MEM_BYTES", "3000000", 1);
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        _cleanup_free_ char *xl = ferry_strdup_printf("%s/xl", XL_STANDIN_DIR);
        execv(xl, (char *const *)argv);
        _exit(127);
    }
    int64_t deadline = ferry_now_ms() + RUN_TIMEOUT_MS;
    int status;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (ferry_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("xl %s did not finish in %d ms", argv[1], RUN_TIMEOUT_MS);
        }
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(outp);
    r.err = slurp(errp);
    return r;
}

#define XL(h, dir, ...) run_xl(h, dir, (const char *const[]){"xl", __VA_ARGS__, NULL})

static void write_file(const char *path, const char *text)
{
    struct ferry_error err = {0};
    assert_int_equal(ferry_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
}

static int setup(void **state)
{
    struct hosts *h = ferry_calloc(1, sizeof *h);

    snprintf(h->root, sizeof h->root, "/tmp/ferry-xl-XXXXXX");
    if (!mkdtemp(h->root))
        return -1;
    snprintf(h->a, sizeof h->a, "%s/hostA", h->root);
    snprintf(h->b, sizeof h->b, "%s/hostB", h->root);
    if (mkdir(h->a, 0755) < 0 || mkdir(h->b, 0755) < 0)
        return -1;
    _cleanup_free_ char *cfg = ferry_strdup_printf("%s/guest.cfg", h->root);
    write_file(cfg, "name = \"guest\"\nuuid = \"0d1c2b3a-4958-4677-8695-a4b3c2d1e0f9\"\n"
                    "memory = 256\nvcpus = 2\nkernel = \"/boot/vmlinuz\"\n"
                    "disk = [ '/srv/guest.img,raw,xvda,rw' ]\n");
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    struct hosts *h = *state;
    _cleanup_free_ char *cmd = ferry_strdup_printf("rm -rf '%s'", h->root);

    if (system(cmd) != 0)
        return -1;
    free(h);
    return 0;
}

/* The stand-in's `xl list` line for NAME, or NULL. Caller frees. */
static char *list_line(const struct hosts *h, const char *dir, const char *name)
{
    struct run r = XL(h, dir, "list");
    char *found = NULL;

    assert_int_equal(r.status, 0);
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        size_t n = strlen(name);
        if (strncmp(line, name, n) == 0 && line[n] == ' ')
            found = ferry_strdup(line);
    }
    run_clear(&r);
    return found;
}

static void create_guest(const struct hosts *h, const char *dir)
{
    _cleanup_free_ char *cfg = ferry_strdup_printf("%s/guest.cfg", h->root);
    struct run r = XL(h, dir, "create", cfg);

    assert_int_equal(r.status, 0);
    _cleanup_free_ char *want = ferry_strdup_printf("Parsing config from %s\n", cfg);
    assert_string_equal(r.err, want);
    run_clear(&r);
}

static void test_lifecycle(void **state)
{
    struct hosts *h = *state;
    struct run r;

    create_guest(h, h->a);
    r = XL(h, h->a, "list");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "Name                                        ID   Mem VCPUs\t"
                                  "State\tTime(s)\n"
                                  "Domain-0                                     0  1024     2  "
                                  "   r-----       1.0\n"));
    assert_non_null(strstr(r.out, "guest                                        1   256     2  "
                                  "   r-----"));
    run_clear(&r);

    /* A second guest of the same name is refused. */
    _cleanup_free_ char *cfg = ferry_strdup_printf("%s/guest.cfg", h->root);
    r = XL(h, h->a, "create", cfg);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "already exists"));
    run_clear(&r);

    r = XL(h, h->a, "pause", "guest");
    assert_int_equal(r.status, 0);
    run_clear(&r);
    _cleanup_free_ char *l = list_line(h, h->a, "guest");
    assert_non_null(strstr(l, "--p---"));
    r = XL(h, h->a, "unpause", "1");
    assert_int_equal(r.status, 0);
    run_clear(&r);
    r = XL(h, h->a, "domid", "guest");
    assert_string_equal(r.out, "1\n");
    run_clear(&r);

    r = XL(h, h->a, "destroy", "guest");
    assert_int_equal(r.status, 0);
    run_clear(&r);
    r = XL(h, h->a, "destroy", "guest");
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, "guest is an invalid domain identifier (rc=-6)\n");
    run_clear(&r);
}

static void test_create_bad_config(void **state)
{
    struct hosts *h = *state;
    _cleanup_free_ char *cfg = ferry_strdup_printf("%s/bad.cfg", h->root);

    write_file(cfg, "name = \"bad\"\ndisk = [ 'x'\n");
    struct run r = XL(h, h->a, "create", cfg);
    assert_int_equal(r.status, 1);
    _cleanup_free_ char *want = ferry_strdup_printf(
        "Parsing config from %s\n%s:3:1: expected ']' to close the list opened at 2:8, got end "
        "of file\n",
        cfg, cfg);
    assert_string_equal(r.err, want);
    run_clear(&r);
}

/* xl migrate -s env guest "FERRY_XL_STANDIN_DIR=B" runs
 * "exec env FERRY_XL_STANDIN_DIR=B xl migrate-receive": host B, locally. */
static struct run migrate(const struct hosts *h)
{
    _cleanup_free_ char *host = ferry_strdup_printf("FERRY_XL_STANDIN_DIR=%s", h->b);
    return XL(h, h->a, "migrate", "-s", "env", "guest", host);
}

static void set_fail(const char *dir, const char *spec)
{
    _cleanup_free_ char *p = ferry_strdup_printf("%s/fail", dir);
    write_file(p, spec);
}

static void test_migrate_ok(void **state)
{
    struct hosts *h = *state;

    create_guest(h, h->a);
    struct run r = migrate(h);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "migration target: Ready to receive domain.\n"));
    assert_non_null(strstr(r.err, "migration sender: Target has acknowledged transfer.\n"));
    assert_non_null(strstr(r.err, "migration sender: Giving target permission to start.\n"));
    assert_non_null(strstr(r.err, "migration target: Domain started successfully.\n"));
    assert_non_null(strstr(r.err, "Migration successful.\n"));
    run_clear(&r);

    _cleanup_free_ char *a = list_line(h, h->a, "guest");
    _cleanup_free_ char *b = list_line(h, h->b, "guest");
    assert_null(a);
    assert_non_null(b);
    assert_non_null(strstr(b, "r-----"));
    /* The config travelled with the domain. */
    _cleanup_free_ char *cfgb = ferry_strdup_printf("%s/domains/1.cfg", h->b);
    _cleanup_free_ char *text = slurp(cfgb);
    assert_non_null(strstr(text, "0d1c2b3a-4958-4677-8695-a4b3c2d1e0f9"));
}

static void test_migrate_receiver_refuses(void **state)
{
    struct hosts *h = *state;

    create_guest(h, h->a);
    set_fail(h->b, "receiver-refuse");
    struct run r = migrate(h);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "refusing to receive"));
    assert_non_null(strstr(r.err, "migration receiver stream: banner: unexpected end of file"));
    run_clear(&r);
    _cleanup_free_ char *a = list_line(h, h->a, "guest");
    assert_non_null(a);
    assert_non_null(strstr(a, "r-----"));
    _cleanup_free_ char *b = list_line(h, h->b, "guest--incoming");
    assert_null(b);
}

static void test_migrate_stream_cut(void **state)
{
    struct hosts *h = *state;

    create_guest(h, h->a);
    set_fail(h->a, "cut-after=100000");
    struct run r = migrate(h);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "cut-after=100000: closing the stream"));
    assert_non_null(strstr(r.err, "domain stream truncated or corrupt after 65536 bytes"));
    assert_non_null(strstr(r.err, "migration target: Domain creation failed (code -3).\n"));
    assert_non_null(strstr(r.err, "Migration failed, resuming at sender.\n"));
    run_clear(&r);
    /* The sender resumed its guest; the receiver kept nothing. */
    _cleanup_free_ char *a = list_line(h, h->a, "guest");
    assert_non_null(a);
    assert_non_null(strstr(a, "r-----"));
    r = XL(h, h->b, "list");
    assert_null(strstr(r.out, "guest"));
    run_clear(&r);
}

static void test_migrate_target_fails_start(void **state)
{
    struct hosts *h = *state;

    create_guest(h, h->a);
    set_fail(h->b, "receiver-fail-start");
    struct run r = migrate(h);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "Target reports startup failure (status code 3)."));
    assert_non_null(strstr(r.err, "migration sender: Resumed OK.\n"));
    run_clear(&r);
    _cleanup_free_ char *a = list_line(h, h->a, "guest");
    assert_non_null(a);
    assert_non_null(strstr(a, "r-----"));
    r = XL(h, h->b, "list");
    assert_null(strstr(r.out, "guest"));
    run_clear(&r);
}

static void test_migrate_sender_dies_after_go(void **state)
{
    struct hosts *h = *state;

    create_guest(h, h->a);
    set_fail(h->a, "sender-die-after-go");
    struct run r = migrate(h);
    assert_int_equal(r.status, 128 + SIGKILL);
    run_clear(&r);
    /* Past the point of no return: the target runs the guest; the source
     * keeps a paused copy under its away name for a human (or ferry). The
     * receiver may still be finishing: wait for it, within bounds. */
    _cleanup_free_ char *b = NULL;
    for (int i = 0; i < 200 && !(b && strstr(b, "r-----")); i++) {
        free(b);
        b = list_line(h, h->b, "guest");
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    assert_non_null(b);
    assert_non_null(strstr(b, "r-----"));
    _cleanup_free_ char *a = list_line(h, h->a, "guest--migratedaway");
    assert_non_null(a);
    assert_non_null(strstr(a, "--p---"));
}

static void test_needs_state_dir(void **state)
{
    struct hosts *h = *state;
    struct run r = XL(h, "", "list");

    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "not Xen"));
    run_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_receiver_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_stream_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_target_fails_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_sender_dies_after_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_needs_state_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
