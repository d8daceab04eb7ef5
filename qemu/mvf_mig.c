/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MVF emulated SR-IOV device: VF state images (SAVE/LOAD_VHCA_STATE).
 *
 * An image is a header and four sections (REGS, QUEUES, COUNTERS, DEVMEM)
 * protected by a CRC-32.  SAVE writes it through a scatter list with the
 * PF's DMA; LOAD reads the whole image into a private buffer and checks
 * every field before the VF is touched.
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/cutils.h"
#include "hw/pci/pci.h"
#include "mvf.h"
#include <zlib.h>

#define MVF_IMG_NUM_SECTIONS    4

typedef struct MvfImgMeta {
    struct mvf_img_header hdr;
    struct mvf_img_section regs_sec;
    struct mvf_img_regs regs;
    struct mvf_img_section queues_sec;
    struct mvf_img_queues queues;
    struct mvf_img_section cnt_sec;
    uint64_t cnt[MVF_VF_NUM_COUNTERS];
    struct mvf_img_section devmem_sec;
} MvfImgMeta;

QEMU_BUILD_BUG_ON(sizeof(struct mvf_img_header) != MVF_IMG_HEADER_SIZE);
/* the sections follow each other without padding */
QEMU_BUILD_BUG_ON(sizeof(MvfImgMeta) != MVF_IMG_HEADER_SIZE +
                  4 * MVF_IMG_SECTION_SIZE + sizeof(struct mvf_img_regs) +
                  sizeof(struct mvf_img_queues) +
                  MVF_VF_NUM_COUNTERS * sizeof(uint64_t));
QEMU_BUILD_BUG_ON(sizeof(struct mvf_img_section) != MVF_IMG_SECTION_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_cmd_entry) != MVF_CMD_ENTRY_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_eqe) != MVF_EQE_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_sge) != 16);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_send_wqe) != MVF_SEND_WQE_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_recv_wqe) != MVF_RECV_WQE_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_cqe) != MVF_CQE_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_img_regs) % 8);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_img_queues) % 8);

static const uint64_t mvf_sec_len[MVF_IMG_NUM_SECTIONS + 1] = {
    [MVF_IMG_SEC_REGS] = sizeof(struct mvf_img_regs),
    [MVF_IMG_SEC_QUEUES] = sizeof(struct mvf_img_queues),
    [MVF_IMG_SEC_COUNTERS] = MVF_VF_NUM_COUNTERS * sizeof(uint64_t),
};

uint64_t mvf_mig_image_size(uint64_t devmem_size)
{
    return sizeof(MvfImgMeta) + devmem_size;
}

/* ---- scatter lists ---- */

typedef struct MvfSgl {
    PCIDevice *dev;
    uint64_t table;         /* next element to fetch */
    uint32_t table_left;    /* bytes left in the current table */
    int depth;              /* chain links followed */
    uint64_t addr;          /* current data buffer */
    uint64_t left;          /* bytes left in it */
} MvfSgl;

typedef enum {
    MVF_SGL_CHECK,          /* walk only */
    MVF_SGL_TO_HOST,
    MVF_SGL_FROM_HOST,
} MvfSglDir;

static bool mvf_sgl_init(MvfSgl *s, PCIDevice *dev, uint64_t addr,
                         uint32_t len, MvfCmdResult *r)
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

static bool mvf_sgl_xfer(MvfSgl *s, uint8_t *buf, uint64_t len,
                         MvfSglDir dir, MvfCmdResult *r)
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
        if (buf) {
            buf += n;
        }
        len -= n;
    }
    return true;
}

/* ---- SAVE ---- */

static void mvf_img_set_section(struct mvf_img_section *sec, uint16_t type,
                                uint64_t len)
{
    *sec = (struct mvf_img_section) {
        .type = cpu_to_le16(type),
        .len = cpu_to_le64(len),
    };
}

static void mvf_img_put_queue(struct mvf_img_queue *iq, const MvfQueue *q)
{
    iq->base = cpu_to_le64(q->base);
    iq->log_size = cpu_to_le32(q->log_size);
    iq->pi = cpu_to_le32(q->pi);
    iq->ci = cpu_to_le32(q->ci);
    iq->rsvd0 = 0;
}

