// SPDX-License-Identifier: GPL-2.0-only
/*
 * Userspace driver for the MVF VF: registers, device memory, queue pair and
 * state image helpers.  See include/linux/mvf/mvf_if.h for the interface.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "mvf_dev.h"

#define PAGE_SZ		4096UL
#define ALIGN_UP(x, a)	(((x) + (a) - 1) & ~((a) - 1))
#define DEVMEM_CHUNK	(1UL << 20)

/*
 * Full barrier: orders ring/WQE stores before the doorbell MMIO write and
 * CQE consumption before the CQ_CI update (x86: mfence).
 */
static inline void mb(void)
{
	__sync_synchronize();
}

int mvf_timeout_ms(void)
{
	const char *env = getenv("MVF_TIMEOUT_MS");
	int v;

	if (env) {
		v = atoi(env);
		if (v > 0)
			return v;
	}
	return 20000;
}

enum mvf_bar0_access mvf_bar0_default(void)
{
	const char *env = getenv("MVF_BAR0");

	if (env && !strcmp(env, "pio"))
		return MVF_BAR0_PIO;
	return MVF_BAR0_MMAP;
}

/* ---- discovery ------------------------------------------------------------ */

static int read_hex_file(const char *path, unsigned long *val)
{
	char buf[32];
	FILE *f;
	int ok;

	f = fopen(path, "r");
	if (!f)
		return -errno;
	ok = !!fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!ok)
		return -EIO;
	*val = strtoul(buf, NULL, 16);
	return 0;
}

static int bdf_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

int mvf_sysfs_link_name(const char *path, char *name, size_t len)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	const char *base;

	if (n < 0)
		return -errno;
	target[n] = 0;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	memcpy(name, base, strlen(base) + 1);
	return 0;
}

int mvf_sysfs_put(const char *path, const char *val)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int mvf_pf_of(const char *vf, char *pf, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/physfn", vf);
	return mvf_sysfs_link_name(path, pf, len);
}

int mvf_find_vfs(char bdfs[][MVF_BDF_LEN], int max)
{
	const char *env = getenv("MVF_VFS");
	char path[PATH_MAX], target[PATH_MAX];
	struct dirent *de;
	int n = 0, ret;
	DIR *d;

	if (env && *env) {
		char *copy = strdup(env), *tok, *save = NULL;

		if (!copy)
			return -ENOMEM;
		for (tok = strtok_r(copy, " \t\n,", &save); tok && n < max;
		     tok = strtok_r(NULL, " \t\n,", &save)) {
			ret = vfio_bdf_normalize(tok, bdfs[n], MVF_BDF_LEN);
			if (ret) {
				vfio_util_err("MVF_VFS: bad PCI address '%s'",
					      tok);
				free(copy);
				return ret;
			}
			n++;
		}
		free(copy);
		return n;
	}

	d = opendir("/sys/bus/pci/devices");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		unsigned long vendor, device;
		const char *drv;
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor",
			 de->d_name);
		if (read_hex_file(path, &vendor) || vendor != MVF_PCI_VENDOR_ID)
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device",
			 de->d_name);
		if (read_hex_file(path, &device) ||
		    device != MVF_PCI_DEVICE_ID_VF)
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver",
			 de->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = 0;
		drv = strrchr(target, '/');
		drv = drv ? drv + 1 : target;
		if (strcmp(drv, "mvf-vfio-pci") && strcmp(drv, "mvf_vfio_pci"))
			continue;
		if (n < max && strlen(de->d_name) < MVF_BDF_LEN) {
			memcpy(bdfs[n], de->d_name, strlen(de->d_name) + 1);
			n++;
		}
	}
	closedir(d);
	qsort(bdfs, n, MVF_BDF_LEN, bdf_cmp);
	return n;
}

/* ---- mvf_core debugfs ---------------------------------------------------------- */

static int read_debugfs_u32(const char *bdf, const char *name, int base,
			    uint32_t *val)
{
	char path[PATH_MAX], buf[64], *end;
	unsigned long v;
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", MVF_DEBUGFS_DIR, bdf, name);
	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		vfio_util_err("%s: %s%s", path, strerror(-ret),
			      ret == -ENOENT ?
			      " (debugfs not mounted, or mvf_core without it?)" :
			      "");
		return ret;
	}
	if (!fgets(buf, sizeof(buf), f)) {
		ret = ferror(f) && errno ? -errno : -EIO;
		vfio_util_err("%s: cannot read it: %s", path, strerror(-ret));
		fclose(f);
		return ret;
	}
	fclose(f);
	errno = 0;
	v = strtoul(buf, &end, base);
	if (errno || end == buf || (*end && strcmp(end, "\n")) ||
	    v > UINT32_MAX) {
		buf[strcspn(buf, "\n")] = 0;
		vfio_util_err("%s: unexpected content '%s'", path, buf);
		return -EINVAL;
	}
	*val = v;
	return 0;
}

int mvf_vhca_state(const char *bdf, uint32_t *state)
{
	return read_debugfs_u32(bdf, "vhca_state", 16, state);
}

int mvf_frozen_accesses(const char *bdf, uint32_t *count)
{
	return read_debugfs_u32(bdf, "frozen_accesses", 10, count);
}

/* ---- registers -------------------------------------------------------------- */

uint32_t mvf_rd32(struct mvf_vf *vf, uint32_t off)
{
	uint32_t v;
	int ret;

	if (vf->bar0)
		return le32toh(*(volatile uint32_t *)(vf->bar0 + off));
	ret = vfio_region_read(vf->vdev, VFIO_PCI_BAR0_REGION_INDEX, off, &v,
			       sizeof(v));
	if (ret) {
		if (!vf->io_err)
			vf->io_err = ret;
		return 0xffffffff;
	}
	return le32toh(v);
}

