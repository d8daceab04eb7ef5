// SPDX-License-Identifier: GPL-2.0-only
/*
 * mvf-guest: a tiny freestanding guest that keeps MVF VFs busy with a
 * numbered, self-checking stream of jobs, for live migration tests with a
 * stock VMM (QEMU -kernel mvf-guest.elf, the VF passed through with
 * -device vfio-pci).  Multiboot v1, 32-bit protected mode, no interrupts,
 * identity-mapped guest RAM (PAE paging only to reach BARs above 4 GiB).
 *
 * What it does: finds every MVF VF (6d76:1001, up to 4) by PCI config
 * space, enables memory decoding and bus mastering, checks the VF's magic
 * and version, sets up its queue pair (SQ/RQ/CQ and buffers in guest RAM),
 * fills 256 device memory slots spread over all of device memory, then runs
 * jobs j = 1, 2, ... forever or up to jobs=N.  Job j runs on VF j % nvfs and
 * picks from j alone (a hash) a mix of DEVMEM_WRITE (a whole slot, data
 * derived from j), DEVMEM_READ (a slot into one of 32 read-back slots in
 * guest RAM), SEND/RECV loopback (1..512 bytes from an unaligned source, the
 * receive buffer posted before or after the send), NOP, and a CPU read of a
 * slot through BAR 2.  Every CQE is checked exactly (wr_id, opcode, queue,
 * status, byte count, WQE index, in order, none extra) and so is every byte
 * the VF wrote.  Every "every" jobs (a checkpoint) it re-verifies all guest
 * RAM the VF has written (read-back slots, receive buffers), re-reads 16
 * device memory slots, and compares the VF's queue indices, counters and
 * scratch registers with its own count.  A running checksum over all CQEs
 * and data it read depends only on the job number and the command line, so
 * two runs with the same command line and number of VFs (one of them
 * migrated) print the same sum at the same job.  No timeout is shorter than
 * timeout= seconds (default 120) of TSC time, which stops while the VM is
 * paused or migrating; a timeout is a FAIL with the ring indices.
 *
 * Output, on COM1 (lines end "\r\n") and the debug console port 0xe9
 * (lines end "\n"); every line starts "mvf-guest: ":
 *
 *   mvf-guest: boot <multiboot command line>
 *   mvf-guest: info <free text>
 *   mvf-guest: VF <bb>:<dd>.<f> bar0 0x<hex> bar2 0x<hex> devmem <n> bytes
 *   mvf-guest: start vfs <n> jobs <n|forever> every <k> seed <s> tsc-khz <n> timeout <s>
 *   mvf-guest: job <j> ok sum 0x<8 hex> wqe <n> cqe <n> ms <n>
 *   mvf-guest: done <j> jobs ok sum 0x<8 hex> wqe <n> cqe <n> ms <n>
 *   mvf-guest: FAIL job <j>: <what>
 *
 * A "job" line follows the checkpoint after jobs every, 2*every, ...; with
 * jobs=N job N prints the "done" line instead, after a checkpoint that
 * re-reads all of the 256 slots.  wqe and cqe count the WQEs and CQEs of
 * all VFs since start, ms is TSC time since start (it stands still while
 * the VM is stopped).  <what> of a FAIL names the VF ("vf <i>", the order
 * of the VF lines) and what differed; job 0 is the setup.  A parser should
 * strip a trailing "\r" and may ignore unknown lines and trailing fields.
 * After FAIL or done the guest halts (hlt with
 * interrupts off); with -device isa-debug-exit,iobase=0xf4,iosize=4 QEMU
 * exits instead, status 1 after done, 3 after FAIL.  Without any MVF device
 * the guest prints "FAIL job 0: no MVF device ...".
 *
 * Command line (-append), key=value words, numbers decimal or 0x hex:
 *   jobs=N      stop after N jobs (0, the default: run forever)
 *   every=K     a checkpoint and job line every K jobs (default 100)
 *   seed=S      another job stream (default 0)
 *   timeout=S   seconds of polling before a FAIL (default 120, min 60)
 *   vfs=N       use at most N VFs; with the PF fallback, enable N (def. 1)
 *   flr=1       reset each VF (FLR) before setting it up; without it only
 *               a VF with work or an error left from before is reset
 *   fill=1      fill all free guest RAM (above the image, up to the top of
 *               RAM) with a pattern of each page's own address, so that a
 *               VMM has that much non-zero RAM to copy; every checkpoint
 *               re-verifies the next 64 pages of it, the done checkpoint
 *               all of it
 *   Self-tests of the checker, each must end in FAIL:
 *   corrupt=J   the first data check of job J or after expects wrong data
 *   scribble=J  at the first checkpoint at or after job J one byte of a
 *               read-back slot is changed before its re-check
 *   extra=J     job J posts one NOP more than it expects (done twice)
 *   stall=J     job J ends with a SEND that gets no receive buffer (the
 *               timeout FAIL, after timeout= seconds)
 *   Host-side test only:
 *   vfbar=high  PF fallback: put the VFs' 64-bit BARs above 4 GiB
 *
 * PF fallback (host-side testing with our QEMU's emulated mvf-pf, where no
 * PF driver enables VFs): if there is no VF but an MVF PF on bus 0 (q35's
 * pcie.0: -device mvf-pf without bus=), the guest enables vfs= VFs through
 * the PF's SR-IOV capability itself (NumVFs, the VF BARs in a free gap below
 * 4 GiB -- no firmware sizes SR-IOV BARs --, VF Enable + VF MSE) and says so
 * in an info line.  The VFs need nothing else from the PF.  Their vendor
 * and device ID read 0xffff there, as the SR-IOV spec says (vfio shows the
 * real ones to a guest), so the scan cannot find them by ID.
 *
 * Guest RAM used: the image at 1 MiB, about 280 KiB with its buffers; -m 16M
 * is plenty.  See README.rst here for how to run it.
 */
#include "hw.h"
#include <linux/mvf/mvf_if.h>

#define MAX_VFS		4
#define SLOT		512		/* bytes of a devmem/read-back slot */
#define MAX_SLOTS	256
#define NRB		32		/* read-back slots in guest RAM */
#define NRX		16		/* receive buffers */
#define SRC_PAD		64
#define SWEEP		16		/* devmem slots re-read per checkpoint */
#define SQ_LOG		6
#define RQ_LOG		6
#define CQ_LOG		7
#define MIN_POLLS	(1ull << 20)	/* a TSC jump alone is no timeout */

#define MB_BOOT_MAGIC	0x2badb002

struct mb_info {
	u32 flags;
	u32 mem_lower;
	u32 mem_upper;
	u32 boot_device;
	u32 cmdline;
};

/* Per VF guest RAM for the device: page-aligned, identity-mapped. */
struct vfmem {
	u8 sq[4096];
	u8 rq[4096];
	u8 cq[4096];
	u8 rb[NRB * SLOT];
	u8 rx[NRX * SLOT];
	u8 wbuf[SLOT];
	u8 src[SLOT + SRC_PAD];
	u8 sweep[SWEEP * SLOT];
} __attribute__((aligned(4096)));

