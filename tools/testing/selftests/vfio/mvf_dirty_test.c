// SPDX-License-Identifier: GPL-2.0-only
/*
 * Device dirty page tracking of MVF VFs through VFIO (DMA_LOGGING_START,
 * _STOP and _REPORT; docs/issue12-design.md 3d).
 *
 * The VF's queue pair writes host memory by DMA in three ways: the host
 * side of a DEVMEM_READ, the receive buffer of a SEND, and its CQEs; it
 * only reads WQEs, SEND sources and DEVMEM_WRITE sources.  Every case
 * keeps the pages it had the VF write in a struct mvf_dirty_log
 * (lib/mvf_dirty.c), which also knows what the device forgets, and
 * compares each REPORT with it bit by bit: a difference prints the
 * window, the missing and the extra pages.
 *
 * DMA layout: the six 2 MiB slots of mvf_test.h at MVF_TEST_IOVA (VF1's
 * queue pair in slot 0, VF2's in slot 1) and one more 2 MiB buffer above
 * 4 GiB.  Most cases track four ranges: slot 0 (rings: the CQEs land
 * there), slots 2 and 4 and the high buffer; the WQEs write into the
 * first half of a range and read from the second.
 *
 * Every case runs with an iommufd and with a type1 container (variants
 * iommufd and group).
 */
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/mvf/mvf_vfio_uapi.h>

#include "kselftest_harness.h"
#include "mvf_test.h"
#include "mvf_dirty.h"
#include "mvf_host.h"

#define SEED		0xd1a7e12ULL
#define KiB		(1ULL << 10)
#define MiB		(1ULL << 20)
#define GiB		(1ULL << 30)
#define PG		(4 * KiB)
#define SLOT(k)		(MVF_TEST_IOVA + (uint64_t)(k) * MVF_SLOT_SIZE)
#define AREA_END	SLOT(MVF_NUM_SLOTS)
#define HI_IOVA		0x100000000ULL
#define HI_SIZE		(2 * MiB)
/* device memory the WQEs use (every VF has at least this much) */
#define DM_SPAN		MiB
#define BATCH		16
/* the device's facts (include/linux/mvf/mvf_if.h, QUERY_TRACK_CAPS) */
#define DEV_MAX_RANGES	8
#define DEV_CAPACITY	1048576
#define CORE_MAX_RANGES	MVF_DIRTY_MAX_RANGES

#define RACE_SECS	3

/* An IOVA area the WQEs write into or read from. */
struct area {
	uint64_t iova, size;
};

struct pool {
	const struct area *dst;		/* the VF writes here */
	int ndst;
	const struct area *src;		/* and reads from here */
	int nsrc;
};

/* The four ranges most cases track, and where the WQEs go inside them. */
static const mvf_range_t std_ranges[] = {
	{ SLOT(0), MVF_SLOT_SIZE }, { SLOT(2), MVF_SLOT_SIZE },
	{ SLOT(4), MVF_SLOT_SIZE }, { HI_IOVA, HI_SIZE },
};

#define NSTD	ARRAY_SIZE(std_ranges)

static const struct area std_dst[] = {
	{ SLOT(0) + 64 * KiB, MiB - 64 * KiB }, { SLOT(2), MiB },
	{ SLOT(4), MiB }, { HI_IOVA, MiB },
};

static const struct area std_src[] = {
	{ SLOT(0) + MiB, MiB }, { SLOT(2) + MiB, MiB },
	{ SLOT(4) + MiB, MiB }, { HI_IOVA + MiB, MiB },
};

static const struct pool std_pool = {
	std_dst, ARRAY_SIZE(std_dst), std_src, ARRAY_SIZE(std_src),
};

/* Everything a case has: up to two VFs, each with a queue pair. */
struct dfx {
	struct mvf_env env;
	struct mvf_dma hi;
	int nvf;
	struct mvf_qp qp[2];
	struct mvf_dirty_log log[2];
	uint64_t rng;
	/* overflow.window: the module parameter to put back */
	bool cap_saved;
	uint64_t cap_old;
};

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Run a call that is expected to fail without the library's message. */
#define QUIET(expr) ({							\
	int __q;							\
	vfio_util_quiet = true;						\
	__q = (expr);							\
	vfio_util_quiet = false;					\
	__q;								\
})

static void dfx_setup(struct __test_metadata *_metadata, struct dfx *f,
		      enum vfio_mode mode, int nvf)
{
	char why[512];
	int ret, i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < 2; i++)
		mvf_pageset_init(&f->log[i].written);
	f->rng = SEED;
	ret = mvf_env_open(&f->env, mode, nvf, why, sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	f->nvf = nvf;
	ret = vfio_dirty_probe(f->env.vf[0]->vdev);
	ASSERT_EQ(0, ret)
		TH_LOG("%s offers no DMA logging (PROBE of DMA_LOGGING_START: %s): mvf-vfio-pci without log_ops, a kernel without CONFIG_IOMMUFD_DRIVER or a device before interface 2.2",
		       f->env.vf[0]->bdf, strerror(-ret));
	ret = mvf_dma_alloc(f->env.ctx, HI_IOVA, HI_SIZE, &f->hi);
	ASSERT_EQ(0, ret) TH_LOG("mapping 2 MiB at IOVA 0x%llx: %s",
				 HI_IOVA, strerror(-ret));
	for (i = 0; i < nvf; i++) {
		ASSERT_EQ(0, vfio_dev_reset(f->env.vf[i]->vdev));
		ASSERT_EQ(0, mvf_qp_create_slot(&f->qp[i], f->env.vf[i],
						&f->env, i));
	}
}

static void dfx_teardown(struct dfx *f)
{
	int i;

	vfio_util_quiet = true;
	for (i = 0; i < 2; i++)
		mvf_dirty_log_stop(&f->log[i]);
	for (i = 0; i < f->env.nvf; i++)
		vfio_dev_reset(f->env.vf[i]->vdev);
	vfio_util_quiet = false;
	if (f->cap_saved)
		mvf_dirty_capacity_set(f->cap_old);
	if (f->env.ctx)
		mvf_dma_free(&f->hi);
	mvf_env_close(&f->env);
}

static inline struct vfio_dev *dev0(struct dfx *f)
{
	return f->env.vf[0]->vdev;
}

/* The first VF's device of any fixture: every fixture holds a struct dfx f. */
#define f_dev(self)	dev0(&(self)->f)

/* A fixture of @nvfs VFs, with an iommufd and a type1 variant. */
#define DIRTY_FIXTURE(name, nvfs)					\
	FIXTURE(name) {							\
		struct dfx f;						\
	};								\
	FIXTURE_VARIANT(name) {						\
		enum vfio_mode mode;					\
	};								\
	FIXTURE_VARIANT_ADD(name, iommufd) {				\
		.mode = VFIO_MODE_IOMMUFD,				\
	};								\
	FIXTURE_VARIANT_ADD(name, group) {				\
		.mode = VFIO_MODE_GROUP,				\
	};								\
	FIXTURE_SETUP(name)						\
	{								\
		dfx_setup(_metadata, &self->f, variant->mode, nvfs);	\
	}								\
	FIXTURE_TEARDOWN(name)						\
	{								\
		dfx_teardown(&self->f);					\
	}

/* ---- work for the VF ------------------------------------------------------ */

struct work {
	uint8_t op;		/* MVF_WQE_* */
	uint32_t len;
	uint64_t addr;		/* DEVMEM_*: host side; SEND: the source */
	uint64_t rbuf;		/* SEND: the receive buffer */
	uint64_t dm;		/* DEVMEM_*: device memory offset */
};

/*
 * Post @n WQEs (and the receive WQEs their SENDs need), wait for all
 * completions and add what the VF wrote to @written: DEVMEM_READ's host
 * side, SEND's receive buffer, the CQ slots.  0 or -errno, with a
 * message; no harness macros (threads call it).
 */
static int run_batch(struct mvf_qp *qp, const struct work *w, int n,
		     struct mvf_pageset *written)
{
	struct mvf_cqe cqe[2 * BATCH];
	uint32_t ci0 = qp->cq.ci;
	int i, nsend = 0, got, ret;

