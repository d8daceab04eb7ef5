/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MVF VF vfio-pci variant driver: private definitions.
 */
#ifndef _MVF_VFIO_H
#define _MVF_VFIO_H

#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/vfio_pci_core.h>
#include <linux/wait.h>

#include <linux/mvf/core.h>
#include <linux/mvf/mvf_if.h>

#define MVF_VFIO_DRV_NAME	"mvf-vfio-pci"

/*
 * DMA logging needs a kernel whose iova_bitmap is real: without
 * CONFIG_IOMMUFD_DRIVER its helpers are stubs that drop every mark.  The
 * probes say so for an out-of-tree build; in a kernel tree Kconfig selects
 * it.  This only covers a build that skipped both.
 */
#if !IS_ENABLED(CONFIG_IOMMUFD_DRIVER) && !defined(MVF_NO_DMA_LOGGING)
#define MVF_NO_DMA_LOGGING 1
#endif

#ifdef MVF_NO_KZALLOC_OBJ
/* Kernels before the typed allocation helpers of <linux/slab.h>. */
#define kzalloc_obj(P, GFP)	kzalloc(sizeof(P), GFP)
#endif

enum mvf_migf_state {
	MVF_MIGF_OPEN,		/* streaming */
	MVF_MIGF_ERROR,		/* failed; the stream is broken */
	MVF_MIGF_ENDED,		/* the device left the data state */
};

/*
 * A data file moves the stream in chunks, through a ring of
 * MVF_MIGF_CHUNKS buffers of MVF_CHUNK_SIZE bytes each, whatever the size
 * of the VF's state: one record of the largest size a device writes fits
 * a chunk.
 */
#define MVF_MIGF_CHUNKS		4
#define MVF_CHUNK_SIZE		PAGE_ALIGN(MVF_REC_MAX_SIZE)

enum mvf_chunk_state {
	MVF_CHUNK_FREE,
	MVF_CHUNK_FILLING,	/* resume: records being written into it */
	MVF_CHUNK_BUSY,		/* the device owns it (SAVE or LOAD) */
	MVF_CHUNK_READY,	/* save: records to be read */
};

struct mvf_migf;

struct mvf_chunk {
	struct mvf_migf *migf;
	struct mvf_img_buf *buf;	/* NULL once the file ended */
	enum mvf_chunk_state state;
	size_t len;		/* bytes of records in it */
	size_t pos;		/* save: bytes read */
	struct mvf_cmd cmd;	/* its SAVE or LOAD while BUSY */
};

/*
 * A migration data file (the fd VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE hands
 * out).  It is reference counted: the struct file holds one reference and
 * every command in flight another, so user release and completions can
 * come in any order.  It never points back at the VF device: once it is
 * ended it only answers -ENODEV, and it can outlive the device.
 */
struct mvf_migf {
	struct kref ref;
	struct file *filp;
	struct device *dev;		/* the VF, for logging; reference held */
	struct mvf_core_dev *mdev;	/* reference held */
	u16 vhca_id;
	bool save;
	/*
	 * Serializes read()/write()/ioctl() against each other and against
	 * the arcs that use the file (which take it inside state_mutex), and
	 * protects everything below that state_lock does not.  User copies,
	 * and so page faults and mmap_lock, happen under it, hence nothing
	 * that can run inside a PCI reset (with vfio's memory_lock held)
	 * takes it: ending a file does not.
	 */
	struct mutex io_lock;
	/*
	 * Protects state, err, head, every chunk's state, len and buf, and
	 * end_seen/loaded_end.  Taken by the command completions, which run
	 * in the core's event thread, and by ending the file; nests inside
	 * io_lock.  I/O takes a reference on a chunk's buffer under it, so
	 * ending the file can drop the file's references at any time.
	 */
	spinlock_t state_lock;
	enum mvf_migf_state state;
	int err;			/* why it is in ERROR */
	struct mvf_chunk chunks[MVF_MIGF_CHUNKS];
	/*
	 * The ring: chunks [head, tail) (modulo MVF_MIGF_CHUNKS) went to the
	 * device in that order; the device completes them in that order.
	 * Save: the reader consumes at head.  Resume: a completed LOAD
	 * advances head; the chunk being filled is the one at tail.
	 */
	unsigned int head;
	unsigned int tail;		/* io_lock */
	wait_queue_head_t wq;		/* chunk or state changes */
	bool started;			/* the first command (START) went */
	bool end_seen;			/* save: END read from the device */
	u64 stream_bytes;		/* read or written so far */

