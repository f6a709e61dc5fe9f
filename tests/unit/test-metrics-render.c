/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The metrics' exposition text (agent/metrics.c): the series that exist
 * before anything happened, label escaping, and how finished jobs land in
 * the counters (result, reason) and the histograms (bucket bounds are
 * inclusive, the +Inf bucket and _count agree, downtime only for
 * completed outgoing jobs). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "ferry-config.h"
#include "metrics.h"

static const struct hv_driver fake_driver = {.name = "fake"};
static struct agent ag = {.lock = PTHREAD_MUTEX_INITIALIZER, .driver = &fake_driver};

static char *render(void)
{
    char *text = NULL;
    size_t len = 0;

    assert_int_equal(agent_metrics_render(&ag, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    return text;
}

static void assert_line(const char *text, const char *line)
{
    char *want = NULL;

    assert_true(asprintf(&want, "\n%s\n", line) > 0);
    if (!strstr(text, want))
        fail_msg("missing line '%s' in:\n%s", line, text);
    free(want);
}

/* Ends a job of OPERATION: completed (ERR 0), failed (ERR an errno) or
 * cancelled (CANCELLED: job.abort's status). */
static void end_job(const char *operation, int64_t downtime_ms, int err, bool cancelled)
{
    static struct agent_job job = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct ferry_error e = {0};

    agent_job_start(&job, operation);
    job.stats.downtime_ms = downtime_ms;
    if (cancelled)
        snprintf(job.stats.status, sizeof job.stats.status, "cancelled");
    if (err)
        ferry_error_set(&e, err, "it went wrong");
    agent_job_finish(&job, err ? &e : NULL);
}

static void test_before_anything(void **state)
{
    char *t;

    (void)state;
    t = render();
    assert_line(t, "ferry_agent_info{version=\"" FERRY_VERSION "\",hostname=\"h\\\"o\\\\st\","
                   "host_uuid=\"00000000-0000-4000-8000-000000000001\",hypervisor=\"fake\"} 1");
    assert_line(t, "ferry_domains{state=\"running\"} 0");
    assert_line(t, "ferry_migrations_in_flight{direction=\"incoming\",phase=\"perform\"} 0");
    assert_line(t, "ferry_migrations_completed_total{direction=\"outgoing\"} 0");
    assert_line(t, "ferry_migration_downtime_seconds_count 0");
    assert_line(t, "ferry_migration_duration_seconds_bucket{direction=\"outgoing\",le=\"+Inf\"} 0");
    assert_line(t, "# TYPE ferry_migrations_failed_total counter");
    assert_null(strstr(t, "ferry_migrations_failed_total{"));
    free(t);
}

static void test_finished_jobs(void **state)
{
    char *t;

    (void)state;
    end_job("migration-out", 50, 0, false); /* 0.05 s: in the le="0.05" bucket */
    end_job("migration-out", 30, 0, false);
    end_job("migration-out", 0, ETIMEDOUT, false);
    end_job("migration-out", 0, ECANCELED, true);
    end_job("migration-in", 40, 0, false); /* no downtime from a destination */
    end_job("migration-in", 0, EIO, false);
    end_job("domain-start", 0, 0, false); /* not a migration: not counted */
    t = render();
    assert_line(t, "ferry_migrations_completed_total{direction=\"outgoing\"} 2");
    assert_line(t, "ferry_migrations_completed_total{direction=\"incoming\"} 1");
    assert_line(t, "ferry_migrations_failed_total{direction=\"outgoing\",reason=\"timeout\"} 1");
    assert_line(t, "ferry_migrations_failed_total{direction=\"incoming\",reason=\"io-error\"} 1");
    assert_line(t, "ferry_migrations_cancelled_total{direction=\"outgoing\",reason=\"aborted\"} 1");
    assert_line(t, "ferry_migration_downtime_seconds_bucket{le=\"0.025\"} 0");
    assert_line(t, "ferry_migration_downtime_seconds_bucket{le=\"0.05\"} 2");
    assert_line(t, "ferry_migration_downtime_seconds_bucket{le=\"+Inf\"} 2");
    assert_line(t, "ferry_migration_downtime_seconds_sum 0.080000");
    assert_line(t, "ferry_migration_downtime_seconds_count 2");
    assert_line(t, "ferry_migration_duration_seconds_count{direction=\"outgoing\"} 4");
    assert_line(t, "ferry_migration_duration_seconds_count{direction=\"incoming\"} 2");
    assert_line(t, "ferry_migration_duration_seconds_bucket{direction=\"incoming\",le=\"+Inf\"} 2");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_before_anything),
        cmocka_unit_test(test_finished_jobs),
    };

    snprintf(ag.hostname, sizeof ag.hostname, "h\"o\\st");
    snprintf(ag.host_uuid, sizeof ag.host_uuid, "00000000-0000-4000-8000-000000000001");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
