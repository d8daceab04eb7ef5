// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF VF vfio-pci variant driver: the migration state machine (VFIO
 * migration uAPI v2, STOP_COPY and P2P) and its data files.
 *
 * Arcs, each one device command or one data file operation:
 *
 *   RUNNING     -> RUNNING_P2P  SUSPEND_VHCA initiator (quiesce)
 *   RUNNING_P2P -> STOP         SUSPEND_VHCA responder (freeze)
 *   STOP        -> RUNNING_P2P  RESUME_VHCA responder (thaw)
 *   RUNNING_P2P -> RUNNING      RESUME_VHCA initiator
 *   STOP        -> STOP_COPY    open the save file, start SAVE_VHCA_STATE
 *   STOP_COPY   -> STOP         end the save file
 *   STOP        -> RESUMING     open the resume file
 *   RESUMING    -> STOP         LOAD_VHCA_STATE what was written, end it
 *
 * A device without MVF_CAP_P2P gets RUNNING <-> STOP as both commands in
 * one arc.
 *
 * A failing arc leaves the device where the uAPI says: in the state it
 * started from when nothing of the device changed (a data file that could
 * not be opened, a refused image: the device validates an image completely
 * before it takes anything), or, when a suspend or resume command failed,
 * in the state the device reports it is in (QUERY_VHCA_MIGRATION_STATE).
 * Only when that cannot be told, or names no state of the uAPI, is it
 * ERROR, which only a reset (or closing the device) leaves.
 *
 * User and peer access to the BARs (bars.c) is revoked on the way into the
 * freeze, before the command goes out, and given back on the way out of
 * it, once the device has thawed: it is revoked exactly in STOP,
 * STOP_COPY, RESUMING and ERROR.  RUNNING_P2P keeps it: the function still
 * runs and must still answer peers that have not quiesced yet.
 *
 * PRE_COPY would add a save file that is opened in RUNNING and fed in
 * several SAVE rounds; the file already tracks its state separately from
 * the device state, and image buffers are addressed by offset, so it fits
 * in without changing the STOP_COPY path.
 */

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <linux/mvf/mvf_if.h>

#include "mvf_vfio.h"

/* ------------------------------------------------------------------ */
/* Data files                                                          */
/* ------------------------------------------------------------------ */

static void mvf_migf_free(struct kref *ref)
{
	struct mvf_migf *migf = container_of(ref, struct mvf_migf, ref);

	mvf_img_buf_put(migf->buf);
	put_device(migf->dev);
	mutex_destroy(&migf->io_lock);
	kfree(migf);
}

static void mvf_migf_put(struct mvf_migf *migf)
{
	kref_put(&migf->ref, mvf_migf_free);
}

static enum mvf_migf_state mvf_migf_state(struct mvf_migf *migf)
{
	enum mvf_migf_state state;

	spin_lock(&migf->state_lock);
	state = migf->state;
	spin_unlock(&migf->state_lock);
	return state;
}

/*
 * Snapshot the state and, while the file is usable, take a reference on its
 * buffer so that ending the file concurrently cannot free it under the I/O.
 */
static enum mvf_migf_state mvf_migf_get_buf(struct mvf_migf *migf,
					    struct mvf_img_buf **buf)
{
	enum mvf_migf_state state;

	spin_lock(&migf->state_lock);
	state = migf->state;
	*buf = state == MVF_MIGF_READY ? mvf_img_buf_get(migf->buf) : NULL;
	spin_unlock(&migf->state_lock);
	return state;
}

/*
 * End a data file: the device left the data state (or was reset, closed,
 * or lost its PF).  Later I/O fails with -ENODEV; a SAVE still in flight
 * keeps the buffer alive through the core until the device is done.  Takes
 * no sleeping lock, so it is safe from the PCI reset path.
 */
static void mvf_migf_end(struct mvf_migf *migf)
{
	struct mvf_img_buf *buf;

	spin_lock(&migf->state_lock);
	migf->state = MVF_MIGF_ENDED;
	buf = migf->buf;
	migf->buf = NULL;
	spin_unlock(&migf->state_lock);
	wake_up_interruptible_all(&migf->wq);
	mvf_img_buf_put(buf);
}

