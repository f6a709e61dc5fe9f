/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ferry engine as one command for bench/mirror.py: copies a raw SOURCE
 * file into the NBD export at TARGET-URI with struct mir_disk (one bulk
 * pass, then a flush) and prints what it did as one JSON line, so the
 * harness times and measures it like every other engine.
 *
 *   ferry-bench-mirror [--target-zero] [-r BYTES] [-q DEPTH] [-c CONNS]
 *                      SOURCE TARGET-URI */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "mir.h"
#include "util.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: ferry-bench-mirror [--target-zero] [-r BYTES] [-q DEPTH] [-c CONNS] "
               "SOURCE TARGET-URI\n");
}

static int parse_u32_arg(const char *s, uint32_t *ret)
{
    uint64_t v;

    if (ferry_parse_u64(s, &v) < 0 || v > UINT32_MAX)
        return -1;
    *ret = (uint32_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"target-zero", no_argument, NULL, 'z'},
        {"request-size", required_argument, NULL, 'r'},
        {"queue-depth", required_argument, NULL, 'q'},
        {"connections", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct mir_copy_opts opts = {0};
    struct ferry_error err = {0};
    struct mir_disk *disk = NULL;
    struct mir_progress p;
    unsigned flags = 0;
    int64_t start_us, copied_us;
    int c, r;

    while ((c = getopt_long(argc, argv, "zr:q:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'z':
            flags |= MIR_COPY_TARGET_ZERO;
            break;
        case 'r':
            if (parse_u32_arg(optarg, &opts.request_size) < 0)
                goto bad_usage;
            break;
        case 'q':
            if (parse_u32_arg(optarg, &opts.queue_depth) < 0)
                goto bad_usage;
            break;
        case 'c':
            if (parse_u32_arg(optarg, &opts.connections) < 0)
                goto bad_usage;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto bad_usage;
        }
    }
    if (argc - optind != 2)
        goto bad_usage;

    const struct mir_disk_config config = {
        .name = "vda",
        .source_file = argv[optind],
        .target_uri = argv[optind + 1],
    };

    start_us = ferry_now_us();
    r = mir_disk_open(&config, &opts, &disk, &err);
    if (r >= 0)
        r = mir_disk_copy(disk, NULL, flags, &err);
    copied_us = ferry_now_us();
    if (r >= 0)
        r = mir_disk_flush(disk, &err);
    if (r < 0) {
        fprintf(stderr, "ferry-bench-mirror: %s\n", ferry_error_msg(&err));
        mir_disk_free(disk);
        return 1;
    }
    mir_disk_progress(disk, &p);
    printf("{\"size\": %" PRIu64 ", \"copied\": %" PRIu64 ", \"zeroed\": %" PRIu64
           ", \"skipped\": %" PRIu64 ", \"connections\": %u, \"copy_s\": %.3f, "
           "\"flush_s\": %.3f}\n",
           p.size, p.copied, p.zeroed, p.skipped, mir_disk_connections(disk),
           (double)(copied_us - start_us) / 1e6, (double)(ferry_now_us() - copied_us) / 1e6);
    mir_disk_free(disk);
    return 0;

bad_usage:
    usage(stderr);
    return 2;
}
