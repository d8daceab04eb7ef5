// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF VF vfio-pci variant driver: the migration data files.
 *
 * The stream on both files is the device's own record stream (mvf_if.h,
 * Documentation/mvf/migration-stream.rst), moved in chunks of whole
 * records through a small ring of kernel buffers, so the kernel memory a
 * migration takes does not grow with the VF's state.
 *
 * Save: SAVE_VHCA_STATE fills the chunks in ring order while user space
 * reads the oldest, so the device saves the next chunk while the previous
 * one is copied out.  In PRE_COPY a SAVE that finds nothing changed is a
 * temporary end of stream (read() fails with ENOMSG once the chunks before
 * it are read); the next read() asks the device again.  Once the VF is
 * frozen the SAVEs go on to the END record, then read() returns 0.
 *
 * Resume: write() takes any sizes and splits the stream into records; it
 * checks the first one (IDENT) against this VF at once, so an incompatible
 * source fails the stream while it still runs.  Whole records are packed
 * into the chunk being filled, which goes to LOAD_VHCA_STATE when the next
 * record does not fit or the END record arrived, while write() goes on
 * with the next chunk.  RESUMING -> STOP waits for the LOADs.
 */

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>

#include <linux/mvf/mvf_if.h>

#include "mvf_vfio.h"

static struct mvf_chunk *mvf_chunk_at(struct mvf_migf *migf, unsigned int i)
{
	return &migf->chunks[i % MVF_MIGF_CHUNKS];
}

static void mvf_migf_free(struct kref *ref)
{
	struct mvf_migf *migf = container_of(ref, struct mvf_migf, ref);
	unsigned int i;

	for (i = 0; i < MVF_MIGF_CHUNKS; i++)
		mvf_img_buf_put(migf->chunks[i].buf);
	mvf_core_put(migf->mdev);
	put_device(migf->dev);
	mutex_destroy(&migf->io_lock);
	kfree(migf);
}

static void mvf_migf_put(struct mvf_migf *migf)
{
	kref_put(&migf->ref, mvf_migf_free);
}

/*
 * Stop a data file for good: the file goes to @state (ERROR only if it was
 * still open, with @err) and the chunks are freed; commands still in
 * flight keep their buffers alive through the core until the device is
 * done.  Takes no sleeping lock, so it is safe from the PCI reset path.
 */
static void mvf_migf_stop(struct mvf_migf *migf, enum mvf_migf_state state,
			  int err)
{
	struct mvf_img_buf *bufs[MVF_MIGF_CHUNKS];
	unsigned int i;

	spin_lock(&migf->state_lock);
	if (state == MVF_MIGF_ENDED) {
		migf->state = MVF_MIGF_ENDED;
	} else if (migf->state == MVF_MIGF_OPEN) {
		migf->state = MVF_MIGF_ERROR;
		migf->err = err;
	}
	for (i = 0; i < MVF_MIGF_CHUNKS; i++) {
		bufs[i] = migf->chunks[i].buf;
		migf->chunks[i].buf = NULL;
	}
	spin_unlock(&migf->state_lock);
	wake_up_all(&migf->wq);
	for (i = 0; i < MVF_MIGF_CHUNKS; i++)
		mvf_img_buf_put(bufs[i]);
}

/**
 * mvf_migf_end() - end a data file
 * @migf: the file
 *
 * The device left the data state (or was reset, closed, or lost its PF).
 * Later I/O fails with -ENODEV.  Safe from the PCI reset path.
 */
void mvf_migf_end(struct mvf_migf *migf)
{
	mvf_migf_stop(migf, MVF_MIGF_ENDED, 0);
}

/**
 * mvf_migf_abort() - end a data file that an error broke
 * @migf: the file
 * @err: what the arc that ends it will return
 *
 * Like mvf_migf_end(), but later I/O fails with -EIO: the stream did not
 * end, it was cut.
 */
void mvf_migf_abort(struct mvf_migf *migf, int err)
{
	mvf_migf_stop(migf, MVF_MIGF_ERROR, err);
}

/* The stream is broken: @err for the arc that ends it, EIO for I/O. */
static void mvf_migf_fail(struct mvf_migf *migf, int err)
{
	spin_lock(&migf->state_lock);
	if (migf->state == MVF_MIGF_OPEN) {
		migf->state = MVF_MIGF_ERROR;
		migf->err = err;
	}
	spin_unlock(&migf->state_lock);
	wake_up_all(&migf->wq);
}

/* The errno for I/O on a file that is not open. */
static int mvf_migf_io_errno(enum mvf_migf_state state)
{
	return state == MVF_MIGF_ENDED ? -ENODEV : -EIO;
}

