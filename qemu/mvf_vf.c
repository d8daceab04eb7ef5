/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MVF emulated SR-IOV device: the virtual function.
 *
 * BAR0 holds the queue pair registers, counters and scratch registers,
 * BAR2 is the on-device memory (RAM, directly mappable), BAR4 the MSI-X
 * table.  The queue pair engine is in mvf_queue.c.  The suspend state
 * (quiesced, frozen) is driven by the PF's SUSPEND/RESUME_VHCA commands.
 *
 * A frozen function traps every access that reaches BAR0 or BAR2, from a
 * CPU or from another device's DMA: reads return all-ones, writes are
 * dropped and the access is counted in frozen_accesses.  BAR0 does it in its
 * handlers; BAR2 is a container in which an MMIO region, frozen_trap, covers
 * the RAM and is enabled only while the function is frozen.  Migration
 * (mvf_mig.c) uses devmem_ptr directly and never sees the trap; it follows
 * the changes to the RAM through QEMU's dirty log of it (DIRTY_MEMORY_VGA),
 * switched on for the VF's whole life.
 *
 * The VF's dirty page tracker (mvf_track.c) is not function state: only
 * disabling the VF or unplugging it ends it here.
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/cutils.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie.h"
#include "hw/pci/pcie_sriov.h"
#include "hw/pci/msix.h"
#include "exec/cpu-common.h"
#include "migration/vmstate.h"
#include "mvf.h"

#define MVF_VF_EXP_OFFSET       0xa0
#define MVF_VF_AER_OFFSET       0x100
#define MVF_VF_ARI_OFFSET       0x150
#define MVF_VF_PM_OFFSET        0x60

MvfVfState *mvf_pf_lookup_vf(MvfPfState *pf, uint16_t vhca_id,
                             MvfCmdResult *r)
{
    PCIDevice *dev = PCI_DEVICE(pf);

    if (vhca_id == 0 || vhca_id > pf->total_vfs) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_RESOURCE, MVF_SYND_BAD_VHCA);
        return NULL;
    }
    if (vhca_id > pcie_sriov_num_vfs(dev)) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_RESOURCE, MVF_SYND_VF_DISABLED);
        return NULL;
    }
    return MVF_VF(pcie_sriov_get_vf_at_index(dev, vhca_id - 1));
}

uint32_t mvf_vf_state_flags(MvfVfState *vf)
{
    return (vf->quiesced ? MVF_VHCA_STATE_QUIESCED : 0) |
           (vf->frozen ? MVF_VHCA_STATE_FROZEN : 0) |
           (vf->save && !vf->save->complete ? MVF_VHCA_STATE_SAVING : 0) |
           (vf->load ? MVF_VHCA_STATE_LOADING : 0);
}

uint16_t mvf_vf_vhca_id(MvfVfState *vf)
{
    return pcie_sriov_vf_number(PCI_DEVICE(vf)) + 1;
}

void mvf_vf_set_frozen(MvfVfState *vf, bool frozen)
{
    if (frozen == vf->frozen) {
        return;
    }
    vf->frozen = frozen;
    vf->log_synced = false;
    if (frozen) {
        /* the first access of this freeze period is reported */
        vf->frozen_event_armed = true;
    } else {
        mvf_mig_vf_thawed(vf);
    }
    memory_region_set_enabled(&vf->frozen_trap, frozen);
}

/* An access reached the frozen function: count it, report the first one */
static void mvf_vf_trap(MvfVfState *vf)
{
    PCIDevice *dev = PCI_DEVICE(vf);

    if (vf->frozen_accesses != UINT32_MAX) {
        vf->frozen_accesses++;
    }
    if (vf->frozen_event_armed) {
        vf->frozen_event_armed = false;
        vf->frozen_event_pending = true;
        mvf_cmd_vf_event(MVF_PF(pcie_sriov_get_pf(dev)));
    }
}

static uint64_t mvf_vf_trap_read(void *opaque, hwaddr addr, unsigned size)
{
    mvf_vf_trap(opaque);
    return UINT64_MAX;
}

static void mvf_vf_trap_write(void *opaque, hwaddr addr, uint64_t val,
                              unsigned size)
{
    mvf_vf_trap(opaque);
}