	/* save, under io_lock */
	bool precopy;			/* the device is in PRE_COPY(_P2P) */
	bool clean;			/* a pre-copy SAVE found no change */
	u64 initial_bytes;		/* the whole stream at the start */

	/* resume, under io_lock */
	u8 hdr[MVF_REC_HDR_SIZE];	/* the record header being written */
	unsigned int hdr_len;
	bool in_rec;			/* hdr is complete, payload follows */
	u16 rec_tag;
	u64 rec_len;			/* payload bytes */
	u64 rec_left;			/* payload and padding still to come */
	bool ident_ok;			/* IDENT arrived and fits this VF */
	bool rec_end;			/* the END record arrived */
	bool loaded_end;		/* the device took END (state_lock) */
};

/* The most ranges a tracker gets from this driver (the device may take more). */
#define MVF_DIRTY_MAX_RANGES	8

/*
 * DMA logging (dirty.c): the VF's page tracker while the user logs.  All
 * of it under the device's state_mutex.
 */
struct mvf_dirty {
	bool active;		/* between a successful START and STOP */
	bool lost;		/* the device's log is gone: REPORT -EIO */
	u8 page_shift;		/* tracker page size */
	u32 nranges;
	u64 range[MVF_DIRTY_MAX_RANGES][2];	/* first, last byte; sorted */
	struct mvf_img_buf *runs;		/* REPORT_DIRTY's buffer */
};

struct mvf_vfio_dev {
	struct vfio_pci_core_device core_device;
	struct mvf_core_dev *mdev;	/* NULL: PF not driven by mvf_core */
	u16 vhca_id;
	bool migrate_cap;
	struct notifier_block nb;
	/*
	 * Protects mig_state, save_file, resume_file, pf_gone and dirty; held
	 * across device commands of an arc or of DMA logging.  Always
	 * released with mvf_state_mutex_unlock(), which runs a deferred
	 * reset.  Never taken (only tried) from reset_done: see lm.c.  DMA
	 * logging's REPORT marks the user's bitmap under it, which may fault
	 * the bitmap in: state_mutex -> mmap_lock (as the data files' user
	 * copies under io_lock).
	 */
	struct mutex state_mutex;
	enum vfio_device_mig_state mig_state;
	struct mvf_migf *save_file;
	struct mvf_migf *resume_file;
	bool pf_gone;			/* SR-IOV disabled under us */
	/*
	 * User and peer access to the BARs is revoked (bars.c).  Written
	 * under state_mutex; the fallback without the core's revoke also
	 * writes it under memory_lock, which its fault handler reads it
	 * under.  Lock order: state_mutex -> (fallback: rw_gate ->)
	 * memory_lock; never memory_lock -> state_mutex but by trylock.
	 */
	bool bars_revoked;
#ifdef MVF_NO_CORE_REVOKE
	/* Read across a BAR read()/write(), written by the revoke. */
	struct rw_semaphore rw_gate;
#endif
	/* Protects deferred_reset; see mvf_state_mutex_unlock(). */
	spinlock_t reset_lock;
	bool deferred_reset;
	/*
	 * Why no migration command may go to the device now (MVF_BLOCK_*):
	 * arcs fail with -EIO and change nothing.  state_mutex.
	 */
	unsigned int blocked;
	bool is_open;			/* a user has the device; state_mutex */
	struct mvf_dirty dirty;		/* state_mutex */
	/*
	 * Protects the user's eventfds of the device-specific interrupt
	 * indexes (events.c); signalled from any process context.
	 */
	spinlock_t trig_lock;
	struct eventfd_ctx *nonfatal_trigger;
	struct eventfd_ctx *link_trigger;
};

#define MVF_BLOCK_AER		BIT(0)	/* AER recovery of the VF under way */
#define MVF_BLOCK_PF		BIT(1)	/* the PF's command interface is down */

static inline struct mvf_vfio_dev *
mvf_vfio_from_vdev(struct vfio_device *vdev)
{
	return container_of(vdev, struct mvf_vfio_dev, core_device.vdev);
}

