// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO migration uAPI v2 state machine of the MVF VF driver: supported
 * states, every single arc, combination arcs, data fd creation, rejected
 * requests and MIG_DATA_SIZE.
 */
#include "kselftest_harness.h"
#include "mvf_test.h"

#define S_ERROR		VFIO_DEVICE_STATE_ERROR
#define S_STOP		VFIO_DEVICE_STATE_STOP
#define S_RUNNING	VFIO_DEVICE_STATE_RUNNING
#define S_STOP_COPY	VFIO_DEVICE_STATE_STOP_COPY
#define S_RESUMING	VFIO_DEVICE_STATE_RESUMING
#define S_P2P		VFIO_DEVICE_STATE_RUNNING_P2P
#define S_PRE_COPY	VFIO_DEVICE_STATE_PRE_COPY
#define S_PRE_COPY_P2P	VFIO_DEVICE_STATE_PRE_COPY_P2P

#define SEED		0x51a7e0001ULL
#define FILL		(1UL << 20)	/* pattern bytes at the start of devmem */

FIXTURE(mig_state) {
	struct mvf_env env;
	struct mvf_vf *vf;
};

FIXTURE_VARIANT(mig_state) {
	enum vfio_mode mode;
};

FIXTURE_VARIANT_ADD(mig_state, iommufd) {
	.mode = VFIO_MODE_IOMMUFD,
};

FIXTURE_VARIANT_ADD(mig_state, group) {
	.mode = VFIO_MODE_GROUP,
};

