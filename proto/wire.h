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
 * WIRE_MAX_JSON bytes); DATA payloads are opaque bytes (tunnelled streams);
 * PING and PONG have none.
 */
#ifndef FERRY_AGENT_WIRE_H
#define FERRY_AGENT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"

#define WIRE_MAGIC       0x46525259u
#define WIRE_VERSION     1
#define WIRE_HEADER_SIZE 24
#define WIRE_MAX_PAYLOAD (16u * 1024 * 1024)
#define WIRE_MAX_JSON    (4u * 1024 * 1024)
#define WIRE_MAX_DEPTH   32 /* JSON nesting accepted */

enum wire_type {
    WIRE_HELLO = 1, /* first frame each way: versions, host, uuid, features */
    WIRE_CALL = 2,  /* {"method": "...", "params": {...}} */
    WIRE_REPLY = 3, /* {"result": ...} */
    WIRE_ERROR = 4, /* {"error": {"code": "...", "errno": N, "message": "..."}} */
    WIRE_EVENT = 5, /* {"event": "...", "domain": "...", "data": {...}} */
    WIRE_DATA = 6,  /* raw bytes of a tunnelled stream; request id = stream id */
    /* Keepalive, only to a peer whose HELLO lists "keepalive": PING asks
     * for a PONG with the same request id. Both have an empty payload. */
    WIRE_PING = 7,
    WIRE_PONG = 8,
};

