/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MVF emulated SR-IOV device: VF migration.  SAVE_VHCA_STATE and
 * LOAD_VHCA_STATE move a VF's migration stream, a sequence of records
 * (mvf_if.h), in sessions; QUERY_VHCA_MIGRATION_STATE tells how many bytes
 * are left.
 *
 * Save session: START marks every page of device memory changed; each SAVE
 * writes the next records that fit: IDENT and SIZE once, a DEVMEM record
 * for each run of changed pages (which clears them), then STATE when the
 * registers differ from the last STATE written, and, for a frozen VF, a
 * final STATE and END.  Pages change through the CPU (BAR2 is RAM, so
 * QEMU's dirty log of the region, client DIRTY_MEMORY_VGA, sees it), the
 * VF's DEVMEM_WRITE WQEs and LOAD (both mark the log with
 * mvf_mig_devmem_changed()).  Each SAVE and QUERY first merges the log into
 * the session's bitmap and clears it, before any page is copied, so a
 * write that races with the copy is logged again and saved by a later
 * SAVE.  A frozen VF cannot change, so once merged after the freeze the
 * log is not looked at again until something marks it.
 *
 * Which records the changed pages give is fixed: from the lowest changed
 * page up, a record takes the changed pages that follow without a gap,
 * while they are all zero or all not zero, at most MVF_REC_DEVMEM_MAX_PAGES
 * of them.  QUERY and the SIZE record walk the same rule without writing,
 * so their byte counts are exact for a VF that does not change meanwhile.
 *
 * Load session: each LOAD reads its records into a private buffer, checks
 * all of them against the VF and the session, then applies them: DEVMEM
 * at once, STATE staged in the session until END.
 *
 * Long commands run in steps (mvf_cmd.c), each bounded by MVF_STEP_BYTES of
 * records, MVF_SCAN_BYTES of device memory looked at or MVF_SGL_STEP
 * scatter list elements.  A step's DMA may reach a config space and reset
 * the VF or the PF: after each one the step looks whether its VF's reset
 * generation or the command interface changed before it touches a session.
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/cutils.h"
#include "qemu/bitmap.h"
#include "exec/memory.h"
#include "hw/pci/pci.h"
#include "mvf.h"
#include <zlib.h>

#define MVF_PAGE                MVF_DEVMEM_PAGE_SIZE

/* QEMU's dirty bitmap is merged a word (64 target pages) at a time */
#define MVF_SYNC_CHUNK          (64 * MVF_PAGE)

QEMU_BUILD_BUG_ON(sizeof(struct mvf_cmd_entry) != MVF_CMD_ENTRY_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_eqe) != MVF_EQE_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_sge) != 16);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_send_wqe) != MVF_SEND_WQE_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_recv_wqe) != MVF_RECV_WQE_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_cqe) != MVF_CQE_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_rec_hdr) != MVF_REC_HDR_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_rec_ident) != 40);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_rec_size) != 8);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_rec_devmem) != 16);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_rec_state) != 208);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_rec_end) != 8);
/* the device's largest record fits the reader's buffer */
QEMU_BUILD_BUG_ON(MVF_REC_HDR_SIZE + sizeof(struct mvf_rec_devmem) +
                  MVF_REC_DEVMEM_MAX_PAGES * MVF_PAGE > MVF_REC_MAX_SIZE);

/* ---- records ---- */

/* The bytes of a whole record with @payload bytes of payload */
static uint64_t mvf_rec_bytes(uint64_t payload)
{
    return MVF_REC_HDR_SIZE + ROUND_UP(payload, MVF_REC_ALIGN);
}

#define MVF_IDENT_BYTES mvf_rec_bytes(sizeof(struct mvf_rec_ident))
#define MVF_SIZE_BYTES  mvf_rec_bytes(sizeof(struct mvf_rec_size))
#define MVF_STATE_BYTES mvf_rec_bytes(sizeof(struct mvf_rec_state))
#define MVF_END_BYTES   mvf_rec_bytes(sizeof(struct mvf_rec_end))

static uint64_t mvf_devmem_rec_bytes(uint32_t pages, bool zero)
{
    return mvf_rec_bytes(sizeof(struct mvf_rec_devmem) +
                         (zero ? 0 : (uint64_t)pages * MVF_PAGE));
}

/* SIZE is the one optional record the device writes */
static bool mvf_rec_mandatory(uint16_t tag)
{
    return tag != MVF_REC_SIZE;
}

/*
 * Complete the record whose @len payload bytes are at @buf +
 * MVF_REC_HDR_SIZE: header, zero padding, CRC.  Returns its bytes.
 */
static uint64_t mvf_rec_seal(uint8_t *buf, uint16_t tag, uint64_t len)
{
    struct mvf_rec_hdr h = {
        .tag = cpu_to_le16(tag),
        .flags = cpu_to_le16(mvf_rec_mandatory(tag) ? MVF_REC_F_MANDATORY
                                                     : 0),
        .len = cpu_to_le64(len),
    };
    uint64_t bytes = mvf_rec_bytes(len);

    memcpy(buf, &h, sizeof(h));
    memset(buf + MVF_REC_HDR_SIZE + len, 0, bytes - MVF_REC_HDR_SIZE - len);
    h.crc32 = cpu_to_le32(crc32_z(crc32(0, Z_NULL, 0), buf,
                                  MVF_REC_HDR_SIZE + len));
    memcpy(buf, &h, sizeof(h));
    return bytes;
}

static void mvf_ident_build(struct mvf_rec_ident *id, MvfVfState *vf)
{
    *id = (struct mvf_rec_ident) {
        .magic = cpu_to_le32(MVF_STREAM_MAGIC),
        .version_major = cpu_to_le16(MVF_STREAM_VERSION_MAJOR),
        .version_minor = cpu_to_le16(MVF_STREAM_VERSION_MINOR),
        .vendor_id = cpu_to_le16(MVF_PCI_VENDOR_ID),
        .device_id = cpu_to_le16(MVF_PCI_DEVICE_ID_VF),
        .if_version = cpu_to_le32(MVF_IF_VERSION),
        .caps = cpu_to_le32(MVF_STREAM_CAPS),
        .page_size = cpu_to_le32(MVF_PAGE),
        .devmem_size = cpu_to_le64(vf->devmem_size),
        .src_vhca_id = cpu_to_le16(mvf_vf_vhca_id(vf)),
    };
}

