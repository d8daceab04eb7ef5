// SPDX-License-Identifier: GPL-2.0-only
/*
 * Hostile and careless users of an MVF VF: a VMM killed in the middle of a
 * save or a load (its threads inside read() or write() of the data fd),
 * eight threads asking for migration states at once, and a device closed
 * while a data fd is being used.  Afterwards the VF must be RUNNING in the
 * device, usable, and migrate; the kernel's image buffers must be back to
 * what they were (mvf_core's img_bytes); a kernel splat or a kmemleak
 * report fails the suite run (scripts/bench/check-klog.sh).
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "mvf_test.h"

#define SEED		0x4051113eULL
#define FILL		(1UL << 20)
#define IMG_BYTES	"/sys/kernel/debug/mvf_core/img_bytes"

/* Kernel memory in image buffers now, from mvf_core's debugfs. */
static long long img_bytes(void)
{
	long long now = -1;
	FILE *f = fopen(IMG_BYTES, "r");

	if (f) {
		if (fscanf(f, "%lld", &now) != 1)
			now = -1;
		fclose(f);
	}
	return now;
}

/* Poll until the image buffers are back to @base (freed late by work). */
static long long img_bytes_settle(long long base)
{
	long long now = img_bytes();
	int i;

	for (i = 0; i < 500 && now != base; i++) {
		usleep(10000);
		now = img_bytes();
	}
	return now;
}

FIXTURE(hostile) {
	struct mvf_env env;
	char bdf[2][MVF_BDF_LEN];
	long long base;
};

FIXTURE_SETUP(hostile)
{
	char why[512];
	int ret;

	ret = mvf_env_open(&self->env, vfio_mode_default(), 2, why,
			   sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	snprintf(self->bdf[0], MVF_BDF_LEN, "%s", self->env.vf[0]->bdf);
	snprintf(self->bdf[1], MVF_BDF_LEN, "%s", self->env.vf[1]->bdf);
	/* the VMM being killed opens VF 0 itself */
	mvf_vf_close(self->env.vf[0]);
	self->env.vf[0] = NULL;
	self->base = img_bytes();
	ASSERT_LE(0, self->base) TH_LOG("cannot read %s", IMG_BYTES);
}

FIXTURE_TEARDOWN(hostile)
{
	int i;

	for (i = 0; i < self->env.nvf; i++)
		if (self->env.vf[i]) {
			vfio_util_quiet = true;
			vfio_dev_reset(self->env.vf[i]->vdev);
			vfio_util_quiet = false;
		}
	mvf_env_close(&self->env);
}

/*
 * After a user went away: VF 0 reopened is running in the device, works,
 * and migrates into VF 1; the image buffers are all freed.
 */
static void check_after(struct __test_metadata *_metadata,
			FIXTURE_DATA(hostile) *self)
{
	struct mvf_vf *a, *b = self->env.vf[1];
	struct mvf_qp qp;
	long long now;

	now = img_bytes_settle(self->base);
	EXPECT_EQ(self->base, now)
		TH_LOG("image buffers: %lld bytes before, %lld after",
		       self->base, now);
	ASSERT_EQ(0, mvf_vf_open(self->env.ctx, self->bdf[0],
				 mvf_bar0_default(), &a));
	self->env.vf[0] = a;
	EXPECT_EQ(0, mvf_rd32(a, MVF_VF_REG_STATUS) &
		     (MVF_VF_STATUS_QUIESCED | MVF_VF_STATUS_FROZEN))
		TH_LOG("VF left suspended: status 0x%x",
		       mvf_rd32(a, MVF_VF_REG_STATUS));
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(a));
	mvf_scratch_set(a, SEED + 7);
	ASSERT_EQ(0, mvf_qp_create_slot(&qp, a, &self->env, 0));
	EXPECT_EQ(0, mvf_qp_selftest(&qp, 2, 256, 0, SEED + 8));
	ASSERT_EQ(0, vfio_dev_reset(b->vdev));
	ASSERT_EQ(0, vfio_migrate(a->vdev, b->vdev, NULL, NULL, NULL));
	EXPECT_EQ(0, mvf_scratch_check(b, SEED + 7));
}

/*
 * The VMM, in a child: open VF 0, fill it, enter @state and have a thread
 * stream the data fd in small pieces forever (a save is read again and
 * again; a load writes a real image's records over and over, which the
 * driver takes until it refuses what follows END).  Tells the parent
 * through @ready once the thread is inside the stream.
 */
struct vmm_arg {
	int fd;
	bool save;
	void *img;
	size_t len;
	int ready;
};