static int mvf_migf_release(struct inode *inode, struct file *filp)
{
	struct mvf_migf *migf = filp->private_data;

	mvf_migf_end(migf);
	mvf_migf_put(migf);
	return 0;
}

static ssize_t mvf_save_read(struct file *filp, char __user *ubuf, size_t len,
			     loff_t *ppos)
{
	struct mvf_migf *migf = filp->private_data;
	struct mvf_img_buf *buf;
	ssize_t ret;

	if (ppos)
		return -ESPIPE;

	if (!(filp->f_flags & O_NONBLOCK) &&
	    wait_event_interruptible(migf->wq,
				     mvf_migf_state(migf) != MVF_MIGF_SAVING))
		return -ERESTARTSYS;

	if (mutex_lock_interruptible(&migf->io_lock))
		return -ERESTARTSYS;
	switch (mvf_migf_get_buf(migf, &buf)) {
	case MVF_MIGF_SAVING:
		ret = -EAGAIN;
		break;
	case MVF_MIGF_ERROR:
		ret = -EIO;
		break;
	case MVF_MIGF_ENDED:
		ret = -ENODEV;
		break;
	case MVF_MIGF_READY:
		len = min(len, migf->len - migf->pos);
		ret = 0;
		if (len)
			ret = mvf_img_buf_copy_to_user(buf, migf->pos, ubuf,
						       len);
		if (!ret) {
			migf->pos += len;
			ret = len;
		}
		mvf_img_buf_put(buf);
		break;
	default:
		ret = -EIO;
		break;
	}
	mutex_unlock(&migf->io_lock);
	return ret;
}

static __poll_t mvf_save_poll(struct file *filp, struct poll_table_struct *wait)
{
	struct mvf_migf *migf = filp->private_data;

	poll_wait(filp, &migf->wq, wait);
	switch (mvf_migf_state(migf)) {
	case MVF_MIGF_SAVING:
		return 0;
	case MVF_MIGF_READY:
		return EPOLLIN | EPOLLRDNORM;
	default:
		return EPOLLIN | EPOLLRDNORM | EPOLLERR;
	}
}

static const struct file_operations mvf_save_fops = {
	.owner = THIS_MODULE,
	.read = mvf_save_read,
	.poll = mvf_save_poll,
	.release = mvf_migf_release,
};

static void mvf_migf_poison(struct mvf_migf *migf)
{
	spin_lock(&migf->state_lock);
	if (migf->state == MVF_MIGF_READY)
		migf->state = MVF_MIGF_ERROR;
	spin_unlock(&migf->state_lock);
}

/*
 * The image header, checked as soon as it has arrived against the image
 * format of mvf_if.h and this VF, so that an image this VF can never take
 * fails the stream while it is written (a VMM then fails the migration
 * while the source still runs), not only at RESUMING -> STOP.  The device
 * checks all of it again, and the rest, at LOAD.  Called with io_lock held.
 */
static int mvf_resume_check_header(struct mvf_migf *migf,
				   struct mvf_img_buf *buf)
{
	struct mvf_img_header h;
	u32 ifv;
	int ret;

	ret = mvf_img_buf_read(buf, 0, &h, sizeof(h));
	if (ret) {
		/* what was written cannot be trusted either */
		mvf_migf_poison(migf);
		return ret;
	}
	ifv = le32_to_cpu(h.if_version);