static void mvf_state_put_queue(struct mvf_img_queue *iq, const MvfQueue *q)
{
    iq->base = cpu_to_le64(q->base);
    iq->log_size = cpu_to_le32(q->log_size);
    iq->pi = cpu_to_le32(q->pi);
    iq->ci = cpu_to_le32(q->ci);
    iq->rsvd0 = 0;
}

/*
 * The STATE record of @vf now; with @as_frozen as it would be were it
 * frozen now (the suspend bits of STATUS set).
 */
static void mvf_state_build(struct mvf_rec_state *st, MvfVfState *vf,
                            bool as_frozen)
{
    const MvfVfLive *l = &vf->live;
    int i;

    memset(st, 0, sizeof(*st));
    st->regs.ctrl = cpu_to_le32(l->ctrl);
    st->regs.status = cpu_to_le32(l->qp_error |
        (vf->quiesced || as_frozen ? MVF_VF_STATUS_QUIESCED : 0) |
        (vf->frozen || as_frozen ? MVF_VF_STATUS_FROZEN : 0));
    for (i = 0; i < MVF_VF_NUM_SCRATCH; i++) {
        st->regs.scratch[i] = cpu_to_le32(l->scratch[i]);
    }
    mvf_state_put_queue(&st->queues.sq, &l->sq);
    mvf_state_put_queue(&st->queues.rq, &l->rq);
    mvf_state_put_queue(&st->queues.cq, &l->cq);
    for (i = 0; i < MVF_VF_NUM_COUNTERS; i++) {
        st->cnt[i] = cpu_to_le64(l->cnt[i]);
    }
}

/* ---- scatter lists ---- */

/* Also used by the tracker commands (mvf_track.c) */
bool mvf_sgl_init(MvfSgl *s, PCIDevice *dev, uint64_t addr, uint32_t len,
                  MvfCmdResult *r)
{
    *s = (MvfSgl) { .dev = dev, .table = addr, .table_left = len };
    if (len == 0 || len % sizeof(struct mvf_sge)) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_SGL);
        return false;
    }
    return true;
}

static bool mvf_sgl_next(MvfSgl *s, MvfCmdResult *r)
{
    struct mvf_sge e;
    uint32_t flags, len;

    for (;;) {
        if (!s->table_left) {
            /* the list holds less than the data */
            mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_SGL);
            return false;
        }
        if (pci_dma_read(s->dev, s->table, &e, sizeof(e)) != MEMTX_OK) {
            mvf_cmd_fail(r, MVF_CMD_STAT_DMA_ERROR, MVF_SYND_DMA_READ);
            return false;
        }
        s->table += sizeof(e);
        s->table_left -= sizeof(e);
        flags = le32_to_cpu(e.flags);
        len = le32_to_cpu(e.len);
        if ((flags & ~MVF_SGE_F_CHAIN) || !len) {
            mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_SGL);
            return false;
        }
        if (!(flags & MVF_SGE_F_CHAIN)) {
            s->addr = le64_to_cpu(e.addr);
            s->left = len;
            return true;
        }
        /* a chain element ends its table and links the next one */
        if (s->table_left || ++s->depth > MVF_SGL_MAX_DEPTH ||
            len % sizeof(struct mvf_sge)) {
            mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_SGL);
            return false;
        }
        s->table = le64_to_cpu(e.addr);
        s->table_left = len;
    }
}

/*
 * Walk on without moving data, at most MVF_SGL_STEP elements, until @done
 * bytes reach @total.
 */
static bool mvf_sgl_check(MvfSgl *s, uint64_t *done, uint64_t total,
                          MvfCmdResult *r)
{
    int n;

    for (n = 0; n < MVF_SGL_STEP && *done < total; n++) {
        uint64_t k;

        if (!s->left && !mvf_sgl_next(s, r)) {
            return false;
        }
        k = MIN(total - *done, s->left);
        s->left -= k;
        *done += k;
    }
    return true;
}

bool mvf_sgl_xfer(MvfSgl *s, uint8_t *buf, uint64_t len, MvfSglDir dir,
                  MvfCmdResult *r)
{
    while (len) {
        uint64_t n;

        if (!s->left && !mvf_sgl_next(s, r)) {
            return false;
        }
        n = MIN(len, s->left);
        if (dir == MVF_SGL_TO_HOST &&
            pci_dma_write(s->dev, s->addr, buf, n) != MEMTX_OK) {
            mvf_cmd_fail(r, MVF_CMD_STAT_DMA_ERROR, MVF_SYND_DMA_WRITE);
            return false;
        }
        if (dir == MVF_SGL_FROM_HOST &&
            pci_dma_read(s->dev, s->addr, buf, n) != MEMTX_OK) {
            mvf_cmd_fail(r, MVF_CMD_STAT_DMA_ERROR, MVF_SYND_DMA_READ);
            return false;
        }
        s->addr += n;
        s->left -= n;
        buf += n;
        len -= n;
    }
    return true;
}

/* ---- jobs ---- */

void mvf_mig_cmd_free(MvfCmd *c)
{
    g_free(c->buf);
    c->buf = NULL;
    c->started = false;
}

static MvfStep mvf_mig_fail(MvfCmd *c, uint8_t status, uint32_t syndrome)
{
    mvf_mig_cmd_free(c);
    c->r = (MvfCmdResult) { 0 };
    mvf_cmd_fail(&c->r, status, syndrome);
    return MVF_STEP_DONE;
}

/*
 * After a DMA: did it reset the VF (its sessions are gone: the command
 * fails) or stop the command interface (mvf_cmd.c drops the command)?
 */
static bool mvf_mig_interrupted(MvfPfState *pf, MvfVfState *vf, MvfCmd *c)
{
    if (vf->gen != c->gen) {
        mvf_mig_fail(c, MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_SESSION);
        return true;
    }
    return !(pf->status & MVF_PF_STATUS_READY);
}

static void mvf_save_close(MvfVfState *vf)
{
    if (vf->save) {
        g_free(vf->save->dirty);
        g_free(vf->save);
        vf->save = NULL;
    }
}

static void mvf_load_close(MvfVfState *vf)
{
    g_free(vf->load);
    vf->load = NULL;
}

