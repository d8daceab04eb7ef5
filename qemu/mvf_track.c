/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MVF emulated SR-IOV device: the dirty page tracker of a VF (interface
 * 2.2, MVF_CAP_DIRTY_TRACK).
 *
 * While a VF has a tracker, every DMA write the VF issues goes through
 * mvf_vf_dma_write() (mvf_queue.c), which marks the tracker pages it
 * touches inside the tracked ranges before the write is made, whatever its
 * outcome.  REPORT_DIRTY hands the stored pages of a window to the driver
 * as runs and forgets those that lie entirely inside the window.
 *
 * The store keeps each dirty page number twice:
 *  - in an open-addressing hash set (linear probing, deletion by backward
 *    shift, at most half full, doubled as it grows) that answers "stored
 *    already?" in O(1), so a busy CQ page costs nothing after the first
 *    write;
 *  - in an array whose first @sorted entries are ascending and the rest an
 *    unsorted tail in marking order.  REPORT sorts the tail, merges it into
 *    the prefix, finds the window's first page by binary search and
 *    compacts the array after removing what it reported.
 * So a REPORT costs O(D + t log t) for D stored pages, t of them new since
 * the last REPORT, whatever the window's size.  Both grow on demand up to
 * the tracker's capacity (at most 24 bytes per stored page).
 *
 * When a new page does not fit the capacity, the store is emptied and
 * every range becomes an "overflow interval": all of it counts as dirty
 * until a REPORT covers it (OVERFLOW flag), and writes into it are not
 * stored meanwhile.  At most MVF_TRACK_PENDING intervals are kept; a
 * REPORT that would need more leaves the intervals as they are (the next
 * REPORTs say OVERFLOW again: too much, never too little).
 *
 * Everything runs under the BQL: marks from the VF's queue bottom half,
 * the commands from the PF's command bottom half.
 */

#include "qemu/osdep.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie_sriov.h"
#include "mvf.h"

QEMU_BUILD_BUG_ON(sizeof(struct mvf_track_range) != 16);
QEMU_BUILD_BUG_ON(sizeof(struct mvf_track_run) != 16);

#define MVF_TRACK_PENDING       64      /* overflow intervals kept */
#define MVF_TRACK_RUN_CHUNK     256     /* runs per DMA write of REPORT */
#define MVF_TRACK_SLOT_BITS     7       /* initial hash set: 128 slots */
#define MVF_TRACK_PAGES_INIT    64      /* initial array entries */
#define MVF_TRACK_EMPTY         UINT64_MAX  /* never a page number */

/* Tracker pages first..last, inclusive */
typedef struct MvfTrackIv {
    uint64_t first;
    uint64_t last;
} MvfTrackIv;

struct MvfTracker {
    unsigned shift;             /* log2 of the tracker page size */
    unsigned nranges;
    MvfTrackIv range[MVF_TRACK_MAX_RANGES];     /* ascending, disjoint */
    uint64_t capacity;          /* most pages stored */

    uint64_t *slot;             /* hash set of the stored pages */
    unsigned slot_bits;
    uint64_t *page;             /* the same pages: sorted prefix, tail */
    uint64_t npages;
    uint64_t sorted;            /* page[0..sorted) ascending */
    uint64_t page_alloc;

    uint64_t last_page;         /* stored or in an overflow interval */
    bool last_valid;

    MvfTrackIv pending[MVF_TRACK_PENDING];      /* overflow intervals */
    unsigned npending;

    /* for debugging (the PF's x-track-stats property) */
    uint64_t marks;             /* pages stored, not counting repeats */
    uint64_t overflows;         /* times the store was full */
    uint64_t reports;           /* REPORT_DIRTY commands that succeeded */
};

/* ---- the hash set ---- */

static uint64_t mvf_track_mask(const MvfTracker *t)
{
    return (1ull << t->slot_bits) - 1;
}

static uint64_t mvf_track_home(const MvfTracker *t, uint64_t p)
{
    return (p * 0x9e3779b97f4a7c15ull) >> (64 - t->slot_bits);
}

/* The slot that holds @p, or the empty slot where it would go */
static uint64_t mvf_track_probe(const MvfTracker *t, uint64_t p)
{
    uint64_t mask = mvf_track_mask(t), i = mvf_track_home(t, p);

    while (t->slot[i] != MVF_TRACK_EMPTY && t->slot[i] != p) {
        i = (i + 1) & mask;
    }
    return i;
}