static void *vmm_stream(void *p)
{
	struct vmm_arg *v = p;
	char buf[1000];
	size_t off = 0;
	bool told = false;
	ssize_t n;

	for (;;) {
		if (v->save) {
			n = read(v->fd, buf, sizeof(buf));
		} else {
			n = write(v->fd, (char *)v->img + off,
				  v->len - off < 999 ? v->len - off : 999);
			if (n > 0)
				off = (off + n) % v->len;
		}
		if (!told) {
			(void)!write(v->ready, "x", 1);
			told = true;
		}
		if (n <= 0)
			usleep(1000);
	}
	return NULL;
}

static void vmm_child(const char *bdf, uint32_t state, int ready)
{
	struct vfio_ctx *ctx;
	struct vmm_arg v = { .ready = ready };
	struct mvf_vf *vf;
	pthread_t t;
	int fd = -1;

	if (vfio_ctx_open(vfio_mode_default(), &ctx) ||
	    mvf_vf_open(ctx, bdf, mvf_bar0_default(), &vf))
		_exit(2);
	if (mvf_devmem_fill(vf, 0, FILL, SEED))
		_exit(3);
	if (state == VFIO_DEVICE_STATE_RESUMING) {
		if (vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP_COPY,
				       &fd) ||
		    vfio_mig_save(fd, vf->devmem_size, &v.img, &v.len))
			_exit(4);
		close(fd);
		if (vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP, NULL))
			_exit(5);
	}
	if (vfio_mig_set_state(vf->vdev, state, &v.fd))
		_exit(6);
	v.save = state != VFIO_DEVICE_STATE_RESUMING;
	if (pthread_create(&t, NULL, vmm_stream, &v))
		_exit(7);
	/* the main thread asks for more while the stream runs */
	for (;;) {
		uint64_t size;

		vfio_mig_data_size(vf->vdev, &size);
		usleep(2000);
	}
}

static void kill_vmm_in(struct __test_metadata *_metadata,
			FIXTURE_DATA(hostile) *self, uint32_t state)
{
	static const int delays_ms[] = { 0, 3, 20, 100 };
	unsigned int i;
	int p[2], status;
	pid_t pid;
	char c;

	for (i = 0; i < sizeof(delays_ms) / sizeof(delays_ms[0]); i++) {
		ASSERT_EQ(0, pipe(p));
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			close(p[0]);
			vfio_util_quiet = true;
			vmm_child(self->bdf[0], state, p[1]);
		}
		close(p[1]);
		ASSERT_EQ(1, read(p[0], &c, 1))
			TH_LOG("the VMM died before streaming");
		close(p[0]);
		usleep(delays_ms[i] * 1000);
		ASSERT_EQ(0, kill(pid, SIGKILL));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFSIGNALED(status))
			TH_LOG("the VMM exited %d on its own",
			       WEXITSTATUS(status));
		check_after(_metadata, self);
		mvf_vf_close(self->env.vf[0]);
		self->env.vf[0] = NULL;
	}
}

TEST_F_TIMEOUT(hostile, vmm_killed_mid_save, MVF_T_SHORT)
{
	kill_vmm_in(_metadata, self, VFIO_DEVICE_STATE_STOP_COPY);
}

TEST_F_TIMEOUT(hostile, vmm_killed_mid_precopy, MVF_T_SHORT)
{
	kill_vmm_in(_metadata, self, VFIO_DEVICE_STATE_PRE_COPY);
}

TEST_F_TIMEOUT(hostile, vmm_killed_mid_load, MVF_T_SHORT)
{
	kill_vmm_in(_metadata, self, VFIO_DEVICE_STATE_RESUMING);
}

/*
 * Eight threads ask for random states of one VF at once, for a while; data
 * fds they get are read or written a little and closed.  Every request
 * either succeeds or fails cleanly, GET always answers a state of the
 * uAPI, and nothing hangs.
 */
#define STORM_THREADS	8
#define STORM_SECS	4

struct storm {
	struct mvf_vf *vf;
	unsigned int seed;
	double end;
	int ok, failed, bad_get;
};

