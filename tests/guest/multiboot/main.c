/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ferry test guest: dirties a working set of its RAM at a paced rate
 * and pattern taken from the multiboot command line, checks that every
 * page still holds what it last wrote (a page lost or stale after a
 * migration shows up as CORRUPT), and reports a heartbeat on COM1 once a
 * second. Parameters (QEMU -append), numbers in MiB:
 *   rate=N       MiB/s of pages dirtied (default 64; 0 = idle, max = unpaced;
 *                at most 65536)
 *   size=N       working set in MiB (default 64; clamped to RAM)
 *   pattern=P    seq | random | hot (default seq)
 *   hot=PCT      hot pattern: 90% of writes go to the first PCT% (default 10)
 *   touch=T      word (one word per page, default) | page (rewrite 4 KiB)
 *   selftest=corrupt  spoil page 0 once after start-up, so tests can see the
 *                     stale-page check fire
 *   invlpg=on|off     drop a page's TLB entry before writing it (default on)
 *
 * Why invlpg: QEMU 7.2's TCG loses writes during migration to pages whose
 * TLB entry lives across a dirty-bitmap sync (the sync's fast path clears
 * the bitmap without resetting TLB entries, so later writes through an old
 * entry are not recorded). An OS flushes its TLB often; this guest never
 * would, and under TCG its hottest pages (loop state, stack) reached the
 * destination stale. invlpg before each write makes every write take QEMU's
 * tracked path; invlpg=off shows the QEMU bug. KVM tracks writes itself. */
#include "hw.h"

#define PAGE_SIZE          4096u
#define MIB                (1024u * 1024u)
#define MB_BOOT_MAGIC      0x2BADB002u
#define MB_INFO_MEM        (1u << 0)
#define MB_INFO_CMDLINE    (1u << 2)
#define CMDLINE_MAX        512
#define CORRUPT_REPORT_MAX 8
#define BATCH_MAX          256   /* pages per pacing step */
#define RATE_MAX_MIB       65536 /* paced rates above this: use rate=max */

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower; /* KiB below 1 MiB */
    uint32_t mem_upper; /* KiB from 1 MiB to the first hole */
    uint32_t boot_device;
    uint32_t cmdline; /* physical address of a NUL-terminated string */
};

enum pattern { PATTERN_SEQ, PATTERN_RANDOM, PATTERN_HOT };

struct config {
    uint32_t rate_mib; /* MiB/s; UINT32_MAX = unpaced */
    uint32_t size_mib;
    enum pattern pattern;
    uint32_t hot_pct;
    bool touch_page;
    bool selftest_corrupt;
    bool keep_tlb; /* invlpg=off */
};

extern char _end[];

static const char *const pattern_names[] = {"seq", "random", "hot"};

/* Working set: expect[] (the generation each page must hold) followed by
 * the pages themselves, all above the kernel. */
static uint32_t *expect;
static uint8_t *pages;
static uint32_t npages;
static bool keep_tlb;

/* Everything the dirtying loop changes, in a page of its own so one
 * invlpg covers it. */
static struct {
    uint32_t cursor;
    uint32_t rng;
    uint64_t corrupt;
    uint64_t beat;
    uint64_t total;     /* pages touched since ready */
    uint64_t win_start; /* TSC at the start of this one-second window */
    uint64_t win_pages; /* pages touched in this window */
} g __attribute__((aligned(PAGE_SIZE))) = {.rng = 0x2545F491u};

/* Call right before writing to P: see "Why invlpg" above. */
static inline void will_write(const volatile void *p)
{
    if (!keep_tlb)
        invlpg(p);
}

/* Same for the stack frames around the current one (locals the compiler
 * keeps in memory). */
static inline void will_write_stack(void)
{
    const volatile uint8_t *sp = stack_pointer();

    will_write(sp);
    will_write(sp + PAGE_SIZE);
}

static bool str_eq(const char *a, const char *b, size_t blen)
{
    size_t i;

    for (i = 0; i < blen; i++)
        if (a[i] != b[i])
            return false;
    return a[i] == '\0';
}

