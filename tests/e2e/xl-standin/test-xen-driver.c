/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Xen driver (xen/driver*.c) against the xl stand-in: two "hosts" in one
 * process, each a struct agent with its own run directory and its own xl
 * (a wrapper pointing the stand-in at that host's state directory). The
 * v3 steps run as the engine runs them (Begin, Prepare, Perform, Finish,
 * Confirm), over a real TCP connection through ferry-xl-pipe, on the happy
 * path and on each failure path the stand-in can produce. Every xl run is
 * bounded by the driver; the stand-in bounds itself to 20 s. */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "cleanup.h"
#include "domain.h"
#include "xen-dom.h"
#include "util.h"
#include "xen-driver.h"

struct host {
    struct agent ag;
    char state[128], xl[128];
};

struct world {
    char root[64];
    struct host a, b;
    struct domain_def *def;
};

static const char guest_xml[] =
    "<domain type='kvm'><name>g1</name><uuid>5e0c2d9a-7b1f-4c3e-9a8d-6f5e4d3c2b1a</uuid>"
    "<memory unit='MiB'>256</memory><vcpu>2</vcpu><os><type>hvm</type></os>"
    "<devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>"
    "<source file='/srv/g1.img'/><target dev='vda' bus='virtio'/></disk></devices></domain>";

static void write_file(const char *path, const char *text, mode_t mode)
{
    struct ferry_error err = {0};
    assert_int_equal(ferry_write_file_atomic(path, text, strlen(text), mode, &err), 0);
}

static void host_init(struct world *w, struct host *h, const char *name)
{
    struct ferry_error err = {0};

    memset(&h->ag, 0, sizeof h->ag);
    snprintf(h->state, sizeof h->state, "%s/%s-xl", w->root, name);
    snprintf(h->ag.run_dir, sizeof h->ag.run_dir, "%s/%s-run", w->root, name);
    snprintf(h->xl, sizeof h->xl, "%s/%s-xl.sh", w->root, name);
    assert_int_equal(mkdir(h->state, 0755), 0);
    assert_int_equal(mkdir(h->ag.run_dir, 0755), 0);
    _cleanup_free_ char *script = ferry_strdup_printf(
        "#!/bin/sh\n# TEST ONLY: this host's stand-in xl\nFERRY_XL_STANDIN_DIR='%s' "
        "FERRY_XL_STANDIN_TIMEOUT_S=20 FERRY_XL_STANDIN_MEM_BYTES=2500000 exec '%s/xl' \"$@\"\n",
        h->state, XL_STANDIN_DIR);
    write_file(h->xl, script, 0755);
    h->ag.cfg.xl_binary = h->xl;
    snprintf(h->ag.hostname, sizeof h->ag.hostname, "127.0.0.1");
    h->ag.driver = &xen_hv_driver;
    if (xen_hv_driver.init(&h->ag, &err) < 0)
        fail_msg("init: %s", ferry_error_msg(&err));
}

static int setup(void **state)
{
    struct world *w = ferry_calloc(1, sizeof *w);
    struct ferry_error err = {0};

    snprintf(w->root, sizeof w->root, "/tmp/ferry-xend-XXXXXX");
    if (!mkdtemp(w->root))
        return -1;
    setenv("FERRY_XL_PIPE", XL_PIPE_PATH, 1);
    host_init(w, &w->a, "a");
    host_init(w, &w->b, "b");
    if (domain_def_parse(guest_xml, strlen(guest_xml), &w->def, &err) < 0)
        fail_msg("%s", ferry_error_msg(&err));
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    _cleanup_free_ char *cmd = ferry_strdup_printf("rm -rf '%s'", w->root);

    domain_def_free(w->def);
    free(w->a.ag.driver_priv);
    free(w->b.ag.driver_priv);
    if (system(cmd) != 0)
        return -1;
    free(w);
    return 0;
}

static struct agent_domain *new_dom(struct world *w)
{
    struct agent_domain *d = ferry_calloc(1, sizeof *d);
    d->def = domain_def_copy(w->def);
    return d;
}

static void free_dom(struct host *h, struct agent_domain *d)
{
    xen_hv_driver.domain_release(&h->ag, d);
    domain_def_free(d->def);
    free(d);
}

static const char *state_of(struct host *h, struct agent_domain *d)
{
    static char st[32];
    char reason[32];
    struct ferry_error err = {0};

    if (xen_hv_driver.domain_state(&h->ag, d, st, sizeof st, reason, sizeof reason, &err) < 0)
        fail_msg("state: %s", ferry_error_msg(&err));
    return st;
}

static void set_fail(struct host *h, const char *spec)
{
    _cleanup_free_ char *p = ferry_strdup_printf("%s/fail", h->state);
    write_file(p, spec, 0644);
}

static void start_guest(struct host *h, struct agent_domain *d)
{
    struct ferry_error err = {0};

    if (xen_hv_driver.domain_start(&h->ag, d, &err) < 0)
        fail_msg("start: %s", ferry_error_msg(&err));
    assert_true(d->active);
}

static void test_lifecycle(void **state)
{
    struct world *w = *state;
    struct agent_domain *d = new_dom(w);
    struct ferry_error err = {0};

    start_guest(&w->a, d);
    assert_string_equal(state_of(&w->a, d), "running");
    _cleanup_free_ char *cfgp = ferry_strdup_printf("%s/g1.xl.cfg", w->a.ag.run_dir);
    _cleanup_free_ char *cfg = NULL;
    assert_int_equal(ferry_read_file(cfgp, 65536, &cfg, NULL, &err), 0);
    assert_non_null(strstr(cfg, "\"format=raw, vdev=xvda, access=rw, target=/srv/g1.img\""));
    assert_non_null(strstr(cfg, "memory = 256\n"));
    assert_int_equal(xen_hv_driver.domain_attach(&w->a.ag, d, &err), 1);
    /* A second start of the same name fails with xl's reason. */
    struct agent_domain *d2 = new_dom(w);
    assert_int_equal(xen_hv_driver.domain_start(&w->a.ag, d2, &err), -EIO);
    assert_non_null(strstr(err.msg, "xl create: exit status 1"));
    assert_non_null(strstr(err.msg, "already exists"));
    free_dom(&w->a, d2);
    ferry_error_clear(&err);
    assert_int_equal(xen_hv_driver.domain_destroy(&w->a.ag, d, &err), 0);
    assert_string_equal(state_of(&w->a, d), "shutoff");
    assert_int_equal(xen_hv_driver.domain_attach(&w->a.ag, d, &err), 0);
    free_dom(&w->a, d);
}

static void test_init_without_xl(void **state)
{
    struct agent ag;
    struct ferry_error err = {0};

    memset(&ag, 0, sizeof ag);
    ag.cfg.xl_binary = (char *)"/nonexistent/xl";
    assert_int_equal(xen_hv_driver.init(&ag, &err), -ENOENT);
    assert_string_equal(err.msg, "xen driver: the toolstack '/nonexistent/xl' does not answer: "
                                 "xl info: cannot execute /nonexistent/xl");
    free(ag.driver_priv);
}

static void test_capabilities(void **state)
{
    struct world *w = *state;
    struct hv_guest_caps g = {.domain_type = ""};

    /* What the core's capabilities document and HELLO are built from. */
    assert_true(xen_hv_driver.supported_flags & MIG_OFFLINE);
    assert_false(xen_hv_driver.migrate_bandwidth);
    assert_false(xen_hv_driver.migrate_rename);
    assert_int_equal(xen_hv_driver.storage_engines, 0);
    xen_hv_driver.guest_caps(&w->a.ag, &g);
    assert_string_equal(g.domain_type, "xen");
    assert_false(xen_hv_driver.supported_flags & MIG_NON_SHARED_DISK);
    assert_true(xen_hv_driver.supported_flags & MIG_LIVE);
}

struct mig {
    struct mig_params params;
    struct mig_ctx src, dst;
    struct agent_domain *sd, *dd;
    int r_begin, r_prepare, r_perform, r_finish, r_confirm;
    struct ferry_error e_perform, e_finish, e_confirm;
    struct agent_job job; /* the source's: Perform's progress figures */
};

/* Runs the v3 steps as the engine does: a failed Perform cancels Finish
 * and Confirm. */
static void run_migration(struct world *w, struct mig *g)
{
    struct ferry_error err = {0};

    g->params.flags |= MIG_LIVE | MIG_PEER2PEER;
    g->src = (struct mig_ctx){
        .agent = &w->a.ag, .dom = g->sd, .job = &g->job, .params = &g->params, .version = 3};
    g->dst = (struct mig_ctx){.agent = &w->b.ag, .dom = g->dd, .params = &g->params, .version = 3};
    g->r_begin = xen_hv_driver.migrate_begin(&g->src, &err);
    assert_int_equal(g->r_begin, 0);
    g->r_prepare = xen_hv_driver.migrate_prepare(&g->dst, &err);
    if (g->r_prepare < 0)
        fail_msg("prepare: %s", ferry_error_msg(&err));
    assert_non_null(strstr(g->dst.uri, "xl+tcp://127.0.0.1:"));
    g->src.uri = ferry_strdup(g->dst.uri);
    g->r_perform = xen_hv_driver.migrate_perform(&g->src, &g->e_perform);
    g->dst.cancelled = g->src.cancelled = g->r_perform < 0;
    g->r_finish = xen_hv_driver.migrate_finish(&g->dst, &g->e_finish);
    g->r_confirm = xen_hv_driver.migrate_confirm(&g->src, &g->e_confirm);
    free(g->src.uri);
    free(g->dst.uri);
}

static void mig_init(struct world *w, struct mig *g)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->job.lock, NULL);
    g->sd = new_dom(w);
    g->dd = new_dom(w);
    start_guest(&w->a, g->sd);
}