/*
 * Snapshot the file's state and, while it is open, take a reference on
 * chunk @c's buffer so that ending the file cannot free it under the I/O.
 */
static enum mvf_migf_state mvf_chunk_get_buf(struct mvf_migf *migf,
					     struct mvf_chunk *c,
					     struct mvf_img_buf **buf)
{
	enum mvf_migf_state state;

	spin_lock(&migf->state_lock);
	state = migf->state;
	*buf = state == MVF_MIGF_OPEN && c->buf ? mvf_img_buf_get(c->buf) :
						  NULL;
	if (state == MVF_MIGF_OPEN && !*buf)
		state = MVF_MIGF_ENDED;
	spin_unlock(&migf->state_lock);
	return state;
}

/*
 * Hand chunk @c to the device: while the file is open, mark it BUSY and
 * take a reference on its buffer for the command being posted.
 */
static int mvf_chunk_claim(struct mvf_migf *migf, struct mvf_chunk *c,
			   struct mvf_img_buf **buf)
{
	enum mvf_migf_state state;

	spin_lock(&migf->state_lock);
	state = migf->state;
	*buf = state == MVF_MIGF_OPEN && c->buf ? mvf_img_buf_get(c->buf) :
						  NULL;
	if (*buf)
		c->state = MVF_CHUNK_BUSY;
	spin_unlock(&migf->state_lock);
	return *buf ? 0 : mvf_migf_io_errno(state);
}

static int mvf_migf_release(struct inode *inode, struct file *filp)
{
	struct mvf_migf *migf = filp->private_data;

	mvf_migf_end(migf);
	mvf_migf_put(migf);
	return 0;
}

static void mvf_cmd_log_failure(struct mvf_migf *migf, const char *what,
				struct mvf_cmd *cmd)
{
	dev_err_ratelimited(migf->dev, "%s failed: %pe (status %s, syndrome %s)\n",
			    what, ERR_PTR(cmd->err),
			    mvf_core_status_name(cmd->status),
			    mvf_core_syndrome_name(cmd->syndrome));
}

/* ------------------------------------------------------------------ */
/* Save file                                                           */
/* ------------------------------------------------------------------ */

static void mvf_save_done(struct mvf_cmd *cmd)
{
	struct mvf_chunk *c = container_of(cmd, struct mvf_chunk, cmd);
	struct mvf_migf *migf = c->migf;
	bool failed = false;

	spin_lock(&migf->state_lock);
	if (cmd->err) {
		c->state = MVF_CHUNK_FREE;
		if (migf->state == MVF_MIGF_OPEN) {
			migf->state = MVF_MIGF_ERROR;
			migf->err = -EIO;
			failed = true;
		}
	} else {
		/* After END, SAVEs posted behind it write nothing. */
		c->len = mvf_cmd_out_u64(cmd, 0);
		c->pos = 0;
		c->state = MVF_CHUNK_READY;
		if (cmd->out[2] & MVF_SAVE_OUT_END)
			migf->end_seen = true;
	}
	spin_unlock(&migf->state_lock);

	if (failed)
		mvf_cmd_log_failure(migf, "SAVE", cmd);
	wake_up_all(&migf->wq);
	mvf_migf_put(migf);
}

/* Post a SAVE into the chunk at tail.  Called with io_lock held. */
static int mvf_save_post(struct mvf_migf *migf)
{
	struct mvf_chunk *c = mvf_chunk_at(migf, migf->tail);
	struct mvf_img_buf *buf;
	int ret;

	/* free, past tail: no reader and no completion looks at it */
	c->len = 0;
	c->pos = 0;
	ret = mvf_chunk_claim(migf, c, &buf);
	if (ret)
		return ret;

	c->cmd.done = mvf_save_done;
	kref_get(&migf->ref);
	ret = mvf_core_save_async(migf->mdev, migf->vhca_id, buf,
				  migf->started ? 0 : MVF_SAVE_F_START,
				  &c->cmd);
	mvf_img_buf_put(buf);
	if (ret) {
		spin_lock(&migf->state_lock);
		c->state = MVF_CHUNK_FREE;
		spin_unlock(&migf->state_lock);
		mvf_migf_put(migf);
		mvf_migf_fail(migf, ret);
		return ret;
	}
	migf->started = true;
	migf->tail++;
	return 0;
}

/* Keep the device saving into every free chunk.  io_lock held. */
static int mvf_save_fill(struct mvf_migf *migf)
{
	int ret = 0;

	while (!ret && migf->tail - migf->head < MVF_MIGF_CHUNKS &&
	       !READ_ONCE(migf->end_seen) && !migf->clean)
		ret = mvf_save_post(migf);
	return ret;
}