void mvf_mig_cmd_abort(MvfVfState *vf, MvfCmd *c)
{
    switch (le16_to_cpu(c->e.opcode)) {
    case MVF_CMD_SAVE_VHCA_STATE:
        if (c->stage != MVF_JOB_SGL) {
            mvf_save_close(vf);     /* records may be half written */
        }
        break;
    case MVF_CMD_LOAD_VHCA_STATE:
        mvf_load_close(vf);         /* records may be half applied */
        break;
    }
}

void mvf_mig_vf_reset(MvfVfState *vf)
{
    mvf_save_close(vf);
    mvf_load_close(vf);
    vf->gen++;
    vf->log_synced = false;
}

/*
 * An uncorrectable error of the VF: its sessions are dropped (the commands
 * of them that were fetched already fail, see mvf_cmd_vf_error()); the
 * VF's state and the change tracking of its device memory stay.
 */
void mvf_mig_vf_error(MvfVfState *vf)
{
    mvf_save_close(vf);
    mvf_load_close(vf);
}

void mvf_mig_vf_thawed(MvfVfState *vf)
{
    /* a load session needs a frozen VF: its staged STATE is dropped */
    mvf_load_close(vf);
}

/* ---- change tracking ---- */

void mvf_mig_devmem_changed(MvfVfState *vf, uint64_t off, uint64_t len)
{
    if (len) {
        memory_region_set_dirty(&vf->devmem, off, len);
        vf->log_synced = false;
    }
}

/*
 * Merge QEMU's dirty log of the device memory into the save session's
 * bitmap (or drop it without a session) and clear it.
 */
/*
 * Merge the VF's dirty log into its save session.  Only from
 * mvf_cmd_log_bh(): may drop the BQL (see there).
 */
void mvf_mig_sync(MvfVfState *vf)
{
    MemoryRegion *mr = &vf->devmem;
    DirtyBitmapSnapshot *snap;
    uint64_t off, p;

    if (vf->frozen && vf->log_synced) {
        return;
    }
    snap = memory_region_snapshot_and_clear_dirty(mr, 0, vf->devmem_size,
                                                  DIRTY_MEMORY_VGA);
    if (vf->save) {
        for (off = 0; off < vf->devmem_size; off += MVF_SYNC_CHUNK) {
            if (!memory_region_snapshot_get_dirty(mr, snap, off,
                                                  MVF_SYNC_CHUNK)) {
                continue;
            }
            for (p = off; p < off + MVF_SYNC_CHUNK; p += MVF_PAGE) {
                if (memory_region_snapshot_get_dirty(mr, snap, p, MVF_PAGE)) {
                    set_bit(p / MVF_PAGE, vf->save->dirty);
                }
            }
        }
    }
    g_free(snap);
    vf->log_synced = vf->frozen;
}

static bool mvf_page_zero(MvfVfState *vf, uint64_t page)
{
    return buffer_is_zero(vf->devmem_ptr + page * MVF_PAGE, MVF_PAGE);
}

/*
 * The DEVMEM record that starts at changed page @p: the changed pages that
 * follow it without a gap, all zero or all not, at most
 * MVF_REC_DEVMEM_MAX_PAGES.  @dirty NULL: every page counts as changed.
 */
static uint32_t mvf_devmem_run(MvfVfState *vf, const unsigned long *dirty,
                               uint64_t p, bool *zero)
{
    uint32_t n = 1;

    *zero = mvf_page_zero(vf, p);
    while (n < MVF_REC_DEVMEM_MAX_PAGES && p + n < vf->devmem_pages &&
           (!dirty || test_bit(p + n, dirty)) &&
           mvf_page_zero(vf, p + n) == *zero) {
        n++;
    }
    return n;
}

/*
 * Size the DEVMEM records of the changed pages from @scan->page on, at
 * most MVF_SCAN_BYTES of device memory; true when all are sized.
 */
static bool mvf_scan_step(MvfVfState *vf, const unsigned long *dirty,
                          MvfScan *scan)
{
    uint64_t budget = MVF_SCAN_BYTES / MVF_PAGE;

    while (budget) {
        uint64_t p = dirty ? find_next_bit(dirty, vf->devmem_pages,
                                           scan->page)
                           : scan->page;
        uint32_t n;
        bool zero;

        if (p >= vf->devmem_pages) {
            scan->page = vf->devmem_pages;
            return true;
        }
        n = mvf_devmem_run(vf, dirty, p, &zero);
        scan->bytes += mvf_devmem_rec_bytes(n, zero);
        scan->any = true;
        scan->page = p + n;
        budget -= MIN(budget, n);
    }
    return false;
}

/*
 * The save session QUERY looks at: a complete one (END written) counts as
 * none, so that QUERY sizes the whole stream a new session would write.
 */
static MvfSaveSession *mvf_save_session(MvfVfState *vf)
{
    return vf->save && !vf->save->complete ? vf->save : NULL;
}

/*
 * The stream bytes still to come up to and including END were @vf frozen
 * now, given the sizing of its changed pages; without a session, those of
 * a whole stream.
 */
static uint64_t mvf_save_remaining(MvfVfState *vf, const MvfScan *scan)
{
    MvfSaveSession *s = mvf_save_session(vf);
    struct mvf_rec_state st;
    uint64_t n = scan->bytes + MVF_END_BYTES;

    if (!s) {
        return MVF_IDENT_BYTES + MVF_SIZE_BYTES + n + MVF_STATE_BYTES;
    }
    if (!s->ident_written) {
        n += MVF_IDENT_BYTES;
    }
    if (!s->size_written) {
        n += MVF_SIZE_BYTES;
    }
    mvf_state_build(&st, vf, true);
    if (scan->any || !s->state_is_last ||
        memcmp(&st, &s->last_state, sizeof(st))) {
        n += MVF_STATE_BYTES;
    }
    return n;
}

