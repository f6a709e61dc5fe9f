/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TLS for agent connections: credentials from a libvirt-style directory,
 * a handshake bounded in time on a socket the wire layer owns, the checks
 * on the peer's certificate, and the wire_transport_ops that carry frames
 * through the session afterwards. The socket is only ever used without
 * blocking (MSG_DONTWAIT), so every wait is a poll() with a deadline. */
#include "tls.h"

#include <errno.h>
#include <fnmatch.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

struct tls_server {
    gnutls_certificate_credentials_t cred;
    size_t n_allowed;
    char **allowed;
};

/* One session: the transport's opaque. Fields written by the receiving
 * thread and by senders (under the wire write lock) are kept apart. */
struct tls_conn {
    gnutls_session_t session;
    gnutls_certificate_credentials_t own_cred; /* client side: freed with us */
    int fd;                                    /* borrowed from the wire_conn */
    int pull_errno, push_errno;
    char recv_why[160], send_why[160];
};

const char *tls_default_dir(void)
{
    const char *e = getenv("FERRY_TLS_DIR");

    return e && *e ? e : TLS_DEFAULT_DIR;
}

int tls_priority_check(const char *priority, struct ferry_error *err)
{
    gnutls_priority_t p;
    const char *where = NULL;
    int gr = gnutls_priority_init(&p, priority, &where);

    if (gr < 0)
        return ferry_error_set(err, -EINVAL, "GnuTLS priority '%s': %s at '%s'", priority,
                               gnutls_strerror(gr), where ? where : "");
    gnutls_priority_deinit(p);
    return 0;
}

int tls_dh_params_pem(char **ret_pem, size_t *ret_len, struct ferry_error *err)
{
    gnutls_dh_params_t dh;
    gnutls_datum_t out = {NULL, 0};
    int gr;

    if ((gr = gnutls_dh_params_init(&dh)) < 0)
        return ferry_error_set(err, -ENOMEM, "DH parameters: %s", gnutls_strerror(gr));
    gr = gnutls_dh_params_import_raw2(dh, &gnutls_ffdhe_3072_group_prime,
                                      &gnutls_ffdhe_3072_group_generator,
                                      gnutls_ffdhe_3072_key_bits);
    if (gr >= 0)
        gr = gnutls_dh_params_export2_pkcs3(dh, GNUTLS_X509_FMT_PEM, &out);
    gnutls_dh_params_deinit(dh);
    if (gr < 0)
        return ferry_error_set(err, -EINVAL, "DH parameters: %s", gnutls_strerror(gr));
    *ret_pem = ferry_calloc(1, out.size + 1);
    memcpy(*ret_pem, out.data, out.size);
    *ret_len = out.size;
    gnutls_free(out.data);
    return 0;
}

static ssize_t push_fn(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
    struct tls_conn *t = p;
    ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

    if (n < 0) {
        t->push_errno = errno;
        gnutls_transport_set_errno(t->session, errno);
    }
    return n;
}

static ssize_t pull_fn(gnutls_transport_ptr_t p, void *buf, size_t len)
{
    struct tls_conn *t = p;
    ssize_t n = recv(t->fd, buf, len, MSG_DONTWAIT);

    if (n < 0) {
        t->pull_errno = errno;
        gnutls_transport_set_errno(t->session, errno);
    }
    return n;
}

/* GnuTLS asks whether data is ready (TLS 1.3 uses it with MS 0). */
static int pull_timeout_fn(gnutls_transport_ptr_t p, unsigned ms)
{
    struct tls_conn *t = p;
    struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
    int r;

    do
        r = poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
    while (r < 0 && errno == EINTR);
    return r;
}

static void set_why(char *buf, size_t size, gnutls_session_t s, int gr)
{
    if (gr == GNUTLS_E_FATAL_ALERT_RECEIVED || gr == GNUTLS_E_WARNING_ALERT_RECEIVED)
        snprintf(buf, size, "TLS: the peer sent the alert '%s'",
                 gnutls_alert_get_name(gnutls_alert_get(s)));
    else
        snprintf(buf, size, "TLS: %s", gnutls_strerror(gr));
}