void mvf_wr32(struct mvf_vf *vf, uint32_t off, uint32_t val)
{
	uint32_t v = htole32(val);
	int ret;

	if (vf->bar0) {
		*(volatile uint32_t *)(vf->bar0 + off) = v;
		return;
	}
	ret = vfio_region_write(vf->vdev, VFIO_PCI_BAR0_REGION_INDEX, off, &v,
				sizeof(v));
	if (ret && !vf->io_err)
		vf->io_err = ret;
}

uint64_t mvf_rd64(struct mvf_vf *vf, uint32_t off)
{
	uint64_t lo = mvf_rd32(vf, off);

	return lo | (uint64_t)mvf_rd32(vf, off + 4) << 32;
}

static const char * const counter_names[MVF_VF_NUM_COUNTERS] = {
	[MVF_VF_CNT_SQ_WQES] = "sq_wqes",
	[MVF_VF_CNT_RQ_WQES] = "rq_wqes",
	[MVF_VF_CNT_CQES] = "cqes",
	[MVF_VF_CNT_TX_BYTES] = "tx_bytes",
	[MVF_VF_CNT_DOORBELLS] = "doorbells",
	[MVF_VF_CNT_ERRORS] = "errors",
	[6] = "cnt6",
	[7] = "cnt7",
};

const char *mvf_counter_name(int i)
{
	if (i < 0 || i >= MVF_VF_NUM_COUNTERS)
		return "?";
	return counter_names[i];
}

int mvf_vf_read_regs(struct mvf_vf *vf, struct mvf_vf_regs *r)
{
	int i;

	vf->io_err = 0;
	memset(r, 0, sizeof(*r));
	r->magic = mvf_rd32(vf, MVF_VF_REG_MAGIC);
	r->version = mvf_rd32(vf, MVF_VF_REG_VERSION);
	r->status = mvf_rd32(vf, MVF_VF_REG_STATUS);
	r->ctrl = mvf_rd32(vf, MVF_VF_REG_CTRL);
	r->sq_base = mvf_rd64(vf, MVF_VF_REG_SQ_BASE_LO);
	r->rq_base = mvf_rd64(vf, MVF_VF_REG_RQ_BASE_LO);
	r->cq_base = mvf_rd64(vf, MVF_VF_REG_CQ_BASE_LO);
	r->sq_log = mvf_rd32(vf, MVF_VF_REG_SQ_LOG_SIZE);
	r->rq_log = mvf_rd32(vf, MVF_VF_REG_RQ_LOG_SIZE);
	r->cq_log = mvf_rd32(vf, MVF_VF_REG_CQ_LOG_SIZE);
	r->sq_pi = mvf_rd32(vf, MVF_VF_REG_SQ_PI);
	r->rq_pi = mvf_rd32(vf, MVF_VF_REG_RQ_PI);
	r->cq_ci = mvf_rd32(vf, MVF_VF_REG_CQ_CI);
	r->sq_ci = mvf_rd32(vf, MVF_VF_REG_SQ_CI);
	r->rq_ci = mvf_rd32(vf, MVF_VF_REG_RQ_CI);
	r->cq_pi = mvf_rd32(vf, MVF_VF_REG_CQ_PI);
	r->devmem_size = mvf_rd64(vf, MVF_VF_REG_DEVMEM_SIZE_LO);
	for (i = 0; i < MVF_VF_NUM_COUNTERS; i++)
		r->cnt[i] = mvf_rd64(vf, MVF_VF_REG_CNT(i));
	for (i = 0; i < MVF_VF_NUM_SCRATCH; i++)
		r->scratch[i] = mvf_rd32(vf, MVF_VF_REG_SCRATCH(i));
	return vf->io_err;
}

int mvf_vf_regs_diff(const struct mvf_vf_regs *a, const struct mvf_vf_regs *b,
		     const char *an, const char *bn, bool print)
{
	int n = 0, i;

#define DIFF(field, label) do {						\
	if (a->field != b->field) {					\
		n++;							\
		if (print)						\
			fprintf(stderr, "#   %-12s %s=0x%llx %s=0x%llx\n", \
				label, an, (unsigned long long)a->field, \
				bn, (unsigned long long)b->field);	\
	}								\
} while (0)
	DIFF(status, "status");
	DIFF(ctrl, "ctrl");
	DIFF(sq_base, "sq_base");
	DIFF(rq_base, "rq_base");
	DIFF(cq_base, "cq_base");
	DIFF(sq_log, "sq_log_size");
	DIFF(rq_log, "rq_log_size");
	DIFF(cq_log, "cq_log_size");
	DIFF(sq_pi, "sq_pi");
	DIFF(rq_pi, "rq_pi");
	DIFF(cq_ci, "cq_ci");
	DIFF(sq_ci, "sq_ci");
	DIFF(rq_ci, "rq_ci");
	DIFF(cq_pi, "cq_pi");
	DIFF(devmem_size, "devmem_size");
	for (i = 0; i < MVF_VF_NUM_COUNTERS; i++)
		DIFF(cnt[i], counter_names[i]);
	for (i = 0; i < MVF_VF_NUM_SCRATCH; i++)
		DIFF(scratch[i], "scratch");
#undef DIFF
	return n;
}

/* ---- open/close ------------------------------------------------------------- */

int mvf_vf_open(struct vfio_ctx *ctx, const char *bdf,
		enum mvf_bar0_access access, struct mvf_vf **out)
{
	struct vfio_region_info info;
	struct mvf_vf *vf;
	uint32_t magic;
	void *p;
	size_t sz;
	int ret;

	vf = calloc(1, sizeof(*vf));
	if (!vf)
		return -ENOMEM;
	ret = vfio_dev_open(ctx, bdf, &vf->vdev);
	if (ret) {
		free(vf);
		return ret;
	}
	vf->bdf = vf->vdev->bdf;
	vf->bar0_access = access;

