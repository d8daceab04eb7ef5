// SPDX-License-Identifier: GPL-2.0-only
/*
 * Semantics of the migration data fds of the MVF VF driver: streams, not
 * files (no lseek/pread/pwrite), one direction each, EOF, segmentation
 * freedom, early close, and the end of a session when the device leaves
 * STOP_COPY or RESUMING or is closed (reads and writes then fail with
 * ENODEV).  The
 * errnos are those of Documentation/mvf/migration-stream.rst.
 */
#include "kselftest_harness.h"
#include "mvf_test.h"

#define SEED		0xfd0fd0fdULL
#define FILL		(1UL << 20)
#define ODD_CHUNK	4093

FIXTURE(data_fd) {
	struct mvf_env env;
	struct mvf_vf *vf;
	struct mvf_qp qp;
};

FIXTURE_SETUP(data_fd)
{
	char why[512];
	int ret;

	ret = mvf_env_open(&self->env, vfio_mode_default(), 1, why,
			   sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	self->vf = self->env.vf[0];
	mvf_make_busy(&self->env, self->vf, &self->qp, 0, SEED, FILL);
}

FIXTURE_TEARDOWN(data_fd)
{
	if (self->vf) {
		vfio_util_quiet = true;
		vfio_dev_reset(self->vf->vdev);
		vfio_util_quiet = false;
	}
	mvf_env_close(&self->env);
}

static int enter(struct __test_metadata *_metadata, struct mvf_vf *vf,
		 uint32_t state)
{
	int fd = -1;

	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, state, &fd));
	ASSERT_LE(0, fd);
	return fd;
}

/* The save fd is a stream: no seeking, no positional I/O, read only. */
TEST_F_TIMEOUT(data_fd, save_fd_is_a_read_only_stream, MVF_T_SHORT)
{
	char buf[64];
	int fd;

	fd = enter(_metadata, self->vf, VFIO_DEVICE_STATE_STOP_COPY);
	errno = 0;
	EXPECT_EQ(-1, lseek(fd, 0, SEEK_SET));
	EXPECT_EQ(ESPIPE, errno);
	errno = 0;
	EXPECT_EQ(-1, lseek(fd, 0, SEEK_CUR));
	EXPECT_EQ(ESPIPE, errno);
	errno = 0;
	EXPECT_EQ(-1, pread(fd, buf, sizeof(buf), 0));
	EXPECT_EQ(ESPIPE, errno);
	/* opened read-only: EBADF from the VFS */
	errno = 0;
	EXPECT_EQ(-1, write(fd, buf, sizeof(buf)));
	EXPECT_EQ(EBADF, errno) TH_LOG("write on the save fd: errno %d (%s)",
				       errno, strerror(errno));
	/* none of that moved the stream: it starts with the IDENT record */
	ASSERT_EQ(sizeof(buf), read(fd, buf, sizeof(buf)));
	EXPECT_EQ(MVF_REC_IDENT, le16toh(((struct mvf_rec_hdr *)buf)->tag));
	EXPECT_EQ(MVF_STREAM_MAGIC,
		  le32toh(((struct mvf_rec_ident *)(buf + MVF_REC_HDR_SIZE))->magic));
	close(fd);
}

TEST_F_TIMEOUT(data_fd, resume_fd_is_a_write_only_stream, MVF_T_SHORT)
{
	char buf[64] = { 0 };
	int fd;

	fd = enter(_metadata, self->vf, VFIO_DEVICE_STATE_RESUMING);
	errno = 0;
	EXPECT_EQ(-1, lseek(fd, 0, SEEK_SET));
	EXPECT_EQ(ESPIPE, errno);
	errno = 0;
	EXPECT_EQ(-1, pwrite(fd, buf, sizeof(buf), 0));
	EXPECT_EQ(ESPIPE, errno);
	errno = 0;
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EBADF, errno) TH_LOG("read on the resume fd: errno %d (%s)",
				       errno, strerror(errno));
	close(fd);
}

/* The save fd becomes readable (the SAVE may complete asynchronously). */
TEST_F_TIMEOUT(data_fd, save_fd_polls_readable, MVF_T_SHORT)
{
	struct pollfd pfd;
	char c;
	int fd;

	fd = enter(_metadata, self->vf, VFIO_DEVICE_STATE_STOP_COPY);
	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	ASSERT_EQ(1, poll(&pfd, 1, mvf_timeout_ms()))
		TH_LOG("the save fd never became readable");
	EXPECT_TRUE(pfd.revents & POLLIN);
	EXPECT_FALSE(pfd.revents & (POLLERR | POLLNVAL));
	/* and then a read does not block and returns data */
	ASSERT_EQ(1, read(fd, &c, 1));
	close(fd);
}

/*
 * Read in odd-sized chunks until EOF: the length is MIG_DATA_SIZE's, EOF
 * stays EOF, and the bytes equal those of a second session read at once
 * (the device is stopped in between, so its state is the same).
 */
