/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MVF emulated SR-IOV device: the VF queue pair engine.
 *
 * A send queue, a receive queue and one completion queue live in host
 * memory.  Doorbells only record indices and schedule the VF's bottom half,
 * which executes send WQEs in order.  Each WQE is executed as a whole: it
 * waits at the head of the send queue until everything it needs is there
 * (a receive WQE for a SEND, room in the CQ for its completions), so work
 * is never half done when the function is quiesced, saved or reset.
 * All DMA uses the VF's own PCIDevice; every write goes through
 * mvf_vf_dma_write(), which marks the VF's dirty page tracker.
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/atomic.h"
#include "qemu/main-loop.h"
#include "hw/pci/pci.h"
#include "hw/pci/msix.h"
#include "hw/pci/pcie_sriov.h"
#include "mvf.h"

#define MVF_BYTE_BUDGET     (64 * 1024 * 1024)

typedef enum {
    MVF_QP_DONE,        /* a WQE completed, go on */
    MVF_QP_WAIT,        /* the head WQE waits for an RQ WQE or CQ room */
    MVF_QP_FAULT,       /* queue level error: QP_ERROR set, stop */
} MvfQpResult;

typedef struct MvfCompletion {
    uint64_t wr_id;
    uint32_t byte_cnt;
    uint8_t opcode;
    uint8_t status;
    uint8_t qtype;
    uint32_t wqe_index;
} MvfCompletion;

void mvf_vf_kick(MvfVfState *vf)
{
    if (vf->bh) {
        qemu_bh_schedule(vf->bh);
    }
}

/*
 * A DMA write with the VF as requester.  The tracker (if any) marks the
 * pages first, at the VF's IOVA and whatever the outcome: a write that
 * faults is a false positive, never a miss.  The write may reach this
 * device's config space or registers and disable the VF, which frees the
 * tracker: it is looked up again for every write.
 */
MemTxResult mvf_vf_dma_write(MvfVfState *vf, dma_addr_t addr,
                             const void *buf, dma_addr_t len)
{
    if (vf->track) {
        mvf_track_mark(vf->track, addr, len);
    }
    return pci_dma_write(PCI_DEVICE(vf), addr, buf, len);
}

static uint32_t mvf_q_size(const MvfQueue *q)
{
    return 1u << q->log_size;
}

static dma_addr_t mvf_q_addr(const MvfQueue *q, uint32_t idx, size_t esz)
{
    return q->base + (dma_addr_t)(idx & (mvf_q_size(q) - 1)) * esz;
}

static uint32_t mvf_cq_room(const MvfQueue *cq)
{
    uint32_t used = cq->pi - cq->ci;

    return used >= mvf_q_size(cq) ? 0 : mvf_q_size(cq) - used;
}

static void mvf_qp_fault(MvfVfState *vf, const char *why)
{
    qemu_log_mask(LOG_GUEST_ERROR, "mvf-vf%u: queue pair error: %s\n",
                  pcie_sriov_vf_number(PCI_DEVICE(vf)), why);
    vf->live.qp_error = MVF_VF_STATUS_QP_ERROR;
}

static bool mvf_qp_post_cqe(MvfVfState *vf, const MvfCompletion *c)
{
    MvfVfLive *l = &vf->live;
    dma_addr_t addr = mvf_q_addr(&l->cq, l->cq.pi, MVF_CQE_SIZE);
    const size_t ph = offsetof(struct mvf_cqe, phase);
    struct mvf_cqe cqe = {
        .wr_id = cpu_to_le64(c->wr_id),
        .byte_cnt = cpu_to_le32(c->byte_cnt),
        .opcode = c->opcode,
        .status = c->status,
        .qtype = c->qtype,
        .phase = mvf_ring_phase(l->cq.pi, l->cq.log_size),
        .wqe_index = cpu_to_le32(c->wqe_index),
    };

    /* the phase byte goes last: when it is valid the rest is too */
    if (mvf_vf_dma_write(vf, addr + ph + 1, (uint8_t *)&cqe + ph + 1,
                         sizeof(cqe) - ph - 1) != MEMTX_OK ||
        mvf_vf_dma_write(vf, addr, &cqe, ph) != MEMTX_OK) {
        return false;
    }
    smp_wmb();      /* CQE body visible before its phase */
    if (mvf_vf_dma_write(vf, addr + ph, &cqe.phase, 1) != MEMTX_OK) {
        return false;
    }
    l->cq.pi++;
    l->cnt[MVF_VF_CNT_CQES]++;
    if (c->status != MVF_CQE_STAT_OK) {
        l->cnt[MVF_VF_CNT_ERRORS]++;
        l->qp_error = MVF_VF_STATUS_QP_ERROR;
    }
    return true;
}