/* Parses a decimal number that fills [S, S+LEN); false when it does not. */
static bool parse_u32(const char *s, size_t len, uint32_t *ret)
{
    uint32_t v = 0;

    if (len == 0 || len > 9)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    *ret = v;
    return true;
}

static void warn_param(const char *key, size_t klen)
{
    char buf[64];
    size_t n = klen < sizeof(buf) - 1 ? klen : sizeof(buf) - 1;

    memcpy(buf, key, n);
    buf[n] = '\0';
    serial_puts("ferry-guest: warning: bad parameter '");
    serial_puts(buf);
    serial_puts("'\n");
}

/* One key=value token. QEMU puts the kernel's file name first on the
 * command line; tokens without '=' are skipped. */
static void parse_token(struct config *cfg, const char *tok, size_t len)
{
    size_t k = 0;
    const char *val;
    size_t vlen;
    bool ok = false;

    while (k < len && tok[k] != '=')
        k++;
    if (k == len)
        return;
    val = tok + k + 1;
    vlen = len - k - 1;

    if (k == 4 && str_eq("rate", tok, 4)) {
        if (vlen == 3 && val[0] == 'm' && val[1] == 'a' && val[2] == 'x') {
            cfg->rate_mib = UINT32_MAX;
            ok = true;
        } else {
            /* Capped so the pacing product (TSC ticks x pages/s) fits 64 bits. */
            uint32_t rate;
            ok = parse_u32(val, vlen, &rate) && rate <= RATE_MAX_MIB;
            if (ok)
                cfg->rate_mib = rate;
        }
    } else if (k == 4 && str_eq("size", tok, 4)) {
        uint32_t size;
        ok = parse_u32(val, vlen, &size) && size > 0;
        if (ok)
            cfg->size_mib = size;
    } else if (k == 3 && str_eq("hot", tok, 3)) {
        uint32_t pct;
        ok = parse_u32(val, vlen, &pct) && pct >= 1 && pct <= 100;
        if (ok)
            cfg->hot_pct = pct;
    } else if (k == 7 && str_eq("pattern", tok, 7)) {
        for (uint32_t i = 0; i < sizeof(pattern_names) / sizeof(pattern_names[0]); i++) {
            const char *n = pattern_names[i];
            size_t nl = 0;
            while (n[nl])
                nl++;
            if (nl == vlen && str_eq(n, val, vlen)) {
                cfg->pattern = (enum pattern)i;
                ok = true;
            }
        }
    } else if (k == 8 && str_eq("selftest", tok, 8)) {
        ok = vlen == 7 && str_eq("corrupt", val, 7);
        cfg->selftest_corrupt = ok;
    } else if (k == 6 && str_eq("invlpg", tok, 6)) {
        if (vlen == 2 && str_eq("on", val, 2)) {
            cfg->keep_tlb = false;
            ok = true;
        } else if (vlen == 3 && str_eq("off", val, 3)) {
            cfg->keep_tlb = true;
            ok = true;
        }
    } else if (k == 5 && str_eq("touch", tok, 5)) {
        if (vlen == 4 && str_eq("word", val, 4)) {
            cfg->touch_page = false;
            ok = true;
        } else if (vlen == 4 && str_eq("page", val, 4)) {
            cfg->touch_page = true;
            ok = true;
        }
    }
    if (!ok)
        warn_param(tok, len);
}

static void parse_cmdline(struct config *cfg, const char *cmdline)
{
    char buf[CMDLINE_MAX];
    size_t n = 0;

    /* Copy first: the loader placed the string right after our image, in
     * memory that becomes part of the working set. */
    while (n < sizeof(buf) - 1 && cmdline[n]) {
        buf[n] = cmdline[n];
        n++;
    }
    buf[n] = '\0';

    for (size_t i = 0; i < n;) {
        size_t start;
        while (i < n && buf[i] == ' ')
            i++;
        start = i;
        while (i < n && buf[i] != ' ')
            i++;
        if (i > start)
            parse_token(cfg, buf + start, i - start);
    }
}

static inline uint32_t page_tag(uint32_t p)
{
    return (p * 2654435761u) ^ 0x46455259u;
}

