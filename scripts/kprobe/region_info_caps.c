// SPDX-License-Identifier: GPL-2.0-only
/* vfio_device_ops.get_region_info_caps and vfio_pci_ioctl_get_region_info() (6.19). */
#include <linux/vfio_pci_core.h>

const struct vfio_device_ops mvf_probe_ops = {
	.get_region_info_caps = vfio_pci_ioctl_get_region_info,
};