	if (n > BATCH)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (w[i].op != MVF_WQE_SEND)
			continue;
		ret = mvf_qp_post_recv(qp, w[i].rbuf, w[i].len, 0x7000 + i);
		if (ret)
			return ret;
		nsend++;
	}
	if (nsend)
		mvf_qp_ring_rq(qp);
	for (i = 0; i < n; i++) {
		ret = mvf_qp_post(qp, w[i].op, w[i].addr, w[i].len, w[i].dm,
				  0x8000 + i);
		if (ret)
			return ret;
	}
	mvf_qp_ring_sq(qp);
	got = mvf_qp_wait(qp, cqe, n + nsend);
	ret = mvf_pageset_add_cqes(written, qp, ci0, qp->cq.ci);
	if (ret)
		return ret;
	if (got != n + nsend) {
		fprintf(stderr, "# %s: %d of %d completions within %d ms\n",
			qp->vf->bdf, got, n + nsend, qp->timeout_ms);
		return -ETIMEDOUT;
	}
	for (i = 0; i < got; i++) {
		if (cqe[i].status != MVF_CQE_STAT_OK) {
			fprintf(stderr, "# %s: wr_id 0x%llx (opcode 0x%x) completed with status %u\n",
				qp->vf->bdf,
				(unsigned long long)le64toh(cqe[i].wr_id),
				cqe[i].opcode, cqe[i].status);
			return -EIO;
		}
	}
	for (i = 0; i < n; i++) {
		if (w[i].op == MVF_WQE_DEVMEM_READ)
			ret = mvf_pageset_add(written, w[i].addr, w[i].len);
		else if (w[i].op == MVF_WQE_SEND)
			ret = mvf_pageset_add(written, w[i].rbuf, w[i].len);
		if (ret)
			return ret;
	}
	return qp->vf->io_err;
}

static uint64_t in_area(uint64_t *rng, const struct area *a, uint32_t len)
{
	return a->iova + 8 * (rnd(rng) % ((a->size - len) / 8 + 1));
}

/*
 * A random WQE: 4 in 8 DEVMEM_READ into a @p->dst area, 2 SEND from a
 * source into a dst area, 1 DEVMEM_WRITE from a source, 1 NOP; 8 bytes
 * to 12 KiB at any 8-byte offset (so crossing pages).
 */
static void random_work(uint64_t *rng, const struct pool *p, struct work *w)
{
	const struct area *d = &p->dst[rnd(rng) % p->ndst];
	const struct area *s = &p->src[rnd(rng) % p->nsrc];
	uint32_t kind = rnd(rng) % 8;

	memset(w, 0, sizeof(*w));
	w->len = 8 * (1 + rnd(rng) % 1536);
	w->dm = 8 * (rnd(rng) % ((DM_SPAN - w->len) / 8));
	if (kind < 4) {
		w->op = MVF_WQE_DEVMEM_READ;
		w->addr = in_area(rng, d, w->len);
	} else if (kind < 6) {
		w->op = MVF_WQE_SEND;
		w->addr = in_area(rng, s, w->len);
		w->rbuf = in_area(rng, d, w->len);
	} else if (kind < 7) {
		w->op = MVF_WQE_DEVMEM_WRITE;
		w->addr = in_area(rng, s, w->len);
	} else {
		w->op = MVF_WQE_NOP;
		w->len = 0;
		w->dm = 0;
	}
}

static int run_random(struct mvf_qp *qp, uint64_t *rng, const struct pool *p,
		      int n, struct mvf_pageset *written)
{
	struct work w[BATCH];
	int i, k, ret;

	for (i = 0; i < n; i += k) {
		for (k = 0; k < BATCH && i + k < n; k++)
			random_work(rng, p, &w[k]);
		ret = run_batch(qp, w, k, written);
		if (ret)
			return ret;
	}
	return 0;
}

/* One DEVMEM_READ of @len bytes to @iova. */
static int dma_write(struct mvf_qp *qp, uint64_t iova, uint32_t len,
		     struct mvf_pageset *written)
{
	struct work w = {
		.op = MVF_WQE_DEVMEM_READ, .addr = iova, .len = len,
	};

	return run_batch(qp, &w, 1, written);
}

#define RUN_RANDOM(f, i, pool, n)					\
	ASSERT_EQ(0, run_random(&(f)->qp[i], &(f)->rng, pool, n,	\
				&(f)->log[i].written))

#define DMA_WRITE(f, i, iova, len)					\
	ASSERT_EQ(0, dma_write(&(f)->qp[i], iova, len, &(f)->log[i].written))

/*
 * REPORT a window and compare it with the pages written (which the
 * library prints on a difference); the label names the window.
 */
#define CHECK_WIN(l, iova, len, psize, ovf, fmt, ...) do {		\
	char __w[192];							\
	int64_t __r;							\
	snprintf(__w, sizeof(__w), fmt, ##__VA_ARGS__);			\
	__r = mvf_dirty_check(l, iova, len, psize, ovf, __w, NULL);	\
	EXPECT_EQ(0, __r) TH_LOG("%s: %s", __w, __r < 0 ?		\
		strerror((int)-__r) :					\
		"REPORT differs from the pages written (listed above)"); \
} while (0)

/* Each of @l's ranges as a window, with bits of @psize. */
static void check_ranges(struct __test_metadata *_metadata,
			 struct mvf_dirty_log *l, uint64_t psize,
			 const char *label)
{
	unsigned int i;

	for (i = 0; i < l->nranges; i++)
		CHECK_WIN(l, l->ranges[i].iova, l->ranges[i].length, psize,
			  false, "%s, range %u", label, i);
}

/* The bits a REPORT of a window sets, -errno if it fails. */
static int64_t report_weight(struct vfio_dev *dev, uint64_t iova,
			     uint64_t len, uint64_t psize)
{
	uint64_t *bm = mvf_bitmap_alloc(len, psize);
	int64_t ret;

	if (!bm)
		return -ENOMEM;
	ret = vfio_dirty_report(dev, iova, len, psize, bm);
	if (!ret)
		ret = mvf_bitmap_weight(bm, mvf_bitmap_bits(len, psize));
	free(bm);
	return ret;
}

static int report_quiet(struct vfio_dev *dev, uint64_t iova, uint64_t len,
			uint64_t psize)
{
	uint64_t *bm = mvf_bitmap_alloc(len ? len : PG, psize ? psize : PG);
	int ret;

	if (!bm)
		return -ENOMEM;
	ret = QUIET(vfio_dirty_report(dev, iova, len, psize, bm));
	free(bm);
	return ret;
}

static int start_quiet(struct vfio_dev *dev, uint64_t hint,
		       const mvf_range_t *r, unsigned int n)
{
	return QUIET(vfio_dirty_start(dev, &hint, r, n));
}

#define START(f, i, hint, ranges, n)					\
	ASSERT_EQ(0, mvf_dirty_log_start(&(f)->log[i],			\
					 (f)->env.vf[i]->vdev, hint,	\
					 ranges, n))

static void track_info(struct __test_metadata *_metadata,
		       struct mvf_vf *vf, struct mvf_track_dbg *t)
{
	int ret = mvf_track_info(vf->bdf, t);

	ASSERT_EQ(0, ret) TH_LOG("cannot read %s/%s/track: %s",
				 MVF_DEBUGFS_DIR, vf->bdf, strerror(-ret));
}

/* ---- exactness ------------------------------------------------------------- */

DIRTY_FIXTURE(exact, 1)

/*
 * Four ranges, 4 KiB tracker pages: three rounds of random WQEs, each
 * range reported exactly (written pages and CQ slots, no SQ/RQ pages, no
 * pages only read), then nothing.
 */
TEST_F_TIMEOUT(exact, page_4k, MVF_T_SHORT)
{
	struct dfx *f = &self->f;
	char label[64];
	int round;

	START(f, 0, PG, std_ranges, NSTD);
	ASSERT_EQ(PG, f->log[0].tpage) TH_LOG("hint 4 KiB, got 0x%llx",
					      (unsigned long long)f->log[0].tpage);
	for (round = 1; round <= 3; round++) {
		RUN_RANDOM(f, 0, &std_pool, 70);
		snprintf(label, sizeof(label), "round %d", round);
		check_ranges(_metadata, &f->log[0], PG, label);
		snprintf(label, sizeof(label), "round %d, again", round);
		check_ranges(_metadata, &f->log[0], PG, label);
	}
}