static bool mvf_save_head_busy(struct mvf_migf *migf)
{
	struct mvf_chunk *c = mvf_chunk_at(migf, migf->head);
	bool busy;

	spin_lock(&migf->state_lock);
	busy = migf->state == MVF_MIGF_OPEN && migf->head != migf->tail &&
	       c->state == MVF_CHUNK_BUSY;
	spin_unlock(&migf->state_lock);
	return busy;
}

/*
 * One step of a read: copy what the head chunk has, or say why not.
 * Returns bytes copied (> 0), 0 at the end of the stream, -EAGAIN when the
 * device still works on the head chunk, or another negative errno.
 * Called with io_lock held.
 */
static ssize_t mvf_save_read_step(struct mvf_migf *migf, char __user *ubuf,
				  size_t len)
{
	struct mvf_chunk *c;
	struct mvf_img_buf *buf;
	enum mvf_migf_state state;
	bool busy;
	size_t n;
	int ret;

	for (;;) {
		spin_lock(&migf->state_lock);
		state = migf->state;
		spin_unlock(&migf->state_lock);
		if (state != MVF_MIGF_OPEN)
			return mvf_migf_io_errno(state);
		if (migf->head == migf->tail) {
			if (READ_ONCE(migf->end_seen))
				return 0;
			if (migf->precopy && migf->clean) {
				/* Asked again by the next read(). */
				migf->clean = false;
				return -ENOMSG;
			}
			ret = mvf_save_fill(migf);
			if (ret)
				return ret;
		}

		c = mvf_chunk_at(migf, migf->head);
		spin_lock(&migf->state_lock);
		state = migf->state;
		if (state == MVF_MIGF_OPEN && !c->buf)
			state = MVF_MIGF_ENDED;
		busy = c->state == MVF_CHUNK_BUSY;
		buf = state == MVF_MIGF_OPEN && !busy ?
		      mvf_img_buf_get(c->buf) : NULL;
		spin_unlock(&migf->state_lock);
		if (state != MVF_MIGF_OPEN)
			return mvf_migf_io_errno(state);
		if (busy)
			return -EAGAIN;

		/* READY: len was written before, under state_lock. */
		n = min(len, c->len - c->pos);
		ret = n ? mvf_img_buf_copy_to_user(buf, c->pos, ubuf, n) : 0;
		mvf_img_buf_put(buf);
		if (ret)
			return ret;
		c->pos += n;
		migf->stream_bytes += n;
		if (c->pos == c->len) {
			if (!c->len && migf->precopy)
				migf->clean = true;
			spin_lock(&migf->state_lock);
			c->state = MVF_CHUNK_FREE;
			spin_unlock(&migf->state_lock);
			migf->head++;
			ret = mvf_save_fill(migf);
			if (ret && !n)
				return ret;
		}
		if (n)
			return n;
	}
}

static ssize_t mvf_save_read(struct file *filp, char __user *ubuf, size_t len,
			     loff_t *ppos)
{
	struct mvf_migf *migf = filp->private_data;
	ssize_t done = 0, ret;

	if (ppos)
		return -ESPIPE;

	while (done < len) {
		if (mutex_lock_interruptible(&migf->io_lock))
			return done ?: -ERESTARTSYS;
		ret = mvf_save_read_step(migf, ubuf + done, len - done);
		mutex_unlock(&migf->io_lock);
		if (ret > 0) {
			done += ret;
			continue;
		}
		if (ret != -EAGAIN || done)
			return done ?: ret;
		if (filp->f_flags & O_NONBLOCK)
			return -EAGAIN;
		if (wait_event_interruptible(migf->wq,
					     !mvf_save_head_busy(migf)))
			return -ERESTARTSYS;
	}
	return done;
}

static __poll_t mvf_save_poll(struct file *filp, struct poll_table_struct *wait)
{
	struct mvf_migf *migf = filp->private_data;
	__poll_t mask = EPOLLIN | EPOLLRDNORM;

	poll_wait(filp, &migf->wq, wait);
	spin_lock(&migf->state_lock);
	if (migf->state != MVF_MIGF_OPEN)
		mask |= EPOLLERR;
	else if (migf->head != migf->tail &&
		 mvf_chunk_at(migf, migf->head)->state == MVF_CHUNK_BUSY)
		mask = 0;
	spin_unlock(&migf->state_lock);
	return mask;
}

/* Bytes in chunks the device filled that were not read yet. */
static u64 mvf_save_unread(struct mvf_migf *migf)
{
	u64 bytes = 0;
	unsigned int i;

	spin_lock(&migf->state_lock);
	for (i = migf->head; i != migf->tail; i++) {
		struct mvf_chunk *c = mvf_chunk_at(migf, i);

		if (c->state == MVF_CHUNK_READY)
			bytes += c->len - c->pos;
	}
	spin_unlock(&migf->state_lock);
	return bytes;
}

