// SPDX-License-Identifier: GPL-2.0-only
/* vfio_device_ops.pasid_{attach,detach}_ioas and their iommufd physical helpers. */
#include <linux/vfio_pci_core.h>

const struct vfio_device_ops mvf_probe_ops = {
	.pasid_attach_ioas = vfio_iommufd_physical_pasid_attach_ioas,
	.pasid_detach_ioas = vfio_iommufd_physical_pasid_detach_ioas,
};
