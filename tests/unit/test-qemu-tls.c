/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* --tls in the QEMU driver (qemu/qemu-tls.c) against a fake QMP server
 * with canned replies: the exact commands QEMU receives to make and drop
 * the credentials, what a refusal leaves behind, and the file check that
 * refuses a migration before anything starts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qemu-priv.h"
#include "test-qmp-fake.h"

#define TLS_DIR "/srv/pki/qemu"

/* The agent library names the driver table only through this (ferryd
 * links agent/drivers.c); the functions under test need no driver. */

/* "default": no priority property, whatever this CPU has; the priority's
 * own tests set it. */
static struct agent the_agent = {
    .cfg = {.migrate_tls_dir = (char *)TLS_DIR, .migrate_tls_priority = (char *)"default"}};

static struct qmp_conn *open_fake(struct fake *f)
{
    struct qmp_conn *qmp = NULL;
    struct ferry_error err = {0};
    int r = qmp_conn_open(f->path, 5000, &qmp, &err);

    if (r < 0)
        fprintf(stderr, "open: %s\n", ferry_error_msg(&err));
    assert_int_equal(r, 0);
    return qmp;
}

static const char *arg_str(json_object *cmd, const char *key)
{
    json_object *args = NULL, *v = NULL;

    if (!json_object_object_get_ex(cmd, "arguments", &args) ||
        !json_object_object_get_ex(args, key, &v))
        return NULL;
    return json_object_get_string(v);
}

static size_t n_args(json_object *cmd)
{
    json_object *args = NULL;

    return json_object_object_get_ex(cmd, "arguments", &args) ? json_object_object_length(args) : 0;
}

static bool str_is(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

/* The teardown qemu_tls_setup runs first, on a QEMU with nothing of ours. */
static void expect_clean_teardown(struct fake *f, int fd)
{
    json_object *cmd = fake_expect(f, fd, "query-migrate-parameters");

    if (cmd)
        fake_reply(fd, cmd, "{\"tls-creds\": \"\", \"tls-hostname\": \"\"}");
    json_object_put(cmd);
    cmd = fake_expect(f, fd, "object-del");
    FAKE_CHECK(f, cmd && str_is(arg_str(cmd, "id"), QEMU_TLS_CREDS_ID));
    if (cmd)
        fake_error(fd, cmd, "GenericError", "object 'ferry-tls-creds' not found");
    json_object_put(cmd);
}

static void expect_object_add(struct fake *f, int fd, const char *endpoint, bool ok)
{
    json_object *cmd = fake_expect(f, fd, "object-add"), *v = NULL;

    FAKE_CHECK(f, cmd && str_is(arg_str(cmd, "qom-type"), "tls-creds-x509"));
    FAKE_CHECK(f, cmd && str_is(arg_str(cmd, "id"), QEMU_TLS_CREDS_ID));
    FAKE_CHECK(f, cmd && str_is(arg_str(cmd, "dir"), TLS_DIR));
    FAKE_CHECK(f, cmd && str_is(arg_str(cmd, "endpoint"), endpoint));
    FAKE_CHECK(f, cmd &&
                      json_object_object_get_ex(json_object_object_get(cmd, "arguments"),
                                                "verify-peer", &v) &&
                      json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v));
    if (qemu_tls_priority(&the_agent)) {
        FAKE_CHECK(f, cmd && str_is(arg_str(cmd, "priority"), qemu_tls_priority(&the_agent)));
        FAKE_CHECK(f, cmd && n_args(cmd) == 6);
    } else {
        FAKE_CHECK(f, cmd && n_args(cmd) == 5);
    }
    if (cmd && ok)
        fake_reply(fd, cmd, "{}");
    else if (cmd)
        fake_error(fd, cmd, "GenericError",
                   "Unable to access credentials " TLS_DIR "/ca-cert.pem: No such file or "
                   "directory");
    json_object_put(cmd);
}

static void script_server(struct fake *f, int fd)
{
    json_object *cmd;

    expect_clean_teardown(f, fd);
    expect_object_add(f, fd, "server", true);
    cmd = fake_expect(f, fd, "migrate-set-parameters");
    /* The destination checks no host name: only tls-creds. */
    FAKE_CHECK(f, cmd && str_is(arg_str(cmd, "tls-creds"), QEMU_TLS_CREDS_ID));
    FAKE_CHECK(f, cmd && n_args(cmd) == 1);
    if (cmd)
        fake_reply(fd, cmd, "{}");
    json_object_put(cmd);
}

static void test_setup_server(void **state)
{
    struct fake f = {0};
    struct qmp_conn *qmp;
    struct ferry_error err = {0};

    (void)state;
    fake_start(&f, script_server, NULL);
    qmp = open_fake(&f);
    assert_int_equal(qemu_tls_setup(&the_agent, qmp, true, "ignored", &err), 0);
    qmp_conn_free(qmp);
    assert_int_equal(fake_stop(&f), 0);
}

