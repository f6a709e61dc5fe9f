/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TLS for QEMU's own migration streams (--tls, libvirt's VIR_MIGRATE_TLS):
 * one tls-creds-x509 object per QEMU, named QEMU_TLS_CREDS_ID, made from the
 * agent's --migrate-tls-dir and used by the RAM stream (migration parameter
 * tls-creds), the destination's NBD server and engine 'qemu''s NBD client
 * nodes. Engine 'ferry' reads the same directory with libnbd. Without
 * --tls the same object is a tls-creds-psk with a key chosen per
 * migration (docs/security.md, "Migration streams"). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "cleanup.h"
#include "json-cleanup.h"
#include "qemu-priv.h"
#include "tls.h"

#define TLS_QMP_TIMEOUT_MS 30000

/* The files each side needs ([0] the source, the client; [1] the
 * destination, the server), libvirt's /etc/pki/qemu names. The source
 * presents a client certificate: the destination verifies its peer. */
static const char *const side_files[2][3] = {
    {"ca-cert.pem", "client-cert.pem", "client-key.pem"},
    {"ca-cert.pem", "server-cert.pem", "server-key.pem"},
};

int qemu_tls_check_files(struct agent *ag, bool server, struct ferry_error *err)
{
    const char *const *files = side_files[server];

    for (size_t i = 0; i < ARRAY_SIZE(side_files[0]); i++) {
        _cleanup_free_ char *path = ferry_strdup_printf("%s/%s", ag->cfg.migrate_tls_dir, files[i]);
        if (access(path, R_OK) < 0)
            return ferry_error_set_errno(err, errno,
                                         "--tls: the %s's certificate file '%s' cannot be read "
                                         "(ferryd --migrate-tls-dir)",
                                         server ? "destination" : "source", path);
    }
    return 0;
}

/* GnuTLS 3.7 here (Debian 12) negotiates ChaCha20-Poly1305 for QEMU's
 * streams, PSK or x509, although the CPU has AES instructions: measured on
 * this project's 2-core EPYC, `gnutls-cli --benchmark-ciphers` gives
 * AES-128-GCM 4.1 GB/s and ChaCha20-Poly1305 0.5 GB/s, and a 1 GiB copy
 * into a PSK qemu-nbd took 4.7 s with ChaCha20 (half of the server's CPU
 * in nettle's chacha core) and 2.2 s without it. The destination QEMU is
 * the server of both the RAM and the NBD streams, so its list decides;
 * ferry's libnbd client has no priority of its own to set. Taking
 * ChaCha20 out leaves AES-GCM first and every other suite as it was. */
#define QEMU_TLS_PRIORITY_AES "NORMAL:-CHACHA20-POLY1305"

const char *qemu_tls_priority(const struct agent *ag)
{
    const char *p = ag->cfg.migrate_tls_priority;

    if (p && strcmp(p, "auto") != 0)
        return strcmp(p, "default") == 0 ? NULL : p;
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("aes"))
        return QEMU_TLS_PRIORITY_AES;
#endif
    /* Without AES instructions ChaCha20 is the faster one: GnuTLS's own
     * order is right there. */
    return NULL;
}

static void add_priority(const struct agent *ag, json_object *args)
{
    const char *p = qemu_tls_priority(ag);

    if (p)
        json_object_object_add(args, "priority", json_object_new_string(p));
}

/* The migration parameters naming our object, reset to "no TLS" so that a
 * later migration without --tls does not look for it. */
static int reset_params(struct qmp_conn *qmp, struct ferry_error *err)
{
    json_object *args = json_object_new_object();

    json_object_object_add(args, "tls-creds", json_object_new_string(""));
    json_object_object_add(args, "tls-hostname", json_object_new_string(""));
    return qmp_conn_execute(qmp, "migrate-set-parameters", args, TLS_QMP_TIMEOUT_MS, NULL, err);
}