static inline struct device *mvf_vfio_dev(struct mvf_vfio_dev *mvdev)
{
	return &mvdev->core_device.pdev->dev;
}

/* vfio_dev.c */
const struct vfio_device_ops *mvf_vfio_ops(void);

/* events.c */
void mvf_events_init(struct mvf_vfio_dev *mvdev);
void mvf_events_release(struct mvf_vfio_dev *mvdev);
bool mvf_events_signal(struct mvf_vfio_dev *mvdev, unsigned int index);
bool mvf_events_report_error(struct mvf_vfio_dev *mvdev, bool fatal);
long mvf_events_ioctl(struct vfio_device *vdev, unsigned int cmd,
		      unsigned long arg);

/* migf.c */
struct file *mvf_save_open(struct mvf_vfio_dev *mvdev, bool precopy,
			   struct mvf_migf **migfp);
struct file *mvf_resume_open(struct mvf_vfio_dev *mvdev,
			     struct mvf_migf **migfp);
void mvf_save_set_precopy(struct mvf_migf *migf, bool precopy);
int mvf_save_pending(struct mvf_migf *migf, u64 *bytes);
int mvf_resume_finish(struct mvf_migf *migf);
void mvf_migf_end(struct mvf_migf *migf);
void mvf_migf_abort(struct mvf_migf *migf, int err);

/* lm.c */
void mvf_lm_init(struct mvf_vfio_dev *mvdev);
void mvf_lm_uninit(struct mvf_vfio_dev *mvdev);
void mvf_lm_open(struct mvf_vfio_dev *mvdev);
void mvf_lm_close(struct mvf_vfio_dev *mvdev);
void mvf_lm_reset_done(struct mvf_vfio_dev *mvdev);
void mvf_lm_pf_gone(struct mvf_vfio_dev *mvdev);
void mvf_lm_error_detected(struct mvf_vfio_dev *mvdev, bool fatal);
void mvf_lm_mark_failed(struct mvf_vfio_dev *mvdev);
void mvf_lm_slot_reset(struct mvf_vfio_dev *mvdev);
void mvf_lm_error_resume(struct mvf_vfio_dev *mvdev);
void mvf_lm_pf_error(struct mvf_vfio_dev *mvdev);
void mvf_lm_pf_recovered(struct mvf_vfio_dev *mvdev, bool vf_reset);
void mvf_state_mutex_unlock(struct mvf_vfio_dev *mvdev);
extern const struct vfio_migration_ops mvf_lm_ops;

/* dirty.c */
const struct vfio_log_ops *mvf_dirty_ops(struct mvf_vfio_dev *mvdev);
void mvf_dirty_close(struct mvf_vfio_dev *mvdev);
void mvf_dirty_lost(struct mvf_vfio_dev *mvdev);

/* bars.c */
void mvf_bars_init(struct mvf_vfio_dev *mvdev);
void mvf_bars_open(struct mvf_vfio_dev *mvdev);
void mvf_bars_revoke(struct mvf_vfio_dev *mvdev);
void mvf_bars_restore(struct mvf_vfio_dev *mvdev);
void mvf_bars_reset(struct mvf_vfio_dev *mvdev);
#ifdef MVF_NO_CORE_REVOKE
ssize_t mvf_bars_read(struct vfio_device *vdev, char __user *buf,
		      size_t count, loff_t *ppos);
ssize_t mvf_bars_write(struct vfio_device *vdev, const char __user *buf,
		       size_t count, loff_t *ppos);
int mvf_bars_mmap(struct vfio_device *vdev, struct vm_area_struct *vma);
#endif

/* cmds.c */
int mvf_cmds_attach(struct mvf_vfio_dev *mvdev);
void mvf_cmds_detach(struct mvf_vfio_dev *mvdev);
int mvf_cmds_query_size(struct mvf_vfio_dev *mvdev, u64 *size);
int mvf_cmds_query_state(struct mvf_vfio_dev *mvdev, u32 *state);
int mvf_cmds_suspend(struct mvf_vfio_dev *mvdev, u32 mode);
int mvf_cmds_resume(struct mvf_vfio_dev *mvdev, u32 mode);

#endif /* _MVF_VFIO_H */