TEST_F_TIMEOUT(data_fd, save_stream_eof_and_length, MVF_T_SHORT)
{
	struct mvf_vf *vf = self->vf;
	uint64_t data_size = 0;
	size_t cap, len = 0, len2 = 0;
	uint8_t *img, *img2 = NULL;
	ssize_t n;
	int fd;

	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP,
					NULL));
	ASSERT_EQ(0, vfio_mig_data_size(vf->vdev, &data_size));
	cap = data_size + ODD_CHUNK;
	img = malloc(cap);
	ASSERT_NE(NULL, img);

	fd = enter(_metadata, vf, VFIO_DEVICE_STATE_STOP_COPY);
	for (;;) {
		n = read(fd, img + len, len + ODD_CHUNK <= cap ? ODD_CHUNK :
							      cap - len);
		ASSERT_LE(0, n) TH_LOG("read at %zu: %s", len, strerror(errno));
		if (!n)
			break;
		len += n;
		ASSERT_LT(len, cap) TH_LOG("stream longer than MIG_DATA_SIZE %llu",
					   (unsigned long long)data_size);
	}
	EXPECT_EQ(data_size, len) TH_LOG("MVF reports the exact image size");
	EXPECT_EQ(0, read(fd, img, 1)) TH_LOG("EOF must stay EOF");
	EXPECT_EQ(0, read(fd, img, ODD_CHUNK));
	close(fd);

	/* STOP_COPY -> STOP -> STOP_COPY: a new session, from the start */
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP,
					NULL));
	fd = enter(_metadata, vf, VFIO_DEVICE_STATE_STOP_COPY);
	ASSERT_EQ(0, vfio_mig_save(fd, data_size, (void **)&img2, &len2));
	close(fd);
	ASSERT_EQ(len, len2);
	EXPECT_EQ(0, memcmp(img, img2, len))
		TH_LOG("chunked and whole reads of the same state differ");
	free(img);
	free(img2);
}

/*
 * Writes need not follow the read segmentation: the image written in odd
 * and tiny pieces loads, and the state is the saved one.
 */
TEST_F_TIMEOUT(data_fd, resume_stream_any_segmentation, MVF_T_SHORT)
{
	static const size_t first[] = { 1, 7, 63, 64, 1, 200, 4096 };
	struct mvf_vf *vf = self->vf;
	size_t len = 0, off = 0, k;
	void *img = NULL;
	int fd;

	fd = enter(_metadata, vf, VFIO_DEVICE_STATE_STOP_COPY);
	ASSERT_EQ(0, vfio_mig_save(fd, vf->devmem_size, &img, &len));
	close(fd);

	/* change the state, so a load that does nothing is noticed */
	ASSERT_EQ(0, vfio_dev_reset(vf->vdev));
	fd = enter(_metadata, vf, VFIO_DEVICE_STATE_RESUMING);
	for (k = 0; k < ARRAY_SIZE(first) && off < len; k++) {
		ASSERT_EQ(0, vfio_mig_load(fd, (uint8_t *)img + off,
					   first[k]));
		off += first[k];
	}
	while (off < len) {
		k = len - off < 65521 ? len - off : 65521;
		ASSERT_EQ(0, vfio_mig_load(fd, (uint8_t *)img + off, k));
		off += k;
	}
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_RUNNING,
					NULL));
	close(fd);
	EXPECT_EQ(0, mvf_devmem_cmp_pattern(vf, 0, FILL, SEED, NULL));
	EXPECT_EQ(0, mvf_scratch_check(vf, SEED));
	free(img);
}

/* Closing the save fd early is fine; the device moves on normally. */
TEST_F_TIMEOUT(data_fd, close_early_in_stop_copy, MVF_T_SHORT)
{
	struct mvf_vf *vf = self->vf;
	char buf[100];
	int fd;

	fd = enter(_metadata, vf, VFIO_DEVICE_STATE_STOP_COPY);
	ASSERT_EQ(sizeof(buf), read(fd, buf, sizeof(buf)));
	close(fd);
	EXPECT_EQ(VFIO_DEVICE_STATE_STOP_COPY, mvf_state(vf));
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP,
					NULL));
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_RUNNING,
					NULL));
	EXPECT_EQ(0, mvf_devmem_cmp_pattern(vf, 0, FILL, SEED,
					    NULL));
	EXPECT_EQ(0, mvf_scratch_check(vf, SEED));
	EXPECT_EQ(0, mvf_qp_selftest(&self->qp, 2, 512, FILL, SEED + 1));

	/* and closing it unread, straight back to RUNNING */
	fd = enter(_metadata, vf, VFIO_DEVICE_STATE_STOP_COPY);
	close(fd);
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_RUNNING,
					NULL));
	EXPECT_EQ(0, mvf_qp_selftest(&self->qp, 2, 512, FILL, SEED + 2));
}