bool qemu_tls_teardown(struct qmp_conn *qmp)
{
    _cleanup_(json_object_putp) json_object *q = NULL;
    json_object *v = NULL, *args;
    bool removed = false;

    if (!qmp || !qmp_conn_alive(qmp))
        return false;
    if (qmp_conn_execute(qmp, "query-migrate-parameters", NULL, TLS_QMP_TIMEOUT_MS, &q, NULL) ==
            0 &&
        json_object_object_get_ex(q, "tls-creds", &v) &&
        strcmp(json_object_get_string(v), QEMU_TLS_CREDS_ID) == 0) {
        if (reset_params(qmp, NULL) == 0)
            removed = true;
    }
    /* Whoever held a reference (the NBD server, an NBD client node) is
     * gone by now: the callers stop those first. */
    args = json_object_new_object();
    json_object_object_add(args, "id", json_object_new_string(QEMU_TLS_CREDS_ID));
    if (qmp_conn_execute(qmp, "object-del", args, TLS_QMP_TIMEOUT_MS, NULL, NULL) == 0)
        removed = true;
    return removed;
}

int qemu_tls_setup(struct agent *ag, struct qmp_conn *qmp, bool server, const char *hostname,
                   struct ferry_error *err)
{
    json_object *args;
    int r;

    /* A leftover of a migration whose teardown failed would make
     * object-add fail with a duplicate id. */
    qemu_tls_teardown(qmp);
    if (server) {
        /* The operator's directory: we do not write there (write_dh_params
         * below says what the file saves). */
        _cleanup_free_ char *dh =
            ferry_strdup_printf("%s/" QEMU_TLS_DH_FILE, ag->cfg.migrate_tls_dir);
        if (access(dh, R_OK) < 0)
            ferry_warn("--tls: no %s: QEMU generates DH parameters in every Prepare (0.1-1 s "
                       "of CPU); create it with `certtool --get-dh-params`",
                       dh);
    }
    args = json_object_new_object();
    json_object_object_add(args, "qom-type", json_object_new_string("tls-creds-x509"));
    json_object_object_add(args, "id", json_object_new_string(QEMU_TLS_CREDS_ID));
    json_object_object_add(args, "dir", json_object_new_string(ag->cfg.migrate_tls_dir));
    json_object_object_add(args, "endpoint", json_object_new_string(server ? "server" : "client"));
    /* Both ends authenticate: the destination asks for the source's client
     * certificate, the source checks the destination's against HOSTNAME. */
    json_object_object_add(args, "verify-peer", json_object_new_boolean(true));
    add_priority(ag, args);
    r = qmp_conn_execute(qmp, "object-add", args, TLS_QMP_TIMEOUT_MS, NULL, err);
    if (r < 0) {
        ferry_error_prefix(err, "--tls: loading the certificates of '%s'", ag->cfg.migrate_tls_dir);
        return r;
    }
    args = json_object_new_object();
    json_object_object_add(args, "tls-creds", json_object_new_string(QEMU_TLS_CREDS_ID));
    if (!server)
        json_object_object_add(args, "tls-hostname",
                               json_object_new_string(hostname ? hostname : ""));
    r = qmp_conn_execute(qmp, "migrate-set-parameters", args, TLS_QMP_TIMEOUT_MS, NULL, err);
    if (r < 0) {
        ferry_error_prefix(err, "--tls: migration parameter tls-creds");
        qemu_tls_teardown(qmp);
        return r;
    }
    return 0;
}

char *qemu_tls_psk_file(struct agent *ag, const char *name)
{
    return ferry_strdup_printf("%s/%s.psk/keys.psk", ag->run_dir, name);
}

void qemu_tls_psk_remove(struct agent *ag, const char *name)
{
    _cleanup_free_ char *file = qemu_tls_psk_file(ag, name);
    _cleanup_free_ char *dir = ferry_strdup_printf("%s/%s.psk", ag->run_dir, name);
    _cleanup_free_ char *dh = ferry_strdup_printf("%s/" QEMU_TLS_DH_FILE, dir);

    unlink(file);
    unlink(dh);
    rmdir(dir);
}

