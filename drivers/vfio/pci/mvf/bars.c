// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF VF vfio-pci variant driver: user access to the BARs.
 *
 * While the VF is frozen - STOP, STOP_COPY, RESUMING and ERROR - nobody may
 * reach its BARs: "!RUNNING is like reset".  Access is revoked before the
 * freeze command goes to the device and given back only after the device
 * has thawed (see lm.c), so the device never sees an access while frozen.
 *
 * With vfio-pci-core's vfio_pci_core_revoke_bars() (a core patch we carry,
 * patches/linux/0001), the core does it all under its memory_lock: user
 * mappings are zapped (and with them KVM's mappings of them), faults get
 * SIGBUS, read()/write() of the BARs fail with -EIO, ioeventfd writes are
 * dropped, and the BARs' dma-bufs are revoked, so peers lose their IOMMU
 * mappings.  The BARs are then offered as dma-bufs (VFIO_DEVICE_FEATURE_
 * DMA_BUF) too.
 *
 * Without it (a stock kernel) this file does what a variant driver can on
 * its own: its own fault handler for the BAR mappings, which agrees with
 * the revoke path through memory_lock, and a gate on read()/write().
 * ioeventfds are not covered and no dma-buf is offered, so no peer can map
 * the BARs through iommufd; peer DMA through a type1 mapping of a user
 * mmap survives the zap there, and only the device's own freeze stops it.
 */

#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

#include "mvf_vfio.h"

#ifndef MVF_NO_CORE_REVOKE

/**
 * mvf_bars_revoke() - revoke all user and peer access to the VF's BARs
 * @mvdev: VF device; the caller holds state_mutex
 */
void mvf_bars_revoke(struct mvf_vfio_dev *mvdev)
{
	lockdep_assert_held(&mvdev->state_mutex);
	/*
	 * Without a user there is no access to revoke, and the core's
	 * state for it (vconfig) does not exist; open starts unrevoked.
	 */
	if (mvdev->bars_revoked || !mvdev->is_open)
		return;
	vfio_pci_core_revoke_bars(&mvdev->core_device, true);
	mvdev->bars_revoked = true;
}

/**
 * mvf_bars_restore() - give access to the BARs back
 * @mvdev: VF device; the caller holds state_mutex
 */
void mvf_bars_restore(struct mvf_vfio_dev *mvdev)
{
	lockdep_assert_held(&mvdev->state_mutex);
	if (!mvdev->bars_revoked)
		return;
	vfio_pci_core_revoke_bars(&mvdev->core_device, false);
	mvdev->bars_revoked = false;
}

/**
 * mvf_bars_reset() - the VF was reset: access to the BARs is back
 * @mvdev: VF device; the caller holds state_mutex
 *
 * A reset through VFIO (VFIO_DEVICE_RESET, a hot reset) has already given
 * the BARs back, with memory_lock held - possibly by this very thread, on
 * its way through reset_done().  Any other reset (sysfs, AER recovery, the
 * PF) holds no vfio lock, and access is given back here.
 */
void mvf_bars_reset(struct mvf_vfio_dev *mvdev)
{
	lockdep_assert_held(&mvdev->state_mutex);
	if (!mvdev->bars_revoked)
		return;
	mvdev->bars_revoked = false;
	/*
	 * Unlocked: only a reset through VFIO writes the core's flag behind
	 * our back, and it clears it, under memory_lock; reading a stale
	 * "revoked" only costs a restore that finds nothing to do.
	 */
	if (data_race(READ_ONCE(mvdev->core_device.bars_revoked)))
		vfio_pci_core_revoke_bars(&mvdev->core_device, false);
}

/**
 * mvf_bars_open() - the user opened the device: the BARs are accessible
 * @mvdev: VF device
 */
void mvf_bars_open(struct mvf_vfio_dev *mvdev)
{
	/* vfio_pci_core_enable() cleared the core's flag. */
	mvdev->bars_revoked = false;
}

#ifndef MVF_NO_VFIO_PCI_DMABUF
static const struct vfio_pci_device_ops mvf_pci_dev_ops = {
	.get_dmabuf_phys = vfio_pci_core_get_dmabuf_phys,
};
#endif

/**
 * mvf_bars_init() - set up BAR access for a new VF device
 * @mvdev: VF device being probed
 */
void mvf_bars_init(struct mvf_vfio_dev *mvdev)
{
#ifndef MVF_NO_VFIO_PCI_DMABUF
	/* The BARs can be exported as dma-bufs: we can revoke those. */
	mvdev->core_device.pci_ops = &mvf_pci_dev_ops;
#endif
}

#else /* MVF_NO_CORE_REVOKE */

/*
 * The fallback.  mvdev->bars_revoked is written under state_mutex and
 * memory_lock for write (but for mvf_bars_reset(), see there), and read by
 * the fault handler under memory_lock for read: a fault either sees the
 * flag or finishes before the zap.  rw_gate (read) is held across a whole
 * read()/write() of a BAR and taken for write by the revoke, so no access
 * started before the revoke is still going when the freeze command goes
 * out.  Lock order: state_mutex -> rw_gate -> mmap_lock (user copies) ->
 * memory_lock.
 */

static bool mvf_is_bar(unsigned int index)
{
	return index <= VFIO_PCI_BAR5_REGION_INDEX;
}

static void mvf_zap_bars(struct mvf_vfio_dev *mvdev)
{
	struct vfio_device *vdev = &mvdev->core_device.vdev;
	loff_t start = VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_BAR0_REGION_INDEX);
	loff_t end = VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_ROM_REGION_INDEX);

	unmap_mapping_range(vdev->inode->i_mapping, start, end - start, true);
}

