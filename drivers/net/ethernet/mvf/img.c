// SPDX-License-Identifier: GPL-2.0-only
/*
 * MVF PF core driver: VF state image buffers.
 *
 * An image buffer is a list of page blocks (order 0 up to MVF_IMG_MAX_ORDER,
 * whatever the allocator gives) that stay DMA-mapped for the PF for the life
 * of the buffer, plus the device scatter list describing them: one page per
 * table of struct mvf_sge, tables linked with MVF_SGE_F_CHAIN entries and
 * mapped for the device as well.  The buffer is reference counted because
 * the command interface keeps it alive for as long as the device may access
 * it, independently of its owner.
 *
 * Data is addressed by byte offset.  VF drivers use a few small buffers
 * per migration, whatever the VF's state size: SAVE and LOAD move the
 * stream in chunks of whole records.
 *
 * All buffers' pages (data and scatter list tables) are counted, with the
 * peak, so that what a migration costs in kernel memory can be measured
 * (mvf_img_bytes(), debugfs "img_bytes").
 */

#include <linux/dma-mapping.h>
#include <linux/highmem.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "mvf_core.h"

#define MVF_IMG_MAX_ORDER	8	/* 1 MiB blocks at most */
#define MVF_SGES_PER_TABLE	(PAGE_SIZE / sizeof(struct mvf_sge))
/* Stay within the device's chain depth: at most DEPTH - 1 links. */
#define MVF_SGL_MAX_TABLES	MVF_SGL_MAX_DEPTH
#define MVF_SGL_MAX_SGES	((MVF_SGL_MAX_TABLES - 1) * \
				 (MVF_SGES_PER_TABLE - 1) + MVF_SGES_PER_TABLE)

static atomic64_t mvf_img_cur = ATOMIC64_INIT(0);
static atomic64_t mvf_img_peak = ATOMIC64_INIT(0);

static void mvf_img_account(long long bytes)
{
	s64 now = atomic64_add_return(bytes, &mvf_img_cur);
	s64 peak = atomic64_read(&mvf_img_peak);

	while (now > peak) {
		s64 old = atomic64_cmpxchg(&mvf_img_peak, peak, now);

		if (old == peak)
			break;
		peak = old;
	}
}

/**
 * mvf_img_bytes() - kernel memory held by image buffers
 * @peak: if not NULL, set to the most held at any time since module load
 *	or the last reset of the peak
 * @reset_peak: start a new peak at the current value (after reading it)
 *
 * Counts the pages of every buffer's data and scatter list, of all
 * devices.
 *
 * Return: the bytes held now.
 */
u64 mvf_img_bytes(u64 *peak, bool reset_peak)
{
	s64 now = atomic64_read(&mvf_img_cur);

	if (peak)
		*peak = atomic64_read(&mvf_img_peak);
	if (reset_peak)
		atomic64_set(&mvf_img_peak, now);
	return now;
}
EXPORT_SYMBOL_GPL(mvf_img_bytes);

struct mvf_img_chunk {
	struct page *page;
	unsigned int order;
	u32 len;		/* image bytes in this block */
	dma_addr_t dma;
};

struct mvf_sgl_table {
	struct page *page;
	dma_addr_t dma;
	u32 len;		/* bytes of entries used */
};

struct mvf_img_buf {
	struct kref ref;
	struct mvf_core_dev *core;	/* reference held */
	enum dma_data_direction dir;
	size_t size;
	unsigned int nr_chunks;
	struct mvf_img_chunk *chunks;
	unsigned int nr_tables;
	struct mvf_sgl_table tables[MVF_SGL_MAX_TABLES];
};

static void mvf_img_buf_free(struct mvf_img_buf *buf)
{
	struct device *dev = mvf_dev(buf->core);
	unsigned int i;

	for (i = 0; i < buf->nr_tables; i++) {
		dma_unmap_page(dev, buf->tables[i].dma, PAGE_SIZE,
			       DMA_TO_DEVICE);
		__free_page(buf->tables[i].page);
		mvf_img_account(-PAGE_SIZE);
	}
	for (i = 0; i < buf->nr_chunks; i++) {
		struct mvf_img_chunk *c = &buf->chunks[i];

		dma_unmap_page(dev, c->dma, PAGE_SIZE << c->order, buf->dir);
		__free_pages(c->page, c->order);
		mvf_img_account(-(PAGE_SIZE << c->order));
	}
	kvfree(buf->chunks);
	mvf_core_put(buf->core);
	kfree(buf);
}

