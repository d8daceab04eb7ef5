// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO user library: iommufd cdev and legacy type1 group/container access,
 * regions, reset, device features and the migration uAPI v2.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "vfio_util.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

bool vfio_util_quiet;

void vfio_util_err(const char *fmt, ...)
{
	va_list ap;

	if (vfio_util_quiet)
		return;
	va_start(ap, fmt);
	fputs("vfio_util: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

double vfio_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

const char *vfio_mode_name(enum vfio_mode mode)
{
	return mode == VFIO_MODE_IOMMUFD ? "iommufd" : "group";
}

int vfio_mode_parse(const char *s, enum vfio_mode *mode)
{
	if (!strcmp(s, "iommufd") || !strcmp(s, "cdev")) {
		*mode = VFIO_MODE_IOMMUFD;
		return 0;
	}
	if (!strcmp(s, "group") || !strcmp(s, "legacy") ||
	    !strcmp(s, "container") || !strcmp(s, "type1")) {
		*mode = VFIO_MODE_GROUP;
		return 0;
	}
	return -EINVAL;
}

int vfio_mode_available(enum vfio_mode mode, char *why, size_t why_len)
{
	const char *path = mode == VFIO_MODE_IOMMUFD ? "/dev/iommu" :
						       "/dev/vfio/vfio";

	if (access(path, R_OK | W_OK)) {
		int err = errno;

		if (why)
			snprintf(why, why_len, "%s mode needs %s: %s",
				 vfio_mode_name(mode), path, strerror(err));
		return -err;
	}
	return 0;
}

enum vfio_mode vfio_mode_default(void)
{
	const char *env = getenv("MVF_VFIO_MODE");
	enum vfio_mode mode;

	if (env && !vfio_mode_parse(env, &mode))
		return mode;
	if (!vfio_mode_available(VFIO_MODE_IOMMUFD, NULL, 0))
		return VFIO_MODE_IOMMUFD;
	return VFIO_MODE_GROUP;
}

int vfio_ctx_open(enum vfio_mode mode, struct vfio_ctx **out)
{
	struct vfio_ctx *ctx;
	int ret;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->mode = mode;
	ctx->iommufd = -1;
	ctx->container = -1;

	if (mode == VFIO_MODE_IOMMUFD) {
		struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

		ctx->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		if (ctx->iommufd < 0) {
			ret = -errno;
			vfio_util_err("open /dev/iommu: %s", strerror(-ret));
			goto err;
		}
		if (ioctl(ctx->iommufd, IOMMU_IOAS_ALLOC, &alloc)) {
			ret = -errno;
			vfio_util_err("IOMMU_IOAS_ALLOC: %s", strerror(-ret));
			goto err;
		}
		ctx->ioas_id = alloc.out_ioas_id;
	} else {
		ctx->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
		if (ctx->container < 0) {
			ret = -errno;
			vfio_util_err("open /dev/vfio/vfio: %s", strerror(-ret));
			goto err;
		}
		ret = ioctl(ctx->container, VFIO_GET_API_VERSION);
		if (ret != VFIO_API_VERSION) {
			vfio_util_err("VFIO_GET_API_VERSION: %d", ret);
			ret = -EINVAL;
			goto err;
		}
		if (ioctl(ctx->container, VFIO_CHECK_EXTENSION,
			  VFIO_TYPE1v2_IOMMU) <= 0) {
			vfio_util_err("container lacks VFIO_TYPE1v2_IOMMU");
			ret = -EOPNOTSUPP;
			goto err;
		}
	}
	*out = ctx;
	return 0;
err:
	vfio_ctx_close(ctx);
	return ret;
}

void vfio_ctx_close(struct vfio_ctx *ctx)
{
	int i;

	if (!ctx)
		return;
	for (i = 0; i < ctx->ngroups; i++)
		close(ctx->group_fd[i]);
	if (ctx->container >= 0)
		close(ctx->container);
	if (ctx->iommufd >= 0)
		close(ctx->iommufd);
	free(ctx);
}

int vfio_dma_map(struct vfio_ctx *ctx, void *vaddr, uint64_t iova,
		 uint64_t size)
{
	int ret;

	if (ctx->nmaps >= VFIO_CTX_MAX_MAPS)
		return -ENOSPC;

	if (ctx->mode == VFIO_MODE_IOMMUFD) {
		struct iommu_ioas_map map = {
			.size = sizeof(map),
			.flags = IOMMU_IOAS_MAP_FIXED_IOVA |
				 IOMMU_IOAS_MAP_READABLE |
				 IOMMU_IOAS_MAP_WRITEABLE,
			.ioas_id = ctx->ioas_id,
			.user_va = (uintptr_t)vaddr,
			.length = size,
			.iova = iova,
		};

		if (ioctl(ctx->iommufd, IOMMU_IOAS_MAP, &map)) {
			ret = -errno;
			vfio_util_err("IOMMU_IOAS_MAP iova 0x%llx size 0x%llx: %s",
				      (unsigned long long)iova,
				      (unsigned long long)size, strerror(-ret));
			return ret;
		}
	} else {
		struct vfio_iommu_type1_dma_map map = {
			.argsz = sizeof(map),
			.flags = VFIO_DMA_MAP_FLAG_READ |
				 VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)vaddr,
			.iova = iova,
			.size = size,
		};

		if (!ctx->iommu_set) {
			vfio_util_err("VFIO_IOMMU_MAP_DMA before any device was opened");
			return -EINVAL;
		}
		if (ioctl(ctx->container, VFIO_IOMMU_MAP_DMA, &map)) {
			ret = -errno;
			vfio_util_err("VFIO_IOMMU_MAP_DMA iova 0x%llx size 0x%llx: %s",
				      (unsigned long long)iova,
				      (unsigned long long)size, strerror(-ret));
			return ret;
		}
	}
	ctx->maps[ctx->nmaps].iova = iova;
	ctx->maps[ctx->nmaps].size = size;
	ctx->maps[ctx->nmaps].vaddr = vaddr;
	ctx->nmaps++;
	return 0;
}

int vfio_dma_unmap(struct vfio_ctx *ctx, uint64_t iova, uint64_t size)
{
	int i, ret;

	if (ctx->mode == VFIO_MODE_IOMMUFD) {
		struct iommu_ioas_unmap unmap = {
			.size = sizeof(unmap),
			.ioas_id = ctx->ioas_id,
			.iova = iova,
			.length = size,
		};

		if (ioctl(ctx->iommufd, IOMMU_IOAS_UNMAP, &unmap)) {
			ret = -errno;
			vfio_util_err("IOMMU_IOAS_UNMAP iova 0x%llx: %s",
				      (unsigned long long)iova, strerror(-ret));
			return ret;
		}
	} else {
		struct vfio_iommu_type1_dma_unmap unmap = {
			.argsz = sizeof(unmap),
			.iova = iova,
			.size = size,
		};

		if (ioctl(ctx->container, VFIO_IOMMU_UNMAP_DMA, &unmap)) {
			ret = -errno;
			vfio_util_err("VFIO_IOMMU_UNMAP_DMA iova 0x%llx: %s",
				      (unsigned long long)iova, strerror(-ret));
			return ret;
		}
	}
	for (i = 0; i < ctx->nmaps; i++) {
		if (ctx->maps[i].iova == iova) {
			ctx->maps[i] = ctx->maps[--ctx->nmaps];
			break;
		}
	}
	return 0;
}

int vfio_dma_map_file(struct vfio_ctx *ctx, int fd, uint64_t start,
		      uint64_t iova, uint64_t size)
{
#ifdef IOMMU_IOAS_MAP_FILE
	struct iommu_ioas_map_file map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.fd = fd,
		.start = start,
		.length = size,
		.iova = iova,
	};
	int ret;

	if (ctx->mode != VFIO_MODE_IOMMUFD) {
		vfio_util_err("IOMMU_IOAS_MAP_FILE needs an iommufd context");
		return -EOPNOTSUPP;
	}
	if (ctx->nmaps >= VFIO_CTX_MAX_MAPS)
		return -ENOSPC;
	map.ioas_id = ctx->ioas_id;
	if (ioctl(ctx->iommufd, IOMMU_IOAS_MAP_FILE, &map)) {
		ret = -errno;
		vfio_util_err("IOMMU_IOAS_MAP_FILE fd %d iova 0x%llx size 0x%llx: %s",
			      fd, (unsigned long long)iova,
			      (unsigned long long)size, strerror(-ret));
		return ret;
	}
	ctx->maps[ctx->nmaps].iova = iova;
	ctx->maps[ctx->nmaps].size = size;
	ctx->maps[ctx->nmaps].vaddr = NULL;
	ctx->nmaps++;
	return 0;
#else
	(void)ctx, (void)fd, (void)start, (void)iova, (void)size;
	vfio_util_err("built without IOMMU_IOAS_MAP_FILE (uAPI headers before 6.13)");
	return -EOPNOTSUPP;
#endif
}

