/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MVF PF core driver: private definitions shared by its source files.
 */
#ifndef _MVF_CORE_PRIV_H
#define _MVF_CORE_PRIV_H

#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/pci.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <linux/mvf/mvf_if.h>
#include <linux/mvf/core.h>

#ifdef MVF_NO_KZALLOC_OBJ
/* Kernels before the typed allocation helpers of <linux/slab.h>. */
#define kzalloc_obj(P, GFP)	kzalloc(sizeof(P), GFP)
#endif

/*
 * The device completes commands out of order, but slots are reused in
 * ring order: enough of them that a few long SAVEs or LOADs in flight per
 * VF rarely hold up the ring.
 */
#define MVF_CMDQ_LOG_SIZE	6	/* 64 command slots */
#define MVF_EQ_LOG_SIZE		7	/* at least one event per slot */

enum mvf_slot_state {
	MVF_SLOT_FREE,		/* the driver may post into it */
	MVF_SLOT_BUSY,		/* owned by the device, a caller waits */
	MVF_SLOT_ORPHAN,	/* owned by the device, caller gave up */
};

/*
 * A command slot mirrors one command queue entry.  A slot leaves the device
 * only through the completion event carrying its token, or when the whole
 * command interface is torn down; until then it keeps a reference on the
 * image buffer the device may still be accessing.
 */
struct mvf_cmd_slot {
	enum mvf_slot_state state;
	u16 token;
	u16 opcode;
	u64 posted_ns;			/* ktime of the doorbell */
	u16 vhca_id;
	bool async;
	struct mvf_cmd *cmd;		/* NULL once orphaned */
	struct mvf_img_buf *buf;	/* reference held while not FREE */
};

struct mvf_cmdq {
	struct mvf_cmd_entry *ring;
	dma_addr_t ring_dma;
	unsigned int log_size;
	struct mvf_cmd_slot *slots;
	/*
	 * Protects pi, token, dead, halted, async_pending and every slot, and orders
	 * the doorbell writes.  Taken from process context only (callers, the
	 * event queue thread, the watchdog); nothing sleeps while holding it.
	 */
	spinlock_t lock;
	u16 pi;				/* free running producer index */
	u16 token;
	bool dead;			/* no more posting: PF teardown */
	bool halted;			/* no posting: PF error or reset */
	unsigned int async_pending;	/* async commands that can time out */
	wait_queue_head_t slot_wq;	/* woken when a slot becomes free */
	struct delayed_work watchdog;	/* times out async commands */
};

/*
 * What the device spent on the commands of one opcode: from the doorbell
 * to the completion event, summed (debugfs "cmd_stats").  Updated by the
 * event queue thread only; read racily.
 */
struct mvf_cmd_stat {
	u64 count;
	u64 bytes;			/* SAVE: written, LOAD: offered */
	u64 busy_ns;
};

/*
 * Slots of the stats array: the opcodes up to LOAD_VHCA_STATE by their own
 * number, then the tracker opcodes (QUERY_TRACK_CAPS..REPORT_DIRTY).
 */
#define MVF_CMD_STAT_TRACK	(MVF_CMD_LOAD_VHCA_STATE + 1)
#define MVF_CMD_STAT_TRACK_SLOT(op) \
	(MVF_CMD_STAT_TRACK + (op) - MVF_CMD_QUERY_TRACK_CAPS)
#define MVF_CMD_STAT_SLOTS	(MVF_CMD_STAT_TRACK_SLOT(MVF_CMD_REPORT_DIRTY) + 1)

/* The stats slot of @opcode, or -1 for an opcode without one. */
static inline int mvf_cmd_stat_slot(u16 opcode)
{
	if (opcode <= MVF_CMD_LOAD_VHCA_STATE)
		return opcode;
	if (opcode >= MVF_CMD_QUERY_TRACK_CAPS &&
	    opcode <= MVF_CMD_REPORT_DIRTY)
		return MVF_CMD_STAT_TRACK_SLOT(opcode);
	return -1;
}

struct mvf_eq {
	struct mvf_eqe *ring;
	dma_addr_t ring_dma;
	unsigned int log_size;
	u32 ci;		/* free running; only the event queue thread uses it */
};

struct dentry;

/*
 * A VF's page tracker as the core saw it through the mvf_core_track_*()
 * helpers (debugfs "track").  @active: CREATE_TRACKER succeeded and neither
 * DESTROY_TRACKER nor the end of the VF (SR-IOV disabled, a reset of the
 * PF) followed; @reports and @overflows count the REPORT_DIRTY commands
 * that succeeded, and those of them that returned OVERFLOW, since the last
 * CREATE_TRACKER.
 */
struct mvf_core_track {
	bool active;
	u8 page_shift;
	u32 nranges;
	u32 capacity;
	u64 reports;
	u64 overflows;
};