static void mvf_img_buf_release(struct kref *ref)
{
	mvf_img_buf_free(container_of(ref, struct mvf_img_buf, ref));
}

static int mvf_img_alloc_chunks(struct mvf_img_buf *buf,
				unsigned int max_chunks)
{
	struct device *dev = mvf_dev(buf->core);
	unsigned int order = MVF_IMG_MAX_ORDER;
	size_t left = buf->size;

	while (left) {
		unsigned long pages = DIV_ROUND_UP(left, PAGE_SIZE);
		unsigned int o = min_t(unsigned int, order, ilog2(pages));
		gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_ZERO;
		struct mvf_img_chunk *c;
		struct page *page;
		dma_addr_t dma;

		if (buf->nr_chunks == max_chunks)
			return -ENOMEM;	/* too fragmented for the SGL */
		if (o)
			gfp |= __GFP_NORETRY | __GFP_NOWARN;
		page = alloc_pages(gfp, o);
		if (!page) {
			if (!o)
				return -ENOMEM;
			order = o - 1;
			continue;
		}
		dma = dma_map_page(dev, page, 0, PAGE_SIZE << o, buf->dir);
		if (dma_mapping_error(dev, dma)) {
			__free_pages(page, o);
			return -ENOMEM;
		}
		mvf_img_account(PAGE_SIZE << o);
		c = &buf->chunks[buf->nr_chunks++];
		c->page = page;
		c->order = o;
		c->dma = dma;
		c->len = min_t(size_t, left, PAGE_SIZE << o);
		left -= c->len;
	}
	return 0;
}

static int mvf_img_build_sgl(struct mvf_img_buf *buf)
{
	struct device *dev = mvf_dev(buf->core);
	unsigned int n = buf->nr_chunks;
	unsigned int per = MVF_SGES_PER_TABLE;
	unsigned int nr_tables, t, i, c = 0;

	nr_tables = n <= per ? 1 : 1 + DIV_ROUND_UP(n - per, per - 1);
	if (nr_tables > MVF_SGL_MAX_TABLES)
		return -E2BIG;

	for (t = 0; t < nr_tables; t++) {
		struct mvf_sgl_table *tbl = &buf->tables[t];
		unsigned int nents = t == nr_tables - 1 ?
				     n - t * (per - 1) : per;

		tbl->page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!tbl->page)
			return -ENOMEM;
		tbl->dma = dma_map_page(dev, tbl->page, 0, PAGE_SIZE,
					DMA_TO_DEVICE);
		if (dma_mapping_error(dev, tbl->dma)) {
			__free_page(tbl->page);
			return -ENOMEM;
		}
		mvf_img_account(PAGE_SIZE);
		tbl->len = nents * sizeof(struct mvf_sge);
		buf->nr_tables++;
	}

	for (t = 0; t < nr_tables; t++) {
		struct mvf_sge *sge = page_address(buf->tables[t].page);
		bool last = t == nr_tables - 1;
		unsigned int data = last ? n - c : per - 1;

		for (i = 0; i < data; i++, c++) {
			sge[i].addr = cpu_to_le64(buf->chunks[c].dma);
			sge[i].len = cpu_to_le32(buf->chunks[c].len);
			sge[i].flags = 0;
		}
		if (!last) {
			sge[i].addr = cpu_to_le64(buf->tables[t + 1].dma);
			sge[i].len = cpu_to_le32(buf->tables[t + 1].len);
			sge[i].flags = cpu_to_le32(MVF_SGE_F_CHAIN);
		}
		dma_sync_single_for_device(dev, buf->tables[t].dma, PAGE_SIZE,
					   DMA_TO_DEVICE);
	}
	return 0;
}

/**
 * mvf_img_buf_alloc() - allocate an image buffer mapped for the PF
 * @core: core device whose PF will DMA to/from the buffer
 * @size: bytes, at most U32_MAX
 * @dir: DMA_FROM_DEVICE for SAVE, DMA_TO_DEVICE for LOAD
 *
 * Memory is charged to the calling task's memory cgroup.
 *
 * Return: the buffer with one reference, or ERR_PTR(-EINVAL / -ENOMEM /
 * -E2BIG / -ENODEV).
 */
