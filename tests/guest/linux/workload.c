// SPDX-License-Identifier: LGPL-2.1-or-later
/* ferry-workload: the program the Linux test guest runs (tests/guest/linux/README.md). It writes
 * numbered, checksummed 4 KiB records to its virtio disk with O_DIRECT at a set rate, journals in
 * RAM every record the kernel acknowledged, sends numbered UDP heartbeats to the host, and on a
 * "selfcheck" line from the console re-reads the disk and prints one verdict line. Statically
 * linked: the initramfs has no libc. Settings come from /proc/cmdline (ferry.*=...). */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* One record per 4 KiB block: the O_DIRECT alignment of any disk we meet, and the unit a
 * torn write cannot split on virtio-blk. */
#define REC_SIZE      4096u
#define REC_MAGIC     "FERRYREC"
#define MAX_BATCH_KIB 4096u
/* The journal costs 16 bytes per 4 KiB of disk; refuse spans whose journal would not fit a
 * small guest (1 GiB of RAM covers 256 GiB, far more than any test disk). */
#define MAX_SLOTS   (64u << 20)
#define CMDLINE_MAX 4096

/* On-disk record header; the rest of the block is a payload derived from (gen, seq). All
 * fields little-endian (x86). crc: CRC-32 (IEEE, zlib's) of the whole block with crc = 0, so
 * host tools can check an image with Python's zlib.crc32. */
struct rec_header {
    char magic[8];
    uint64_t seq;  /* record number, 1-based, increasing over the whole run */
    uint64_t gen;  /* generation: one per boot of the workload */
    uint64_t slot; /* block index on the disk, in REC_SIZE units */
    uint32_t crc;
    uint32_t reserved;
};

/* The journal: for each slot, the last record written there that the kernel acknowledged.
 * seq == 0: nothing acknowledged in this slot (never written, or its last write failed). */
struct journal_entry {
    uint64_t seq;
    uint32_t crc;
    uint32_t pad;
};

struct settings {
    char disk[256];
    double rate_mib;   /* MiB/s, 0 = as fast as the disk takes them */
    unsigned batch;    /* records per write request */
    uint64_t span_mib; /* MiB of the disk to use from offset 0; 0 = all of it */
    char hb_addr[64];  /* IPv4 address of the heartbeat receiver; "" = no heartbeat */
    unsigned hb_port;
    unsigned hb_ms; /* heartbeat interval */
    uint64_t gen;
};

static struct settings cfg = {
    .disk = "/dev/vda",
    .rate_mib = 16,
    .batch = 16,
    .hb_ms = 10,
};

/* Writer state, all under mu: the writer holds mu across each write and its journal update,
 * so the self-check (which takes mu) sees the disk and the journal agree. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t resume_cond = PTHREAD_COND_INITIALIZER;
static bool paused;
static struct journal_entry *journal; /* nslots entries */
static uint64_t nslots;
static uint64_t next_slot;
static uint64_t last_seq;       /* last acknowledged record number */
static uint64_t write_errors;   /* failed or short write requests */
static uint64_t journal_filled; /* slots with seq != 0 */
static int disk_fd = -1;

/* Heartbeat counters, owned by the heartbeat thread; read racily for status lines. */
static volatile uint64_t hb_sent, hb_errors;

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