/* Maps a GnuTLS record error to the wire layer's convention. */
static long record_error(struct tls_conn *t, int gr, bool sending)
{
    char *why = sending ? t->send_why : t->recv_why;
    size_t size = sending ? sizeof t->send_why : sizeof t->recv_why;
    int saved = sending ? t->push_errno : t->pull_errno;

    if (gr == GNUTLS_E_AGAIN || gr == GNUTLS_E_INTERRUPTED)
        return -EAGAIN;
    set_why(why, size, t->session, gr);
    if (gr == GNUTLS_E_PUSH_ERROR || gr == GNUTLS_E_PULL_ERROR)
        return saved ? -saved : -EIO;
    if (gr == GNUTLS_E_FATAL_ALERT_RECEIVED) {
        gnutls_alert_description_t a = gnutls_alert_get(t->session);
        if (a == GNUTLS_A_ACCESS_DENIED || a == GNUTLS_A_BAD_CERTIFICATE ||
            a == GNUTLS_A_UNKNOWN_CA || a == GNUTLS_A_CERTIFICATE_REQUIRED)
            return -EACCES;
        return -ECONNRESET;
    }
    return -EPROTO;
}

static long tls_recv(void *opaque, void *buf, size_t len)
{
    struct tls_conn *t = opaque;
    ssize_t n = gnutls_record_recv(t->session, buf, len);

    if (n >= 0)
        return n;
    /* A peer that closes without close_notify: the frame layer sees the
     * end of the stream and judges it (between frames or inside one). */
    if (n == GNUTLS_E_PREMATURE_TERMINATION)
        return 0;
    return record_error(t, (int)n, false);
}

static long tls_send(void *opaque, const void *buf, size_t len)
{
    struct tls_conn *t = opaque;
    ssize_t n = gnutls_record_send(t->session, buf, len);

    return n >= 0 ? n : record_error(t, (int)n, true);
}

static size_t tls_pending(void *opaque)
{
    struct tls_conn *t = opaque;

    return gnutls_record_check_pending(t->session);
}

static const char *tls_describe(void *opaque, bool sending)
{
    struct tls_conn *t = opaque;
    const char *why = sending ? t->send_why : t->recv_why;

    return why[0] ? why : NULL;
}

static void tls_conn_free(struct tls_conn *t)
{
    if (!t)
        return;
    if (t->session)
        gnutls_deinit(t->session);
    if (t->own_cred)
        gnutls_certificate_free_credentials(t->own_cred);
    free(t);
}

static void tls_close(void *opaque)
{
    struct tls_conn *t = opaque;

    /* One try at close_notify; the socket never blocks. */
    gnutls_bye(t->session, GNUTLS_SHUT_WR);
    tls_conn_free(t);
}

static const struct wire_transport_ops tls_ops = {
    .recv = tls_recv,
    .send = tls_send,
    .pending = tls_pending,
    .describe = tls_describe,
    .close = tls_close,
};

static struct tls_conn *tls_conn_new(int fd, unsigned flags, gnutls_certificate_credentials_t cred,
                                     struct ferry_error *err)
{
    struct tls_conn *t = ferry_calloc(1, sizeof *t);
    int gr;

    t->fd = fd;
    gr = gnutls_init(&t->session, flags | GNUTLS_NONBLOCK);
    if (gr < 0) {
        t->session = NULL;
        ferry_error_set(err, ENOMEM, "TLS: cannot start a session: %s", gnutls_strerror(gr));
        tls_conn_free(t);
        return NULL;
    }
    if ((gr = gnutls_set_default_priority(t->session)) < 0 ||
        (gr = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, cred)) < 0) {
        ferry_error_set(err, EINVAL, "TLS: cannot set up the session: %s", gnutls_strerror(gr));
        tls_conn_free(t);
        return NULL;
    }
    gnutls_transport_set_ptr(t->session, t);
    gnutls_transport_set_push_function(t->session, push_fn);
    gnutls_transport_set_pull_function(t->session, pull_fn);
    gnutls_transport_set_pull_timeout_function(t->session, pull_timeout_fn);
    return t;
}