/**
 * mvf_save_pending() - stream bytes still to come, were the VF stopped now
 * @migf: save file
 * @bytes: result: what the device has left up to END, plus what it wrote
 *	into chunks that were not read yet
 *
 * Return: 0 or a negative errno.
 */
int mvf_save_pending(struct mvf_migf *migf, u64 *bytes)
{
	u64 dev_bytes = 0;
	int ret = 0;

	mutex_lock(&migf->io_lock);
	if (!READ_ONCE(migf->end_seen))
		ret = mvf_core_query_mig_state(migf->mdev, migf->vhca_id, 0,
					       &dev_bytes, NULL);
	if (!ret)
		*bytes = dev_bytes + mvf_save_unread(migf);
	mutex_unlock(&migf->io_lock);
	return ret;
}

static int mvf_save_precopy_info(struct mvf_migf *migf, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	struct vfio_precopy_info info;
	u64 dev_bytes, pending, initial_left;
	int ret;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;

	mutex_lock(&migf->io_lock);
	if (!migf->precopy) {
		ret = -EINVAL;
		goto out_unlock;
	}
	/* The device runs it after every SAVE posted so far completed. */
	ret = mvf_core_query_mig_state(migf->mdev, migf->vhca_id,
				       MVF_QUERY_F_INCREMENTAL, &dev_bytes,
				       NULL);
	if (ret)
		goto out_unlock;

	spin_lock(&migf->state_lock);
	if (migf->state != MVF_MIGF_OPEN)
		ret = mvf_migf_io_errno(migf->state);
	spin_unlock(&migf->state_lock);
	if (ret)
		goto out_unlock;
	pending = dev_bytes + mvf_save_unread(migf);

	initial_left = migf->initial_bytes > migf->stream_bytes ?
		       migf->initial_bytes - migf->stream_bytes : 0;
	info.initial_bytes = min(pending, initial_left);
	info.dirty_bytes = pending - info.initial_bytes;
	info.flags = 0;
	if (copy_to_user(arg, &info, minsz))
		ret = -EFAULT;
out_unlock:
	mutex_unlock(&migf->io_lock);
	return ret;
}

static long mvf_save_ioctl(struct file *filp, unsigned int cmd,
			   unsigned long arg)
{
	struct mvf_migf *migf = filp->private_data;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	return mvf_save_precopy_info(migf, (void __user *)arg);
}

static const struct file_operations mvf_save_fops = {
	.owner = THIS_MODULE,
	.read = mvf_save_read,
	.poll = mvf_save_poll,
	.unlocked_ioctl = mvf_save_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = mvf_migf_release,
};

/**
 * mvf_save_set_precopy() - the device enters or leaves the pre-copy states
 * @migf: save file
 * @precopy: true in PRE_COPY and PRE_COPY_P2P, false once the VF is frozen
 *	(STOP_COPY): from then on the SAVEs go on to the END record
 */
void mvf_save_set_precopy(struct mvf_migf *migf, bool precopy)
{
	mutex_lock(&migf->io_lock);
	migf->precopy = precopy;
	migf->clean = false;
	mutex_unlock(&migf->io_lock);
	wake_up_all(&migf->wq);
}

/* ------------------------------------------------------------------ */
/* Resume file                                                         */
/* ------------------------------------------------------------------ */

static void mvf_load_done(struct mvf_cmd *cmd)
{
	struct mvf_chunk *c = container_of(cmd, struct mvf_chunk, cmd);
	struct mvf_migf *migf = c->migf;
	bool failed = false;

	spin_lock(&migf->state_lock);
	c->state = MVF_CHUNK_FREE;
	c->len = 0;
	migf->head++;
	if (cmd->err) {
		if (migf->state == MVF_MIGF_OPEN) {
			migf->state = MVF_MIGF_ERROR;
			/* a refused stream is EINVAL, as the device says */
			migf->err = cmd->err;
			failed = true;
		}
	} else if (cmd->out[2] & MVF_LOAD_OUT_END) {
		migf->loaded_end = true;
	}
	spin_unlock(&migf->state_lock);

	if (failed)
		mvf_cmd_log_failure(migf, "LOAD", cmd);
	wake_up_all(&migf->wq);
	mvf_migf_put(migf);
}