/* A server credentials object without dh-params.pem in its directory makes
 * QEMU generate 2048-bit DH parameters in object-add, on its main loop:
 * measured 0.1-1.0 s of CPU (a random prime search) in every Prepare. A
 * fixed, published group (RFC 7919) is what TLS 1.3 negotiates anyway, and
 * the pre-shared key, not the group, authenticates the peer. */
static int write_dh_params(struct agent *ag, const char *dir, struct ferry_error *err)
{
    _cleanup_free_ char *path = ferry_strdup_printf("%s/" QEMU_TLS_DH_FILE, dir);
    _cleanup_free_ char *pem = NULL;
    size_t len = 0;
    int r;

    if ((r = tls_dh_params_pem(&pem, &len, err)) < 0 ||
        (r = ferry_write_file_atomic(path, pem, len, 0600, err)) < 0)
        return r;
    return qemu_give_to_user(ag, path, err);
}

int qemu_tls_setup_psk(struct agent *ag, struct qmp_conn *qmp, const char *name, bool server,
                       const char *psk_hex, char *ret_hex, struct ferry_error *err)
{
    _cleanup_free_ char *file = qemu_tls_psk_file(ag, name);
    _cleanup_free_ char *dir = ferry_strdup_printf("%s/%s.psk", ag->run_dir, name);
    _cleanup_free_ char *line = NULL;
    char hex[65];
    json_object *args;
    int r;

    if (psk_hex) {
        snprintf(hex, sizeof hex, "%s", psk_hex);
    } else {
        uint8_t key[WIRE_AUTH_NONCE];
        if ((r = wire_auth_nonce(key, err)) < 0)
            return r;
        for (size_t i = 0; i < sizeof key; i++)
            snprintf(hex + 2 * i, 3, "%02x", key[i]);
        explicit_bzero(key, sizeof key);
        snprintf(ret_hex, 65, "%s", hex);
    }
    qemu_tls_teardown(qmp);
    qemu_tls_psk_remove(ag, name);
    /* QEMU reads a directory: one per domain, private to the agent (and to
     * QEMU, which runs as the agent's user). */
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return ferry_error_set_errno(err, errno, "stream key: cannot create '%s'", dir);
    line = ferry_strdup_printf("%s:%s\n", QEMU_PSK_USERNAME, hex);
    explicit_bzero(hex, sizeof hex);
    r = ferry_write_file_atomic(file, line, strlen(line), 0600, err);
    explicit_bzero(line, strlen(line));
    /* QEMU reads it when the object is added, after it dropped to
     * --qemu-user. */
    if (r == 0 && (r = qemu_give_to_user(ag, dir, err)) == 0)
        r = qemu_give_to_user(ag, file, err);
    if (r == 0 && server)
        r = write_dh_params(ag, dir, err);
    if (r < 0)
        goto remove_file;
    args = json_object_new_object();
    json_object_object_add(args, "qom-type", json_object_new_string("tls-creds-psk"));
    json_object_object_add(args, "id", json_object_new_string(QEMU_TLS_CREDS_ID));
    json_object_object_add(args, "dir", json_object_new_string(dir));
    json_object_object_add(args, "endpoint", json_object_new_string(server ? "server" : "client"));
    if (!server)
        json_object_object_add(args, "username", json_object_new_string(QEMU_PSK_USERNAME));
    add_priority(ag, args);
    r = qmp_conn_execute(qmp, "object-add", args, TLS_QMP_TIMEOUT_MS, NULL, err);
    if (r < 0) {
        ferry_error_prefix(err, "stream key: tls-creds-psk");
        goto remove_file;
    }
    args = json_object_new_object();
    json_object_object_add(args, "tls-creds", json_object_new_string(QEMU_TLS_CREDS_ID));
    json_object_object_add(args, "tls-hostname", json_object_new_string(""));
    r = qmp_conn_execute(qmp, "migrate-set-parameters", args, TLS_QMP_TIMEOUT_MS, NULL, err);
    if (r < 0) {
        ferry_error_prefix(err, "stream key: migration parameter tls-creds");
        qemu_tls_teardown(qmp);
        goto remove_file;
    }
    return 0;

remove_file:
    qemu_tls_psk_remove(ag, name);
    return r;
}