FIXTURE_SETUP(mig_state)
{
	char why[512];
	int ret;

	ret = mvf_env_open(&self->env, variant->mode, 1, why, sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	self->vf = self->env.vf[0];
	ASSERT_EQ(0, vfio_dev_reset(self->vf->vdev));
	ASSERT_EQ(S_RUNNING, mvf_state(self->vf));
}

FIXTURE_TEARDOWN(mig_state)
{
	if (self->vf) {
		vfio_util_quiet = true;
		vfio_dev_reset(self->vf->vdev);
		vfio_util_quiet = false;
	}
	mvf_env_close(&self->env);
}

/* The "saving group" of the uAPI: one data fd across these states. */
static bool saving(int64_t s)
{
	return s == S_PRE_COPY || s == S_PRE_COPY_P2P || s == S_STOP_COPY;
}

/*
 * Request @to (from the current state) and check the result: success, the
 * new state, and a data fd exactly when a new data transfer session starts.
 */
static void go(struct __test_metadata *_metadata, struct mvf_vf *vf,
	       uint32_t to, int *fdp)
{
	int64_t from = mvf_state(vf);
	bool want_fd = saving(to) ? !saving(from) :
		       to == S_RESUMING && from != to;
	int fd = -2, ret;

	ret = vfio_mig_set_state(vf->vdev, to, &fd);
	ASSERT_EQ(0, ret) TH_LOG("%s -> %s failed: %s",
				 vfio_mig_state_name(from),
				 vfio_mig_state_name(to), strerror(-ret));
	if (want_fd) {
		ASSERT_LE(0, fd) TH_LOG("%s -> %s returned no data fd",
					vfio_mig_state_name(from),
					vfio_mig_state_name(to));
	} else {
		ASSERT_EQ(-1, fd) TH_LOG("%s -> %s returned data fd %d",
					 vfio_mig_state_name(from),
					 vfio_mig_state_name(to), fd);
	}
	ASSERT_EQ(to, mvf_state(vf)) TH_LOG("after %s -> %s",
					    vfio_mig_state_name(from),
					    vfio_mig_state_name(to));
	if (fdp)
		*fdp = fd;
	else if (fd >= 0)
		close(fd);
}

/*
 * Read a whole stream from @fd, check that it parses, close @fd.  A
 * stream saved in STOP names every device memory page exactly once.
 */
static void save_all(struct __test_metadata *_metadata, struct mvf_vf *vf,
		     int fd, void **img, size_t *len)
{
	struct mvf_stream_info info;
	char why[256] = "";

	ASSERT_EQ(0, vfio_mig_save(fd, vf->devmem_size, img, len));
	close(fd);
	ASSERT_EQ(0, mvf_stream_parse(*img, *len, true, &info, why,
				      sizeof(why)))
		TH_LOG("saved stream: %s", why);
	ASSERT_EQ(vf->devmem_size / MVF_DEVMEM_PAGE_SIZE, info.devmem_pages);
}

static void load_all(struct __test_metadata *_metadata, int fd,
		     const void *img, size_t len)
{
	ASSERT_EQ(0, vfio_mig_load(fd, img, len));
	close(fd);
}

/*
 * Quiesced/frozen as the device reports it (MVF_VHCA_STATE_* and
 * MVF_VF_STATUS_* use the same bits), through mvf_core's debugfs: in STOP
 * the VF's BARs are revoked.  While they are not (RUNNING, RUNNING_P2P)
 * the STATUS register must say the same.
 */
static uint32_t status_bits(struct __test_metadata *_metadata,
			    struct mvf_vf *vf)
{
	const uint32_t mask = MVF_VF_STATUS_QUIESCED | MVF_VF_STATUS_FROZEN;
	uint32_t vhca = mvf_vhca(_metadata, vf) & mask;
	int64_t s = mvf_state(vf);

	if (s == S_RUNNING || s == S_P2P || s == S_PRE_COPY ||
	    s == S_PRE_COPY_P2P)
		EXPECT_EQ(vhca, mvf_rd32(vf, MVF_VF_REG_STATUS) & mask)
			TH_LOG("STATUS register and debugfs vhca_state disagree in %s",
			       vfio_mig_state_name(s));
	return vhca;
}

/* Put the VF into @s by legal arcs from RUNNING; *fd gets any data fd. */
static void reach(struct __test_metadata *_metadata, struct mvf_vf *vf,
		  uint32_t s, int *fd)
{
	*fd = -1;
	switch (s) {
	case S_RUNNING:
		return;
	case S_P2P:
		go(_metadata, vf, S_P2P, NULL);
		return;
	case S_STOP:
		go(_metadata, vf, S_STOP, NULL);
		return;
	case S_STOP_COPY:
		go(_metadata, vf, S_STOP_COPY, fd);
		return;
	case S_RESUMING:
		go(_metadata, vf, S_RESUMING, fd);
		return;
	case S_PRE_COPY:
		go(_metadata, vf, S_PRE_COPY, fd);
		return;
	case S_PRE_COPY_P2P:
		go(_metadata, vf, S_P2P, NULL);
		go(_metadata, vf, S_PRE_COPY_P2P, fd);
		return;
	}
}

TEST_F(mig_state, feature_flags)
{
	uint64_t flags = 0;

	ASSERT_EQ(0, vfio_mig_flags(self->vf->vdev, &flags));
	EXPECT_EQ(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
		  VFIO_MIGRATION_PRE_COPY, flags)
		TH_LOG("MVF implements STOP_COPY, P2P and PRE_COPY: got 0x%llx",
		       (unsigned long long)flags);

	/* Probing: what the three migration features support. */
	EXPECT_EQ(0, vfio_feature_probe(self->vf->vdev,
					VFIO_DEVICE_FEATURE_MIGRATION,
					VFIO_DEVICE_FEATURE_GET));
	EXPECT_EQ(-EINVAL, vfio_feature_probe(self->vf->vdev,
					      VFIO_DEVICE_FEATURE_MIGRATION,
					      VFIO_DEVICE_FEATURE_SET));
	EXPECT_EQ(0, vfio_feature_probe(self->vf->vdev,
					VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
					VFIO_DEVICE_FEATURE_GET |
					VFIO_DEVICE_FEATURE_SET));
	EXPECT_EQ(0, vfio_feature_probe(self->vf->vdev,
					VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
					VFIO_DEVICE_FEATURE_GET));
	EXPECT_EQ(-EINVAL, vfio_feature_probe(self->vf->vdev,
					      VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
					      VFIO_DEVICE_FEATURE_SET));
	/*
	 * Device dirty page tracking (the suite's kernel has
	 * CONFIG_IOMMUFD_DRIVER): START and STOP are SET only, REPORT is
	 * GET only.  mvf_dirty_test exercises them.
	 */
	EXPECT_EQ(0, vfio_feature_probe(self->vf->vdev,
					VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
					VFIO_DEVICE_FEATURE_SET));
	EXPECT_EQ(-EINVAL, vfio_feature_probe(self->vf->vdev,
					      VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
					      VFIO_DEVICE_FEATURE_GET));
	EXPECT_EQ(0, vfio_feature_probe(self->vf->vdev,
					VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
					VFIO_DEVICE_FEATURE_SET));
	EXPECT_EQ(0, vfio_feature_probe(self->vf->vdev,
					VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
					VFIO_DEVICE_FEATURE_GET));
	EXPECT_EQ(-EINVAL, vfio_feature_probe(self->vf->vdev,
					      VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
					      VFIO_DEVICE_FEATURE_SET));
}

TEST_F(mig_state, reset_state_is_running)
{
	ASSERT_EQ(S_RUNNING, mvf_state(self->vf));
	EXPECT_EQ(0, status_bits(_metadata, self->vf))
		TH_LOG("a RUNNING VF must be neither quiesced nor frozen");
}

/*
 * Walk every single arc of the STOP_COPY|P2P state machine and back:
 * RUNNING -> RUNNING_P2P -> STOP -> STOP_COPY -> STOP -> RESUMING -> STOP
 * -> RUNNING_P2P -> RUNNING, loading the VF's own image in RESUMING; the
 * device state survives and the VF is suspended/frozen on the way.
 */
TEST_F_TIMEOUT(mig_state, single_arcs, MVF_T_SHORT)
{
	struct mvf_vf *vf = self->vf;
	size_t len = 0;
	void *img = NULL;
	int fd;

	ASSERT_EQ(0, mvf_devmem_fill(vf, 0, FILL, SEED));
	mvf_scratch_set(vf, SEED);

	go(_metadata, vf, S_P2P, NULL);
	EXPECT_EQ(MVF_VF_STATUS_QUIESCED, status_bits(_metadata, vf))
		TH_LOG("RUNNING_P2P must quiesce the VF");
	go(_metadata, vf, S_STOP, NULL);
	EXPECT_EQ(MVF_VF_STATUS_QUIESCED | MVF_VF_STATUS_FROZEN,
		  status_bits(_metadata, vf)) TH_LOG("STOP must freeze the VF");
	go(_metadata, vf, S_STOP_COPY, &fd);
	save_all(_metadata, vf, fd, &img, &len);
	go(_metadata, vf, S_STOP, NULL);
	go(_metadata, vf, S_RESUMING, &fd);
	load_all(_metadata, fd, img, len);
	go(_metadata, vf, S_STOP, NULL);
	go(_metadata, vf, S_P2P, NULL);
	EXPECT_EQ(MVF_VF_STATUS_QUIESCED, status_bits(_metadata, vf))
		TH_LOG("STOP -> RUNNING_P2P must thaw but keep quiesced");
	go(_metadata, vf, S_RUNNING, NULL);
	EXPECT_EQ(0, status_bits(_metadata, vf));

	EXPECT_EQ(0, mvf_devmem_cmp_pattern(vf, 0, FILL, SEED, NULL))
		TH_LOG("device memory changed across save/load of its own image");
	EXPECT_EQ(0, mvf_scratch_check(vf, SEED));
	free(img);
}

/*
 * Combination arcs: RUNNING -> STOP_COPY, STOP_COPY -> RESUMING,
 * RESUMING -> STOP_COPY, STOP_COPY -> RUNNING, RUNNING -> RESUMING,
 * RESUMING -> RUNNING, RUNNING -> STOP, STOP -> RUNNING.  A save after a
 * load of the same image gives the same image again.
 */
TEST_F_TIMEOUT(mig_state, combination_arcs, MVF_T_SHORT)
{
	struct mvf_vf *vf = self->vf;
	size_t len = 0, len2 = 0;
	void *img = NULL, *img2 = NULL;
	int fd;

	ASSERT_EQ(0, mvf_devmem_fill(vf, 0, FILL, SEED + 1));
	mvf_scratch_set(vf, SEED + 1);

	go(_metadata, vf, S_STOP_COPY, &fd);
	save_all(_metadata, vf, fd, &img, &len);
	go(_metadata, vf, S_RESUMING, &fd);
	load_all(_metadata, fd, img, len);
	go(_metadata, vf, S_STOP_COPY, &fd);
	save_all(_metadata, vf, fd, &img2, &len2);
	ASSERT_EQ(len, len2);
	EXPECT_EQ(0, memcmp(img, img2, len))
		TH_LOG("save -> load -> save did not give the same image");
	go(_metadata, vf, S_RUNNING, NULL);
	EXPECT_EQ(0, status_bits(_metadata, vf));
	go(_metadata, vf, S_RESUMING, &fd);
	load_all(_metadata, fd, img, len);
	go(_metadata, vf, S_RUNNING, NULL);
	go(_metadata, vf, S_STOP, NULL);
	go(_metadata, vf, S_RUNNING, NULL);

	EXPECT_EQ(0, mvf_devmem_cmp_pattern(vf, 0, FILL, SEED + 1, NULL));
	EXPECT_EQ(0, mvf_scratch_check(vf, SEED + 1));
	free(img);
	free(img2);
}

/*
 * The pre-copy arcs, each one: RUNNING -> PRE_COPY -> PRE_COPY_P2P ->
 * PRE_COPY -> PRE_COPY_P2P -> STOP_COPY on one save fd, which then holds
 * a whole stream; RUNNING_P2P -> PRE_COPY_P2P -> RUNNING_P2P and
 * PRE_COPY -> RUNNING end their fd.  The VF is quiesced exactly in the
 * P2P states and frozen in STOP_COPY, and its own stream loads back.
 */
TEST_F_TIMEOUT(mig_state, precopy_arcs, MVF_T_SHORT)
{
	struct mvf_vf *vf = self->vf;
	size_t len = 0;
	void *img = NULL;
	char c;
	int fd, fd2;

	ASSERT_EQ(0, mvf_devmem_fill(vf, 0, FILL, SEED + 2));
	mvf_scratch_set(vf, SEED + 2);

	go(_metadata, vf, S_PRE_COPY, &fd);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, status_bits(_metadata, vf))
		TH_LOG("PRE_COPY must leave the VF running");
	go(_metadata, vf, S_PRE_COPY_P2P, NULL);
	EXPECT_EQ(MVF_VF_STATUS_QUIESCED, status_bits(_metadata, vf));
	go(_metadata, vf, S_PRE_COPY, NULL);
	EXPECT_EQ(0, status_bits(_metadata, vf));
	go(_metadata, vf, S_PRE_COPY_P2P, NULL);
	go(_metadata, vf, S_STOP_COPY, NULL);
	EXPECT_EQ(MVF_VF_STATUS_QUIESCED | MVF_VF_STATUS_FROZEN,
		  status_bits(_metadata, vf));
	save_all(_metadata, vf, fd, &img, &len);
	go(_metadata, vf, S_STOP, NULL);

	go(_metadata, vf, S_P2P, NULL);
	go(_metadata, vf, S_PRE_COPY_P2P, &fd2);
	ASSERT_LE(0, fd2);
	go(_metadata, vf, S_P2P, NULL);
	errno = 0;
	EXPECT_EQ(-1, read(fd2, &c, 1));
	EXPECT_EQ(ENODEV, errno) TH_LOG("PRE_COPY_P2P -> RUNNING_P2P must end the fd");
	close(fd2);
	go(_metadata, vf, S_RUNNING, NULL);
	go(_metadata, vf, S_PRE_COPY, &fd2);
	EXPECT_EQ(MVF_VHCA_STATE_SAVING, mvf_vhca(_metadata, vf))
		TH_LOG("PRE_COPY: the device's save session must be open");
	go(_metadata, vf, S_RUNNING, NULL);
	errno = 0;
	EXPECT_EQ(-1, read(fd2, &c, 1));
	EXPECT_EQ(ENODEV, errno) TH_LOG("PRE_COPY -> RUNNING must end the fd");
	close(fd2);
	EXPECT_EQ(0, mvf_vhca(_metadata, vf))
		TH_LOG("after PRE_COPY -> RUNNING no save session may be left");

	/* the stream loads back */
	ASSERT_EQ(0, mvf_devmem_fill(vf, 0, FILL, SEED + 3));
	go(_metadata, vf, S_STOP, NULL);
	go(_metadata, vf, S_RESUMING, &fd);
	load_all(_metadata, fd, img, len);
	go(_metadata, vf, S_RUNNING, NULL);
	EXPECT_EQ(0, mvf_devmem_cmp_pattern(vf, 0, FILL, SEED + 2, NULL));
	EXPECT_EQ(0, mvf_scratch_check(vf, SEED + 2));
	free(img);
}