/* Leaving STOP_COPY / RESUMING ends the session: the fd answers ENODEV. */
TEST_F_TIMEOUT(data_fd, fd_dead_after_leaving_the_state, MVF_T_SHORT)
{
	struct mvf_vf *vf = self->vf;
	struct pollfd pfd;
	char buf[256];
	void *img = NULL;
	size_t len = 0;
	int fd;

	/* save fd, partly read, then STOP */
	fd = enter(_metadata, vf, VFIO_DEVICE_STATE_STOP_COPY);
	ASSERT_EQ(sizeof(buf), read(fd, buf, sizeof(buf)));
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP,
					NULL));
	errno = 0;
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(ENODEV, errno) TH_LOG("errno %d (%s)", errno,
					strerror(errno));
	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	EXPECT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_TRUE(pfd.revents & POLLERR) TH_LOG("revents 0x%x", pfd.revents);
	close(fd);

	/* save fd read completely, then RUNNING: EOF no more, ENODEV */
	fd = enter(_metadata, vf, VFIO_DEVICE_STATE_STOP_COPY);
	ASSERT_EQ(0, vfio_mig_save(fd, vf->devmem_size, &img, &len));
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_RUNNING,
					NULL));
	errno = 0;
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(ENODEV, errno);
	close(fd);

	/* resume fd with a complete image, then STOP: writes fail */
	fd = enter(_metadata, vf, VFIO_DEVICE_STATE_RESUMING);
	ASSERT_EQ(0, vfio_mig_load(fd, img, len));
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP,
					NULL));
	errno = 0;
	EXPECT_EQ(-1, write(fd, img, sizeof(buf)));
	EXPECT_EQ(ENODEV, errno);
	close(fd);
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_RUNNING,
					NULL));
	EXPECT_EQ(0, mvf_devmem_cmp_pattern(vf, 0, FILL, SEED,
					    NULL));
	free(img);
}

/*
 * Closing the VFIO device ends its sessions as well: a save fd (partly
 * read) or a resume fd (partly written) kept open past the close of the
 * device answers ENODEV, the save fd polls POLLERR, and the reopened VF
 * is running again in the device (its STATUS is neither quiesced nor
 * frozen).
 */
TEST_F_TIMEOUT(data_fd, fd_dead_after_device_close, MVF_T_SHORT)
{
	char bdf[MVF_BDF_LEN], buf[256];
	struct pollfd pfd;
	size_t len;
	bool save;
	ssize_t n;
	int fd, i;

	snprintf(bdf, sizeof(bdf), "%s", self->vf->bdf);
	for (i = 0; i < 2; i++) {
		save = i == 0;
		/*
		 * Resume: less than a record header of zeros, which the
		 * driver would refuse as soon as it is complete.
		 */
		len = save ? sizeof(buf) : MVF_REC_HDR_SIZE / 2;
		memset(buf, 0, sizeof(buf));
		fd = enter(_metadata, self->vf,
			   save ? VFIO_DEVICE_STATE_STOP_COPY :
				  VFIO_DEVICE_STATE_RESUMING);
		if (save)
			n = read(fd, buf, len);
		else
			n = write(fd, buf, len);
		ASSERT_EQ(len, n);

		/* the last close of the device, with the data fd still open */
		mvf_vf_close(self->vf);
		self->vf = self->env.vf[0] = NULL;

		errno = 0;
		if (save)
			n = read(fd, buf, len);
		else
			n = write(fd, buf, len);
		EXPECT_EQ(-1, n)
			TH_LOG("%s fd still usable after the device was closed",
			       save ? "save" : "resume");
		EXPECT_EQ(ENODEV, errno) TH_LOG("errno %d (%s)", errno,
						strerror(errno));
		if (save) {
			pfd.fd = fd;
			pfd.events = POLLIN;
			pfd.revents = 0;
			EXPECT_EQ(1, poll(&pfd, 1, 0));
			EXPECT_TRUE(pfd.revents & POLLERR)
				TH_LOG("revents 0x%x", pfd.revents);
		}
		close(fd);

		ASSERT_EQ(0, mvf_vf_open(self->env.ctx, bdf, mvf_bar0_default(),
					 &self->vf));
		self->env.vf[0] = self->vf;
		/*
		 * Opening always reports RUNNING; what matters is that the
		 * device itself was let go: neither quiesced nor frozen.
		 */
		EXPECT_EQ(0, mvf_rd32(self->vf, MVF_VF_REG_STATUS) &
			     (MVF_VF_STATUS_QUIESCED | MVF_VF_STATUS_FROZEN))
			TH_LOG("VF status 0x%x after reopen",
			       mvf_rd32(self->vf, MVF_VF_REG_STATUS));
	}
}

TEST_HARNESS_MAIN