/*
 * Page size negotiation (the largest offered size not above the hint),
 * then a 2 MiB tracker: every 4 KiB of a touched 2 MiB page is reported,
 * with 4 KiB bits and with 2 MiB bits.
 */
TEST_F_TIMEOUT(exact, page_2m, MVF_T_SHORT)
{
	static const mvf_range_t big[] = {
		{ SLOT(0), AREA_END - SLOT(0) }, { HI_IOVA, HI_SIZE },
	};
	static const mvf_range_t one_g[] = { { 1 * GiB, 1 * GiB } };
	static const struct area slot2[] = { { SLOT(2), MVF_SLOT_SIZE } };
	static const struct area slot3[] = { { SLOT(3), MVF_SLOT_SIZE } };
	static const struct area r2dst[] = {
		{ SLOT(5) + MiB, MiB }, { HI_IOVA, HI_SIZE },
	};
	static const struct area slot4[] = { { SLOT(4), MVF_SLOT_SIZE } };
	const struct pool p1 = { slot2, 1, slot3, 1 };
	const struct pool p2 = { r2dst, 2, slot4, 1 };
	struct vfio_dev *dev = f_dev(self);
	struct dfx *f = &self->f;
	uint64_t ps, *got = NULL;
	int64_t ret;

	ps = 2 * MiB;
	ASSERT_EQ(0, vfio_dirty_start(dev, &ps, big, 2));
	EXPECT_EQ(2 * MiB, ps) TH_LOG("hint 2 MiB, got 0x%llx",
				      (unsigned long long)ps);
	ASSERT_EQ(0, vfio_dirty_stop(dev));
	ps = GiB;
	ASSERT_EQ(0, vfio_dirty_start(dev, &ps, one_g, 1));
	EXPECT_EQ(2 * MiB, ps) TH_LOG("hint 1 GiB, got 0x%llx (2 MiB is the largest offered)",
				      (unsigned long long)ps);
	ASSERT_EQ(0, vfio_dirty_stop(dev));
	/* the device offers every power of two from 4 KiB to 2 MiB */
	ps = 8 * KiB;
	ASSERT_EQ(0, vfio_dirty_start(dev, &ps, big, 2));
	EXPECT_EQ(8 * KiB, ps) TH_LOG("hint 8 KiB, got 0x%llx (8 KiB is offered)",
				      (unsigned long long)ps);
	ASSERT_EQ(0, vfio_dirty_stop(dev));
	ps = KiB;
	ASSERT_EQ(0, vfio_dirty_start(dev, &ps, big, 2));
	EXPECT_EQ(4 * KiB, ps) TH_LOG("hint 1 KiB, got 0x%llx (4 KiB is the smallest offered)",
				      (unsigned long long)ps);
	ASSERT_EQ(0, vfio_dirty_stop(dev));

	START(f, 0, 2 * MiB, big, 2);
	ASSERT_EQ(2 * MiB, f->log[0].tpage);

	/* slot 2 written, slot 3 read: slots 0 (CQ) and 2 whole */
	RUN_RANDOM(f, 0, &p1, 30);
	ret = mvf_dirty_check(&f->log[0], big[0].iova, big[0].length, PG,
			      false, "round 1 (4 KiB bits), slots", &got);
	EXPECT_EQ(0, ret);
	if (got)
		EXPECT_EQ(2 * 512, mvf_bitmap_weight(got, 6 * 512))
			TH_LOG("slots 0 and 2 are 1024 pages of 4 KiB");
	free(got);
	CHECK_WIN(&f->log[0], HI_IOVA, HI_SIZE, PG, false,
		  "round 1 (4 KiB bits), high buffer");

	/* slot 5 and the high buffer written: 2 MiB bits */
	RUN_RANDOM(f, 0, &p2, 30);
	ret = mvf_dirty_check(&f->log[0], big[0].iova, big[0].length,
			      2 * MiB, false, "round 2 (2 MiB bits), slots",
			      &got);
	EXPECT_EQ(0, ret);
	if (got)
		EXPECT_EQ(0x21, got[0]) TH_LOG("slots 0 and 5 are bits 0 and 5, got 0x%llx",
					       (unsigned long long)got[0]);
	free(got);
	CHECK_WIN(&f->log[0], HI_IOVA, HI_SIZE, 2 * MiB, false,
		  "round 2 (2 MiB bits), high buffer");

	/* anywhere */
	RUN_RANDOM(f, 0, &std_pool, 40);
	check_ranges(_metadata, &f->log[0], PG, "round 3 (4 KiB bits)");
	check_ranges(_metadata, &f->log[0], 2 * MiB, "round 3, again");
}

/*
 * 64 ranges (the device takes 8: mvf-vfio-pci combines them), written
 * inside only: each reported exactly.  256 ranges (the core's limit) are
 * taken, 257 refused with E2BIG.
 */
TEST_F_TIMEOUT(exact, combined, MVF_T_SHORT)
{
	static mvf_range_t r[CORE_MAX_RANGES + 1];
	static struct area dst[64];
	static const struct area src[] = { { SLOT(1) + 64 * KiB, MiB } };
	struct vfio_dev *dev = f_dev(self);
	struct dfx *f = &self->f;
	struct mvf_track_dbg t;
	struct pool p;
	uint64_t ps;
	unsigned int i;
	char label[64];

	for (i = 0; i <= CORE_MAX_RANGES; i++) {
		r[i].iova = SLOT(2) + i * 2 * PG;
		r[i].length = PG;
	}
	ps = PG;
	EXPECT_EQ(-E2BIG, QUIET(vfio_dirty_start(dev, &ps, r,
						 CORE_MAX_RANGES + 1)));
	ps = PG;
	ASSERT_EQ(0, vfio_dirty_start(dev, &ps, r, CORE_MAX_RANGES))
		TH_LOG("256 ranges (one page of them) must be taken");
	ASSERT_EQ(0, vfio_dirty_stop(dev));

	/* 64 ranges of 64 KiB, 128 KiB apart, over slots 2..5 */
	for (i = 0; i < 64; i++) {
		r[i].iova = SLOT(2) + i * 128 * KiB;
		r[i].length = 64 * KiB;
		dst[i].iova = r[i].iova;
		dst[i].size = r[i].length;
	}
	START(f, 0, PG, r, 64);
	ASSERT_EQ(PG, f->log[0].tpage);
	track_info(_metadata, f->env.vf[0], &t);
	EXPECT_EQ(1, t.active);
	if (t.ranges >= 0)
		EXPECT_GE(DEV_MAX_RANGES, t.ranges)
			TH_LOG("the device takes %d ranges, debugfs says %lld",
			       DEV_MAX_RANGES, (long long)t.ranges);
	p = (struct pool){ dst, 64, src, 1 };
	for (i = 0; i < 64; i++)
		DMA_WRITE(f, 0, r[i].iova + (rnd(&f->rng) % 13) * PG +
			  8 * (rnd(&f->rng) % 64),
			  8 * (1 + rnd(&f->rng) % 1024));
	RUN_RANDOM(f, 0, &p, 60);
	for (i = 0; i < 64; i++) {
		snprintf(label, sizeof(label), "64 ranges, range %u", i);
		CHECK_WIN(&f->log[0], r[i].iova, r[i].length, PG, false,
			  "%s", label);
	}
}

/* ---- windows ---------------------------------------------------------------- */

DIRTY_FIXTURE(window, 1)

/*
 * Parts of a range reported one after the other: each gives its own
 * pages only, none is reported twice.
 */
TEST_F_TIMEOUT(window, sub, MVF_T_SHORT)
{
	static const mvf_range_t r[] = {
		{ SLOT(0), MVF_SLOT_SIZE }, { SLOT(2), MVF_SLOT_SIZE },
	};
	static const struct area dst[] = { { SLOT(2), MVF_SLOT_SIZE } };
	static const struct area src[] = { { SLOT(3), MVF_SLOT_SIZE } };
	const struct pool p = { dst, 1, src, 1 };
	struct mvf_dirty_log *l = &self->f.log[0];
	struct dfx *f = &self->f;
	int i;

	START(f, 0, PG, r, 2);
	RUN_RANDOM(f, 0, &p, 40);
	/* and three pages we know of in a small window */
	for (i = 0; i < 3; i++)
		DMA_WRITE(f, 0, SLOT(2) + (100 + 2 * i) * PG + 64, 256);

	CHECK_WIN(l, SLOT(2) + 99 * PG, 7 * PG, PG, false,
		  "window of 7 pages");
	CHECK_WIN(l, SLOT(2) + 99 * PG, 7 * PG, PG, false,
		  "window of 7 pages, again");
	CHECK_WIN(l, SLOT(2), MiB, PG, false, "first half");
	CHECK_WIN(l, SLOT(2), MiB, PG, false, "first half, again");
	CHECK_WIN(l, SLOT(2) + MiB, MiB - 12 * KiB, PG, false,
		  "second half but 3 pages");
	CHECK_WIN(l, SLOT(2) + MiB, MiB, 2 * PG, false,
		  "second half (8 KiB bits)");
	EXPECT_EQ(0, report_weight(l->dev, SLOT(2), MVF_SLOT_SIZE, PG))
		TH_LOG("the whole range after all its parts were reported");
	/* slot 0: the CQ */
	CHECK_WIN(l, SLOT(0), MVF_SLOT_SIZE, PG, false, "CQ range");
}

