// SPDX-License-Identifier: GPL-2.0-only
/* VFIO BAR dma-bufs (6.19): vfio_pci_device_ops, vdev->pci_ops, CONFIG_VFIO_PCI_DMABUF. */
#include <linux/vfio_pci_core.h>

#if !IS_ENABLED(CONFIG_VFIO_PCI_DMABUF)
#error "CONFIG_VFIO_PCI_DMABUF is not set"
#endif

static const struct vfio_pci_device_ops mvf_probe_pci_ops = {
	.get_dmabuf_phys = vfio_pci_core_get_dmabuf_phys,
};

void mvf_probe(struct vfio_pci_core_device *vdev);
void mvf_probe(struct vfio_pci_core_device *vdev)
{
	vdev->pci_ops = &mvf_probe_pci_ops;
}