	ret = vfio_region_info(vf->vdev, VFIO_PCI_BAR0_REGION_INDEX, &info);
	if (ret)
		goto err;
	if (info.size < MVF_VF_BAR0_SIZE) {
		vfio_util_err("%s: BAR0 is %llu bytes, expected %u", vf->bdf,
			      (unsigned long long)info.size, MVF_VF_BAR0_SIZE);
		ret = -ENODEV;
		goto err;
	}
	vf->bar0_size = info.size;
	if (access == MVF_BAR0_MMAP) {
		ret = vfio_region_mmap(vf->vdev, VFIO_PCI_BAR0_REGION_INDEX,
				       &p, &sz);
		if (ret)
			goto err;
		vf->bar0 = p;
	}

	magic = mvf_rd32(vf, MVF_VF_REG_MAGIC);
	if (magic != MVF_MAGIC_VF) {
		vfio_util_err("%s: BAR0 magic 0x%08x, expected 0x%08x (not an MVF VF?)",
			      vf->bdf, magic, MVF_MAGIC_VF);
		ret = vf->io_err ? vf->io_err : -ENODEV;
		goto err;
	}
	vf->devmem_size = mvf_rd64(vf, MVF_VF_REG_DEVMEM_SIZE_LO);

	ret = vfio_region_info(vf->vdev, MVF_VF_DEVMEM_BAR, &info);
	if (ret)
		goto err;
	vf->devmem_bar_size = info.size;
	if (info.size < vf->devmem_size || vf->devmem_size % 8) {
		vfio_util_err("%s: device memory of %llu bytes does not fit BAR%d (%llu bytes)",
			      vf->bdf, (unsigned long long)vf->devmem_size,
			      MVF_VF_DEVMEM_BAR,
			      (unsigned long long)info.size);
		ret = -ENODEV;
		goto err;
	}
	if (info.flags & VFIO_REGION_INFO_FLAG_MMAP) {
		ret = vfio_region_mmap(vf->vdev, MVF_VF_DEVMEM_BAR, &p, &sz);
		if (ret)
			goto err;
		vf->devmem = p;
	}
	*out = vf;
	return 0;
err:
	mvf_vf_close(vf);
	return ret;
}

void mvf_vf_close(struct mvf_vf *vf)
{
	if (!vf)
		return;
	if (vf->devmem)
		munmap((void *)vf->devmem, vf->devmem_bar_size);
	if (vf->bar0)
		munmap((void *)vf->bar0, vf->bar0_size);
	vfio_dev_close(vf->vdev);
	free(vf);
}

/* ---- device memory ---------------------------------------------------------- */

static inline uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t mvf_pattern_word(uint64_t seed, uint64_t off)
{
	return splitmix64(seed * 0x100000001b3ULL ^ (off >> 3));
}

void mvf_pattern_fill(void *buf, uint64_t off, size_t len, uint64_t seed)
{
	uint64_t *w = buf;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = htole64(mvf_pattern_word(seed, off + 8 * i));
}

static int devmem_check(struct mvf_vf *vf, uint64_t off, uint64_t len)
{
	if (off % 8 || len % 8 || off > vf->devmem_size ||
	    len > vf->devmem_size - off) {
		vfio_util_err("%s: bad device memory range 0x%llx+0x%llx",
			      vf->bdf, (unsigned long long)off,
			      (unsigned long long)len);
		return -EINVAL;
	}
	return 0;
}

int mvf_devmem_write(struct mvf_vf *vf, uint64_t off, const void *src,
		     size_t len)
{
	volatile uint64_t *d;
	const uint64_t *s = src;
	size_t i;
	int ret;

	ret = devmem_check(vf, off, len);
	if (ret)
		return ret;
	if (!vf->devmem)
		return vfio_region_write(vf->vdev, MVF_VF_DEVMEM_BAR, off, src,
					 len);
	d = (volatile uint64_t *)(vf->devmem + off);
	for (i = 0; i < len / 8; i++)
		d[i] = s[i];
	mb();	/* the data is in device memory before any later doorbell */
	return 0;
}

int mvf_devmem_read(struct mvf_vf *vf, uint64_t off, void *dst, size_t len)
{
	volatile uint64_t *s;
	uint64_t *d = dst;
	size_t i;
	int ret;

	ret = devmem_check(vf, off, len);
	if (ret)
		return ret;
	if (!vf->devmem)
		return vfio_region_read(vf->vdev, MVF_VF_DEVMEM_BAR, off, dst,
					len);
	s = (volatile uint64_t *)(vf->devmem + off);
	for (i = 0; i < len / 8; i++)
		d[i] = s[i];
	return 0;
}

int mvf_devmem_fill(struct mvf_vf *vf, uint64_t off, uint64_t len,
		    uint64_t seed)
{
	uint64_t done, n;
	void *buf;
	int ret;

	ret = devmem_check(vf, off, len);
	if (ret)
		return ret;
	buf = malloc(DEVMEM_CHUNK);
	if (!buf)
		return -ENOMEM;
	for (done = 0; done < len; done += n) {
		n = len - done < DEVMEM_CHUNK ? len - done : DEVMEM_CHUNK;
		mvf_pattern_fill(buf, off + done, n, seed);
		ret = mvf_devmem_write(vf, off + done, buf, n);
		if (ret)
			break;
	}
	free(buf);
	return ret;
}

enum cmp_kind { CMP_BUF, CMP_PATTERN, CMP_ZERO };

