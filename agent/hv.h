/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hypervisor driver vtable. The agent core (domain registry, control
 * API, the v3 migration engine) is hypervisor-neutral and reaches QEMU or
 * Xen only through this table. Fields are only ever appended.
 *
 * Threads: every entry point may be called from any connection thread.
 * The core serialises calls per domain (it holds the domain's job while a
 * migration step runs and the domain lock for short lifecycle calls), so a
 * driver needs no locking of its own for one domain's private state. */
#ifndef FERRY_AGENT_HV_H
#define FERRY_AGENT_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cookie.h"
#include "domain.h"
#include "error.h"

struct agent;
struct agent_domain;
struct agent_job;

/* Migration flags, named and numbered as libvirt's virDomainMigrateFlags
 * so orchestrator authors recognise them: MIG_LIVE, MIG_PEER2PEER, ...
 * (agent/migparams.def declares each). */
enum mig_flags {
#define MIG_FLAG(NAME, BIT, ...) MIG_##NAME = 1u << (BIT),
#include "migparams.def"
};

/* Compression methods of MIG_COMPRESSED (libvirt's names): xbzrle and mt
 * for the classic stream, zlib and zstd for multifd (MIG_PARALLEL). */
enum mig_comp_method {
    MIG_COMP_XBZRLE = 1u << 0,
    MIG_COMP_MT = 1u << 1,
    MIG_COMP_ZLIB = 1u << 2,
    MIG_COMP_ZSTD = 1u << 3,
};

enum mig_storage_engine { MIG_STORAGE_FERRY = 0, MIG_STORAGE_QEMU };

#define MIG_MAX_DISKS     32
#define MIG_DISK_PATH_MAX 512 /* a destination image's path, with its NUL */

/* The C types of migparams.def's MIG_PARAM kinds. */
#define MIG_PARAM_TYPE_STR  char *
#define MIG_PARAM_TYPE_U64  uint64_t
#define MIG_PARAM_TYPE_UINT unsigned
#define MIG_PARAM_TYPE_BOOL bool

/* Everything a caller can ask of a migration. Strings are owned by the
 * struct (mig_params_clear frees them). */
struct mig_params {
    unsigned flags; /* enum mig_flags */
    /* dname, bandwidth_mib, migrate_uri, ...: one field per MIG_PARAM row
     * of migparams.def, which says what each means. */
#define MIG_PARAM(FIELD, KIND, ...) MIG_PARAM_TYPE_##KIND FIELD;
#include "migparams.def"
    size_t n_migrate_disks; /* 0 = every non-shared, writable disk */
    char *migrate_disks[MIG_MAX_DISKS];
    /* Source, engine 'ferry': how long (s) a disk copy keeps reconnecting
     * to a target whose connection died before the migration fails (0:
     * never reconnect); only when has_disk_reconnect_timeout, else the
     * engine's default (30 s). */
    unsigned disk_reconnect_timeout_s;
    bool has_disk_reconnect_timeout;
    enum mig_storage_engine storage_engine;
    char *dest_xml; /* optional replacement XML for the destination */
    /* Per-disk destination paths (agent/volumes.h). */
    size_t n_disk_paths;
    struct {
        char target[32];
        char *path;
    } disk_paths[MIG_MAX_DISKS];
    /* MIG_COMPRESSED: enum mig_comp_method (0 = libvirt's default,
     * xbzrle) and the methods' tuning; a has_* false leaves QEMU's own
     * value. xbzrle_cache is in bytes, 0 = QEMU's. */
    unsigned comp_methods;
    uint64_t comp_xbzrle_cache;
    bool has_comp_mt_level, has_comp_mt_threads, has_comp_mt_dthreads;
    bool has_comp_zlib_level, has_comp_zstd_level;
    unsigned comp_mt_level, comp_mt_threads, comp_mt_dthreads;
    unsigned comp_zlib_level, comp_zstd_level;
};

/* State of one migration on one side, handed to every driver step. The
 * core fills the inputs; the driver fills the outputs. */
