/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared pieces of the MVF selftests: finding and opening the VFs, the DMA
 * layout, and checks that several tests make.  Included by each test after
 * kselftest_harness.h.
 */
#ifndef _MVF_TEST_H
#define _MVF_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "mvf_dev.h"

#define MVF_TEST_MAX_VFS	8

/*
 * DMA layout shared by all VFs of a test: one area at a fixed IOVA with one
 * 2 MiB slot per queue pair (rings first, then data buffers).
 */
#define MVF_TEST_IOVA		0x40000000ULL
#define MVF_SLOT_SIZE		(2UL << 20)
#define MVF_NUM_SLOTS		6
#define MVF_SQ_LOG		6
#define MVF_RQ_LOG		6
#define MVF_CQ_LOG		8

/* Timeouts (seconds) for the harness: TCG runs 20-50x slower than KVM. */
#define MVF_T_SHORT		300
#define MVF_T_LONG		900

struct mvf_env {
	struct vfio_ctx *ctx;
	int nvf;
	struct mvf_vf *vf[MVF_TEST_MAX_VFS];
	struct mvf_dma dma;
};

/*
 * Open @need VFs in one context of @mode and map the DMA area.  Returns 0,
 * 1 if the test must be skipped, or -errno; @why says why in both cases.
 */
static inline int mvf_env_open(struct mvf_env *e, enum vfio_mode mode,
			       int need, char *why, size_t why_len)
{
	char bdfs[MVF_MAX_VFS][MVF_BDF_LEN];
	char reason[256];
	int n, i, ret;

	memset(e, 0, sizeof(*e));
	if (geteuid()) {
		snprintf(why, why_len, "needs root (VFIO device access)");
		return 1;
	}
	if (vfio_mode_available(mode, reason, sizeof(reason))) {
		snprintf(why, why_len, "%.200s", reason);
		return 1;
	}
	n = mvf_find_vfs(bdfs, MVF_MAX_VFS);
	if (n < 0) {
		snprintf(why, why_len, "cannot list PCI devices: %.64s",
			 strerror(-n));
		return n;
	}
	if (n < need) {
		snprintf(why, why_len,
			 "needs %d MVF VFs bound to mvf-vfio-pci, found %d (set MVF_VFS or enable more VFs)",
			 need, n);
		return 1;
	}
	/* Without the vfio cdev the iommufd variant cannot run at all. */
	if (mode == VFIO_MODE_IOMMUFD) {
		char path[128];

		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/vfio-dev", bdfs[0]);
		if (access(path, F_OK)) {
			snprintf(why, why_len,
				 "%s has no vfio cdev (%s): kernel without CONFIG_VFIO_DEVICE_CDEV?",
				 bdfs[0], path);
			return 1;
		}
	}
	ret = vfio_ctx_open(mode, &e->ctx);
	if (ret) {
		snprintf(why, why_len, "opening the %s context failed: %.64s",
			 vfio_mode_name(mode), strerror(-ret));
		return ret;
	}
	for (i = 0; i < need; i++) {
		ret = mvf_vf_open(e->ctx, bdfs[i], mvf_bar0_default(),
				  &e->vf[i]);
		if (ret) {
			snprintf(why, why_len, "opening VF %.31s failed: %.64s",
				 bdfs[i], strerror(-ret));
			return ret;
		}
		e->nvf++;
	}
	ret = mvf_dma_alloc(e->ctx, MVF_TEST_IOVA,
			    MVF_SLOT_SIZE * MVF_NUM_SLOTS, &e->dma);
	if (ret) {
		snprintf(why, why_len, "DMA mapping failed: %.64s",
			 strerror(-ret));
		return ret;
	}
	return 0;
}

static inline void mvf_env_close(struct mvf_env *e)
{
	int i;

	mvf_dma_free(&e->dma);
	for (i = 0; i < e->nvf; i++)
		mvf_vf_close(e->vf[i]);
	vfio_ctx_close(e->ctx);
	memset(e, 0, sizeof(*e));
}

static inline int mvf_qp_create_slot(struct mvf_qp *qp, struct mvf_vf *vf,
				     struct mvf_env *e, int slot)
{
	return mvf_qp_create(qp, vf, &e->dma, slot * MVF_SLOT_SIZE,
			     MVF_SLOT_SIZE, MVF_SQ_LOG, MVF_RQ_LOG,
			     MVF_CQ_LOG);
}

