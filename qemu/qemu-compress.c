/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's part of --compressed, --zerocopy and the xbzrle cache
 * verb (libvirt's VIR_MIGRATE_COMPRESSED, VIR_MIGRATE_ZEROCOPY,
 * virDomainMigrate{Get,Set}CompressionCache), in QEMU 7.2's terms:
 *
 *  xbzrle   capability "xbzrle" (both QEMUs), xbzrle-cache-size (source)
 *  mt       capability "compress" (both: the destination runs the
 *           decompression threads), compress-level, compress-threads
 *           (source), decompress-threads (destination)
 *  zlib     multifd-compression (both) and multifd-zlib-level (source)
 *  zstd     multifd-compression (both) and multifd-zstd-level (source)
 *  zerocopy capability "zero-copy-send" (source only), multifd, and a
 *           locked-memory limit on the source QEMU that covers the guest
 *           RAM the kernel pins while it sends. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "json.h"
#include "migparams.h"
#include "qemu-priv.h"

#define QMP_TIMEOUT_MS 30000
/* --zerocopy: the locked-memory limit is the guest's RAM plus this, as
 * libvirt adds room beyond the guest for what QEMU itself locks. */
#define ZEROCOPY_MEMLOCK_EXTRA (1ull << 30)
#define CAP_IPC_LOCK_BIT       14 /* linux/capability.h */

static void add_cap(json_object *caps, const char *name, bool state)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "capability", json_object_new_string(name));
    json_object_object_add(o, "state", json_object_new_boolean(state));
    json_object_array_add(caps, o);
}

static bool parallel(const struct mig_params *p)
{
    return (p->flags & MIG_PARALLEL) || p->parallel_connections;
}

void qemu_compress_caps(const struct mig_params *p, bool source, json_object *caps)
{
    unsigned methods = mig_comp_methods(p);

    /* Always named, false included: a source QEMU keeps capabilities
     * from an earlier migration. */
    add_cap(caps, "xbzrle", (methods & MIG_COMP_XBZRLE) != 0);
    add_cap(caps, "compress", (methods & MIG_COMP_MT) != 0);
    if (source)
        add_cap(caps, "zero-copy-send", (p->flags & MIG_ZEROCOPY) != 0);
}

void qemu_compress_params(const struct mig_params *p, bool source, json_object *args)
{
    unsigned methods = mig_comp_methods(p);

    if (parallel(p))
        json_object_object_add(args, "multifd-compression",
                               json_object_new_string(methods & MIG_COMP_ZLIB   ? "zlib"
                                                      : methods & MIG_COMP_ZSTD ? "zstd"
                                                                                : "none"));
    if (!source) {
        if ((methods & MIG_COMP_MT) && p->has_comp_mt_dthreads)
            json_object_object_add(args, "decompress-threads",
                                   json_object_new_int((int)p->comp_mt_dthreads));
        return;
    }
    if ((methods & MIG_COMP_XBZRLE) && p->comp_xbzrle_cache)
        json_object_object_add(args, "xbzrle-cache-size",
                               json_object_new_int64((int64_t)p->comp_xbzrle_cache));
    if ((methods & MIG_COMP_MT) && p->has_comp_mt_level)
        json_object_object_add(args, "compress-level", json_object_new_int((int)p->comp_mt_level));
    if ((methods & MIG_COMP_MT) && p->has_comp_mt_threads)
        json_object_object_add(args, "compress-threads",
                               json_object_new_int((int)p->comp_mt_threads));
    if ((methods & MIG_COMP_ZLIB) && p->has_comp_zlib_level)
        json_object_object_add(args, "multifd-zlib-level",
                               json_object_new_int((int)p->comp_zlib_level));
    if ((methods & MIG_COMP_ZSTD) && p->has_comp_zstd_level)
        json_object_object_add(args, "multifd-zstd-level",
                               json_object_new_int((int)p->comp_zstd_level));
}

static int check_level(struct qmp_conn *qmp, const char *param, const char *option, unsigned level,
                       struct ferry_error *err)
{
    _cleanup_(json_object_putp) json_object *q = NULL;
    json_object *args = json_object_new_object(), *v = NULL;
    int r;

    json_object_object_add(args, param, json_object_new_int((int)level));
    if ((r = qmp_conn_execute(qmp, "migrate-set-parameters", args, QMP_TIMEOUT_MS, NULL, err)) <
            0 ||
        (r = qmp_conn_execute(qmp, "query-migrate-parameters", NULL, QMP_TIMEOUT_MS, &q, err)) < 0)
        return r;
    if (!json_object_object_get_ex(q, param, &v) || !json_object_is_type(v, json_type_int))
        return ferry_error_set(err, ENOTSUP, "%s: this QEMU has no parameter %s", option, param);
    if (json_object_get_int64(v) != (int64_t)level)
        return ferry_error_set(err, ENOTSUP,
                               "%s %u: this QEMU accepts %s but does not apply it (it keeps %lld; "
                               "QEMU 7.2 does so): leave the option out",
                               option, level, param, (long long)json_object_get_int64(v));
    return 0;
}

/* True when process PID holds CAP_IPC_LOCK, which exempts it from the
 * locked-memory accounting of zero-copy sends. */
static bool has_ipc_lock(pid_t pid)
{
    char path[64], line[256];
    bool yes = false;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return false;
    while (fgets(line, sizeof line, f)) {
        unsigned long long caps;
        if (sscanf(line, "CapEff: %llx", &caps) == 1) {
            yes = (caps >> CAP_IPC_LOCK_BIT) & 1;
            break;
        }
    }
    fclose(f);
    return yes;
}