/* Any size and alignment the RAM under it takes, one count per access */
static const MemoryRegionOps mvf_vf_trap_ops = {
    .read = mvf_vf_trap_read,
    .write = mvf_vf_trap_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
};

void mvf_vf_suspend(MvfVfState *vf, uint32_t mode, MvfCmdResult *r)
{
    switch (mode) {
    case MVF_SUSPEND_INITIATOR:
        /*
         * Queue work runs to completion in the bottom half, under the BQL
         * like this command, so nothing is outstanding once this returns.
         */
        vf->quiesced = true;
        break;
    case MVF_SUSPEND_RESPONDER:
        if (!vf->quiesced) {
            mvf_cmd_fail(r, MVF_CMD_STAT_BAD_STATE, MVF_SYND_NOT_QUIESCED);
            return;
        }
        if (!vf->frozen) {
            mvf_vf_set_frozen(vf, true);
            /* done once no vCPU can bypass frozen_trap (see mvf_cmd.c) */
            r->sync_cpus = true;
        }
        break;
    default:
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_MODE);
        return;
    }
}

void mvf_vf_resume(MvfVfState *vf, uint32_t mode, MvfCmdResult *r)
{
    switch (mode) {
    case MVF_SUSPEND_INITIATOR:
        if (vf->frozen) {
            mvf_cmd_fail(r, MVF_CMD_STAT_BAD_STATE, MVF_SYND_STILL_FROZEN);
            return;
        }
        vf->quiesced = false;
        mvf_vf_kick(vf);
        break;
    case MVF_SUSPEND_RESPONDER:
        if (vf->frozen) {
            mvf_vf_set_frozen(vf, false);
        }
        break;
    default:
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_MODE);
        return;
    }
}

void mvf_vf_clear_devmem(MvfVfState *vf)
{
    RAMBlock *rb = vf->devmem.ram_block;

    /* dropping the pages is cheap and reads back as zeroes */
    if (!rb || ram_block_discard_range(rb, 0, vf->devmem_size) < 0 ||
        !buffer_is_zero(vf->devmem_ptr, MIN(vf->devmem_size, 4096))) {
        memset(vf->devmem_ptr, 0, vf->devmem_size);
    }
}

static uint32_t mvf_vf_status(MvfVfState *vf)
{
    return (vf->quiesced ? MVF_VF_STATUS_QUIESCED : 0) |
           (vf->frozen ? MVF_VF_STATUS_FROZEN : 0) |
           vf->live.qp_error;
}

static uint32_t mvf_vf_reg_read(MvfVfState *vf, hwaddr addr)
{
    MvfVfLive *l = &vf->live;

    if (addr >= MVF_VF_REG_CNT_BASE &&
        addr < MVF_VF_REG_CNT(MVF_VF_NUM_COUNTERS)) {
        uint64_t c = l->cnt[(addr - MVF_VF_REG_CNT_BASE) / 8];

        return (addr & 4) ? c >> 32 : (uint32_t)c;
    }
    if (addr >= MVF_VF_REG_SCRATCH_BASE &&
        addr < MVF_VF_REG_SCRATCH(MVF_VF_NUM_SCRATCH)) {
        return l->scratch[(addr - MVF_VF_REG_SCRATCH_BASE) / 4];
    }

    switch (addr) {
    case MVF_VF_REG_MAGIC:
        return MVF_MAGIC_VF;
    case MVF_VF_REG_VERSION:
        return MVF_IF_VERSION;
    case MVF_VF_REG_STATUS:
        return mvf_vf_status(vf);
    case MVF_VF_REG_CTRL:
        return l->ctrl;
    case MVF_VF_REG_SQ_BASE_LO:
        return (uint32_t)l->sq.base;
    case MVF_VF_REG_SQ_BASE_HI:
        return l->sq.base >> 32;
    case MVF_VF_REG_SQ_LOG_SIZE:
        return l->sq.log_size;
    case MVF_VF_REG_SQ_PI:
        return l->sq.pi;
    case MVF_VF_REG_RQ_BASE_LO:
        return (uint32_t)l->rq.base;
    case MVF_VF_REG_RQ_BASE_HI:
        return l->rq.base >> 32;
    case MVF_VF_REG_RQ_LOG_SIZE:
        return l->rq.log_size;
    case MVF_VF_REG_RQ_PI:
        return l->rq.pi;
    case MVF_VF_REG_CQ_BASE_LO:
        return (uint32_t)l->cq.base;
    case MVF_VF_REG_CQ_BASE_HI:
        return l->cq.base >> 32;
    case MVF_VF_REG_CQ_LOG_SIZE:
        return l->cq.log_size;
    case MVF_VF_REG_CQ_CI:
        return l->cq.ci;
    case MVF_VF_REG_SQ_CI:
        return l->sq.ci;
    case MVF_VF_REG_RQ_CI:
        return l->rq.ci;
    case MVF_VF_REG_CQ_PI:
        return l->cq.pi;
    case MVF_VF_REG_DEVMEM_SIZE_LO:
        return (uint32_t)vf->devmem_size;
    case MVF_VF_REG_DEVMEM_SIZE_HI:
        return vf->devmem_size >> 32;
    default:
        return 0;
    }
}