/* DEVMEM_WRITE / DEVMEM_READ: returns the CQE status */
static uint8_t mvf_qp_devmem(MvfVfState *vf, uint8_t op, uint64_t host,
                             uint64_t off, uint32_t len)
{
    PCIDevice *dev = PCI_DEVICE(vf);
    MemTxResult res;

    if (off > vf->devmem_size || len > vf->devmem_size - off) {
        return MVF_CQE_STAT_RANGE;
    }
    if (op == MVF_WQE_DEVMEM_WRITE) {
        res = pci_dma_read(dev, host, vf->devmem_ptr + off, len);
        /* the RAM changed behind QEMU's back: log it for SAVE */
        mvf_mig_devmem_changed(vf, off, len);
    } else {
        res = mvf_vf_dma_write(vf, host, vf->devmem_ptr + off, len);
    }
    return res == MEMTX_OK ? MVF_CQE_STAT_OK : MVF_CQE_STAT_DMA;
}

/* SEND: consumes the RQ head; returns the CQE status of both WQEs */
static uint8_t mvf_qp_send(MvfVfState *vf, uint64_t host, uint32_t len,
                           MvfCompletion *rc)
{
    PCIDevice *dev = PCI_DEVICE(vf);
    MvfVfLive *l = &vf->live;
    struct mvf_recv_wqe rw;
    g_autofree uint8_t *buf = NULL;

    rc->opcode = MVF_CQE_OP_RECV;
    rc->qtype = MVF_CQE_Q_RQ;
    rc->wqe_index = l->rq.ci;
    if (pci_dma_read(dev, mvf_q_addr(&l->rq, l->rq.ci, MVF_RECV_WQE_SIZE),
                     &rw, sizeof(rw)) != MEMTX_OK) {
        return MVF_CQE_STAT_DMA;
    }
    rc->wr_id = le64_to_cpu(rw.wr_id);
    if (rw.rsvd0 || rw.rsvd1) {
        return MVF_CQE_STAT_BAD_WQE;
    }
    if (le32_to_cpu(rw.len) < len) {
        return MVF_CQE_STAT_LEN;
    }
    buf = g_malloc(MAX(len, 1));
    if (pci_dma_read(dev, host, buf, len) != MEMTX_OK ||
        mvf_vf_dma_write(vf, le64_to_cpu(rw.addr), buf, len) != MEMTX_OK) {
        return MVF_CQE_STAT_DMA;
    }
    rc->byte_cnt = len;
    return MVF_CQE_STAT_OK;
}