int qemu_compress_source_prepare(struct mig_ctx *m, struct qmp_conn *qmp, struct ferry_error *err)
{
    struct qemu_dom *p = m->dom->priv;
    struct rlimit cur, want;
    uint64_t need;
    json_object *args;
    int r;

    if (!(m->params->flags & MIG_ZEROCOPY))
        return 0;
    /* QEMU checks zero-copy-send against the multifd compression it
     * holds now, maybe an earlier migration's: clear it first. */
    args = json_object_new_object();
    json_object_object_add(args, "multifd-compression", json_object_new_string("none"));
    if ((r = qmp_conn_execute(qmp, "migrate-set-parameters", args, QMP_TIMEOUT_MS, NULL, err)) < 0)
        return r;
    /* The kernel pins every page QEMU sends with MSG_ZEROCOPY until the
     * peer acknowledged it, and charges them to the sender's
     * RLIMIT_MEMLOCK (without CAP_IPC_LOCK): too low a limit fails the
     * sends with ENOBUFS ("Process can't lock enough memory for using
     * MSG_ZEROCOPY"). */
    need = m->dom->def->memory_kib * 1024 + ZEROCOPY_MEMLOCK_EXTRA;
    if (p->pid <= 0)
        return ferry_error_set(err, ESRCH, "--zerocopy: no QEMU process to raise the limit of");
    if (prlimit(p->pid, RLIMIT_MEMLOCK, NULL, &cur) < 0)
        return ferry_error_set(err, errno,
                               "--zerocopy: reading QEMU's (pid %d) locked-memory limit: %s",
                               (int)p->pid, strerror(errno));
    if (cur.rlim_cur == RLIM_INFINITY || cur.rlim_cur >= need || has_ipc_lock(p->pid))
        return 0;
    want.rlim_cur = need;
    want.rlim_max = cur.rlim_max == RLIM_INFINITY || cur.rlim_max >= need ? cur.rlim_max : need;
    if (prlimit(p->pid, RLIMIT_MEMLOCK, &want, NULL) < 0)
        return ferry_error_set(
            err, errno,
            "--zerocopy: cannot raise QEMU's (pid %d) locked-memory limit "
            "(RLIMIT_MEMLOCK) from %llu to %" PRIu64 " bytes (the guest's RAM and 1 GiB): %s; "
            "zero-copy sends need it (ferryd needs CAP_SYS_RESOURCE)",
            (int)p->pid, (unsigned long long)cur.rlim_cur, need, strerror(errno));
    ferry_debug("--zerocopy: QEMU pid %d RLIMIT_MEMLOCK %llu -> %" PRIu64, (int)p->pid,
                (unsigned long long)cur.rlim_cur, need);
    return 0;
}

int qemu_compress_check_source(struct mig_ctx *m, struct qmp_conn *qmp, struct ferry_error *err)
{
    const struct mig_params *p = m->params;
    unsigned methods = mig_comp_methods(p);
    int r;

    if ((methods & MIG_COMP_ZLIB) && p->has_comp_zlib_level &&
        (r = check_level(qmp, "multifd-zlib-level", "--comp-zlib-level", p->comp_zlib_level, err)) <
            0)
        return r;
    if ((methods & MIG_COMP_ZSTD) && p->has_comp_zstd_level &&
        (r = check_level(qmp, "multifd-zstd-level", "--comp-zstd-level", p->comp_zstd_level, err)) <
            0)
        return r;
    /* Zero copy's locked-memory limit before the destination starts:
     * Perform checks it again (protocol version 2 has no Begin). */
    return qemu_compress_source_prepare(m, qmp, err);
}

void qemu_compress_stats(json_object *q, struct cookie_stats *s)
{
    json_object *x = NULL, *c = NULL;

    if (json_object_object_get_ex(q, "xbzrle-cache", &x)) {
        s->comp_cache = ferry_json_u64(x, "cache-size");
        s->comp_bytes = ferry_json_u64(x, "bytes");
        s->comp_pages = ferry_json_u64(x, "pages");
        s->comp_cache_misses = ferry_json_u64(x, "cache-miss");
        s->comp_overflow = ferry_json_u64(x, "overflow");
    }
    if (json_object_object_get_ex(q, "compression", &c)) {
        s->comp_mt_pages = ferry_json_u64(c, "pages");
        s->comp_mt_busy = ferry_json_u64(c, "busy");
        s->comp_mt_compressed_size = ferry_json_u64(c, "compressed-size");
    }
}

int qemu_compress_set_cache(struct qmp_conn *qmp, uint64_t bytes, struct ferry_error *err)
{
    json_object *args;

    if (!mig_comp_cache_size_valid(bytes))
        return ferry_error_set(err, EINVAL,
                               "xbzrle cache size %" PRIu64 " is not a power of two between 4096 "
                               "and 1 TiB (QEMU's rule for xbzrle-cache-size)",
                               bytes);
    args = json_object_new_object();
    json_object_object_add(args, "xbzrle-cache-size", json_object_new_int64((int64_t)bytes));
    return qmp_conn_execute(qmp, "migrate-set-parameters", args, QMP_TIMEOUT_MS, NULL, err);
}

int qemu_compress_get_cache(struct qmp_conn *qmp, uint64_t *ret, struct ferry_error *err)
{
    _cleanup_(json_object_putp) json_object *q = NULL;
    json_object *v = NULL;
    int r;

    if ((r = qmp_conn_execute(qmp, "query-migrate-parameters", NULL, QMP_TIMEOUT_MS, &q, err)) < 0)
        return r;
    if (!json_object_object_get_ex(q, "xbzrle-cache-size", &v) ||
        !json_object_is_type(v, json_type_int))
        return ferry_error_set(err, EPROTO, "query-migrate-parameters: no xbzrle-cache-size");
    *ret = (uint64_t)json_object_get_int64(v);
    return 0;
}
