// SPDX-License-Identifier: GPL-2.0-only
/*
 * Faults during migration: every reset method and every AER error of the
 * VF and of its PF, injected in every migration state, mid-read and
 * mid-write of a data fd.
 *
 * Each case takes a busy VF (A) to a state, injects the fault, checks what
 * Documentation/mvf/admin-guide.rst promises for it, then recovers A with
 * VFIO_DEVICE_RESET and checks that A works and migrates into another VF
 * (B).  What is promised:
 *
 *   reset (VFIO_DEVICE_RESET, FLR, PM)   RUNNING, data fd ended (ENODEV),
 *                                        the VF as after FLR
 *   correctable AER                      nothing: the migration goes on
 *                                        and completes
 *   non-fatal AER of the VF or the PF    migrating: data fd fails (EIO),
 *                                        ERROR until reset; the non-fatal
 *                                        eventfd fires; RUNNING stays
 *                                        RUNNING with its state intact
 *   fatal AER (link reset), PF reset     migrating: as non-fatal, on the
 *                                        error eventfd; RUNNING stays
 *                                        RUNNING, reset under the user
 *
 * "Migrating" is any state but RUNNING.  The program ends with the fault
 * matrix: survived/total for each fault and state.  AER errors come from
 * the device model through the bench's host channel (lib/mvf_host.c).
 */
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/mvf/mvf_vfio_uapi.h>

#include "kselftest_harness.h"
#include "mvf_test.h"
#include "mvf_host.h"

#define SEED		0xfa017000ULL
#define FILL		(256UL << 10)
#define PART		4096
#define MATRIX		"/tmp/mvf_fault_matrix"

enum fault_class {
	CLASS_RESET,		/* the VF is reset, nothing else */
	CLASS_NOTHING,		/* correctable: the migration goes on */
	CLASS_NONFATAL,		/* the function went on; migration cut */
	CLASS_FATAL,		/* the function was reset; migration cut */
};

enum fault_how {
	HOW_VFIO_RESET,
	HOW_SYSFS_RESET,	/* /sys/.../reset with one reset_method */
	HOW_AER,
};

FIXTURE(fault) {
	struct mvf_env env;
	struct mvf_vf *a, *b;
	struct mvf_qp qp;
	char pf[MVF_BDF_LEN];
	int errfd, nffd;
};

FIXTURE_VARIANT(fault) {
	const char *name;
	enum fault_how how;
	const char *method;	/* HOW_SYSFS_RESET: reset_method */
	const char *aer;	/* HOW_AER: cor, uncor-nonfatal, fatal */
	bool on_pf;		/* the fault hits the PF */
	enum fault_class class;
};

FIXTURE_VARIANT_ADD(fault, vfio_reset) {
	.name = "vfio-reset", .how = HOW_VFIO_RESET, .class = CLASS_RESET,
};

FIXTURE_VARIANT_ADD(fault, flr) {
	.name = "flr", .how = HOW_SYSFS_RESET, .method = "flr",
	.class = CLASS_RESET,
};

FIXTURE_VARIANT_ADD(fault, pm_reset) {
	.name = "pm-reset", .how = HOW_SYSFS_RESET, .method = "pm",
	.class = CLASS_RESET,
};

FIXTURE_VARIANT_ADD(fault, pf_flr) {
	.name = "pf-flr", .how = HOW_SYSFS_RESET, .method = "flr",
	.on_pf = true, .class = CLASS_FATAL,
};

FIXTURE_VARIANT_ADD(fault, aer_cor_vf) {
	.name = "aer-cor-vf", .how = HOW_AER, .aer = "cor",
	.class = CLASS_NOTHING,
};

FIXTURE_VARIANT_ADD(fault, aer_nonfatal_vf) {
	.name = "aer-nonfatal-vf", .how = HOW_AER, .aer = "uncor-nonfatal",
	.class = CLASS_NONFATAL,
};

FIXTURE_VARIANT_ADD(fault, aer_fatal_vf) {
	.name = "aer-fatal-vf", .how = HOW_AER, .aer = "fatal",
	.class = CLASS_FATAL,
};

