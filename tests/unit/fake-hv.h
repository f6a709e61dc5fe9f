/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A fake struct hv_driver for driving the v3 engine in-process: it keeps a
 * "process table" of guests per host that outlives an agent (so a
 * restarted agent re-attaches), logs every migration call it receives,
 * and fails, crashes or waits at a step it is told to. Hosts are told
 * apart by the agent's hostname: "hostA" logs as 'A', "hostB" as 'B'.
 * All state is process-global; fake_reset() starts over. */
#ifndef FERRY_TESTS_FAKE_HV_H
#define FERRY_TESTS_FAKE_HV_H

#include <stdbool.h>
#include <stddef.h>

#include "hv.h"

extern const struct hv_driver fake_driver;

#define FAKE_HOSTS 2 /* index 0: "hostA", 1: "hostB" */

/* Forgets every guest, log entry and instruction. */
void fake_reset(void);

/* The log, one entry per call, space-separated, as "A:begin",
 * "B:finish(cancelled)", "A:confirm(ok)", "A:cancel", "A:sweep(cancel)"
 * (the sweep's flags: cancel, server), "A:restore" (of a record this host
 * wrote; "restore(none)": no record, "restore(foreign)": no driver part
 * in it); a step the fake failed on purpose carries a '!'
 * ("B:prepare!"). A Finish that is not cancelled succeeds only when a
 * source's Perform sent the guest to this host's Prepare. Returns a
 * static buffer valid until the next call. */
const char *fake_log(void);
void fake_log_clear(void);

/* Instructions for host H (0 or 1). STEP is "begin", "prepare",
 * "perform", "finish" or "confirm"; NULL clears. */
void fake_fail_at(int h, const char *step);
/* Perform on H waits (bounded) until migrate_cancel, then fails. */
void fake_perform_waits(int h, bool wait);
/* Blocks until a waiting Perform on H has started; false on timeout. */
bool fake_wait_perform_entered(int h);
/* At STEP on H (at the end of Perform, at the start of the others) the
 * fake copies H's state dir aside and remembers H's guests: what a crash
 * at that moment leaves. The step then fails as a dead agent's would
 * (ECONNRESET), whatever fake_fail_at says. fake_crash_restore() puts the
 * copy back (the caller has stopped the agent) and returns 0 when a crash
 * happened. */
void fake_crash_at(int h, const char *step);
int fake_crash_restore(int h, const char *state_dir);
/* What migrate_stream_completed answers on H after a restart. */
void fake_stream_completed(int h, bool completed);

/* The process table: whether guest NAME has a process on host H, and its
 * state. */
bool fake_guest_exists(int h, const char *name);
bool fake_guest_paused(int h, const char *name);
bool fake_guest_incoming(int h, const char *name);
/* Takes guest NAME's process away on H, as if it died with the agent. */
void fake_guest_kill(int h, const char *name);

/* Removes PATH and everything under it. */
void fake_rm_rf(const char *path);

#endif