static void mig_free(struct world *w, struct mig *g)
{
    free_dom(&w->a, g->sd);
    free_dom(&w->b, g->dd);
}

static void test_migrate_ok(void **state)
{
    struct world *w = *state;
    struct mig g;

    mig_init(w, &g);
    run_migration(w, &g);
    if (g.r_perform < 0)
        fail_msg("perform: %s", ferry_error_msg(&g.e_perform));
    if (g.r_finish < 0)
        fail_msg("finish: %s", ferry_error_msg(&g.e_finish));
    assert_int_equal(g.r_confirm, 0);
    assert_string_equal(state_of(&w->b, g.dd), "running");
    assert_true(g.dd->active);
    assert_false(g.dd->incoming);
    assert_string_equal(state_of(&w->a, g.sd), "shutoff");
    assert_false(g.sd->active);
    /* Progress came from ferry-xl-pipe: the whole stream went through. */
    assert_true(g.job.stats.set);
    assert_string_equal(g.job.stats.status, "completed");
    assert_int_equal(g.job.stats.memory_total, 256ull << 20);
    assert_true(g.job.stats.memory_processed > 2500000);
    assert_true(g.job.stats.time_elapsed_ms > 0);
    mig_free(w, &g);
}

static void test_migrate_paused(void **state)
{
    struct world *w = *state;
    struct mig g;

    mig_init(w, &g);
    g.params.flags = MIG_PAUSED;
    run_migration(w, &g);
    assert_int_equal(g.r_perform, 0);
    assert_int_equal(g.r_finish, 0);
    assert_string_equal(state_of(&w->b, g.dd), "paused");
    mig_free(w, &g);
}