FIXTURE_VARIANT_ADD(fault, aer_nonfatal_pf) {
	.name = "aer-nonfatal-pf", .how = HOW_AER, .aer = "uncor-nonfatal",
	.on_pf = true, .class = CLASS_NONFATAL,
};

FIXTURE_VARIANT_ADD(fault, aer_fatal_pf) {
	.name = "aer-fatal-pf", .how = HOW_AER, .aer = "fatal",
	.on_pf = true, .class = CLASS_FATAL,
};

static const uint32_t states[] = {
	VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_RUNNING_P2P,
	VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_STOP_COPY,
	VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_PRE_COPY,
	VFIO_DEVICE_STATE_PRE_COPY_P2P,
};

#define NSTATES	(sizeof(states) / sizeof(states[0]))

static int sysfs_write(const char *bdf, const char *attr, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	return mvf_sysfs_put(path, val);
}

static int sysfs_read_u64(const char *bdf, const char *attr,
			  const char *key, uint64_t *val)
{
	char path[128], line[128];
	FILE *f;
	int ret = -ENOENT;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char k[64];
		unsigned long long v;

		if (sscanf(line, "%63s %llu", k, &v) == 2 && !strcmp(k, key)) {
			*val = v;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

/* Reset @bdf through sysfs with reset method @method only. */
static int sysfs_reset(const char *bdf, const char *method)
{
	int ret = sysfs_write(bdf, "reset_method", method);

	if (ret)
		return ret;
	ret = sysfs_write(bdf, "reset", "1");
	sysfs_write(bdf, "reset_method", "default");
	return ret;
}

/*
 * Inject an AER error into @bdf and wait until the kernel handled it: for
 * a correctable error until the function's counter moved, for the others
 * until AER recovery reported its end.
 */
static int aer_inject_wait(const char *bdf, const char *kind, char *why,
			   size_t why_len)
{
	bool cor = !strcmp(kind, "cor");
	uint64_t before = 0, now = 0;
	char rec[1024];
	int kfd = -1, ret, ms;
	ssize_t n;

	if (cor) {
		ret = sysfs_read_u64(bdf, "aer_dev_correctable",
				     "TOTAL_ERR_COR", &before);
		if (ret) {
			snprintf(why, why_len, "%s/aer_dev_correctable: %s",
				 bdf, strerror(-ret));
			return ret;
		}
	} else {
		kfd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
		if (kfd < 0 || lseek(kfd, 0, SEEK_END) < 0) {
			snprintf(why, why_len, "/dev/kmsg: %s",
				 strerror(errno));
			return -errno;
		}
	}
	ret = mvf_host_aer_inject(bdf, kind);
	if (ret) {
		snprintf(why, why_len, "injecting %s into %s: %s", kind, bdf,
			 strerror(-ret));
		goto out;
	}
	ret = -ETIMEDOUT;
	for (ms = 60000; ms > 0; ms -= 20) {
		if (cor) {
			if (!sysfs_read_u64(bdf, "aer_dev_correctable",
					    "TOTAL_ERR_COR", &now) &&
			    now > before) {
				ret = 0;
				break;
			}
			usleep(20000);
			continue;
		}
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
			ret = -EIO;
			snprintf(why, why_len, "AER recovery failed");
			break;
		}
	}
	if (ret == -ETIMEDOUT)
		snprintf(why, why_len, "%s error on %s: no end of recovery in 60 s",
			 kind, bdf);
out:
	if (kfd >= 0)
		close(kfd);
	return ret;
}

FIXTURE_SETUP(fault)
{
	char why[512];
	int ret;

	self->errfd = self->nffd = -1;
	ret = mvf_env_open(&self->env, VFIO_MODE_IOMMUFD, 2, why, sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	self->a = self->env.vf[0];
	self->b = self->env.vf[1];
	ASSERT_EQ(0, mvf_pf_of(self->a->bdf, self->pf, sizeof(self->pf)));
	mvf_make_busy(&self->env, self->a, &self->qp, 0, SEED, FILL);
	self->errfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	self->nffd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, self->errfd);
	ASSERT_LE(0, self->nffd);
	ASSERT_EQ(0, vfio_irq_eventfd(self->a->vdev, VFIO_PCI_ERR_IRQ_INDEX,
				 self->errfd));
	ASSERT_EQ(0, vfio_irq_eventfd(self->a->vdev,
				 MVF_VFIO_PCI_NONFATAL_ERR_IRQ_INDEX,
				 self->nffd));
}

FIXTURE_TEARDOWN(fault)
{
	const char *state = getenv("MVF_FAULT_STATE");
	FILE *f;

	/* One line a case for the matrix; a killed case leaves none. */
	f = fopen(MATRIX, "a");
	if (f && state) {
		fprintf(f, "%s %s %d\n", variant->name, state,
			_metadata->exit_code == KSFT_PASS);
		fclose(f);
	} else if (f) {
		fclose(f);
	}
	if (self->a) {
		vfio_util_quiet = true;
		vfio_dev_reset(self->a->vdev);
		vfio_util_quiet = false;
	}
	mvf_env_close(&self->env);
	if (self->errfd >= 0)
		close(self->errfd);
	if (self->nffd >= 0)
		close(self->nffd);
}

static void inject(struct __test_metadata *_metadata,
		   FIXTURE_DATA(fault) *self,
		   const FIXTURE_VARIANT(fault) *variant)
{
	const char *target = variant->on_pf ? self->pf : self->a->bdf;
	char why[256] = "";
	int ret;

	switch (variant->how) {
	case HOW_VFIO_RESET:
		ASSERT_EQ(0, vfio_dev_reset(self->a->vdev));
		break;
	case HOW_SYSFS_RESET:
		ret = sysfs_reset(target, variant->method);
		ASSERT_EQ(0, ret) TH_LOG("%s reset of %s: %s", variant->method,
					 target, strerror(-ret));
		break;
	case HOW_AER:
		ret = aer_inject_wait(target, variant->aer, why, sizeof(why));
		ASSERT_EQ(0, ret) TH_LOG("%s", why);
		break;
	}
}

static void fault_in(struct __test_metadata *_metadata,
		     FIXTURE_DATA(fault) *self,
		     const FIXTURE_VARIANT(fault) *variant, uint32_t state)
{
	struct mvf_vf *a = self->a, *b = self->b;
	enum fault_class class = variant->class;
	bool migrating = state != VFIO_DEVICE_STATE_RUNNING;
	bool saving = state == VFIO_DEVICE_STATE_STOP_COPY ||
		      state == VFIO_DEVICE_STATE_PRE_COPY ||
		      state == VFIO_DEVICE_STATE_PRE_COPY_P2P;
	struct mvf_vf_regs ra, rb;
	struct mvf_qp qp2;
	void *img = NULL, *rest = NULL;
	size_t len = 0, rlen = 0;
	uint64_t errs, nfs;
	char buf[PART];
	int fd = -1;
	ssize_t n;

	setenv("MVF_FAULT_STATE", vfio_mig_state_name(state), 1);

	if (state == VFIO_DEVICE_STATE_RESUMING) {
		/* a real image of A, half of it written back */
		ASSERT_EQ(0, vfio_mig_set_state(a->vdev,
						VFIO_DEVICE_STATE_STOP_COPY,
						&fd));
		ASSERT_EQ(0, vfio_mig_save(fd, a->devmem_size, &img, &len));
		close(fd);
		fd = -1;
		ASSERT_EQ(0, vfio_mig_set_state(a->vdev,
						VFIO_DEVICE_STATE_STOP, NULL));
	}
	ASSERT_EQ(0, vfio_mig_set_state(a->vdev, state, &fd));
	if (saving) {
		n = read(fd, buf, sizeof(buf));
		ASSERT_EQ(sizeof(buf), n) TH_LOG("read: %zd (%s)", n,
						 strerror(errno));
	} else if (state == VFIO_DEVICE_STATE_RESUMING) {
		ASSERT_EQ(0, vfio_mig_load(fd, img, len / 2));
	}
	vfio_eventfd_wait(self->errfd, 0);
	vfio_eventfd_wait(self->nffd, 0);

	inject(_metadata, self, variant);

	errs = vfio_eventfd_wait(self->errfd, class == CLASS_NOTHING ||
				     class == CLASS_RESET ? 0 : 5000);
	nfs = vfio_eventfd_wait(self->nffd, class == CLASS_NONFATAL ? 5000 : 0);

	switch (class) {
	case CLASS_RESET:
		EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(a));
		EXPECT_EQ(0, errs + nfs) TH_LOG("a reset is no error");
		if (fd >= 0) {
			errno = 0;
			n = saving ? read(fd, buf, sizeof(buf)) :
				     write(fd, img, PART);
			EXPECT_EQ(-1, n) TH_LOG("data fd still usable");
			EXPECT_EQ(ENODEV, errno);
		}
		EXPECT_EQ(MVF_VF_NUM_SCRATCH, mvf_scratch_check(a, SEED))
			TH_LOG("the VF was not reset");
		break;
	case CLASS_NOTHING:
		EXPECT_EQ(0, errs + nfs) TH_LOG("a correctable error was reported");
		EXPECT_EQ(state, mvf_state(a));
		/* the migration goes on to the end */
		if (saving) {
			if (state != VFIO_DEVICE_STATE_STOP_COPY) {
				ASSERT_EQ(0, vfio_mig_set_state(a->vdev,
						VFIO_DEVICE_STATE_STOP_COPY,
						NULL));
			}
			EXPECT_EQ(0, vfio_mig_save(fd, a->devmem_size, &rest,
						   &rlen))
				TH_LOG("the rest of the stream");
		} else if (state == VFIO_DEVICE_STATE_RESUMING) {
			EXPECT_EQ(0, vfio_mig_load(fd, (char *)img + len / 2,
						   len - len / 2));
			EXPECT_EQ(0, vfio_mig_set_state(a->vdev,
						VFIO_DEVICE_STATE_STOP, NULL))
				TH_LOG("the stream did not load after a correctable error");
		}
		if (!migrating) {
			EXPECT_EQ(0, mvf_scratch_check(a, SEED));
		}
		break;
	case CLASS_NONFATAL:
	case CLASS_FATAL:
		if (class == CLASS_NONFATAL) {
			EXPECT_LE(1, nfs) TH_LOG("no non-fatal error event");
		} else {
			EXPECT_LE(1, errs) TH_LOG("no error event");
		}
		if (!migrating) {
			EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(a));
			/* a non-fatal error left the function alone */
			if (class == CLASS_NONFATAL) {
				EXPECT_EQ(0, mvf_scratch_check(a, SEED))
					TH_LOG("state lost by a non-fatal error");
			}
			break;
		}
		EXPECT_EQ(VFIO_DEVICE_STATE_ERROR, mvf_state(a))
			TH_LOG("a cut migration must be in ERROR");
		if (fd >= 0) {
			errno = 0;
			n = saving ? read(fd, buf, sizeof(buf)) :
				     write(fd, img, PART);
			EXPECT_EQ(-1, n) TH_LOG("data fd still usable");
			EXPECT_EQ(EIO, errno) TH_LOG("errno %d", errno);
		}
		/* no arc leaves ERROR */
		EXPECT_NE(0, mvf_set_state_quiet(a, VFIO_DEVICE_STATE_RUNNING,
						 NULL));
		break;
	}
	if (fd >= 0)
		close(fd);
	free(img);
	free(rest);

	/* VFIO_DEVICE_RESET recovers every case */
	ASSERT_EQ(0, vfio_dev_reset(a->vdev));
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(a));

	/* A works, and migrates into B */
	mvf_scratch_set(a, SEED + 1);
	ASSERT_EQ(0, mvf_qp_create_slot(&qp2, a, &self->env, 1));
	EXPECT_EQ(0, mvf_qp_selftest(&qp2, 2, 256, 0, SEED + 2));
	ASSERT_EQ(0, vfio_dev_reset(b->vdev));
	ASSERT_EQ(0, vfio_migrate(a->vdev, b->vdev, NULL, NULL, NULL));
	ASSERT_EQ(0, mvf_vf_read_regs(b, &rb));
	ASSERT_EQ(0, mvf_vf_read_regs_stopped(a, &ra));
	/* A is stopped, B runs: the rest of the registers must agree */
	ra.status &= ~(MVF_VF_STATUS_QUIESCED | MVF_VF_STATUS_FROZEN);
	EXPECT_EQ(0, mvf_vf_regs_diff(&ra, &rb, "A", "B", true))
		TH_LOG("the migration after recovery lost state");
	EXPECT_EQ(0, mvf_scratch_check(b, SEED + 1));
}

