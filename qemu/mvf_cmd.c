/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MVF emulated SR-IOV device: the PF command interface.
 *
 * Commands are 64-byte entries in a ring in host memory.  A doorbell write
 * only records the producer index and schedules a bottom half, which
 *
 *  1. fetches every posted entry in order (CMDQ_CI counts them), copies it
 *     and remembers its slot; the commands of the PF itself (vhca_id 0,
 *     or one beyond TotalVFs) are executed at once, those of VF n go to
 *     the FIFO of function n;
 *  2. makes a pass over the functions, round robin: the head command of
 *     each FIFO runs one step, a whole short command or a bounded slice
 *     of a long one (SAVE, LOAD, QUERY: mvf_mig.c), at most
 *     MVF_PASS_STEPS steps per run, and reschedules itself while work is
 *     left, so one VF's long SAVE never holds up another VF or the main
 *     loop;
 *  3. writes the finished commands back in the order they finished
 *     (status, syndrome, out, then @own cleared) and posts their events,
 *     as far as the event queue has room; the rest wait for EQ_CI.
 *
 * So the commands of one function complete in the order they were posted
 * and those of different functions in any order.
 *
 * A SUSPEND_VHCA that freezes a VF finishes only once every vCPU has caught
 * up with the memory map change that put the VF's frozen trap over its BAR2
 * (mvf_cmd_sync_cpus()); until then the VF's later commands wait, the other
 * functions go on.  The event queue also carries MVF_EVENT_FROZEN_ACCESS
 * events of the VFs (mvf_vf.c) and MVF_EVENT_LINK_CHANGE (mvf_ras.c),
 * posted here.
 *
 * Uncorrectable errors (injected through mvf_ras.c) act here too: one of
 * the PF halts the interface until a reset (mvf_cmd_error()), one of a VF
 * fails the VF's fetched SAVE and LOAD commands (mvf_cmd_vf_error()).
 *
 * The queued commands live here, in the PF, and name their VF by vhca_id
 * only: the VF is looked up again for each step, so a VF that is reset or
 * disabled meanwhile is never used stale (see mvf_cmd_step()).
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
 * everything here does.  Only the function that froze waits.
 */
struct MvfCpuSync {
    MvfPfState *pf;         /* NULL once the function no longer waits */
    uint16_t fn;            /* index into pf->fn */
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
        sync->pf->fn[sync->fn].cpu_sync = NULL;
        qemu_bh_schedule(sync->pf->cmd_bh);
    }
    g_free(sync);
}

static void mvf_cmd_sync_cpus(MvfPfState *pf, uint16_t fn)
{
    MvfCpuSync *sync = g_new0(MvfCpuSync, 1);
    CPUState *cpu;

    sync->pf = pf;
    sync->fn = fn;
    sync->remaining = 1;
    pf->fn[fn].cpu_sync = sync;
    CPU_FOREACH(cpu) {
        sync->remaining++;
        async_run_on_cpu(cpu, mvf_cmd_cpu_synced, RUN_ON_CPU_HOST_PTR(sync));
    }
    mvf_cmd_cpu_synced(NULL, RUN_ON_CPU_HOST_PTR(sync));
}

static uint32_t mvf_cmd_slot(MvfPfState *pf, uint16_t index)
{
    return index & ((1u << pf->cmdq_log_size) - 1);
}

/*
 * Forget a command that will never complete.  A long command that had
 * started leaves its session closed (mvf_mig_cmd_abort()), unless its VF
 * was reset meanwhile, which closed it already.
 */
static void mvf_cmd_drop(MvfPfState *pf, MvfCmd *c)
{
    if (c->started) {
        MvfCmdResult dummy = { 0 };
        MvfVfState *vf = mvf_pf_lookup_vf(pf, le16_to_cpu(c->e.vhca_id),
                                          &dummy);

        if (vf && vf->gen == c->gen) {
            mvf_mig_cmd_abort(vf, c);
        }
    }
    mvf_mig_cmd_free(c);
    g_free(c);
}

