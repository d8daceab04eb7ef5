// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VFIO migration uAPI v2 as a VMM uses it, on any device that supports
 * it: the device state machine, the data transfer FDs, PRE_COPY, reset
 * from every state, streams a device must refuse, and (with a selftests
 * driver that can be migrated) a memcpy that is moved from one device to
 * another while it runs.
 *
 * Takes one BDF (a device is saved and loaded back into itself) or two
 * (source and destination, which must be compatible for migration).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/sizes.h>
#include <linux/vfio.h>

#include <libvfio.h>

#include "kselftest_harness.h"

static const char *src_bdf;
static const char *dst_bdf;

static const enum vfio_device_mig_state all_states[] = {
	VFIO_DEVICE_STATE_STOP,
	VFIO_DEVICE_STATE_RUNNING,
	VFIO_DEVICE_STATE_STOP_COPY,
	VFIO_DEVICE_STATE_RESUMING,
	VFIO_DEVICE_STATE_RUNNING_P2P,
	VFIO_DEVICE_STATE_PRE_COPY,
	VFIO_DEVICE_STATE_PRE_COPY_P2P,
};

FIXTURE(vfio_pci_migration_test) {
	struct iommu *iommu;
	struct vfio_pci_device *src;
	struct vfio_pci_device *dst;
	u64 flags;
	struct vfio_mig_image image;
};

FIXTURE_VARIANT(vfio_pci_migration_test) {
	const char *iommu_mode;
};

#define FIXTURE_VARIANT_ADD_IOMMU_MODE(_iommu_mode)			\
FIXTURE_VARIANT_ADD(vfio_pci_migration_test, _iommu_mode) {		\
	.iommu_mode = #_iommu_mode,					\
}

FIXTURE_VARIANT_ADD_ALL_IOMMU_MODES();

FIXTURE_SETUP(vfio_pci_migration_test)
{
	self->iommu = iommu_init(variant->iommu_mode);
	self->src = vfio_pci_device_init(src_bdf, self->iommu);
	if (strcmp(src_bdf, dst_bdf))
		self->dst = vfio_pci_device_init(dst_bdf, self->iommu);
	else
		self->dst = self->src;

	self->flags = vfio_pci_mig_flags(self->src);
	ASSERT_NE(0, self->flags & VFIO_MIGRATION_STOP_COPY);
	ASSERT_EQ(self->flags, vfio_pci_mig_flags(self->dst));
}

FIXTURE_TEARDOWN(vfio_pci_migration_test)
{
	vfio_mig_image_free(&self->image);
	if (self->dst != self->src)
		vfio_pci_device_cleanup(self->dst);
	vfio_pci_device_cleanup(self->src);
	iommu_cleanup(self->iommu);
}

/* Save the source once per test, and leave it RUNNING again. */
static const struct vfio_mig_image *
src_image(FIXTURE_DATA(vfio_pci_migration_test) *self)
{
	if (!self->image.size) {
		vfio_pci_mig_save(self->src, &self->image);
		vfio_pci_mig_set_state(self->src, VFIO_DEVICE_STATE_RUNNING);
		VFIO_ASSERT_GT(self->image.size, 0);
	}
	return &self->image;
}

/*
 * Put @device in @state from RUNNING (after a reset), taking the data
 * transfer FD that the state comes with (fed @image in RESUMING).
 * Returns the FD or -1.
 */
static int enter_state(FIXTURE_DATA(vfio_pci_migration_test) *self,
		       struct vfio_pci_device *device,
		       enum vfio_device_mig_state state)
{
	const struct vfio_mig_image *image = src_image(self);
	int data_fd;

	vfio_pci_device_reset(device);
	VFIO_ASSERT_EQ(vfio_pci_mig_get_state(device),
		       VFIO_DEVICE_STATE_RUNNING);