/* Requesting the current state succeeds, changes nothing, opens no fd. */
TEST_F_TIMEOUT(mig_state, same_state_is_noop, MVF_T_SHORT)
{
	static const uint32_t states[] = { S_RUNNING, S_P2P, S_STOP,
					   S_STOP_COPY, S_RESUMING,
					   S_PRE_COPY, S_PRE_COPY_P2P };
	struct mvf_vf *vf = self->vf;
	size_t len = 0;
	void *img = NULL;
	unsigned int i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(states); i++) {
		ASSERT_EQ(0, vfio_dev_reset(vf->vdev));
		reach(_metadata, vf, states[i], &fd);
		go(_metadata, vf, states[i], NULL);
		if (states[i] == S_STOP_COPY) {
			/* the session of the first request still works */
			save_all(_metadata, vf, fd, &img, &len);
			fd = -1;
		}
		if (fd >= 0)
			close(fd);
	}
	free(img);
}

/*
 * ERROR and values outside the enum fail with EINVAL
 * (vfio_mig_get_next_state()) from every state, and so do STOP_COPY ->
 * PRE_COPY(_P2P), which the uAPI forbids; they return no fd and leave the
 * state (and an open save session) as it was.
 */
TEST_F_TIMEOUT(mig_state, illegal_targets, MVF_T_SHORT)
{
	static const uint32_t states[] = { S_RUNNING, S_P2P, S_STOP,
					   S_STOP_COPY, S_RESUMING,
					   S_PRE_COPY, S_PRE_COPY_P2P };
	static const uint32_t bad[] = { S_ERROR, VFIO_DEVICE_STATE_NR, 0x100,
					0xffffffff, S_PRE_COPY,
					S_PRE_COPY_P2P };
	struct mvf_vf *vf = self->vf;
	unsigned int i, j;
	size_t len = 0;
	void *img = NULL;
	int fd, dfd, ret;

	for (i = 0; i < ARRAY_SIZE(states); i++) {
		ASSERT_EQ(0, vfio_dev_reset(vf->vdev));
		reach(_metadata, vf, states[i], &fd);
		for (j = 0; j < ARRAY_SIZE(bad); j++) {
			/* PRE_COPY targets are only illegal from STOP_COPY */
			if ((bad[j] == S_PRE_COPY || bad[j] == S_PRE_COPY_P2P) &&
			    states[i] != S_STOP_COPY)
				continue;
			dfd = -2;
			ret = mvf_set_state_quiet(vf, bad[j], &dfd);
			EXPECT_EQ(-EINVAL, ret)
				TH_LOG("%s -> %u (%s)",
				       vfio_mig_state_name(states[i]), bad[j],
				       vfio_mig_state_name(bad[j]));
			EXPECT_EQ(-1, dfd);
			EXPECT_EQ(states[i], mvf_state(vf))
				TH_LOG("state changed by rejected request %s -> %u",
				       vfio_mig_state_name(states[i]), bad[j]);
		}
		if (states[i] == S_STOP_COPY) {
			save_all(_metadata, vf, fd, &img, &len);
			fd = -1;
			free(img);
			img = NULL;
		}
		if (fd >= 0)
			close(fd);
	}
}

