/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MVF emulated SR-IOV device: the physical function.
 *
 * The PF exposes a register BAR with the command interface (see mvf_cmd.c)
 * and an MSI-X BAR, and carries the SR-IOV capability that instantiates the
 * mvf-vf functions (mvf_vf.c).
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/units.h"
#include "qemu/module.h"
#include "qapi/error.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie.h"
#include "hw/pci/pcie_aer.h"
#include "hw/pci/pcie_sriov.h"
#include "hw/pci/msix.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "mvf.h"

#define MVF_PF_EXP_OFFSET       0xa0
#define MVF_PF_AER_OFFSET       0x100
#define MVF_PF_ARI_OFFSET       0x150
#define MVF_PF_SRIOV_OFFSET     0x160

static uint64_t mvf_pf_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    MvfPfState *pf = opaque;

    switch (addr) {
    case MVF_PF_REG_MAGIC:
        return MVF_MAGIC_PF;
    case MVF_PF_REG_VERSION:
        return MVF_IF_VERSION;
    case MVF_PF_REG_CAPS:
        return mvf_pf_caps(pf);
    case MVF_PF_REG_STATUS:
        return pf->status;
    case MVF_PF_REG_CTRL:
        return pf->ctrl;
    case MVF_PF_REG_CMDQ_BASE_LO:
        return (uint32_t)pf->cmdq_base;
    case MVF_PF_REG_CMDQ_BASE_HI:
        return pf->cmdq_base >> 32;
    case MVF_PF_REG_CMDQ_LOG_SIZE:
        return pf->cmdq_log_size;
    case MVF_PF_REG_CMDQ_CI:
        return pf->cmdq_ci;
    case MVF_PF_REG_EQ_BASE_LO:
        return (uint32_t)pf->eq_base;
    case MVF_PF_REG_EQ_BASE_HI:
        return pf->eq_base >> 32;
    case MVF_PF_REG_EQ_LOG_SIZE:
        return pf->eq_log_size;
    case MVF_PF_REG_EQ_CI:
        return pf->eq_ci;
    case MVF_PF_REG_MAX_VFS:
        return pf->total_vfs;
    case MVF_PF_REG_DEVMEM_SIZE_LO:
        return (uint32_t)pf->devmem_size;
    case MVF_PF_REG_DEVMEM_SIZE_HI:
        return pf->devmem_size >> 32;
    default:
        /* includes the write-only doorbell */
        return 0;
    }
}

static void mvf_pf_set_queue_reg(MvfPfState *pf, hwaddr addr, uint32_t val)
{
    if (pf->status & MVF_PF_STATUS_READY) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "mvf-pf: queue register 0x%" HWADDR_PRIx
                      " written while enabled, ignored\n", addr);
        return;
    }
    switch (addr) {
    case MVF_PF_REG_CMDQ_BASE_LO:
        pf->cmdq_base = deposit64(pf->cmdq_base, 0, 32, val);
        break;
    case MVF_PF_REG_CMDQ_BASE_HI:
        pf->cmdq_base = deposit64(pf->cmdq_base, 32, 32, val);
        break;
    case MVF_PF_REG_CMDQ_LOG_SIZE:
        pf->cmdq_log_size = val;
        break;
    case MVF_PF_REG_EQ_BASE_LO:
        pf->eq_base = deposit64(pf->eq_base, 0, 32, val);
        break;
    case MVF_PF_REG_EQ_BASE_HI:
        pf->eq_base = deposit64(pf->eq_base, 32, 32, val);
        break;
    case MVF_PF_REG_EQ_LOG_SIZE:
        pf->eq_log_size = val;
        break;
    }
}

static void mvf_pf_mmio_write(void *opaque, hwaddr addr, uint64_t val,
                              unsigned size)
{
    MvfPfState *pf = opaque;

    switch (addr) {
    case MVF_PF_REG_CTRL:
        mvf_cmd_ctrl_write(pf, val);
        break;
    case MVF_PF_REG_CMDQ_BASE_LO:
    case MVF_PF_REG_CMDQ_BASE_HI:
    case MVF_PF_REG_CMDQ_LOG_SIZE:
    case MVF_PF_REG_EQ_BASE_LO:
    case MVF_PF_REG_EQ_BASE_HI:
    case MVF_PF_REG_EQ_LOG_SIZE:
        mvf_pf_set_queue_reg(pf, addr, val);
        break;
    case MVF_PF_REG_CMDQ_PI:
        mvf_cmd_doorbell(pf, val);
        break;
    case MVF_PF_REG_EQ_CI:
        mvf_cmd_eq_ci_write(pf, val);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR,
                      "mvf-pf: write to read-only/unknown register 0x%"
                      HWADDR_PRIx "\n", addr);
        break;
    }
}