/* The bytes a SAVE would write now (with room for all of them) */
static uint64_t mvf_save_incremental(MvfVfState *vf, const MvfScan *scan)
{
    MvfSaveSession *s = mvf_save_session(vf);
    struct mvf_rec_state st;
    uint64_t n = scan->bytes;

    if (!s) {
        return 0;
    }
    if (vf->frozen) {
        return mvf_save_remaining(vf, scan);
    }
    if (!s->ident_written) {
        n += MVF_IDENT_BYTES;
    }
    if (!s->size_written) {
        n += MVF_SIZE_BYTES;
    }
    mvf_state_build(&st, vf, false);
    if (!s->state_written || memcmp(&st, &s->last_state, sizeof(st))) {
        n += MVF_STATE_BYTES;
    }
    return n;
}

/* ---- QUERY_VHCA_MIGRATION_STATE ---- */

MvfStep mvf_mig_query(MvfPfState *pf, MvfVfState *vf, MvfCmd *c)
{
    bool incremental = le32_to_cpu(c->e.in[0]) & MVF_QUERY_F_INCREMENTAL;
    MvfCmdResult *r = &c->r;
    uint64_t n;

    if (!c->log_merged && !(vf->frozen && vf->log_synced)) {
        return MVF_STEP_LOG_SYNC;
    }
    if (!c->started) {
        c->started = true;
        c->gen = vf->gen;
        c->stage = MVF_JOB_SCAN;
        c->scan = (MvfScan) { 0 };
    }
    if (!(incremental && !mvf_save_session(vf)) &&
        !mvf_scan_step(vf, mvf_save_session(vf) ?
                       mvf_save_session(vf)->dirty : NULL, &c->scan)) {
        return MVF_STEP_MORE;
    }
    n = incremental ? mvf_save_incremental(vf, &c->scan)
                    : mvf_save_remaining(vf, &c->scan);
    r->out[0] = (uint32_t)n;
    r->out[1] = n >> 32;
    r->out[2] = mvf_vf_state_flags(vf);
    r->out[3] = vf->frozen_accesses;
    mvf_mig_cmd_free(c);
    return MVF_STEP_DONE;
}

/* ---- SAVE_VHCA_STATE ---- */

typedef struct MvfRec {
    uint16_t tag;
    uint64_t page;          /* DEVMEM: first page */
    uint32_t pages;
    bool zero;
    uint64_t bytes;         /* of the whole record */
} MvfRec;

/*
 * The next record of @vf's save session for SAVE @c, with @st the STATE
 * it would write; false: nothing left to write (a running VF that did not
 * change since).
 */
static bool mvf_save_next(MvfVfState *vf, MvfCmd *c, MvfRec *rec,
                          struct mvf_rec_state *st)
{
    MvfSaveSession *s = vf->save;
    uint64_t p;

    *rec = (MvfRec) { 0 };
    if (!s->ident_written) {
        rec->tag = MVF_REC_IDENT;
        rec->bytes = MVF_IDENT_BYTES;
        return true;
    }
    if (!s->size_written) {
        rec->tag = MVF_REC_SIZE;
        rec->bytes = MVF_SIZE_BYTES;
        return true;
    }
    p = find_next_bit(s->dirty, vf->devmem_pages, c->next_page);
    if (p < vf->devmem_pages) {
        rec->tag = MVF_REC_DEVMEM;
        rec->page = p;
        rec->pages = mvf_devmem_run(vf, s->dirty, p, &rec->zero);
        rec->bytes = mvf_devmem_rec_bytes(rec->pages, rec->zero);
        return true;
    }
    mvf_state_build(st, vf, false);
    if (vf->frozen) {
        /* the stream ends with the current STATE, then END */
        if (!s->state_is_last || memcmp(st, &s->last_state, sizeof(*st))) {
            rec->tag = MVF_REC_STATE;
            rec->bytes = MVF_STATE_BYTES;
        } else {
            rec->tag = MVF_REC_END;
            rec->bytes = MVF_END_BYTES;
        }
        return true;
    }
    if (!s->state_written || memcmp(st, &s->last_state, sizeof(*st))) {
        rec->tag = MVF_REC_STATE;
        rec->bytes = MVF_STATE_BYTES;
        return true;
    }
    return false;
}

static void mvf_save_open(MvfVfState *vf)
{
    MvfSaveSession *s = g_new0(MvfSaveSession, 1);

    /*
     * Everything counts as changed.  The log was merged for this SAVE
     * already, with the wait for the vCPUs after it: not again here, as
     * a merge must come before that wait.
     */
    mvf_save_close(vf);
    s->dirty = bitmap_new(vf->devmem_pages);
    bitmap_set(s->dirty, 0, vf->devmem_pages);
    vf->save = s;
}

static MvfStep mvf_save_done(MvfCmd *c, bool end)
{
    c->r.out[0] = (uint32_t)c->pos;
    c->r.out[1] = c->pos >> 32;
    c->r.out[2] = end ? MVF_SAVE_OUT_END : 0;
    mvf_mig_cmd_free(c);
    return MVF_STEP_DONE;
}