/* Send the chunk being filled to the device.  io_lock held. */
static int mvf_resume_post(struct mvf_migf *migf)
{
	struct mvf_chunk *c = mvf_chunk_at(migf, migf->tail);
	struct mvf_img_buf *buf;
	int ret;

	if (c->state != MVF_CHUNK_FILLING || !c->len)
		return 0;

	ret = mvf_chunk_claim(migf, c, &buf);
	if (ret)
		return ret;

	c->cmd.done = mvf_load_done;
	kref_get(&migf->ref);
	ret = mvf_core_load_async(migf->mdev, migf->vhca_id, buf, c->len,
				  migf->started ? 0 : MVF_LOAD_F_START,
				  &c->cmd);
	mvf_img_buf_put(buf);
	if (ret) {
		spin_lock(&migf->state_lock);
		c->state = MVF_CHUNK_FILLING;
		spin_unlock(&migf->state_lock);
		mvf_migf_put(migf);
		mvf_migf_fail(migf, -EIO);
		return ret;
	}
	migf->started = true;
	migf->tail++;
	return 0;
}

static bool mvf_resume_tail_free(struct mvf_migf *migf)
{
	bool free;

	spin_lock(&migf->state_lock);
	free = migf->state != MVF_MIGF_OPEN ||
	       migf->tail - migf->head < MVF_MIGF_CHUNKS;
	spin_unlock(&migf->state_lock);
	return free;
}

/*
 * A record header is complete: check its framing and find room for the
 * whole record in the chunk being filled, sending that chunk to the
 * device first if the record does not fit.  May wait for a LOAD to free a
 * chunk.  io_lock held.
 */
static int mvf_resume_rec_begin(struct mvf_migf *migf)
{
	const struct mvf_rec_hdr *h = (const void *)migf->hdr;
	u64 len = le64_to_cpu(h->len);
	struct mvf_chunk *c;
	struct mvf_img_buf *buf;
	enum mvf_migf_state state;
	size_t total;
	int ret;

	migf->rec_tag = le16_to_cpu(h->tag);
	if (!migf->ident_ok && migf->rec_tag != MVF_REC_IDENT) {
		dev_err_ratelimited(migf->dev, "resume data does not start with an MVF stream (first record tag %#x)\n",
				    migf->rec_tag);
		return -EINVAL;
	}
	if (len > MVF_REC_MAX_SIZE - MVF_REC_HDR_SIZE) {
		dev_err_ratelimited(migf->dev, "record %#x of %llu bytes: an MVF device writes %lu at most\n",
				    migf->rec_tag, len,
				    (unsigned long)(MVF_REC_MAX_SIZE - MVF_REC_HDR_SIZE));
		return -EINVAL;
	}
	migf->rec_len = len;
	migf->rec_left = ALIGN(len, MVF_REC_ALIGN);
	total = MVF_REC_HDR_SIZE + migf->rec_left;

	c = mvf_chunk_at(migf, migf->tail);
	if (c->state == MVF_CHUNK_FILLING && c->len + total > MVF_CHUNK_SIZE) {
		ret = mvf_resume_post(migf);
		if (ret)
			return ret;
		c = mvf_chunk_at(migf, migf->tail);
	}
	if (c->state != MVF_CHUNK_FILLING) {
		/* The chunk at tail is free once its LOAD completed. */
		if (wait_event_interruptible(migf->wq,
					     mvf_resume_tail_free(migf)))
			return -ERESTARTSYS;
		c->state = MVF_CHUNK_FILLING;
		c->len = 0;
	}

	state = mvf_chunk_get_buf(migf, c, &buf);
	if (state != MVF_MIGF_OPEN)
		return mvf_migf_io_errno(state);
	ret = mvf_img_buf_write(buf, c->len, migf->hdr, MVF_REC_HDR_SIZE);
	mvf_img_buf_put(buf);
	if (ret)
		return ret;
	c->len += MVF_REC_HDR_SIZE;
	migf->in_rec = true;
	return 0;
}