static void mvf_vf_set_log_size(MvfQueue *q, uint32_t val, const char *name)
{
    if (val != 0 &&
        (val < MVF_VF_Q_LOG_SIZE_MIN || val > MVF_VF_Q_LOG_SIZE_MAX)) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "mvf-vf: %s log size %u out of range, ignored\n",
                      name, val);
        return;
    }
    q->log_size = val;
}

static void mvf_vf_reg_write(MvfVfState *vf, hwaddr addr, uint32_t val)
{
    MvfVfLive *l = &vf->live;

    if (addr >= MVF_VF_REG_SCRATCH_BASE &&
        addr < MVF_VF_REG_SCRATCH(MVF_VF_NUM_SCRATCH)) {
        l->scratch[(addr - MVF_VF_REG_SCRATCH_BASE) / 4] = val;
        return;
    }

    switch (addr) {
    case MVF_VF_REG_CTRL:
        if (val & ~MVF_VF_CTRL_MASK) {
            qemu_log_mask(LOG_GUEST_ERROR,
                          "mvf-vf: reserved CTRL bits 0x%x dropped\n", val);
        }
        l->ctrl = val & MVF_VF_CTRL_MASK;
        if (!(l->ctrl & MVF_VF_CTRL_QP_ENABLE)) {
            /* disabling the queue pair clears its error */
            l->qp_error = 0;
        }
        mvf_vf_kick(vf);
        break;
    case MVF_VF_REG_SQ_BASE_LO:
        l->sq.base = deposit64(l->sq.base, 0, 32, val);
        break;
    case MVF_VF_REG_SQ_BASE_HI:
        l->sq.base = deposit64(l->sq.base, 32, 32, val);
        break;
    case MVF_VF_REG_SQ_LOG_SIZE:
        mvf_vf_set_log_size(&l->sq, val, "SQ");
        break;
    case MVF_VF_REG_SQ_PI:
        l->sq.pi = val;
        l->cnt[MVF_VF_CNT_DOORBELLS]++;
        mvf_vf_kick(vf);
        break;
    case MVF_VF_REG_RQ_BASE_LO:
        l->rq.base = deposit64(l->rq.base, 0, 32, val);
        break;
    case MVF_VF_REG_RQ_BASE_HI:
        l->rq.base = deposit64(l->rq.base, 32, 32, val);
        break;
    case MVF_VF_REG_RQ_LOG_SIZE:
        mvf_vf_set_log_size(&l->rq, val, "RQ");
        break;
    case MVF_VF_REG_RQ_PI:
        l->rq.pi = val;
        l->cnt[MVF_VF_CNT_DOORBELLS]++;
        mvf_vf_kick(vf);
        break;
    case MVF_VF_REG_CQ_BASE_LO:
        l->cq.base = deposit64(l->cq.base, 0, 32, val);
        break;
    case MVF_VF_REG_CQ_BASE_HI:
        l->cq.base = deposit64(l->cq.base, 32, 32, val);
        break;
    case MVF_VF_REG_CQ_LOG_SIZE:
        mvf_vf_set_log_size(&l->cq, val, "CQ");
        break;
    case MVF_VF_REG_CQ_CI:
        /* the consumer can never pass what the device has produced */
        if (l->cq.log_size && l->cq.pi - val > (1u << l->cq.log_size)) {
            qemu_log_mask(LOG_GUEST_ERROR,
                          "mvf-vf: CQ_CI 0x%x outside [PI - size, PI]\n", val);
            return;
        }
        l->cq.ci = val;
        mvf_vf_kick(vf);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR,
                      "mvf-vf: write to read-only/unknown register 0x%"
                      HWADDR_PRIx "\n", addr);
        break;
    }
}

