// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF VF vfio-pci variant driver: DMA logging (the DMA_LOGGING_START,
 * _STOP and _REPORT device features), on the device's page tracker.
 *
 * vfio's core checks the user's arguments (range count, alignment to the
 * hinted page size, overlaps, wrapping) and keeps no state; this file keeps
 * it, under state_mutex, in struct mvf_dirty:
 *
 * START picks the tracker page size (the largest the device offers that is
 * not above the hint, else its smallest), combines the ranges when there
 * are more than the device takes, rounds them outward to the page size,
 * merges what then touches, checks their sum against the device's address
 * space and creates the tracker (CREATE_TRACKER replaces whatever the
 * device kept of an older one).  Only one START until STOP.
 *
 * REPORT asks the device for the window's dirty pages (REPORT_DIRTY, again
 * while it says MORE) and marks them in the user's bitmap, each run clipped
 * to the window: iova_bitmap_set() silently drops what starts below it.
 * The parts of the window outside every tracked range are marked dirty:
 * the device does not watch them, so calling them clean could hide a
 * write.  OVERFLOW (the device ran out of room since the last report of
 * this window) marks the whole window.  The marks may fault the bitmap in
 * and sleep: state_mutex is held across them, no spinlock.
 *
 * STOP destroys the tracker; so does closing the device.  A VFIO reset of
 * the VF leaves it alone (so does the device: a function reset keeps the
 * tracker and its pages).  When the device's log cannot be trusted any
 * more -- SR-IOV disabled under the VF, an error or a reset of the PF, a
 * failed REPORT -- it is "lost": REPORT fails with -EIO until STOP, which
 * is the uAPI's way of saying the log is corrupt.
 */

#include <linux/interval_tree.h>
#include <linux/iova_bitmap.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/sizes.h>
#include <linux/vfio.h>

#include <linux/mvf/mvf_if.h>

#include "mvf_vfio.h"

static unsigned int dirty_capacity;
module_param(dirty_capacity, uint, 0644);
MODULE_PARM_DESC(dirty_capacity,
		 "Dirty pages a VF's page tracker stores before it overflows (0: the device's maximum; read at DMA logging start)");

#ifndef MVF_NO_DMA_LOGGING

/* REPORT_DIRTY's buffer: 4096 runs a command. */
#define MVF_DIRTY_RUNS_SIZE	SZ_64K
/* Runs copied out of that buffer at a time, on the stack. */
#define MVF_DIRTY_RUN_BATCH	16

/* The largest page size offered that is not above @hint, else the smallest. */
static unsigned int mvf_dirty_page_shift(u32 sizes, u64 hint)
{
	u64 fit = sizes & GENMASK_ULL(ilog2(hint), 0);

	return fit ? fls64(fit) - 1 : __ffs(sizes);
}

/*
 * Take the user's ranges out of the core's tree, rounded outward to the
 * page size and merged where they touch, into @range.
 *
 * Return: the number of ranges, or -EINVAL.
 */
static int mvf_dirty_copy_ranges(struct rb_root_cached *ranges, u32 nnodes,
				 unsigned int max_ranges, u64 psize,
				 u64 (*range)[2])
{
	struct interval_tree_node *node;
	unsigned int n = 0;

	/* The core lets zero-length ranges through: last == start - 1. */
	for (node = interval_tree_iter_first(ranges, 0, ULONG_MAX); node;
	     node = interval_tree_iter_next(node, 0, ULONG_MAX))
		if (node->last + 1 == node->start)
			return -EINVAL;

	/* Edits the tree: nodes are only copied out afterwards. */
	if (nnodes > max_ranges)
		vfio_combine_iova_ranges(ranges, nnodes, max_ranges);

	for (node = interval_tree_iter_first(ranges, 0, ULONG_MAX); node;
	     node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		u64 first = round_down((u64)node->start, psize);
		u64 last = round_down((u64)node->last, psize) + (psize - 1);

		if (n && (first <= range[n - 1][1] ||
			  first - range[n - 1][1] == 1)) {
			range[n - 1][1] = max(range[n - 1][1], last);
			continue;
		}
		if (WARN_ON_ONCE(n == max_ranges))
			return -EINVAL;
		range[n][0] = first;
		range[n][1] = last;
		n++;
	}
	return n ? n : -EINVAL;
}

