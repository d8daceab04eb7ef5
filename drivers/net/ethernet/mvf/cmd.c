// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF PF core driver: the command interface.
 *
 * Commands go into a ring of MVF_CMDQ_LOG_SIZE slots in host memory; the
 * device executes them in order and reports each one with an event on the
 * event queue, which the threaded handler of MSI-X vector MVF_PF_EQ_VECTOR
 * consumes.  A slot belongs to the device from the doorbell until the
 * completion event that carries the slot's token: a caller that stops
 * waiting (timeout) only detaches itself, the slot stays busy, and the
 * event arriving later frees the slot and is otherwise dropped.
 */

#include <linux/dma-mapping.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/iopoll.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "mvf_core.h"

static unsigned int cmd_timeout_ms = 20000;
module_param(cmd_timeout_ms, uint, 0644);
MODULE_PARM_DESC(cmd_timeout_ms,
		 "Time a device command may take, in ms (default 20000)");

#define MVF_READY_TIMEOUT_US	(2 * USEC_PER_SEC)

static unsigned long mvf_cmd_timeout(void)
{
	return msecs_to_jiffies(max(READ_ONCE(cmd_timeout_ms), 10U));
}

/* ------------------------------------------------------------------ */
/* Names and errno mapping                                             */
/* ------------------------------------------------------------------ */

static const char * const mvf_status_names[] = {
	[MVF_CMD_STAT_OK]		= "OK",
	[MVF_CMD_STAT_BAD_OPCODE]	= "BAD_OPCODE",
	[MVF_CMD_STAT_BAD_PARAM]	= "BAD_PARAM",
	[MVF_CMD_STAT_BAD_STATE]	= "BAD_STATE",
	[MVF_CMD_STAT_BAD_RESOURCE]	= "BAD_RESOURCE",
	[MVF_CMD_STAT_NO_SPACE]		= "NO_SPACE",
	[MVF_CMD_STAT_BAD_IMAGE]	= "BAD_IMAGE",
	[MVF_CMD_STAT_DMA_ERROR]	= "DMA_ERROR",
};

/**
 * mvf_core_status_name() - name of a command status
 * @status: MVF_CMD_STAT_* value
 *
 * Return: a static string, "UNKNOWN" for values this driver does not know.
 */
const char *mvf_core_status_name(u8 status)
{
	if (status == MVF_CMD_STAT_NONE)
		return "NONE";
	if (status < ARRAY_SIZE(mvf_status_names) && mvf_status_names[status])
		return mvf_status_names[status];
	return "UNKNOWN";
}
EXPORT_SYMBOL_GPL(mvf_core_status_name);

struct mvf_synd_name {
	u32 synd;
	const char *name;
};

#define MVF_SYND_NAME(s)	{ MVF_SYND_##s, #s }

static const struct mvf_synd_name mvf_synd_names[] = {
	MVF_SYND_NAME(NONE),
	MVF_SYND_NAME(BAD_OPCODE),
	MVF_SYND_NAME(BAD_VHCA),
	MVF_SYND_NAME(VF_DISABLED),
	MVF_SYND_NAME(BAD_MODE),
	MVF_SYND_NAME(BAD_SGL),
	MVF_SYND_NAME(BAD_LEN),
	MVF_SYND_NAME(RSVD_NOT_ZERO),
	MVF_SYND_NAME(NOT_QUIESCED),
	MVF_SYND_NAME(NOT_FROZEN),
	MVF_SYND_NAME(STILL_FROZEN),
	MVF_SYND_NAME(NO_SESSION),
	MVF_SYND_NAME(RUNNING),
	MVF_SYND_NAME(ABORTED),
	MVF_SYND_NAME(SAVE_NO_SPACE),
	MVF_SYND_NAME(DMA_READ),
	MVF_SYND_NAME(DMA_WRITE),
	MVF_SYND_NAME(IMG_MAGIC),
	MVF_SYND_NAME(IMG_VERSION),
	MVF_SYND_NAME(IMG_DEVICE),
	MVF_SYND_NAME(IMG_CAPS),
	MVF_SYND_NAME(IMG_GEOMETRY),
	MVF_SYND_NAME(IMG_LENGTH),
	MVF_SYND_NAME(IMG_CRC),
	MVF_SYND_NAME(IMG_RECORD),
	MVF_SYND_NAME(IMG_VALUE),
	MVF_SYND_NAME(IMG_UNKNOWN),
	MVF_SYND_NAME(IMG_ORDER),
	MVF_SYND_NAME(NO_TRACKER),
	MVF_SYND_NAME(TRACK_PAGE_SIZE),
	MVF_SYND_NAME(TRACK_NRANGES),
	MVF_SYND_NAME(TRACK_RANGE),
	MVF_SYND_NAME(TRACK_ADDR_SPACE),
	MVF_SYND_NAME(TRACK_WINDOW),
};

