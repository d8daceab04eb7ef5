/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MVF emulated SR-IOV device: the PF command interface.
 *
 * Commands are 64-byte entries in a ring in host memory.  A doorbell write
 * only records the producer index and schedules a bottom half; the entries
 * are executed there, in order, one at a time.  Each entry is written back
 * (status, syndrome, out, then @own cleared) and may post a completion event
 * on the event queue, followed by MSI-X vector MVF_PF_EQ_VECTOR.
 *
 * A SUSPEND_VHCA that freezes a VF is written back only once every vCPU
 * has caught up with the memory map change that put the VF's frozen trap
 * over its BAR2 (mvf_cmd_sync_cpus()); later entries wait behind it.
 * The event queue also carries MVF_EVENT_FROZEN_ACCESS events of the VFs
 * (mvf_vf.c), posted here by the bottom half before and after the
 * commands it runs.
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/atomic.h"
#include "qemu/main-loop.h"
#include "hw/core/cpu.h"
#include "hw/pci/pci.h"
#include "hw/pci/msix.h"
#include "hw/pci/pcie_sriov.h"
#include "mvf.h"

/*
 * Waiting for the vCPUs.  Under TCG a vCPU keeps TLB entries that map a
 * VF's BAR2 straight onto its RAM until it runs the flush that
 * tcg_commit() queued for it when the frozen trap was enabled; a vCPU
 * thread that the host preempted in the middle of a translation block
 * could store through such an entry long after the freeze.  Work items run
 * on a vCPU in the order they were queued, so once an empty one queued
 * after the map change has run on every vCPU, none of them can bypass the
 * trap any more.  (KVM updates its memory slots synchronously; there the
 * wait costs one exit per vCPU.)  The items run with the BQL held, as
 * everything here does.
 */
struct MvfCpuSync {
    MvfPfState *pf;         /* NULL once the PF no longer waits */
    unsigned remaining;     /* work items not yet run, + 1 while queueing */
};

static void mvf_cmd_cpu_synced(CPUState *cpu, run_on_cpu_data data)
{
    MvfCpuSync *sync = data.host_ptr;

    assert(bql_locked());
    if (--sync->remaining) {
        return;
    }
    if (sync->pf) {
        sync->pf->cpu_sync = NULL;
        qemu_bh_schedule(sync->pf->cmd_bh);
    }
    g_free(sync);
}

static void mvf_cmd_sync_cpus(MvfPfState *pf)
{
    MvfCpuSync *sync = g_new0(MvfCpuSync, 1);
    CPUState *cpu;

    sync->pf = pf;
    sync->remaining = 1;
    pf->cpu_sync = sync;
    CPU_FOREACH(cpu) {
        sync->remaining++;
        async_run_on_cpu(cpu, mvf_cmd_cpu_synced, RUN_ON_CPU_HOST_PTR(sync));
    }
    mvf_cmd_cpu_synced(NULL, RUN_ON_CPU_HOST_PTR(sync));
}

/* Forget an executed command that waits for its write-back */
static void mvf_cmd_drop_held(MvfPfState *pf)
{
    if (pf->cpu_sync) {
        pf->cpu_sync->pf = NULL;    /* its work items only free it */
        pf->cpu_sync = NULL;
    }
    pf->held = false;
}

void mvf_cmd_exit(MvfPfState *pf)
{
    mvf_cmd_drop_held(pf);
}

/* Called by a VF with a frozen access event to post */
void mvf_cmd_vf_event(MvfPfState *pf)
{
    pf->vf_events = true;
    qemu_bh_schedule(pf->cmd_bh);
}

/*
 * The command interface stops: forget the executed command waiting for its
 * write-back and the VF events not posted yet (their event queue is gone)
 */
static void mvf_cmd_stop(MvfPfState *pf)
{
    PCIDevice *dev = PCI_DEVICE(pf);
    uint16_t i, n = pcie_sriov_num_vfs(dev);

    mvf_cmd_drop_held(pf);
    for (i = 0; i < n; i++) {
        MVF_VF(pcie_sriov_get_vf_at_index(dev, i))->frozen_event_pending =
            false;
    }
    pf->vf_events = false;
}

void mvf_cmd_reset(MvfPfState *pf, bool keep_config)
{
    mvf_cmd_stop(pf);
    pf->ctrl = 0;
    pf->status = 0;
    pf->cmdq_pi = 0;
    pf->cmdq_ci = 0;
    pf->eq_pi = 0;
    pf->eq_ci = 0;
    if (!keep_config) {
        pf->cmdq_base = 0;
        pf->cmdq_log_size = 0;
        pf->eq_base = 0;
        pf->eq_log_size = 0;
    }
}

static void mvf_cmd_fatal(MvfPfState *pf, const char *why)
{
    qemu_log_mask(LOG_GUEST_ERROR, "mvf-pf: command interface fatal: %s\n",
                  why);
    pf->status = MVF_PF_STATUS_FATAL;
}