	data_fd = vfio_pci_mig_set_state(device, state);
	VFIO_ASSERT_EQ(vfio_pci_mig_get_state(device), state);
	if (state == VFIO_DEVICE_STATE_RESUMING)
		VFIO_ASSERT_EQ(__vfio_mig_write(data_fd, image->data,
						image->size), 0);
	return data_fd;
}

/*
 * Does the arc (or combination of arcs) from @from to @to open a new data
 * transfer FD?  Arcs out of PRE_COPY(_P2P) into another saving state keep
 * the FD of PRE_COPY.
 */
static bool arc_has_new_fd(enum vfio_device_mig_state from,
			   enum vfio_device_mig_state to)
{
	bool from_precopy = from == VFIO_DEVICE_STATE_PRE_COPY ||
			    from == VFIO_DEVICE_STATE_PRE_COPY_P2P;

	if (from == to || !vfio_mig_state_has_data(to))
		return false;
	return !(from_precopy && to != VFIO_DEVICE_STATE_RESUMING);
}

/* STOP_COPY cannot go back to the PRE_COPY states. */
static bool arc_allowed(enum vfio_device_mig_state from,
			enum vfio_device_mig_state to)
{
	return !(from == VFIO_DEVICE_STATE_STOP_COPY &&
		 (to == VFIO_DEVICE_STATE_PRE_COPY ||
		  to == VFIO_DEVICE_STATE_PRE_COPY_P2P));
}

TEST_F(vfio_pci_migration_test, feature)
{
	struct vfio_device_feature feature = {
		.argsz = sizeof(feature),
		.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
			 VFIO_DEVICE_FEATURE_MIGRATION,
	};
	const u64 known = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			  VFIO_MIGRATION_PRE_COPY;
	u64 bytes;

	printf("migration flags 0x%llx: STOP_COPY%s%s\n",
	       (unsigned long long)self->flags,
	       self->flags & VFIO_MIGRATION_P2P ? " P2P" : "",
	       self->flags & VFIO_MIGRATION_PRE_COPY ? " PRE_COPY" : "");
	ASSERT_EQ(0, self->flags & ~known);

	ASSERT_EQ(0, ioctl(self->src->fd, VFIO_DEVICE_FEATURE, &feature));

	/* The migration feature can be read, not set. */
	feature.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
			VFIO_DEVICE_FEATURE_MIGRATION;
	ASSERT_EQ(-1, ioctl(self->src->fd, VFIO_DEVICE_FEATURE, &feature));

	/* A device starts RUNNING. */
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, vfio_pci_mig_get_state(self->src));

	/* Migration drivers must estimate the STOP_COPY size. */
	ASSERT_EQ(0, __vfio_pci_mig_data_size(self->src, &bytes));
	ASSERT_GT(bytes, 0);
}

TEST_F(vfio_pci_migration_test, every_arc)
{
	int i, j, arcs = 0;

	for (i = 0; i < ARRAY_SIZE(all_states); i++) {
		enum vfio_device_mig_state from = all_states[i];

		if (!vfio_mig_state_supported(self->flags, from))
			continue;

		for (j = 0; j < ARRAY_SIZE(all_states); j++) {
			enum vfio_device_mig_state to = all_states[j];
			int from_fd, to_fd, ret;

			if (!vfio_mig_state_supported(self->flags, to))
				continue;

			from_fd = enter_state(self, self->src, from);
			ret = __vfio_pci_mig_set_state(self->src, to, &to_fd);

			if (!arc_allowed(from, to)) {
				ASSERT_EQ(-EINVAL, ret) {
					TH_LOG("%s -> %s", vfio_mig_state_str(from),
					       vfio_mig_state_str(to));
				}
				ASSERT_EQ(from, vfio_pci_mig_get_state(self->src));
			} else {
				ASSERT_EQ(0, ret) {
					TH_LOG("%s -> %s", vfio_mig_state_str(from),
					       vfio_mig_state_str(to));
				}
				ASSERT_EQ(to, vfio_pci_mig_get_state(self->src));
				ASSERT_EQ(arc_has_new_fd(from, to), to_fd >= 0) {
					TH_LOG("%s -> %s returned data_fd %d",
					       vfio_mig_state_str(from),
					       vfio_mig_state_str(to), to_fd);
				}
				arcs++;
			}
			if (to_fd >= 0)
				close(to_fd);
			if (from_fd >= 0)
				close(from_fd);
		}
	}
	printf("%d arcs taken\n", arcs);
	vfio_pci_device_reset(self->src);
}