static int64_t devmem_cmp(struct mvf_vf *vf, uint64_t off, uint64_t len,
			  enum cmp_kind kind, const void *expect, uint64_t seed,
			  uint64_t *first_bad)
{
	uint64_t done, n, i, *got, *want = NULL;
	int64_t bad = 0;
	int ret;

	ret = devmem_check(vf, off, len);
	if (ret)
		return ret;
	got = malloc(DEVMEM_CHUNK);
	if (kind == CMP_PATTERN)
		want = malloc(DEVMEM_CHUNK);
	if (!got || (kind == CMP_PATTERN && !want)) {
		free(got);
		free(want);
		return -ENOMEM;
	}
	if (first_bad)
		*first_bad = UINT64_MAX;
	for (done = 0; done < len; done += n) {
		n = len - done < DEVMEM_CHUNK ? len - done : DEVMEM_CHUNK;
		ret = mvf_devmem_read(vf, off + done, got, n);
		if (ret) {
			bad = ret;
			break;
		}
		if (kind == CMP_BUF)
			want = (uint64_t *)((const uint8_t *)expect + done);
		else if (kind == CMP_PATTERN)
			mvf_pattern_fill(want, off + done, n, seed);
		if (kind == CMP_ZERO) {
			for (i = 0; i < n / 8; i++) {
				if (got[i]) {
					if (!bad && first_bad)
						*first_bad = off + done + 8 * i;
					bad++;
				}
			}
			continue;
		}
		if (!memcmp(got, want, n))
			continue;
		for (i = 0; i < n / 8; i++) {
			if (got[i] != want[i]) {
				if (!bad && first_bad)
					*first_bad = off + done + 8 * i;
				bad++;
			}
		}
	}
	free(got);
	if (kind == CMP_PATTERN)
		free(want);
	return bad;
}

int64_t mvf_devmem_cmp(struct mvf_vf *vf, uint64_t off, const void *expect,
		       uint64_t len, uint64_t *first_bad)
{
	return devmem_cmp(vf, off, len, CMP_BUF, expect, 0, first_bad);
}

int64_t mvf_devmem_cmp_pattern(struct mvf_vf *vf, uint64_t off, uint64_t len,
			       uint64_t seed, uint64_t *first_bad)
{
	return devmem_cmp(vf, off, len, CMP_PATTERN, NULL, seed, first_bad);
}

int64_t mvf_devmem_cmp_zero(struct mvf_vf *vf, uint64_t off, uint64_t len,
			    uint64_t *first_bad)
{
	return devmem_cmp(vf, off, len, CMP_ZERO, NULL, 0, first_bad);
}

/* ---- DMA memory --------------------------------------------------------------- */

int mvf_dma_alloc(struct vfio_ctx *ctx, uint64_t iova, size_t size,
		  struct mvf_dma *dma)
{
	void *p;
	int ret;

	size = ALIGN_UP(size, PAGE_SZ);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		vfio_util_err("mmap %zu bytes of DMA memory: %s", size,
			      strerror(-ret));
		return ret;
	}
	ret = vfio_dma_map(ctx, p, iova, size);
	if (ret) {
		munmap(p, size);
		return ret;
	}
	dma->ctx = ctx;
	dma->va = p;
	dma->iova = iova;
	dma->size = size;
	return 0;
}

void mvf_dma_free(struct mvf_dma *dma)
{
	if (!dma->va)
		return;
	vfio_dma_unmap(dma->ctx, dma->iova, dma->size);
	munmap(dma->va, dma->size);
	dma->va = NULL;
}

/* ---- queue pair ------------------------------------------------------------- */

static void ring_init(struct mvf_ring *r, struct mvf_dma *dma, size_t *off,
		      uint32_t log, size_t esz)
{
	size_t bytes = ALIGN_UP(esz << log, PAGE_SZ);

	r->va = dma->va + *off;
	r->iova = dma->iova + *off;
	r->log_size = log;
	r->pi = 0;
	r->ci = 0;
	memset(r->va, 0, bytes);
	*off += bytes;
}

int mvf_qp_create(struct mvf_qp *qp, struct mvf_vf *vf, struct mvf_dma *dma,
		  size_t off, size_t size, uint32_t sq_log, uint32_t rq_log,
		  uint32_t cq_log)
{
	size_t need, pos = off;
	uint32_t sq_ci, rq_ci, cq_pi;
	int ret;

	if (sq_log < MVF_VF_Q_LOG_SIZE_MIN || sq_log > MVF_VF_Q_LOG_SIZE_MAX ||
	    rq_log < MVF_VF_Q_LOG_SIZE_MIN || rq_log > MVF_VF_Q_LOG_SIZE_MAX ||
	    cq_log < MVF_VF_Q_LOG_SIZE_MIN || cq_log > MVF_VF_Q_LOG_SIZE_MAX)
		return -EINVAL;
	need = ALIGN_UP((size_t)MVF_SEND_WQE_SIZE << sq_log, PAGE_SZ) +
	       ALIGN_UP((size_t)MVF_RECV_WQE_SIZE << rq_log, PAGE_SZ) +
	       ALIGN_UP((size_t)MVF_CQE_SIZE << cq_log, PAGE_SZ);
	if (off % PAGE_SZ || off > dma->size || size > dma->size - off ||
	    need >= size) {
		vfio_util_err("queue pair does not fit its DMA area");
		return -EINVAL;
	}
	/* a reset may have left bus mastering off: the rings need DMA */
	ret = vfio_pci_enable_master(vf->vdev);
	if (ret)
		return ret;
	memset(qp, 0, sizeof(*qp));
	qp->vf = vf;
	qp->timeout_ms = mvf_timeout_ms();
	ring_init(&qp->sq, dma, &pos, sq_log, MVF_SEND_WQE_SIZE);
	ring_init(&qp->rq, dma, &pos, rq_log, MVF_RECV_WQE_SIZE);
	ring_init(&qp->cq, dma, &pos, cq_log, MVF_CQE_SIZE);
	qp->buf = dma->va + pos;
	qp->buf_iova = dma->iova + pos;
	qp->buf_size = off + size - pos;
	mb();	/* zeroed rings visible before the device learns of them */

	vf->io_err = 0;
	mvf_wr32(vf, MVF_VF_REG_CTRL, 0);
	mvf_wr32(vf, MVF_VF_REG_SQ_BASE_LO, (uint32_t)qp->sq.iova);
	mvf_wr32(vf, MVF_VF_REG_SQ_BASE_HI, qp->sq.iova >> 32);
	mvf_wr32(vf, MVF_VF_REG_SQ_LOG_SIZE, sq_log);
	mvf_wr32(vf, MVF_VF_REG_RQ_BASE_LO, (uint32_t)qp->rq.iova);
	mvf_wr32(vf, MVF_VF_REG_RQ_BASE_HI, qp->rq.iova >> 32);
	mvf_wr32(vf, MVF_VF_REG_RQ_LOG_SIZE, rq_log);
	mvf_wr32(vf, MVF_VF_REG_CQ_BASE_LO, (uint32_t)qp->cq.iova);
	mvf_wr32(vf, MVF_VF_REG_CQ_BASE_HI, qp->cq.iova >> 32);
	mvf_wr32(vf, MVF_VF_REG_CQ_LOG_SIZE, cq_log);
	mvf_wr32(vf, MVF_VF_REG_CQ_CI, 0);
	sq_ci = mvf_rd32(vf, MVF_VF_REG_SQ_CI);
	rq_ci = mvf_rd32(vf, MVF_VF_REG_RQ_CI);
	cq_pi = mvf_rd32(vf, MVF_VF_REG_CQ_PI);
	if (vf->io_err)
		return vf->io_err;
	if (sq_ci || rq_ci || cq_pi) {
		vfio_util_err("%s: queue indices not zero (sq_ci %u rq_ci %u cq_pi %u): reset the VF first",
			      vf->bdf, sq_ci, rq_ci, cq_pi);
		return -EBUSY;
	}
	mvf_wr32(vf, MVF_VF_REG_CTRL, MVF_VF_CTRL_QP_ENABLE);
	if (mvf_rd32(vf, MVF_VF_REG_STATUS) & MVF_VF_STATUS_QP_ERROR) {
		vfio_util_err("%s: QP_ERROR after queue setup", vf->bdf);
		return -EIO;
	}
	return vf->io_err;
}