static bool mvf_cmd_setup_ok(MvfPfState *pf)
{
    if (pf->cmdq_log_size < MVF_CMDQ_LOG_SIZE_MIN ||
        pf->cmdq_log_size > MVF_CMDQ_LOG_SIZE_MAX) {
        mvf_cmd_fatal(pf, "command queue log size out of range");
        return false;
    }
    if (pf->eq_log_size < MVF_EQ_LOG_SIZE_MIN ||
        pf->eq_log_size > MVF_EQ_LOG_SIZE_MAX) {
        mvf_cmd_fatal(pf, "event queue log size out of range");
        return false;
    }
    if (pf->cmdq_base & (MVF_CMD_ENTRY_SIZE - 1)) {
        mvf_cmd_fatal(pf, "command queue base not 64-byte aligned");
        return false;
    }
    if (pf->eq_base & (MVF_EQE_SIZE - 1)) {
        mvf_cmd_fatal(pf, "event queue base not 16-byte aligned");
        return false;
    }
    return true;
}

void mvf_cmd_ctrl_write(MvfPfState *pf, uint32_t val)
{
    if (val & MVF_PF_CTRL_RESET) {
        /* keeps the programmed queue addresses and sizes */
        mvf_cmd_reset(pf, true);
        return;
    }
    if (val & ~MVF_PF_CTRL_ENABLE) {
        qemu_log_mask(LOG_GUEST_ERROR, "mvf-pf: reserved CTRL bits 0x%x\n",
                      val);
    }
    if (!(val & MVF_PF_CTRL_ENABLE)) {
        pf->ctrl = 0;
        pf->status &= ~MVF_PF_STATUS_READY;
        mvf_cmd_stop(pf);
        return;
    }
    if (pf->ctrl & MVF_PF_CTRL_ENABLE) {
        return;                 /* already enabled (or failed): no change */
    }
    pf->ctrl = MVF_PF_CTRL_ENABLE;
    if (pf->status & MVF_PF_STATUS_FATAL) {
        return;                 /* needs a reset first */
    }
    if (!mvf_cmd_setup_ok(pf)) {
        return;
    }
    pf->cmdq_pi = 0;
    pf->cmdq_ci = 0;
    pf->eq_pi = 0;
    pf->eq_ci = 0;
    pf->status = MVF_PF_STATUS_READY;
}

void mvf_cmd_doorbell(MvfPfState *pf, uint16_t pi)
{
    if (!(pf->status & MVF_PF_STATUS_READY)) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "mvf-pf: command doorbell while not ready, ignored\n");
        return;
    }
    if ((uint16_t)(pi - pf->cmdq_ci) > (1u << pf->cmdq_log_size)) {
        mvf_cmd_fatal(pf, "command producer index beyond the ring");
        return;
    }
    pf->cmdq_pi = pi;
    qemu_bh_schedule(pf->cmd_bh);
}

void mvf_cmd_eq_ci_write(MvfPfState *pf, uint32_t ci)
{
    if (!(pf->status & MVF_PF_STATUS_READY)) {
        return;
    }
    /* the consumer can never pass what the device has produced */
    if (pf->eq_pi - ci > (1u << pf->eq_log_size)) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "mvf-pf: EQ_CI 0x%x outside [PI - size, PI], ignored\n",
                      ci);
        return;
    }
    pf->eq_ci = ci;
    qemu_bh_schedule(pf->cmd_bh);
}

void mvf_cmd_query_caps(MvfPfState *pf, MvfCmdResult *r)
{
    r->out[0] = MVF_CAPS;
    r->out[1] = pf->total_vfs;
    r->out[2] = (uint32_t)pf->devmem_size;
    r->out[3] = pf->devmem_size >> 32;
}

static bool mvf_cmd_eq_has_room(MvfPfState *pf)
{
    return pf->eq_pi - pf->eq_ci < (1u << pf->eq_log_size);
}

static bool mvf_cmd_post_event(MvfPfState *pf, uint8_t type, uint16_t vhca_id,
                               uint16_t token, uint16_t index, uint64_t data)
{
    PCIDevice *dev = PCI_DEVICE(pf);
    uint32_t slot = pf->eq_pi & ((1u << pf->eq_log_size) - 1);
    dma_addr_t addr = pf->eq_base + (dma_addr_t)slot * MVF_EQE_SIZE;
    struct mvf_eqe eqe = {
        .type = type,
        .phase = mvf_ring_phase(pf->eq_pi, pf->eq_log_size),
        .vhca_id = cpu_to_le16(vhca_id),
        .token = cpu_to_le16(token),
        .index = cpu_to_le16(index),
        .data = cpu_to_le64(data),
    };
    const size_t body = offsetof(struct mvf_eqe, vhca_id);

    /* everything but type/phase first, so a valid phase means whole entry */
    if (pci_dma_write(dev, addr + body, (uint8_t *)&eqe + body,
                      sizeof(eqe) - body) != MEMTX_OK) {
        return false;
    }
    smp_wmb();      /* entry body visible before the phase that validates it */
    if (pci_dma_write(dev, addr, &eqe, body) != MEMTX_OK) {
        return false;
    }
    pf->eq_pi++;
    msix_notify(dev, MVF_PF_EQ_VECTOR);
    return true;
}

