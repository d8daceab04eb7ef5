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

#include "qemu/bitmap.h"
#include "qemu/queue.h"
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

/*
 * What the device can do: MVF_CAP_DIRTY_TRACK goes with the dirty-track
 * property (mvf_pf_caps()).  A stream's IDENT carries, and LOAD accepts,
 * only the capabilities the VF state depends on (MVF_STREAM_CAPS).
 */
#define MVF_CAPS            (MVF_CAP_MIGRATION | MVF_CAP_P2P | \
                             MVF_CAP_PRE_COPY | MVF_CAP_DIRTY_TRACK)
#define MVF_STREAM_CAPS     (MVF_CAPS & MVF_CAP_STREAM_MASK)

/*
 * Dirty page tracker (mvf_track.c): page sizes 4 KiB..2 MiB, ranges, the
 * largest sum of range lengths (log2) and the capacity bounds of the
 * track-capacity property, in pages.
 */
#define MVF_TRACK_PAGE_SIZES    0x003ff000u
#define MVF_TRACK_MAX_RANGES    8
#define MVF_TRACK_ADDR_LOG2     48
#define MVF_TRACK_CAPACITY_MIN  64u
#define MVF_TRACK_CAPACITY_MAX  (16u << 20)
#define MVF_TRACK_CAPACITY_DEF  (1u << 20)

/*
 * The PCIe link of the PF (and, as seen in their Link Status, of its VFs):
 * Link Capabilities say 16 GT/s x16; the link comes up at that and the
 * "link" property changes it (mvf_ras.c).
 */
#define MVF_LINK_MAX_SPEED  QEMU_PCI_EXP_LNK_16GT
#define MVF_LINK_MAX_WIDTH  QEMU_PCI_EXP_LNK_X16

/* Largest device memory per VF (devmem-size property) */
#define MVF_DEVMEM_MAX      (16ULL << 30)

/* Work items handled per bottom half run before yielding */
#define MVF_WQE_BUDGET      256

/*
 * The command bottom half serves the functions round robin, one step of
 * one command per function and pass, at most MVF_PASS_STEPS steps per run.
 * A step of a long command (SAVE, LOAD, QUERY) moves at most
 * MVF_STEP_BYTES of stream data, scans at most MVF_SCAN_BYTES of device
 * memory or checks at most MVF_SGL_STEP scatter list elements.
 */
#define MVF_PASS_STEPS      16
#define MVF_STEP_BYTES      (1u << 20)
#define MVF_SCAN_BYTES      (16u << 20)
#define MVF_SGL_STEP        1024

/* Result of a command: status class, syndrome and inline output */
typedef struct MvfCmdResult {
    uint8_t status;
    uint32_t syndrome;
    uint32_t out[4];
    bool sync_cpus;         /* complete only after every vCPU synced */
} MvfCmdResult;

typedef struct MvfCpuSync MvfCpuSync;
typedef struct MvfTracker MvfTracker;

typedef struct MvfQueue {
    uint64_t base;
    uint32_t log_size;      /* 0 = not configured */
    uint32_t pi;
    uint32_t ci;
} MvfQueue;

/* The live state of a VF: exactly what a STATE record carries */
typedef struct MvfVfLive {
    uint32_t ctrl;
    uint32_t qp_error;      /* MVF_VF_STATUS_QP_ERROR or 0 */
    uint32_t scratch[MVF_VF_NUM_SCRATCH];
    MvfQueue sq, rq, cq;
    uint64_t cnt[MVF_VF_NUM_COUNTERS];
} MvfVfLive;

/* A save session (mvf_mig.c) */
typedef struct MvfSaveSession {
    unsigned long *dirty;   /* pages changed since they were last saved */
    uint64_t stream_bytes;  /* bytes of the records written */
    bool ident_written;
    bool size_written;
    bool state_written;     /* a STATE record was written ... */
    bool state_is_last;     /* ... and no record after it yet */
    bool complete;          /* END written: nothing more until START */
    struct mvf_rec_state last_state;    /* the last STATE written */
} MvfSaveSession;

/* A load session, or what one will be after a LOAD command */
typedef struct MvfLoadSession {
    uint64_t stream_bytes;  /* bytes of the records loaded */
    bool ident_seen;
    bool ended;             /* END loaded: the session closes */
    uint16_t last_tag;      /* the last known record, 0 before any */
    bool state_seen;
    MvfVfLive state;        /* the last STATE, staged until END */
} MvfLoadSession;

typedef enum {
    MVF_SGL_TO_HOST,
    MVF_SGL_FROM_HOST,
} MvfSglDir;

/* A scatter list walk */
typedef struct MvfSgl {
    PCIDevice *dev;
    uint64_t table;         /* next element to fetch */
    uint32_t table_left;    /* bytes left in the current table */
    int depth;              /* chain links followed */
    uint64_t addr;          /* current data buffer */
    uint64_t left;          /* bytes left in it */
} MvfSgl;