/*
 * The command interface stops: drop every fetched command, whatever it
 * waits for, and the VF events not posted yet (their event queue is gone).
 * The command that is running a step right now (pf->cur) is only taken
 * off its list: mvf_cmd_pass() drops it when the step returns.
 */
static void mvf_cmd_stop(MvfPfState *pf)
{
    PCIDevice *dev = PCI_DEVICE(pf);
    uint16_t i, n = pcie_sriov_num_vfs(dev);
    MvfCmd *c;

    pf->stop_gen++;
    for (i = 0; i < pf->total_vfs; i++) {
        MvfFn *fn = &pf->fn[i];

        if (fn->cpu_sync) {
            fn->cpu_sync->pf = NULL;    /* its work items only free it */
            fn->cpu_sync = NULL;
        }
        fn->log_sync = false;
        while ((c = QSIMPLEQ_FIRST(&fn->fifo))) {
            QSIMPLEQ_REMOVE_HEAD(&fn->fifo, next);
            if (c != pf->cur) {
                mvf_cmd_drop(pf, c);
            }
        }
    }
    while ((c = QSIMPLEQ_FIRST(&pf->done))) {
        QSIMPLEQ_REMOVE_HEAD(&pf->done, next);
        mvf_cmd_drop(pf, c);
    }
    bitmap_zero(pf->busy, 1u << MVF_CMDQ_LOG_SIZE_MAX);
    for (i = 0; i < n; i++) {
        MVF_VF(pcie_sriov_get_vf_at_index(dev, i))->frozen_event_pending =
            false;
    }
    pf->vf_events = false;
    pf->link_event = false;
}

void mvf_cmd_init(MvfPfState *pf)
{
    uint16_t i;

    pf->fn = g_new0(MvfFn, pf->total_vfs);
    for (i = 0; i < pf->total_vfs; i++) {
        QSIMPLEQ_INIT(&pf->fn[i].fifo);
    }
    QSIMPLEQ_INIT(&pf->done);
}

void mvf_cmd_exit(MvfPfState *pf)
{
    if (pf->fn) {
        mvf_cmd_stop(pf);
        g_free(pf->fn);
        pf->fn = NULL;
    }
}

/* Called by a VF with a frozen access event to post */
void mvf_cmd_vf_event(MvfPfState *pf)
{
    pf->vf_events = true;
    qemu_bh_schedule(pf->cmd_bh);
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
    pf->rr_next = 0;
    if (!keep_config) {
        pf->cmdq_base = 0;
        pf->cmdq_log_size = 0;
        pf->eq_base = 0;
        pf->eq_log_size = 0;
    }
}

/*
 * The PF took an uncorrectable error: the command interface halts as if
 * its engine had consumed a poisoned request.  Every fetched command is
 * dropped unanswered, and only MVF_PF_CTRL_RESET (or a reset of the PF)
 * clears the FATAL status; ENABLE alone does not.
 */
void mvf_cmd_error(MvfPfState *pf)
{
    mvf_cmd_stop(pf);
    pf->status = MVF_PF_STATUS_FATAL;
}

/*
 * VF @vf took an uncorrectable error: its sessions are gone.  The SAVE and
 * LOAD commands of it that were fetched already, running or waiting,
 * fail with ABORTED at their next step (mvf_cmd_step()); a CLOSE has
 * nothing left to close and completes as usual.  A QUERY that was sizing
 * the dropped session starts over.
 */
