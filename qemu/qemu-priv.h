/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private state shared by the QEMU driver's files (qemu.c: lifecycle,
 * qemu-migrate.c, qemu-perform.c, qemu-postcopy.c: migration steps,
 * qemu-storage*.c: the disks). Not part of any public interface. */
#ifndef FERRY_AGENT_QEMU_PRIV_H
#define FERRY_AGENT_QEMU_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent.h"
#include "qmp.h"

/* Connections of a stopped QEMU are closed, not freed, until the domain
 * itself is released: another thread (domstate, a monitor command) may
 * still hold the pointer, and a closed connection only fails its calls. */
#define QEMU_RETIRED_MAX 16

struct qemu_dom {
    struct qmp_conn *qmp;
    struct qmp_conn *retired[QEMU_RETIRED_MAX];
    size_t n_retired;
    pid_t pid;
    bool child; /* started by this agent process (we reap it) */
    char qmp_path[1024];
    char log_path[1024];
    char serial_path[1024];
    struct agent *ag;
    struct agent_domain *dom; /* borrowed back-pointer */
    void *mig;                /* migration state (qemu-migrate.c) */
    bool mig_was_running;     /* source: guest ran when Begin was called */
    bool mig_we_paused;       /* source: we paused it (timeout, switchover) */
    void *storage;            /* storage migration state (qemu-storage.c) */
    bool stream_psk;          /* this migration's QEMU streams use a per-migration PSK */
    /* Guards the migration state below that other threads read or set
     * while a step runs (migrate-setspeed, migrate.start_postcopy,
     * migrate_cancel) and the storage copy's running session. The driver's
     * own lock, never the core's: taken after the core's job lock (the core
     * calls migrate_cancel with that lock held), and no hv_job_* accessor
     * is called while it is held. */
    pthread_mutex_t mig_lock;
    /* The handover (qemu-state.c, qemu-perform.c): from pre-switchover on,
     * the source QEMU hands its images to the destination and inactivates
     * them, and a monitor command that writes one (HMP qemu-io) then
     * aborts QEMU 7.2. Monitor passthrough holds this shared for its whole
     * round trip and refuses once mig_handing_over is set; Perform takes it
     * exclusively to set it, so a command already sent completes first.
     * Cleared by a new Begin, by the source's resume after a failure, and
     * when a QEMU starts. */
    pthread_rwlock_t handover_lock;
    bool mig_handing_over;
    /* Lifecycle and tuning verbs (qemu.c, qemu-state.c, qemu-tune.c). */
    bool user_paused; /* paused by domain.suspend (the state's reason: "user") */
    /* Why the guest runs, libvirt's running reasons: the last of a start,
     * a resume, an incoming migration's end, a failed outgoing one's
     * resume. Atomic; a const string literal. */
    const char *run_reason;
    /* Why the guest is off, libvirt's shut-off reasons: "destroyed",
     * "migrated", "shutdown" (its SHUTDOWN event came), "crashed" (QEMU
     * went away without one); NULL before the first start. Atomic; a
     * const string literal. */
    const char *stop_reason;
    /* domain.reboot armed QEMU's shutdown action 'pause': the guest's next
     * power-off is turned into a reset (qemu-guest.c). Atomic. */
    bool fake_reboot;
    /* The taps of ethernet and bridge NICs, per NIC ("" for user NICs), as
     * the kernel named them at the last start. */
    char tap_names[DOMAIN_MAX_NICS][DOMAIN_IFNAME_MAX];
    /* migrate-setspeed, guarded by mig_lock: SPEED_MIB (MiB/s, 0 =
     * unlimited) is the default of the next migration that names no
     * bandwidth, once SPEED_SET (libvirt's migMaxBandwidth). MIG_SPEED_MIB
     * is the cap of the outgoing migration: set when its Perform starts,
     * unless a migrate-setspeed since its Begin set it already
     * (MIG_SPEED_OVERRIDE). */
    bool speed_set;
    uint64_t speed_mib;
    uint64_t mig_speed_mib;
    bool mig_speed_override;
    /* The outgoing migration's storage copy cap when it has its own
     * (--bandwidth-disk, migrate-setspeed-disk), guarded by mig_lock; else
     * the copy follows MIG_SPEED_MIB. */
    bool mig_disk_speed_set;
    uint64_t mig_disk_speed_mib;
    /* The outgoing migration's whole pause budget in ms (--max-downtime,
     * migrate-setmaxdowntime, else QEMU's downtime-limit when it began),
     * guarded by mig_lock; QEMU's downtime-limit gets what the predicted
     * storage part leaves of it (qemu_converge_downtime_split). */
    uint64_t mig_downtime_ms;
    /* Perform's last migration-progress event (ms, monotonic). */
    int64_t mig_progress_ms;
    /* Post-copy (qemu-postcopy.c), guarded by mig_lock.
     * MIG_POSTCOPY_WANTED: migrate.start_postcopy (or the perform loop,
     * for --postcopy-after-precopy) asked for the switch; MIG_RAM_RUNNING:
     * QEMU's migrate command is under way, so the switch can be asked of
     * QEMU at once. MIG_POSTCOPY_ACTIVE: the switch happened (QEMU said
     * postcopy-active; source and destination): from here on the source
     * holds no complete guest and must never be resumed.
     * POSTCOPY_FAILED: a migration failed after that point; the guest is
     * kept paused here (domstate reason "postcopy-failed") until the user
     * decides. POSTCOPY_UNKNOWN: with it, on a source whose job ended while
     * the destination's outcome was unknown (reason "postcopy-unknown"). */
    bool mig_postcopy_wanted;
    bool mig_ram_running;
    bool mig_postcopy_active;
    bool postcopy_failed;
    bool postcopy_unknown;
};

