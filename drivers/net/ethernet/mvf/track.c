// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF PF core driver: the dirty page tracker, for VF drivers.
 *
 * A device with MVF_CAP_DIRTY_TRACK keeps one page tracker per VF that
 * records the pages of the tracked IOVA ranges the VF writes by DMA
 * (mvf_if.h has the contract).  The core reads what the device offers once
 * at probe and gives VF drivers synchronous helpers around the three VF
 * commands; the VF driver owns the policy (which ranges, which page size,
 * when to report) and serializes its own calls.
 *
 * The core also remembers what it saw of each VF's tracker through these
 * helpers, for debugfs ("track"): it sends no command to show it.
 */

#include <linux/log2.h>
#include <linux/module.h>

#include "mvf_core.h"

/* The tracker's answers are only read, never trusted beyond these. */
#define MVF_TRACK_MIN_ADDR_LOG2	12
#define MVF_TRACK_MAX_ADDR_LOG2	63

/**
 * mvf_track_query_caps() - read the tracker capabilities at probe
 * @core: core device whose QUERY_CAPS answer is in @core->caps
 *
 * Without MVF_CAP_DIRTY_TRACK (a device older than interface 2.2, or one
 * that has it turned off) nothing is asked and the core offers no tracker;
 * neither does it when QUERY_TRACK_CAPS fails or answers nonsense, which
 * is only logged: the PF works on without it.
 */
void mvf_track_query_caps(struct mvf_core_dev *core)
{
	struct mvf_cmd cmd = { .opcode = MVF_CMD_QUERY_TRACK_CAPS };
	struct mvf_track_caps caps;
	int ret;

	memset(&core->track_caps, 0, sizeof(core->track_caps));
	if (!(core->caps & MVF_CAP_DIRTY_TRACK))
		return;

	ret = mvf_cmd_exec_pf(core, &cmd);
	if (ret) {
		dev_warn(mvf_dev(core),
			 "QUERY_TRACK_CAPS failed (%pe): no dirty page tracking\n",
			 ERR_PTR(ret));
		return;
	}
	caps.page_sizes = cmd.out[0];
	caps.max_ranges = cmd.out[1];
	caps.addr_log2 = cmd.out[2] & 0xff;
	caps.max_capacity = cmd.out[3];
	if (!caps.page_sizes || !caps.max_ranges || !caps.max_capacity ||
	    caps.addr_log2 < MVF_TRACK_MIN_ADDR_LOG2 ||
	    caps.addr_log2 < __ffs(caps.page_sizes)) {
		dev_warn(mvf_dev(core),
			 "unusable tracker capabilities (page sizes %#x, %u ranges, 2^%u bytes, %u pages): no dirty page tracking\n",
			 caps.page_sizes, caps.max_ranges, caps.addr_log2,
			 caps.max_capacity);
		return;
	}
	caps.addr_log2 = min_t(u8, caps.addr_log2, MVF_TRACK_MAX_ADDR_LOG2);
	core->track_caps = caps;
	dev_dbg(mvf_dev(core),
		"dirty page tracker: page sizes %#x, %u ranges, 2^%u bytes, %u pages\n",
		caps.page_sizes, caps.max_ranges, caps.addr_log2,
		caps.max_capacity);
}

/**
 * mvf_track_vf_init() - set up what the core keeps of a VF's tracker
 * @vf: per-VF data, zeroed
 */
void mvf_track_vf_init(struct mvf_core_vf *vf)
{
	spin_lock_init(&vf->track_lock);
}

/**
 * mvf_track_vf_reset() - forget everything of a VF's tracker
 * @vf: a VF about to be enabled
 */
void mvf_track_vf_reset(struct mvf_core_vf *vf)
{
	spin_lock(&vf->track_lock);
	memset(&vf->track, 0, sizeof(vf->track));
	spin_unlock(&vf->track_lock);
}

/**
 * mvf_track_vfs_gone() - the device dropped the trackers of all VFs
 * @core: core device whose PF was reset (VF Enable cleared)
 */
void mvf_track_vfs_gone(struct mvf_core_dev *core)
{
	unsigned int i;

	for (i = 0; i < core->total_vfs; i++) {
		spin_lock(&core->vfs[i].track_lock);
		core->vfs[i].track.active = false;
		spin_unlock(&core->vfs[i].track_lock);
	}
}

/**
 * mvf_track_info() - a consistent copy of what the core saw of a tracker
 * @vf: per-VF data
 * @info: the copy
 */
void mvf_track_info(struct mvf_core_vf *vf, struct mvf_core_track *info)
{
	spin_lock(&vf->track_lock);
	*info = vf->track;
	spin_unlock(&vf->track_lock);
}