TEST_F(vfio_pci_migration_test, invalid_states)
{
	const u32 bad[] = {
		VFIO_DEVICE_STATE_ERROR, VFIO_DEVICE_STATE_NR, 0x100, ~0u,
	};
	int i, data_fd;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ASSERT_EQ(-EINVAL, __vfio_pci_mig_set_state(self->src, bad[i],
							    &data_fd));
		ASSERT_EQ(-1, data_fd);
		ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING,
			  vfio_pci_mig_get_state(self->src));
	}

	/* Optional states the device does not have are refused. */
	for (i = 0; i < ARRAY_SIZE(all_states); i++) {
		if (vfio_mig_state_supported(self->flags, all_states[i]))
			continue;
		ASSERT_EQ(-EINVAL, __vfio_pci_mig_set_state(self->src,
							    all_states[i],
							    &data_fd));
		ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING,
			  vfio_pci_mig_get_state(self->src));
	}
}

TEST_F(vfio_pci_migration_test, saving_fd)
{
	struct vfio_mig_image image = {};
	struct vfio_precopy_info info;
	int data_fd;
	char c = 0;

	data_fd = vfio_pci_mig_set_state(self->src, VFIO_DEVICE_STATE_STOP_COPY);
	ASSERT_GE(data_fd, 0);

	/* The saving FD is read-only and not seekable. */
	ASSERT_EQ(-1, write(data_fd, &c, 1));
	ASSERT_EQ(-1, lseek(data_fd, 0, SEEK_SET));
	ASSERT_EQ(ESPIPE, errno);

	/* PRECOPY_INFO is for the PRE_COPY states only. */
	ASSERT_NE(0, __vfio_mig_precopy_info(data_fd, &info));

	ASSERT_GT(__vfio_mig_read(data_fd, &image, 0), 0);
	/* End of stream stays end of stream. */
	ASSERT_EQ(0, read(data_fd, &c, 1));
	ASSERT_EQ(0, read(data_fd, &c, 1));
	printf("STOP_COPY stream: %zu bytes\n", image.size);

	vfio_pci_mig_set_state(self->src, VFIO_DEVICE_STATE_STOP);
	vfio_pci_mig_set_state(self->src, VFIO_DEVICE_STATE_RUNNING);
	close(data_fd);
	vfio_mig_image_free(&image);
}

TEST_F(vfio_pci_migration_test, resuming_fd)
{
	const struct vfio_mig_image *image = src_image(self);
	int data_fd;
	char c;

	data_fd = enter_state(self, self->dst, VFIO_DEVICE_STATE_STOP);
	ASSERT_EQ(-1, data_fd);
	data_fd = vfio_pci_mig_set_state(self->dst, VFIO_DEVICE_STATE_RESUMING);
	ASSERT_GE(data_fd, 0);

	/* The resuming FD is write-only. */
	ASSERT_EQ(-1, read(data_fd, &c, 1));

	/* In pieces of any size. */
	ASSERT_EQ(0, __vfio_mig_write(data_fd, image->data, 1));
	ASSERT_EQ(0, __vfio_mig_write(data_fd, image->data + 1,
				      image->size / 3));
	ASSERT_EQ(0, __vfio_mig_write(data_fd, image->data + 1 + image->size / 3,
				      image->size - 1 - image->size / 3));

	vfio_pci_mig_set_state(self->dst, VFIO_DEVICE_STATE_STOP);
	vfio_pci_mig_set_state(self->dst, VFIO_DEVICE_STATE_RUNNING);
	close(data_fd);
}