/*
 * Post the frozen access events the VFs have pending, as far as the event
 * queue has room; the rest wait for EQ_CI.  False: fatal DMA error.
 */
static bool mvf_cmd_post_vf_events(MvfPfState *pf)
{
    PCIDevice *dev = PCI_DEVICE(pf);
    uint16_t i, n = pcie_sriov_num_vfs(dev);

    for (i = 0; i < n; i++) {
        MvfVfState *vf = MVF_VF(pcie_sriov_get_vf_at_index(dev, i));

        if (!vf->frozen_event_pending) {
            continue;
        }
        if (!mvf_cmd_eq_has_room(pf)) {
            return true;
        }
        if (!mvf_cmd_post_event(pf, MVF_EVENT_FROZEN_ACCESS,
                                mvf_vf_vhca_id(vf), 0, 0,
                                vf->frozen_accesses)) {
            mvf_cmd_fatal(pf, "cannot write an event queue entry");
            return false;
        }
        vf->frozen_event_pending = false;
    }
    pf->vf_events = false;
    return true;
}

static bool mvf_cmd_in_unused_zero(const struct mvf_cmd_entry *e,
                                   int first_unused)
{
    int i;

    for (i = first_unused; i < 4; i++) {
        if (e->in[i]) {
            return false;
        }
    }
    return true;
}

static void mvf_cmd_execute(MvfPfState *pf, const struct mvf_cmd_entry *e,
                            MvfCmdResult *r)
{
    uint16_t opcode = le16_to_cpu(e->opcode);
    uint16_t vhca_id = le16_to_cpu(e->vhca_id);
    uint32_t in0 = le32_to_cpu(e->in[0]);
    int used_in;
    MvfVfState *vf = NULL;

    switch (opcode) {
    case MVF_CMD_NOP:
    case MVF_CMD_QUERY_CAPS:
    case MVF_CMD_QUERY_VHCA_MIGRATION_STATE:
    case MVF_CMD_SAVE_VHCA_STATE:
    case MVF_CMD_LOAD_VHCA_STATE:
        used_in = 0;
        break;
    case MVF_CMD_SUSPEND_VHCA:
    case MVF_CMD_RESUME_VHCA:
        used_in = 1;
        break;
    default:
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_OPCODE, MVF_SYND_BAD_OPCODE);
        return;
    }

    if (e->rsvd0[0] || e->rsvd0[1] || e->rsvd0[2] ||
        (e->flags & ~MVF_CMD_F_EVENT) || !mvf_cmd_in_unused_zero(e, used_in)) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_RSVD_NOT_ZERO);
        return;
    }

    switch (opcode) {
    case MVF_CMD_NOP:
    case MVF_CMD_QUERY_CAPS:
        /* functions of the PF itself */
        if (vhca_id != 0) {
            mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_VHCA);
            return;
        }
        break;
    default:
        /* migration commands: a VF */
        if (vhca_id == 0) {
            mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_VHCA);
            return;
        }
        vf = mvf_pf_lookup_vf(pf, vhca_id, r);
        if (!vf) {
            return;
        }
        break;
    }

    switch (opcode) {
    case MVF_CMD_NOP:
        break;
    case MVF_CMD_QUERY_CAPS:
        mvf_cmd_query_caps(pf, r);
        break;
    case MVF_CMD_QUERY_VHCA_MIGRATION_STATE: {
        uint64_t need = mvf_mig_image_size(vf->devmem_size);

        r->out[0] = (uint32_t)need;
        r->out[1] = need >> 32;
        r->out[2] = mvf_vf_state_flags(vf);
        r->out[3] = vf->frozen_accesses;
        break;
    }
    case MVF_CMD_SUSPEND_VHCA:
        mvf_vf_suspend(vf, in0, r);
        break;
    case MVF_CMD_RESUME_VHCA:
        mvf_vf_resume(vf, in0, r);
        break;
    case MVF_CMD_SAVE_VHCA_STATE:
        mvf_mig_save(pf, vf, vhca_id, le64_to_cpu(e->sgl_addr),
                     le32_to_cpu(e->sgl_len), le32_to_cpu(e->data_len), r);
        break;
    case MVF_CMD_LOAD_VHCA_STATE:
        mvf_mig_load(pf, vf, le64_to_cpu(e->sgl_addr),
                     le32_to_cpu(e->sgl_len), le32_to_cpu(e->data_len), r);
        break;
    }
}