struct vf {
	int idx;
	u16 bdf;
	u64 bar0_pa, bar2_pa;
	volatile u8 *bar0, *bar2;	/* bar2 NULL if it could not be mapped */
	u64 devmem;
	u32 nds;			/* slots, a power of two */
	u64 ds;				/* slot stride in device memory */
	struct vfmem *m;
	volatile struct mvf_send_wqe *sq;
	volatile struct mvf_recv_wqe *rq;
	volatile struct mvf_cqe *cq;
	u32 sq_pi, rq_pi, cq_ci;
	u32 gen[MAX_SLOTS];		/* job that last wrote each slot */
	u32 rb_gen[NRB];
	u16 rb_slot[NRB];		/* 0xffff: never written (zero) */
	u32 rx_gen[NRX];
	u16 rx_off[NRX], rx_len[NRX];
	u8 rx_used[NRX];
	u32 scratch[MVF_VF_NUM_SCRATCH];
	u64 cnt_base[MVF_VF_NUM_COUNTERS];
	u32 n_sq, n_rq, n_cqe;		/* completed, as the guest counts */
	u32 sweep_next;
};

struct xcqe {				/* an expected CQE */
	u64 wr_id;
	u32 bytes;
	u32 index;
	u8 op, q;
};

static struct vfmem vfmem[MAX_VFS];
static struct vf vfs[MAX_VFS];
static int nvfs;

static u32 cur_job;
static int cur_vf;
static u32 sum = 0x811c9dc5;
static u32 seed, every = 100, max_jobs, timeout_s = 120, want_vfs;
static u32 corrupt_job, scribble_job, extra_job, stall_job;
static int corrupt_armed, corrupt_done, scribble_done, vfbar_high, force_flr;
static int fill_ram;
static u32 tsc_khz;
static u64 timeout_ticks, t_start;
static u64 ram_top;
static u32 total_wqe, total_cqe;

/* ---- reporting ------------------------------------------------------------- */

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	__builtin_va_list ap;

	printk("mvf-guest: FAIL job %u: ", cur_job);
	__builtin_va_start(ap, fmt);
	vprintk(fmt, ap);
	__builtin_va_end(ap);
	printk("\n");
	halt(1);
}

void guest_exception(u32 vec, u32 err, u32 eip);
void guest_exception(u32 vec, u32 err, u32 eip)
{
	u32 cr2;

	__asm__ __volatile__("movl %%cr2, %0" : "=r"(cr2));
	fail("CPU exception %u error 0x%x at eip 0x%x cr2 0x%x", vec, err, eip,
	     cr2);
}

static u32 ms_since_start(void)
{
	return (u32)div64(rdtsc() - t_start, tsc_khz ? tsc_khz : 3000000,
			  NULL);
}

/* ---- patterns and checksum ------------------------------------------------- */

