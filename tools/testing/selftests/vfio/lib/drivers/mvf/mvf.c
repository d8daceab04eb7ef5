// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO selftests driver for the virtual function of the MVF emulated SR-IOV
 * device (Documentation/mvf/device.rst).
 *
 * The VF's queue pair is the copy engine: a memcpy is a receive WQE posted
 * on @dst and a SEND WQE of @src, which the device loops back into the
 * receive buffer.  Each pair completes with two CQEs.  send_msi() posts a
 * NOP with the CQ interrupt enabled, so the device raises MSI-X vector 0.
 *
 * All driver state lives in driver.region and the device is only reached
 * through the vfio_pci_device passed in, so the driver can be moved to
 * another VF that received this one's state by live migration
 * (vfio_pci_driver_migrate()).
 */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/bits.h>
#include <linux/errno.h>
#include <linux/io.h>
#include <linux/sizes.h>

#include <libvfio.h>

#include "../../../../../../../include/linux/mvf/mvf_if.h"

/* Ring depths (log2): 2048 copies in flight, two CQEs each. */
#define MVF_SQ_LOG		11
#define MVF_RQ_LOG		11
#define MVF_CQ_LOG		12

#define MVF_SQ_DEPTH		BIT(MVF_SQ_LOG)
#define MVF_RQ_DEPTH		BIT(MVF_RQ_LOG)
#define MVF_CQ_DEPTH		BIT(MVF_CQ_LOG)

/*
 * The largest copy a single WQE is given.  The device takes up to
 * MVF_WQE_MAX_LEN; 1 MiB keeps the upstream tests' worst case (a full
 * ring in memcpy_storm) at 2 GiB, which an emulated device moves in
 * seconds.
 */
#define MVF_COPY_MAX		SZ_1M

/* How long memcpy_wait() and send_msi() wait for the device. */
#define MVF_WAIT_BASE_MS	10000
#define MVF_WAIT_MS_PER_GIB	20000

struct mvf_state {
	struct mvf_send_wqe sq[MVF_SQ_DEPTH] __aligned(SZ_4K);
	struct mvf_recv_wqe rq[MVF_RQ_DEPTH] __aligned(SZ_4K);
	struct mvf_cqe cq[MVF_CQ_DEPTH] __aligned(SZ_4K);

	/* Free-running producer and consumer indices, as the device's. */
	u32 sq_pi;
	u32 rq_pi;
	u32 cq_ci;

	/* CQEs the running memcpy_start() still owes, and their bytes. */
	u32 cqes_due;
	u64 bytes_due;
};

static inline struct mvf_state *to_mvf_state(struct vfio_pci_device *device)
{
	return device->driver.region.vaddr;
}

static inline void *mvf_bar0(struct vfio_pci_device *device)
{
	return device->bars[0].vaddr;
}

static inline u32 mvf_read(struct vfio_pci_device *device, u32 reg)
{
	return readl(mvf_bar0(device) + reg);
}

static inline void mvf_write(struct vfio_pci_device *device, u32 reg, u32 val)
{
	writel(val, mvf_bar0(device) + reg);
}

static u64 mvf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static int mvf_probe(struct vfio_pci_device *device)
{
	if (!vfio_pci_device_match(device, MVF_PCI_VENDOR_ID,
				   MVF_PCI_DEVICE_ID_VF))
		return -EINVAL;

	VFIO_ASSERT_NOT_NULL(mvf_bar0(device), "mvf: BAR 0 is not mapped\n");
	if (mvf_read(device, MVF_VF_REG_MAGIC) != MVF_MAGIC_VF) {
		dev_err(device, "mvf: BAR 0 does not hold an MVF VF\n");
		return -EINVAL;
	}
	return 0;
}

static void mvf_set_ring(struct vfio_pci_device *device, u32 base_lo,
			 void *ring, u32 log_size)
{
	iova_t iova = to_iova(device, ring);

	mvf_write(device, base_lo, (u32)iova);
	mvf_write(device, base_lo + 4, iova >> 32);
	mvf_write(device, base_lo + 8, log_size);
}

/*
 * Program the queue pair of a VF that was just reset: its indices are zero
 * then, and only a function level reset brings them back to zero.
 */
