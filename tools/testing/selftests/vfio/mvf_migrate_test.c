// SPDX-License-Identifier: GPL-2.0-only
/*
 * Live migration of a busy MVF VF into another VF of the same process,
 * over iommufd and over a legacy type1 container.
 *
 * VF1 gets a device memory pattern, scratch values, a queue pair with
 * completed work (non-zero counters) and work left in flight: SENDs with no
 * receive buffer, and a DEVMEM_WRITE and a NOP queued behind them.  It is
 * migrated into VF2 (RUNNING -> RUNNING_P2P -> STOP -> STOP_COPY, VF2 STOP ->
 * RESUMING, stream, -> STOP, VF2 -> RUNNING).  Both VFs share one IOAS (or
 * container), so the queue rings and buffers of VF1 are at the same IOVAs
 * for VF2, as they would be for a migrated guest.
 */
#include "kselftest_harness.h"
#include "mvf_test.h"

#define SEED		0xa11ce5eedULL
#define N_INFLIGHT	6
#define SEND_LEN	1536
#define TAIL_LEN	(64 << 10)	/* DEVMEM_WRITE at the end of devmem */
#define LATE_LEN	4096		/* DEVMEM_WRITE queued behind the SENDs */
#define LATE_OFF	(3 << 20)

/* Layout of qp->buf used here (mvf_qp_selftest uses the first 64 KiB). */
#define BUF_TAIL	(128 << 10)
#define BUF_LATE	(256 << 10)
#define BUF_TX		(512 << 10)
#define BUF_RX		(768 << 10)

#define WR_SEND(i)	(0x5e00 + (i))
#define WR_RECV(i)	(0x7e00 + (i))
#define WR_LATE		0x1a7e
#define WR_NOP		0x0a0a

FIXTURE(migrate) {
	struct mvf_env env;
	uint8_t *shadow;	/* what VF1's device memory must hold */
	void *img;
};

FIXTURE_VARIANT(migrate) {
	enum vfio_mode mode;
};

FIXTURE_VARIANT_ADD(migrate, iommufd) {
	.mode = VFIO_MODE_IOMMUFD,
};

FIXTURE_VARIANT_ADD(migrate, group) {
	.mode = VFIO_MODE_GROUP,
};

FIXTURE_SETUP(migrate)
{
	char why[512];
	int ret, i;

	ret = mvf_env_open(&self->env, variant->mode, 2, why, sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, vfio_dev_reset(self->env.vf[i]->vdev));
		ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING,
			  mvf_state(self->env.vf[i]));
	}
	ASSERT_EQ(self->env.vf[0]->devmem_size, self->env.vf[1]->devmem_size);
	self->shadow = malloc(self->env.vf[0]->devmem_size);
	ASSERT_NE(NULL, self->shadow);
}

FIXTURE_TEARDOWN(migrate)
{
	int i;

	vfio_util_quiet = true;
	for (i = 0; i < self->env.nvf; i++)
		vfio_dev_reset(self->env.vf[i]->vdev);
	vfio_util_quiet = false;
	free(self->shadow);
	mvf_env_close(&self->env);
}

static void log_step(void *arg, const char *what, double secs, uint64_t bytes)
{
	if (bytes)
		printf("#   %-28s %8.3f s %10llu bytes\n", what, secs,
		       (unsigned long long)bytes);
	else
		printf("#   %-28s %8.3f s\n", what, secs);
}