/* An operator's priority string reaches the object as given. */
static void test_setup_priority(void **state)
{
    struct fake f = {0};
    struct qmp_conn *qmp;
    struct ferry_error err = {0};

    (void)state;
    the_agent.cfg.migrate_tls_priority = (char *)"NORMAL:-VERS-TLS1.0";
    fake_start(&f, script_server, NULL);
    qmp = open_fake(&f);
    assert_int_equal(qemu_tls_setup(&the_agent, qmp, true, NULL, &err), 0);
    qmp_conn_free(qmp);
    assert_int_equal(fake_stop(&f), 0);
    the_agent.cfg.migrate_tls_priority = (char *)"default";
}

/* "auto" (and no option) takes ChaCha20 out exactly where the CPU has AES
 * instructions; "default" leaves QEMU's own. */
static void test_priority_choice(void **state)
{
    struct agent ag = {0};
    bool aes = false;

    (void)state;
#if defined(__x86_64__) || defined(__i386__)
    aes = __builtin_cpu_supports("aes");
#endif
    for (int i = 0; i < 2; i++) {
        ag.cfg.migrate_tls_priority = i ? (char *)"auto" : NULL;
        if (aes)
            assert_string_equal(qemu_tls_priority(&ag), "NORMAL:-CHACHA20-POLY1305");
        else
            assert_null(qemu_tls_priority(&ag));
    }
    ag.cfg.migrate_tls_priority = (char *)"default";
    assert_null(qemu_tls_priority(&ag));
    ag.cfg.migrate_tls_priority = (char *)"PERFORMANCE";
    assert_string_equal(qemu_tls_priority(&ag), "PERFORMANCE");
}

static void script_client(struct fake *f, int fd)
{
    json_object *cmd;

    expect_clean_teardown(f, fd);
    expect_object_add(f, fd, "client", true);
    cmd = fake_expect(f, fd, "migrate-set-parameters");
    FAKE_CHECK(f, cmd && str_is(arg_str(cmd, "tls-creds"), QEMU_TLS_CREDS_ID));
    FAKE_CHECK(f, cmd && str_is(arg_str(cmd, "tls-hostname"), "dst.example"));
    if (cmd)
        fake_reply(fd, cmd, "{}");
    json_object_put(cmd);
}