static void mvf_hw_init(struct vfio_pci_device *device)
{
	struct mvf_state *mvf = to_mvf_state(device);

	memset(mvf, 0, sizeof(*mvf));

	vfio_pci_cmd_set(device, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

	mvf_write(device, MVF_VF_REG_CTRL, 0);
	mvf_set_ring(device, MVF_VF_REG_SQ_BASE_LO, mvf->sq, MVF_SQ_LOG);
	mvf_set_ring(device, MVF_VF_REG_RQ_BASE_LO, mvf->rq, MVF_RQ_LOG);
	mvf_set_ring(device, MVF_VF_REG_CQ_BASE_LO, mvf->cq, MVF_CQ_LOG);
	mvf_write(device, MVF_VF_REG_CQ_CI, 0);

	VFIO_ASSERT_EQ(mvf_read(device, MVF_VF_REG_SQ_CI), 0);
	VFIO_ASSERT_EQ(mvf_read(device, MVF_VF_REG_RQ_CI), 0);
	VFIO_ASSERT_EQ(mvf_read(device, MVF_VF_REG_CQ_PI), 0);

	mvf_write(device, MVF_VF_REG_CTRL, MVF_VF_CTRL_QP_ENABLE);
	VFIO_ASSERT_EQ(mvf_read(device, MVF_VF_REG_STATUS) &
		       MVF_VF_STATUS_QP_ERROR, 0);

	device->driver.max_memcpy_size = MVF_COPY_MAX;
	device->driver.max_memcpy_count = MVF_SQ_DEPTH;
	device->driver.msi = MVF_VF_CQ_VECTOR;
}

static void mvf_init(struct vfio_pci_device *device)
{
	VFIO_ASSERT_GE(device->driver.region.size, sizeof(struct mvf_state));

	/* Start from a reset VF whatever the last user left behind. */
	vfio_pci_device_reset(device);
	vfio_pci_msix_enable(device, MVF_VF_CQ_VECTOR, 1);
	mvf_hw_init(device);
}

static void mvf_remove(struct vfio_pci_device *device)
{
	mvf_write(device, MVF_VF_REG_CTRL, 0);
	vfio_pci_msix_disable(device);
}

/* A copy failed or hung: reset the VF, which stops all of its DMA. */
static void mvf_reset_and_reinit(struct vfio_pci_device *device)
{
	vfio_pci_device_reset(device);
	vfio_pci_msix_reenable(device, MVF_VF_CQ_VECTOR, 1);
	mvf_hw_init(device);
}

static void mvf_memcpy_start(struct vfio_pci_device *device, iova_t src,
			     iova_t dst, u64 size, u64 count)
{
	struct mvf_state *mvf = to_mvf_state(device);
	u64 i;

	VFIO_ASSERT_EQ(mvf->cqes_due, 0);

	for (i = 0; i < count; i++) {
		struct mvf_recv_wqe *r = &mvf->rq[mvf->rq_pi % MVF_RQ_DEPTH];
		struct mvf_send_wqe *s = &mvf->sq[mvf->sq_pi % MVF_SQ_DEPTH];

		memset(r, 0, sizeof(*r));
		r->addr = cpu_to_le64(dst);
		r->len = cpu_to_le32(size);
		r->wr_id = cpu_to_le64(i);

		memset(s, 0, sizeof(*s));
		s->opcode = MVF_WQE_SEND;
		s->len = cpu_to_le32(size);
		s->addr = cpu_to_le64(src);
		s->wr_id = cpu_to_le64(i);

		mvf->rq_pi++;
		mvf->sq_pi++;
	}
	mvf->cqes_due = 2 * count;
	mvf->bytes_due = size * count;

	/* WQEs are in memory before the doorbells tell the device. */
	wmb();
	mvf_write(device, MVF_VF_REG_RQ_PI, mvf->rq_pi);
	mvf_write(device, MVF_VF_REG_SQ_PI, mvf->sq_pi);
}

/*
 * Consume up to @want CQEs, waiting at most @timeout_ms for each one.
 * Returns 0 when all were consumed and OK, -EIO on an error CQE,
 * -ETIMEDOUT when the device stopped producing them.
 */
static int mvf_reap(struct vfio_pci_device *device, u32 want, u64 timeout_ms)
{
	struct mvf_state *mvf = to_mvf_state(device);
	u64 deadline = mvf_now_ms() + timeout_ms;
	int ret = 0;

	while (want) {
		struct mvf_cqe *c = &mvf->cq[mvf->cq_ci % MVF_CQ_DEPTH];
		u8 phase = !((mvf->cq_ci >> MVF_CQ_LOG) & 1);

		if (READ_ONCE(c->phase) != phase) {
			if (mvf_now_ms() > deadline) {
				ret = -ETIMEDOUT;
				break;
			}
			usleep(100);
			continue;
		}
		/* The CQE body is read only after its phase. */
		rmb();
		if (c->status != MVF_CQE_STAT_OK) {
			dev_err(device, "mvf: CQE status %u for %s WQE %u\n",
				c->status,
				c->qtype == MVF_CQE_Q_RQ ? "receive" : "send",
				le32_to_cpu(c->wqe_index));
			ret = -EIO;
		}
		mvf->cq_ci++;
		want--;
		if (ret)
			break;
	}
	mvf_write(device, MVF_VF_REG_CQ_CI, mvf->cq_ci);
	return ret;
}

static int mvf_memcpy_wait(struct vfio_pci_device *device)
{
	struct mvf_state *mvf = to_mvf_state(device);
	u64 timeout_ms = MVF_WAIT_BASE_MS +
			 (mvf->bytes_due >> 30) * MVF_WAIT_MS_PER_GIB;
	int ret;

	ret = mvf_reap(device, mvf->cqes_due, timeout_ms);
	mvf->cqes_due = 0;
	mvf->bytes_due = 0;

	/*
	 * An error CQE stops the queue pair with the rest of the copies
	 * unexecuted; a timeout leaves them in flight.  Either way, only a
	 * reset guarantees that no DMA of this memcpy is still to come.
	 */
	if (ret)
		mvf_reset_and_reinit(device);
	return ret;
}

static void mvf_send_msi(struct vfio_pci_device *device)
{
	struct mvf_state *mvf = to_mvf_state(device);
	struct mvf_send_wqe *s = &mvf->sq[mvf->sq_pi % MVF_SQ_DEPTH];

	memset(s, 0, sizeof(*s));
	s->opcode = MVF_WQE_NOP;
	mvf->sq_pi++;

	mvf_write(device, MVF_VF_REG_CTRL,
		  MVF_VF_CTRL_QP_ENABLE | MVF_VF_CTRL_CQ_IRQ);
	/* The NOP is in memory before the doorbell tells the device. */
	wmb();
	mvf_write(device, MVF_VF_REG_SQ_PI, mvf->sq_pi);
	VFIO_ASSERT_EQ(mvf_reap(device, 1, MVF_WAIT_BASE_MS), 0);
	mvf_write(device, MVF_VF_REG_CTRL, MVF_VF_CTRL_QP_ENABLE);
}

/*
 * @to was loaded with @from's state and is about to run.  The rings and the
 * driver's indices are in driver.region, the device's came in the
 * migration stream; what the user owns, as a VMM restores it, is still to
 * be set up: the command register (memory decoding and bus mastering) and
 * the MSI-X vector.  @to is not running yet: no MMIO here.
 */
static void mvf_migrate(struct vfio_pci_device *from,
			struct vfio_pci_device *to)
{
	vfio_pci_cmd_set(to, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

	if (from == to)
		vfio_pci_msix_reenable(to, MVF_VF_CQ_VECTOR, 1);
	else
		vfio_pci_msix_enable(to, MVF_VF_CQ_VECTOR, 1);
}

const struct vfio_pci_driver_ops mvf_ops = {
	.name = "mvf",
	.probe = mvf_probe,
	.init = mvf_init,
	.remove = mvf_remove,
	.memcpy_start = mvf_memcpy_start,
	.memcpy_wait = mvf_memcpy_wait,
	.send_msi = mvf_send_msi,
	.migrate = mvf_migrate,
};
