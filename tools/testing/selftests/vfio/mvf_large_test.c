// SPDX-License-Identifier: GPL-2.0-only
/*
 * A VF with more than 4 GiB of device memory, and a stream longer than
 * 4 GiB.  The two VFs of $MVF_LARGE_VFS (the suite's third PF: 8 GiB of
 * device memory each) are used.
 *
 * The source's device memory gets 4 GiB + 64 MiB of data by its own DMA
 * (DEVMEM_WRITE work requests of 16 MiB from one host buffer that holds a
 * pattern, stamped with the block's number), plus marks written by the
 * CPU through BAR 2 on both sides of the 4 GiB line and at the very end.  It migrates into the
 * other VF, streamed through a 1 MiB buffer: the stream, and
 * MIG_DATA_SIZE, are beyond what 32 bits can hold, every 16 MiB block
 * and every mark arrive, and what was never written stays zero.
 */
#include "kselftest_harness.h"
#include "mvf_test.h"

#define SEED		0x1a49e000ULL
#define BLOCK		(16UL << 20)
#define DATA		((4ULL << 30) + (64ULL << 20))
#define BUF_IOVA	0x80000000ULL
#define MARK		4096

FIXTURE(large) {
	struct vfio_ctx *ctx;
	struct mvf_vf *src, *dst;
	struct mvf_dma dma;
	struct mvf_qp qp;
};

FIXTURE_SETUP(large)
{
	const char *env = getenv("MVF_LARGE_VFS");
	char bdf[2][MVF_BDF_LEN], *copy, *tok, *save = NULL;
	int n = 0;

	if (!env || !*env)
		SKIP(return, "no VFs with more than 4 GiB of device memory ($MVF_LARGE_VFS; the suite's third PF)");
	copy = strdup(env);
	ASSERT_NE(NULL, copy);
	for (tok = strtok_r(copy, " ,", &save); tok && n < 2;
	     tok = strtok_r(NULL, " ,", &save))
		ASSERT_EQ(0, vfio_bdf_normalize(tok, bdf[n++], MVF_BDF_LEN));
	free(copy);
	ASSERT_EQ(2, n);

	ASSERT_EQ(0, vfio_ctx_open(vfio_mode_default(), &self->ctx));
	ASSERT_EQ(0, mvf_vf_open(self->ctx, bdf[0], mvf_bar0_default(),
				 &self->src));
	ASSERT_EQ(0, mvf_vf_open(self->ctx, bdf[1], mvf_bar0_default(),
				 &self->dst));
	ASSERT_LT(4ULL << 30, self->src->devmem_size);
	ASSERT_LE(DATA + (64ULL << 20), self->src->devmem_size);
	ASSERT_EQ(self->src->devmem_size, self->dst->devmem_size);
	ASSERT_EQ(0, vfio_dev_reset(self->src->vdev));
	ASSERT_EQ(0, vfio_dev_reset(self->dst->vdev));
	/* the rings and, after them, one BLOCK of data */
	ASSERT_EQ(0, mvf_dma_alloc(self->ctx, BUF_IOVA, BLOCK + (2 << 20),
				   &self->dma));
	ASSERT_EQ(0, mvf_qp_create(&self->qp, self->src, &self->dma, 0,
				   BLOCK + (2 << 20), MVF_SQ_LOG, MVF_RQ_LOG,
				   MVF_CQ_LOG));
	ASSERT_LE(BLOCK, self->qp.buf_size);
}

FIXTURE_TEARDOWN(large)
{
	vfio_util_quiet = true;
	if (self->src)
		vfio_dev_reset(self->src->vdev);
	if (self->dst)
		vfio_dev_reset(self->dst->vdev);
	vfio_util_quiet = false;
	if (self->dma.va)
		mvf_dma_free(&self->dma);
	if (self->dst)
		mvf_vf_close(self->dst);
	if (self->src)
		mvf_vf_close(self->src);
	if (self->ctx)
		vfio_ctx_close(self->ctx);
}

