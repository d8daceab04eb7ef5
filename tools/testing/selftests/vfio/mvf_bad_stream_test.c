// SPDX-License-Identifier: GPL-2.0-only
/*
 * Resuming from a damaged migration stream.
 *
 * A valid image is saved from a busy VF1; one variant per kind of damage
 * feeds a modified copy into VF2 in RESUMING.  Every damaged stream must be
 * refused (by write() or by the RESUMING -> STOP arc) and leave VF2 where
 * the uAPI says: nothing of the device changed, so in RESUMING (not ERROR,
 * which is for "no valid state can be restored"), still frozen, and a
 * retry of the arc is refused again; VFIO_DEVICE_RESET must bring VF2 back
 * to a working RUNNING, and VF3 (set
 * up with its own state beforehand) must not be touched.  The last variant
 * loads the undamaged image: the control that shows the others failed for
 * their damage only.
 *
 * The stream is the device's state image (include/linux/mvf/mvf_if.h);
 * identity damage patches header fields and recomputes the CRC so that the
 * identity check, not the CRC, is what must refuse it.
 */
#include "kselftest_harness.h"
#include "mvf_test.h"

#define SEED1		0xbadc0de1ULL
#define SEED3		0xbadc0de3ULL
#define FILL		(1UL << 20)
#define EXTRA		4096

enum damage {
	D_NONE,			/* the control: must load */
	D_EMPTY,
	D_TRUNC_HEADER,
	D_TRUNC_SECTION,	/* inside a section descriptor */
	D_TRUNC_DEVMEM,
	D_TRUNC_LAST_BYTE,
	D_FLIP_HEADER,		/* a header bit no other check looks at */
	D_FLIP_DEVMEM,
	D_FLIP_REGS,
	D_CRC_FIELD,
	D_OTHER_VENDOR,
	D_OTHER_DEVICE,
	D_OTHER_VERSION,
	D_OTHER_IF_VERSION,
	D_OVERSIZED,
};

FIXTURE(bad_stream) {
	struct mvf_env env;
	struct mvf_qp qp1, qp3;
	struct mvf_vf_regs vf3_regs;
	void *img;
	size_t len;
	struct mvf_img_info info;
};

/*
 * The errnos are those of Documentation/mvf/migration-stream.rst: the
 * write fails for an oversized stream (EFBIG) and for a header this VF can
 * never take -- another image format version, device or interface major
 * version (EINVAL) --, either poisoning the fd, so that the arc then fails
 * with EIO; an empty stream fails the arc with ENODATA, anything else the
 * device or driver rejects with EINVAL.
 */
FIXTURE_VARIANT(bad_stream) {
	enum damage damage;
	int write_err;
	int arc_err;
};

FIXTURE_VARIANT_ADD(bad_stream, empty) {
	.damage = D_EMPTY,
	.arc_err = ENODATA,
};

FIXTURE_VARIANT_ADD(bad_stream, truncated_in_header) {
	.damage = D_TRUNC_HEADER,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, truncated_in_section_desc) {
	.damage = D_TRUNC_SECTION,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, truncated_in_devmem) {
	.damage = D_TRUNC_DEVMEM,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, truncated_last_byte) {
	.damage = D_TRUNC_LAST_BYTE,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, bitflip_header) {
	.damage = D_FLIP_HEADER,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, bitflip_devmem) {
	.damage = D_FLIP_DEVMEM,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, bitflip_regs) {
	.damage = D_FLIP_REGS,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, wrong_crc) {
	.damage = D_CRC_FIELD,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, other_vendor) {
	.damage = D_OTHER_VENDOR,
	.write_err = EINVAL,
	.arc_err = EIO,
};

FIXTURE_VARIANT_ADD(bad_stream, other_device) {
	.damage = D_OTHER_DEVICE,
	.write_err = EINVAL,
	.arc_err = EIO,
};

FIXTURE_VARIANT_ADD(bad_stream, other_image_version) {
	.damage = D_OTHER_VERSION,
	.write_err = EINVAL,
	.arc_err = EIO,
};

FIXTURE_VARIANT_ADD(bad_stream, other_if_version) {
	.damage = D_OTHER_IF_VERSION,
	.write_err = EINVAL,
	.arc_err = EIO,
};

FIXTURE_VARIANT_ADD(bad_stream, oversized) {
	.damage = D_OVERSIZED,
	.write_err = EFBIG,
	.arc_err = EIO,
};

FIXTURE_VARIANT_ADD(bad_stream, valid_after_all) {
	.damage = D_NONE,
};