/*
 * The registers are 32 bits wide; a 64-bit access is two of them, low word
 * first, but one access for the frozen trap.
 */
static uint64_t mvf_vf_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    MvfVfState *vf = opaque;
    uint64_t val;

    if (vf->frozen) {
        mvf_vf_trap(vf);
        return UINT64_MAX;
    }
    val = mvf_vf_reg_read(vf, addr);
    if (size == 8) {
        val |= (uint64_t)mvf_vf_reg_read(vf, addr + 4) << 32;
    }
    return val;
}

static void mvf_vf_mmio_write(void *opaque, hwaddr addr, uint64_t val,
                              unsigned size)
{
    MvfVfState *vf = opaque;

    if (vf->frozen) {
        /* a frozen function does not change: the write is dropped */
        mvf_vf_trap(vf);
        return;
    }
    mvf_vf_reg_write(vf, addr, val);
    if (size == 8) {
        mvf_vf_reg_write(vf, addr + 4, val >> 32);
    }
}

static const MemoryRegionOps mvf_vf_mmio_ops = {
    .read = mvf_vf_mmio_read,
    .write = mvf_vf_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 4,
        .max_access_size = 8,
    },
    .impl = {
        .min_access_size = 4,
        .max_access_size = 8,
    },
};

static void mvf_vf_realize(PCIDevice *dev, Error **errp)
{
    MvfVfState *vf = MVF_VF(dev);
    MvfPfState *pf = MVF_PF(pcie_sriov_get_pf(dev));
    g_autofree char *name = NULL;
    int i;

    vf->devmem_size = pf->devmem_size;
    vf->devmem_pages = vf->devmem_size / MVF_DEVMEM_PAGE_SIZE;
    dev->config_write = mvf_write_config;

    memory_region_init_io(&vf->mmio, OBJECT(vf), &mvf_vf_mmio_ops, vf,
                          "mvf-vf-regs", MVF_VF_BAR0_SIZE);
    pci_register_bar(dev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &vf->mmio);

    name = g_strdup_printf("mvf-vf%u-devmem", pcie_sriov_vf_number(dev));
    if (!memory_region_init_ram(&vf->devmem, OBJECT(vf), name,
                                vf->devmem_size, errp)) {
        return;
    }
    vf->devmem_ptr = memory_region_get_ram_ptr(&vf->devmem);
    /* every change to the RAM is logged, for SAVE (mvf_mig.c) */
    memory_region_set_log(&vf->devmem, true, DIRTY_MEMORY_VGA);
    memory_region_init(&vf->devmem_bar, OBJECT(vf), "mvf-vf-bar2",
                       vf->devmem_size);
    memory_region_add_subregion(&vf->devmem_bar, 0, &vf->devmem);
    memory_region_init_io(&vf->frozen_trap, OBJECT(vf), &mvf_vf_trap_ops, vf,
                          "mvf-vf-frozen-trap", vf->devmem_size);
    memory_region_set_enabled(&vf->frozen_trap, false);
    memory_region_add_subregion_overlap(&vf->devmem_bar, 0, &vf->frozen_trap,
                                        1);
    pci_register_bar(dev, MVF_VF_DEVMEM_BAR, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64 |
                     PCI_BASE_ADDRESS_MEM_PREFETCH, &vf->devmem_bar);

    if (pcie_endpoint_cap_init(dev, MVF_VF_EXP_OFFSET) < 0) {
        error_setg(errp, "mvf-vf: cannot add the PCIe capability");
        return;
    }
    mvf_ras_link_init(dev, pf);
    /*
     * PCI PM: D0 and D3hot, No_Soft_Reset clear, so that D3hot -> D0
     * resets the function (mvf_write_config()): one more reset method.
     */
    if (pci_pm_init(dev, MVF_VF_PM_OFFSET, errp) < 0) {
        pcie_cap_exit(dev);
        return;
    }
    pci_set_word(dev->config + dev->pm_cap + PCI_PM_PMC, PCI_PM_CAP_VER_1_2);
    pci_set_word(dev->wmask + dev->pm_cap + PCI_PM_CTRL,
                 PCI_PM_CTRL_STATE_MASK);
    if (msix_init_exclusive_bar(dev, MVF_VF_MSIX_VECTORS, MVF_VF_MSIX_BAR,
                                errp)) {
        pcie_cap_exit(dev);
        return;
    }
    for (i = 0; i < MVF_VF_MSIX_VECTORS; i++) {
        msix_vector_use(dev, i);
    }
    pcie_cap_flr_init(dev);
    pcie_cap_deverr_init(dev);
    if (pcie_aer_init(dev, PCI_ERR_VER, MVF_VF_AER_OFFSET, PCI_ERR_SIZEOF,
                      errp) < 0) {
        msix_uninit_exclusive_bar(dev);
        pcie_cap_exit(dev);
        return;
    }
    pcie_ari_init(dev, MVF_VF_ARI_OFFSET);

    vf->bh = qemu_bh_new_guarded(mvf_vf_qp_bh, vf,
                                 &DEVICE(dev)->mem_reentrancy_guard);
}