/**
 * mvf_core_syndrome_name() - name of a command syndrome
 * @syndrome: MVF_SYND_* value
 *
 * Return: a static string such as "IMG_CRC", "UNKNOWN" for values this
 * driver does not know.
 */
const char *mvf_core_syndrome_name(u32 syndrome)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(mvf_synd_names); i++)
		if (mvf_synd_names[i].synd == syndrome)
			return mvf_synd_names[i].name;
	return "UNKNOWN";
}
EXPORT_SYMBOL_GPL(mvf_core_syndrome_name);

static const char *mvf_opcode_name(u16 opcode)
{
	switch (opcode) {
	case MVF_CMD_NOP:
		return "NOP";
	case MVF_CMD_QUERY_CAPS:
		return "QUERY_CAPS";
	case MVF_CMD_QUERY_VHCA_MIGRATION_STATE:
		return "QUERY_VHCA_MIGRATION_STATE";
	case MVF_CMD_SUSPEND_VHCA:
		return "SUSPEND_VHCA";
	case MVF_CMD_RESUME_VHCA:
		return "RESUME_VHCA";
	case MVF_CMD_SAVE_VHCA_STATE:
		return "SAVE_VHCA_STATE";
	case MVF_CMD_LOAD_VHCA_STATE:
		return "LOAD_VHCA_STATE";
	case MVF_CMD_QUERY_TRACK_CAPS:
		return "QUERY_TRACK_CAPS";
	case MVF_CMD_CREATE_TRACKER:
		return "CREATE_TRACKER";
	case MVF_CMD_DESTROY_TRACKER:
		return "DESTROY_TRACKER";
	case MVF_CMD_REPORT_DIRTY:
		return "REPORT_DIRTY";
	default:
		return "UNKNOWN";
	}
}

static int mvf_status_to_errno(u8 status)
{
	switch (status) {
	case MVF_CMD_STAT_OK:
		return 0;
	case MVF_CMD_STAT_BAD_OPCODE:
		return -EOPNOTSUPP;
	case MVF_CMD_STAT_BAD_PARAM:
	case MVF_CMD_STAT_BAD_IMAGE:
		return -EINVAL;
	case MVF_CMD_STAT_BAD_RESOURCE:
		return -ENODEV;
	case MVF_CMD_STAT_NO_SPACE:
		return -ENOSPC;
	case MVF_CMD_STAT_BAD_STATE:
	case MVF_CMD_STAT_DMA_ERROR:
	default:
		return -EIO;
	}
}

static void mvf_cmd_log(struct mvf_core_dev *core, u16 vhca_id,
			const struct mvf_cmd *cmd)
{
	if (!cmd->err) {
		dev_dbg(mvf_dev(core), "cmd %s vhca %u: OK\n",
			mvf_opcode_name(cmd->opcode), vhca_id);
		return;
	}
	if (cmd->status == MVF_CMD_STAT_NONE) {
		dev_err_ratelimited(mvf_dev(core), "cmd %s vhca %u: %pe\n",
				    mvf_opcode_name(cmd->opcode), vhca_id,
				    ERR_PTR(cmd->err));
		return;
	}
	dev_err_ratelimited(mvf_dev(core),
			    "cmd %s vhca %u failed: status %s (%#x) syndrome %s (%#010x), %pe\n",
			    mvf_opcode_name(cmd->opcode), vhca_id,
			    mvf_core_status_name(cmd->status), cmd->status,
			    mvf_core_syndrome_name(cmd->syndrome),
			    cmd->syndrome, ERR_PTR(cmd->err));
}

/* ------------------------------------------------------------------ */
/* Posting and completing                                              */
/* ------------------------------------------------------------------ */

static unsigned int mvf_cmdq_size(const struct mvf_cmdq *q)
{
	return 1U << q->log_size;
}

static bool mvf_cmdq_can_post(struct mvf_cmdq *q)
{
	unsigned int idx = READ_ONCE(q->pi) & (mvf_cmdq_size(q) - 1);

	return READ_ONCE(q->dead) || READ_ONCE(q->halted) ||
	       READ_ONCE(q->slots[idx].state) == MVF_SLOT_FREE;
}

static int mvf_cmd_post(struct mvf_core_dev *core, u16 vhca_id,
			struct mvf_cmd *cmd, bool async)
{
	struct mvf_cmdq *q = &core->cmdq;
	unsigned long timeout = mvf_cmd_timeout();
	struct mvf_cmd_entry *e;
	struct mvf_cmd_slot *slot;
	dma_addr_t sgl = 0;
	u32 sgl_len = 0;
	unsigned int idx;
	long left;
	int i;

	if (cmd->buf) {
		if (!cmd->data_len || cmd->data_len > mvf_img_buf_size(cmd->buf))
			return -EINVAL;
		sgl = mvf_img_buf_sgl(cmd->buf, &sgl_len);
		mvf_img_buf_sync_for_device(cmd->buf);
	}

	cmd->status = MVF_CMD_STAT_NONE;
	cmd->syndrome = 0;
	memset(cmd->out, 0, sizeof(cmd->out));
	cmd->err = 0;
	init_completion(&cmd->comp);
	INIT_LIST_HEAD(&cmd->node);
	cmd->deadline = jiffies + timeout;

	spin_lock(&q->lock);
	for (;;) {
		if (q->dead) {
			spin_unlock(&q->lock);
			return -ENODEV;
		}
		if (q->halted) {
			spin_unlock(&q->lock);
			return -EIO;
		}
		idx = q->pi & (mvf_cmdq_size(q) - 1);
		if (q->slots[idx].state == MVF_SLOT_FREE)
			break;
		spin_unlock(&q->lock);
		/* In-order device: the slot frees when its command is done. */
		left = wait_event_killable_timeout(q->slot_wq,
						   mvf_cmdq_can_post(q),
						   timeout);
		if (left < 0)
			return -EINTR;
		timeout = left;
		if (!timeout) {
			dev_err_ratelimited(mvf_dev(core),
					    "command queue full: slot %u still owned by the device\n",
					    idx);
			return -EBUSY;
		}
		spin_lock(&q->lock);
	}

	slot = &q->slots[idx];
	slot->state = MVF_SLOT_BUSY;
	slot->token = ++q->token;
	slot->opcode = cmd->opcode;
	slot->vhca_id = vhca_id;
	slot->posted_ns = ktime_get_ns();
	slot->async = async;
	slot->cmd = cmd;
	slot->buf = cmd->buf ? mvf_img_buf_get(cmd->buf) : NULL;
	if (async)
		q->async_pending++;

	e = &q->ring[idx];
	memset(e, 0, sizeof(*e));
	e->opcode = cpu_to_le16(cmd->opcode);
	e->vhca_id = cpu_to_le16(vhca_id);
	e->token = cpu_to_le16(slot->token);
	e->flags = MVF_CMD_F_EVENT;
	for (i = 0; i < ARRAY_SIZE(e->in); i++)
		e->in[i] = cpu_to_le32(cmd->in[i]);
	if (cmd->buf) {
		e->sgl_addr = cpu_to_le64(sgl);
		e->sgl_len = cpu_to_le32(sgl_len);
		e->data_len = cpu_to_le32(cmd->data_len);
	}
	/* The entry must be complete before the device can see it as its. */
	dma_wmb();
	WRITE_ONCE(e->own, MVF_CMD_OWN_HW);
	q->pi++;
	/* writel() orders the entry before the doorbell. */
	writel(q->pi, core->bar0 + MVF_PF_REG_CMDQ_PI);
	spin_unlock(&q->lock);

	if (async)
		schedule_delayed_work(&q->watchdog, HZ);
	return 0;
}

/*
 * Hand a finished command back to its owner.  @slot is a copy of the slot
 * taken (and the real slot freed) under the queue lock, so nothing here
 * races with posting.  Runs without locks held.
 */
static void mvf_cmd_finish(struct mvf_core_dev *core,
			   const struct mvf_cmd_slot *slot, u8 status,
			   u32 syndrome, const u32 *out, int err)
{
	int stat_slot = mvf_cmd_stat_slot(slot->opcode);
	struct mvf_cmd *cmd = slot->cmd;
	struct module *owner;

	if (!cmd) {
		if (err == -ENODEV)
			goto out_put;
		dev_warn_ratelimited(mvf_dev(core),
				     "dropped late completion of abandoned cmd %s vhca %u (status %s)\n",
				     mvf_opcode_name(slot->opcode),
				     slot->vhca_id,
				     mvf_core_status_name(status));
		goto out_put;
	}

	if (slot->buf && !err && status == MVF_CMD_STAT_OK &&
	    mvf_img_buf_dir(slot->buf) == DMA_FROM_DEVICE)
		mvf_img_buf_sync_for_cpu(slot->buf);

	if (!err && stat_slot >= 0) {
		struct mvf_cmd_stat *st = &core->stats[stat_slot];

		st->count++;
		st->busy_ns += ktime_get_ns() - slot->posted_ns;
		if (slot->opcode == MVF_CMD_SAVE_VHCA_STATE && out)
			st->bytes += (u64)out[1] << 32 | out[0];
		else if (slot->opcode == MVF_CMD_REPORT_DIRTY && out &&
			 status == MVF_CMD_STAT_OK)
			st->bytes += (u64)out[0] * sizeof(struct mvf_track_run);
		else if (slot->opcode == MVF_CMD_LOAD_VHCA_STATE ||
			 slot->opcode == MVF_CMD_CREATE_TRACKER)
			st->bytes += cmd->data_len;
	}

	cmd->status = status;
	cmd->syndrome = syndrome;
	if (out)
		memcpy(cmd->out, out, sizeof(cmd->out));
	cmd->err = err ?: mvf_status_to_errno(status);
	if (!cmd->err && cmd->opcode == MVF_CMD_SAVE_VHCA_STATE &&
	    mvf_cmd_out_u64(cmd, 0) > cmd->data_len) {
		dev_err_ratelimited(mvf_dev(core),
				    "SAVE vhca %u reports %llu bytes for a %u byte buffer\n",
				    slot->vhca_id, mvf_cmd_out_u64(cmd, 0),
				    cmd->data_len);
		cmd->err = -EIO;
	}

	if (slot->async) {
		mvf_cmd_log(core, slot->vhca_id, cmd);
		owner = cmd->owner;
		cmd->done(cmd);
		module_put(owner);
	} else {
		complete(&cmd->comp);
	}

out_put:
	if (slot->buf)
		mvf_img_buf_put(slot->buf);
}

static void mvf_cmd_complete(struct mvf_core_dev *core, u16 idx, u16 token)
{
	struct mvf_cmdq *q = &core->cmdq;
	struct mvf_cmd_slot done;
	struct mvf_cmd_entry *e;
	struct mvf_cmd_slot *slot;
	u32 out[4];
	u32 syndrome;
	int err = 0;
	u8 status;
	int i;

	/* A slot number; reduced anyway, as early models sent the PI. */
	idx &= mvf_cmdq_size(q) - 1;

	spin_lock(&q->lock);
	slot = &q->slots[idx];
	if (slot->state == MVF_SLOT_FREE || slot->token != token) {
		spin_unlock(&q->lock);
		dev_warn_ratelimited(mvf_dev(core),
				     "spurious completion: slot %u token %#x\n",
				     idx, token);
		return;
	}
	e = &q->ring[idx];
	if (READ_ONCE(e->own) & MVF_CMD_OWN_HW) {
		/* Device bug: completed an entry it still claims. */
		status = MVF_CMD_STAT_NONE;
		syndrome = 0;
		memset(out, 0, sizeof(out));
		err = -EIO;
	} else {
		status = e->status;
		syndrome = le32_to_cpu(e->syndrome);
		for (i = 0; i < ARRAY_SIZE(out); i++)
			out[i] = le32_to_cpu(e->out[i]);
	}
	done = *slot;
	if (done.async && done.state == MVF_SLOT_BUSY)
		q->async_pending--;
	slot->state = MVF_SLOT_FREE;
	slot->cmd = NULL;
	slot->buf = NULL;
	spin_unlock(&q->lock);
	wake_up(&q->slot_wq);

	if (err)
		dev_err_ratelimited(mvf_dev(core),
				    "slot %u completed while still owned by the device\n",
				    idx);
	mvf_cmd_finish(core, &done, status, syndrome, out, err);
}

/* Detach a timed-out synchronous caller from its slot. */
static bool mvf_cmd_orphan(struct mvf_cmdq *q, struct mvf_cmd *cmd)
{
	unsigned int i;
	bool found = false;

	spin_lock(&q->lock);
	for (i = 0; i < mvf_cmdq_size(q); i++) {
		struct mvf_cmd_slot *slot = &q->slots[i];

		if (slot->state == MVF_SLOT_BUSY && slot->cmd == cmd) {
			slot->state = MVF_SLOT_ORPHAN;
			slot->cmd = NULL;
			found = true;
			break;
		}
	}
	spin_unlock(&q->lock);
	return found;
}

static int mvf_cmd_exec_sync(struct mvf_core_dev *core, u16 vhca_id,
			     struct mvf_cmd *cmd)
{
	long left;
	int ret;

	cmd->done = NULL;
	cmd->owner = NULL;
	ret = mvf_cmd_post(core, vhca_id, cmd, false);
	if (ret) {
		cmd->err = ret;
		return ret;
	}

	/* A killed caller stops waiting; the command runs on regardless. */
	left = wait_for_completion_killable_timeout(&cmd->comp,
						    mvf_cmd_timeout());
	if (left <= 0) {
		if (mvf_cmd_orphan(&core->cmdq, cmd)) {
			cmd->err = left ? -EINTR : -ETIMEDOUT;
			if (!left)
				dev_err_ratelimited(mvf_dev(core),
						    "cmd %s vhca %u timed out; its slot stays with the device\n",
						    mvf_opcode_name(cmd->opcode),
						    vhca_id);
			return cmd->err;
		}
		/* The completion is being delivered right now. */
		wait_for_completion(&cmd->comp);
	}
	mvf_cmd_log(core, vhca_id, cmd);
	return cmd->err;
}

/* Time out asynchronous commands the device sits on for too long. */
static void mvf_cmd_watchdog(struct work_struct *work)
{
	struct mvf_core_dev *core = container_of(to_delayed_work(work),
						 struct mvf_core_dev,
						 cmdq.watchdog);
	struct mvf_cmdq *q = &core->cmdq;
	struct mvf_cmd *cmd, *tmp;
	LIST_HEAD(expired);
	struct module *owner;
	unsigned int i;
	bool rearm;

	spin_lock(&q->lock);
	for (i = 0; i < mvf_cmdq_size(q); i++) {
		struct mvf_cmd_slot *slot = &q->slots[i];

		if (slot->state != MVF_SLOT_BUSY || !slot->async ||
		    time_before(jiffies, slot->cmd->deadline))
			continue;
		list_add_tail(&slot->cmd->node, &expired);
		slot->state = MVF_SLOT_ORPHAN;
		slot->cmd = NULL;
		q->async_pending--;
	}
	rearm = q->async_pending && !q->dead;
	spin_unlock(&q->lock);

	list_for_each_entry_safe(cmd, tmp, &expired, node) {
		list_del_init(&cmd->node);
		cmd->err = -ETIMEDOUT;
		dev_err_ratelimited(mvf_dev(core),
				    "async cmd %s timed out; its slot stays with the device\n",
				    mvf_opcode_name(cmd->opcode));
		owner = cmd->owner;
		cmd->done(cmd);
		module_put(owner);
	}

	if (rearm)
		schedule_delayed_work(&q->watchdog, HZ);
}

/**
 * mvf_core_exec() - run a command for a VF and wait for it
 * @core: core device
 * @vhca_id: target VF (1..TotalVFs)
 * @cmd: command; on return @cmd->status, @cmd->syndrome and @cmd->out hold
 *	the device's answer
 *
 * Sleeps until the device completes the command, the command timeout
 * expires or the caller is killed.  A command given up on keeps its queue
 * slot (and its buffer) until the device completes it.
 *
 * Return: 0, the errno the device status maps to, -ETIMEDOUT, -EINTR
 * (killed), -EBUSY (queue stuck), -ENODEV (PF going away) or -EINVAL (bad
 * arguments).
 */
int mvf_core_exec(struct mvf_core_dev *core, u16 vhca_id, struct mvf_cmd *cmd)
{
	if (!mvf_core_vhca_valid(core, vhca_id))
		return -EINVAL;
	return mvf_cmd_exec_sync(core, vhca_id, cmd);
}
EXPORT_SYMBOL_GPL(mvf_core_exec);

/**
 * __mvf_core_exec_async() - start a command for a VF
 * @core: core device
 * @vhca_id: target VF (1..TotalVFs)
 * @cmd: command with @cmd->done set; it must stay valid until @done ran
 * @owner: module of @cmd->done (use the mvf_core_exec_async() wrapper)
 *
 * Queues the command and returns.  @cmd->done is then called exactly once:
 * when the device completes the command, when the command timeout expires
 * (@cmd->err = -ETIMEDOUT; a late completion is dropped) or when the PF
 * goes away (-ENODEV).  @owner is pinned until @done returned.
 *
 * Return: 0 if queued (@done will run), or a negative errno (@done will not
 * run).
 */
int __mvf_core_exec_async(struct mvf_core_dev *core, u16 vhca_id,
			  struct mvf_cmd *cmd, struct module *owner)
{
	int ret;

	if (!mvf_core_vhca_valid(core, vhca_id) || !cmd->done)
		return -EINVAL;
	if (!try_module_get(owner))
		return -ENODEV;
	cmd->owner = owner;
	ret = mvf_cmd_post(core, vhca_id, cmd, true);
	if (ret) {
		cmd->err = ret;
		module_put(owner);
	}
	return ret;
}
EXPORT_SYMBOL_GPL(__mvf_core_exec_async);

int mvf_cmd_exec_pf(struct mvf_core_dev *core, struct mvf_cmd *cmd)
{
	return mvf_cmd_exec_sync(core, 0, cmd);
}

/* ------------------------------------------------------------------ */
/* Event queue                                                         */
/* ------------------------------------------------------------------ */

/*
 * A VF was accessed while frozen; the device trapped the access and tells
 * the first one of each freeze period.  Runs in the event queue thread.
 */
static void mvf_eq_frozen_access(struct mvf_core_dev *core, u16 vhca_id,
				 u64 count)
{
	struct pci_dev *vf;
	u32 events;

	if (!mvf_core_vhca_valid(core, vhca_id)) {
		dev_warn_ratelimited(mvf_dev(core),
				     "frozen access event for unknown vhca %u\n",
				     vhca_id);
		return;
	}
	events = atomic_inc_return(&core->vfs[vhca_id - 1].frozen_events);
	vf = mvf_core_vf_pdev(core, vhca_id);
	dev_warn_ratelimited(mvf_dev(core),
			     "VF %s (vhca %u) accessed while frozen: the device trapped %llu access(es), event %u for this VF\n",
			     vf ? pci_name(vf) : "(gone)", vhca_id, count,
			     events);
	pci_dev_put(vf);
}

/*
 * The device changed its link.  VF drivers pass it on to their users (an
 * eventfd they opt into); nothing is logged.  Runs in the event queue
 * thread.
 */
static void mvf_eq_link_change(struct mvf_core_dev *core, u64 data)
{
	struct mvf_core_link link = {
		.speed = MVF_LINK_EVENT_SPEED(data),
		.width = MVF_LINK_EVENT_WIDTH(data),
	};

	dev_dbg(mvf_dev(core), "link changed: speed code %u, x%u\n",
		link.speed, link.width);
	blocking_notifier_call_chain(&core->nh, MVF_CORE_EVENT_LINK_CHANGE,
				     &link);
}

static irqreturn_t mvf_eq_thread(int irq, void *data)
{
	struct mvf_core_dev *core = data;
	struct mvf_eq *eq = &core->eq;
	u32 mask = (1U << eq->log_size) - 1;
	unsigned int n = 0;

	for (;;) {
		struct mvf_eqe *eqe = &eq->ring[eq->ci & mask];
		u8 phase = !((eq->ci >> eq->log_size) & 1);

		if (READ_ONCE(eqe->phase) != phase)
			break;
		/* Read the entry only after seeing it valid. */
		dma_rmb();

		switch (eqe->type) {
		case MVF_EVENT_CMD_DONE:
			mvf_cmd_complete(core, le16_to_cpu(eqe->index),
					 le16_to_cpu(eqe->token));
			break;
		case MVF_EVENT_FROZEN_ACCESS:
			mvf_eq_frozen_access(core, le16_to_cpu(eqe->vhca_id),
					     le64_to_cpu(eqe->data));
			break;
		case MVF_EVENT_LINK_CHANGE:
			mvf_eq_link_change(core, le64_to_cpu(eqe->data));
			break;
		default:
			dev_dbg_ratelimited(mvf_dev(core),
					    "ignoring event type %#x\n",
					    eqe->type);
			break;
		}
		eq->ci++;
		/* Return entries now and then on long bursts. */
		if (!(++n % ((mask + 1) / 2)))
			writel(eq->ci, core->bar0 + MVF_PF_REG_EQ_CI);
	}
	if (n)
		writel(eq->ci, core->bar0 + MVF_PF_REG_EQ_CI);

	return IRQ_HANDLED;
}

/* ------------------------------------------------------------------ */
/* Setup and teardown                                                  */
/* ------------------------------------------------------------------ */

static void mvf_cmd_hw_reset(struct mvf_core_dev *core)
{
	u32 status;

	writel(MVF_PF_CTRL_RESET, core->bar0 + MVF_PF_REG_CTRL);
	if (readl_poll_timeout(core->bar0 + MVF_PF_REG_STATUS, status,
			       !(status & MVF_PF_STATUS_READY), 1000,
			       MVF_READY_TIMEOUT_US))
		dev_warn(mvf_dev(core),
			 "command interface still ready after reset (status %#x)\n",
			 status);
}

/*
 * Program the queues into a command interface that was just reset and
 * enable it.  The rings start empty: producer and consumer indexes 0.
 */
static int mvf_cmd_hw_start(struct mvf_core_dev *core)
{
	struct mvf_cmdq *q = &core->cmdq;
	struct mvf_eq *eq = &core->eq;
	u32 status;
	int ret;

	writel(lower_32_bits(q->ring_dma), core->bar0 + MVF_PF_REG_CMDQ_BASE_LO);
	writel(upper_32_bits(q->ring_dma), core->bar0 + MVF_PF_REG_CMDQ_BASE_HI);
	writel(q->log_size, core->bar0 + MVF_PF_REG_CMDQ_LOG_SIZE);
	writel(lower_32_bits(eq->ring_dma), core->bar0 + MVF_PF_REG_EQ_BASE_LO);
	writel(upper_32_bits(eq->ring_dma), core->bar0 + MVF_PF_REG_EQ_BASE_HI);
	writel(eq->log_size, core->bar0 + MVF_PF_REG_EQ_LOG_SIZE);
	writel(0, core->bar0 + MVF_PF_REG_EQ_CI);
	writel(MVF_PF_CTRL_ENABLE, core->bar0 + MVF_PF_REG_CTRL);

	ret = readl_poll_timeout(core->bar0 + MVF_PF_REG_STATUS, status,
				 status & (MVF_PF_STATUS_READY |
					   MVF_PF_STATUS_FATAL),
				 1000, MVF_READY_TIMEOUT_US);
	if (ret || (status & MVF_PF_STATUS_FATAL)) {
		dev_err(mvf_dev(core),
			"command interface did not come up (status %#x)\n",
			status);
		return -EIO;
	}
	return 0;
}

static void mvf_cmd_free_rings(struct mvf_core_dev *core)
{
	struct device *dev = mvf_dev(core);

	if (core->eq.ring)
		dma_free_coherent(dev, sizeof(struct mvf_eqe) << core->eq.log_size,
				  core->eq.ring, core->eq.ring_dma);
	core->eq.ring = NULL;
	if (core->cmdq.ring)
		dma_free_coherent(dev,
				  sizeof(struct mvf_cmd_entry) << core->cmdq.log_size,
				  core->cmdq.ring, core->cmdq.ring_dma);
	core->cmdq.ring = NULL;
	kfree(core->cmdq.slots);
	core->cmdq.slots = NULL;
}

/**
 * mvf_cmd_init() - bring up the command interface
 * @core: core device with BAR 0 mapped and bus mastering on
 *
 * Allocates the command and event queues, wires the event queue interrupt,
 * programs the queue registers and waits for the device to report ready.
 *
 * Return: 0 or a negative errno; on failure nothing is left allocated.
 */
int mvf_cmd_init(struct mvf_core_dev *core)
{
	struct mvf_cmdq *q = &core->cmdq;
	struct mvf_eq *eq = &core->eq;
	struct device *dev = mvf_dev(core);
	struct pci_dev *pdev = core->pdev;
	int ret;

	BUILD_BUG_ON(sizeof(struct mvf_cmd_entry) != MVF_CMD_ENTRY_SIZE);
	BUILD_BUG_ON(sizeof(struct mvf_eqe) != MVF_EQE_SIZE);
	BUILD_BUG_ON(!in_range(MVF_CMDQ_LOG_SIZE, MVF_CMDQ_LOG_SIZE_MIN,
			       MVF_CMDQ_LOG_SIZE_MAX - MVF_CMDQ_LOG_SIZE_MIN + 1));
	BUILD_BUG_ON(!in_range(MVF_EQ_LOG_SIZE, MVF_EQ_LOG_SIZE_MIN,
			       MVF_EQ_LOG_SIZE_MAX - MVF_EQ_LOG_SIZE_MIN + 1));
	/*
	 * One event per command, so commands alone never fill the event
	 * queue.  FROZEN_ACCESS events (at most one per VF and freeze) may;
	 * the device then waits for room, which this thread makes.
	 */
	BUILD_BUG_ON(MVF_EQ_LOG_SIZE < MVF_CMDQ_LOG_SIZE);

	spin_lock_init(&q->lock);
	init_waitqueue_head(&q->slot_wq);
	INIT_DELAYED_WORK(&q->watchdog, mvf_cmd_watchdog);
	q->log_size = MVF_CMDQ_LOG_SIZE;
	q->pi = 0;
	q->dead = false;
	q->halted = false;
	eq->log_size = MVF_EQ_LOG_SIZE;
	eq->ci = 0;

	q->slots = kcalloc(mvf_cmdq_size(q), sizeof(*q->slots), GFP_KERNEL);
	q->ring = dma_alloc_coherent(dev, sizeof(*q->ring) << q->log_size,
				     &q->ring_dma, GFP_KERNEL);
	eq->ring = dma_alloc_coherent(dev, sizeof(*eq->ring) << eq->log_size,
				      &eq->ring_dma, GFP_KERNEL);
	if (!q->slots || !q->ring || !eq->ring) {
		ret = -ENOMEM;
		goto err_free;
	}

	/* Start from a clean command interface, whatever was there before. */
	mvf_cmd_hw_reset(core);

	ret = pci_alloc_irq_vectors(pdev, MVF_PF_EQ_VECTOR + 1,
				    MVF_PF_EQ_VECTOR + 1, PCI_IRQ_MSIX);
	if (ret < 0) {
		dev_err(dev, "cannot enable MSI-X: %pe\n", ERR_PTR(ret));
		goto err_free;
	}
	core->irq = pci_irq_vector(pdev, MVF_PF_EQ_VECTOR);
	ret = request_threaded_irq(core->irq, NULL, mvf_eq_thread, IRQF_ONESHOT,
				   "mvf_core-eq", core);
	if (ret) {
		dev_err(dev, "cannot request the EQ interrupt: %pe\n",
			ERR_PTR(ret));
		goto err_vectors;
	}

	ret = mvf_cmd_hw_start(core);
	if (ret)
		goto err_irq;
	return 0;

err_irq:
	mvf_cmd_hw_reset(core);
	free_irq(core->irq, core);
err_vectors:
	pci_free_irq_vectors(pdev);
err_free:
	mvf_cmd_free_rings(core);
	return ret;
}

/**
 * mvf_cmd_shutdown() - stop the command interface and fail what is pending
 * @core: core device
 *
 * New commands fail with -ENODEV from here on.  The device is reset so it
 * owns no slot any more; then every command still pending completes with
 * -ENODEV and the buffers the device held are released.
 */
