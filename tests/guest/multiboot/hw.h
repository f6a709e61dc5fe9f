/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The few PC devices the test guest drives (COM1, PIT, PIC, TSC) and the
 * freestanding helpers it needs; there is no libc and no libgcc here. */
#ifndef FERRY_GUEST_HW_H
#define FERRY_GUEST_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline void outb(uint16_t port, uint8_t val)
{
    __asm__ volatile("outb %0, %1" : : "a"(val), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t val;
    __asm__ volatile("inb %1, %0" : "=a"(val) : "Nd"(port));
    return val;
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_relax(void)
{
    __asm__ volatile("pause");
}

/* Enables interrupts and halts until the next one (the 1 kHz tick at the
 * latest): sti takes effect after hlt, so no wakeup is lost. */
static inline void cpu_idle(void)
{
    __asm__ volatile("sti; hlt; cli" ::: "memory");
}

/* Drops the TLB entry of the page holding P (valid with paging off). */
static inline void invlpg(const volatile void *p)
{
    __asm__ volatile("invlpg (%0)" : : "r"(p) : "memory");
}

static inline void *stack_pointer(void)
{
    void *sp;

    __asm__ volatile("mov %%esp, %0" : "=r"(sp));
    return sp;
}

/* 64-bit unsigned division without libgcc's __udivdi3. */
uint64_t udiv64(uint64_t n, uint64_t d, uint64_t *ret_rem);

void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);

/* COM1 at 115200 8N1, polled. */
void serial_init(void);
void serial_puts(const char *s);
void serial_putu(uint64_t v);

/* Flat IDT, PIC remapped to 0x20..0x2f with only IRQ0 unmasked, PIT
 * channel 0 at TICK_HZ. Interrupts stay disabled until cpu_idle(). */
#define TICK_HZ 1000
void irq_init(void);

/* TSC frequency in Hz, measured against PIT channel 2 over 50 ms. */
uint64_t tsc_calibrate(void);

#endif