/* What the core keeps per VF; core->vfs[vhca_id - 1]. */
struct mvf_core_vf {
	struct mvf_core_dev *core;
	u16 vhca_id;
	/* MVF_EVENT_FROZEN_ACCESS events since SR-IOV was enabled */
	atomic_t frozen_events;
	/*
	 * Protects track.  Only held to read or update it, never across a
	 * command; process context.
	 */
	spinlock_t track_lock;
	struct mvf_core_track track;
	/*
	 * debugfs directory while SR-IOV is enabled, or NULL.  Created and
	 * removed under the PF's device lock (sriov_configure, remove).
	 */
	struct dentry *dbg_dir;
};

struct mvf_core_dev {
	struct pci_dev *pdev;
	struct kref ref;
	void __iomem *bar0;
	int irq;

	u32 caps;
	u32 total_vfs;
	u64 devmem_size;

	struct mvf_cmdq cmdq;
	struct mvf_eq eq;
	struct mvf_cmd_stat stats[MVF_CMD_STAT_SLOTS];
	/* QUERY_TRACK_CAPS, read at probe; all 0 without a tracker */
	struct mvf_track_caps track_caps;

	/*
	 * Protects num_vfs, vf_open and sriov_disabling: a VF cannot be
	 * opened while SR-IOV is being disabled, and SR-IOV cannot be disabled
	 * (by the administrator) while a VF is open.  Never held across the
	 * notifier chain or pci_{en,dis}able_sriov().
	 */
	struct mutex sriov_lock;
	unsigned int num_vfs;
	unsigned long *vf_open;		/* bit n: vhca n + 1 is open */
	bool sriov_disabling;

	struct mvf_core_vf *vfs;	/* total_vfs entries, from probe on */
	struct dentry *dbg_dir;		/* the PF's debugfs directory */

	struct blocking_notifier_head nh;	/* MVF_CORE_EVENT_* */
	/*
	 * The command interface is stopped for an error or a reset of the
	 * PF (main.c).  Written under the PF's device lock only: the PCI
	 * core holds it across every error and reset callback.
	 */
	bool recovering;
};

static inline struct device *mvf_dev(const struct mvf_core_dev *core)
{
	return &core->pdev->dev;
}

/* cmd.c */
int mvf_cmd_init(struct mvf_core_dev *core);
void mvf_cmd_shutdown(struct mvf_core_dev *core);
void mvf_cmd_cleanup(struct mvf_core_dev *core);
void mvf_cmd_halt(struct mvf_core_dev *core);
int mvf_cmd_restart(struct mvf_core_dev *core);
void mvf_cmd_resume(struct mvf_core_dev *core);
int mvf_cmd_exec_pf(struct mvf_core_dev *core, struct mvf_cmd *cmd);

/* img.c */
void mvf_img_buf_sync_for_device(struct mvf_img_buf *buf);
void mvf_img_buf_sync_for_cpu(struct mvf_img_buf *buf);
dma_addr_t mvf_img_buf_sgl(const struct mvf_img_buf *buf, u32 *sgl_len);
enum dma_data_direction mvf_img_buf_dir(const struct mvf_img_buf *buf);

/* track.c */
void mvf_track_query_caps(struct mvf_core_dev *core);
void mvf_track_vf_init(struct mvf_core_vf *vf);
void mvf_track_vf_reset(struct mvf_core_vf *vf);
void mvf_track_vfs_gone(struct mvf_core_dev *core);
void mvf_track_info(struct mvf_core_vf *vf, struct mvf_core_track *info);

/* main.c */
bool mvf_core_vhca_valid(struct mvf_core_dev *core, u16 vhca_id);
struct pci_dev *mvf_core_vf_pdev(struct mvf_core_dev *core, u16 vhca_id);

/* debugfs.c */
#ifdef CONFIG_DEBUG_FS
void mvf_debugfs_init(void);
void mvf_debugfs_exit(void);
void mvf_debugfs_add_vfs(struct mvf_core_dev *core, int num_vfs);
void mvf_debugfs_remove_vfs(struct mvf_core_dev *core);
void mvf_debugfs_add_pf(struct mvf_core_dev *core);
void mvf_debugfs_remove_pf(struct mvf_core_dev *core);
#else
static inline void mvf_debugfs_init(void) {}
static inline void mvf_debugfs_exit(void) {}
static inline void mvf_debugfs_add_vfs(struct mvf_core_dev *core,
				       int num_vfs) {}
static inline void mvf_debugfs_remove_vfs(struct mvf_core_dev *core) {}
static inline void mvf_debugfs_add_pf(struct mvf_core_dev *core) {}
static inline void mvf_debugfs_remove_pf(struct mvf_core_dev *core) {}
#endif

#endif /* _MVF_CORE_PRIV_H */