static const MemoryRegionOps mvf_pf_mmio_ops = {
    .read = mvf_pf_mmio_read,
    .write = mvf_pf_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 4,
        .max_access_size = 8,
    },
    .impl = {
        .min_access_size = 4,
        .max_access_size = 4,
    },
};

#define MVF_PM_D0               0
#define MVF_PM_D3HOT            3

static uint16_t mvf_pm_state(PCIDevice *dev)
{
    if (!(dev->cap_present & QEMU_PCI_CAP_PM)) {
        return MVF_PM_D0;
    }
    return pci_get_word(dev->config + dev->pm_cap + PCI_PM_CTRL) &
           PCI_PM_CTRL_STATE_MASK;
}

/*
 * Config space writes of both PF and VFs: the standard handling (on the PF,
 * VF enable/disable resets the VFs through pci_set_enabled()), FLR, the
 * AER capability's error log, and the function reset of a D3hot -> D0
 * transition of a function with a PM capability (the VFs) whose
 * No_Soft_Reset bit is clear: the same reset as FLR.
 */
void mvf_write_config(PCIDevice *dev, uint32_t addr, uint32_t val, int len)
{
    uint16_t pm_old = mvf_pm_state(dev);

    pci_default_write_config(dev, addr, val, len);
    pcie_cap_flr_write_config(dev, addr, val, len);
    pcie_aer_write_config(dev, addr, val, len);
    if (pm_old == MVF_PM_D3HOT && mvf_pm_state(dev) == MVF_PM_D0 &&
        !(pci_get_word(dev->config + dev->pm_cap + PCI_PM_CTRL) &
          PCI_PM_CTRL_NO_SOFT_RESET)) {
        pci_device_reset(dev);
    }
}

static void mvf_pf_realize(PCIDevice *dev, Error **errp)
{
    MvfPfState *pf = MVF_PF(dev);
    int i;

    if (pf->total_vfs < 1) {
        error_setg(errp, "total-vfs must be at least 1");
        return;
    }
    if (pf->devmem_size < 1 * MiB || !is_power_of_2(pf->devmem_size)) {
        error_setg(errp, "devmem-size must be a power of two >= 1M");
        return;
    }
    if (pf->devmem_size > MVF_DEVMEM_MAX) {
        error_setg(errp, "devmem-size must be at most 16G");
        return;
    }
    if (pf->track_capacity < MVF_TRACK_CAPACITY_MIN ||
        pf->track_capacity > MVF_TRACK_CAPACITY_MAX) {
        error_setg(errp, "track-capacity must be %u..%u pages",
                   MVF_TRACK_CAPACITY_MIN, MVF_TRACK_CAPACITY_MAX);
        return;
    }

    dev->config_write = mvf_write_config;
    pci_config_set_interrupt_pin(dev->config, 1);

    memory_region_init_io(&pf->mmio, OBJECT(pf), &mvf_pf_mmio_ops, pf,
                          "mvf-pf-regs", MVF_PF_BAR0_SIZE);
    pci_register_bar(dev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &pf->mmio);

    if (pcie_endpoint_cap_init(dev, MVF_PF_EXP_OFFSET) < 0) {
        error_setg(errp, "mvf-pf: cannot add the PCIe capability");
        return;
    }
    mvf_ras_init(dev);      /* the link, before the VFs copy it */
    if (msix_init_exclusive_bar(dev, MVF_PF_MSIX_VECTORS, MVF_PF_MSIX_BAR,
                                errp)) {
        pcie_cap_exit(dev);
        return;
    }
    for (i = 0; i < MVF_PF_MSIX_VECTORS; i++) {
        msix_vector_use(dev, i);
    }

    pcie_cap_flr_init(dev);
    pcie_cap_deverr_init(dev);      /* the OS enables error reporting */
    if (pcie_aer_init(dev, PCI_ERR_VER, MVF_PF_AER_OFFSET, PCI_ERR_SIZEOF,
                      errp) < 0) {
        goto fail_msix;
    }
    pcie_ari_init(dev, MVF_PF_ARI_OFFSET);

    if (!pcie_sriov_pf_init(dev, MVF_PF_SRIOV_OFFSET, TYPE_MVF_VF,
                            MVF_PCI_DEVICE_ID_VF, pf->total_vfs,
                            pf->total_vfs, MVF_VF_OFFSET, MVF_VF_STRIDE,
                            errp)) {
        goto fail_aer;
    }
    pcie_sriov_pf_init_vf_bar(dev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                              PCI_BASE_ADDRESS_MEM_TYPE_64, MVF_VF_BAR0_SIZE);
    pcie_sriov_pf_init_vf_bar(dev, MVF_VF_DEVMEM_BAR,
                              PCI_BASE_ADDRESS_SPACE_MEMORY |
                              PCI_BASE_ADDRESS_MEM_TYPE_64 |
                              PCI_BASE_ADDRESS_MEM_PREFETCH,
                              pf->devmem_size);
    pcie_sriov_pf_init_vf_bar(dev, MVF_VF_MSIX_BAR,
                              PCI_BASE_ADDRESS_SPACE_MEMORY, 4096);

    pf->cmd_bh = qemu_bh_new_guarded(mvf_cmd_bh, pf,
                                     &DEVICE(dev)->mem_reentrancy_guard);
    pf->log_bh = qemu_bh_new(mvf_cmd_log_bh, pf);
    mvf_cmd_init(pf);
    mvf_cmd_reset(pf, false);
    return;

fail_aer:
    pcie_aer_exit(dev);
fail_msix:
    msix_uninit_exclusive_bar(dev);
    pcie_cap_exit(dev);
}

