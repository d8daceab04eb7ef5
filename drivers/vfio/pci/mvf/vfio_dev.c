// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF VF vfio-pci variant driver: the vfio device.
 *
 * Everything but migration, DMA logging (dirty.c) and the revocation of BAR
 * access while the VF is frozen (bars.c) is vfio-pci-core's: config space, BARs (BAR 0
 * registers, BAR 2 device memory), MSI-X, reset, both the iommufd cdev and
 * the legacy group/container paths.
 */

#include <linux/pci.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

#include <linux/mvf/mvf_if.h>

#include "mvf_vfio.h"

static int mvf_vfio_init_dev(struct vfio_device *vdev)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_from_vdev(vdev);
	int ret;

	ret = vfio_pci_core_init_dev(vdev);
	if (ret)
		return ret;

	mvf_lm_init(mvdev);
	mvf_events_init(mvdev);
	mvf_cmds_attach(mvdev);
	if (mvdev->migrate_cap) {
		vdev->migration_flags = VFIO_MIGRATION_STOP_COPY;
		if (mvf_core_caps(mvdev->mdev) & MVF_CAP_P2P)
			vdev->migration_flags |= VFIO_MIGRATION_P2P;
		if (mvf_core_caps(mvdev->mdev) & MVF_CAP_PRE_COPY)
			vdev->migration_flags |= VFIO_MIGRATION_PRE_COPY;
		vdev->mig_ops = &mvf_lm_ops;
		vdev->log_ops = mvf_dirty_ops(mvdev);
	}
	return 0;
}

static void mvf_vfio_release_dev(struct vfio_device *vdev)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_from_vdev(vdev);

	mvf_cmds_detach(mvdev);
	mvf_lm_uninit(mvdev);
	vfio_pci_core_release_dev(vdev);
}

static int mvf_vfio_open_device(struct vfio_device *vdev)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_from_vdev(vdev);
	int ret;

	/* Keeps the administrator from disabling SR-IOV under the user. */
	if (mvdev->mdev) {
		ret = mvf_core_vf_open(mvdev->mdev, mvdev->vhca_id);
		if (ret)
			return ret;
	}

	ret = vfio_pci_core_enable(&mvdev->core_device);
	if (ret)
		goto err_close;
	mvf_bars_open(mvdev);
	mvf_lm_open(mvdev);
	vfio_pci_core_finish_enable(&mvdev->core_device);
	return 0;

err_close:
	if (mvdev->mdev)
		mvf_core_vf_close(mvdev->mdev, mvdev->vhca_id);
	return ret;
}

static void mvf_vfio_close_device(struct vfio_device *vdev)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_from_vdev(vdev);

	mvf_dirty_close(mvdev);
	mvf_lm_close(mvdev);
	mvf_events_release(mvdev);
	vfio_pci_core_close_device(vdev);
	if (mvdev->mdev)
		mvf_core_vf_close(mvdev->mdev, mvdev->vhca_id);
}

static const struct vfio_device_ops mvf_vfio_device_ops = {
	.name		= MVF_VFIO_DRV_NAME,
	.init		= mvf_vfio_init_dev,
	.release	= mvf_vfio_release_dev,
	.open_device	= mvf_vfio_open_device,
	.close_device	= mvf_vfio_close_device,
	.ioctl		= mvf_events_ioctl,
#ifndef MVF_NO_REGION_INFO_CAPS
	.get_region_info_caps = vfio_pci_ioctl_get_region_info,
#endif
	.device_feature	= vfio_pci_core_ioctl_feature,
#ifndef MVF_NO_CORE_REVOKE
	/* The core honours the revocation itself: see bars.c. */
	.read		= vfio_pci_core_read,
	.write		= vfio_pci_core_write,
	.mmap		= vfio_pci_core_mmap,
#else
	.read		= mvf_bars_read,
	.write		= mvf_bars_write,
	.mmap		= mvf_bars_mmap,
#endif
	.request	= vfio_pci_core_request,
	.match		= vfio_pci_core_match,
#ifndef MVF_NO_MATCH_TOKEN_UUID
	.match_token_uuid = vfio_pci_core_match_token_uuid,
#endif
	.bind_iommufd	= vfio_iommufd_physical_bind,
	.unbind_iommufd	= vfio_iommufd_physical_unbind,
	.attach_ioas	= vfio_iommufd_physical_attach_ioas,
	.detach_ioas	= vfio_iommufd_physical_detach_ioas,
#ifndef MVF_NO_PASID_IOAS
	.pasid_attach_ioas = vfio_iommufd_physical_pasid_attach_ioas,
	.pasid_detach_ioas = vfio_iommufd_physical_pasid_detach_ioas,
#endif
};

/**
 * mvf_vfio_ops() - the vfio_device_ops of an MVF VF
 *
 * Return: the ops.
 */
const struct vfio_device_ops *mvf_vfio_ops(void)
{
	return &mvf_vfio_device_ops;
}