/*
 * A 2 MiB tracker page cut by 4 KiB-aligned windows is reported by each
 * window that touches it, and forgotten once a window covers it; a
 * window crossing a range's edge reports the outside part dirty.  With 4
 * KiB tracker pages, a window of 0xfe0 bytes (QEMU asks so for a BAR
 * piece) keeps the page it cuts.
 */
TEST_F_TIMEOUT(window, straddle, MVF_T_SHORT)
{
	static const mvf_range_t r[] = { { SLOT(0), AREA_END - SLOT(0) } };
	static const mvf_range_t r4k[] = { { SLOT(2), MVF_SLOT_SIZE } };
	struct mvf_dirty_log *l = &self->f.log[0];
	struct dfx *f = &self->f;
	uint64_t *got = NULL;
	uint64_t a = SLOT(3) - MiB, b = SLOT(3) + MiB;
	uint64_t pg = SLOT(2) + 17 * PG;
	int64_t ret;

	START(f, 0, 2 * MiB, r, 1);
	ASSERT_EQ(2 * MiB, l->tpage);
	DMA_WRITE(f, 0, SLOT(3) + 0x123000, PG);

	/* [a, b) cuts slot 3 in the middle: its half is set */
	ret = mvf_dirty_check(l, a, 2 * MiB, PG, false, "window A", &got);
	EXPECT_EQ(0, ret);
	if (got)
		EXPECT_EQ(256, mvf_bitmap_weight(got, 512))
			TH_LOG("window A: the half of slot 3 it covers");
	free(got);
	CHECK_WIN(l, b, 2 * MiB, PG, false, "window B");
	CHECK_WIN(l, a, 2 * MiB, PG, false, "window A, again");
	EXPECT_TRUE(mvf_pageset_has(&l->written, SLOT(3) + 0x123000));
	CHECK_WIN(l, SLOT(3), 2 * MiB, PG, false, "window of slot 3");
	EXPECT_EQ(0, report_weight(l->dev, a, 2 * MiB, PG))
		TH_LOG("window A after slot 3 was reported whole");
	EXPECT_EQ(0, report_weight(l->dev, b, 2 * MiB, PG))
		TH_LOG("window B after slot 3 was reported whole");

	/* 2 MiB bits across two tracker pages: slot 0 holds the CQ */
	CHECK_WIN(l, SLOT(0) + MiB, 2 * MiB, 2 * MiB, false,
		  "2 MiB bit over slots 0 and 1");
	CHECK_WIN(l, SLOT(0), 2 * MiB, PG, false, "slot 0");

	/* the range's end: the outside half all set, every time */
	ret = mvf_dirty_check(l, AREA_END - MiB, 2 * MiB, PG, false,
			      "window over the range's end", &got);
	EXPECT_EQ(0, ret);
	if (got)
		EXPECT_EQ(256, mvf_bitmap_weight(got, 512))
			TH_LOG("the MiB outside the range, nothing inside");
	free(got);
	CHECK_WIN(l, AREA_END - MiB, 2 * MiB, PG, false,
		  "window over the range's end, again");
	CHECK_WIN(l, SLOT(0) - 64 * KiB, 128 * KiB, PG, false,
		  "window over the range's start");
	ASSERT_EQ(0, mvf_dirty_log_stop(l));

	/* 4 KiB pages, a window short of a page's end */
	START(f, 0, PG, r4k, 1);
	DMA_WRITE(f, 0, pg + 0x100, 64);
	CHECK_WIN(l, pg, 0xfe0, PG, false, "window of 0xfe0 bytes");
	CHECK_WIN(l, pg, 0xfe0, PG, false, "window of 0xfe0 bytes, again");
	EXPECT_TRUE(mvf_pageset_has(&l->written, pg));
	CHECK_WIN(l, pg - PG, 3 * PG, PG, false, "the page and both neighbours");
	EXPECT_EQ(0, report_weight(l->dev, pg, 0xfe0, PG));
}

/* ---- races ----------------------------------------------------------------- */

DIRTY_FIXTURE(race, 2)

struct busy {
	struct mvf_qp *qp;
	const uint64_t *pages;
	int npages;
	struct mvf_pageset written;
	volatile bool stop;
	unsigned int wqes;
	int err;
};

/* DEVMEM_READ a page of the set at a time, 8 per doorbell. */
static void *busy_main(void *arg)
{
	struct busy *b = arg;
	struct work w[8];
	unsigned int k = 0;
	int i;

	while (!b->stop && !b->err) {
		for (i = 0; i < 8; i++, k++)
			w[i] = (struct work){
				.op = MVF_WQE_DEVMEM_READ,
				.addr = b->pages[k % b->npages] + 8 * (k % 64),
				.len = 512,
				.dm = 4096 * (k % 64),
			};
		b->err = run_batch(b->qp, w, 8, &b->written);
		b->wqes += 8;
	}
	return NULL;
}

/*
 * A thread keeps the VF writing a known set of pages while the test
 * reports every 10 ms: the union of all reports and a last one after the
 * VF went idle is exactly the set and the CQ slots.
 */
TEST_F_TIMEOUT(race, busy, MVF_T_SHORT)
{
	static const mvf_range_t r[] = {
		{ SLOT(0), MVF_SLOT_SIZE }, { SLOT(2), MVF_SLOT_SIZE },
	};
	struct mvf_dirty_log *l = &self->f.log[0];
	struct dfx *f = &self->f;
	struct busy b = { .qp = &f->qp[0] };
	uint64_t pages[32], *u[2], *bm, *want, nb = 512;
	unsigned int reports = 0, nonzero = 0, i, k;
	pthread_t th;
	double end;
	bool seen;
	int ret = 0;

	for (i = 0; i < 32; i++)
		pages[i] = SLOT(2) + (5 + 7 * i) * PG;
	b.pages = pages;
	b.npages = 32;
	mvf_pageset_init(&b.written);
	u[0] = mvf_bitmap_alloc(MVF_SLOT_SIZE, PG);
	u[1] = mvf_bitmap_alloc(MVF_SLOT_SIZE, PG);
	bm = mvf_bitmap_alloc(MVF_SLOT_SIZE, PG);
	want = mvf_bitmap_alloc(MVF_SLOT_SIZE, PG);
	ASSERT_TRUE(u[0] && u[1] && bm && want);
	START(f, 0, PG, r, 2);

	ASSERT_EQ(0, pthread_create(&th, NULL, busy_main, &b));
	end = vfio_now() + 2;
	while (vfio_now() < end && !ret) {
		usleep(10000);
		for (k = 0; k < 2 && !ret; k++) {
			memset(bm, 0, nb / 8);
			ret = vfio_dirty_report(l->dev, r[k].iova, r[k].length,
						PG, bm);
			for (i = 0, seen = false; i < nb / 64; i++) {
				seen |= bm[i] != 0;
				u[k][i] |= bm[i];
			}
			nonzero += k == 1 && seen;
			reports++;
		}
	}
	b.stop = true;
	pthread_join(th, NULL);
	EXPECT_EQ(0, ret) TH_LOG("REPORT while the VF writes: %s",
				 strerror(-ret));
	ASSERT_EQ(0, b.err) TH_LOG("the VF's work failed: %s", strerror(-b.err));
	for (k = 0; k < 2; k++) {
		memset(bm, 0, nb / 8);
		ASSERT_EQ(0, vfio_dirty_report(l->dev, r[k].iova, r[k].length,
					       PG, bm));
		for (i = 0; i < nb / 64; i++)
			u[k][i] |= bm[i];
	}
	TH_LOG("%u WQEs, %u REPORTs while they ran (%u of slot 2 saw pages)",
	       b.wqes, reports, nonzero);
	EXPECT_LT(8, b.wqes);
	EXPECT_LT(10, reports);

	ASSERT_EQ(0, mvf_pageset_add_set(&l->written, &b.written));
	for (k = 0; k < 2; k++) {
		char what[64];

		snprintf(what, sizeof(what), "union of all REPORTs, range %u",
			 k);
		mvf_dirty_expect(l, r[k].iova, r[k].length, PG, false, want);
		EXPECT_EQ(0, mvf_dirty_diff(u[k], want, r[k].iova, r[k].length,
					    PG, l->tpage, what))
			TH_LOG("%s: differs from the pages written (above)", what);
	}
	mvf_pageset_free(&b.written);
	free(u[0]);
	free(u[1]);
	free(bm);
	free(want);
}