struct mig_ctx {
    struct agent *agent;
    struct agent_domain *dom; /* source: the domain; destination: the incoming one */
    struct agent_job *job;    /* statistics and abort flag */
    const struct mig_params *params;
    int version;              /* negotiated protocol version: 1, 2 or 3 */
    struct cookie cookie_in;  /* parsed cookie from the previous step */
    struct cookie cookie_out; /* cookie this step produces */
    char *uri;                /* prepare: out (where to migrate); perform: in */
    bool cancelled;           /* finish/confirm: the migration failed */
    /* Prepare: where each disk of COOKIE_IN's <nbd> list is to be created,
     * in the same order (the core's choice, agent/volumes.h; owned by the
     * core). */
    char *target_paths[MIG_MAX_DISKS];
    /* Tunnelled migration (peer-to-peer only). Prepare: the core chose
     * TUNNEL_ID; the driver sets TUNNEL_PATH (caller frees), a unix socket
     * its incoming side listens on, and the core feeds it the stream's DATA
     * frames. Perform: TUNNEL_SEND (NULL when not tunnelled) sends bytes of
     * stream TUNNEL_ID to the destination agent over the agents'
     * connection. */
    uint32_t tunnel_id;
    char *tunnel_path;
    int (*tunnel_send)(void *opaque, uint32_t stream, uint32_t flags, const void *buf, size_t len,
                       struct ferry_error *err);
    void *tunnel_opaque;
    /* Two-way tunnel, for a stream whose receiver answers (xl's does).
     * Prepare: the driver sets TUNNEL_DUPLEX with TUNNEL_PATH; the core then
     * connects to TUNNEL_PATH at the stream's first DATA frame (the source
     * sends an empty one to open it), passes a DATA frame's EOF flag on as a
     * half-close, and sends what the receiver writes back to the source as
     * DATA frames of the same stream on the same connection (EOF when the
     * receiver closes, ABORT on a read error). Perform: TUNNEL_RECV (set
     * with TUNNEL_SEND) waits up to TIMEOUT_MS for the next such frame;
     * *RET_BUF (caller frees) may be NULL with *RET_LEN 0. It returns
     * -ETIMEDOUT when no frame began within TIMEOUT_MS (nothing is lost:
     * call it again), the destination's error when it refused a frame of
     * the stream, -ECONNRESET when the connection is gone. Only one thread
     * may call it, and only while Perform runs. */
    bool tunnel_duplex;
    int (*tunnel_recv)(void *opaque, uint32_t stream, int timeout_ms, uint32_t *ret_flags,
                       void **ret_buf, size_t *ret_len, struct ferry_error *err);
};

/* See hv_driver.guest_caps. */
struct hv_guest_caps {
    char emulator[1024];
    char domain_type[16]; /* "kvm", "qemu", "xen" */
};

/* Flags of a tunnelled stream's bytes (mig_ctx.tunnel_send/recv): the
 * last bytes of the stream, or the sender gave up on it. */
#define HV_TUNNEL_EOF   (1u << 0)
#define HV_TUNNEL_ABORT (1u << 1)

#define HV_CONFIRM_COMPLETED 1 /* see hv_driver.migrate_confirm */

struct hv_driver {
    const char *name; /* "qemu", "xen" */

    /* Called once at agent start, before any domain is loaded. */
    int (*init)(struct agent *ag, struct ferry_error *err);

    /* Starts DOM's definition as a new guest; on success the domain is
     * running and its private handle set. */
    int (*domain_start)(struct agent *ag, struct agent_domain *dom, struct ferry_error *err);
    /* Looks for the guest after an agent restart; returns 1 when it is
     * running and re-attached, 0 when it is gone (run state removed). */
    int (*domain_attach)(struct agent *ag, struct agent_domain *dom, struct ferry_error *err);
    /* Hard stop; the guest is gone when it returns 0. */
    int (*domain_destroy)(struct agent *ag, struct agent_domain *dom, struct ferry_error *err);
    /* Live state from the hypervisor itself: "running", "paused",
     * "shutoff"; REASON_BUF gets a short reason ("migrating", "user", ...). */
    int (*domain_state)(struct agent *ag, struct agent_domain *dom, char *state_buf,
                        size_t state_len, char *reason_buf, size_t reason_len,
                        struct ferry_error *err);
    /* Passes a monitor command through (QMP JSON text, or HMP text when
     * HMP). *ret_output is the reply text; caller frees. Optional. */
    int (*domain_monitor)(struct agent *ag, struct agent_domain *dom, const char *command, bool hmp,
                          char **ret_output, struct ferry_error *err);
    /* Releases the driver's private state of a domain that is gone. */
    void (*domain_release)(struct agent *ag, struct agent_domain *dom);

