/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer harness: migration parameters as a control-API client sends
 * them (mig_params_from_json, then mig_params_validate against every flag
 * and against none) and the control methods' parameter helpers. Accepted
 * parameters must survive mig_params_to_json and back unchanged in flags. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "json-cleanup.h"
#include "migparams.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void helpers(json_object *obj)
{
    static const char *const keys[] = {"name",  "xml",       "path",     "uri",       "cookie",
                                       "force", "bandwidth", "downtime", "completed", "since"};
    struct ferry_error err = {0};
    const char *s;
    bool b;
    uint64_t u;

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (api_param_str(obj, keys[i], i % 2, &s, &err) == 0 && i % 2 && !s)
            abort(); /* a required string that "succeeded" without one */
        (void)api_param_bool(obj, keys[i], &b, &err);
        (void)api_param_u64(obj, keys[i], &u, &err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_(json_object_putp) json_object *obj = NULL, *back = NULL;
    struct mig_params p, again;
    struct ferry_error err = {0};

    if (wire_json_parse((const char *)data, size, &obj, &err) < 0)
        return 0;
    helpers(obj);
    if (mig_params_from_json(obj, &p, &err) < 0)
        return 0;
    (void)mig_params_validate(&p, ~0u, &err);
    (void)mig_params_validate(&p, 0, &err);
    back = mig_params_to_json(&p);
    if (mig_params_from_json(back, &again, &err) < 0) {
        fprintf(stderr, "re-parse failed: %s\n%s\n", ferry_error_msg(&err),
                json_object_to_json_string(back));
        abort();
    }
    if (again.flags != p.flags || again.n_migrate_disks != p.n_migrate_disks ||
        again.n_disk_paths != p.n_disk_paths || again.comp_methods != p.comp_methods)
        abort();
    mig_params_clear(&again);
    mig_params_clear(&p);
    return 0;
}
