/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Implementation of the shared helpers in util.h. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

int64_t ferry_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ferry_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ferry_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ferry_wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int ferry_ms_left(int64_t deadline_ms)
{
    int64_t left;

    if (deadline_ms < 0)
        return -1;
    left = deadline_ms - ferry_now_ms();
    if (left < 0)
        return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}

void ferry_uuid_generate(char buf[FERRY_UUID_STRLEN])
{
    uint8_t b[16];
    size_t got = 0;

    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* getrandom cannot fail on Linux >= 3.17 with a valid buffer. */
            abort();
        }
        got += (size_t)r;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(buf, FERRY_UUID_STRLEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

bool ferry_uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

int ferry_write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t r = write(fd, p, len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

int ferry_read_full(int fd, void *buf, size_t len)
{
    char *p = buf;

    while (len > 0) {
        ssize_t r = read(fd, p, len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -EPIPE;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

int ferry_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len,
                    struct ferry_error *err)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *buf = NULL;
    size_t len = 0, cap = 4096;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ferry_error_set_errno(err, errno, "cannot open '%s'", path);
    buf = malloc(cap);
    if (!buf)
        return ferry_error_set(err, ENOMEM, "out of memory reading '%s'", path);
    for (;;) {
        ssize_t r;

        if (len + 1 >= cap) {
            char *nb;

            if (cap > max + 1)
                return ferry_error_set(err, EFBIG, "'%s' is larger than %zu bytes", path, max);
            cap *= 2;
            nb = realloc(buf, cap);
            if (!nb)
                return ferry_error_set(err, ENOMEM, "out of memory reading '%s'", path);
            buf = nb;
        }
        r = read(fd, buf + len, cap - len - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return ferry_error_set_errno(err, errno, "cannot read '%s'", path);
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > max)
            return ferry_error_set(err, EFBIG, "'%s' is larger than %zu bytes", path, max);
    }
    buf[len] = '\0';
    if (ret_len)
        *ret_len = len;
    *ret_buf = TAKE_PTR(buf);
    return 0;
}

int ferry_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                            struct ferry_error *err)
{
    _cleanup_free_ char *tmp = ferry_strdup_printf("%s.tmp.%d", path, (int)getpid());
    _cleanup_close_ int fd = -1;
    int r;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return ferry_error_set_errno(err, errno, "cannot create '%s'", tmp);
    r = ferry_write_full(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return ferry_error_set_errno(err, -r, "cannot write '%s'", tmp);
    }
    if (rename(tmp, path) < 0) {
        r = errno;
        unlink(tmp);
        return ferry_error_set_errno(err, r, "cannot rename '%s' to '%s'", tmp, path);
    }
    return 0;
}

int ferry_mkdir_p(const char *path, mode_t mode, struct ferry_error *err)
{
    _cleanup_free_ char *copy = ferry_strdup(path);

    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
            return ferry_error_set_errno(err, errno, "cannot create directory '%s'", copy);
        *p = '/';
    }
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
        return ferry_error_set_errno(err, errno, "cannot create directory '%s'", copy);
    return 0;
}

char *ferry_strdup_printf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        abort();
    return s;
}

char *ferry_strdup(const char *s)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        abort();
    return d;
}

void *ferry_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p)
        abort();
    return p;
}

bool ferry_name_valid(const char *name)
{
    size_t len;

    if (!name)
        return false;
    len = strlen(name);
    if (len == 0 || len > 64 || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != '+' && c != '-')
            return false;
    }
    return true;
}

int ferry_parse_u64(const char *s, uint64_t *ret)
{
    char *end;
    unsigned long long v;

    if (!s || !*s || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return errno ? -errno : -EINVAL;
    *ret = v;
    return 0;
}

static int log_level = -1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void ferry_log_set_level(enum ferry_log_level level)
{
    log_level = (int)level;
}

bool ferry_log_enabled(enum ferry_log_level level)
{
    if (log_level < 0) {
        const char *e = getenv("FERRY_DEBUG");
        log_level = (e && *e && strcmp(e, "0") != 0) ? FERRY_LOG_DEBUG : FERRY_LOG_INFO;
    }
    return (int)level <= log_level;
}

void ferry_log(enum ferry_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    struct timespec ts;
    va_list ap;

    if (!ferry_log_enabled(level))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%lld.%03ld %s: ", (long long)ts.tv_sec, ts.tv_nsec / 1000000, names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&log_lock);
}
