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
 *
 * Last, the deferred reset: a reset that arrives while an arc holds the
 * state machine, stuck behind a data fd writer, must return at once.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>

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
	case VFIO_DEVICE_STATE_PRE_COPY:
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
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
		if (state != VFIO_DEVICE_STATE_RESUMING)
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

TEST_F_TIMEOUT(reset, in_pre_copy_partly_read, MVF_T_SHORT)
{
	reset_in(_metadata, self, VFIO_DEVICE_STATE_PRE_COPY);
}

TEST_F_TIMEOUT(reset, in_pre_copy_p2p_partly_read, MVF_T_SHORT)
{
	reset_in(_metadata, self, VFIO_DEVICE_STATE_PRE_COPY_P2P);
}

/*
 * The deferred reset.  A writer of the resume file sits in a page fault
 * on a userfaultfd page, holding the file; RESUMING -> STOP waits behind
 * it, holding the state machine.  A reset now must not wait for either
 * (vfio holds its memory_lock across reset_done(), and a holder of the
 * state machine may wait on the mm): it must return at once and leave the
 * reset to the state machine's holder, which runs it on the way out.
 */
struct stuck {
	struct mvf_vf *vf;
	int fd;
	void *src;
	size_t len;
	ssize_t wrote;
	int werr;
	int arc;
	int reset;
	volatile int arc_done;
	volatile int reset_done;
};

static void *stuck_writer(void *arg)
{
	struct stuck *st = arg;

	st->wrote = write(st->fd, st->src, st->len);
	st->werr = errno;
	return NULL;
}

static void *stuck_arc(void *arg)
{
	struct stuck *st = arg;

	st->arc = vfio_mig_set_state(st->vf->vdev, VFIO_DEVICE_STATE_STOP,
				     NULL);
	st->arc_done = 1;
	return NULL;
}

static void *stuck_reset(void *arg)
{
	struct stuck *st = arg;

	st->reset = vfio_dev_reset(st->vf->vdev);
	st->reset_done = 1;
	return NULL;
}

/* Wait until thread @tid sleeps uninterruptibly (a mutex, a fault). */
static bool wait_blocked(pid_t tid, int ms)
{
	char path[64], buf[256], *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	for (; ms > 0; ms -= 10) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return false;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			p = strrchr(buf, ')');
			if (p && p[1] == ' ' && p[2] == 'D')
				return true;
		}
		usleep(10000);
	}
	return false;
}

struct tid_arg {
	void *(*fn)(void *);
	void *arg;
	volatile pid_t tid;
};

static void *with_tid(void *arg)
{
	struct tid_arg *t = arg;

	t->tid = gettid();
	return t->fn(t->arg);
}

static int wait_flag(volatile int *flag, int ms)
{
	for (; ms > 0 && !*flag; ms -= 10)
		usleep(10000);
	return *flag;
}

TEST_F_TIMEOUT(reset, deferred_while_resuming_stop_is_stuck, MVF_T_SHORT)
{
	struct mvf_vf *vf = self->vf;
	struct tid_arg targ = { .fn = stuck_arc };
	struct uffdio_register reg = { 0 };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_copy copy = { 0 };
	struct uffd_msg msg;
	struct pollfd pfd;
	pthread_t w, a, r;
	struct stuck st = { .vf = vf, .fd = -1 };
	struct mvf_qp qp2;
	size_t page = getpagesize();
	void *img = NULL, *area;
	size_t len = 0;
	bool reset_prompt;
	int uffd, fd = -1;
	ssize_t n;

	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 && errno == ENOSYS)
		SKIP(return, "no userfaultfd (CONFIG_USERFAULTFD)");
	ASSERT_LE(0, uffd) TH_LOG("userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_API, &api));

	/* A real image to write, held back by a missing page. */
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP_COPY,
					&fd));
	ASSERT_EQ(0, vfio_mig_save(fd, vf->devmem_size, &img, &len));
	close(fd);
	ASSERT_LE(2 * page, len);
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_RESUMING,
					&st.fd));
	area = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	reg.range.start = (unsigned long)area;
	reg.range.len = 2 * page;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg))
		TH_LOG("UFFDIO_REGISTER: %s", strerror(errno));
	st.src = area;
	st.len = 2 * page;

	/* 1: the writer faults, and waits, inside the data fd's write() */
	ASSERT_EQ(0, pthread_create(&w, NULL, stuck_writer, &st));
	pfd.fd = uffd;
	pfd.events = POLLIN;
	ASSERT_EQ(1, poll(&pfd, 1, 30000)) TH_LOG("the writer never faulted");
	ASSERT_EQ(sizeof(msg), read(uffd, &msg, sizeof(msg)));
	ASSERT_EQ(UFFD_EVENT_PAGEFAULT, msg.event);

	/* 2: RESUMING -> STOP waits for the writer, state machine held */
	targ.arg = &st;
	ASSERT_EQ(0, pthread_create(&a, NULL, with_tid, &targ));
	while (!targ.tid)
		usleep(1000);
	ASSERT_TRUE(wait_blocked(targ.tid, 30000))
		TH_LOG("RESUMING -> STOP did not wait for the stuck writer");
	ASSERT_FALSE(st.arc_done);

	/* 3: a reset must come back now, not behind them */
	ASSERT_EQ(0, pthread_create(&r, NULL, stuck_reset, &st));
	reset_prompt = wait_flag(&st.reset_done, 10000);
	EXPECT_TRUE(reset_prompt)
		TH_LOG("VFIO_DEVICE_RESET waited for the state machine: the reset is not deferred");
	EXPECT_FALSE(st.arc_done) TH_LOG("the writer was not holding the arc");

	/* 4: let the writer go; the arc ends and runs the deferred reset */
	copy.dst = (unsigned long)area;
	copy.src = (unsigned long)img;
	copy.len = 2 * page;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_COPY, &copy))
		TH_LOG("UFFDIO_COPY: %s", strerror(errno));
	pthread_join(w, NULL);
	pthread_join(a, NULL);
	pthread_join(r, NULL);
	EXPECT_EQ(0, st.reset);
	EXPECT_EQ((ssize_t)(2 * page), st.wrote)
		TH_LOG("write: %zd (%s)", st.wrote, strerror(st.werr));
	/* half a stream: the arc itself fails, the reset wins either way */
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(vf))
		TH_LOG("the deferred reset did not bring the VF to RUNNING");
	errno = 0;
	n = write(st.fd, img, page);
	EXPECT_EQ(-1, n) TH_LOG("data fd still usable after the reset");
	EXPECT_EQ(ENODEV, errno);
	close(st.fd);
	munmap(area, 2 * page);
	close(uffd);
	free(img);

	/* the VF (reset: its queues are gone) works and migrates again */
	ASSERT_EQ(0, mvf_qp_create_slot(&qp2, vf, &self->env, 1));
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP,
					NULL));
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_RUNNING,
					NULL));
	EXPECT_EQ(0, mvf_qp_selftest(&qp2, 1, 64, 0, SEED + 3));
}

TEST_HARNESS_MAIN