struct qemu_driver {
    char binary[1024];
    bool kvm;
    /* FERRY_TCG_RAM_ROUNDS=1: extra RAM rounds are allowed under TCG on a
     * QEMU that loses writes in them (qemu-converge.c), for test guests
     * that invalidate a page's TLB entry before every store. */
    bool tcg_ram_rounds;
    /* Where QEMU creates (or connects to) unix sockets while it runs: the
     * run dir, or with --qemu-user RUN/qemu, owned by that user (0700). */
    char socket_dir[1100];
};

/* The driver's socket_dir (see struct qemu_driver). */
const char *qemu_socket_dir(void);
/* With --qemu-user: gives PATH (a socket or directory the agent made for
 * QEMU) to that user; no-op otherwise. */
int qemu_give_to_user(struct agent *ag, const char *path, struct ferry_error *err);
/* The driver's host-wide state, set once by qemu_init (qemu.c). */
extern struct qemu_driver qemu_drv;

/* qemu-define.c and qemu-state.c: entries of qemu_hv_driver. */
int qemu_domain_define(struct agent *ag, struct domain_def *def, struct ferry_error *err);
/* Pins what define pins on a definition that lacks it (one defined by an
 * older ferryd), before its start. */
int qemu_pin_abi(struct domain_def *def, struct ferry_error *err);
int qemu_domain_suspend(struct agent *ag, struct agent_domain *dom, bool *ret_changed,
                        struct ferry_error *err);
int qemu_domain_resume(struct agent *ag, struct agent_domain *dom, bool *ret_changed,
                       struct ferry_error *err);
void qemu_domain_info(struct agent *ag, struct agent_domain *dom, json_object *info);
int qemu_domain_monitor(struct agent *ag, struct agent_domain *dom, const char *command, bool hmp,
                        char **ret_output, struct ferry_error *err);

/* DOM's driver state, created on first use; paths refreshed from the
 * current name. Borrowed (freed with the domain). */
struct qemu_dom *qemu_priv(struct agent *ag, struct agent_domain *dom);
/* Starts a QEMU process for DOM. INCOMING: add -incoming defer and use
 * DEF (not dom->def) for the devices. */
/* The guest verbs (qemu-guest.c): hv_driver.domain_power and
 * domain_devices_info, and the SHUTDOWN event's part of a reboot. */
int qemu_domain_power(struct agent *ag, struct agent_domain *dom, int how, struct ferry_error *err);
void qemu_domain_devices_info(struct agent *ag, struct agent_domain *dom, json_object *out);
void qemu_guest_on_shutdown(struct qemu_dom *p, json_object *data);