static void test_migrate_receiver_refuses(void **state)
{
    struct world *w = *state;
    struct mig g;

    mig_init(w, &g);
    set_fail(&w->b, "receiver-refuse");
    run_migration(w, &g);
    assert_int_equal(g.r_perform, -EIO);
    assert_non_null(strstr(g.e_perform.msg, "xl migrate: exit status 1"));
    assert_int_equal(g.r_finish, 0);
    assert_int_equal(g.r_confirm, 0);
    assert_string_equal(state_of(&w->a, g.sd), "running");
    assert_string_equal(state_of(&w->b, g.dd), "shutoff");
    mig_free(w, &g);
}

static void test_migrate_stream_cut(void **state)
{
    struct world *w = *state;
    struct mig g;

    mig_init(w, &g);
    set_fail(&w->a, "cut-after=300000");
    run_migration(w, &g);
    assert_int_equal(g.r_perform, -EIO);
    assert_non_null(strstr(g.e_perform.msg, "Migration failed, resuming at sender."));
    assert_int_equal(g.r_finish, 0);
    assert_int_equal(g.r_confirm, 0);
    assert_string_equal(state_of(&w->a, g.sd), "running");
    assert_string_equal(state_of(&w->b, g.dd), "shutoff");
    /* Nothing half-received is left on the destination. */
    struct agent_domain inc = {.def = domain_def_copy(w->def)};
    snprintf(inc.def->name, sizeof inc.def->name, "g1--incoming");
    assert_string_equal(state_of(&w->b, &inc), "shutoff");
    domain_def_free(inc.def);
    mig_free(w, &g);
}