int vfio_bdf_normalize(const char *in, char *out, size_t out_len)
{
	unsigned int dom = 0, bus, dev, fn;
	char tail;

	if (sscanf(in, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail) != 4) {
		dom = 0;
		if (sscanf(in, "%x:%x.%x%c", &bus, &dev, &fn, &tail) != 3)
			return -EINVAL;
	}
	if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, out_len, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

/* Find the vfio cdev name (vfioN) of a PCI device. */
static int find_cdev(const char *bdf, char *path, size_t len)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	d = opendir(dir);
	if (!d) {
		int err = errno;

		vfio_util_err("%s: no vfio cdev (%s: %s): not bound to vfio, or no VFIO_DEVICE_CDEV?",
			      bdf, dir, strerror(err));
		return -err;
	}
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, "vfio", 4) && de->d_name[4]) {
			snprintf(path, len, "/dev/vfio/devices/%s", de->d_name);
			closedir(d);
			return 0;
		}
	}
	closedir(d);
	vfio_util_err("%s: %s is empty", bdf, dir);
	return -ENODEV;
}

static int find_group(const char *bdf, int *group)
{
	char link[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/iommu_group",
		 bdf);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0) {
		int err = errno;

		vfio_util_err("%s: no IOMMU group (%s): %s", bdf, link,
			      strerror(err));
		return -err;
	}
	target[n] = 0;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	*group = atoi(base);
	return 0;
}

