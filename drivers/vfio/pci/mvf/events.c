// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF VF vfio-pci variant driver: the device-specific interrupt indexes
 * (include/linux/mvf/mvf_vfio_uapi.h) through which the user hears of
 * non-fatal errors and link changes, and the ioctls that expose them.
 */

#include <linux/eventfd.h>
#include <linux/pci.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

#include <linux/mvf/mvf_vfio_uapi.h>

#include "mvf_vfio.h"

static struct eventfd_ctx **mvf_trigger(struct mvf_vfio_dev *mvdev,
					unsigned int index)
{
	return index == MVF_VFIO_PCI_NONFATAL_ERR_IRQ_INDEX ?
	       &mvdev->nonfatal_trigger : &mvdev->link_trigger;
}

/**
 * mvf_events_signal() - signal one of the device-specific eventfds
 * @mvdev: VF device
 * @index: MVF_VFIO_PCI_*_IRQ_INDEX
 *
 * Any context but hard interrupt.
 *
 * Return: true if the user has an eventfd there and it was signalled.
 */
bool mvf_events_signal(struct mvf_vfio_dev *mvdev, unsigned int index)
{
	struct eventfd_ctx *trigger;

	spin_lock(&mvdev->trig_lock);
	trigger = *mvf_trigger(mvdev, index);
	if (trigger)
		eventfd_signal(trigger);
	spin_unlock(&mvdev->trig_lock);
	return trigger;
}

/**
 * mvf_events_report_error() - tell the user of an error of the VF or its PF
 * @mvdev: VF device
 * @fatal: the error needs a link reset; else the function went on
 *
 * Fatal errors, and non-fatal ones of a user without the non-fatal
 * eventfd, go to vfio-pci's error eventfd.
 *
 * Return: true if an eventfd was signalled.
 */
bool mvf_events_report_error(struct mvf_vfio_dev *mvdev, bool fatal)
{
	struct vfio_pci_core_device *vdev = &mvdev->core_device;
	bool told;

	if (!fatal &&
	    mvf_events_signal(mvdev, MVF_VFIO_PCI_NONFATAL_ERR_IRQ_INDEX))
		return true;
	mutex_lock(&vdev->igate);
	told = rcu_access_pointer(vdev->err_trigger);
	mutex_unlock(&vdev->igate);
	/* Signals the error eventfd, if there is one. */
	vfio_pci_core_aer_err_detected(vdev->pdev, fatal ?
				       pci_channel_io_frozen :
				       pci_channel_io_normal);
	return told;
}

static void mvf_set_trigger(struct mvf_vfio_dev *mvdev, unsigned int index,
			    struct eventfd_ctx *trigger)
{
	struct eventfd_ctx *old;

	spin_lock(&mvdev->trig_lock);
	old = *mvf_trigger(mvdev, index);
	*mvf_trigger(mvdev, index) = trigger;
	spin_unlock(&mvdev->trig_lock);
	if (old)
		eventfd_ctx_put(old);
}

/**
 * mvf_events_release() - drop the user's eventfds (the device is closed)
 * @mvdev: VF device
 */
void mvf_events_release(struct mvf_vfio_dev *mvdev)
{
	mvf_set_trigger(mvdev, MVF_VFIO_PCI_NONFATAL_ERR_IRQ_INDEX, NULL);
	mvf_set_trigger(mvdev, MVF_VFIO_PCI_LINK_IRQ_INDEX, NULL);
}

static int mvf_ioctl_get_info(struct mvf_vfio_dev *mvdev, unsigned long arg)
{
	struct vfio_device_info __user *uinfo = (void __user *)arg;
	int ret;

	ret = vfio_pci_core_ioctl(&mvdev->core_device.vdev,
				  VFIO_DEVICE_GET_INFO, arg);
	if (ret)
		return ret;
	/* The core validated the header: only the count changes. */
	return put_user(MVF_VFIO_PCI_NUM_IRQS, &uinfo->num_irqs);
}

static int mvf_ioctl_get_irq_info(struct mvf_vfio_dev *mvdev,
				  unsigned long arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;

	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	if (info.index < VFIO_PCI_NUM_IRQS)
		return vfio_pci_core_ioctl(&mvdev->core_device.vdev,
					   VFIO_DEVICE_GET_IRQ_INFO, arg);
	if (info.index >= MVF_VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	info.flags = VFIO_IRQ_INFO_EVENTFD;
	info.count = 1;
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
}

static int mvf_ioctl_set_irqs(struct mvf_vfio_dev *mvdev, unsigned long arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_set, count);
	void __user *data = (void __user *)(arg + minsz);
	struct eventfd_ctx *trigger;
	struct vfio_irq_set hdr;
	size_t data_size;
	s32 fd;
	u8 val;
	int ret;

	if (copy_from_user(&hdr, (void __user *)arg, minsz))
		return -EFAULT;
	if (hdr.argsz >= minsz && hdr.index < VFIO_PCI_NUM_IRQS)
		return vfio_pci_core_ioctl(&mvdev->core_device.vdev,
					   VFIO_DEVICE_SET_IRQS, arg);

	ret = vfio_set_irqs_validate_and_prepare(&hdr, 1,
						 MVF_VFIO_PCI_NUM_IRQS,
						 &data_size);
	if (ret)
		return ret;
	if ((hdr.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) !=
	    VFIO_IRQ_SET_ACTION_TRIGGER)
		return -EINVAL;

	switch (hdr.flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
	case VFIO_IRQ_SET_DATA_NONE:
		if (!hdr.count)
			mvf_set_trigger(mvdev, hdr.index, NULL);
		else
			mvf_events_signal(mvdev, hdr.index);
		return 0;
	case VFIO_IRQ_SET_DATA_BOOL:
		if (copy_from_user(&val, data, sizeof(val)))
			return -EFAULT;
		if (val)
			mvf_events_signal(mvdev, hdr.index);
		return 0;
	case VFIO_IRQ_SET_DATA_EVENTFD:
		if (copy_from_user(&fd, data, sizeof(fd)))
			return -EFAULT;
		if (fd == -1) {
			mvf_set_trigger(mvdev, hdr.index, NULL);
			return 0;
		}
		if (fd < 0)
			return -EINVAL;
		trigger = eventfd_ctx_fdget(fd);
		if (IS_ERR(trigger))
			return PTR_ERR(trigger);
		mvf_set_trigger(mvdev, hdr.index, trigger);
		return 0;
	default:
		return -EINVAL;
	}
}

/**
 * mvf_events_ioctl() - the device ioctls, with the MVF interrupt indexes
 * @vdev: vfio device
 * @cmd: ioctl number
 * @arg: its argument
 *
 * Return: the ioctl's result.
 */
long mvf_events_ioctl(struct vfio_device *vdev, unsigned int cmd,
		      unsigned long arg)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_from_vdev(vdev);

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		return mvf_ioctl_get_info(mvdev, arg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return mvf_ioctl_get_irq_info(mvdev, arg);
	case VFIO_DEVICE_SET_IRQS:
		return mvf_ioctl_set_irqs(mvdev, arg);
	default:
		return vfio_pci_core_ioctl(vdev, cmd, arg);
	}
}

/**
 * mvf_events_init() - set up the eventfd slots of a new VF device
 * @mvdev: VF device
 */
void mvf_events_init(struct mvf_vfio_dev *mvdev)
{
	spin_lock_init(&mvdev->trig_lock);
}