void mvf_cmd_vf_error(MvfPfState *pf, MvfVfState *vf)
{
    uint16_t vhca_id = mvf_vf_vhca_id(vf);
    MvfCmd *c;

    mvf_mig_vf_error(vf);
    QSIMPLEQ_FOREACH(c, &pf->fn[vhca_id - 1].fifo, next) {
        switch (le16_to_cpu(c->e.opcode)) {
        case MVF_CMD_SAVE_VHCA_STATE:
            if (le32_to_cpu(c->e.in[0]) & MVF_SAVE_F_CLOSE) {
                break;
            }
            c->aborted = true;
            break;
        case MVF_CMD_LOAD_VHCA_STATE:
            c->aborted = true;
            break;
        case MVF_CMD_QUERY_VHCA_MIGRATION_STATE:
            if (c->started) {
                mvf_mig_cmd_free(c);
            }
            break;
        }
    }
    qemu_bh_schedule(pf->cmd_bh);
}

/* The link changed: report it if the command interface is up */
void mvf_cmd_link_event(MvfPfState *pf)
{
    if (pf->status & MVF_PF_STATUS_READY) {
        pf->link_event = true;
        qemu_bh_schedule(pf->cmd_bh);
    }
}

static void mvf_cmd_fatal(MvfPfState *pf, const char *why)
{
    qemu_log_mask(LOG_GUEST_ERROR, "mvf-pf: command interface fatal: %s\n",
                  why);
    pf->status = MVF_PF_STATUS_FATAL;
}

static bool mvf_cmd_ready(MvfPfState *pf)
{
    return pf->status & MVF_PF_STATUS_READY;
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
    mvf_cmd_stop(pf);
    pf->cmdq_pi = 0;
    pf->cmdq_ci = 0;
    pf->eq_pi = 0;
    pf->eq_ci = 0;
    pf->rr_next = 0;
    pf->status = MVF_PF_STATUS_READY;
}

