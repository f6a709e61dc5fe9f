/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Dirty tracking on the source QEMU over QMP: bitmaps on the disk's format
 * node, the atomic freeze of a pass's bitmap, read-only NBD exports of the
 * node, and reading a frozen bitmap's dirty extents over NBD. Checked with
 * QEMU 7.2: block-dirty-bitmap-clear is allowed inside a transaction,
 * nbd-server-start wants the data-wrapped SocketAddress, an exported bitmap
 * stays locked until BLOCK_EXPORT_DELETED. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <json-c/json.h>
#include <libnbd.h>

#include "json-cleanup.h"
#include "mir-sync.h"
#include "qmp.h"
#include "util.h"

/* QMP replies for these commands are quick; a wedged monitor is an error. */
#define MIR_QMP_TIMEOUT_MS 30000

static struct json_object *jstr(const char *s)
{
    return json_object_new_string(s);
}

static int run(struct qmp_conn *qmp, const char *cmd, struct json_object *args,
               struct ferry_error *err)
{
    return qmp_conn_execute(qmp, cmd, args, MIR_QMP_TIMEOUT_MS, NULL, err);
}

int mir_bitmap_add(struct qmp_conn *qmp, const char *node, const char *name,
                   struct ferry_error *err)
{
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "node", jstr(node));
    json_object_object_add(a, "name", jstr(name));
    json_object_object_add(a, "persistent", json_object_new_boolean(false));
    return run(qmp, "block-dirty-bitmap-add", a, err);
}

int mir_bitmap_remove(struct qmp_conn *qmp, const char *node, const char *name,
                      struct ferry_error *err)
{
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "node", jstr(node));
    json_object_object_add(a, "name", jstr(name));
    return run(qmp, "block-dirty-bitmap-remove", a, err);
}

static struct json_object *action(const char *type, struct json_object *data)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "type", jstr(type));
    json_object_object_add(o, "data", data);
    return o;
}

static struct json_object *merge_data(const char *node, const char *dst, const char *src)
{
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "node", jstr(node));
    json_object_object_add(d, "target", jstr(dst));
    struct json_object *list = json_object_new_array();
    json_object_array_add(list, jstr(src));
    json_object_object_add(d, "bitmaps", list);
    return d;
}

int mir_bitmap_freeze(struct qmp_conn *qmp, const char *node, const char *active,
                      const char *frozen, struct ferry_error *err)
{
    struct json_object *add = json_object_new_object();
    json_object_object_add(add, "node", jstr(node));
    json_object_object_add(add, "name", jstr(frozen));
    json_object_object_add(add, "disabled", json_object_new_boolean(true));
    json_object_object_add(add, "persistent", json_object_new_boolean(false));

    struct json_object *clear = json_object_new_object();
    json_object_object_add(clear, "node", jstr(node));
    json_object_object_add(clear, "name", jstr(active));

    struct json_object *actions = json_object_new_array();
    json_object_array_add(actions, action("block-dirty-bitmap-add", add));
    json_object_array_add(actions,
                          action("block-dirty-bitmap-merge", merge_data(node, frozen, active)));
    json_object_array_add(actions, action("block-dirty-bitmap-clear", clear));

    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "actions", actions);
    return run(qmp, "transaction", a, err);
}

int mir_bitmap_merge(struct qmp_conn *qmp, const char *node, const char *dst, const char *src,
                     struct ferry_error *err)
{
    return run(qmp, "block-dirty-bitmap-merge", merge_data(node, dst, src), err);
}

int mir_bitmap_enable(struct qmp_conn *qmp, const char *node, const char *name, bool enable,
                      struct ferry_error *err)
{
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "node", jstr(node));
    json_object_object_add(a, "name", jstr(name));
    return run(qmp, enable ? "block-dirty-bitmap-enable" : "block-dirty-bitmap-disable", a, err);
}

/* The count is QEMU's (hbitmap_count, O(1)); query-named-block-nodes with
 * flat=true lists every node, so any node name works, not only a device's
 * root. One reply is a few KiB per node. */