	if (le32_to_cpu(h.magic) != MVF_IMG_MAGIC) {
		dev_err(migf->dev, "resume data is not an MVF image (magic 0x%08x)\n",
			le32_to_cpu(h.magic));
	} else if (le16_to_cpu(h.version_major) != MVF_IMG_VERSION_MAJOR ||
		   le32_to_cpu(h.header_len) != MVF_IMG_HEADER_SIZE) {
		dev_err(migf->dev, "image version %u.%u (header %u bytes): this VF takes version %u.x\n",
			le16_to_cpu(h.version_major),
			le16_to_cpu(h.version_minor),
			le32_to_cpu(h.header_len), MVF_IMG_VERSION_MAJOR);
	} else if (le16_to_cpu(h.vendor_id) != MVF_PCI_VENDOR_ID ||
		   le16_to_cpu(h.device_id) != MVF_PCI_DEVICE_ID_VF) {
		dev_err(migf->dev, "image of a %04x:%04x device, not of an MVF VF\n",
			le16_to_cpu(h.vendor_id), le16_to_cpu(h.device_id));
	} else if (ifv >> 16 != MVF_IF_VERSION_MAJOR) {
		dev_err(migf->dev, "image of device interface %u.%u: this VF speaks %u.x\n",
			ifv >> 16, ifv & 0xffff, MVF_IF_VERSION_MAJOR);
	} else if (migf->expect_len &&
		   le64_to_cpu(h.total_len) != migf->expect_len) {
		dev_err(migf->dev, "image of %llu bytes (%llu bytes of device memory): this VF's image is %zu bytes\n",
			le64_to_cpu(h.total_len), le64_to_cpu(h.devmem_size),
			migf->expect_len);
	} else {
		return 0;
	}
	mvf_migf_poison(migf);
	return -EINVAL;
}

static ssize_t mvf_resume_write(struct file *filp, const char __user *ubuf,
				size_t len, loff_t *ppos)
{
	struct mvf_migf *migf = filp->private_data;
	struct mvf_img_buf *buf;
	ssize_t ret;

	if (ppos)
		return -ESPIPE;

	if (mutex_lock_interruptible(&migf->io_lock))
		return -ERESTARTSYS;
	switch (mvf_migf_get_buf(migf, &buf)) {
	case MVF_MIGF_ERROR:
		ret = -EIO;
		break;
	case MVF_MIGF_ENDED:
		ret = -ENODEV;
		break;
	case MVF_MIGF_READY:
		if (len > mvf_img_buf_size(buf) - migf->len) {
			/* Poison: no image can be this long. */
			mvf_migf_poison(migf);
			dev_err_ratelimited(migf->dev,
					    "resume data exceeds the largest image (%zu bytes)\n",
					    mvf_img_buf_size(buf));
			ret = -EFBIG;
		} else {
			ret = mvf_img_buf_copy_from_user(buf, migf->len, ubuf,
							 len);
			if (!ret) {
				migf->len += len;
				ret = len;
			}
			/* this write completed the header: check it once */
			if (ret > 0 &&
			    migf->len >= sizeof(struct mvf_img_header) &&
			    migf->len - len < sizeof(struct mvf_img_header)) {
				int err = mvf_resume_check_header(migf, buf);

				if (err)
					ret = err;
			}
		}
		mvf_img_buf_put(buf);
		break;
	default:
		ret = -EIO;
		break;
	}
	mutex_unlock(&migf->io_lock);
	return ret;
}

static const struct file_operations mvf_resume_fops = {
	.owner = THIS_MODULE,
	.write = mvf_resume_write,
	.release = mvf_migf_release,
};

static struct mvf_migf *mvf_migf_create(struct mvf_vfio_dev *mvdev,
					bool save, size_t size)
{
	struct mvf_migf *migf;
	struct mvf_img_buf *buf;
	struct file *filp;

	migf = kzalloc_obj(*migf, GFP_KERNEL_ACCOUNT);
	if (!migf)
		return ERR_PTR(-ENOMEM);
	kref_init(&migf->ref);
	mutex_init(&migf->io_lock);
	spin_lock_init(&migf->state_lock);
	init_waitqueue_head(&migf->wq);
	migf->dev = get_device(mvf_vfio_dev(mvdev));
	migf->state = save ? MVF_MIGF_SAVING : MVF_MIGF_READY;

	buf = mvf_img_buf_alloc(mvdev->mdev, size,
				save ? DMA_FROM_DEVICE : DMA_TO_DEVICE);
	if (IS_ERR(buf)) {
		mvf_migf_put(migf);
		return ERR_CAST(buf);
	}
	migf->buf = buf;

	filp = anon_inode_getfile(save ? "[mvf_save]" : "[mvf_resume]",
				  save ? &mvf_save_fops : &mvf_resume_fops,
				  migf, save ? O_RDONLY : O_WRONLY);
	if (IS_ERR(filp)) {
		mvf_migf_put(migf);
		return ERR_CAST(filp);
	}
	/* A byte stream: no seeking, no pread/pwrite. */
	stream_open(filp->f_inode, filp);
	migf->filp = filp;
	return migf;
}

