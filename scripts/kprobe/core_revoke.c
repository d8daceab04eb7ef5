// SPDX-License-Identifier: GPL-2.0-only
/* vfio_pci_core_revoke_bars(vdev, revoke), from our core patch in patches/linux/. */
#include <linux/vfio_pci_core.h>

void (*const mvf_probe_fn)(struct vfio_pci_core_device *vdev, bool revoke) =
	vfio_pci_core_revoke_bars;