void mvf_qp_move(struct mvf_qp *qp, struct mvf_vf *vf)
{
	qp->vf = vf;
}

static inline uint32_t ring_mask(const struct mvf_ring *r)
{
	return (1u << r->log_size) - 1;
}

int mvf_qp_post(struct mvf_qp *qp, uint8_t opcode, uint64_t addr, uint32_t len,
		uint64_t devmem_off, uint64_t wr_id)
{
	struct mvf_send_wqe *w;

	if (qp->sq.pi - qp->sq.ci >= (1u << qp->sq.log_size))
		return -ENOSPC;
	w = (struct mvf_send_wqe *)(qp->sq.va +
				    (size_t)(qp->sq.pi & ring_mask(&qp->sq)) *
				    MVF_SEND_WQE_SIZE);
	memset(w, 0, sizeof(*w));
	w->opcode = opcode;
	w->len = htole32(len);
	w->addr = htole64(addr);
	w->devmem_off = htole64(devmem_off);
	w->wr_id = htole64(wr_id);
	qp->sq.pi++;
	return 0;
}

int mvf_qp_post_recv(struct mvf_qp *qp, uint64_t addr, uint32_t len,
		     uint64_t wr_id)
{
	struct mvf_recv_wqe *w;

	if (qp->rq.pi - qp->rq.ci >= (1u << qp->rq.log_size))
		return -ENOSPC;
	w = (struct mvf_recv_wqe *)(qp->rq.va +
				    (size_t)(qp->rq.pi & ring_mask(&qp->rq)) *
				    MVF_RECV_WQE_SIZE);
	memset(w, 0, sizeof(*w));
	w->addr = htole64(addr);
	w->len = htole32(len);
	w->wr_id = htole64(wr_id);
	qp->rq.pi++;
	return 0;
}

void mvf_qp_ring_sq(struct mvf_qp *qp)
{
	mb();	/* WQEs written before the doorbell */
	mvf_wr32(qp->vf, MVF_VF_REG_SQ_PI, qp->sq.pi);
}

void mvf_qp_ring_rq(struct mvf_qp *qp)
{
	mb();	/* receive WQEs written before the doorbell */
	mvf_wr32(qp->vf, MVF_VF_REG_RQ_PI, qp->rq.pi);
}

static struct mvf_cqe *cqe_at(struct mvf_qp *qp, uint32_t idx)
{
	return (struct mvf_cqe *)(qp->cq.va +
				  (size_t)(idx & ring_mask(&qp->cq)) *
				  MVF_CQE_SIZE);
}

static inline uint8_t cq_phase(const struct mvf_qp *qp)
{
	/* 1 on the first pass through the ring, 0 on the second, ... */
	return ((qp->cq.ci >> qp->cq.log_size) & 1) ^ 1;
}

bool mvf_qp_cqe_pending(struct mvf_qp *qp)
{
	struct mvf_cqe *c = cqe_at(qp, qp->cq.ci);

	return __atomic_load_n(&c->phase, __ATOMIC_ACQUIRE) == cq_phase(qp);
}

int mvf_qp_poll(struct mvf_qp *qp, struct mvf_cqe *out, int max)
{
	int n = 0;

	while (n < max) {
		struct mvf_cqe *c = cqe_at(qp, qp->cq.ci);

		if (__atomic_load_n(&c->phase, __ATOMIC_ACQUIRE) !=
		    cq_phase(qp))
			break;
		out[n] = *c;
		if (out[n].qtype == MVF_CQE_Q_SQ)
			qp->sq.ci = le32toh(out[n].wqe_index) + 1;
		else if (out[n].qtype == MVF_CQE_Q_RQ)
			qp->rq.ci = le32toh(out[n].wqe_index) + 1;
		qp->cq.ci++;
		n++;
	}
	if (n) {
		mb();	/* CQEs copied out before the slots are handed back */
		mvf_wr32(qp->vf, MVF_VF_REG_CQ_CI, qp->cq.ci);
	}
	return n;
}

int mvf_qp_wait(struct mvf_qp *qp, struct mvf_cqe *out, int n)
{
	double deadline = vfio_now() + qp->timeout_ms / 1000.0;
	struct timespec ts = { .tv_nsec = 200000 };
	int got = 0;

	while (got < n) {
		got += mvf_qp_poll(qp, out + got, n - got);
		if (got >= n || vfio_now() > deadline)
			break;
		nanosleep(&ts, NULL);
	}
	return got;
}

