// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO_DEVICE_RESET of an MVF VF in every migration state.
 *
 * The VF is made busy (device memory, scratch registers, a queue pair with
 * completed work), taken to a state (with a half-read save session in
 * STOP_COPY, a half-written resume session in RESUMING, work deferred by
 * RUNNING_P2P) and reset.  Afterwards it must be RUNNING, any data fd of
 * the old session must fail with ENODEV (the driver ends the file), the VF
 * must be as after FLR (device memory, counters, scratch, queue registers
 * zero: include/linux/mvf/mvf_if.h and the device model's FLR), old work
 * must never complete, and the VF must work and migrate again.
 */
#include "kselftest_harness.h"
#include "mvf_test.h"

#define SEED		0x5e5e7001ULL
#define FILL		(1UL << 20)
#define PART		4096

FIXTURE(reset) {
	struct mvf_env env;
	struct mvf_vf *vf;
	struct mvf_qp qp;
};

FIXTURE_VARIANT(reset) {
	enum vfio_mode mode;
};

FIXTURE_VARIANT_ADD(reset, iommufd) {
	.mode = VFIO_MODE_IOMMUFD,
};

FIXTURE_VARIANT_ADD(reset, group) {
	.mode = VFIO_MODE_GROUP,
};

FIXTURE_SETUP(reset)
{
	char why[512];
	int ret;

	ret = mvf_env_open(&self->env, variant->mode, 1, why, sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	self->vf = self->env.vf[0];
	mvf_make_busy(&self->env, self->vf, &self->qp, 0, SEED, FILL);
	/* and the end of device memory, so "cleared" is checked there too */
	ASSERT_EQ(0, mvf_devmem_fill(self->vf, self->vf->devmem_size - FILL,
				     FILL, SEED));
}

FIXTURE_TEARDOWN(reset)
{
	if (self->vf) {
		vfio_util_quiet = true;
		vfio_dev_reset(self->vf->vdev);
		vfio_util_quiet = false;
	}
	mvf_env_close(&self->env);
}

static void reset_in(struct __test_metadata *_metadata,
		     FIXTURE_DATA(reset) *self, uint32_t state)
{
	struct mvf_vf *vf = self->vf;
	struct mvf_vf_regs r;
	struct mvf_qp qp2;
	char buf[PART];
	void *img = NULL;
	size_t len = 0;
	uint64_t bad = 0;
	int64_t diff;
	int fd = -1, i;
	ssize_t n;

	if (state == VFIO_DEVICE_STATE_RESUMING) {
		/* half of a real image is what gets written */
		ASSERT_EQ(0, vfio_mig_set_state(vf->vdev,
						VFIO_DEVICE_STATE_STOP_COPY,
						&fd));
		ASSERT_EQ(0, vfio_mig_save(fd, vf->devmem_size, &img, &len));
		close(fd);
		fd = -1;
	}
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, state, &fd));
	ASSERT_EQ(state, mvf_state(vf));
	switch (state) {
	case VFIO_DEVICE_STATE_RUNNING_P2P:
		/* work a peer asks for while quiesced: deferred, then reset */
		ASSERT_EQ(0, mvf_qp_post(&self->qp, MVF_WQE_NOP, 0, 0, 0, 0xdead));
		mvf_qp_ring_sq(&self->qp);
		break;
	case VFIO_DEVICE_STATE_STOP_COPY:
		ASSERT_LE(0, fd);
		n = read(fd, buf, sizeof(buf));
		ASSERT_EQ(sizeof(buf), n) TH_LOG("partial read of the stream: %zd (%s)",
						 n, strerror(errno));
		break;
	case VFIO_DEVICE_STATE_RESUMING:
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, vfio_mig_load(fd, img, len / 2));
		break;
	}

	ASSERT_EQ(0, vfio_dev_reset(vf->vdev));
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(vf))
		TH_LOG("reset must return the VF to RUNNING");

	/* the old session is over */
	if (fd >= 0) {
		errno = 0;
		if (state == VFIO_DEVICE_STATE_STOP_COPY)
			n = read(fd, buf, sizeof(buf));
		else
			n = write(fd, img, PART);
		EXPECT_EQ(-1, n) TH_LOG("data fd still usable after reset");
		EXPECT_EQ(ENODEV, errno) TH_LOG("errno %d (%s)", errno,
						strerror(errno));
		close(fd);
	}
	free(img);

	/* FLR state: registers, counters and device memory zero */
	ASSERT_EQ(0, mvf_vf_read_regs(vf, &r));
	EXPECT_EQ(MVF_MAGIC_VF, r.magic);
	EXPECT_EQ(0, r.status);
	EXPECT_EQ(0, r.ctrl);
	EXPECT_EQ(0, r.sq_base);
	EXPECT_EQ(0, r.rq_base);
	EXPECT_EQ(0, r.cq_base);
	EXPECT_EQ(0, r.sq_pi);
	EXPECT_EQ(0, r.sq_ci);
	EXPECT_EQ(0, r.rq_pi);
	EXPECT_EQ(0, r.rq_ci);
	EXPECT_EQ(0, r.cq_pi);
	EXPECT_EQ(0, r.cq_ci);
	for (i = 0; i < MVF_VF_NUM_COUNTERS; i++)
		EXPECT_EQ(0, r.cnt[i]) TH_LOG("counter %s", mvf_counter_name(i));
	for (i = 0; i < MVF_VF_NUM_SCRATCH; i++)
		EXPECT_EQ(0, r.scratch[i]) TH_LOG("scratch %d", i);
	diff = mvf_devmem_cmp_zero(vf, 0, vf->devmem_size, &bad);
	EXPECT_EQ(0, diff) TH_LOG("%lld words of device memory not cleared, first at 0x%llx",
				  (long long)diff, (unsigned long long)bad);

	/* nothing of the old queue pair ever completes */
	EXPECT_TRUE(mvf_qp_stays_quiet(&self->qp, 500));

	/* the VF works, and migrates, again */
	ASSERT_EQ(0, mvf_qp_create_slot(&qp2, vf, &self->env, 1));
	EXPECT_EQ(0, mvf_qp_selftest(&qp2, 4, 1024, 4096, SEED + 1));
	EXPECT_TRUE(mvf_qp_stays_quiet(&self->qp, 100));
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP,
					NULL));
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_RUNNING,
					NULL));
	EXPECT_EQ(0, mvf_qp_selftest(&qp2, 1, 64, 0, SEED + 2));
}

TEST_F_TIMEOUT(reset, in_running, MVF_T_SHORT)
{
	reset_in(_metadata, self, VFIO_DEVICE_STATE_RUNNING);
}

TEST_F_TIMEOUT(reset, in_running_p2p, MVF_T_SHORT)
{
	reset_in(_metadata, self, VFIO_DEVICE_STATE_RUNNING_P2P);
}

TEST_F_TIMEOUT(reset, in_stop, MVF_T_SHORT)
{
	reset_in(_metadata, self, VFIO_DEVICE_STATE_STOP);
}

TEST_F_TIMEOUT(reset, in_stop_copy_partly_read, MVF_T_SHORT)
{
	reset_in(_metadata, self, VFIO_DEVICE_STATE_STOP_COPY);
}

TEST_F_TIMEOUT(reset, in_resuming_partly_written, MVF_T_SHORT)
{
	reset_in(_metadata, self, VFIO_DEVICE_STATE_RESUMING);
}

TEST_HARNESS_MAIN