/* Sizing walk over device memory pages (QUERY, SAVE's SIZE record) */
typedef struct MvfScan {
    uint64_t page;          /* next page to look at */
    uint64_t bytes;         /* bytes of the DEVMEM records found so far */
    bool any;               /* at least one DEVMEM record */
} MvfScan;

typedef enum MvfStep {
    MVF_STEP_DONE,          /* the command has its result */
    MVF_STEP_MORE,          /* call again in a later pass */
    MVF_STEP_LOG_SYNC,      /* call again once the VF's dirty log is merged */
} MvfStep;

typedef enum MvfJobStage {
    MVF_JOB_SGL,            /* SAVE: checking the scatter list */
    MVF_JOB_READ,           /* LOAD: reading the records */
    MVF_JOB_CHECK,          /* LOAD: checking them */
    MVF_JOB_APPLY,          /* LOAD: applying them */
    MVF_JOB_SCAN,           /* QUERY, SAVE's SIZE: sizing */
    MVF_JOB_WRITE,          /* SAVE: writing records */
} MvfJobStage;

/*
 * A fetched command entry.  Commands of a VF wait in its function's FIFO
 * (MvfFn) and run one step per pass; finished commands wait in the PF's
 * done list for their write-back and event.
 */
typedef struct MvfCmd {
    QSIMPLEQ_ENTRY(MvfCmd) next;
    struct mvf_cmd_entry e; /* the entry as fetched */
    uint16_t index;         /* command queue index it was fetched from */
    MvfCmdResult r;
    bool started;           /* a long command with a job in progress */
    bool executed;          /* result final, waits for the vCPU sync */
    bool log_merged;        /* its VF's dirty log was merged for it */
    bool aborted;           /* SAVE/LOAD hit by an uncorrectable VF error */
    uint32_t gen;           /* the VF's reset generation when started */

    /* long commands (mvf_mig.c) */
    MvfJobStage stage;
    MvfSgl sgl;
    uint64_t sgl_checked;   /* SAVE: bytes of the list checked */
    uint64_t pos;           /* SAVE: bytes written; LOAD: bytes read/done */
    uint64_t next_page;     /* SAVE: where to look for changed pages */
    bool sized;             /* SAVE: the SIZE record's value is known */
    MvfScan scan;
    uint8_t *buf;           /* SAVE: one record; LOAD: the records */
    MvfLoadSession ls;      /* LOAD: the session after this command */
} MvfCmd;

typedef QSIMPLEQ_HEAD(, MvfCmd) MvfCmdList;

/* Command scheduling state of one VF, kept by the PF */
typedef struct MvfFn {
    MvfCmdList fifo;        /* its commands, head first */
    MvfCpuSync *cpu_sync;   /* the head's freeze waits for the vCPUs */
    bool log_sync;          /* the head waits for mvf_cmd_log_bh() */
} MvfFn;

struct MvfVfState {
    PCIDevice parent_obj;

    MemoryRegion mmio;
    MemoryRegion devmem_bar;    /* BAR2: devmem with frozen_trap over it */
    MemoryRegion devmem;        /* RAM, dirty logged (DIRTY_MEMORY_VGA) */
    MemoryRegion frozen_trap;   /* enabled only while frozen */
    uint8_t *devmem_ptr;
    uint64_t devmem_size;
    uint64_t devmem_pages;      /* in MVF_DEVMEM_PAGE_SIZE pages */
    QEMUBH *bh;

    bool quiesced;          /* SUSPEND_VHCA(INITIATOR) */
    bool frozen;            /* SUSPEND_VHCA(RESPONDER) */
    MvfVfLive live;

    /* migration (mvf_mig.c) */
    uint32_t gen;               /* counts function resets */
    MvfSaveSession *save;       /* open save session or NULL */
    MvfLoadSession *load;       /* open load session or NULL */
    bool log_synced;            /* frozen and the dirty log merged since */

    /*
     * Accesses trapped while frozen.  Not function state: never in a
     * migration stream, cleared by a function reset only.
     */
    uint32_t frozen_accesses;   /* saturating */
    bool frozen_event_armed;    /* the next trapped access posts an event */
    bool frozen_event_pending;  /* an event waits for the PF's EQ */

    /*
     * Dirty page tracker (mvf_track.c) or NULL.  Not function state
     * either: an FLR keeps it, VF disable frees it.  track_gen counts
     * trackers created and freed, so that a command that did DMA can tell
     * whether the one it started with is still there.
     */
    MvfTracker *track;
    uint32_t track_gen;
};

struct MvfPfState {
    PCIDevice parent_obj;

    MemoryRegion mmio;
    QEMUBH *cmd_bh;
    QEMUBH *log_bh;         /* not guarded: mvf_cmd_log_bh() */

    /* properties */
    uint16_t total_vfs;
    uint64_t devmem_size;
    bool dirty_track;       /* MVF_CAP_DIRTY_TRACK and its commands */
    uint32_t track_capacity;    /* most pages a tracker stores */