static void mvf_img_build(MvfImgMeta *m, MvfVfState *vf, uint16_t vhca_id)
{
    const MvfVfLive *l = &vf->live;
    uint32_t crc;
    int i;

    memset(m, 0, sizeof(*m));
    m->hdr.magic = cpu_to_le32(MVF_IMG_MAGIC);
    m->hdr.version_major = cpu_to_le16(MVF_IMG_VERSION_MAJOR);
    m->hdr.version_minor = cpu_to_le16(MVF_IMG_VERSION_MINOR);
    m->hdr.header_len = cpu_to_le32(MVF_IMG_HEADER_SIZE);
    m->hdr.total_len = cpu_to_le64(mvf_mig_image_size(vf->devmem_size));
    m->hdr.vendor_id = cpu_to_le16(MVF_PCI_VENDOR_ID);
    m->hdr.device_id = cpu_to_le16(MVF_PCI_DEVICE_ID_VF);
    m->hdr.if_version = cpu_to_le32(MVF_IF_VERSION);
    m->hdr.caps = cpu_to_le32(MVF_CAPS);
    m->hdr.num_sections = cpu_to_le32(MVF_IMG_NUM_SECTIONS);
    m->hdr.devmem_size = cpu_to_le64(vf->devmem_size);
    m->hdr.src_vhca_id = cpu_to_le16(vhca_id);

    mvf_img_set_section(&m->regs_sec, MVF_IMG_SEC_REGS, sizeof(m->regs));
    m->regs.ctrl = cpu_to_le32(l->ctrl);
    m->regs.status = cpu_to_le32(l->qp_error |
                                 (vf->quiesced ? MVF_VF_STATUS_QUIESCED : 0) |
                                 (vf->frozen ? MVF_VF_STATUS_FROZEN : 0));
    for (i = 0; i < MVF_VF_NUM_SCRATCH; i++) {
        m->regs.scratch[i] = cpu_to_le32(l->scratch[i]);
    }

    mvf_img_set_section(&m->queues_sec, MVF_IMG_SEC_QUEUES,
                        sizeof(m->queues));
    mvf_img_put_queue(&m->queues.sq, &l->sq);
    mvf_img_put_queue(&m->queues.rq, &l->rq);
    mvf_img_put_queue(&m->queues.cq, &l->cq);

    mvf_img_set_section(&m->cnt_sec, MVF_IMG_SEC_COUNTERS, sizeof(m->cnt));
    for (i = 0; i < MVF_VF_NUM_COUNTERS; i++) {
        m->cnt[i] = cpu_to_le64(l->cnt[i]);
    }

    mvf_img_set_section(&m->devmem_sec, MVF_IMG_SEC_DEVMEM, vf->devmem_size);

    crc = crc32(0, (const Bytef *)m, sizeof(*m));
    crc = crc32_z(crc, vf->devmem_ptr, vf->devmem_size);
    m->hdr.crc32 = cpu_to_le32(crc);
}

void mvf_mig_save(MvfPfState *pf, MvfVfState *vf, uint16_t vhca_id,
                  uint64_t sgl_addr, uint32_t sgl_len, uint32_t data_len,
                  MvfCmdResult *r)
{
    uint64_t need = mvf_mig_image_size(vf->devmem_size);
    MvfImgMeta meta;
    MvfSgl sgl;

    if (!vf->frozen) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_STATE, MVF_SYND_NOT_FROZEN);
        return;
    }
    if (data_len < need) {
        mvf_cmd_fail(r, MVF_CMD_STAT_NO_SPACE, MVF_SYND_SAVE_NO_SPACE);
        r->out[0] = (uint32_t)need;
        r->out[1] = need >> 32;
        return;
    }
    /* check the whole list first so that a bad one writes nothing */
    if (!mvf_sgl_init(&sgl, PCI_DEVICE(pf), sgl_addr, sgl_len, r) ||
        !mvf_sgl_xfer(&sgl, NULL, need, MVF_SGL_CHECK, r)) {
        return;
    }

    mvf_img_build(&meta, vf, vhca_id);
    mvf_sgl_init(&sgl, PCI_DEVICE(pf), sgl_addr, sgl_len, r);
    if (!mvf_sgl_xfer(&sgl, (uint8_t *)&meta, sizeof(meta),
                      MVF_SGL_TO_HOST, r) ||
        !mvf_sgl_xfer(&sgl, vf->devmem_ptr, vf->devmem_size,
                      MVF_SGL_TO_HOST, r)) {
        return;
    }
    r->out[0] = (uint32_t)need;
    r->out[1] = need >> 32;
}

/* ---- LOAD ---- */

static bool mvf_img_bad(MvfCmdResult *r, uint32_t syndrome, const char *why)
{
    qemu_log_mask(LOG_GUEST_ERROR, "mvf-pf: LOAD rejected: %s\n", why);
    mvf_cmd_fail(r, MVF_CMD_STAT_BAD_IMAGE, syndrome);
    return false;
}

