/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferryctl's guest verbs, as virsh has them: shutdown, reboot, reset,
 * console, domiflist, domifaddr, domblkinfo, vncdisplay. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "cleanup.h"
#include "ctl.h"
#include "json-cleanup.h"
#include "util.h"

#define GUEST_CALL_TIMEOUT_MS 60000
#define CONSOLE_ESCAPE        0x1d /* ^], as virsh console */

static int call(const char *uri, const char *verb, const char *method, json_object *params,
                json_object **ret)
{
    return ctl_call_timeout(uri, verb, method, params, GUEST_CALL_TIMEOUT_MS, ret);
}

static json_object *name_params(const char *name)
{
    json_object *p = json_object_new_object();

    json_object_object_add(p, "name", json_object_new_string(name));
    return p;
}

static const char *str_or(json_object *o, const char *k, const char *dflt)
{
    json_object *v = NULL;

    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) &&
                   *json_object_get_string(v)
               ? json_object_get_string(v)
               : dflt;
}

static int usage_err(const char *text)
{
    fprintf(stderr, "Usage: ferryctl %s\n", text);
    return 2;
}

/* shutdown/reboot NAME [--mode acpi] [--timeout SEC], reset NAME. */
int ctl_cmd_power(const char *uri, int argc, char **argv)
{
    const char *verb = argv[0], *name = NULL, *mode = NULL;
    bool reset = strcmp(verb, "reset") == 0;
    uint64_t timeout = 0;
    json_object *p;
    int r;

    for (int i = 1; i < argc; i++) {
        if (!reset && strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            mode = argv[++i];
        } else if (strcmp(verb, "shutdown") == 0 && strcmp(argv[i], "--timeout") == 0 &&
                   i + 1 < argc) {
            if (ferry_parse_u64(argv[++i], &timeout) < 0 || timeout == 0 || timeout > 86400)
                return usage_err("shutdown NAME --timeout SECONDS (1..86400)");
        } else if (!name && argv[i][0] != '-') {
            name = argv[i];
        } else {
            name = NULL;
            break;
        }
    }
    if (!name)
        return usage_err(reset ? "reset NAME"
                               : "shutdown|reboot NAME [--mode acpi] [--timeout SEC (shutdown)]");
    p = name_params(name);
    if (mode)
        json_object_object_add(p, "mode", json_object_new_string(mode));
    r = call(uri, verb,
             reset                         ? "domain.reset"
             : strcmp(verb, "reboot") == 0 ? "domain.reboot"
                                           : "domain.shutdown",
             p, NULL);
    if (r != 0)
        return r;
    if (reset) {
        printf("Domain '%s' was reset\n", name);
        return 0;
    }
    printf("Domain '%s' is being %s\n", name,
           strcmp(verb, "reboot") == 0 ? "rebooted" : "shutdown");
    if (timeout) {
        /* virsh returns at once; --timeout waits for the guest to go. */
        int64_t deadline = ferry_now_ms() + (int64_t)timeout * 1000;

        for (;;) {
            _cleanup_(json_object_putp) json_object *st = NULL;

            if ((r = call(uri, verb, "domain.state", name_params(name), &st)) != 0)
                return r;
            if (strcmp(str_or(st, "state", ""), "shutoff") == 0) {
                printf("Domain '%s' is shut off\n", name);
                return 0;
            }
            if (ferry_now_ms() > deadline)
                break;
            usleep(200 * 1000);
        }
        fprintf(stderr,
                "ferryctl: shutdown: domain '%s' did not shut down within %" PRIu64
                " s (the guest ignored the power button?)\n",
                name, timeout);
        return 1;
    }
    return 0;
}

