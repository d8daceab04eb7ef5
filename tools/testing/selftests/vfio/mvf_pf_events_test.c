// SPDX-License-Identifier: GPL-2.0-only
/*
 * PF events under a migrating VF (Documentation/mvf/admin-guide.rst,
 * "Enabling VFs"):
 *
 * - writing 0 to the PF's sriov_numvfs while a VF is open is refused with
 *   EBUSY, and the VF's migration goes on undisturbed;
 * - unbinding mvf_core from the PF cannot be refused: the VF driver is
 *   told first (the migration ends: the data fd answers ENODEV, the state
 *   is ERROR), then vfio asks the user to release the device (its request
 *   eventfd) and the unbind waits until it has;
 * - a change of the device's link reaches a VMM that opted in on the
 *   VF's link eventfd (MVF_VFIO_PCI_LINK_IRQ_INDEX), and the VF's Link
 *   Status says the new speed and width; nothing goes to the kernel log.
 *
 * The second case puts everything back as it found it: mvf_core bound,
 * as many VFs, each bound to its driver again.
 */
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include <linux/mvf/mvf_vfio_uapi.h>
#include <linux/pci_regs.h>

#include "kselftest_harness.h"
#include "mvf_test.h"
#include "mvf_host.h"

#define SEED		0x9fe7e000ULL
#define FILL		(256UL << 10)
#define SYS_PCI		"/sys/bus/pci"

static int sysfs_get_int(const char *path, int *val)
{
	FILE *f = fopen(path, "r");
	int ret = 0;

	if (!f)
		return -errno;
	if (fscanf(f, "%d", val) != 1)
		ret = -EINVAL;
	fclose(f);
	return ret;
}

FIXTURE(pf_events) {
	struct mvf_env env;
	struct mvf_vf *a;
	struct mvf_qp qp;
	char pf[MVF_BDF_LEN];
};

