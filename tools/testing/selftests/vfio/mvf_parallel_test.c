// SPDX-License-Identifier: GPL-2.0-only
/*
 * All VFs at once: four busy VFs migrate into four others at the same
 * time, each from its own thread as a VMM with one thread per device
 * would, with pre-copy rounds.  The device runs the SAVEs and LOADs of
 * different VFs concurrently and completes them out of order; every
 * destination must end up with exactly its own source's state.
 */
#include <pthread.h>

#include "kselftest_harness.h"
#include "mvf_test.h"

#define NPAIRS		4
#define SEED		0x9a7a11e1ULL
#define FILL		(1UL << 20)

struct pair {
	struct mvf_vf *src, *dst;
	struct vfio_live_stats st;
	int ret;
};

FIXTURE(parallel) {
	struct mvf_env env;
	struct mvf_qp qp[NPAIRS];
	struct mvf_vf_regs regs[NPAIRS];
	struct pair pair[NPAIRS];
};

FIXTURE_SETUP(parallel)
{
	char why[512];
	int ret, i;

	ret = mvf_env_open(&self->env, vfio_mode_default(), 2 * NPAIRS, why,
			   sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	for (i = 0; i < NPAIRS; i++) {
		struct pair *p = &self->pair[i];

		p->src = self->env.vf[i];
		p->dst = self->env.vf[NPAIRS + i];
		ASSERT_EQ(p->src->devmem_size, p->dst->devmem_size);
		ASSERT_EQ(0, vfio_dev_reset(p->dst->vdev));
		mvf_make_busy(&self->env, p->src, &self->qp[i], i, SEED + i,
			      FILL);
	}
}

FIXTURE_TEARDOWN(parallel)
{
	int i;

	vfio_util_quiet = true;
	for (i = 0; i < self->env.nvf; i++)
		vfio_dev_reset(self->env.vf[i]->vdev);
	vfio_util_quiet = false;
	mvf_env_close(&self->env);
}

static void *migrate_main(void *arg)
{
	struct vfio_live_opts o = { .precopy = true, .max_rounds = 2 };
	struct pair *p = arg;

	p->ret = vfio_migrate_live(p->src->vdev, p->dst->vdev, &o, &p->st);
	return NULL;
}

TEST_F_TIMEOUT(parallel, four_into_four, MVF_T_LONG)
{
	pthread_t t[NPAIRS];
	struct mvf_vf_regs r;
	double t0, secs;
	int i;

	/* the registers each source will carry (its queues are idle) */
	for (i = 0; i < NPAIRS; i++)
		ASSERT_EQ(0, mvf_vf_read_regs(self->pair[i].src,
					      &self->regs[i]));

	t0 = vfio_now();
	for (i = 0; i < NPAIRS; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, migrate_main,
					    &self->pair[i]));
	for (i = 0; i < NPAIRS; i++)
		pthread_join(t[i], NULL);
	secs = vfio_now() - t0;

	for (i = 0; i < NPAIRS; i++) {
		struct pair *p = &self->pair[i];

		TH_LOG("%s -> %s: %s, %u rounds, %llu + %llu bytes, %.3f s (downtime %.3f s)",
		       p->src->bdf, p->dst->bdf,
		       p->ret ? strerror(-p->ret) : "ok", p->st.rounds,
		       (unsigned long long)p->st.precopy_bytes,
		       (unsigned long long)p->st.stopcopy_bytes,
		       p->st.t_total, p->st.t_downtime);
		EXPECT_EQ(0, p->ret);
	}
	TH_LOG("all four in %.3f s", secs);

	for (i = 0; i < NPAIRS; i++) {
		struct pair *p = &self->pair[i];

		if (p->ret)
			continue;
		ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(p->dst));
		ASSERT_EQ(0, mvf_vf_read_regs(p->dst, &r));
		EXPECT_EQ(0, mvf_vf_regs_diff(&self->regs[i], &r, "source",
					      "destination", true))
			TH_LOG("pair %d", i);
		EXPECT_EQ(0, mvf_scratch_check(p->dst, SEED + i));
		EXPECT_EQ(0, mvf_devmem_cmp_pattern(p->dst, 512, FILL - 512,
						    SEED + i, NULL))
			TH_LOG("pair %d: device memory", i);
		EXPECT_EQ(0, mvf_devmem_cmp_zero(p->dst, FILL,
						 p->dst->devmem_size - FILL,
						 NULL));
		mvf_qp_move(&self->qp[i], p->dst);
		EXPECT_EQ(0, mvf_qp_selftest(&self->qp[i], 2, 256, FILL,
					     SEED + i + 100))
			TH_LOG("pair %d: the destination does not work", i);
	}
}

TEST_HARNESS_MAIN
