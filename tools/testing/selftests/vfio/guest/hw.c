// SPDX-License-Identifier: GPL-2.0-only
/*
 * mvf-guest: the bare machine -- console, printk, TSC calibration, PCI
 * config space, PAE mapping of BARs above 4 GiB.
 */
#include "hw.h"

/* ---- libc bits that gcc may call even when freestanding ----------------- */

void *memset(void *s, int c, unsigned long n)
{
	void *d = s;

	__asm__ __volatile__("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return s;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	void *dd = d;

	__asm__ __volatile__("rep movsb" : "+D"(dd), "+S"(s), "+c"(n) : : "memory");
	return d;
}

int memcmp(const void *a, const void *b, unsigned long n)
{
	const u8 *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

u64 div64(u64 n, u32 d, u32 *rem)
{
	u32 hi = n >> 32, lo = (u32)n, qhi, qlo, r;

	qhi = hi / d;
	r = hi % d;
	/* (r:lo) / d: r < d, so the quotient fits in 32 bits */
	__asm__("divl %4" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(r), "rm"(d));
	if (rem)
		*rem = r;
	return ((u64)qhi << 32) | qlo;
}

/* ---- console ------------------------------------------------------------- */

#define COM1		0x3f8
#define DEBUGCON	0xe9

void con_init(void)
{
	outb(COM1 + 1, 0x00);		/* no interrupts */
	outb(COM1 + 3, 0x80);		/* DLAB */
	outb(COM1 + 0, 0x01);		/* 115200 */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);		/* 8N1 */
	outb(COM1 + 2, 0xc7);		/* FIFO on, cleared */
	outb(COM1 + 4, 0x03);		/* DTR, RTS */
}

static void serial_putc(char c)
{
	int i;

	/* bounded: an absent UART reads 0xff, a stuck one must not hang us */
	for (i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
		cpu_relax();
	outb(COM1, c);
}

static void con_putc(char c)
{
	if (c == '\n')
		serial_putc('\r');
	serial_putc(c);
	outb(DEBUGCON, c);
}

struct sink {
	char *buf;	/* NULL: the console */
	int size, len;
};

static void sink_put(struct sink *s, char c)
{
	if (!s->buf)
		con_putc(c);
	else if (s->len < s->size - 1)
		s->buf[s->len] = c;
	s->len++;
}

static void put_num(struct sink *s, u64 v, u32 base, int width, char pad)
{
	char tmp[24];
	int n = 0;
	u32 r;

	do {
		if (base == 16) {
			r = v & 15;
			v >>= 4;
		} else {
			v = div64(v, base, &r);
		}
		tmp[n++] = "0123456789abcdef"[r];
	} while (v);
	while (width-- > n)
		sink_put(s, pad);
	while (n)
		sink_put(s, tmp[--n]);
}

static void vformat(struct sink *s, const char *fmt, __builtin_va_list ap)
{
	for (; *fmt; fmt++) {
		int width = 0, lng = 0;
		char pad = ' ';
		u64 v;

		if (*fmt != '%') {
			sink_put(s, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + *fmt++ - '0';
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd': {
			s32 x = __builtin_va_arg(ap, s32);

			if (x < 0) {
				sink_put(s, '-');
				x = -x;
			}
			put_num(s, (u32)x, 10, width, pad);
			break;
		}
		case 'u':
		case 'x':
			v = lng >= 2 ? __builtin_va_arg(ap, u64) :
				       __builtin_va_arg(ap, u32);
			put_num(s, v, *fmt == 'x' ? 16 : 10, width, pad);
			break;
		case 's': {
			const char *p = __builtin_va_arg(ap, const char *);

			for (p = p ? p : "(null)"; *p; p++, width--)
				sink_put(s, *p);
			while (width-- > 0)
				sink_put(s, ' ');
			break;
		}
		case 'c':
			sink_put(s, (char)__builtin_va_arg(ap, int));
			break;
		case '%':
			sink_put(s, '%');
			break;
		default:
			sink_put(s, '?');
			break;
		}
	}
}

void vprintk(const char *fmt, __builtin_va_list ap)
{
	struct sink s = { 0 };

	vformat(&s, fmt, ap);
}

void printk(const char *fmt, ...)
{
	__builtin_va_list ap;

	__builtin_va_start(ap, fmt);
	vprintk(fmt, ap);
	__builtin_va_end(ap);
}

int snprintk(char *buf, int size, const char *fmt, ...)
{
	struct sink s = { .buf = buf, .size = size };
	__builtin_va_list ap;

	__builtin_va_start(ap, fmt);
	vformat(&s, fmt, ap);
	__builtin_va_end(ap);
	if (size > 0)
		buf[s.len < size ? s.len : size - 1] = 0;
	return s.len;
}

void halt(int failed)
{
	/*
	 * QEMU's isa-debug-exit (-device isa-debug-exit,iobase=0xf4,iosize=4)
	 * exits with status (value << 1) | 1: 1 = done, 3 = failed.  Without
	 * that device the write goes nowhere and the guest halts.
	 */
	outl(0xf4, failed ? 1 : 0);
	for (;;)
		__asm__ __volatile__("cli; hlt");
}

/* ---- TSC ------------------------------------------------------------------- */

/*
 * One measurement of 50 ms of PIT channel 2 (mode 0, 59659 ticks of
 * 1.193182 MHz).  The TSC is read before the count starts and after it
 * ended, so a vCPU that is descheduled can only make it longer.
 */
static u64 tsc_per_50ms(void)
{
	const u32 latch = 59659;
	u64 t0, t1;
	u32 i;

	outb(0x61, (inb(0x61) & ~0x02) | 0x01);	/* gate on, speaker off */
	outb(0x43, 0xb0);
	outb(0x42, latch & 0xff);
	t0 = rdtsc();
	outb(0x42, latch >> 8);			/* counting starts here */
	for (i = 0; i < 100000000 && !(inb(0x61) & 0x20); i++)
		;
	t1 = rdtsc();
	if (!(inb(0x61) & 0x20) || t1 <= t0)
		return 0;
	return t1 - t0;
}

/* TSC kHz: the least of three measurements, each at least the truth */
u32 tsc_calibrate(void)
{
	u64 best = 0, t;
	int i;

	for (i = 0; i < 3; i++) {
		t = tsc_per_50ms();
		if (t && (!best || t < best))
			best = t;
	}
	return (u32)div64(best, 50, NULL);
}

void tsc_delay_ms(u32 tsc_khz, u32 ms)
{
	u64 t0 = rdtsc(), want = (u64)(tsc_khz ? tsc_khz : 3000000) * ms;

	while (rdtsc() - t0 < want)
		cpu_relax();
}

/* ---- PCI config space ---------------------------------------------------- */

static volatile u8 *ecam;	/* NULL: CF8/CFC only */

static void cf8(u16 bdf, u16 off)
{
	outl(0xcf8, 0x80000000u | ((u32)bdf << 8) | (off & 0xfc));
}

static volatile u8 *ecam_ptr(u16 bdf, u16 off)
{
	return ecam + ((u32)bdf << 12) + off;
}

u32 pci_rd32(u16 bdf, u16 off)
{
	if (off >= 256)
		return ecam ? *(volatile u32 *)ecam_ptr(bdf, off) : 0xffffffff;
	cf8(bdf, off);
	return inl(0xcfc);
}

u16 pci_rd16(u16 bdf, u16 off)
{
	return pci_rd32(bdf, off & ~3) >> ((off & 2) * 8);
}

u8 pci_rd8(u16 bdf, u16 off)
{
	return pci_rd32(bdf, off & ~3) >> ((off & 3) * 8);
}

void pci_wr32(u16 bdf, u16 off, u32 val)
{
	if (off >= 256) {
		if (ecam)
			*(volatile u32 *)ecam_ptr(bdf, off) = val;
		return;
	}
	cf8(bdf, off);
	outl(0xcfc, val);
}

void pci_wr16(u16 bdf, u16 off, u16 val)
{
	if (off >= 256) {
		if (ecam)
			*(volatile u16 *)ecam_ptr(bdf, off) = val;
		return;
	}
	cf8(bdf, off);
	__asm__ __volatile__("outw %0, %1" : : "a"(val),
			     "Nd"((u16)(0xcfc + (off & 2))));
}

int pci_ecam_init(void)
{
	u32 id = pci_rd32(BDF(0, 0, 0), 0x00);
	u64 bar;
	u32 lo;

	/* q35 (ICH9 MCH 8086:29c0): PCIEXBAR at 0x60, enable bit 0 */
	if (id != 0x29c08086)
		return 0;
	lo = pci_rd32(BDF(0, 0, 0), 0x60);
	bar = ((u64)pci_rd32(BDF(0, 0, 0), 0x64) << 32) | lo;
	if (!(lo & 1))
		return 0;
	bar &= 0xff0000000ull;		/* base bits 35:28 (256 MiB length) */
	if (!bar || bar >> 32)
		return 0;
	ecam = (volatile u8 *)(uptr)bar;
	return 1;
}

u16 pci_find_ext_cap(u16 bdf, u16 id)
{
	u16 off = 0x100;
	int n;

	if (!ecam)
		return 0;
	for (n = 0; n < 64 && off >= 0x100; n++) {
		u32 h = pci_rd32(bdf, off);

		if (h == 0 || h == 0xffffffff)
			return 0;
		if ((h & 0xffff) == id)
			return off;
		off = (h >> 20) & 0xffc;
	}
	return 0;
}

u8 pci_find_cap(u16 bdf, u8 id)
{
	u8 off;
	int n;

	if (!(pci_rd16(bdf, 0x06) & 0x10))	/* status: capability list */
		return 0;
	off = pci_rd8(bdf, 0x34) & 0xfc;
	for (n = 0; n < 48 && off; n++) {
		if (pci_rd8(bdf, off) == id)
			return off;
		off = pci_rd8(bdf, off + 1) & 0xfc;
	}
	return 0;
}

/* ---- PAE mapping of high BARs ---------------------------------------------- */

#define PDE_P		(1ull << 0)
#define PDE_RW		(1ull << 1)
#define PDE_PWT		(1ull << 3)
#define PDE_PCD		(1ull << 4)
#define PDE_PS		(1ull << 7)
#define PAGE_2M		0x200000u
#define WIN_BASE	0x40000000u	/* PDPT slot 1: 1 GiB .. 2 GiB */
#define WIN_END		0x80000000u

static u64 pdpt[4] __attribute__((aligned(32)));
static u64 pd[4][512] __attribute__((aligned(4096)));
static int paging_on;
static u32 win_next = WIN_BASE;

static void paging_enable(void)
{
	u32 i, j, cr;

	/* identity map of the low 4 GiB in 2 MiB pages, caching by MTRR */
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 512; j++)
			pd[i][j] = ((u64)(i * 512 + j) << 21) |
				   PDE_P | PDE_RW | PDE_PS;
		pdpt[i] = (u32)(uptr)pd[i] | PDE_P;
	}
	__asm__ __volatile__("movl %%cr4, %0; orl $0x20, %0; movl %0, %%cr4"
			     : "=&r"(cr) : : "memory");
	__asm__ __volatile__("movl %0, %%cr3" : : "r"((u32)(uptr)pdpt)
			     : "memory");
	__asm__ __volatile__("movl %%cr0, %0; orl $0x80000000, %0; "
			     "movl %0, %%cr0; jmp 1f; 1:"
			     : "=&r"(cr) : : "memory");
	paging_on = 1;
}

volatile u8 *map_phys(u64 phys, u64 len, u64 ram_top)
{
	u64 start, end, p;
	u32 virt, v;

	if (!len)
		return NULL;
	if (phys + len <= 0x100000000ull && phys + len > phys)
		return (volatile u8 *)(uptr)phys;
	if (ram_top > WIN_BASE)
		return NULL;		/* the window would cover RAM */
	start = phys & ~(u64)(PAGE_2M - 1);
	end = (phys + len + PAGE_2M - 1) & ~(u64)(PAGE_2M - 1);
	if (end - start > WIN_END - win_next)
		return NULL;
	if (!paging_on)
		paging_enable();
	virt = win_next;
	for (p = start, v = virt; p < end; p += PAGE_2M, v += PAGE_2M)
		pd[v >> 30][(v >> 21) & 511] = p | PDE_P | PDE_RW | PDE_PS |
					       PDE_PCD | PDE_PWT;	/* UC */
	win_next = v;
	/* reload CR3: flush the old identity entries of the window */
	__asm__ __volatile__("movl %0, %%cr3" : : "r"((u32)(uptr)pdpt)
			     : "memory");
	return (volatile u8 *)(uptr)(virt + (u32)(phys - start));
}