TEST_F_TIMEOUT(migrate, busy_vf, MVF_T_LONG)
{
	struct mvf_vf *vf1 = self->env.vf[0], *vf2 = self->env.vf[1];
	struct mvf_vf_regs r1, r1_after, r2, r2_after;
	struct mvf_cqe cqe[2 * N_INFLIGHT + 2], extra;
	uint64_t size = vf1->devmem_size, bad = 0;
	struct vfio_mig_stats st;
	int i, got, sq_seen = 0, rq_seen = 0;
	uint8_t *tx, *rx, *late, *tail;
	struct mvf_qp qp;
	int64_t diff;

	ASSERT_LE(LATE_OFF + LATE_LEN, size);
	ASSERT_LE(2 * TAIL_LEN, size);

	/* 1. device memory, scratch registers, a queue pair, some work */
	mvf_pattern_fill(self->shadow, 0, size, SEED);
	ASSERT_EQ(0, mvf_devmem_write(vf1, 0, self->shadow, size));
	mvf_scratch_set(vf1, SEED);
	ASSERT_EQ(0, mvf_qp_create_slot(&qp, vf1, &self->env, 0));
	ASSERT_EQ(0, mvf_qp_selftest(&qp, 8, 1024, 8192, SEED));
	mvf_pattern_fill(self->shadow + 8192, 8192, 1024,
			 MVF_SELFTEST_DM_SEED(SEED));
	tail = qp.buf + BUF_TAIL;
	mvf_pattern_fill(tail, size - TAIL_LEN, TAIL_LEN, SEED + 7);
	ASSERT_EQ(0, mvf_qp_exec(&qp, MVF_WQE_DEVMEM_WRITE,
				 mvf_qp_iova(&qp, tail), TAIL_LEN,
				 size - TAIL_LEN, 0x7a11));
	memcpy(self->shadow + size - TAIL_LEN, tail, TAIL_LEN);

	/* 2. work that stays in flight: SENDs without receive buffers */
	tx = qp.buf + BUF_TX;
	rx = qp.buf + BUF_RX;
	late = qp.buf + BUF_LATE;
	mvf_pattern_fill(tx, 0, N_INFLIGHT * SEND_LEN, SEED + 1);
	memset(rx, 0, N_INFLIGHT * SEND_LEN);
	mvf_pattern_fill(late, LATE_OFF, LATE_LEN, SEED + 2);
	for (i = 0; i < N_INFLIGHT; i++)
		ASSERT_EQ(0, mvf_qp_post(&qp, MVF_WQE_SEND,
					 mvf_qp_iova(&qp, tx + i * SEND_LEN),
					 SEND_LEN, 0, WR_SEND(i)));
	ASSERT_EQ(0, mvf_qp_post(&qp, MVF_WQE_DEVMEM_WRITE,
				 mvf_qp_iova(&qp, late), LATE_LEN, LATE_OFF,
				 WR_LATE));
	ASSERT_EQ(0, mvf_qp_post(&qp, MVF_WQE_NOP, 0, 0, 0, WR_NOP));
	mvf_qp_ring_sq(&qp);
	ASSERT_TRUE(mvf_qp_stays_quiet(&qp, 500))
		TH_LOG("a SEND completed without a receive buffer");

	ASSERT_EQ(0, mvf_vf_read_regs(vf1, &r1));
	ASSERT_EQ(qp.sq.pi, r1.sq_pi);
	ASSERT_EQ(qp.sq.pi - N_INFLIGHT - 2, r1.sq_ci)
		TH_LOG("the in-flight WQEs must still be queued");
	ASSERT_EQ(qp.cq.ci, r1.cq_pi);
	ASSERT_NE(0, r1.cnt[MVF_VF_CNT_SQ_WQES]);
	ASSERT_NE(0, r1.cnt[MVF_VF_CNT_CQES]);
	ASSERT_NE(0, r1.cnt[MVF_VF_CNT_TX_BYTES]);

	/* 3. migrate */
	memset(&st, 0, sizeof(st));
	ASSERT_EQ(0, vfio_migrate(vf1->vdev, vf2->vdev, &st, log_step, NULL));
	printf("# migrated %llu bytes (MIG_DATA_SIZE %llu) in %.3f s\n",
	       (unsigned long long)st.bytes,
	       (unsigned long long)st.data_size, st.t_total);
	/* MVF's QUERY_VHCA_MIGRATION_STATE gives the exact stream size. */
	EXPECT_EQ(st.data_size, st.bytes)
		TH_LOG("stream length differs from MIG_DATA_SIZE");
	/* the written part of device memory travels as data */
	EXPECT_LE(size, st.bytes);
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(vf2));
	ASSERT_EQ(VFIO_DEVICE_STATE_STOP, mvf_state(vf1));

	/* 4. VF2 holds VF1's state */
	ASSERT_EQ(0, mvf_vf_read_regs(vf2, &r2));
	EXPECT_EQ(0, mvf_vf_regs_diff(&r1, &r2, "vf1", "vf2", true))
		TH_LOG("VF2's registers differ from VF1's before migration");
	EXPECT_EQ(0, mvf_scratch_check(vf2, SEED));
	diff = mvf_devmem_cmp(vf2, 0, self->shadow, size, &bad);
	EXPECT_EQ(0, diff) TH_LOG("%lld words of device memory differ, first at 0x%llx",
				  (long long)diff, (unsigned long long)bad);

	/* 5. the in-flight work completes on VF2, exactly once */
	mvf_qp_move(&qp, vf2);
	EXPECT_TRUE(mvf_qp_stays_quiet(&qp, 500))
		TH_LOG("VF2 completed SENDs without receive buffers");
	for (i = 0; i < N_INFLIGHT; i++)
		ASSERT_EQ(0, mvf_qp_post_recv(&qp,
					      mvf_qp_iova(&qp, rx + i * SEND_LEN),
					      SEND_LEN, WR_RECV(i)));
	mvf_qp_ring_rq(&qp);
	got = mvf_qp_wait(&qp, cqe, ARRAY_SIZE(cqe));
	ASSERT_EQ(ARRAY_SIZE(cqe), got)
		TH_LOG("only %d of %zu completions after migration", got,
		       ARRAY_SIZE(cqe));
	for (i = 0; i < got; i++) {
		struct mvf_cqe *c = &cqe[i];

		ASSERT_EQ(MVF_CQE_STAT_OK, c->status);
		if (c->qtype == MVF_CQE_Q_RQ) {
			ASSERT_EQ(MVF_CQE_OP_RECV, c->opcode);
			ASSERT_EQ(WR_RECV(rq_seen), le64toh(c->wr_id));
			ASSERT_EQ(SEND_LEN, le32toh(c->byte_cnt));
			rq_seen++;
			continue;
		}
		ASSERT_EQ(MVF_CQE_Q_SQ, c->qtype);
		if (sq_seen < N_INFLIGHT) {
			ASSERT_EQ(MVF_WQE_SEND, c->opcode);
			ASSERT_EQ(WR_SEND(sq_seen), le64toh(c->wr_id));
		} else if (sq_seen == N_INFLIGHT) {
			ASSERT_EQ(MVF_WQE_DEVMEM_WRITE, c->opcode);
			ASSERT_EQ(WR_LATE, le64toh(c->wr_id));
		} else {
			ASSERT_EQ(MVF_WQE_NOP, c->opcode);
			ASSERT_EQ(WR_NOP, le64toh(c->wr_id));
		}
		sq_seen++;
	}
	ASSERT_EQ(N_INFLIGHT + 2, sq_seen);
	ASSERT_EQ(N_INFLIGHT, rq_seen);
	EXPECT_EQ(0, memcmp(tx, rx, N_INFLIGHT * SEND_LEN))
		TH_LOG("received data differs from what the in-flight SENDs carried");
	memcpy(self->shadow + LATE_OFF, late, LATE_LEN);
	EXPECT_EQ(0, mvf_devmem_cmp(vf2, LATE_OFF, late, LATE_LEN, NULL));
	if (!mvf_qp_stays_quiet(&qp, 1000)) {
		mvf_qp_poll(&qp, &extra, 1);
		ADD_FAILURE("extra completion after the in-flight work: wr_id 0x%llx",
			    (unsigned long long)le64toh(extra.wr_id));
	}

	/* The counters went on from the migrated values. */
	ASSERT_EQ(0, mvf_vf_read_regs(vf2, &r2_after));
	EXPECT_EQ(r1.cnt[MVF_VF_CNT_SQ_WQES] + N_INFLIGHT + 2,
		  r2_after.cnt[MVF_VF_CNT_SQ_WQES]);
	EXPECT_EQ(r1.cnt[MVF_VF_CNT_RQ_WQES] + N_INFLIGHT,
		  r2_after.cnt[MVF_VF_CNT_RQ_WQES]);
	EXPECT_EQ(r1.cnt[MVF_VF_CNT_CQES] + 2 * N_INFLIGHT + 2,
		  r2_after.cnt[MVF_VF_CNT_CQES]);
	EXPECT_EQ(r1.cnt[MVF_VF_CNT_TX_BYTES] + N_INFLIGHT * SEND_LEN +
		  LATE_LEN, r2_after.cnt[MVF_VF_CNT_TX_BYTES]);
	EXPECT_EQ(r1.cnt[MVF_VF_CNT_DOORBELLS] + 1,
		  r2_after.cnt[MVF_VF_CNT_DOORBELLS]);
	EXPECT_EQ(r1.cnt[MVF_VF_CNT_ERRORS], r2_after.cnt[MVF_VF_CNT_ERRORS]);
	EXPECT_EQ(qp.sq.pi, r2_after.sq_ci);
	EXPECT_EQ(qp.rq.pi, r2_after.rq_ci);
	EXPECT_EQ(qp.cq.ci, r2_after.cq_pi);

	/*
	 * 6. VF1, stopped, did nothing; after a reset it is empty.  Its BARs
	 * are revoked in STOP: its registers are those of its state image.
	 */
	ASSERT_EQ(0, mvf_vf_read_regs_stopped(vf1, &r1_after));
	ASSERT_EQ(VFIO_DEVICE_STATE_STOP, mvf_state(vf1));
	EXPECT_EQ(MVF_VF_STATUS_QUIESCED | MVF_VF_STATUS_FROZEN,
		  r1_after.status & (MVF_VF_STATUS_QUIESCED |
				     MVF_VF_STATUS_FROZEN));
	EXPECT_EQ(r1.sq_ci, r1_after.sq_ci);
	EXPECT_EQ(r1.rq_ci, r1_after.rq_ci);
	EXPECT_EQ(r1.cq_pi, r1_after.cq_pi);
	EXPECT_EQ(r1.cnt[MVF_VF_CNT_CQES], r1_after.cnt[MVF_VF_CNT_CQES]);
	ASSERT_EQ(0, vfio_dev_reset(vf1->vdev));
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(vf1));
	ASSERT_EQ(0, mvf_vf_read_regs(vf1, &r1_after));
	EXPECT_EQ(0, r1_after.sq_ci);
	EXPECT_EQ(0, r1_after.cq_pi);
	EXPECT_EQ(0, r1_after.ctrl);
	EXPECT_EQ(0, r1_after.cnt[MVF_VF_CNT_CQES]);
	EXPECT_TRUE(mvf_qp_stays_quiet(&qp, 500))
		TH_LOG("a completion appeared after VF1's reset");

	/* 7. VF2 goes on working: more SENDs, devmem write and read */
	ASSERT_EQ(0, mvf_qp_selftest(&qp, 8, 2048, 1 << 20, SEED + 3));
	mvf_pattern_fill(self->shadow + (1 << 20), 1 << 20, 2048,
			 MVF_SELFTEST_DM_SEED(SEED + 3));
	diff = mvf_devmem_cmp(vf2, 0, self->shadow, size, &bad);
	EXPECT_EQ(0, diff) TH_LOG("%lld words of device memory differ, first at 0x%llx",
				  (long long)diff, (unsigned long long)bad);
	EXPECT_EQ(0, mvf_scratch_check(vf2, SEED));
}

TEST_HARNESS_MAIN