void mvf_cmd_doorbell(MvfPfState *pf, uint16_t pi)
{
    if (!mvf_cmd_ready(pf)) {
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
    if (!mvf_cmd_ready(pf)) {
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
    r->out[0] = mvf_pf_caps(pf);
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
    uint32_t stop_gen = pf->stop_gen;

    /* everything but type/phase first, so a valid phase means whole entry */
    if (pci_dma_write(dev, addr + body, (uint8_t *)&eqe + body,
                      sizeof(eqe) - body) != MEMTX_OK) {
        mvf_cmd_fatal(pf, "cannot write an event queue entry");
        return false;
    }
    if (pf->stop_gen != stop_gen) {
        return false;           /* the write reset the interface */
    }
    smp_wmb();      /* entry body visible before the phase that validates it */
    if (pci_dma_write(dev, addr, &eqe, body) != MEMTX_OK) {
        mvf_cmd_fatal(pf, "cannot write an event queue entry");
        return false;
    }
    if (pf->stop_gen != stop_gen) {
        return false;
    }
    pf->eq_pi++;
    msix_notify(dev, MVF_PF_EQ_VECTOR);
    return true;
}

/*
 * Post the frozen access events the VFs have pending, as far as the event
 * queue has room; the rest wait for EQ_CI.
 */
static void mvf_cmd_post_vf_events(MvfPfState *pf)
{
    PCIDevice *dev = PCI_DEVICE(pf);
    uint16_t i;

    if (!pf->vf_events) {
        return;
    }
    for (i = 0; i < pcie_sriov_num_vfs(dev); i++) {
        MvfVfState *vf = MVF_VF(pcie_sriov_get_vf_at_index(dev, i));

        if (!mvf_cmd_ready(pf)) {
            return;
        }
        if (!vf->frozen_event_pending) {
            continue;
        }
        if (!mvf_cmd_eq_has_room(pf)) {
            return;
        }
        vf->frozen_event_pending = false;
        if (!mvf_cmd_post_event(pf, MVF_EVENT_FROZEN_ACCESS,
                                mvf_vf_vhca_id(vf), 0, 0,
                                vf->frozen_accesses)) {
            return;
        }
    }
    pf->vf_events = false;
}

/* A link change event, once the event queue has room */
static void mvf_cmd_post_link_event(MvfPfState *pf)
{
    if (!pf->link_event || !mvf_cmd_ready(pf) || !mvf_cmd_eq_has_room(pf)) {
        return;
    }
    pf->link_event = false;
    mvf_cmd_post_event(pf, MVF_EVENT_LINK_CHANGE, 0, 0, 0,
                       MVF_LINK_EVENT_DATA(pf->link_speed, pf->link_width));
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

/*
 * What every command is checked for first: opcode, reserved fields and the
 * kind of function it names.  False: @r says what is wrong.
 */
static bool mvf_cmd_check(MvfPfState *pf, const struct mvf_cmd_entry *e,
                          MvfCmdResult *r)
{
    uint16_t opcode = le16_to_cpu(e->opcode);
    uint16_t vhca_id = le16_to_cpu(e->vhca_id);
    uint32_t in0 = le32_to_cpu(e->in[0]);
    uint32_t in0_rsvd = 0;
    bool pf_cmd = false;
    int used_in;

    switch (opcode) {
    case MVF_CMD_NOP:
    case MVF_CMD_QUERY_CAPS:
        used_in = 0;
        pf_cmd = true;
        break;
    case MVF_CMD_QUERY_TRACK_CAPS:
    case MVF_CMD_CREATE_TRACKER:
    case MVF_CMD_DESTROY_TRACKER:
    case MVF_CMD_REPORT_DIRTY:
        if (!pf->dirty_track) {
            /* a device without MVF_CAP_DIRTY_TRACK */
            mvf_cmd_fail(r, MVF_CMD_STAT_BAD_OPCODE, MVF_SYND_BAD_OPCODE);
            return false;
        }
        pf_cmd = opcode == MVF_CMD_QUERY_TRACK_CAPS;
        used_in = opcode == MVF_CMD_CREATE_TRACKER ? 3 :
                  opcode == MVF_CMD_REPORT_DIRTY ? 4 : 0;
        break;
    case MVF_CMD_QUERY_VHCA_MIGRATION_STATE:
        used_in = 1;
        in0_rsvd = ~MVF_QUERY_F_INCREMENTAL;
        break;
    case MVF_CMD_SAVE_VHCA_STATE:
        used_in = 1;
        in0_rsvd = ~(MVF_SAVE_F_START | MVF_SAVE_F_CLOSE);
        break;
    case MVF_CMD_LOAD_VHCA_STATE:
        used_in = 1;
        in0_rsvd = ~MVF_LOAD_F_START;
        break;
    case MVF_CMD_SUSPEND_VHCA:
    case MVF_CMD_RESUME_VHCA:
        used_in = 1;            /* the mode, checked by the command */
        break;
    default:
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_OPCODE, MVF_SYND_BAD_OPCODE);
        return false;
    }

    if (e->rsvd0[0] || e->rsvd0[1] || e->rsvd0[2] ||
        (e->flags & ~MVF_CMD_F_EVENT) || (in0 & in0_rsvd) ||
        !mvf_cmd_in_unused_zero(e, used_in)) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_RSVD_NOT_ZERO);
        return false;
    }

    /* PF commands on vhca 0, migration and tracker commands on a VF */
    if (pf_cmd != (vhca_id == 0)) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_VHCA);
        return false;
    }
    return true;
}

/* A command that is not for a VF of ours: executed when fetched */
static void mvf_cmd_run_pf(MvfPfState *pf, MvfCmd *c)
{
    if (!mvf_cmd_check(pf, &c->e, &c->r)) {
        return;
    }
    switch (le16_to_cpu(c->e.opcode)) {
    case MVF_CMD_NOP:
        break;
    case MVF_CMD_QUERY_CAPS:
        mvf_cmd_query_caps(pf, &c->r);
        break;
    case MVF_CMD_QUERY_TRACK_CAPS:
        mvf_track_query_caps(pf, &c->r);
        break;
    default:
        /* a VF beyond TotalVFs: fails */
        mvf_pf_lookup_vf(pf, le16_to_cpu(c->e.vhca_id), &c->r);
        break;
    }
}

