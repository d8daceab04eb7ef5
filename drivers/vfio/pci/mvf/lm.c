// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF VF vfio-pci variant driver: the migration state machine (VFIO
 * migration uAPI v2 with P2P and PRE_COPY).  The data files are migf.c's.
 *
 * Arcs, each one device command or one data file operation:
 *
 *   RUNNING      -> RUNNING_P2P   SUSPEND_VHCA initiator (quiesce)
 *   RUNNING_P2P  -> STOP          SUSPEND_VHCA responder (freeze)
 *   STOP         -> RUNNING_P2P   RESUME_VHCA responder (thaw)
 *   RUNNING_P2P  -> RUNNING       RESUME_VHCA initiator
 *   STOP         -> STOP_COPY     open the save file (SAVE of the frozen VF)
 *   STOP_COPY    -> STOP          end the save file
 *   STOP         -> RESUMING      open the resume file
 *   RESUMING     -> STOP          wait for the LOADs, check the END record
 *   RUNNING      -> PRE_COPY      open the save file (SAVE of the running VF)
 *   RUNNING_P2P  -> PRE_COPY_P2P  the same, quiesced
 *   PRE_COPY     -> RUNNING       end the save file
 *   PRE_COPY_P2P -> RUNNING_P2P   end the save file
 *   PRE_COPY     -> PRE_COPY_P2P  quiesce
 *   PRE_COPY_P2P -> PRE_COPY      un-quiesce
 *   PRE_COPY_P2P -> STOP_COPY     freeze; the save file goes on to END
 *
 * A device without MVF_CAP_P2P gets RUNNING <-> STOP and PRE_COPY ->
 * STOP_COPY as both commands in one arc; one without MVF_CAP_PRE_COPY no
 * PRE_COPY states.
 *
 * A failing arc leaves the device where the uAPI says: in the state it
 * started from when nothing of the device changed (a data file that could
 * not be opened, a refused stream), or, when a suspend or resume command
 * failed, in the state the device reports it is in (QUERY_VHCA_MIGRATION_
 * STATE).  Only when that cannot be told, or names no state of the uAPI,
 * is it ERROR, which only a reset (or closing the device) leaves.
 *
 * User and peer access to the BARs (bars.c) is revoked on the way into the
 * freeze, before the command goes out, and given back on the way out of
 * it, once the device has thawed: it is revoked exactly in STOP,
 * STOP_COPY, RESUMING and ERROR.  RUNNING_P2P and PRE_COPY_P2P keep it:
 * the function still runs and must still answer peers that have not
 * quiesced yet.
 */

#include <linux/file.h>

#include <linux/mvf/mvf_if.h>

#include "mvf_vfio.h"

static void mvf_lm_end_files(struct mvf_vfio_dev *mvdev)
{
	if (mvdev->save_file) {
		mvf_migf_end(mvdev->save_file);
		fput(mvdev->save_file->filp);
		mvdev->save_file = NULL;
	}
	if (mvdev->resume_file) {
		mvf_migf_end(mvdev->resume_file);
		fput(mvdev->resume_file->filp);
		mvdev->resume_file = NULL;
	}
}

static struct file *mvf_errptr(int ret)
{
	return ret ? ERR_PTR(ret) : NULL;
}

/*
 * A save file ends by an arc (the migration was cancelled, or STOP_COPY
 * left before the end): the device's session goes too, so that it stops
 * tracking and QUERY sizes a whole stream again.  A failure only costs
 * that; the next session's START drops the old one anyway.
 */
static void mvf_lm_end_save(struct mvf_vfio_dev *mvdev)
{
	int ret;

	mvf_lm_end_files(mvdev);
	ret = mvf_core_save_close(mvdev->mdev, mvdev->vhca_id);
	if (ret)
		dev_warn_ratelimited(mvf_vfio_dev(mvdev),
				     "cannot close the device's save session: %pe\n",
				     ERR_PTR(ret));
}

static struct file *mvf_lm_save_open(struct mvf_vfio_dev *mvdev,
				     bool precopy)
{
	return mvf_save_open(mvdev, precopy, &mvdev->save_file);
}

