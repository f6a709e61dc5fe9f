/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Scope-bound cleanup helpers (GCC/Clang cleanup attribute) and ownership
 * hand-over macros, in the style of systemd and nbdkit. */
#ifndef FERRY_COMMON_CLEANUP_H
#define FERRY_COMMON_CLEANUP_H

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>

static inline void ferry_freep(void *p)
{
    free(*(void **)p);
}

static inline void ferry_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void ferry_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

#include <dirent.h>
static inline void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

#define _cleanup_(f)     __attribute__((cleanup(f)))
#define _cleanup_free_   _cleanup_(ferry_freep)
#define _cleanup_close_  _cleanup_(ferry_closep)
#define _cleanup_fclose_ _cleanup_(ferry_fclosep)

/* Defines NAMEp(T **p) that calls FUNC(*p) when *p is not NULL. */
#define FERRY_DEFINE_CLEANUP_FUNC(T, func)                                                         \
    static inline void func##p(T **p)                                                              \
    {                                                                                              \
        if (*p)                                                                                    \
            func(*p);                                                                              \
    }

/* Returns the pointer and leaves NULL behind: ownership moves to the caller. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _tp = (p);                                                                   \
        (p) = NULL;                                                                                \
        _tp;                                                                                       \
    })

#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _tfd = (fd);                                                                           \
        (fd) = -1;                                                                                 \
        _tfd;                                                                                      \
    })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
