/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A userspace driver for the MVF virtual function (include/linux/mvf/mvf_if.h)
 * on top of vfio_util: BAR0 registers, BAR2 device memory, a queue pair in
 * DMA-mapped host memory, and helpers for the VF state image.
 *
 * Functions return 0 (or a count) on success and a negative errno on
 * failure, with a message on stderr unless vfio_util_quiet is set.
 */
#ifndef _MVF_DEV_H
#define _MVF_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/mvf/mvf_if.h>

#include "vfio_util.h"

#define MVF_MAX_VFS		64
#define MVF_BDF_LEN		32

/* BAR0 access method */
enum mvf_bar0_access {
	MVF_BAR0_MMAP,		/* mmap the region (default) */
	MVF_BAR0_PIO,		/* pread/pwrite on the device fd */
};

struct mvf_vf {
	struct vfio_dev *vdev;
	const char *bdf;
	enum mvf_bar0_access bar0_access;
	volatile uint8_t *bar0;		/* NULL with MVF_BAR0_PIO */
	size_t bar0_size;
	volatile uint8_t *devmem;	/* BAR2 mapping, NULL if not mmap'able */
	size_t devmem_bar_size;		/* BAR2 region size */
	uint64_t devmem_size;		/* MVF_VF_REG_DEVMEM_SIZE */
	int io_err;			/* first register access error, sticky */
};

/*
 * Find the MVF VFs to test: $MVF_VFS (space separated PCI addresses) if set,
 * else every PCI device 0x6d76:0x1001 bound to the mvf-vfio-pci driver,
 * sorted by address.  Returns the number found (<= max) or -errno.
 */
int mvf_find_vfs(char bdfs[][MVF_BDF_LEN], int max);

/*
 * sysfs: the last component of symlink @path into @name (@len bytes);
 * write @val to the attribute file @path; the PF of VF @vf into @pf.
 * Each returns 0 or -errno.
 */
int mvf_sysfs_link_name(const char *path, char *name, size_t len);
int mvf_sysfs_put(const char *path, const char *val);
int mvf_pf_of(const char *vf, char *pf, size_t len);

/* BAR0 access mode from $MVF_BAR0 ("mmap" or "pio"), default mmap. */
enum mvf_bar0_access mvf_bar0_default(void);

int mvf_vf_open(struct vfio_ctx *ctx, const char *bdf,
		enum mvf_bar0_access access, struct mvf_vf **out);
void mvf_vf_close(struct mvf_vf *vf);

uint32_t mvf_rd32(struct mvf_vf *vf, uint32_t off);
void mvf_wr32(struct mvf_vf *vf, uint32_t off, uint32_t val);
/* LO/HI register pair (LO read first). */
uint64_t mvf_rd64(struct mvf_vf *vf, uint32_t off);

/* Everything of the VF's BAR0 state that a migration must carry. */
struct mvf_vf_regs {
	uint32_t magic, version, status, ctrl;
	uint64_t sq_base, rq_base, cq_base;
	uint32_t sq_log, rq_log, cq_log;
	uint32_t sq_pi, rq_pi, cq_ci;	/* driver-written indices */
	uint32_t sq_ci, rq_ci, cq_pi;	/* device indices (RO) */
	uint64_t devmem_size;
	uint64_t cnt[MVF_VF_NUM_COUNTERS];
	uint32_t scratch[MVF_VF_NUM_SCRATCH];
};

/* Read all registers; returns vf->io_err (0 when all reads worked). */
int mvf_vf_read_regs(struct mvf_vf *vf, struct mvf_vf_regs *r);
/* Print the differences of two snapshots; returns how many fields differ. */
int mvf_vf_regs_diff(const struct mvf_vf_regs *a, const struct mvf_vf_regs *b,
		     const char *a_name, const char *b_name, bool print);
const char *mvf_counter_name(int i);

/*
 * While a VF is not running (migration states STOP, STOP_COPY, RESUMING,
 * ERROR) mvf-vfio-pci revokes all access to its BARs: none of the register
 * functions above may be used then (an mmap access gets SIGBUS, pread and
 * pwrite fail with EIO).  What the device is doing meanwhile is seen
 * through the PF driver, below, or through the VF's state image.
 */

/* ---- mvf_core debugfs --------------------------------------------------- */

#define MVF_DEBUGFS_DIR		"/sys/kernel/debug/mvf_core"

