/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* UEFI firmware files of a guest: the variables template pinned at define
 * (Debian's ovmf ships OVMF_CODE*.fd beside the OVMF_VARS*.fd that goes
 * with it), the per-VM NVRAM file created from that template at the
 * guest's first start, as libvirt does (it then belongs to the guest: it
 * is never overwritten from the template again), and its check at a
 * migration's switchover. */
#include "qemu-cmdline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "cleanup.h"
#include "qemu-priv.h"
#include "util.h"

#define NVRAM_MAX            (64u * 1024 * 1024) /* bytes of a template copied */
#define NVRAM_QMP_TIMEOUT_MS 30000

void qemu_firmware_define(struct domain_def *def)
{
    _cleanup_free_ char *vars = NULL;
    const char *base;
    char *code;

    if (!def->loader || def->loader_rom || def->nvram_template)
        return;
    /* ".../OVMF_CODE_4M.fd" -> ".../OVMF_VARS_4M.fd", when that exists. */
    base = strrchr(def->loader, '/');
    vars = ferry_strdup(def->loader);
    code = strstr(vars + (base ? base - def->loader : 0), "CODE");
    if (!code)
        return;
    /* Four letters for four, inside the string: no terminator to copy. */
    code[0] = 'V', code[1] = 'A', code[2] = 'R', code[3] = 'S';
    if (access(vars, R_OK) == 0)
        def->nvram_template = TAKE_PTR(vars);
}

char *qemu_firmware_nvram_path(const char *state_dir, const struct domain_def *def)
{
    if (def->nvram)
        return ferry_strdup(def->nvram);
    return ferry_strdup_printf("%s/nvram/%s_VARS.fd", state_dir, def->name);
}

int qemu_firmware_prepare(const struct domain_def *def, const char *path, struct ferry_error *err)
{
    _cleanup_free_ char *dir = NULL;
    _cleanup_free_ char *buf = NULL;
    size_t len;
    int r;

    if (access(path, R_OK | W_OK) == 0)
        return 0; /* the guest's own variables: kept */
    if (errno != ENOENT)
        return ferry_error_set_errno(err, errno, "nvram '%s'", path);
    if (!def->nvram_template)
        return ferry_error_set(err, ENOENT,
                               "nvram '%s' does not exist and <nvram> names no template to "
                               "create it from",
                               path);
    if ((r = ferry_read_file(def->nvram_template, NVRAM_MAX, &buf, &len, err)) < 0) {
        ferry_error_prefix(err, "nvram template '%s'", def->nvram_template);
        return r;
    }
    dir = ferry_strdup(path);
    *strrchr(dir, '/') = '\0';
    if (dir[0] && (r = ferry_mkdir_p(dir, 0700, err)) < 0)
        return r;
    if ((r = ferry_write_file_atomic(path, buf, len, 0600, err)) < 0) {
        ferry_error_prefix(err, "nvram '%s'", path);
        return r;
    }
    return 0;
}

/* SHA-256 of LEN bytes of BUF as 64 lower-case hex digits into HEX. */
static int sha256_hex(const void *buf, size_t len, char hex[65], struct ferry_error *err)
{
    unsigned char d[32];

    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, len, d) < 0)
        return ferry_error_set(err, EIO, "sha256 failed");
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return 0;
}

/* The digest and size of the NVRAM file PATH. */
static int nvram_digest(const char *path, char hex[65], uint64_t *ret_size, struct ferry_error *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len;
    int r;

    if ((r = ferry_read_file(path, NVRAM_MAX, &buf, &len, err)) < 0) {
        ferry_error_prefix(err, "nvram '%s'", path);
        return r;
    }
    if ((r = sha256_hex(buf, len, hex, err)) < 0)
        return r;
    *ret_size = len;
    return 0;
}

/* Where the guest sees its variables store (pflash1): the guest-physical
 * address QEMU maps it at, from the sizes of the loader and NVRAM files. */
static int flash_base(const struct domain_def *def, const char *nvram_path, uint64_t *ret_base,
                      struct ferry_error *err)
{
    struct stat code, vars;

    /* QEMU maps the pflash devices below 4 GiB, the code (pflash0) at the
     * top and the variables (pflash1) just under it (hw/i386/pc_sysfw.c),
     * each the size of its file. */
    if (stat(def->loader, &code) < 0)
        return ferry_error_set_errno(err, errno, "loader '%s'", def->loader);
    if (stat(nvram_path, &vars) < 0)
        return ferry_error_set_errno(err, errno, "nvram '%s'", nvram_path);
    if ((uint64_t)code.st_size + (uint64_t)vars.st_size > (1ull << 30))
        return ferry_error_set(err, EFBIG, "loader and nvram are larger than 1 GiB together");
    *ret_base = (1ull << 32) - (uint64_t)code.st_size - (uint64_t)vars.st_size;
    return 0;
}