enum wire_flags {
    WIRE_FLAG_EOF = 1u << 0,   /* DATA: last frame of the stream */
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
/* The socket, for poll() (see wire_conn_has_buffered) and socket options:
 * with a transport set, reading or writing it directly breaks the stream. */
int wire_conn_fd(struct wire_conn *c);
/* Best effort, on a connected TCP socket FD: keepalive that ends a
 * connection to a vanished host in about 30 s (both the agent's accepted
 * connections and its own to a peer agent). A socket without it still
 * works; it only waits longer for a vanished peer. */
void wire_set_keepalive(int fd);

/* An optional layer between frames and the socket: TLS (proto/tls.c).
 * Both functions act without blocking on the connection's fd and return
 * the bytes moved, 0 at a clean end of stream (recv only), -EAGAIN when
 * the fd must become ready first (recv: readable, send: writable), or
 * another negative errno; describe() then says in words why the last
 * recv (SENDING false) or send (true) failed, or returns NULL.
 * send is called with the write lock held and, after -EAGAIN, again with
 * the same buffer (TLS requires it); recv runs in the reader thread, and
 * the two may run at the same time. pending() counts bytes already
 * decoded and buffered, which poll() on the fd cannot see. close() ends
 * the layer (best effort, without blocking) and frees OPAQUE; it runs in
 * wire_conn_free() before the fd is closed. */
struct wire_transport_ops {
    long (*recv)(void *opaque, void *buf, size_t len);
    long (*send)(void *opaque, const void *buf, size_t len);
    size_t (*pending)(void *opaque);
    const char *(*describe)(void *opaque, bool sending);
    void (*close)(void *opaque);
};

/* Routes C's frames through OPS (borrowed, static) and OPAQUE (taken, freed
 * by ops->close). Call once, before any frame is sent or received through
 * the layer, while no other thread uses C. */
void wire_conn_set_transport(struct wire_conn *c, const struct wire_transport_ops *ops,
                             void *opaque);
/* True when a receive can proceed without the fd becoming readable (the
 * transport holds decoded bytes). Callers that poll() the fd before
 * wire_conn_recv() must check this first, or they may wait forever for a
 * frame that already arrived. Reader thread only. */
bool wire_conn_has_buffered(struct wire_conn *c);

/* Bounds how long a send may go without progress (the peer not reading):
 * after TIMEOUT_MS without any byte accepted, send fails with -ETIMEDOUT.
 * -1 waits forever. Default: WIRE_SEND_TIMEOUT_MS. */
#define WIRE_SEND_TIMEOUT_MS 60000
void wire_conn_set_send_timeout(struct wire_conn *c, int timeout_ms);

/* Sends one frame. JSON variant serialises OBJ (borrowed). Flags are only
 * allowed on DATA frames. Thread-safe: the frame is written whole under the
 * connection's write lock. Errors: -EINVAL (bad type/flags), -EMSGSIZE
 * (payload over the type's limit; nothing was sent), -ETIMEDOUT, -EPIPE or
 * another negative errno from the socket. After a failure that may have sent
 * part of a frame the connection is marked broken and later sends fail with
 * -EPIPE: close it. Sockets are written with MSG_NOSIGNAL; other fds (pipes,
 * used by tests) with write(), so their callers must ignore SIGPIPE. */
int wire_conn_send(struct wire_conn *c, enum wire_type type, uint32_t flags, uint32_t id,
                   const void *payload, size_t len, struct ferry_error *err);
int wire_conn_send_json(struct wire_conn *c, enum wire_type type, uint32_t id,
                        struct json_object *obj, struct ferry_error *err);
/* Sends an empty frame of TYPE (PING, PONG) only if that cannot block: the
 * write lock is free and the socket has room now. -EAGAIN otherwise
 * (nothing sent: another thread is writing, or the peer is not reading);
 * other errors as wire_conn_send. For a keepalive that must never wait
 * behind a stalled peer. */
int wire_conn_send_nowait(struct wire_conn *c, enum wire_type type, uint32_t id,
                          struct ferry_error *err);

/* Receives one frame, waiting up to TIMEOUT_MS (-1: forever). For JSON
 * types *ret_json gets the parsed object and *ret_payload is NULL; for DATA
 * *ret_payload gets the bytes (caller frees; never NULL, even for an empty
 * frame; ret_h->length is the size) and *ret_json is NULL.
 * Errors: -EPIPE (peer closed cleanly between frames), -ETIMEDOUT,
 * -EPROTO/-EMSGSIZE/-EBADMSG for bad frames (after which the stream cannot
 * be trusted: close it).
 * The timeout covers the whole frame. A timeout before the first byte of a
 * frame leaves the connection usable; a timeout inside a frame, or any bad
 * frame, leaves it desynchronised and later receives fail with -EPROTO.
 * On -EMSGSIZE (header valid, length over the limit) and -EBADMSG (header
 * valid, payload not a JSON object) *ret_h holds the decoded header so the
 * error reply can carry the request id: see wire_conn_reject(). On other
 * errors *ret_h, *ret_json and *ret_payload are untouched. */
int wire_conn_recv(struct wire_conn *c, int timeout_ms, struct wire_header *ret_h,
                   struct json_object **ret_json, void **ret_payload, struct ferry_error *err);

/* Sends an ERROR frame for request ID built from NEGATIVE_ERRNO (mapped with
 * wire_errno_code) and MESSAGE. */
int wire_conn_send_error(struct wire_conn *c, uint32_t id, int negative_errno, const char *message,
                         struct ferry_error *err);

/* What docs/protocol.md promises after wire_conn_recv failed with R (WHY is
 * its error, borrowed, may be NULL): for -EMSGSIZE and -EBADMSG (the header
 * was valid) an ERROR frame with code "protocol-error", the request id from
 * H and WHY's message is sent; for every other failure nothing is sent,
 * because the stream cannot be resynchronised. Either way the caller closes
 * the connection next. Returns 0 or the send's negative errno. */
int wire_conn_reject(struct wire_conn *c, int r, const struct wire_header *h,
                     const struct ferry_error *why);

/* Convenience: build the JSON payloads. All return new references. */
struct json_object *wire_make_call(const char *method, struct json_object *params /* taken */);
struct json_object *wire_make_reply(struct json_object *result /* taken, may be NULL */);
/* CODE is a short stable string ("invalid-argument", "no-domain", ...),
 * ERRNO_ a positive errno, MESSAGE the human text. */
struct json_object *wire_make_error(const char *code, int errno_, const char *message);

/* Maps a negative errno to the stable code string used in ERROR frames
 * (table in docs/protocol.md; unknown errnos give "operation-failed"). A
 * positive errno is accepted too. */
const char *wire_errno_code(int negative_errno);
/* The reverse: a representative positive errno for CODE (EIO if unknown). */
int wire_code_errno(const char *code);

/* Reads a CALL payload. *ret_method and *ret_params are borrowed from OBJ;
 * *ret_params is never NULL (an empty object stands in for a missing
 * "params", owned by OBJ). -EPROTO if the shape is wrong. */
int wire_call_parse(struct json_object *obj, const char **ret_method,
                    struct json_object **ret_params, struct ferry_error *err);

/* Turns an ERROR payload into ERR (code, errno, message) and returns the
 * negative errno: the "errno" member when it is a sane positive value, else
 * wire_code_errno("code"). A malformed payload yields -EPROTO. */
int wire_error_parse(struct json_object *obj, struct ferry_error *err);

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
    unsigned versions; /* bit N set: migration protocol vN supported */
    size_t n_features;
    char features[WIRE_MAX_FEATURES][32];
};

#define WIRE_MIGRATION_VERSION_MAX 3 /* highest migration protocol version this build speaks */

struct json_object *wire_hello_to_json(const struct wire_hello *h);
/* Validates types and limits; unknown members are ignored. Required:
 * "role" ([a-z0-9-], < 16 chars), "host" (1..255 printable characters),
 * "versions" (1..16 integers >= 1; versions above
 * WIRE_MIGRATION_VERSION_MAX are a newer peer's and are skipped).
 * Optional: "host_uuid" (canonical UUID), "agent_version" (< 32 chars),
 * "features" (at most WIRE_MAX_FEATURES strings of 1..31 printable
 * characters; duplicates dropped). Errors: -EPROTO. *ret is written only on
 * success. */
int wire_hello_from_json(struct json_object *obj, struct wire_hello *ret, struct ferry_error *err);
bool wire_hello_has_feature(const struct wire_hello *h, const char *feature);
/* Appends FEATURE (deduplicated). -E2BIG when full, -EINVAL when too long. */
int wire_hello_add_feature(struct wire_hello *h, const char *feature);
/* The highest migration protocol version both hellos list, or 0 if none. */
int wire_hello_negotiate(const struct wire_hello *a, const struct wire_hello *b);

#endif