/* Malformed VFIO_DEVICE_FEATURE calls fail with EINVAL and change nothing. */
TEST_F(mig_state, bad_feature_ioctl)
{
	struct vfio_device_feature_mig_state mig = {
		.device_state = S_STOP, .data_fd = -1,
	};
	const uint32_t hdr = sizeof(struct vfio_device_feature);
	const uint32_t f = VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	struct vfio_dev *d = self->vf->vdev;
	struct vfio_device_feature_mig_data_size ds;
	uint64_t mflags;

	/* argsz shorter than the feature header / than the payload */
	EXPECT_EQ(-EINVAL, vfio_feature_raw(d, 4, f | VFIO_DEVICE_FEATURE_SET,
					    &mig, sizeof(mig)));
	EXPECT_EQ(-EINVAL, vfio_feature_raw(d, hdr + 4,
					    f | VFIO_DEVICE_FEATURE_SET,
					    &mig, sizeof(mig)));
	EXPECT_EQ(-EINVAL, vfio_feature_raw(d, hdr,
					    f | VFIO_DEVICE_FEATURE_GET,
					    &mig, sizeof(mig)));
	/* unknown flag bit, GET and SET together, neither */
	EXPECT_EQ(-EINVAL, vfio_feature_raw(d, hdr + sizeof(mig),
					    f | VFIO_DEVICE_FEATURE_SET |
					    (1u << 24), &mig, sizeof(mig)));
	EXPECT_EQ(-EINVAL, vfio_feature_raw(d, hdr + sizeof(mig),
					    f | VFIO_DEVICE_FEATURE_SET |
					    VFIO_DEVICE_FEATURE_GET,
					    &mig, sizeof(mig)));
	EXPECT_EQ(-EINVAL, vfio_feature_raw(d, hdr + sizeof(mig), f,
					    &mig, sizeof(mig)));
	/* read-only features cannot be SET */
	EXPECT_EQ(-EINVAL, vfio_feature_raw(d, hdr + sizeof(mflags),
					    VFIO_DEVICE_FEATURE_MIGRATION |
					    VFIO_DEVICE_FEATURE_SET,
					    &mflags, sizeof(mflags)));
	EXPECT_EQ(-EINVAL, vfio_feature_raw(d, hdr + sizeof(ds),
					    VFIO_DEVICE_FEATURE_MIG_DATA_SIZE |
					    VFIO_DEVICE_FEATURE_SET,
					    &ds, sizeof(ds)));
	/* None of it moved the device out of RUNNING. */
	EXPECT_EQ(S_RUNNING, mvf_state(self->vf));
	/* The well-formed request still works. */
	go(_metadata, self->vf, S_STOP, NULL);
}