static void *storm_thread(void *p)
{
	static const uint32_t targets[] = {
		VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_RUNNING_P2P,
		VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_STOP_COPY,
		VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_PRE_COPY,
		VFIO_DEVICE_STATE_PRE_COPY_P2P,
	};
	struct storm *s = p;
	char buf[512];
	uint32_t st;
	int fd;

	while (vfio_now() < s->end) {
		uint32_t t = targets[rand_r(&s->seed) % 7];

		fd = -1;
		if (vfio_mig_set_state(s->vf->vdev, t, &fd)) {
			s->failed++;
		} else {
			s->ok++;
			if (fd >= 0) {
				memset(buf, 0, sizeof(buf));
				if (t == VFIO_DEVICE_STATE_RESUMING)
					(void)!write(fd, buf, 8);
				else
					(void)!read(fd, buf, sizeof(buf));
				close(fd);
			}
		}
		if (vfio_mig_get_state(s->vf->vdev, &st) ||
		    st > VFIO_DEVICE_STATE_PRE_COPY_P2P)
			s->bad_get++;
	}
	return NULL;
}

TEST_F_TIMEOUT(hostile, eight_threads_set_state, MVF_T_SHORT)
{
	struct storm s[STORM_THREADS];
	pthread_t t[STORM_THREADS];
	struct mvf_vf *a;
	int i, ok = 0, failed = 0;

	ASSERT_EQ(0, mvf_vf_open(self->env.ctx, self->bdf[0],
				 mvf_bar0_default(), &a));
	self->env.vf[0] = a;
	vfio_util_quiet = true;
	for (i = 0; i < STORM_THREADS; i++) {
		s[i] = (struct storm){ .vf = a, .seed = 7 + i,
				       .end = vfio_now() + STORM_SECS };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, storm_thread, &s[i]));
	}
	for (i = 0; i < STORM_THREADS; i++) {
		pthread_join(t[i], NULL);
		ok += s[i].ok;
		failed += s[i].failed;
		EXPECT_EQ(0, s[i].bad_get) TH_LOG("thread %d read bad states", i);
	}
	vfio_util_quiet = false;
	printf("# %d requests succeeded, %d failed cleanly\n", ok, failed);
	EXPECT_LT(0, ok);

	/* whatever the storm left, a reset brings it back */
	ASSERT_EQ(0, vfio_dev_reset(a->vdev));
	mvf_vf_close(a);
	self->env.vf[0] = NULL;
	check_after(_metadata, self);
}

/*
 * The device closed while another thread is inside read() of its save fd,
 * or write() of its resume fd: the call ends, the fd then answers ENODEV
 * (or EIO), and the VF is let go.
 */
static void close_under(struct __test_metadata *_metadata,
			FIXTURE_DATA(hostile) *self, uint32_t state)
{
	struct vmm_arg v = { 0 };
	struct mvf_vf *a;
	pthread_t t;
	int p[2], fd = -1;
	char c, buf[64];
	ssize_t n;

	ASSERT_EQ(0, pipe(p));
	v.ready = p[1];
	ASSERT_EQ(0, mvf_vf_open(self->env.ctx, self->bdf[0],
				 mvf_bar0_default(), &a));
	ASSERT_EQ(0, mvf_devmem_fill(a, 0, FILL, SEED));
	if (state == VFIO_DEVICE_STATE_RESUMING) {
		ASSERT_EQ(0, vfio_mig_set_state(a->vdev,
						VFIO_DEVICE_STATE_STOP_COPY,
						&fd));
		ASSERT_EQ(0, vfio_mig_save(fd, a->devmem_size, &v.img,
					   &v.len));
		close(fd);
		ASSERT_EQ(0, vfio_mig_set_state(a->vdev,
						VFIO_DEVICE_STATE_STOP, NULL));
	}
	ASSERT_EQ(0, vfio_mig_set_state(a->vdev, state, &v.fd));
	v.save = state != VFIO_DEVICE_STATE_RESUMING;
	ASSERT_EQ(0, pthread_create(&t, NULL, vmm_stream, &v));
	ASSERT_EQ(1, read(p[0], &c, 1));
	mvf_vf_close(a);
	/* the streaming thread now only gets errors */
	usleep(100000);
	errno = 0;
	n = v.save ? read(v.fd, buf, sizeof(buf)) : write(v.fd, buf, 8);
	EXPECT_EQ(-1, n);
	EXPECT_TRUE(errno == ENODEV || errno == EIO) TH_LOG("errno %d", errno);
	pthread_cancel(t);
	pthread_join(t, NULL);
	close(v.fd);
	close(p[0]);
	close(p[1]);
	free(v.img);
	check_after(_metadata, self);
}

TEST_F_TIMEOUT(hostile, device_closed_under_a_reader, MVF_T_SHORT)
{
	close_under(_metadata, self, VFIO_DEVICE_STATE_STOP_COPY);
}

TEST_F_TIMEOUT(hostile, device_closed_under_a_writer, MVF_T_SHORT)
{
	close_under(_metadata, self, VFIO_DEVICE_STATE_RESUMING);
}

TEST_HARNESS_MAIN