static inline u32 mix32(u32 x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

/* word @w of the data of generation (job) @gen for @tag */
static inline u32 patw(u32 gen, u32 tag, u32 w)
{
	return mix32((gen * 0x9e3779b1u) ^ (tag * 0x85ebca77u) ^
		     (w * 0xc2b2ae3du) ^ seed ^ 0x6d766775u);
}

#define TAG_DM(v, s)	(0x01000000u | ((v)->idx << 16) | (s))
#define TAG_SEND(v)	(0x02000000u | ((v)->idx << 16))
#define TAG_POISON(v, x) (0x03000000u | ((v)->idx << 16) | (x))
#define TAG_SCRATCH(v)	(0x04000000u | ((v)->idx << 16))

static void fill_pat(u8 *dst, u32 len, u32 gen, u32 tag)
{
	u32 *d = (u32 *)dst, i;

	for (i = 0; i < len / 4; i++)
		d[i] = patw(gen, tag, i);
}

static inline void fold(u32 x)
{
	sum = (sum ^ x) * 0x01000193u;
}

/*
 * Compare @len bytes at @p with the pattern (@gen, @tag) from byte @b0 on,
 * fold what was read into the checksum.  On a mismatch: FAIL naming @what.
 */
static void check_pat(const volatile u8 *p, u32 len, u32 gen, u32 tag,
		      u32 b0, const char *what, u32 what_arg)
{
	u32 i = 0, wi = 0xffffffffu, w = 0;

	if (corrupt_armed) {
		corrupt_armed = 0;
		printk("mvf-guest: info corrupt=%u: checking %s %u against wrong data\n",
		       corrupt_job, what, what_arg);
		gen++;
	}
	if (!(b0 & 3) && !((uptr)p & 3)) {
		for (; i + 4 <= len; i += 4) {
			u32 a = *(const volatile u32 *)(p + i);
			u32 e = patw(gen, tag, (b0 + i) >> 2);

			if (a != e)
				break;
			fold(a);
		}
	}
	for (; i < len; i++) {
		u32 b = b0 + i;
		u8 a = p[i], e;

		if (b >> 2 != wi) {
			wi = b >> 2;
			w = patw(gen, tag, wi);
		}
		e = w >> ((b & 3) * 8);
		if (a != e)
			fail("vf %d %s %u: byte %u of %u is 0x%02x, expected 0x%02x (data of job %u)",
			     cur_vf, what, what_arg, i, len, a, e, gen);
		fold(a);
	}
}

/* ---- the VF's queue pair ----------------------------------------------------- */

static u64 wrid(u32 j, struct vf *v, u32 kind, u32 k)
{
	return ((u64)j << 32) | 0x6d760000u | (v->idx << 12) | (kind << 8) | k;
}

static u64 slot_off(struct vf *v, u32 s)
{
	/* odd slots at the end of their stride: the last one ends devmem */
	return (u64)s * v->ds + ((s & 1) ? v->ds - SLOT : 0);
}

static u32 post_send(struct vf *v, u8 op, const void *buf, u32 len, u64 off,
		     u64 wr_id)
{
	volatile struct mvf_send_wqe *w = &v->sq[v->sq_pi & ((1u << SQ_LOG) - 1)];

	w->opcode = op;
	w->flags = 0;
	w->rsvd0 = 0;
	w->len = len;
	w->addr = (u32)(uptr)buf;
	w->devmem_off = off;
	w->wr_id = wr_id;
	return v->sq_pi++;
}

static u32 post_recv(struct vf *v, const void *buf, u32 len, u64 wr_id)
{
	volatile struct mvf_recv_wqe *w = &v->rq[v->rq_pi & ((1u << RQ_LOG) - 1)];

	w->addr = (u32)(uptr)buf;
	w->len = len;
	w->rsvd0 = 0;
	w->wr_id = wr_id;
	w->rsvd1 = 0;
	return v->rq_pi++;
}

static void ring_sq(struct vf *v)
{
	mmio_wr32(v->bar0, MVF_VF_REG_SQ_PI, v->sq_pi);
}

static void ring_rq(struct vf *v)
{
	mmio_wr32(v->bar0, MVF_VF_REG_RQ_PI, v->rq_pi);
}

static int cqe_ready(struct vf *v)
{
	volatile struct mvf_cqe *c = &v->cq[v->cq_ci & ((1u << CQ_LOG) - 1)];

	return c->phase == (((v->cq_ci >> CQ_LOG) & 1) ^ 1);
}

static void dump_rings(struct vf *v, char *buf, int size)
{
	snprintk(buf, size,
		 "guest sq_pi %u rq_pi %u cq_ci %u; device sq_ci %u rq_ci %u cq_pi %u sq_pi %u rq_pi %u cq_ci %u status 0x%x",
		 v->sq_pi, v->rq_pi, v->cq_ci,
		 mmio_rd32(v->bar0, MVF_VF_REG_SQ_CI),
		 mmio_rd32(v->bar0, MVF_VF_REG_RQ_CI),
		 mmio_rd32(v->bar0, MVF_VF_REG_CQ_PI),
		 mmio_rd32(v->bar0, MVF_VF_REG_SQ_PI),
		 mmio_rd32(v->bar0, MVF_VF_REG_RQ_PI),
		 mmio_rd32(v->bar0, MVF_VF_REG_CQ_CI),
		 mmio_rd32(v->bar0, MVF_VF_REG_STATUS));
}

static const char *op_name(u8 op)
{
	switch (op) {
	case MVF_WQE_NOP: return "NOP";
	case MVF_WQE_SEND: return "SEND";
	case MVF_WQE_DEVMEM_WRITE: return "DEVMEM_WRITE";
	case MVF_WQE_DEVMEM_READ: return "DEVMEM_READ";
	case MVF_CQE_OP_RECV: return "RECV";
	default: return "?";
	}
}

/* Wait for and check the @n CQEs of @x, in order, then hand them back. */
static void wait_cqes(struct vf *v, const struct xcqe *x, int n)
{
	static char buf[256];
	int k;

	for (k = 0; k < n; k++) {
		volatile struct mvf_cqe *c;
		u64 t0 = rdtsc(), polls = 0, got_id;
		u32 bytes, index;
		u8 op, st, q;

		while (!cqe_ready(v)) {
			cpu_relax();
			if ((++polls & 1023) == 0) {
				u64 now = rdtsc();

				if (now < t0)
					t0 = now;	/* TSC went back */
				else if (now - t0 > timeout_ticks &&
					 polls >= MIN_POLLS) {
					dump_rings(v, buf, sizeof(buf));
					fail("vf %d: timeout (%u s) waiting for CQE %d of %d (%s wr_id 0x%llx): %s",
					     v->idx, timeout_s, k + 1, n,
					     op_name(x[k].op), x[k].wr_id, buf);
				}
			}
		}
		barrier();
		c = &v->cq[v->cq_ci & ((1u << CQ_LOG) - 1)];
		got_id = c->wr_id;
		bytes = c->byte_cnt;
		index = c->wqe_index;
		op = c->opcode;
		st = c->status;
		q = c->qtype;
		v->cq_ci++;
		if (got_id != x[k].wr_id || st != MVF_CQE_STAT_OK ||
		    op != x[k].op || q != x[k].q || bytes != x[k].bytes ||
		    index != x[k].index)
			fail("vf %d CQE %d of %d: wr_id 0x%llx %s q %u status %u bytes %u index %u, expected wr_id 0x%llx %s q %u status 0 bytes %u index %u",
			     v->idx, k + 1, n, got_id, op_name(op), q, st,
			     bytes, index, x[k].wr_id, op_name(x[k].op),
			     x[k].q, x[k].bytes, x[k].index);
		fold((u32)got_id);
		fold((u32)(got_id >> 32));
		fold(bytes ^ (index << 8) ^ op);
		if (q == MVF_CQE_Q_SQ)
			v->n_sq++;
		else
			v->n_rq++;
		v->n_cqe++;
		total_cqe++;
	}
	barrier();
	mmio_wr32(v->bar0, MVF_VF_REG_CQ_CI, v->cq_ci);
	/* nothing done twice: no CQE beyond what was asked for */
	if (cqe_ready(v)) {
		volatile struct mvf_cqe *c =
			&v->cq[v->cq_ci & ((1u << CQ_LOG) - 1)];

		fail("vf %d: unexpected CQE after %d expected: wr_id 0x%llx %s q %u status %u index %u",
		     v->idx, n, (u64)c->wr_id, op_name(c->opcode), c->qtype,
		     c->status, (u32)c->wqe_index);
	}
}

/* ---- jobs ------------------------------------------------------------------------ */

static void run_job(struct vf *v, u32 j)
{
	u32 h = mix32(j * 0x9e3779b1u ^ seed ^ 0x4a4f4221u);
	u32 h2 = mix32(h ^ 0x5bd1e995u);
	int W = h & 1, R = h & 2, S = h & 4, late = S && (h & 8);
	int N = h & 16, read_first = h2 & 0x100000, P = (h2 >> 28) == 0;
	u32 mask = v->nds - 1;
	u32 sw = (h >> 8) & mask, sr = (h >> 16) & mask, r = (h >> 24) & (NRB - 1);
	u32 o = (h2 >> 4) & (SRC_PAD - 1), len = 1 + ((h2 >> 10) & (SLOT - 1));
	u32 sp = (h2 >> 20) & mask, x = v->rq_pi & (NRX - 1), ri = 0;
	u32 egen = 0, i;
	struct xcqe xc[8];
	int n = 0, k = 0;
	u8 *rb = v->m->rb + r * SLOT, *rx = v->m->rx + x * SLOT;

	cur_vf = v->idx;
	if (!W && !R && !S && !N)
		N = 1;
	if (S) {
		fill_pat(v->m->src, SLOT + SRC_PAD, j, TAG_SEND(v));
		fill_pat(rx, SLOT, j, TAG_POISON(v, x));
		ri = v->rq_pi;		/* late: posted after the send */
		if (!late) {
			post_recv(v, rx, SLOT, wrid(j, v, 8, x));
			ring_rq(v);
		}
	}
	for (i = 0; i < 2; i++) {
		if (W && (i == 0) != !!read_first) {
			fill_pat(v->m->wbuf, SLOT, j, TAG_DM(v, sw));
			xc[n] = (struct xcqe){ wrid(j, v, 1, k), SLOT, v->sq_pi,
					       MVF_WQE_DEVMEM_WRITE, MVF_CQE_Q_SQ };
			post_send(v, MVF_WQE_DEVMEM_WRITE, v->m->wbuf, SLOT,
				  slot_off(v, sw), xc[n].wr_id);
			n++, k++;
		}
		if (R && (i == 0) == !!read_first) {
			egen = (W && !read_first && sw == sr) ? j : v->gen[sr];
			xc[n] = (struct xcqe){ wrid(j, v, 2, k), SLOT, v->sq_pi,
					       MVF_WQE_DEVMEM_READ, MVF_CQE_Q_SQ };
			post_send(v, MVF_WQE_DEVMEM_READ, rb, SLOT,
				  slot_off(v, sr), xc[n].wr_id);
			n++, k++;
		}
	}
	if (S) {
		xc[n] = (struct xcqe){ wrid(j, v, 3, k), len, v->sq_pi,
				       MVF_WQE_SEND, MVF_CQE_Q_SQ };
		post_send(v, MVF_WQE_SEND, v->m->src + o, len, 0, xc[n].wr_id);
		n++, k++;
		xc[n++] = (struct xcqe){ wrid(j, v, 8, x), len, ri,
					 MVF_CQE_OP_RECV, MVF_CQE_Q_RQ };
	}
	if (N) {
		xc[n] = (struct xcqe){ wrid(j, v, 4, k), 0, v->sq_pi,
				       MVF_WQE_NOP, MVF_CQE_Q_SQ };
		post_send(v, MVF_WQE_NOP, NULL, 0, 0, xc[n].wr_id);
		n++, k++;
	}
	if (j == extra_job) {
		printk("mvf-guest: info extra=%u: posting one NOP more than expected\n",
		       j);
		post_send(v, MVF_WQE_NOP, NULL, 0, 0, wrid(j, v, 0xf, 0xff));
	}
	barrier();
	ring_sq(v);
	if (j == stall_job) {
		printk("mvf-guest: info stall=%u: a SEND without a receive buffer, expect a timeout\n",
		       j);
		late = 0;
		xc[n++] = (struct xcqe){ wrid(j, v, 3, k), 1, v->sq_pi,
					 MVF_WQE_SEND, MVF_CQE_Q_SQ };
		post_send(v, MVF_WQE_SEND, v->m->src, 1, 0, xc[n - 1].wr_id);
		ring_sq(v);
	}
	if (late) {
		/* the SEND waits at the head of the SQ for this buffer */
		post_recv(v, rx, SLOT, wrid(j, v, 8, x));
		barrier();
		ring_rq(v);
	}
	i = patw(j, TAG_SCRATCH(v), 0);
	v->scratch[j & (MVF_VF_NUM_SCRATCH - 1)] = i;
	mmio_wr32(v->bar0, MVF_VF_REG_SCRATCH(j & (MVF_VF_NUM_SCRATCH - 1)), i);
	total_wqe += k;

	if (corrupt_job && j >= corrupt_job && !corrupt_done)
		corrupt_armed = corrupt_done = 1;
	wait_cqes(v, xc, n);

	if (W)
		v->gen[sw] = j;
	if (R) {
		check_pat(rb, SLOT, egen, TAG_DM(v, sr), 0,
			  "DEVMEM_READ into read-back slot", r);
		v->rb_gen[r] = egen;
		v->rb_slot[r] = sr;
	}
	if (S) {
		check_pat(rx, len, j, TAG_SEND(v), o, "SEND/RECV buffer", x);
		check_pat(rx + len, SLOT - len, j, TAG_POISON(v, x), len,
			  "RECV buffer beyond the data", x);
		v->rx_gen[x] = j;
		v->rx_off[x] = o;
		v->rx_len[x] = len;
		v->rx_used[x] = 1;
	}
	if (P && v->bar2)
		check_pat(v->bar2 + slot_off(v, sp), SLOT, v->gen[sp],
			  TAG_DM(v, sp), 0, "BAR2 CPU read of slot", sp);
	fold(j);
}

static u64 rd_cnt(struct vf *v, int i)
{
	u32 lo = mmio_rd32(v->bar0, MVF_VF_REG_CNT(i));
	u32 hi = mmio_rd32(v->bar0, MVF_VF_REG_CNT(i) + 4);

	return ((u64)hi << 32) | lo;
}

/* Re-read @cnt devmem slots from @first on through DEVMEM_READ and check. */
static void sweep_slots(struct vf *v, u32 j, u32 first, u32 cnt)
{
	struct xcqe xc[SWEEP];
	u32 i;

	for (i = 0; i < cnt; i++) {
		u32 s = (first + i) & (v->nds - 1);

		xc[i] = (struct xcqe){ wrid(j, v, 5, i), SLOT, v->sq_pi,
				       MVF_WQE_DEVMEM_READ, MVF_CQE_Q_SQ };
		post_send(v, MVF_WQE_DEVMEM_READ, v->m->sweep + i * SLOT, SLOT,
			  slot_off(v, s), xc[i].wr_id);
	}
	barrier();
	ring_sq(v);
	total_wqe += cnt;
	wait_cqes(v, xc, cnt);
	for (i = 0; i < cnt; i++) {
		u32 s = (first + i) & (v->nds - 1);

		check_pat(v->m->sweep + i * SLOT, SLOT, v->gen[s],
			  TAG_DM(v, s), 0, "devmem sweep of slot", s);
	}
}

static void checkpoint(struct vf *v, u32 j, int full)
{
	static const int cnts[] = { MVF_VF_CNT_SQ_WQES, MVF_VF_CNT_RQ_WQES,
				    MVF_VF_CNT_CQES, MVF_VF_CNT_ERRORS };
	static char buf[256];
	u32 want[4] = { v->n_sq, v->n_rq, v->n_cqe, 0 }, i, st, magic;

	cur_vf = v->idx;

	magic = mmio_rd32(v->bar0, MVF_VF_REG_MAGIC);
	st = mmio_rd32(v->bar0, MVF_VF_REG_STATUS);
	if (magic != MVF_MAGIC_VF || (st & (MVF_VF_STATUS_QUIESCED |
					    MVF_VF_STATUS_FROZEN |
					    MVF_VF_STATUS_QP_ERROR))) {
		dump_rings(v, buf, sizeof(buf));
		fail("vf %d: magic 0x%x status 0x%x at a checkpoint: %s",
		     v->idx, magic, st, buf);
	}
	if (mmio_rd32(v->bar0, MVF_VF_REG_SQ_CI) != v->sq_pi ||
	    mmio_rd32(v->bar0, MVF_VF_REG_RQ_CI) != v->rq_pi ||
	    mmio_rd32(v->bar0, MVF_VF_REG_CQ_PI) != v->cq_ci ||
	    mmio_rd32(v->bar0, MVF_VF_REG_SQ_PI) != v->sq_pi ||
	    mmio_rd32(v->bar0, MVF_VF_REG_RQ_PI) != v->rq_pi ||
	    mmio_rd32(v->bar0, MVF_VF_REG_CQ_CI) != v->cq_ci) {
		dump_rings(v, buf, sizeof(buf));
		fail("vf %d: queue indices differ: %s", v->idx, buf);
	}
	for (i = 0; i < ARRAY_SIZE(cnts); i++) {
		u64 c = rd_cnt(v, cnts[i]) - v->cnt_base[cnts[i]];

		if (c != want[i])
			fail("vf %d: counter %d is %llu since start, the guest counted %u",
			     v->idx, cnts[i], c, want[i]);
	}
	for (i = 0; i < MVF_VF_NUM_SCRATCH; i++) {
		u32 s = mmio_rd32(v->bar0, MVF_VF_REG_SCRATCH(i));

		if (s != v->scratch[i])
			fail("vf %d: scratch %u is 0x%x, expected 0x%x",
			     v->idx, i, s, v->scratch[i]);
		fold(s);
	}
	/* guest RAM that the VF wrote must still hold what it wrote */
	for (i = 0; i < NRB; i++) {
		if (v->rb_slot[i] == 0xffff) {
			u32 k;

			for (k = 0; k < SLOT; k++)
				if (v->m->rb[i * SLOT + k])
					fail("vf %d: read-back slot %u byte %u is 0x%02x, expected 0 (never written)",
					     v->idx, i, k, v->m->rb[i * SLOT + k]);
			continue;
		}
		check_pat(v->m->rb + i * SLOT, SLOT, v->rb_gen[i],
			  TAG_DM(v, v->rb_slot[i]), 0,
			  "re-check of read-back slot", i);
	}
	for (i = 0; i < NRX; i++) {
		u8 *rx = v->m->rx + i * SLOT;

		if (!v->rx_used[i])
			continue;
		check_pat(rx, v->rx_len[i], v->rx_gen[i], TAG_SEND(v),
			  v->rx_off[i], "re-check of receive buffer", i);
		check_pat(rx + v->rx_len[i], SLOT - v->rx_len[i], v->rx_gen[i],
			  TAG_POISON(v, i), v->rx_len[i],
			  "re-check of receive buffer tail", i);
	}
	if (full) {
		for (i = 0; i < v->nds; i += SWEEP)
			sweep_slots(v, j, i, SWEEP);
	} else {
		sweep_slots(v, j, v->sweep_next, SWEEP);
		v->sweep_next = (v->sweep_next + SWEEP) & (v->nds - 1);
	}
}

/* ---- finding and setting up the VFs ------------------------------------------------ */

static u16 found_vf[MAX_VFS];
static int nfound;
static u16 found_pf = 0xffff;

static void scan_bus(u32 bus, int depth)
{
	u32 dev, fn;

	for (dev = 0; dev < 32; dev++) {
		if ((pci_rd32(BDF(bus, dev, 0), 0) & 0xffff) == 0xffff)
			continue;
		for (fn = 0; fn < 8; fn++) {
			u16 bdf = BDF(bus, dev, fn);
			u32 id = pci_rd32(bdf, 0);

			if ((id & 0xffff) == 0xffff)
				continue;
			if ((id & 0xffff) == MVF_PCI_VENDOR_ID) {
				if (id >> 16 == MVF_PCI_DEVICE_ID_VF &&
				    nfound < MAX_VFS)
					found_vf[nfound++] = bdf;
				if (id >> 16 == MVF_PCI_DEVICE_ID_PF &&
				    found_pf == 0xffff)
					found_pf = bdf;
			}
			if ((pci_rd8(bdf, 0x0e) & 0x7f) == 1 && depth < 8) {
				u32 sec = pci_rd8(bdf, 0x19);

				if (sec > bus)
					scan_bus(sec, depth + 1);
			}
		}
	}
}

static u64 bar_addr(u16 bdf, int i)
{
	u32 lo = pci_rd32(bdf, 0x10 + 4 * i);
	u64 a = lo & ~0xfu;

	if ((lo & 7) == 4)
		a |= (u64)pci_rd32(bdf, 0x14 + 4 * i) << 32;
	return a;
}

/* size of a memory BAR at config offset @off (decoding must be off) */
static u64 bar_size(u16 bdf, u16 off, int is64)
{
	u32 lo = pci_rd32(bdf, off), hi = is64 ? pci_rd32(bdf, off + 4) : 0;
	u64 mask;

	pci_wr32(bdf, off, 0xffffffff);
	if (is64)
		pci_wr32(bdf, off + 4, 0xffffffff);
	mask = pci_rd32(bdf, off) & ~0xfu;
	if (is64)
		mask |= (u64)pci_rd32(bdf, off + 4) << 32;
	pci_wr32(bdf, off, lo);
	if (is64)
		pci_wr32(bdf, off + 4, hi);
	if (!mask)
		return 0;		/* not implemented */
	if (!is64)
		mask |= 0xffffffff00000000ull;
	return ~mask + 1;
}

/* ---- PF fallback: enable VFs through SR-IOV (host-side test only) -------------- */

struct range {
	u64 start, end;
};

static struct range busy[80];
static int nbusy;

static void add_busy(u64 start, u64 size)
{
	if (size && nbusy < (int)ARRAY_SIZE(busy))
		busy[nbusy++] = (struct range){ start, start + size };
}

/* the memory BARs of every function on bus 0 (the fallback's PF is there) */
static void collect_busy(void)
{
	u32 dev, fn;
	int i;

	for (dev = 0; dev < 32; dev++) {
		for (fn = 0; fn < 8; fn++) {
			u16 bdf = BDF(0, dev, fn), cmd;
			int nbar;

			if ((pci_rd32(bdf, 0) & 0xffff) == 0xffff) {
				if (!fn)
					break;
				continue;
			}
			nbar = (pci_rd8(bdf, 0x0e) & 0x7f) == 1 ? 2 : 6;
			cmd = pci_rd16(bdf, 0x04);
			pci_wr16(bdf, 0x04, cmd & ~0x3);
			for (i = 0; i < nbar; i++) {
				u32 lo = pci_rd32(bdf, 0x10 + 4 * i);
				int is64 = (lo & 7) == 4;

				if (!(lo & 1))
					add_busy(bar_addr(bdf, i),
						 bar_size(bdf, 0x10 + 4 * i, is64));
				i += is64;
			}
			pci_wr16(bdf, 0x04, cmd);
			if (nbar == 2) {	/* bridge windows */
				u32 m = pci_rd32(bdf, 0x20), p = pci_rd32(bdf, 0x24);
				u64 pb = ((u64)pci_rd32(bdf, 0x28) << 32) |
					 ((p & 0xfff0) << 16);
				u64 pl = ((u64)pci_rd32(bdf, 0x2c) << 32) |
					 ((p >> 16 & 0xfff0) << 16) | 0xfffff;

				if ((m >> 16 & 0xfff0) >= (m & 0xfff0))
					add_busy((m & 0xfff0) << 16,
						 (((m >> 16) & 0xfff0) << 16) +
						 0x100000 - ((m & 0xfff0) << 16));
				if (pl > pb)
					add_busy(pb, pl + 1 - pb);
			}
		}
	}
}

/* lowest @align-aligned gap of @size in [lo, hi) */
static u64 find_gap(u64 lo, u64 hi, u64 size, u64 align)
{
	u64 c = (lo + align - 1) & ~(align - 1);
	int i, moved = 1;

	while (moved && c + size <= hi) {
		moved = 0;
		for (i = 0; i < nbusy; i++) {
			if (c < busy[i].end && busy[i].start < c + size) {
				c = (busy[i].end + align - 1) & ~(align - 1);
				moved = 1;
			}
		}
	}
	return c + size <= hi ? c : 0;
}

static u64 vf_bar_pa[MAX_VFS][2];	/* fallback: BAR0, BAR2 of each VF */

static void sriov_fallback(u16 pf, u32 want)
{
	u64 high_next = 0x200000000ull, base[6] = { 0 }, size[6] = { 0 };
	u16 cap, total, first, stride, rid;
	u32 i, n;

	printk("mvf-guest: info no MVF VF, but the PF %02x:%02x.%x: enabling VFs through its SR-IOV capability (host-side test fallback)\n",
	       BDF_BUS(pf), BDF_DEV(pf), BDF_FN(pf));
	if (BDF_BUS(pf) != 0)
		fail("PF fallback: the PF must be on bus 0 (no bridge window for the VF BARs)");
	if (!pci_ecam_init())
		fail("PF fallback: no ECAM (q35 PCIEXBAR) to reach the SR-IOV capability");
	cap = pci_find_ext_cap(pf, 0x0010);
	if (!cap)
		fail("PF fallback: the PF has no SR-IOV capability");
	if (pci_rd16(pf, cap + 0x08) & 1)
		fail("PF fallback: VF Enable is set already, yet no VF is visible");
	total = pci_rd16(pf, cap + 0x0e);
	n = want ? want : 1;
	if (n > total)
		n = total;
	if (n > MAX_VFS)
		n = MAX_VFS;
	pci_wr16(pf, cap + 0x10, n);			/* NumVFs */
	first = pci_rd16(pf, cap + 0x14);
	stride = pci_rd16(pf, cap + 0x16);

	collect_busy();
	add_busy((u64)(uptr)0, ram_top);		/* RAM */
	add_busy(0xb0000000ull, 0x10000000ull);		/* q35 ECAM */
	for (i = 0; i < 6; i++) {
		u16 off = cap + 0x24 + 4 * i;
		u32 lo = pci_rd32(pf, off);
		int is64 = (lo & 7) == 4;

		size[i] = bar_size(pf, off, is64);
		if (size[i]) {
			u64 all = size[i] * n;

			if (is64 && vfbar_high) {
				base[i] = (high_next + size[i] - 1) & ~(size[i] - 1);
				high_next = base[i] + all;
			} else {
				base[i] = find_gap(0xc0000000ull, 0xfec00000ull,
						   all, size[i]);
				if (!base[i]) {
					int k;

					for (k = 0; k < nbusy; k++)
						printk("mvf-guest: info busy 0x%llx-0x%llx\n",
						       busy[k].start, busy[k].end);
					fail("PF fallback: no room below 4 GiB for VF BAR%u (%llu bytes)",
					     i, all);
				}
				add_busy(base[i], all);
			}
			pci_wr32(pf, off, (u32)base[i] | (lo & 0xf));
			if (is64)
				pci_wr32(pf, off + 4, base[i] >> 32);
		}
		i += is64;
	}
	pci_wr16(pf, cap + 0x08, 0x0001 | 0x0008);	/* VF Enable, VF MSE */
	tsc_delay_ms(tsc_khz, 10);
	for (i = 0; i < n; i++) {
		u32 id, cls;

		rid = pf + first + i * stride;
		/*
		 * A VF's vendor and device ID read 0xffff (SR-IOV spec; QEMU
		 * does so, vfio shows the real ones): check its class code.
		 */
		id = pci_rd32(rid, 0);
		cls = pci_rd32(rid, 0x08) >> 8;
		if ((id != 0xffffffff &&
		     id != (MVF_PCI_VENDOR_ID | (MVF_PCI_DEVICE_ID_VF << 16))) ||
		    cls != 0x028000)
			fail("PF fallback: no VF at %02x:%02x.%x after VF Enable (id 0x%08x class 0x%06x)",
			     BDF_BUS(rid), BDF_DEV(rid), BDF_FN(rid), id, cls);
		found_vf[nfound] = rid;
		vf_bar_pa[nfound][0] = base[0] + i * size[0];
		vf_bar_pa[nfound][1] = base[MVF_VF_DEVMEM_BAR] +
				       i * size[MVF_VF_DEVMEM_BAR];
		nfound++;
	}
	printk("mvf-guest: info enabled %u VF(s), first VF offset %u stride %u\n",
	       n, first, stride);
}

static void vf_flr(struct vf *v)
{
	u8 cap = pci_find_cap(v->bdf, 0x10);
	u32 bars[6], i;
	u16 cmd = pci_rd16(v->bdf, 0x04);

	if (!cap || !(pci_rd32(v->bdf, cap + 4) & (1u << 28)))
		fail("vf %d: not idle and not FLR capable", v->idx);
	for (i = 0; i < 6; i++)
		bars[i] = pci_rd32(v->bdf, 0x10 + 4 * i);
	pci_wr16(v->bdf, cap + 8, pci_rd16(v->bdf, cap + 8) | 0x8000);
	tsc_delay_ms(tsc_khz, 100);
	for (i = 0; i < 6; i++)
		pci_wr32(v->bdf, 0x10 + 4 * i, bars[i]);
	pci_wr16(v->bdf, 0x04, cmd | 0x6);
}

static void vf_setup(struct vf *v, int idx, u16 bdf, int fallback)
{
	u32 magic, ver, i, sq_ci, rq_ci, cq_pi, st;
	struct xcqe xc[SWEEP];
	int tries;

	v->idx = cur_vf = idx;
	v->bdf = bdf;
	v->m = &vfmem[idx];
	cur_job = 0;
	pci_wr16(bdf, 0x04, pci_rd16(bdf, 0x04) | 0x6);	/* MEM, bus master */
	if (fallback) {
		v->bar0_pa = vf_bar_pa[idx][0];
		v->bar2_pa = vf_bar_pa[idx][1];
	} else {
		v->bar0_pa = bar_addr(bdf, 0);
		v->bar2_pa = bar_addr(bdf, MVF_VF_DEVMEM_BAR);
	}
	if (!v->bar0_pa)
		fail("VF %02x:%02x.%x: BAR0 not assigned", BDF_BUS(bdf),
		     BDF_DEV(bdf), BDF_FN(bdf));
	v->bar0 = map_phys(v->bar0_pa, MVF_VF_BAR0_SIZE, ram_top);
	if (!v->bar0)
		fail("VF %02x:%02x.%x: cannot map BAR0 at 0x%llx", BDF_BUS(bdf),
		     BDF_DEV(bdf), BDF_FN(bdf), v->bar0_pa);
	magic = mmio_rd32(v->bar0, MVF_VF_REG_MAGIC);
	ver = mmio_rd32(v->bar0, MVF_VF_REG_VERSION);
	if (magic != MVF_MAGIC_VF)
		fail("VF %02x:%02x.%x: magic 0x%08x, expected 0x%08x",
		     BDF_BUS(bdf), BDF_DEV(bdf), BDF_FN(bdf), magic,
		     MVF_MAGIC_VF);
	if (ver >> 16 != MVF_IF_VERSION_MAJOR)
		fail("VF %02x:%02x.%x: interface version %u.%u, expected %u.x",
		     BDF_BUS(bdf), BDF_DEV(bdf), BDF_FN(bdf), ver >> 16,
		     ver & 0xffff, MVF_IF_VERSION_MAJOR);
	v->devmem = ((u64)mmio_rd32(v->bar0, MVF_VF_REG_DEVMEM_SIZE_HI) << 32) |
		    mmio_rd32(v->bar0, MVF_VF_REG_DEVMEM_SIZE_LO);
	if (v->devmem < MAX_SLOTS * SLOT * 2 || (v->devmem & (v->devmem - 1)))
		fail("vf %d: device memory of %llu bytes: need a power of two >= %u",
		     idx, v->devmem, MAX_SLOTS * SLOT * 2);
	v->nds = MAX_SLOTS;
	v->ds = v->devmem / MAX_SLOTS;		/* shifts: both powers of two */
	v->bar2 = v->bar2_pa ? map_phys(v->bar2_pa, v->devmem, ram_top) : NULL;
	printk("mvf-guest: VF %02x:%02x.%x bar0 0x%llx bar2 0x%llx devmem %llu bytes\n",
	       BDF_BUS(bdf), BDF_DEV(bdf), BDF_FN(bdf), v->bar0_pa, v->bar2_pa,
	       v->devmem);
	printk("mvf-guest: info vf %d: interface %u.%u, bar0 at %x, bar2 %s%x\n",
	       idx, ver >> 16, ver & 0xffff, (u32)(uptr)v->bar0,
	       v->bar2 ? "at " : "not mapped ", (u32)(uptr)v->bar2);

	for (tries = 0;; tries++) {
		mmio_wr32(v->bar0, MVF_VF_REG_CTRL, 0);
		sq_ci = mmio_rd32(v->bar0, MVF_VF_REG_SQ_CI);
		rq_ci = mmio_rd32(v->bar0, MVF_VF_REG_RQ_CI);
		cq_pi = mmio_rd32(v->bar0, MVF_VF_REG_CQ_PI);
		st = mmio_rd32(v->bar0, MVF_VF_REG_STATUS);
		if (!sq_ci && !rq_ci && !cq_pi && !st && (tries || !force_flr))
			break;
		if (tries)
			fail("vf %d: still not idle after FLR: sq_ci %u rq_ci %u cq_pi %u status 0x%x",
			     idx, sq_ci, rq_ci, cq_pi, st);
		printk("mvf-guest: info vf %d: %s (sq_ci %u rq_ci %u cq_pi %u status 0x%x): FLR\n",
		       idx, force_flr ? "flr=1" : "not idle", sq_ci, rq_ci,
		       cq_pi, st);
		vf_flr(v);
	}

	v->sq = (volatile struct mvf_send_wqe *)v->m->sq;
	v->rq = (volatile struct mvf_recv_wqe *)v->m->rq;
	v->cq = (volatile struct mvf_cqe *)v->m->cq;
	memset(v->m, 0, sizeof(*v->m));
	barrier();
	mmio_wr32(v->bar0, MVF_VF_REG_SQ_BASE_LO, (u32)(uptr)v->m->sq);
	mmio_wr32(v->bar0, MVF_VF_REG_SQ_BASE_HI, 0);
	mmio_wr32(v->bar0, MVF_VF_REG_SQ_LOG_SIZE, SQ_LOG);
	mmio_wr32(v->bar0, MVF_VF_REG_RQ_BASE_LO, (u32)(uptr)v->m->rq);
	mmio_wr32(v->bar0, MVF_VF_REG_RQ_BASE_HI, 0);
	mmio_wr32(v->bar0, MVF_VF_REG_RQ_LOG_SIZE, RQ_LOG);
	mmio_wr32(v->bar0, MVF_VF_REG_CQ_BASE_LO, (u32)(uptr)v->m->cq);
	mmio_wr32(v->bar0, MVF_VF_REG_CQ_BASE_HI, 0);
	mmio_wr32(v->bar0, MVF_VF_REG_CQ_LOG_SIZE, CQ_LOG);
	mmio_wr32(v->bar0, MVF_VF_REG_CQ_CI, 0);
	mmio_wr32(v->bar0, MVF_VF_REG_CTRL, MVF_VF_CTRL_QP_ENABLE);
	st = mmio_rd32(v->bar0, MVF_VF_REG_STATUS);
	if (st)
		fail("vf %d: status 0x%x after queue setup", idx, st);
	for (i = 0; i < MVF_VF_NUM_COUNTERS; i++)
		v->cnt_base[i] = rd_cnt(v, i);
	for (i = 0; i < MVF_VF_NUM_SCRATCH; i++) {
		v->scratch[i] = patw(0, TAG_SCRATCH(v), i + 1);
		mmio_wr32(v->bar0, MVF_VF_REG_SCRATCH(i), v->scratch[i]);
	}
	for (i = 0; i < NRB; i++)
		v->rb_slot[i] = 0xffff;

	/* every devmem slot gets the data of "job 0" */
	for (i = 0; i < v->nds; i++) {
		u32 k = i % SWEEP;
		u8 *b = v->m->sweep + k * SLOT;

		fill_pat(b, SLOT, 0, TAG_DM(v, i));
		xc[k] = (struct xcqe){ wrid(0, v, 6, i), SLOT, v->sq_pi,
				       MVF_WQE_DEVMEM_WRITE, MVF_CQE_Q_SQ };
		post_send(v, MVF_WQE_DEVMEM_WRITE, b, SLOT, slot_off(v, i),
			  xc[k].wr_id);
		if (k == SWEEP - 1 || i == v->nds - 1) {
			barrier();
			ring_sq(v);
			total_wqe += k + 1;
			wait_cqes(v, xc, k + 1);
		}
		v->gen[i] = 0;
	}
	memset(v->m->sweep, 0, sizeof(v->m->sweep));
	if (v->bar2)
		check_pat(v->bar2 + slot_off(v, v->nds - 1), SLOT, 0,
			  TAG_DM(v, v->nds - 1), 0, "BAR2 CPU read of slot",
			  v->nds - 1);
}

/* ---- command line ------------------------------------------------------------------ */

static int word_is(const char *w, const char *key, const char **val)
{
	while (*key && *w == *key)
		w++, key++;
	if (*key || *w != '=')
		return 0;
	*val = w + 1;
	return 1;
}

static u32 parse_num(const char *s)
{
	u32 v = 0, base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++) {
		u32 d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		v = v * base + d;
	}
	return v;
}