static const char *op_name(uint8_t op)
{
	switch (op) {
	case MVF_WQE_NOP: return "NOP";
	case MVF_WQE_SEND: return "SEND";
	case MVF_WQE_DEVMEM_WRITE: return "DEVMEM_WRITE";
	case MVF_WQE_DEVMEM_READ: return "DEVMEM_READ";
	case MVF_CQE_OP_RECV: return "RECV";
	default: return "?";
	}
}

int mvf_qp_exec(struct mvf_qp *qp, uint8_t opcode, uint64_t addr, uint32_t len,
		uint64_t devmem_off, uint64_t wr_id)
{
	struct mvf_cqe c;
	int ret;

	ret = mvf_qp_post(qp, opcode, addr, len, devmem_off, wr_id);
	if (ret)
		return ret;
	mvf_qp_ring_sq(qp);
	if (mvf_qp_wait(qp, &c, 1) != 1) {
		vfio_util_err("%s: no completion for %s wr_id 0x%llx within %d ms",
			      qp->vf->bdf, op_name(opcode),
			      (unsigned long long)wr_id, qp->timeout_ms);
		return -ETIMEDOUT;
	}
	if (le64toh(c.wr_id) != wr_id || c.status != MVF_CQE_STAT_OK ||
	    c.qtype != MVF_CQE_Q_SQ || c.opcode != opcode) {
		vfio_util_err("%s: %s wr_id 0x%llx completed as wr_id 0x%llx op %s q %u status %u",
			      qp->vf->bdf, op_name(opcode),
			      (unsigned long long)wr_id,
			      (unsigned long long)le64toh(c.wr_id),
			      op_name(c.opcode), c.qtype, c.status);
		return -EIO;
	}
	return 0;
}

int mvf_qp_selftest(struct mvf_qp *qp, int n, uint32_t len,
		    uint64_t devmem_off, uint64_t seed)
{
	int total = 2 * n + 3, got, i, sq_seen = 0, rq_seen = 0, ret = 0;
	uint8_t *tx = qp->buf, *rx, *dm, *rb;
	uint64_t base = (seed & 0xffff) << 32;
	struct mvf_cqe *cqes;

	len = ALIGN_UP(len, 8);
	rx = tx + (size_t)n * len;
	dm = rx + (size_t)n * len;
	rb = dm + len;
	if ((size_t)(rb + len - qp->buf) > qp->buf_size)
		return -ENOSPC;
	cqes = calloc(total, sizeof(*cqes));
	if (!cqes)
		return -ENOMEM;

	mvf_pattern_fill(tx, 0, (size_t)n * len, seed);
	memset(rx, 0, (size_t)n * len);
	mvf_pattern_fill(dm, devmem_off, len, MVF_SELFTEST_DM_SEED(seed));
	memset(rb, 0, len);

	for (i = 0; i < n; i++) {
		ret = mvf_qp_post_recv(qp, mvf_qp_iova(qp, rx + (size_t)i * len),
				       len, base | 0x1000 | i);
		if (ret)
			goto out;
	}
	mvf_qp_ring_rq(qp);
	for (i = 0; i < n; i++) {
		ret = mvf_qp_post(qp, MVF_WQE_SEND,
				  mvf_qp_iova(qp, tx + (size_t)i * len), len, 0,
				  base | 0x2000 | i);
		if (ret)
			goto out;
	}
	ret = mvf_qp_post(qp, MVF_WQE_DEVMEM_WRITE, mvf_qp_iova(qp, dm), len,
			  devmem_off, base | 0x3000);
	if (!ret)
		ret = mvf_qp_post(qp, MVF_WQE_DEVMEM_READ, mvf_qp_iova(qp, rb),
				  len, devmem_off, base | 0x3001);
	if (!ret)
		ret = mvf_qp_post(qp, MVF_WQE_NOP, 0, 0, 0, base | 0x3002);
	if (ret)
		goto out;
	mvf_qp_ring_sq(qp);

	got = mvf_qp_wait(qp, cqes, total);
	if (got != total) {
		vfio_util_err("%s: %d of %d completions within %d ms",
			      qp->vf->bdf, got, total, qp->timeout_ms);
		ret = -ETIMEDOUT;
		goto out;
	}
	for (i = 0; i < total; i++) {
		struct mvf_cqe *c = &cqes[i];
		uint64_t want;

		if (c->status != MVF_CQE_STAT_OK) {
			vfio_util_err("%s: CQE %d (%s wr_id 0x%llx) status %u",
				      qp->vf->bdf, i, op_name(c->opcode),
				      (unsigned long long)le64toh(c->wr_id),
				      c->status);
			ret = -EIO;
			goto out;
		}
		if (c->qtype == MVF_CQE_Q_RQ) {
			want = base | 0x1000 | rq_seen;
			if (c->opcode != MVF_CQE_OP_RECV ||
			    le64toh(c->wr_id) != want ||
			    le32toh(c->byte_cnt) != len) {
				vfio_util_err("%s: receive CQE %d: op 0x%x wr_id 0x%llx bytes %u, expected RECV 0x%llx %u",
					      qp->vf->bdf, rq_seen, c->opcode,
					      (unsigned long long)le64toh(c->wr_id),
					      le32toh(c->byte_cnt),
					      (unsigned long long)want, len);
				ret = -EIO;
				goto out;
			}
			rq_seen++;
		} else {
			static const uint8_t ops[3] = { MVF_WQE_DEVMEM_WRITE,
				MVF_WQE_DEVMEM_READ, MVF_WQE_NOP };
			uint8_t op;

			if (sq_seen < n) {
				want = base | 0x2000 | sq_seen;
				op = MVF_WQE_SEND;
			} else {
				want = base | (0x3000 + sq_seen - n);
				op = ops[sq_seen - n];
			}
			if (c->opcode != op || le64toh(c->wr_id) != want) {
				vfio_util_err("%s: send CQE %d: %s wr_id 0x%llx, expected %s 0x%llx",
					      qp->vf->bdf, sq_seen,
					      op_name(c->opcode),
					      (unsigned long long)le64toh(c->wr_id),
					      op_name(op),
					      (unsigned long long)want);
				ret = -EIO;
				goto out;
			}
			sq_seen++;
		}
	}
	if (sq_seen != n + 3 || rq_seen != n) {
		vfio_util_err("%s: %d send and %d receive CQEs, expected %d and %d",
			      qp->vf->bdf, sq_seen, rq_seen, n + 3, n);
		ret = -EIO;
		goto out;
	}
	if (memcmp(tx, rx, (size_t)n * len)) {
		vfio_util_err("%s: received data differs from sent data",
			      qp->vf->bdf);
		ret = -EIO;
		goto out;
	}
	if (memcmp(dm, rb, len)) {
		vfio_util_err("%s: DEVMEM_READ returned other data than DEVMEM_WRITE wrote",
			      qp->vf->bdf);
		ret = -EIO;
		goto out;
	}
	if (mvf_devmem_cmp(qp->vf, devmem_off, dm, len, NULL) != 0) {
		vfio_util_err("%s: BAR%d does not show what DEVMEM_WRITE wrote",
			      qp->vf->bdf, MVF_VF_DEVMEM_BAR);
		ret = -EIO;
	}
out:
	free(cqes);
	return ret;
}