struct vf_worker {
	struct mvf_qp *qp;
	const struct pool *pool;
	uint64_t rng;
	struct mvf_pageset written;
	int n, err;
};

static void *vf_worker_main(void *arg)
{
	struct vf_worker *w = arg;

	w->err = run_random(w->qp, &w->rng, w->pool, w->n, &w->written);
	return NULL;
}

/*
 * Two VFs of one address space, both tracking the same ranges, write
 * different buffers at the same time: each VF's log has its own writes
 * (and CQ) only.
 */
TEST_F_TIMEOUT(race, two_vfs, MVF_T_SHORT)
{
	static const mvf_range_t r[] = {
		{ SLOT(0), AREA_END - SLOT(0) }, { HI_IOVA, HI_SIZE },
	};
	static const struct area d1[] = {
		{ SLOT(2), MVF_SLOT_SIZE }, { HI_IOVA, MiB },
	};
	static const struct area d2[] = {
		{ SLOT(3), MVF_SLOT_SIZE }, { HI_IOVA + MiB, MiB },
	};
	static const struct area s[] = { { SLOT(4), 2 * MVF_SLOT_SIZE } };
	const struct pool p1 = { d1, 2, s, 1 }, p2 = { d2, 2, s, 1 };
	struct dfx *f = &self->f;
	struct vf_worker w[2] = {
		{ .qp = &f->qp[0], .pool = &p1, .rng = SEED + 1, .n = 80 },
		{ .qp = &f->qp[1], .pool = &p2, .rng = SEED + 2, .n = 80 },
	};
	pthread_t th[2];
	char label[32];
	int i;

	START(f, 0, PG, r, 2);
	START(f, 1, PG, r, 2);
	for (i = 0; i < 2; i++) {
		mvf_pageset_init(&w[i].written);
		ASSERT_EQ(0, pthread_create(&th[i], NULL, vf_worker_main,
					    &w[i]));
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(0, w[i].err) TH_LOG("VF%d's work failed: %s", i + 1,
					      strerror(-w[i].err));
		ASSERT_EQ(0, mvf_pageset_add_set(&f->log[i].written,
						 &w[i].written));
		mvf_pageset_free(&w[i].written);
	}
	for (i = 0; i < 2; i++) {
		snprintf(label, sizeof(label), "VF%d", i + 1);
		check_ranges(_metadata, &f->log[i], PG, label);
	}
}

struct ss {
	struct vfio_dev *dev;
	struct mvf_qp *qp;
	volatile bool stop;
	uint64_t rng;
	unsigned int starts, stops, rep_ok, rep_einval, wqes;
	int bad, bad_errno;
	const char *bad_what;
	int werr;
};

static void ss_bad(struct ss *s, const char *what, int ret)
{
	if (!__atomic_fetch_add(&s->bad, 1, __ATOMIC_RELAXED)) {
		s->bad_what = what;
		s->bad_errno = ret;
	}
}

static void *ss_starter(void *arg)
{
	struct ss *s = arg;
	uint64_t rng = SEED + 7, ps;
	int ret;

	while (!s->stop) {
		ps = PG;
		ret = vfio_dirty_start(s->dev, &ps, std_ranges, NSTD);
		if (ret)
			ss_bad(s, "START", ret);
		else
			s->starts++;
		usleep(rnd(&rng) % 3000);
		ret = vfio_dirty_stop(s->dev);
		if (ret)
			ss_bad(s, "STOP", ret);
		else
			s->stops++;
		usleep(rnd(&rng) % 1000);
	}
	return NULL;
}

static void *ss_reporter(void *arg)
{
	struct ss *s = arg;
	uint64_t *bm = mvf_bitmap_alloc(MVF_SLOT_SIZE, PG);
	unsigned int k = 0;
	int ret;

	while (bm && !s->stop) {
		const mvf_range_t *r = &std_ranges[k++ % 2];

		ret = vfio_dirty_report(s->dev, r->iova, r->length, PG, bm);
		if (!ret)
			s->rep_ok++;
		else if (ret == -EINVAL)
			s->rep_einval++;
		else
			ss_bad(s, "REPORT", ret);
	}
	free(bm);
	return NULL;
}

static void *ss_writer(void *arg)
{
	struct ss *s = arg;
	struct mvf_pageset junk;

	mvf_pageset_init(&junk);
	while (!s->stop && !s->werr) {
		s->werr = run_random(s->qp, &s->rng, &std_pool, BATCH, &junk);
		s->wqes += BATCH;
		mvf_pageset_clear(&junk);
	}
	mvf_pageset_free(&junk);
	return NULL;
}

/* Kernel log records since @fd was opened that say something broke. */
static int klog_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0 && lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int klog_bad(int fd, char *first, size_t len)
{
	static const char * const bad[] = {
		"WARNING:", "BUG:", "KASAN", "UBSAN", "circular locking",
		"possible recursive locking", "lock held when returning",
		"Oops", "refcount_t:", "list_add corruption",
		"list_del corruption", "INFO: task",
	};
	char rec[2048];
	int n = 0;
	size_t i;
	ssize_t r;

	first[0] = 0;
	for (;;) {
		r = read(fd, rec, sizeof(rec) - 1);
		if (r < 0 && errno == EPIPE)
			continue;
		if (r <= 0)
			break;
		rec[r] = 0;
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			if (!strstr(rec, bad[i]))
				continue;
			if (!n++)
				snprintf(first, len, "%.*s",
					 (int)strcspn(rec, "\n"), rec);
			break;
		}
	}
	return n;
}

/*
 * START/STOP in a loop against REPORT in a loop (and the VF writing) for
 * a few seconds: START and STOP always succeed, REPORT gives 0 or EINVAL
 * (not started) and nothing else; afterwards tracking is exact again and
 * the kernel log has no warning (the debug kernel has lockdep and KASAN).
 */
TEST_F_TIMEOUT(race, start_stop, MVF_T_SHORT)
{
	struct dfx *f = &self->f;
	struct ss s = {
		.dev = f->env.vf[0]->vdev, .qp = &f->qp[0], .rng = SEED + 3,
	};
	pthread_t th[3];
	char first[512];
	int kfd, n;

	kfd = klog_open();
	ASSERT_LE(0, kfd) TH_LOG("/dev/kmsg: %s", strerror(errno));
	vfio_util_quiet = true;
	ASSERT_EQ(0, pthread_create(&th[0], NULL, ss_starter, &s));
	ASSERT_EQ(0, pthread_create(&th[1], NULL, ss_reporter, &s));
	ASSERT_EQ(0, pthread_create(&th[2], NULL, ss_writer, &s));
	sleep(RACE_SECS);
	s.stop = true;
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	pthread_join(th[2], NULL);
	vfio_util_quiet = false;
	TH_LOG("%u STARTs, %u STOPs, REPORT: %u ok, %u EINVAL; the VF did %u WQEs",
	       s.starts, s.stops, s.rep_ok, s.rep_einval, s.wqes);
	EXPECT_EQ(0, s.bad) TH_LOG("%d unexpected results, the first: %s %s",
				   s.bad, s.bad_what ? s.bad_what : "",
				   strerror(-s.bad_errno));
	EXPECT_EQ(0, s.werr) TH_LOG("the VF's work failed: %s",
				    strerror(-s.werr));
	EXPECT_LT(0, s.starts);
	EXPECT_LT(0, s.rep_ok);
	EXPECT_EQ(-EINVAL, report_quiet(s.dev, SLOT(2), MVF_SLOT_SIZE, PG))
		TH_LOG("the last STOP left a tracker");

	START(f, 0, PG, std_ranges, NSTD);
	RUN_RANDOM(f, 0, &std_pool, 40);
	check_ranges(_metadata, &f->log[0], PG, "after the race");

	n = klog_bad(kfd, first, sizeof(first));
	close(kfd);
	EXPECT_EQ(0, n) TH_LOG("%d kernel log records of trouble, the first: %s",
			       n, first);
}

