/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* placeholder: storage migration lands with the nbd/ engine */
#include <errno.h>

#include "qemu-priv.h"

static bool copies(struct mig_ctx *m)
{
    return m->params->flags & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC);
}

int qemu_storage_check(struct mig_ctx *m, struct ferry_error *err)
{
    if (copies(m))
        return ferry_error_set(err, ENOTSUP, "storage copy is not available yet");
    return 0;
}
int qemu_storage_prepare_targets(struct mig_ctx *m, struct ferry_error *err) { return qemu_storage_check(m, err); }
int qemu_storage_prepare_exports(struct mig_ctx *m, struct ferry_error *err) { return qemu_storage_check(m, err); }
void qemu_storage_remove_targets(struct mig_ctx *m) { (void)m; }
int qemu_storage_finish(struct mig_ctx *m, struct ferry_error *err) { (void)m; (void)err; return 0; }
int qemu_storage_start(struct mig_ctx *m, struct ferry_error *err) { return qemu_storage_check(m, err); }
int qemu_storage_switchover(struct mig_ctx *m, struct ferry_error *err) { (void)m; (void)err; return 0; }
void qemu_storage_update_stats(struct mig_ctx *m) { (void)m; }
void qemu_storage_stop(struct mig_ctx *m) { (void)m; }
void qemu_storage_cancel(struct mig_ctx *m) { (void)m; }