/* A UEFI guest's NVRAM at a migration's switchover (qemu-firmware.c):
 * Perform puts the digest of the stopped source's NVRAM file into its
 * cookie; Finish compares it with the variables store the destination
 * received, before the guest runs there. Both do nothing for a guest
 * without one (or a post-copy migration). */
int qemu_nvram_digest_source(struct mig_ctx *m, struct ferry_error *err);
/* Begin of an offline migration, which moves only the definition:
 * refuses, naming the file, a guest whose NVRAM holds variables of its own
 * (it differs from its template), which would be left behind. */
int qemu_nvram_check_offline(struct mig_ctx *m, struct ferry_error *err);
int qemu_nvram_check_destination(struct mig_ctx *m, struct qmp_conn *qmp, struct ferry_error *err);

/* Refuses, naming it, a definition whose pinned machine type or CPU model
 * this host's QEMU lacks (a migration's destination, before it starts
 * anything). */
int qemu_abi_check(const struct domain_def *def, struct ferry_error *err);

int qemu_process_start(struct agent *ag, struct agent_domain *dom, bool incoming,
                       struct ferry_error *err);
/* Stops the process (quit, then signals) and removes the run files. */
int qemu_process_stop(struct agent *ag, struct agent_domain *dom, struct ferry_error *err);
/* Removes the log and serial files of a guest that never became ours
 * (an incoming migration torn down). */
void qemu_remove_logs(struct agent *ag, const char *name);
/* The domain's QMP connection, or NULL with ERR set when it has none. */
struct qmp_conn *qemu_dom_qmp(struct agent_domain *dom, struct ferry_error *err);
/* "running", "paused", ... from query-status; *ret_running too. */
int qemu_query_status(struct qmp_conn *qmp, char *buf, size_t len, bool *ret_running,
                      struct ferry_error *err);

/* migrate-setspeed / -setmaxdowntime and their getters (qemu-tune.c):
 * the hv_driver entries of the same names. */
int qemu_migrate_set_param(struct agent *ag, struct agent_domain *dom, int param, uint64_t value,
                           struct ferry_error *err);
int qemu_migrate_get_param(struct agent *ag, struct agent_domain *dom, int param,
                           uint64_t *ret_value, struct ferry_error *err);

/* The migrating domain's driver state. */
static inline struct qemu_dom *qemu_mig_priv(const struct mig_ctx *m)
{
    return m->dom->priv;
}

/* Migration entry points: Begin, Prepare, Finish, Confirm (qemu-migrate.c),
 * Perform and cancel (qemu-perform.c). */
int qemu_migrate_begin(struct mig_ctx *m, struct ferry_error *err);
int qemu_migrate_prepare(struct mig_ctx *m, struct ferry_error *err);
int qemu_migrate_perform(struct mig_ctx *m, struct ferry_error *err);
int qemu_migrate_finish(struct mig_ctx *m, struct ferry_error *err);
int qemu_migrate_confirm(struct mig_ctx *m, struct ferry_error *err);
void qemu_migrate_cancel(struct mig_ctx *m);
/* Both QEMUs' migration capabilities and parameters from P, SOURCE's set
 * or the destination's (qemu-migrate.c). */
int qemu_migrate_set_caps(struct qmp_conn *qmp, const struct mig_params *p, bool source,
                          struct ferry_error *err);
int qemu_migrate_set_params(struct qmp_conn *qmp, const struct mig_params *p, bool source,
                            struct ferry_error *err);
/* "tcp:HOST:PORT" or "tcp://HOST:PORT" into HOST and *PORT (qemu-migrate.c). */
int qemu_parse_tcp_uri(const char *uri, char *host, size_t hl, unsigned *port,
                       struct ferry_error *err);
/* query-migrate into the job statistics, its status into STATUS and its
 * error-desc into ERRDESC (either may be NULL) (qemu-perform.c). */
int qemu_migrate_poll_stats(struct mig_ctx *m, struct qmp_conn *qmp, char *status, size_t sl,
                            char *errdesc, size_t el);
/* query-migrate's status into BUF and error-desc into ERRDESC (may be
 * NULL), the statistics untouched (qemu-perform.c). */
int qemu_migrate_query_status(struct qmp_conn *qmp, char *buf, size_t len, char *errdesc, size_t el,
                              struct ferry_error *err);

