/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* placeholder: QEMU migration steps land next */
#include <errno.h>

#include "qemu-priv.h"

int qemu_migrate_begin(struct mig_ctx *m, struct ferry_error *err) { (void)m; return ferry_error_set(err, ENOSYS, "todo"); }
int qemu_migrate_prepare(struct mig_ctx *m, struct ferry_error *err) { (void)m; return ferry_error_set(err, ENOSYS, "todo"); }
int qemu_migrate_perform(struct mig_ctx *m, struct ferry_error *err) { (void)m; return ferry_error_set(err, ENOSYS, "todo"); }
int qemu_migrate_finish(struct mig_ctx *m, struct ferry_error *err) { (void)m; return ferry_error_set(err, ENOSYS, "todo"); }
int qemu_migrate_confirm(struct mig_ctx *m, struct ferry_error *err) { (void)m; return ferry_error_set(err, ENOSYS, "todo"); }
void qemu_migrate_cancel(struct mig_ctx *m) { (void)m; }