static MvfQpResult mvf_qp_one(MvfVfState *vf, uint64_t *bytes)
{
    PCIDevice *dev = PCI_DEVICE(vf);
    MvfVfLive *l = &vf->live;
    struct mvf_send_wqe w;
    MvfCompletion sc = { .qtype = MVF_CQE_Q_SQ, .wqe_index = l->sq.ci };
    MvfCompletion rc = { 0 };
    bool has_rc = false;
    uint32_t len;

    if (mvf_cq_room(&l->cq) < 1) {
        return MVF_QP_WAIT;
    }
    if (pci_dma_read(dev, mvf_q_addr(&l->sq, l->sq.ci, MVF_SEND_WQE_SIZE),
                     &w, sizeof(w)) != MEMTX_OK) {
        sc.status = MVF_CQE_STAT_DMA;
        goto complete;
    }
    sc.wr_id = le64_to_cpu(w.wr_id);
    sc.opcode = w.opcode;
    len = le32_to_cpu(w.len);
    if (w.flags || w.rsvd0 || len > MVF_WQE_MAX_LEN) {
        sc.status = MVF_CQE_STAT_BAD_WQE;
        goto complete;
    }

    switch (w.opcode) {
    case MVF_WQE_NOP:
        break;
    case MVF_WQE_DEVMEM_WRITE:
    case MVF_WQE_DEVMEM_READ:
        sc.status = mvf_qp_devmem(vf, w.opcode, le64_to_cpu(w.addr),
                                  le64_to_cpu(w.devmem_off), len);
        if (sc.status == MVF_CQE_STAT_OK) {
            sc.byte_cnt = len;
        }
        break;
    case MVF_WQE_SEND:
        if (l->rq.pi == l->rq.ci) {
            return MVF_QP_WAIT;     /* in flight until a buffer is posted */
        }
        if (!l->rq.log_size || l->rq.pi - l->rq.ci > mvf_q_size(&l->rq)) {
            mvf_qp_fault(vf, "RQ not configured or RQ_PI beyond the ring");
            return MVF_QP_FAULT;
        }
        if (mvf_cq_room(&l->cq) < 2) {
            return MVF_QP_WAIT;
        }
        has_rc = true;
        sc.status = rc.status = mvf_qp_send(vf, le64_to_cpu(w.addr), len,
                                            &rc);
        if (sc.status == MVF_CQE_STAT_OK) {
            sc.byte_cnt = len;
        }
        break;
    default:
        sc.status = MVF_CQE_STAT_BAD_WQE;
        break;
    }

complete:
    /* the work is done: consume the WQE(s) even if a CQE cannot be written */
    l->sq.ci++;
    l->cnt[MVF_VF_CNT_SQ_WQES]++;
    l->cnt[MVF_VF_CNT_TX_BYTES] += sc.byte_cnt;
    *bytes += sc.byte_cnt;
    if (has_rc) {
        l->rq.ci++;
        l->cnt[MVF_VF_CNT_RQ_WQES]++;
    }
    if (!mvf_qp_post_cqe(vf, &sc) || (has_rc && !mvf_qp_post_cqe(vf, &rc))) {
        mvf_qp_fault(vf, "cannot write a CQE");
        return MVF_QP_FAULT;
    }
    if (l->ctrl & MVF_VF_CTRL_CQ_IRQ) {
        msix_notify(dev, MVF_VF_CQ_VECTOR);
    }
    return MVF_QP_DONE;
}

void mvf_vf_qp_bh(void *opaque)
{
    MvfVfState *vf = opaque;
    MvfVfLive *l = &vf->live;
    uint64_t bytes = 0;
    int budget;

    for (budget = MVF_WQE_BUDGET; budget > 0; budget--) {
        if (!(l->ctrl & MVF_VF_CTRL_QP_ENABLE) || vf->quiesced ||
            vf->frozen || l->sq.pi == l->sq.ci) {
            return;
        }
        if (!l->sq.log_size || !l->cq.log_size) {
            mvf_qp_fault(vf, "SQ or CQ not configured");
            return;
        }
        if (l->sq.pi - l->sq.ci > mvf_q_size(&l->sq)) {
            mvf_qp_fault(vf, "SQ_PI beyond the ring");
            return;
        }
        if (mvf_qp_one(vf, &bytes) != MVF_QP_DONE) {
            return;
        }
        if (bytes >= MVF_BYTE_BUDGET) {
            break;
        }
    }
    /* more work may be left: yield to the main loop and come back */
    qemu_bh_schedule(vf->bh);
}