static int open_via_cdev(struct vfio_ctx *ctx, struct vfio_dev *dev)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
		.iommufd = ctx->iommufd,
	};
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
		.pt_id = ctx->ioas_id,
	};
	char path[PATH_MAX];
	int ret;

	ret = find_cdev(dev->bdf, path, sizeof(path));
	if (ret)
		return ret;
	dev->fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->fd < 0) {
		ret = -errno;
		vfio_util_err("open %s: %s", path, strerror(-ret));
		return ret;
	}
	if (ioctl(dev->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		ret = -errno;
		vfio_util_err("%s: VFIO_DEVICE_BIND_IOMMUFD: %s", dev->bdf,
			      strerror(-ret));
		return ret;
	}
	dev->devid = bind.out_devid;
	if (ioctl(dev->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) {
		ret = -errno;
		vfio_util_err("%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT ioas %u: %s",
			      dev->bdf, ctx->ioas_id, strerror(-ret));
		return ret;
	}
	return 0;
}

static int open_via_group(struct vfio_ctx *ctx, struct vfio_dev *dev)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[64];
	int group, i, gfd, ret;

	ret = find_group(dev->bdf, &group);
	if (ret)
		return ret;
	for (i = 0; i < ctx->ngroups; i++)
		if (ctx->group_id[i] == group)
			break;
	if (i == ctx->ngroups) {
		if (ctx->ngroups >= VFIO_CTX_MAX_GROUPS)
			return -ENOSPC;
		snprintf(path, sizeof(path), "/dev/vfio/%d", group);
		gfd = open(path, O_RDWR | O_CLOEXEC);
		if (gfd < 0) {
			ret = -errno;
			vfio_util_err("open %s: %s", path, strerror(-ret));
			return ret;
		}
		if (ioctl(gfd, VFIO_GROUP_GET_STATUS, &status)) {
			ret = -errno;
			vfio_util_err("%s: VFIO_GROUP_GET_STATUS: %s", path,
				      strerror(-ret));
			close(gfd);
			return ret;
		}
		if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
			vfio_util_err("%s: group not viable (all its devices must be bound to vfio drivers)",
				      path);
			close(gfd);
			return -EBUSY;
		}
		if (ioctl(gfd, VFIO_GROUP_SET_CONTAINER, &ctx->container)) {
			ret = -errno;
			vfio_util_err("%s: VFIO_GROUP_SET_CONTAINER: %s", path,
				      strerror(-ret));
			close(gfd);
			return ret;
		}
		if (!ctx->iommu_set) {
			if (ioctl(ctx->container, VFIO_SET_IOMMU,
				  VFIO_TYPE1v2_IOMMU)) {
				ret = -errno;
				vfio_util_err("VFIO_SET_IOMMU TYPE1v2: %s",
					      strerror(-ret));
				close(gfd);
				return ret;
			}
			ctx->iommu_set = true;
		}
		ctx->group_fd[i] = gfd;
		ctx->group_id[i] = group;
		ctx->ngroups++;
	}
	dev->fd = ioctl(ctx->group_fd[i], VFIO_GROUP_GET_DEVICE_FD, dev->bdf);
	if (dev->fd < 0) {
		ret = -errno;
		vfio_util_err("%s: VFIO_GROUP_GET_DEVICE_FD: %s", dev->bdf,
			      strerror(-ret));
		return ret;
	}
	return 0;
}