/* Runs the handshake to its end or DEADLINE. SERVER words the hints. */
static int handshake(struct tls_conn *t, int64_t deadline, int timeout_ms, bool server,
                     struct ferry_error *err)
{
    for (;;) {
        struct pollfd pfd = {.fd = t->fd};
        int gr = gnutls_handshake(t->session), r;

        if (gr == 0)
            return 0;
        if (gr != GNUTLS_E_AGAIN && gr != GNUTLS_E_INTERRUPTED) {
            if (!gnutls_error_is_fatal(gr))
                continue; /* a warning alert: go on */
            if (gr == GNUTLS_E_FATAL_ALERT_RECEIVED)
                return ferry_error_set(
                    err, gnutls_alert_get(t->session) == GNUTLS_A_ACCESS_DENIED ? EACCES : EPROTO,
                    "TLS handshake: the peer sent the alert '%s'",
                    gnutls_alert_get_name(gnutls_alert_get(t->session)));
            if (gr == GNUTLS_E_PREMATURE_TERMINATION || gr == GNUTLS_E_UNEXPECTED_PACKET_LENGTH ||
                (gr == GNUTLS_E_PULL_ERROR && t->pull_errno == ECONNRESET))
                return ferry_error_set(
                    err, EPROTO, "TLS handshake: the %s closed the connection%s",
                    server ? "client" : "server",
                    server ? "" : " (is it a plain ferry+tcp:// port, not a TLS one?)");
            return ferry_error_set(err, EPROTO, "TLS handshake: %s", gnutls_strerror(gr));
        }
        pfd.events = gnutls_record_get_direction(t->session) ? POLLOUT : POLLIN;
        r = poll(&pfd, 1, ferry_ms_left(deadline));
        if (r < 0 && errno != EINTR)
            return ferry_error_set_errno(err, errno, "TLS handshake: poll");
        if (r == 0)
            return ferry_error_set(err, ETIMEDOUT, "TLS handshake: not finished within %d ms",
                                   timeout_ms);
    }
}

/* Verification status in words ("The certificate issuer is unknown."). */
static char *status_text(unsigned status)
{
    gnutls_datum_t out = {0};
    char *s;

    if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) < 0)
        return ferry_strdup_printf("verification status 0x%x", status);
    s = ferry_strdup((const char *)out.data);
    gnutls_free(out.data);
    return s;
}

static int load_trust(gnutls_certificate_credentials_t cred, const char *dir, bool server,
                      struct ferry_error *err)
{
    _cleanup_free_ char *ca = ferry_strdup_printf("%s/cacert.pem", dir);
    _cleanup_free_ char *crl = ferry_strdup_printf("%s/cacrl.pem", dir);
    int gr;

    if (access(ca, R_OK) < 0)
        return ferry_error_set_errno(err, errno, "TLS: CA certificate '%s'", ca);
    gr = gnutls_certificate_set_x509_trust_file(cred, ca, GNUTLS_X509_FMT_PEM);
    if (gr <= 0)
        return ferry_error_set(err, EINVAL, "TLS: CA certificate '%s': %s", ca,
                               gr == 0 ? "no certificate in it" : gnutls_strerror(gr));
    if (server && access(crl, F_OK) == 0) {
        gr = gnutls_certificate_set_x509_crl_file(cred, crl, GNUTLS_X509_FMT_PEM);
        if (gr < 0)
            return ferry_error_set(err, EINVAL, "TLS: CRL '%s': %s", crl, gnutls_strerror(gr));
    }
    return 0;
}

static int load_key_pair(gnutls_certificate_credentials_t cred, const char *cert, const char *key,
                         struct ferry_error *err)
{
    int gr;

    if (access(cert, R_OK) < 0)
        return ferry_error_set_errno(err, errno, "TLS: certificate '%s'", cert);
    if (access(key, R_OK) < 0)
        return ferry_error_set_errno(err, errno, "TLS: private key '%s'", key);
    gr = gnutls_certificate_set_x509_key_file(cred, cert, key, GNUTLS_X509_FMT_PEM);
    if (gr < 0)
        return ferry_error_set(err, EINVAL, "TLS: certificate '%s' with key '%s': %s", cert, key,
                               gnutls_strerror(gr));
    return 0;
}

int tls_server_new(const char *dir, char *const *allowed_dn, size_t n_allowed,
                   struct tls_server **ret, struct ferry_error *err)
{
    _cleanup_free_ char *cert = ferry_strdup_printf("%s/servercert.pem", dir);
    _cleanup_free_ char *key = ferry_strdup_printf("%s/serverkey.pem", dir);
    struct tls_server *srv;
    int r;

