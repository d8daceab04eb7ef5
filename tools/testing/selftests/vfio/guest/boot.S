/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mvf-guest: multiboot (v1) header, entry, GDT and exception stubs.
 *
 * QEMU's -kernel loads this ELF at 1 MiB and jumps to _start in 32-bit
 * protected mode, paging off, with EAX = 0x2BADB002 and EBX = the physical
 * address of the multiboot information.  Interrupts stay disabled for the
 * whole run; an exception prints a FAIL line (mvf_guest.c) and halts.
 */

#define MB_MAGIC	0x1BADB002
#define MB_FLAGS	0x00000002	/* memory information, please */

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.section .text
	.globl _start
	.type _start, @function
_start:
	cli
	cld
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	movw $0x10, %cx
	movw %cx, %ds
	movw %cx, %es
	movw %cx, %fs
	movw %cx, %gs
	movw %cx, %ss
	movl $stack_top, %esp
	movl %eax, %esi			/* keep the multiboot magic and info */
	movl %ebx, %edx
	/* zero .bss (the loader should have, but do not depend on it) */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb
	lidt idt_desc
	pushl %edx			/* info */
	pushl %esi			/* magic */
	call guest_main
2:	cli
	hlt
	jmp 2b
	.size _start, . - _start

/* Exception stubs: push a dummy error code where the CPU pushes none. */
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

exc_common:
	/* stack: vector, error code, EIP, CS, EFLAGS */
	movl $stack_top, %eax		/* a fresh stack, in case ours is bad */
	movl (%esp), %ebx
	movl 4(%esp), %ecx
	movl 8(%esp), %edx
	movl %eax, %esp
	pushl %edx
	pushl %ecx
	pushl %ebx
	call guest_exception		/* does not return */
3:	cli
	hlt
	jmp 3b

	.section .rodata
	.align 4
exc_table:
	.long exc_0, exc_1, exc_2, exc_3, exc_4, exc_5, exc_6, exc_7
	.long exc_8, exc_9, exc_10, exc_11, exc_12, exc_13, exc_14, exc_15
	.long exc_16, exc_17, exc_18, exc_19
	.globl exc_table

	.section .data
	.align 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: code, flat 4 GiB */
	.quad 0x00cf92000000ffff	/* 0x10: data, flat 4 GiB */
gdt_desc:
	.word gdt_desc - gdt - 1
	.long gdt
	.align 4
idt_desc:
	.word 20 * 8 - 1
	.long idt
	.globl idt

	.section .bss
	.align 8
idt:
	.space 20 * 8
	.align 16
	.space 16384
stack_top:
