/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Interface of the MVF PF core driver (mvf_core) to the drivers of its VFs.
 *
 * A VF driver gets a reference on the core device of its PF with
 * mvf_core_get() while it is bound, and through it runs device commands on
 * behalf of its VF (addressed by vhca id: VF n is vhca n + 1), moves the VF
 * through suspend/save/load/resume, allocates the DMA image buffers that
 * SAVE and LOAD use, and drives the VF's dirty page tracker
 * (MVF_CAP_DIRTY_TRACK).  The core refuses to disable SR-IOV while a VF is
 * open (see mvf_core_vf_open()) and tells VF drivers beforehand when it is
 * about to disable SR-IOV anyway, through a blocking notifier chain.
 */
#ifndef _LINUX_MVF_CORE_H
#define _LINUX_MVF_CORE_H

#include <linux/completion.h>
#include <linux/dma-direction.h>
#include <linux/list.h>
#include <linux/notifier.h>
#include <linux/types.h>

struct module;
struct pci_dev;
struct mvf_core_dev;
struct mvf_img_buf;

/**
 * enum mvf_core_event - events of the core's notifier chain
 * @MVF_CORE_EVENT_SRIOV_DISABLE: SR-IOV is about to be disabled (by the
 *	administrator, or because the PF driver is going away); every VF
 *	driver must end its migration activity.  @data is NULL.  Called in
 *	process context with the PF's device lock held.
 * @MVF_CORE_EVENT_PF_ERROR: the PF reported an uncorrectable error or is
 *	about to be reset: the command interface stopped, every pending
 *	command failed with -EIO and new ones fail with -EIO until
 *	MVF_CORE_EVENT_PF_RECOVERED.  Migration sessions in the device are
 *	lost.  @data is NULL.  Called in process context with the PF's device
 *	lock held (AER recovery or a reset of the PF).
 * @MVF_CORE_EVENT_PF_RECOVERED: the command interface works again.  @data
 *	points to a bool that is true when the VFs were reset with the PF
 *	(a function or bus reset of the PF) and nobody else told their
 *	drivers: their state is gone and their config space must be restored.
 *	Same context as MVF_CORE_EVENT_PF_ERROR.
 * @MVF_CORE_EVENT_LINK_CHANGE: the device changed its link speed or width.
 *	@data points to a const struct mvf_core_link.  Called from the event
 *	queue thread: handlers must not sleep for long nor run commands.
 */
enum mvf_core_event {
	MVF_CORE_EVENT_SRIOV_DISABLE = 1,
	MVF_CORE_EVENT_PF_ERROR,
	MVF_CORE_EVENT_PF_RECOVERED,
	MVF_CORE_EVENT_LINK_CHANGE,
};

/**
 * struct mvf_core_link - the PF's link, as MVF_CORE_EVENT_LINK_CHANGE has it
 * @speed: current link speed, PCI_EXP_LNKSTA_CLS encoding (1: 2.5 GT/s,
 *	2: 5 GT/s, 3: 8 GT/s, 4: 16 GT/s, 5: 32 GT/s)
 * @width: negotiated link width in lanes
 */
struct mvf_core_link {
	u8 speed;
	u8 width;
};

/**
 * struct mvf_cmd - a device command and its result
 * @opcode: MVF_CMD_* opcode
 * @in: inline input words, CPU byte order
 * @buf: image buffer the command transfers (SAVE/LOAD), or NULL.  The core
 *	holds its own reference on it for as long as the device owns the
 *	command, so the caller may drop its reference at any time.
 * @data_len: bytes of @buf to transfer (LOAD: image length, SAVE: space)
 * @status: MVF_CMD_STAT_* written by the device (0xff when it never ran)
 * @syndrome: MVF_SYND_* written by the device
 * @out: inline output words, CPU byte order
 * @err: 0 or the negative errno of the command (status mapped to an errno,
 *	-ETIMEDOUT, -ENODEV when the PF went away)
 * @done: asynchronous commands only: called once when the command finished,
 *	failed or timed out, from process context (the event queue thread,
 *	the watchdog or PF teardown).  It must not sleep for long and must
 *	not issue synchronous commands.
 * @priv: free for the owner of the command
 *
 * The structure belongs to the core from submission until the command
 * returned (synchronous) or @done was called (asynchronous).
 */
struct mvf_cmd {
	u16 opcode;
	u32 in[4];
	struct mvf_img_buf *buf;
	u32 data_len;

	u8 status;
	u32 syndrome;
	u32 out[4];
	int err;

	void (*done)(struct mvf_cmd *cmd);
	void *priv;

	/* private: */
	struct completion comp;
	struct module *owner;
	unsigned long deadline;
	struct list_head node;
};

/* Status value of a command that the device never completed. */
#define MVF_CMD_STAT_NONE	0xff

/**
 * mvf_cmd_out_u64() - read a 64-bit value from two output words
 * @cmd: an executed command
 * @i: index of the low word
 *
 * Return: out[@i] | out[@i + 1] << 32.
 */
static inline u64 mvf_cmd_out_u64(const struct mvf_cmd *cmd, unsigned int i)
{
	return (u64)cmd->out[i + 1] << 32 | cmd->out[i];
}

/* Core device */
struct mvf_core_dev *mvf_core_get(struct pci_dev *vf_pdev);
void mvf_core_put(struct mvf_core_dev *core);
int mvf_core_vf_vhca_id(struct pci_dev *vf_pdev);
u32 mvf_core_caps(const struct mvf_core_dev *core);
u64 mvf_core_devmem_size(const struct mvf_core_dev *core);