/* One whole line to the console: threads never interleave inside a line. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&out_mu);
    fprintf(stdout, "%s\n", line);
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
}

static uint64_t now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u), .tv_nsec = (long)(t % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib) ---- */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_ieee(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t c = 0xffffffffu;
    while (len--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* ---- records ---- */

/* Fills BLOCK (REC_SIZE bytes) with record SEQ for SLOT; returns its CRC. */
static uint32_t record_fill(void *block, uint64_t seq, uint64_t slot)
{
    struct rec_header *h = block;
    memcpy(h->magic, REC_MAGIC, sizeof(h->magic));
    h->seq = seq;
    h->gen = cfg.gen;
    h->slot = slot;
    h->crc = 0;
    h->reserved = 0;
    /* xorshift64 seeded by (gen, seq): every record's payload differs. */
    uint64_t x = (cfg.gen ^ (seq * 0x9e3779b97f4a7c15ull)) | 1;
    uint64_t *w = (uint64_t *)(h + 1);
    for (size_t i = 0; i < (REC_SIZE - sizeof(*h)) / 8; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w[i] = x;
    }
    h->crc = crc32_ieee(block, REC_SIZE);
    return h->crc;
}

/* Why the block read back for journal entry J in SLOT is not the record written there, or
 * NULL when it is. *ret_found: the record number found (0 if none). */
static const char *record_check(const void *block, uint64_t slot, const struct journal_entry *j,
                                uint64_t *ret_found)
{
    const struct rec_header *h = block;
    *ret_found = 0;
    if (memcmp(h->magic, REC_MAGIC, sizeof(h->magic)) != 0)
        return "magic";
    *ret_found = h->seq;
    if (h->seq != j->seq)
        return "seq";
    if (h->gen != cfg.gen)
        return "gen";
    if (h->slot != slot)
        return "slot";
    static uint8_t copy[REC_SIZE];
    memcpy(copy, block, REC_SIZE);
    ((struct rec_header *)copy)->crc = 0;
    uint32_t c = crc32_ieee(copy, REC_SIZE);
    if (c != h->crc || c != j->crc)
        return "crc";
    return NULL;
}

/* ---- settings ---- */

static int parse_u64(const char *s, uint64_t *ret)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

/* Reads ferry.* settings from /proc/cmdline (the kernel hands dotted parameters to nobody, so
 * they reach us only there). Returns 0 or a negative errno with a message printed. */
static int settings_load(const char *path)
{
    char buf[CMDLINE_MAX];
    FILE *f = fopen(path, "re");
    if (!f) {
        say("FERRY-ERROR settings: %s: %s", path, strerror(errno));
        return -errno;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;

    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
        if (strncmp(tok, "ferry.", 6) != 0)
            continue;
        char *key = tok + 6, *val = strchr(key, '=');
        if (!val)
            continue;
        *val++ = 0;
        uint64_t v = 0;
        int r = 0;
        if (strcmp(key, "disk") == 0) {
            if (strlen(val) >= sizeof(cfg.disk))
                r = -ENAMETOOLONG;
            else
                snprintf(cfg.disk, sizeof(cfg.disk), "%s", val);
        } else if (strcmp(key, "rate") == 0) {
            char *end;
            cfg.rate_mib = strtod(val, &end);
            if (end == val || *end || !isfinite(cfg.rate_mib) || cfg.rate_mib < 0)
                r = -EINVAL;
        } else if (strcmp(key, "bs") == 0) {
            r = parse_u64(val, &v);
            if (!r && (v < 4 || v > MAX_BATCH_KIB || v % 4))
                r = -EINVAL;
            cfg.batch = (unsigned)(v / 4);
        } else if (strcmp(key, "span") == 0) {
            r = parse_u64(val, &cfg.span_mib);
            if (!r && cfg.span_mib > (UINT64_MAX >> 20))
                r = -ERANGE;
        } else if (strcmp(key, "hb") == 0) {
            char *colon = strrchr(val, ':');
            struct in_addr a;
            if (!colon || (size_t)(colon - val) >= sizeof(cfg.hb_addr))
                r = -EINVAL;
            else {
                *colon = 0;
                r = parse_u64(colon + 1, &v);
                if (!r && (v == 0 || v > 65535 || inet_pton(AF_INET, val, &a) != 1))
                    r = -EINVAL;
                if (!r) {
                    snprintf(cfg.hb_addr, sizeof(cfg.hb_addr), "%s", val);
                    cfg.hb_port = (unsigned)v;
                }
                *colon = ':'; /* whole in the error message */
            }
        } else if (strcmp(key, "hbms") == 0) {
            r = parse_u64(val, &v);
            if (!r && (v == 0 || v > 60000))
                r = -EINVAL;
            cfg.hb_ms = (unsigned)v;
        } else if (strcmp(key, "gen") == 0) {
            r = parse_u64(val, &cfg.gen);
        }
        if (r < 0) {
            say("FERRY-ERROR settings: ferry.%s=%s: %s", key, val, strerror(-r));
            return r;
        }
    }
    /* GRND_INSECURE: plain getrandom() blocks until the CRNG is seeded, over a second
     * after boot under TCG; a generation only has to differ between boots. */
    if (cfg.gen == 0 && getrandom(&cfg.gen, sizeof(cfg.gen), GRND_INSECURE) != sizeof(cfg.gen))
        cfg.gen = now_ns(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 48);
    cfg.gen &= 0x7fffffffffffffffull; /* printable as a signed number by any tool */
    if (cfg.gen == 0)
        cfg.gen = 1;
    return 0;
}

/* ---- disk ---- */

/* Opens the disk with O_DIRECT (waiting for it to appear: module probing may still run) and
 * sizes the journal. */
static int disk_open(void)
{
    for (int i = 0; i < 200; i++) {
        disk_fd = open(cfg.disk, O_RDWR | O_DIRECT | O_CLOEXEC);
        if (disk_fd >= 0 || errno != ENOENT)
            break;
        usleep(50000);
    }
    if (disk_fd < 0) {
        say("FERRY-ERROR disk: open %s: %s", cfg.disk, strerror(errno));
        return -errno;
    }
    uint64_t size = 0;
    if (ioctl(disk_fd, BLKGETSIZE64, &size) < 0) {
        struct stat st;
        if (fstat(disk_fd, &st) < 0) {
            say("FERRY-ERROR disk: %s: size: %s", cfg.disk, strerror(errno));
            return -errno;
        }
        size = (uint64_t)st.st_size;
    }
    if (cfg.span_mib && cfg.span_mib << 20 < size)
        size = cfg.span_mib << 20;
    nslots = size / REC_SIZE;
    if (nslots == 0 || nslots > MAX_SLOTS) {
        say("FERRY-ERROR disk: %s: %" PRIu64 " bytes to use: need 4 KiB to %u GiB", cfg.disk, size,
            MAX_SLOTS / 262144u);
        return -EINVAL;
    }
    journal = calloc(nslots, sizeof(*journal));
    if (!journal) {
        say("FERRY-ERROR disk: journal of %" PRIu64 " slots: out of memory", nslots);
        return -ENOMEM;
    }
    return 0;
}

static void *writer_main(void *arg)
{
    (void)arg;
    uint8_t *buf;
    if (posix_memalign((void **)&buf, REC_SIZE, (size_t)cfg.batch * REC_SIZE) != 0) {
        say("FERRY-ERROR writer: out of memory");
        return NULL;
    }
    uint32_t *crcs = calloc(cfg.batch, sizeof(*crcs));
    if (!crcs) {
        say("FERRY-ERROR writer: out of memory");
        return NULL;
    }
    double bytes_per_ns = cfg.rate_mib * 1048576.0 / 1e9;
    uint64_t t0 = now_ns(CLOCK_MONOTONIC), sent = 0;

    for (;;) {
        pthread_mutex_lock(&mu);
        while (paused)
            pthread_cond_wait(&resume_cond, &mu);
        uint64_t slot = next_slot;
        unsigned n = cfg.batch;
        if (n > nslots - slot)
            n = (unsigned)(nslots - slot);
        for (unsigned i = 0; i < n; i++)
            crcs[i] = record_fill(buf + (size_t)i * REC_SIZE, last_seq + 1 + i, slot + i);
        size_t len = (size_t)n * REC_SIZE;
        ssize_t w = pwrite(disk_fd, buf, len, (off_t)(slot * REC_SIZE));
        if (w == (ssize_t)len) {
            for (unsigned i = 0; i < n; i++) {
                struct journal_entry *j = &journal[slot + i];
                journal_filled += j->seq == 0;
                j->seq = last_seq + 1 + i;
                j->crc = crcs[i];
            }
            last_seq += n;
        } else {
            /* Not acknowledged: what those blocks hold now is unknown, so the journal
             * forgets them rather than expect either the old or the new record. */
            int e = w < 0 ? errno : EIO;
            for (unsigned i = 0; i < n; i++) {
                journal_filled -= journal[slot + i].seq != 0;
                journal[slot + i].seq = 0;
            }
            if (write_errors++ < 10)
                say("FERRY-ERROR write: slot %" PRIu64 " x%u: %s", slot, n, strerror(e));
        }
        next_slot = (slot + n) % nslots;
        pthread_mutex_unlock(&mu);

        if (bytes_per_ns > 0) {
            sent += len;
            uint64_t due = t0 + (uint64_t)((double)sent / bytes_per_ns),
                     now = now_ns(CLOCK_MONOTONIC);
            if (now + 1000000000u < due || now > due + 1000000000u) {
                /* Over a second off schedule (the VM was stopped, or the disk is slower
                 * than the rate): restart the schedule rather than burst to catch up. */
                t0 = now;
                sent = 0;
            } else if (due > now) {
                sleep_until_ns(due);
            }
        }
    }
    return NULL;
}

/* Re-reads every slot the journal holds, bypassing the page cache (O_DIRECT), and writes the
 * verdict line to OUT. Holds mu throughout, so no write is in flight and the journal is still. */
static void selfcheck(char *out, size_t outlen)
{
    enum { CHUNK_SLOTS = 256 }; /* 1 MiB reads */
    uint64_t t_start = now_ns(CLOCK_MONOTONIC);
    uint8_t *buf;
    if (posix_memalign((void **)&buf, REC_SIZE, CHUNK_SLOTS * REC_SIZE) != 0) {
        snprintf(out, outlen, "FERRY-SELFCHECK fail reason=nomem");
        return;
    }
    pthread_mutex_lock(&mu);
    uint64_t checked = 0, bad = 0, first_slot = 0, first_seq = 0, first_found = 0;
    const char *first_why = NULL;
    for (uint64_t base = 0; base < nslots; base += CHUNK_SLOTS) {
        uint64_t n = nslots - base < CHUNK_SLOTS ? nslots - base : CHUNK_SLOTS;
        bool any = false;
        for (uint64_t i = 0; i < n && !any; i++)
            any = journal[base + i].seq != 0;
        if (!any)
            continue;
        ssize_t r = pread(disk_fd, buf, n * REC_SIZE, (off_t)(base * REC_SIZE));
        for (uint64_t i = 0; i < n; i++) {
            const struct journal_entry *j = &journal[base + i];
            if (j->seq == 0)
                continue;
            checked++;
            uint64_t found = 0;
            const char *why = r == (ssize_t)(n * REC_SIZE)
                                  ? record_check(buf + i * REC_SIZE, base + i, j, &found)
                                  : "read";
            if (why && bad++ == 0) {
                first_why = why;
                first_slot = base + i;
                first_seq = j->seq;
                first_found = found;
            }
        }
    }
    uint64_t ms = (now_ns(CLOCK_MONOTONIC) - t_start) / 1000000u;
    if (bad)
        snprintf(
            out, outlen,
            "FERRY-SELFCHECK fail record=%" PRIu64 " slot=%" PRIu64 " reason=%s found=%" PRIu64
            " bad=%" PRIu64 " records=%" PRIu64 " last=%" PRIu64 " gen=%" PRIu64 " ms=%" PRIu64,
            first_seq, first_slot, first_why, first_found, bad, checked, last_seq, cfg.gen, ms);
    else
        snprintf(out, outlen,
                 "FERRY-SELFCHECK ok records=%" PRIu64 " last=%" PRIu64 " write_errors=%" PRIu64
                 " gen=%" PRIu64 " ms=%" PRIu64,
                 checked, last_seq, write_errors, cfg.gen, ms);
    pthread_mutex_unlock(&mu);
    free(buf);
}

/* ---- heartbeat ---- */

/* The heartbeat's socket: the heartbeat thread sends from it, the control thread receives
 * the host's commands on it (replies to our datagrams, which QEMU's user networking
 * delivers back to this socket). */
static int hb_sock = -1;

static void *heartbeat_main(void *arg)
{
    (void)arg;
    int s = hb_sock;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.hb_port)};
    inet_pton(AF_INET, cfg.hb_addr, &to.sin_addr);
    uint64_t period = (uint64_t)cfg.hb_ms * 1000000u, due = now_ns(CLOCK_MONOTONIC);
    for (uint64_t seq = 1;; seq++) {
        char msg[96];
        int len = snprintf(msg, sizeof(msg), "FERRY-HB %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", seq,
                           cfg.gen, now_ns(CLOCK_MONOTONIC) / 1000u);
        if (sendto(s, msg, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to)) == len)
            hb_sent++;
        else
            hb_errors++;
        due += period;
        uint64_t now = now_ns(CLOCK_MONOTONIC);
        if (now > due + period)
            due = now; /* fell behind (VM stopped): no burst of catch-up datagrams */
        else
            sleep_until_ns(due);
    }
    return NULL;
}

