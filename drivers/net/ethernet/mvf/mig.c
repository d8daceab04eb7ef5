// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF PF core driver: migration command helpers for VF drivers.
 */

#include <linux/module.h>

#include "mvf_core.h"

/**
 * mvf_core_query_mig_state() - ask how much a VF's save session has left
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 * @flags: 0: @size is the stream bytes still to come up to END were the VF
 *	frozen now (a whole stream's without a save session);
 *	MVF_QUERY_F_INCREMENTAL: the bytes a SAVE of the running VF would
 *	write now
 * @size: if not NULL, set to that byte count
 * @state: if not NULL, set to the VF's MVF_VHCA_STATE_* flags
 *
 * The device runs commands of one VF in order, so the answer counts every
 * SAVE of that VF posted before.  Sleeps.
 *
 * Return: 0 or a negative errno (see mvf_core_exec()).
 */
int mvf_core_query_mig_state(struct mvf_core_dev *core, u16 vhca_id,
			     u32 flags, u64 *size, u32 *state)
{
	struct mvf_cmd cmd = {
		.opcode = MVF_CMD_QUERY_VHCA_MIGRATION_STATE,
		.in = { flags },
	};
	int ret;

	if (flags & ~MVF_QUERY_F_INCREMENTAL)
		return -EINVAL;

	ret = mvf_core_exec(core, vhca_id, &cmd);
	if (ret)
		return ret;
	if (size)
		*size = mvf_cmd_out_u64(&cmd, 0);
	if (state)
		*state = cmd.out[2];
	return 0;
}
EXPORT_SYMBOL_GPL(mvf_core_query_mig_state);

/**
 * mvf_core_query_vhca() - ask the device for a VF's state and trap count
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 * @state: if not NULL, set to the VF's MVF_VHCA_STATE_* flags
 * @frozen_accesses: if not NULL, set to the number of accesses to the VF's
 *	BAR 0 and BAR 2 that the device trapped while the VF was frozen,
 *	since the VF's last function reset (saturates at U32_MAX; always 0
 *	on a device older than interface 1.1)
 *
 * Runs QUERY_VHCA_MIGRATION_STATE, so both values are the device's own at
 * the time of the call.  Sleeps.
 *
 * Return: 0 or a negative errno (see mvf_core_exec()).
 */
int mvf_core_query_vhca(struct mvf_core_dev *core, u16 vhca_id, u32 *state,
			u32 *frozen_accesses)
{
	struct mvf_cmd cmd = { .opcode = MVF_CMD_QUERY_VHCA_MIGRATION_STATE };
	int ret;

	ret = mvf_core_exec(core, vhca_id, &cmd);
	if (ret)
		return ret;
	if (state)
		*state = cmd.out[2];
	if (frozen_accesses)
		*frozen_accesses = cmd.out[3];
	return 0;
}
EXPORT_SYMBOL_GPL(mvf_core_query_vhca);

static int mvf_core_suspend_resume(struct mvf_core_dev *core, u16 vhca_id,
				   u16 opcode, u32 mode)
{
	struct mvf_cmd cmd = { .opcode = opcode, .in = { mode } };

	if (mode != MVF_SUSPEND_INITIATOR && mode != MVF_SUSPEND_RESPONDER)
		return -EINVAL;
	return mvf_core_exec(core, vhca_id, &cmd);
}

/**
 * mvf_core_suspend() - quiesce or freeze a VF
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 * @mode: MVF_SUSPEND_INITIATOR (stop issuing DMA) or MVF_SUSPEND_RESPONDER
 *	(freeze the state; needs a quiesced VF)
 *
 * Idempotent.
 *
 * Return: 0 or a negative errno (see mvf_core_exec()).
 */
int mvf_core_suspend(struct mvf_core_dev *core, u16 vhca_id, u32 mode)
{
	return mvf_core_suspend_resume(core, vhca_id, MVF_CMD_SUSPEND_VHCA,
				       mode);
}
EXPORT_SYMBOL_GPL(mvf_core_suspend);

/**
 * mvf_core_resume() - thaw or un-quiesce a VF
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 * @mode: MVF_SUSPEND_RESPONDER (thaw) or MVF_SUSPEND_INITIATOR (let it
 *	issue DMA again; needs a thawed VF)
 *
 * Idempotent.
 *
 * Return: 0 or a negative errno (see mvf_core_exec()).
 */
