/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control API's method handlers, for api.c's dispatch table. */
#ifndef FERRY_AGENT_API_PRIV_H
#define FERRY_AGENT_API_PRIV_H

#include "api.h"

/* api-domain.c. The domain named by PARAMS' "name", with a reference
 * (agent_domain_unref), or -ENOENT naming it. */
int api_lookup_domain(struct api_ctx *ctx, json_object *params, struct agent_domain **ret,
                      struct ferry_error *err);
int api_domain_define(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err);
int api_domain_undefine(struct api_ctx *ctx, json_object *params, json_object **ret,
                        struct ferry_error *err);
int api_domain_start(struct api_ctx *ctx, json_object *params, json_object **ret,
                     struct ferry_error *err);
int api_domain_destroy(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err);
int api_domain_list(struct api_ctx *ctx, json_object *params, json_object **ret,
                    struct ferry_error *err);
int api_domain_state(struct api_ctx *ctx, json_object *params, json_object **ret,
                     struct ferry_error *err);
int api_domain_xml(struct api_ctx *ctx, json_object *params, json_object **ret,
                   struct ferry_error *err);
int api_domain_monitor(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err);
int api_domain_suspend(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err);
int api_domain_resume(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err);
int api_domain_info(struct api_ctx *ctx, json_object *params, json_object **ret,
                    struct ferry_error *err);
int api_domain_blklist(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err);

/* api-tune.c: libvirt's MigrateSetMaxSpeed & co */
int api_tune_set_speed(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err);
int api_tune_get_speed(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err);
/* The running migration's storage copy cap (--bandwidth-disk). */
int api_tune_set_disk_speed(struct api_ctx *ctx, json_object *params, json_object **ret,
                            struct ferry_error *err);
int api_tune_get_disk_speed(struct api_ctx *ctx, json_object *params, json_object **ret,
                            struct ferry_error *err);
int api_tune_set_downtime(struct api_ctx *ctx, json_object *params, json_object **ret,
                          struct ferry_error *err);
int api_tune_get_downtime(struct api_ctx *ctx, json_object *params, json_object **ret,
                          struct ferry_error *err);
int api_tune_set_comp_cache(struct api_ctx *ctx, json_object *params, json_object **ret,
                            struct ferry_error *err);
int api_tune_get_comp_cache(struct api_ctx *ctx, json_object *params, json_object **ret,
                            struct ferry_error *err);

#endif