/* Quiesce and freeze (both, without P2P), BAR access revoked first. */
static int mvf_lm_freeze(struct mvf_vfio_dev *mvdev, bool quiesce)
{
	int ret = 0;

	mvf_bars_revoke(mvdev);
	if (quiesce)
		ret = mvf_cmds_suspend(mvdev, MVF_SUSPEND_INITIATOR);
	if (!ret)
		ret = mvf_cmds_suspend(mvdev, MVF_SUSPEND_RESPONDER);
	return ret;
}

static struct file *mvf_lm_step(struct mvf_vfio_dev *mvdev,
				enum vfio_device_mig_state next)
{
	enum vfio_device_mig_state cur = mvdev->mig_state;
	int ret;

	switch (cur) {
	case VFIO_DEVICE_STATE_RUNNING:
		switch (next) {
		case VFIO_DEVICE_STATE_RUNNING_P2P:
			return mvf_errptr(mvf_cmds_suspend(mvdev,
						MVF_SUSPEND_INITIATOR));
		case VFIO_DEVICE_STATE_STOP:		/* no P2P */
			return mvf_errptr(mvf_lm_freeze(mvdev, true));
		case VFIO_DEVICE_STATE_PRE_COPY:
			return mvf_lm_save_open(mvdev, true);
		default:
			break;
		}
		break;
	case VFIO_DEVICE_STATE_RUNNING_P2P:
		switch (next) {
		case VFIO_DEVICE_STATE_STOP:
			return mvf_errptr(mvf_lm_freeze(mvdev, false));
		case VFIO_DEVICE_STATE_RUNNING:
			return mvf_errptr(mvf_cmds_resume(mvdev,
						MVF_SUSPEND_INITIATOR));
		case VFIO_DEVICE_STATE_PRE_COPY_P2P:
			return mvf_lm_save_open(mvdev, true);
		default:
			break;
		}
		break;
	case VFIO_DEVICE_STATE_STOP:
		switch (next) {
		case VFIO_DEVICE_STATE_RUNNING_P2P:
		case VFIO_DEVICE_STATE_RUNNING:		/* no P2P */
			ret = mvf_cmds_resume(mvdev, MVF_SUSPEND_RESPONDER);
			if (!ret && next == VFIO_DEVICE_STATE_RUNNING)
				ret = mvf_cmds_resume(mvdev,
						      MVF_SUSPEND_INITIATOR);
			if (!ret)
				mvf_bars_restore(mvdev);
			return mvf_errptr(ret);
		case VFIO_DEVICE_STATE_STOP_COPY:
			return mvf_lm_save_open(mvdev, false);
		case VFIO_DEVICE_STATE_RESUMING:
			return mvf_resume_open(mvdev, &mvdev->resume_file);
		default:
			break;
		}
		break;
	case VFIO_DEVICE_STATE_PRE_COPY:
		switch (next) {
		case VFIO_DEVICE_STATE_RUNNING:
			mvf_lm_end_save(mvdev);
			return NULL;
		case VFIO_DEVICE_STATE_PRE_COPY_P2P:
			return mvf_errptr(mvf_cmds_suspend(mvdev,
						MVF_SUSPEND_INITIATOR));
		case VFIO_DEVICE_STATE_STOP_COPY:	/* no P2P */
			ret = mvf_lm_freeze(mvdev, true);
			if (!ret)
				mvf_save_set_precopy(mvdev->save_file, false);
			return mvf_errptr(ret);
		default:
			break;
		}
		break;
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
		switch (next) {
		case VFIO_DEVICE_STATE_RUNNING_P2P:
			mvf_lm_end_save(mvdev);
			return NULL;
		case VFIO_DEVICE_STATE_PRE_COPY:
			return mvf_errptr(mvf_cmds_resume(mvdev,
						MVF_SUSPEND_INITIATOR));
		case VFIO_DEVICE_STATE_STOP_COPY:
			ret = mvf_lm_freeze(mvdev, false);
			if (!ret)
				mvf_save_set_precopy(mvdev->save_file, false);
			return mvf_errptr(ret);
		default:
			break;
		}
		break;
	case VFIO_DEVICE_STATE_STOP_COPY:
		if (next == VFIO_DEVICE_STATE_STOP) {
			mvf_lm_end_save(mvdev);
			return NULL;
		}
		break;
	case VFIO_DEVICE_STATE_RESUMING:
		if (next == VFIO_DEVICE_STATE_STOP) {
			/*
			 * A refused stream leaves the VF in RESUMING with its
			 * file, which says why (a poisoned file refuses
			 * again); only a reset leaves that.
			 */
			ret = mvf_resume_finish(mvdev->resume_file);
			if (!ret)
				mvf_lm_end_files(mvdev);
			return mvf_errptr(ret);
		}
		break;
	default:
		break;
	}