int mvf_core_resume(struct mvf_core_dev *core, u16 vhca_id, u32 mode)
{
	return mvf_core_suspend_resume(core, vhca_id, MVF_CMD_RESUME_VHCA,
				       mode);
}
EXPORT_SYMBOL_GPL(mvf_core_resume);

/**
 * __mvf_core_save_async() - write the next records of a VF's save session
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 * @buf: DMA_FROM_DEVICE buffer; the whole buffer is offered
 * @flags: MVF_SAVE_F_START to open a new session, else 0
 * @cmd: command storage with @cmd->done (and @cmd->priv) set; the rest is
 *	filled in here
 * @owner: module of @cmd->done (use mvf_core_save_async())
 *
 * On success @cmd->done runs once the SAVE finished; then, if @cmd->err is
 * 0, mvf_cmd_out_u64(@cmd, 0) is the number of bytes written (checked to
 * fit @buf, 0 when a running VF changed nothing), @cmd->out[2] has
 * MVF_SAVE_OUT_END once the stream is complete, and the records are in
 * @buf, ready for the CPU.
 *
 * Return: 0 if started, or a negative errno (@done will not run).
 */
int __mvf_core_save_async(struct mvf_core_dev *core, u16 vhca_id,
			  struct mvf_img_buf *buf, u32 flags,
			  struct mvf_cmd *cmd, struct module *owner)
{
	if (mvf_img_buf_dir(buf) != DMA_FROM_DEVICE ||
	    (flags & ~MVF_SAVE_F_START))
		return -EINVAL;
	cmd->opcode = MVF_CMD_SAVE_VHCA_STATE;
	memset(cmd->in, 0, sizeof(cmd->in));
	cmd->in[0] = flags;
	cmd->buf = buf;
	cmd->data_len = mvf_img_buf_size(buf);
	return __mvf_core_exec_async(core, vhca_id, cmd, owner);
}
EXPORT_SYMBOL_GPL(__mvf_core_save_async);

/**
 * mvf_core_save_close() - close a VF's save session
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 *
 * For a data transfer that ends before the stream did: the device stops
 * tracking changes for it, and QUERY sizes a whole stream again.  Runs
 * after every SAVE of the VF posted before.  Sleeps.
 *
 * Return: 0 or a negative errno (see mvf_core_exec()).
 */
int mvf_core_save_close(struct mvf_core_dev *core, u16 vhca_id)
{
	struct mvf_cmd cmd = {
		.opcode = MVF_CMD_SAVE_VHCA_STATE,
		.in = { MVF_SAVE_F_CLOSE },
	};

	return mvf_core_exec(core, vhca_id, &cmd);
}
EXPORT_SYMBOL_GPL(mvf_core_save_close);

/**
 * __mvf_core_load_async() - load records into a frozen VF
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 * @buf: DMA_TO_DEVICE buffer holding whole records from offset 0
 * @len: bytes of records, 1..size of @buf
 * @flags: MVF_LOAD_F_START for the first records of a stream, else 0
 * @cmd: command storage with @cmd->done (and @cmd->priv) set
 * @owner: module of @cmd->done (use mvf_core_load_async())
 *
 * The device checks all records of the command before it applies any, so
 * a rejected command (@cmd->err -EINVAL, the syndrome says why) changes
 * nothing.  @cmd->out[2] has MVF_LOAD_OUT_END once the END record was
 * loaded and the VF took the state.
 *
 * Return: 0 if started, or a negative errno (@done will not run).
 */
int __mvf_core_load_async(struct mvf_core_dev *core, u16 vhca_id,
			  struct mvf_img_buf *buf, size_t len, u32 flags,
			  struct mvf_cmd *cmd, struct module *owner)
{
	if (mvf_img_buf_dir(buf) != DMA_TO_DEVICE || !len ||
	    len > mvf_img_buf_size(buf) || (flags & ~MVF_LOAD_F_START))
		return -EINVAL;
	cmd->opcode = MVF_CMD_LOAD_VHCA_STATE;
	memset(cmd->in, 0, sizeof(cmd->in));
	cmd->in[0] = flags;
	cmd->buf = buf;
	cmd->data_len = len;
	return __mvf_core_exec_async(core, vhca_id, cmd, owner);
}
EXPORT_SYMBOL_GPL(__mvf_core_load_async);