/* ------------------------------------------------------------------ */
/* Arcs                                                                */
/* ------------------------------------------------------------------ */

static void mvf_save_done(struct mvf_cmd *cmd)
{
	struct mvf_migf *migf = cmd->priv;
	u64 len = mvf_cmd_out_u64(cmd, 0);
	int err = cmd->err;

	if (!err && !len)
		err = -EIO;

	spin_lock(&migf->state_lock);
	if (migf->state == MVF_MIGF_SAVING) {
		if (err) {
			migf->state = MVF_MIGF_ERROR;
		} else {
			migf->len = len;
			migf->state = MVF_MIGF_READY;
		}
	}
	spin_unlock(&migf->state_lock);

	if (err)
		dev_err_ratelimited(migf->dev,
				    "SAVE failed: %pe (status %s, syndrome %s)\n",
				    ERR_PTR(err),
				    mvf_core_status_name(cmd->status),
				    mvf_core_syndrome_name(cmd->syndrome));
	else
		dev_dbg(migf->dev, "SAVE done: %llu bytes\n", len);

	wake_up_interruptible_all(&migf->wq);
	mvf_migf_put(migf);
}

static struct file *mvf_lm_save_begin(struct mvf_vfio_dev *mvdev)
{
	struct mvf_migf *migf;
	u64 size;
	int ret;

	ret = mvf_cmds_query_size(mvdev, &size);
	if (ret)
		return ERR_PTR(ret);
	if (!size || size > U32_MAX) {
		dev_err(mvf_vfio_dev(mvdev), "device asks for a %llu byte image\n",
			size);
		return ERR_PTR(-EIO);
	}

	migf = mvf_migf_create(mvdev, true, size);
	if (IS_ERR(migf))
		return ERR_CAST(migf);

	kref_get(&migf->ref);		/* for the SAVE in flight */
	ret = mvf_cmds_save_start(mvdev, migf, mvf_save_done);
	if (ret) {
		mvf_migf_put(migf);
		fput(migf->filp);
		return ERR_PTR(ret);
	}

	get_file(migf->filp);		/* ours; vfio installs the other */
	mvdev->save_file = migf;
	return migf->filp;
}

static struct file *mvf_lm_resume_begin(struct mvf_vfio_dev *mvdev)
{
	size_t size = mvf_core_max_image_size(mvdev->mdev);
	struct mvf_migf *migf;
	u64 now;

	/* Our own image size is a floor, should the device know better. */
	if (mvf_cmds_query_size(mvdev, &now))
		now = 0;
	else if (now > size && now <= U32_MAX)
		size = now;

	migf = mvf_migf_create(mvdev, false, size);
	if (IS_ERR(migf))
		return ERR_CAST(migf);
	if (now <= size)
		migf->expect_len = now;

	get_file(migf->filp);
	mvdev->resume_file = migf;
	return migf->filp;
}