static void test_migrate_target_fails_start(void **state)
{
    struct world *w = *state;
    struct mig g;

    mig_init(w, &g);
    set_fail(&w->b, "receiver-fail-start");
    run_migration(w, &g);
    assert_int_equal(g.r_perform, -EIO);
    assert_non_null(strstr(g.e_perform.msg, "Migration failed due to problems at target."));
    assert_int_equal(g.r_finish, 0);
    assert_int_equal(g.r_confirm, 0);
    assert_string_equal(state_of(&w->a, g.sd), "running");
    assert_string_equal(state_of(&w->b, g.dd), "shutoff");
    mig_free(w, &g);
}

/* Past xl's point of no return neither side may resume or destroy: both
 * copies stay paused and both steps say so. */
static void test_migrate_sender_dies_after_go(void **state)
{
    struct world *w = *state;
    struct mig g;

    mig_init(w, &g);
    set_fail(&w->a, "sender-die-after-go");
    run_migration(w, &g);
    assert_int_equal(g.r_perform, -EIO);
    assert_non_null(strstr(g.e_perform.msg, "xl migrate: killed by signal 9"));
    assert_int_equal(g.r_finish, -EIO);
    assert_non_null(strstr(g.e_finish.msg, "was handed over by xl before the migration failed"));
    assert_int_equal(g.r_confirm, -EIO);
    assert_non_null(strstr(g.e_confirm.msg, "kept paused as 'g1--migratedaway'"));
    assert_string_equal(state_of(&w->b, g.dd), "paused");
    struct agent_domain away = {.def = domain_def_copy(w->def)};
    snprintf(away.def->name, sizeof away.def->name, "g1--migratedaway");
    assert_string_equal(state_of(&w->a, &away), "paused");
    domain_def_free(away.def);
    mig_free(w, &g);
}

/* Real xl's migrate-receive leaves a monitoring daemon that may keep the
 * stream's socket open: the migration must not wait for it. */
static void test_migrate_receiver_daemon_keeps_socket(void **state)
{
    struct world *w = *state;
    struct mig g;

    mig_init(w, &g);
    set_fail(&w->b, "receiver-daemon");
    int64_t t0 = ferry_now_ms();
    run_migration(w, &g);
    int64_t took = ferry_now_ms() - t0;
    assert_int_equal(g.r_perform, 0);
    assert_int_equal(g.r_finish, 0);
    assert_int_equal(g.r_confirm, 0);
    assert_string_equal(state_of(&w->b, g.dd), "running");
    /* The daemon holds the socket for 20 s; stop it now, by its pid. */
    _cleanup_free_ char *pp = ferry_strdup_printf("%s/daemon.pid", w->b.state);
    _cleanup_free_ char *pid = NULL;
    struct ferry_error err = {0};
    assert_int_equal(ferry_read_file(pp, 64, &pid, NULL, &err), 0);
    assert_true(atoi(pid) > 1);
    kill(atoi(pid), SIGKILL);
    assert_true(took < 15000);
    mig_free(w, &g);
}

/* A connection without the token is closed; the real source still gets in. */
static void test_migrate_wrong_token_refused(void **state)
{
    struct world *w = *state;
    struct ferry_error err = {0};
    struct mig g;

    mig_init(w, &g);
    g.params.flags = MIG_LIVE;
    g.src = (struct mig_ctx){.agent = &w->a.ag, .dom = g.sd, .params = &g.params, .version = 3};
    g.dst = (struct mig_ctx){.agent = &w->b.ag, .dom = g.dd, .params = &g.params, .version = 3};
    assert_int_equal(xen_hv_driver.migrate_begin(&g.src, &err), 0);
    assert_int_equal(xen_hv_driver.migrate_prepare(&g.dst, &err), 0);
    const char *colon = strrchr(g.dst.uri, ':');
    assert_non_null(colon);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(colon + 1)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(write(fd, "not-the-token\n", 14), 14);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    assert_int_equal(read(fd, &c, 1), 0); /* closed, nothing said */
    close(fd);

    g.src.uri = ferry_strdup(g.dst.uri);
    assert_int_equal(xen_hv_driver.migrate_perform(&g.src, &err), 0);
    assert_int_equal(xen_hv_driver.migrate_finish(&g.dst, &err), 0);
    assert_int_equal(xen_hv_driver.migrate_confirm(&g.src, &err), 0);
    assert_string_equal(state_of(&w->b, g.dd), "running");
    free(g.src.uri);
    free(g.dst.uri);
    mig_free(w, &g);
}

