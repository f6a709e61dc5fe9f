/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared-key authentication in HELLO (docs/protocol.md, "Authentication"):
 * both sides send a random nonce and each proves it holds the key with an
 * HMAC-SHA256 over both nonces, its side and its host uuid. The key never
 * travels; proofs are compared in constant time. */
#ifndef FERRY_PROTO_AUTH_H
#define FERRY_PROTO_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"

#define WIRE_AUTH_SCHEME  "hmac-sha256"
#define WIRE_AUTH_FEATURE "auth-hmac-sha256" /* in HELLO "features" */
#define WIRE_AUTH_NONCE   32                 /* bytes; 64 hex digits on the wire */
#define WIRE_AUTH_PROOF   32                 /* bytes of an HMAC-SHA256 */
#define WIRE_AUTH_KEY_MIN 32                 /* bytes of key material a file must hold */
#define WIRE_AUTH_KEY_MAX 4096

/* Which end of the connection proves: the labels keep a proof made by one
 * side from being replayed as the other's. */
#define WIRE_AUTH_SIDE_CLIENT "client"
#define WIRE_AUTH_SIDE_SERVER "server"

struct wire_auth_key {
    size_t len;
    uint8_t bytes[WIRE_AUTH_KEY_MAX];
    char fingerprint[17]; /* first 8 bytes of SHA-256(key), hex: names the key in logs */
};

/* Reads a key file: a regular file that only its owner may read or write
 * (no group/other bits, as ssh demands of private keys), holding
 * WIRE_AUTH_KEY_MIN..WIRE_AUTH_KEY_MAX bytes once trailing whitespace is
 * dropped (e.g. `head -c 32 /dev/urandom | base64`). The bytes themselves
 * are the key. *ret: free with wire_auth_key_free() (wipes it). Errors
 * name the file: -ENOENT, -EPERM (mode), -EINVAL (size, not a file). */
int wire_auth_key_load(const char *path, struct wire_auth_key **ret, struct ferry_error *err);
void wire_auth_key_free(struct wire_auth_key *k);

/* A fresh random nonce (GnuTLS's nonce generator). -EIO when it fails. */
int wire_auth_nonce(uint8_t nonce[WIRE_AUTH_NONCE], struct ferry_error *err);

/* HMAC-SHA256 under K of "ferry-auth-v1\0" SIDE "\0" CLIENT_NONCE SERVER_NONCE
 * HOST_UUID "\0" (HOST_UUID: the prover's, "" when it has none). */
void wire_auth_proof(const struct wire_auth_key *k, const char *side,
                     const uint8_t client_nonce[WIRE_AUTH_NONCE],
                     const uint8_t server_nonce[WIRE_AUTH_NONCE], const char *host_uuid,
                     uint8_t ret[WIRE_AUTH_PROOF]);

/* Constant-time comparison of two proofs. */
bool wire_auth_proof_equal(const uint8_t a[WIRE_AUTH_PROOF], const uint8_t b[WIRE_AUTH_PROOF]);

/* The "auth" member of a HELLO payload: {"scheme": "hmac-sha256",
 * "nonce"?: HEX, "proof"?: HEX}. Returns a new object. NONCE/PROOF may be NULL. */
json_object *wire_auth_to_json(const uint8_t *nonce, const uint8_t *proof);

/* Reads HELLO's "auth" member MEMBER ("nonce" or "proof"): exactly 64 hex
 * digits into RET (32 bytes). -ENOENT when HELLO has no "auth" object
 * (nothing set in ERR); -EPROTO when "auth" is malformed, its scheme is
 * not hmac-sha256, or MEMBER is missing or not 64 hex digits. */
int wire_auth_get(json_object *hello, const char *member, uint8_t ret[32], struct ferry_error *err);

/* HELLO's optional "auth"."key": the fingerprint naming the client's key
 * (16 hex digits, wire_auth_key.fingerprint) into RET (17 bytes). -ENOENT
 * when absent, -EPROTO when malformed. Call after wire_auth_get() accepted
 * the member. */
int wire_auth_get_key_id(json_object *hello, char ret[17], struct ferry_error *err);

/* True when HELLO (a payload object) carries an "auth" member. */
bool wire_auth_present(json_object *hello);

#endif