static bool mvf_img_check_header(const struct mvf_img_header *h,
                                 MvfVfState *vf, uint32_t data_len,
                                 MvfCmdResult *r)
{
    if (le32_to_cpu(h->magic) != MVF_IMG_MAGIC) {
        return mvf_img_bad(r, MVF_SYND_IMG_MAGIC, "magic");
    }
    if (le16_to_cpu(h->version_major) != MVF_IMG_VERSION_MAJOR ||
        (le32_to_cpu(h->if_version) >> 16) != MVF_IF_VERSION_MAJOR) {
        return mvf_img_bad(r, MVF_SYND_IMG_VERSION, "version");
    }
    if (le32_to_cpu(h->header_len) != MVF_IMG_HEADER_SIZE) {
        return mvf_img_bad(r, MVF_SYND_IMG_LENGTH, "header_len");
    }
    if (le16_to_cpu(h->vendor_id) != MVF_PCI_VENDOR_ID ||
        le16_to_cpu(h->device_id) != MVF_PCI_DEVICE_ID_VF) {
        return mvf_img_bad(r, MVF_SYND_IMG_DEVICE, "vendor/device");
    }
    if (le32_to_cpu(h->caps) & ~MVF_CAPS) {
        return mvf_img_bad(r, MVF_SYND_IMG_CAPS, "caps");
    }
    if (le64_to_cpu(h->devmem_size) != vf->devmem_size) {
        return mvf_img_bad(r, MVF_SYND_IMG_GEOMETRY, "devmem size");
    }
    if (h->rsvd0 || h->rsvd1 || h->rsvd2) {
        return mvf_img_bad(r, MVF_SYND_IMG_VALUE, "reserved header field");
    }
    if (le64_to_cpu(h->total_len) != data_len) {
        return mvf_img_bad(r, MVF_SYND_IMG_LENGTH, "total_len != data_len");
    }
    if (data_len > mvf_mig_image_size(vf->devmem_size)) {
        return mvf_img_bad(r, MVF_SYND_IMG_LENGTH, "oversized");
    }
    return true;
}

/* Walk the section table; fills @sec[type] with the payload offsets */
static bool mvf_img_check_sections(const uint8_t *img, uint64_t total,
                                   MvfVfState *vf, uint64_t *sec,
                                   MvfCmdResult *r)
{
    const struct mvf_img_header *h = (const void *)img;
    uint32_t n = le32_to_cpu(h->num_sections);
    uint64_t off = MVF_IMG_HEADER_SIZE;
    uint32_t i;
    int t;

    if (n != MVF_IMG_NUM_SECTIONS) {
        return mvf_img_bad(r, MVF_SYND_IMG_SECTION, "number of sections");
    }
    for (t = 0; t <= MVF_IMG_NUM_SECTIONS; t++) {
        sec[t] = 0;
    }
    for (i = 0; i < n; i++) {
        struct mvf_img_section d;
        uint64_t len, padded;
        uint16_t type;

        if (total - off < MVF_IMG_SECTION_SIZE) {
            return mvf_img_bad(r, MVF_SYND_IMG_SECTION, "truncated table");
        }
        memcpy(&d, img + off, sizeof(d));
        off += sizeof(d);
        type = le16_to_cpu(d.type);
        len = le64_to_cpu(d.len);
        if (d.flags || d.rsvd0) {
            return mvf_img_bad(r, MVF_SYND_IMG_SECTION, "section flags");
        }
        if (type < MVF_IMG_SEC_REGS || type > MVF_IMG_SEC_DEVMEM) {
            return mvf_img_bad(r, MVF_SYND_IMG_SECTION, "unknown section");
        }
        if (sec[type]) {
            return mvf_img_bad(r, MVF_SYND_IMG_SECTION, "duplicate section");
        }
        if (len != (type == MVF_IMG_SEC_DEVMEM ? vf->devmem_size
                                               : mvf_sec_len[type])) {
            return mvf_img_bad(r, MVF_SYND_IMG_SECTION, "section length");
        }
        padded = ROUND_UP(len, 8);
        if (total - off < padded) {
            return mvf_img_bad(r, MVF_SYND_IMG_SECTION, "section overruns");
        }
        if (padded != len && !buffer_is_zero(img + off + len, padded - len)) {
            return mvf_img_bad(r, MVF_SYND_IMG_SECTION, "section padding");
        }
        sec[type] = off;
        off += padded;
    }
    if (off != total) {
        return mvf_img_bad(r, MVF_SYND_IMG_SECTION, "data after sections");
    }
    return true;
}

static bool mvf_img_get_queue(MvfQueue *q, const struct mvf_img_queue *iq,
                              MvfCmdResult *r)
{
    uint32_t log = le32_to_cpu(iq->log_size);

    if (iq->rsvd0 ||
        (log && (log < MVF_VF_Q_LOG_SIZE_MIN || log > MVF_VF_Q_LOG_SIZE_MAX))) {
        return mvf_img_bad(r, MVF_SYND_IMG_VALUE, "queue field");
    }
    q->base = le64_to_cpu(iq->base);
    q->log_size = log;
    q->pi = le32_to_cpu(iq->pi);
    q->ci = le32_to_cpu(iq->ci);
    return true;
}