    /* command interface */
    uint32_t ctrl;
    uint32_t status;
    uint64_t cmdq_base;
    uint32_t cmdq_log_size;
    uint16_t cmdq_pi;
    uint16_t cmdq_ci;       /* entries fetched */
    uint64_t eq_base;
    uint32_t eq_log_size;
    uint32_t eq_pi;
    uint32_t eq_ci;
    bool vf_events;         /* a VF may have frozen_event_pending set */
    bool link_event;        /* an MVF_EVENT_LINK_CHANGE waits for room */

    /* PCIe link (mvf_ras.c): current Link Status values */
    uint8_t link_speed;     /* PCIExpLinkSpeed */
    uint8_t link_width;     /* PCIExpLinkWidth */

    /* fetched commands (mvf_cmd.c) */
    MvfFn *fn;              /* [total_vfs]: VF n is fn[n - 1] */
    MvfCmdList done;        /* finished, in completion order */
    unsigned long busy[BITS_TO_LONGS(1u << MVF_CMDQ_LOG_SIZE_MAX)];
    uint16_t rr_next;       /* function the next pass starts with */
    MvfCmd *cur;            /* the command running a step */
    uint32_t stop_gen;      /* counts stops of the command interface */
};

static inline void mvf_cmd_fail(MvfCmdResult *r, uint8_t status,
                                uint32_t syndrome)
{
    r->status = status;
    r->syndrome = syndrome;
}

static inline uint32_t mvf_pf_caps(const MvfPfState *pf)
{
    return pf->dirty_track ? MVF_CAPS : MVF_CAPS & ~MVF_CAP_DIRTY_TRACK;
}

static inline uint32_t mvf_ring_phase(uint32_t idx, uint32_t log_size)
{
    /* 1 on the first pass through a ring, 0 on the second, ... */
    return ((idx >> log_size) & 1) ^ 1;
}

/* mvf_pf.c */
void mvf_write_config(PCIDevice *dev, uint32_t addr, uint32_t val, int len);

/* mvf_cmd.c */
void mvf_cmd_init(MvfPfState *pf);
void mvf_cmd_reset(MvfPfState *pf, bool keep_config);
void mvf_cmd_ctrl_write(MvfPfState *pf, uint32_t val);
void mvf_cmd_doorbell(MvfPfState *pf, uint16_t pi);
void mvf_cmd_eq_ci_write(MvfPfState *pf, uint32_t ci);
void mvf_cmd_bh(void *opaque);
void mvf_cmd_log_bh(void *opaque);
void mvf_cmd_exit(MvfPfState *pf);
void mvf_cmd_query_caps(MvfPfState *pf, MvfCmdResult *r);
void mvf_cmd_vf_event(MvfPfState *pf);
void mvf_cmd_error(MvfPfState *pf);
void mvf_cmd_vf_error(MvfPfState *pf, MvfVfState *vf);
void mvf_cmd_link_event(MvfPfState *pf);

/* mvf_ras.c */
void mvf_ras_init(PCIDevice *dev);
void mvf_ras_link_init(PCIDevice *dev, MvfPfState *pf);
void mvf_ras_class_init(ObjectClass *klass);

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
MemTxResult mvf_vf_dma_write(MvfVfState *vf, dma_addr_t addr,
                             const void *buf, dma_addr_t len);
void mvf_vf_qp_bh(void *opaque);

/* mvf_mig.c */
void mvf_mig_devmem_changed(MvfVfState *vf, uint64_t off, uint64_t len);
void mvf_mig_vf_reset(MvfVfState *vf);
void mvf_mig_vf_thawed(MvfVfState *vf);
MvfStep mvf_mig_query(MvfPfState *pf, MvfVfState *vf, MvfCmd *c);
void mvf_mig_sync(MvfVfState *vf);
MvfStep mvf_mig_save(MvfPfState *pf, MvfVfState *vf, MvfCmd *c);
MvfStep mvf_mig_load(MvfPfState *pf, MvfVfState *vf, MvfCmd *c);
void mvf_mig_cmd_abort(MvfVfState *vf, MvfCmd *c);
void mvf_mig_vf_error(MvfVfState *vf);
void mvf_mig_cmd_free(MvfCmd *c);
bool mvf_sgl_init(MvfSgl *s, PCIDevice *dev, uint64_t addr, uint32_t len,
                  MvfCmdResult *r);
bool mvf_sgl_xfer(MvfSgl *s, uint8_t *buf, uint64_t len, MvfSglDir dir,
                  MvfCmdResult *r);

/* mvf_track.c */
void mvf_track_query_caps(MvfPfState *pf, MvfCmdResult *r);
void mvf_track_create(MvfPfState *pf, MvfVfState *vf, MvfCmd *c);
void mvf_track_destroy(MvfVfState *vf, MvfCmdResult *r);
void mvf_track_report(MvfPfState *pf, MvfVfState *vf, MvfCmd *c);
void mvf_track_mark(MvfTracker *t, uint64_t addr, uint64_t len);
void mvf_track_free(MvfVfState *vf);
char *mvf_track_stats(MvfPfState *pf);

#endif
