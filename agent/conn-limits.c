/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Connection budgets per listener and per source address, and refusal
 * logging at a bounded rate (agent/conn-limits.h). One mutex guards all
 * counters; it is held only for counting, never across I/O. */
#include "conn-limits.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

struct addr_use {
    char addr[64]; /* "" = free entry */
    unsigned total, pending;
};

static pthread_mutex_t adm_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned n_total[ADM_N_LISTENERS], n_pending[ADM_N_LISTENERS];
static struct addr_use addrs[ADM_MAX_ADDRS];

static struct addr_use *addr_find(const char *addr, bool create)
{
    struct addr_use *free_entry = NULL;

    for (size_t i = 0; i < ADM_MAX_ADDRS; i++) {
        if (strcmp(addrs[i].addr, addr) == 0)
            return &addrs[i];
        if (!free_entry && !addrs[i].addr[0])
            free_entry = &addrs[i];
    }
    if (create && free_entry)
        snprintf(free_entry->addr, sizeof free_entry->addr, "%s", addr);
    return create ? free_entry : NULL;
}

static void format_addr(const struct sockaddr *sa, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)size);
}

int adm_admit(enum adm_listener listener, const struct sockaddr *sa, socklen_t sa_len,
              struct adm_slot *slot, const char **ret_why)
{
    bool net = listener != ADM_UNIX;
    struct addr_use *u = NULL;
    const char *why = NULL;

    (void)sa_len;
    memset(slot, 0, sizeof *slot);
    slot->listener = listener;
    if (net) {
        format_addr(sa, slot->addr, sizeof slot->addr);
        if (!slot->addr[0])
            snprintf(slot->addr, sizeof slot->addr, "unknown");
    }
    pthread_mutex_lock(&adm_lock);
    if (!net) {
        if (n_total[listener] >= ADM_MAX_UNIX)
            why = "the control socket's connection limit is reached";
    } else if (n_total[listener] >= ADM_MAX_NET) {
        why = "the listener's connection limit is reached";
    } else if (n_pending[listener] >= ADM_MAX_PENDING) {
        why = "too many connections on this listener have not completed HELLO";
    } else if (!(u = addr_find(slot->addr, true))) {
        why = "too many distinct client addresses";
    } else if (u->total >= ADM_MAX_PER_ADDR) {
        why = "the per-address connection limit is reached";
    } else if (u->pending >= ADM_MAX_PENDING_PER_ADDR) {
        why = "too many connections from this address have not completed HELLO";
    }
    if (why) {
        if (u && u->total == 0)
            u->addr[0] = '\0';
        pthread_mutex_unlock(&adm_lock);
        *ret_why = why;
        return -EAGAIN;
    }
    n_total[listener]++;
    if (net) {
        n_pending[listener]++;
        u->total++;
        u->pending++;
        slot->pending = true;
    }
    pthread_mutex_unlock(&adm_lock);
    return 0;
}

void adm_established(struct adm_slot *slot)
{
    struct addr_use *u;

    if (!slot->pending)
        return;
    pthread_mutex_lock(&adm_lock);
    n_pending[slot->listener]--;
    u = addr_find(slot->addr, false);
    if (u)
        u->pending--;
    slot->pending = false;
    pthread_mutex_unlock(&adm_lock);
}

void adm_release(struct adm_slot *slot)
{
    struct addr_use *u;

    adm_established(slot);
    pthread_mutex_lock(&adm_lock);
    n_total[slot->listener]--;
    if (slot->listener != ADM_UNIX && (u = addr_find(slot->addr, false))) {
        if (--u->total == 0)
            u->addr[0] = '\0';
    }
    pthread_mutex_unlock(&adm_lock);
}

void adm_log_refusal(const char *fmt, ...)
{
    static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
    static int64_t window_start;
    static unsigned logged, left_out;
    unsigned report = 0;
    char msg[FERRY_ERROR_MSG_MAX];
    int64_t now = ferry_now_ms();
    va_list ap;
    bool show;

    pthread_mutex_lock(&log_lock);
    if (now - window_start >= ADM_LOG_WINDOW_MS) {
        report = left_out;
        window_start = now;
        logged = 0;
        left_out = 0;
    }
    show = logged < ADM_LOG_BURST;
    if (show)
        logged++;
    else
        left_out++;
    pthread_mutex_unlock(&log_lock);
    if (report)
        ferry_warn("%u more connection refusals were not logged (at most %d per %d s)", report,
                   ADM_LOG_BURST, ADM_LOG_WINDOW_MS / 1000);
    if (!show)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ferry_warn("%s", msg);
}