/* Decode the small sections into @l; nothing of the VF is touched */
static bool mvf_img_decode(const uint8_t *img, const uint64_t *sec,
                           MvfVfLive *l, MvfCmdResult *r)
{
    struct mvf_img_regs regs;
    struct mvf_img_queues qs;
    uint64_t cnt[MVF_VF_NUM_COUNTERS];
    uint32_t ctrl, status;
    int i;

    memcpy(&regs, img + sec[MVF_IMG_SEC_REGS], sizeof(regs));
    memcpy(&qs, img + sec[MVF_IMG_SEC_QUEUES], sizeof(qs));
    memcpy(cnt, img + sec[MVF_IMG_SEC_COUNTERS], sizeof(cnt));

    ctrl = le32_to_cpu(regs.ctrl);
    status = le32_to_cpu(regs.status);
    if (ctrl & ~MVF_VF_CTRL_MASK) {
        return mvf_img_bad(r, MVF_SYND_IMG_VALUE, "ctrl");
    }
    if (status & ~(MVF_VF_STATUS_QUIESCED | MVF_VF_STATUS_FROZEN |
                   MVF_VF_STATUS_QP_ERROR)) {
        return mvf_img_bad(r, MVF_SYND_IMG_VALUE, "status");
    }
    for (i = MVF_VF_CNT_ERRORS + 1; i < MVF_VF_NUM_COUNTERS; i++) {
        if (cnt[i]) {
            return mvf_img_bad(r, MVF_SYND_IMG_VALUE, "reserved counter");
        }
    }
    if (!mvf_img_get_queue(&l->sq, &qs.sq, r) ||
        !mvf_img_get_queue(&l->rq, &qs.rq, r) ||
        !mvf_img_get_queue(&l->cq, &qs.cq, r)) {
        return false;
    }
    l->ctrl = ctrl;
    l->qp_error = status & MVF_VF_STATUS_QP_ERROR;
    for (i = 0; i < MVF_VF_NUM_SCRATCH; i++) {
        l->scratch[i] = le32_to_cpu(regs.scratch[i]);
    }
    for (i = 0; i < MVF_VF_NUM_COUNTERS; i++) {
        l->cnt[i] = le64_to_cpu(cnt[i]);
    }
    return true;
}

void mvf_mig_load(MvfPfState *pf, MvfVfState *vf, uint64_t sgl_addr,
                  uint32_t sgl_len, uint32_t data_len, MvfCmdResult *r)
{
    g_autofree uint8_t *img = NULL;
    struct mvf_img_header hdr, *h;
    uint64_t sec[MVF_IMG_NUM_SECTIONS + 1];
    uint32_t crc, want;
    MvfVfLive live;
    MvfSgl sgl;

    if (!vf->frozen) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_STATE, MVF_SYND_NOT_FROZEN);
        return;
    }
    if (data_len == 0) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_LEN);
        return;
    }
    if (data_len < MVF_IMG_HEADER_SIZE) {
        mvf_img_bad(r, MVF_SYND_IMG_LENGTH, "shorter than a header");
        return;
    }
    if (!mvf_sgl_init(&sgl, PCI_DEVICE(pf), sgl_addr, sgl_len, r)) {
        return;
    }

    /* the header first: it says whether the rest is worth reading */
    if (!mvf_sgl_xfer(&sgl, (uint8_t *)&hdr, sizeof(hdr), MVF_SGL_FROM_HOST,
                      r) ||
        !mvf_img_check_header(&hdr, vf, data_len, r)) {
        return;
    }
    img = g_try_malloc(data_len);
    if (!img) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_RESOURCE, MVF_SYND_NONE);
        return;
    }
    memcpy(img, &hdr, sizeof(hdr));
    h = (struct mvf_img_header *)img;
    if (!mvf_sgl_xfer(&sgl, img + MVF_IMG_HEADER_SIZE,
                      data_len - MVF_IMG_HEADER_SIZE, MVF_SGL_FROM_HOST, r)) {
        return;
    }

    want = le32_to_cpu(h->crc32);
    h->crc32 = 0;
    crc = crc32_z(crc32(0, Z_NULL, 0), img, data_len);
    h->crc32 = cpu_to_le32(want);
    if (crc != want) {
        mvf_img_bad(r, MVF_SYND_IMG_CRC, "crc32");
        return;
    }

    memset(&live, 0, sizeof(live));
    if (!mvf_img_check_sections(img, data_len, vf, sec, r) ||
        !mvf_img_decode(img, sec, &live, r)) {
        return;
    }

    /* valid: now, and only now, the VF takes the state (it stays frozen) */
    vf->live = live;
    memcpy(vf->devmem_ptr, img + sec[MVF_IMG_SEC_DEVMEM], vf->devmem_size);
}