static void mvf_pf_exit(PCIDevice *dev)
{
    MvfPfState *pf = MVF_PF(dev);

    mvf_cmd_exit(pf);
    qemu_bh_delete(pf->cmd_bh);
    qemu_bh_delete(pf->log_bh);
    pcie_sriov_pf_exit(dev);
    pcie_aer_exit(dev);
    msix_uninit_exclusive_bar(dev);
    pcie_cap_exit(dev);
}

static void mvf_pf_reset_hold(Object *obj, ResetType type)
{
    pcie_cap_deverr_reset(PCI_DEVICE(obj));
    mvf_cmd_reset(MVF_PF(obj), false);
}

static const Property mvf_pf_properties[] = {
    DEFINE_PROP_UINT16("total-vfs", MvfPfState, total_vfs, 8),
    DEFINE_PROP_SIZE("devmem-size", MvfPfState, devmem_size, 64 * MiB),
    DEFINE_PROP_BOOL("dirty-track", MvfPfState, dirty_track, true),
    DEFINE_PROP_UINT32("track-capacity", MvfPfState, track_capacity,
                       MVF_TRACK_CAPACITY_DEF),
};

static char *mvf_pf_get_track_stats(Object *obj, Error **errp)
{
    return mvf_track_stats(MVF_PF(obj));
}

static const VMStateDescription mvf_pf_vmstate = {
    .name = "mvf-pf",
    .unmigratable = 1,
};

static void mvf_pf_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    k->realize = mvf_pf_realize;
    k->exit = mvf_pf_exit;
    k->vendor_id = MVF_PCI_VENDOR_ID;
    k->device_id = MVF_PCI_DEVICE_ID_PF;
    k->revision = MVF_PCI_REVISION;
    k->class_id = PCI_CLASS_NETWORK_OTHER;
    rc->phases.hold = mvf_pf_reset_hold;

    dc->desc = "MVF emulated SR-IOV device with VF live migration (PF)";
    dc->vmsd = &mvf_pf_vmstate;
    device_class_set_props(dc, mvf_pf_properties);
    object_class_property_set_description(klass, "total-vfs",
        "number of virtual functions (TotalVFs), 1..255");
    object_class_property_set_description(klass, "devmem-size",
        "on-device memory per VF (VF BAR2), power of two, 1M..16G");
    object_class_property_set_description(klass, "dirty-track",
        "dirty page tracker commands (MVF_CAP_DIRTY_TRACK)");
    object_class_property_set_description(klass, "track-capacity",
        "most pages a VF's dirty page tracker stores, 64..16M");
    object_class_property_add_str(klass, "x-track-stats",
                                  mvf_pf_get_track_stats, NULL);
    object_class_property_set_description(klass, "x-track-stats",
        "the VFs' dirty page trackers, for debugging (read only)");
    set_bit(DEVICE_CATEGORY_NETWORK, dc->categories);
    mvf_ras_class_init(klass);
}

static const TypeInfo mvf_pf_info = {
    .name = TYPE_MVF_PF,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(MvfPfState),
    .class_init = mvf_pf_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_PCIE_DEVICE },
        { }
    },
};

static void mvf_pf_register_types(void)
{
    type_register_static(&mvf_pf_info);
}

type_init(mvf_pf_register_types)
