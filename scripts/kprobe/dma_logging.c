// SPDX-License-Identifier: GPL-2.0-only
/* VFIO DMA logging with a real iova_bitmap (CONFIG_IOMMUFD_DRIVER), vfio_log_ops. */
#include <linux/interval_tree.h>
#include <linux/iova_bitmap.h>
#include <linux/vfio.h>

/* Without it the iova_bitmap helpers are stubs that drop every mark. */
#if !IS_ENABLED(CONFIG_IOMMUFD_DRIVER)
#error "CONFIG_IOMMUFD_DRIVER is not set"
#endif

static int mvf_probe_start(struct vfio_device *vdev,
			   struct rb_root_cached *ranges, u32 nnodes,
			   u64 *page_size)
{
	return 0;
}

static int mvf_probe_stop(struct vfio_device *vdev)
{
	return 0;
}

static int mvf_probe_report(struct vfio_device *vdev, unsigned long iova,
			    unsigned long length, struct iova_bitmap *dirty)
{
	return 0;
}

const struct vfio_log_ops mvf_probe_log_ops = {
	.log_start = mvf_probe_start,
	.log_stop = mvf_probe_stop,
	.log_read_and_clear = mvf_probe_report,
};

void (*const mvf_probe_combine)(struct rb_root_cached *root, u32 cur_nodes,
				u32 req_nodes) = vfio_combine_iova_ranges;
void (*const mvf_probe_set)(struct iova_bitmap *bitmap, unsigned long iova,
			    size_t length) = iova_bitmap_set;
