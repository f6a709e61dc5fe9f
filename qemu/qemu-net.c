/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The host side of a guest's NICs of type ethernet and bridge: ferryd
 * opens the tap device itself (/dev/net/tun, TUNSETIFF), brings it up,
 * attaches it to the bridge, and hands QEMU the descriptor (-netdev
 * tap,fd=N), as libvirt does; QEMU needs no privilege for it. The tap is
 * not persistent: it goes away with the last descriptor, when QEMU exits. */
#include "qemu-cmdline.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

/* Descriptors handed to QEMU are moved above this, so the child can place
 * them at 3, 4, ... without overwriting one it has yet to move. */
#define TAP_FD_FLOOR 100

static int tap_up(const char *name, const char *bridge, struct ferry_error *err)
{
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};

    if (s < 0)
        return ferry_error_set_errno(err, errno, "socket");
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return ferry_error_set_errno(err, errno, "tap '%s': SIOCGIFFLAGS", name);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        return ferry_error_set_errno(err, errno, "tap '%s': cannot bring it up", name);
    if (!bridge)
        return 0;
    if (ioctl(s, SIOCGIFINDEX, &ifr) < 0)
        return ferry_error_set_errno(err, errno, "tap '%s': SIOCGIFINDEX", name);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", bridge);
    if (ioctl(s, SIOCBRADDIF, &ifr) < 0)
        return ferry_error_set_errno(err, errno, "tap '%s': cannot attach it to bridge '%s'", name,
                                     bridge);
    return 0;
}

int qemu_net_check(const struct domain_def *def, struct ferry_error *err)
{
    for (size_t i = 0; i < def->n_nics; i++) {
        const struct domain_nic *nic = &def->nics[i];
        _cleanup_free_ char *path = NULL;

        if (nic->type != DOMAIN_NIC_BRIDGE)
            continue;
        path = ferry_strdup_printf("/sys/class/net/%s/bridge", nic->bridge);
        if (access(path, F_OK) < 0)
            return ferry_error_set(err, ENODEV,
                                   "interface '%s': bridge '%s' not found on this host", nic->mac,
                                   nic->bridge);
    }
    return 0;
}

static int tap_open(const struct domain_nic *nic, char *name, struct ferry_error *err)
{
    _cleanup_close_ int fd = -1;
    struct ifreq ifr = {0};
    int r, moved;

    fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return ferry_error_set_errno(err, errno, "interface '%s': cannot open /dev/net/tun",
                                     nic->mac);
    /* The virtio-net header lets QEMU pass offloads (checksum, TSO); the
     * other models do not use it. */
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (nic->model == DOMAIN_NIC_VIRTIO ? IFF_VNET_HDR : 0);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", nic->tap[0] ? nic->tap : "vnet%d");
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        return ferry_error_set_errno(err, errno, "interface '%s': cannot create tap '%s'", nic->mac,
                                     ifr.ifr_name);
    r = tap_up(ifr.ifr_name, nic->type == DOMAIN_NIC_BRIDGE ? nic->bridge : NULL, err);
    if (r < 0) {
        ferry_error_prefix(err, "interface '%s'", nic->mac);
        return r;
    }
    snprintf(name, DOMAIN_IFNAME_MAX, "%s", ifr.ifr_name);
    moved = fcntl(fd, F_DUPFD_CLOEXEC, TAP_FD_FLOOR);
    if (moved < 0)
        return ferry_error_set_errno(err, errno, "interface '%s': F_DUPFD", nic->mac);
    return moved;
}

int qemu_net_open(const struct domain_def *def, int *fds, char (*names)[DOMAIN_IFNAME_MAX],
                  struct ferry_error *err)
{
    int r;

    for (size_t i = 0; i < def->n_nics; i++) {
        fds[i] = -1;
        names[i][0] = '\0';
    }
    if ((r = qemu_net_check(def, err)) < 0)
        return r;
    for (size_t i = 0; i < def->n_nics; i++) {
        if (def->nics[i].type == DOMAIN_NIC_USER)
            continue;
        r = tap_open(&def->nics[i], names[i], err);
        if (r < 0) {
            qemu_net_close(fds, def->n_nics);
            return r;
        }
        fds[i] = r;
    }
    return 0;
}

void qemu_net_close(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}