/* ---- The NVRAM at the switchover ----
 *
 * A UEFI guest's variables live in its pflash1 device, whose contents QEMU
 * migrates as a RAM block; the destination's QEMU writes them to its NVRAM
 * file when the guest first runs there (pflash_cfi01's post-load), so the
 * file follows the flash. But QEMU does not mark the block's pages dirty
 * when the guest programs the flash (its MMIO handler writes the RAM
 * directly), so a variable written after its page was sent could be lost
 * in the stream. Perform therefore sends in the cookie the digest of the
 * NVRAM file the stopped source ended with (QEMU writes every flash write
 * through to it), and Finish compares it with the flash as the destination
 * received it, before the guest runs there: a difference fails the
 * migration, and the guest goes on at the source with its variables. */

static bool has_nvram(const struct domain_def *def)
{
    return def->loader && !def->loader_rom;
}

/* Source, after a completed pre-copy migration (the guest is stopped). */
int qemu_nvram_digest_source(struct mig_ctx *m, struct ferry_error *err)
{
    _cleanup_free_ char *path = NULL;
    int r;

    /* After a post-copy switch the guest already runs on the destination:
     * there is nothing left to check before it does. */
    if (!has_nvram(m->dom->def) || (m->params->flags & MIG_POSTCOPY))
        return 0;
    path = qemu_firmware_nvram_path(m->agent->cfg.state_dir, m->dom->def);
    r = nvram_digest(path, m->cookie_out.nvram_sha256, &m->cookie_out.nvram_size, err);
    if (r < 0)
        ferry_error_prefix(err, "perform");
    return r;
}

/* Destination, the incoming migration completed, the guest not yet run. */
int qemu_nvram_check_destination(struct mig_ctx *m, struct qmp_conn *qmp, struct ferry_error *err)
{
    const struct cookie *ci = &m->cookie_in;
    _cleanup_free_ char *path = NULL, *dump = NULL, *buf = NULL;
    char hex[65] = "";
    uint64_t base = 0;
    size_t len = 0;
    json_object *args;
    int r;

    if (!ci->nvram_sha256[0] || !has_nvram(m->dom->def))
        return 0;
    path = qemu_firmware_nvram_path(m->agent->cfg.state_dir, m->dom->def);
    if ((r = flash_base(m->dom->def, path, &base, err)) < 0)
        return r;
    dump = ferry_strdup_printf("%s/%s.nvram-check", m->agent->run_dir, m->dom->def->name);
    args = json_object_new_object();
    json_object_object_add(args, "val", json_object_new_int64((int64_t)base));
    json_object_object_add(args, "size", json_object_new_int64((int64_t)ci->nvram_size));
    json_object_object_add(args, "filename", json_object_new_string(dump));
    r = qmp_conn_execute(qmp, "pmemsave", args, NVRAM_QMP_TIMEOUT_MS, NULL, err);
    if (r == 0)
        r = ferry_read_file(dump, ci->nvram_size, &buf, &len, err);
    unlink(dump);
    if (r == 0)
        r = sha256_hex(buf, len, hex, err);
    if (r < 0) {
        ferry_error_prefix(err, "nvram: reading the guest's variables store");
        return r;
    }
    if (len != ci->nvram_size || strcmp(hex, ci->nvram_sha256) != 0)
        return ferry_error_set(err, EIO,
                               "nvram: the guest's UEFI variables changed during the migration "
                               "and QEMU did not carry the change (it does not track writes "
                               "to the flash): the migration is cancelled, the guest keeps "
                               "running on the source; retry it");
    return 0;
}

int qemu_nvram_check_offline(struct mig_ctx *m, struct ferry_error *err)
{
    const struct domain_def *def = m->dom->def;
    _cleanup_free_ char *path = NULL;
    char hex[65], tmpl_hex[65];
    uint64_t size, tmpl_size;

    if (!has_nvram(def))
        return 0;
    path = qemu_firmware_nvram_path(m->agent->cfg.state_dir, def);
    if (access(path, F_OK) < 0)
        return 0; /* never started: the destination makes it from the template too */
    if (def->nvram_template && nvram_digest(def->nvram_template, tmpl_hex, &tmpl_size, NULL) == 0 &&
        nvram_digest(path, hex, &size, NULL) == 0 && size == tmpl_size && !strcmp(hex, tmpl_hex))
        return 0; /* nothing of the guest's own in it yet */
    return ferry_error_set(err, EOPNOTSUPP,
                           "offline migration: nvram '%s' holds the guest's UEFI variables and "
                           "an offline migration moves only the definition: migrate it live, "
                           "or copy the file to the destination yourself",
                           path);
}
