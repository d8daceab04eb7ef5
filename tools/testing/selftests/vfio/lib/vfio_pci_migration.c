// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <libvfio.h>

/* VFIO_DEVICE_FEATURE with a payload of @size bytes at @data. */
static int vfio_device_feature(struct vfio_pci_device *device, u32 flags,
			       void *data, size_t size)
{
	u8 buf[sizeof(struct vfio_device_feature) + 64]
		__aligned(8) = {};
	struct vfio_device_feature *feature = (void *)buf;

	VFIO_ASSERT_LE(size, 64);
	feature->argsz = sizeof(*feature) + size;
	feature->flags = flags;
	memcpy(feature->data, data, size);

	if (ioctl(device->fd, VFIO_DEVICE_FEATURE, feature))
		return -errno;

	memcpy(data, feature->data, size);
	return 0;
}

int __vfio_pci_mig_flags(struct vfio_pci_device *device, u64 *flags)
{
	struct vfio_device_feature_migration mig = {};
	int ret;

	ret = vfio_device_feature(device, VFIO_DEVICE_FEATURE_GET |
				  VFIO_DEVICE_FEATURE_MIGRATION,
				  &mig, sizeof(mig));
	if (!ret)
		*flags = mig.flags;
	return ret;
}

u64 vfio_pci_mig_flags(struct vfio_pci_device *device)
{
	u64 flags;

	if (__vfio_pci_mig_flags(device, &flags))
		return 0;
	return flags;
}

bool vfio_mig_state_supported(u64 flags, enum vfio_device_mig_state state)
{
	if (!(flags & VFIO_MIGRATION_STOP_COPY))
		return false;

	switch (state) {
	case VFIO_DEVICE_STATE_STOP:
	case VFIO_DEVICE_STATE_RUNNING:
	case VFIO_DEVICE_STATE_STOP_COPY:
	case VFIO_DEVICE_STATE_RESUMING:
		return true;
	case VFIO_DEVICE_STATE_RUNNING_P2P:
		return flags & VFIO_MIGRATION_P2P;
	case VFIO_DEVICE_STATE_PRE_COPY:
		return flags & VFIO_MIGRATION_PRE_COPY;
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
		return (flags & VFIO_MIGRATION_PRE_COPY) &&
		       (flags & VFIO_MIGRATION_P2P);
	default:
		return false;
	}
}

bool vfio_mig_state_has_data(enum vfio_device_mig_state state)
{
	switch (state) {
	case VFIO_DEVICE_STATE_STOP_COPY:
	case VFIO_DEVICE_STATE_RESUMING:
	case VFIO_DEVICE_STATE_PRE_COPY:
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
		return true;
	default:
		return false;
	}
}

const char *vfio_mig_state_str(enum vfio_device_mig_state state)
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

	if ((unsigned int)state < ARRAY_SIZE(names) && names[state])
		return names[state];
	return "(invalid)";
}

int __vfio_pci_mig_get_state(struct vfio_pci_device *device,
			     enum vfio_device_mig_state *state)
{
	struct vfio_device_feature_mig_state mig = {};
	int ret;

	ret = vfio_device_feature(device, VFIO_DEVICE_FEATURE_GET |
				  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
				  &mig, sizeof(mig));
	if (!ret)
		*state = mig.device_state;
	return ret;
}

enum vfio_device_mig_state vfio_pci_mig_get_state(struct vfio_pci_device *device)
{
	enum vfio_device_mig_state state;

	VFIO_ASSERT_EQ(__vfio_pci_mig_get_state(device, &state), 0);
	return state;
}

int __vfio_pci_mig_set_state(struct vfio_pci_device *device,
			     enum vfio_device_mig_state state, int *data_fd)
{
	struct vfio_device_feature_mig_state mig = {
		.device_state = state,
		.data_fd = -1,
	};
	int ret;

	ret = vfio_device_feature(device, VFIO_DEVICE_FEATURE_SET |
				  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
				  &mig, sizeof(mig));
	if (data_fd)
		*data_fd = ret ? -1 : mig.data_fd;
	else if (!ret && mig.data_fd >= 0)
		close(mig.data_fd);
	return ret;
}

