/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MVF emulated SR-IOV device: state shared by the model's files.
 *
 * The programming interface itself is defined by mvf_if.h (a copy of
 * include/linux/mvf/mvf_if.h of the MVF repository), described in
 * Documentation/mvf/device.rst.
 */
#ifndef HW_MISC_MVF_H
#define HW_MISC_MVF_H

#include "hw/pci/pci_device.h"
#include "qom/object.h"
#include "mvf_if.h"

#define TYPE_MVF_PF "mvf-pf"
#define TYPE_MVF_VF "mvf-vf"
OBJECT_DECLARE_SIMPLE_TYPE(MvfPfState, MVF_PF)
OBJECT_DECLARE_SIMPLE_TYPE(MvfVfState, MVF_VF)

/* Routing: VF n (1-based) sits at PF devfn + MVF_VF_OFFSET + (n-1) * STRIDE */
#define MVF_VF_OFFSET       1
#define MVF_VF_STRIDE       1

#define MVF_CAPS            (MVF_CAP_MIGRATION | MVF_CAP_P2P)

/* Work items handled per bottom half run before yielding */
#define MVF_CMD_BUDGET      16
#define MVF_WQE_BUDGET      256

/* Result of a command: status class, syndrome and inline output */
typedef struct MvfCmdResult {
    uint8_t status;
    uint32_t syndrome;
    uint32_t out[4];
    bool sync_cpus;         /* complete only after every vCPU synced */
} MvfCmdResult;

typedef struct MvfCpuSync MvfCpuSync;

typedef struct MvfQueue {
    uint64_t base;
    uint32_t log_size;      /* 0 = not configured */
    uint32_t pi;
    uint32_t ci;
} MvfQueue;

/* The live state of a VF: exactly what a state image carries */
typedef struct MvfVfLive {
    uint32_t ctrl;
    uint32_t qp_error;      /* MVF_VF_STATUS_QP_ERROR or 0 */
    uint32_t scratch[MVF_VF_NUM_SCRATCH];
    MvfQueue sq, rq, cq;
    uint64_t cnt[MVF_VF_NUM_COUNTERS];
} MvfVfLive;

struct MvfVfState {
    PCIDevice parent_obj;

    MemoryRegion mmio;
    MemoryRegion devmem_bar;    /* BAR2: devmem with frozen_trap over it */
    MemoryRegion devmem;
    MemoryRegion frozen_trap;   /* enabled only while frozen */
    uint8_t *devmem_ptr;
    uint64_t devmem_size;
    QEMUBH *bh;

    bool quiesced;          /* SUSPEND_VHCA(INITIATOR) */
    bool frozen;            /* SUSPEND_VHCA(RESPONDER) */
    MvfVfLive live;

    /*
     * Accesses trapped while frozen.  Not function state: never in a state
     * image, cleared by a function reset only.
     */
    uint32_t frozen_accesses;   /* saturating */
    bool frozen_event_armed;    /* the next trapped access posts an event */
    bool frozen_event_pending;  /* an event waits for the PF's EQ */
};

struct MvfPfState {
    PCIDevice parent_obj;

    MemoryRegion mmio;
    QEMUBH *cmd_bh;

    /* properties */
    uint16_t total_vfs;
    uint64_t devmem_size;

    /* command interface */
    uint32_t ctrl;
    uint32_t status;
    uint64_t cmdq_base;
    uint32_t cmdq_log_size;
    uint16_t cmdq_pi;
    uint16_t cmdq_ci;
    uint64_t eq_base;
    uint32_t eq_log_size;
    uint32_t eq_pi;
    uint32_t eq_ci;
    bool vf_events;         /* a VF may have frozen_event_pending set */

    /*
     * A command executed but not yet written back: a freeze waits until
     * every vCPU has run the TLB flush of the memory map change
     * (mvf_cmd.c, mvf_cmd_sync_cpus()).
     */
    MvfCpuSync *cpu_sync;   /* the wait in progress, or NULL */
    bool held;
    struct mvf_cmd_entry held_entry;
    MvfCmdResult held_result;
};

static inline void mvf_cmd_fail(MvfCmdResult *r, uint8_t status,
                                uint32_t syndrome)
{
    r->status = status;
    r->syndrome = syndrome;
}

static inline uint32_t mvf_ring_phase(uint32_t idx, uint32_t log_size)
{
    /* 1 on the first pass through a ring, 0 on the second, ... */
    return ((idx >> log_size) & 1) ^ 1;
}

/* mvf_pf.c */
void mvf_write_config(PCIDevice *dev, uint32_t addr, uint32_t val, int len);

/* mvf_cmd.c */
void mvf_cmd_reset(MvfPfState *pf, bool keep_config);
void mvf_cmd_ctrl_write(MvfPfState *pf, uint32_t val);
void mvf_cmd_doorbell(MvfPfState *pf, uint16_t pi);
void mvf_cmd_eq_ci_write(MvfPfState *pf, uint32_t ci);
void mvf_cmd_bh(void *opaque);
void mvf_cmd_exit(MvfPfState *pf);
void mvf_cmd_query_caps(MvfPfState *pf, MvfCmdResult *r);
void mvf_cmd_vf_event(MvfPfState *pf);

/* mvf_vf.c */
MvfVfState *mvf_pf_lookup_vf(MvfPfState *pf, uint16_t vhca_id,
                             MvfCmdResult *r);
void mvf_vf_suspend(MvfVfState *vf, uint32_t mode, MvfCmdResult *r);
void mvf_vf_resume(MvfVfState *vf, uint32_t mode, MvfCmdResult *r);
uint32_t mvf_vf_state_flags(MvfVfState *vf);
uint16_t mvf_vf_vhca_id(MvfVfState *vf);
void mvf_vf_set_frozen(MvfVfState *vf, bool frozen);
void mvf_vf_clear_devmem(MvfVfState *vf);

/* mvf_queue.c */
void mvf_vf_kick(MvfVfState *vf);
void mvf_vf_qp_bh(void *opaque);

/* mvf_mig.c */
uint64_t mvf_mig_image_size(uint64_t devmem_size);
void mvf_mig_save(MvfPfState *pf, MvfVfState *vf, uint16_t vhca_id,
                  uint64_t sgl_addr, uint32_t sgl_len, uint32_t data_len,
                  MvfCmdResult *r);
void mvf_mig_load(MvfPfState *pf, MvfVfState *vf, uint64_t sgl_addr,
                  uint32_t sgl_len, uint32_t data_len, MvfCmdResult *r);

#endif
