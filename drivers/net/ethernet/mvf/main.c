// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF PF core driver: PCI driver, SR-IOV and the VF-facing device API.
 *
 * The PF runs the command interface through which the state of its VFs is
 * suspended, saved, loaded and resumed.  VF drivers (mvf-vfio-pci) reach it
 * with mvf_core_get(); see include/linux/mvf/core.h.
 */

#include <linux/bitmap.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>

#include "mvf_core.h"

#define MVF_CORE_DRV_NAME	"mvf_core"

static struct pci_driver mvf_core_driver;

static void mvf_core_release(struct kref *ref)
{
	struct mvf_core_dev *core = container_of(ref, struct mvf_core_dev, ref);

	kfree(core->vfs);
	bitmap_free(core->vf_open);
	mutex_destroy(&core->sriov_lock);
	pci_dev_put(core->pdev);
	kfree(core);
}

/**
 * mvf_core_get() - get the core device of a VF's PF
 * @vf_pdev: VF whose driver is bound (called from its probe)
 *
 * Takes a reference, dropped with mvf_core_put().  The core stays usable
 * until the VF driver's remove() returned: the PF driver disables SR-IOV,
 * which unbinds the VF drivers, before it tears the core down.
 *
 * Return: the core device, or ERR_PTR(-ENODEV) if @vf_pdev is not a VF of
 * a PF bound to mvf_core.
 */
struct mvf_core_dev *mvf_core_get(struct pci_dev *vf_pdev)
{
	struct mvf_core_dev *core;

	core = pci_iov_get_pf_drvdata(vf_pdev, &mvf_core_driver);
	if (IS_ERR_OR_NULL(core))
		return ERR_PTR(-ENODEV);
	kref_get(&core->ref);
	return core;
}
EXPORT_SYMBOL_GPL(mvf_core_get);

/**
 * mvf_core_put() - drop a reference taken by mvf_core_get()
 * @core: core device, or NULL
 */
void mvf_core_put(struct mvf_core_dev *core)
{
	if (core)
		kref_put(&core->ref, mvf_core_release);
}
EXPORT_SYMBOL_GPL(mvf_core_put);

/**
 * mvf_core_vf_vhca_id() - vhca id that addresses a VF in device commands
 * @vf_pdev: a VF
 *
 * Return: the VF's index plus one, or -EINVAL if @vf_pdev is not a VF.
 */
int mvf_core_vf_vhca_id(struct pci_dev *vf_pdev)
{
	int id = pci_iov_vf_id(vf_pdev);

	return id < 0 ? id : id + 1;
}
EXPORT_SYMBOL_GPL(mvf_core_vf_vhca_id);

/**
 * mvf_core_caps() - device capabilities
 * @core: core device
 *
 * Return: MVF_CAP_* flags reported by QUERY_CAPS.
 */
u32 mvf_core_caps(const struct mvf_core_dev *core)
{
	return core->caps;
}
EXPORT_SYMBOL_GPL(mvf_core_caps);

/**
 * mvf_core_devmem_size() - on-device memory of each VF
 * @core: core device
 *
 * Return: bytes, as reported by QUERY_CAPS.
 */
u64 mvf_core_devmem_size(const struct mvf_core_dev *core)
{
	return core->devmem_size;
}
EXPORT_SYMBOL_GPL(mvf_core_devmem_size);

bool mvf_core_vhca_valid(struct mvf_core_dev *core, u16 vhca_id)
{
	return vhca_id >= 1 && vhca_id <= core->total_vfs;
}

/*
 * The PCI device of the VF addressed by @vhca_id, with a reference the
 * caller drops with pci_dev_put(), or NULL if it does not exist (SR-IOV
 * disabled).  Process context.
 */
struct pci_dev *mvf_core_vf_pdev(struct mvf_core_dev *core, u16 vhca_id)
{
	struct pci_dev *pf = core->pdev, *vf = NULL;

	while ((vf = pci_get_device(pf->vendor, PCI_ANY_ID, vf)))
		if (vf->is_virtfn && pci_physfn(vf) == pf &&
		    pci_iov_vf_id(vf) == vhca_id - 1)
			return vf;
	return NULL;
}

/**
 * mvf_core_register_notifier() - subscribe to MVF_CORE_EVENT_* events
 * @core: core device
 * @nb: notifier block
 *
 * Return: 0 or a negative errno.
 */