/* ---- errors ---------------------------------------------------------------- */

DIRTY_FIXTURE(err, 1)

TEST_F_TIMEOUT(err, start_twice, MVF_T_SHORT)
{
	static const mvf_range_t other[] = { { SLOT(3), MVF_SLOT_SIZE } };
	struct dfx *f = &self->f;

	START(f, 0, PG, std_ranges, NSTD);
	EXPECT_EQ(-EINVAL, start_quiet(dev0(f), PG, std_ranges, NSTD));
	EXPECT_EQ(-EINVAL, start_quiet(dev0(f), 2 * MiB, other, 1));
	/* the first tracker goes on */
	RUN_RANDOM(f, 0, &std_pool, 30);
	check_ranges(_metadata, &f->log[0], PG, "after the refused STARTs");
}

TEST_F_TIMEOUT(err, report_not_started, MVF_T_SHORT)
{
	struct dfx *f = &self->f;

	EXPECT_EQ(-EINVAL, report_quiet(dev0(f), SLOT(2), MVF_SLOT_SIZE, PG))
		TH_LOG("REPORT before START");
	START(f, 0, PG, std_ranges, NSTD);
	ASSERT_EQ(0, mvf_dirty_log_stop(&f->log[0]));
	EXPECT_EQ(-EINVAL, report_quiet(dev0(f), SLOT(2), MVF_SLOT_SIZE, PG))
		TH_LOG("REPORT after STOP");
}

TEST_F_TIMEOUT(err, stop_twice, MVF_T_SHORT)
{
	struct dfx *f = &self->f;

	EXPECT_EQ(0, vfio_dirty_stop(dev0(f))) TH_LOG("STOP before START");
	START(f, 0, PG, std_ranges, NSTD);
	EXPECT_EQ(0, vfio_dirty_stop(dev0(f)));
	EXPECT_EQ(0, vfio_dirty_stop(dev0(f))) TH_LOG("the second STOP");
	mvf_dirty_log_free(&f->log[0]);
	/* and a new one works */
	START(f, 0, PG, std_ranges, NSTD);
	RUN_RANDOM(f, 0, &std_pool, 20);
	check_ranges(_metadata, &f->log[0], PG, "after STOP, STOP, START");
}

TEST_F_TIMEOUT(err, page_size_hint, MVF_T_SHORT)
{
	static const mvf_range_t r[] = { { SLOT(2), MVF_SLOT_SIZE } };
	struct dfx *f = &self->f;

	EXPECT_EQ(-EINVAL, start_quiet(dev0(f), 0, r, 1)) TH_LOG("hint 0");
	EXPECT_EQ(-EINVAL, start_quiet(dev0(f), 3000, r, 1))
		TH_LOG("hint 3000");
	EXPECT_EQ(-EINVAL, start_quiet(dev0(f), 3 * PG, r, 1))
		TH_LOG("hint 12 KiB");
	EXPECT_EQ(-EINVAL, report_quiet(dev0(f), SLOT(2), MVF_SLOT_SIZE, PG))
		TH_LOG("a refused START left a tracker");
	START(f, 0, PG, r, 1);
}

TEST_F_TIMEOUT(err, bad_ranges, MVF_T_SHORT)
{
	static mvf_range_t many[CORE_MAX_RANGES + 1];
	const mvf_range_t unaligned_iova[] = { { SLOT(2) + 2048, 2 * PG } };
	const mvf_range_t unaligned_len[] = { { SLOT(2), PG + 2048 } };
	const mvf_range_t overlap[] = {
		{ SLOT(2), 2 * PG }, { SLOT(2) + PG, 2 * PG },
	};
	const mvf_range_t zero_len[] = { { SLOT(2), 0 } };
	const mvf_range_t zero_len2[] = {
		{ SLOT(0), MVF_SLOT_SIZE }, { SLOT(2), 0 }, { SLOT(4), PG },
	};
	const mvf_range_t wrap[] = { { ~0ULL - PG + 1, 2 * PG } };
	struct vfio_dev *dev = f_dev(self);
	struct dfx *f = &self->f;
	unsigned int i;

	for (i = 0; i <= CORE_MAX_RANGES; i++) {
		many[i].iova = SLOT(2) + i * 2 * PG;
		many[i].length = PG;
	}
	EXPECT_EQ(-EINVAL, start_quiet(dev, PG, unaligned_iova, 1))
		TH_LOG("an IOVA not aligned to the hint");
	EXPECT_EQ(-EINVAL, start_quiet(dev, PG, unaligned_len, 1))
		TH_LOG("a length not aligned to the hint");
	EXPECT_EQ(-EINVAL, start_quiet(dev, PG, overlap, 2))
		TH_LOG("overlapping ranges");
	EXPECT_EQ(-EINVAL, start_quiet(dev, PG, std_ranges, 0))
		TH_LOG("no range");
	EXPECT_EQ(-EINVAL, start_quiet(dev, PG, zero_len, 1))
		TH_LOG("a range of 0 bytes");
	EXPECT_EQ(-EINVAL, start_quiet(dev, PG, zero_len2, 3))
		TH_LOG("a range of 0 bytes between two others");
	EXPECT_EQ(-EOVERFLOW, start_quiet(dev, PG, wrap, 1))
		TH_LOG("a range that wraps");
	EXPECT_EQ(-E2BIG, start_quiet(dev, PG, many, CORE_MAX_RANGES + 1))
		TH_LOG("257 ranges");
	EXPECT_EQ(-EINVAL, report_quiet(dev, SLOT(2), MVF_SLOT_SIZE, PG))
		TH_LOG("a refused START left a tracker");
	START(f, 0, PG, std_ranges, NSTD);
}

/* The device tracks at most 2^48 bytes of ranges (mlx5's errno above). */
TEST_F_TIMEOUT(err, addr_space, MVF_T_SHORT)
{
	const mvf_range_t max[] = { { 0, 1ULL << 48 } };
	const mvf_range_t over[] = { { 0, (1ULL << 48) + PG } };
	const mvf_range_t over2[] = {
		{ 0, 1ULL << 47 }, { 1ULL << 48, (1ULL << 47) + 2 * MiB },
	};
	struct vfio_dev *dev = f_dev(self);
	struct dfx *f = &self->f;
	uint64_t ps = PG;

	EXPECT_EQ(0, vfio_dirty_start(dev, &ps, max, 1))
		TH_LOG("exactly 2^48 bytes");
	EXPECT_EQ(0, vfio_dirty_stop(dev));
	EXPECT_EQ(-EOPNOTSUPP, start_quiet(dev, PG, over, 1))
		TH_LOG("2^48 + 4 KiB in one range");
	EXPECT_EQ(-EOPNOTSUPP, start_quiet(dev, PG, over2, 2))
		TH_LOG("2^48 + 2 MiB in two ranges");
	EXPECT_EQ(-EINVAL, report_quiet(dev, SLOT(2), MVF_SLOT_SIZE, PG))
		TH_LOG("a refused START left a tracker");
	START(f, 0, PG, std_ranges, NSTD);
}

/* Bad REPORTs fail and forget nothing. */
TEST_F_TIMEOUT(err, report_args, MVF_T_SHORT)
{
	struct vfio_dev *dev = f_dev(self);
	struct dfx *f = &self->f;

	START(f, 0, PG, std_ranges, NSTD);
	RUN_RANDOM(f, 0, &std_pool, 30);
	EXPECT_EQ(-EINVAL, report_quiet(dev, SLOT(2), MVF_SLOT_SIZE, 2048))
		TH_LOG("bits of 2 KiB");
	EXPECT_EQ(-EINVAL, report_quiet(dev, SLOT(2), MVF_SLOT_SIZE, 3 * PG))
		TH_LOG("bits of 12 KiB");
	EXPECT_EQ(-EINVAL, report_quiet(dev, SLOT(2), MVF_SLOT_SIZE, 0))
		TH_LOG("bits of 0 bytes");
	EXPECT_EQ(-EOVERFLOW, report_quiet(dev, ~0ULL - PG + 1, 2 * PG, PG))
		TH_LOG("a window that wraps");
	EXPECT_EQ(-EINVAL, report_quiet(dev, SLOT(2), 0, PG))
		TH_LOG("a window of 0 bytes");
	check_ranges(_metadata, &f->log[0], PG, "after the refused REPORTs");
}