/* Write records, one step's worth */
static MvfStep mvf_save_write(MvfPfState *pf, MvfVfState *vf, MvfCmd *c)
{
    uint64_t data_len = le32_to_cpu(c->e.data_len);
    uint64_t moved = 0, scanned = 0;

    while (moved < MVF_STEP_BYTES && scanned < MVF_SCAN_BYTES) {
        MvfSaveSession *s = vf->save;
        uint8_t *pl = c->buf + MVF_REC_HDR_SIZE;
        struct mvf_rec_state st;
        uint64_t len = 0;
        MvfRec rec;
        bool ok;

        if (!mvf_save_next(vf, c, &rec, &st)) {
            return mvf_save_done(c, false);
        }
        if (c->pos + rec.bytes > data_len) {
            if (!c->pos) {
                /* not even one record (it grew since the first look) */
                mvf_mig_fail(c, MVF_CMD_STAT_NO_SPACE, MVF_SYND_SAVE_NO_SPACE);
                c->r.out[0] = (uint32_t)rec.bytes;
                c->r.out[1] = rec.bytes >> 32;
                return MVF_STEP_DONE;
            }
            return mvf_save_done(c, false);
        }
        if (rec.tag == MVF_REC_SIZE && !c->sized) {
            /* it fits; its value needs a walk over the changed pages */
            c->stage = MVF_JOB_SCAN;
            c->scan = (MvfScan) { 0 };
            return MVF_STEP_MORE;
        }

        switch (rec.tag) {
        case MVF_REC_IDENT: {
            struct mvf_rec_ident id;

            mvf_ident_build(&id, vf);
            memcpy(pl, &id, sizeof(id));
            len = sizeof(id);
            break;
        }
        case MVF_REC_SIZE: {
            struct mvf_rec_size sz = {
                .stream_bytes = cpu_to_le64(s->stream_bytes +
                                            mvf_save_remaining(vf, &c->scan)),
            };

            memcpy(pl, &sz, sizeof(sz));
            len = sizeof(sz);
            break;
        }
        case MVF_REC_DEVMEM: {
            struct mvf_rec_devmem d = {
                .offset = cpu_to_le64(rec.page * MVF_PAGE),
                .pages = cpu_to_le32(rec.pages),
                .flags = cpu_to_le32(rec.zero ? MVF_REC_DEVMEM_F_ZERO : 0),
            };
            uint64_t n = (uint64_t)rec.pages * MVF_PAGE;

            /* the log was cleared before: a later write logs it again */
            bitmap_clear(s->dirty, rec.page, rec.pages);
            memcpy(pl, &d, sizeof(d));
            len = sizeof(d);
            if (!rec.zero) {
                memcpy(pl + len, vf->devmem_ptr + rec.page * MVF_PAGE, n);
                len += n;
            }
            scanned += n;
            break;
        }
        case MVF_REC_STATE:
            memcpy(pl, &st, sizeof(st));
            len = sizeof(st);
            break;
        case MVF_REC_END: {
            struct mvf_rec_end end = {
                .stream_bytes = cpu_to_le64(s->stream_bytes),
            };

            memcpy(pl, &end, sizeof(end));
            len = sizeof(end);
            break;
        }
        }
        mvf_rec_seal(c->buf, rec.tag, len);

        ok = mvf_sgl_xfer(&c->sgl, c->buf, rec.bytes, MVF_SGL_TO_HOST,
                          &c->r);
        if (mvf_mig_interrupted(pf, vf, c)) {
            return MVF_STEP_DONE;
        }
        if (!ok) {
            /* records are half written: this stream is lost */
            mvf_save_close(vf);
            return mvf_mig_fail(c, c->r.status, c->r.syndrome);
        }

        s->stream_bytes += rec.bytes;
        c->pos += rec.bytes;
        moved += rec.bytes;
        switch (rec.tag) {
        case MVF_REC_IDENT:
            s->ident_written = true;
            break;
        case MVF_REC_SIZE:
            s->size_written = true;
            break;
        case MVF_REC_DEVMEM:
            s->state_is_last = false;
            c->next_page = rec.page + rec.pages;
            break;
        case MVF_REC_STATE:
            s->last_state = st;
            s->state_written = true;
            s->state_is_last = true;
            break;
        case MVF_REC_END:
            /* later SAVEs of the session write nothing, until START */
            s->complete = true;
            return mvf_save_done(c, true);
        }
    }
    return MVF_STEP_MORE;
}

/* Check the scatter list, one step's worth; then start writing */
static MvfStep mvf_save_sgl(MvfPfState *pf, MvfVfState *vf, MvfCmd *c)
{
    uint64_t data_len = le32_to_cpu(c->e.data_len);
    bool ok = mvf_sgl_check(&c->sgl, &c->sgl_checked, data_len, &c->r);

    if (mvf_mig_interrupted(pf, vf, c)) {
        return MVF_STEP_DONE;
    }
    if (!ok) {
        return mvf_mig_fail(c, c->r.status, c->r.syndrome);
    }
    if (c->sgl_checked < data_len) {
        return MVF_STEP_MORE;
    }
    /* the command changes the VF's session from here on */
    if (le32_to_cpu(c->e.in[0]) & MVF_SAVE_F_START) {
        mvf_save_open(vf);
    }
    mvf_sgl_init(&c->sgl, PCI_DEVICE(pf), le64_to_cpu(c->e.sgl_addr),
                 le32_to_cpu(c->e.sgl_len), &c->r);
    c->buf = g_malloc(MVF_REC_MAX_SIZE);
    c->stage = MVF_JOB_WRITE;
    c->pos = 0;
    c->next_page = 0;
    c->sized = false;
    return MVF_STEP_MORE;
}

/* First step: the checks that fail without changing anything */
static MvfStep mvf_save_begin(MvfPfState *pf, MvfVfState *vf, MvfCmd *c)
{
    bool start = le32_to_cpu(c->e.in[0]) & MVF_SAVE_F_START;
    uint32_t data_len = le32_to_cpu(c->e.data_len);
    MvfCmdResult *r = &c->r;
    struct mvf_rec_state st;
    uint64_t need = 0;
    MvfRec rec;

    if (le32_to_cpu(c->e.in[0]) & MVF_SAVE_F_CLOSE) {
        if (start) {
            mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_RSVD_NOT_ZERO);
        } else {
            mvf_save_close(vf);         /* nothing written */
        }
        return MVF_STEP_DONE;
    }
    if (!vf->frozen && !(MVF_CAPS & MVF_CAP_PRE_COPY)) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_STATE, MVF_SYND_RUNNING);
        return MVF_STEP_DONE;
    }
    if (!start && !vf->save) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_SESSION);
        return MVF_STEP_DONE;
    }
    if (!data_len) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_LEN);
        return MVF_STEP_DONE;
    }
    if (!start && vf->save->complete) {
        r->out[2] = MVF_SAVE_OUT_END;   /* 0 bytes: the stream is whole */
        return MVF_STEP_DONE;
    }
    if (!c->log_merged && !(vf->frozen && vf->log_synced)) {
        /* and every vCPU ended the store it was in: copies are safe */
        return MVF_STEP_LOG_SYNC;
    }
    if (start) {
        need = MVF_IDENT_BYTES;
    } else if (mvf_save_next(vf, c, &rec, &st)) {
        need = rec.bytes;
    }
    if (data_len < need) {
        mvf_cmd_fail(r, MVF_CMD_STAT_NO_SPACE, MVF_SYND_SAVE_NO_SPACE);
        r->out[0] = (uint32_t)need;
        r->out[1] = need >> 32;
        return MVF_STEP_DONE;
    }
    if (!mvf_sgl_init(&c->sgl, PCI_DEVICE(pf), le64_to_cpu(c->e.sgl_addr),
                      le32_to_cpu(c->e.sgl_len), r)) {
        return MVF_STEP_DONE;
    }
    c->started = true;
    c->gen = vf->gen;
    c->stage = MVF_JOB_SGL;
    c->sgl_checked = 0;
    return mvf_save_sgl(pf, vf, c);
}

