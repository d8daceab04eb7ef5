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
 * The stream is the device's record stream (include/linux/mvf/mvf_if.h);
 * damage to a record's fields recomputes that record's CRC (and END's
 * byte count when records are added) so that the check under test, not
 * the CRC, is what must refuse it.
 */
#include "kselftest_harness.h"
#include "mvf_test.h"

#define SEED1		0xbadc0de1ULL
#define SEED3		0xbadc0de3ULL
#define FILL		(1UL << 20)

enum damage {
	D_NONE,			/* the control: must load */
	D_UNKNOWN_OPTIONAL,	/* must load too: the record is skipped */
	D_EMPTY,
	D_TRUNC_IDENT,
	D_TRUNC_REC_HDR,	/* inside a DEVMEM record's header */
	D_TRUNC_DEVMEM,
	D_TRUNC_LAST_BYTE,
	D_NO_END,		/* cut at the END record */
	D_FLIP_IDENT,		/* a field no other check looks at */
	D_FLIP_DEVMEM,
	D_FLIP_STATE,
	D_CRC_FIELD,
	D_END_COUNT,		/* END counts other bytes */
	D_DROP_RECORD,		/* a DEVMEM record is missing */
	D_UNKNOWN_MANDATORY,
	D_OTHER_VENDOR,
	D_OTHER_DEVICE,
	D_OTHER_VERSION,
	D_OTHER_IF_VERSION,
	D_OTHER_DEVMEM_SIZE,
	D_NOT_IDENT_FIRST,
	D_AFTER_END,
	D_HUGE_RECORD,
};

FIXTURE(bad_stream) {
	struct mvf_env env;
	struct mvf_qp qp1, qp3;
	struct mvf_vf_regs vf3_regs;
	void *img;
	size_t len;
	struct mvf_stream_info info;
};

/*
 * The errnos are those of Documentation/mvf/migration-stream.rst:
 * - a record the driver itself refuses (IDENT of a stream this VF can
 *   never take, the first record not IDENT, data after END, a record
 *   longer than any device writes) fails the write with EINVAL and
 *   poisons the fd, so that the arc then fails with EIO;
 * - a chunk the device refuses (CRC, END's count, unknown mandatory
 *   record) fails the arc with EINVAL; the LOAD runs while write() goes
 *   on, so the write itself may succeed or, when it ran into the refused
 *   LOAD, fail with EIO (@async);
 * - a stream without END fails the arc with EINVAL, an empty one with
 *   ENODATA.
 */
FIXTURE_VARIANT(bad_stream) {
	enum damage damage;
	int write_err;
	bool async;
	int arc_err;
};

FIXTURE_VARIANT_ADD(bad_stream, empty) {
	.damage = D_EMPTY,
	.arc_err = ENODATA,
};