int vfio_dev_open(struct vfio_ctx *ctx, const char *bdf, struct vfio_dev **out)
{
	struct vfio_dev *dev;
	int ret;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->ctx = ctx;
	dev->fd = -1;
	ret = vfio_bdf_normalize(bdf, dev->bdf, sizeof(dev->bdf));
	if (ret) {
		vfio_util_err("bad PCI address '%s'", bdf);
		free(dev);
		return ret;
	}
	if (ctx->mode == VFIO_MODE_IOMMUFD)
		ret = open_via_cdev(ctx, dev);
	else
		ret = open_via_group(ctx, dev);
	if (ret)
		goto err;

	dev->info.argsz = sizeof(dev->info);
	if (ioctl(dev->fd, VFIO_DEVICE_GET_INFO, &dev->info)) {
		ret = -errno;
		vfio_util_err("%s: VFIO_DEVICE_GET_INFO: %s", dev->bdf,
			      strerror(-ret));
		goto err;
	}
	if (!(dev->info.flags & VFIO_DEVICE_FLAGS_PCI)) {
		vfio_util_err("%s: not a vfio-pci device", dev->bdf);
		ret = -ENODEV;
		goto err;
	}
	ret = vfio_pci_enable_master(dev);
	if (ret)
		goto err;
	ctx->ndevs++;
	*out = dev;
	return 0;
err:
	if (dev->fd >= 0)
		close(dev->fd);
	free(dev);
	return ret;
}

void vfio_dev_close(struct vfio_dev *dev)
{
	if (!dev)
		return;
	if (dev->fd >= 0)
		close(dev->fd);
	dev->ctx->ndevs--;
	free(dev);
}

int vfio_region_info(struct vfio_dev *dev, uint32_t index,
		     struct vfio_region_info *info)
{
	int ret;

	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->index = index;
	if (ioctl(dev->fd, VFIO_DEVICE_GET_REGION_INFO, info)) {
		ret = -errno;
		vfio_util_err("%s: VFIO_DEVICE_GET_REGION_INFO %u: %s",
			      dev->bdf, index, strerror(-ret));
		return ret;
	}
	return 0;
}

int vfio_region_mmap(struct vfio_dev *dev, uint32_t index, void **addr,
		     size_t *size)
{
	struct vfio_region_info info;
	void *p;
	int ret;

	ret = vfio_region_info(dev, index, &info);
	if (ret)
		return ret;
	if (!info.size) {
		vfio_util_err("%s: region %u is empty", dev->bdf, index);
		return -ENOENT;
	}
	if (!(info.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		vfio_util_err("%s: region %u cannot be mmap'ed", dev->bdf,
			      index);
		return -EOPNOTSUPP;
	}
	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->fd,
		 info.offset);
	if (p == MAP_FAILED) {
		ret = -errno;
		vfio_util_err("%s: mmap region %u (%llu bytes): %s", dev->bdf,
			      index, (unsigned long long)info.size,
			      strerror(-ret));
		return ret;
	}
	*addr = p;
	*size = info.size;
	return 0;
}

static int region_rw(struct vfio_dev *dev, uint32_t index, uint64_t off,
		     void *buf, size_t len, bool write)
{
	struct vfio_region_info info;
	ssize_t n;
	int ret;

	ret = vfio_region_info(dev, index, &info);
	if (ret)
		return ret;
	if (off > info.size || len > info.size - off)
		return -ERANGE;
	if (write)
		n = pwrite(dev->fd, buf, len, info.offset + off);
	else
		n = pread(dev->fd, buf, len, info.offset + off);
	if (n < 0) {
		ret = -errno;
		vfio_util_err("%s: %s region %u off 0x%llx len %zu: %s",
			      dev->bdf, write ? "pwrite" : "pread", index,
			      (unsigned long long)off, len, strerror(-ret));
		return ret;
	}
	if ((size_t)n != len) {
		vfio_util_err("%s: short %s on region %u: %zd of %zu",
			      dev->bdf, write ? "pwrite" : "pread", index, n,
			      len);
		return -EIO;
	}
	return 0;
}

int vfio_region_read(struct vfio_dev *dev, uint32_t index, uint64_t off,
		     void *buf, size_t len)
{
	return region_rw(dev, index, off, buf, len, false);
}

int vfio_region_write(struct vfio_dev *dev, uint32_t index, uint64_t off,
		      const void *buf, size_t len)
{
	return region_rw(dev, index, off, (void *)buf, len, true);
}

int vfio_pci_enable_master(struct vfio_dev *dev)
{
	uint16_t cmd;
	int ret;

	ret = vfio_region_read(dev, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND,
			       &cmd, sizeof(cmd));
	if (ret)
		return ret;
	cmd = le16toh(cmd);
	if ((cmd & (PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY)) ==
	    (PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY))
		return 0;
	cmd = htole16(cmd | PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY);
	return vfio_region_write(dev, VFIO_PCI_CONFIG_REGION_INDEX,
				 PCI_COMMAND, &cmd, sizeof(cmd));
}