/* Write back the entry at the consumer index and post its event */
static bool mvf_cmd_write_back(MvfPfState *pf, struct mvf_cmd_entry *e,
                               const MvfCmdResult *r)
{
    PCIDevice *dev = PCI_DEVICE(pf);
    uint16_t index = pf->cmdq_ci;
    uint32_t slot = index & ((1u << pf->cmdq_log_size) - 1);
    dma_addr_t addr = pf->cmdq_base + (dma_addr_t)slot * MVF_CMD_ENTRY_SIZE;
    const size_t own_off = offsetof(struct mvf_cmd_entry, own);
    const size_t wb_off = offsetof(struct mvf_cmd_entry, status);
    const size_t wb_end = offsetof(struct mvf_cmd_entry, sgl_addr);
    int i;

    e->status = r->status;
    e->syndrome = cpu_to_le32(r->syndrome);
    for (i = 0; i < 4; i++) {
        e->out[i] = cpu_to_le32(r->out[i]);
    }
    e->own = 0;
    if (pci_dma_write(dev, addr + wb_off, (uint8_t *)e + wb_off,
                      wb_end - wb_off) != MEMTX_OK) {
        mvf_cmd_fatal(pf, "cannot write a command entry back");
        return false;
    }
    smp_wmb();      /* results visible before own is cleared */
    if (pci_dma_write(dev, addr + own_off, &e->own, 1) != MEMTX_OK) {
        mvf_cmd_fatal(pf, "cannot write a command entry back");
        return false;
    }
    pf->cmdq_ci++;

    if (e->flags & MVF_CMD_F_EVENT) {
        if (!mvf_cmd_post_event(pf, MVF_EVENT_CMD_DONE,
                                le16_to_cpu(e->vhca_id),
                                le16_to_cpu(e->token), slot,
                                r->status | ((uint64_t)r->syndrome << 32))) {
            mvf_cmd_fatal(pf, "cannot write an event queue entry");
            return false;
        }
    }
    return true;
}

/* Execute the entry at the consumer index; false: stop processing */
static bool mvf_cmd_one(MvfPfState *pf)
{
    PCIDevice *dev = PCI_DEVICE(pf);
    uint16_t index = pf->cmdq_ci;
    uint32_t slot = index & ((1u << pf->cmdq_log_size) - 1);
    dma_addr_t addr = pf->cmdq_base + (dma_addr_t)slot * MVF_CMD_ENTRY_SIZE;
    struct mvf_cmd_entry e;
    MvfCmdResult r = { 0 };

    if (pf->cpu_sync) {
        return false;           /* resumed when the vCPUs synced */
    }
    if (pf->held) {
        /* executed before the wait, event room checked then */
        pf->held = false;
        return mvf_cmd_write_back(pf, &pf->held_entry, &pf->held_result);
    }

    if (pci_dma_read(dev, addr, &e, sizeof(e)) != MEMTX_OK) {
        mvf_cmd_fatal(pf, "cannot read a command entry");
        return false;
    }
    if (e.own != MVF_CMD_OWN_HW) {
        /* rung before the entry was handed over: wait for the next ring */
        qemu_log_mask(LOG_GUEST_ERROR,
                      "mvf-pf: command %u not owned by the device\n", index);
        return false;
    }
    if ((e.flags & MVF_CMD_F_EVENT) && !mvf_cmd_eq_has_room(pf)) {
        return false;           /* event queue full: resume on EQ_CI */
    }

    mvf_cmd_execute(pf, &e, &r);

    if (r.sync_cpus) {
        pf->held_entry = e;
        pf->held_result = r;
        pf->held = true;
        mvf_cmd_sync_cpus(pf);
        return false;
    }
    return mvf_cmd_write_back(pf, &e, &r);
}

/* Post pending VF events, unless a command holds the room of its event */
static bool mvf_cmd_vf_events(MvfPfState *pf)
{
    if (!(pf->status & MVF_PF_STATUS_READY) || !pf->vf_events || pf->held) {
        return true;
    }
    return mvf_cmd_post_vf_events(pf);
}

void mvf_cmd_bh(void *opaque)
{
    MvfPfState *pf = opaque;
    int budget = MVF_CMD_BUDGET;

    if (!mvf_cmd_vf_events(pf)) {
        return;
    }
    while ((pf->status & MVF_PF_STATUS_READY) && pf->cmdq_ci != pf->cmdq_pi) {
        if (!budget--) {
            qemu_bh_schedule(pf->cmd_bh);
            return;
        }
        if (!mvf_cmd_one(pf)) {
            break;
        }
    }
    /* events that came up while the commands ran */
    mvf_cmd_vf_events(pf);
}