static int has_eq(const char *w)
{
	for (; *w; w++)
		if (*w == '=')
			return 1;
	return 0;
}

/* key=value words; others (QEMU puts the kernel's file name first) are skipped */
static void parse_cmdline(const char *c)
{
	static char w[64];

	while (c && *c) {
		const char *val;
		int n = 0;

		while (*c == ' ')
			c++;
		while (*c && *c != ' ')
			if (n < (int)sizeof(w) - 1)
				w[n++] = *c++;
			else
				c++;
		w[n] = 0;
		if (!n)
			break;
		if (word_is(w, "jobs", &val))
			max_jobs = parse_num(val);
		else if (word_is(w, "every", &val))
			every = parse_num(val);
		else if (word_is(w, "seed", &val))
			seed = parse_num(val);
		else if (word_is(w, "timeout", &val))
			timeout_s = parse_num(val);
		else if (word_is(w, "vfs", &val))
			want_vfs = parse_num(val);
		else if (word_is(w, "corrupt", &val))
			corrupt_job = parse_num(val);
		else if (word_is(w, "scribble", &val))
			scribble_job = parse_num(val);
		else if (word_is(w, "extra", &val))
			extra_job = parse_num(val);
		else if (word_is(w, "flr", &val))
			force_flr = parse_num(val) != 0;
		else if (word_is(w, "fill", &val))
			fill_ram = parse_num(val) != 0;
		else if (word_is(w, "stall", &val))
			stall_job = parse_num(val);
		else if (word_is(w, "vfbar", &val))
			vfbar_high = val[0] == 'h';
		else if (has_eq(w))
			printk("mvf-guest: info ignoring \"%s\"\n", w);
	}
	if (!every)
		every = 100;
	if (timeout_s < 60)
		timeout_s = 60;
}

