/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Small VFIO user library for the MVF selftests and demo.
 *
 * A vfio_ctx is one DMA address space: either an iommufd with one IOAS
 * (devices opened through their /dev/vfio/devices/vfioN cdev) or a legacy
 * type1 container (devices opened through their group).  Every device opened
 * in a context shares its address space, so the same IOVA means the same
 * memory for all of them.
 *
 * All functions return 0 or a negative errno and print a message to stderr
 * on failure (unless vfio_util_quiet is set); nothing aborts.
 */
#ifndef _VFIO_UTIL_H
#define _VFIO_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/vfio.h>

enum vfio_mode {
	VFIO_MODE_IOMMUFD,	/* /dev/iommu + vfio cdev */
	VFIO_MODE_GROUP,	/* /dev/vfio/vfio container + group */
};

#define VFIO_CTX_MAX_GROUPS	16
#define VFIO_CTX_MAX_MAPS	32

struct vfio_dma_map_ent {
	uint64_t iova;
	uint64_t size;
	void *vaddr;
};

struct vfio_ctx {
	enum vfio_mode mode;
	/* iommufd */
	int iommufd;
	uint32_t ioas_id;
	/* legacy */
	int container;
	bool iommu_set;
	int ngroups;
	int group_fd[VFIO_CTX_MAX_GROUPS];
	int group_id[VFIO_CTX_MAX_GROUPS];
	int ndevs;
	/* DMA mappings made through this context */
	int nmaps;
	struct vfio_dma_map_ent maps[VFIO_CTX_MAX_MAPS];
};

struct vfio_dev {
	struct vfio_ctx *ctx;
	char bdf[32];
	int fd;
	uint32_t devid;		/* iommufd device id */
	struct vfio_device_info info;
};

/* Set to true to silence the library's error messages (expected failures). */
extern bool vfio_util_quiet;

#ifndef __printf
#define __printf(a, b) __attribute__((format(printf, a, b)))
#endif

void vfio_util_err(const char *fmt, ...) __printf(1, 2);

const char *vfio_mode_name(enum vfio_mode mode);
/* Parse "iommufd" / "group" (also "legacy", "container", "type1"). */
int vfio_mode_parse(const char *s, enum vfio_mode *mode);
/* Default mode: $MVF_VFIO_MODE if set, else iommufd when available. */
enum vfio_mode vfio_mode_default(void);
/* 0 if the mode's kernel interfaces exist, else -errno (and a reason). */
int vfio_mode_available(enum vfio_mode mode, char *why, size_t why_len);

int vfio_ctx_open(enum vfio_mode mode, struct vfio_ctx **out);
void vfio_ctx_close(struct vfio_ctx *ctx);

/* Map @size bytes at @vaddr (page aligned) read/write at fixed @iova. */
int vfio_dma_map(struct vfio_ctx *ctx, void *vaddr, uint64_t iova,
		 uint64_t size);
int vfio_dma_unmap(struct vfio_ctx *ctx, uint64_t iova, uint64_t size);

/*
 * Map @size bytes of the file @fd (a memfd, or a dma-buf such as one from
 * vfio_dev_dmabuf()) from byte @start at fixed @iova, read/write:
 * IOMMU_IOAS_MAP_FILE, iommufd contexts only (-EOPNOTSUPP otherwise, and
 * when built against uAPI headers without it).  Undo with vfio_dma_unmap().
 */
int vfio_dma_map_file(struct vfio_ctx *ctx, int fd, uint64_t start,
		      uint64_t iova, uint64_t size);

/* Normalise "01:00.1" to "0000:01:00.1".  Returns -EINVAL if malformed. */
int vfio_bdf_normalize(const char *in, char *out, size_t out_len);
int vfio_dev_open(struct vfio_ctx *ctx, const char *bdf,
		  struct vfio_dev **out);
void vfio_dev_close(struct vfio_dev *dev);

int vfio_region_info(struct vfio_dev *dev, uint32_t index,
		     struct vfio_region_info *info);
/* mmap a whole region read/write.  *size gets the region size. */
int vfio_region_mmap(struct vfio_dev *dev, uint32_t index, void **addr,
		     size_t *size);
int vfio_region_read(struct vfio_dev *dev, uint32_t index, uint64_t off,
		     void *buf, size_t len);