static bool mvf_track_rehash(MvfTracker *t, unsigned bits)
{
    uint64_t *s = g_try_new(uint64_t, 1ull << bits);
    uint64_t i;

    if (!s) {
        return false;
    }
    memset(s, 0xff, sizeof(*s) << bits);
    g_free(t->slot);
    t->slot = s;
    t->slot_bits = bits;
    for (i = 0; i < t->npages; i++) {
        t->slot[mvf_track_probe(t, t->page[i])] = t->page[i];
    }
    return true;
}

/* Take @p out of the hash set; the array is the caller's */
static void mvf_track_unhash(MvfTracker *t, uint64_t p)
{
    uint64_t mask = mvf_track_mask(t), i = mvf_track_probe(t, p), j;

    if (t->slot[i] != p) {
        return;
    }
    /*
     * Close the gap: an entry further along the probe sequence moves into
     * it unless its home slot lies cyclically after the gap.
     */
    for (j = (i + 1) & mask; t->slot[j] != MVF_TRACK_EMPTY;
         j = (j + 1) & mask) {
        uint64_t home = mvf_track_home(t, t->slot[j]);

        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slot[i] = t->slot[j];
            i = j;
        }
    }
    t->slot[i] = MVF_TRACK_EMPTY;
}

/* 1: @p stored now; 0: it was stored; -1: no room (capacity or memory) */
static int mvf_track_insert(MvfTracker *t, uint64_t p)
{
    uint64_t i = mvf_track_probe(t, p);

    if (t->slot[i] == p) {
        return 0;
    }
    if (t->npages == t->capacity) {
        return -1;
    }
    if ((t->npages + 1) * 2 > (1ull << t->slot_bits)) {
        if (!mvf_track_rehash(t, t->slot_bits + 1)) {
            return -1;
        }
        i = mvf_track_probe(t, p);
    }
    if (t->npages == t->page_alloc) {
        uint64_t n = MIN(t->page_alloc * 2, t->capacity);
        uint64_t *a = g_try_renew(uint64_t, t->page, n);

        if (!a) {
            return -1;
        }
        t->page = a;
        t->page_alloc = n;
    }
    t->slot[i] = p;
    t->page[t->npages++] = p;
    t->marks++;
    return 1;
}

/* ---- overflow intervals ---- */

static const MvfTrackIv *mvf_track_pending_at(const MvfTracker *t,
                                              uint64_t p)
{
    unsigned k;

    for (k = 0; k < t->npending; k++) {
        if (t->pending[k].first <= p && p <= t->pending[k].last) {
            return &t->pending[k];
        }
    }
    return NULL;
}

static bool mvf_track_pending_meets(const MvfTracker *t, uint64_t first,
                                    uint64_t last)
{
    unsigned k;

    for (k = 0; k < t->npending; k++) {
        if (t->pending[k].first <= last && first <= t->pending[k].last) {
            return true;
        }
    }
    return false;
}

/*
 * Remove pages first..last from the overflow intervals, all or nothing:
 * false (nothing changed) if that needs more than MVF_TRACK_PENDING.
 */
static bool mvf_track_pending_cut(MvfTracker *t, uint64_t first,
                                  uint64_t last)
{
    MvfTrackIv out[MVF_TRACK_PENDING];
    unsigned k, n = 0;

    for (k = 0; k < t->npending; k++) {
        MvfTrackIv iv = t->pending[k];

        if (iv.last < first || last < iv.first) {
            if (n == MVF_TRACK_PENDING) {
                return false;
            }
            out[n++] = iv;
            continue;
        }
        if (iv.first < first) {
            if (n == MVF_TRACK_PENDING) {
                return false;
            }
            out[n++] = (MvfTrackIv) { iv.first, first - 1 };
        }
        if (last < iv.last) {
            if (n == MVF_TRACK_PENDING) {
                return false;
            }
            out[n++] = (MvfTrackIv) { last + 1, iv.last };
        }
    }
    memcpy(t->pending, out, n * sizeof(out[0]));
    t->npending = n;
    return true;
}

/* The store is full: forget every page, everything tracked is dirty */
static void mvf_track_overflow(MvfTracker *t)
{
    memset(t->slot, 0xff, sizeof(*t->slot) << t->slot_bits);
    t->npages = 0;
    t->sorted = 0;
    memcpy(t->pending, t->range, t->nranges * sizeof(t->range[0]));
    t->npending = t->nranges;
    t->last_valid = false;
    t->overflows++;
}

/* ---- marking ---- */