static void mvf_cmd_result_fail(MvfCmdResult *r, uint8_t status,
                                uint32_t syndrome)
{
    *r = (MvfCmdResult) { 0 };
    mvf_cmd_fail(r, status, syndrome);
}

/* One step of the command @c of a VF */
static MvfStep mvf_cmd_step(MvfPfState *pf, MvfCmd *c)
{
    uint16_t opcode = le16_to_cpu(c->e.opcode);
    uint32_t in0 = le32_to_cpu(c->e.in[0]);
    MvfCmdResult *r = &c->r;
    MvfVfState *vf;

    if (!c->started && !mvf_cmd_check(pf, &c->e, r)) {
        return MVF_STEP_DONE;
    }
    vf = mvf_pf_lookup_vf(pf, le16_to_cpu(c->e.vhca_id), r);
    if (!vf) {
        /* disabled, maybe while the command was running */
        mvf_mig_cmd_free(c);
        mvf_cmd_result_fail(r, r->status, r->syndrome);
        return MVF_STEP_DONE;
    }
    if (c->aborted) {
        /* an uncorrectable error of the VF dropped the session */
        mvf_mig_cmd_free(c);
        mvf_cmd_result_fail(r, MVF_CMD_STAT_BAD_STATE, MVF_SYND_ABORTED);
        return MVF_STEP_DONE;
    }
    if (c->started && vf->gen != c->gen) {
        /* the VF was reset under a running command: its session is gone */
        mvf_mig_cmd_free(c);
        mvf_cmd_result_fail(r, MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_SESSION);
        return MVF_STEP_DONE;
    }

    switch (opcode) {
    case MVF_CMD_QUERY_VHCA_MIGRATION_STATE:
        return mvf_mig_query(pf, vf, c);
    case MVF_CMD_SUSPEND_VHCA:
        mvf_vf_suspend(vf, in0, r);
        return MVF_STEP_DONE;
    case MVF_CMD_RESUME_VHCA:
        mvf_vf_resume(vf, in0, r);
        return MVF_STEP_DONE;
    case MVF_CMD_SAVE_VHCA_STATE:
        return mvf_mig_save(pf, vf, c);
    case MVF_CMD_LOAD_VHCA_STATE:
        return mvf_mig_load(pf, vf, c);
    case MVF_CMD_CREATE_TRACKER:
        mvf_track_create(pf, vf, c);
        return MVF_STEP_DONE;
    case MVF_CMD_DESTROY_TRACKER:
        mvf_track_destroy(vf, r);
        return MVF_STEP_DONE;
    case MVF_CMD_REPORT_DIRTY:
        mvf_track_report(pf, vf, c);
        return MVF_STEP_DONE;
    default:
        g_assert_not_reached();     /* mvf_cmd_check() let it through */
    }
}

/*
 * Fetch every posted entry.  An entry not handed over yet (@own clear)
 * stops the fetch until the next doorbell.
 */