/*
 * The PF driver's per-VF debugfs files, MVF_DEBUGFS_DIR/<bdf>/: the device's
 * MVF_VHCA_STATE_* flags of VF @bdf ("vhca_state", "0x%x") and its frozen
 * access counter ("frozen_accesses", "%u": accesses that reached its BARs
 * while frozen, cleared by a function reset).  Both work in every migration
 * state.  A missing or malformed file is an error (-errno, and a message
 * that names the file).
 */
int mvf_vhca_state(const char *bdf, uint32_t *state);
int mvf_frozen_accesses(const char *bdf, uint32_t *count);

/* ---- device memory (BAR2) ------------------------------------------- */

/* Pattern: one 64-bit word per 8-byte offset, derived from (seed, offset). */
uint64_t mvf_pattern_word(uint64_t seed, uint64_t off);
/* Fill @buf with the pattern of device offsets [off, off + len). */
void mvf_pattern_fill(void *buf, uint64_t off, size_t len, uint64_t seed);

/* @off and @len must be multiples of 8. */
int mvf_devmem_write(struct mvf_vf *vf, uint64_t off, const void *src,
		     size_t len);
int mvf_devmem_read(struct mvf_vf *vf, uint64_t off, void *dst, size_t len);
int mvf_devmem_fill(struct mvf_vf *vf, uint64_t off, uint64_t len,
		    uint64_t seed);
/*
 * Compare device memory with @expect.  Returns the number of differing
 * 8-byte words (0 = identical) or -errno; *first_bad gets the offset of the
 * first difference.
 */
int64_t mvf_devmem_cmp(struct mvf_vf *vf, uint64_t off, const void *expect,
		       uint64_t len, uint64_t *first_bad);
int64_t mvf_devmem_cmp_pattern(struct mvf_vf *vf, uint64_t off, uint64_t len,
			       uint64_t seed, uint64_t *first_bad);
int64_t mvf_devmem_cmp_zero(struct mvf_vf *vf, uint64_t off, uint64_t len,
			    uint64_t *first_bad);

/* ---- DMA memory --------------------------------------------------------- */

struct mvf_dma {
	struct vfio_ctx *ctx;
	uint8_t *va;
	uint64_t iova;
	size_t size;
};

/* Allocate @size bytes (page multiple), zeroed, mapped at @iova. */
int mvf_dma_alloc(struct vfio_ctx *ctx, uint64_t iova, size_t size,
		  struct mvf_dma *dma);
void mvf_dma_free(struct mvf_dma *dma);

/* ---- queue pair ---------------------------------------------------------- */

struct mvf_ring {
	uint8_t *va;
	uint64_t iova;
	uint32_t log_size;
	uint32_t pi;		/* free running */
	uint32_t ci;		/* free running */
};

struct mvf_qp {
	struct mvf_vf *vf;	/* the function that runs it; see mvf_qp_move */
	struct mvf_ring sq, rq, cq;
	uint8_t *buf;		/* data buffers after the rings */
	uint64_t buf_iova;
	size_t buf_size;
	int timeout_ms;
};

/*
 * Lay out SQ/RQ/CQ at the start of @dma + @off (at most @size bytes; the rest
 * becomes qp->buf) and program a freshly reset VF with them.  Fails with
 * -EBUSY if the VF's queue indices are not zero.
 */
int mvf_qp_create(struct mvf_qp *qp, struct mvf_vf *vf, struct mvf_dma *dma,
		  size_t off, size_t size, uint32_t sq_log, uint32_t rq_log,
		  uint32_t cq_log);
/* The rings now belong to @vf (after a migration into it). */
void mvf_qp_move(struct mvf_qp *qp, struct mvf_vf *vf);

static inline uint64_t mvf_qp_iova(const struct mvf_qp *qp, const void *p)
{
	return qp->buf_iova + ((const uint8_t *)p - qp->buf);
}

/* Queue one WQE (no doorbell).  -ENOSPC when the ring is full. */
int mvf_qp_post(struct mvf_qp *qp, uint8_t opcode, uint64_t addr, uint32_t len,
		uint64_t devmem_off, uint64_t wr_id);
int mvf_qp_post_recv(struct mvf_qp *qp, uint64_t addr, uint32_t len,
		     uint64_t wr_id);
void mvf_qp_ring_sq(struct mvf_qp *qp);
void mvf_qp_ring_rq(struct mvf_qp *qp);

/* Take up to @max valid CQEs without waiting; updates MVF_VF_REG_CQ_CI. */
int mvf_qp_poll(struct mvf_qp *qp, struct mvf_cqe *out, int max);
/* Wait until @n CQEs arrived or qp->timeout_ms passed; returns the count. */
int mvf_qp_wait(struct mvf_qp *qp, struct mvf_cqe *out, int n);
/* True if the next CQ slot holds a valid CQE (nothing consumed). */
bool mvf_qp_cqe_pending(struct mvf_qp *qp);