static void test_setup_client_names_host(void **state)
{
    struct fake f = {0};
    struct qmp_conn *qmp;

    (void)state;
    fake_start(&f, script_client, NULL);
    qmp = open_fake(&f);
    assert_int_equal(qemu_tls_setup(&the_agent, qmp, false, "dst.example", NULL), 0);
    qmp_conn_free(qmp);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_object_refused(struct fake *f, int fd)
{
    expect_clean_teardown(f, fd);
    expect_object_add(f, fd, "client", false);
    /* Nothing else: no parameter names an object that does not exist. */
}

static void test_object_refused(void **state)
{
    struct fake f = {0};
    struct qmp_conn *qmp;
    struct ferry_error err = {0};

    (void)state;
    fake_start(&f, script_object_refused, NULL);
    qmp = open_fake(&f);
    assert_true(qemu_tls_setup(&the_agent, qmp, false, "h", &err) < 0);
    assert_non_null(strstr(ferry_error_msg(&err), "--tls: loading the certificates of '" TLS_DIR));
    assert_non_null(strstr(ferry_error_msg(&err), "ca-cert.pem"));
    qmp_conn_free(qmp);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_param_refused(struct fake *f, int fd)
{
    json_object *cmd;

    expect_clean_teardown(f, fd);
    expect_object_add(f, fd, "server", true);
    cmd = fake_expect(f, fd, "migrate-set-parameters");
    if (cmd)
        fake_error(fd, cmd, "GenericError", "Migration is currently running");
    json_object_put(cmd);
    /* The object just made is taken away again. */
    cmd = fake_expect(f, fd, "query-migrate-parameters");
    if (cmd)
        fake_reply(fd, cmd, "{\"tls-creds\": \"\"}");
    json_object_put(cmd);
    cmd = fake_expect(f, fd, "object-del");
    FAKE_CHECK(f, cmd && str_is(arg_str(cmd, "id"), QEMU_TLS_CREDS_ID));
    if (cmd)
        fake_reply(fd, cmd, "{}");
    json_object_put(cmd);
}

static void test_param_refused_removes_object(void **state)
{
    struct fake f = {0};
    struct qmp_conn *qmp;
    struct ferry_error err = {0};

    (void)state;
    fake_start(&f, script_param_refused, NULL);
    qmp = open_fake(&f);
    assert_true(qemu_tls_setup(&the_agent, qmp, true, NULL, &err) < 0);
    assert_non_null(strstr(ferry_error_msg(&err), "tls-creds"));
    assert_non_null(strstr(ferry_error_msg(&err), "Migration is currently running"));
    qmp_conn_free(qmp);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_teardown_ours(struct fake *f, int fd)
{
    json_object *cmd = fake_expect(f, fd, "query-migrate-parameters");

    if (cmd)
        fake_reply(fd, cmd, "{\"tls-creds\": \"ferry-tls-creds\", \"tls-hostname\": \"h\"}");
    json_object_put(cmd);
    /* Reset first: a later migration without --tls must not look for it. */
    cmd = fake_expect(f, fd, "migrate-set-parameters");
    FAKE_CHECK(f, cmd && str_is(arg_str(cmd, "tls-creds"), ""));
    FAKE_CHECK(f, cmd && str_is(arg_str(cmd, "tls-hostname"), ""));
    if (cmd)
        fake_reply(fd, cmd, "{}");
    json_object_put(cmd);
    cmd = fake_expect(f, fd, "object-del");
    if (cmd)
        fake_reply(fd, cmd, "{}");
    json_object_put(cmd);
}

static void test_teardown_ours(void **state)
{
    struct fake f = {0};
    struct qmp_conn *qmp;

    (void)state;
    fake_start(&f, script_teardown_ours, NULL);
    qmp = open_fake(&f);
    assert_true(qemu_tls_teardown(qmp));
    qmp_conn_free(qmp);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_teardown_foreign(struct fake *f, int fd)
{
    json_object *cmd = fake_expect(f, fd, "query-migrate-parameters");

    /* Someone else's credentials (set by hand): not ours to reset. */
    if (cmd)
        fake_reply(fd, cmd, "{\"tls-creds\": \"operator-creds\"}");
    json_object_put(cmd);
    cmd = fake_expect(f, fd, "object-del");
    FAKE_CHECK(f, cmd && str_is(arg_str(cmd, "id"), QEMU_TLS_CREDS_ID));
    if (cmd)
        fake_error(fd, cmd, "GenericError", "object 'ferry-tls-creds' not found");
    json_object_put(cmd);
}

static void test_teardown_nothing_of_ours(void **state)
{
    struct fake f = {0};
    struct qmp_conn *qmp;

    (void)state;
    fake_start(&f, script_teardown_foreign, NULL);
    qmp = open_fake(&f);
    assert_false(qemu_tls_teardown(qmp));
    qmp_conn_free(qmp);
    assert_int_equal(fake_stop(&f), 0);
}

/* ---- the file check ---- */

static void touch(const char *dir, const char *name)
{
    char path[256];
    FILE *fp;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
}

static void rm(const char *dir, const char *name)
{
    char path[256];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static void test_check_files(void **state)
{
    static const char *const all[] = {"ca-cert.pem", "server-cert.pem", "server-key.pem",
                                      "client-cert.pem", "client-key.pem"};
    char dir[] = "/tmp/ferry-tls-unit-XXXXXX";
    struct agent ag = {0};
    struct ferry_error err = {0};
    char want[256];

    (void)state;
    assert_non_null(mkdtemp(dir));
    ag.cfg.migrate_tls_dir = dir;
    for (size_t i = 0; i < 5; i++)
        touch(dir, all[i]);
    assert_int_equal(qemu_tls_check_files(&ag, true, NULL), 0);
    assert_int_equal(qemu_tls_check_files(&ag, false, NULL), 0);

    /* The destination does not need the client's key, nor the source the
     * server's; each names the file it lacks. */
    rm(dir, "client-key.pem");
    assert_int_equal(qemu_tls_check_files(&ag, true, NULL), 0);
    assert_int_equal(qemu_tls_check_files(&ag, false, &err), -ENOENT);
    snprintf(want, sizeof want, "'%s/client-key.pem'", dir);
    assert_non_null(strstr(ferry_error_msg(&err), want));
    assert_non_null(strstr(ferry_error_msg(&err), "source"));
    assert_non_null(strstr(ferry_error_msg(&err), "--migrate-tls-dir"));
    ferry_error_clear(&err);
    touch(dir, "client-key.pem");
    rm(dir, "server-key.pem");
    assert_int_equal(qemu_tls_check_files(&ag, false, NULL), 0);
    assert_int_equal(qemu_tls_check_files(&ag, true, &err), -ENOENT);
    snprintf(want, sizeof want, "'%s/server-key.pem'", dir);
    assert_non_null(strstr(ferry_error_msg(&err), want));
    assert_non_null(strstr(ferry_error_msg(&err), "destination"));
    ferry_error_clear(&err);
    /* Both need the CA. */
    touch(dir, "server-key.pem");
    rm(dir, "ca-cert.pem");
    assert_int_equal(qemu_tls_check_files(&ag, true, NULL), -ENOENT);
    assert_int_equal(qemu_tls_check_files(&ag, false, NULL), -ENOENT);

    for (size_t i = 0; i < 5; i++)
        rm(dir, all[i]);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_server),    cmocka_unit_test(test_setup_client_names_host),
        cmocka_unit_test(test_object_refused),  cmocka_unit_test(test_param_refused_removes_object),
        cmocka_unit_test(test_teardown_ours),   cmocka_unit_test(test_teardown_nothing_of_ours),
        cmocka_unit_test(test_check_files),     cmocka_unit_test(test_setup_priority),
        cmocka_unit_test(test_priority_choice),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    fake_cleanup_all();
    return failed;
}