/* A DMA write of the VF's to [addr, addr + len) */
void mvf_track_mark(MvfTracker *t, uint64_t addr, uint64_t len)
{
    uint64_t first, last, p;
    unsigned k;

    if (!len) {
        return;
    }
    first = addr >> t->shift;
    last = (len - 1 > UINT64_MAX - addr ? UINT64_MAX : addr + len - 1) >>
           t->shift;
    if (first == last && t->last_valid && t->last_page == first) {
        return;     /* the same page as the last write (a CQ, mostly) */
    }
    for (k = 0; k < t->nranges && t->range[k].first <= last; k++) {
        uint64_t hi = MIN(last, t->range[k].last);

        for (p = MAX(first, t->range[k].first); p <= hi; p++) {
            const MvfTrackIv *iv = t->npending ? mvf_track_pending_at(t, p)
                                               : NULL;

            if (iv) {
                p = MIN(iv->last, hi);  /* reported anyway */
                continue;
            }
            if (mvf_track_insert(t, p) < 0) {
                /* all ranges are overflow intervals now: nothing to add */
                mvf_track_overflow(t);
                return;
            }
        }
    }
    if (first == last) {
        t->last_page = first;
        t->last_valid = true;
    }
}

/* ---- REPORT's view of the store ---- */

static int mvf_track_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Sort the tail and merge it into the sorted prefix */
static void mvf_track_sort(MvfTracker *t)
{
    uint64_t s = t->sorted, n = t->npages, tail = n - s;
    g_autofree uint64_t *tmp = NULL;
    uint64_t i, j, k;

    if (!tail) {
        return;
    }
    qsort(t->page + s, tail, sizeof(uint64_t), mvf_track_cmp);
    if (s && t->page[s - 1] > t->page[s]) {
        tmp = g_try_new(uint64_t, tail);
        if (!tmp) {
            qsort(t->page, n, sizeof(uint64_t), mvf_track_cmp);
        } else {
            /* merge from the top end down; pages are distinct */
            memcpy(tmp, t->page + s, tail * sizeof(uint64_t));
            i = s;
            j = tail;
            k = n;
            while (j) {
                if (i && t->page[i - 1] > tmp[j - 1]) {
                    t->page[--k] = t->page[--i];
                } else {
                    t->page[--k] = tmp[--j];
                }
            }
        }
    }
    t->sorted = n;
}

/* Index of the first stored page >= @p (the array is sorted) */
static uint64_t mvf_track_lower_bound(const MvfTracker *t, uint64_t p)
{
    uint64_t lo = 0, hi = t->npages;

    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;

        if (t->page[mid] < p) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Forget page[a..b) (sorted, all stored) */
static void mvf_track_forget(MvfTracker *t, uint64_t a, uint64_t b)
{
    uint64_t k;

    if (a >= b) {
        return;
    }
    for (k = a; k < b; k++) {
        mvf_track_unhash(t, t->page[k]);
    }
    memmove(t->page + a, t->page + b, (t->npages - b) * sizeof(uint64_t));
    t->npages -= b - a;
    t->sorted = t->npages;
    t->last_valid = false;
}

/* ---- lifetime ---- */

static void mvf_track_delete(MvfTracker *t)
{
    g_free(t->slot);
    g_free(t->page);
    g_free(t);
}

static MvfTracker *mvf_track_new(unsigned shift, const MvfTrackIv *range,
                                 unsigned nranges, uint64_t capacity)
{
    MvfTracker *t = g_try_new0(MvfTracker, 1);

    if (!t) {
        return NULL;
    }
    t->shift = shift;
    t->nranges = nranges;
    memcpy(t->range, range, nranges * sizeof(range[0]));
    t->capacity = capacity;
    t->page_alloc = MIN(MVF_TRACK_PAGES_INIT, capacity);
    t->page = g_try_new(uint64_t, t->page_alloc);
    if (!t->page || !mvf_track_rehash(t, MVF_TRACK_SLOT_BITS)) {
        mvf_track_delete(t);
        return NULL;
    }
    return t;
}

/* The VF's tracker ends (DESTROY, VF disabled, unplug) */
void mvf_track_free(MvfVfState *vf)
{
    if (vf->track) {
        mvf_track_delete(vf->track);
        vf->track = NULL;
        vf->track_gen++;
    }
}

/* ---- commands ---- */

void mvf_track_query_caps(MvfPfState *pf, MvfCmdResult *r)
{
    r->out[0] = MVF_TRACK_PAGE_SIZES;
    r->out[1] = MVF_TRACK_MAX_RANGES;
    r->out[2] = MVF_TRACK_ADDR_LOG2;
    r->out[3] = pf->track_capacity;
}

/*
 * After a DMA of a tracker command: false if it stopped the command
 * interface (the command is dropped: mvf_cmd_pass()), disabled the VF
 * (@r says VF_DISABLED) or took its tracker (@r says NO_TRACKER).
 */
static bool mvf_track_still(MvfPfState *pf, MvfVfState *vf,
                            uint32_t stop_gen, uint32_t track_gen,
                            MvfCmdResult *r)
{
    if (pf->stop_gen != stop_gen) {
        return false;
    }
    if (mvf_pf_lookup_vf(pf, mvf_vf_vhca_id(vf), r) != vf) {
        return false;
    }
    if (vf->track_gen != track_gen) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_TRACKER);
        return false;
    }
    return true;
}

