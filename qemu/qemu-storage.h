/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's storage migration state, shared by the source's side
 * (qemu-storage.c) and the destination's (qemu-storage-dest.c). Private to
 * those two files. */
#ifndef FERRY_QEMU_STORAGE_H
#define FERRY_QEMU_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qemu-priv.h"

struct storage_disk {
    char target[32];
    uint64_t size;
    uint64_t done; /* engine 'qemu': last offset QEMU reported */
    bool complete; /* engine 'qemu': the job finished in sync */
};

/* Per-domain state, hung on qemu_dom->storage. */
struct storage {
    /* destination */
    size_t n_created;
    char *created[MIG_MAX_DISKS];
    bool nbd_started;
    size_t n_exports;
    char exports[MIG_MAX_DISKS][48];
    /* source */
    struct mir_sync *sync;
    bool qemu_engine;
    size_t n_disks;
    struct storage_disk disks[MIG_MAX_DISKS];
    bool blockdev_added[MIG_MAX_DISKS];
    bool job_started[MIG_MAX_DISKS];
    volatile bool cancelled;
    char psk_file[1024]; /* the stream key's file, borrowed by the engine's options */
};

/* Whether the migration copies disks at all (--copy-storage-all/-inc). */
static inline bool qemu_storage_copies(const struct mig_ctx *m)
{
    return (m->params->flags & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)) != 0;
}

/* M's domain's storage state, created on first use. */
struct storage *qemu_storage_get(struct mig_ctx *m);

/* "tcp:HOST:PORT" / "tcp://HOST:PORT" / "tcp:[v6]:PORT" -> HOST, leniently
 * (no port needed): where the NBD server listens or is reached. */
void qemu_storage_host_of_uri(const char *uri, char *host, size_t hl);

#endif
