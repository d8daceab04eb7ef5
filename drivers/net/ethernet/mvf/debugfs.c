// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF PF core driver: debugfs.
 *
 * While SR-IOV is enabled, every VF has a directory named by its PCI
 * address, /sys/kernel/debug/mvf_core/<VF BDF>/, with three read-only
 * files:
 *
 *   vhca_state       the VF's MVF_VHCA_STATE_* flags, "0x%x\n"
 *   frozen_accesses  accesses the device trapped while the VF was frozen,
 *                    "%u\n"
 *   track            the VF's dirty page tracker as the core saw it through
 *                    its helpers (no command): "active page_shift ranges
 *                    capacity reports overflows", "%u %u %u %u %llu %llu\n".
 *                    active is 1 from a successful CREATE_TRACKER until
 *                    DESTROY_TRACKER, SR-IOV disable or a reset of the PF;
 *                    page_shift, ranges and capacity (granted, in pages) are
 *                    the last CREATE's and stay after it ended; reports
 *                    counts the successful REPORT_DIRTY commands since that
 *                    CREATE, overflows those of them that returned OVERFLOW.
 *                    All 0 before the first CREATE since SR-IOV was enabled.
 *
 * Reads of vhca_state and frozen_accesses run QUERY_VHCA_MIGRATION_STATE,
 * so they show what the device says at that moment.
 *
 * /sys/kernel/debug/mvf_core/img_bytes shows the kernel memory all image
 * buffers (the migration chunks of every VF) hold now and at most since
 * the last reset, "%llu %llu\n"; writing anything to it starts a new
 * peak.
 *
 * /sys/kernel/debug/mvf_core/<PF BDF>/cmd_stats shows, per opcode that
 * ran, how many commands completed, the bytes SAVE wrote, LOAD or
 * CREATE_TRACKER took or REPORT_DIRTY wrote (its runs), and the summed time
 * from doorbell to completion event in ns:
 * "OPCODE count bytes busy_ns" a line; writing anything clears them.
 *
 * debugfs waits for running reads before it removes a file, so a read
 * never outlives the directory (nor SR-IOV).
 */

#include <linux/debugfs.h>
#include <linux/pci.h>
#include <linux/seq_file.h>

#include "mvf_core.h"

static struct dentry *mvf_dbg_root;

static int mvf_dbg_vhca_state_show(struct seq_file *s, void *unused)
{
	struct mvf_core_vf *vf = s->private;
	u32 state;
	int ret;

	ret = mvf_core_query_vhca(vf->core, vf->vhca_id, &state, NULL);
	if (ret)
		return ret;
	seq_printf(s, "0x%x\n", state);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mvf_dbg_vhca_state);

static int mvf_dbg_frozen_accesses_show(struct seq_file *s, void *unused)
{
	struct mvf_core_vf *vf = s->private;
	u32 count;
	int ret;

	ret = mvf_core_query_vhca(vf->core, vf->vhca_id, NULL, &count);
	if (ret)
		return ret;
	seq_printf(s, "%u\n", count);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mvf_dbg_frozen_accesses);

static int mvf_dbg_track_show(struct seq_file *s, void *unused)
{
	struct mvf_core_track t;

	mvf_track_info(s->private, &t);
	seq_printf(s, "%u %u %u %u %llu %llu\n", t.active, t.page_shift,
		   t.nranges, t.capacity, t.reports, t.overflows);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mvf_dbg_track);

static int mvf_dbg_img_bytes_show(struct seq_file *s, void *unused)
{
	u64 peak, now = mvf_img_bytes(&peak, false);

	seq_printf(s, "%llu %llu\n", now, peak);
	return 0;
}

static int mvf_dbg_img_bytes_open(struct inode *inode, struct file *file)
{
	return single_open(file, mvf_dbg_img_bytes_show, inode->i_private);
}

static ssize_t mvf_dbg_img_bytes_write(struct file *file,
				       const char __user *ubuf, size_t len,
				       loff_t *ppos)
{
	mvf_img_bytes(NULL, true);
	return len;
}

static const struct file_operations mvf_dbg_img_bytes_fops = {
	.owner = THIS_MODULE,
	.open = mvf_dbg_img_bytes_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
	.write = mvf_dbg_img_bytes_write,
};

/* By stats slot (mvf_cmd_stat_slot()). */
static const char * const mvf_dbg_opcodes[MVF_CMD_STAT_SLOTS] = {
	[MVF_CMD_NOP] = "NOP",
	[MVF_CMD_QUERY_CAPS] = "QUERY_CAPS",
	[MVF_CMD_QUERY_VHCA_MIGRATION_STATE] = "QUERY_VHCA_MIGRATION_STATE",
	[MVF_CMD_SUSPEND_VHCA] = "SUSPEND_VHCA",
	[MVF_CMD_RESUME_VHCA] = "RESUME_VHCA",
	[MVF_CMD_SAVE_VHCA_STATE] = "SAVE_VHCA_STATE",
	[MVF_CMD_LOAD_VHCA_STATE] = "LOAD_VHCA_STATE",
	[MVF_CMD_STAT_TRACK_SLOT(MVF_CMD_QUERY_TRACK_CAPS)] = "QUERY_TRACK_CAPS",
	[MVF_CMD_STAT_TRACK_SLOT(MVF_CMD_CREATE_TRACKER)] = "CREATE_TRACKER",
	[MVF_CMD_STAT_TRACK_SLOT(MVF_CMD_DESTROY_TRACKER)] = "DESTROY_TRACKER",
	[MVF_CMD_STAT_TRACK_SLOT(MVF_CMD_REPORT_DIRTY)] = "REPORT_DIRTY",
};