int vfio_pci_mig_set_state(struct vfio_pci_device *device,
			   enum vfio_device_mig_state state)
{
	int data_fd;
	int ret;

	ret = __vfio_pci_mig_set_state(device, state, &data_fd);
	VFIO_ASSERT_EQ(ret, 0, "%s: cannot enter %s\n", device->bdf,
		       vfio_mig_state_str(state));
	return data_fd;
}

int __vfio_pci_mig_data_size(struct vfio_pci_device *device, u64 *bytes)
{
	struct vfio_device_feature_mig_data_size size = {};
	int ret;

	ret = vfio_device_feature(device, VFIO_DEVICE_FEATURE_GET |
				  VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
				  &size, sizeof(size));
	if (!ret)
		*bytes = size.stop_copy_length;
	return ret;
}

int __vfio_mig_precopy_info(int data_fd, struct vfio_precopy_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);

	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, info))
		return -errno;
	return 0;
}

void vfio_mig_precopy_info(int data_fd, struct vfio_precopy_info *info)
{
	VFIO_ASSERT_EQ(__vfio_mig_precopy_info(data_fd, info), 0);
}

static void vfio_mig_image_reserve(struct vfio_mig_image *image, size_t more)
{
	size_t want = image->size + more;

	if (want <= image->capacity)
		return;

	want = want < 2 * image->capacity ? 2 * image->capacity : want;
	image->data = realloc(image->data, want);
	VFIO_ASSERT_NOT_NULL(image->data, "cannot grow a %zu byte image\n",
			     image->size);
	image->capacity = want;
}

ssize_t __vfio_mig_read(int data_fd, struct vfio_mig_image *image, size_t max)
{
	const size_t chunk = 1 << 20;
	size_t got = 0;

	for (;;) {
		size_t len = chunk;
		ssize_t n;

		if (max) {
			if (got == max)
				break;
			len = min(len, max - got);
		}
		vfio_mig_image_reserve(image, len);
		n = read(data_fd, image->data + image->size, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOMSG)
			break;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		image->size += n;
		got += n;
	}
	return got;
}

int __vfio_mig_write(int data_fd, const void *data, size_t size)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = write(data_fd, data + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += n;
	}
	return 0;
}

void vfio_mig_image_free(struct vfio_mig_image *image)
{
	free(image->data);
	memset(image, 0, sizeof(*image));
}

void vfio_pci_mig_save(struct vfio_pci_device *device,
		       struct vfio_mig_image *image)
{
	int data_fd;

	data_fd = vfio_pci_mig_set_state(device, VFIO_DEVICE_STATE_STOP_COPY);
	VFIO_ASSERT_GE(data_fd, 0, "%s: STOP_COPY returned no data_fd\n",
		       device->bdf);
	VFIO_ASSERT_GE(__vfio_mig_read(data_fd, image, 0), 0);
	vfio_pci_mig_set_state(device, VFIO_DEVICE_STATE_STOP);
	VFIO_ASSERT_EQ(close(data_fd), 0);
}

int __vfio_pci_mig_load(struct vfio_pci_device *device,
			const struct vfio_mig_image *image)
{
	int data_fd;
	int ret;

	ret = __vfio_pci_mig_set_state(device, VFIO_DEVICE_STATE_RESUMING,
				       &data_fd);
	if (ret)
		return ret;
	if (data_fd < 0)
		return -EBADF;

	/* Like a VMM, leave RESUMING before closing the data_fd. */
	ret = __vfio_mig_write(data_fd, image->data, image->size);
	if (!ret)
		ret = __vfio_pci_mig_set_state(device, VFIO_DEVICE_STATE_STOP,
					       NULL);
	close(data_fd);
	return ret;
}

void vfio_pci_mig_load(struct vfio_pci_device *device,
		       const struct vfio_mig_image *image)
{
	VFIO_ASSERT_EQ(__vfio_pci_mig_load(device, image), 0,
		       "%s: loading a %zu byte image failed\n", device->bdf,
		       image->size);
}
