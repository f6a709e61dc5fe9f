/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control API's guest verbs, as virsh names them: shutdown, reboot
 * and reset (the driver's domain_power), the NICs and their addresses
 * (domiflist, domifaddr), a disk's sizes (domblkinfo), and where the host
 * reaches the running guest's console and display (console, vncdisplay). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "api-priv.h"
#include "cleanup.h"

FERRY_DEFINE_CLEANUP_FUNC(struct domain_def, domain_def_free)

#define ARP_TABLE "/proc/net/arp"
#define ARP_MAX   (1u << 20) /* bytes of the ARP table read */

/* shutdown, reboot, reset: refused, changing nothing, for a guest that is
 * not running, an incoming migration, and a guest a migration holds (the
 * button would reach a guest that is about to move, or has moved). */
static int power(struct api_ctx *ctx, json_object *params, int how, struct ferry_error *err)
{
    static const char *const verbs[] = {"shutdown", "reboot", "reset"};
    const struct hv_driver *drv = ctx->ag->driver;
    struct agent_domain *dom = NULL;
    const char *mode = NULL;
    int r;

    if ((r = api_param_str(params, "mode", false, &mode, err)) < 0)
        return r;
    /* virsh's other modes need a guest agent or a paravirtual channel. */
    if (mode && how != HV_POWER_RESET && strcmp(mode, "acpi") != 0)
        return ferry_error_set(err, EOPNOTSUPP, "%s: mode '%s' is not supported (acpi)", verbs[how],
                               mode);
    if (!drv->domain_power)
        return ferry_error_set(err, ENOTSUP, "driver '%s' cannot %s a domain", drv->name,
                               verbs[how]);
    if ((r = api_lookup_domain(ctx, params, &dom, err)) < 0)
        return r;
    pthread_mutex_lock(&dom->lock);
    if (!dom->active)
        r = ferry_error_set(err, EINVAL, "domain '%s' is not running", dom->def->name);
    else if (dom->incoming)
        r = ferry_error_set(err, EBUSY, "domain '%s' is an incoming migration", dom->def->name);
    else if (dom->job_busy)
        r = ferry_error_set(err, EBUSY, "domain '%s' has a migration job", dom->def->name);
    else
        r = drv->domain_power(ctx->ag, dom, how, err);
    pthread_mutex_unlock(&dom->lock);
    if (r < 0)
        ferry_error_prefix(err, "%s '%s'", verbs[how], dom->def->name);
    agent_domain_unref(ctx->ag, dom);
    return r;
}

int api_domain_shutdown(struct api_ctx *ctx, json_object *params, json_object **ret,
                        struct ferry_error *err)
{
    (void)ret;
    return power(ctx, params, HV_POWER_SHUTDOWN, err);
}

int api_domain_reboot(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err)
{
    (void)ret;
    return power(ctx, params, HV_POWER_REBOOT, err);
}

int api_domain_reset(struct api_ctx *ctx, json_object *params, json_object **ret,
                     struct ferry_error *err)
{
    (void)ret;
    return power(ctx, params, HV_POWER_RESET, err);
}

/* The driver's view of the running guest (console, vnc, taps), or an
 * empty object for a guest that does not run. */
static json_object *devices_info(struct api_ctx *ctx, struct agent_domain *dom)
{
    json_object *o = json_object_new_object();
    bool active;

    pthread_mutex_lock(&dom->lock);
    active = dom->active && !dom->incoming;
    pthread_mutex_unlock(&dom->lock);
    if (active && ctx->ag->driver->domain_devices_info)
        ctx->ag->driver->domain_devices_info(ctx->ag, dom, o);
    return o;
}

int api_domain_devices(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    int r;

    if ((r = api_lookup_domain(ctx, params, &dom, err)) < 0)
        return r;
    *ret = devices_info(ctx, dom);
    agent_domain_unref(ctx->ag, dom);
    return 0;
}

int api_domain_iflist(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err)
{
    _cleanup_(domain_def_freep) struct domain_def *def = NULL;
    struct agent_domain *dom = NULL;
    json_object *info, *taps = NULL, *arr;
    bool inactive = false;
    int r;

    if ((r = api_param_bool(params, "inactive", &inactive, err)) < 0 ||
        (r = api_lookup_domain(ctx, params, &dom, err)) < 0)
        return r;
    info = inactive ? json_object_new_object() : devices_info(ctx, dom);
    json_object_object_get_ex(info, "taps", &taps);
    pthread_mutex_lock(&dom->lock);
    def = domain_def_copy(inactive && dom->persistent_def ? dom->persistent_def : dom->def);
    pthread_mutex_unlock(&dom->lock);
    agent_domain_unref(ctx->ag, dom);
    arr = json_object_new_array();
    for (size_t i = 0; i < def->n_nics; i++) {
        const struct domain_nic *n = &def->nics[i];
        json_object *o = json_object_new_object();
        json_object *tap = taps ? json_object_array_get_idx(taps, i) : NULL;
        const char *ifname =
            tap && *json_object_get_string(tap) ? json_object_get_string(tap) : n->tap;

        json_object_object_add(o, "interface", json_object_new_string(ifname));
        json_object_object_add(o, "type", json_object_new_string(domain_nic_type_name(n->type)));
        json_object_object_add(o, "source", json_object_new_string(n->bridge));
        json_object_object_add(o, "model", json_object_new_string(domain_nic_model_name(n->model)));
        json_object_object_add(o, "mac", json_object_new_string(n->mac));
        json_object_array_add(arr, o);
    }
    json_object_put(info);
    *ret = json_object_new_object();
    json_object_object_add(*ret, "interfaces", arr);
    return 0;
}

/* The IPv4 address this host's ARP table holds for MAC, or NULL. */
static char *arp_lookup(const char *table, const char *mac)
{
    for (const char *p = table; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[256], ip[64], hw[32], flags[16];

        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
        p += len + (nl ? 1 : 0);
        /* "IP address  HW type  Flags  HW address  Mask  Device" */
        if (sscanf(line, "%63s %*s %15s %31s", ip, flags, hw) == 3 && strcasecmp(hw, mac) == 0 &&
            strtol(flags, NULL, 16) & 0x2 /* ATF_COM */)
            return ferry_strdup(ip);
    }
    return NULL;
}

int api_domain_ifaddr(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err)
{
    _cleanup_(domain_def_freep) struct domain_def *def = NULL;
    _cleanup_free_ char *arp = NULL;
    struct agent_domain *dom = NULL;
    size_t len;
    json_object *arr;
    int r;

    if ((r = api_lookup_domain(ctx, params, &dom, err)) < 0)
        return r;
    pthread_mutex_lock(&dom->lock);
    if (!dom->active)
        r = ferry_error_set(err, EINVAL, "domain '%s' is not running", dom->def->name);
    else
        def = domain_def_copy(dom->def);
    pthread_mutex_unlock(&dom->lock);
    agent_domain_unref(ctx->ag, dom);
    if (r < 0)
        return r;
    if (ferry_read_file(ARP_TABLE, ARP_MAX, &arp, &len, NULL) < 0)
        arp = ferry_strdup("");
    arr = json_object_new_array();
    for (size_t i = 0; i < def->n_nics; i++) {
        const struct domain_nic *n = &def->nics[i];
        json_object *o = json_object_new_object();

        json_object_object_add(o, "mac", json_object_new_string(n->mac));
        if (n->type == DOMAIN_NIC_USER) {
            /* QEMU's user network gives its first DHCP lease to 10.0.2.15
             * and keeps no table the host can read: known by convention,
             * and only when the guest took that lease. */
            json_object_object_add(o, "protocol", json_object_new_string("ipv4"));
            json_object_object_add(o, "address", json_object_new_string("10.0.2.15"));
            json_object_object_add(o, "prefix", json_object_new_int(24));
            json_object_object_add(o, "source", json_object_new_string("convention"));
        } else {
            _cleanup_free_ char *ip = arp_lookup(arp, n->mac);

            if (ip) {
                json_object_object_add(o, "protocol", json_object_new_string("ipv4"));
                json_object_object_add(o, "address", json_object_new_string(ip));
                json_object_object_add(o, "source", json_object_new_string("arp"));
            } else {
                /* The guest has not talked to this host (or not over IPv4). */
                json_object_object_add(o, "source", json_object_new_string("unknown"));
            }
        }
        json_object_array_add(arr, o);
    }
    *ret = json_object_new_object();
    json_object_object_add(*ret, "interfaces", arr);
    return 0;
}

/* Capacity (what the guest sees), allocation (bytes the host stores) and
 * physical size (the file's or device's size) of PATH in FORMAT. */
static int disk_sizes(const char *path, enum domain_disk_format format, uint64_t *cap,
                      uint64_t *alloc, uint64_t *phys, struct ferry_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;

    if (fd < 0 || fstat(fd, &st) < 0)
        return ferry_error_set_errno(err, errno, "cannot open '%s'", path);
    *phys = (uint64_t)st.st_size;
    *alloc = (uint64_t)st.st_blocks * 512;
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, phys) < 0)
            return ferry_error_set_errno(err, errno, "'%s': BLKGETSIZE64", path);
        *alloc = *phys;
    }
    *cap = *phys;
    if (format == DOMAIN_DISK_QCOW2) {
        /* The qcow2 header: magic "QFI\xfb", the virtual size at 24 (big
         * endian). */
        unsigned char h[32];

        if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h || memcmp(h, "QFI\xfb", 4) != 0)
            return ferry_error_set(err, EINVAL, "'%s' is not a qcow2 image", path);
        *cap = 0;
        for (int i = 24; i < 32; i++)
            *cap = *cap << 8 | h[i];
    }
    return 0;
}