#define FAULT_STATE(name, st)						\
	TEST_F_TIMEOUT(fault, in_##name, MVF_T_SHORT)			\
	{								\
		fault_in(_metadata, self, variant, st);			\
	}

FAULT_STATE(running, VFIO_DEVICE_STATE_RUNNING)
FAULT_STATE(running_p2p, VFIO_DEVICE_STATE_RUNNING_P2P)
FAULT_STATE(stop, VFIO_DEVICE_STATE_STOP)
FAULT_STATE(stop_copy_partly_read, VFIO_DEVICE_STATE_STOP_COPY)
FAULT_STATE(resuming_partly_written, VFIO_DEVICE_STATE_RESUMING)
FAULT_STATE(pre_copy_partly_read, VFIO_DEVICE_STATE_PRE_COPY)
FAULT_STATE(pre_copy_p2p_partly_read, VFIO_DEVICE_STATE_PRE_COPY_P2P)

/*
 * A user with neither error eventfd cannot be told of a non-fatal error,
 * so the VF is marked failed: ERROR, its BARs revoked, until the user
 * resets it.  (With either eventfd a running VF goes on: the matrix.)
 */
FIXTURE(unheard) {
	struct mvf_env env;
	struct mvf_qp qp;
};

FIXTURE_SETUP(unheard)
{
	char why[512];
	int ret;

	ret = mvf_env_open(&self->env, VFIO_MODE_IOMMUFD, 1, why, sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	mvf_make_busy(&self->env, self->env.vf[0], &self->qp, 0, SEED, FILL);
}

FIXTURE_TEARDOWN(unheard)
{
	if (self->env.nvf)
		vfio_dev_reset(self->env.vf[0]->vdev);
	mvf_env_close(&self->env);
}

TEST_F_TIMEOUT(unheard, nonfatal_marks_the_vf_failed, MVF_T_SHORT)
{
	struct mvf_vf *a = self->env.vf[0];
	char why[256] = "";
	uint32_t v;
	int ret;

	ret = aer_inject_wait(a->bdf, "uncor-nonfatal", why, sizeof(why));
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	EXPECT_EQ(VFIO_DEVICE_STATE_ERROR, mvf_state(a))
		TH_LOG("an error nobody heard of left the VF running");
	vfio_util_quiet = true;
	ret = vfio_region_read(a->vdev, VFIO_PCI_BAR0_REGION_INDEX,
			       MVF_VF_REG_SCRATCH(0), &v, sizeof(v));
	vfio_util_quiet = false;
	EXPECT_EQ(-EIO, ret) TH_LOG("BAR 0 still readable: %d", ret);

	ASSERT_EQ(0, vfio_dev_reset(a->vdev));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(a));
	EXPECT_EQ(MVF_VF_NUM_SCRATCH, mvf_scratch_check(a, SEED))
		TH_LOG("the reset did not reset the VF");
	mvf_scratch_set(a, SEED + 5);
	EXPECT_EQ(0, mvf_scratch_check(a, SEED + 5));
}

/*
 * The reset methods the kernel offers for an MVF VF and its PF, as
 * admin-guide.rst lists them: FLR and PM reset for a VF, no bus reset (a
 * VF shares its bus with the PF and its siblings; the kernel resets a bus
 * only for a device alone on it) and no device-specific reset (those are
 * quirks built into the PCI core, keyed by vendor and device).
 */
FIXTURE(methods) {
	struct mvf_env env;
	char pf[MVF_BDF_LEN];
};

FIXTURE_SETUP(methods)
{
	char why[512];
	int ret;

	ret = mvf_env_open(&self->env, VFIO_MODE_IOMMUFD, 1, why, sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	ASSERT_EQ(0, mvf_pf_of(self->env.vf[0]->bdf, self->pf, sizeof(self->pf)));
}

FIXTURE_TEARDOWN(methods)
{
	mvf_env_close(&self->env);
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word))) {
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return true;
		p += n;
	}
	return false;
}

