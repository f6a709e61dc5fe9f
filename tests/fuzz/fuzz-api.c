/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer harness: every control method that needs no network, called
 * with fuzzed parameters on an in-process agent whose driver is the unit
 * tests' fake (tests/unit/fake-hv.c), the way server.c calls them: one
 * client connection per input, closed at its end so the agent cleans up
 * what the client left. The first byte picks the method, the rest is the
 * JSON "params". migrate.p2p is left out: it connects to the URI it is
 * given. A domain g1 is defined and running at the start of every input,
 * so that methods get past the name lookup. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "api.h"
#include "fake-hv.h"
#include "json-cleanup.h"
#include "volumes.h"
#include "wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const methods[] = {
    "domain.define",
    "domain.undefine",
    "domain.start",
    "domain.destroy",
    "domain.list",
    "domain.state",
    "domain.xml",
    "domain.monitor",
    "domain.suspend",
    "domain.resume",
    "domain.info",
    "domain.blklist",
    "vol.list",
    "vol.delete",
    "host.capabilities",
    "host.info",
    "host.maintenance",
    "events.subscribe",
    "migrate.begin",
    "migrate.prepare",
    "migrate.perform",
    "migrate.finish",
    "migrate.confirm",
    "job.info",
    "job.abort",
    "migrate.start_postcopy",
    "migrate.set_max_speed",
    "migrate.get_max_speed",
    "migrate.set_max_downtime",
    "migrate.get_max_downtime",
    "migrate.set_compression_cache",
    "migrate.get_compression_cache",
    "no.such.method",
};

static const char guest_xml[] =
    "<domain type='kvm'><name>g1</name><uuid>6f1d3c2a-1111-4000-8000-000000000001</uuid>"
    "<memory unit='MiB'>64</memory><vcpu>1</vcpu><devices><disk type='file' device='disk'>"
    "<driver name='qemu' type='raw'/><source file='/nonexistent/ferry-fuzz/g1.img'/>"
    "<target dev='vda' bus='virtio'/></disk></devices></domain>";

static struct agent ag;
static char top[] = "/tmp/ferry-fuzz-api-XXXXXX";
static uint64_t next_conn = 1;

static int call(uint64_t conn_id, struct wire_conn *conn, const char *method, json_object *params,
                struct ferry_error *err)
{
    struct api_ctx ctx = {.ag = &ag, .conn = conn, .conn_id = conn_id};
    json_object *ret = NULL;
    int r;

    r = api_dispatch(&ctx, method, params, &ret, err);
    json_object_put(ret);
    if (ctx.event_token > 0)
        agent_events_unsubscribe(&ag, ctx.event_token);
    return r;
}

/* g1 defined and running, whatever the last input did to it. */
static void reset_guest(void)
{
    struct ferry_error err = {0};
    _cleanup_(json_object_putp) json_object *def = json_object_new_object();
    _cleanup_(json_object_putp) json_object *name = json_object_new_object();

    json_object_object_add(def, "xml", json_object_new_string(guest_xml));
    json_object_object_add(name, "name", json_object_new_string("g1"));
    (void)call(next_conn++, NULL, "domain.define", def, &err);
    (void)call(next_conn++, NULL, "domain.start", name, &err);
}

static void cleanup_top(void)
{
    agent_volumes_fini(&ag);
    agent_fini(&ag);
    fake_rm_rf(top);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct ferry_error err = {0};
    static char state_dir[64], image_dir[64];

    (void)argc;
    (void)argv;
    if (!mkdtemp(top))
        abort();
    snprintf(state_dir, sizeof state_dir, "%s/state", top);
    snprintf(image_dir, sizeof image_dir, "%s/images", top);
    ag.cfg.state_dir = state_dir;
    ag.cfg.image_dir = image_dir;
    ag.cfg.hostname = (char *)"hostA";
    ag.cfg.host_uuid = (char *)"0a0a0a0a-0000-4000-8000-00000000000a";
    ag.cfg.max_version = 3;
    ag.driver = &fake_driver;
    fake_reset();
    if (agent_init(&ag, &err) < 0 || agent_volumes_init(&ag, &err) < 0) {
        fprintf(stderr, "fuzz-api: %s\n", ferry_error_msg(&err));
        abort();
    }
    atexit(cleanup_top);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_(json_object_putp) json_object *params = NULL;
    struct ferry_error err = {0};
    struct wire_conn *conn;
    uint64_t conn_id;
    int sv[2];

    if (size < 1)
        return 0;
    if (size > 1 && wire_json_parse((const char *)data + 1, size - 1, &params, &err) < 0)
        return 0;
    reset_guest();
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    close(sv[1]);
    conn = wire_conn_new(sv[0]);
    conn_id = next_conn++;
    (void)call(conn_id, conn, methods[data[0] % (sizeof methods / sizeof methods[0])], params,
               &err);
    /* The client hangs up, as server.c reports it. */
    api_tunnel_conn_closed(&ag, conn);
    api_migrate_conn_closed(&ag, conn_id);
    wire_conn_free(conn);
    return 0;
}
