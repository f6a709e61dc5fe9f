/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TEST CODE ONLY: shared parts of the xl stand-in (see xl-standin.c): its
 * domain directory and failure switches, used by the migration commands in
 * standin-migrate.c. */
#ifndef FERRY_TESTS_XL_STANDIN_H
#define FERRY_TESTS_XL_STANDIN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"
#include "xlconv.h"

#define CONFIG_MAX  (1u << 20)
#define MAX_DOMAINS 256

struct dom {
    uint32_t domid;
    char name[160];
    char uuid[FERRY_UUID_STRLEN];
    uint64_t memory_mib;
    unsigned vcpus;
    bool paused;
    int64_t created_ms;
};

struct fail {
    bool receiver_refuse, receiver_fail_start, sender_die_after_go, receiver_daemon;
    int64_t cut_after; /* -1: off */
    unsigned delay_ms;
};

extern const char *state_dir; /* FERRY_XL_STANDIN_DIR */

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
char *dom_path(uint32_t domid, const char *ext);
int lock_dir(void);
bool dom_read(uint32_t domid, struct dom *d);
void dom_write(const struct dom *d);
void dom_remove(uint32_t domid);
bool dom_find_name(const char *name, struct dom *d);
void find_domain(const char *q, struct dom *d);
uint32_t dom_create(const struct xlconv_config *cfg, const char *name, const char *config,
                    bool paused);
char *dom_config(uint32_t domid);
struct fail read_fail(void);

int cmd_migrate(int argc, char **argv);
int cmd_migrate_receive(int argc, char **argv);

#endif