/* ---- console ---- */

static void status(char *out, size_t outlen)
{
    pthread_mutex_lock(&mu);
    snprintf(out, outlen,
             "FERRY-STATUS last=%" PRIu64 " records=%" PRIu64 " slots=%" PRIu64
             " next_slot=%" PRIu64 " write_errors=%" PRIu64 " hb_sent=%" PRIu64
             " hb_errors=%" PRIu64 " paused=%d gen=%" PRIu64,
             last_seq, journal_filled, nslots, next_slot, write_errors, hb_sent, hb_errors, paused,
             cfg.gen);
    pthread_mutex_unlock(&mu);
}

static void set_paused(bool p, char *out, size_t outlen)
{
    pthread_mutex_lock(&mu);
    paused = p;
    pthread_cond_broadcast(&resume_cond);
    /* Holding mu: no write is in flight, so "last" is the final acknowledged record. */
    snprintf(out, outlen, "FERRY-%s last=%" PRIu64, p ? "PAUSED" : "RESUMED", last_seq);
    pthread_mutex_unlock(&mu);
}

/* Runs one command from the console or the network; its reply line goes to OUT. */
static void run_command(const char *cmd, char *out, size_t outlen)
{
    if (strcmp(cmd, "selfcheck") == 0)
        selfcheck(out, outlen);
    else if (strcmp(cmd, "status") == 0)
        status(out, outlen);
    else if (strcmp(cmd, "pause") == 0)
        set_paused(true, out, outlen);
    else if (strcmp(cmd, "resume") == 0)
        set_paused(false, out, outlen);
    else
        snprintf(out, outlen,
                 "FERRY-ERROR unknown command '%.64s' (selfcheck, status, pause, resume)", cmd);
}