static struct mvf_core_vf *mvf_track_vf(struct mvf_core_dev *core,
					u16 vhca_id)
{
	return &core->vfs[vhca_id - 1];
}

/**
 * mvf_core_track_caps() - does the device offer a dirty page tracker?
 * @core: core device
 * @caps: if not NULL and there is a tracker, set to what it offers
 *
 * Return: true if the device has MVF_CAP_DIRTY_TRACK and answered
 * QUERY_TRACK_CAPS sensibly at probe.
 */
bool mvf_core_track_caps(const struct mvf_core_dev *core,
			 struct mvf_track_caps *caps)
{
	if (!core->track_caps.page_sizes)
		return false;
	if (caps)
		*caps = core->track_caps;
	return true;
}
EXPORT_SYMBOL_GPL(mvf_core_track_caps);

/**
 * mvf_core_track_create() - start tracking a VF's DMA writes
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 * @page_shift: log2 of the tracker page size, one the device offers
 * @ranges: @nranges ranges: ascending, not overlapping, aligned to the
 *	page size, length > 0
 * @nranges: 1..max_ranges of mvf_core_track_caps()
 * @capacity: pages the tracker may store before it overflows; 0 or above
 *	the device's maximum: the maximum
 * @granted: if not NULL, set to the capacity the device granted
 *
 * CREATE_TRACKER replaces a tracker the VF had, with its pages.  The
 * arguments are checked here too, so the device's refusal of them means
 * a device that disagrees with the interface.  Sleeps; the caller
 * serializes the tracker commands of one VF.
 *
 * Return: 0; -EOPNOTSUPP without a tracker; -EINVAL for bad arguments
 * (also the device's BAD_PARAM); -ENOMEM when the host or the device is
 * short of memory for it; otherwise as mvf_core_exec().
 */
int mvf_core_track_create(struct mvf_core_dev *core, u16 vhca_id,
			  unsigned int page_shift,
			  const struct mvf_core_track_range *ranges,
			  unsigned int nranges, u32 capacity, u32 *granted)
{
	struct mvf_cmd cmd = {
		.opcode = MVF_CMD_CREATE_TRACKER,
		.in = { page_shift, nranges, capacity, 0 },
	};
	const size_t len = nranges * sizeof(struct mvf_track_range);
	struct mvf_track_caps caps;
	struct mvf_track_range r;
	struct mvf_img_buf *buf;
	struct mvf_core_vf *vf;
	u64 psize, prev_last = 0;
	unsigned int i;
	int ret;

	if (!mvf_core_track_caps(core, &caps))
		return -EOPNOTSUPP;
	if (!mvf_core_vhca_valid(core, vhca_id) || page_shift >= 32 ||
	    !(caps.page_sizes & BIT(page_shift)) || !nranges ||
	    nranges > caps.max_ranges)
		return -EINVAL;
	psize = 1ULL << page_shift;
	for (i = 0; i < nranges; i++) {
		u64 iova = ranges[i].iova, length = ranges[i].length;

		if (!length || !IS_ALIGNED(iova | length, psize) ||
		    iova + (length - 1) < iova || (i && iova <= prev_last))
			return -EINVAL;
		prev_last = iova + (length - 1);
	}

	buf = mvf_img_buf_alloc(core, len, DMA_TO_DEVICE);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	for (i = 0; i < nranges; i++) {
		r.iova = cpu_to_le64(ranges[i].iova);
		r.length = cpu_to_le64(ranges[i].length);
		ret = mvf_img_buf_write(buf, i * sizeof(r), &r, sizeof(r));
		if (ret)
			goto out_put;
	}
	cmd.buf = buf;
	cmd.data_len = len;
	ret = mvf_core_exec(core, vhca_id, &cmd);
	/* The device had no room for the store: memory, not a missing VF. */
	if (ret && cmd.status == MVF_CMD_STAT_BAD_RESOURCE && !cmd.syndrome)
		ret = -ENOMEM;
	if (ret)
		goto out_put;
	if (!cmd.out[0]) {
		dev_err_ratelimited(mvf_dev(core),
				    "CREATE_TRACKER vhca %u granted no capacity\n",
				    vhca_id);
		ret = -EIO;
		goto out_put;
	}
	if (granted)
		*granted = cmd.out[0];

	vf = mvf_track_vf(core, vhca_id);
	spin_lock(&vf->track_lock);
	vf->track.active = true;
	vf->track.page_shift = page_shift;
	vf->track.nranges = nranges;
	vf->track.capacity = cmd.out[0];
	vf->track.reports = 0;
	vf->track.overflows = 0;
	spin_unlock(&vf->track_lock);
out_put:
	mvf_img_buf_put(buf);
	return ret;
}
EXPORT_SYMBOL_GPL(mvf_core_track_create);

