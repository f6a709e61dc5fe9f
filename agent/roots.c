/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Storage roots (agent/roots.h): every host path a guest definition names
 * must resolve to a file under one of them. The check runs at define, at
 * start and at Prepare. QEMU opens the files later, by path, so a symlink
 * swapped in between is not caught: roots hold files only root and the
 * agent may change. */
#include "roots.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "migparams.h"

/* Resolved roots, set before any client is served, then only read. */
static char *roots[AGENT_MAX_ROOTS + 1]; /* + the image dir */
static size_t n_roots;

int agent_roots_add(struct agent *ag, const char *dir, struct ferry_error *err)
{
    char *real;
    struct stat st;

    (void)ag;
    if (n_roots >= AGENT_MAX_ROOTS)
        return ferry_error_set(err, E2BIG, "--storage-root: at most %d", AGENT_MAX_ROOTS);
    real = realpath(dir, NULL);
    if (!real)
        return ferry_error_set_errno(err, errno, "--storage-root '%s'", dir);
    if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
        free(real);
        return ferry_error_set(err, ENOTDIR, "--storage-root '%s' is not a directory", dir);
    }
    roots[n_roots++] = real;
    return 0;
}

static bool under(const char *path, const char *root)
{
    size_t n = strlen(root);

    if (strcmp(root, "/") == 0)
        return true;
    return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool has_dotdot(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")); p += 2)
        if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return true;
    return false;
}

/* PATH with symlinks resolved; a file that does not exist yet (an NVRAM
 * store, a console socket) resolves through its directory. NULL with errno. */
static char *resolve(const char *path)
{
    _cleanup_free_ char *dir = NULL;
    char *real = realpath(path, NULL), *slash, *full;

    if (real || errno != ENOENT)
        return real;
    dir = ferry_strdup(path);
    slash = strrchr(dir, '/');
    if (!slash || !slash[1])
        return NULL;
    *slash = '\0';
    real = realpath(dir[0] ? dir : "/", NULL);
    if (!real)
        return NULL;
    full = ferry_strdup_printf("%s/%s", strcmp(real, "/") == 0 ? "" : real, slash + 1);
    free(real);
    return full;
}

static int check_path(struct agent *ag, const char *what, const char *path, struct ferry_error *err)
{
    _cleanup_free_ char *real = NULL;
    _cleanup_free_ char *image_dir = NULL;
    char list[1024] = "";
    size_t len = 0;

    if (!path)
        return 0;
    if (path[0] != '/')
        return ferry_error_set(err, EACCES, "%s: '%s' is not an absolute path", what, path);
    if (has_dotdot(path))
        return ferry_error_set(err, EACCES, "%s: '%s' contains a '..' component", what, path);
    real = resolve(path);
    if (!real)
        return ferry_error_set_errno(err, errno == ENOENT ? EACCES : errno,
                                     "%s: '%s' cannot be resolved", what, path);
    image_dir = realpath(ag->cfg.image_dir, NULL);
    if (image_dir && under(real, image_dir))
        return 0;
    for (size_t i = 0; i < n_roots; i++)
        if (under(real, roots[i]))
            return 0;
    len += (size_t)snprintf(list, sizeof list, "%s", image_dir ? image_dir : ag->cfg.image_dir);
    for (size_t i = 0; i < n_roots && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, ", %s", roots[i]);
    if (strcmp(real, path) != 0)
        return ferry_error_set(err, EACCES,
                               "%s: '%s' (resolving to '%s') is outside the storage roots (%s; "
                               "ferryd --storage-root)",
                               what, path, real, list);
    return ferry_error_set(err, EACCES,
                           "%s: '%s' is outside the storage roots (%s; ferryd --storage-root)",
                           what, path, list);
}

static const char *disk_path_for(const struct mig_params *mp, const struct domain_disk *d)
{
    if (!mp || !mig_params_copies_disk(mp, d))
        return d->source;
    for (size_t i = 0; i < mp->n_disk_paths; i++)
        if (strcmp(mp->disk_paths[i].target, d->target) == 0)
            return mp->disk_paths[i].path;
    /* Copied into the image dir unless the source's path is kept. */
    return mp->same_path ? d->source : NULL;
}

int agent_roots_check(struct agent *ag, const struct domain_def *def, const struct mig_params *mp,
                      struct ferry_error *err)
{
    int r;

    for (size_t i = 0; i < def->n_disks; i++) {
        const struct domain_disk *d = &def->disks[i];
        char what[64];

        snprintf(what, sizeof what, "%s '%s'", d->cdrom ? "cdrom" : "disk", d->target);
        if ((r = check_path(ag, what, disk_path_for(mp, d), err)) < 0)
            return r;
    }
    if ((r = check_path(ag, "<kernel>", def->kernel, err)) < 0 ||
        (r = check_path(ag, "<initrd>", def->initrd, err)) < 0 ||
        (r = check_path(ag, "<loader>", def->loader, err)) < 0 ||
        (r = check_path(ag, "<nvram>", def->nvram, err)) < 0 ||
        (r = check_path(ag, "<nvram template>", def->nvram_template, err)) < 0)
        return r;
    if (def->serial.type == DOMAIN_CHR_UNIX &&
        (r = check_path(ag, "<serial> socket", def->serial.path, err)) < 0)
        return r;
    return 0;
}