/*
 * Post one WQE, ring, wait for its CQE and check that it succeeded with the
 * same wr_id.  Convenience for setup work.
 */
int mvf_qp_exec(struct mvf_qp *qp, uint8_t opcode, uint64_t addr, uint32_t len,
		uint64_t devmem_off, uint64_t wr_id);
/*
 * Round trip through the VF: @n loopback SENDs of @len bytes into posted
 * receive buffers, a DEVMEM_WRITE and DEVMEM_READ of @len bytes at
 * @devmem_off and a NOP; checks every CQE and the data.  Uses the first
 * 2 * (@n + 1) * @len bytes of qp->buf.  Device memory [@devmem_off,
 * + @len) is left holding the pattern of MVF_SELFTEST_DM_SEED(@seed).
 */
#define MVF_SELFTEST_DM_SEED(seed)	((seed) ^ 0x5a5a)
int mvf_qp_selftest(struct mvf_qp *qp, int n, uint32_t len,
		    uint64_t devmem_off, uint64_t seed);

/* Default completion timeout: $MVF_TIMEOUT_MS or 20 s (TCG is slow). */
int mvf_timeout_ms(void);

/* ---- migration stream ------------------------------------------------------ */

uint32_t mvf_crc32(uint32_t crc, const void *buf, size_t len);

/* What mvf_stream_parse() found; offsets are those of record headers. */
struct mvf_stream_info {
	uint64_t len;			/* bytes parsed (all of them) */
	unsigned int records;
	uint64_t ident_off;		/* the first record */
	uint64_t size_off;		/* the SIZE record, 0 if none */
	uint64_t state_off;		/* the last STATE record, 0 if none */
	uint64_t end_off;		/* the END record, 0 if none */
	/* the first DEVMEM record that carries data, 0 if none */
	uint64_t devmem_data_off;
	unsigned int devmem_records;
	/* pages DEVMEM records name, with and without data (repeats too) */
	uint64_t devmem_pages;
	uint64_t devmem_zero_pages;
	unsigned int unknown_records;	/* optional ones we skip */
};

/*
 * Check the framing, CRC and order of every record of a migration stream
 * (include/linux/mvf/mvf_if.h) and fill @info.  With @need_end the stream
 * must end with END, and END's byte count must match.  Returns 0, or
 * -EINVAL with a message in @why.
 */
int mvf_stream_parse(const void *buf, size_t len, bool need_end,
		     struct mvf_stream_info *info, char *why, size_t why_len);
/* The payload of the record at @off, and its length. */
void *mvf_rec_payload(void *buf, uint64_t off, uint64_t *len);
/* Recompute the CRC of the record at @off (after patching it). */
void mvf_rec_fix_crc(void *buf, uint64_t off);
/* Bytes the record at @off takes with its header and padding. */
uint64_t mvf_rec_size(const void *buf, uint64_t off);
/*
 * Apply the DEVMEM records of a stream to @devmem (@size bytes, zeroed by
 * the caller): the device memory the stream carries.  -EINVAL if a record
 * falls outside.
 */
int mvf_stream_devmem(const void *buf, size_t len, uint8_t *devmem,
		      uint64_t size);

/*
 * Take a VF in STOP through a whole save session (STOP -> STOP_COPY, the
 * stream to EOF, -> STOP) into a malloc'ed image.  The VF ends in STOP
 * unless an arc fails.
 */
int mvf_vf_save_stopped(struct mvf_vf *vf, void **img, size_t *len);
/*
 * The registers a stream carries (its last STATE record), as
 * mvf_vf_read_regs() would have read them from the VF that saved it: ctrl,
 * status (QUIESCED and FROZEN as saved, QP_ERROR), queue bases, sizes and
 * indices, counters, scratch and devmem_size; magic is MVF_MAGIC_VF and
 * version IDENT's if_version.  -EINVAL (and @why) if the stream does not
 * parse.
 */
int mvf_stream_regs(const void *buf, size_t len, struct mvf_vf_regs *r,
		    char *why, size_t why_len);
/* mvf_vf_read_regs() for a VF in STOP, through mvf_vf_save_stopped(). */
int mvf_vf_read_regs_stopped(struct mvf_vf *vf, struct mvf_vf_regs *r);

#endif /* _MVF_DEV_H */
