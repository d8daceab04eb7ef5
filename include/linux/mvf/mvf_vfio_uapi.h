/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What mvf-vfio-pci adds to the VFIO uAPI for an MVF VF.  Included by the
 * driver and by user space (VMMs, the selftests) after <linux/vfio.h>.
 *
 * Two device-specific interrupt indexes follow vfio-pci's own.
 * VFIO_DEVICE_GET_INFO counts them in num_irqs; VFIO_DEVICE_GET_IRQ_INFO
 * reports each with count 1 and VFIO_IRQ_INFO_EVENTFD (never maskable);
 * VFIO_DEVICE_SET_IRQS with VFIO_IRQ_SET_ACTION_TRIGGER sets the eventfd
 * (VFIO_IRQ_SET_DATA_EVENTFD, -1 removes it), removes it (DATA_NONE with
 * count 0) or signals it (DATA_NONE with count 1, DATA_BOOL true), as for
 * VFIO_PCI_ERR_IRQ_INDEX.
 *
 * MVF_VFIO_PCI_NONFATAL_ERR_IRQ_INDEX: an uncorrectable non-fatal error of
 *	the VF or of its PF: the function went on, but what was in flight may
 *	be lost and a migration in flight ended (the migration state says).
 *	Without this eventfd set, such errors signal VFIO_PCI_ERR_IRQ_INDEX,
 *	which otherwise reports fatal errors only.
 * MVF_VFIO_PCI_LINK_IRQ_INDEX: the device changed its link speed or width;
 *	the VF's Link Status register (config space) has the new values.
 *	Nothing else reports it: the kernel does not log it.
 *
 * Documentation/mvf/admin-guide.rst says what each error does to a
 * migration.
 */
#ifndef _LINUX_MVF_MVF_VFIO_UAPI_H
#define _LINUX_MVF_MVF_VFIO_UAPI_H

#include <linux/vfio.h>

enum {
	MVF_VFIO_PCI_NONFATAL_ERR_IRQ_INDEX = VFIO_PCI_NUM_IRQS,
	MVF_VFIO_PCI_LINK_IRQ_INDEX,
	MVF_VFIO_PCI_NUM_IRQS
};

#endif /* _LINUX_MVF_MVF_VFIO_UAPI_H */