int ctl_cmd_domiflist(const char *uri, int argc, char **argv)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    const char *name = NULL;
    bool json = false, inactive = false;
    json_object *p, *arr;
    int r;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--inactive") == 0)
            inactive = true;
        else if (!name && argv[i][0] != '-')
            name = argv[i];
        else
            return usage_err("domiflist NAME [--inactive] [--json]");
    }
    if (!name)
        return usage_err("domiflist NAME [--inactive] [--json]");
    p = name_params(name);
    json_object_object_add(p, "inactive", json_object_new_boolean(inactive));
    if ((r = call(uri, "domiflist", "domain.iflist", p, &res)) != 0)
        return r;
    arr = json_object_object_get(res, "interfaces");
    if (json) {
        ctl_print_json(arr);
        return 0;
    }
    printf(" %-12s %-10s %-10s %-10s %s\n", "Interface", "Type", "Source", "Model", "MAC");
    printf("-------------------------------------------------------------------\n");
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *o = json_object_array_get_idx(arr, i);

        printf(" %-12s %-10s %-10s %-10s %s\n", str_or(o, "interface", "-"), str_or(o, "type", "-"),
               str_or(o, "source", "-"), str_or(o, "model", "-"), str_or(o, "mac", "-"));
    }
    return 0;
}

int ctl_cmd_domifaddr(const char *uri, int argc, char **argv)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    const char *name = NULL;
    bool json = false;
    json_object *arr;
    int r;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (!name && argv[i][0] != '-')
            name = argv[i];
        else
            return usage_err("domifaddr NAME [--json]");
    }
    if (!name)
        return usage_err("domifaddr NAME [--json]");
    if ((r = call(uri, "domifaddr", "domain.ifaddr", name_params(name), &res)) != 0)
        return r;
    arr = json_object_object_get(res, "interfaces");
    if (json) {
        ctl_print_json(arr);
        return 0;
    }
    printf(" %-20s %-10s %-20s %s\n", "MAC address", "Protocol", "Address", "Known from");
    printf("-------------------------------------------------------------------------------\n");
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *o = json_object_array_get_idx(arr, i), *prefix = NULL;
        const char *src = str_or(o, "source", "unknown");
        char addr[80];

        if (json_object_object_get_ex(o, "prefix", &prefix))
            snprintf(addr, sizeof addr, "%s/%d", str_or(o, "address", "-"),
                     json_object_get_int(prefix));
        else
            snprintf(addr, sizeof addr, "%s", str_or(o, "address", "-"));
        printf(" %-20s %-10s %-20s %s\n", str_or(o, "mac", "-"), str_or(o, "protocol", "-"), addr,
               !strcmp(src, "convention") ? "convention (QEMU user network's first lease)"
               : !strcmp(src, "arp")      ? "this host's ARP table"
                                          : "unknown (not in this host's ARP table)");
    }
    return 0;
}

int ctl_cmd_domblkinfo(const char *uri, int argc, char **argv)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    const char *name = NULL, *dev = NULL;
    bool json = false;
    json_object *p, *v = NULL;
    int r;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (!name && argv[i][0] != '-')
            name = argv[i];
        else if (!dev && argv[i][0] != '-')
            dev = argv[i];
        else
            return usage_err("domblkinfo NAME DEVICE [--json]");
    }
    if (!dev)
        return usage_err("domblkinfo NAME DEVICE [--json]");
    p = name_params(name);
    json_object_object_add(p, "device", json_object_new_string(dev));
    if ((r = call(uri, "domblkinfo", "domain.blkinfo", p, &res)) != 0)
        return r;
    if (json) {
        ctl_print_json(res);
        return 0;
    }
    printf("Capacity:       %" PRId64 "\n",
           json_object_object_get_ex(res, "capacity", &v) ? json_object_get_int64(v) : 0);
    printf("Allocation:     %" PRId64 "\n",
           json_object_object_get_ex(res, "allocation", &v) ? json_object_get_int64(v) : 0);
    printf("Physical:       %" PRId64 "\n",
           json_object_object_get_ex(res, "physical", &v) ? json_object_get_int64(v) : 0);
    return 0;
}