struct mvf_img_buf *mvf_img_buf_alloc(struct mvf_core_dev *core, size_t size,
				      enum dma_data_direction dir)
{
	struct mvf_img_buf *buf;
	unsigned int max_chunks;
	int ret;

	BUILD_BUG_ON(sizeof(struct mvf_sge) != 16);

	if (!size || size > U32_MAX ||
	    (dir != DMA_FROM_DEVICE && dir != DMA_TO_DEVICE))
		return ERR_PTR(-EINVAL);
	if (READ_ONCE(core->cmdq.dead))
		return ERR_PTR(-ENODEV);

	max_chunks = min_t(size_t, DIV_ROUND_UP(size, PAGE_SIZE),
			   MVF_SGL_MAX_SGES);
	buf = kzalloc_obj(*buf, GFP_KERNEL_ACCOUNT);
	if (!buf)
		return ERR_PTR(-ENOMEM);
	buf->chunks = kvcalloc(max_chunks, sizeof(*buf->chunks),
			       GFP_KERNEL_ACCOUNT);
	if (!buf->chunks) {
		kfree(buf);
		return ERR_PTR(-ENOMEM);
	}
	kref_init(&buf->ref);
	kref_get(&core->ref);
	buf->core = core;
	buf->dir = dir;
	buf->size = size;

	ret = mvf_img_alloc_chunks(buf, max_chunks);
	if (!ret)
		ret = mvf_img_build_sgl(buf);
	if (ret) {
		dev_dbg(mvf_dev(core), "cannot allocate a %zu byte image: %pe\n",
			size, ERR_PTR(ret));
		mvf_img_buf_free(buf);
		return ERR_PTR(ret);
	}
	return buf;
}
EXPORT_SYMBOL_GPL(mvf_img_buf_alloc);

/**
 * mvf_img_buf_get() - take a reference on an image buffer
 * @buf: buffer
 *
 * Return: @buf.
 */
struct mvf_img_buf *mvf_img_buf_get(struct mvf_img_buf *buf)
{
	kref_get(&buf->ref);
	return buf;
}
EXPORT_SYMBOL_GPL(mvf_img_buf_get);

/**
 * mvf_img_buf_put() - drop a reference on an image buffer
 * @buf: buffer, or NULL
 *
 * The last reference unmaps and frees the memory.  May sleep.
 */
void mvf_img_buf_put(struct mvf_img_buf *buf)
{
	if (buf)
		kref_put(&buf->ref, mvf_img_buf_release);
}
EXPORT_SYMBOL_GPL(mvf_img_buf_put);

/**
 * mvf_img_buf_size() - capacity of an image buffer
 * @buf: buffer
 *
 * Return: the size the buffer was allocated with, in bytes.
 */
size_t mvf_img_buf_size(const struct mvf_img_buf *buf)
{
	return buf->size;
}
EXPORT_SYMBOL_GPL(mvf_img_buf_size);

enum mvf_img_op {
	MVF_IMG_TO_USER,
	MVF_IMG_FROM_USER,
	MVF_IMG_TO_KERNEL,
	MVF_IMG_FROM_KERNEL,
};

static int mvf_img_xfer(struct mvf_img_buf *buf, size_t off, size_t len,
			enum mvf_img_op op, char __user *uptr, u8 *kptr,
			const u8 *ksrc)
{
	size_t base = 0;
	unsigned int i;

	if (off > buf->size || len > buf->size - off)
		return -EINVAL;

	for (i = 0; i < buf->nr_chunks && len; i++) {
		struct mvf_img_chunk *c = &buf->chunks[i];

		while (len && off < base + c->len) {
			size_t in_chunk = off - base;
			size_t pg_off = offset_in_page(in_chunk);
			size_t n = min_t(size_t, len,
					 min_t(size_t, PAGE_SIZE - pg_off,
					       c->len - in_chunk));
			/*
			 * One buddy block: its struct pages are contiguous
			 * (it never spans a memory section), so no nth_page(),
			 * which newer kernels no longer have.
			 */
			struct page *page = c->page + (in_chunk >> PAGE_SHIFT);
			unsigned long left = 0;
			u8 *va = kmap_local_page(page);

			switch (op) {
			case MVF_IMG_TO_USER:
				left = copy_to_user(uptr, va + pg_off, n);
				uptr += n;
				break;
			case MVF_IMG_FROM_USER:
				left = copy_from_user(va + pg_off, uptr, n);
				uptr += n;
				break;
			case MVF_IMG_TO_KERNEL:
				memcpy(kptr, va + pg_off, n);
				kptr += n;
				break;
			case MVF_IMG_FROM_KERNEL:
				memcpy(va + pg_off, ksrc, n);
				ksrc += n;
				break;
			}
			kunmap_local(va);
			if (left)
				return -EFAULT;
			off += n;
			len -= n;
		}
		base += c->len;
	}
	return 0;
}