    /* ---- What the driver offers, as data: the core builds HELLO's
     * feature list and the capabilities document from it and never asks
     * for a driver by name. ---- */
    /* Storage engines it can copy disks with (1u << enum
     * mig_storage_engine); 0: no storage copy at all (no "nbd" or
     * "storage-*" feature is offered then). */
    unsigned storage_engines;
    /* Lowest migration protocol version it can serve. Version 1 carries
     * no domain XML, and a Prepare without XML is only possible for a
     * driver whose own stream carries the configuration (Xen: 1; QEMU:
     * 2). */
    unsigned min_version;
    /* <uri_transports> of the capabilities document, NULL-terminated. */
    const char *const *uri_transports;
    /* The migration accepts a bandwidth limit (<resource/>) and a new
     * name on the destination (<domain_rename/>). */
    bool migrate_bandwidth, migrate_rename;
    /* The <guest> part of the capabilities document: the emulator's path
     * and the <domain type>, which only the running driver knows. */
    void (*guest_caps)(struct agent *ag, struct hv_guest_caps *ret);
    /* Flags this driver can honour (enum mig_flags). */
    unsigned supported_flags;

    /* The migration steps (protocol v3; v2 and v1 reuse them, see
     * agent/migrate.c). Each returns 0 or a negative errno with ERR set. */
    int (*migrate_begin)(struct mig_ctx *m, struct ferry_error *err);
    int (*migrate_prepare)(struct mig_ctx *m, struct ferry_error *err);
    int (*migrate_perform)(struct mig_ctx *m, struct ferry_error *err);
    int (*migrate_finish)(struct mig_ctx *m, struct ferry_error *err);
    /* A cancelled Confirm past the post-copy switch may find that the
     * migration completed after all (the destination holds the whole
     * guest): the driver then stops the source guest and returns
     * HV_CONFIRM_COMPLETED, and the job ends as a completed migration. */
    int (*migrate_confirm)(struct mig_ctx *m, struct ferry_error *err);
    /* Asks a running perform to stop soon (called from another thread). */
    void (*migrate_cancel)(struct mig_ctx *m);

    /* enum mig_flags the core adds to every peer-to-peer migration that
     * neither is --offline nor names a --migrateuri (Xen: MIG_TUNNELLED, so
     * xl's stream rides inside the agents' connection). */
    unsigned p2p_implied_flags;

    /* ---- Lifecycle and migration tuning verbs (optional: NULL when the
     * driver has none; the control API then answers "unsupported"). ---- */

    /* Pauses / resumes the guest's vCPUs (virDomainSuspend/Resume). Called
     * with the domain lock held and the domain active. *RET_CHANGED is
     * false when the guest already was in the asked state (a no-op that
     * succeeds, as in libvirt). Resume refuses a guest that a migration
     * paused (the core already refuses while a migration job holds it). */
    int (*domain_suspend)(struct agent *ag, struct agent_domain *dom, bool *ret_changed,
                          struct ferry_error *err);
    int (*domain_resume)(struct agent *ag, struct agent_domain *dom, bool *ret_changed,
                         struct ferry_error *err);
    /* Adds what only the driver knows to a domain.info result INFO
     * (borrowed): "pid" (0 when none), "cpu_time" (ns, when known). Called
     * with the domain lock held. */
    void (*domain_info)(struct agent *ag, struct agent_domain *dom, json_object *info);
    /* Migration tuning (virDomainMigrateSetMaxSpeed/SetMaxDowntime and
     * their getters), enum hv_mig_param. Called without the domain lock: a
     * running migration's Perform holds the domain meanwhile. The domain
     * must be active. */
    int (*migrate_set_param)(struct agent *ag, struct agent_domain *dom, int param, uint64_t value,
                             struct ferry_error *err);
    int (*migrate_get_param)(struct agent *ag, struct agent_domain *dom, int param,
                             uint64_t *ret_value, struct ferry_error *err);