	/* vfio_mig_get_next_state() never asks for another arc. */
	return ERR_PTR(-EINVAL);
}

static const char *mvf_state_name(enum vfio_device_mig_state state)
{
	switch (state) {
	case VFIO_DEVICE_STATE_ERROR:
		return "ERROR";
	case VFIO_DEVICE_STATE_STOP:
		return "STOP";
	case VFIO_DEVICE_STATE_RUNNING:
		return "RUNNING";
	case VFIO_DEVICE_STATE_STOP_COPY:
		return "STOP_COPY";
	case VFIO_DEVICE_STATE_RESUMING:
		return "RESUMING";
	case VFIO_DEVICE_STATE_RUNNING_P2P:
		return "RUNNING_P2P";
	case VFIO_DEVICE_STATE_PRE_COPY:
		return "PRE_COPY";
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
		return "PRE_COPY_P2P";
	default:
		return "?";
	}
}

/* Arcs that send SUSPEND_VHCA or RESUME_VHCA to the device. */
static bool mvf_lm_arc_commands(enum vfio_device_mig_state cur,
				enum vfio_device_mig_state next)
{
	switch (cur) {
	case VFIO_DEVICE_STATE_RUNNING:
		return next == VFIO_DEVICE_STATE_RUNNING_P2P ||
		       next == VFIO_DEVICE_STATE_STOP;
	case VFIO_DEVICE_STATE_RUNNING_P2P:
		return next == VFIO_DEVICE_STATE_RUNNING ||
		       next == VFIO_DEVICE_STATE_STOP;
	case VFIO_DEVICE_STATE_STOP:
		return next == VFIO_DEVICE_STATE_RUNNING ||
		       next == VFIO_DEVICE_STATE_RUNNING_P2P;
	case VFIO_DEVICE_STATE_PRE_COPY:
		return next == VFIO_DEVICE_STATE_PRE_COPY_P2P ||
		       next == VFIO_DEVICE_STATE_STOP_COPY;
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
		return next == VFIO_DEVICE_STATE_PRE_COPY ||
		       next == VFIO_DEVICE_STATE_STOP_COPY;
	default:
		return false;
	}
}

/*
 * A suspend or resume command of an arc failed: ask the device where the
 * VF is and make that the state, with BAR access to match.  With a save
 * file open (the pre-copy arcs) the state is one of the saving group, and
 * the file goes on.  ERROR if the device cannot tell, or is somewhere the
 * uAPI has no state for (quiesced on a device without P2P, frozen but not
 * quiesced).
 */
static enum vfio_device_mig_state mvf_lm_recover(struct mvf_vfio_dev *mvdev)
{
	bool p2p = mvf_core_caps(mvdev->mdev) & MVF_CAP_P2P;
	bool saving = mvdev->save_file;
	u32 st;

	if (mvdev->pf_gone || mvf_cmds_query_state(mvdev, &st))
		return VFIO_DEVICE_STATE_ERROR;

	switch (st & (MVF_VHCA_STATE_QUIESCED | MVF_VHCA_STATE_FROZEN)) {
	case 0:
		mvf_bars_restore(mvdev);
		return saving ? VFIO_DEVICE_STATE_PRE_COPY :
				VFIO_DEVICE_STATE_RUNNING;
	case MVF_VHCA_STATE_QUIESCED:
		if (!p2p)
			return VFIO_DEVICE_STATE_ERROR;
		mvf_bars_restore(mvdev);
		return saving ? VFIO_DEVICE_STATE_PRE_COPY_P2P :
				VFIO_DEVICE_STATE_RUNNING_P2P;
	case MVF_VHCA_STATE_QUIESCED | MVF_VHCA_STATE_FROZEN:
		mvf_bars_revoke(mvdev);
		if (!saving)
			return VFIO_DEVICE_STATE_STOP;
		mvf_save_set_precopy(mvdev->save_file, false);
		return VFIO_DEVICE_STATE_STOP_COPY;
	default:
		return VFIO_DEVICE_STATE_ERROR;
	}
}

static struct file *
mvf_lm_set_state(struct vfio_device *vdev, enum vfio_device_mig_state new_state)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_from_vdev(vdev);
	struct device *dev = mvf_vfio_dev(mvdev);
	enum vfio_device_mig_state next;
	struct file *res = NULL;
	int ret;

	/* The user may not ask for ERROR; it is where failures end up. */
	if (new_state == VFIO_DEVICE_STATE_ERROR)
		return ERR_PTR(-EINVAL);

	mutex_lock(&mvdev->state_mutex);
	/*
	 * No arc leaves ERROR (vfio_mig_get_next_state() must not even be
	 * asked); only a reset does.
	 */
	if (mvdev->mig_state == VFIO_DEVICE_STATE_ERROR) {
		res = ERR_PTR(-EINVAL);
		goto out_unlock;
	}
	/* Error recovery under way: no command may reach the device. */
	if (mvdev->blocked && mvdev->mig_state != new_state) {
		res = ERR_PTR(-EIO);
		goto out_unlock;
	}

	while (mvdev->mig_state != new_state) {
		ret = vfio_mig_get_next_state(vdev, mvdev->mig_state, new_state,
					      &next);
		if (ret) {
			/* Unsupported target: nothing was changed. */
			res = ERR_PTR(ret);
			break;
		}

		dev_dbg(dev, "migration arc %s -> %s\n",
			mvf_state_name(mvdev->mig_state), mvf_state_name(next));
		res = mvf_lm_step(mvdev, next);
		if (!IS_ERR(res) && res && next != new_state) {
			/* A data file is only opened at the requested state. */
			fput(res);
			mvf_lm_end_files(mvdev);
			res = ERR_PTR(-EINVAL);
		}
		if (IS_ERR(res)) {
			enum vfio_device_mig_state now = mvdev->mig_state;

			if (mvf_lm_arc_commands(now, next))
				now = mvf_lm_recover(mvdev);
			if (now == VFIO_DEVICE_STATE_ERROR) {
				mvf_lm_end_files(mvdev);
				/* Nobody touches a VF in ERROR. */
				mvf_bars_revoke(mvdev);
			}
			dev_err_ratelimited(dev, "migration arc %s -> %s failed: %pe; the state is %s%s\n",
					    mvf_state_name(mvdev->mig_state),
					    mvf_state_name(next), res, mvf_state_name(now),
					    now == VFIO_DEVICE_STATE_ERROR ?
					    " until reset" : "");
			mvdev->mig_state = now;
			break;
		}
		mvdev->mig_state = next;
	}
out_unlock:
	mvf_state_mutex_unlock(mvdev);
	return res;
}

static int mvf_lm_get_state(struct vfio_device *vdev,
			    enum vfio_device_mig_state *curr_state)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_from_vdev(vdev);

	mutex_lock(&mvdev->state_mutex);
	*curr_state = mvdev->mig_state;
	mvf_state_mutex_unlock(mvdev);
	return 0;
}

static int mvf_lm_get_data_size(struct vfio_device *vdev,
				unsigned long *stop_copy_length)
{
	struct mvf_vfio_dev *mvdev = mvf_vfio_from_vdev(vdev);
	u64 size;
	int ret;

	mutex_lock(&mvdev->state_mutex);
	if (mvdev->pf_gone)
		ret = -ENODEV;
	else if (mvdev->blocked)
		ret = -EIO;
	else if (mvdev->save_file)
		ret = mvf_save_pending(mvdev->save_file, &size);
	else
		ret = mvf_cmds_query_size(mvdev, &size);
	mvf_state_mutex_unlock(mvdev);
	if (!ret)
		*stop_copy_length = size;
	return ret;
}

