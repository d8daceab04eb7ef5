// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF VF vfio-pci variant driver: PCI driver.
 *
 * Binds MVF VFs only through driver_override (they carry no dynamic id
 * match) and offers them to userspace through VFIO, with live migration
 * when the PF is driven by mvf_core.
 */

#include <linux/module.h>
#include <linux/pci.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

#include <linux/mvf/mvf_if.h>

#include "mvf_vfio.h"

static struct mvf_vfio_dev *mvf_vfio_drvdata(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *core_device = dev_get_drvdata(&pdev->dev);

	return container_of(core_device, struct mvf_vfio_dev, core_device);
}

static int mvf_vfio_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct mvf_vfio_dev *mvdev;
	int ret;

	mvdev = vfio_alloc_device(mvf_vfio_dev, core_device.vdev, &pdev->dev,
				  mvf_vfio_ops());
	if (IS_ERR(mvdev))
		return PTR_ERR(mvdev);

	mvf_bars_init(mvdev);
	dev_set_drvdata(&pdev->dev, &mvdev->core_device);
	ret = vfio_pci_core_register_device(&mvdev->core_device);
	if (ret) {
		vfio_put_device(&mvdev->core_device.vdev);
		return ret;
	}
	dev_dbg(&pdev->dev, "vhca %u, migration %s, DMA logging %s\n",
		mvdev->vhca_id,
		mvdev->migrate_cap ? "supported" : "not supported",
		mvdev->core_device.vdev.log_ops ? "supported" : "not supported");
	return 0;
}

static void mvf_vfio_remove(struct pci_dev *pdev)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_drvdata(pdev);

	/* Waits for the user to close the device. */
	vfio_pci_core_unregister_device(&mvdev->core_device);
	/* The PF may go right after we return: let go of it now. */
	mvf_cmds_detach(mvdev);
	vfio_put_device(&mvdev->core_device.vdev);
}

/*
 * AER recovery, on every function under the port whichever reported.
 * Between error_detected() and resume() no migration command goes to the
 * device and user access to the BARs is revoked; a migration in flight is
 * cut (data files fail, state ERROR until VFIO_DEVICE_RESET).  The user
 * hears of a fatal error on vfio's error eventfd, of a non-fatal one on
 * MVF_VFIO_PCI_NONFATAL_ERR_IRQ_INDEX (or the error eventfd without it).
 */
static pci_ers_result_t mvf_vfio_error_detected(struct pci_dev *pdev,
						pci_channel_state_t state)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_drvdata(pdev);
	bool fatal = state != pci_channel_io_normal;

	/* Another function's non-fatal error leaves this one alone. */
	if (!fatal && !mvf_core_reported_error(pdev))
		return PCI_ERS_RESULT_CAN_RECOVER;

	dev_warn(&pdev->dev, "%s PCI error: VF blocked until recovered\n",
		 state == pci_channel_io_perm_failure ? "permanent" :
		 fatal ? "fatal" : "non-fatal");
	mvf_lm_error_detected(mvdev, fatal);
	if (!mvf_events_report_error(mvdev, fatal))
		mvf_lm_mark_failed(mvdev);

	if (state == pci_channel_io_perm_failure)
		return PCI_ERS_RESULT_DISCONNECT;
	return fatal ? PCI_ERS_RESULT_NEED_RESET : PCI_ERS_RESULT_CAN_RECOVER;
}

static pci_ers_result_t mvf_vfio_mmio_enabled(struct pci_dev *pdev)
{
	/* The function went on; its user decides what to do about it. */
	return PCI_ERS_RESULT_RECOVERED;
}

static pci_ers_result_t mvf_vfio_slot_reset(struct pci_dev *pdev)
{
	/* The link reset took config space: give the VF what it had. */
	pci_restore_state(pdev);
	pci_save_state(pdev);
	mvf_lm_slot_reset(mvf_vfio_drvdata(pdev));
	return PCI_ERS_RESULT_RECOVERED;
}

static void mvf_vfio_resume(struct pci_dev *pdev)
{
	mvf_lm_error_resume(mvf_vfio_drvdata(pdev));
}

static void mvf_vfio_reset_done(struct pci_dev *pdev)
{
	mvf_lm_reset_done(mvf_vfio_drvdata(pdev));
}

static const struct pci_error_handlers mvf_vfio_err_handlers = {
	.error_detected = mvf_vfio_error_detected,
	.mmio_enabled = mvf_vfio_mmio_enabled,
	.slot_reset = mvf_vfio_slot_reset,
	.resume = mvf_vfio_resume,
	.reset_done = mvf_vfio_reset_done,
};

static const struct pci_device_id mvf_vfio_pci_table[] = {
	{ PCI_DRIVER_OVERRIDE_DEVICE_VFIO(MVF_PCI_VENDOR_ID,
					  MVF_PCI_DEVICE_ID_VF) },
	{ }
};
MODULE_DEVICE_TABLE(pci, mvf_vfio_pci_table);

static struct pci_driver mvf_vfio_pci_driver = {
	.name = MVF_VFIO_DRV_NAME,
	.id_table = mvf_vfio_pci_table,
	.probe = mvf_vfio_probe,
	.remove = mvf_vfio_remove,
	.err_handler = &mvf_vfio_err_handlers,
	.driver_managed_dma = true,
};
module_pci_driver(mvf_vfio_pci_driver);

#ifdef MVF_NO_IMPORT_NS_STRING
MODULE_IMPORT_NS(IOMMUFD);
#else
MODULE_IMPORT_NS("IOMMUFD");
#endif
MODULE_DESCRIPTION("VFIO variant driver for MVF virtual functions, with live migration");
MODULE_LICENSE("GPL");
