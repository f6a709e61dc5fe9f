/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The framed protocol spoken between agents and between clients and an
 * agent (docs/protocol.md). Every frame is a fixed 24-byte big-endian
 * header followed by a payload:
 *
 *   offset size field
 *   0      4    magic        0x46525259 ("FRRY")
 *   4      2    version      WIRE_VERSION (frame format, not migration protocol)
 *   6      2    type         enum wire_type
 *   8      4    flags        enum wire_flags; unknown bits must be zero
 *   12     4    request id   chosen by the caller, echoed in the reply
 *   16     4    length       payload bytes, <= WIRE_MAX_PAYLOAD
 *   20     4    reserved     must be zero
 *
 * HELLO, CALL, REPLY, ERROR and EVENT payloads are one JSON object (at most
 * WIRE_MAX_JSON bytes); DATA payloads are opaque bytes (tunnelled streams).
 */
#ifndef FERRY_AGENT_WIRE_H
#define FERRY_AGENT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"

#define WIRE_MAGIC        0x46525259u
#define WIRE_VERSION      1
#define WIRE_HEADER_SIZE  24
#define WIRE_MAX_PAYLOAD  (16u * 1024 * 1024)
#define WIRE_MAX_JSON     (4u * 1024 * 1024)
#define WIRE_MAX_DEPTH    32 /* JSON nesting accepted */

enum wire_type {
    WIRE_HELLO = 1, /* first frame each way: versions, host, uuid, features */
    WIRE_CALL = 2,  /* {"method": "...", "params": {...}} */
    WIRE_REPLY = 3, /* {"result": ...} */
    WIRE_ERROR = 4, /* {"error": {"code": "...", "errno": N, "message": "..."}} */
    WIRE_EVENT = 5, /* {"event": "...", "domain": "...", "data": {...}} */
    WIRE_DATA = 6,  /* raw bytes of a tunnelled stream; request id = stream id */
};

enum wire_flags {
    WIRE_FLAG_EOF = 1u << 0, /* DATA: last frame of the stream */
    WIRE_FLAG_ABORT = 1u << 1, /* DATA: the sender aborted the stream */
};
#define WIRE_FLAGS_KNOWN (WIRE_FLAG_EOF | WIRE_FLAG_ABORT)

struct wire_header {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
    uint32_t flags;
    uint32_t id;
    uint32_t length;
};

/* Encodes H into BUF (WIRE_HEADER_SIZE bytes). */
void wire_header_encode(const struct wire_header *h, uint8_t buf[WIRE_HEADER_SIZE]);

/* Decodes and validates a header: magic, version, known type, known flags,
 * zero reserved field, length limit (JSON types: WIRE_MAX_JSON). Returns 0,
 * -EPROTO (bad magic/version/type/flags/reserved) or -EMSGSIZE, with a
 * message in ERR. */
int wire_header_decode(const uint8_t buf[WIRE_HEADER_SIZE], struct wire_header *h,
                       struct ferry_error *err);

/* Parses a JSON frame payload: must be a single JSON object within the
 * size and depth limits. *ret gets a new reference. -EBADMSG on invalid
 * JSON or a non-object. */
int wire_json_parse(const char *payload, size_t len, struct json_object **ret,
                    struct ferry_error *err);

/* A connection: a socket fd plus a write lock so several threads can send
 * frames (events while a call runs) without interleaving. Reads are done by
 * one thread at a time (the caller's responsibility). */
struct wire_conn;

/* Takes FD. Caller frees with wire_conn_free() (closes FD). */
struct wire_conn *wire_conn_new(int fd);
void wire_conn_free(struct wire_conn *c);
int wire_conn_fd(struct wire_conn *c);

/* Sends one frame. JSON variant serialises OBJ (borrowed). */
int wire_conn_send(struct wire_conn *c, enum wire_type type, uint32_t flags, uint32_t id,
                   const void *payload, size_t len, struct ferry_error *err);
int wire_conn_send_json(struct wire_conn *c, enum wire_type type, uint32_t id,
                        struct json_object *obj, struct ferry_error *err);

/* Receives one frame, waiting up to TIMEOUT_MS (-1: forever). For JSON
 * types *ret_json gets the parsed object and *ret_payload is NULL; for DATA
 * *ret_payload gets the bytes (caller frees) and *ret_json is NULL.
 * Errors: -EPIPE (peer closed cleanly between frames), -ETIMEDOUT,
 * -EPROTO/-EMSGSIZE/-EBADMSG for bad frames (after which the stream cannot
 * be trusted: close it). */
int wire_conn_recv(struct wire_conn *c, int timeout_ms, struct wire_header *ret_h,
                   struct json_object **ret_json, void **ret_payload, struct ferry_error *err);

/* Convenience: build the JSON payloads. All return new references. */
struct json_object *wire_make_call(const char *method, struct json_object *params /* taken */);
struct json_object *wire_make_reply(struct json_object *result /* taken, may be NULL */);
/* CODE is a short stable string ("invalid-argument", "no-domain", ...),
 * ERRNO_ a positive errno, MESSAGE the human text. */
struct json_object *wire_make_error(const char *code, int errno_, const char *message);

/* Maps a negative errno to the stable code string used in ERROR frames. */
const char *wire_errno_code(int negative_errno);

/* The HELLO payload. Each side sends one as its first frame:
 *   {"agent": "ferry", "agent_version": "0.1.0", "role": "client"|"agent",
 *    "host": "NAME", "host_uuid": "UUID", "versions": [1, 2, 3],
 *    "features": ["v3", "cookies", "nbd", "tunnel", ...]}
 * "versions" are migration protocol versions (1, 2, 3), not frame format. */
#define WIRE_MAX_FEATURES 64

struct wire_hello {
    char role[16];
    char host[256];
    char host_uuid[40];
    char agent_version[32];
    unsigned versions;            /* bit N set: migration protocol vN supported */
    size_t n_features;
    char features[WIRE_MAX_FEATURES][32];
};

struct json_object *wire_hello_to_json(const struct wire_hello *h);
/* Validates types and limits; unknown members are ignored. */
int wire_hello_from_json(struct json_object *obj, struct wire_hello *ret, struct ferry_error *err);
bool wire_hello_has_feature(const struct wire_hello *h, const char *feature);

#endif