int mvf_core_register_notifier(struct mvf_core_dev *core,
			       struct notifier_block *nb)
{
	return blocking_notifier_chain_register(&core->nh, nb);
}
EXPORT_SYMBOL_GPL(mvf_core_register_notifier);

/**
 * mvf_core_unregister_notifier() - undo mvf_core_register_notifier()
 * @core: core device
 * @nb: notifier block
 */
void mvf_core_unregister_notifier(struct mvf_core_dev *core,
				  struct notifier_block *nb)
{
	blocking_notifier_chain_unregister(&core->nh, nb);
}
EXPORT_SYMBOL_GPL(mvf_core_unregister_notifier);

/**
 * mvf_core_vf_open() - record that a user opened a VF
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 *
 * While a VF is open the administrator cannot disable SR-IOV.
 *
 * Return: 0, -EINVAL for a bad @vhca_id, -EBUSY if already open, -ENODEV
 * while SR-IOV is being disabled.
 */
int mvf_core_vf_open(struct mvf_core_dev *core, u16 vhca_id)
{
	int ret = 0;

	if (!mvf_core_vhca_valid(core, vhca_id))
		return -EINVAL;
	mutex_lock(&core->sriov_lock);
	if (core->sriov_disabling)
		ret = -ENODEV;
	else if (test_and_set_bit(vhca_id - 1, core->vf_open))
		ret = -EBUSY;
	mutex_unlock(&core->sriov_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(mvf_core_vf_open);

/**
 * mvf_core_vf_close() - record that the user of a VF closed it
 * @core: core device
 * @vhca_id: VF passed to a successful mvf_core_vf_open()
 */
void mvf_core_vf_close(struct mvf_core_dev *core, u16 vhca_id)
{
	if (!mvf_core_vhca_valid(core, vhca_id))
		return;
	mutex_lock(&core->sriov_lock);
	clear_bit(vhca_id - 1, core->vf_open);
	mutex_unlock(&core->sriov_lock);
}
EXPORT_SYMBOL_GPL(mvf_core_vf_close);

/*
 * Disable SR-IOV.  Unless @force (PF removal), refuse while a VF is open.
 * VF drivers hear about it first, then pci_disable_sriov() unbinds them.
 */
static int mvf_sriov_disable(struct mvf_core_dev *core, bool force)
{
	struct pci_dev *pdev = core->pdev;

	mutex_lock(&core->sriov_lock);
	if (!force && !bitmap_empty(core->vf_open, core->total_vfs)) {
		mutex_unlock(&core->sriov_lock);
		dev_info(&pdev->dev,
			 "not disabling SR-IOV: a VF is in use (first: vhca %lu)\n",
			 find_first_bit(core->vf_open, core->total_vfs) + 1);
		return -EBUSY;
	}
	core->sriov_disabling = true;
	mutex_unlock(&core->sriov_lock);

	mvf_debugfs_remove_vfs(core);
	blocking_notifier_call_chain(&core->nh, MVF_CORE_EVENT_SRIOV_DISABLE,
				     NULL);
	pci_disable_sriov(pdev);

	mutex_lock(&core->sriov_lock);
	core->num_vfs = 0;
	core->sriov_disabling = false;
	mutex_unlock(&core->sriov_lock);
	dev_info(&pdev->dev, "SR-IOV disabled\n");
	return 0;
}

static int mvf_sriov_configure(struct pci_dev *pdev, int num_vfs)
{
	struct mvf_core_dev *core = pci_get_drvdata(pdev);
	int ret, i;

	if (!num_vfs)
		return mvf_sriov_disable(core, false);

	if (pci_num_vf(pdev))
		return -EBUSY;
	if (num_vfs > core->total_vfs)
		return -ERANGE;
	for (i = 0; i < num_vfs; i++) {
		atomic_set(&core->vfs[i].frozen_events, 0);
		mvf_track_vf_reset(&core->vfs[i]);
	}
	ret = pci_enable_sriov(pdev, num_vfs);
	if (ret) {
		dev_err(&pdev->dev, "cannot enable %d VFs: %pe\n", num_vfs,
			ERR_PTR(ret));
		return ret;
	}
	mutex_lock(&core->sriov_lock);
	core->num_vfs = num_vfs;
	mutex_unlock(&core->sriov_lock);
	mvf_debugfs_add_vfs(core, num_vfs);
	dev_info(&pdev->dev, "SR-IOV enabled with %d VFs\n", num_vfs);
	return num_vfs;
}

static int mvf_query_caps(struct mvf_core_dev *core)
{
	struct mvf_cmd cmd = { .opcode = MVF_CMD_QUERY_CAPS };
	int ret;

	ret = mvf_cmd_exec_pf(core, &cmd);
	if (ret)
		return ret;
	core->caps = cmd.out[0];
	core->devmem_size = mvf_cmd_out_u64(&cmd, 2);
	if (cmd.out[1] != core->total_vfs)
		dev_warn(mvf_dev(core),
			 "device reports %u VFs, SR-IOV capability %u\n",
			 cmd.out[1], core->total_vfs);
	return 0;
}

static int mvf_core_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct mvf_core_dev *core;
	u32 magic, version;
	unsigned int i;
	int ret;

	core = kzalloc_obj(*core, GFP_KERNEL);
	if (!core)
		return -ENOMEM;
	kref_init(&core->ref);
	core->pdev = pci_dev_get(pdev);
	mutex_init(&core->sriov_lock);
	BLOCKING_INIT_NOTIFIER_HEAD(&core->nh);
	core->total_vfs = pci_sriov_get_totalvfs(pdev);
	core->vf_open = bitmap_zalloc(max(core->total_vfs, 1U), GFP_KERNEL);
	core->vfs = kcalloc(max(core->total_vfs, 1U), sizeof(*core->vfs),
			    GFP_KERNEL);
	if (!core->vf_open || !core->vfs) {
		ret = -ENOMEM;
		goto err_put;
	}
	for (i = 0; i < core->total_vfs; i++) {
		core->vfs[i].core = core;
		core->vfs[i].vhca_id = i + 1;
		mvf_track_vf_init(&core->vfs[i]);
	}

	ret = pci_enable_device_mem(pdev);
	if (ret)
		goto err_put;
	ret = pci_request_mem_regions(pdev, MVF_CORE_DRV_NAME);
	if (ret)
		goto err_disable;
	if (pci_resource_len(pdev, 0) < MVF_PF_BAR0_SIZE) {
		dev_err(dev, "BAR 0 too small\n");
		ret = -ENODEV;
		goto err_release;
	}
	core->bar0 = pci_iomap(pdev, 0, MVF_PF_BAR0_SIZE);
	if (!core->bar0) {
		ret = -ENOMEM;
		goto err_release;
	}

	magic = readl(core->bar0 + MVF_PF_REG_MAGIC);
	version = readl(core->bar0 + MVF_PF_REG_VERSION);
	if (magic != MVF_MAGIC_PF) {
		dev_err(dev, "bad magic %#x\n", magic);
		ret = -ENODEV;
		goto err_unmap;
	}
	if (version >> 16 != MVF_IF_VERSION_MAJOR) {
		dev_err(dev, "unsupported interface version %u.%u (driver: %u.%u)\n",
			version >> 16, version & 0xffff, MVF_IF_VERSION_MAJOR,
			MVF_IF_VERSION_MINOR);
		ret = -ENODEV;
		goto err_unmap;
	}

	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (ret) {
		dev_err(dev, "no usable DMA mask\n");
		goto err_unmap;
	}
	pci_set_master(pdev);

	ret = mvf_cmd_init(core);
	if (ret)
		goto err_master;
	ret = mvf_query_caps(core);
	if (ret) {
		dev_err(dev, "QUERY_CAPS failed: %pe\n", ERR_PTR(ret));
		goto err_cmd;
	}
	mvf_track_query_caps(core);

	/* What AER recovery restores after a link reset. */
	pci_save_state(pdev);
	pci_set_drvdata(pdev, core);
	mvf_debugfs_add_pf(core);
	dev_info(dev, "MVF PF interface %u.%u, caps %#x, %u VFs, %llu bytes devmem per VF\n",
		 version >> 16, version & 0xffff, core->caps, core->total_vfs,
		 core->devmem_size);
	return 0;

err_cmd:
	mvf_cmd_shutdown(core);
err_master:
	pci_clear_master(pdev);
	mvf_cmd_cleanup(core);		/* no-op after a failed init */
err_unmap:
	pci_iounmap(pdev, core->bar0);
err_release:
	pci_release_mem_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_put:
	mvf_core_put(core);
	return ret;
}

static void mvf_core_remove(struct pci_dev *pdev)
{
	struct mvf_core_dev *core = pci_get_drvdata(pdev);

	/* Unbinds the VF drivers, which wait for their users to go. */
	if (pci_num_vf(pdev))
		mvf_sriov_disable(core, true);

	mvf_debugfs_remove_pf(core);
	mvf_cmd_shutdown(core);
	pci_clear_master(pdev);
	mvf_cmd_cleanup(core);
	pci_iounmap(pdev, core->bar0);
	core->bar0 = NULL;
	pci_release_mem_regions(pdev);
	pci_disable_device(pdev);
	pci_set_drvdata(pdev, NULL);
	mvf_core_put(core);
}

/* ------------------------------------------------------------------ */
/* Errors and resets of the PF                                         */
/* ------------------------------------------------------------------ */

/**
 * mvf_core_reported_error() - did this function report the error at hand?
 * @pdev: the PF or a VF, from its error_detected() callback
 *
 * AER recovery calls the error handlers of every driver under the port,
 * whichever function reported the error; the reporter's uncorrectable
 * status is cleared only once recovery is over.  A function that cannot
 * be asked (no AER capability, config space gone) counts as a reporter.
 *
 * Return: true if @pdev has an unmasked uncorrectable error logged.
 */
bool mvf_core_reported_error(struct pci_dev *pdev)
{
	u32 status, mask;

	if (!pdev->aer_cap ||
	    pci_read_config_dword(pdev, pdev->aer_cap + PCI_ERR_UNCOR_STATUS,
				  &status) ||
	    pci_read_config_dword(pdev, pdev->aer_cap + PCI_ERR_UNCOR_MASK,
				  &mask))
		return true;	/* cannot tell: assume the worst */
	return PCI_POSSIBLE_ERROR(status) || (status & ~mask);
}
EXPORT_SYMBOL_GPL(mvf_core_reported_error);

/*
 * Stop the command interface and tell the VF drivers, once per recovery.
 * Caller holds the PF's device lock.
 */
static void mvf_core_stop(struct mvf_core_dev *core, const char *why)
{
	if (core->recovering)
		return;
	core->recovering = true;
	dev_warn(mvf_dev(core), "%s: command interface stopped\n", why);
	mvf_cmd_halt(core);
	blocking_notifier_call_chain(&core->nh, MVF_CORE_EVENT_PF_ERROR, NULL);
}

/*
 * Bring the command interface back after mvf_core_stop() and tell the VF
 * drivers.  Caller holds the PF's device lock.
 */
static int mvf_core_restart(struct mvf_core_dev *core, bool vfs_reset)
{
	int ret;

	if (!core->recovering)
		return 0;
	ret = mvf_cmd_restart(core);
	if (ret) {
		dev_err(mvf_dev(core),
			"command interface did not come back: %pe\n",
			ERR_PTR(ret));
		return ret;
	}
	mvf_cmd_resume(core);
	core->recovering = false;
	/* A reset of the PF disabled SR-IOV in the device: no tracker left. */
	if (vfs_reset)
		mvf_track_vfs_gone(core);
	dev_info(mvf_dev(core), "command interface recovered\n");
	blocking_notifier_call_chain(&core->nh, MVF_CORE_EVENT_PF_RECOVERED,
				     &vfs_reset);
	return 0;
}

static pci_ers_result_t mvf_core_error_detected(struct pci_dev *pdev,
						pci_channel_state_t state)
{
	struct mvf_core_dev *core = pci_get_drvdata(pdev);

	if (state == pci_channel_io_perm_failure) {
		/* Recovery gave up: nothing comes back; fail what waits. */
		mvf_core_stop(core, "permanent PCI failure");
		return PCI_ERS_RESULT_DISCONNECT;
	}
	/* Another function's non-fatal error leaves ours alone. */
	if (state == pci_channel_io_normal && !mvf_core_reported_error(pdev))
		return PCI_ERS_RESULT_CAN_RECOVER;

	mvf_core_stop(core, state == pci_channel_io_frozen ?
		      "fatal PCI error" : "uncorrectable PCI error");
	/*
	 * Frozen: the link is reset whatever we vote.  Non-fatal: the
	 * device halted only its command interface, which mmio_enabled()
	 * resets without touching the VFs.
	 */
	return state == pci_channel_io_frozen ? PCI_ERS_RESULT_NEED_RESET :
						PCI_ERS_RESULT_CAN_RECOVER;
}

static pci_ers_result_t mvf_core_mmio_enabled(struct pci_dev *pdev)
{
	struct mvf_core_dev *core = pci_get_drvdata(pdev);

	/* Registers work again: a reset of the command interface will do. */
	if (mvf_core_restart(core, false))
		return PCI_ERS_RESULT_NEED_RESET;
	return PCI_ERS_RESULT_RECOVERED;
}

static pci_ers_result_t mvf_core_slot_reset(struct pci_dev *pdev)
{
	struct mvf_core_dev *core = pci_get_drvdata(pdev);

	/*
	 * The link was reset under everybody.  Config space comes back from
	 * what probe saved, SR-IOV included, so the VFs reappear (reset);
	 * their drivers restore them in their own slot_reset().
	 */
	mvf_core_stop(core, "link reset");	/* if error_detected() passed */
	pci_restore_state(pdev);
	pci_save_state(pdev);
	pci_set_master(pdev);
	if (mvf_core_restart(core, false))
		return PCI_ERS_RESULT_DISCONNECT;
	return PCI_ERS_RESULT_RECOVERED;
}

static void mvf_core_err_resume(struct pci_dev *pdev)
{
	struct mvf_core_dev *core = pci_get_drvdata(pdev);

	/* A vote of another driver may have skipped mmio_enabled(). */
	mvf_core_restart(core, false);
}

/*
 * A function or bus reset of the PF (sysfs "reset", a reset of the bus
 * above): it resets the VFs too, and nobody else tells their drivers.
 */
static void mvf_core_reset_prepare(struct pci_dev *pdev)
{
	mvf_core_stop(pci_get_drvdata(pdev), "PF reset");
}

static void mvf_core_reset_done(struct pci_dev *pdev)
{
	struct mvf_core_dev *core = pci_get_drvdata(pdev);

	/* The PCI core restored config space, SR-IOV included. */
	pci_set_master(pdev);
	mvf_core_restart(core, true);
}

static const struct pci_error_handlers mvf_core_err_handlers = {
	.error_detected	= mvf_core_error_detected,
	.mmio_enabled	= mvf_core_mmio_enabled,
	.slot_reset	= mvf_core_slot_reset,
	.resume		= mvf_core_err_resume,
	.reset_prepare	= mvf_core_reset_prepare,
	.reset_done	= mvf_core_reset_done,
};

/*
 * Reboot or kexec: the device must stop DMA into memory the next kernel
 * owns.  Nothing is freed; pending commands fail.
 */
static void mvf_core_shutdown(struct pci_dev *pdev)
{
	struct mvf_core_dev *core = pci_get_drvdata(pdev);

	mvf_cmd_halt(core);
	writel(MVF_PF_CTRL_RESET, core->bar0 + MVF_PF_REG_CTRL);
	pci_clear_master(pdev);
}

static const struct pci_device_id mvf_core_pci_table[] = {
	{ PCI_DEVICE(MVF_PCI_VENDOR_ID, MVF_PCI_DEVICE_ID_PF) },
	{ }
};
MODULE_DEVICE_TABLE(pci, mvf_core_pci_table);

static struct pci_driver mvf_core_driver = {
	.name = MVF_CORE_DRV_NAME,
	.id_table = mvf_core_pci_table,
	.probe = mvf_core_probe,
	.remove = mvf_core_remove,
	.sriov_configure = mvf_sriov_configure,
	.shutdown = mvf_core_shutdown,
	.err_handler = &mvf_core_err_handlers,
};

static int __init mvf_core_init(void)
{
	int ret;

	mvf_debugfs_init();
	ret = pci_register_driver(&mvf_core_driver);
	if (ret)
		mvf_debugfs_exit();
	return ret;
}
module_init(mvf_core_init);

static void __exit mvf_core_exit(void)
{
	pci_unregister_driver(&mvf_core_driver);
	mvf_debugfs_exit();
}
module_exit(mvf_core_exit);

MODULE_DESCRIPTION("MVF SR-IOV PF core driver");
MODULE_LICENSE("GPL");