/* Check the IDENT record against this VF. */
static int mvf_resume_check_ident(struct mvf_migf *migf,
				  const struct mvf_rec_ident *id)
{
	/* IDENT carries only the caps the VF's state depends on. */
	u32 caps = mvf_core_caps(migf->mdev) & MVF_CAP_STREAM_MASK;
	u64 devmem = mvf_core_devmem_size(migf->mdev);
	u32 ifv = le32_to_cpu(id->if_version);

	if (le32_to_cpu(id->magic) != MVF_STREAM_MAGIC) {
		dev_err_ratelimited(migf->dev, "resume data is not an MVF stream (magic 0x%08x)\n",
				    le32_to_cpu(id->magic));
	} else if (le16_to_cpu(id->version_major) != MVF_STREAM_VERSION_MAJOR) {
		dev_err_ratelimited(migf->dev, "stream version %u.%u: this VF takes version %u.x\n",
				    le16_to_cpu(id->version_major),
				    le16_to_cpu(id->version_minor),
				    MVF_STREAM_VERSION_MAJOR);
	} else if (le16_to_cpu(id->vendor_id) != MVF_PCI_VENDOR_ID ||
		   le16_to_cpu(id->device_id) != MVF_PCI_DEVICE_ID_VF) {
		dev_err_ratelimited(migf->dev, "stream of a %04x:%04x device, not of an MVF VF\n",
				    le16_to_cpu(id->vendor_id), le16_to_cpu(id->device_id));
	} else if (ifv >> 16 != MVF_IF_VERSION_MAJOR) {
		dev_err_ratelimited(migf->dev, "stream of device interface %u.%u: this VF speaks %u.x\n",
				    ifv >> 16, ifv & 0xffff, MVF_IF_VERSION_MAJOR);
	} else if (le32_to_cpu(id->caps) & ~caps) {
		dev_err_ratelimited(migf->dev, "stream needs device caps %#x: this VF has %#x\n",
				    le32_to_cpu(id->caps), caps);
	} else if (le32_to_cpu(id->page_size) != MVF_DEVMEM_PAGE_SIZE) {
		dev_err_ratelimited(migf->dev, "stream of %u byte pages: this VF uses %u\n",
				    le32_to_cpu(id->page_size), MVF_DEVMEM_PAGE_SIZE);
	} else if (le64_to_cpu(id->devmem_size) != devmem) {
		dev_err_ratelimited(migf->dev, "stream of a VF with %llu bytes of device memory: this VF has %llu\n",
				    le64_to_cpu(id->devmem_size), devmem);
	} else {
		return 0;
	}
	return -EINVAL;
}

/* A record is complete in the chunk being filled.  io_lock held. */
static int mvf_resume_rec_done(struct mvf_migf *migf)
{
	struct mvf_chunk *c = mvf_chunk_at(migf, migf->tail);
	size_t off = c->len - ALIGN(migf->rec_len, MVF_REC_ALIGN);
	struct mvf_img_buf *buf;
	enum mvf_migf_state state;
	union {
		struct mvf_rec_ident ident;
		struct mvf_rec_size size;
	} p;
	int ret = 0;

	migf->in_rec = false;
	migf->hdr_len = 0;

	switch (migf->rec_tag) {
	case MVF_REC_IDENT:
	case MVF_REC_SIZE:
		if (migf->rec_tag == MVF_REC_IDENT && migf->ident_ok)
			break;
		if (migf->rec_len < (migf->rec_tag == MVF_REC_IDENT ?
				     sizeof(p.ident) : sizeof(p.size))) {
			dev_err_ratelimited(migf->dev, "record %#x too short: %llu bytes\n",
					    migf->rec_tag, migf->rec_len);
			return -EINVAL;
		}
		state = mvf_chunk_get_buf(migf, c, &buf);
		if (state != MVF_MIGF_OPEN)
			return mvf_migf_io_errno(state);
		ret = mvf_img_buf_read(buf, off, &p,
				       migf->rec_tag == MVF_REC_IDENT ?
				       sizeof(p.ident) : sizeof(p.size));
		mvf_img_buf_put(buf);
		if (ret)
			return ret;
		if (migf->rec_tag == MVF_REC_SIZE) {
			dev_dbg(migf->dev, "the source announces a %llu byte stream\n",
				le64_to_cpu(p.size.stream_bytes));
			break;
		}
		ret = mvf_resume_check_ident(migf, &p.ident);
		if (!ret)
			migf->ident_ok = true;
		break;
	case MVF_REC_END:
		migf->rec_end = true;
		ret = mvf_resume_post(migf);
		break;
	}
	return ret;
}

/*
 * One step of a write: take what fits the current record header or
 * payload.  Returns bytes taken (>= 0) or a negative errno.  io_lock held.
 */