int vfio_dev_ioeventfd(struct vfio_dev *dev, uint32_t index, uint64_t off,
		       uint64_t data, unsigned int size, int fd)
{
	struct vfio_device_ioeventfd ev = {
		.argsz = sizeof(ev),
		.data = data,
		.fd = fd,
	};
	struct vfio_region_info info;
	int ret;

	switch (size) {
	case 1:
		ev.flags = VFIO_DEVICE_IOEVENTFD_8;
		break;
	case 2:
		ev.flags = VFIO_DEVICE_IOEVENTFD_16;
		break;
	case 4:
		ev.flags = VFIO_DEVICE_IOEVENTFD_32;
		break;
	case 8:
		ev.flags = VFIO_DEVICE_IOEVENTFD_64;
		break;
	default:
		return -EINVAL;
	}
	ret = vfio_region_info(dev, index, &info);
	if (ret)
		return ret;
	ev.offset = info.offset + off;
	if (ioctl(dev->fd, VFIO_DEVICE_IOEVENTFD, &ev)) {
		ret = -errno;
		vfio_util_err("%s: VFIO_DEVICE_IOEVENTFD region %u off 0x%llx size %u fd %d: %s",
			      dev->bdf, index, (unsigned long long)off, size,
			      fd, strerror(-ret));
		return ret;
	}
	return 0;
}

int vfio_dev_dmabuf(struct vfio_dev *dev, uint32_t index, uint64_t off,
		    uint64_t len, int *fd)
{
#ifdef VFIO_DEVICE_FEATURE_DMA_BUF
	uint64_t buf[(sizeof(struct vfio_device_feature) +
		      sizeof(struct vfio_device_feature_dma_buf) +
		      sizeof(struct vfio_region_dma_range) + 7) / 8] = { 0 };
	struct vfio_device_feature *hdr = (void *)buf;
	struct vfio_device_feature_dma_buf *db = (void *)hdr->data;
	int ret;

	hdr->argsz = sizeof(buf);
	hdr->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	db->region_index = index;
	db->open_flags = O_RDWR | O_CLOEXEC;
	db->nr_ranges = 1;
	db->dma_ranges[0].offset = off;
	db->dma_ranges[0].length = len;
	ret = ioctl(dev->fd, VFIO_DEVICE_FEATURE, hdr);
	if (ret < 0) {
		ret = -errno;
		vfio_util_err("%s: VFIO_DEVICE_FEATURE_DMA_BUF region %u 0x%llx+0x%llx: %s",
			      dev->bdf, index, (unsigned long long)off,
			      (unsigned long long)len, strerror(-ret));
		return ret;
	}
	*fd = ret;
	return 0;
#else
	(void)index, (void)off, (void)len, (void)fd;
	vfio_util_err("%s: built without VFIO_DEVICE_FEATURE_DMA_BUF (uAPI headers before 6.19)",
		      dev->bdf);
	return -EOPNOTSUPP;
#endif
}

int vfio_irq_eventfd(struct vfio_dev *dev, uint32_t index, int fd)
{
	struct {
		struct vfio_irq_set hdr;
		int32_t fd;
	} set = {
		.hdr = {
			.argsz = sizeof(set),
			.flags = VFIO_IRQ_SET_DATA_EVENTFD |
				 VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = index,
			.count = 1,
		},
		.fd = fd,
	};

	return ioctl(dev->fd, VFIO_DEVICE_SET_IRQS, &set) ? -errno : 0;
}

uint64_t vfio_eventfd_wait(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t n = 0;

	if (poll(&p, 1, ms) == 1 && read(efd, &n, sizeof(n)) != sizeof(n))
		n = 0;
	return n;
}

int vfio_dev_reset(struct vfio_dev *dev)
{
	int ret;

	if (!(dev->info.flags & VFIO_DEVICE_FLAGS_RESET)) {
		vfio_util_err("%s: device does not support reset", dev->bdf);
		return -EOPNOTSUPP;
	}
	if (ioctl(dev->fd, VFIO_DEVICE_RESET)) {
		ret = -errno;
		vfio_util_err("%s: VFIO_DEVICE_RESET: %s", dev->bdf,
			      strerror(-ret));
		return ret;
	}
	return 0;
}

int vfio_feature_raw(struct vfio_dev *dev, uint32_t argsz, uint32_t flags,
		     void *data, size_t size)
{
	size_t total = sizeof(struct vfio_device_feature) + size;
	struct vfio_device_feature *f;
	int ret = 0;

	/* Room for whatever argsz claims, so the kernel never reads beyond. */
	if (argsz > total)
		total = argsz;
	f = calloc(1, total);
	if (!f)
		return -ENOMEM;
	f->argsz = argsz;
	f->flags = flags;
	if (size)
		memcpy(f->data, data, size);
	if (ioctl(dev->fd, VFIO_DEVICE_FEATURE, f))
		ret = -errno;
	else if (size)
		memcpy(data, f->data, size);
	free(f);
	return ret;
}