MvfStep mvf_mig_save(MvfPfState *pf, MvfVfState *vf, MvfCmd *c)
{
    if (!c->started) {
        return mvf_save_begin(pf, vf, c);
    }
    switch (c->stage) {
    case MVF_JOB_SGL:
        return mvf_save_sgl(pf, vf, c);
    case MVF_JOB_SCAN:
        if (!mvf_scan_step(vf, vf->save->dirty, &c->scan)) {
            return MVF_STEP_MORE;
        }
        c->sized = true;
        c->stage = MVF_JOB_WRITE;
        return MVF_STEP_MORE;
    case MVF_JOB_WRITE:
        return mvf_save_write(pf, vf, c);
    default:
        g_assert_not_reached();
    }
}

/* ---- LOAD_VHCA_STATE ---- */

static bool mvf_rec_bad(MvfCmdResult *r, uint32_t syndrome, const char *why)
{
    qemu_log_mask(LOG_GUEST_ERROR, "mvf-pf: LOAD rejected: %s\n", why);
    mvf_cmd_fail(r, MVF_CMD_STAT_BAD_IMAGE, syndrome);
    return false;
}

/* A known record's framing: its MANDATORY flag and payload length */
static bool mvf_rec_frame(uint16_t tag, uint16_t flags, uint64_t len,
                          uint64_t want_len, MvfCmdResult *r)
{
    if (!!(flags & MVF_REC_F_MANDATORY) != mvf_rec_mandatory(tag)) {
        return mvf_rec_bad(r, MVF_SYND_IMG_RECORD, "record MANDATORY flag");
    }
    if (len != want_len) {
        return mvf_rec_bad(r, MVF_SYND_IMG_RECORD, "record length");
    }
    return true;
}

static bool mvf_rec_check_ident(MvfVfState *vf, const uint8_t *pl,
                                uint64_t len, uint16_t flags,
                                MvfCmdResult *r)
{
    struct mvf_rec_ident id = { 0 };

    /*
     * Magic and stream version before the framing: a later version may
     * frame IDENT otherwise, and must be refused as such.
     */
    memcpy(&id, pl, MIN(len, sizeof(id)));
    if (len < offsetof(struct mvf_rec_ident, version_minor) ||
        le32_to_cpu(id.magic) != MVF_STREAM_MAGIC) {
        return mvf_rec_bad(r, MVF_SYND_IMG_MAGIC, "stream magic");
    }
    if (le16_to_cpu(id.version_major) != MVF_STREAM_VERSION_MAJOR) {
        return mvf_rec_bad(r, MVF_SYND_IMG_VERSION, "stream version");
    }
    if (!mvf_rec_frame(MVF_REC_IDENT, flags, len, sizeof(id), r)) {
        return false;
    }
    if ((le32_to_cpu(id.if_version) >> 16) != MVF_IF_VERSION_MAJOR) {
        return mvf_rec_bad(r, MVF_SYND_IMG_VERSION, "interface version");
    }
    if (le16_to_cpu(id.vendor_id) != MVF_PCI_VENDOR_ID ||
        le16_to_cpu(id.device_id) != MVF_PCI_DEVICE_ID_VF) {
        return mvf_rec_bad(r, MVF_SYND_IMG_DEVICE, "vendor/device");
    }
    if (le32_to_cpu(id.caps) & ~MVF_STREAM_CAPS) {
        return mvf_rec_bad(r, MVF_SYND_IMG_CAPS, "caps");
    }
    if (le32_to_cpu(id.page_size) != MVF_PAGE) {
        return mvf_rec_bad(r, MVF_SYND_IMG_GEOMETRY, "page size");
    }
    if (le64_to_cpu(id.devmem_size) != vf->devmem_size) {
        return mvf_rec_bad(r, MVF_SYND_IMG_GEOMETRY, "devmem size");
    }
    if (id.rsvd0 || id.rsvd1) {
        return mvf_rec_bad(r, MVF_SYND_IMG_VALUE, "reserved IDENT field");
    }
    return true;
}

static bool mvf_rec_check_devmem(MvfVfState *vf, const uint8_t *pl,
                                 uint64_t len, uint16_t flags,
                                 MvfCmdResult *r)
{
    struct mvf_rec_devmem d;
    uint64_t off, bytes;
    uint32_t pages, dflags;

    if (len < sizeof(d)) {
        return mvf_rec_frame(MVF_REC_DEVMEM, flags, len, sizeof(d), r);
    }
    memcpy(&d, pl, sizeof(d));
    off = le64_to_cpu(d.offset);
    pages = le32_to_cpu(d.pages);
    dflags = le32_to_cpu(d.flags);
    if (dflags & ~MVF_REC_DEVMEM_F_ZERO) {
        return mvf_rec_bad(r, MVF_SYND_IMG_VALUE, "DEVMEM flags");
    }
    if (pages < 1 || pages > MVF_REC_DEVMEM_MAX_PAGES) {
        return mvf_rec_bad(r, MVF_SYND_IMG_VALUE, "DEVMEM pages");
    }
    bytes = (uint64_t)pages * MVF_PAGE;
    if (!mvf_rec_frame(MVF_REC_DEVMEM, flags, len,
                       sizeof(d) + (dflags & MVF_REC_DEVMEM_F_ZERO ? 0
                                                                    : bytes),
                       r)) {
        return false;
    }
    if (off % MVF_PAGE) {
        return mvf_rec_bad(r, MVF_SYND_IMG_VALUE, "DEVMEM offset alignment");
    }
    if (off > vf->devmem_size || bytes > vf->devmem_size - off) {
        return mvf_rec_bad(r, MVF_SYND_IMG_VALUE, "DEVMEM beyond devmem");
    }
    return true;
}