static void mvf_cmd_fetch(MvfPfState *pf)
{
    PCIDevice *dev = PCI_DEVICE(pf);

    while (mvf_cmd_ready(pf) && pf->cmdq_ci != pf->cmdq_pi) {
        uint16_t index = pf->cmdq_ci;
        uint32_t slot = mvf_cmd_slot(pf, index);
        dma_addr_t addr = pf->cmdq_base +
                          (dma_addr_t)slot * MVF_CMD_ENTRY_SIZE;
        struct mvf_cmd_entry e;
        uint16_t vhca_id;
        MvfCmd *c;

        if (test_bit(slot, pf->busy)) {
            mvf_cmd_fatal(pf, "command slot reused before it completed");
            return;
        }
        if (pci_dma_read(dev, addr, &e, sizeof(e)) != MEMTX_OK) {
            mvf_cmd_fatal(pf, "cannot read a command entry");
            return;
        }
        if (!mvf_cmd_ready(pf)) {
            return;
        }
        if (e.own != MVF_CMD_OWN_HW) {
            /* rung before the entry was handed over: wait for the next */
            qemu_log_mask(LOG_GUEST_ERROR,
                          "mvf-pf: command %u not owned by the device\n",
                          index);
            return;
        }

        c = g_new0(MvfCmd, 1);
        c->e = e;
        c->index = index;
        set_bit(slot, pf->busy);
        pf->cmdq_ci++;
        vhca_id = le16_to_cpu(e.vhca_id);
        if (vhca_id >= 1 && vhca_id <= pf->total_vfs) {
            QSIMPLEQ_INSERT_TAIL(&pf->fn[vhca_id - 1].fifo, c, next);
        } else {
            mvf_cmd_run_pf(pf, c);
            QSIMPLEQ_INSERT_TAIL(&pf->done, c, next);
        }
    }
}

/* The head command of function @i finished: queue its write-back */
static void mvf_cmd_finish(MvfPfState *pf, uint16_t i, MvfCmd *c)
{
    assert(QSIMPLEQ_FIRST(&pf->fn[i].fifo) == c);
    QSIMPLEQ_REMOVE_HEAD(&pf->fn[i].fifo, next);
    QSIMPLEQ_INSERT_TAIL(&pf->done, c, next);
}

/* One round robin pass over the functions; true: work is left */
static bool mvf_cmd_pass(MvfPfState *pf)
{
    uint16_t n = pf->total_vfs, k, i;
    unsigned steps = 0;
    bool more = false;

    for (k = 0; k < n; k++) {
        MvfFn *fn;
        MvfCmd *c;
        uint32_t stop_gen;
        MvfStep st;

        i = (pf->rr_next + k) % n;
        fn = &pf->fn[i];
        c = QSIMPLEQ_FIRST(&fn->fifo);
        if (!c || fn->cpu_sync || fn->log_sync) {
            continue;
        }
        if (steps == MVF_PASS_STEPS) {
            /* the next run starts where this one stopped */
            pf->rr_next = i;
            return true;
        }
        steps++;

        if (c->executed) {
            /* a freeze whose vCPU sync is over */
            mvf_cmd_finish(pf, i, c);
        } else {
            stop_gen = pf->stop_gen;
            pf->cur = c;
            st = mvf_cmd_step(pf, c);
            pf->cur = NULL;
            if (pf->stop_gen != stop_gen) {
                /* a DMA of the step reset or stopped the interface */
                mvf_cmd_drop(pf, c);
                return false;
            }
            if (st == MVF_STEP_LOG_SYNC) {
                /* the command stays at the head meanwhile */
                c->log_merged = true;
                fn->log_sync = true;
                qemu_bh_schedule(pf->log_bh);
            } else if (st == MVF_STEP_DONE) {
                if (c->r.sync_cpus) {
                    c->executed = true;
                    mvf_cmd_sync_cpus(pf, i);
                } else {
                    mvf_cmd_finish(pf, i, c);
                }
            }
        }
        if (!QSIMPLEQ_EMPTY(&fn->fifo) && !fn->cpu_sync && !fn->log_sync) {
            more = true;
        }
    }
    pf->rr_next = n ? (pf->rr_next + 1) % n : 0;
    return more;
}