static void methods_of(struct __test_metadata *_metadata, const char *bdf,
		       char *buf, size_t len)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 bdf);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd) TH_LOG("%s: %s", path, strerror(errno));
	n = read(fd, buf, len - 1);
	close(fd);
	ASSERT_LT(0, n);
	buf[n] = 0;
}

TEST_F(methods, vf_and_pf)
{
	const char *vf = self->env.vf[0]->bdf;
	char m[256];

	methods_of(_metadata, vf, m, sizeof(m));
	TH_LOG("VF %s: reset_method %.*s", vf, (int)strcspn(m, "\n"), m);
	EXPECT_TRUE(has_word(m, "flr"));
	EXPECT_TRUE(has_word(m, "pm"));
	EXPECT_FALSE(has_word(m, "bus"));
	EXPECT_FALSE(has_word(m, "device_specific"));
	/* asking for one the VF lacks is refused and changes nothing */
	EXPECT_EQ(-EINVAL, sysfs_write(vf, "reset_method", "bus"));
	EXPECT_EQ(-EINVAL, sysfs_write(vf, "reset_method", "device_specific"));
	methods_of(_metadata, vf, m, sizeof(m));
	EXPECT_TRUE(has_word(m, "flr") && has_word(m, "pm"));

	methods_of(_metadata, self->pf, m, sizeof(m));
	TH_LOG("PF %s: reset_method %.*s", self->pf, (int)strcspn(m, "\n"),
	       m);
	EXPECT_TRUE(has_word(m, "flr"));
	/*
	 * The PF's list was made when it was alone on its bus, so it may
	 * name "bus"; with its VFs beside it, asking for one is refused.
	 */
	EXPECT_EQ(-EINVAL, sysfs_write(self->pf, "reset_method", "bus"));
	sysfs_write(self->pf, "reset_method", "default");
}

