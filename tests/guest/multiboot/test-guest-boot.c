/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* e2e: boots the ferry test guest under real QEMU and checks what it prints
 * on COM1: the banner, heartbeats once a second that keep counting, pages
 * dirtied at the configured rate, no stale page, and a warning for a bad
 * parameter. Exit 0 pass, 1 fail, 77 skip (no guest kernel or no QEMU). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "ferry-config.h"
#include "guest.h"
#include "util.h"

#define BOOT_TIMEOUT_MS 60000 /* TCG on a loaded 2-core machine */
#define BEATS_WANTED    5
#define BEAT_TIMEOUT_MS 20000 /* after the banner */

struct vm {
    pid_t pid;
    char serial[256];
    char qemu_log[256];
};

static int vm_start(struct vm *vm, const char *dir, const char *name, const char *append)
{
    char kernel_append[256];
    char serial_arg[300];
    _cleanup_close_ int logfd = -1;
    pid_t pid;

    snprintf(vm->serial, sizeof(vm->serial), "%s/%s.serial", dir, name);
    snprintf(vm->qemu_log, sizeof(vm->qemu_log), "%s/%s.qemu", dir, name);
    snprintf(serial_arg, sizeof(serial_arg), "file:%s", vm->serial);
    snprintf(kernel_append, sizeof(kernel_append), "%s", append);
    logfd = open(vm->qemu_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0)
        return -errno;

    const char *argv[] = {FERRY_QEMU_BINARY,
                          "-nodefaults",
                          "-display",
                          "none",
                          "-machine",
                          "pc",
                          "-accel",
                          guest_accel(),
                          "-m",
                          "256",
                          "-smp",
                          "1",
                          "-no-reboot",
                          "-serial",
                          serial_arg,
                          "-kernel",
                          guest_kernel_path(),
                          "-append",
                          kernel_append,
                          NULL};

    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    vm->pid = pid;
    return 0;
}

/* SIGTERM, then SIGKILL after 5 s; reaps the child. */
static void vm_stop(struct vm *vm)
{
    int64_t deadline = ferry_now_ms() + 5000;

    if (vm->pid <= 0)
        return;
    kill(vm->pid, SIGTERM);
    while (waitpid(vm->pid, NULL, WNOHANG) == 0) {
        if (ferry_now_ms() > deadline) {
            kill(vm->pid, SIGKILL);
            waitpid(vm->pid, NULL, 0);
            break;
        }
        usleep(20000);
    }
    vm->pid = 0;
}

static bool vm_exited(struct vm *vm)
{
    int status;

    if (waitpid(vm->pid, &status, WNOHANG) == vm->pid) {
        vm->pid = 0;
        return true;
    }
    return false;
}

static void dump_file(const char *path)
{
    _cleanup_free_ char *text = NULL;

    if (ferry_read_file(path, 1 << 20, &text, NULL, NULL) == 0)
        fprintf(stderr, "---- %s ----\n%s\n----\n", path, text);
}

/* Boots one guest with APPEND and checks its heartbeats: RATE_MIB is what
 * the guest must reach per heartbeat (within tolerance), WARNINGS the bad
 * parameters it must complain about. Returns 0 or -1. */