static int mvf_dbg_cmd_stats_show(struct seq_file *s, void *unused)
{
	struct mvf_core_dev *core = s->private;
	unsigned int i;

	for (i = 0; i < MVF_CMD_STAT_SLOTS; i++) {
		const struct mvf_cmd_stat *st = &core->stats[i];

		if (mvf_dbg_opcodes[i] && READ_ONCE(st->count))
			seq_printf(s, "%s %llu %llu %llu\n", mvf_dbg_opcodes[i],
				   READ_ONCE(st->count), READ_ONCE(st->bytes),
				   READ_ONCE(st->busy_ns));
	}
	return 0;
}

static int mvf_dbg_cmd_stats_open(struct inode *inode, struct file *file)
{
	return single_open(file, mvf_dbg_cmd_stats_show, inode->i_private);
}

static ssize_t mvf_dbg_cmd_stats_write(struct file *file,
				       const char __user *ubuf, size_t len,
				       loff_t *ppos)
{
	struct mvf_core_dev *core = file_inode(file)->i_private;

	memset(core->stats, 0, sizeof(core->stats));
	return len;
}

static const struct file_operations mvf_dbg_cmd_stats_fops = {
	.owner = THIS_MODULE,
	.open = mvf_dbg_cmd_stats_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
	.write = mvf_dbg_cmd_stats_write,
};

/**
 * mvf_debugfs_add_pf() - create the PF's directory
 * @core: core device
 *
 * Called from probe; removed by mvf_debugfs_remove_pf().
 */
void mvf_debugfs_add_pf(struct mvf_core_dev *core)
{
	core->dbg_dir = debugfs_create_dir(pci_name(core->pdev), mvf_dbg_root);
	debugfs_create_file("cmd_stats", 0644, core->dbg_dir, core,
			    &mvf_dbg_cmd_stats_fops);
}

/**
 * mvf_debugfs_remove_pf() - remove the PF's directory
 * @core: core device
 */
void mvf_debugfs_remove_pf(struct mvf_core_dev *core)
{
	debugfs_remove_recursive(core->dbg_dir);
	core->dbg_dir = NULL;
}

/**
 * mvf_debugfs_add_vfs() - create the directories of newly enabled VFs
 * @core: core device
 * @num_vfs: VFs just enabled (vhca 1..@num_vfs)
 *
 * Called with the PF's device lock held.  Failures are not fatal: the
 * driver works without its debugfs files.
 */
void mvf_debugfs_add_vfs(struct mvf_core_dev *core, int num_vfs)
{
	struct mvf_core_vf *vf;
	struct pci_dev *vf_pdev;
	int i;

	for (i = 0; i < num_vfs; i++) {
		vf = &core->vfs[i];
		vf_pdev = mvf_core_vf_pdev(core, vf->vhca_id);
		if (!vf_pdev)
			continue;
		debugfs_remove_recursive(vf->dbg_dir);	/* never left, but */
		vf->dbg_dir = debugfs_create_dir(pci_name(vf_pdev),
						 mvf_dbg_root);
		pci_dev_put(vf_pdev);
		debugfs_create_file("vhca_state", 0444, vf->dbg_dir, vf,
				    &mvf_dbg_vhca_state_fops);
		debugfs_create_file("frozen_accesses", 0444, vf->dbg_dir, vf,
				    &mvf_dbg_frozen_accesses_fops);
		debugfs_create_file("track", 0444, vf->dbg_dir, vf,
				    &mvf_dbg_track_fops);
	}
}

/**
 * mvf_debugfs_remove_vfs() - remove the directories of all VFs
 * @core: core device
 *
 * Called with the PF's device lock held, before SR-IOV is disabled.  Waits
 * for reads in progress, which end when their command does.
 */
void mvf_debugfs_remove_vfs(struct mvf_core_dev *core)
{
	unsigned int i;

	for (i = 0; i < core->total_vfs; i++) {
		debugfs_remove_recursive(core->vfs[i].dbg_dir);
		core->vfs[i].dbg_dir = NULL;
	}
}

/**
 * mvf_debugfs_init() - create /sys/kernel/debug/mvf_core
 */
void mvf_debugfs_init(void)
{
	mvf_dbg_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("img_bytes", 0644, mvf_dbg_root, NULL,
			    &mvf_dbg_img_bytes_fops);
}

/**
 * mvf_debugfs_exit() - remove /sys/kernel/debug/mvf_core
 */
void mvf_debugfs_exit(void)
{
	debugfs_remove_recursive(mvf_dbg_root);
	mvf_dbg_root = NULL;
}