static inline uint32_t mvf_scratch_val(uint64_t seed, int i)
{
	return (uint32_t)mvf_pattern_word(seed ^ 0x5c5c, 8 * i);
}

static inline void mvf_scratch_set(struct mvf_vf *vf, uint64_t seed)
{
	int i;

	for (i = 0; i < MVF_VF_NUM_SCRATCH; i++)
		mvf_wr32(vf, MVF_VF_REG_SCRATCH(i), mvf_scratch_val(seed, i));
}

/* Number of scratch registers that do not hold the values of @seed. */
static inline int mvf_scratch_check(struct mvf_vf *vf, uint64_t seed)
{
	int i, bad = 0;

	for (i = 0; i < MVF_VF_NUM_SCRATCH; i++)
		if (mvf_rd32(vf, MVF_VF_REG_SCRATCH(i)) !=
		    mvf_scratch_val(seed, i))
			bad++;
	return bad;
}

/* Record a failure with a message and go on (like a failed EXPECT). */
#define ADD_FAILURE(fmt, ...) do {					\
	TH_LOG(fmt, ##__VA_ARGS__);					\
	_metadata->exit_code = KSFT_FAIL;				\
} while (0)

/* Read back the migration state, -1 if that failed. */
static inline int64_t mvf_state(struct mvf_vf *vf)
{
	uint32_t s;

	if (vfio_mig_get_state(vf->vdev, &s))
		return -1;
	return s;
}

/*
 * The VF's MVF_VHCA_STATE_* flags and its frozen access counter, from
 * mvf_core's debugfs: these work in every migration state, the VF's BARs
 * only while it runs.  A file that cannot be read fails the test.
 */
static inline uint32_t mvf_vhca(struct __test_metadata *_metadata,
				struct mvf_vf *vf)
{
	uint32_t s = 0;
	int ret = mvf_vhca_state(vf->bdf, &s);

	ASSERT_EQ(0, ret) TH_LOG("cannot read %s/%s/vhca_state: %s",
				 MVF_DEBUGFS_DIR, vf->bdf, strerror(-ret));
	return s;
}

static inline uint32_t mvf_frozen(struct __test_metadata *_metadata,
				  struct mvf_vf *vf)
{
	uint32_t n = 0;
	int ret = mvf_frozen_accesses(vf->bdf, &n);

	ASSERT_EQ(0, ret) TH_LOG("cannot read %s/%s/frozen_accesses: %s",
				 MVF_DEBUGFS_DIR, vf->bdf, strerror(-ret));
	return n;
}

/* Do a request expected to fail, without the library's error message. */
static inline int mvf_set_state_quiet(struct mvf_vf *vf, uint32_t state,
				      int *fd)
{
	int ret;

	vfio_util_quiet = true;
	ret = vfio_mig_set_state(vf->vdev, state, fd);
	vfio_util_quiet = false;
	return ret;
}

/*
 * Wait a little while for CQEs that must not come: TCG is slow, so give the
 * device time to (wrongly) produce one before declaring the CQ quiet.
 */
static inline bool mvf_qp_stays_quiet(struct mvf_qp *qp, int ms)
{
	double end = vfio_now() + ms / 1000.0;

	while (vfio_now() < end) {
		if (mvf_qp_cqe_pending(qp))
			return false;
		usleep(10000);
	}
	return !mvf_qp_cqe_pending(qp);
}

/*
 * Put a VF into a known busy state: device memory filled with the pattern
 * of @seed (a prefix of @fill bytes, all of it if 0), scratch registers
 * set, a queue pair in @slot and some work done so counters are not zero.
 */
#define mvf_make_busy(e, vf, qp, slot, seed, fill) do {			\
	uint64_t __fill = (fill) ? (fill) : (vf)->devmem_size;		\
	ASSERT_EQ(0, vfio_dev_reset((vf)->vdev));			\
	ASSERT_EQ(0, mvf_devmem_fill(vf, 0, __fill, seed));		\
	mvf_scratch_set(vf, seed);					\
	ASSERT_EQ(0, mvf_qp_create_slot(qp, vf, e, slot));		\
	ASSERT_EQ(0, mvf_qp_selftest(qp, 4, 512, 0, seed));		\
	/* selftest wrote its own pattern at devmem 0: restore ours */	\
	ASSERT_EQ(0, mvf_devmem_fill(vf, 0, 512, seed));		\
	ASSERT_EQ(0, (vf)->io_err);					\
} while (0)

#endif /* _MVF_TEST_H */
