/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer harness: the bytes a peer sends on the agents' port, read the
 * way the server reads them (wire_conn_recv over a socket), then every
 * JSON frame handed to the parser of its type: HELLO, CALL, ERROR. A HELLO
 * that parses must survive its own round trip. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_hello(struct json_object *obj)
{
    struct wire_hello h, again;
    struct ferry_error err = {0};
    _cleanup_(json_object_putp) struct json_object *back = NULL;

    if (wire_hello_from_json(obj, &h, &err) < 0)
        return;
    /* A newer peer that lists only versions above ours is accepted with
     * none left (protocol.md: no migration, control still works); HELLO
     * has no way to say that back, so no round trip for it. */
    if (!h.versions)
        return;
    back = wire_hello_to_json(&h);
    /* What we accepted we must be able to say again, unchanged. */
    if (wire_hello_from_json(back, &again, &err) < 0 || again.versions != h.versions ||
        again.n_features != h.n_features || strcmp(again.host, h.host) != 0)
        abort();
    (void)wire_hello_negotiate(&h, &again);
}

static void check_frame(const struct wire_header *h, struct json_object *obj)
{
    struct ferry_error err = {0};
    const char *method;
    struct json_object *params;

    switch (h->type) {
    case WIRE_HELLO:
        check_hello(obj);
        break;
    case WIRE_CALL:
        if (wire_call_parse(obj, &method, &params, &err) == 0 && (!method || !params))
            abort();
        break;
    case WIRE_ERROR:
        if (wire_error_parse(obj, &err) >= 0)
            abort(); /* an ERROR payload never reads as success */
        (void)wire_errno_code(-(int)(h->id & 0xff));
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_header h;
    struct ferry_error err = {0};
    struct wire_conn *c;
    int sv[2];

    if (size >= WIRE_HEADER_SIZE)
        (void)wire_header_decode(data, &h, &err);
    /* The socket buffer (>= 200 KiB) holds any input libFuzzer makes with
     * its default -max_len, so one write() before reading is enough. */
    if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    if (size && write(sv[1], data, size) != (ssize_t)size)
        abort();
    close(sv[1]);
    c = wire_conn_new(sv[0]);
    for (;;) {
        struct json_object *obj = NULL;
        void *payload = NULL;

        /* Every byte is already there and the writer closed: the timeout
         * (0 would refuse before looking) is never waited for. */
        if (wire_conn_recv(c, 1000, &h, &obj, &payload, &err) < 0)
            break;
        if (obj)
            check_frame(&h, obj);
        json_object_put(obj);
        free(payload);
    }
    wire_conn_free(c);
    return 0;
}
