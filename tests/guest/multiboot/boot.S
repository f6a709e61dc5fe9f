/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Entry of the ferry test guest: the multiboot (v1) header QEMU's -kernel
 * loader looks for, a flat GDT of our own (the loader's GDTR may point
 * anywhere), a stack, and the interrupt stubs. Runs in 32-bit protected
 * mode with paging off for its whole life. */

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-aligned modules, memory information */

    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .text
    .globl _start
_start:
    cli
    cld
    movl $stack_top, %esp
    /* Keep the loader's magic (eax) and info pointer (ebx) safe. */
    movl %eax, %esi
    movl %ebx, %edi
    lgdt gdt_ptr
    ljmp $0x08, $1f
1:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    pushl %edi
    pushl %esi
    call guest_main
2:
    cli
    hlt
    jmp 2b

/* Exceptions 0..31: push the vector (and a dummy error code where the CPU
 * pushes none) and report it; the guest stops there. */
.macro EXC_NOERR n
exc_\n:
    pushl $0
    pushl $\n
    jmp exc_common
.endm
.macro EXC_ERR n
exc_\n:
    pushl $\n
    jmp exc_common
.endm

EXC_NOERR 0
EXC_NOERR 1
EXC_NOERR 2
EXC_NOERR 3
EXC_NOERR 4
EXC_NOERR 5
EXC_NOERR 6
EXC_NOERR 7
EXC_ERR 8
EXC_NOERR 9
EXC_ERR 10
EXC_ERR 11
EXC_ERR 12
EXC_ERR 13
EXC_ERR 14
EXC_NOERR 15
EXC_NOERR 16
EXC_ERR 17
EXC_NOERR 18
EXC_NOERR 19
EXC_NOERR 20
EXC_ERR 21
EXC_NOERR 22
EXC_NOERR 23
EXC_NOERR 24
EXC_NOERR 25
EXC_NOERR 26
EXC_NOERR 27
EXC_NOERR 28
EXC_NOERR 29
EXC_ERR 30
EXC_NOERR 31

exc_common:
    /* Stack: vector, error code, eip, cs, eflags. */
    call guest_exception /* never returns */
3:
    cli
    hlt
    jmp 3b

    /* IRQ0 (PIT channel 0), remapped to vector 0x20: count the tick and
     * acknowledge it at the master PIC. It only exists to end hlt. */
    .globl irq_timer
irq_timer:
    pushl %eax
    incl guest_ticks
    movb $0x20, %al
    outb %al, $0x20
    popl %eax
    iret

    /* Any other vector (spurious IRQ7 and IRQ15 included): ignore. */
    .globl irq_ignore
irq_ignore:
    iret

    .section .rodata
    .balign 4
    .globl exc_table
exc_table:
    .long exc_0, exc_1, exc_2, exc_3, exc_4, exc_5, exc_6, exc_7
    .long exc_8, exc_9, exc_10, exc_11, exc_12, exc_13, exc_14, exc_15
    .long exc_16, exc_17, exc_18, exc_19, exc_20, exc_21, exc_22, exc_23
    .long exc_24, exc_25, exc_26, exc_27, exc_28, exc_29, exc_30, exc_31

    .balign 8
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF /* 0x08: code, base 0, 4 GiB, ring 0 */
    .quad 0x00CF92000000FFFF /* 0x10: data, base 0, 4 GiB, ring 0 */
gdt_end:
gdt_ptr:
    .word gdt_end - gdt - 1
    .long gdt

    .section .bss
    .balign 16
stack:
    .skip 16384
stack_top:

    .section .note.GNU-stack, "", @progbits