/**
 * mvf_core_track_destroy() - stop tracking a VF's DMA writes
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 *
 * The tracker and its pages are dropped; a VF without one is fine.
 * Sleeps.
 *
 * Return: 0; -EOPNOTSUPP without a tracker; otherwise as mvf_core_exec().
 */
int mvf_core_track_destroy(struct mvf_core_dev *core, u16 vhca_id)
{
	struct mvf_cmd cmd = { .opcode = MVF_CMD_DESTROY_TRACKER };
	struct mvf_core_vf *vf;
	int ret;

	if (!mvf_core_track_caps(core, NULL))
		return -EOPNOTSUPP;
	ret = mvf_core_exec(core, vhca_id, &cmd);
	if (ret)
		return ret;
	vf = mvf_track_vf(core, vhca_id);
	spin_lock(&vf->track_lock);
	vf->track.active = false;
	spin_unlock(&vf->track_lock);
	return 0;
}
EXPORT_SYMBOL_GPL(mvf_core_track_destroy);

/**
 * mvf_core_track_report() - read and clear the dirty pages of a window
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 * @iova: first byte of the window
 * @length: bytes of the window, > 0, not wrapping
 * @buf: DMA_FROM_DEVICE buffer of at least one struct mvf_track_run; the
 *	device writes as many runs as whole ones fit (at most U32_MAX bytes)
 * @out: what the device returned, checked
 *
 * One REPORT_DIRTY: the device writes the runs of stored dirty pages that
 * intersect the window, ascending, into @buf, from offset 0, and then
 * forgets those of them that lie entirely inside the window.  With
 * MVF_REPORT_OUT_MORE the caller reports again from @out->next_iova; with
 * MVF_REPORT_OUT_OVERFLOW the whole window must be taken as dirty.  Read
 * the runs with mvf_img_buf_read().  Sleeps.
 *
 * Return: 0; -EOPNOTSUPP without a tracker; -EINVAL for bad arguments;
 * -EIO for an answer that breaks the interface (more runs than fit, MORE
 * without progress); otherwise as mvf_core_exec() (-EIO when the VF has
 * no tracker: BAD_STATE).
 */
int mvf_core_track_report(struct mvf_core_dev *core, u16 vhca_id, u64 iova,
			  u64 length, struct mvf_img_buf *buf,
			  struct mvf_track_report *out)
{
	struct mvf_cmd cmd = {
		.opcode = MVF_CMD_REPORT_DIRTY,
		.in = {
			lower_32_bits(iova), upper_32_bits(iova),
			lower_32_bits(length), upper_32_bits(length),
		},
	};
	const u32 run_size = sizeof(struct mvf_track_run);
	struct mvf_core_vf *vf;
	u64 next;
	u32 len;
	int ret;

	if (!mvf_core_track_caps(core, NULL))
		return -EOPNOTSUPP;
	if (!length || iova + (length - 1) < iova ||
	    mvf_img_buf_dir(buf) != DMA_FROM_DEVICE)
		return -EINVAL;
	len = rounddown(min_t(size_t, mvf_img_buf_size(buf), U32_MAX),
			run_size);
	if (!len)
		return -EINVAL;

	cmd.buf = buf;
	cmd.data_len = len;
	ret = mvf_core_exec(core, vhca_id, &cmd);
	if (ret)
		return ret;

	next = mvf_cmd_out_u64(&cmd, 2);
	if (cmd.out[0] > len / run_size ||
	    ((cmd.out[1] & MVF_REPORT_OUT_MORE) &&
	     (!cmd.out[0] || next <= iova || next - iova >= length))) {
		dev_err_ratelimited(mvf_dev(core),
				    "REPORT_DIRTY vhca %u: bad answer: %u runs for %u bytes, flags %#x, next %#llx in window %#llx+%#llx\n",
				    vhca_id, cmd.out[0], len, cmd.out[1], next,
				    iova, length);
		return -EIO;
	}
	out->runs = cmd.out[0];
	out->flags = cmd.out[1];
	out->next_iova = cmd.out[1] & MVF_REPORT_OUT_MORE ? next : 0;

	vf = mvf_track_vf(core, vhca_id);
	spin_lock(&vf->track_lock);
	vf->track.reports++;
	if (out->flags & MVF_REPORT_OUT_OVERFLOW)
		vf->track.overflows++;
	spin_unlock(&vf->track_lock);
	return 0;
}
EXPORT_SYMBOL_GPL(mvf_core_track_report);