int mir_bitmap_counts(struct qmp_conn *qmp, size_t n, const char *const *nodes,
                      const char *const *names, uint64_t *ret_counts, struct ferry_error *err)
{
    _cleanup_(json_object_putp) struct json_object *list = NULL;
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "flat", json_object_new_boolean(true));
    int r = qmp_conn_execute(qmp, "query-named-block-nodes", a, MIR_QMP_TIMEOUT_MS, &list, err);
    if (r < 0)
        return r;
    if (!json_object_is_type(list, json_type_array))
        return ferry_error_set(err, EPROTO, "query-named-block-nodes: not an array");
    for (size_t k = 0; k < n; k++)
        ret_counts[k] = MIR_BITMAP_COUNT_NONE;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *node = json_object_array_get_idx(list, i), *v = NULL, *bms = NULL;
        if (!json_object_object_get_ex(node, "node-name", &v) ||
            !json_object_object_get_ex(node, "dirty-bitmaps", &bms) ||
            !json_object_is_type(bms, json_type_array))
            continue;
        const char *node_name = json_object_get_string(v);
        for (size_t j = 0; j < json_object_array_length(bms); j++) {
            struct json_object *b = json_object_array_get_idx(bms, j), *bn = NULL, *c = NULL;
            if (!json_object_object_get_ex(b, "name", &bn) ||
                !json_object_object_get_ex(b, "count", &c) ||
                !json_object_is_type(c, json_type_int) || json_object_get_int64(c) < 0)
                continue;
            for (size_t k = 0; k < n; k++)
                if (strcmp(node_name, nodes[k]) == 0 &&
                    strcmp(json_object_get_string(bn), names[k]) == 0)
                    ret_counts[k] = (uint64_t)json_object_get_int64(c);
        }
    }
    return 0;
}

int mir_bitmap_count(struct qmp_conn *qmp, const char *node, const char *name, uint64_t *ret_count,
                     struct ferry_error *err)
{
    uint64_t count;
    int r = mir_bitmap_counts(qmp, 1, &node, &name, &count, err);
    if (r < 0)
        return r;
    if (count == MIR_BITMAP_COUNT_NONE)
        return ferry_error_set(err, ENOENT, "no bitmap '%s' on node '%s'", name, node);
    *ret_count = count;
    return 0;
}

int mir_nbd_server_start(struct qmp_conn *qmp, const char *path, struct ferry_error *err)
{
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "path", jstr(path));
    struct json_object *addr = json_object_new_object();
    json_object_object_add(addr, "type", jstr("unix"));
    json_object_object_add(addr, "data", data);
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "addr", addr);
    return run(qmp, "nbd-server-start", a, err);
}

int mir_nbd_server_stop(struct qmp_conn *qmp, struct ferry_error *err)
{
    return run(qmp, "nbd-server-stop", NULL, err);
}

int mir_export_add(struct qmp_conn *qmp, const char *id, const char *node, const char *name,
                   const char *bitmap, struct ferry_error *err)
{
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "type", jstr("nbd"));
    json_object_object_add(a, "id", jstr(id));
    json_object_object_add(a, "node-name", jstr(node));
    json_object_object_add(a, "name", jstr(name));
    json_object_object_add(a, "writable", json_object_new_boolean(false));
    if (bitmap) {
        struct json_object *list = json_object_new_array();
        json_object_array_add(list, jstr(bitmap));
        json_object_object_add(a, "bitmaps", list);
    }
    return run(qmp, "block-export-add", a, err);
}

int mir_export_add_depth(struct qmp_conn *qmp, const char *id, const char *node, const char *name,
                         struct ferry_error *err)
{
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "type", jstr("nbd"));
    json_object_object_add(a, "id", jstr(id));
    json_object_object_add(a, "node-name", jstr(node));
    json_object_object_add(a, "name", jstr(name));
    json_object_object_add(a, "writable", json_object_new_boolean(false));
    json_object_object_add(a, "allocation-depth", json_object_new_boolean(true));
    int r = run(qmp, "block-export-add", a, err);
    if (r < 0)
        ferry_error_prefix(err, "export with allocation-depth (QEMU 5.2 or later), needed to "
                                "copy the top image alone");
    return r;
}

