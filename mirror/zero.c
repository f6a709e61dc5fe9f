/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fast test for all-zero buffers: a zero block read from the source becomes
 * a write-zeroes request (or nothing), so the target stays sparse. */
#include <stdint.h>
#include <string.h>

#include "mir.h"

bool mir_is_zero(const void *buf, size_t len)
{
    const unsigned char *p = buf;

    /* Check the first 16 bytes by hand; then, if they are zero, the whole
     * buffer is zero exactly when it equals itself shifted by 16 bytes.
     * memcmp is vectorised by libc, so this runs near memory bandwidth and
     * stops at the first non-zero byte. */
    size_t head = len < 16 ? len : 16;
    for (size_t i = 0; i < head; i++)
        if (p[i])
            return false;
    if (len <= 16)
        return true;
    return memcmp(p, p + 16, len - 16) == 0;
}
