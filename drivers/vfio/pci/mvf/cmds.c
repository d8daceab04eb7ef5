// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF VF vfio-pci variant driver: the link to mvf_core, and the device
 * commands the migration state machine uses.
 */

#include <linux/err.h>
#include <linux/pci.h>

#include <linux/mvf/mvf_if.h>
#include <linux/mvf/mvf_vfio_uapi.h>

#include "mvf_vfio.h"

static int mvf_cmds_core_event(struct notifier_block *nb, unsigned long event,
			       void *data)
{
	struct mvf_vfio_dev *mvdev = container_of(nb, struct mvf_vfio_dev, nb);

	switch (event) {
	case MVF_CORE_EVENT_SRIOV_DISABLE:
		mvf_lm_pf_gone(mvdev);
		return NOTIFY_OK;
	case MVF_CORE_EVENT_PF_ERROR:
		mvf_lm_pf_error(mvdev);
		return NOTIFY_OK;
	case MVF_CORE_EVENT_PF_RECOVERED:
		mvf_lm_pf_recovered(mvdev, *(bool *)data);
		return NOTIFY_OK;
	case MVF_CORE_EVENT_LINK_CHANGE:
		mvf_events_signal(mvdev, MVF_VFIO_PCI_LINK_IRQ_INDEX);
		return NOTIFY_OK;
	default:
		return NOTIFY_DONE;
	}
}

/**
 * mvf_cmds_attach() - connect a VF to the core driver of its PF
 * @mvdev: VF device being initialized
 *
 * Without mvf_core on the PF, or without migration support in the device,
 * the VF still works as a plain vfio-pci device: this only decides whether
 * migration is offered.
 *
 * Return: 0 (the failures above are not errors).
 */
int mvf_cmds_attach(struct mvf_vfio_dev *mvdev)
{
	struct pci_dev *pdev = mvdev->core_device.pdev;
	struct mvf_core_dev *mdev;
	int vhca_id, ret;
	u32 caps;

	mdev = mvf_core_get(pdev);
	if (IS_ERR(mdev)) {
		dev_info(&pdev->dev,
			 "PF not driven by mvf_core: migration not available\n");
		return 0;
	}
	vhca_id = mvf_core_vf_vhca_id(pdev);
	if (vhca_id < 0) {
		mvf_core_put(mdev);
		return 0;
	}

	mvdev->nb.notifier_call = mvf_cmds_core_event;
	ret = mvf_core_register_notifier(mdev, &mvdev->nb);
	if (ret) {
		dev_warn(&pdev->dev,
			 "cannot follow the PF's events (%pe): migration not available\n",
			 ERR_PTR(ret));
		mvdev->nb.notifier_call = NULL;
		mvf_core_put(mdev);
		return 0;
	}
	mvdev->mdev = mdev;
	mvdev->vhca_id = vhca_id;

	caps = mvf_core_caps(mdev);
	mvdev->migrate_cap = !!(caps & MVF_CAP_MIGRATION);
	if (!mvdev->migrate_cap)
		dev_info(&pdev->dev,
			 "device without migration support (caps %#x)\n", caps);
	return 0;
}

/**
 * mvf_cmds_detach() - undo mvf_cmds_attach(); may be called again
 * @mvdev: VF device
 */
void mvf_cmds_detach(struct mvf_vfio_dev *mvdev)
{
	if (!mvdev->mdev)
		return;
	if (mvdev->nb.notifier_call)
		mvf_core_unregister_notifier(mvdev->mdev, &mvdev->nb);
	mvdev->nb.notifier_call = NULL;
	mvf_core_put(mvdev->mdev);
	mvdev->mdev = NULL;
}

/**
 * mvf_cmds_query_size() - stream bytes still to come, were the VF stopped
 * @mvdev: VF device
 * @size: result
 *
 * Return: 0 or a negative errno.
 */
int mvf_cmds_query_size(struct mvf_vfio_dev *mvdev, u64 *size)
{
	return mvf_core_query_mig_state(mvdev->mdev, mvdev->vhca_id, 0, size,
					NULL);
}

/**
 * mvf_cmds_query_state() - the VF's suspend state, as the device has it
 * @mvdev: VF device
 * @state: result, MVF_VHCA_STATE_* flags
 *
 * Return: 0 or a negative errno.
 */
int mvf_cmds_query_state(struct mvf_vfio_dev *mvdev, u32 *state)
{
	return mvf_core_query_vhca(mvdev->mdev, mvdev->vhca_id, state, NULL);
}

/**
 * mvf_cmds_suspend() - quiesce (INITIATOR) or freeze (RESPONDER) the VF
 * @mvdev: VF device
 * @mode: MVF_SUSPEND_*
 *
 * Return: 0 or a negative errno.
 */
int mvf_cmds_suspend(struct mvf_vfio_dev *mvdev, u32 mode)
{
	return mvf_core_suspend(mvdev->mdev, mvdev->vhca_id, mode);
}

/**
 * mvf_cmds_resume() - thaw (RESPONDER) or un-quiesce (INITIATOR) the VF
 * @mvdev: VF device
 * @mode: MVF_SUSPEND_*
 *
 * Return: 0 or a negative errno.
 */
int mvf_cmds_resume(struct mvf_vfio_dev *mvdev, u32 mode)
{
	return mvf_core_resume(mvdev->mdev, mvdev->vhca_id, mode);
}
