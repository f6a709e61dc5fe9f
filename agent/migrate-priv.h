/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private to the migration core (migrate.c: the steps and peer-to-peer;
 * migrate-job.c: a client that goes away, job info and abort). Not part of
 * any public interface. */
#ifndef FERRY_AGENT_MIGRATE_PRIV_H
#define FERRY_AGENT_MIGRATE_PRIV_H

#include <stdbool.h>

#include "agent.h"
#include "error.h"
#include "hv.h"
#include "migparams.h"

#define CLIENT_GONE_MSG "the client that started the migration went away"

/* One migration step being served: its parameters, the driver's context,
 * and the domain it holds a reference to. */
struct mig_step {
    struct mig_params params;
    struct mig_ctx m;
    struct agent_domain *dom;
    bool claimed; /* this step set dom->job.stepping */
};

/* Releases what a step holds: the job's step claim, its parameters, its
 * domain reference. */
void mig_step_clear(struct agent *ag, struct mig_step *s);
/* A step for the job DOM already has, with the first step's flags, for
 * code that ends the job outside a client's step (migrate-job.c). */
void mig_step_from_job(struct agent *ag, struct agent_domain *dom, struct mig_step *s);
/* Finish (destination) and Confirm (source) with the job claimed: the
 * cleanup of a failed or cancelled migration goes through them. WHY, when
 * set, is the reason a cancelled job records. */
int mig_finish_locked(struct agent *ag, struct mig_step *s, bool cancelled, const char *why,
                      struct ferry_error *err);
int mig_confirm_locked(struct agent *ag, struct mig_step *s, bool cancelled, const char *why,
                       struct ferry_error *err);
/* Definitions and images across a migration with storage copy
 * (migrate-images.c). Source: _leaving before Perform moves anything,
 * _confirmed at the end of Confirm. Destination: _plan in Prepare chooses
 * and records the targets (SOURCE_XML: the XML Begin made), _arrived at a
 * Finish of a success. _collect, once the job released the domain,
 * removes the images ferryd made for the guest that nothing names now. */
void mig_images_leaving(struct agent *ag, struct mig_step *s);
int mig_images_plan(struct agent *ag, struct mig_step *s, const char *source_xml,
                    struct ferry_error *err);
void mig_images_arrived(struct agent *ag, struct mig_step *s);
void mig_images_confirmed(struct agent *ag, struct mig_step *s, bool cancelled);
void mig_images_collect(struct agent *ag, struct mig_step *s, const char *why);

/* What happens to a job whose owner is gone before its last step. */
enum orphan_action {
    ORPHAN_NONE,          /* not ours, done, or a step of another connection runs */
    ORPHAN_SOURCE_CANCEL, /* before the point of no return: resume the guest */
    ORPHAN_SOURCE_KEEP,   /* v3 after Perform: keep the guest paused, await Confirm */
    ORPHAN_DEST_TEARDOWN, /* Finish never came: kill the incoming guest */
    ORPHAN_DEST_FINISH,   /* v2/v1: Finish never came, the stream may be complete */
};
/* The rule for JOB (borrowed; its lock held or the job otherwise still)
 * when its owner went away: the client's connection closed
 * (migrate-job.c), or the agent itself restarted (recover.c). */
enum orphan_action mig_orphan_rule(const struct agent_job *job);
/* The migration-abandoned event: the job's owner went away in PHASE, and
 * ACTION is what the agent did about it. */
void mig_publish_abandoned(struct agent *ag, struct agent_domain *dom, const char *phase,
                           const char *action);
/* Keeps DOM's completed job (job.info with completed) in AG after DOM, a
 * transient domain that migrated away, is forgotten (migrate-job.c). */
void agent_job_keep_departed(struct agent *ag, struct agent_domain *dom);

/* Perform runs in the thread that serves its connection, so nobody reads
 * that connection until it returns. This watcher notices meanwhile that
 * the client closed it (POLLRDHUP: its FIN or RST; pipelined requests
 * only raise POLLIN and are left alone) and cancels the migration the way
 * job.abort does. The job records it, so the step's result and the
 * cleanup at close know that the client never saw Perform's answer.
 *
 * In peer-to-peer mode it also watches the source agent's connection to
 * the destination agent, which nobody reads during Perform either (unless
 * tunnelled): a destination agent that dies (its kernel closes the socket)
 * or a host that vanishes or an agent that hangs (the keepalive: PING
 * frames, PONGs expected; TCP keepalive for a peer without it) ends the
 * migration at once instead of at Finish, with the guest still running
 * here. The destination's own recovery removes its half. */
struct ctl_client;
struct wire_conn;
struct conn_watch {
    struct agent *ag;
    struct agent_domain *dom; /* borrowed: the step holds a reference */
    int conn_fd;              /* borrowed; -1: no client connection to watch */
    int peer_fd;              /* borrowed; -1: not peer-to-peer */
    struct ctl_client *peer;  /* borrowed; NULL: not peer-to-peer */
    bool keepalive;           /* the peer answers PING */
    int stop[2];              /* pipe: written to stop the watcher */
    pthread_t thread;
    bool running;
};

/* Starts watching CONN and PEER (either may be NULL: nothing to watch);
 * DOM is borrowed for as long as the watch runs. A watcher that cannot
 * start only loses the early cancel; the close still cleans up. */
void mig_watch_start(struct conn_watch *w, struct agent *ag, struct agent_domain *dom,
                     struct wire_conn *conn, struct ctl_client *peer);
void mig_watch_stop(struct conn_watch *w);

#endif