/* Is the sum of the range lengths within 2^@addr_log2 bytes? */
static bool mvf_dirty_fits(const u64 (*range)[2], unsigned int n,
			   u8 addr_log2)
{
	u64 limit = 1ULL << addr_log2, sum = 0, len_m1;
	unsigned int i;

	for (i = 0; i < n; i++) {
		len_m1 = range[i][1] - range[i][0];
		if (len_m1 >= limit || sum > limit - len_m1 - 1)
			return false;
		sum += len_m1 + 1;
	}
	return true;
}

static int mvf_dirty_start_locked(struct mvf_vfio_dev *mvdev,
				  struct rb_root_cached *ranges, u32 nnodes,
				  u64 *page_size)
{
	struct mvf_dirty *d = &mvdev->dirty;
	u64 range[MVF_DIRTY_MAX_RANGES][2];
	struct mvf_core_track_range dev_range[MVF_DIRTY_MAX_RANGES];
	struct mvf_track_caps caps;
	unsigned int shift, i;
	u32 granted;
	int n, ret;

	if (!mvf_core_track_caps(mvdev->mdev, &caps))
		return -EOPNOTSUPP;
	if (!*page_size || !is_power_of_2(*page_size))
		return -EINVAL;

	shift = mvf_dirty_page_shift(caps.page_sizes, *page_size);
	n = mvf_dirty_copy_ranges(ranges, nnodes,
				  min_t(u32, caps.max_ranges,
					MVF_DIRTY_MAX_RANGES),
				  1ULL << shift, range);
	if (n < 0)
		return n;
	if (!mvf_dirty_fits(range, n, caps.addr_log2))
		return -EOPNOTSUPP;

	d->runs = mvf_img_buf_alloc(mvdev->mdev, MVF_DIRTY_RUNS_SIZE,
				    DMA_FROM_DEVICE);
	if (IS_ERR(d->runs)) {
		ret = PTR_ERR(d->runs);
		d->runs = NULL;
		return ret;
	}

	for (i = 0; i < n; i++) {
		dev_range[i].iova = range[i][0];
		dev_range[i].length = range[i][1] - range[i][0] + 1;
	}
	ret = mvf_core_track_create(mvdev->mdev, mvdev->vhca_id, shift,
				    dev_range, n, READ_ONCE(dirty_capacity),
				    &granted);
	if (ret) {
		if (ret == -EINVAL)
			dev_err(mvf_vfio_dev(mvdev),
				"the device refused the page tracker's arguments\n");
		mvf_img_buf_put(d->runs);
		d->runs = NULL;
		return ret;
	}

	memcpy(d->range, range, sizeof(range[0]) * n);
	d->nranges = n;
	d->page_shift = shift;
	d->active = true;
	d->lost = false;
	*page_size = 1ULL << shift;
	dev_dbg(mvf_vfio_dev(mvdev),
		"DMA logging started: %d range(s), %llu byte pages, capacity %u pages\n",
		n, *page_size, granted);
	return 0;
}

static int mvf_dirty_start(struct vfio_device *vdev,
			   struct rb_root_cached *ranges, u32 nnodes,
			   u64 *page_size)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_from_vdev(vdev);
	int ret;

	mutex_lock(&mvdev->state_mutex);
	if (mvdev->pf_gone)
		ret = -ENODEV;
	else if (mvdev->blocked)
		ret = -EIO;
	else if (mvdev->dirty.active)
		ret = -EINVAL;
	else
		ret = mvf_dirty_start_locked(mvdev, ranges, nnodes, page_size);
	mvf_state_mutex_unlock(mvdev);
	return ret;
}

/*
 * End the tracker: the device's too, unless no command can reach it (the
 * PF is gone or its command interface is down; a new CREATE replaces
 * whatever it kept).  A failure is only logged: logging is over anyway.
 */
static void mvf_dirty_end(struct mvf_vfio_dev *mvdev)
{
	struct mvf_dirty *d = &mvdev->dirty;
	int ret;

	lockdep_assert_held(&mvdev->state_mutex);
	if (!d->active)
		return;
	if (!mvdev->pf_gone && !mvdev->blocked) {
		ret = mvf_core_track_destroy(mvdev->mdev, mvdev->vhca_id);
		if (ret)
			dev_warn_ratelimited(mvf_vfio_dev(mvdev),
					     "cannot destroy the page tracker: %pe\n",
					     ERR_PTR(ret));
	}
	mvf_img_buf_put(d->runs);
	d->runs = NULL;
	d->active = false;
	d->lost = false;
}

