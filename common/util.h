/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers shared by every module: clocks, UUIDs, whole-buffer I/O,
 * bounded string handling and a debug log that libraries may use. */
#ifndef FERRY_COMMON_UTIL_H
#define FERRY_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* CLOCK_MONOTONIC in milliseconds / microseconds. */
int64_t ferry_now_ms(void);
int64_t ferry_now_us(void);
/* CLOCK_REALTIME in milliseconds since the epoch. */
int64_t ferry_wall_ms(void);
/* Wall clock in microseconds since the epoch (timelines: comparable across
 * hosts as far as their clocks agree). */
int64_t ferry_wall_us(void);

/* Milliseconds left until DEADLINE_MS (monotonic); 0 when past; -1 stays -1
 * (no deadline). */
int ferry_ms_left(int64_t deadline_ms);

#define FERRY_UUID_STRLEN 37 /* 36 characters + NUL */

/* Random (v4) UUID in canonical text form into BUF (FERRY_UUID_STRLEN). */
void ferry_uuid_generate(char buf[FERRY_UUID_STRLEN]);
/* True when S is a canonical 8-4-4-4-12 hex UUID. */
bool ferry_uuid_valid(const char *s);

/* Writes/reads exactly LEN bytes, retrying on EINTR and short transfers.
 * Return 0, or a negative errno; read returns -EPIPE on EOF before LEN. */
int ferry_write_full(int fd, const void *buf, size_t len);
int ferry_read_full(int fd, void *buf, size_t len);

/* Reads a whole file of at most MAX bytes into a NUL-terminated buffer.
 * Caller frees *ret_buf with free(). */
int ferry_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len,
                    struct ferry_error *err);
/* Writes DATA to PATH atomically (temp file + fsync + rename), mode MODE. */
int ferry_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                            struct ferry_error *err);

/* mkdir -p with MODE for the directories it creates. */
int ferry_mkdir_p(const char *path, mode_t mode, struct ferry_error *err);

/* asprintf that aborts on out-of-memory (a programmer-visible condition in
 * a daemon that cannot continue anyway). Caller frees. */
char *ferry_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *ferry_strdup(const char *s);         /* NULL stays NULL; aborts on OOM */
void *ferry_calloc(size_t n, size_t size); /* aborts on OOM */

/* True when NAME is a safe object name: 1..64 characters of [A-Za-z0-9_.+-],
 * not starting with '.' or '-'. Domain and disk names become file names. */
bool ferry_name_valid(const char *name);

/* Parses a decimal unsigned integer that must fill the whole string. */
int ferry_parse_u64(const char *s, uint64_t *ret);

/* Debug log to stderr, enabled by FERRY_DEBUG=1 or ferry_log_set_level().
 * Libraries log only at debug level; daemons log at their boundary. */
enum ferry_log_level { FERRY_LOG_ERROR = 0, FERRY_LOG_WARN, FERRY_LOG_INFO, FERRY_LOG_DEBUG };
void ferry_log_set_level(enum ferry_log_level level);
bool ferry_log_enabled(enum ferry_log_level level);
void ferry_log(enum ferry_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define ferry_debug(...) ferry_log(FERRY_LOG_DEBUG, __VA_ARGS__)
#define ferry_info(...)  ferry_log(FERRY_LOG_INFO, __VA_ARGS__)
#define ferry_warn(...)  ferry_log(FERRY_LOG_WARN, __VA_ARGS__)
#define ferry_err(...)   ferry_log(FERRY_LOG_ERROR, __VA_ARGS__)

#endif
