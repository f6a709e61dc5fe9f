/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferryd: the per-host agent. Parses the command line, loads state,
 * re-attaches to running guests and serves the control protocol. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "admission.h"
#include "agent.h"
#include "auth.h"
#include "cleanup.h"
#include "client.h"
#include "drivers.h"
#include "roots.h"
#include "ferry-config.h"
#include "metrics.h"
#include "server.h"
#include "volumes.h"
#include "tls.h"

/* QEMU's own x509 files for --tls migrations, libvirt's /etc/pki/qemu
 * layout: ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem,
 * client-key.pem. */
#define MIGRATE_TLS_DEFAULT_DIR "/etc/ferry/pki/qemu"

static struct agent the_agent;

static void on_signal(int sig)
{
    (void)sig;
    the_agent.quit = 1;
}

static int write_port(const char *path, int port, struct ferry_error *err)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%d\n", port);
    return ferry_write_file_atomic(path, buf, strlen(buf), 0644, err);
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ferryd [OPTIONS]\n"
            "\n"
            "Per-host agent that runs QEMU guests and live-migrates them with their disks.\n"
            "\n"
            "  --state-dir DIR        domains, run state and identity (default /var/lib/ferry)\n"
            "  --image-dir DIR        where disk images received by migration go\n"
            "                         (default STATE-DIR/images)\n"
            "  --control PATH         unix control socket (default STATE-DIR/ferryd.sock)\n"
            "  --listen ADDR:PORT     TCP listener for peers and orchestrators (port 0: any)\n"
            "  --port-file FILE       write the bound TCP port here once listening\n"
            "  --auth-key FILE        shared key: TCP clients must prove it in HELLO, and the\n"
            "                         agent proves it to peer agents (required with --listen)\n"
            "  --insecure             let TCP clients in without the key (trusted networks\n"
            "                         only: anyone who reaches --listen controls this host)\n"
            "  --storage-root DIR     guest definitions may name files under DIR (repeatable;\n"
            "                         the image dir always is one; '/' allows any path)\n"
            "  --acl FILE             roles (read-only, migrate, admin) per certificate DN\n"
            "                         pattern and per key file (docs/security.md)\n"
            "  --tls-listen ADDR:PORT TLS listener with mutual x509 authentication (port 0: any)\n"
            "  --tls-dir DIR          cacert.pem, servercert.pem, serverkey.pem, clientcert.pem,\n"
            "                         clientkey.pem (default $FERRY_TLS_DIR or %s)\n"
            "  --tls-allowed-dn PAT   accept only client certificates whose DN matches this\n"
            "                         fnmatch pattern (repeatable; default: any the CA signed)\n"
            "  --tls-port-file FILE   write the bound TLS port here once listening\n"
            "  --migrate-tls-dir DIR  ca-cert.pem, server-cert.pem, server-key.pem,\n"
            "                         client-cert.pem, client-key.pem for QEMU's TLS in\n"
            "                         --tls migrations (default $FERRY_MIGRATE_TLS_DIR or %s)\n"
            "  --migrate-tls-priority STR  GnuTLS priority of QEMU's migration streams, with\n"
            "                         or without --tls: auto (default: AES-GCM where the CPU\n"
            "                         has AES instructions), default (QEMU's), or a string\n"
            "  --hypervisor NAME      qemu (default) or xen\n"
            "  --qemu PATH            QEMU binary (default %s)\n"
            "  --qemu-user USER       QEMU drops to USER once started (-runas); always under\n"
            "                         seccomp (-sandbox)\n"
            "  --xl PATH              xl toolstack binary for --hypervisor xen (default xl)\n"
            "  --host-uuid UUID       host identity (default: generated once, kept in state dir)\n"
            "  --hostname NAME        host name to announce (default: gethostname)\n"
            "  --max-protocol N       highest migration protocol version to offer (1-3)\n"
            "  --metrics-listen ADDR:PORT  Prometheus metrics over HTTP at /metrics (off by\n"
            "                         default; port 0: any)\n"
            "  --metrics-port-file FILE  write the bound metrics port here, before --port-file\n"
            "  --max-outgoing N       refuse (busy) outgoing migrations beyond N at once\n"
            "  --max-incoming N       refuse (busy) incoming migrations beyond N at once\n"
            "  --debug                debug logging\n"
            "  --version, --help\n",
            TLS_DEFAULT_DIR, MIGRATE_TLS_DEFAULT_DIR, FERRY_QEMU_BINARY);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 's'},
        {"image-dir", required_argument, NULL, 'i'},
        {"control", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"port-file", required_argument, NULL, 'P'},
        {"auth-key", required_argument, NULL, 'K'},
        {"insecure", no_argument, NULL, 'I'},
        {"acl", required_argument, NULL, 'L'},
        {"storage-root", required_argument, NULL, 'R'},
        {"qemu-user", required_argument, NULL, 'U'},
        {"tls-listen", required_argument, NULL, 'T'},
        {"tls-dir", required_argument, NULL, 'D'},
        {"tls-allowed-dn", required_argument, NULL, 'A'},
        {"tls-port-file", required_argument, NULL, 'F'},
        {"migrate-tls-dir", required_argument, NULL, 'M'},
        {"hypervisor", required_argument, NULL, 'H'},
        {"qemu", required_argument, NULL, 'q'},
        {"xl", required_argument, NULL, 'x'},
        {"host-uuid", required_argument, NULL, 'u'},
        {"hostname", required_argument, NULL, 'n'},
        {"max-protocol", required_argument, NULL, 'm'},
        /* fleet operation: metrics, limits (docs/metrics.md, docs/control-api.md) */
        {"metrics-listen", required_argument, NULL, 1001},
        {"metrics-port-file", required_argument, NULL, 1002},
        {"max-outgoing", required_argument, NULL, 1003},
        {"max-incoming", required_argument, NULL, 1004},
        {"migrate-tls-priority", required_argument, NULL, 1005},
        {"debug", no_argument, NULL, 'd'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct agent_config *cfg = &the_agent.cfg;
    struct ferry_error err = {0};
    const char *port_file = NULL;
    const char *auth_key_path = NULL;
    struct wire_auth_key *auth_key = NULL;
    bool insecure = false;
    const char *acl_path = NULL;
    bool any_path = false;
    struct acl *acl = NULL;
    const char *tls_listen = NULL, *tls_dir = NULL, *tls_port_file = NULL;
    char *allowed_dn[TLS_MAX_ALLOWED_DN];
    size_t n_allowed = 0;
    const char *metrics_listen = NULL, *metrics_port_file = NULL;
    unsigned max_outgoing = 0, max_incoming = 0;
    int metrics_port = 0;
    struct sigaction sa = {.sa_handler = on_signal};
    int c;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            cfg->state_dir = optarg;
            break;
        case 'i':
            cfg->image_dir = optarg;
            break;
        case 'c':
            cfg->control = optarg;
            break;
        case 'l':
            cfg->listen = optarg;
            break;
        case 'P':
            port_file = optarg;
            break;
        case 'K':
            auth_key_path = optarg;
            break;
        case 'I':
            insecure = true;
            break;
        case 'L':
            acl_path = optarg;
            break;
        case 'U': {
            struct passwd *pw = getpwnam(optarg);
            if (!pw) {
                fprintf(stderr, "ferryd: --qemu-user '%s': no such user\n", optarg);
                return 2;
            }
            if (pw->pw_uid == 0) {
                fprintf(stderr, "ferryd: --qemu-user '%s' is root: name an unprivileged user\n",
                        optarg);
                return 2;
            }
            cfg->qemu_user = optarg;
            cfg->qemu_uid = (int)pw->pw_uid;
            cfg->qemu_gid = (int)pw->pw_gid;
            break;
        }
        case 'R':
            if (agent_roots_add(&the_agent, optarg, &err) < 0) {
                fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
                return 2;
            }
            if (strcmp(optarg, "/") == 0)
                any_path = true;
            break;
        case 'T':
            tls_listen = optarg;
            break;
        case 'D':
            tls_dir = optarg;
            break;
        case 'A':
            if (n_allowed == TLS_MAX_ALLOWED_DN) {
                fprintf(stderr, "ferryd: at most %d --tls-allowed-dn patterns\n",
                        TLS_MAX_ALLOWED_DN);
                return 2;
            }
            allowed_dn[n_allowed++] = optarg;
            break;
        case 'F':
            tls_port_file = optarg;
            break;
        case 'M':
            cfg->migrate_tls_dir = optarg;
            break;
        case 1005:
            cfg->migrate_tls_priority = optarg;
            break;
        case 'H':
            cfg->hypervisor = optarg;
            break;
        case 'q':
            cfg->qemu_binary = optarg;
            break;
        case 'x':
            cfg->xl_binary = optarg;
            break;
        case 'u':
            cfg->host_uuid = optarg;
            break;
        case 'n':
            cfg->hostname = optarg;
            break;
        case 'm': {
            uint64_t v;
            if (ferry_parse_u64(optarg, &v) < 0 || v < 1 || v > 3) {
                fprintf(stderr, "ferryd: --max-protocol must be 1, 2 or 3\n");
                return 2;
            }
            cfg->max_version = (unsigned)v;
            break;
        }
        case 1001:
            metrics_listen = optarg;
            break;
        case 1002:
            metrics_port_file = optarg;
            break;
        case 1003:
        case 1004: {
            uint64_t v;
            if (ferry_parse_u64(optarg, &v) < 0 || v < 1 || v > AGENT_MAX_DOMAINS) {
                fprintf(stderr, "ferryd: --max-%s must be between 1 and %d\n",
                        c == 1003 ? "outgoing" : "incoming", AGENT_MAX_DOMAINS);
                return 2;
            }
            *(c == 1003 ? &max_outgoing : &max_incoming) = (unsigned)v;
            break;
        }
        case 'd':
            ferry_log_set_level(FERRY_LOG_DEBUG);
            break;
        case 'V':
            printf("ferryd %s\n", FERRY_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ferryd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!cfg->state_dir)
        cfg->state_dir = "/var/lib/ferry";
    if (!cfg->image_dir)
        cfg->image_dir = ferry_strdup_printf("%s/images", cfg->state_dir);
    if (!cfg->control)
        cfg->control = ferry_strdup_printf("%s/ferryd.sock", cfg->state_dir);
    if (!tls_dir)
        tls_dir = tls_default_dir();
    if (!cfg->migrate_tls_dir) {
        char *e = getenv("FERRY_MIGRATE_TLS_DIR");
        cfg->migrate_tls_dir = e && *e ? e : MIGRATE_TLS_DEFAULT_DIR;
    }
    if (cfg->migrate_tls_priority && strcmp(cfg->migrate_tls_priority, "auto") != 0 &&
        strcmp(cfg->migrate_tls_priority, "default") != 0) {
        struct ferry_error perr = {0};
        if (tls_priority_check(cfg->migrate_tls_priority, &perr) < 0) {
            fprintf(stderr, "ferryd: --migrate-tls-priority: %s\n", ferry_error_msg(&perr));
            return 2;
        }
    }
    if (metrics_port_file && !metrics_listen) {
        fprintf(stderr, "ferryd: --metrics-port-file needs --metrics-listen\n");
        return 2;
    }
    if ((n_allowed || tls_port_file) && !tls_listen) {
        fprintf(stderr, "ferryd: --tls-allowed-dn and --tls-port-file need --tls-listen\n");
        return 2;
    }
    /* Every network listener authenticates its clients: TLS by
     * certificate, plain TCP by the shared key unless told otherwise. */
    if (cfg->listen && !auth_key_path && !insecure) {
        fprintf(stderr, "ferryd: --listen needs --auth-key FILE (or --insecure for a listener "
                        "without authentication; see docs/security.md)\n");
        return 2;
    }
    if (auth_key_path && wire_auth_key_load(auth_key_path, &auth_key, &err) < 0) {
        fprintf(stderr, "ferryd: --auth-key: %s\n", ferry_error_msg(&err));
        return 1;
    }
    if (acl_path && acl_load(acl_path, &acl, &err) < 0) {
        fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
        wire_auth_key_free(auth_key);
        return 1;
    }
    server_auth_configure(auth_key, insecure, acl);
    /* The agent proves the same key to the peer agents it connects to
     * (peer-to-peer migration to a ferry+tcp:// destination). */
    ctl_client_set_auth_key(auth_key);
    /* The agent's own connections to ferry+tls:// peers (peer-to-peer
     * migration) use the client certificate of the same directory. */
    ctl_client_set_tls_dir(tls_dir);

    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Certificates first: a bad TLS setup stops ferryd before it touches
     * any guest or job. */
    if (tls_listen && server_tls_configure(tls_listen, tls_dir, allowed_dn, n_allowed, &err) < 0) {
        fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
        return 1;
    }
    the_agent.driver =
        ferryd_find_driver(the_agent.cfg.hypervisor ? the_agent.cfg.hypervisor : "qemu");
    if (!the_agent.driver) {
        fprintf(stderr, "ferryd: unknown hypervisor '%s'\n", the_agent.cfg.hypervisor);
        return 1;
    }
    /* The list of ferryd's images before any recovery: recovery asks it
     * which targets are ferryd's to remove. */
    if (agent_init(&the_agent, &err) < 0 || agent_volumes_init(&the_agent, &err) < 0 ||
        agent_admission_init(&the_agent, max_outgoing, max_incoming, &err) < 0) {
        fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
        return 1;
    }
    agent_restore_running(&the_agent);
    agent_recover_jobs(&the_agent);
    if (server_listen(&the_agent, &err) < 0) {
        fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
        return 1;
    }
    if (metrics_listen &&
        agent_metrics_start(&the_agent, metrics_listen, &metrics_port, &err) < 0) {
        fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
        return 1;
    }
    /* The TLS and metrics ports first: a caller that waits for --port-file
     * finds them all. */
    if ((metrics_port_file && write_port(metrics_port_file, metrics_port, &err) < 0) ||
        (tls_port_file && write_port(tls_port_file, server_tls_port(), &err) < 0) ||
        (port_file && write_port(port_file, server_tcp_port(), &err) < 0)) {
        fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
        return 1;
    }
    ferry_info("ferryd %s: host %s (%s), control %s%s%s%s%s", FERRY_VERSION, the_agent.hostname,
               the_agent.host_uuid, cfg->control, cfg->listen ? ", tcp " : "",
               cfg->listen ? cfg->listen : "", tls_listen ? ", tls " : "",
               tls_listen ? tls_listen : "");
    if (any_path)
        ferry_warn("ferryd: --storage-root /: guest definitions may name any host file");
    if (cfg->listen && insecure && !auth_key)
        ferry_warn("ferryd: --insecure: the TCP listener %s (port %d) has NO authentication: "
                   "anyone who reaches it can define, start, migrate and destroy guests and "
                   "read host files through them",
                   cfg->listen, server_tcp_port());
    else if (cfg->listen && insecure)
        ferry_warn("ferryd: --insecure: the TCP listener %s (port %d) also admits clients that "
                   "offer no key",
                   cfg->listen, server_tcp_port());
    server_run(&the_agent, &err);
    /* Guests keep running: a restarted agent re-attaches to them. */
    ferry_info("ferryd: exiting");
    agent_metrics_stop();
    agent_volumes_fini(&the_agent);
    wire_auth_key_free(auth_key);
    acl_free(acl);
    return 0;
}