static bool mvf_state_get_queue(MvfQueue *q, const struct mvf_img_queue *iq,
                                MvfCmdResult *r)
{
    uint32_t log = le32_to_cpu(iq->log_size);

    if (iq->rsvd0 ||
        (log && (log < MVF_VF_Q_LOG_SIZE_MIN || log > MVF_VF_Q_LOG_SIZE_MAX))) {
        return mvf_rec_bad(r, MVF_SYND_IMG_VALUE, "queue field");
    }
    q->base = le64_to_cpu(iq->base);
    q->log_size = log;
    q->pi = le32_to_cpu(iq->pi);
    q->ci = le32_to_cpu(iq->ci);
    return true;
}

/* Decode a STATE record into @l */
static bool mvf_state_decode(const uint8_t *pl, MvfVfLive *l,
                             MvfCmdResult *r)
{
    struct mvf_rec_state st;
    uint32_t ctrl, status;
    int i;

    memcpy(&st, pl, sizeof(st));
    ctrl = le32_to_cpu(st.regs.ctrl);
    status = le32_to_cpu(st.regs.status);
    if (ctrl & ~MVF_VF_CTRL_MASK) {
        return mvf_rec_bad(r, MVF_SYND_IMG_VALUE, "ctrl");
    }
    if (status & ~(MVF_VF_STATUS_QUIESCED | MVF_VF_STATUS_FROZEN |
                   MVF_VF_STATUS_QP_ERROR)) {
        return mvf_rec_bad(r, MVF_SYND_IMG_VALUE, "status");
    }
    for (i = MVF_VF_CNT_ERRORS + 1; i < MVF_VF_NUM_COUNTERS; i++) {
        if (st.cnt[i]) {
            return mvf_rec_bad(r, MVF_SYND_IMG_VALUE, "reserved counter");
        }
    }
    if (!mvf_state_get_queue(&l->sq, &st.queues.sq, r) ||
        !mvf_state_get_queue(&l->rq, &st.queues.rq, r) ||
        !mvf_state_get_queue(&l->cq, &st.queues.cq, r)) {
        return false;
    }
    l->ctrl = ctrl;
    l->qp_error = status & MVF_VF_STATUS_QP_ERROR;
    for (i = 0; i < MVF_VF_NUM_SCRATCH; i++) {
        l->scratch[i] = le32_to_cpu(st.regs.scratch[i]);
    }
    for (i = 0; i < MVF_VF_NUM_COUNTERS; i++) {
        l->cnt[i] = le64_to_cpu(st.cnt[i]);
    }
    return true;
}

/*
 * Check the record at @p, @left bytes of the command from there on,
 * against @vf and the load session @ls, which then counts it.  @bytes is
 * set to its size.
 */
static bool mvf_rec_check(MvfVfState *vf, const uint8_t *p, uint64_t left,
                          MvfLoadSession *ls, uint64_t *bytes,
                          MvfCmdResult *r)
{
    const uint8_t *pl = p + MVF_REC_HDR_SIZE;
    struct mvf_rec_hdr h;
    uint64_t len, padded;
    uint16_t tag, flags;
    uint32_t want;

    if (left < MVF_REC_HDR_SIZE) {
        return mvf_rec_bad(r, MVF_SYND_IMG_LENGTH, "partial record header");
    }
    memcpy(&h, p, sizeof(h));
    tag = le16_to_cpu(h.tag);
    flags = le16_to_cpu(h.flags);
    len = le64_to_cpu(h.len);
    if (flags & ~MVF_REC_F_MANDATORY) {
        return mvf_rec_bad(r, MVF_SYND_IMG_RECORD, "record flags");
    }
    if (len > left - MVF_REC_HDR_SIZE ||
        ROUND_UP(len, MVF_REC_ALIGN) > left - MVF_REC_HDR_SIZE) {
        return mvf_rec_bad(r, MVF_SYND_IMG_LENGTH, "record beyond the data");
    }
    padded = ROUND_UP(len, MVF_REC_ALIGN);
    if (padded != len && !buffer_is_zero(pl + len, padded - len)) {
        return mvf_rec_bad(r, MVF_SYND_IMG_RECORD, "record padding");
    }
    want = le32_to_cpu(h.crc32);
    h.crc32 = 0;
    if (crc32_z(crc32(crc32(0, Z_NULL, 0), (const Bytef *)&h, sizeof(h)),
                pl, len) != want) {
        return mvf_rec_bad(r, MVF_SYND_IMG_CRC, "record crc32");
    }
    *bytes = MVF_REC_HDR_SIZE + padded;

    if (ls->ended) {
        return mvf_rec_bad(r, MVF_SYND_IMG_ORDER, "record after END");
    }
    if (!ls->ident_seen && tag != MVF_REC_IDENT) {
        return mvf_rec_bad(r, MVF_SYND_IMG_ORDER, "first record not IDENT");
    }

    switch (tag) {
    case MVF_REC_IDENT:
        if (ls->ident_seen) {
            return mvf_rec_bad(r, MVF_SYND_IMG_ORDER, "second IDENT");
        }
        if (!mvf_rec_check_ident(vf, pl, len, flags, r)) {
            return false;
        }
        ls->ident_seen = true;
        break;
    case MVF_REC_SIZE:
        if (!mvf_rec_frame(tag, flags, len, sizeof(struct mvf_rec_size), r)) {
            return false;
        }
        if (ls->last_tag != MVF_REC_IDENT) {
            return mvf_rec_bad(r, MVF_SYND_IMG_ORDER, "SIZE not after IDENT");
        }
        break;
    case MVF_REC_DEVMEM:
        if (!mvf_rec_check_devmem(vf, pl, len, flags, r)) {
            return false;
        }
        break;
    case MVF_REC_STATE:
        if (!mvf_rec_frame(tag, flags, len, sizeof(struct mvf_rec_state),
                           r) ||
            !mvf_state_decode(pl, &ls->state, r)) {
            return false;
        }
        ls->state_seen = true;
        break;
    case MVF_REC_END: {
        struct mvf_rec_end end;

        if (!mvf_rec_frame(tag, flags, len, sizeof(end), r)) {
            return false;
        }
        if (ls->last_tag != MVF_REC_STATE) {
            return mvf_rec_bad(r, MVF_SYND_IMG_ORDER, "END not after STATE");
        }
        memcpy(&end, pl, sizeof(end));
        if (le64_to_cpu(end.stream_bytes) != ls->stream_bytes) {
            return mvf_rec_bad(r, MVF_SYND_IMG_LENGTH,
                               "END stream_bytes differ");
        }
        ls->ended = true;
        break;
    }
    default:
        if (flags & MVF_REC_F_MANDATORY) {
            return mvf_rec_bad(r, MVF_SYND_IMG_UNKNOWN,
                               "unknown mandatory record");
        }
        /* skipped; still part of the stream */
        ls->stream_bytes += *bytes;
        return true;
    }
    ls->stream_bytes += *bytes;
    ls->last_tag = tag;
    return true;
}

