/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent's core state: its configuration, its identity, the domains it
 * owns and their jobs. Shared by the control API, the migration engine
 * and the hypervisor drivers. */
#ifndef FERRY_AGENT_AGENT_H
#define FERRY_AGENT_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cookie.h"
#include "domain.h"
#include "error.h"
#include "hv.h"
#include "util.h"

#define AGENT_MAX_DOMAINS 256
/* Completed jobs of transient domains gone after migrating away, kept for
 * job.info (the oldest is dropped beyond this). */
#define AGENT_DEPARTED_KEPT 16

struct agent_config {
    char *listen;  /* "ADDR:PORT" for TCP, NULL = no TCP listener */
    char *control; /* unix socket path */
    char *state_dir;
    char *image_dir;
    char *hypervisor; /* "qemu" (default) or "xen" */
    char *host_uuid;  /* override (tests), else STATE/host-uuid */
    char *hostname;   /* override, else gethostname() */
    char *qemu_binary;
    char *xl_binary;
    unsigned max_version; /* highest migration protocol version offered (1..3) */
    /* x509 files for QEMU's own TLS (--tls migrations), libvirt's layout */
    char *migrate_tls_dir;
    /* GnuTLS priority of QEMU's streams (--migrate-tls-priority): NULL or
     * "auto" lets the driver choose, "default" keeps QEMU's own. */
    char *migrate_tls_priority;
    /* --qemu-user: QEMU drops to this user after start (-runas); uid/gid
     * resolved by main(), -1 when unset. */
    char *qemu_user;
    int qemu_uid, qemu_gid;
};

enum agent_job_phase {
    JOB_NONE = 0,
    JOB_BEGIN,
    JOB_PREPARE,
    JOB_PERFORM,
    JOB_FINISH,
    JOB_CONFIRM,
    JOB_DONE,
};

/* A migration job on one domain. Readers take the lock; the thread running
 * the migration updates stats under it. Its phase moves only through
 * agent_job_enter() (job.h: the state machine). Drivers never touch it:
 * they use the hv_job_* accessors of hv.h.
 *
 * Lock order (take them in this order, never the other way round):
 *   1. struct agent.lock       the registry (lookups, add, remove)
 *   2. agent_domain.lock       a domain's definitions and flags
 *   3. agent_job.lock          its job: phase, flags, statistics
 * No lock is held across a driver's migration step or a network call;
 * the one exception is hv_driver.migrate_cancel, called with the job's
 * lock held (it only signals the running step). A step "claims" the job
 * (stepping, job_busy): that is a flag set under the locks, not a lock. */
struct agent_job {
    pthread_mutex_t lock;
    bool active;
    char operation[32]; /* "migration-out", "migration-in" */
    enum agent_job_phase phase;
    int64_t started_wall_ms;
    int64_t started_mono_ms;
    struct cookie_stats stats; /* running figures */
    bool abort_requested;
    /* Why the job was aborted when nobody asked (a party it depends on
     * died): the step's error names it instead of "cancelled". "" = none. */
    char abort_reason[160];
    struct mig_ctx *ctx; /* while a step runs: for cancel */
    json_object *disks;  /* per-disk progress lines, owned */
    /* When each step started and ended (agent_job_mark, hv_job_mark), the
     * destination's steps merged in with "dest:" on the source; relative
     * times in job.info count from TIMELINE_BASE_US (wall clock). */
    struct cookie_timeline timeline;
    int64_t timeline_base_us;
    /* the last finished job */
    bool has_completed;
    struct cookie_stats completed;
    struct cookie_timeline completed_timeline;
    int64_t completed_timeline_base_us;
    json_object *completed_disks;
    char completed_operation[32];
    char completed_error[FERRY_ERROR_MSG_MAX];
    /* Ownership (agent/migrate.c): the control connection whose close
     * before the job's last step cleans the job up, as a failure there
     * would. Set by the job's first step; 0 = no owner (steps the agent
     * runs itself in peer-to-peer mode). Flags, storage engine and version
     * are the first step's, kept for that cleanup. */
    uint64_t owner_conn;
    unsigned owner_flags;  /* enum mig_flags */
    int owner_engine;      /* enum mig_storage_engine */
    int owner_version;     /* migration protocol version */
    bool stepping;         /* a step (or the cleanup) runs on the job now */
    bool orphaned;         /* the owner went away; the message below says what followed */
    bool perform_done;     /* v3 source: Perform succeeded and its reply was sent */
    char orphan_note[160]; /* for job.info while an orphaned job stays open */
    /* What agent/recover.c persists besides the fields above, so that a
     * restarted agent can finish the job by the same rules. */
    bool was_running; /* source: the guest ran when the job began */
    int ending;       /* enum agent_job_ending: Finish/Confirm under way */
    size_t n_created; /* destination: disk targets Prepare (may have) made */
    char created[MIG_MAX_DISKS][512];
    bool created_sure; /* Prepare succeeded: CREATED lists what it made */
    /* Post-copy: the source asked its hypervisor for the switch (set and
     * saved before the request), or the destination saw its incoming
     * migration in post-copy. Past it the source never runs the guest
     * again and the destination's guest is never torn down. */
    bool postcopy;
};

enum agent_job_ending {
    JOB_ENDING_NONE = 0,
    JOB_ENDING_SUCCESS,   /* Finish/Confirm of a migration that succeeded */
    JOB_ENDING_CANCELLED, /* Finish/Confirm of one that failed */
};

