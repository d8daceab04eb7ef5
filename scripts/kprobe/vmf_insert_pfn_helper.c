// SPDX-License-Identifier: GPL-2.0-only
/* vfio_pci_vmf_insert_pfn(), the core's fault-time BAR pfn insertion. */
#include <linux/vfio_pci_core.h>

vm_fault_t (*const mvf_probe_fn)(struct vfio_pci_core_device *vdev,
				 struct vm_fault *vmf, unsigned long pfn,
				 unsigned int order) = vfio_pci_vmf_insert_pfn;