/* RESUMING -> STOP: check what was written and load it. */
static int mvf_lm_load(struct mvf_vfio_dev *mvdev)
{
	struct mvf_migf *migf = mvdev->resume_file;
	struct device *dev = mvf_vfio_dev(mvdev);
	struct mvf_img_header hdr;
	struct mvf_img_buf *buf;
	int ret;

	/* RESUMING always has its file; not to trust that blindly: */
	if (WARN_ON_ONCE(!migf))
		return -EIO;

	mutex_lock(&migf->io_lock);
	switch (mvf_migf_get_buf(migf, &buf)) {
	case MVF_MIGF_READY:
		break;
	case MVF_MIGF_ENDED:
		ret = -ENODEV;
		goto out_unlock;
	default:
		dev_err(dev, "resume data was rejected before: not loading\n");
		ret = -EIO;
		goto out_unlock;
	}

	if (!migf->len) {
		dev_err(dev, "no resume data written\n");
		ret = -ENODATA;
	} else if (migf->len < sizeof(hdr)) {
		dev_err(dev, "resume data too short for an image: %zu bytes\n",
			migf->len);
		ret = -EINVAL;
	} else {
		ret = mvf_img_buf_read(buf, 0, &hdr, sizeof(hdr));
		if (!ret && le64_to_cpu(hdr.total_len) != migf->len) {
			dev_err(dev, "image header says %llu bytes, %zu written\n",
				le64_to_cpu(hdr.total_len), migf->len);
			ret = -EINVAL;
		}
		if (!ret)
			ret = mvf_cmds_load(mvdev, buf, migf->len);
	}
	mvf_img_buf_put(buf);
out_unlock:
	mutex_unlock(&migf->io_lock);
	return ret;
}

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

static struct file *mvf_lm_step(struct mvf_vfio_dev *mvdev,
				enum vfio_device_mig_state next)
{
	enum vfio_device_mig_state cur = mvdev->mig_state;
	int ret;

	if (cur == VFIO_DEVICE_STATE_RUNNING &&
	    next == VFIO_DEVICE_STATE_RUNNING_P2P)
		return mvf_errptr(mvf_cmds_suspend(mvdev, MVF_SUSPEND_INITIATOR));

	if (cur == VFIO_DEVICE_STATE_RUNNING_P2P &&
	    next == VFIO_DEVICE_STATE_STOP) {
		mvf_bars_revoke(mvdev);
		return mvf_errptr(mvf_cmds_suspend(mvdev, MVF_SUSPEND_RESPONDER));
	}

	if (cur == VFIO_DEVICE_STATE_STOP &&
	    next == VFIO_DEVICE_STATE_RUNNING_P2P) {
		ret = mvf_cmds_resume(mvdev, MVF_SUSPEND_RESPONDER);
		if (!ret)
			mvf_bars_restore(mvdev);
		return mvf_errptr(ret);
	}

	if (cur == VFIO_DEVICE_STATE_RUNNING_P2P &&
	    next == VFIO_DEVICE_STATE_RUNNING)
		return mvf_errptr(mvf_cmds_resume(mvdev, MVF_SUSPEND_INITIATOR));

	/* Devices without P2P: both halves in one arc. */
	if (cur == VFIO_DEVICE_STATE_RUNNING &&
	    next == VFIO_DEVICE_STATE_STOP) {
		mvf_bars_revoke(mvdev);
		ret = mvf_cmds_suspend(mvdev, MVF_SUSPEND_INITIATOR);
		if (!ret)
			ret = mvf_cmds_suspend(mvdev, MVF_SUSPEND_RESPONDER);
		return mvf_errptr(ret);
	}
	if (cur == VFIO_DEVICE_STATE_STOP &&
	    next == VFIO_DEVICE_STATE_RUNNING) {
		ret = mvf_cmds_resume(mvdev, MVF_SUSPEND_RESPONDER);
		if (!ret)
			ret = mvf_cmds_resume(mvdev, MVF_SUSPEND_INITIATOR);
		if (!ret)
			mvf_bars_restore(mvdev);
		return mvf_errptr(ret);
	}

	if (cur == VFIO_DEVICE_STATE_STOP &&
	    next == VFIO_DEVICE_STATE_STOP_COPY)
		return mvf_lm_save_begin(mvdev);

	if (cur == VFIO_DEVICE_STATE_STOP_COPY &&
	    next == VFIO_DEVICE_STATE_STOP) {
		mvf_lm_end_files(mvdev);
		return NULL;
	}