int vfio_region_write(struct vfio_dev *dev, uint32_t index, uint64_t off,
		      const void *buf, size_t len);

/*
 * VFIO_DEVICE_IOEVENTFD: when eventfd @fd is signalled, the kernel writes
 * the @size (1, 2, 4 or 8) low bytes of @data at offset @off of region
 * @index.  @fd -1 removes the ioeventfd of the same (region, offset, data,
 * size); once that returns, no write of it is still pending.
 */
int vfio_dev_ioeventfd(struct vfio_dev *dev, uint32_t index, uint64_t off,
		       uint64_t data, unsigned int size, int fd);
/*
 * VFIO_DEVICE_FEATURE_DMA_BUF: export bytes [@off, @off + @len) of BAR
 * region @index (page aligned) as a dma-buf; *fd gets its fd (O_RDWR,
 * O_CLOEXEC).  -EOPNOTSUPP when built against uAPI headers without the
 * feature (before Linux 6.19).
 */
int vfio_dev_dmabuf(struct vfio_dev *dev, uint32_t index, uint64_t off,
		    uint64_t len, int *fd);

int vfio_dev_reset(struct vfio_dev *dev);
/*
 * Set (@fd >= 0) or remove (-1) the eventfd that interrupt @index
 * (count 1) triggers.  Returns 0 or -errno.
 */
int vfio_irq_eventfd(struct vfio_dev *dev, uint32_t index, int fd);
/* Signals counted on eventfd @efd, waiting up to @ms for the first. */
uint64_t vfio_eventfd_wait(int efd, int ms);
/*
 * Set Memory Space and Bus Master Enable in the PCI command register (in
 * config space, through the device fd): vfio-pci leaves bus mastering off,
 * and a device without it cannot DMA.  vfio_dev_open() does this.
 */
int vfio_pci_enable_master(struct vfio_dev *dev);

/*
 * VFIO_DEVICE_FEATURE helpers.  @flags is VFIO_DEVICE_FEATURE_GET/SET/PROBE
 * (or'ed with the feature index by the helper).  vfio_feature_raw() passes
 * argsz and flags through unchecked, for negative tests.
 */
int vfio_feature(struct vfio_dev *dev, uint32_t feature, uint32_t flags,
		 void *data, size_t size);
int vfio_feature_raw(struct vfio_dev *dev, uint32_t argsz, uint32_t flags,
		     void *data, size_t size);
int vfio_feature_probe(struct vfio_dev *dev, uint32_t feature,
		       uint32_t flags);

/*
 * Device DMA dirty tracking (VFIO_DEVICE_FEATURE_DMA_LOGGING_*, Linux 6.2).
 *
 * vfio_dirty_probe(): 0 if the device logs DMA (a PROBE of START), else
 * -errno (ENOTTY: the driver has no log_ops).  Prints nothing.
 * vfio_dirty_start(): start logging the @n @ranges; *@page_size is the
 * hint in and the page size the driver chose out.
 * vfio_dirty_stop(): stop logging (0 also when it was not started).
 * vfio_dirty_report(): read and clear the log of [@iova, @iova + @length)
 * into @bitmap, one bit per @page_size from @iova (bit n of u64 word n /
 * 64).  The kernel only sets bits: zero the DIV_ROUND_UP(@length,
 * @page_size) bits, in whole u64 words, first.
 */
int vfio_dirty_probe(struct vfio_dev *dev);
int vfio_dirty_start(struct vfio_dev *dev, uint64_t *page_size,
		     const struct vfio_device_feature_dma_logging_range *ranges,
		     uint32_t n);
int vfio_dirty_stop(struct vfio_dev *dev);
int vfio_dirty_report(struct vfio_dev *dev, uint64_t iova, uint64_t length,
		      uint64_t page_size, uint64_t *bitmap);

/* Migration uAPI v2 */
const char *vfio_mig_state_name(uint32_t state);
int vfio_mig_flags(struct vfio_dev *dev, uint64_t *flags);
/* Request @state.  *data_fd (if not NULL) gets the returned fd or -1. */
int vfio_mig_set_state(struct vfio_dev *dev, uint32_t state, int *data_fd);
int vfio_mig_get_state(struct vfio_dev *dev, uint32_t *state);
int vfio_mig_data_size(struct vfio_dev *dev, uint64_t *size);

/*
 * Read the data fd to EOF into a malloc'ed buffer (*buf, *len).  @hint
 * (may be 0) sizes the first allocation.  Returns 0 or -errno.
 */