static int run_case(const char *dir, const char *name, const char *append, uint64_t rate_mib,
                    uint64_t warnings, bool want_corrupt)
{
    struct vm vm = {0};
    struct guest_log first = {0}, st = {0};
    struct ferry_error err = {0};
    int64_t start = ferry_now_ms(), t_first = 0, t_last = 0;
    int ret = -1;

    if (vm_start(&vm, dir, name, append) < 0) {
        fprintf(stderr, "%s: cannot start QEMU: %s\n", name, strerror(errno));
        return -1;
    }
    for (;;) {
        int64_t now = ferry_now_ms();

        if (guest_log_read(vm.serial, &st, &err) < 0) {
            fprintf(stderr, "%s: %s\n", name, ferry_error_msg(&err));
            goto out;
        }
        if (st.fatal || (st.corrupt_lines > 0 && !want_corrupt)) {
            fprintf(stderr, "%s: guest reported a fatal error or corruption\n", name);
            goto out;
        }
        if (st.heartbeats >= 1 && first.heartbeats == 0) {
            first = st;
            t_first = now;
        }
        if (first.heartbeats && st.heartbeats >= first.heartbeats + BEATS_WANTED) {
            t_last = now;
            break;
        }
        if (vm_exited(&vm)) {
            fprintf(stderr, "%s: QEMU exited early\n", name);
            goto out;
        }
        if (now - start > BOOT_TIMEOUT_MS ||
            (first.heartbeats && now - t_first > BEAT_TIMEOUT_MS)) {
            fprintf(stderr, "%s: timed out: booted=%d ready=%d heartbeats=%" PRIu64 "\n", name,
                    st.booted, st.ready, st.heartbeats);
            goto out;
        }
        usleep(100000);
    }

    uint64_t beats = st.alive - first.alive;
    uint64_t mib = st.dirtied_mib - first.dirtied_mib;
    double per_beat = (double)mib / (double)beats;
    double wall_s = (double)(t_last - t_first) / 1000.0;

    printf("%s: banner rate=%" PRIu64 " size=%" PRIu64 "; %" PRIu64 " heartbeats in %.1f s, "
           "%.1f MiB dirtied per heartbeat, errors %" PRIu64 ", warnings %" PRIu64 "\n",
           name, st.rate_mib, st.size_mib, beats, wall_s, per_beat, st.errors, st.warnings);
    if (!st.booted || !st.ready || st.rate_mib != rate_mib) {
        fprintf(stderr, "%s: banner missing or wrong rate\n", name);
        goto out;
    }
    if (beats != st.heartbeats - first.heartbeats) {
        fprintf(stderr, "%s: heartbeat counter skipped or repeated\n", name);
        goto out;
    }
    /* The guest paces by its TSC: one heartbeat per second of host time.
     * Polling adds up to 0.1 s per observation; be generous for TCG. */
    if (wall_s < (double)beats * 0.6 || wall_s > (double)beats * 2.0) {
        fprintf(stderr, "%s: %" PRIu64 " heartbeats took %.1f s\n", name, beats, wall_s);
        goto out;
    }
    /* MiB are printed rounded down, so allow one MiB of slack per beat. */
    if (per_beat < (double)rate_mib * 0.8 - 1 || per_beat > (double)rate_mib * 1.1 + 1) {
        fprintf(stderr, "%s: dirtied %.1f MiB per heartbeat, configured %" PRIu64 "\n", name,
                per_beat, rate_mib);
        goto out;
    }
    /* The self-test spoils exactly one page: one report, one error. */
    if (st.errors != (want_corrupt ? 1u : 0u) || st.corrupt_lines != (want_corrupt ? 1u : 0u) ||
        st.warnings != warnings) {
        fprintf(stderr,
                "%s: errors %" PRIu64 " corrupt lines %" PRIu64 " warnings %" PRIu64
                " (want %d, %d, %" PRIu64 ")\n",
                name, st.errors, st.corrupt_lines, st.warnings, want_corrupt, want_corrupt,
                warnings);
        goto out;
    }
    ret = 0;
out:
    vm_stop(&vm);
    if (ret < 0) {
        dump_file(vm.serial);
        dump_file(vm.qemu_log);
    }
    unlink(vm.serial);
    unlink(vm.qemu_log);
    return ret;
}

int main(void)
{
    char dir[] = "/tmp/ferry-guest-XXXXXX";
    struct stat stb;
    int failed = 0;

    if (guest_kernel_path()[0] == '\0' || stat(guest_kernel_path(), &stb) < 0) {
        printf("SKIP: the test guest kernel was not built (no gcc -m32 freestanding)\n");
        return 77;
    }
    if (access(FERRY_QEMU_BINARY, X_OK) != 0) {
        printf("SKIP: %s not found\n", FERRY_QEMU_BINARY);
        return 77;
    }
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    printf("accel %s, kernel %s\n", guest_accel(), guest_kernel_path());

    if (run_case(dir, "random", "rate=32 size=64 pattern=random", 32, 0, false) < 0)
        failed++;
    if (run_case(dir, "hot-page", "rate=16 size=32 pattern=hot hot=25 touch=page bogus=1", 16, 1,
                 false) < 0)
        failed++;
    /* The stale-page check must be able to fail, or a migration test that
     * relies on it proves nothing. */
    if (run_case(dir, "selftest", "rate=8 size=8 pattern=seq selftest=corrupt", 8, 0, true) < 0)
        failed++;
    rmdir(dir);
    printf("%d of 3 cases failed\n", failed);
    return failed ? 1 : 0;
}