int api_domain_blkinfo(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    _cleanup_free_ char *source = NULL;
    enum domain_disk_format format = DOMAIN_DISK_RAW;
    const char *device;
    uint64_t cap = 0, alloc = 0, phys = 0;
    int r;

    if ((r = api_param_str(params, "device", true, &device, err)) < 0 ||
        (r = api_lookup_domain(ctx, params, &dom, err)) < 0)
        return r;
    pthread_mutex_lock(&dom->lock);
    {
        /* By target ("vda") or by source path, as virsh takes either. */
        const struct domain_disk *d = NULL;

        for (size_t i = 0; i < dom->def->n_disks && !d; i++) {
            const struct domain_disk *x = &dom->def->disks[i];
            if (strcmp(x->target, device) == 0 || (x->source && strcmp(x->source, device) == 0))
                d = x;
        }
        if (!d)
            r = ferry_error_set(err, ENOENT, "domain '%s' has no disk '%s'", dom->def->name,
                                device);
        else {
            source = ferry_strdup(d->source);
            format = d->format;
        }
    }
    pthread_mutex_unlock(&dom->lock);
    agent_domain_unref(ctx->ag, dom);
    if (r < 0)
        return r;
    /* An empty CD-ROM tray: nothing to measure. */
    if (source && (r = disk_sizes(source, format, &cap, &alloc, &phys, err)) < 0) {
        ferry_error_prefix(err, "disk '%s'", device);
        return r;
    }
    *ret = json_object_new_object();
    json_object_object_add(*ret, "capacity", json_object_new_int64((int64_t)cap));
    json_object_object_add(*ret, "allocation", json_object_new_int64((int64_t)alloc));
    json_object_object_add(*ret, "physical", json_object_new_int64((int64_t)phys));
    return 0;
}
