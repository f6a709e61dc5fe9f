/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferry-mir-copy: copies a raw file or an NBD export into an NBD export with
 * the engine, for tests and benchmarks. Prints one line of statistics. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mir.h"
#include "util.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: ferry-mir-copy [-r REQUEST_SIZE] [-q DEPTH] [-c CONNECTIONS]\n"
            "         [-g ZERO_GRANULARITY] [-b BYTES_PER_SEC] [-t IO_TIMEOUT_MS] [-R RETRIES]\n"
            "         [-T THREADS] [-o OFFSET] [-l LENGTH] [-z] [-D] [-f]\n"
            "         SOURCE-FILE|SOURCE-URI TARGET-URI\n"
            "  -z  the target reads as zeros (skip holes and zero blocks)\n"
            "  -D  O_DIRECT on the source file\n"
            "  -f  flush the target at the end\n");
}

static uint32_t parse_u32(const char *s)
{
    uint64_t v;
    if (ferry_parse_u64(s, &v) < 0 || v > UINT32_MAX) {
        fprintf(stderr, "ferry-mir-copy: bad number '%s'\n", s);
        exit(2);
    }
    return (uint32_t)v;
}

int main(int argc, char **argv)
{
    struct mir_copy_opts opts = {0};
    unsigned flags = 0;
    bool direct = false, flush = false;
    unsigned retries = 0, attempts = 0;
    uint64_t range_off = 0, range_len = 0;
    int c;

    while ((c = getopt(argc, argv, "r:q:c:g:b:t:R:T:o:l:zDfh")) != -1) {
        switch (c) {
        case 'r':
            opts.request_size = parse_u32(optarg);
            break;
        case 'q':
            opts.queue_depth = parse_u32(optarg);
            break;
        case 'c':
            opts.connections = parse_u32(optarg);
            break;
        case 'g':
            opts.zero_granularity = parse_u32(optarg);
            break;
        case 't':
            opts.io_timeout_ms = parse_u32(optarg);
            break;
        case 'R':
            retries = parse_u32(optarg);
            break;
        case 'T':
            opts.threads = parse_u32(optarg);
            break;
        case 'o':
            if (ferry_parse_u64(optarg, &range_off) < 0) {
                usage();
                return 2;
            }
            break;
        case 'l':
            if (ferry_parse_u64(optarg, &range_len) < 0) {
                usage();
                return 2;
            }
            break;
        case 'b':
            if (ferry_parse_u64(optarg, &opts.bandwidth) < 0) {
                usage();
                return 2;
            }
            break;
        case 'z':
            flags |= MIR_COPY_TARGET_ZERO;
            break;
        case 'D':
            direct = true;
            break;
        case 'f':
            flush = true;
            break;
        default:
            usage();
            return 2;
        }
    }
    if (argc - optind != 2) {
        usage();
        return 2;
    }
    const char *source = argv[optind], *target = argv[optind + 1];
    bool is_uri = strstr(source, "://") != NULL;
    struct mir_disk_config cfg = {
        .name = "copy",
        .source_file = is_uri ? NULL : source,
        .source_uri = is_uri ? source : NULL,
        .source_direct = direct,
        .target_uri = target,
    };
    struct ferry_error err = {0};
    struct mir_disk *d = NULL;
    int64_t t0 = ferry_now_us();
    if (mir_disk_open(&cfg, &opts, &d, &err) < 0) {
        fprintf(stderr, "ferry-mir-copy: %s\n", ferry_error_msg(&err));
        return 1;
    }
    /* With -R, a failed copy is tried again from the engine's resume offset
     * (the target keeps what was written). */
    uint64_t from = range_off;
    uint64_t end = range_len ? range_off + range_len : mir_disk_size(d);
    if (end > mir_disk_size(d))
        end = mir_disk_size(d);
    int r;
    for (;;) {
        struct mir_extent_list rest;
        mir_extent_list_init(&rest);
        if (end > from)
            mir_extent_list_add(&rest, from, end - from);
        attempts++;
        r = mir_disk_copy(d, &rest, flags, &err);
        mir_extent_list_clear(&rest);
        if (r >= 0 || attempts > retries)
            break;
        if (mir_disk_resume_offset(d) > from)
            from = mir_disk_resume_offset(d);
        fprintf(stderr, "ferry-mir-copy: %s; resuming at %" PRIu64 "\n", ferry_error_msg(&err),
                from);
        ferry_error_clear(&err);
    }
    if (r >= 0 && flush)
        r = mir_disk_flush(d, &err);
    int64_t us = ferry_now_us() - t0;
    if (r < 0) {
        fprintf(stderr, "ferry-mir-copy: %s\n", ferry_error_msg(&err));
        mir_disk_free(d);
        return 1;
    }
    struct mir_progress p;
    mir_disk_progress(d, &p);
    printf("size=%" PRIu64 " copied=%" PRIu64 " zeroed=%" PRIu64 " skipped=%" PRIu64
           " connections=%u attempts=%u seconds=%.3f MBps=%.1f\n",
           p.size, p.copied, p.zeroed, p.skipped, mir_disk_connections(d), attempts, us / 1e6,
           us > 0 ? (double)p.size / us : 0.0);
    mir_disk_free(d);
    return 0;
}
