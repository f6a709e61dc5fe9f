/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* UEFI firmware files of a guest: the variables template pinned at define
 * (Debian's ovmf ships OVMF_CODE*.fd beside the OVMF_VARS*.fd that goes
 * with it), and the per-VM NVRAM file created from that template at the
 * guest's first start, as libvirt does. The NVRAM then belongs to the
 * guest: it is never overwritten from the template again. */
#include "qemu-cmdline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "cleanup.h"
#include "util.h"

#define NVRAM_MAX (64u * 1024 * 1024) /* bytes of a template copied */

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
    memcpy(code, "VARS", 4);
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

int qemu_firmware_sha256(const void *buf, size_t len, char hex[65], struct ferry_error *err)
{
    unsigned char d[32];

    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, len, d) < 0)
        return ferry_error_set(err, EIO, "sha256 failed");
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return 0;
}

int qemu_firmware_nvram_digest(const char *path, char hex[65], uint64_t *ret_size,
                               struct ferry_error *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len;
    int r;

    if ((r = ferry_read_file(path, NVRAM_MAX, &buf, &len, err)) < 0) {
        ferry_error_prefix(err, "nvram '%s'", path);
        return r;
    }
    if ((r = qemu_firmware_sha256(buf, len, hex, err)) < 0)
        return r;
    *ret_size = len;
    return 0;
}

int qemu_firmware_flash_base(const struct domain_def *def, const char *nvram_path,
                             uint64_t *ret_base, struct ferry_error *err)
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