/* ---- fill=1: free RAM with a pattern, re-verified -------------------------------------- */

extern u8 __image_end[];

#define FILL_PAGE	4096u
#define FILL_CHUNK	64u		/* pages re-verified per checkpoint */

static uptr fill_lo, fill_hi, fill_next;

/* Every 32-bit word of the page at A holds A with its low bit set. */
static u32 fill_word(uptr a)
{
	return (u32)a | 1;
}

static void fill_setup(void)
{
	uptr a;
	u32 n = FILL_PAGE / 4;

	fill_lo = ((uptr)__image_end + FILL_PAGE - 1) & ~(uptr)(FILL_PAGE - 1);
	fill_hi = ram_top > 0xffffffffull ? 0xfffff000u : (uptr)ram_top;
	fill_hi &= ~(uptr)(FILL_PAGE - 1);
	for (a = fill_lo; a < fill_hi; a += FILL_PAGE) {
		u32 w = fill_word(a), cnt = n;
		void *d = (void *)a;

		__asm__ __volatile__("cld; rep stosl"
				     : "+D"(d), "+c"(cnt) : "a"(w) : "memory");
	}
	fill_next = fill_lo;
	printk("mvf-guest: info fill=1: 0x%x..0x%x (%u KiB) filled\n",
	       (u32)fill_lo, (u32)fill_hi, (u32)((fill_hi - fill_lo) >> 10));
}