static ssize_t mvf_resume_write_step(struct mvf_migf *migf,
				     const char __user *ubuf, size_t len)
{
	struct mvf_chunk *c;
	struct mvf_img_buf *buf;
	enum mvf_migf_state state;
	size_t n;
	int ret;

	/* END is the last record: not one byte may follow it */
	if (migf->rec_end) {
		dev_err_ratelimited(migf->dev, "resume data after the END record\n");
		return -EINVAL;
	}

	if (!migf->in_rec && migf->hdr_len == MVF_REC_HDR_SIZE) {
		/* a header taken by an earlier, interrupted, write */
		ret = mvf_resume_rec_begin(migf);
		if (ret)
			return ret;
		return migf->rec_left ? 0 : mvf_resume_rec_done(migf);
	}

	if (!migf->in_rec) {
		n = min_t(size_t, len, MVF_REC_HDR_SIZE - migf->hdr_len);
		if (copy_from_user(migf->hdr + migf->hdr_len, ubuf, n))
			return -EFAULT;
		migf->hdr_len += n;
		if (migf->hdr_len == MVF_REC_HDR_SIZE) {
			ret = mvf_resume_rec_begin(migf);
			/* interrupted: the header waits for the next write */
			if (ret == -ERESTARTSYS)
				return n;
			if (ret)
				return ret;
			if (!migf->rec_left) {
				ret = mvf_resume_rec_done(migf);
				if (ret)
					return ret;
			}
		}
		return n;
	}

	c = mvf_chunk_at(migf, migf->tail);
	n = min_t(u64, len, migf->rec_left);
	state = mvf_chunk_get_buf(migf, c, &buf);
	if (state != MVF_MIGF_OPEN)
		return mvf_migf_io_errno(state);
	ret = mvf_img_buf_copy_from_user(buf, c->len, ubuf, n);
	mvf_img_buf_put(buf);
	if (ret)
		return ret;
	c->len += n;
	migf->rec_left -= n;
	if (!migf->rec_left) {
		ret = mvf_resume_rec_done(migf);
		if (ret)
			return ret;
	}
	return n;
}

static ssize_t mvf_resume_write(struct file *filp, const char __user *ubuf,
				size_t len, loff_t *ppos)
{
	struct mvf_migf *migf = filp->private_data;
	ssize_t done = 0, ret = 0;
	enum mvf_migf_state state;

	if (ppos)
		return -ESPIPE;

	if (mutex_lock_interruptible(&migf->io_lock))
		return -ERESTARTSYS;
	spin_lock(&migf->state_lock);
	state = migf->state;
	spin_unlock(&migf->state_lock);
	if (state != MVF_MIGF_OPEN) {
		ret = mvf_migf_io_errno(state);
		goto out_unlock;
	}

	while (done < len) {
		ret = mvf_resume_write_step(migf, ubuf + done, len - done);
		if (ret < 0)
			break;
		done += ret;
		migf->stream_bytes += ret;
		ret = 0;
	}
	if (ret == -EFAULT || ret == -ERESTARTSYS) {
		/* nothing taken is lost: the fd stays usable */
		ret = done ?: ret;
	} else if (ret < 0) {
		/* a stream this VF cannot take: no retry can help */
		mvf_migf_fail(migf, -EIO);
	} else {
		ret = done;
	}
out_unlock:
	mutex_unlock(&migf->io_lock);
	return ret;
}

static const struct file_operations mvf_resume_fops = {
	.owner = THIS_MODULE,
	.write = mvf_resume_write,
	.release = mvf_migf_release,
};

static bool mvf_resume_idle(struct mvf_migf *migf)
{
	bool idle;

	spin_lock(&migf->state_lock);
	idle = migf->head == migf->tail;
	spin_unlock(&migf->state_lock);
	return idle;
}

/**
 * mvf_resume_finish() - RESUMING -> STOP: the stream must be complete
 * @migf: resume file
 *
 * Sends what is still in the chunk being filled, waits for every LOAD and
 * checks that the device took the END record.
 *
 * Return: 0; -ENODATA if nothing was written; -EINVAL for a stream that is
 * cut short (no END record) or that the device refused; -EIO for a file
 * that a write() refused or a LOAD that failed otherwise; -ENODEV if the
 * file was ended.
 */