/* ---- overflow ---------------------------------------------------------------- */

DIRTY_FIXTURE(overflow, 1)

/*
 * A tracker of 64 pages (dirty_capacity) that 256 pages overflow: every
 * window reports all dirty once, then exactly again.
 */
TEST_F_TIMEOUT(overflow, window, MVF_T_SHORT)
{
	static const mvf_range_t r[] = {
		{ SLOT(0), MVF_SLOT_SIZE }, { SLOT(2), MVF_SLOT_SIZE },
		{ SLOT(4), MVF_SLOT_SIZE },
	};
	struct mvf_dirty_log *l = &self->f.log[0];
	struct dfx *f = &self->f;
	struct mvf_track_dbg t;
	int ret, i;

	ret = mvf_dirty_capacity_get(&f->cap_old);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", MVF_DIRTY_CAPACITY_PARAM,
				 strerror(-ret));
	f->cap_saved = true;
	ret = mvf_dirty_capacity_set(64);
	ASSERT_EQ(0, ret) TH_LOG("writing 64 to %s: %s",
				 MVF_DIRTY_CAPACITY_PARAM, strerror(-ret));
	START(f, 0, PG, r, 3);
	/* read at START only: put it back now */
	ASSERT_EQ(0, mvf_dirty_capacity_set(f->cap_old));
	f->cap_saved = false;
	track_info(_metadata, f->env.vf[0], &t);
	EXPECT_EQ(1, t.active);
	if (t.capacity >= 0)
		EXPECT_EQ(64, t.capacity) TH_LOG("debugfs capacity %lld",
						 (long long)t.capacity);

	/* 256 pages in slot 2 */
	DMA_WRITE(f, 0, SLOT(2), MiB);
	CHECK_WIN(l, SLOT(2), MVF_SLOT_SIZE, PG, true,
		  "slot 2 after the overflow");
	CHECK_WIN(l, SLOT(4), MVF_SLOT_SIZE, PG, true,
		  "slot 4 (never written) after the overflow");
	for (i = 0; i < 3; i++)
		DMA_WRITE(f, 0, SLOT(2) + (300 + 10 * i) * PG, 64);
	CHECK_WIN(l, SLOT(2), MVF_SLOT_SIZE, PG, false,
		  "slot 2, second report");
	CHECK_WIN(l, SLOT(0), MVF_SLOT_SIZE, PG, true,
		  "slot 0 (CQ) after the overflow");
	CHECK_WIN(l, SLOT(0), MVF_SLOT_SIZE, PG, false,
		  "slot 0, second report");
	CHECK_WIN(l, SLOT(4), MVF_SLOT_SIZE, PG, false,
		  "slot 4, second report");
	track_info(_metadata, f->env.vf[0], &t);
	/* debugfs counts the REPORTs that came back with OVERFLOW: the
	 * three windows above, each once */
	if (t.overflows >= 0)
		EXPECT_EQ(3, t.overflows) TH_LOG("debugfs overflows %lld",
						 (long long)t.overflows);
}

/* ---- migration states ------------------------------------------------------- */

DIRTY_FIXTURE(state, 2)

static void go(struct __test_metadata *_metadata, struct mvf_vf *vf,
	       uint32_t state, int *fdp)
{
	int fd = -1;

	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, state, &fd))
		TH_LOG("%s -> %s", vfio_mig_state_name(mvf_state(vf)),
		       vfio_mig_state_name(state));
	if (fdp)
		*fdp = fd;
	else if (fd >= 0)
		close(fd);
}

/*
 * Tracking does not care about the migration state: started in RUNNING,
 * reported in PRE_COPY, STOP_COPY (stream read to its end) and STOP, and
 * again after RUNNING; a VF in RESUMING can start one.
 */
TEST_F_TIMEOUT(state, all, MVF_T_SHORT)
{
	struct mvf_vf *vf1 = self->f.env.vf[0], *vf2 = self->f.env.vf[1];
	struct mvf_dirty_log *l = &self->f.log[0];
	struct dfx *f = &self->f;
	void *buf = NULL;
	size_t len = 0;
	int fd = -1, lfd = -1;

	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(vf1));
	START(f, 0, PG, std_ranges, NSTD);
	DMA_WRITE(f, 0, SLOT(2) + 3 * PG, 3 * PG);

	go(_metadata, vf1, VFIO_DEVICE_STATE_PRE_COPY, &fd);
	ASSERT_LE(0, fd);
	DMA_WRITE(f, 0, SLOT(2) + 40 * PG + 8, PG);
	DMA_WRITE(f, 0, SLOT(4) + 9 * PG, 100);
	CHECK_WIN(l, SLOT(2), MVF_SLOT_SIZE, PG, false, "PRE_COPY, slot 2");
	DMA_WRITE(f, 0, SLOT(4) + 77 * PG, 2 * PG);
	DMA_WRITE(f, 0, HI_IOVA + 5 * PG, 8);

	go(_metadata, vf1, VFIO_DEVICE_STATE_PRE_COPY_P2P, NULL);
	go(_metadata, vf1, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	ASSERT_EQ(0, vfio_mig_save(fd, vf1->devmem_size, &buf, &len))
		TH_LOG("the stream to its end");
	free(buf);
	CHECK_WIN(l, SLOT(4), MVF_SLOT_SIZE, PG, false, "STOP_COPY, slot 4");

	go(_metadata, vf1, VFIO_DEVICE_STATE_STOP, NULL);
	close(fd);
	CHECK_WIN(l, HI_IOVA, HI_SIZE, PG, false, "STOP, high buffer");
	CHECK_WIN(l, SLOT(0), MVF_SLOT_SIZE, PG, false, "STOP, slot 0 (CQ)");
	CHECK_WIN(l, SLOT(2), MVF_SLOT_SIZE, PG, false, "STOP, slot 2");

	go(_metadata, vf1, VFIO_DEVICE_STATE_RUNNING, NULL);
	RUN_RANDOM(f, 0, &std_pool, 30);
	check_ranges(_metadata, l, PG, "RUNNING again");

	/* VF2 in RESUMING */
	go(_metadata, vf2, VFIO_DEVICE_STATE_STOP, NULL);
	go(_metadata, vf2, VFIO_DEVICE_STATE_RESUMING, &lfd);
	START(f, 1, PG, std_ranges, NSTD);
	check_ranges(_metadata, &f->log[1], PG, "VF2 in RESUMING");
	EXPECT_EQ(0, mvf_dirty_log_stop(&f->log[1]));
	if (lfd >= 0)
		close(lfd);
}

/* ---- lifecycle ------------------------------------------------------------- */

DIRTY_FIXTURE(life, 1)

/* VFIO_DEVICE_RESET (an FLR) keeps the tracker and its pages. */
TEST_F_TIMEOUT(life, reset, MVF_T_SHORT)
{
	struct mvf_dirty_log *l = &self->f.log[0];
	struct dfx *f = &self->f;
	struct mvf_track_dbg t;

	START(f, 0, PG, std_ranges, NSTD);
	DMA_WRITE(f, 0, SLOT(2) + 11 * PG, 5 * PG);
	DMA_WRITE(f, 0, SLOT(4) + 200 * PG + 4000, 200);
	ASSERT_EQ(0, vfio_dev_reset(dev0(f)));
	track_info(_metadata, f->env.vf[0], &t);
	EXPECT_EQ(1, t.active) TH_LOG("debugfs: no tracker after the reset");
	CHECK_WIN(l, SLOT(2), MVF_SLOT_SIZE, PG, false,
		  "slot 2 after the reset");
	/* the reset VF gets a new queue pair; tracking goes on */
	ASSERT_EQ(0, mvf_qp_create_slot(&f->qp[0], f->env.vf[0], &f->env, 0));
	DMA_WRITE(f, 0, HI_IOVA + 30 * PG, PG);
	RUN_RANDOM(f, 0, &std_pool, 20);
	check_ranges(_metadata, l, PG, "after the reset");
}