TEST_F(vfio_pci_migration_test, stop_copy_round_trip)
{
	struct vfio_mig_image again = {};

	/* Source to destination, and the destination's state back out. */
	vfio_pci_mig_load(self->dst, src_image(self));
	vfio_pci_mig_set_state(self->dst, VFIO_DEVICE_STATE_RUNNING);

	vfio_pci_mig_save(self->dst, &again);
	ASSERT_GT(again.size, 0);
	vfio_pci_mig_set_state(self->dst, VFIO_DEVICE_STATE_RUNNING);

	vfio_pci_mig_load(self->src, &again);
	vfio_pci_mig_set_state(self->src, VFIO_DEVICE_STATE_RUNNING);
	vfio_mig_image_free(&again);
}

/* After a failed load, the device is RESUMING or ERROR, and reset works. */
static void expect_load_refused(FIXTURE_DATA(vfio_pci_migration_test) *self,
				struct __test_metadata *_metadata,
				const void *data, size_t size)
{
	enum vfio_device_mig_state state;
	int data_fd, ret;

	enter_state(self, self->dst, VFIO_DEVICE_STATE_STOP);
	data_fd = vfio_pci_mig_set_state(self->dst, VFIO_DEVICE_STATE_RESUMING);
	ASSERT_GE(data_fd, 0);

	ret = __vfio_mig_write(data_fd, data, size);
	if (!ret)
		ret = __vfio_pci_mig_set_state(self->dst,
					       VFIO_DEVICE_STATE_STOP, NULL);
	ASSERT_NE(0, ret);

	state = vfio_pci_mig_get_state(self->dst);
	ASSERT_TRUE(state == VFIO_DEVICE_STATE_RESUMING ||
		    state == VFIO_DEVICE_STATE_ERROR) {
		TH_LOG("device in %s after a refused load",
		       vfio_mig_state_str(state));
	}
	close(data_fd);

	vfio_pci_device_reset(self->dst);
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, vfio_pci_mig_get_state(self->dst));

	/* Nothing was lost: a good stream still loads. */
	vfio_pci_mig_load(self->dst, src_image(self));
	vfio_pci_mig_set_state(self->dst, VFIO_DEVICE_STATE_RUNNING);
}

TEST_F(vfio_pci_migration_test, garbage_stream_refused)
{
	const size_t size = SZ_64K;
	u64 *junk = malloc(size);
	u64 x = 0x9e3779b97f4a7c15ull;
	size_t i;

	ASSERT_NE(NULL, junk);
	for (i = 0; i < size / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		junk[i] = x;
	}
	expect_load_refused(self, _metadata, junk, size);
	free(junk);
}

TEST_F(vfio_pci_migration_test, truncated_stream_refused)
{
	const struct vfio_mig_image *image = src_image(self);

	expect_load_refused(self, _metadata, image->data, image->size / 2);
}

TEST_F(vfio_pci_migration_test, reset_from_every_state)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(all_states); i++) {
		enum vfio_device_mig_state state = all_states[i];
		int data_fd;
		char c = 0;

		if (!vfio_mig_state_supported(self->flags, state))
			continue;

		data_fd = enter_state(self, self->src, state);
		vfio_pci_device_reset(self->src);
		ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING,
			  vfio_pci_mig_get_state(self->src)) {
			TH_LOG("reset from %s", vfio_mig_state_str(state));
		}
		if (data_fd < 0)
			continue;

		/* The reset ended the data transfer session. */
		if (state == VFIO_DEVICE_STATE_RESUMING) {
			ASSERT_EQ(-1, write(data_fd, &c, 1));
		} else {
			ASSERT_GE(0, read(data_fd, &c, 1)) {
				TH_LOG("the %s data_fd is readable after reset",
				       vfio_mig_state_str(state));
			}
		}
		close(data_fd);
	}
}