int vfio_feature(struct vfio_dev *dev, uint32_t feature, uint32_t flags,
		 void *data, size_t size)
{
	int ret;

	ret = vfio_feature_raw(dev, sizeof(struct vfio_device_feature) + size,
			       feature | flags, data, size);
	if (ret)
		vfio_util_err("%s: VFIO_DEVICE_FEATURE %u flags 0x%x: %s",
			      dev->bdf, feature, flags, strerror(-ret));
	return ret;
}

int vfio_feature_probe(struct vfio_dev *dev, uint32_t feature, uint32_t flags)
{
	return vfio_feature_raw(dev, sizeof(struct vfio_device_feature),
				feature | flags | VFIO_DEVICE_FEATURE_PROBE,
				NULL, 0);
}

int vfio_dirty_probe(struct vfio_dev *dev)
{
	return vfio_feature_probe(dev, VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				  VFIO_DEVICE_FEATURE_SET);
}

int vfio_dirty_start(struct vfio_dev *dev, uint64_t *page_size,
		     const struct vfio_device_feature_dma_logging_range *ranges,
		     uint32_t n)
{
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = *page_size,
		.num_ranges = n,
		.ranges = (uintptr_t)ranges,
	};
	int ret;

	ret = vfio_feature(dev, VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			   VFIO_DEVICE_FEATURE_SET, &ctl, sizeof(ctl));
	if (!ret)
		*page_size = ctl.page_size;
	return ret;
}

int vfio_dirty_stop(struct vfio_dev *dev)
{
	return vfio_feature(dev, VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
			    VFIO_DEVICE_FEATURE_SET, NULL, 0);
}

int vfio_dirty_report(struct vfio_dev *dev, uint64_t iova, uint64_t length,
		      uint64_t page_size, uint64_t *bitmap)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova,
		.length = length,
		.page_size = page_size,
		.bitmap = (uintptr_t)bitmap,
	};

	return vfio_feature(dev, VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
			    VFIO_DEVICE_FEATURE_GET, &rep, sizeof(rep));
}

