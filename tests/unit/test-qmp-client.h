/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the qmp/ tests against the fake server (test-qmp-fake.h) share:
 * opening a connection to it and waiting for callers to be inside it. */
#ifndef FERRY_TEST_QMP_CLIENT_H
#define FERRY_TEST_QMP_CLIENT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "qmp.h"
#include "qmp-internal.h"
#include "test-qmp-fake.h"
#include "util.h"

/* Generous bound for "promptly" on a loaded 2-core machine. */
#define PROMPT_MS 2000

static inline struct qmp_conn *open_fake(struct fake *f)
{
    struct ferry_error err = {0};
    struct qmp_conn *conn = NULL;
    int r = qmp_conn_open(f->path, 5000, &conn, &err);

    if (r < 0)
        fprintf(stderr, "open: %s\n", ferry_error_msg(&err));
    assert_int_equal(r, 0);
    assert_non_null(conn);
    return conn;
}

/* Polls conn->users (test-only peek) until N threads are inside calls. */
static inline void wait_users(struct qmp_conn *conn, unsigned n)
{
    int64_t deadline = ferry_now_ms() + PROMPT_MS;
    unsigned users;

    do {
        pthread_mutex_lock(&conn->lock);
        users = conn->users;
        pthread_mutex_unlock(&conn->lock);
        if (users >= n)
            return;
        usleep(1000);
    } while (ferry_now_ms() < deadline);
    fail_msg("only %u of %u threads entered the connection", users, n);
}

#endif