TEST_F(vfio_pci_migration_test, pre_copy)
{
	struct vfio_mig_image image = {};
	struct vfio_precopy_info info, after;
	enum vfio_device_mig_state states[] = {
		VFIO_DEVICE_STATE_PRE_COPY,
		VFIO_DEVICE_STATE_PRE_COPY_P2P,
	};
	int data_fd, fd, i;

	if (!(self->flags & VFIO_MIGRATION_PRE_COPY))
		SKIP(return, "Device does not support PRE_COPY\n");

	data_fd = vfio_pci_mig_set_state(self->src, VFIO_DEVICE_STATE_PRE_COPY);
	ASSERT_GE(data_fd, 0);

	vfio_mig_precopy_info(data_fd, &info);
	ASSERT_GT(info.initial_bytes, 0);

	/* Reading initial data makes initial_bytes smaller by as much. */
	ASSERT_EQ(info.initial_bytes / 2,
		  __vfio_mig_read(data_fd, &image, info.initial_bytes / 2));
	vfio_mig_precopy_info(data_fd, &after);
	ASSERT_EQ(info.initial_bytes - info.initial_bytes / 2,
		  after.initial_bytes);

	/* Up to the temporary end of stream, where ENOMSG says wait. */
	ASSERT_GE(__vfio_mig_read(data_fd, &image, 0), 0);
	vfio_mig_precopy_info(data_fd, &after);
	ASSERT_EQ(0, after.initial_bytes);

	for (i = 0; i < ARRAY_SIZE(states); i++) {
		if (!vfio_mig_state_supported(self->flags, states[i]))
			continue;
		ASSERT_EQ(0, __vfio_pci_mig_set_state(self->src, states[i], &fd));
		ASSERT_EQ(-1, fd);
		vfio_mig_precopy_info(data_fd, &after);
	}

	/* STOP_COPY continues the same FD, to the end of the stream. */
	ASSERT_EQ(0, __vfio_pci_mig_set_state(self->src,
					      VFIO_DEVICE_STATE_STOP_COPY, &fd));
	ASSERT_EQ(-1, fd);
	ASSERT_NE(0, __vfio_mig_precopy_info(data_fd, &after));
	ASSERT_GE(__vfio_mig_read(data_fd, &image, 0), 0);
	printf("PRE_COPY then STOP_COPY stream: %zu bytes, %llu initial\n",
	       image.size, (unsigned long long)info.initial_bytes);
	vfio_pci_mig_set_state(self->src, VFIO_DEVICE_STATE_STOP);
	close(data_fd);

	vfio_pci_mig_load(self->dst, &image);
	vfio_pci_mig_set_state(self->dst, VFIO_DEVICE_STATE_RUNNING);
	vfio_pci_mig_set_state(self->src, VFIO_DEVICE_STATE_RUNNING);
	vfio_mig_image_free(&image);
}