void mvf_cmd_shutdown(struct mvf_core_dev *core)
{
	struct mvf_cmdq *q = &core->cmdq;
	struct mvf_cmd_slot done;
	unsigned int i;

	spin_lock(&q->lock);
	q->dead = true;
	spin_unlock(&q->lock);
	wake_up_all(&q->slot_wq);

	mvf_cmd_hw_reset(core);
	writel(0, core->bar0 + MVF_PF_REG_CTRL);
	free_irq(core->irq, core);
	pci_free_irq_vectors(core->pdev);
	cancel_delayed_work_sync(&q->watchdog);

	for (i = 0; i < mvf_cmdq_size(q); i++) {
		spin_lock(&q->lock);
		done = q->slots[i];
		q->slots[i].state = MVF_SLOT_FREE;
		q->slots[i].cmd = NULL;
		q->slots[i].buf = NULL;
		spin_unlock(&q->lock);
		if (done.state != MVF_SLOT_FREE)
			mvf_cmd_finish(core, &done, MVF_CMD_STAT_NONE, 0, NULL,
				       -ENODEV);
	}
}

/**
 * mvf_cmd_halt() - stop using the command interface: error or reset ahead
 * @core: core device
 *
 * New commands fail with -EIO from here on, and every command pending
 * completes with -EIO now, without waiting for the device (whose link may
 * be down).  The device may still own their slots: the slots, and the
 * image buffers they hold, stay with it until mvf_cmd_restart() reset it.
 * Does not touch the device.  Process context.
 */
void mvf_cmd_halt(struct mvf_core_dev *core)
{
	struct mvf_cmdq *q = &core->cmdq;
	struct mvf_cmd_slot done;
	unsigned int i;

	spin_lock(&q->lock);
	q->halted = true;
	spin_unlock(&q->lock);
	wake_up_all(&q->slot_wq);

	for (i = 0; i < mvf_cmdq_size(q); i++) {
		struct mvf_cmd_slot *slot = &q->slots[i];

		spin_lock(&q->lock);
		if (slot->state != MVF_SLOT_BUSY) {
			spin_unlock(&q->lock);
			continue;
		}
		done = *slot;
		done.buf = NULL;	/* the orphaned slot keeps it */
		if (slot->async)
			q->async_pending--;
		slot->state = MVF_SLOT_ORPHAN;
		slot->cmd = NULL;
		spin_unlock(&q->lock);
		mvf_cmd_finish(core, &done, MVF_CMD_STAT_NONE, 0, NULL, -EIO);
	}
}

/**
 * mvf_cmd_restart() - reset and re-enable a halted command interface
 * @core: core device, halted with mvf_cmd_halt(); its config space and
 *	MSI-X are usable again (restored after a reset, or never lost)
 *
 * Resets the command interface, which makes the device forget every slot,
 * releases what the abandoned slots held and starts the queues over.
 * Commands still fail until mvf_cmd_resume().
 *
 * Return: 0, or -EIO if the interface does not come up.
 */
int mvf_cmd_restart(struct mvf_core_dev *core)
{
	struct mvf_cmdq *q = &core->cmdq;
	struct mvf_eq *eq = &core->eq;
	struct mvf_img_buf *buf;
	unsigned int i;
	int ret;

	/* The event queue thread must not run on rings being reset. */
	disable_irq(core->irq);
	mvf_cmd_hw_reset(core);

	for (i = 0; i < mvf_cmdq_size(q); i++) {
		spin_lock(&q->lock);
		buf = q->slots[i].buf;
		q->slots[i].state = MVF_SLOT_FREE;
		q->slots[i].cmd = NULL;
		q->slots[i].buf = NULL;
		spin_unlock(&q->lock);
		mvf_img_buf_put(buf);
	}
	spin_lock(&q->lock);
	q->pi = 0;
	spin_unlock(&q->lock);
	memset(q->ring, 0, sizeof(*q->ring) << q->log_size);
	memset(eq->ring, 0, sizeof(*eq->ring) << eq->log_size);
	eq->ci = 0;

	ret = mvf_cmd_hw_start(core);
	enable_irq(core->irq);
	return ret;
}

/**
 * mvf_cmd_resume() - accept commands again after mvf_cmd_restart()
 * @core: core device
 */
void mvf_cmd_resume(struct mvf_core_dev *core)
{
	struct mvf_cmdq *q = &core->cmdq;

	spin_lock(&q->lock);
	q->halted = false;
	spin_unlock(&q->lock);
	wake_up_all(&q->slot_wq);
}

/**
 * mvf_cmd_cleanup() - free the queues of a shut down command interface
 * @core: core device
 */
void mvf_cmd_cleanup(struct mvf_core_dev *core)
{
	mvf_cmd_free_rings(core);
}