static int mvf_dirty_stop(struct vfio_device *vdev)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_from_vdev(vdev);

	mutex_lock(&mvdev->state_mutex);
	mvf_dirty_end(mvdev);
	mvf_state_mutex_unlock(mvdev);
	return 0;
}

/* One REPORT's marks in the user's bitmap. */
struct mvf_dirty_walk {
	const struct mvf_dirty *d;
	struct iova_bitmap *bitmap;
	u64 first, last;	/* the window */
	unsigned int gap;	/* next untracked gap to mark: before range[gap] */
	bool all;		/* the whole window is marked */
	bool started;		/* a REPORT_DIRTY went to the device */
};

/* Mark [@first, @last] clipped to the window. */
static void mvf_dirty_mark(struct mvf_dirty_walk *w, u64 first, u64 last)
{
	first = max(first, w->first);
	last = min(last, w->last);
	if (first <= last)
		iova_bitmap_set(w->bitmap, first, last - first + 1);
}

/*
 * Mark the untracked gaps in front of every range that starts at or below
 * @below, and with @tail also the one behind the last range, in ascending
 * order, each once a walk.
 */
static void mvf_dirty_gaps(struct mvf_dirty_walk *w, u64 below, bool tail)
{
	const struct mvf_dirty *d = w->d;
	unsigned int k;

	for (; w->gap <= d->nranges; w->gap++) {
		u64 first, last;

		k = w->gap;
		if (k < d->nranges && d->range[k][0] > below)
			return;
		if (k == d->nranges && !tail)
			return;
		if (k && d->range[k - 1][1] == U64_MAX)
			continue;
		if (k < d->nranges && !d->range[k][0])
			continue;
		first = k ? d->range[k - 1][1] + 1 : 0;
		last = k < d->nranges ? d->range[k][0] - 1 : U64_MAX;
		mvf_dirty_mark(w, first, last);
	}
}

/* Mark the @nruns runs REPORT_DIRTY wrote into the run buffer. */
static int mvf_dirty_mark_runs(struct mvf_vfio_dev *mvdev,
			       struct mvf_dirty_walk *w, u32 nruns)
{
	struct mvf_track_run runs[MVF_DIRTY_RUN_BATCH];
	const struct mvf_dirty *d = w->d;
	u64 psize = 1ULL << d->page_shift;
	u32 done, n, i;
	int ret;

	for (done = 0; done < nruns; done += n) {
		n = min_t(u32, nruns - done, MVF_DIRTY_RUN_BATCH);
		ret = mvf_img_buf_read(d->runs, done * sizeof(runs[0]), runs,
				       n * sizeof(runs[0]));
		if (ret)
			return ret;
		for (i = 0; i < n; i++) {
			u64 iova = le64_to_cpu(runs[i].iova);
			u32 pages = le32_to_cpu(runs[i].pages);
			u64 len_m1 = ((u64)pages << d->page_shift) - 1;

			if (!pages || !IS_ALIGNED(iova, psize) ||
			    iova + len_m1 < iova) {
				dev_err_ratelimited(mvf_vfio_dev(mvdev),
						    "REPORT_DIRTY wrote a bad run: %u pages at %#llx\n",
						    pages, iova);
				return -EIO;
			}
			mvf_dirty_gaps(w, iova, false);
			mvf_dirty_mark(w, iova, iova + len_m1);
		}
	}
	return 0;
}

static int mvf_dirty_report(struct mvf_vfio_dev *mvdev,
			    struct mvf_dirty_walk *w)
{
	struct mvf_track_report rep;
	u64 from = w->first;
	int ret;

	for (;;) {
		w->started = true;
		ret = mvf_core_track_report(mvdev->mdev, mvdev->vhca_id, from,
					    w->last - from + 1, w->d->runs,
					    &rep);
		if (ret)
			return ret;
		if ((rep.flags & MVF_REPORT_OUT_OVERFLOW) && !w->all) {
			mvf_dirty_mark(w, w->first, w->last);
			w->all = true;
		}
		/* After an overflow the device is only drained. */
		if (!w->all) {
			ret = mvf_dirty_mark_runs(mvdev, w, rep.runs);
			if (ret)
				return ret;
		}
		if (!(rep.flags & MVF_REPORT_OUT_MORE))
			break;
		from = rep.next_iova;
	}
	if (!w->all)
		mvf_dirty_gaps(w, U64_MAX, true);
	return 0;
}