static void region_setup(struct iommu *iommu,
			 struct iova_allocator *iova_allocator,
			 struct dma_region *region, u64 size)
{
	region->vaddr = mmap(NULL, size, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	VFIO_ASSERT_NE(region->vaddr, MAP_FAILED);
	region->iova = iova_allocator_alloc(iova_allocator, size);
	region->size = size;
	iommu_map(iommu, region);
}

static void region_teardown(struct iommu *iommu, struct dma_region *region)
{
	iommu_unmap(iommu, region);
	VFIO_ASSERT_EQ(munmap(region->vaddr, region->size), 0);
}

/*
 * A VMM's view of a device that is busy when it is migrated: the memcpy is
 * started on the source, the source is stopped and saved mid-way, and the
 * destination, loaded and running, finishes it.  Both share one IOMMU
 * container or IOAS, as both would map the same guest.
 */
TEST_F_TIMEOUT(vfio_pci_migration_test, memcpy_across_migration, 120)
{
	struct vfio_pci_driver *driver = &self->src->driver;
	struct iova_allocator *iova_allocator;
	struct dma_region buffers;
	struct vfio_mig_image image = {};
	void *src, *dst;
	u64 size, count, value, i;
	int msi_fd;

	if (!driver->ops)
		SKIP(return, "No selftests driver for %s\n", src_bdf);
	if (!driver->ops->migrate)
		SKIP(return, "Driver %s cannot be migrated\n", driver->ops->name);

	iova_allocator = iova_allocator_init(self->iommu);
	region_setup(self->iommu, iova_allocator, &buffers, SZ_64M);
	region_setup(self->iommu, iova_allocator, &driver->region, SZ_2M);
	vfio_pci_driver_init(self->src);

	/* Enough copies to be busy when stopped: 256 MiB, or what it takes. */
	size = min_t(u64, driver->max_memcpy_size, buffers.size / 2);
	count = min_t(u64, driver->max_memcpy_count, max_t(u64, SZ_256M / size, 1));
	src = buffers.vaddr;
	dst = buffers.vaddr + size;
	/* No two bytes 64 apart alike: a copy from the wrong place shows. */
	for (i = 0; i < size; i++)
		((u8 *)src)[i] = i * 7 + i / 251;
	memset(dst, 0, size);

	vfio_pci_driver_memcpy_start(self->src, to_iova(self->src, src),
				     to_iova(self->src, dst), size, count);

	vfio_pci_mig_save(self->src, &image);
	/*
	 * The source is done: a VMM resets it when it lets go (and when it
	 * is also the destination, it is loaded from a clean state).
	 */
	vfio_pci_device_reset(self->src);
	vfio_pci_mig_load(self->dst, &image);
	/* What the user owns (config space, interrupts) before it runs. */
	vfio_pci_driver_migrate(self->src, self->dst);
	vfio_pci_mig_set_state(self->dst, VFIO_DEVICE_STATE_RUNNING);
	printf("%llu copies of %llu bytes, %zu byte stream\n",
	       (unsigned long long)count, (unsigned long long)size, image.size);
	vfio_mig_image_free(&image);

	driver = &self->dst->driver;
	ASSERT_EQ(0, vfio_pci_driver_memcpy_wait(self->dst));
	ASSERT_EQ(0, memcmp(src, dst, size));

	/* The destination's interrupts are its own. */
	if (driver->ops->send_msi) {
		msi_fd = self->dst->msi_eventfds[driver->msi];
		vfio_pci_driver_send_msi(self->dst);
		ASSERT_EQ(8, read(msi_fd, &value, 8));
		ASSERT_EQ(1, value);
	}

	vfio_pci_driver_remove(self->dst);
	region_teardown(self->iommu, &driver->region);
	region_teardown(self->iommu, &buffers);
	iova_allocator_cleanup(iova_allocator);
}

static bool device_supports_migration(const char *bdf)
{
	struct vfio_pci_device *device;
	struct iommu *iommu;
	u64 flags;

	iommu = iommu_init(default_iommu_mode);
	device = vfio_pci_device_init(bdf, iommu);
	flags = vfio_pci_mig_flags(device);
	vfio_pci_device_cleanup(device);
	iommu_cleanup(iommu);

	return flags & VFIO_MIGRATION_STOP_COPY;
}

int main(int argc, char *argv[])
{
	char **bdfs;
	int nr_bdfs;

	bdfs = vfio_selftests_get_bdfs(&argc, argv, &nr_bdfs);
	src_bdf = bdfs[0];
	dst_bdf = nr_bdfs > 1 ? bdfs[1] : bdfs[0];

	if (!device_supports_migration(src_bdf)) {
		fprintf(stderr, "Device %s does not support migration\n", src_bdf);
		return KSFT_SKIP;
	}
	printf("# migrating from %s to %s\n", src_bdf, dst_bdf);

	return test_harness_run(argc, argv);
}
