/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef SELFTESTS_VFIO_LIB_INCLUDE_LIBVFIO_VFIO_PCI_MIGRATION_H
#define SELFTESTS_VFIO_LIB_INCLUDE_LIBVFIO_VFIO_PCI_MIGRATION_H

#include <stdbool.h>
#include <sys/types.h>

#include <linux/types.h>
#include <linux/vfio.h>

struct vfio_pci_device;

/*
 * Helpers for the VFIO migration uAPI v2 (VFIO_DEVICE_FEATURE_MIGRATION,
 * VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, the data transfer FDs and
 * VFIO_MIG_GET_PRECOPY_INFO), usable with any migratable VFIO device.
 *
 * The __ variants return 0 or -errno; the others assert success.
 */

/* A saved device state: the bytes read from a saving data_fd. */
struct vfio_mig_image {
	void *data;
	size_t size;
	size_t capacity;
};

/*
 * Fill @flags with the device's VFIO_MIGRATION_* flags.  Returns -ENOTTY
 * (or the errno of the kernel) if the device does not support migration.
 */
int __vfio_pci_mig_flags(struct vfio_pci_device *device, u64 *flags);

/* The device's migration flags, 0 if it does not support migration. */
u64 vfio_pci_mig_flags(struct vfio_pci_device *device);

/* Is @state one the device can be put in, given its @flags? */
bool vfio_mig_state_supported(u64 flags, enum vfio_device_mig_state state);

/* Does entering @state through an arc return a new data_fd? */
bool vfio_mig_state_has_data(enum vfio_device_mig_state state);

const char *vfio_mig_state_str(enum vfio_device_mig_state state);

int __vfio_pci_mig_get_state(struct vfio_pci_device *device,
			     enum vfio_device_mig_state *state);
enum vfio_device_mig_state vfio_pci_mig_get_state(struct vfio_pci_device *device);

/*
 * Ask for @state.  On success *@data_fd (if not NULL) is the new data
 * transfer FD the arc returned, or -1 if it returned none.
 */
int __vfio_pci_mig_set_state(struct vfio_pci_device *device,
			     enum vfio_device_mig_state state, int *data_fd);

/* Ask for @state and return the new data_fd or -1. */
int vfio_pci_mig_set_state(struct vfio_pci_device *device,
			   enum vfio_device_mig_state state);

/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: the estimated STOP_COPY size. */
int __vfio_pci_mig_data_size(struct vfio_pci_device *device, u64 *bytes);

/* VFIO_MIG_GET_PRECOPY_INFO on a PRE_COPY data_fd. */
int __vfio_mig_precopy_info(int data_fd, struct vfio_precopy_info *info);
void vfio_mig_precopy_info(int data_fd, struct vfio_precopy_info *info);

/*
 * Append what read() on @data_fd returns to @image, at most @max bytes
 * (0: no limit), until end of stream, or in PRE_COPY until ENOMSG (the
 * temporary end of stream).  Returns the bytes appended or -errno.
 */
ssize_t __vfio_mig_read(int data_fd, struct vfio_mig_image *image, size_t max);

/* Write all of @data to a RESUMING @data_fd.  Returns 0 or -errno. */
int __vfio_mig_write(int data_fd, const void *data, size_t size);

void vfio_mig_image_free(struct vfio_mig_image *image);

/*
 * Save a stopped copy of @device: RUNNING (or any state) -> STOP_COPY,
 * read the whole stream into @image, then STOP.
 */
void vfio_pci_mig_save(struct vfio_pci_device *device,
		       struct vfio_mig_image *image);

/* Load @image into @device: -> RESUMING, write it, -> STOP. */
int __vfio_pci_mig_load(struct vfio_pci_device *device,
			const struct vfio_mig_image *image);
void vfio_pci_mig_load(struct vfio_pci_device *device,
		       const struct vfio_mig_image *image);

#endif /* SELFTESTS_VFIO_LIB_INCLUDE_LIBVFIO_VFIO_PCI_MIGRATION_H */