    if (n_allowed > TLS_MAX_ALLOWED_DN)
        return ferry_error_set(err, E2BIG, "TLS: more than %d allowed DN patterns",
                               TLS_MAX_ALLOWED_DN);
    for (size_t i = 0; i < n_allowed; i++)
        if (strlen(allowed_dn[i]) >= TLS_MAX_DN)
            return ferry_error_set(err, E2BIG, "TLS: allowed DN pattern longer than %d bytes",
                                   TLS_MAX_DN - 1);
    srv = ferry_calloc(1, sizeof *srv);
    if (gnutls_certificate_allocate_credentials(&srv->cred) < 0) {
        free(srv);
        return ferry_error_set(err, ENOMEM, "TLS: cannot allocate credentials");
    }
    if ((r = load_trust(srv->cred, dir, true, err)) < 0 ||
        (r = load_key_pair(srv->cred, cert, key, err)) < 0) {
        tls_server_free(srv);
        return r;
    }
    srv->allowed = ferry_calloc(n_allowed + 1, sizeof *srv->allowed);
    for (size_t i = 0; i < n_allowed; i++)
        srv->allowed[i] = ferry_strdup(allowed_dn[i]);
    srv->n_allowed = n_allowed;
    *ret = srv;
    return 0;
}

void tls_server_free(struct tls_server *srv)
{
    if (!srv)
        return;
    if (srv->cred)
        gnutls_certificate_free_credentials(srv->cred);
    for (size_t i = 0; srv->allowed && i < srv->n_allowed; i++)
        free(srv->allowed[i]);
    free(srv->allowed);
    free(srv);
}

/* Looks at the first bytes without consuming them: a plain client sends a
 * frame (magic "FRRY") first, a TLS client a handshake record (0x16). */
static int peek_plain(int fd, int64_t deadline, int timeout_ms, bool *ret_plain,
                      struct ferry_error *err)
{
    uint8_t b[4];

    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n = recv(fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
        int r;

        if (n == 0)
            return ferry_error_set(err, EPROTO, "TLS: the client closed the connection at once");
        if (n > 0 && (b[0] != 'F' || (size_t)n == sizeof b)) {
            *ret_plain = (size_t)n == sizeof b && memcmp(b, "FRRY", 4) == 0;
            return 0;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return ferry_error_set_errno(err, errno, "TLS: receive");
        if (n > 0) /* a partial "F..": wait for the rest without spinning */
            usleep(10000);
        r = poll(&pfd, 1, ferry_ms_left(deadline));
        if (r == 0 || ferry_ms_left(deadline) == 0)
            return ferry_error_set(
                err, ETIMEDOUT, "TLS handshake: the client sent nothing within %d ms", timeout_ms);
    }
}

/* The client certificate's checks; on failure ERR says which one. */
static int verify_client(const struct tls_server *srv, gnutls_session_t s, char **ret_dn,
                         struct ferry_error *err)
{
    gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
                                     .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT};
    const gnutls_datum_t *certs;
    unsigned n_certs = 0, status = 0;
    gnutls_x509_crt_t crt;
    char dn[TLS_MAX_DN];
    size_t dn_len = sizeof dn;
    int gr;

    certs = gnutls_certificate_get_peers(s, &n_certs);
    if (!certs || n_certs == 0)
        return ferry_error_set(err, EACCES,
                               "TLS: the client presented no certificate (this agent requires "
                               "one: mutual authentication)");
    gr = gnutls_certificate_verify_peers(s, &purpose, 1, &status);
    if (gr < 0)
        return ferry_error_set(err, EACCES, "TLS: client certificate: %s", gnutls_strerror(gr));
    if (gnutls_x509_crt_init(&crt) < 0)
        return ferry_error_set(err, ENOMEM, "TLS: out of memory");
    gr = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
    if (gr >= 0)
        gr = gnutls_x509_crt_get_dn(crt, dn, &dn_len);
    gnutls_x509_crt_deinit(crt);
    if (gr < 0)
        return ferry_error_set(err, EACCES, "TLS: client certificate DN unreadable: %s",
                               gnutls_strerror(gr));
    if (ret_dn)
        *ret_dn = ferry_strdup(dn);
    if (status) {
        _cleanup_free_ char *why = status_text(status);
        return ferry_error_set(err, EACCES, "TLS: client certificate '%s' not accepted: %s", dn,
                               why);
    }
    if (srv->n_allowed == 0)
        return 0;
    for (size_t i = 0; i < srv->n_allowed; i++)
        if (fnmatch(srv->allowed[i], dn, 0) == 0)
            return 0;
    return ferry_error_set(err, EACCES,
                           "TLS: client certificate DN '%s' is not in this agent's allowed list "
                           "(--tls-allowed-dn)",
                           dn);
}