/* Write back a finished command into its own slot and post its event */
static bool mvf_cmd_write_back(MvfPfState *pf, MvfCmd *c)
{
    PCIDevice *dev = PCI_DEVICE(pf);
    struct mvf_cmd_entry *e = &c->e;
    const MvfCmdResult *r = &c->r;
    uint32_t slot = mvf_cmd_slot(pf, c->index);
    dma_addr_t addr = pf->cmdq_base + (dma_addr_t)slot * MVF_CMD_ENTRY_SIZE;
    const size_t own_off = offsetof(struct mvf_cmd_entry, own);
    const size_t wb_off = offsetof(struct mvf_cmd_entry, status);
    const size_t wb_end = offsetof(struct mvf_cmd_entry, sgl_addr);
    uint32_t stop_gen = pf->stop_gen;
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
    if (pf->stop_gen != stop_gen) {
        return false;
    }
    smp_wmb();      /* results visible before own is cleared */
    if (pci_dma_write(dev, addr + own_off, &e->own, 1) != MEMTX_OK) {
        mvf_cmd_fatal(pf, "cannot write a command entry back");
        return false;
    }
    if (pf->stop_gen != stop_gen) {
        return false;
    }
    clear_bit(slot, pf->busy);

    if (e->flags & MVF_CMD_F_EVENT) {
        return mvf_cmd_post_event(pf, MVF_EVENT_CMD_DONE,
                                  le16_to_cpu(e->vhca_id),
                                  le16_to_cpu(e->token), slot,
                                  r->status | ((uint64_t)r->syndrome << 32));
    }
    return true;
}

/*
 * Write back the finished commands in the order they finished.  One that
 * needs an event waits, with all after it, until the event queue has room.
 */
static void mvf_cmd_flush(MvfPfState *pf)
{
    MvfCmd *c;

    while (mvf_cmd_ready(pf) && (c = QSIMPLEQ_FIRST(&pf->done))) {
        bool ok;

        if ((c->e.flags & MVF_CMD_F_EVENT) && !mvf_cmd_eq_has_room(pf)) {
            return;             /* resumed by EQ_CI */
        }
        QSIMPLEQ_REMOVE_HEAD(&pf->done, next);
        ok = mvf_cmd_write_back(pf, c);
        mvf_mig_cmd_free(c);
        g_free(c);
        if (!ok) {
            return;
        }
    }
}

/*
 * Merge the dirty logs of the VFs whose head command asked for it
 * (MVF_STEP_LOG_SYNC).  Not in the command bottom half: under TCG the
 * merge waits for every vCPU to end its translation block (run_on_cpu(),
 * see tcg_log_global_after_sync()), which drops the BQL, and a vCPU's MMIO
 * to this device meanwhile would find the bottom half's reentrancy guard
 * engaged and be lost.  This bottom half has no guard and does no DMA;
 * the wait is also what makes a copy after the merge safe against a store
 * that was already past its dirty check.  While the BQL is dropped the
 * guest may reset a VF or the command interface: the flags are checked
 * again after each merge.
 */
void mvf_cmd_log_bh(void *opaque)
{
    MvfPfState *pf = opaque;
    uint16_t i;

    for (i = 0; pf->fn && i < pf->total_vfs; i++) {
        MvfCmdResult dummy = { 0 };
        MvfVfState *vf;

        if (!pf->fn[i].log_sync) {
            continue;
        }
        vf = mvf_pf_lookup_vf(pf, i + 1, &dummy);
        if (vf) {
            mvf_mig_sync(vf);
        }
        if (pf->fn) {
            pf->fn[i].log_sync = false;
        }
    }
    qemu_bh_schedule(pf->cmd_bh);
}

void mvf_cmd_bh(void *opaque)
{
    MvfPfState *pf = opaque;
    bool more;

    if (!mvf_cmd_ready(pf)) {
        return;
    }
    mvf_cmd_flush(pf);              /* room that EQ_CI made */
    mvf_cmd_post_link_event(pf);
    mvf_cmd_post_vf_events(pf);
    mvf_cmd_fetch(pf);
    more = mvf_cmd_ready(pf) && mvf_cmd_pass(pf);
    mvf_cmd_flush(pf);
    mvf_cmd_post_link_event(pf);
    mvf_cmd_post_vf_events(pf);     /* and those of the steps just run */
    if (more && mvf_cmd_ready(pf)) {
        qemu_bh_schedule(pf->cmd_bh);
    }
}