/**
 * mvf_img_buf_copy_to_user() - copy image bytes to user memory
 * @buf: buffer the device wrote (after the SAVE completed)
 * @off: byte offset in the buffer
 * @ubuf: destination
 * @len: bytes
 *
 * Return: 0, -EINVAL if the range is outside the buffer, -EFAULT.
 */
int mvf_img_buf_copy_to_user(struct mvf_img_buf *buf, size_t off,
			     char __user *ubuf, size_t len)
{
	return mvf_img_xfer(buf, off, len, MVF_IMG_TO_USER, ubuf, NULL, NULL);
}
EXPORT_SYMBOL_GPL(mvf_img_buf_copy_to_user);

/**
 * mvf_img_buf_copy_from_user() - copy image bytes from user memory
 * @buf: buffer to be loaded into the device
 * @off: byte offset in the buffer
 * @ubuf: source
 * @len: bytes
 *
 * On -EFAULT part of the range may have been written.
 *
 * Return: 0, -EINVAL if the range is outside the buffer, -EFAULT.
 */
int mvf_img_buf_copy_from_user(struct mvf_img_buf *buf, size_t off,
			       const char __user *ubuf, size_t len)
{
	return mvf_img_xfer(buf, off, len, MVF_IMG_FROM_USER,
			    (char __user *)ubuf, NULL, NULL);
}
EXPORT_SYMBOL_GPL(mvf_img_buf_copy_from_user);

/**
 * mvf_img_buf_read() - copy image bytes to kernel memory
 * @buf: buffer
 * @off: byte offset in the buffer
 * @dst: destination
 * @len: bytes
 *
 * Return: 0 or -EINVAL if the range is outside the buffer.
 */
int mvf_img_buf_read(struct mvf_img_buf *buf, size_t off, void *dst,
		     size_t len)
{
	return mvf_img_xfer(buf, off, len, MVF_IMG_TO_KERNEL, NULL, dst, NULL);
}
EXPORT_SYMBOL_GPL(mvf_img_buf_read);

/**
 * mvf_img_buf_write() - copy bytes from kernel memory into a buffer
 * @buf: buffer
 * @off: byte offset in the buffer
 * @src: source
 * @len: bytes
 *
 * Return: 0 or -EINVAL if the range is outside the buffer.
 */
int mvf_img_buf_write(struct mvf_img_buf *buf, size_t off, const void *src,
		      size_t len)
{
	return mvf_img_xfer(buf, off, len, MVF_IMG_FROM_KERNEL, NULL, NULL, src);
}
EXPORT_SYMBOL_GPL(mvf_img_buf_write);

/* Hand the data blocks to the device before a command uses them. */
void mvf_img_buf_sync_for_device(struct mvf_img_buf *buf)
{
	struct device *dev = mvf_dev(buf->core);
	unsigned int i;

	for (i = 0; i < buf->nr_chunks; i++)
		dma_sync_single_for_device(dev, buf->chunks[i].dma,
					   PAGE_SIZE << buf->chunks[i].order,
					   buf->dir);
}

/* Take the data blocks back after the device wrote them. */
void mvf_img_buf_sync_for_cpu(struct mvf_img_buf *buf)
{
	struct device *dev = mvf_dev(buf->core);
	unsigned int i;

	for (i = 0; i < buf->nr_chunks; i++)
		dma_sync_single_for_cpu(dev, buf->chunks[i].dma,
					PAGE_SIZE << buf->chunks[i].order,
					buf->dir);
}

dma_addr_t mvf_img_buf_sgl(const struct mvf_img_buf *buf, u32 *sgl_len)
{
	*sgl_len = buf->tables[0].len;
	return buf->tables[0].dma;
}

enum dma_data_direction mvf_img_buf_dir(const struct mvf_img_buf *buf)
{
	return buf->dir;
}
