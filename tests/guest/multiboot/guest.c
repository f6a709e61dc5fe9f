/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parser for the test guest's serial output; see guestlog.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "guest.h"
#include "util.h"

#define PREFIX "ferry-guest: "

const char *guest_kernel_path(void)
{
    return FERRY_GUEST_KERNEL;
}

const char *guest_accel(void)
{
    const char *env = getenv("FERRY_TEST_ACCEL");

    if (env && *env)
        return env;
    if (access("/sys/module/kvm_pvm", F_OK) == 0)
        return "tcg";
    if (access("/dev/kvm", R_OK | W_OK) != 0)
        return "tcg";
    return "kvm:tcg";
}

/* Value of "KEY=" inside LINE as an unsigned number; false when absent. */
static bool field_u64(const char *line, const char *key, uint64_t *ret)
{
    const char *p = strstr(line, key);
    char *end;

    if (!p)
        return false;
    p += strlen(key);
    if (strncmp(p, "max", 3) == 0) {
        *ret = UINT64_MAX;
        return true;
    }
    errno = 0;
    *ret = strtoull(p, &end, 10);
    return end != p && errno == 0;
}

static void parse_line(const char *msg, struct guest_log *st)
{
    uint64_t alive, dirtied, errors;

    if (strncmp(msg, "booted ", 7) == 0) {
        st->booted = true;
        field_u64(msg, "rate=", &st->rate_mib);
        field_u64(msg, "size=", &st->size_mib);
    } else if (strncmp(msg, "ready", 5) == 0) {
        st->ready = true;
    } else if (sscanf(msg, "alive %" SCNu64 " dirtied %" SCNu64 " MiB errors %" SCNu64, &alive,
                      &dirtied, &errors) == 3) {
        st->heartbeats++;
        st->alive = alive;
        st->dirtied_mib = dirtied;
        st->errors = errors;
    } else if (strncmp(msg, "CORRUPT", 7) == 0) {
        st->corrupt_lines++;
    } else if (strncmp(msg, "FATAL", 5) == 0) {
        st->fatal = true;
    } else if (strncmp(msg, "warning:", 8) == 0) {
        st->warnings++;
    }
}

void guest_log_parse(const char *text, struct guest_log *ret)
{
    const char *line = text;

    memset(ret, 0, sizeof(*ret));
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char buf[512];
        const char *msg;

        /* A line still being written (no newline yet) is left for the next
         * read, so a half-printed heartbeat never counts. */
        if (!nl)
            break;
        if (len >= sizeof(buf))
            len = sizeof(buf) - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        if (len > 0 && buf[len - 1] == '\r')
            buf[len - 1] = '\0';
        msg = strstr(buf, PREFIX);
        if (msg)
            parse_line(msg + strlen(PREFIX), ret);
        line = nl + 1;
    }
}

int guest_log_read(const char *path, struct guest_log *ret, struct ferry_error *err)
{
    _cleanup_free_ char *text = NULL;
    struct ferry_error local = {0};
    size_t len;
    int r;

    r = ferry_read_file(path, GUEST_LOG_MAX_BYTES, &text, &len, &local);
    if (r == -ENOENT) {
        guest_log_parse("", ret);
        return 0;
    }
    if (r < 0)
        return ferry_error_set(err, r, "guest log: %s", ferry_error_msg(&local));
    guest_log_parse(text, ret);
    return 0;
}