/* Where the CPU marks go: around 4 GiB and at the end. */
static uint64_t mark_off(struct mvf_vf *vf, int i)
{
	switch (i) {
	case 0:
		return (4ULL << 30) - MARK;	/* the last page below 4 GiB */
	case 1:
		return 4ULL << 30;		/* the first page above */
	default:
		return vf->devmem_size - MARK;	/* the very last page */
	}
}

TEST_F_TIMEOUT(large, beyond_4g, MVF_T_LONG)
{
	struct vfio_live_opts o = { .bounce = 1 << 20 };
	struct mvf_vf *src = self->src, *dst = self->dst;
	uint8_t mark[MARK], expect[MARK];
	struct vfio_live_stats st;
	uint64_t off, stamp, size = 0;
	int i;

	/* 4 GiB + 64 MiB by the VF's DMA, 16 MiB at a time */
	mvf_pattern_fill(self->qp.buf, 0, BLOCK, SEED);
	for (off = 0; off < DATA; off += BLOCK) {
		stamp = off / BLOCK;
		memcpy(self->qp.buf, &stamp, sizeof(stamp));
		ASSERT_EQ(0, mvf_qp_exec(&self->qp, MVF_WQE_DEVMEM_WRITE,
					 self->qp.buf_iova, BLOCK, off, stamp))
			TH_LOG("DEVMEM_WRITE at %#llx", (unsigned long long)off);
	}
	/* and by the CPU, through BAR 2 */
	for (i = 0; i < 3; i++) {
		mvf_pattern_fill(mark, mark_off(src, i), MARK, SEED + 1);
		ASSERT_EQ(0, mvf_devmem_write(src, mark_off(src, i), mark,
					      MARK));
	}

	ASSERT_EQ(0, vfio_mig_set_state(src->vdev, VFIO_DEVICE_STATE_STOP,
					NULL));
	ASSERT_EQ(0, vfio_mig_data_size(src->vdev, &size));
	TH_LOG("MIG_DATA_SIZE: %llu bytes", (unsigned long long)size);
	EXPECT_LT(4ULL << 30, size);

	ASSERT_EQ(0, vfio_migrate_live(src->vdev, dst->vdev, &o, &st));
	TH_LOG("streamed %llu bytes in %.1f s", (unsigned long long)st.stopcopy_bytes,
	       st.t_total);
	EXPECT_EQ(size, st.stopcopy_bytes)
		TH_LOG("MIG_DATA_SIZE and the stream differ beyond 4 GiB?");

	/* every 16 MiB block: its first (stamped) and last page */
	for (off = 0; off < DATA; off += BLOCK) {
		if (off == (4ULL << 30) - BLOCK || off == 4ULL << 30)
			continue;	/* a mark overwrote a page there */
		mvf_pattern_fill(expect, 0, MARK, SEED);
		stamp = off / BLOCK;
		memcpy(expect, &stamp, sizeof(stamp));
		EXPECT_EQ(0, mvf_devmem_cmp(dst, off, expect, MARK, NULL))
			TH_LOG("block at %#llx", (unsigned long long)off);
		mvf_pattern_fill(expect, BLOCK - MARK, MARK, SEED);
		EXPECT_EQ(0, mvf_devmem_cmp(dst, off + BLOCK - MARK, expect,
					    MARK, NULL))
			TH_LOG("end of the block at %#llx",
			       (unsigned long long)off);
	}
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, mvf_devmem_cmp_pattern(dst, mark_off(dst, i), MARK,
						    SEED + 1, NULL))
			TH_LOG("the CPU's mark %d at %#llx", i,
			       (unsigned long long)mark_off(dst, i));
	/* never written: zero */
	EXPECT_EQ(0, mvf_devmem_cmp_zero(dst, DATA, 1 << 20, NULL));
	EXPECT_EQ(0, mvf_devmem_cmp_zero(dst, dst->devmem_size - (1 << 20),
					 (1 << 20) - MARK, NULL));
}

TEST_HARNESS_MAIN