/* Post-copy (qemu-postcopy.c). The hv_driver entry migrate_start_postcopy. */
int qemu_migrate_start_postcopy(struct agent *ag, struct agent_domain *dom,
                                struct ferry_error *err);
/* --postcopy needs protocol v3 (Confirm). */
int qemu_postcopy_check_version(struct mig_ctx *m, struct ferry_error *err);
/* Perform's poll tick: asks QEMU for the switch once it is wanted. */
void qemu_postcopy_tick(struct mig_ctx *m, struct qmp_conn *qmp, bool *asked);
/* A "postcopy-..." status of QEMU's. */
bool qemu_postcopy_status(const char *status);
/* Either side: the guest was switched to the destination. */
bool qemu_postcopy_switched(struct mig_ctx *m);
/* A failure after the switch: keep the guest here (postcopy-failed, or
 * postcopy-unknown when UNKNOWN). */
void qemu_postcopy_keep(struct mig_ctx *m, const struct ferry_error *why, bool unknown);
/* Destination: waits (bounded) until the source sent every page. */
int qemu_postcopy_wait_incoming(struct mig_ctx *m, struct ferry_error *err);
/* Source, the destination completed: waits (bounded) for QEMU's figures. */
void qemu_postcopy_wait_outgoing(struct mig_ctx *m);
/* Source, a cancelled Confirm after the switch: QEMU's outgoing status
 * into ST after waiting (bounded) while pages still flow. */
void qemu_postcopy_wait_active(struct mig_ctx *m, char *st, size_t len);

/* Storage migration (the source's side in qemu-storage.c, Prepare's and
 * Finish's in qemu-storage-dest.c). Each is a no-op when the flags ask
 * for no storage copy. */
/* Source, Begin: checks the disks named for copying. */
int qemu_storage_check(struct mig_ctx *m, struct ferry_error *err);
/* Destination, Prepare, before QEMU starts: creates target images and
 * points the incoming definition at them. */
int qemu_storage_prepare_targets(struct mig_ctx *m, struct ferry_error *err);
/* Destination, Prepare, after QEMU starts: NBD server and exports; fills
 * the cookie's <nbd>. */
int qemu_storage_prepare_exports(struct mig_ctx *m, struct ferry_error *err);
/* Destination: removes the targets this Prepare created (failure paths). */
void qemu_storage_remove_targets(struct mig_ctx *m);
/* Destination, Finish: stops the NBD server. */
int qemu_storage_finish(struct mig_ctx *m, struct ferry_error *err);
/* Source, Perform: copies the disks until they converge; returns with the
 * copy still tracking guest writes. */
int qemu_storage_start(struct mig_ctx *m, struct ferry_error *err);
/* Source, Perform, at pre-switchover (guest paused): final pass + flush. */
int qemu_storage_switchover(struct mig_ctx *m, struct ferry_error *err);
/* Source: progress into the job statistics (called while RAM moves). */
void qemu_storage_update_stats(struct mig_ctx *m);
/* Source: stops and drops everything (bitmaps, exports, jobs). */
void qemu_storage_stop(struct mig_ctx *m);
/* Source: asks a running copy to stop (another thread). */
void qemu_storage_cancel(struct mig_ctx *m);
/* Source: the disk copy's bandwidth cap, BYTES_PER_SEC per disk (0 =
 * none), applied to a running engine 'ferry' copy at once (engine 'qemu':
 * see qemu-tune.c). Call with P's mig_lock held, like
 * qemu_storage_cancel. */
void qemu_storage_set_bandwidth(struct qemu_dom *p, uint64_t bytes_per_sec);
/* Frees the storage state hung on a qemu_dom (NULL is fine). */
void qemu_storage_free(void *storage);

/* Recovery after an agent restart (qemu-recover.c): the hv_driver entries
 * of the same names. */
void qemu_job_record_save(struct agent *ag, struct agent_domain *dom, json_object *record);
void qemu_job_record_restore(struct agent *ag, struct agent_domain *dom, json_object *record);
bool qemu_migrate_stream_completed(struct agent *ag, struct agent_domain *dom);
void qemu_migrate_sweep(struct agent *ag, struct agent_domain *dom, unsigned flags,
                        json_object *removed);