const struct vfio_migration_ops mvf_lm_ops = {
	.migration_set_state = mvf_lm_set_state,
	.migration_get_state = mvf_lm_get_state,
	.migration_get_data_size = mvf_lm_get_data_size,
};

/* ------------------------------------------------------------------ */
/* Reset, open/close, PF events                                        */
/* ------------------------------------------------------------------ */

/*
 * The device was reset: it cleared its suspend flags itself, so the state
 * machine is back in RUNNING and any data stream is over.
 */
static void mvf_lm_reset_locked(struct mvf_vfio_dev *mvdev)
{
	mvf_lm_end_files(mvdev);
	mvf_bars_reset(mvdev);
	mvdev->mig_state = VFIO_DEVICE_STATE_RUNNING;
}

/**
 * mvf_state_mutex_unlock() - release state_mutex, running a deferred reset
 * @mvdev: VF device whose state_mutex the caller holds
 *
 * reset_done() cannot sleep on state_mutex: vfio calls it with its
 * memory_lock (and the device lock) held, while a holder of state_mutex may
 * wait on the mm (user copies of a data file, which vfio BAR faults reach
 * memory_lock from), an ABBA deadlock.  So reset_done() only records the
 * reset in deferred_reset and tries the mutex; if someone holds it, that
 * holder handles the reset here, before it lets go.  Checking the flag and
 * unlocking both happen under reset_lock, and reset_done() sets the flag
 * and tries the mutex under it too: either this unlock sees the flag, or
 * reset_done() finds the mutex free.
 */
void mvf_state_mutex_unlock(struct mvf_vfio_dev *mvdev)
{
again:
	spin_lock(&mvdev->reset_lock);
	if (mvdev->deferred_reset) {
		mvdev->deferred_reset = false;
		spin_unlock(&mvdev->reset_lock);
		mvf_lm_reset_locked(mvdev);
		goto again;
	}
	mutex_unlock(&mvdev->state_mutex);
	spin_unlock(&mvdev->reset_lock);
}

/**
 * mvf_lm_reset_done() - the VF was reset (FLR, VFIO_DEVICE_RESET, bus reset)
 * @mvdev: VF device
 */
void mvf_lm_reset_done(struct mvf_vfio_dev *mvdev)
{
	spin_lock(&mvdev->reset_lock);
	mvdev->deferred_reset = true;
	if (!mutex_trylock(&mvdev->state_mutex)) {
		spin_unlock(&mvdev->reset_lock);
		return;
	}
	spin_unlock(&mvdev->reset_lock);
	mvf_state_mutex_unlock(mvdev);
}

/**
 * mvf_lm_init() - set up the migration state of a VF device
 * @mvdev: VF device being initialized
 */
void mvf_lm_init(struct mvf_vfio_dev *mvdev)
{
	mutex_init(&mvdev->state_mutex);
	spin_lock_init(&mvdev->reset_lock);
	mvdev->mig_state = VFIO_DEVICE_STATE_RUNNING;
}

/**
 * mvf_lm_uninit() - undo mvf_lm_init()
 * @mvdev: VF device being released
 */
void mvf_lm_uninit(struct mvf_vfio_dev *mvdev)
{
	mutex_destroy(&mvdev->state_mutex);
}

/**
 * mvf_lm_open() - the user opened the device: start in RUNNING
 * @mvdev: VF device
 */
void mvf_lm_open(struct mvf_vfio_dev *mvdev)
{
	mutex_lock(&mvdev->state_mutex);
	mvdev->mig_state = VFIO_DEVICE_STATE_RUNNING;
	mvdev->is_open = true;
	mvf_state_mutex_unlock(mvdev);
}

/**
 * mvf_lm_close() - the user closed the device
 * @mvdev: VF device
 *
 * Ends the data files and leaves the device running: a suspended VF is
 * resumed (best effort, the reset that follows clears it too).
 */
