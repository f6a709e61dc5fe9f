/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's guest verbs: the ACPI power button (shutdown), the
 * reboot libvirt calls ACPI mode (the power button, the guest's power-off
 * then turned into a reset), the reset button, and where the host reaches
 * the running guest's console, display and taps. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "qemu-priv.h"

#define GUEST_QMP_TIMEOUT_MS 30000

/* QEMU's action on a guest power-off: "poweroff" (QEMU exits, ferry's
 * default) or "pause" (kept, so that a reboot can reset it). */
static int set_shutdown_action(struct qmp_conn *qmp, const char *action, struct ferry_error *err)
{
    json_object *args = json_object_new_object();

    json_object_object_add(args, "shutdown", json_object_new_string(action));
    return qmp_conn_execute(qmp, "set-action", args, GUEST_QMP_TIMEOUT_MS, NULL, err);
}

int qemu_domain_power(struct agent *ag, struct agent_domain *dom, int how, struct ferry_error *err)
{
    struct qmp_conn *qmp = qemu_dom_qmp(dom, err);
    struct qemu_dom *p = dom->priv;
    int r;

    (void)ag;
    if (!qmp)
        return -ENOTCONN;
    switch (how) {
    case HV_POWER_RESET:
        return qmp_conn_execute(qmp, "system_reset", NULL, GUEST_QMP_TIMEOUT_MS, NULL, err);
    case HV_POWER_REBOOT:
        /* As libvirt's fake reboot: the guest shuts down as it would for
         * the power button, QEMU pauses it instead of exiting, and the
         * SHUTDOWN event resets and resumes it. Armed before the button
         * is pressed: the guest may act at once. */
        __atomic_store_n(&p->fake_reboot, true, __ATOMIC_SEQ_CST);
        if ((r = set_shutdown_action(qmp, "pause", err)) < 0) {
            __atomic_store_n(&p->fake_reboot, false, __ATOMIC_SEQ_CST);
            return r;
        }
        break;
    default:
        break;
    }
    r = qmp_conn_execute(qmp, "system_powerdown", NULL, GUEST_QMP_TIMEOUT_MS, NULL, err);
    if (r < 0 && how == HV_POWER_REBOOT) {
        __atomic_store_n(&p->fake_reboot, false, __ATOMIC_SEQ_CST);
        (void)set_shutdown_action(qmp, "poweroff", NULL);
    }
    return r;
}

struct reboot_arg {
    struct agent *ag;
    struct agent_domain *dom; /* a reference, dropped by the thread */
};

/* The second half of a reboot, off the monitor's event thread (which may
 * not wait for replies of its own connection). */
static void *reboot_thread(void *opaque)
{
    struct reboot_arg *a = opaque;
    struct ferry_error err = {0};
    struct qmp_conn *qmp = qemu_dom_qmp(a->dom, &err);

    if (qmp && (qmp_conn_execute(qmp, "system_reset", NULL, GUEST_QMP_TIMEOUT_MS, NULL, &err) < 0 ||
                set_shutdown_action(qmp, "poweroff", &err) < 0 ||
                qmp_conn_execute(qmp, "cont", NULL, GUEST_QMP_TIMEOUT_MS, NULL, &err) < 0))
        ferry_warn("domain '%s': reboot: %s", a->dom->def->name, err.msg);
    agent_domain_unref(a->ag, a->dom);
    free(a);
    return NULL;
}

void qemu_guest_on_shutdown(struct qemu_dom *p, json_object *data)
{
    json_object *guest = NULL;
    struct reboot_arg *a;
    pthread_attr_t attr;
    pthread_t t;

    /* Only the guest's own power-off: not QEMU's quit at a destroy. */
    if (!data || !json_object_object_get_ex(data, "guest", &guest) ||
        !json_object_get_boolean(guest) ||
        !__atomic_exchange_n(&p->fake_reboot, false, __ATOMIC_SEQ_CST))
        return;
    a = ferry_calloc(1, sizeof *a);
    a->ag = p->ag;
    a->dom = p->dom;
    agent_domain_ref(a->dom);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, reboot_thread, a) != 0) {
        ferry_warn("domain '%s': reboot: cannot start a thread", p->dom->def->name);
        agent_domain_unref(a->ag, a->dom);
        free(a);
    }
    pthread_attr_destroy(&attr);
}

/* "unix:/path,server=on" or "pty:/dev/pts/3" (query-chardev's filename). */
static void add_console(json_object *out, const char *filename)
{
    const char *type, *path;
    json_object *c;

    /* A socket with no client yet: "disconnected:unix:/path,server=on". */
    if (strncmp(filename, "disconnected:", 13) == 0)
        filename += 13;
    if (strncmp(filename, "unix:", 5) == 0) {
        type = "unix";
        path = filename + 5;
    } else if (strncmp(filename, "pty:", 4) == 0) {
        type = "pty";
        path = filename + 4;
    } else {
        return;
    }
    c = json_object_new_object();
    json_object_object_add(c, "type", json_object_new_string(type));
    json_object_object_add(c, "path", json_object_new_string_len(path, (int)strcspn(path, ",")));
    json_object_object_add(out, "console", c);
}

void qemu_domain_devices_info(struct agent *ag, struct agent_domain *dom, json_object *out)
{
    struct qemu_dom *p = dom->priv;
    struct qmp_conn *qmp = qemu_dom_qmp(dom, NULL);
    _cleanup_(json_object_putp) json_object *chr = NULL;
    _cleanup_(json_object_putp) json_object *vnc = NULL;
    json_object *taps;

    (void)ag;
    if (!qmp)
        return;
    if (qmp_conn_execute(qmp, "query-chardev", NULL, GUEST_QMP_TIMEOUT_MS, &chr, NULL) == 0 &&
        json_object_is_type(chr, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(chr); i++) {
            json_object *c = json_object_array_get_idx(chr, i), *label = NULL, *fn = NULL;

            if (json_object_object_get_ex(c, "label", &label) &&
                strcmp(json_object_get_string(label), "serial0") == 0 &&
                json_object_object_get_ex(c, "filename", &fn))
                add_console(out, json_object_get_string(fn));
        }
    }
    if (qmp_conn_execute(qmp, "query-vnc", NULL, GUEST_QMP_TIMEOUT_MS, &vnc, NULL) == 0) {
        json_object *en = NULL, *host = NULL, *service = NULL;

        if (json_object_object_get_ex(vnc, "enabled", &en) && json_object_get_boolean(en) &&
            json_object_object_get_ex(vnc, "host", &host) &&
            json_object_object_get_ex(vnc, "service", &service)) {
            long port = strtol(json_object_get_string(service), NULL, 10);
            _cleanup_free_ char *d =
                ferry_strdup_printf("%s:%ld", json_object_get_string(host), port - 5900);

            if (port >= 5900)
                json_object_object_add(out, "vnc", json_object_new_string(d));
        }
    }
    taps = json_object_new_array();
    for (size_t i = 0; i < dom->def->n_nics && i < DOMAIN_MAX_NICS; i++)
        json_object_array_add(taps, json_object_new_string(p->tap_names[i]));
    json_object_object_add(out, "taps", taps);
}