FIXTURE_SETUP(pf_events)
{
	char why[512];
	int ret;

	ret = mvf_env_open(&self->env, vfio_mode_default(), 1, why,
			   sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	self->a = self->env.vf[0];
	ASSERT_EQ(0, mvf_pf_of(self->a->bdf, self->pf, sizeof(self->pf)));
	mvf_make_busy(&self->env, self->a, &self->qp, 0, SEED, FILL);
}

FIXTURE_TEARDOWN(pf_events)
{
	mvf_env_close(&self->env);
}

TEST_F_TIMEOUT(pf_events, numvfs_zero_refused_while_a_vf_is_open,
	       MVF_T_SHORT)
{
	struct mvf_vf *a = self->a;
	char path[128], buf[4096];
	void *rest = NULL;
	size_t len = 0;
	int fd = -1, n0 = 0, n1 = 0;

	snprintf(path, sizeof(path), SYS_PCI "/devices/%s/sriov_numvfs",
		 self->pf);
	ASSERT_EQ(0, sysfs_get_int(path, &n0));
	ASSERT_EQ(0, vfio_mig_set_state(a->vdev, VFIO_DEVICE_STATE_STOP_COPY,
					&fd));
	ASSERT_EQ(sizeof(buf), read(fd, buf, sizeof(buf)));

	EXPECT_EQ(-EBUSY, mvf_sysfs_put(path, "0"))
		TH_LOG("disabling SR-IOV under an open VF was not refused");
	ASSERT_EQ(0, sysfs_get_int(path, &n1));
	EXPECT_EQ(n0, n1);

	/* the migration goes on to its end */
	EXPECT_EQ(0, vfio_mig_save(fd, a->devmem_size, &rest, &len));
	EXPECT_LT(0, len);
	close(fd);
	free(rest);
	ASSERT_EQ(0, vfio_mig_set_state(a->vdev, VFIO_DEVICE_STATE_RUNNING,
					NULL));
	EXPECT_EQ(0, mvf_scratch_check(a, SEED));
	EXPECT_EQ(0, mvf_qp_selftest(&self->qp, 1, 64, 0, SEED + 1));
}

/* Offset of the PCI Express capability in @dev's config space, or 0. */
static int pcie_cap(struct vfio_dev *dev)
{
	uint8_t pos = 0, id = 0;
	int i;

	if (vfio_region_read(dev, VFIO_PCI_CONFIG_REGION_INDEX,
			     PCI_CAPABILITY_LIST, &pos, 1))
		return 0;
	for (i = 0; i < 48 && pos >= 0x40; i++) {
		if (vfio_region_read(dev, VFIO_PCI_CONFIG_REGION_INDEX, pos,
				     &id, 1))
			return 0;
		if (id == PCI_CAP_ID_EXP)
			return pos;
		if (vfio_region_read(dev, VFIO_PCI_CONFIG_REGION_INDEX,
				     pos + 1, &pos, 1))
			return 0;
	}
	return 0;
}

static int link_status(struct vfio_dev *dev, int *speed, int *width)
{
	int cap = pcie_cap(dev);
	uint16_t sta;

	if (!cap)
		return -ENOENT;
	if (vfio_region_read(dev, VFIO_PCI_CONFIG_REGION_INDEX,
			     cap + PCI_EXP_LNKSTA, &sta, 2))
		return -EIO;
	*speed = sta & PCI_EXP_LNKSTA_CLS;
	*width = (sta & PCI_EXP_LNKSTA_NLW) >> PCI_EXP_LNKSTA_NLW_SHIFT;
	return 0;
}

/* Kernel log lines since @kfd was opened that name "link" and MVF. */
static int klog_link_lines(int kfd, char *last, size_t len)
{
	char rec[1024];
	int lines = 0;
	ssize_t n;

	for (;;) {
		n = read(kfd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0)
			break;
		rec[n] = 0;
		if (strcasestr(rec, "link") && strstr(rec, "mvf")) {
			snprintf(last, len, "%s", rec);
			lines++;
		}
	}
	return lines;
}

TEST_F_TIMEOUT(pf_events, link_change_reaches_the_eventfd, MVF_T_SHORT)
{
	struct mvf_vf *a = self->a;
	int s0, w0, s1, w1, s, w, efd, kfd, ret;
	char last[1024] = "";

	ASSERT_EQ(0, link_status(a->vdev, &s0, &w0))
		TH_LOG("no PCI Express capability in the VF's config space");
	TH_LOG("VF %s link: speed code %d, x%d", a->bdf, s0, w0);
	s1 = s0 == 2 ? 3 : 2;
	w1 = w0 == 4 ? 8 : 4;

	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, efd);
	kfd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, kfd);
	ASSERT_LE(0, lseek(kfd, 0, SEEK_END));

	/* not opted in: the change happens, nobody is told */
	ret = mvf_host_link_set(self->pf, s1, w1);
	ASSERT_EQ(0, ret) TH_LOG("link of %s: %s", self->pf, strerror(-ret));
	usleep(500 * 1000);
	ASSERT_EQ(0, link_status(a->vdev, &s, &w));
	EXPECT_EQ(s1, s);
	EXPECT_EQ(w1, w);

	/* opted in: each change signals */
	ASSERT_EQ(0, vfio_irq_eventfd(a->vdev, MVF_VFIO_PCI_LINK_IRQ_INDEX, efd));
	EXPECT_EQ(0, vfio_eventfd_wait(efd, 0)) TH_LOG("a signal before any change");
	ret = mvf_host_link_set(self->pf, s0, w0);
	ASSERT_EQ(0, ret) TH_LOG("link of %s: %s", self->pf, strerror(-ret));
	EXPECT_LE(1, vfio_eventfd_wait(efd, 10000)) TH_LOG("no link event in 10 s");
	ASSERT_EQ(0, link_status(a->vdev, &s, &w));
	EXPECT_EQ(s0, s);
	EXPECT_EQ(w0, w);

	/* the eventfd removed: no more signals */
	ASSERT_EQ(0, vfio_irq_eventfd(a->vdev, MVF_VFIO_PCI_LINK_IRQ_INDEX, -1));
	ret = mvf_host_link_set(self->pf, s1, w1);
	ASSERT_EQ(0, ret);
	EXPECT_EQ(0, vfio_eventfd_wait(efd, 1000)) TH_LOG("a signal after the eventfd was removed");
	ASSERT_EQ(0, mvf_host_link_set(self->pf, s0, w0));
	usleep(500 * 1000);

	EXPECT_EQ(0, klog_link_lines(kfd, last, sizeof(last)))
		TH_LOG("the kernel logged a link change: %s", last);
	close(kfd);
	close(efd);
	/* the VF never noticed */
	EXPECT_EQ(0, mvf_scratch_check(a, SEED));
	EXPECT_EQ(0, mvf_qp_selftest(&self->qp, 1, 64, 0, SEED + 3));
}

/* The VFs of @pf bound to mvf-vfio-pci, as BDFs; returns how many. */
static int bound_vfs(const char *pf, char bdfs[][MVF_BDF_LEN], int max)
{
	char path[160], drv[160], vf[MVF_BDF_LEN];
	int i, n = 0;

	for (i = 0; n < max; i++) {
		snprintf(path, sizeof(path), SYS_PCI "/devices/%s/virtfn%d",
			 pf, i);
		if (mvf_sysfs_link_name(path, vf, sizeof(vf)))
			break;
		snprintf(drv, sizeof(drv), SYS_PCI "/drivers/mvf-vfio-pci/%s",
			 vf);
		if (!access(drv, F_OK))
			memcpy(bdfs[n++], vf, sizeof(vf));
	}
	return n;
}