static inline uint32_t xorshift(void)
{
    uint32_t r = g.rng;

    r ^= r << 13;
    r ^= r >> 17;
    r ^= r << 5;
    will_write(&g);
    g.rng = r;
    return r;
}

static uint32_t next_page(const struct config *cfg)
{
    uint32_t r;

    switch (cfg->pattern) {
    case PATTERN_RANDOM:
        return xorshift() % npages;
    case PATTERN_HOT:
        r = xorshift();
        if (r % 100 < 90) {
            uint32_t hot = (uint32_t)(((uint64_t)npages * cfg->hot_pct) / 100);
            return xorshift() % (hot ? hot : 1);
        }
        return xorshift() % npages;
    case PATTERN_SEQ:
    default:
        r = g.cursor;
        will_write(&g);
        g.cursor = r + 1 == npages ? 0 : r + 1;
        return r;
    }
}

static void fill_page(volatile uint32_t *w, uint32_t gen)
{
    for (uint32_t i = 2; i < PAGE_SIZE / 4; i++)
        w[i] = gen ^ (i * 0x9E3779B9u);
}

/* Checks page P against what we last wrote, then writes a new generation.
 * A mismatch means the page came back stale or zero (a lost dirty page). */
static void touch(const struct config *cfg, uint32_t p)
{
    volatile uint32_t *w = (volatile uint32_t *)(pages + (size_t)p * PAGE_SIZE);
    uint32_t want = expect[p];
    uint32_t tag = w[0], gen = w[1];

    if (tag != page_tag(p) || gen != want) {
        if (g.corrupt < CORRUPT_REPORT_MAX) {
            serial_puts("ferry-guest: CORRUPT page ");
            serial_putu(p);
            serial_puts(" tag ");
            serial_putu(tag);
            serial_puts(" generation ");
            serial_putu(gen);
            serial_puts(" expected ");
            serial_putu(want);
            serial_puts("\n");
        }
        will_write(&g);
        g.corrupt++;
        will_write(w);
        w[0] = page_tag(p);
    }
    want++;
    will_write(&expect[p]);
    expect[p] = want;
    will_write(w);
    w[1] = want;
    if (cfg->touch_page)
        fill_page(w, want);
}

/* Places the working set above the kernel, within the RAM below the first
 * hole; returns the page count (0 when there is no room). */
static uint32_t arena_setup(const struct config *cfg, const struct multiboot_info *mbi)
{
    uint64_t start = ((uint32_t)_end + MIB - 1) & ~(uint64_t)(MIB - 1);
    uint64_t end = (uint64_t)MIB + (uint64_t)mbi->mem_upper * 1024;
    uint64_t want = (uint64_t)cfg->size_mib * (MIB / PAGE_SIZE);
    uint64_t room, n;

    if (start < 2 * MIB)
        start = 2 * MIB;
    if (end > 0xFFFFF000u)
        end = 0xFFFFF000u;
    if (end <= start + 2 * PAGE_SIZE)
        return 0;
    room = (end - start - PAGE_SIZE) / (PAGE_SIZE + sizeof(uint32_t));
    n = want < room ? want : room;
    expect = (uint32_t *)(uint32_t)start;
    pages = (uint8_t *)(uint32_t)((start + n * sizeof(uint32_t) + PAGE_SIZE - 1) &
                                  ~(uint64_t)(PAGE_SIZE - 1));
    return (uint32_t)n;
}

/* The writes recorded in expect[] must add up to the count the main loop
 * keeps (in registers and on the stack): a mismatch means the guest's own
 * state and its memory disagree, e.g. a stack page came back stale. */
static void check_totals(uint64_t total_pages)
{
    uint64_t sum = 0;

    for (uint32_t p = 0; p < npages; p++)
        sum += expect[p];
    if (sum != total_pages) {
        if (g.corrupt < CORRUPT_REPORT_MAX) {
            serial_puts("ferry-guest: CORRUPT state: loop counted ");
            serial_putu(total_pages);
            serial_puts(" writes, page table holds ");
            serial_putu(sum);
            serial_puts("\n");
        }
        will_write(&g);
        g.corrupt++;
    }
}