int mvf_resume_finish(struct mvf_migf *migf)
{
	bool open;
	int ret = 0;

	mutex_lock(&migf->io_lock);
	spin_lock(&migf->state_lock);
	open = migf->state == MVF_MIGF_OPEN;
	spin_unlock(&migf->state_lock);
	/* a broken stream: wait for the LOADs, then say why below */
	if (open && !migf->stream_bytes) {
		dev_err_ratelimited(migf->dev, "no resume data written\n");
		ret = -ENODATA;
	} else if (open && !migf->rec_end) {
		dev_err_ratelimited(migf->dev, "resume data ends after %llu bytes without an END record\n",
				    migf->stream_bytes);
		ret = -EINVAL;
	}
	if (ret)
		goto out_unlock;

	/*
	 * The core times out a LOAD the device sits on, so this ends; it
	 * is not interruptible as the arc cannot be left half done.
	 */
	wait_event(migf->wq, mvf_resume_idle(migf));

	spin_lock(&migf->state_lock);
	if (migf->state == MVF_MIGF_ENDED)
		ret = -ENODEV;
	else if (migf->state == MVF_MIGF_ERROR)
		ret = migf->err ?: -EIO;
	else if (!migf->loaded_end)
		ret = -EIO;
	spin_unlock(&migf->state_lock);
	if (ret == -EIO && !migf->err)
		dev_err_ratelimited(migf->dev, "the device did not take the END record\n");
out_unlock:
	mutex_unlock(&migf->io_lock);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Opening                                                             */
/* ------------------------------------------------------------------ */

static struct mvf_migf *mvf_migf_create(struct mvf_vfio_dev *mvdev,
					bool save)
{
	struct pci_dev *pdev = mvdev->core_device.pdev;
	struct mvf_migf *migf;
	struct file *filp;
	unsigned int i;

	migf = kzalloc_obj(*migf, GFP_KERNEL_ACCOUNT);
	if (!migf)
		return ERR_PTR(-ENOMEM);
	kref_init(&migf->ref);
	mutex_init(&migf->io_lock);
	spin_lock_init(&migf->state_lock);
	init_waitqueue_head(&migf->wq);
	migf->dev = get_device(&pdev->dev);
	migf->save = save;
	migf->vhca_id = mvdev->vhca_id;
	migf->state = MVF_MIGF_OPEN;
	migf->mdev = mvf_core_get(pdev);
	if (IS_ERR(migf->mdev)) {
		filp = ERR_CAST(migf->mdev);
		migf->mdev = NULL;
		goto err_put;
	}

	for (i = 0; i < MVF_MIGF_CHUNKS; i++) {
		struct mvf_chunk *c = &migf->chunks[i];

		c->migf = migf;
		c->buf = mvf_img_buf_alloc(migf->mdev, MVF_CHUNK_SIZE,
					   save ? DMA_FROM_DEVICE :
						  DMA_TO_DEVICE);
		if (IS_ERR(c->buf)) {
			filp = ERR_CAST(c->buf);
			c->buf = NULL;
			goto err_put;
		}
	}

	filp = anon_inode_getfile(save ? "[mvf_save]" : "[mvf_resume]",
				  save ? &mvf_save_fops : &mvf_resume_fops,
				  migf, save ? O_RDONLY : O_WRONLY);
	if (IS_ERR(filp))
		goto err_put;
	/* A byte stream: no seeking, no pread/pwrite. */
	stream_open(filp->f_inode, filp);
	migf->filp = filp;
	return migf;

err_put:
	mvf_migf_put(migf);
	return ERR_CAST(filp);
}

/**
 * mvf_save_open() - open the save file and start saving
 * @mvdev: VF device, state_mutex held
 * @precopy: the VF is running (RUNNING -> PRE_COPY), not stopped
 * @migfp: the file, with a reference for the caller
 *
 * Return: the struct file (with a reference for vfio to install) or an
 * ERR_PTR.
 */
struct file *mvf_save_open(struct mvf_vfio_dev *mvdev, bool precopy,
			   struct mvf_migf **migfp)
{
	struct mvf_migf *migf;
	u64 size;
	int ret;

	migf = mvf_migf_create(mvdev, true);
	if (IS_ERR(migf))
		return ERR_CAST(migf);
	migf->precopy = precopy;

	/*
	 * The first SAVE opens the session; the QUERY after the SAVEs
	 * (the device keeps their order) counts the rest of what it has
	 * now: in pre-copy what a SAVE of the running VF would write, not
	 * the STATE and END only the stop brings.
	 */
	mutex_lock(&migf->io_lock);
	ret = mvf_save_fill(migf);
	if (!ret)
		ret = mvf_core_query_mig_state(migf->mdev, migf->vhca_id,
					       precopy ?
					       MVF_QUERY_F_INCREMENTAL : 0,
					       &size, NULL);
	if (!ret)
		migf->initial_bytes = size + mvf_save_unread(migf);
	mutex_unlock(&migf->io_lock);
	if (ret) {
		mvf_migf_end(migf);
		fput(migf->filp);
		return ERR_PTR(ret);
	}

	get_file(migf->filp);		/* ours; vfio installs the other */
	*migfp = migf;
	return migf->filp;
}

/**
 * mvf_resume_open() - open the resume file
 * @mvdev: VF device, state_mutex held
 * @migfp: the file, with a reference for the caller
 *
 * Return: the struct file (with a reference for vfio to install) or an
 * ERR_PTR.
 */
struct file *mvf_resume_open(struct mvf_vfio_dev *mvdev,
			     struct mvf_migf **migfp)
{
	struct mvf_migf *migf;

	migf = mvf_migf_create(mvdev, false);
	if (IS_ERR(migf))
		return ERR_CAST(migf);

	get_file(migf->filp);
	*migfp = migf;
	return migf->filp;
}