void mvf_lm_close(struct mvf_vfio_dev *mvdev)
{
	mutex_lock(&mvdev->state_mutex);
	mvf_lm_end_files(mvdev);
	if (mvdev->migrate_cap && !mvdev->pf_gone && !mvdev->blocked &&
	    mvdev->mig_state != VFIO_DEVICE_STATE_RUNNING) {
		if (mvf_cmds_resume(mvdev, MVF_SUSPEND_RESPONDER) ||
		    mvf_cmds_resume(mvdev, MVF_SUSPEND_INITIATOR))
			dev_dbg(mvf_vfio_dev(mvdev),
				"could not resume the VF on close\n");
	}
	/* The reset that follows gives the BARs back too; not to rely on it: */
	mvf_bars_restore(mvdev);
	mvdev->mig_state = VFIO_DEVICE_STATE_RUNNING;
	mvdev->is_open = false;
	mvf_state_mutex_unlock(mvdev);
}

/**
 * mvf_lm_pf_gone() - SR-IOV is being disabled under this VF
 * @mvdev: VF device
 *
 * Ends the data files; the state is ERROR until a reset.  The DMA log is
 * lost (the device drops the tracker with the VF).
 */
void mvf_lm_pf_gone(struct mvf_vfio_dev *mvdev)
{
	if (!mvdev->migrate_cap)
		return;
	mutex_lock(&mvdev->state_mutex);
	mvf_lm_end_files(mvdev);
	mvf_bars_revoke(mvdev);
	mvf_dirty_lost(mvdev);
	mvdev->pf_gone = true;
	mvdev->mig_state = VFIO_DEVICE_STATE_ERROR;
	mvf_state_mutex_unlock(mvdev);
	dev_dbg(mvf_vfio_dev(mvdev), "PF disables SR-IOV: migration ended\n");
}

/* ------------------------------------------------------------------ */
/* Errors of the VF and of its PF                                      */
/* ------------------------------------------------------------------ */

/* The states in which the function runs and its BARs are the user's. */
static bool mvf_lm_bars_open(enum vfio_device_mig_state state)
{
	switch (state) {
	case VFIO_DEVICE_STATE_RUNNING:
	case VFIO_DEVICE_STATE_RUNNING_P2P:
	case VFIO_DEVICE_STATE_PRE_COPY:
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
		return true;
	default:
		return false;
	}
}

/*
 * An error cut a migration: the data files fail with -EIO and the state is
 * ERROR (BARs revoked) until a reset.  A VF that is not migrating (RUNNING,
 * no file) keeps its state.  Returns true if a migration was cut.
 */
static bool mvf_lm_cut(struct mvf_vfio_dev *mvdev, const char *why)
{
	if (!mvdev->save_file && !mvdev->resume_file &&
	    mvdev->mig_state == VFIO_DEVICE_STATE_RUNNING)
		return false;
	if (mvdev->save_file) {
		mvf_migf_abort(mvdev->save_file, -EIO);
		fput(mvdev->save_file->filp);
		mvdev->save_file = NULL;
	}
	if (mvdev->resume_file) {
		mvf_migf_abort(mvdev->resume_file, -EIO);
		fput(mvdev->resume_file->filp);
		mvdev->resume_file = NULL;
	}
	mvf_bars_revoke(mvdev);
	if (mvdev->mig_state != VFIO_DEVICE_STATE_ERROR)
		dev_warn(mvf_vfio_dev(mvdev),
			 "%s: migration state %s -> ERROR until reset\n", why,
			 mvf_state_name(mvdev->mig_state));
	mvdev->mig_state = VFIO_DEVICE_STATE_ERROR;
	return true;
}

/**
 * mvf_lm_error_detected() - AER recovery of the VF begins
 * @mvdev: VF device
 * @fatal: the link is being reset
 *
 * Until mvf_lm_error_resume() no migration command goes out and user
 * access to the BARs is revoked; a migration in flight is cut (ERROR).
 */
void mvf_lm_error_detected(struct mvf_vfio_dev *mvdev, bool fatal)
{
	mutex_lock(&mvdev->state_mutex);
	mvdev->blocked |= MVF_BLOCK_AER;
	mvf_lm_cut(mvdev, fatal ? "fatal PCI error" :
		   "uncorrectable PCI error");
	mvf_bars_revoke(mvdev);		/* nothing to do if not open */
	mvf_state_mutex_unlock(mvdev);
}