static int mvf_dirty_read_and_clear(struct vfio_device *vdev,
				    unsigned long iova, unsigned long length,
				    struct iova_bitmap *dirty)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_from_vdev(vdev);
	struct mvf_dirty *d = &mvdev->dirty;
	struct mvf_dirty_walk w = {
		.d = d,
		.bitmap = dirty,
		.first = iova,
		.last = (u64)iova + length - 1,
	};
	int ret;

	mutex_lock(&mvdev->state_mutex);
	if (!d->active)
		ret = -EINVAL;
	else if (d->lost)
		ret = -EIO;
	else if (mvdev->pf_gone)
		ret = -ENODEV;
	else if (mvdev->blocked)
		ret = -EIO;
	else if (!length)
		ret = -EINVAL;
	else
		ret = mvf_dirty_report(mvdev, &w);
	if (ret && !d->lost && w.started) {
		/* The device may have forgotten pages that were not marked. */
		d->lost = true;
		dev_warn_ratelimited(mvf_vfio_dev(mvdev),
				     "DMA log lost: a report failed (%pe); reports fail until logging stops\n",
				     ERR_PTR(ret));
	}
	mvf_state_mutex_unlock(mvdev);
	return ret;
}

static const struct vfio_log_ops mvf_dirty_log_ops = {
	.log_start = mvf_dirty_start,
	.log_stop = mvf_dirty_stop,
	.log_read_and_clear = mvf_dirty_read_and_clear,
};

/**
 * mvf_dirty_ops() - the DMA logging ops of a VF, if it gets any
 * @mvdev: VF device being initialized, attached to the core
 *
 * A VF gets DMA logging when it migrates and the device has a page tracker
 * (interface 2.2 with MVF_CAP_DIRTY_TRACK); one without is told once.
 *
 * Return: the ops for vdev->log_ops, or NULL.
 */
const struct vfio_log_ops *mvf_dirty_ops(struct mvf_vfio_dev *mvdev)
{
	if (!mvdev->migrate_cap)
		return NULL;
	if (!mvf_core_track_caps(mvdev->mdev, NULL)) {
		dev_info(mvf_vfio_dev(mvdev),
			 "device without dirty page tracking: no DMA logging\n");
		return NULL;
	}
	return &mvf_dirty_log_ops;
}

/**
 * mvf_dirty_close() - the user closed the device: end DMA logging
 * @mvdev: VF device
 */
void mvf_dirty_close(struct mvf_vfio_dev *mvdev)
{
	mutex_lock(&mvdev->state_mutex);
	mvf_dirty_end(mvdev);
	mvf_state_mutex_unlock(mvdev);
}

/**
 * mvf_dirty_lost() - the device's log cannot be trusted any more
 * @mvdev: VF device; the caller holds state_mutex
 *
 * SR-IOV is being disabled, or the PF's command interface stopped (an
 * error or a reset of the PF): REPORT fails with -EIO until STOP.  No
 * command is sent.
 */
void mvf_dirty_lost(struct mvf_vfio_dev *mvdev)
{
	struct mvf_dirty *d = &mvdev->dirty;

	lockdep_assert_held(&mvdev->state_mutex);
	if (!d->active || d->lost)
		return;
	d->lost = true;
	dev_warn(mvf_vfio_dev(mvdev),
		 "DMA log lost with the PF's state: reports fail until logging stops\n");
}

#else /* MVF_NO_DMA_LOGGING */

const struct vfio_log_ops *mvf_dirty_ops(struct mvf_vfio_dev *mvdev)
{
	if (mvdev->migrate_cap)
		dev_info(mvf_vfio_dev(mvdev),
			 "no DMA logging: kernel without CONFIG_IOMMUFD_DRIVER\n");
	return NULL;
}

void mvf_dirty_close(struct mvf_vfio_dev *mvdev)
{
}

void mvf_dirty_lost(struct mvf_vfio_dev *mvdev)
{
}

#endif /* MVF_NO_DMA_LOGGING */