    /* ---- A migration an agent restart interrupted (agent/recover.c,
     * docs/control-api.md "An agent that restarts"). The core keeps the
     * job record and applies the rules; these entries are the driver's
     * part of it, as libvirt's qemuProcessRecoverJob is the QEMU driver's
     * part of its job recovery. All optional: NULL when the driver keeps
     * no such state (the core then skips that part). ---- */

    /* Adds the driver's own per-migration state to DOM's job record
     * RECORD (a JSON object, borrowed), under keys the core does not use
     * (QEMU: "we_paused", and the names its engines give what they add to
     * QEMU, for the operator reading a record). Called at every phase
     * change with the job claimed, not under the job's lock. */
    void (*job_record_save)(struct agent *ag, struct agent_domain *dom, json_object *record);
    /* After a restart, with DOM's job restored from its record and
     * claimed: restores the per-migration state Confirm and Finish go by
     * (QEMU: whether the guest ran at Begin, dom->job.was_running, and
     * whether ferry paused it). RECORD (borrowed) is NULL for a job the
     * core made up without a record (an incoming guest Prepare left no
     * record of): the state of a job that just began then. */
    void (*job_record_restore)(struct agent *ag, struct agent_domain *dom, json_object *record);
    /* True when the hypervisor says DOM's outgoing migration stream
     * completed (the guest's state went whole to the destination); false
     * when it did not, or the driver cannot tell. Job claimed. */
    bool (*migrate_stream_completed)(struct agent *ag, struct agent_domain *dom);
    /* Removes from the running guest DOM everything the driver's
     * migration code adds to it, found by name because the in-memory
     * state that knew it is gone (QEMU: ferry-* block jobs, exports, NBD
     * client nodes and dirty bitmaps, and the NBD server), enum
     * hv_sweep_flags first. Appends a "KIND:NAME" string for each thing
     * removed to REMOVED (a JSON array, borrowed). Best effort: a removal
     * that fails is logged and the rest go on. Called with DOM's job
     * claimed, or on a guest with no job before any client is served. */
    void (*migrate_sweep)(struct agent *ag, struct agent_domain *dom, unsigned flags,
                          json_object *removed);
    /* Once at start-up, after every record was recovered and every idle
     * guest swept: the host-wide leftovers of an earlier agent process
     * (QEMU: the unix sockets of its engines' NBD servers). */
    void (*recover_host)(struct agent *ag);

    /* Switches DOM's running outgoing migration (started with
     * MIG_POSTCOPY) to post-copy (virDomainMigrateStartPostCopy): at once
     * when its RAM migration runs, else as soon as it starts. The core has
     * checked the job; called without the domain lock. Optional. */
    int (*migrate_start_postcopy)(struct agent *ag, struct agent_domain *dom,
                                  struct ferry_error *err);

    /* Completes a definition the control API's define just parsed (DEF,
     * borrowed, not yet stored) with what only this host knows and what
     * must then stay fixed for the guest's life, as libvirt does at
     * define (QEMU: the machine type alias expanded to the versioned name
     * its QEMU resolves it to). Refuses, naming it, what this host cannot
     * run. Optional. */
    int (*domain_define)(struct agent *ag, struct domain_def *def, struct ferry_error *err);

    /* ---- Guest verbs (optional) ---- */

    /* Sends the running guest HOW (enum hv_power). Called with the domain
     * lock held, the domain active and no migration job on it. */
    int (*domain_power)(struct agent *ag, struct agent_domain *dom, int how,
                        struct ferry_error *err);
    /* Adds to OUT (borrowed) where the host reaches the running guest:
     * "console": {"type": "pty"|"unix", "path"}, "vnc": "HOST:DISPLAY",
     * "taps": [names, per NIC, "" for none]; what it cannot tell is left
     * out. Called without the domain lock (it asks the hypervisor). */
    void (*domain_devices_info)(struct agent *ag, struct agent_domain *dom, json_object *out);
};