void mvf_track_create(MvfPfState *pf, MvfVfState *vf, MvfCmd *c)
{
    const struct mvf_cmd_entry *e = &c->e;
    MvfCmdResult *r = &c->r;
    uint32_t shift = le32_to_cpu(e->in[0]);
    uint32_t n = le32_to_cpu(e->in[1]);
    uint64_t capacity = le32_to_cpu(e->in[2]);
    uint32_t stop_gen = pf->stop_gen, track_gen = vf->track_gen;
    struct mvf_track_range rr[MVF_TRACK_MAX_RANGES];
    MvfTrackIv range[MVF_TRACK_MAX_RANGES];
    uint64_t pmask, sum = 0;
    MvfTracker *t;
    MvfSgl sgl;
    unsigned k;
    bool ok;

    if (shift >= 32 || !(MVF_TRACK_PAGE_SIZES & (1u << shift))) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_TRACK_PAGE_SIZE);
        return;
    }
    if (n < 1 || n > MVF_TRACK_MAX_RANGES) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_TRACK_NRANGES);
        return;
    }
    if (le32_to_cpu(e->data_len) != n * sizeof(rr[0])) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_LEN);
        return;
    }
    if (!mvf_sgl_init(&sgl, PCI_DEVICE(pf), le64_to_cpu(e->sgl_addr),
                      le32_to_cpu(e->sgl_len), r)) {
        return;
    }
    ok = mvf_sgl_xfer(&sgl, (uint8_t *)rr, n * sizeof(rr[0]),
                      MVF_SGL_FROM_HOST, r);
    if (!mvf_track_still(pf, vf, stop_gen, track_gen, r) || !ok) {
        return;
    }

    pmask = (1ull << shift) - 1;
    for (k = 0; k < n; k++) {
        uint64_t iova = le64_to_cpu(rr[k].iova);
        uint64_t len = le64_to_cpu(rr[k].length);

        if (!len || (iova & pmask) || (len & pmask) ||
            len - 1 > UINT64_MAX - iova ||
            (k && iova <= (range[k - 1].last << shift | pmask))) {
            mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_TRACK_RANGE);
            return;
        }
        range[k].first = iova >> shift;
        range[k].last = (iova + len - 1) >> shift;
        sum = len > UINT64_MAX - sum ? UINT64_MAX : sum + len;
    }
    if (sum > 1ull << MVF_TRACK_ADDR_LOG2) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_TRACK_ADDR_SPACE);
        return;
    }

    if (!capacity || capacity > pf->track_capacity) {
        capacity = pf->track_capacity;
    }
    t = mvf_track_new(shift, range, n, capacity);
    if (!t) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_RESOURCE, MVF_SYND_NONE);
        return;
    }
    mvf_track_free(vf);         /* a new one replaces the old */
    vf->track = t;
    vf->track_gen++;
    r->out[0] = capacity;
}

void mvf_track_destroy(MvfVfState *vf, MvfCmdResult *r)
{
    r->out[0] = vf->track != NULL;
    mvf_track_free(vf);
}

/*
 * REPORT_DIRTY: the stored pages that meet the window, as ascending runs
 * into the scatter list (the PF's DMA).  Only once every run is written
 * are the pages entirely inside the window forgotten and the window taken
 * out of the overflow intervals; pages outside the tracked ranges are
 * never stored, so a window reaching beyond them reports nothing there.
 */