FIXTURE_SETUP(bad_stream)
{
	struct mvf_vf *vf1, *vf3;
	char why[512];
	int ret, fd;

	ret = mvf_env_open(&self->env, vfio_mode_default(), 3, why,
			   sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	vf1 = self->env.vf[0];
	vf3 = self->env.vf[2];
	ASSERT_EQ(0, vfio_dev_reset(self->env.vf[1]->vdev));

	mvf_make_busy(&self->env, vf1, &self->qp1, 0, SEED1, FILL);
	mvf_make_busy(&self->env, vf3, &self->qp3, 2, SEED3, FILL);
	ASSERT_EQ(0, mvf_vf_read_regs(vf3, &self->vf3_regs));

	/* the valid image, and VF1 back to RUNNING */
	ASSERT_EQ(0, vfio_mig_set_state(vf1->vdev, VFIO_DEVICE_STATE_STOP_COPY,
					&fd));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, vfio_mig_save(fd, vf1->devmem_size, &self->img,
				   &self->len));
	close(fd);
	ASSERT_EQ(0, vfio_mig_set_state(vf1->vdev, VFIO_DEVICE_STATE_RUNNING,
					NULL));
	ASSERT_EQ(0, mvf_img_parse(self->img, self->len, &self->info, why,
				   sizeof(why))) TH_LOG("VF1's image: %s", why);
	ASSERT_NE(0, self->info.sec_off[MVF_IMG_SEC_DEVMEM]);
	ASSERT_NE(0, self->info.sec_off[MVF_IMG_SEC_REGS]);
}

FIXTURE_TEARDOWN(bad_stream)
{
	int i;

	vfio_util_quiet = true;
	for (i = 0; i < self->env.nvf; i++)
		vfio_dev_reset(self->env.vf[i]->vdev);
	vfio_util_quiet = false;
	free(self->img);
	mvf_env_close(&self->env);
}

/* Build the stream of @d from the valid image; returns its length. */
static size_t damage(enum damage d, const uint8_t *img, size_t len,
		     const struct mvf_img_info *info, uint8_t *out)
{
	struct mvf_img_header *h = (struct mvf_img_header *)out;
	uint64_t dm = info->sec_off[MVF_IMG_SEC_DEVMEM] + MVF_IMG_SECTION_SIZE;
	uint64_t regs = info->sec_off[MVF_IMG_SEC_REGS] + MVF_IMG_SECTION_SIZE;

	memcpy(out, img, len);
	switch (d) {
	case D_NONE:
		return len;
	case D_EMPTY:
		return 0;
	case D_TRUNC_HEADER:
		return MVF_IMG_HEADER_SIZE / 2;
	case D_TRUNC_SECTION:
		return info->sec_off[MVF_IMG_SEC_DEVMEM] +
		       MVF_IMG_SECTION_SIZE / 2;
	case D_TRUNC_DEVMEM:
		return dm + info->sec_len[MVF_IMG_SEC_DEVMEM] / 2 + 3;
	case D_TRUNC_LAST_BYTE:
		return len - 1;
	case D_FLIP_HEADER:
		/* src_vhca_id is informational: only the CRC can notice */
		out[offsetof(struct mvf_img_header, src_vhca_id)] ^= 0x40;
		return len;
	case D_FLIP_DEVMEM:
		out[dm + FILL / 2 + 5] ^= 0x08;
		return len;
	case D_FLIP_REGS:
		/* a scratch register value: any value would be legal */
		out[regs + offsetof(struct mvf_img_regs, scratch) + 9] ^= 0x01;
		return len;
	case D_CRC_FIELD:
		h->crc32 ^= htole32(0x00010000);
		return len;
	case D_OTHER_VENDOR:
		h->vendor_id = htole16(0x8086);
		break;
	case D_OTHER_DEVICE:
		h->device_id = htole16(MVF_PCI_DEVICE_ID_PF);
		break;
	case D_OTHER_VERSION:
		h->version_major = htole16(MVF_IMG_VERSION_MAJOR + 1);
		break;
	case D_OTHER_IF_VERSION:
		h->if_version = htole32((MVF_IF_VERSION_MAJOR + 1) << 16);
		break;
	case D_OVERSIZED:
		mvf_pattern_fill(out + len, 0, EXTRA, 0xe7);
		return len + EXTRA;
	}
	/* identity damage: a correct CRC, so the identity check must fail */
	mvf_img_fix_crc(out, len);
	return len;
}

