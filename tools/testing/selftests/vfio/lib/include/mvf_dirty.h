/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What a test expects of VFIO device dirty page tracking
 * (VFIO_DEVICE_FEATURE_DMA_LOGGING_*) of an MVF VF, and the comparison
 * with what a REPORT gave.
 *
 * A struct mvf_pageset holds 4 KiB pages by IOVA: the pages the VF wrote
 * by DMA (the host side of DEVMEM_READ, the receive buffer of a SEND, the
 * CQ ring slots of its CQEs).  A struct mvf_dirty_log is one started
 * tracker as the test sees it: the ranges, the tracker page size START
 * returned, and the pages written and not reported yet.  It forgets them
 * as the device does (include/linux/mvf/mvf_if.h, REPORT_DIRTY): a
 * tracker page is forgotten once a REPORT window covered it entirely, a
 * page straddling the window's edge is kept.
 *
 * What a REPORT of a window must give (mvf_dirty_expect()): every tracker
 * page holding a written page, clipped to the window; every part of the
 * window outside all tracked ranges (mvf-vfio-pci reports what the device
 * does not watch as dirty); with an overflow, the whole window.
 *
 * Functions return 0 (or a count) or -errno and never abort.
 */
#ifndef _MVF_DIRTY_H
#define _MVF_DIRTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>

#include "mvf_dev.h"

#define MVF_DIRTY_GRAIN		4096ULL
/* Ranges the VFIO core takes in one START on x86: one page of them. */
#define MVF_DIRTY_MAX_RANGES	256

typedef struct vfio_device_feature_dma_logging_range mvf_range_t;

/* ---- page sets ------------------------------------------------------------ */

struct mvf_pageset {
	uint64_t *pg;		/* IOVAs of 4 KiB pages */
	size_t n, cap;
	bool sorted;		/* pg[0..n) ascending without repeats */
};

void mvf_pageset_init(struct mvf_pageset *s);
void mvf_pageset_free(struct mvf_pageset *s);
void mvf_pageset_clear(struct mvf_pageset *s);
/* Every 4 KiB page that bytes [@iova, @iova + @len) touch. */
int mvf_pageset_add(struct mvf_pageset *s, uint64_t iova, uint64_t len);
int mvf_pageset_add_set(struct mvf_pageset *s, struct mvf_pageset *o);
/*
 * The CQ ring pages the CQEs of free-running indices [@from, @to) of @qp
 * were written to.
 */
int mvf_pageset_add_cqes(struct mvf_pageset *s, const struct mvf_qp *qp,
			 uint32_t from, uint32_t to);
size_t mvf_pageset_count(struct mvf_pageset *s);
bool mvf_pageset_has(struct mvf_pageset *s, uint64_t iova);
/*
 * Remove the pages whose tracker page (@tpage bytes, aligned) lies
 * entirely inside [@iova, @iova + @length).
 */
void mvf_pageset_forget(struct mvf_pageset *s, uint64_t iova,
			uint64_t length, uint64_t tpage);
/* Print the pages as IOVA runs on one "# " line, @max runs at most. */
void mvf_pageset_print(struct mvf_pageset *s, const char *what,
		       unsigned int max);

/* ---- bitmaps ---------------------------------------------------------------- */

/* Bits of a REPORT of @length bytes with bits of @psize. */
static inline uint64_t mvf_bitmap_bits(uint64_t length, uint64_t psize)
{
	return (length + psize - 1) / psize;
}

/* A zeroed bitmap for such a REPORT (whole u64 words), or NULL. */
uint64_t *mvf_bitmap_alloc(uint64_t length, uint64_t psize);
uint64_t mvf_bitmap_weight(const uint64_t *bm, uint64_t nbits);

static inline bool mvf_bitmap_test(const uint64_t *bm, uint64_t bit)
{
	return bm[bit / 64] >> (bit % 64) & 1;
}

/* ---- the tracker as the test sees it -------------------------------------- */

struct mvf_dirty_log {
	struct vfio_dev *dev;
	uint64_t tpage;			/* the page size START chose */
	unsigned int nranges;
	mvf_range_t *ranges;		/* as given to START */
	struct mvf_pageset written;	/* written, not forgotten yet */
};

/*
 * START on @dev with @hint and @n @ranges; on success @l is the tracker
 * with nothing written (0 or -errno).  mvf_dirty_log_stop() is STOP and
 * frees @l (also when STOP fails; it returns STOP's result).
 */
int mvf_dirty_log_start(struct mvf_dirty_log *l, struct vfio_dev *dev,
			uint64_t hint, const mvf_range_t *ranges,
			unsigned int n);
int mvf_dirty_log_stop(struct mvf_dirty_log *l);
/* Free @l without STOP (the device fd was closed, or never started). */
void mvf_dirty_log_free(struct mvf_dirty_log *l);

/* True if IOVA @iova is inside one of @l's ranges, rounded to tpage. */
bool mvf_dirty_tracked(const struct mvf_dirty_log *l, uint64_t iova);

/*
 * The bitmap a REPORT of [@iova, @iova + @length) with bits of @psize
 * must give now (see above); @want must hold mvf_bitmap_bits() bits in
 * whole words and is overwritten.
 */
void mvf_dirty_expect(struct mvf_dirty_log *l, uint64_t iova,
		      uint64_t length, uint64_t psize, bool overflow,
		      uint64_t *want);

/*
 * Compare a REPORT's bitmap @got with @want; print the missing and the
 * extra pages as IOVA runs on "# " lines to stderr, labelled with @what,
 * the window and the page sizes (at most 24 runs each).  Returns the
 * number of differing bits.
 */
uint64_t mvf_dirty_diff(const uint64_t *got, const uint64_t *want,
			uint64_t iova, uint64_t length, uint64_t psize,
			uint64_t tpage, const char *what);

/*
 * REPORT [@iova, @iova + @length) with bits of @psize, compare it with
 * mvf_dirty_expect() (@overflow: the device must say the whole window is
 * dirty) and forget what the device forgets.  Returns the number of
 * differing bits (printed as above, labelled @what), or -errno if the
 * REPORT failed.  @got (may be NULL) receives the bitmap: malloc'ed, the
 * caller frees it.
 */
int64_t mvf_dirty_check(struct mvf_dirty_log *l, uint64_t iova,
			uint64_t length, uint64_t psize, bool overflow,
			const char *what, uint64_t **got);

/* ---- mvf_core's debugfs ------------------------------------------------------ */

/*
 * MVF_DEBUGFS_DIR/<bdf>/track: the VF's tracker as mvf_core saw it through
 * its helpers.  Fields the file does not have are -1.  Read as "key value"
 * pairs (also "key: value", "key=value"), or, if it starts with a number,
 * as the values in this order.
 */
struct mvf_track_dbg {
	int64_t active, page_shift, ranges, capacity, reports, overflows;
};

int mvf_track_info(const char *bdf, struct mvf_track_dbg *t);

/* The module parameter dirty_capacity of mvf_vfio_pci (pages, 0 = max). */
#define MVF_DIRTY_CAPACITY_PARAM \
	"/sys/module/mvf_vfio_pci/parameters/dirty_capacity"

int mvf_dirty_capacity_get(uint64_t *pages);
int mvf_dirty_capacity_set(uint64_t pages);

#endif /* _MVF_DIRTY_H */