/* How domain_power acts on a guest. */
enum hv_power {
    HV_POWER_SHUTDOWN = 0, /* the ACPI power button */
    /* The power button, the guest's power-off then turned into a reset
     * (libvirt's ACPI reboot) */
    HV_POWER_REBOOT,
    HV_POWER_RESET, /* a hard reset, as the reset button */
};

/* ---- What a driver may do with the job of the migration it runs. The
 * job itself (struct agent_job) and its lock are the core's: a driver
 * goes through these, implemented in agent/job.c. ---- */

/* A caller asked to abort (job.abort, a client gone, a peer gone): the
 * driver's long loops poll it and stop soon. */
bool hv_job_abort_requested(struct mig_ctx *m);
/* The job's running statistics, to update in place between the two
 * calls; nothing else may be called in between (the core's lock is
 * held). */
struct cookie_stats *hv_job_stats_lock(struct mig_ctx *m);
void hv_job_stats_unlock(struct mig_ctx *m);
/* Marks a step of the migration on the job's timeline (job.info's
 * "timeline", the job record, the cookies): NAME is [a-z0-9:._-] ("ram",
 * "bulk:vda"); a step marked again extends its entry and counts. Takes
 * the job's lock: any thread, never between hv_job_stats_lock and
 * _unlock. */
enum hv_mark { HV_MARK_START = 0, HV_MARK_END };
void hv_job_mark(struct mig_ctx *m, const char *name, enum hv_mark what);
/* Replaces the per-disk progress lines of job.info (LINES taken). */
void hv_job_set_disks(struct mig_ctx *m, json_object *lines);
/* Post-copy: marks DOM's job as switched and records it durably, before
 * the driver asks the hypervisor for the switch (source) and when it sees
 * its incoming migration in post-copy (destination). Not between
 * hv_job_stats_lock and _unlock. */
void hv_job_mark_postcopy(struct agent *ag, struct agent_domain *dom);
/* A snapshot of what the core knows of DOM's job. */
struct hv_job_facts {
    bool active;      /* a job exists */
    bool outgoing;    /* it is a migration out of this host */
    bool was_running; /* source: the guest ran when it began */
    bool postcopy;    /* past the post-copy switch */
    bool stepping;    /* a step of it is inside the driver now */
};
void hv_job_facts(struct agent_domain *dom, struct hv_job_facts *ret);
/* An event to the agent's subscribers (docs/control-api.md, "Jobs and
 * events"); DATA taken, may be NULL. */
void hv_emit_event(struct agent *ag, const char *event, const char *domain, json_object *data);

/* A "migration-progress" event with what job.info shows of M's job now
 * (docs/control-api.md, "Jobs and events"); the driver paces it. */
void hv_job_emit_progress(struct mig_ctx *m);

/* Flags of migrate_sweep. */
enum hv_sweep_flags {
    /* First cancel the guest's outgoing migration if one runs, and wait
     * (bounded) until it has ended. */
    HV_SWEEP_CANCEL = 1u << 0,
    /* Stop the guest's disk server even when nothing of ferry's was
     * found on it (a copy that may have been under way). */
    HV_SWEEP_SERVER = 1u << 1,
};

/* Parameters of migrate_set_param / migrate_get_param. */
enum hv_mig_param {
    HV_MIG_MAX_BANDWIDTH = 0, /* MiB/s, 0 = unlimited; RAM, and disks without their own */
    HV_MIG_MAX_DOWNTIME,      /* ms, QEMU's downtime-limit */
    HV_MIG_XBZRLE_CACHE,      /* bytes, QEMU's xbzrle-cache-size */
    HV_MIG_DISK_BANDWIDTH,    /* MiB/s, 0 = unlimited: the running migration's
                                 storage copy alone (its --bandwidth-disk) */
};

/* Limits of those values, as libvirt's (LLONG_MAX bytes/s in MiB/s) and
 * QEMU's (2000 s) own. */
#define HV_MIG_BANDWIDTH_MAX (INT64_MAX >> 20)
#define HV_MIG_DOWNTIME_MAX  2000000u

#endif