TEST_F_TIMEOUT(bad_stream, load, MVF_T_SHORT)
{
	struct mvf_vf *vf2 = self->env.vf[1], *vf3 = self->env.vf[2];
	struct mvf_img_info info;
	struct mvf_vf_regs r3;
	struct mvf_qp qp2;
	size_t n;
	uint8_t *buf;
	int fd, wret = 0, aret;
	char why[256];
	int64_t state;

	buf = malloc(self->len + EXTRA);
	ASSERT_NE(NULL, buf);
	n = damage(variant->damage, self->img, self->len, &self->info, buf);
	if (variant->damage != D_NONE && n == self->len)
		/* our own parser must reject it too (if not by identity) */
		ASSERT_TRUE(variant->damage >= D_OTHER_VENDOR ||
			    mvf_img_parse(buf, n, &info, why, sizeof(why)));

	ASSERT_EQ(0, vfio_mig_set_state(vf2->vdev, VFIO_DEVICE_STATE_RESUMING,
					&fd));
	ASSERT_LE(0, fd);
	if (n) {
		vfio_util_quiet = variant->damage != D_NONE;
		wret = vfio_mig_load(fd, buf, n);
		vfio_util_quiet = false;
	}
	aret = mvf_set_state_quiet(vf2, VFIO_DEVICE_STATE_STOP, NULL);
	close(fd);
	state = mvf_state(vf2);
	free(buf);

	if (variant->damage == D_NONE) {
		/* the control: the valid image loads and runs */
		ASSERT_EQ(0, wret);
		ASSERT_EQ(0, aret);
		ASSERT_EQ(0, vfio_mig_set_state(vf2->vdev,
						VFIO_DEVICE_STATE_RUNNING,
						NULL));
		EXPECT_EQ(0, mvf_devmem_cmp_pattern(vf2, 0, FILL, SEED1,
						    NULL));
		EXPECT_EQ(0, mvf_devmem_cmp_zero(vf2, FILL,
						 vf2->devmem_size - FILL,
						 NULL));
		EXPECT_EQ(0, mvf_scratch_check(vf2, SEED1));
		mvf_qp_move(&self->qp1, vf2);
		EXPECT_EQ(0, mvf_qp_selftest(&self->qp1, 2, 256, FILL,
					     SEED1 + 1));
	} else {
		TH_LOG("write: %s, RESUMING -> STOP: %s, state now %s",
		       wret ? strerror(-wret) : "ok",
		       aret ? strerror(-aret) : "ok",
		       vfio_mig_state_name(state));
		ASSERT_TRUE(wret || aret)
			TH_LOG("the damaged stream was accepted");
		EXPECT_EQ(-variant->write_err, wret);
		EXPECT_EQ(-variant->arc_err, aret);
		EXPECT_EQ(VFIO_DEVICE_STATE_RESUMING, state)
			TH_LOG("a refused stream must leave the VF in RESUMING, not %s",
			       vfio_mig_state_name(state));
		EXPECT_EQ(MVF_VHCA_STATE_QUIESCED | MVF_VHCA_STATE_FROZEN,
			  mvf_vhca(_metadata, vf2))
			TH_LOG("the VF must still be frozen after a refused stream");
		/* the data fd is closed: a retry cannot load anything */
		EXPECT_NE(0, mvf_set_state_quiet(vf2, VFIO_DEVICE_STATE_RUNNING,
						 NULL));
		EXPECT_EQ(VFIO_DEVICE_STATE_RESUMING, mvf_state(vf2));

		ASSERT_EQ(0, vfio_dev_reset(vf2->vdev));
		ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(vf2));
		ASSERT_EQ(0, mvf_qp_create_slot(&qp2, vf2, &self->env, 1));
		EXPECT_EQ(0, mvf_qp_selftest(&qp2, 2, 256, 0, SEED1 + 2))
			TH_LOG("VF2 does not work after the reset");
	}

	/* VF3 was not touched by any of it */
	ASSERT_EQ(0, mvf_vf_read_regs(vf3, &r3));
	EXPECT_EQ(0, mvf_vf_regs_diff(&self->vf3_regs, &r3, "before",
				      "after", true));
	EXPECT_EQ(0, mvf_devmem_cmp_pattern(vf3, 0, FILL, SEED3, NULL));
	EXPECT_EQ(0, mvf_devmem_cmp_zero(vf3, FILL, vf3->devmem_size - FILL,
					 NULL));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, mvf_state(vf3));
	EXPECT_EQ(0, mvf_qp_selftest(&self->qp3, 2, 256, FILL, SEED3 + 1));
}

TEST_HARNESS_MAIN
