/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* placeholder: the v3 engine lands next */
#include <errno.h>

#include "api.h"

#define STUB(fn)                                                                                   \
    int fn(struct api_ctx *ctx, json_object *params, json_object **ret, struct ferry_error *err)   \
    {                                                                                              \
        (void)ctx;                                                                                 \
        (void)params;                                                                              \
        (void)ret;                                                                                 \
        return ferry_error_set(err, ENOSYS, "not implemented yet");                                \
    }
STUB(api_migrate_begin)
STUB(api_migrate_prepare)
STUB(api_migrate_perform)
STUB(api_migrate_finish)
STUB(api_migrate_confirm)
STUB(api_migrate_p2p)
STUB(api_job_info)
STUB(api_job_abort)
