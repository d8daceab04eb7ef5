// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF PF core driver: migration command helpers for VF drivers.
 */

#include <linux/module.h>

#include "mvf_core.h"

/**
 * mvf_core_query_mig_state() - ask how big a VF's state image is now
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 * @size: if not NULL, set to the bytes SAVE needs
 * @state: if not NULL, set to the VF's MVF_VHCA_STATE_* flags
 *
 * Return: 0 or a negative errno (see mvf_core_exec()).
 */
int mvf_core_query_mig_state(struct mvf_core_dev *core, u16 vhca_id,
			     u64 *size, u32 *state)
{
	struct mvf_cmd cmd = { .opcode = MVF_CMD_QUERY_VHCA_MIGRATION_STATE };
	int ret;

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
 * __mvf_core_save_async() - start saving a frozen VF's state
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 * @buf: DMA_FROM_DEVICE image buffer; the whole buffer is offered
 * @cmd: command storage with @cmd->done (and @cmd->priv) set; the rest is
 *	filled in here
 * @owner: module of @cmd->done (use mvf_core_save_async())
 *
 * On success @cmd->done runs once the SAVE finished; then, if @cmd->err is
 * 0, mvf_cmd_out_u64(@cmd, 0) is the image length (checked to fit @buf)
 * and the image is in @buf, ready for the CPU.
 *
 * Return: 0 if started, or a negative errno (@done will not run).
 */
int __mvf_core_save_async(struct mvf_core_dev *core, u16 vhca_id,
			  struct mvf_img_buf *buf, struct mvf_cmd *cmd,
			  struct module *owner)
{
	if (mvf_img_buf_dir(buf) != DMA_FROM_DEVICE)
		return -EINVAL;
	cmd->opcode = MVF_CMD_SAVE_VHCA_STATE;
	memset(cmd->in, 0, sizeof(cmd->in));
	cmd->buf = buf;
	cmd->data_len = mvf_img_buf_size(buf);
	return __mvf_core_exec_async(core, vhca_id, cmd, owner);
}
EXPORT_SYMBOL_GPL(__mvf_core_save_async);

/**
 * mvf_core_load() - load a state image into a frozen VF
 * @core: core device
 * @vhca_id: VF (1..TotalVFs)
 * @buf: DMA_TO_DEVICE image buffer holding the image at offset 0
 * @len: image bytes, 1..size of @buf
 * @cmd: if not NULL, receives the command with the device's status and
 *	syndrome (e.g. which image check failed)
 *
 * The device validates the whole image before changing anything: a
 * rejected image leaves the VF as it was.  Sleeps.
 *
 * Return: 0, -EINVAL for a rejected image or bad arguments, or another
 * negative errno (see mvf_core_exec()).
 */
int mvf_core_load(struct mvf_core_dev *core, u16 vhca_id,
		  struct mvf_img_buf *buf, size_t len, struct mvf_cmd *cmd)
{
	struct mvf_cmd local = {};

	if (!cmd)
		cmd = &local;
	if (mvf_img_buf_dir(buf) != DMA_TO_DEVICE || !len ||
	    len > mvf_img_buf_size(buf))
		return -EINVAL;
	cmd->opcode = MVF_CMD_LOAD_VHCA_STATE;
	memset(cmd->in, 0, sizeof(cmd->in));
	cmd->buf = buf;
	cmd->data_len = len;
	return mvf_core_exec(core, vhca_id, cmd);
}
EXPORT_SYMBOL_GPL(mvf_core_load);