/*
 * MIG_DATA_SIZE is the STOP_COPY stream's exact length: in STOP it equals
 * the bytes the save fd then gives.  Device memory that was written
 * travels as data, the zero rest as ZERO records: FILL bytes plus a few
 * bytes per MiB, in RUNNING and in STOP.
 */
TEST_F(mig_state, data_size_exact)
{
	struct mvf_vf *vf = self->vf;
	uint64_t max = FILL + vf->devmem_size / (1 << 20) * 64 + 4096;
	uint64_t run = 0, stop = 0;
	size_t len = 0;
	void *img = NULL;
	int fd;

	ASSERT_EQ(0, mvf_devmem_fill(vf, 0, FILL, SEED + 4));
	ASSERT_EQ(0, vfio_mig_data_size(vf->vdev, &run));
	EXPECT_LE(FILL, run);
	EXPECT_GE(max, run)
		TH_LOG("%llu bytes for %lu bytes written of %llu of device memory",
		       (unsigned long long)run, FILL,
		       (unsigned long long)vf->devmem_size);
	go(_metadata, vf, S_STOP, NULL);
	ASSERT_EQ(0, vfio_mig_data_size(vf->vdev, &stop));
	EXPECT_EQ(run, stop);
	go(_metadata, vf, S_STOP_COPY, &fd);
	save_all(_metadata, vf, fd, &img, &len);
	EXPECT_EQ(stop, len) TH_LOG("MIG_DATA_SIZE said %llu, the stream has %zu",
				    (unsigned long long)stop, len);
	free(img);
}

