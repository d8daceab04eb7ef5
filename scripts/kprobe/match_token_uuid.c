// SPDX-License-Identifier: GPL-2.0-only
/* vfio_device_ops.match_token_uuid and vfio_pci_core_match_token_uuid(). */
#include <linux/vfio_pci_core.h>

const struct vfio_device_ops mvf_probe_ops = {
	.match_token_uuid = vfio_pci_core_match_token_uuid,
};