static void mvf_vf_exit(PCIDevice *dev)
{
    MvfVfState *vf = MVF_VF(dev);

    qemu_bh_delete(vf->bh);
    mvf_mig_vf_reset(vf);
    mvf_track_free(vf);
    pcie_aer_exit(dev);
    msix_uninit_exclusive_bar(dev);
    pcie_cap_exit(dev);
}

/*
 * FLR, D3hot -> D0, VF enable/disable and PF reset all come here.  The
 * dirty page tracker outlives a function reset and ends with the VF:
 * disabling a VF (also by PF FLR or bus reset, which disable SR-IOV)
 * clears its enabled flag before it resets it.
 */
static void mvf_vf_reset_hold(Object *obj, ResetType type)
{
    MvfVfState *vf = MVF_VF(obj);

    if (!PCI_DEVICE(obj)->enabled) {
        mvf_track_free(vf);
    }
    pcie_cap_deverr_reset(PCI_DEVICE(obj));
    if (vf->bh) {
        qemu_bh_cancel(vf->bh);
    }
    /* open sessions close; commands still queued for the VF fail */
    mvf_mig_vf_reset(vf);
    memset(&vf->live, 0, sizeof(vf->live));
    vf->quiesced = false;
    if (vf->devmem_ptr) {
        mvf_vf_set_frozen(vf, false);
        mvf_vf_clear_devmem(vf);
    }
    vf->frozen = false;
    vf->frozen_accesses = 0;
    vf->frozen_event_armed = false;
    vf->frozen_event_pending = false;
}

static const VMStateDescription mvf_vf_vmstate = {
    .name = "mvf-vf",
    .unmigratable = 1,
};

static void mvf_vf_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    k->realize = mvf_vf_realize;
    k->exit = mvf_vf_exit;
    k->vendor_id = MVF_PCI_VENDOR_ID;
    k->device_id = MVF_PCI_DEVICE_ID_VF;
    k->revision = MVF_PCI_REVISION;
    k->class_id = PCI_CLASS_NETWORK_OTHER;
    rc->phases.hold = mvf_vf_reset_hold;

    dc->desc = "MVF emulated SR-IOV device (VF)";
    dc->vmsd = &mvf_vf_vmstate;
    dc->user_creatable = false;
    set_bit(DEVICE_CATEGORY_NETWORK, dc->categories);
}

static const TypeInfo mvf_vf_info = {
    .name = TYPE_MVF_VF,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(MvfVfState),
    .class_init = mvf_vf_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_PCIE_DEVICE },
        { }
    },
};

static void mvf_vf_register_types(void)
{
    type_register_static(&mvf_vf_info);
}

type_init(mvf_vf_register_types)