static void *perform_thread(void *opaque)
{
    struct mig *g = opaque;

    g->r_perform = xen_hv_driver.migrate_perform(&g->src, &g->e_perform);
    return NULL;
}

/* domjobabort: cancel kills xl migrate mid-stream; the source keeps
 * running and the destination drops what it received. */
static void test_migrate_cancelled(void **state)
{
    struct world *w = *state;
    struct ferry_error err = {0};
    struct mig g;
    pthread_t th;

    mig_init(w, &g);
    set_fail(&w->a, "delay-ms=100"); /* ~4 s of stream: time to cancel */
    g.params.flags = MIG_LIVE;
    g.src = (struct mig_ctx){.agent = &w->a.ag, .dom = g.sd, .params = &g.params, .version = 3};
    g.dst = (struct mig_ctx){.agent = &w->b.ag, .dom = g.dd, .params = &g.params, .version = 3};
    assert_int_equal(xen_hv_driver.migrate_begin(&g.src, &err), 0);
    assert_int_equal(xen_hv_driver.migrate_prepare(&g.dst, &err), 0);
    g.src.uri = ferry_strdup(g.dst.uri);
    assert_int_equal(pthread_create(&th, NULL, perform_thread, &g), 0);
    /* Wait until xl migrate runs, then cancel as the engine would. */
    struct xen_dom *pv = g.sd->priv;
    for (int i = 0; i < 500 && pv->send_pid == 0; i++)
        usleep(10 * 1000);
    assert_true(pv->send_pid > 0);
    usleep(300 * 1000);
    xen_hv_driver.migrate_cancel(&g.src);
    pthread_join(th, NULL);
    assert_int_equal(g.r_perform, -EIO);
    assert_non_null(strstr(g.e_perform.msg, "xl migrate: killed by signal 15"));
    g.dst.cancelled = g.src.cancelled = true;
    assert_int_equal(xen_hv_driver.migrate_finish(&g.dst, &err), 0);
    assert_int_equal(xen_hv_driver.migrate_confirm(&g.src, &err), 0);
    assert_string_equal(state_of(&w->a, g.sd), "running");
    assert_string_equal(state_of(&w->b, g.dd), "shutoff");
    free(g.src.uri);
    free(g.dst.uri);
    mig_free(w, &g);
}

static void test_rename_refused(void **state)
{
    struct world *w = *state;
    struct agent_domain *d = new_dom(w);
    struct mig_params params = {.flags = MIG_LIVE, .dname = (char *)"other"};
    struct mig_ctx m = {.agent = &w->a.ag,
                        .dom = d,
                        .params = &params,
                        .version = 2,
                        .uri = (char *)"xl+tcp://127.0.0.1:1/x"};
    struct ferry_error err = {0};

    start_guest(&w->a, d);
    assert_int_equal(xen_hv_driver.migrate_perform(&m, &err), -ENOTSUP);
    assert_string_equal(err.msg, "perform: xl migrate cannot rename a domain ('g1' to 'other')");
    ferry_error_clear(&err);
    params.dname = NULL;
    params.bandwidth_mib = 100;
    assert_int_equal(xen_hv_driver.migrate_begin(&m, &err), -ENOTSUP);
    assert_string_equal(err.msg, "begin: xl migrate has no bandwidth limit");
    assert_string_equal(state_of(&w->a, d), "running");
    free_dom(&w->a, d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
        cmocka_unit_test(test_init_without_xl),
        cmocka_unit_test_setup_teardown(test_migrate_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_paused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_receiver_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_stream_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_target_fails_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_sender_dies_after_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_cancelled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_wrong_token_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_receiver_daemon_keeps_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