/**
 * mvf_lm_mark_failed() - an error the user could not be told of
 * @mvdev: VF device, open, without an eventfd for the error
 *
 * The VF goes to ERROR, its BARs revoked, until the user resets it: the
 * failed accesses are how it learns.
 */
void mvf_lm_mark_failed(struct mvf_vfio_dev *mvdev)
{
	mutex_lock(&mvdev->state_mutex);
	if (mvdev->is_open && !mvf_lm_cut(mvdev, "unreported PCI error")) {
		mvf_bars_revoke(mvdev);
		dev_warn(mvf_vfio_dev(mvdev),
			 "PCI error and no eventfd to report it: the VF is failed until reset\n");
		mvdev->mig_state = VFIO_DEVICE_STATE_ERROR;
	}
	mvf_state_mutex_unlock(mvdev);
}

/*
 * The function was reset behind vfio's back (link reset, reset of the PF):
 * what the reset_done() path does, but a state an error made ERROR stays
 * so until the user resets the VF itself.
 */
static void mvf_lm_was_reset(struct mvf_vfio_dev *mvdev)
{
	mvf_lm_end_files(mvdev);
	if (mvdev->mig_state != VFIO_DEVICE_STATE_ERROR)
		mvdev->mig_state = VFIO_DEVICE_STATE_RUNNING;
}

/**
 * mvf_lm_slot_reset() - AER recovery reset the link, the VF with it
 * @mvdev: VF device
 */
void mvf_lm_slot_reset(struct mvf_vfio_dev *mvdev)
{
	mutex_lock(&mvdev->state_mutex);
	mvf_lm_was_reset(mvdev);
	mvf_state_mutex_unlock(mvdev);
}

/**
 * mvf_lm_error_resume() - AER recovery is over
 * @mvdev: VF device
 *
 * The BARs come back unless the state keeps them revoked (ERROR, or a
 * frozen state the error left alone).
 */
void mvf_lm_error_resume(struct mvf_vfio_dev *mvdev)
{
	mutex_lock(&mvdev->state_mutex);
	mvdev->blocked &= ~MVF_BLOCK_AER;
	if (mvdev->is_open && mvf_lm_bars_open(mvdev->mig_state))
		mvf_bars_restore(mvdev);
	mvf_state_mutex_unlock(mvdev);
}

/**
 * mvf_lm_pf_error() - the PF's command interface stopped (error or reset)
 * @mvdev: VF device
 *
 * Migration commands fail until mvf_lm_pf_recovered(); a migration in
 * flight is cut, and the DMA log is lost until logging stops.  The user
 * hears of it as of a non-fatal error.
 */
void mvf_lm_pf_error(struct mvf_vfio_dev *mvdev)
{
	bool open;

	mutex_lock(&mvdev->state_mutex);
	mvdev->blocked |= MVF_BLOCK_PF;
	mvf_lm_cut(mvdev, "PF error or reset");
	mvf_dirty_lost(mvdev);
	open = mvdev->is_open;
	mvf_state_mutex_unlock(mvdev);
	if (open)
		mvf_events_report_error(mvdev, false);
}

/**
 * mvf_lm_pf_recovered() - the PF's command interface works again
 * @mvdev: VF device
 * @vf_reset: the VF was reset with the PF, and nobody else handles it
 */
void mvf_lm_pf_recovered(struct mvf_vfio_dev *mvdev, bool vf_reset)
{
	struct pci_dev *pdev = mvdev->core_device.pdev;
	bool open;

	if (vf_reset) {
		/* Config space was lost: what the VF had, MSI-X included. */
		pci_restore_state(pdev);
		pci_save_state(pdev);
	}
	mutex_lock(&mvdev->state_mutex);
	mvdev->blocked &= ~MVF_BLOCK_PF;
	if (vf_reset) {
		mvf_lm_was_reset(mvdev);
		if (mvdev->is_open && mvf_lm_bars_open(mvdev->mig_state) &&
		    !mvdev->blocked)
			mvf_bars_reset(mvdev);
	}
	open = mvdev->is_open;
	mvf_state_mutex_unlock(mvdev);
	/* The device state the user had is gone: that is an error to it. */
	if (vf_reset && open)
		mvf_events_report_error(mvdev, true);
}