/* No echo on the serial console: the host reads our lines, not its own commands. */
static void console_setup(void)
{
    struct termios t;
    if (tcgetattr(STDIN_FILENO, &t) == 0) {
        t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        t.c_lflag |= ICANON;
        t.c_iflag |= ICRNL;
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
}

/* ---- commands from the network ---- */

/* Commands from the host over the heartbeat's flow, for hosts whose serial port is an output
 * file (ferryd's): "FERRY-CMD <nonce> <command>", answered to the sender with
 * "FERRY-REPLY <nonce> <reply line>". The reply also goes to the console, for its log. A
 * lost datagram is the host's to resend; commands are idempotent apart from pause/resume. */
static void *control_main(void *arg)
{
    (void)arg;
    for (;;) {
        char msg[256], cmd[64], reply[512], out[600];
        struct sockaddr_in from;
        socklen_t fromlen = sizeof(from);
        ssize_t n = recvfrom(hb_sock, msg, sizeof(msg) - 1, 0, (struct sockaddr *)&from, &fromlen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            say("FERRY-ERROR control: recvfrom: %s", strerror(errno));
            return NULL;
        }
        msg[n] = 0;
        unsigned long long nonce;
        if (sscanf(msg, "FERRY-CMD %llu %63s", &nonce, cmd) != 2)
            continue; /* not for us */
        run_command(cmd, reply, sizeof(reply));
        say("%s", reply);
        int len = snprintf(out, sizeof(out), "FERRY-REPLY %llu %s\n", nonce, reply);
        if (sendto(hb_sock, out, (size_t)len, 0, (struct sockaddr *)&from, fromlen) != len)
            say("FERRY-ERROR control: reply: %s", strerror(errno));
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *cmdline = argc > 1 ? argv[1] : "/proc/cmdline";
    crc_init();
    if (settings_load(cmdline) < 0 || disk_open() < 0)
        return 1;
    console_setup();

    pthread_t tw, th, tc;
    if (pthread_create(&tw, NULL, writer_main, NULL) != 0) {
        say("FERRY-ERROR writer: thread: %s", strerror(errno));
        return 1;
    }
    if (cfg.hb_port) {
        hb_sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (hb_sock < 0) {
            say("FERRY-ERROR heartbeat: socket: %s", strerror(errno));
            return 1;
        }
        if (pthread_create(&th, NULL, heartbeat_main, NULL) != 0 ||
            pthread_create(&tc, NULL, control_main, NULL) != 0) {
            say("FERRY-ERROR heartbeat: thread: %s", strerror(errno));
            return 1;
        }
    }
    say("FERRY-READY gen=%" PRIu64 " disk=%s slots=%" PRIu64 " rate=%g bs=%u hb=%s:%u hbms=%u "
        "uptime_ms=%" PRIu64,
        cfg.gen, cfg.disk, nslots, cfg.rate_mib, cfg.batch * 4, cfg.hb_port ? cfg.hb_addr : "-",
        cfg.hb_port, cfg.hb_ms, now_ns(CLOCK_BOOTTIME) / 1000000u);

    char line[256], reply[512];
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        run_command(line, reply, sizeof(reply));
        say("%s", reply);
    }
    /* The console closed (it does not, on a serial line): keep writing and beating. */
    pthread_join(tw, NULL);
    return 0;
}