/*
 * RUNNING_P2P quiesces the VF: a doorbell rung (as by a peer) while in
 * RUNNING_P2P is accepted but the work is not started until RUNNING; it
 * stays pending through STOP and then completes exactly once.
 */
TEST_F_TIMEOUT(mig_state, p2p_defers_work, MVF_T_SHORT)
{
	struct mvf_vf *vf = self->vf;
	struct mvf_cqe cqe[2];
	struct mvf_qp qp;

	ASSERT_EQ(0, mvf_qp_create_slot(&qp, vf, &self->env, 0));
	ASSERT_EQ(0, mvf_qp_exec(&qp, MVF_WQE_NOP, 0, 0, 0, 1));

	go(_metadata, vf, S_P2P, NULL);
	ASSERT_EQ(0, mvf_qp_post(&qp, MVF_WQE_NOP, 0, 0, 0, 2));
	mvf_qp_ring_sq(&qp);
	EXPECT_TRUE(mvf_qp_stays_quiet(&qp, 1000))
		TH_LOG("the VF completed work while RUNNING_P2P");
	go(_metadata, vf, S_STOP, NULL);
	EXPECT_TRUE(mvf_qp_stays_quiet(&qp, 500))
		TH_LOG("the VF completed work while STOP");
	go(_metadata, vf, S_RUNNING, NULL);
	ASSERT_EQ(1, mvf_qp_wait(&qp, cqe, 1))
		TH_LOG("work posted in RUNNING_P2P never completed");
	EXPECT_EQ(2, le64toh(cqe[0].wr_id));
	EXPECT_EQ(MVF_CQE_STAT_OK, cqe[0].status);
	EXPECT_TRUE(mvf_qp_stays_quiet(&qp, 500))
		TH_LOG("work completed more than once");
	EXPECT_EQ(2, mvf_rd32(vf, MVF_VF_REG_SQ_CI));
}

TEST_HARNESS_MAIN