/* A LOAD failed (@c->r says why): the session closes */
static MvfStep mvf_load_fail(MvfVfState *vf, MvfCmd *c)
{
    mvf_load_close(vf);
    return mvf_mig_fail(c, c->r.status, c->r.syndrome);
}

static MvfStep mvf_load_read(MvfPfState *pf, MvfVfState *vf, MvfCmd *c)
{
    uint64_t data_len = le32_to_cpu(c->e.data_len);
    uint64_t n = MIN(data_len - c->pos, MVF_STEP_BYTES);
    bool ok = mvf_sgl_xfer(&c->sgl, c->buf + c->pos, n, MVF_SGL_FROM_HOST,
                           &c->r);

    if (mvf_mig_interrupted(pf, vf, c)) {
        return MVF_STEP_DONE;
    }
    if (!ok) {
        return mvf_load_fail(vf, c);
    }
    c->pos += n;
    if (c->pos == data_len) {
        c->stage = MVF_JOB_CHECK;
        c->pos = 0;
    }
    return MVF_STEP_MORE;
}

static MvfStep mvf_load_check(MvfVfState *vf, MvfCmd *c)
{
    uint64_t data_len = le32_to_cpu(c->e.data_len);
    uint64_t done = 0;

    while (c->pos < data_len && done < MVF_STEP_BYTES) {
        uint64_t bytes;

        if (!mvf_rec_check(vf, c->buf + c->pos, data_len - c->pos, &c->ls,
                           &bytes, &c->r)) {
            return mvf_load_fail(vf, c);
        }
        c->pos += bytes;
        done += bytes;
    }
    if (c->pos == data_len) {
        c->stage = MVF_JOB_APPLY;
        c->pos = 0;
    }
    return MVF_STEP_MORE;
}

/* Every record checked: apply them, then the session takes its new state */
static MvfStep mvf_load_apply(MvfVfState *vf, MvfCmd *c)
{
    uint64_t data_len = le32_to_cpu(c->e.data_len);
    uint64_t done = 0, scanned = 0;

    while (c->pos < data_len && done < MVF_STEP_BYTES &&
           scanned < MVF_SCAN_BYTES) {
        struct mvf_rec_hdr h;
        struct mvf_rec_devmem d;
        uint8_t *dst;
        uint64_t len, n;

        memcpy(&h, c->buf + c->pos, sizeof(h));
        len = le64_to_cpu(h.len);
        if (le16_to_cpu(h.tag) == MVF_REC_DEVMEM) {
            memcpy(&d, c->buf + c->pos + MVF_REC_HDR_SIZE, sizeof(d));
            n = (uint64_t)le32_to_cpu(d.pages) * MVF_PAGE;
            dst = vf->devmem_ptr + le64_to_cpu(d.offset);
            if (le32_to_cpu(d.flags) & MVF_REC_DEVMEM_F_ZERO) {
                /* pages that read zero stay untouched (and unallocated) */
                if (!buffer_is_zero(dst, n)) {
                    memset(dst, 0, n);
                }
                scanned += n;
            } else {
                memcpy(dst, c->buf + c->pos + MVF_REC_HDR_SIZE + sizeof(d), n);
            }
            mvf_mig_devmem_changed(vf, le64_to_cpu(d.offset), n);
        }
        c->pos += mvf_rec_bytes(len);
        done += mvf_rec_bytes(len);
    }
    if (c->pos < data_len) {
        return MVF_STEP_MORE;
    }

    if (c->ls.ended) {
        /* the staged state becomes the VF's; it stays frozen */
        vf->live = c->ls.state;
        mvf_load_close(vf);
        c->r.out[2] = MVF_LOAD_OUT_END;
    } else {
        if (!vf->load) {
            vf->load = g_new0(MvfLoadSession, 1);
        }
        *vf->load = c->ls;
    }
    mvf_mig_cmd_free(c);
    return MVF_STEP_DONE;
}

static MvfStep mvf_load_begin(MvfPfState *pf, MvfVfState *vf, MvfCmd *c)
{
    bool start = le32_to_cpu(c->e.in[0]) & MVF_LOAD_F_START;
    uint32_t data_len = le32_to_cpu(c->e.data_len);
    MvfCmdResult *r = &c->r;

    if (!vf->frozen) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_STATE, MVF_SYND_NOT_FROZEN);
        return MVF_STEP_DONE;
    }
    if (!start && !vf->load) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_SESSION);
        return MVF_STEP_DONE;
    }
    if (start) {
        mvf_load_close(vf);
    }
    if (!data_len) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_LEN);
        return mvf_load_fail(vf, c);
    }
    if (!mvf_sgl_init(&c->sgl, PCI_DEVICE(pf), le64_to_cpu(c->e.sgl_addr),
                      le32_to_cpu(c->e.sgl_len), r)) {
        return mvf_load_fail(vf, c);
    }
    c->buf = g_try_malloc(data_len);
    if (!c->buf) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_RESOURCE, MVF_SYND_NONE);
        return mvf_load_fail(vf, c);
    }
    if (start) {
        c->ls = (MvfLoadSession) { 0 };
    } else {
        c->ls = *vf->load;
    }
    c->started = true;
    c->gen = vf->gen;
    c->stage = MVF_JOB_READ;
    c->pos = 0;
    return mvf_load_read(pf, vf, c);
}

MvfStep mvf_mig_load(MvfPfState *pf, MvfVfState *vf, MvfCmd *c)
{
    if (!c->started) {
        return mvf_load_begin(pf, vf, c);
    }
    switch (c->stage) {
    case MVF_JOB_READ:
        return mvf_load_read(pf, vf, c);
    case MVF_JOB_CHECK:
        return mvf_load_check(vf, c);
    case MVF_JOB_APPLY:
        return mvf_load_apply(vf, c);
    default:
        g_assert_not_reached();
    }
}
