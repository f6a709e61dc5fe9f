/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Device code of the test guest: serial output, interrupt setup, the PIT
 * tick that ends hlt, and the TSC calibration that paces the dirtying. */
#include "hw.h"

#define COM1   0x3f8
#define PIT_HZ 1193182u

struct idt_entry {
    uint16_t off_lo;
    uint16_t sel;
    uint8_t zero;
    uint8_t type;
    uint16_t off_hi;
} __attribute__((packed));

struct idt_ptr {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

extern const uint32_t exc_table[32];
extern void irq_timer(void);
extern void irq_ignore(void);
volatile uint32_t guest_ticks;

static struct idt_entry idt[256];

uint64_t udiv64(uint64_t n, uint64_t d, uint64_t *ret_rem)
{
    uint64_t q = 0, r = 0;

    for (int i = 63; i >= 0; i--) {
        r = (r << 1) | ((n >> i) & 1);
        if (r >= d) {
            r -= d;
            q |= (uint64_t)1 << i;
        }
    }
    if (ret_rem)
        *ret_rem = r;
    return q;
}

void *memset(void *s, int c, size_t n)
{
    uint8_t *p = s;

    while (n--)
        *p++ = (uint8_t)c;
    return s;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;

    while (n--)
        *d++ = *s++;
    return dst;
}

void serial_init(void)
{
    outb(COM1 + 1, 0x00); /* no UART interrupts */
    outb(COM1 + 3, 0x80); /* DLAB on */
    outb(COM1 + 0, 0x01); /* divisor 1: 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1, DLAB off */
    outb(COM1 + 2, 0xC7); /* FIFO on, cleared */
    outb(COM1 + 4, 0x03); /* DTR, RTS */
}

static void serial_putc(char c)
{
    /* Bounded wait for the transmitter: QEMU's UART is always ready, and a
     * guest must never hang on its console. */
    for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
        cpu_relax();
    outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            serial_putc('\r');
        serial_putc(*s);
    }
}

void serial_putu(uint64_t v)
{
    char buf[24];
    int i = sizeof(buf) - 1;

    buf[i] = '\0';
    do {
        uint64_t rem;
        v = udiv64(v, 10, &rem);
        buf[--i] = (char)('0' + rem);
    } while (v);
    serial_puts(&buf[i]);
}

static void idt_set(int vec, uint32_t handler)
{
    idt[vec].off_lo = handler & 0xffff;
    idt[vec].sel = 0x08;
    idt[vec].zero = 0;
    idt[vec].type = 0x8E; /* present, ring 0, 32-bit interrupt gate */
    idt[vec].off_hi = handler >> 16;
}

void irq_init(void)
{
    struct idt_ptr ptr = {.limit = sizeof(idt) - 1, .base = (uint32_t)idt};
    uint16_t div = (PIT_HZ + TICK_HZ / 2) / TICK_HZ;

    for (int v = 0; v < 256; v++)
        idt_set(v, v < 32 ? exc_table[v] : (uint32_t)irq_ignore);
    idt_set(0x20, (uint32_t)irq_timer);
    __asm__ volatile("lidt %0" : : "m"(ptr));

    /* 8259 pair: ICW1..ICW4, master at 0x20, slave at 0x28. */
    outb(0x20, 0x11);
    outb(0xA0, 0x11);
    outb(0x21, 0x20);
    outb(0xA1, 0x28);
    outb(0x21, 0x04);
    outb(0xA1, 0x02);
    outb(0x21, 0x01);
    outb(0xA1, 0x01);
    outb(0x21, 0xFE); /* only IRQ0 */
    outb(0xA1, 0xFF);

    /* PIT channel 0, lobyte/hibyte, mode 2 (rate generator). */
    outb(0x43, 0x34);
    outb(0x40, div & 0xff);
    outb(0x40, div >> 8);
}

uint64_t tsc_calibrate(void)
{
    const uint16_t latch = PIT_HZ / 20; /* 50 ms */
    uint64_t t0, t1;
    uint32_t spins = 0;

    /* Gate channel 2 on, speaker off; mode 0 raises OUT2 (port 0x61 bit 5)
     * when the count reaches zero. */
    outb(0x61, (inb(0x61) & ~0x02) | 0x01);
    outb(0x43, 0xB0);
    outb(0x42, latch & 0xff);
    outb(0x42, latch >> 8);
    t0 = rdtsc();
    while (!(inb(0x61) & 0x20) && ++spins < 100000000u)
        ;
    t1 = rdtsc();
    return (t1 - t0) * 20;
}

void guest_exception(uint32_t vec, uint32_t code, uint32_t eip);

void guest_exception(uint32_t vec, uint32_t code, uint32_t eip)
{
    serial_puts("ferry-guest: FATAL exception ");
    serial_putu(vec);
    serial_puts(" code ");
    serial_putu(code);
    serial_puts(" eip ");
    serial_putu(eip);
    serial_puts("\n");
    for (;;)
        __asm__ volatile("cli; hlt");
}