int ctl_cmd_vncdisplay(const char *uri, int argc, char **argv)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    const char *vnc;
    int r;

    if (argc != 2 || argv[1][0] == '-')
        return usage_err("vncdisplay NAME");
    if ((r = call(uri, "vncdisplay", "domain.devices", name_params(argv[1]), &res)) != 0)
        return r;
    vnc = str_or(res, "vnc", NULL);
    if (!vnc) {
        fprintf(stderr,
                "ferryctl: vncdisplay: domain '%s' has no VNC display (not running, or "
                "no <graphics type='vnc'>)\n",
                argv[1]);
        return 1;
    }
    printf("%s\n", vnc);
    return 0;
}

/* ---- console ---- */

static int console_open(const char *type, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strcmp(type, "pty") == 0)
        return open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static bool write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Relays between the terminal (or stdin/stdout) and the guest's serial
 * port until ^] on a terminal, the guest side closing, or, for a stdin
 * that is not a terminal, its end plus LINGER_MS of the guest's answer
 * (scripts: "echo ... | ferryctl console g"). TIMEOUT_MS > 0 bounds it. */
static int relay(int fd, bool tty, int64_t timeout_ms, int linger_ms)
{
    int64_t end = timeout_ms > 0 ? ferry_now_ms() + timeout_ms : 0;
    int64_t linger_end = 0;
    char buf[4096];

    for (;;) {
        struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN},
                                {.fd = linger_end ? -1 : 0, .events = POLLIN}};
        int64_t now = ferry_now_ms(), left = -1;
        ssize_t n;

        if (end)
            left = end - now;
        if (linger_end && (left < 0 || linger_end - now < left))
            left = linger_end - now;
        if (left == 0 || (left < 0 && (end || linger_end)))
            return 0;
        if (poll(pfd, 2, (int)left) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (pfd[0].revents) {
            n = read(fd, buf, sizeof buf);
            if (n <= 0)
                return 0; /* the guest side went away (the guest stopped) */
            if (!write_all(1, buf, (size_t)n))
                return -EPIPE;
        }
        if (pfd[1].revents) {
            n = read(0, buf, sizeof buf);
            if (n <= 0) {
                linger_end = ferry_now_ms() + linger_ms;
                continue;
            }
            if (tty && memchr(buf, CONSOLE_ESCAPE, (size_t)n))
                return 0;
            if (!write_all(fd, buf, (size_t)n))
                return 0;
        }
    }
}

int ctl_cmd_console(const char *uri, int argc, char **argv)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    const char *name = NULL, *type, *path;
    uint64_t timeout = 0;
    json_object *con = NULL;
    struct termios saved, raw;
    bool tty;
    int fd, r;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            if (ferry_parse_u64(argv[++i], &timeout) < 0 || timeout > 86400)
                return usage_err("console NAME [--timeout SEC]");
        } else if (!name && argv[i][0] != '-') {
            name = argv[i];
        } else {
            return usage_err("console NAME [--timeout SEC]");
        }
    }
    if (!name)
        return usage_err("console NAME [--timeout SEC]");
    if ((r = call(uri, "console", "domain.devices", name_params(name), &res)) != 0)
        return r;
    if (!json_object_object_get_ex(res, "console", &con)) {
        fprintf(stderr, "ferryctl: console: domain '%s' has no console (not running?)\n", name);
        return 1;
    }
    type = str_or(con, "type", "unix");
    path = str_or(con, "path", "");
    /* The agent names a path on its own host: this reaches it only when
     * ferryctl runs there too. */
    fd = console_open(type, path);
    if (fd < 0) {
        fprintf(stderr,
                "ferryctl: console: cannot open %s '%s': %s (ferryctl must run on the "
                "guest's host)\n",
                type, path, strerror(errno));
        return 1;
    }
    tty = isatty(0) && tcgetattr(0, &saved) == 0;
    if (tty) {
        fprintf(stderr, "Connected to domain '%s'\nEscape character is ^]\n", name);
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(0, TCSANOW, &raw);
    }
    r = relay(fd, tty, (int64_t)timeout * 1000, 2000);
    if (tty) {
        tcsetattr(0, TCSANOW, &saved);
        fprintf(stderr, "\n");
    }
    close(fd);
    if (r < 0) {
        fprintf(stderr, "ferryctl: console: %s\n", strerror(-r));
        return 1;
    }
    return 0;
}