static bool export_deleted(const char *name, struct json_object *data, void *opaque)
{
    struct json_object *id;
    if (strcmp(name, "BLOCK_EXPORT_DELETED") != 0 || !data ||
        !json_object_object_get_ex(data, "id", &id))
        return false;
    return strcmp(json_object_get_string(id), (const char *)opaque) == 0;
}

int mir_export_del(struct qmp_conn *qmp, const char *id, struct ferry_error *err)
{
    /* The event may come before the reply (no client connected): take the
     * sequence number first so it cannot be missed. */
    uint64_t seq = qmp_conn_event_seq(qmp);
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "id", jstr(id));
    int r = run(qmp, "block-export-del", a, err);
    if (r < 0)
        return r;
    return qmp_conn_wait_event(qmp, seq, export_deleted, (void *)id, 10000, NULL, NULL, err);
}

struct dirty_ctx {
    const char *context;
    struct mir_extent_list *list;
    uint64_t size;
    uint64_t next; /* where the next answer should start */
    int r;
};

static int dirty_cb(void *opaque, const char *context, uint64_t offset, uint32_t *entries,
                    size_t nr, int *error)
{
    struct dirty_ctx *c = opaque;
    if (strcmp(context, c->context) != 0)
        return 0;
    uint64_t pos = offset;
    for (size_t i = 0; i + 1 < nr && c->r == 0; i += 2) {
        uint64_t len = entries[i];
        if (pos >= c->size)
            break;
        if (len > c->size - pos)
            len = c->size - pos;
        if (entries[i + 1] & 1) /* the dirty bit */
            c->r = mir_extent_list_add(c->list, pos, len);
        pos += len;
    }
    c->next = pos;
    return 0;
}

int mir_dirty_read(const char *uri, const char *bitmap, struct mir_extent_list *ret,
                   struct ferry_error *err)
{
    char context[256];
    int r;
    if ((size_t)snprintf(context, sizeof(context), "qemu:dirty-bitmap:%s", bitmap) >=
        sizeof(context))
        return ferry_error_set(err, ENAMETOOLONG, "bitmap name '%s' is too long", bitmap);

    struct nbd_handle *h = nbd_create();
    if (!h)
        return ferry_error_set(err, ENOMEM, "nbd_create: %s", nbd_get_error());
    if (nbd_add_meta_context(h, context) < 0 || nbd_connect_uri(h, uri) < 0) {
        r = ferry_error_set(err, nbd_get_errno() ? nbd_get_errno() : EIO,
                            "dirty bitmap '%s' at %s: %s", bitmap, uri, nbd_get_error());
        nbd_close(h);
        return r;
    }
    if (nbd_can_meta_context(h, context) != 1) {
        nbd_close(h);
        return ferry_error_set(err, ENOTSUP, "dirty bitmap '%s' at %s: not exported", bitmap, uri);
    }
    int64_t size = nbd_get_size(h);
    struct dirty_ctx c = {context, ret, size < 0 ? 0 : (uint64_t)size, 0, 0};
    nbd_extent_callback cb = {.callback = dirty_cb, .user_data = &c};
    uint64_t off = 0;
    r = 0;
    while (off < c.size) {
        uint64_t count = c.size - off;
        if (count > 1024u * 1024 * 1024)
            count = 1024u * 1024 * 1024;
        c.next = off;
        if (nbd_block_status(h, count, off, cb, 0) < 0) {
            r = ferry_error_set(err, nbd_get_errno() ? nbd_get_errno() : EIO,
                                "dirty bitmap '%s': nbd_block_status at offset %" PRIu64 ": %s",
                                bitmap, off, nbd_get_error());
            break;
        }
        if (c.r < 0) {
            r = ferry_error_set(err, -c.r, "dirty bitmap '%s': too many extents", bitmap);
            break;
        }
        if (c.next <= off) { /* a server must make progress */
            r = ferry_error_set(err, EPROTO, "dirty bitmap '%s': no extents at offset %" PRIu64,
                                bitmap, off);
            break;
        }
        off = c.next;
    }
    nbd_shutdown(h, 0);
    nbd_close(h);
    return r;
}