TEST_F_TIMEOUT(pf_events, unbinding_the_pf_ends_migrations_first,
	       MVF_T_SHORT)
{
	struct mvf_vf *a = self->a;
	char bdfs[64][MVF_BDF_LEN], path[160], num[16], buf[4096];
	struct pollfd p;
	uint64_t cnt;
	int fd = -1, efd, n0 = 0, nb, i, status;
	pid_t pid;
	ssize_t n;

	snprintf(path, sizeof(path), SYS_PCI "/devices/%s/sriov_numvfs",
		 self->pf);
	ASSERT_EQ(0, sysfs_get_int(path, &n0));
	nb = bound_vfs(self->pf, bdfs, 64);
	ASSERT_LE(1, nb);

	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	ASSERT_EQ(0, vfio_irq_eventfd(a->vdev, VFIO_PCI_REQ_IRQ_INDEX, efd));
	ASSERT_EQ(0, vfio_mig_set_state(a->vdev, VFIO_DEVICE_STATE_STOP_COPY,
					&fd));
	ASSERT_EQ(sizeof(buf), read(fd, buf, sizeof(buf)));

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/*
		 * Not a user of the VF: a forked copy of our fds and of our
		 * mappings of its BARs would be one, and the unbind would
		 * wait for itself.  exec() drops both.
		 */
		close_range(3, ~0U, 0);
		execl("/bin/sh", "sh", "-c",
		      "echo \"$0\" > " SYS_PCI "/drivers/mvf_core/unbind",
		      self->pf, (char *)NULL);
		_exit(127);
	}

	/* vfio asks us to let go; the VF driver has already ended things */
	p.fd = efd;
	p.events = POLLIN;
	ASSERT_EQ(1, poll(&p, 1, 60000)) TH_LOG("no request to release the VF");
	ASSERT_EQ(sizeof(cnt), read(efd, &cnt, sizeof(cnt)));
	errno = 0;
	n = read(fd, buf, sizeof(buf));
	EXPECT_EQ(-1, n) TH_LOG("the save fd outlived the PF's SR-IOV");
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(VFIO_DEVICE_STATE_ERROR, mvf_state(a));
	close(fd);
	mvf_env_close(&self->env);
	self->a = NULL;
	close(efd);

	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("unbinding mvf_core failed");

	/* put it all back: mvf_core, the VFs, their driver */
	ASSERT_EQ(0, mvf_sysfs_put(SYS_PCI "/drivers/mvf_core/bind", self->pf));
	snprintf(num, sizeof(num), "%d", n0);
	ASSERT_EQ(0, mvf_sysfs_put(path, num));
	for (i = 0; i < nb; i++) {
		snprintf(path, sizeof(path),
			 SYS_PCI "/devices/%.31s/driver_override", bdfs[i]);
		ASSERT_EQ(0, mvf_sysfs_put(path, "mvf-vfio-pci"));
		ASSERT_EQ(0, mvf_sysfs_put(SYS_PCI "/drivers_probe", bdfs[i]));
		snprintf(path, sizeof(path),
			 SYS_PCI "/drivers/mvf-vfio-pci/%.31s", bdfs[i]);
		ASSERT_EQ(0, access(path, F_OK)) TH_LOG("%s not bound again",
							bdfs[i]);
	}

	/* the VF works and migrates again */
	{
		char why[512];

		ASSERT_EQ(0, mvf_env_open(&self->env, vfio_mode_default(), 1,
					  why, sizeof(why))) TH_LOG("%s", why);
	}
	a = self->env.vf[0];
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(a));
	mvf_scratch_set(a, SEED + 2);
	ASSERT_EQ(0, vfio_mig_set_state(a->vdev, VFIO_DEVICE_STATE_STOP_COPY,
					&fd));
	{
		void *img = NULL;
		size_t len = 0;

		EXPECT_EQ(0, vfio_mig_save(fd, a->devmem_size, &img, &len));
		free(img);
	}
	close(fd);
	ASSERT_EQ(0, vfio_mig_set_state(a->vdev, VFIO_DEVICE_STATE_RUNNING,
					NULL));
	EXPECT_EQ(0, mvf_scratch_check(a, SEED + 2));
}

TEST_HARNESS_MAIN
