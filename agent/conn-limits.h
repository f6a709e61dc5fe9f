/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who gets a connection slot: each listener has its own budget (the unix
 * control socket's cannot be spent by network clients), network clients
 * that have not finished HELLO (and TLS, and authentication) have a smaller
 * one, per listener and per source address, and refusals are logged at a
 * bounded rate (docs/security.md, "Connection limits"). */
#ifndef FERRY_AGENT_CONN_LIMITS_H
#define FERRY_AGENT_CONN_LIMITS_H

#include <stdbool.h>
#include <sys/socket.h>

enum adm_listener {
    ADM_UNIX,
    ADM_TCP,
    ADM_TLS,
    ADM_N_LISTENERS,
};

#define ADM_MAX_UNIX             64  /* connections on the control socket */
#define ADM_MAX_NET              128 /* per network listener, any phase */
#define ADM_MAX_PENDING          64  /* per network listener, before HELLO completed */
#define ADM_MAX_PER_ADDR         64  /* per source address, both network listeners */
#define ADM_MAX_PENDING_PER_ADDR 16  /* per source address, before HELLO completed */
#define ADM_MAX_ADDRS            512 /* distinct source addresses tracked at once */

/* One admitted connection's hold on the budgets. */
struct adm_slot {
    enum adm_listener listener;
    bool pending;  /* still counted as not through HELLO */
    char addr[64]; /* numeric source address, "" on the unix socket */
};

/* Takes a slot on LISTENER for a connection from SA (NULL or AF_UNIX for
 * the control socket). 0: *slot filled, release it with adm_release().
 * -EAGAIN: a budget is spent; *ret_why (static) names which. */
int adm_admit(enum adm_listener listener, const struct sockaddr *sa, socklen_t sa_len,
              struct adm_slot *slot, const char **ret_why);
/* The connection finished HELLO: it leaves the pending budgets. */
void adm_established(struct adm_slot *slot);
void adm_release(struct adm_slot *slot);

/* A warning about a refused or failed connection, at most
 * ADM_LOG_BURST lines per ADM_LOG_WINDOW_MS; the number left out is told
 * in the next line logged after a window ends. */
#define ADM_LOG_BURST     5
#define ADM_LOG_WINDOW_MS 10000
void adm_log_refusal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