void qemu_recover_host(struct agent *ag);

/* --tls (qemu-tls.c): QEMU's own streams under x509 TLS, with the files of
 * ag->cfg.migrate_tls_dir. One credentials object per QEMU, by this id. */
#define QEMU_TLS_CREDS_ID "ferry-tls-creds"
/* The file name QEMU's tls-creds objects read DH parameters from. */
#define QEMU_TLS_DH_FILE "dh-params.pem"
/* The GnuTLS priority string both kinds of credentials object carry
 * (--migrate-tls-priority; "auto" drops ChaCha20 where the CPU has AES
 * instructions), or NULL for QEMU's own default. Borrowed. */
const char *qemu_tls_priority(const struct agent *ag);
/* Fails naming the first file SERVER's side (the destination) or the
 * client's (the source) lacks; nothing is started. */
int qemu_tls_check_files(struct agent *ag, bool server, struct ferry_error *err);
/* Adds the credentials object (endpoint server or client, verify-peer) and
 * sets the migration parameters tls-creds and, on the client, tls-hostname
 * (HOSTNAME, borrowed, may be NULL: the migration URI's host). Nothing is
 * left behind on failure. */
int qemu_tls_setup(struct agent *ag, struct qmp_conn *qmp, bool server, const char *hostname,
                   struct ferry_error *err);
/* Resets the migration parameters that name the object and deletes it;
 * best effort, true when anything was there. Users of the object (NBD
 * server, NBD client nodes) must be gone first. */
bool qemu_tls_teardown(struct qmp_conn *qmp);

/* Without --tls (qemu-tls.c): a fresh TLS pre-shared key per migration for
 * QEMU's RAM stream and NBD connections, chosen by the destination at
 * Prepare and handed to the source in the cookie (<stream-key>), so that a
 * stranger who connects to those ports first is refused. The key lives in
 * RUN/NAME.psk/keys.psk ("ferry:HEX", 0600) while the migration runs. */
#define QEMU_PSK_USERNAME "ferry"
/* Where NAME's keys file is. Caller frees. */
char *qemu_tls_psk_file(struct agent *ag, const char *name);
/* Writes the keys file with PSK_HEX (64 hex digits; NULL: a new random
 * key, written back into RET_HEX, 65 bytes) and adds the tls-creds-psk
 * object (endpoint server or client), setting migration parameter
 * tls-creds. Nothing is left behind on failure. */
int qemu_tls_setup_psk(struct agent *ag, struct qmp_conn *qmp, const char *name, bool server,
                       const char *psk_hex, char *ret_hex, struct ferry_error *err);
/* Removes NAME's keys file and its directory; best effort. */
void qemu_tls_psk_remove(struct agent *ag, const char *name);

/* qemu-compress.c: --compressed, --zerocopy, the xbzrle cache verb. */
/* Appends the capabilities of P's compression and zero-copy to CAPS (a
 * migrate-set-capabilities array), SOURCE or destination QEMU. */
void qemu_compress_caps(const struct mig_params *p, bool source, json_object *caps);
/* Adds P's compression parameters to ARGS (migrate-set-parameters). */
void qemu_compress_params(const struct mig_params *p, bool source, json_object *args);
/* Begin (source): refuses a multifd compression level this QEMU takes
 * but does not apply (7.2 keeps multifd-zlib-level and -zstd-level at 1),
 * found by setting it and reading it back; then what --zerocopy needs
 * (qemu_compress_source_prepare), so both refuse before the destination
 * starts. */
int qemu_compress_check_source(struct mig_ctx *m, struct qmp_conn *qmp, struct ferry_error *err);
/* Source, before migrate: what --zerocopy needs of QEMU beyond its
 * capability (no stale multifd compression, a locked-memory limit that
 * covers the guest). Refuses with the reason when it cannot. */
int qemu_compress_source_prepare(struct mig_ctx *m, struct qmp_conn *qmp, struct ferry_error *err);
/* Copies query-migrate's xbzrle-cache and compression figures from Q
 * into S (between hv_job_stats_lock and _unlock). */