/* The matrix, from the line each case left; a missing line is a failure. */
static void print_matrix(void)
{
	static const char * const faults[] = {
		"vfio-reset", "flr", "pm-reset", "pf-flr", "aer-cor-vf",
		"aer-nonfatal-vf", "aer-fatal-vf", "aer-nonfatal-pf",
		"aer-fatal-pf",
	};
	int nf = sizeof(faults) / sizeof(faults[0]);
	int ok[16][NSTATES] = { 0 }, seen[16][NSTATES] = { 0 };
	int i, j, good = 0, all = 0, row, rowall;
	char f[64], s[64];
	FILE *m;
	int pass;

	m = fopen(MATRIX, "r");
	while (m && fscanf(m, "%63s %63s %d", f, s, &pass) == 3) {
		for (i = 0; i < nf && strcmp(f, faults[i]); i++)
			;
		for (j = 0; j < (int)NSTATES &&
		     strcmp(s, vfio_mig_state_name(states[j])); j++)
			;
		if (i < nf && j < (int)NSTATES) {
			seen[i][j] = 1;
			ok[i][j] = pass;
		}
	}
	if (m)
		fclose(m);

	printf("# fault matrix (survived/total):\n# %-16s", "fault");
	for (j = 0; j < (int)NSTATES; j++)
		printf(" %s", vfio_mig_state_name(states[j]));
	printf("  all\n");
	for (i = 0; i < nf; i++) {
		row = rowall = 0;
		printf("# %-16s", faults[i]);
		for (j = 0; j < (int)NSTATES; j++) {
			int w = strlen(vfio_mig_state_name(states[j]));

			printf(" %*s", w, ok[i][j] ? "1/1" :
			       seen[i][j] ? "0/1" : "-/1");
			row += ok[i][j];
			rowall++;
		}
		printf("  %d/%d\n", row, rowall);
		good += row;
		all += rowall;
	}
	printf("# fault matrix: %d/%d survived\n", good, all);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	unlink(MATRIX);
	/*
	 * The harness exits when its cases are done; the cases themselves
	 * end with _exit(), so only the parent prints.  A partial run (-r,
	 * -v) shows the cases it did not run as "-/1".
	 */
	atexit(print_matrix);
	return test_harness_run(argc, argv);
}