const char *vfio_mig_state_name(uint32_t state)
{
	static const char * const names[] = {
		[VFIO_DEVICE_STATE_ERROR] = "ERROR",
		[VFIO_DEVICE_STATE_STOP] = "STOP",
		[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
		[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
		[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
		[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
		[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
		[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
	};

	if (state < ARRAY_SIZE(names) && names[state])
		return names[state];
	return "INVALID";
}

int vfio_mig_flags(struct vfio_dev *dev, uint64_t *flags)
{
	struct vfio_device_feature_migration mig = {};
	int ret;

	ret = vfio_feature(dev, VFIO_DEVICE_FEATURE_MIGRATION,
			   VFIO_DEVICE_FEATURE_GET, &mig, sizeof(mig));
	if (ret)
		return ret;
	*flags = mig.flags;
	return 0;
}

int vfio_mig_set_state(struct vfio_dev *dev, uint32_t state, int *data_fd)
{
	struct vfio_device_feature_mig_state mig = {
		.device_state = state,
		.data_fd = -1,
	};
	int ret;

	if (data_fd)
		*data_fd = -1;
	ret = vfio_feature_raw(dev, sizeof(struct vfio_device_feature) +
			       sizeof(mig),
			       VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE |
			       VFIO_DEVICE_FEATURE_SET, &mig, sizeof(mig));
	if (ret) {
		vfio_util_err("%s: set migration state %s: %s", dev->bdf,
			      vfio_mig_state_name(state), strerror(-ret));
		return ret;
	}
	if (data_fd)
		*data_fd = mig.data_fd;
	else if (mig.data_fd >= 0)
		close(mig.data_fd);
	return 0;
}

int vfio_mig_get_state(struct vfio_dev *dev, uint32_t *state)
{
	struct vfio_device_feature_mig_state mig = { .data_fd = -1 };
	int ret;

	ret = vfio_feature(dev, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			   VFIO_DEVICE_FEATURE_GET, &mig, sizeof(mig));
	if (ret)
		return ret;
	*state = mig.device_state;
	return 0;
}

int vfio_mig_data_size(struct vfio_dev *dev, uint64_t *size)
{
	struct vfio_device_feature_mig_data_size ds = {};
	int ret;

	ret = vfio_feature(dev, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
			   VFIO_DEVICE_FEATURE_GET, &ds, sizeof(ds));
	if (ret)
		return ret;
	*size = ds.stop_copy_length;
	return 0;
}

int vfio_mig_save(int fd, size_t hint, void **bufp, size_t *lenp)
{
	size_t cap = hint ? hint + 4096 : 1 << 20, len = 0;
	char *buf, *nb;
	ssize_t n;
	int ret;

	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			vfio_util_err("read of migration data fd after %zu bytes: %s",
				      len, strerror(-ret));
			free(buf);
			return ret;
		}
		if (!n)
			break;
		len += n;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

int vfio_mig_load(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;
	ssize_t n;
	int ret;

	while (done < len) {
		n = write(fd, p + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			vfio_util_err("write of migration data fd at %zu of %zu: %s",
				      done, len, strerror(-ret));
			return ret;
		}
		if (!n) {
			vfio_util_err("migration data fd accepted 0 bytes at %zu of %zu",
				      done, len);
			return -EIO;
		}
		done += n;
	}
	return 0;
}

static int timed_arc(struct vfio_dev *dev, uint32_t state, int *fd,
		     double *secs, vfio_mig_step_fn step, void *arg)
{
	char what[96];
	double t0 = vfio_now();
	int ret;

	ret = vfio_mig_set_state(dev, state, fd);
	*secs = vfio_now() - t0;
	if (!ret && step) {
		snprintf(what, sizeof(what), "%s -> %s", dev->bdf,
			 vfio_mig_state_name(state));
		step(arg, what, *secs, 0);
	}
	return ret;
}

int vfio_migrate(struct vfio_dev *src, struct vfio_dev *dst,
		 struct vfio_mig_stats *st, vfio_mig_step_fn step, void *arg)
{
	struct vfio_mig_stats local = {};
	int save_fd = -1, load_fd = -1, ret;
	double t0 = vfio_now(), t;
	uint32_t state;
	size_t len = 0;
	void *buf = NULL;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));

	/* The destination must be in STOP before RESUMING. */
	ret = vfio_mig_get_state(dst, &state);
	if (ret)
		return ret;
	if (state != VFIO_DEVICE_STATE_STOP) {
		ret = timed_arc(dst, VFIO_DEVICE_STATE_STOP, NULL, &t, step,
				arg);
		if (ret)
			return ret;
	}

	ret = timed_arc(src, VFIO_DEVICE_STATE_RUNNING_P2P, NULL, &st->t_p2p,
			step, arg);
	if (ret)
		return ret;
	ret = timed_arc(src, VFIO_DEVICE_STATE_STOP, NULL, &st->t_stop, step,
			arg);
	if (ret)
		return ret;
	ret = vfio_mig_data_size(src, &st->data_size);
	if (ret)
		return ret;
	ret = timed_arc(src, VFIO_DEVICE_STATE_STOP_COPY, &save_fd,
			&st->t_stop_copy, step, arg);
	if (ret)
		return ret;
	if (save_fd < 0) {
		vfio_util_err("%s: STOP_COPY returned no data fd", src->bdf);
		return -EBADF;
	}
	ret = timed_arc(dst, VFIO_DEVICE_STATE_RESUMING, &load_fd,
			&st->t_resuming, step, arg);
	if (ret)
		goto out;
	if (load_fd < 0) {
		vfio_util_err("%s: RESUMING returned no data fd", dst->bdf);
		ret = -EBADF;
		goto out;
	}

	t = vfio_now();
	ret = vfio_mig_save(save_fd, st->data_size, &buf, &len);
	st->t_save = vfio_now() - t;
	if (ret)
		goto out;
	st->bytes = len;
	if (step)
		step(arg, "read stream", st->t_save, len);

	t = vfio_now();
	ret = vfio_mig_load(load_fd, buf, len);
	st->t_load = vfio_now() - t;
	if (ret)
		goto out;
	if (step)
		step(arg, "write stream", st->t_load, len);

	ret = timed_arc(dst, VFIO_DEVICE_STATE_STOP, NULL, &st->t_dst_stop,
			step, arg);
	if (ret)
		goto out;
	ret = timed_arc(src, VFIO_DEVICE_STATE_STOP, NULL, &st->t_src_stop,
			step, arg);
	if (ret)
		goto out;
	ret = timed_arc(dst, VFIO_DEVICE_STATE_RUNNING, NULL,
			&st->t_dst_running, step, arg);
out:
	st->t_total = vfio_now() - t0;
	free(buf);
	if (save_fd >= 0)
		close(save_fd);
	if (load_fd >= 0)
		close(load_fd);
	return ret;
}

int vfio_mig_precopy_info(int fd, uint64_t *initial, uint64_t *dirty)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };

	if (ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info))
		return -errno;
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	return 0;
}

int vfio_mig_read_avail(int fd, void **bufp, size_t *lenp, size_t *capp)
{
	char *buf = *bufp, *nb;
	ssize_t n;

	for (;;) {
		if (*lenp == *capp) {
			size_t cap = *capp ? *capp * 2 : 1 << 20;

			nb = realloc(buf, cap);
			if (!nb)
				return -ENOMEM;
			*bufp = buf = nb;
			*capp = cap;
		}
		n = read(fd, buf + *lenp, *capp - *lenp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOMSG)
			return 0;
		if (n < 0)
			return -errno;
		if (!n)
			return 1;
		*lenp += n;
	}
}

/* Copy from @in to @out until ENOMSG (0) or EOF (1); counts @bytes. */
static int vfio_live_pump(int in, int out, char *bounce, size_t size,
			  const struct vfio_live_opts *o, uint64_t *bytes)
{
	ssize_t n;
	int ret;

	for (;;) {
		n = read(in, bounce, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOMSG)
			return 0;
		if (n < 0) {
			ret = -errno;
			vfio_util_err("read of the save fd after %llu bytes: %s",
				      (unsigned long long)*bytes,
				      strerror(-ret));
			return ret;
		}
		if (!n)
			return 1;
		if (o->tap)
			o->tap(o->arg, bounce, n);
		ret = vfio_mig_load(out, bounce, n);
		if (ret)
			return ret;
		*bytes += n;
	}
}

int vfio_migrate_live(struct vfio_dev *src, struct vfio_dev *dst,
		      const struct vfio_live_opts *o,
		      struct vfio_live_stats *st)
{
	size_t size = o->bounce ? o->bounce : 1 << 20;
	int save_fd = -1, load_fd = -1, ret;
	uint64_t initial = 0, dirty = 0, flags = 0;
	double t0 = vfio_now(), t;
	bool stopped = false;
	char *bounce;

	memset(st, 0, sizeof(*st));
	bounce = malloc(size);
	if (!bounce)
		return -ENOMEM;
	ret = vfio_mig_flags(src, &flags);
	if (ret)
		goto out;

	ret = vfio_mig_set_state(dst, VFIO_DEVICE_STATE_STOP, NULL);
	if (!ret)
		ret = vfio_mig_set_state(dst, VFIO_DEVICE_STATE_RESUMING,
					 &load_fd);
	if (ret)
		goto out;

	if (o->precopy) {
		ret = vfio_mig_set_state(src, VFIO_DEVICE_STATE_PRE_COPY,
					 &save_fd);
		if (ret)
			goto out;
		for (;;) {
			ret = vfio_live_pump(save_fd, load_fd, bounce, size, o,
					     &st->precopy_bytes);
			if (ret) {
				if (ret > 0) {
					vfio_util_err("save fd ended in PRE_COPY");
					ret = -EPROTO;
				}
				goto out;
			}
			st->rounds++;
			if (o->between_rounds)
				o->between_rounds(o->arg, st->rounds);
			ret = vfio_mig_precopy_info(save_fd, &initial, &dirty);
			if (ret)
				goto out;
			if ((!initial && !dirty) || st->rounds >= o->max_rounds)
				break;
		}
		st->t_precopy = vfio_now() - t0;
	}

	if (o->before_stop) {
		o->before_stop(o->arg);
		stopped = true;
	}
	t = vfio_now();
	if (o->precopy) {
		if (flags & VFIO_MIGRATION_P2P)
			ret = vfio_mig_set_state(src,
						 VFIO_DEVICE_STATE_PRE_COPY_P2P,
						 NULL);
		if (!ret)
			ret = vfio_mig_set_state(src,
						 VFIO_DEVICE_STATE_STOP_COPY,
						 NULL);
	} else {
		if (flags & VFIO_MIGRATION_P2P)
			ret = vfio_mig_set_state(src,
						 VFIO_DEVICE_STATE_RUNNING_P2P,
						 NULL);
		if (!ret)
			ret = vfio_mig_set_state(src, VFIO_DEVICE_STATE_STOP,
						 NULL);
		if (!ret)
			ret = vfio_mig_set_state(src,
						 VFIO_DEVICE_STATE_STOP_COPY,
						 &save_fd);
	}
	if (ret)
		goto out;
	ret = vfio_live_pump(save_fd, load_fd, bounce, size, o,
			     &st->stopcopy_bytes);
	if (ret == 0) {
		vfio_util_err("ENOMSG from the save fd in STOP_COPY");
		ret = -EPROTO;
	}
	if (ret < 0)
		goto out;
	ret = vfio_mig_set_state(dst, VFIO_DEVICE_STATE_STOP, NULL);
	if (!ret)
		ret = vfio_mig_set_state(dst, VFIO_DEVICE_STATE_RUNNING, NULL);
	st->t_downtime = vfio_now() - t;
	if (!ret)
		ret = vfio_mig_set_state(src, VFIO_DEVICE_STATE_STOP, NULL);
out:
	if (o->before_stop && !stopped)
		o->before_stop(o->arg);
	st->t_total = vfio_now() - t0;
	free(bounce);
	if (save_fd >= 0)
		close(save_fd);
	if (load_fd >= 0)
		close(load_fd);
	return ret;
}