/* ---- migration stream -------------------------------------------------------------- */

uint32_t mvf_crc32(uint32_t crc, const void *buf, size_t len)
{
	static uint32_t table[256];
	const uint8_t *p = buf;
	uint32_t c;
	int i, k;

	if (!table[1]) {
		for (i = 0; i < 256; i++) {
			c = i;
			for (k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static const struct mvf_rec_hdr *mvf_rec_hdr_at(const void *buf, uint64_t off)
{
	return (const struct mvf_rec_hdr *)((const uint8_t *)buf + off);
}

uint64_t mvf_rec_size(const void *buf, uint64_t off)
{
	return MVF_REC_HDR_SIZE +
	       ALIGN_UP(le64toh(mvf_rec_hdr_at(buf, off)->len), MVF_REC_ALIGN);
}

void *mvf_rec_payload(void *buf, uint64_t off, uint64_t *len)
{
	if (len)
		*len = le64toh(mvf_rec_hdr_at(buf, off)->len);
	return (uint8_t *)buf + off + MVF_REC_HDR_SIZE;
}

static uint32_t mvf_rec_crc(const void *buf, uint64_t off)
{
	struct mvf_rec_hdr h = *mvf_rec_hdr_at(buf, off);

	h.crc32 = 0;
	return mvf_crc32(mvf_crc32(0, &h, sizeof(h)),
			 (const uint8_t *)buf + off + MVF_REC_HDR_SIZE,
			 le64toh(h.len));
}

void mvf_rec_fix_crc(void *buf, uint64_t off)
{
	struct mvf_rec_hdr *h = (struct mvf_rec_hdr *)((uint8_t *)buf + off);

	h->crc32 = htole32(mvf_rec_crc(buf, off));
}

int mvf_stream_parse(const void *buf, size_t len, bool need_end,
		     struct mvf_stream_info *info, char *why, size_t why_len)
{
	uint64_t off = 0;

	memset(info, 0, sizeof(*info));
	while (off < len) {
		const struct mvf_rec_hdr *h;
		uint64_t plen, size;
		uint16_t tag;

		if (info->end_off) {
			snprintf(why, why_len, "data after END at %llu",
				 (unsigned long long)off);
			return -EINVAL;
		}
		if (len - off < MVF_REC_HDR_SIZE) {
			snprintf(why, why_len, "record header at %llu cut short",
				 (unsigned long long)off);
			return -EINVAL;
		}
		h = mvf_rec_hdr_at(buf, off);
		tag = le16toh(h->tag);
		plen = le64toh(h->len);
		if (plen > MVF_REC_MAX_SIZE - MVF_REC_HDR_SIZE) {
			snprintf(why, why_len, "record %#x at %llu of %llu bytes",
				 tag, (unsigned long long)off,
				 (unsigned long long)plen);
			return -EINVAL;
		}
		size = mvf_rec_size(buf, off);
		if (len - off < size) {
			snprintf(why, why_len, "record %#x at %llu cut short",
				 tag, (unsigned long long)off);
			return -EINVAL;
		}
		if (le32toh(h->crc32) != mvf_rec_crc(buf, off)) {
			snprintf(why, why_len, "record %#x at %llu: crc32 0x%08x, computed 0x%08x",
				 tag, (unsigned long long)off,
				 le32toh(h->crc32), mvf_rec_crc(buf, off));
			return -EINVAL;
		}
		if (!info->records && tag != MVF_REC_IDENT) {
			snprintf(why, why_len, "first record has tag %#x, not IDENT",
				 tag);
			return -EINVAL;
		}
		switch (tag) {
		case MVF_REC_IDENT: {
			const struct mvf_rec_ident *id = (const void *)(h + 1);

			if (info->records || plen < sizeof(*id) ||
			    le32toh(id->magic) != MVF_STREAM_MAGIC) {
				snprintf(why, why_len, "bad IDENT record at %llu",
					 (unsigned long long)off);
				return -EINVAL;
			}
			info->ident_off = off;
			break;
		}
		case MVF_REC_SIZE:
			info->size_off = off;
			break;
		case MVF_REC_DEVMEM: {
			const struct mvf_rec_devmem *d = (const void *)(h + 1);
			uint32_t pages = le32toh(d->pages);
			bool zero = le32toh(d->flags) & MVF_REC_DEVMEM_F_ZERO;

			if (plen != sizeof(*d) +
				    (zero ? 0 : (uint64_t)pages *
						MVF_DEVMEM_PAGE_SIZE)) {
				snprintf(why, why_len, "DEVMEM record at %llu: %llu bytes for %u pages",
					 (unsigned long long)off,
					 (unsigned long long)plen, pages);
				return -EINVAL;
			}
			info->devmem_records++;
			info->devmem_pages += pages;
			if (zero)
				info->devmem_zero_pages += pages;
			else if (!info->devmem_data_off)
				info->devmem_data_off = off;
			break;
		}
		case MVF_REC_STATE:
			if (plen < sizeof(struct mvf_rec_state)) {
				snprintf(why, why_len, "STATE record at %llu too short",
					 (unsigned long long)off);
				return -EINVAL;
			}
			info->state_off = off;
			break;
		case MVF_REC_END: {
			const struct mvf_rec_end *e = (const void *)(h + 1);

			if (plen < sizeof(*e) ||
			    le64toh(e->stream_bytes) != off) {
				snprintf(why, why_len, "END at %llu counts %llu bytes before it",
					 (unsigned long long)off,
					 plen < sizeof(*e) ? 0ULL :
					 (unsigned long long)le64toh(e->stream_bytes));
				return -EINVAL;
			}
			info->end_off = off;
			break;
		}
		default:
			if (le16toh(h->flags) & MVF_REC_F_MANDATORY) {
				snprintf(why, why_len, "unknown mandatory record %#x at %llu",
					 tag, (unsigned long long)off);
				return -EINVAL;
			}
			info->unknown_records++;
			break;
		}
		info->records++;
		off += size;
	}
	info->len = off;
	if (need_end && !info->end_off) {
		snprintf(why, why_len, "no END record in %zu bytes", len);
		return -EINVAL;
	}
	if (need_end && !info->state_off) {
		snprintf(why, why_len, "no STATE record");
		return -EINVAL;
	}
	return 0;
}

int mvf_stream_devmem(const void *buf, size_t len, uint8_t *devmem,
		      uint64_t size)
{
	uint64_t off = 0;

	while (off + MVF_REC_HDR_SIZE <= len) {
		const struct mvf_rec_hdr *h = mvf_rec_hdr_at(buf, off);
		const struct mvf_rec_devmem *d = (const void *)(h + 1);

		if (le16toh(h->tag) == MVF_REC_DEVMEM) {
			uint64_t at = le64toh(d->offset);
			uint64_t n = (uint64_t)le32toh(d->pages) *
				     MVF_DEVMEM_PAGE_SIZE;

			if (at > size || n > size - at)
				return -EINVAL;
			if (le32toh(d->flags) & MVF_REC_DEVMEM_F_ZERO)
				memset(devmem + at, 0, n);
			else
				memcpy(devmem + at, d + 1, n);
		}
		off += mvf_rec_size(buf, off);
	}
	return 0;
}

int mvf_vf_save_stopped(struct mvf_vf *vf, void **img, size_t *len)
{
	uint32_t state;
	int fd = -1, ret;

	ret = vfio_mig_get_state(vf->vdev, &state);
	if (ret)
		return ret;
	if (state != VFIO_DEVICE_STATE_STOP) {
		vfio_util_err("%s: in %s, not STOP", vf->bdf,
			      vfio_mig_state_name(state));
		return -EINVAL;
	}
	ret = vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	if (ret)
		return ret;
	if (fd < 0) {
		vfio_util_err("%s: STOP_COPY returned no data fd", vf->bdf);
		return -EBADF;
	}
	ret = vfio_mig_save(fd, vf->devmem_size + (1 << 20), img, len);
	close(fd);
	if (ret)
		return ret;
	ret = vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP, NULL);
	if (ret) {
		free(*img);
		*img = NULL;
	}
	return ret;
}

int mvf_stream_regs(const void *buf, size_t len, struct mvf_vf_regs *r,
		    char *why, size_t why_len)
{
	const struct mvf_rec_ident *id;
	const struct mvf_rec_state *st;
	const struct mvf_img_queues *q;
	struct mvf_stream_info info;
	int i;

	memset(r, 0, sizeof(*r));
	if (mvf_stream_parse(buf, len, true, &info, why, why_len))
		return -EINVAL;
	id = mvf_rec_payload((void *)buf, info.ident_off, NULL);
	st = mvf_rec_payload((void *)buf, info.state_off, NULL);
	q = &st->queues;
	r->magic = MVF_MAGIC_VF;
	r->version = le32toh(id->if_version);
	r->status = le32toh(st->regs.status);
	r->ctrl = le32toh(st->regs.ctrl);
	for (i = 0; i < MVF_VF_NUM_SCRATCH; i++)
		r->scratch[i] = le32toh(st->regs.scratch[i]);
	r->sq_base = le64toh(q->sq.base);
	r->rq_base = le64toh(q->rq.base);
	r->cq_base = le64toh(q->cq.base);
	r->sq_log = le32toh(q->sq.log_size);
	r->rq_log = le32toh(q->rq.log_size);
	r->cq_log = le32toh(q->cq.log_size);
	r->sq_pi = le32toh(q->sq.pi);
	r->rq_pi = le32toh(q->rq.pi);
	r->cq_ci = le32toh(q->cq.ci);
	r->sq_ci = le32toh(q->sq.ci);
	r->rq_ci = le32toh(q->rq.ci);
	r->cq_pi = le32toh(q->cq.pi);
	r->devmem_size = le64toh(id->devmem_size);
	for (i = 0; i < MVF_VF_NUM_COUNTERS; i++)
		r->cnt[i] = le64toh(st->cnt[i]);
	return 0;
}

int mvf_vf_read_regs_stopped(struct mvf_vf *vf, struct mvf_vf_regs *r)
{
	char why[256];
	void *img = NULL;
	size_t len = 0;
	int ret;

	ret = mvf_vf_save_stopped(vf, &img, &len);
	if (ret)
		return ret;
	ret = mvf_stream_regs(img, len, r, why, sizeof(why));
	if (ret)
		vfio_util_err("%s: its migration stream: %s", vf->bdf, why);
	free(img);
	return ret;
}