int tls_server_accept(const struct tls_server *srv, struct wire_conn *c, int timeout_ms,
                      enum tls_accept_result *ret_result, char **ret_dn, struct ferry_error *err)
{
    int64_t deadline = ferry_now_ms() + timeout_ms;
    struct tls_conn *t;
    bool plain = false;
    int r;

    *ret_result = TLS_ACCEPT_FAILED;
    if (ret_dn)
        *ret_dn = NULL;
    r = peek_plain(wire_conn_fd(c), deadline, timeout_ms, &plain, err);
    if (r < 0)
        return r;
    if (plain) {
        *ret_result = TLS_ACCEPT_PLAIN_CLIENT;
        return ferry_error_set(err, EPROTO,
                               "this port speaks TLS: connect with ferry+tls://, not ferry+tcp://");
    }
    t = tls_conn_new(wire_conn_fd(c), GNUTLS_SERVER, srv->cred, err);
    if (!t)
        return -ENOMEM;
    /* REQUEST, not REQUIRE: a client without a certificate then completes
     * the handshake and is told why it is refused (verify_client), instead
     * of seeing a bare alert. Nothing but that ERROR frame is sent to it. */
    gnutls_certificate_server_set_request(t->session, GNUTLS_CERT_REQUEST);
    /* No list of acceptable CAs: a client then sends the certificate it
     * has, and one from another CA is told "issuer unknown", not "none". */
    gnutls_certificate_send_x509_rdn_sequence(t->session, 1);
    r = handshake(t, deadline, timeout_ms, true, err);
    if (r < 0) {
        tls_conn_free(t);
        return r;
    }
    wire_conn_set_transport(c, &tls_ops, t);
    r = verify_client(srv, t->session, ret_dn, err);
    *ret_result = r < 0 ? TLS_ACCEPT_REFUSED : TLS_ACCEPT_OK;
    return r;
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

int tls_client_start(struct wire_conn *c, const char *dir, const char *host, int timeout_ms,
                     struct ferry_error *err)
{
    _cleanup_free_ char *cert = ferry_strdup_printf("%s/clientcert.pem", dir);
    _cleanup_free_ char *key = ferry_strdup_printf("%s/clientkey.pem", dir);
    gnutls_typed_vdata_st vdata[2] = {
        {.type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER},
        {.type = GNUTLS_DT_DNS_HOSTNAME, .data = (unsigned char *)host},
    };
    int64_t deadline = ferry_now_ms() + timeout_ms;
    gnutls_certificate_credentials_t cred;
    struct in6_addr a6;
    struct tls_conn *t;
    unsigned status = 0;
    int r, gr;

    if (gnutls_certificate_allocate_credentials(&cred) < 0)
        return ferry_error_set(err, ENOMEM, "TLS: cannot allocate credentials");
    r = load_trust(cred, dir, false, err);
    if (r == 0 && (file_exists(cert) || file_exists(key)))
        r = load_key_pair(cred, cert, key, err);
    if (r < 0) {
        gnutls_certificate_free_credentials(cred);
        return r;
    }
    t = tls_conn_new(wire_conn_fd(c), GNUTLS_CLIENT, cred, err);
    if (!t) {
        gnutls_certificate_free_credentials(cred);
        return -ENOMEM;
    }
    t->own_cred = cred;
    /* SNI only for names: RFC 6066 forbids literal addresses. */
    if (inet_pton(AF_INET, host, &a6) != 1 && inet_pton(AF_INET6, host, &a6) != 1)
        gnutls_server_name_set(t->session, GNUTLS_NAME_DNS, host, strlen(host));
    r = handshake(t, deadline, timeout_ms, false, err);
    if (r == 0) {
        gr = gnutls_certificate_verify_peers(t->session, vdata, 2, &status);
        if (gr < 0)
            r = ferry_error_set(err, EACCES, "TLS: server certificate: %s", gnutls_strerror(gr));
        else if (status) {
            _cleanup_free_ char *why = status_text(status);
            r = ferry_error_set(err, EACCES,
                                "TLS: the server's certificate is not valid for '%s' under our "
                                "CA: %s",
                                host, why);
        }
    }
    if (r < 0) {
        tls_conn_free(t);
        return r;
    }
    wire_conn_set_transport(c, &tls_ops, t);
    return 0;
}