int mvf_core_register_notifier(struct mvf_core_dev *core,
			       struct notifier_block *nb);
void mvf_core_unregister_notifier(struct mvf_core_dev *core,
				  struct notifier_block *nb);
int mvf_core_vf_open(struct mvf_core_dev *core, u16 vhca_id);
bool mvf_core_reported_error(struct pci_dev *pdev);
void mvf_core_vf_close(struct mvf_core_dev *core, u16 vhca_id);

/* Commands */
int mvf_core_exec(struct mvf_core_dev *core, u16 vhca_id,
		  struct mvf_cmd *cmd);
int __mvf_core_exec_async(struct mvf_core_dev *core, u16 vhca_id,
			  struct mvf_cmd *cmd, struct module *owner);
#define mvf_core_exec_async(core, vhca_id, cmd) \
	__mvf_core_exec_async(core, vhca_id, cmd, THIS_MODULE)
const char *mvf_core_status_name(u8 status);
const char *mvf_core_syndrome_name(u32 syndrome);

/* Migration */
int mvf_core_query_mig_state(struct mvf_core_dev *core, u16 vhca_id,
			     u32 flags, u64 *size, u32 *state);
int mvf_core_query_vhca(struct mvf_core_dev *core, u16 vhca_id, u32 *state,
			u32 *frozen_accesses);
int mvf_core_suspend(struct mvf_core_dev *core, u16 vhca_id, u32 mode);
int mvf_core_resume(struct mvf_core_dev *core, u16 vhca_id, u32 mode);
int __mvf_core_save_async(struct mvf_core_dev *core, u16 vhca_id,
			  struct mvf_img_buf *buf, u32 flags,
			  struct mvf_cmd *cmd, struct module *owner);
#define mvf_core_save_async(core, vhca_id, buf, flags, cmd) \
	__mvf_core_save_async(core, vhca_id, buf, flags, cmd, THIS_MODULE)
int mvf_core_save_close(struct mvf_core_dev *core, u16 vhca_id);
int __mvf_core_load_async(struct mvf_core_dev *core, u16 vhca_id,
			  struct mvf_img_buf *buf, size_t len, u32 flags,
			  struct mvf_cmd *cmd, struct module *owner);
#define mvf_core_load_async(core, vhca_id, buf, len, flags, cmd) \
	__mvf_core_load_async(core, vhca_id, buf, len, flags, cmd, \
			      THIS_MODULE)

/**
 * struct mvf_track_caps - what the device's dirty page tracker offers
 * @page_sizes: tracker page sizes, bit n set: 2^n bytes
 * @max_ranges: the most IOVA ranges one tracker takes
 * @addr_log2: log2 of the largest sum of range lengths (at most 63)
 * @max_capacity: the most dirty pages one tracker stores before it
 *	overflows
 */
struct mvf_track_caps {
	u32 page_sizes;
	u32 max_ranges;
	u8 addr_log2;
	u32 max_capacity;
};

/**
 * struct mvf_core_track_range - an IOVA range a page tracker watches
 * @iova: first byte
 * @length: bytes
 */
struct mvf_core_track_range {
	u64 iova;
	u64 length;
};

/**
 * struct mvf_track_report - what one REPORT_DIRTY returned
 * @runs: struct mvf_track_run entries written at the start of the buffer
 * @flags: MVF_REPORT_OUT_* flags
 * @next_iova: with MVF_REPORT_OUT_MORE, the IOVA to report from next
 *	(checked to lie inside the window, above its start)
 */
struct mvf_track_report {
	u32 runs;
	u32 flags;
	u64 next_iova;
};

/* Dirty page tracking */
bool mvf_core_track_caps(const struct mvf_core_dev *core,
			 struct mvf_track_caps *caps);
int mvf_core_track_create(struct mvf_core_dev *core, u16 vhca_id,
			  unsigned int page_shift,
			  const struct mvf_core_track_range *ranges,
			  unsigned int nranges, u32 capacity, u32 *granted);
int mvf_core_track_destroy(struct mvf_core_dev *core, u16 vhca_id);
int mvf_core_track_report(struct mvf_core_dev *core, u16 vhca_id, u64 iova,
			  u64 length, struct mvf_img_buf *buf,
			  struct mvf_track_report *out);

/* Image buffers */
struct mvf_img_buf *mvf_img_buf_alloc(struct mvf_core_dev *core, size_t size,
				      enum dma_data_direction dir);
struct mvf_img_buf *mvf_img_buf_get(struct mvf_img_buf *buf);
void mvf_img_buf_put(struct mvf_img_buf *buf);
size_t mvf_img_buf_size(const struct mvf_img_buf *buf);
u64 mvf_img_bytes(u64 *peak, bool reset_peak);
int mvf_img_buf_copy_to_user(struct mvf_img_buf *buf, size_t off,
			     char __user *ubuf, size_t len);
int mvf_img_buf_copy_from_user(struct mvf_img_buf *buf, size_t off,
			       const char __user *ubuf, size_t len);
int mvf_img_buf_read(struct mvf_img_buf *buf, size_t off, void *dst,
		     size_t len);
int mvf_img_buf_write(struct mvf_img_buf *buf, size_t off, const void *src,
		      size_t len);

#endif /* _LINUX_MVF_CORE_H */