int vfio_mig_save(int fd, size_t hint, void **buf, size_t *len);
/* Write all of @buf to the data fd.  Returns 0 or -errno. */
int vfio_mig_load(int fd, const void *buf, size_t len);

struct vfio_mig_stats {
	uint64_t bytes;			/* stream length */
	uint64_t data_size;		/* MIG_DATA_SIZE reported in STOP */
	double t_p2p, t_stop;		/* seconds per arc */
	double t_stop_copy, t_save;	/* arc; reading the stream */
	double t_resuming, t_load;	/* arc; writing the stream */
	double t_dst_stop, t_src_stop;	/* RESUMING->STOP, STOP_COPY->STOP */
	double t_dst_running;		/* dst STOP->RUNNING */
	double t_total;
};

/* Called after each step of vfio_migrate() (may be NULL). */
typedef void (*vfio_mig_step_fn)(void *arg, const char *what, double secs,
				 uint64_t bytes);

/*
 * Migrate @src into @dst: src RUNNING->RUNNING_P2P->STOP->STOP_COPY, dst
 * STOP->RESUMING (from RUNNING via STOP), stream src->dst through memory,
 * src ->STOP, dst ->STOP->RUNNING.  The source is left in STOP.  On error
 * the devices are left where the failure happened.
 */
int vfio_migrate(struct vfio_dev *src, struct vfio_dev *dst,
		 struct vfio_mig_stats *st, vfio_mig_step_fn step, void *arg);

/*
 * VFIO_MIG_GET_PRECOPY_INFO on a save fd in PRE_COPY(_P2P).  Returns 0 or
 * -errno.
 */
int vfio_mig_precopy_info(int fd, uint64_t *initial, uint64_t *dirty);

/*
 * Read from a save fd until it has nothing more for now, appending to the
 * malloc'ed *buf of *cap bytes (grown as needed) at *len.  Returns 0 at a
 * temporary end of stream (ENOMSG, PRE_COPY), 1 at the end of the stream
 * (read() returned 0), or -errno.
 */
int vfio_mig_read_avail(int fd, void **buf, size_t *len, size_t *cap);

struct vfio_live_opts {
	bool precopy;			/* pre-copy rounds (needs PRE_COPY) */
	unsigned int max_rounds;	/* pre-copy rounds at most */
	size_t bounce;			/* bytes per read()/write() */
	/*
	 * Called after each pre-copy round was read, with its number,
	 * before PRECOPY_INFO decides on another round (e.g. to dirty the
	 * device); may be NULL.
	 */
	void (*between_rounds)(void *arg, unsigned int round);
	/*
	 * Called once the source is to leave the running states, as a VMM
	 * stops its vCPUs first: after it, nothing may touch the source's
	 * BARs.  Also called when the migration fails before that point.
	 * May be NULL.
	 */
	void (*before_stop)(void *arg);
	/* Sees every byte of the stream as it passes; may be NULL. */
	void (*tap)(void *arg, const void *data, size_t len);
	void *arg;
};

struct vfio_live_stats {
	unsigned int rounds;		/* pre-copy rounds read */
	uint64_t precopy_bytes;		/* streamed while the source ran */
	uint64_t stopcopy_bytes;	/* streamed after it stopped */
	double t_precopy;		/* seconds of pre-copy */
	double t_downtime;		/* src quiesced .. dst RUNNING */
	double t_total;
};

/*
 * Migrate @src into @dst the way a VMM does, streaming through a bounce
 * buffer without holding the stream: dst -> STOP -> RESUMING; with
 * @opts->precopy src RUNNING -> PRE_COPY and rounds of reading what the
 * source has (until ENOMSG) into dst, until PRECOPY_INFO says nothing is
 * left or @opts->max_rounds; then src -> (PRE_COPY_P2P ->) STOP_COPY, the
 * rest to EOF, dst -> STOP -> RUNNING, src -> STOP.  Without precopy it
 * is STOP_COPY only.  Returns 0 or -errno, with the devices where the
 * failure happened.
 */
int vfio_migrate_live(struct vfio_dev *src, struct vfio_dev *dst,
		      const struct vfio_live_opts *opts,
		      struct vfio_live_stats *st);

double vfio_now(void);

#endif /* _VFIO_UTIL_H */