/* Closing the device ends the tracker: a new open starts from nothing. */
TEST_F_TIMEOUT(life, close, MVF_T_SHORT)
{
	struct mvf_dirty_log *l = &self->f.log[0];
	struct dfx *f = &self->f;
	struct mvf_track_dbg t;
	char bdf[MVF_BDF_LEN];
	struct mvf_vf *vf;
	int ret;

	START(f, 0, PG, std_ranges, NSTD);
	DMA_WRITE(f, 0, SLOT(2) + 11 * PG, 5 * PG);
	track_info(_metadata, f->env.vf[0], &t);
	EXPECT_EQ(1, t.active);

	snprintf(bdf, sizeof(bdf), "%s", f->env.vf[0]->bdf);
	mvf_vf_close(f->env.vf[0]);
	f->env.vf[0] = NULL;
	f->env.nvf = 0;
	mvf_dirty_log_free(l);
	track_info(_metadata, &(struct mvf_vf){ .bdf = bdf }, &t);
	EXPECT_EQ(0, t.active) TH_LOG("debugfs: a tracker after the close");

	ret = mvf_vf_open(f->env.ctx, bdf, mvf_bar0_default(), &vf);
	ASSERT_EQ(0, ret) TH_LOG("opening %s again: %s", bdf, strerror(-ret));
	f->env.vf[0] = vf;
	f->env.nvf = 1;
	EXPECT_EQ(-EINVAL, report_quiet(vf->vdev, SLOT(2), MVF_SLOT_SIZE, PG))
		TH_LOG("REPORT after reopening, before START");
	ASSERT_EQ(0, vfio_dev_reset(vf->vdev));
	ASSERT_EQ(0, mvf_qp_create_slot(&f->qp[0], vf, &f->env, 0));
	START(f, 0, PG, std_ranges, NSTD);
	DMA_WRITE(f, 0, SLOT(4) + 12 * PG, PG);
	check_ranges(_metadata, l, PG, "after reopening");
}

/*
 * Inject an uncorrectable non-fatal error into the PF and wait until AER
 * recovery ended (mvf_fault_test's way).  0, 1 without a host channel
 * (not a vm-run.sh VM), or -errno; @why says why.
 */
static int pf_error(const char *pf, char *why, size_t len)
{
	char rec[1024];
	int kfd, ret, ms;
	ssize_t n;

	kfd = klog_open();
	if (kfd < 0) {
		snprintf(why, len, "/dev/kmsg: %s", strerror(errno));
		return -errno;
	}
	ret = mvf_host_aer_inject(pf, "uncor-nonfatal");
	if (ret == -ENOENT) {
		snprintf(why, len, "no host channel to inject an error into the PF (not a vm-run.sh VM)");
		close(kfd);
		return 1;
	}
	if (ret) {
		snprintf(why, len, "injecting an error into %s: %s", pf,
			 strerror(-ret));
		close(kfd);
		return ret;
	}
	ret = -ETIMEDOUT;
	snprintf(why, len, "PF %s: no end of AER recovery in 60 s", pf);
	for (ms = 60000; ms > 0; ms -= 20) {
		n = read(kfd, rec, sizeof(rec) - 1);
		if (n < 0) {
			if (errno == EAGAIN)
				usleep(20000);
			continue;
		}
		rec[n] = 0;
		if (strstr(rec, "device recovery successful")) {
			ret = 0;
			break;
		}
		if (strstr(rec, "device recovery failed")) {
			snprintf(why, len, "PF %s: AER recovery failed", pf);
			ret = -EIO;
			break;
		}
	}
	close(kfd);
	return ret;
}

/*
 * An uncorrectable error of the PF loses the log: REPORT fails with EIO
 * (the uAPI's "log corrupt") until STOP, also after the PF recovered;
 * START after that works.
 */
TEST_F_TIMEOUT(life, pf_error, MVF_T_SHORT)
{
	struct mvf_dirty_log *l = &self->f.log[0];
	struct dfx *f = &self->f;
	struct vfio_dev *dev = dev0(f);
	char pf[MVF_BDF_LEN], why[256];
	int nffd, ret;

	ASSERT_EQ(0, mvf_pf_of(f->env.vf[0]->bdf, pf, sizeof(pf)));
	/* a VMM that hears of non-fatal errors: the running VF goes on */
	nffd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, nffd);
	ASSERT_EQ(0, vfio_irq_eventfd(dev, MVF_VFIO_PCI_NONFATAL_ERR_IRQ_INDEX,
				      nffd));
	START(f, 0, PG, std_ranges, NSTD);
	DMA_WRITE(f, 0, SLOT(2) + 11 * PG, PG);

	ret = pf_error(pf, why, sizeof(why));
	if (ret == 1) {
		close(nffd);
		SKIP(return, "%s", why);
	}
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	EXPECT_EQ(-EIO, report_quiet(dev, SLOT(2), MVF_SLOT_SIZE, PG))
		TH_LOG("REPORT after the PF error");
	EXPECT_EQ(-EIO, report_quiet(dev, SLOT(0), MVF_SLOT_SIZE, PG))
		TH_LOG("REPORT after the PF error, again");
	EXPECT_EQ(-EINVAL, start_quiet(dev, PG, std_ranges, NSTD))
		TH_LOG("START before the lost tracker was stopped");
	EXPECT_EQ(0, mvf_dirty_log_stop(l));
	EXPECT_EQ(-EINVAL, report_quiet(dev, SLOT(2), MVF_SLOT_SIZE, PG))
		TH_LOG("REPORT after STOP");

	START(f, 0, PG, std_ranges, NSTD);
	ASSERT_EQ(0, vfio_irq_eventfd(dev, MVF_VFIO_PCI_NONFATAL_ERR_IRQ_INDEX,
				      -1));
	close(nffd);
	ASSERT_EQ(0, vfio_dev_reset(dev));
	ASSERT_EQ(0, mvf_qp_create_slot(&f->qp[0], f->env.vf[0], &f->env, 0));
	RUN_RANDOM(f, 0, &std_pool, 20);
	check_ranges(_metadata, l, PG, "after the PF recovered");
}

/* ---- probe ---------------------------------------------------------------- */

DIRTY_FIXTURE(probe, 1)

/*
 * The three features answer PROBE; debugfs shows a started tracker with
 * its page size, ranges and the default capacity, and none after STOP.
 */
TEST_F_TIMEOUT(probe, dma_logging, MVF_T_SHORT)
{
	static const mvf_range_t r[] = {
		{ SLOT(2), MVF_SLOT_SIZE }, { HI_IOVA, HI_SIZE },
	};
	struct dfx *f = &self->f;
	struct vfio_dev *dev = dev0(f);
	struct mvf_track_dbg t;
	uint64_t cap = 0;

	EXPECT_EQ(0, vfio_feature_probe(dev, VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
					VFIO_DEVICE_FEATURE_SET));
	EXPECT_EQ(0, vfio_feature_probe(dev, VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
					VFIO_DEVICE_FEATURE_SET));
	EXPECT_EQ(0, vfio_feature_probe(dev, VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
					VFIO_DEVICE_FEATURE_GET));
	track_info(_metadata, f->env.vf[0], &t);
	EXPECT_EQ(0, t.active);

	ASSERT_EQ(0, mvf_dirty_capacity_get(&cap));
	START(f, 0, PG, r, 2);
	track_info(_metadata, f->env.vf[0], &t);
	EXPECT_EQ(1, t.active);
	if (t.page_shift >= 0)
		EXPECT_EQ(12, t.page_shift);
	if (t.ranges >= 0)
		EXPECT_EQ(2, t.ranges);
	if (t.capacity >= 0)
		EXPECT_EQ(cap ? cap : DEV_CAPACITY, t.capacity)
			TH_LOG("dirty_capacity %llu, debugfs capacity %lld",
			       (unsigned long long)cap, (long long)t.capacity);
	ASSERT_EQ(0, mvf_dirty_log_stop(&f->log[0]));
	track_info(_metadata, f->env.vf[0], &t);
	EXPECT_EQ(0, t.active);
}

TEST_HARNESS_MAIN
