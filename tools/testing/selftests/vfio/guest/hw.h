/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mvf-guest: the bare machine -- port I/O, console, TSC, PCI config space
 * and the (optional) PAE mapping of BARs above 4 GiB.  No libc.
 */
#ifndef MVF_GUEST_HW_H
#define MVF_GUEST_HW_H

#include <linux/types.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef unsigned long uptr;

#define NULL ((void *)0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define barrier() __asm__ __volatile__("" ::: "memory")

static inline void outb(u16 port, u8 v)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 v;

	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outl(u16 port, u32 v)
{
	__asm__ __volatile__("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline u32 inl(u16 port)
{
	u32 v;

	__asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline void cpu_relax(void)
{
	__asm__ __volatile__("pause" ::: "memory");
}

static inline u32 mmio_rd32(volatile u8 *base, u32 off)
{
	return *(volatile u32 *)(base + off);
}

static inline void mmio_wr32(volatile u8 *base, u32 off, u32 val)
{
	barrier();
	*(volatile u32 *)(base + off) = val;
	barrier();
}

/* n / d and n % d for a 64-bit n without libgcc */
u64 div64(u64 n, u32 d, u32 *rem);

void *memset(void *s, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);
int memcmp(const void *a, const void *b, unsigned long n);

/* Console: COM1 (CRLF line ends) and the debug console port 0xe9 (LF). */
void con_init(void);
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vprintk(const char *fmt, __builtin_va_list ap);
int snprintk(char *buf, int size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* isa-debug-exit (if the VMM has one at 0xf4), then hlt forever. */
void halt(int failed) __attribute__((noreturn));

/* TSC ticks per millisecond (kHz), measured with PIT channel 2; 0 = unknown */
u32 tsc_calibrate(void);
void tsc_delay_ms(u32 tsc_khz, u32 ms);

/* PCI configuration space: CF8/CFC for 0..255, ECAM above */
#define BDF(b, d, f)	((u16)(((b) << 8) | ((d) << 3) | (f)))
#define BDF_BUS(x)	((x) >> 8)
#define BDF_DEV(x)	(((x) >> 3) & 31)
#define BDF_FN(x)	((x) & 7)

u32 pci_rd32(u16 bdf, u16 off);
u16 pci_rd16(u16 bdf, u16 off);
u8 pci_rd8(u16 bdf, u16 off);
void pci_wr32(u16 bdf, u16 off, u32 val);
void pci_wr16(u16 bdf, u16 off, u16 val);
/* q35: find ECAM through the MCH's PCIEXBAR; false if there is none */
int pci_ecam_init(void);
/* offset of extended capability @id, 0 if absent or no ECAM */
u16 pci_find_ext_cap(u16 bdf, u16 id);
/* offset of (classic) capability @id, 0 if absent */
u8 pci_find_cap(u16 bdf, u8 id);

/*
 * Physical @phys .. @phys + @len as a pointer: the address itself below
 * 4 GiB; above, through PAE paging (turned on at the first such call) in a
 * window at 1..2 GiB of virtual space, which must then be free of RAM.
 * NULL if it cannot be mapped.
 */
volatile u8 *map_phys(u64 phys, u64 len, u64 ram_top);

#endif