void qemu_compress_stats(json_object *q, struct cookie_stats *s);
/* xbzrle-cache-size, bytes (virDomainMigrate{Set,Get}CompressionCache). */
int qemu_compress_set_cache(struct qmp_conn *qmp, uint64_t bytes, struct ferry_error *err);
int qemu_compress_get_cache(struct qmp_conn *qmp, uint64_t *ret, struct ferry_error *err);

/* Runtime tuning (qemu-tune.c). QEMU_UNLIMITED_BANDWIDTH: what "no cap"
 * sets as max-bandwidth (bytes/s; QEMU's own default is 128 MiB/s). */
#define QEMU_UNLIMITED_BANDWIDTH (1ull << 40)
/* The cap (MiB/s, 0 = none) migration M starts with: a migrate-setspeed
 * made since its Begin, else its bandwidth parameter, else the domain's
 * migrate-setspeed default, as libvirt does. */
uint64_t qemu_tune_start_speed(struct mig_ctx *m);
/* The cap M runs with now (migrate-setspeed changes it). */
uint64_t qemu_tune_current_speed(struct mig_ctx *m);
/* Engine 'qemu': sets every blockdev-mirror job of ours to MIB MiB/s. */
void qemu_tune_mirror_speed(struct qmp_conn *qmp, uint64_t mib);
/* The storage copy's cap (MiB/s, 0 = none): its own once
 * qemu_tune_start_disk_speed took --bandwidth-disk or a
 * migrate-setspeed-disk set one, else the RAM cap. */
uint64_t qemu_tune_disk_speed(struct mig_ctx *m);
void qemu_tune_start_disk_speed(struct mig_ctx *m);
struct mir_sync_disk;
struct mir_sync_opts;
struct mir_progress;
/* Convergence inside the downtime budget (qemu-converge.c). Perform's
 * start: M's pause budget into mig_downtime_ms. Its poll tick while RAM
 * moves: QEMU's downtime-limit becomes the budget less the predicted
 * storage part (*APPLIED: what QEMU has). */
void qemu_converge_start_downtime(struct mig_ctx *m);
void qemu_converge_downtime_split(struct mig_ctx *m, struct qmp_conn *qmp, uint64_t *applied);
/* The storage session's budget and auto-converge, and each disk's
 * throttled device into DEVS (N entries, kept until mir_sync_new). */
void qemu_converge_opts(const struct mig_ctx *m, struct mir_sync_disk *disks, size_t n,
                        char (*devs)[80], struct mir_sync_opts *opts);
/* A disk's convergence figures on its job.info line O. */
void qemu_converge_line(json_object *o, const struct mir_progress *pr);
/* Sets p->mig_handing_over under handover_lock (waits for a monitor
 * command in flight; qemu-state.c). */
void qemu_handover_set(struct qemu_dom *p, bool on);
/* The slowest copied disk's predicted final pass in ms (0: none;
 * qemu-storage.c). */
uint64_t qemu_storage_predicted_ms(struct qemu_dom *p);
/* A migration-progress event, at most once a second (qemu-perform.c). */
void qemu_migrate_progress_tick(struct mig_ctx *m);
/* Perform's poll tick: applies a migrate-setspeed that raced with the
 * start of the RAM migration; *APPLIED_MIB is what QEMU has. */
void qemu_tune_reconcile_speed(struct mig_ctx *m, struct qmp_conn *qmp, uint64_t *applied_mib);

/* Tunnelled migration's source relay (qemu-relay.c): start listens on a
 * unix socket for QEMU (*RET_URI: what to give migrate) and starts the
 * thread; stop ends it, first waiting for QEMU's end of stream if DRAIN,
 * and returns the relay's result. */
struct qemu_relay {
    struct mig_ctx *m;
    uint32_t stream;
    int listen_fd;
    int conn_fd;
    volatile bool stop;
    bool done;         /* atomic: the thread is past its loop (EOF, error or stop) */
    unsigned delay_ms; /* test hook: a relay that lags behind QEMU */
    int result;
    struct ferry_error err;
    pthread_t thread;
    char path[1024];
};
int qemu_relay_start(struct mig_ctx *m, struct qemu_relay *rl, char **ret_uri,
                     struct ferry_error *err);
int qemu_relay_stop(struct qemu_relay *rl, bool drain);

#endif