static void heartbeat(uint64_t beat, uint64_t total_pages)
{
    serial_puts("ferry-guest: alive ");
    serial_putu(beat);
    serial_puts(" dirtied ");
    serial_putu(total_pages / (MIB / PAGE_SIZE));
    serial_puts(" MiB errors ");
    serial_putu(g.corrupt);
    serial_puts("\n");
}

void guest_main(uint32_t magic, const struct multiboot_info *mbi);

void guest_main(uint32_t magic, const struct multiboot_info *mbi)
{
    struct config cfg = {.rate_mib = 64, .size_mib = 64, .pattern = PATTERN_SEQ, .hot_pct = 10};
    uint64_t tsc_hz, pages_per_sec;

    serial_init();
    if (magic != MB_BOOT_MAGIC || !(mbi->flags & MB_INFO_MEM)) {
        serial_puts("ferry-guest: FATAL not started by a multiboot loader\n");
        return;
    }
    if (mbi->flags & MB_INFO_CMDLINE)
        parse_cmdline(&cfg, (const char *)mbi->cmdline);

    keep_tlb = cfg.keep_tlb;
    irq_init();
    tsc_hz = tsc_calibrate();
    npages = arena_setup(&cfg, mbi);
    if (npages == 0 || tsc_hz < 1000000) {
        serial_puts("ferry-guest: FATAL no room for a working set or no TSC\n");
        return;
    }

    serial_puts("ferry-guest: booted mem=");
    serial_putu((mbi->mem_upper + 1024) / 1024);
    serial_puts(" MiB tsc=");
    serial_putu(udiv64(tsc_hz, 1000000, 0));
    serial_puts(" MHz rate=");
    if (cfg.rate_mib == UINT32_MAX)
        serial_puts("max");
    else
        serial_putu(cfg.rate_mib);
    serial_puts(" MiB/s size=");
    serial_putu(npages / (MIB / PAGE_SIZE));
    serial_puts(" MiB pattern=");
    serial_puts(pattern_names[cfg.pattern]);
    serial_puts(cfg.touch_page ? " touch=page" : " touch=word");
    serial_puts(cfg.keep_tlb ? " invlpg=off\n" : " invlpg=on\n");

    for (uint32_t p = 0; p < npages; p++) {
        volatile uint32_t *w = (volatile uint32_t *)(pages + (size_t)p * PAGE_SIZE);
        w[0] = page_tag(p);
        w[1] = 0;
        expect[p] = 0;
        if (cfg.touch_page)
            fill_page(w, 0);
    }
    serial_puts("ferry-guest: ready\n");
    if (cfg.selftest_corrupt)
        ((volatile uint32_t *)pages)[1] ^= 0x5A5A5A5Au;

    pages_per_sec = (uint64_t)cfg.rate_mib * (MIB / PAGE_SIZE);
    will_write(&g);
    g.win_start = rdtsc();
    for (;;) {
        uint64_t now = rdtsc(), due, n;

        will_write_stack();
        if (now < g.win_start || now - g.win_start >= tsc_hz) {
            check_totals(g.total);
            will_write(&g);
            heartbeat(++g.beat, g.total);
            /* After a long stop (a migration's downtime, a paused VM) start
             * a fresh window instead of catching up in one burst. */
            will_write(&g);
            if (now < g.win_start || now - g.win_start >= 2 * tsc_hz)
                g.win_start = now;
            else
                g.win_start += tsc_hz;
            g.win_pages = 0;
            continue;
        }
        if (cfg.rate_mib == UINT32_MAX)
            due = g.win_pages + BATCH_MAX;
        else
            due = udiv64((now - g.win_start) * pages_per_sec, tsc_hz, 0);
        if (g.win_pages >= due) {
            cpu_idle();
            continue;
        }
        n = due - g.win_pages;
        if (n > BATCH_MAX)
            n = BATCH_MAX;
        for (uint64_t i = 0; i < n; i++) {
            will_write_stack();
            touch(&cfg, next_page(&cfg));
        }
        will_write(&g);
        g.win_pages += n;
        g.total += n;
    }
}
