// SPDX-License-Identifier: GPL-2.0-only
/*
 * PRE_COPY of the MVF VF driver: VFIO_MIG_GET_PRECOPY_INFO, the temporary
 * end of stream (ENOMSG), incremental rounds that carry exactly what
 * changed, and a migration whose final part carries only the rest.
 *
 * VF1 holds a pattern and runs a queue pair; its stream is read round by
 * round.  Between rounds the test changes known pages of its device
 * memory, through BAR 2 and through the VF's own DMA (a DEVMEM_WRITE
 * work request), and a scratch register; the next round must name exactly
 * those pages, and the registers.  VF2 then loads the whole stream and
 * must hold what VF1 held when it stopped.
 */
#include <pthread.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "mvf_test.h"

#define SEED		0x9ec0b1ULL
#define FILL		(1UL << 20)
#define PAGE		MVF_DEVMEM_PAGE_SIZE

/* Pages changed between rounds: by the CPU through BAR 2, and by DMA. */
static const uint64_t cpu_pages[] = { 3, 77, 200 };
#define DMA_PAGE	130

FIXTURE(precopy) {
	struct mvf_env env;
	struct mvf_qp qp;
	struct mvf_vf *vf1, *vf2;
};

FIXTURE_SETUP(precopy)
{
	char why[512];
	int ret;

	ret = mvf_env_open(&self->env, vfio_mode_default(), 2, why,
			   sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	self->vf1 = self->env.vf[0];
	self->vf2 = self->env.vf[1];
	ASSERT_EQ(0, vfio_dev_reset(self->vf2->vdev));
	mvf_make_busy(&self->env, self->vf1, &self->qp, 0, SEED, FILL);
}

FIXTURE_TEARDOWN(precopy)
{
	int i;

	vfio_util_quiet = true;
	for (i = 0; i < self->env.nvf; i++)
		vfio_dev_reset(self->env.vf[i]->vdev);
	vfio_util_quiet = false;
	mvf_env_close(&self->env);
}

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

/* The pages DEVMEM records with data name in [@from, @len) of a stream. */
static unsigned int rec_pages(const uint8_t *buf, size_t from, size_t len,
			      uint64_t *pages, unsigned int max, bool *state)
{
	unsigned int n = 0;
	uint64_t off = from;

	*state = false;
	while (off + MVF_REC_HDR_SIZE <= len) {
		const struct mvf_rec_hdr *h = (const void *)(buf + off);
		const struct mvf_rec_devmem *d = (const void *)(h + 1);
		uint32_t i;

		if (le16toh(h->tag) == MVF_REC_STATE)
			*state = true;
		if (le16toh(h->tag) == MVF_REC_DEVMEM)
			for (i = 0; i < le32toh(d->pages) && n < max; i++)
				pages[n++] = le64toh(d->offset) / PAGE + i;
		off += mvf_rec_size(buf, off);
	}
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The whole protocol by hand: PRECOPY_INFO before and after the first
 * round, ENOMSG at its end, a round with exactly the changed pages and
 * STATE, STOP_COPY with the rest, no ENOMSG there, and VF2 takes it all.
 */
TEST_F_TIMEOUT(precopy, rounds, MVF_T_SHORT)
{
	struct mvf_vf *vf1 = self->vf1, *vf2 = self->vf2;
	uint64_t initial, dirty, initial0, want[8], got[64];
	size_t len = 0, cap = 0, round1, round2;
	uint8_t page[PAGE], *buf = NULL;
	struct vfio_precopy_info pi = { .argsz = sizeof(pi) };
	struct mvf_stream_info info;
	struct mvf_vf_regs r1, r2;
	unsigned int n, i;
	char why[256] = "";
	bool state;
	int fd, lfd;

	go(_metadata, vf1, VFIO_DEVICE_STATE_PRE_COPY, &fd);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, vfio_mig_precopy_info(fd, &initial0, &dirty));
	TH_LOG("PRE_COPY: initial_bytes %llu, dirty_bytes %llu",
	       (unsigned long long)initial0, (unsigned long long)dirty);
	EXPECT_LE(FILL, initial0);
	EXPECT_EQ(0, dirty);

	/* round 1: everything, then ENOMSG */
	ASSERT_EQ(0, vfio_mig_read_avail(fd, (void **)&buf, &len, &cap));
	round1 = len;
	ASSERT_EQ(0, vfio_mig_precopy_info(fd, &initial, &dirty));
	EXPECT_EQ(0, initial) TH_LOG("initial_bytes %llu after the first round",
				     (unsigned long long)initial);
	EXPECT_EQ(0, dirty);
	EXPECT_GE(initial0, round1);
	ASSERT_EQ(0, mvf_stream_parse(buf, len, false, &info, why,
				      sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(vf1->devmem_size / PAGE, info.devmem_pages)
		TH_LOG("the first round must name every page once");
	EXPECT_NE(0, info.size_off);
	EXPECT_EQ(0, info.end_off);
	/* nothing changed: the next round is empty */
	ASSERT_EQ(0, vfio_mig_read_avail(fd, (void **)&buf, &len, &cap));
	EXPECT_EQ(round1, len) TH_LOG("a round with no change carried %zu bytes",
				      len - round1);

	/* change 3 pages by CPU, 1 by DMA, and a register */
	for (i = 0; i < ARRAY_SIZE(cpu_pages); i++) {
		mvf_pattern_fill(page, cpu_pages[i] * PAGE, PAGE,
				 SEED + 10 + i);
		ASSERT_EQ(0, mvf_devmem_write(vf1, cpu_pages[i] * PAGE, page,
					      PAGE));
		want[i] = cpu_pages[i];
	}
	mvf_pattern_fill(self->qp.buf, DMA_PAGE * PAGE, PAGE, SEED + 20);
	ASSERT_EQ(0, mvf_qp_exec(&self->qp, MVF_WQE_DEVMEM_WRITE,
				 self->qp.buf_iova, PAGE, DMA_PAGE * PAGE, 7));
	want[i++] = DMA_PAGE;
	mvf_wr32(vf1, MVF_VF_REG_SCRATCH(5), 0x5eed0005);
	qsort(want, i, sizeof(want[0]), cmp_u64);

	ASSERT_EQ(0, vfio_mig_precopy_info(fd, &initial, &dirty));
	EXPECT_EQ(0, initial);
	EXPECT_LE(4 * PAGE, dirty) TH_LOG("dirty_bytes %llu after 4 pages changed",
					  (unsigned long long)dirty);
	EXPECT_GE(4 * (PAGE + 64) + 1024, dirty);

	ASSERT_EQ(0, vfio_mig_read_avail(fd, (void **)&buf, &len, &cap));
	round2 = len;
	n = rec_pages(buf, round1, len, got, ARRAY_SIZE(got), &state);
	qsort(got, n, sizeof(got[0]), cmp_u64);
	ASSERT_EQ(i, n) TH_LOG("round 2 named %u pages, %u changed", n, i);
	EXPECT_EQ(0, memcmp(want, got, n * sizeof(got[0])))
		TH_LOG("round 2 named other pages than the changed ones");
	EXPECT_TRUE(state) TH_LOG("a changed register must send STATE again");
	ASSERT_EQ(0, vfio_mig_precopy_info(fd, &initial, &dirty));
	EXPECT_EQ(0, dirty);

	/* stop: the rest, to EOF, never ENOMSG */
	mvf_wr32(vf1, MVF_VF_REG_SCRATCH(6), 0x5eed0006);
	go(_metadata, vf1, VFIO_DEVICE_STATE_PRE_COPY_P2P, NULL);
	go(_metadata, vf1, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &pi));
	EXPECT_EQ(EINVAL, errno)
		TH_LOG("PRECOPY_INFO in STOP_COPY must fail with EINVAL");
	ASSERT_EQ(1, vfio_mig_read_avail(fd, (void **)&buf, &len, &cap))
		TH_LOG("STOP_COPY must read to EOF");
	close(fd);
	TH_LOG("stream: %zu bytes in round 1, %zu in round 2, %zu after the stop",
	       round1, round2 - round1, len - round2);
	EXPECT_GT(FILL / 4, len - round2)
		TH_LOG("the final part must only carry what is left");
	ASSERT_EQ(0, mvf_stream_parse(buf, len, true, &info, why,
				      sizeof(why))) TH_LOG("%s", why);
	go(_metadata, vf1, VFIO_DEVICE_STATE_STOP, NULL);
	ASSERT_EQ(0, mvf_vf_read_regs_stopped(vf1, &r1));

	/* VF2 takes the stream and holds VF1's state */
	go(_metadata, vf2, VFIO_DEVICE_STATE_STOP, NULL);
	go(_metadata, vf2, VFIO_DEVICE_STATE_RESUMING, &lfd);
	ASSERT_EQ(0, vfio_mig_load(lfd, buf, len));
	go(_metadata, vf2, VFIO_DEVICE_STATE_STOP, NULL);
	close(lfd);
	ASSERT_EQ(0, mvf_vf_read_regs_stopped(vf2, &r2));
	EXPECT_EQ(0, mvf_vf_regs_diff(&r1, &r2, "vf1", "vf2", true));
	go(_metadata, vf2, VFIO_DEVICE_STATE_RUNNING, NULL);
	EXPECT_EQ(0x5eed0005, mvf_rd32(vf2, MVF_VF_REG_SCRATCH(5)));
	EXPECT_EQ(0x5eed0006, mvf_rd32(vf2, MVF_VF_REG_SCRATCH(6)));
	for (i = 0; i < ARRAY_SIZE(cpu_pages); i++)
		EXPECT_EQ(0, mvf_devmem_cmp_pattern(vf2, cpu_pages[i] * PAGE,
						    PAGE, SEED + 10 + i, NULL));
	EXPECT_EQ(0, mvf_devmem_cmp_pattern(vf2, DMA_PAGE * PAGE, PAGE,
					    SEED + 20, NULL));
	EXPECT_EQ(0, mvf_devmem_cmp_pattern(vf2, 0, 3 * PAGE, SEED, NULL));
	EXPECT_EQ(0, mvf_devmem_cmp_zero(vf2, FILL, vf2->devmem_size - FILL,
					 NULL));
	mvf_qp_move(&self->qp, vf2);
	EXPECT_EQ(0, mvf_qp_selftest(&self->qp, 2, 256, FILL, SEED + 1));
	free(buf);
}

/*
 * PRE_COPY -> RUNNING ends the stream (ENODEV); a new PRE_COPY starts a
 * new one from IDENT with every page again.  PRECOPY_INFO with a short
 * argsz fails with EINVAL, and on the resume fd with ENOTTY.
 */
TEST_F_TIMEOUT(precopy, abort_restart_and_bad_info, MVF_T_SHORT)
{
	struct mvf_vf *vf1 = self->vf1, *vf2 = self->vf2;
	struct vfio_precopy_info info = { .argsz = 8 };
	uint64_t size0 = 0, size1 = 0;
	struct mvf_stream_info si;
	size_t len = 0, cap = 0;
	uint8_t *buf = NULL;
	char why[256] = "";
	char c[4096];
	int fd, lfd;

	ASSERT_EQ(0, vfio_mig_data_size(vf1->vdev, &size0));
	go(_metadata, vf1, VFIO_DEVICE_STATE_PRE_COPY, &fd);
	ASSERT_EQ(sizeof(c), read(fd, c, sizeof(c)));
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	go(_metadata, vf1, VFIO_DEVICE_STATE_RUNNING, NULL);
	errno = 0;
	EXPECT_EQ(-1, read(fd, c, sizeof(c)));
	EXPECT_EQ(ENODEV, errno);
	close(fd);
	/* the device's session went with it: a whole stream again */
	ASSERT_EQ(0, vfio_mig_data_size(vf1->vdev, &size1));
	EXPECT_EQ(size0, size1) TH_LOG("MIG_DATA_SIZE after the aborted pre-copy");

	go(_metadata, vf1, VFIO_DEVICE_STATE_PRE_COPY, &fd);
	ASSERT_EQ(0, vfio_mig_read_avail(fd, (void **)&buf, &len, &cap));
	ASSERT_EQ(0, mvf_stream_parse(buf, len, false, &si, why, sizeof(why)))
		TH_LOG("%s", why);
	EXPECT_EQ(vf1->devmem_size / PAGE, si.devmem_pages);
	close(fd);
	go(_metadata, vf1, VFIO_DEVICE_STATE_RUNNING, NULL);

	go(_metadata, vf2, VFIO_DEVICE_STATE_STOP, NULL);
	go(_metadata, vf2, VFIO_DEVICE_STATE_RESUMING, &lfd);
	info.argsz = sizeof(info);
	errno = 0;
	EXPECT_EQ(-1, ioctl(lfd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	EXPECT_EQ(ENOTTY, errno);
	close(lfd);
	free(buf);
	EXPECT_EQ(0, mvf_qp_selftest(&self->qp, 2, 256, FILL, SEED + 2))
		TH_LOG("VF1 does not work after the aborted pre-copy");
}

/* The VF's queue pair keeps writing device memory from another thread. */
struct writer {
	struct mvf_qp *qp;
	pthread_t thread;
	volatile bool stop;
	bool joined;
	unsigned int rounds;		/* pages written so far */
	int err;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t seq = 0;

	while (!w->stop) {
		uint64_t page = 256 + seq % 64;

		mvf_pattern_fill(w->qp->buf, 0, PAGE, SEED + 100 + seq);
		w->err = mvf_qp_exec(w->qp, MVF_WQE_DEVMEM_WRITE,
				     w->qp->buf_iova, PAGE, page * PAGE, seq);
		if (w->err)
			break;
		seq++;
		__atomic_store_n(&w->rounds, seq, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void writer_join(struct writer *w)
{
	if (w->joined)
		return;
	w->stop = true;
	pthread_join(w->thread, NULL);
	w->joined = true;
}

/*
 * After round 1 the writer must have dirtied a page since that round was
 * read, however the threads were scheduled, so there is a round 2; after
 * round 2 it stops: its last WQE is complete.
 */
static void writer_between(void *arg, unsigned int round)
{
	struct writer *w = arg;
	unsigned int seen = __atomic_load_n(&w->rounds, __ATOMIC_ACQUIRE);
	int i;

	if (round == 1) {
		for (i = 0; i < 10000; i++) {
			if (__atomic_load_n(&w->rounds, __ATOMIC_ACQUIRE) >=
			    seen + 2)
				break;
			usleep(1000);
		}
		return;
	}
	writer_join(w);
}

/* The vCPUs stop before the source leaves the running states. */
static void writer_before_stop(void *arg)
{
	writer_join(arg);
}

/*
 * A live migration through vfio_migrate_live(), as a VMM does it, while
 * the VF's own DMA keeps changing device memory during the pre-copy
 * rounds: VF2 ends up with exactly what VF1 held when it stopped.
 */
TEST_F_TIMEOUT(precopy, live_with_dma, MVF_T_SHORT)
{
	struct vfio_live_opts o = { .precopy = true, .max_rounds = 4 };
	struct mvf_vf *vf1 = self->vf1, *vf2 = self->vf2;
	struct writer w = { .qp = &self->qp };
	struct vfio_live_stats st;
	uint64_t size = 2 * FILL;
	uint8_t *want, *got;
	int ret;

	o.between_rounds = writer_between;
	o.before_stop = writer_before_stop;
	o.arg = &w;
	ASSERT_EQ(0, pthread_create(&w.thread, NULL, writer_main, &w));
	ret = vfio_migrate_live(vf1->vdev, vf2->vdev, &o, &st);
	writer_join(&w);
	ASSERT_EQ(0, ret);
	TH_LOG("%u pre-copy rounds, %llu bytes live, %llu after the stop, downtime %.3f s; the VF wrote %u pages meanwhile (last: %s)",
	       st.rounds, (unsigned long long)st.precopy_bytes,
	       (unsigned long long)st.stopcopy_bytes, st.t_downtime,
	       w.rounds, w.err ? strerror(-w.err) : "ok");
	EXPECT_EQ(0, w.err);
	EXPECT_LT(0, w.rounds);
	EXPECT_LE(2, st.rounds);

	/* VF1 (STOP) and VF2 (RUNNING) hold the same device memory */
	want = malloc(size);
	got = malloc(size);
	ASSERT_NE(NULL, want);
	ASSERT_NE(NULL, got);
	go(_metadata, vf1, VFIO_DEVICE_STATE_RUNNING, NULL);
	ASSERT_EQ(0, mvf_devmem_read(vf1, 0, want, size));
	ASSERT_EQ(0, mvf_devmem_read(vf2, 0, got, size));
	EXPECT_EQ(0, memcmp(want, got, size))
		TH_LOG("VF2's device memory differs from VF1's at the stop");
	free(want);
	free(got);
}

TEST_HARNESS_MAIN