void mvf_track_report(MvfPfState *pf, MvfVfState *vf, MvfCmd *c)
{
    const struct mvf_cmd_entry *e = &c->e;
    MvfCmdResult *r = &c->r;
    MvfTracker *t = vf->track;
    uint64_t ws = le32_to_cpu(e->in[0]) |
                  (uint64_t)le32_to_cpu(e->in[1]) << 32;
    uint64_t wlen = le32_to_cpu(e->in[2]) |
                    (uint64_t)le32_to_cpu(e->in[3]) << 32;
    uint32_t data_len = le32_to_cpu(e->data_len);
    uint32_t stop_gen = pf->stop_gen, track_gen = vf->track_gen;
    struct mvf_track_run buf[MVF_TRACK_RUN_CHUNK];
    uint64_t we, pmask, wp0, wp1, ip0, ip1, i, i0, a, b, runs = 0;
    uint64_t max_runs = data_len / sizeof(buf[0]), resume = 0;
    bool overflow, inside, more = false;
    unsigned nbuf = 0;
    MvfSgl sgl;

    if (!t) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_TRACKER);
        return;
    }
    if (!wlen || wlen - 1 > UINT64_MAX - ws) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_TRACK_WINDOW);
        return;
    }
    if (data_len < sizeof(buf[0]) || data_len % sizeof(buf[0])) {
        mvf_cmd_fail(r, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_LEN);
        return;
    }
    if (!mvf_sgl_init(&sgl, PCI_DEVICE(pf), le64_to_cpu(e->sgl_addr),
                      le32_to_cpu(e->sgl_len), r)) {
        return;
    }

    /* the pages that meet the window, and those entirely inside it */
    we = ws + wlen - 1;
    pmask = (1ull << t->shift) - 1;
    wp0 = ws >> t->shift;
    wp1 = we >> t->shift;
    ip0 = wp0 + !!(ws & pmask);
    inside = (we & pmask) == pmask || wp1 > 0;
    ip1 = (we & pmask) == pmask ? wp1 : wp1 - 1;
    inside = inside && ip0 <= ip1;
    overflow = mvf_track_pending_meets(t, wp0, wp1);

    mvf_track_sort(t);
    i = i0 = mvf_track_lower_bound(t, wp0);
    while (i < t->npages && t->page[i] <= wp1) {
        uint64_t start = i;

        if (runs == max_runs) {
            more = true;
            resume = t->page[i] << t->shift;
            break;
        }
        while (i + 1 < t->npages && t->page[i + 1] == t->page[i] + 1 &&
               t->page[i + 1] <= wp1 && i + 1 - start < UINT32_MAX) {
            i++;
        }
        i++;
        buf[nbuf++] = (struct mvf_track_run) {
            .iova = cpu_to_le64(t->page[start] << t->shift),
            .pages = cpu_to_le32(i - start),
        };
        runs++;
        if (nbuf == MVF_TRACK_RUN_CHUNK || runs == max_runs ||
            i == t->npages || t->page[i] > wp1) {
            bool ok = mvf_sgl_xfer(&sgl, (uint8_t *)buf,
                                   nbuf * sizeof(buf[0]), MVF_SGL_TO_HOST, r);

            /* the write may have disabled the VF: @t is gone then */
            if (!mvf_track_still(pf, vf, stop_gen, track_gen, r) || !ok) {
                return;
            }
            nbuf = 0;
        }
    }

    /* every run is written: commit */
    a = i0;
    b = i;
    if (a < b && t->page[a] < ip0) {
        a++;        /* straddles the window's start: kept */
    }
    if (a < b && t->page[b - 1] > ip1) {
        b--;        /* straddles its end: kept */
    }
    if (inside) {
        mvf_track_forget(t, a, b);
        if (overflow) {
            mvf_track_pending_cut(t, ip0, ip1);
        }
    }
    t->last_valid = false;      /* it may be neither stored nor pending */
    t->reports++;

    r->out[0] = runs;
    r->out[1] = (overflow ? MVF_REPORT_OUT_OVERFLOW : 0) |
                (more ? MVF_REPORT_OUT_MORE : 0);
    if (more) {
        r->out[2] = (uint32_t)resume;
        r->out[3] = resume >> 32;
    }
}

/* One line per VF with a tracker, for the PF's x-track-stats property */
char *mvf_track_stats(MvfPfState *pf)
{
    PCIDevice *dev = PCI_DEVICE(pf);
    GString *s = g_string_new("");
    uint16_t i;

    for (i = 0; i < pcie_sriov_num_vfs(dev); i++) {
        MvfVfState *vf = MVF_VF(pcie_sriov_get_vf_at_index(dev, i));
        const MvfTracker *t = vf->track;

        if (!t) {
            continue;
        }
        g_string_append_printf(s, "%svf%u page_shift=%u ranges=%u "
                               "capacity=%" PRIu64 " pages=%" PRIu64
                               " pending=%u marks=%" PRIu64
                               " overflows=%" PRIu64 " reports=%" PRIu64,
                               s->len ? "\n" : "", i + 1, t->shift,
                               t->nranges, t->capacity, t->npages,
                               t->npending, t->marks, t->overflows,
                               t->reports);
    }
    return g_string_free(s, false);
}