static void fill_check_page(uptr a)
{
	const volatile u32 *p = (const volatile u32 *)a;
	u32 w = fill_word(a), i;

	for (i = 0; i < FILL_PAGE / 4; i++)
		if (p[i] != w)
			fail("guest RAM at 0x%x is 0x%08x, expected 0x%08x (fill=1)",
			     (u32)(a + 4 * i), p[i], w);
}

/* The next FILL_CHUNK pages, round robin; all of them with ALL. */
static void fill_check(int all)
{
	u32 k;

	if (!fill_ram || fill_hi <= fill_lo)
		return;
	if (all) {
		uptr a;

		for (a = fill_lo; a < fill_hi; a += FILL_PAGE)
			fill_check_page(a);
		return;
	}
	for (k = 0; k < FILL_CHUNK; k++) {
		fill_check_page(fill_next);
		fill_next += FILL_PAGE;
		if (fill_next >= fill_hi)
			fill_next = fill_lo;
	}
}

/* ---- main ---------------------------------------------------------------------------- */

extern const u32 exc_table[20];
extern u64 idt[20];

void guest_main(u32 magic, struct mb_info *mbi);
void guest_main(u32 magic, struct mb_info *mbi)
{
	const char *cmdline = NULL;
	int i, fallback = 0;
	u32 j;

	for (i = 0; i < 20; i++)		/* interrupt gates, CS 0x08 */
		idt[i] = (exc_table[i] & 0xffff) | (0x08u << 16) |
			 ((u64)0x8e00 << 32) |
			 ((u64)(exc_table[i] >> 16) << 48);
	con_init();
	if (magic == MB_BOOT_MAGIC && (mbi->flags & 4))
		cmdline = (const char *)(uptr)mbi->cmdline;
	if (magic == MB_BOOT_MAGIC && (mbi->flags & 1))
		ram_top = 0x100000ull + (u64)mbi->mem_upper * 1024;
	if (ram_top < (uptr)__image_end)
		ram_top = (uptr)__image_end;
	printk("mvf-guest: boot %s\n", cmdline ? cmdline : "(no command line)");
	parse_cmdline(cmdline);
	if (fill_ram)
		fill_setup();
	tsc_khz = tsc_calibrate();
	timeout_ticks = (u64)(tsc_khz ? tsc_khz : 4000000) * 1000 * timeout_s;
	t_start = rdtsc();

	scan_bus(0, 0);
	if (!nfound && found_pf != 0xffff) {
		sriov_fallback(found_pf, want_vfs);
		fallback = 1;
	}
	if (!nfound)
		fail("no MVF device (no VF %04x:%04x, no PF %04x:%04x on any bus)",
		     MVF_PCI_VENDOR_ID, MVF_PCI_DEVICE_ID_VF, MVF_PCI_VENDOR_ID,
		     MVF_PCI_DEVICE_ID_PF);
	nvfs = nfound;
	if (want_vfs && (u32)nvfs > want_vfs)
		nvfs = want_vfs;
	for (i = 0; i < nvfs; i++)
		vf_setup(&vfs[i], i, found_vf[i], fallback);

	if (max_jobs)
		printk("mvf-guest: start vfs %d jobs %u every %u seed %u tsc-khz %u timeout %u\n",
		       nvfs, max_jobs, every, seed, tsc_khz, timeout_s);
	else
		printk("mvf-guest: start vfs %d jobs forever every %u seed %u tsc-khz %u timeout %u\n",
		       nvfs, every, seed, tsc_khz, timeout_s);
	t_start = rdtsc();

	for (j = 1; !max_jobs || j <= max_jobs; j++) {
		struct vf *v = &vfs[j % nvfs];

		cur_job = j;
		run_job(v, j);
		if (j % every == 0 || j == max_jobs) {
			int last = j == max_jobs;

			if (scribble_job && j >= scribble_job && !scribble_done) {
				scribble_done = 1;
				printk("mvf-guest: info scribble=%u: changing byte 7 of vf %d read-back slot %u before the checkpoint\n",
				       scribble_job, v->idx, j % NRB);
				v->m->rb[(j % NRB) * SLOT + 7] ^= 0x40;
			}

			for (i = 0; i < nvfs; i++)
				checkpoint(&vfs[i], j, last);
			fill_check(last);
			printk("mvf-guest: %s %u%s ok sum 0x%08x wqe %u cqe %u ms %u\n",
			       last ? "done" : "job", j, last ? " jobs" : "",
			       sum, total_wqe, total_cqe, ms_since_start());
		}
	}
	halt(0);
}