FIXTURE_VARIANT_ADD(bad_stream, truncated_in_ident) {
	.damage = D_TRUNC_IDENT,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, truncated_in_record_header) {
	.damage = D_TRUNC_REC_HDR,
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

FIXTURE_VARIANT_ADD(bad_stream, no_end_record) {
	.damage = D_NO_END,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, bitflip_ident) {
	.damage = D_FLIP_IDENT,
	.async = true,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, bitflip_devmem) {
	.damage = D_FLIP_DEVMEM,
	.async = true,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, bitflip_state) {
	.damage = D_FLIP_STATE,
	.async = true,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, wrong_crc) {
	.damage = D_CRC_FIELD,
	.async = true,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, end_count) {
	.damage = D_END_COUNT,
	.async = true,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, dropped_record) {
	.damage = D_DROP_RECORD,
	.async = true,
	.arc_err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_stream, unknown_mandatory_record) {
	.damage = D_UNKNOWN_MANDATORY,
	.async = true,
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

FIXTURE_VARIANT_ADD(bad_stream, other_stream_version) {
	.damage = D_OTHER_VERSION,
	.write_err = EINVAL,
	.arc_err = EIO,
};

FIXTURE_VARIANT_ADD(bad_stream, other_if_version) {
	.damage = D_OTHER_IF_VERSION,
	.write_err = EINVAL,
	.arc_err = EIO,
};

FIXTURE_VARIANT_ADD(bad_stream, other_devmem_size) {
	.damage = D_OTHER_DEVMEM_SIZE,
	.write_err = EINVAL,
	.arc_err = EIO,
};

FIXTURE_VARIANT_ADD(bad_stream, first_record_not_ident) {
	.damage = D_NOT_IDENT_FIRST,
	.write_err = EINVAL,
	.arc_err = EIO,
};

FIXTURE_VARIANT_ADD(bad_stream, data_after_end) {
	.damage = D_AFTER_END,
	.write_err = EINVAL,
	.arc_err = EIO,
};

FIXTURE_VARIANT_ADD(bad_stream, huge_record) {
	.damage = D_HUGE_RECORD,
	.write_err = EINVAL,
	.arc_err = EIO,
};

FIXTURE_VARIANT_ADD(bad_stream, unknown_optional_record) {
	.damage = D_UNKNOWN_OPTIONAL,
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
	ASSERT_EQ(0, mvf_stream_parse(self->img, self->len, true, &self->info,
				      why, sizeof(why)))
		TH_LOG("VF1's stream: %s", why);
	ASSERT_NE(0, self->info.devmem_data_off);
	ASSERT_NE(0, self->info.state_off);
	ASSERT_NE(0, self->info.size_off);
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

#define EXTRA		4096

/* Insert a record of @tag with @flags and 8 payload bytes at @at. */
static size_t insert_record(uint8_t *out, size_t len, uint64_t at,
			    uint16_t tag, uint16_t flags)
{
	struct mvf_rec_hdr h = {
		.tag = htole16(tag), .flags = htole16(flags),
		.len = htole64(8),
	};
	const size_t n = MVF_REC_HDR_SIZE + 8;

	memmove(out + at + n, out + at, len - at);
	memcpy(out + at, &h, sizeof(h));
	memset(out + at + MVF_REC_HDR_SIZE, 0x5c, 8);
	mvf_rec_fix_crc(out, at);
	return n;
}

/* END's byte count for a stream whose END now sits at @end_off. */
static void fix_end(uint8_t *out, uint64_t end_off)
{
	struct mvf_rec_end *e = mvf_rec_payload(out, end_off, NULL);

	e->stream_bytes = htole64(end_off);
	mvf_rec_fix_crc(out, end_off);
}

/* Build the stream of @d from the valid one; returns its length. */
static size_t damage(enum damage d, const uint8_t *img, size_t len,
		     const struct mvf_stream_info *info, uint8_t *out)
{
	struct mvf_rec_ident *id = mvf_rec_payload(out, 0, NULL);
	uint64_t dm = info->devmem_data_off;
	uint64_t dm_size = mvf_rec_size(img, dm);
	struct mvf_rec_hdr *hdr;
	struct mvf_rec_state *st;
	struct mvf_rec_end *e;
	size_t n;

	memcpy(out, img, len);
	switch (d) {
	case D_NONE:
		return len;
	case D_UNKNOWN_OPTIONAL:
	case D_UNKNOWN_MANDATORY:
		n = insert_record(out, len, info->size_off, 0x7e01,
				  d == D_UNKNOWN_MANDATORY ?
				  MVF_REC_F_MANDATORY : 0);
		fix_end(out, info->end_off + n);
		return len + n;
	case D_EMPTY:
		return 0;
	case D_TRUNC_IDENT:
		return MVF_REC_HDR_SIZE / 2;
	case D_TRUNC_REC_HDR:
		return dm + MVF_REC_HDR_SIZE / 2;
	case D_TRUNC_DEVMEM:
		return dm + dm_size / 2 + 3;
	case D_TRUNC_LAST_BYTE:
		return len - 1;
	case D_NO_END:
		return info->end_off;
	case D_FLIP_IDENT:
		/* src_vhca_id is informational: only the CRC can notice */
		id->src_vhca_id ^= htole16(0x40);
		return len;
	case D_FLIP_DEVMEM:
		out[dm + dm_size / 2 + 5] ^= 0x08;
		return len;
	case D_FLIP_STATE:
		/* a scratch register value: any value would be legal */
		st = mvf_rec_payload(out, info->state_off, NULL);
		st->regs.scratch[2] ^= htole32(0x100);
		return len;
	case D_CRC_FIELD:
		hdr = (struct mvf_rec_hdr *)out;
		hdr->crc32 ^= htole32(0x00010000);
		return len;
	case D_END_COUNT:
		e = mvf_rec_payload(out, info->end_off, NULL);
		e->stream_bytes = htole64(le64toh(e->stream_bytes) + 8);
		mvf_rec_fix_crc(out, info->end_off);
		return len;
	case D_DROP_RECORD:
		memmove(out + dm, out + dm + dm_size, len - dm - dm_size);
		return len - dm_size;
	case D_OTHER_VENDOR:
		id->vendor_id = htole16(0x8086);
		break;
	case D_OTHER_DEVICE:
		id->device_id = htole16(MVF_PCI_DEVICE_ID_PF);
		break;
	case D_OTHER_VERSION:
		id->version_major = htole16(MVF_STREAM_VERSION_MAJOR + 1);
		break;
	case D_OTHER_IF_VERSION:
		id->if_version = htole32((MVF_IF_VERSION_MAJOR + 1) << 16);
		break;
	case D_OTHER_DEVMEM_SIZE:
		id->devmem_size = htole64(le64toh(id->devmem_size) * 2);
		break;
	case D_NOT_IDENT_FIRST:
		n = mvf_rec_size(img, 0);
		memmove(out, out + n, len - n);
		return len - n;
	case D_AFTER_END:
		n = insert_record(out, len, len, 0x7e02, 0);
		return len + n;
	case D_HUGE_RECORD:
		n = insert_record(out, len, info->size_off, 0x7e03, 0);
		hdr = (struct mvf_rec_hdr *)(out + info->size_off);
		hdr->len = htole64(16 << 20);
		return len + n;
	}
	/* identity damage: a correct CRC, so the identity check must fail */
	mvf_rec_fix_crc(out, 0);
	return len;
}

TEST_F_TIMEOUT(bad_stream, load, MVF_T_SHORT)
{
	struct mvf_vf *vf2 = self->env.vf[1], *vf3 = self->env.vf[2];
	struct mvf_stream_info info;
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
	if (variant->damage > D_UNKNOWN_OPTIONAL &&
	    variant->damage < D_OTHER_VENDOR)
		/* our own parser must reject it too (if not by identity) */
		ASSERT_TRUE(mvf_stream_parse(buf, n, true, &info, why,
					     sizeof(why)));

	ASSERT_EQ(0, vfio_mig_set_state(vf2->vdev, VFIO_DEVICE_STATE_RESUMING,
					&fd));
	ASSERT_LE(0, fd);
	if (n) {
		vfio_util_quiet = variant->damage > D_UNKNOWN_OPTIONAL;
		wret = vfio_mig_load(fd, buf, n);
		vfio_util_quiet = false;
	}
	aret = mvf_set_state_quiet(vf2, VFIO_DEVICE_STATE_STOP, NULL);
	close(fd);
	state = mvf_state(vf2);
	free(buf);

	if (variant->damage <= D_UNKNOWN_OPTIONAL) {
		/* the controls: the valid stream loads and runs */
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
		if (variant->async && wret) {
			EXPECT_EQ(-EIO, wret);
		} else {
			EXPECT_EQ(-variant->write_err, wret);
		}
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