	if (cur == VFIO_DEVICE_STATE_STOP &&
	    next == VFIO_DEVICE_STATE_RESUMING)
		return mvf_lm_resume_begin(mvdev);

	if (cur == VFIO_DEVICE_STATE_RESUMING &&
	    next == VFIO_DEVICE_STATE_STOP) {
		/*
		 * A refused image changed nothing: the VF stays in RESUMING
		 * with its file, which says whether more data could help
		 * (a poisoned file refuses again).
		 */
		ret = mvf_lm_load(mvdev);
		if (!ret)
			mvf_lm_end_files(mvdev);
		return mvf_errptr(ret);
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
	return (cur == VFIO_DEVICE_STATE_RUNNING ||
		cur == VFIO_DEVICE_STATE_RUNNING_P2P ||
		cur == VFIO_DEVICE_STATE_STOP) &&
	       (next == VFIO_DEVICE_STATE_RUNNING ||
		next == VFIO_DEVICE_STATE_RUNNING_P2P ||
		next == VFIO_DEVICE_STATE_STOP);
}

/*
 * A suspend or resume command of an arc failed: ask the device where the
 * VF is and make that the state, with BAR access to match.  ERROR if the
 * device cannot tell, or is somewhere the uAPI has no state for (quiesced
 * on a device without P2P, frozen but not quiesced).
 */
static enum vfio_device_mig_state mvf_lm_recover(struct mvf_vfio_dev *mvdev)
{
	bool p2p = mvf_core_caps(mvdev->mdev) & MVF_CAP_P2P;
	u32 st;

	if (mvdev->pf_gone || mvf_cmds_query_state(mvdev, &st))
		return VFIO_DEVICE_STATE_ERROR;

	switch (st & (MVF_VHCA_STATE_QUIESCED | MVF_VHCA_STATE_FROZEN)) {
	case 0:
		mvf_bars_restore(mvdev);
		return VFIO_DEVICE_STATE_RUNNING;
	case MVF_VHCA_STATE_QUIESCED:
		if (!p2p)
			return VFIO_DEVICE_STATE_ERROR;
		mvf_bars_restore(mvdev);
		return VFIO_DEVICE_STATE_RUNNING_P2P;
	case MVF_VHCA_STATE_QUIESCED | MVF_VHCA_STATE_FROZEN:
		mvf_bars_revoke(mvdev);
		return VFIO_DEVICE_STATE_STOP;
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
			dev_err(dev, "migration arc %s -> %s failed: %pe; the state is %s%s\n",
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
	if (!mvdev->migrate_cap)
		return;

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
	if (mvdev->mig_state != VFIO_DEVICE_STATE_RUNNING && !mvdev->pf_gone) {
		if (mvf_cmds_resume(mvdev, MVF_SUSPEND_RESPONDER) ||
		    mvf_cmds_resume(mvdev, MVF_SUSPEND_INITIATOR))
			dev_dbg(mvf_vfio_dev(mvdev),
				"could not resume the VF on close\n");
	}
	/* The reset that follows gives the BARs back too; not to rely on it: */
	mvf_bars_restore(mvdev);
	mvdev->mig_state = VFIO_DEVICE_STATE_RUNNING;
	mvf_state_mutex_unlock(mvdev);
}

/**
 * mvf_lm_pf_gone() - SR-IOV is being disabled under this VF
 * @mvdev: VF device
 *
 * Ends the data files; the state is ERROR until a reset.
 */
void mvf_lm_pf_gone(struct mvf_vfio_dev *mvdev)
{
	if (!mvdev->migrate_cap)
		return;
	mutex_lock(&mvdev->state_mutex);
	mvf_lm_end_files(mvdev);
	mvf_bars_revoke(mvdev);
	mvdev->pf_gone = true;
	mvdev->mig_state = VFIO_DEVICE_STATE_ERROR;
	mvf_state_mutex_unlock(mvdev);
	dev_dbg(mvf_vfio_dev(mvdev), "PF disables SR-IOV: migration ended\n");
}
