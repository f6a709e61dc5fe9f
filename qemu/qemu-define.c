/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the QEMU driver fixes at define and checks before a migration:
 * the guest ABI pinned from this host's QEMU (the machine type an alias
 * resolves to, the CPU model), and whether a host's QEMU has them. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "ferry-config.h"
#include "json-cleanup.h"
#include "qemu-cmdline.h"
#include "qemu-priv.h"

#define QEMU_QMP_TIMEOUT_MS 30000

/* The host QEMU's machine types and CPU models, read once: the binary
 * does not change under a running agent. */
static pthread_mutex_t machines_lock = PTHREAD_MUTEX_INITIALIZER;
static struct qemu_machines machines;
static bool machines_loaded;
static struct qemu_cpus cpus;
static bool cpus_loaded;

/* Under machines_lock. */
static int load_lists(struct ferry_error *err)
{
    int r;

    if (!machines_loaded) {
        if ((r = qemu_machines_query(qemu_drv.binary, &machines, err)) < 0)
            return r;
        machines_loaded = true;
    }
    if (!cpus_loaded) {
        if ((r = qemu_cpus_query(qemu_drv.binary, &cpus, err)) < 0)
            return r;
        cpus_loaded = true;
    }
    return 0;
}

/* Pins DEF's guest ABI: its machine alias (or QEMU_MACHINE_DEFAULT when it
 * has none) becomes the versioned name this host's QEMU resolves it to; no
 * <cpu> becomes the named model QEMU_CPU_DEFAULT, and a named model must
 * be one this QEMU has. */
int qemu_pin_abi(struct domain_def *def, struct ferry_error *err)
{
    char pinned[DOMAIN_MACHINE_MAX];
    int r;

    pthread_mutex_lock(&machines_lock);
    r = load_lists(err);
    if (r == 0)
        r = qemu_machines_resolve(&machines, def->machine[0] ? def->machine : QEMU_MACHINE_DEFAULT,
                                  pinned, err);
    if (r == 0 && def->cpu.mode == DOMAIN_CPU_ABSENT) {
        def->cpu.mode = DOMAIN_CPU_CUSTOM;
        snprintf(def->cpu.model, sizeof def->cpu.model, "%s", QEMU_CPU_DEFAULT);
    }
    if (r == 0 && def->cpu.mode == DOMAIN_CPU_CUSTOM)
        r = qemu_cpus_check(&cpus, def->cpu.model, err);
    pthread_mutex_unlock(&machines_lock);
    if (r < 0)
        return r;
    snprintf(def->machine, sizeof def->machine, "%s", pinned);
    return 0;
}

int qemu_abi_check(const struct domain_def *def, struct ferry_error *err)
{
    int r;

    pthread_mutex_lock(&machines_lock);
    r = load_lists(err);
    if (r == 0 && def->machine[0])
        r = qemu_machines_check(&machines, def->machine, err);
    if (r == 0 && def->cpu.mode == DOMAIN_CPU_CUSTOM)
        r = qemu_cpus_check(&cpus, def->cpu.model, err);
    pthread_mutex_unlock(&machines_lock);
    /* host-passthrough and host-model ask for this host's CPU: ferry does
     * not compare two hosts' CPUs (libvirt neither, for passthrough). */
    return r;
}

FERRY_DEFINE_CLEANUP_FUNC(struct domain_def, domain_def_free)

int qemu_domain_define(struct agent *ag, struct domain_def *def, struct ferry_error *err)
{
    (void)ag;
    if (def->native_xml) {
        /* A <domain type='xen'> document (ferryctl domxml-from-native
         * xen-xl makes them): read again by the QEMU driver's rules, so it
         * is defined where QEMU can give the guest what it says and
         * refused, naming what, where it cannot (a xenfv machine, a
         * rename-restart). */
        _cleanup_(domain_def_freep) struct domain_def *q = NULL;
        struct domain_def tmp;
        int r = domain_def_parse_flags(def->native_xml, strlen(def->native_xml),
                                       DOMAIN_PARSE_NOT_XEN, &q, err);

        if (r < 0) {
            ferry_error_prefix(err, "<domain type='xen'> on the QEMU driver");
            return r;
        }
        /* Its ignored list is the one the caller reports. */
        tmp = *def;
        *def = *q;
        *q = tmp;
        /* Xen's HVM machine is an i440fx PC with a Xen platform device,
         * which means nothing outside Xen: the PC it is built on, said. */
        if (!strcmp(def->machine, "xenfv") || !strncmp(def->machine, "xenfv-", 6)) {
            def->machine[0] = '\0';
            if (def->n_ignored < DOMAIN_MAX_IGNORED)
                def->ignored[def->n_ignored++] = ferry_strdup("os/type@machine");
        }
    }
    qemu_firmware_define(def);
    return qemu_pin_abi(def, err);
}