/* Where a definition's newest disk data is (agent/location.h). */
enum agent_location_state {
    LOCATION_HERE = 0, /* no mark: the images it names are current */
    LOCATION_LEAVING,  /* its disks are being copied away, or were when the outcome got lost */
    LOCATION_MOVED,    /* a migration with its disks succeeded: they are elsewhere */
};

struct agent_location {
    enum agent_location_state state;
    char host[256]; /* where to: the peer's hostname and uuid */
    char host_uuid[FERRY_UUID_STRLEN];
    char disks[256]; /* "vda,vdb": the disks whose images here are stale */
    int64_t since_ms;
};

struct agent_domain {
    pthread_mutex_t lock;              /* protects the fields below */
    int refs;                          /* guarded by the registry lock */
    struct domain_def *def;            /* the live definition (owned) */
    struct domain_def *persistent_def; /* on-disk definition, NULL if transient */
    bool active;                       /* a guest process exists */
    bool incoming;                     /* prepared for an incoming migration */
    bool removed;                      /* no longer in the registry */
    bool job_busy;                     /* a migration step holds the domain */
    struct agent_location location;    /* of the persistent definition's data */
    struct agent_job job;
    void *priv; /* driver's per-domain state */
};

struct agent {
    struct agent_config cfg;
    const struct hv_driver *driver;
    char host_uuid[FERRY_UUID_STRLEN];
    char hostname[256];
    char run_dir[1024];     /* STATE/run */
    char domains_dir[1024]; /* STATE/domains */
    pthread_mutex_t lock;   /* registry */
    struct agent_domain *domains[AGENT_MAX_DOMAINS];
    size_t n_domains;
    volatile int quit;
    void *driver_priv;
    struct agent_volumes *volumes; /* the images ferryd created (agent/volumes.h) */
    /* Under LOCK: job.info's completed statistics of transient domains
     * forgotten once they migrated away, oldest first, so that a client
     * printing a migration's statistics after Confirm (ferryctl migrate
     * --verbose) finds them whether or not the guest was persistent. */
    struct {
        char *name;
        json_object *info;
    } departed[AGENT_DEPARTED_KEPT];
    size_t n_departed;
};

/* Loads identity and persistent domains, re-attaches running guests.
 * AG->driver is set by the caller beforehand. */
int agent_init(struct agent *ag, struct ferry_error *err);
void agent_fini(struct agent *ag);
/* Re-attaches to guests left running by a previous agent process. */
void agent_restore_running(struct agent *ag);
/* Then, before serving anyone: recovers the migration jobs that previous
 * process left (agent/recover.c, docs/control-api.md "An agent that
 * restarts"). */
void agent_recover_jobs(struct agent *ag);

/* Registry. Lookup returns a new reference (agent_domain_unref) or NULL. */
struct agent_domain *agent_domain_lookup(struct agent *ag, const char *name);
struct agent_domain *agent_domain_lookup_uuid(struct agent *ag, const char *uuid);
void agent_domain_ref(struct agent_domain *dom);
void agent_domain_unref(struct agent *ag, struct agent_domain *dom);
/* Adds a domain for DEF (taken) and returns it with a reference. Fails
 * with -EEXIST when the name or uuid is taken. */
int agent_domain_add(struct agent *ag, struct domain_def *def, struct agent_domain **ret,
                     struct ferry_error *err);
/* Drops DOM from the registry (its reference count then ends it). */
void agent_domain_remove(struct agent *ag, struct agent_domain *dom);
/* Snapshot of the registry: an array of references; caller unrefs each and
 * frees the array. */
size_t agent_domain_list(struct agent *ag, struct agent_domain ***ret);

/* Persistence under the state dir. */
int agent_domain_save_def(struct agent *ag, struct agent_domain *dom, struct ferry_error *err);
int agent_domain_delete_def(struct agent *ag, const char *name, struct ferry_error *err);

/* Claims the domain for a migration step: fails with -EBUSY naming the
 * operation that holds it. */
int agent_domain_begin_job(struct agent_domain *dom, const char *operation,
                           struct ferry_error *err);
void agent_domain_end_job(struct agent_domain *dom);
/* Job bookkeeping helpers. */
void agent_job_start(struct agent_job *job, const char *operation);
void agent_job_finish(struct agent_job *job, const struct ferry_error *err_or_null);

/* Event bus: lifecycle and job events as JSON objects to subscribers. */
void agent_emit_event(struct agent *ag, const char *event, const char *domain,
                      json_object *data /* taken, may be NULL */);
typedef void (*agent_event_sink)(json_object *ev, void *opaque);
/* Every event gets "seq", 1 for the first this agent process emits, and
 * the last AGENT_EVENTS_KEPT are kept, so a client that subscribes late
 * (after a restart's recovery, after a lost connection) can have them
 * again. agent_events_subscribe_since() first gives SINK, in order, the
 * kept events whose seq is above SINCE, then every event emitted later,
 * none missed or given twice; agent_events_subscribe() gives only the
 * later ones. Both return a token > 0, or -EMFILE.
 * agent_events_position(): the oldest kept seq (0: none yet), the last
 * seq given, and this process's epoch (wall ms at agent_init: seqs of
 * another epoch are another process's). */
#define AGENT_EVENTS_KEPT 256
int agent_events_subscribe(struct agent *ag, agent_event_sink sink, void *opaque);
int agent_events_subscribe_since(struct agent *ag, agent_event_sink sink, void *opaque,
                                 uint64_t since);
void agent_events_unsubscribe(struct agent *ag, int token);
void agent_events_position(struct agent *ag, uint64_t *ret_oldest, uint64_t *ret_last,
                           int64_t *ret_epoch);

#endif