void mvf_bars_revoke(struct mvf_vfio_dev *mvdev)
{
	struct vfio_pci_core_device *core = &mvdev->core_device;

	lockdep_assert_held(&mvdev->state_mutex);
	/* without a user there is no access to revoke */
	if (mvdev->bars_revoked || !mvdev->is_open)
		return;
	down_write(&mvdev->rw_gate);
	down_write(&core->memory_lock);
	WRITE_ONCE(mvdev->bars_revoked, true);
	mvf_zap_bars(mvdev);
	up_write(&core->memory_lock);
	up_write(&mvdev->rw_gate);
}

void mvf_bars_restore(struct mvf_vfio_dev *mvdev)
{
	struct vfio_pci_core_device *core = &mvdev->core_device;

	lockdep_assert_held(&mvdev->state_mutex);
	if (!mvdev->bars_revoked)
		return;
	down_write(&core->memory_lock);
	WRITE_ONCE(mvdev->bars_revoked, false);
	up_write(&core->memory_lock);
}

/*
 * This may run with memory_lock held for write by the core's reset path,
 * so it cannot take it.  Clearing the flag only lets faults and accesses
 * through that would otherwise fail, which is right after a reset.
 */
void mvf_bars_reset(struct mvf_vfio_dev *mvdev)
{
	lockdep_assert_held(&mvdev->state_mutex);
	WRITE_ONCE(mvdev->bars_revoked, false);
}

void mvf_bars_open(struct mvf_vfio_dev *mvdev)
{
	WRITE_ONCE(mvdev->bars_revoked, false);
}

static ssize_t mvf_bars_rw(struct vfio_device *vdev, char __user *buf,
			   size_t count, loff_t *ppos, bool iswrite)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_from_vdev(vdev);
	ssize_t ret;

	if (!mvf_is_bar(VFIO_PCI_OFFSET_TO_INDEX(*ppos)))
		return iswrite ? vfio_pci_core_write(vdev, buf, count, ppos) :
				 vfio_pci_core_read(vdev, buf, count, ppos);

	down_read(&mvdev->rw_gate);
	if (READ_ONCE(mvdev->bars_revoked))
		ret = -EIO;
	else if (iswrite)
		ret = vfio_pci_core_write(vdev, buf, count, ppos);
	else
		ret = vfio_pci_core_read(vdev, buf, count, ppos);
	up_read(&mvdev->rw_gate);
	return ret;
}

ssize_t mvf_bars_read(struct vfio_device *vdev, char __user *buf,
		      size_t count, loff_t *ppos)
{
	return mvf_bars_rw(vdev, buf, count, ppos, false);
}

ssize_t mvf_bars_write(struct vfio_device *vdev, const char __user *buf,
		       size_t count, loff_t *ppos)
{
	return mvf_bars_rw(vdev, (char __user *)buf, count, ppos, true);
}

/*
 * What the core's fault handler checks besides us: the function is in D0
 * and decodes memory (a VF always does, through its PF's VF MSE).  Older
 * kernels do not export __vfio_pci_memory_enabled().  memory_lock held.
 */
static bool mvf_bars_decoded(struct vfio_pci_core_device *core)
{
	u16 cmd = le16_to_cpu(*(__le16 *)&core->vconfig[PCI_COMMAND]);

	return !core->pm_runtime_engaged &&
	       core->pdev->current_state < PCI_D3hot &&
	       (core->pdev->no_command_memory || (cmd & PCI_COMMAND_MEMORY));
}

static vm_fault_t mvf_bar_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct vfio_pci_core_device *core = vma->vm_private_data;
	struct mvf_vfio_dev *mvdev =
		container_of(core, struct mvf_vfio_dev, core_device);
	unsigned int index = vma->vm_pgoff >>
			     (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT);
	unsigned long pgoff = vma->vm_pgoff &
			      ((1UL << (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT)) - 1);
	unsigned long pfn = (pci_resource_start(core->pdev, index) >>
			     PAGE_SHIFT) + pgoff +
			    ((vmf->address - vma->vm_start) >> PAGE_SHIFT);
	vm_fault_t ret = VM_FAULT_SIGBUS;

	down_read(&core->memory_lock);
	if (!mvdev->bars_revoked && mvf_bars_decoded(core))
		ret = vmf_insert_pfn(vma, vmf->address, pfn);
	up_read(&core->memory_lock);
	return ret;
}

static const struct vm_operations_struct mvf_bar_vm_ops = {
	.fault = mvf_bar_fault,
};

int mvf_bars_mmap(struct vfio_device *vdev, struct vm_area_struct *vma)
{
	unsigned int index = vma->vm_pgoff >>
			     (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT);
	int ret;

	ret = vfio_pci_core_mmap(vdev, vma);
	if (ret || !mvf_is_bar(index))
		return ret;
	/*
	 * The core's BAR mappings are plain PFNMAPs filled on fault, with no
	 * open/close: ours only adds the revocation check (and gives up huge
	 * mappings).
	 */
	if (WARN_ON_ONCE(vma->vm_ops && (vma->vm_ops->open ||
					 vma->vm_ops->close)))
		return -EOPNOTSUPP;
	vma->vm_ops = &mvf_bar_vm_ops;
	return 0;
}

void mvf_bars_init(struct mvf_vfio_dev *mvdev)
{
	init_rwsem(&mvdev->rw_gate);
}

#endif /* MVF_NO_CORE_REVOKE */
