// SPDX-License-Identifier: GPL-2.0-only
/*
 * Stream fuzzing: a stream saved from one VF can only ever change the VF
 * it is loaded into, and only as the stream says.
 *
 * A few valid streams are saved from VFs in known states: device memory
 * with data pages between zero runs, scratch registers, a queue pair that
 * did work (indices, counters), a record of the largest size, and one
 * stream with pre-copy rounds (pages and STATE more than once).  Then
 * MVF_FUZZ_CASES (10,000) mutated streams go into destination VFs through
 * the data fd, one thread per destination VF: RUNNING -> RESUMING, write()
 * in pieces of some size (1 byte, odd sizes, record by record, all at
 * once), RESUMING -> STOP, GET, VFIO_DEVICE_RESET back to RUNNING.  The
 * mutations: bit flips anywhere (headers, payloads, CRCs), truncation at
 * any offset, splices of two streams (other VFs, other sizes), records
 * duplicated, dropped or swapped, lengths of 2^63, 2^64 - 1 and just over
 * MVF_REC_MAX_SIZE, unknown optional and mandatory records, zero-length
 * records, garbage, and changed fields of IDENT, DEVMEM, STATE, SIZE and
 * END with the record's CRC recomputed, so that the deeper checks and not
 * the CRC must refuse them (or, for a change that keeps the stream valid,
 * so that it must load).
 *
 * Every case is first judged by this file's own reading of the format:
 * the driver's checks on write() (Documentation/mvf/migration-stream.rst,
 * "Resume fd") and the device's LOAD validation (Documentation/mvf/
 * device.rst, "LOAD validation").  That says whether the stream must load,
 * or which check refuses it first and so which errnos write() and the arc
 * may give (a device refusal shows asynchronously: write() 0 or EIO, the
 * arc EINVAL; a driver refusal: write() EINVAL, the arc EIO).  Then:
 *  - refused: the errnos must be those, and GET must say RESUMING;
 *  - accepted: the stream must be one that must load, the library's
 *    parser must take it, GET must say STOP, and the VF must hold exactly
 *    what the stream says: a save of the stopped VF is compared with the
 *    stream, every page of device memory (the stream's DEVMEM records
 *    applied in order to the zeroed memory of a reset VF) and every
 *    register its last STATE carries;
 *  - a valid stream that is refused is as wrong as a bad one that loads.
 * A bystander VF (running, never loaded) is checked while the cases run
 * and at the end: registers, a checksum of its device memory, migration
 * state, device state flags and frozen access counter.  The kernel memory
 * of the image buffers (mvf_core's debugfs img_bytes) must stay within one
 * data fd's ring per thread (migration-stream.rst, "Chunks"), whatever the
 * stream claims, and return to where it was.
 *
 * Deterministic: case N depends only on the seed and N.  Environment:
 * MVF_FUZZ_SEED (default FUZZ_SEED), MVF_FUZZ_CASES (default 10000),
 * MVF_FUZZ_CASE=N runs case N alone and shows it record by record,
 * MVF_FUZZ_THREADS limits the threads (default: every VF but the
 * bystander, at most MVF_TEST_MAX_VFS - 1).  Every failure prints the
 * seed, the case and what was done to the stream.
 */
#include <endian.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "mvf_test.h"

#define FUZZ_SEED		0x6d76667a7a000001ULL
#define FUZZ_CASES		10000
#define NSRC			4
#define MAXREC			4096
#define NONE			UINT64_MAX
#define PG			MVF_DEVMEM_PAGE_SIZE
#define REC_MAX_PAYLOAD		(MVF_REC_MAX_SIZE - MVF_REC_HDR_SIZE)
#define ALIGN8(x)		(((x) + 7) & ~7ULL)
#define MAX_FAIL_LOGS		25
#define DESC_LEN		640

/*
 * The kernel memory of one data fd (migration-stream.rst, "Chunks";
 * drivers/vfio/pci/mvf/mvf_vfio.h): MVF_MIGF_CHUNKS buffers of
 * MVF_CHUNK_SIZE = PAGE_ALIGN(MVF_REC_MAX_SIZE) bytes, each with at most
 * two pages of scatter list (257 single pages need two tables of 256
 * entries).  Nothing in it depends on the stream.
 */
#define FD_CHUNKS		4
#define FD_CHUNK_DATA		((MVF_REC_MAX_SIZE + 4095ULL) & ~4095ULL)
#define FD_BOUND		(FD_CHUNKS * (FD_CHUNK_DATA + 2 * 4096ULL))

/* Seeds of the VFs' known states. */
#define SEED_S0			0xf0220000ULL
#define SEED_S1			0xf0221111ULL
#define SEED_S2			0xf0222222ULL
#define SEED_S3			0xf0223333ULL
#define SEED_BY			0xf022bbbbULL

/* ---- small things -------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	char *end;
	uint64_t x;

	if (!v || !*v)
		return def;
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "# %s=%s is not a number, using %#" PRIx64 "\n",
			name, v, def);
		return def;
	}
	return x;
}

static bool is_zero(const uint8_t *p, size_t n)
{
	uint64_t w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		if (w)
			return false;
	}
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* FNV-1a over 64-bit words (@len a multiple of 8): a quick checksum. */
static uint64_t fnv(uint64_t h, const void *buf, size_t len)
{
	const uint64_t *p = buf;

	for (len /= 8; len--; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return h;
}

/*
 * CRC-32 as mvf_crc32() (zlib's), eight bytes a step: the test computes
 * it over every record of every case, in an emulated CPU.
 */
static uint32_t crc_tab[8][256];

static void crc_init(void)
{
	uint32_t c;
	int i, k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
		crc_tab[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (k = 1; k < 8; k++)
			crc_tab[k][i] = (crc_tab[k - 1][i] >> 8) ^
					crc_tab[0][crc_tab[k - 1][i] & 0xff];
}

static uint32_t crc32_fast(uint32_t crc, const uint8_t *p, uint64_t len)
{
	uint32_t a, b;

	crc = ~crc;
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&a, p, 4);
		memcpy(&b, p + 4, 4);
		a = le32toh(a) ^ crc;
		b = le32toh(b);
		crc = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^
		      crc_tab[5][(a >> 16) & 0xff] ^ crc_tab[4][a >> 24] ^
		      crc_tab[3][b & 0xff] ^ crc_tab[2][(b >> 8) & 0xff] ^
		      crc_tab[1][(b >> 16) & 0xff] ^ crc_tab[0][b >> 24];
	}
	while (len--)
		crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t rec_crc(const uint8_t *p, uint64_t off)
{
	struct mvf_rec_hdr h;

	memcpy(&h, p + off, sizeof(h));
	h.crc32 = 0;
	return crc32_fast(crc32_fast(0, (const uint8_t *)&h, sizeof(h)),
			  p + off + sizeof(h), le64toh(h.len));
}

static const char *tag_name(uint16_t tag)
{
	switch (tag) {
	case MVF_REC_IDENT:
		return "IDENT";
	case MVF_REC_SIZE:
		return "SIZE";
	case MVF_REC_DEVMEM:
		return "DEVMEM";
	case MVF_REC_STATE:
		return "STATE";
	case MVF_REC_END:
		return "END";
	}
	return "?";
}

/* ---- streams being mutated ---------------------------------------------- */

struct mbuf {
	uint8_t *p;
	size_t len, cap;
};

/* The records a stream's framing gives, as far as it goes. */
struct recs {
	unsigned int n;
	uint64_t off[MAXREC];
	uint64_t end;		/* bytes covered by whole records */
};

static void walk(const uint8_t *p, size_t len, struct recs *r)
{
	uint64_t off = 0;

	r->n = 0;
	while (len - off >= MVF_REC_HDR_SIZE && r->n < MAXREC) {
		const struct mvf_rec_hdr *h = (const void *)(p + off);
		uint64_t plen = le64toh(h->len);

		if (plen > len - off - MVF_REC_HDR_SIZE ||
		    MVF_REC_HDR_SIZE + ALIGN8(plen) > len - off)
			break;
		r->off[r->n++] = off;
		off += MVF_REC_HDR_SIZE + ALIGN8(plen);
	}
	r->end = off;
}

static struct mvf_rec_hdr *hdr_at(struct mbuf *m, uint64_t off)
{
	return (struct mvf_rec_hdr *)(m->p + off);
}

static uint64_t rec_bytes(const struct mbuf *m, const struct recs *r,
			  unsigned int i)
{
	return (i + 1 < r->n ? r->off[i + 1] : r->end) - r->off[i];
}

/* Recompute a record's CRC, if its payload is inside the buffer. */
static bool fix_crc(struct mbuf *m, uint64_t off)
{
	uint64_t plen;

	if (off + MVF_REC_HDR_SIZE > m->len)
		return false;
	plen = le64toh(hdr_at(m, off)->len);
	if (plen > m->len - off - MVF_REC_HDR_SIZE)
		return false;
	hdr_at(m, off)->crc32 = htole32(rec_crc(m->p, off));
	return true;
}

static bool mb_insert(struct mbuf *m, uint64_t at, const void *src, size_t n)
{
	if (at > m->len || n > m->cap - m->len)
		return false;
	memmove(m->p + at + n, m->p + at, m->len - at);
	if (src)
		memcpy(m->p + at, src, n);
	m->len += n;
	return true;
}

static void mb_delete(struct mbuf *m, uint64_t at, size_t n)
{
	memmove(m->p + at, m->p + at + n, m->len - at - n);
	m->len -= n;
}

/* ---- the reference reading of the format -------------------------------- */

/* What the destination VF is. */
struct dest {
	uint64_t devmem_size;
	uint32_t caps;		/* the device's: IDENT of its own streams */
	uint32_t if_version;
};

/* What must happen to a stream, from the first check that refuses it. */
enum expect {
	X_LOAD,			/* complete and valid: must load */
	X_EMPTY,		/* nothing written: arc ENODATA */
	X_TRUNC,		/* stops before or inside a record, no END */
	X_DRIVER,		/* write() refuses a record */
	X_DEVICE,		/* the device refuses a record */
	X_DEVICE_DRIVER,	/* the device, and write() later on */
};

static const char *const expect_name[] = {
	[X_LOAD] = "valid: must load",
	[X_EMPTY] = "empty",
	[X_TRUNC] = "cut short, no END",
	[X_DRIVER] = "write() must refuse",
	[X_DEVICE] = "the device must refuse",
	[X_DEVICE_DRIVER] = "the device, then write(), must refuse",
};

struct verdict {
	enum expect x;
	uint64_t drv_at, dev_at;	/* record offsets, NONE if none */
	char drv_why[96], dev_why[96];
};

/* The load session as the device keeps it. */
struct dev_sess {
	bool ident, ended;
	uint16_t last_tag;
	uint64_t bytes;
};

/* Say why a record is refused; returns false. */
static bool bad(char *why, size_t whylen, const char *fmt, ...) __printf(3, 4);

static bool bad(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return false;
}

static bool framed(uint16_t tag, uint16_t flags, uint64_t plen,
		   uint64_t want, char *why, size_t whylen)
{
	bool mand = tag != MVF_REC_SIZE;

	if (!!(flags & MVF_REC_F_MANDATORY) != mand)
		return bad(why, whylen, "%s with MANDATORY %s", tag_name(tag), mand ? "clear" : "set");
	if (plen != want)
		return bad(why, whylen, "%s of %" PRIu64 " bytes, not %" PRIu64, tag_name(tag),
		    plen, want);
	return true;
}

/* device.rst, "LOAD validation": one record, in the session @s. */
static bool dev_check(const uint8_t *p, uint64_t off, const struct dest *d,
		      struct dev_sess *s, char *why, size_t whylen)
{
	const struct mvf_rec_hdr *h = (const void *)(p + off);
	const uint8_t *pl = p + off + MVF_REC_HDR_SIZE;
	uint16_t tag = le16toh(h->tag), flags = le16toh(h->flags);
	uint64_t plen = le64toh(h->len);
	uint64_t size = MVF_REC_HDR_SIZE + ALIGN8(plen);

	if (flags & ~MVF_REC_F_MANDATORY)
		return bad(why, whylen, "record flags %#x", flags);
	if (!is_zero(pl + plen, ALIGN8(plen) - plen))
		return bad(why, whylen, "padding not zero");
	if (le32toh(h->crc32) != rec_crc(p, off))
		return bad(why, whylen, "CRC");
	if (s->ended)
		return bad(why, whylen, "a record after END");
	if (!s->ident && tag != MVF_REC_IDENT)
		return bad(why, whylen, "first record not IDENT");

	switch (tag) {
	case MVF_REC_IDENT: {
		struct mvf_rec_ident id = { 0 };

		if (s->ident)
			return bad(why, whylen, "second IDENT");
		memcpy(&id, pl, plen < sizeof(id) ? plen : sizeof(id));
		if (plen < offsetof(struct mvf_rec_ident, version_minor) ||
		    le32toh(id.magic) != MVF_STREAM_MAGIC)
			return bad(why, whylen, "IDENT magic");
		if (le16toh(id.version_major) != MVF_STREAM_VERSION_MAJOR)
			return bad(why, whylen, "IDENT stream version");
		if (!framed(tag, flags, plen, sizeof(id), why, whylen))
			return false;
		if (le32toh(id.if_version) >> 16 != MVF_IF_VERSION_MAJOR)
			return bad(why, whylen, "IDENT interface version");
		if (le16toh(id.vendor_id) != MVF_PCI_VENDOR_ID ||
		    le16toh(id.device_id) != MVF_PCI_DEVICE_ID_VF)
			return bad(why, whylen, "IDENT vendor/device");
		if (le32toh(id.caps) & ~d->caps)
			return bad(why, whylen, "IDENT caps %#x", le32toh(id.caps));
		if (le32toh(id.page_size) != PG)
			return bad(why, whylen, "IDENT page size");
		if (le64toh(id.devmem_size) != d->devmem_size)
			return bad(why, whylen, "IDENT devmem_size %#" PRIx64,
			    (uint64_t)le64toh(id.devmem_size));
		if (id.rsvd0 || id.rsvd1)
			return bad(why, whylen, "IDENT reserved field");
		s->ident = true;
		break;
	}
	case MVF_REC_SIZE:
		if (!framed(tag, flags, plen, sizeof(struct mvf_rec_size), why,
			    whylen))
			return false;
		if (s->last_tag != MVF_REC_IDENT)
			return bad(why, whylen, "SIZE not right after IDENT");
		break;
	case MVF_REC_DEVMEM: {
		struct mvf_rec_devmem dm;
		uint64_t at, n;
		uint32_t pages, dflags;

		if (plen < sizeof(dm))
			return framed(tag, flags, plen, sizeof(dm), why, whylen);
		memcpy(&dm, pl, sizeof(dm));
		at = le64toh(dm.offset);
		pages = le32toh(dm.pages);
		dflags = le32toh(dm.flags);
		if (dflags & ~MVF_REC_DEVMEM_F_ZERO)
			return bad(why, whylen, "DEVMEM flags %#x", dflags);
		if (pages < 1 || pages > MVF_REC_DEVMEM_MAX_PAGES)
			return bad(why, whylen, "DEVMEM pages %u", pages);
		n = (uint64_t)pages * PG;
		if (!framed(tag, flags, plen, sizeof(dm) +
			    (dflags & MVF_REC_DEVMEM_F_ZERO ? 0 : n), why, whylen))
			return false;
		if (at % PG)
			return bad(why, whylen, "DEVMEM offset %#" PRIx64 " not page aligned", at);
		if (at > d->devmem_size || n > d->devmem_size - at)
			return bad(why, whylen, "DEVMEM %#" PRIx64 "+%u pages beyond device memory",
			    at, pages);
		break;
	}
	case MVF_REC_STATE: {
		struct mvf_rec_state st;
		const struct mvf_img_queue *q[3];
		int i;

		if (!framed(tag, flags, plen, sizeof(st), why, whylen))
			return false;
		memcpy(&st, pl, sizeof(st));
		if (le32toh(st.regs.ctrl) & ~MVF_VF_CTRL_MASK)
			return bad(why, whylen, "STATE ctrl %#x", le32toh(st.regs.ctrl));
		if (le32toh(st.regs.status) & ~(MVF_VF_STATUS_QUIESCED |
						 MVF_VF_STATUS_FROZEN |
						 MVF_VF_STATUS_QP_ERROR))
			return bad(why, whylen, "STATE status %#x", le32toh(st.regs.status));
		for (i = MVF_VF_CNT_ERRORS + 1; i < MVF_VF_NUM_COUNTERS; i++)
			if (st.cnt[i])
				return bad(why, whylen, "STATE counter %d", i);
		q[0] = &st.queues.sq;
		q[1] = &st.queues.rq;
		q[2] = &st.queues.cq;
		for (i = 0; i < 3; i++) {
			uint32_t log = le32toh(q[i]->log_size);

			if (q[i]->rsvd0 ||
			    (log && (log < MVF_VF_Q_LOG_SIZE_MIN ||
				     log > MVF_VF_Q_LOG_SIZE_MAX)))
				return bad(why, whylen, "STATE queue %d field", i);
		}
		break;
	}
	case MVF_REC_END: {
		struct mvf_rec_end e;

		if (!framed(tag, flags, plen, sizeof(e), why, whylen))
			return false;
		if (s->last_tag != MVF_REC_STATE)
			return bad(why, whylen, "END not right after STATE");
		memcpy(&e, pl, sizeof(e));
		if (le64toh(e.stream_bytes) != s->bytes)
			return bad(why, whylen, "END counts %" PRIu64 " bytes, not %" PRIu64,
			    (uint64_t)le64toh(e.stream_bytes), s->bytes);
		s->ended = true;
		break;
	}
	default:
		if (flags & MVF_REC_F_MANDATORY)
			return bad(why, whylen, "unknown mandatory record %#x", tag);
		/* skipped, but counted; it does not change the order */
		s->bytes += size;
		return true;
	}
	s->bytes += size;
	s->last_tag = tag;
	return true;
}

/* migration-stream.rst, "write()": the IDENT checks of the driver. */
static bool drv_ident(const uint8_t *pl, uint64_t plen, const struct dest *d,
		      char *why, size_t whylen)
{
	struct mvf_rec_ident id;

	if (plen < sizeof(id))
		return bad(why, whylen, "IDENT too short for the driver");
	memcpy(&id, pl, sizeof(id));
	if (le32toh(id.magic) != MVF_STREAM_MAGIC)
		return bad(why, whylen, "IDENT magic (driver)");
	if (le16toh(id.version_major) != MVF_STREAM_VERSION_MAJOR)
		return bad(why, whylen, "IDENT stream version (driver)");
	if (le16toh(id.vendor_id) != MVF_PCI_VENDOR_ID ||
	    le16toh(id.device_id) != MVF_PCI_DEVICE_ID_VF)
		return bad(why, whylen, "IDENT device (driver)");
	if (le32toh(id.if_version) >> 16 != MVF_IF_VERSION_MAJOR)
		return bad(why, whylen, "IDENT interface version (driver)");
	if (le32toh(id.caps) & ~d->caps)
		return bad(why, whylen, "IDENT caps (driver)");
	if (le32toh(id.page_size) != PG)
		return bad(why, whylen, "IDENT page size (driver)");
	if (le64toh(id.devmem_size) != d->devmem_size)
		return bad(why, whylen, "IDENT devmem_size (driver)");
	return true;
}

/*
 * Walk the stream as the driver's write() splits it and, record by record
 * as they reach it, as the device checks them.
 */
static void judge(const uint8_t *p, size_t len, const struct dest *d,
		  struct verdict *v)
{
	struct dev_sess s = { 0 };
	bool ident_ok = false, end_seen = false, partial_hdr = false;
	bool cut = false;
	uint64_t off = 0;

	memset(v, 0, sizeof(*v));
	v->drv_at = NONE;
	v->dev_at = NONE;
	if (!len) {
		v->x = X_EMPTY;
		return;
	}
	while (off < len) {
		const struct mvf_rec_hdr *h = (const void *)(p + off);
		uint16_t tag;
		uint64_t plen;

		/* the driver, at the first byte after END */
		if (end_seen) {
			snprintf(v->drv_why, sizeof(v->drv_why), "data after END");
			v->drv_at = off;
			break;
		}
		if (len - off < MVF_REC_HDR_SIZE) {
			partial_hdr = true;
			break;
		}
		tag = le16toh(h->tag);
		plen = le64toh(h->len);
		/* the driver, as soon as the header is complete */
		if (!ident_ok && tag != MVF_REC_IDENT) {
			snprintf(v->drv_why, sizeof(v->drv_why),
				 "first record %#x, not IDENT", tag);
		} else if (plen > REC_MAX_PAYLOAD) {
			snprintf(v->drv_why, sizeof(v->drv_why),
				 "record %#x of %#" PRIx64 " bytes", tag, plen);
		}
		if (v->drv_why[0]) {
			v->drv_at = off;
			break;
		}
		if (MVF_REC_HDR_SIZE + ALIGN8(plen) > len - off) {
			cut = true;
			break;
		}
		/* the driver, when the record is complete */
		if (tag == MVF_REC_IDENT && !ident_ok &&
		    !drv_ident(p + off + MVF_REC_HDR_SIZE, plen, d, v->drv_why,
			       sizeof(v->drv_why))) {
			v->drv_at = off;
			break;
		}
		if (tag == MVF_REC_SIZE && plen < sizeof(struct mvf_rec_size)) {
			snprintf(v->drv_why, sizeof(v->drv_why), "SIZE too short");
			v->drv_at = off;
			break;
		}
		if (tag == MVF_REC_IDENT)
			ident_ok = true;
		if (tag == MVF_REC_END)
			end_seen = true;
		/* the device, once the driver sends it the chunk */
		if (v->dev_at == NONE &&
		    !dev_check(p, off, d, &s, v->dev_why, sizeof(v->dev_why)))
			v->dev_at = off;
		off += MVF_REC_HDR_SIZE + ALIGN8(plen);
	}
	if (v->drv_at != NONE)
		v->x = v->dev_at != NONE ? X_DEVICE_DRIVER : X_DRIVER;
	else if (v->dev_at != NONE)
		v->x = X_DEVICE;
	else if (partial_hdr || cut || !end_seen)
		v->x = X_TRUNC;
	else
		v->x = X_LOAD;
}

/* The errnos migration-stream.rst allows for what judge() found. */
static bool errnos_ok(enum expect x, int werr, int aerr)
{
	switch (x) {
	case X_LOAD:
		return !werr && !aerr;
	case X_EMPTY:
		return !werr && aerr == -ENODATA;
	case X_TRUNC:
		return !werr && aerr == -EINVAL;
	case X_DRIVER:
		return werr == -EINVAL && aerr == -EIO;
	case X_DEVICE:
		return (!werr || werr == -EIO) && aerr == -EINVAL;
	case X_DEVICE_DRIVER:
		/* whichever the driver noticed first */
		return (werr == -EINVAL && (aerr == -EIO || aerr == -EINVAL)) ||
		       (werr == -EIO && aerr == -EINVAL);
	}
	return false;
}

/* ---- the test's shared state ------------------------------------------- */

struct src {
	const char *name;
	uint8_t *p;
	size_t len;
	struct recs rc;
	unsigned int weight;
};

struct fuzz;

/* Where a case's time goes (summed over the cases of a thread). */
enum { T_BUILD, T_RESUMING, T_WRITE, T_STOP, T_SAVE, T_COMPARE, T_RESET, T_N };
static const char *const t_name[T_N] = {
	"build+judge", "-> RESUMING", "write", "-> STOP", "save loaded",
	"compare", "reset",
};

struct worker {
	struct fuzz *fz;
	int id;
	pthread_t thread;
	struct mvf_vf *vf;
	struct mbuf m;			/* the case's stream */
	uint8_t *tmp;			/* scratch of m.cap bytes */
	struct recs rc;
	uint8_t *sv;			/* a save of the destination */
	size_t sv_len, sv_cap;
	uint8_t *mem;			/* device memory the stream says... */
	uint8_t *data;			/* ...in the pages with a bit here */
	uint8_t *seen;			/* pages of the save, one bit each */
	char desc[DESC_LEN];
	size_t dlen;
	uint64_t refused, loaded, wrong, by_expect[X_DEVICE_DRIVER + 1];
	double t[T_N];			/* seconds per phase, all cases */
	bool quiet;			/* no register dump (controls) */
	int fatal;			/* -errno of a broken VF, 0 if fine */
	char fatal_why[256];
};

struct fuzz {
	uint64_t seed, ncases;
	int64_t only;			/* MVF_FUZZ_CASE, -1: all */
	struct src src[NSRC];
	unsigned int weight_sum;
	size_t max_src;
	struct dest dest;
	int nworkers;
	struct worker w[MVF_TEST_MAX_VFS];
	atomic_uint_fast64_t next, done;
	atomic_int stop;
	pthread_mutex_t log_lock;
	unsigned int logged;
};

static void note(struct worker *w, const char *fmt, ...) __printf(2, 3);

static void note(struct worker *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->dlen >= DESC_LEN - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(w->desc + w->dlen, DESC_LEN - w->dlen, fmt, ap);
	va_end(ap);
	if (n > 0)
		w->dlen += n;
	if (w->dlen > DESC_LEN - 1)
		w->dlen = DESC_LEN - 1;
}

static void flog(struct fuzz *fz, const char *fmt, ...) __printf(2, 3);

static void flog(struct fuzz *fz, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&fz->log_lock);
	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	va_end(ap);
	pthread_mutex_unlock(&fz->log_lock);
}

/* ---- mutations ----------------------------------------------------------- */

static int pick_rec(struct worker *w, uint64_t *rng, int tag, bool data_only)
{
	unsigned int i, n = 0, k;

	walk(w->m.p, w->m.len, &w->rc);
	for (i = 0; i < w->rc.n; i++) {
		const struct mvf_rec_hdr *h = hdr_at(&w->m, w->rc.off[i]);

		if (tag >= 0 && le16toh(h->tag) != tag)
			continue;
		if (data_only &&
		    le64toh(h->len) <= sizeof(struct mvf_rec_devmem))
			continue;
		n++;
	}
	if (!n)
		return -1;
	k = below(rng, n);
	for (i = 0; i < w->rc.n; i++) {
		const struct mvf_rec_hdr *h = hdr_at(&w->m, w->rc.off[i]);

		if (tag >= 0 && le16toh(h->tag) != tag)
			continue;
		if (data_only &&
		    le64toh(h->len) <= sizeof(struct mvf_rec_devmem))
			continue;
		if (!k--)
			return i;
	}
	return -1;
}

/* A record boundary (0 .. end of the last whole record). */
static uint64_t pick_boundary(struct worker *w, uint64_t *rng)
{
	unsigned int i;

	walk(w->m.p, w->m.len, &w->rc);
	i = below(rng, w->rc.n + 1);
	return i < w->rc.n ? w->rc.off[i] : w->rc.end;
}

/* END's count of the bytes before it, if the stream ends with END. */
static void fix_end(struct worker *w)
{
	struct mvf_rec_end *e;
	uint64_t off;

	walk(w->m.p, w->m.len, &w->rc);
	if (!w->rc.n || w->rc.end != w->m.len)
		return;
	off = w->rc.off[w->rc.n - 1];
	if (le16toh(hdr_at(&w->m, off)->tag) != MVF_REC_END ||
	    le64toh(hdr_at(&w->m, off)->len) != sizeof(*e))
		return;
	e = (void *)(w->m.p + off + MVF_REC_HDR_SIZE);
	e->stream_bytes = htole64(off);
	fix_crc(&w->m, off);
	note(w, ", END fixed");
}

static void maybe_fix_end(struct worker *w, uint64_t *rng, int pct)
{
	if ((int)below(rng, 100) < pct)
		fix_end(w);
}

static void maybe_fix_crc(struct worker *w, uint64_t *rng, uint64_t off,
			  int pct)
{
	if ((int)below(rng, 100) < pct && fix_crc(&w->m, off))
		note(w, ", CRC fixed");
}

static void mut_flip(struct worker *w, uint64_t *rng)
{
	unsigned int k = 1 + below(rng, 4), i;

	note(w, "flip");
	for (i = 0; i < k && w->m.len; i++) {
		uint64_t pos;
		int r = pick_rec(w, rng, -1, false);

		switch (below(rng, 3)) {
		case 0:	/* a header */
			pos = r < 0 ? below(rng, w->m.len) :
			      w->rc.off[r] + below(rng, MVF_REC_HDR_SIZE);
			break;
		case 1:	/* a CRC */
			pos = r < 0 ? below(rng, w->m.len) :
			      w->rc.off[r] + 4 + below(rng, 4);
			break;
		default:
			pos = below(rng, w->m.len);
		}
		if (pos >= w->m.len)
			continue;
		w->m.p[pos] ^= 1 << below(rng, 8);
		note(w, " @%" PRIu64, pos);
	}
}

/* Flip bits of one record (tag, flags, len or payload), CRC recomputed. */
static void mut_flip_fixed(struct worker *w, uint64_t *rng)
{
	int r = pick_rec(w, rng, -1, false);
	uint64_t off, plen, pos;
	unsigned int k = 1 + below(rng, 3), i;

	if (r < 0)
		return mut_flip(w, rng);
	off = w->rc.off[r];
	plen = le64toh(hdr_at(&w->m, off)->len);
	note(w, "flip in %s@%" PRIu64,
	     tag_name(le16toh(hdr_at(&w->m, off)->tag)), off);
	for (i = 0; i < k; i++) {
		switch (below(rng, 4)) {
		case 0:
			pos = off + below(rng, 4);		/* tag, flags */
			break;
		case 1:
			pos = off + 8 + below(rng, 8);		/* len */
			break;
		default:
			pos = plen ? off + MVF_REC_HDR_SIZE + below(rng, plen) :
				     off + below(rng, 4);
		}
		w->m.p[pos] ^= 1 << below(rng, 8);
		note(w, " +%" PRIu64, pos - off);
	}
	maybe_fix_crc(w, rng, off, 100);
}

/* New data in a page of a DEVMEM record, CRC recomputed: still valid. */
static void mut_page(struct worker *w, uint64_t *rng)
{
	int r = pick_rec(w, rng, MVF_REC_DEVMEM, true);
	uint64_t off, plen, pos;
	unsigned int k = 1 + below(rng, 8), i;

	if (r < 0)
		return mut_flip_fixed(w, rng);
	off = w->rc.off[r];
	plen = le64toh(hdr_at(&w->m, off)->len);
	note(w, "page data in DEVMEM@%" PRIu64, off);
	for (i = 0; i < k; i++) {
		pos = off + MVF_REC_HDR_SIZE + sizeof(struct mvf_rec_devmem) +
		      below(rng, plen - sizeof(struct mvf_rec_devmem));
		w->m.p[pos] = rnd(rng);
	}
	maybe_fix_crc(w, rng, off, 100);
}

static void mut_trunc(struct worker *w, uint64_t *rng)
{
	static const int64_t delta[] = { 0, 0, 1, 8, 15, 16, 17, -1 };
	uint64_t cut;
	int r;

	r = below(rng, 2) ? pick_rec(w, rng, -1, false) : -1;
	if (r >= 0) {
		int64_t dl = delta[below(rng, ARRAY_SIZE(delta))];

		cut = w->rc.off[r] + dl;
		if (dl < 0)
			cut = w->rc.off[r] + rec_bytes(&w->m, &w->rc, r) - 1;
	} else {
		cut = below(rng, w->m.len);
	}
	if (cut > w->m.len)
		cut = w->m.len;
	note(w, "truncate %zu -> %" PRIu64, w->m.len, cut);
	w->m.len = cut;
}

static void mut_splice(struct worker *w, uint64_t *rng)
{
	struct fuzz *fz = w->fz;
	const struct src *b = &fz->src[below(rng, NSRC)];
	uint64_t x, y;

	if (below(rng, 2))
		x = pick_boundary(w, rng);
	else
		x = below(rng, w->m.len + 1);
	if (below(rng, 2)) {
		unsigned int i = below(rng, b->rc.n + 1);

		y = i < b->rc.n ? b->rc.off[i] : b->len;
	} else {
		y = below(rng, b->len + 1);
	}
	if (x + (b->len - y) > w->m.cap)
		return;
	w->m.len = x;
	mb_insert(&w->m, x, b->p + y, b->len - y);
	note(w, "splice [0,%" PRIu64 ") + %s[%" PRIu64 ",%zu)", x, b->name, y,
	     b->len);
	maybe_fix_end(w, rng, 50);
}

static void mut_dup(struct worker *w, uint64_t *rng)
{
	int r = pick_rec(w, rng, -1, false);
	uint64_t off, n, at;

	if (r < 0)
		return mut_trunc(w, rng);
	off = w->rc.off[r];
	n = rec_bytes(&w->m, &w->rc, r);
	at = below(rng, 2) ? off + n : pick_boundary(w, rng);
	memcpy(w->tmp, w->m.p + off, n);
	if (!mb_insert(&w->m, at, w->tmp, n))
		return;
	note(w, "dup %s@%" PRIu64 " at %" PRIu64,
	     tag_name(le16toh(hdr_at(&w->m, at)->tag)), off, at);
	maybe_fix_end(w, rng, 70);
}

static void mut_drop(struct worker *w, uint64_t *rng)
{
	int r = pick_rec(w, rng, -1, false);
	uint64_t off;

	if (r < 0)
		return mut_trunc(w, rng);
	off = w->rc.off[r];
	note(w, "drop %s@%" PRIu64,
	     tag_name(le16toh(hdr_at(&w->m, off)->tag)), off);
	mb_delete(&w->m, off, rec_bytes(&w->m, &w->rc, r));
	maybe_fix_end(w, rng, 70);
}

static void mut_swap(struct worker *w, uint64_t *rng)
{
	int a = pick_rec(w, rng, -1, false), b;
	uint64_t oa, na, ob, nb, mid;

	if (a < 0 || w->rc.n < 2)
		return mut_drop(w, rng);
	b = below(rng, 2) ? a + 1 : (int)below(rng, w->rc.n);
	if (b >= (int)w->rc.n)
		b = a - 1;
	if (b == a)
		return mut_drop(w, rng);
	if (b < a) {
		int t = a;

		a = b;
		b = t;
	}
	oa = w->rc.off[a];
	na = rec_bytes(&w->m, &w->rc, a);
	ob = w->rc.off[b];
	nb = rec_bytes(&w->m, &w->rc, b);
	mid = ob - oa - na;
	/* [A][mid][B] -> [B][mid][A] */
	memcpy(w->tmp, w->m.p + ob, nb);
	memcpy(w->tmp + nb, w->m.p + oa + na, mid);
	memcpy(w->tmp + nb + mid, w->m.p + oa, na);
	memcpy(w->m.p + oa, w->tmp, na + mid + nb);
	note(w, "swap records %d and %d", a, b);
	maybe_fix_end(w, rng, 70);
}

static void mut_len(struct worker *w, uint64_t *rng)
{
	int r = pick_rec(w, rng, -1, false);
	uint64_t off, plen, v;

	if (r < 0)
		return mut_flip(w, rng);
	off = w->rc.off[r];
	plen = le64toh(hdr_at(&w->m, off)->len);
	switch (below(rng, 14)) {
	case 0:
		v = 1ULL << 63;
		break;
	case 1:
		v = ~0ULL;
		break;
	case 2:
		v = REC_MAX_PAYLOAD + 1;
		break;
	case 3:
		v = REC_MAX_PAYLOAD + 8;
		break;
	case 4:
		v = MVF_REC_MAX_SIZE;
		break;
	case 5:
		v = 1ULL << 32;
		break;
	case 6:
		v = (1ULL << 32) + plen;
		break;
	case 7:
		v = ~0ULL - 7;
		break;
	case 8:
		v = plen + 8;
		break;
	case 9:
		v = plen >= 8 ? plen - 8 : 0;
		break;
	case 10:
		v = plen + 1;
		break;
	case 11:
		v = REC_MAX_PAYLOAD;
		break;
	case 12:
		v = (1ULL << 63) - 1;
		break;
	default:
		v = rnd(rng);
		break;
	}
	hdr_at(&w->m, off)->len = htole64(v);
	note(w, "len of %s@%" PRIu64 " %" PRIu64 " -> %#" PRIx64,
	     tag_name(le16toh(hdr_at(&w->m, off)->tag)), off, plen, v);
	maybe_fix_crc(w, rng, off, 50);
}

static void mut_devmem(struct worker *w, uint64_t *rng)
{
	uint64_t size = w->fz->dest.devmem_size, off, at;
	struct mvf_rec_devmem *d;
	uint32_t pages, flags;
	int r = pick_rec(w, rng, MVF_REC_DEVMEM, false);

	if (r < 0)
		return mut_flip_fixed(w, rng);
	off = w->rc.off[r];
	d = (void *)(w->m.p + off + MVF_REC_HDR_SIZE);
	at = le64toh(d->offset);
	pages = le32toh(d->pages);
	flags = le32toh(d->flags);
	note(w, "DEVMEM@%" PRIu64 " (%#" PRIx64 "+%u%s): ", off, at, pages,
	     flags & MVF_REC_DEVMEM_F_ZERO ? " zero" : "");
	switch (below(rng, 15)) {
	case 0:
		at = 1ULL << 63;
		break;
	case 1:
		at = ~0ULL & ~(uint64_t)(PG - 1);
		break;
	case 2:
		at = size;
		break;
	case 3:
		at = size - PG;
		break;
	case 4:
		at += 1 + below(rng, PG - 1);
		break;
	case 5:
		at = size - (uint64_t)pages * PG + PG;
		break;
	case 6:	/* anywhere it fits: a valid stream, other pages */
	case 7:
		at = below(rng, size / PG - pages + 1) * PG;
		break;
	case 8:
		pages = 0;
		break;
	case 9:
		pages = MVF_REC_DEVMEM_MAX_PAGES + 1;
		break;
	case 10:
		pages = 0xffffffff;
		break;
	case 11:
		pages += 1;
		break;
	case 12:
		flags = below(rng, 2) ? 2 : flags | 0x80000000;
		break;
	default:
		if (flags & MVF_REC_DEVMEM_F_ZERO) {
			/* a zero record of other pages: valid if they fit */
			pages = 1 + below(rng, MVF_REC_DEVMEM_MAX_PAGES);
		} else {
			/* the data record becomes a zero record: valid */
			flags |= MVF_REC_DEVMEM_F_ZERO;
			mb_delete(&w->m, off + MVF_REC_HDR_SIZE + sizeof(*d),
				  (uint64_t)pages * PG);
			hdr_at(&w->m, off)->len = htole64(sizeof(*d));
		}
	}
	d->offset = htole64(at);
	d->pages = htole32(pages);
	d->flags = htole32(flags);
	note(w, "%#" PRIx64 "+%u flags %#x", at, pages, flags);
	maybe_fix_crc(w, rng, off, 90);
	maybe_fix_end(w, rng, 90);
}

static void mut_ident(struct worker *w, uint64_t *rng)
{
	struct mvf_rec_ident *id;
	uint64_t off;
	int r = pick_rec(w, rng, MVF_REC_IDENT, false);

	if (r < 0 || le64toh(hdr_at(&w->m, w->rc.off[r])->len) < sizeof(*id))
		return mut_flip_fixed(w, rng);
	off = w->rc.off[r];
	id = (void *)(w->m.p + off + MVF_REC_HDR_SIZE);
	note(w, "IDENT@%" PRIu64 ": ", off);
	switch (below(rng, 17)) {
	case 0:
		id->magic ^= htole32(1u << below(rng, 32));
		note(w, "magic");
		break;
	case 1:
		id->version_major = htole16(below(rng, 2) ? 3 : 1);
		note(w, "stream major");
		break;
	case 2:
		id->version_minor = htole16(rnd(rng));
		note(w, "stream minor (valid)");
		break;
	case 3:
		id->vendor_id = htole16(0x8086);
		note(w, "vendor");
		break;
	case 4:
		id->device_id = htole16(MVF_PCI_DEVICE_ID_PF);
		note(w, "device");
		break;
	case 5:
		id->if_version = htole32((MVF_IF_VERSION_MAJOR + 1) << 16);
		note(w, "interface major");
		break;
	case 6:
		id->if_version = htole32(MVF_IF_VERSION_MAJOR << 16 |
					 (uint16_t)rnd(rng));
		note(w, "interface minor (valid)");
		break;
	case 7:
		id->caps |= htole32(1u << (3 + below(rng, 29)));
		note(w, "caps we lack");
		break;
	case 8:
		id->caps = 0;
		note(w, "no caps (valid)");
		break;
	case 9:
		id->page_size = htole32(below(rng, 2) ? 8192 : 0);
		note(w, "page size");
		break;
	case 10:
		id->devmem_size = htole64(le64toh(id->devmem_size) / 2);
		note(w, "devmem_size / 2 (a smaller VF's)");
		break;
	case 11:
		id->devmem_size = htole64(le64toh(id->devmem_size) * 2);
		note(w, "devmem_size * 2 (a bigger VF's)");
		break;
	case 12:
		id->devmem_size = htole64(below(rng, 2) ? 1ULL << 63 : 0);
		note(w, "devmem_size huge or 0");
		break;
	case 13:
		id->rsvd0 = htole16(1 + below(rng, 0xfffe));
		note(w, "rsvd0");
		break;
	case 14:
		id->rsvd1 = htole32(1u << below(rng, 32));
		note(w, "rsvd1");
		break;
	default:
		id->src_vhca_id = htole16(rnd(rng));
		note(w, "src_vhca_id (valid)");
	}
	maybe_fix_crc(w, rng, off, 90);
}

static void mut_state(struct worker *w, uint64_t *rng)
{
	struct mvf_rec_state *st;
	struct mvf_img_queue *q;
	uint64_t off;
	int r = pick_rec(w, rng, MVF_REC_STATE, false), i;

	if (r < 0 || le64toh(hdr_at(&w->m, w->rc.off[r])->len) < sizeof(*st))
		return mut_flip_fixed(w, rng);
	off = w->rc.off[r];
	st = (void *)(w->m.p + off + MVF_REC_HDR_SIZE);
	i = below(rng, 3);
	q = i == 0 ? &st->queues.sq : i == 1 ? &st->queues.rq : &st->queues.cq;
	note(w, "STATE@%" PRIu64 ": ", off);
	switch (below(rng, 12)) {
	case 0:
	case 1:
		i = below(rng, MVF_VF_NUM_SCRATCH);
		st->regs.scratch[i] = htole32(rnd(rng));
		note(w, "scratch %d (valid)", i);
		break;
	case 2:
		st->regs.ctrl = htole32(below(rng, 2) ? below(rng, 4) :
					4u << below(rng, 29));
		note(w, "ctrl %#x", le32toh(st->regs.ctrl));
		break;
	case 3:
		st->regs.status = htole32(below(rng, 2) ? below(rng, 8) :
					  8u << below(rng, 28));
		note(w, "status %#x", le32toh(st->regs.status));
		break;
	case 4:
		q->log_size = htole32(below(rng, 16));
		note(w, "queue %d log %u", i, le32toh(q->log_size));
		break;
	case 5:
		q->rsvd0 = htole32(1u << below(rng, 32));
		note(w, "queue %d rsvd0", i);
		break;
	case 6:
		q->base = htole64(rnd(rng));
		note(w, "queue %d base (valid)", i);
		break;
	case 7:
		q->pi = htole32(rnd(rng));
		q->ci = htole32(rnd(rng));
		note(w, "queue %d indices (valid)", i);
		break;
	case 8:
	case 9:
		i = below(rng, MVF_VF_NUM_COUNTERS);
		st->cnt[i] = htole64(rnd(rng));
		note(w, "counter %d", i);
		break;
	default:
		memset(st, 0, sizeof(*st));
		note(w, "all zero (valid)");
	}
	maybe_fix_crc(w, rng, off, 95);
}

static void mut_end(struct worker *w, uint64_t *rng)
{
	struct mvf_rec_end *e;
	uint64_t off, v;
	int r = pick_rec(w, rng, MVF_REC_END, false);

	if (r < 0 || le64toh(hdr_at(&w->m, w->rc.off[r])->len) < sizeof(*e))
		return mut_trunc(w, rng);
	off = w->rc.off[r];
	e = (void *)(w->m.p + off + MVF_REC_HDR_SIZE);
	v = le64toh(e->stream_bytes);
	switch (below(rng, 5)) {
	case 0:
		v += 8 * (1 + below(rng, 4));
		break;
	case 1:
		v -= 8 * (1 + below(rng, 4));
		break;
	case 2:
		v ^= 1ULL << below(rng, 64);
		break;
	case 3:
		v = 0;
		break;
	default:
		v = rnd(rng);
	}
	e->stream_bytes = htole64(v);
	note(w, "END@%" PRIu64 " counts %#" PRIx64, off, v);
	maybe_fix_crc(w, rng, off, 85);
}

static void mut_size(struct worker *w, uint64_t *rng)
{
	struct mvf_rec_size *sz;
	uint64_t off, n, at;
	int r = pick_rec(w, rng, MVF_REC_SIZE, false);

	if (r < 0 || le64toh(hdr_at(&w->m, w->rc.off[r])->len) < sizeof(*sz))
		return mut_ident(w, rng);
	off = w->rc.off[r];
	n = rec_bytes(&w->m, &w->rc, r);
	sz = (void *)(w->m.p + off + MVF_REC_HDR_SIZE);
	switch (below(rng, 4)) {
	case 0:
		sz->stream_bytes = htole64(rnd(rng));
		note(w, "SIZE value (valid)");
		maybe_fix_crc(w, rng, off, 100);
		break;
	case 1:
		note(w, "drop SIZE (valid)");
		mb_delete(&w->m, off, n);
		maybe_fix_end(w, rng, 100);
		break;
	case 2:
		hdr_at(&w->m, off)->flags = htole16(MVF_REC_F_MANDATORY);
		note(w, "SIZE mandatory");
		maybe_fix_crc(w, rng, off, 100);
		break;
	default:
		memcpy(w->tmp, w->m.p + off, n);
		mb_delete(&w->m, off, n);
		at = pick_boundary(w, rng);
		mb_insert(&w->m, at, w->tmp, n);
		note(w, "move SIZE to %" PRIu64, at);
		maybe_fix_end(w, rng, 100);
	}
}

static void mut_unknown(struct worker *w, uint64_t *rng)
{
	static const uint16_t tags[] = {
		0x0000, 0x0006, 0x00ff, 0x0100, 0x7e01, 0x7fff, 0x8000,
		0xfffe, 0xffff,
	};
	static const uint16_t odd_flags[] = { 2, 3, 0x8000, 0x8001 };
	struct mvf_rec_hdr h = { 0 };
	uint64_t plen, at, n, i;
	uint16_t flags;

	switch (below(rng, 11)) {
	case 0:
		plen = 0;
		break;
	case 1:
		plen = 1;
		break;
	case 2:
		plen = 7;
		break;
	case 3:
		plen = 8;
		break;
	case 4:
		plen = 13;
		break;
	case 5:
		plen = 4096;
		break;
	case 6:
		plen = below(rng, 2) ? REC_MAX_PAYLOAD : 64;
		break;
	default:
		plen = below(rng, 8192);
	}
	flags = below(rng, 10);
	flags = flags < 6 ? 0 : flags < 9 ? MVF_REC_F_MANDATORY :
		odd_flags[below(rng, ARRAY_SIZE(odd_flags))];
	n = MVF_REC_HDR_SIZE + ALIGN8(plen);
	at = pick_boundary(w, rng);
	if (!mb_insert(&w->m, at, NULL, n))
		return;
	h.tag = htole16(tags[below(rng, ARRAY_SIZE(tags))]);
	h.flags = htole16(flags);
	h.len = htole64(plen);
	memcpy(w->m.p + at, &h, sizeof(h));
	for (i = 0; i < plen; i++)
		w->m.p[at + MVF_REC_HDR_SIZE + i] = rnd(rng);
	memset(w->m.p + at + MVF_REC_HDR_SIZE + plen, 0, n - MVF_REC_HDR_SIZE - plen);
	fix_crc(&w->m, at);
	note(w, "record %#x flags %#x len %" PRIu64 " at %" PRIu64,
	     le16toh(h.tag), flags, plen, at);
	/* the CRC does not cover the padding */
	if (plen % 8 && below(rng, 5) == 0) {
		w->m.p[at + n - 1] = 1 + below(rng, 255);
		note(w, ", padding not zero");
	}
	maybe_fix_end(w, rng, 80);
}

static void mut_zero_len(struct worker *w, uint64_t *rng)
{
	static const uint16_t tags[] = {
		MVF_REC_IDENT, MVF_REC_SIZE, MVF_REC_DEVMEM, MVF_REC_STATE,
		MVF_REC_END,
	};
	struct mvf_rec_hdr h = { 0 };
	uint64_t off, at;
	int r;

	r = below(rng, 2) ? pick_rec(w, rng, -1, false) : -1;
	if (r >= 0) {
		off = w->rc.off[r];
		note(w, "%s@%" PRIu64 " emptied",
		     tag_name(le16toh(hdr_at(&w->m, off)->tag)), off);
		mb_delete(&w->m, off + MVF_REC_HDR_SIZE,
			  rec_bytes(&w->m, &w->rc, r) - MVF_REC_HDR_SIZE);
		hdr_at(&w->m, off)->len = 0;
		fix_crc(&w->m, off);
	} else {
		at = pick_boundary(w, rng);
		h.tag = htole16(tags[below(rng, ARRAY_SIZE(tags))]);
		h.flags = htole16(le16toh(h.tag) == MVF_REC_SIZE ? 0 :
				  MVF_REC_F_MANDATORY);
		if (!mb_insert(&w->m, at, &h, sizeof(h)))
			return;
		fix_crc(&w->m, at);
		note(w, "empty %s at %" PRIu64, tag_name(le16toh(h.tag)), at);
	}
	maybe_fix_end(w, rng, 70);
}

static void mut_garbage(struct worker *w, uint64_t *rng)
{
	uint64_t n, at, i;

	switch (below(rng, 5)) {
	case 0:
		n = 1 + below(rng, 4096);
		for (i = 0; i < n; i++)
			w->m.p[i] = rnd(rng);
		w->m.len = n;
		note(w, "%" PRIu64 " random bytes", n);
		break;
	case 1:
		n = 1 + below(rng, 40);
		at = w->m.len;
		if (!mb_insert(&w->m, at, NULL, n))
			return;
		for (i = 0; i < n; i++)
			w->m.p[at + i] = rnd(rng);
		note(w, "%" PRIu64 " random bytes appended", n);
		break;
	case 2:
		n = 1 + below(rng, 64);
		if (!mb_insert(&w->m, 0, NULL, n))
			return;
		for (i = 0; i < n; i++)
			w->m.p[i] = rnd(rng);
		note(w, "%" PRIu64 " random bytes prepended", n);
		break;
	case 3:
		at = below(rng, w->m.len);
		n = 1 + below(rng, 256);
		if (n > w->m.len - at)
			n = w->m.len - at;
		for (i = 0; i < n; i++)
			w->m.p[at + i] = rnd(rng);
		note(w, "%" PRIu64 " random bytes at %" PRIu64, n, at);
		break;
	default: {
		/* a whole second stream after END */
		const struct src *b = &w->fz->src[below(rng, NSRC)];

		n = below(rng, 2) ? b->len : 1 + below(rng, b->len);
		if (!mb_insert(&w->m, w->m.len, b->p, n))
			return;
		note(w, "%s[0,%" PRIu64 ") appended", b->name, n);
	}
	}
}

typedef void (*mut_fn)(struct worker *w, uint64_t *rng);

static const struct {
	mut_fn fn;
	unsigned int weight;
} muts[] = {
	{ mut_flip, 12 },
	{ mut_flip_fixed, 10 },
	{ mut_page, 4 },
	{ mut_trunc, 8 },
	{ mut_splice, 8 },
	{ mut_dup, 5 },
	{ mut_drop, 5 },
	{ mut_swap, 5 },
	{ mut_len, 7 },
	{ mut_devmem, 7 },
	{ mut_ident, 6 },
	{ mut_state, 6 },
	{ mut_end, 4 },
	{ mut_size, 3 },
	{ mut_unknown, 7 },
	{ mut_zero_len, 3 },
	{ mut_garbage, 4 },
};

/* How write() gets the stream. */
struct wplan {
	int mode;
	size_t size;
};

static const char *const wmode_name[] = {
	"all at once", "pieces of", "random pieces", "256 single bytes first",
	"record by record", "two pieces",
};

/* Build case @idx into w->m; returns how to write it. */
static struct wplan build_case(struct worker *w, uint64_t idx)
{
	static const size_t sizes[] = { 1, 3, 7, 13, 15, 16, 17, 31, 4093,
					65537 };
	struct fuzz *fz = w->fz;
	uint64_t rng = fz->seed ^ (idx * 0xd1342543de82ef95ULL);
	unsigned int pick, i, k, nmut;
	struct wplan wp = { 0 };
	const struct src *s = NULL;

	rnd(&rng);
	w->dlen = 0;
	w->desc[0] = 0;
	pick = below(&rng, fz->weight_sum);
	for (i = 0; i < NSRC; i++) {
		s = &fz->src[i];
		if (pick < s->weight)
			break;
		pick -= s->weight;
	}
	memcpy(w->m.p, s->p, s->len);
	w->m.len = s->len;
	note(w, "%s: ", s->name);

	k = below(&rng, 100);
	nmut = k < 2 ? 0 : k < 75 ? 1 : k < 93 ? 2 : 3;
	if (!nmut)
		note(w, "unchanged");
	for (k = 0; k < nmut; k++) {
		unsigned int sum = 0;

		for (i = 0; i < ARRAY_SIZE(muts); i++)
			sum += muts[i].weight;
		pick = below(&rng, sum);
		for (i = 0; pick >= muts[i].weight; i++)
			pick -= muts[i].weight;
		if (k)
			note(w, "; ");
		muts[i].fn(w, &rng);
	}

	k = below(&rng, 10);
	wp.mode = k < 4 ? 0 : k - 4;
	if (wp.mode == 1) {
		wp.size = sizes[below(&rng, ARRAY_SIZE(sizes))];
		if (w->m.len / wp.size > 3000)
			wp.size = (w->m.len / 3000) | 1;
	} else if (wp.mode == 5) {
		wp.size = below(&rng, w->m.len + 1);
	}
	return wp;
}

/* ---- running a case ------------------------------------------------------ */

static int mig_set(struct mvf_vf *vf, uint32_t state, int *fd)
{
	struct vfio_device_feature_mig_state mig = {
		.device_state = state,
		.data_fd = -1,
	};
	int ret;

	ret = vfio_feature_raw(vf->vdev, sizeof(struct vfio_device_feature) +
			       sizeof(mig),
			       VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE |
			       VFIO_DEVICE_FEATURE_SET, &mig, sizeof(mig));
	if (fd)
		*fd = ret ? -1 : mig.data_fd;
	else if (!ret && mig.data_fd >= 0)
		close(mig.data_fd);
	return ret;
}

static int64_t mig_get(struct mvf_vf *vf)
{
	struct vfio_device_feature_mig_state mig = { .data_fd = -1 };

	if (vfio_feature_raw(vf->vdev, sizeof(struct vfio_device_feature) +
			     sizeof(mig),
			     VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE |
			     VFIO_DEVICE_FEATURE_GET, &mig, sizeof(mig)))
		return -1;
	return mig.device_state;
}

static int vf_reset(struct mvf_vf *vf)
{
	return ioctl(vf->vdev->fd, VFIO_DEVICE_RESET) ? -errno : 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (!r)
			return -EPIPE;	/* never: write() takes or fails */
		p += r;
		n -= r;
	}
	return 0;
}

/* Write the stream as @wp says; the first error, 0 if none. */
static int feed(struct worker *w, int fd, struct wplan wp, uint64_t idx)
{
	const uint8_t *p = w->m.p;
	size_t len = w->m.len, off = 0, n;
	uint64_t rng = w->fz->seed ^ ~idx;
	unsigned int i;
	int ret = 0;

	switch (wp.mode) {
	case 1:
		for (; !ret && off < len; off += n) {
			n = len - off < wp.size ? len - off : wp.size;
			ret = write_all(fd, p + off, n);
		}
		return ret;
	case 2:
		for (; !ret && off < len; off += n) {
			n = 1 + below(&rng, 9000);
			if (n > len - off)
				n = len - off;
			ret = write_all(fd, p + off, n);
		}
		return ret;
	case 3:
		for (; !ret && off < len && off < 256; off++)
			ret = write_all(fd, p + off, 1);
		return ret ?: write_all(fd, p + off, len - off);
	case 4:
		walk(p, len, &w->rc);
		for (i = 0; !ret && i < w->rc.n; i++)
			ret = write_all(fd, p + w->rc.off[i],
					rec_bytes(&w->m, &w->rc, i));
		return ret ?: write_all(fd, p + w->rc.end, len - w->rc.end);
	case 5:
		ret = write_all(fd, p, wp.size);
		return ret ?: write_all(fd, p + wp.size, len - wp.size);
	}
	return write_all(fd, p, len);
}

/* Save the stopped destination into w->sv; it stays in STOP. */
static int save_dest(struct worker *w)
{
	int fd, ret;
	ssize_t n;

	ret = mig_set(w->vf, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	if (ret)
		return ret;
	w->sv_len = 0;
	for (;;) {
		if (w->sv_len == w->sv_cap) {
			uint8_t *nb = realloc(w->sv, w->sv_cap * 2);

			if (!nb) {
				close(fd);
				return -ENOMEM;
			}
			w->sv = nb;
			w->sv_cap *= 2;
		}
		n = read(fd, w->sv + w->sv_len, w->sv_cap - w->sv_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			close(fd);
			return ret;
		}
		if (!n)
			break;
		w->sv_len += n;
	}
	close(fd);
	return mig_set(w->vf, VFIO_DEVICE_STATE_STOP, NULL);
}

#define BIT_SET(b, i)	((b)[(i) / 8] |= 1 << ((i) % 8))
#define BIT_CLEAR(b, i)	((b)[(i) / 8] &= ~(1 << ((i) % 8)))
#define BIT_TEST(b, i)	((b)[(i) / 8] & (1 << ((i) % 8)))

/*
 * Apply the DEVMEM records of the case's stream to a reset VF's memory:
 * w->mem holds the pages w->data marks, every other page is zero.
 */
static void expect_devmem(struct worker *w)
{
	uint64_t size = w->fz->dest.devmem_size;
	unsigned int i;

	walk(w->m.p, w->m.len, &w->rc);
	for (i = 0; i < w->rc.n; i++) {
		const struct mvf_rec_hdr *h = hdr_at(&w->m, w->rc.off[i]);
		const struct mvf_rec_devmem *d = (const void *)(h + 1);
		uint64_t at, n, pg;

		if (le16toh(h->tag) != MVF_REC_DEVMEM ||
		    le64toh(h->len) < sizeof(*d))
			continue;
		at = le64toh(d->offset);
		n = (uint64_t)le32toh(d->pages) * PG;
		if (at % PG || at > size || n > size - at)
			continue;
		if (le32toh(d->flags) & MVF_REC_DEVMEM_F_ZERO) {
			for (pg = at / PG; pg < (at + n) / PG; pg++)
				BIT_CLEAR(w->data, pg);
		} else if (le64toh(h->len) >= sizeof(*d) + n) {
			memcpy(w->mem + at, d + 1, n);
			for (pg = at / PG; pg < (at + n) / PG; pg++)
				BIT_SET(w->data, pg);
		}
	}
}

/*
 * The stopped destination against the stream it took: a save of it, page
 * by page and register by register.  Returns the number of differences
 * (with the first in @why), or -errno if the save failed.
 */
static int compare_dest(struct worker *w, char *why, size_t whylen)
{
	const struct dest *dst = &w->fz->dest;
	uint64_t pages = dst->devmem_size / PG, pg, bad = 0, first = NONE;
	struct mvf_vf_regs e, a;
	struct recs *rc = &w->rc;
	struct verdict v;
	char pwhy[160];
	unsigned int i;
	int ret, nregs;
	double t;

	t = vfio_now();
	ret = save_dest(w);
	w->t[T_SAVE] += vfio_now() - t;
	if (ret)
		return ret;
	/* the device writes valid streams only */
	judge(w->sv, w->sv_len, dst, &v);
	if (v.x != X_LOAD) {
		snprintf(why, whylen, "the destination's own stream is not valid: %s at %" PRIu64 ": %s",
			 expect_name[v.x], v.dev_at != NONE ? v.dev_at : v.drv_at,
			 v.dev_at != NONE ? v.dev_why : v.drv_why);
		return 1;
	}
	if (mvf_stream_regs(w->m.p, w->m.len, &e, pwhy, sizeof(pwhy))) {
		snprintf(why, whylen, "the library's parser refuses the stream that loaded: %s",
			 pwhy);
		return 1;
	}
	if (mvf_stream_regs(w->sv, w->sv_len, &a, pwhy, sizeof(pwhy))) {
		snprintf(why, whylen, "the library's parser refuses the destination's stream: %s",
			 pwhy);
		return 1;
	}

	memset(w->data, 0, (pages + 7) / 8);
	expect_devmem(w);
	memset(w->seen, 0, (pages + 7) / 8);
	walk(w->sv, w->sv_len, rc);
	for (i = 0; i < rc->n; i++) {
		const struct mvf_rec_hdr *h = (const void *)(w->sv + rc->off[i]);
		const struct mvf_rec_devmem *d = (const void *)(h + 1);
		bool zero;
		uint64_t at;

		if (le16toh(h->tag) != MVF_REC_DEVMEM)
			continue;
		zero = le32toh(d->flags) & MVF_REC_DEVMEM_F_ZERO;
		at = le64toh(d->offset);
		for (pg = 0; pg < le32toh(d->pages); pg++) {
			uint64_t o = at + pg * PG;
			const uint8_t *got = (const uint8_t *)(d + 1) + pg * PG;
			bool same;

			if (BIT_TEST(w->seen, o / PG)) {
				bad++;
				first = first == NONE ? o : first;
				continue;
			}
			BIT_SET(w->seen, o / PG);
			if (!BIT_TEST(w->data, o / PG))
				same = zero || is_zero(got, PG);
			else if (zero)
				same = is_zero(w->mem + o, PG);
			else
				same = !memcmp(w->mem + o, got, PG);
			if (!same) {
				bad++;
				first = first == NONE ? o : first;
			}
		}
	}
	for (pg = 0; pg < pages; pg++)
		if (!BIT_TEST(w->seen, pg)) {
			bad++;
			first = first == NONE ? pg * PG : first;
		}

	/* registers: LOAD restores QP_ERROR only, the VF stays stopped */
	e.status = (e.status & MVF_VF_STATUS_QP_ERROR) |
		   MVF_VF_STATUS_QUIESCED | MVF_VF_STATUS_FROZEN;
	e.version = dst->if_version;
	nregs = mvf_vf_regs_diff(&e, &a, "stream", "VF", false);
	if (bad || nregs) {
		if (nregs && !w->quiet) {
			pthread_mutex_lock(&w->fz->log_lock);
			mvf_vf_regs_diff(&e, &a, "stream", "VF", true);
			pthread_mutex_unlock(&w->fz->log_lock);
		}
		snprintf(why, whylen, "accepted but different: %" PRIu64 " pages (first at %#" PRIx64 ") and %d registers differ from the stream's",
			 bad, first == NONE ? 0 : first, nregs);
		return bad + nregs;
	}
	return 0;
}

static void dump_case(struct worker *w, const struct verdict *v)
{
	struct fuzz *fz = w->fz;
	unsigned int i;

	walk(w->m.p, w->m.len, &w->rc);
	flog(fz, "  %zu bytes, %u whole records (%" PRIu64 " bytes), verdict: %s",
	     w->m.len, w->rc.n, w->rc.end, expect_name[v->x]);
	if (v->drv_at != NONE)
		flog(fz, "  driver refuses at %" PRIu64 ": %s", v->drv_at,
		     v->drv_why);
	if (v->dev_at != NONE)
		flog(fz, "  device refuses at %" PRIu64 ": %s", v->dev_at,
		     v->dev_why);
	for (i = 0; i < w->rc.n && i < 64; i++) {
		const struct mvf_rec_hdr *h = hdr_at(&w->m, w->rc.off[i]);

		flog(fz, "  rec %u @%" PRIu64 ": tag %#x (%s) flags %#x len %" PRIu64 " crc %08x%s",
		     i, w->rc.off[i], le16toh(h->tag),
		     tag_name(le16toh(h->tag)), le16toh(h->flags),
		     (uint64_t)le64toh(h->len), le32toh(h->crc32),
		     le32toh(h->crc32) == rec_crc(w->m.p, w->rc.off[i]) ?
		     "" : " (bad)");
	}
}

static void one_case(struct worker *w, uint64_t idx)
{
	struct fuzz *fz = w->fz;
	double t = vfio_now(), t1;
	struct wplan wp = build_case(w, idx);
	int fd, werr = 0, aerr, ret;
	char why[384] = "";
	struct verdict v;
	int64_t state;
	bool wrong = false;
	double t_save = w->t[T_SAVE];

#define LAP(i) (t1 = vfio_now(), w->t[i] += t1 - t, t = t1)
	judge(w->m.p, w->m.len, &fz->dest, &v);
	note(w, "; written %s", wmode_name[wp.mode]);
	if (wp.mode == 1 || wp.mode == 5)
		note(w, " %zu", wp.size);
	if (fz->only >= 0) {
		flog(fz, "case %" PRIu64 ": %s", idx, w->desc);
		dump_case(w, &v);
	}

	LAP(T_BUILD);
	ret = mig_set(w->vf, VFIO_DEVICE_STATE_RESUMING, &fd);
	LAP(T_RESUMING);
	if (ret || fd < 0) {
		w->fatal = ret ?: -EBADF;
		snprintf(w->fatal_why, sizeof(w->fatal_why),
			 "case %" PRIu64 ": RUNNING -> RESUMING: %s", idx,
			 strerror(-w->fatal));
		return;
	}
	if (w->m.len)
		werr = feed(w, fd, wp, idx);
	LAP(T_WRITE);
	aerr = mig_set(w->vf, VFIO_DEVICE_STATE_STOP, NULL);
	state = mig_get(w->vf);
	close(fd);
	LAP(T_STOP);
	w->by_expect[v.x]++;

	if (!werr && !aerr) {
		if (v.x != X_LOAD) {
			if (v.dev_at != NONE || v.drv_at != NONE)
				snprintf(why, sizeof(why), "accepted a stream that must be refused (%s: %s at %" PRIu64 ")",
					 expect_name[v.x],
					 v.dev_at != NONE ? v.dev_why : v.drv_why,
					 v.dev_at != NONE ? v.dev_at : v.drv_at);
			else
				snprintf(why, sizeof(why), "accepted a stream that must be refused (%s)",
					 expect_name[v.x]);
			wrong = true;
		} else if (state != VFIO_DEVICE_STATE_STOP) {
			snprintf(why, sizeof(why), "loaded, but the state is %s, not STOP",
				 vfio_mig_state_name(state));
			wrong = true;
		} else {
			ret = compare_dest(w, why, sizeof(why));
			w->t[T_COMPARE] -= w->t[T_SAVE] - t_save;
			if (ret < 0) {
				snprintf(why, sizeof(why), "saving the destination failed: %s",
					 strerror(-ret));
				wrong = true;
			} else if (ret) {
				wrong = true;
			}
		}
		if (!wrong)
			w->loaded++;
	} else {
		if (v.x == X_LOAD) {
			snprintf(why, sizeof(why), "refused a valid stream");
			wrong = true;
		} else if (!errnos_ok(v.x, werr, aerr)) {
			snprintf(why, sizeof(why), "refused, but not as %s should be",
				 expect_name[v.x]);
			wrong = true;
		} else if (state != VFIO_DEVICE_STATE_RESUMING) {
			snprintf(why, sizeof(why), "refused, and the state is %s, not RESUMING",
				 vfio_mig_state_name(state));
			wrong = true;
		}
		if (!wrong)
			w->refused++;
	}
	if (wrong || fz->only >= 0) {
		bool show;

		pthread_mutex_lock(&fz->log_lock);
		show = fz->logged++ < MAX_FAIL_LOGS || fz->only >= 0;
		pthread_mutex_unlock(&fz->log_lock);
		if (show)
			flog(fz, "%s seed %#" PRIx64 " case %" PRIu64 " (MVF_FUZZ_SEED=%#" PRIx64 " MVF_FUZZ_CASE=%" PRIu64 "): %s: write %s, RESUMING -> STOP %s, now %s; expected: %s%s%s",
			     wrong ? "WRONG:" : "ok:", fz->seed, idx, fz->seed,
			     idx, w->desc, werr ? strerror(-werr) : "ok",
			     aerr ? strerror(-aerr) : "ok",
			     state < 0 ? "?" : vfio_mig_state_name(state),
			     expect_name[v.x], why[0] ? "; " : "", why);
	}
	if (wrong)
		w->wrong++;

	LAP(T_COMPARE);
	ret = vf_reset(w->vf);
	LAP(T_RESET);
#undef LAP
	if (ret) {
		w->fatal = ret;
		snprintf(w->fatal_why, sizeof(w->fatal_why),
			 "case %" PRIu64 ": VFIO_DEVICE_RESET: %s", idx,
			 strerror(-ret));
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct fuzz *fz = w->fz;

	while (!w->fatal && !atomic_load(&fz->stop)) {
		uint64_t idx = atomic_fetch_add(&fz->next, 1);

		if (idx >= fz->ncases)
			break;
		one_case(w, fz->only >= 0 ? (uint64_t)fz->only : idx);
		atomic_fetch_add(&fz->done, 1);
	}
	return NULL;
}

/* ---- the fixture: sources, bystander ------------------------------------- */

FIXTURE(fuzz) {
	struct mvf_env env;
	struct fuzz fz;
	struct mvf_vf *by;		/* the bystander */
	struct mvf_qp qp[MVF_NUM_SLOTS];
	struct mvf_vf_regs by_regs;
	uint64_t by_sum;
	uint32_t by_frozen;
};

static uint64_t devmem_sum(struct mvf_vf *vf, uint8_t *buf, int *err)
{
	uint64_t h = 0xcbf29ce484222325ULL, off;

	for (off = 0; off < vf->devmem_size; off += 1 << 20) {
		*err = mvf_devmem_read(vf, off, buf, 1 << 20);
		if (*err)
			return 0;
		h = fnv(h, buf, 1 << 20);
	}
	return h;
}

/* The bystander is as it was; 0 or how many things differ (@why). */
static int bystander_check(FIXTURE_DATA(fuzz) *self, char *why, size_t n)
{
	struct mvf_vf_regs r;
	uint32_t vhca = ~0u, frozen = ~0u;
	int64_t st = mig_get(self->by);
	uint8_t *buf = malloc(1 << 20);
	int err = 0, bad = 0, nregs;
	uint64_t sum;

	if (!buf)
		return snprintf(why, n, "no memory"), 1;
	sum = devmem_sum(self->by, buf, &err);
	free(buf);
	nregs = mvf_vf_read_regs(self->by, &r) ?:
		mvf_vf_regs_diff(&self->by_regs, &r, "before", "now", true);
	mvf_vhca_state(self->by->bdf, &vhca);
	mvf_frozen_accesses(self->by->bdf, &frozen);
	bad = !!err + (sum != self->by_sum) + !!nregs +
	      (st != VFIO_DEVICE_STATE_RUNNING) + !!vhca +
	      (frozen != self->by_frozen);
	snprintf(why, n, "devmem %s (sum %#" PRIx64 ", was %#" PRIx64 "), %d register(s) differ, state %s, vhca_state %#x, frozen accesses %u (were %u)",
		 err ? strerror(-err) : sum == self->by_sum ? "same" : "CHANGED",
		 sum, self->by_sum, nregs, st < 0 ? "?" : vfio_mig_state_name(st),
		 vhca, frozen, self->by_frozen);
	return bad;
}

/* Save a stopped VF into a malloc'ed source. */
static int save_src(struct mvf_vf *vf, struct src *s)
{
	void *img = NULL;
	size_t len = 0;
	int ret;

	ret = mvf_vf_save_stopped(vf, &img, &len);
	if (ret)
		return ret;
	s->p = img;
	s->len = len;
	return 0;
}

/* A stream with pre-copy rounds: pages and STATE come more than once. */
static int save_precopy(struct mvf_vf *vf, struct src *s)
{
	void *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, ret;

	ret = vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_PRE_COPY, &fd);
	if (ret)
		return ret;
	ret = vfio_mig_read_avail(fd, &buf, &len, &cap);
	if (ret == 0) {
		/* a page in a data run, a page in a zero run, a register */
		ret = mvf_devmem_fill(vf, 2 * PG, PG, SEED_S3 + 1) ?:
		      mvf_devmem_fill(vf, 5 << 20, 2 * PG, SEED_S3 + 2);
		mvf_wr32(vf, MVF_VF_REG_SCRATCH(3), 0x3333);
		ret = ret ?: vf->io_err ?: vfio_mig_read_avail(fd, &buf, &len, &cap);
	}
	if (ret == 0)
		ret = vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_PRE_COPY_P2P, NULL) ?:
		      vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	if (ret == 0)
		ret = vfio_mig_read_avail(fd, &buf, &len, &cap) == 1 ? 0 : -EIO;
	close(fd);
	if (ret == 0)
		ret = vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP, NULL);
	if (ret) {
		free(buf);
		return ret;
	}
	s->p = buf;
	s->len = len;
	return 0;
}

static int read_img_bytes(uint64_t *now, uint64_t *peak)
{
	FILE *f = fopen(MVF_DEBUGFS_DIR "/img_bytes", "r");
	unsigned long long a, b;
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%llu %llu", &a, &b) == 2;
	fclose(f);
	if (!ok)
		return -EINVAL;
	*now = a;
	*peak = b;
	return 0;
}

static int img_bytes_reset(void)
{
	FILE *f = fopen(MVF_DEBUGFS_DIR "/img_bytes", "w");

	if (!f)
		return -errno;
	fputs("0\n", f);
	return fclose(f) ? -errno : 0;
}

/*
 * The source streams, each from a VF in a known state (the VF is reset
 * after): with fewer VFs, the threads' VFs take turns.
 */
static void make_sources(struct __test_metadata *_metadata,
			 FIXTURE_DATA(fuzz) *self, int n)
{
	struct fuzz *fz = &self->fz;
	uint64_t sz = self->by->devmem_size, flags = 0;
	struct mvf_vf *vf;

	/* S0: a busy VF, data pages between zero runs, the last page too */
	vf = self->env.vf[0 % (n - 1)];
	mvf_make_busy(&self->env, vf, &self->qp[0], 0, SEED_S0, 64 << 10);
	ASSERT_EQ(0, mvf_devmem_fill(vf, 100 * PG, PG, SEED_S0 + 1));
	ASSERT_EQ(0, mvf_devmem_fill(vf, 300 * PG, 3 * PG, SEED_S0 + 2));
	ASSERT_EQ(0, mvf_devmem_fill(vf, sz - PG, PG, SEED_S0 + 3));
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP,
					NULL));
	ASSERT_EQ(0, save_src(vf, &fz->src[0]));
	ASSERT_EQ(0, vfio_dev_reset(vf->vdev));
	fz->src[0].name = "S0(busy)";
	fz->src[0].weight = 3;

	/* S1: 260 data pages: a record of the largest size, then 4 pages */
	vf = self->env.vf[1 % (n - 1)];
	mvf_make_busy(&self->env, vf, &self->qp[1], 1, SEED_S1,
		      (MVF_REC_DEVMEM_MAX_PAGES + 4) * PG);
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP,
					NULL));
	ASSERT_EQ(0, save_src(vf, &fz->src[1]));
	ASSERT_EQ(0, vfio_dev_reset(vf->vdev));
	fz->src[1].name = "S1(big)";
	fz->src[1].weight = 1;

	/* S2: registers only, device memory all zero */
	vf = self->env.vf[2 % (n - 1)];
	ASSERT_EQ(0, vfio_dev_reset(vf->vdev));
	mvf_scratch_set(vf, SEED_S2);
	ASSERT_EQ(0, vf->io_err);
	ASSERT_EQ(0, vfio_mig_set_state(vf->vdev, VFIO_DEVICE_STATE_STOP,
					NULL));
	ASSERT_EQ(0, save_src(vf, &fz->src[2]));
	ASSERT_EQ(0, vfio_dev_reset(vf->vdev));
	fz->src[2].name = "S2(idle)";
	fz->src[2].weight = 3;

	/* S3: pre-copy rounds, if the VF has them; else a plain save */
	vf = self->env.vf[3 % (n - 1)];
	mvf_make_busy(&self->env, vf, &self->qp[2], 2, SEED_S3, 32 << 10);
	ASSERT_EQ(0, vfio_mig_flags(vf->vdev, &flags));
	if (flags & VFIO_MIGRATION_PRE_COPY) {
		ASSERT_EQ(0, save_precopy(vf, &fz->src[3]));
		fz->src[3].name = "S3(pre-copy)";
	} else {
		ASSERT_EQ(0, vfio_mig_set_state(vf->vdev,
						VFIO_DEVICE_STATE_STOP, NULL));
		ASSERT_EQ(0, save_src(vf, &fz->src[3]));
		fz->src[3].name = "S3(stop-copy)";
	}
	ASSERT_EQ(0, vfio_dev_reset(vf->vdev));
	fz->src[3].weight = 3;
}

FIXTURE_SETUP(fuzz)
{
	char bdfs[MVF_MAX_VFS][MVF_BDF_LEN], why[512];
	const struct mvf_rec_ident *id;
	struct fuzz *fz = &self->fz;
	uint64_t threads;
	int n, i, ret, err = 0;
	uint8_t *buf;

	n = mvf_find_vfs(bdfs, MVF_MAX_VFS);
	if (n > MVF_TEST_MAX_VFS)
		n = MVF_TEST_MAX_VFS;
	if (n < 2)
		n = 2;		/* mvf_env_open says what is missing */
	ret = mvf_env_open(&self->env, vfio_mode_default(), n, why,
			   sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);

	fz->seed = env_u64("MVF_FUZZ_SEED", FUZZ_SEED);
	fz->ncases = env_u64("MVF_FUZZ_CASES", FUZZ_CASES);
	fz->only = getenv("MVF_FUZZ_CASE") && *getenv("MVF_FUZZ_CASE") ?
		   (int64_t)env_u64("MVF_FUZZ_CASE", 0) : -1;
	threads = env_u64("MVF_FUZZ_THREADS", n - 1);
	fz->nworkers = threads < 1 ? 1 : threads > (uint64_t)n - 1 ? n - 1 :
		       (int)threads;
	if (fz->only >= 0) {
		fz->ncases = 1;
		fz->nworkers = 1;
	}
	pthread_mutex_init(&fz->log_lock, NULL);
	crc_init();
	self->by = self->env.vf[n - 1];
	for (i = 0; i < n; i++)
		ASSERT_EQ(self->by->devmem_size, self->env.vf[i]->devmem_size);

	make_sources(_metadata, self, n);

	/* the destination, as its own streams describe it */
	id = (const void *)(fz->src[2].p + MVF_REC_HDR_SIZE);
	fz->dest.devmem_size = self->by->devmem_size;
	fz->dest.caps = le32toh(id->caps);
	fz->dest.if_version = le32toh(id->if_version);
	for (i = 0; i < NSRC; i++) {
		struct src *s = &fz->src[i];
		struct mvf_stream_info info;
		struct verdict v;

		ASSERT_EQ(0, mvf_stream_parse(s->p, s->len, true, &info, why,
					      sizeof(why)))
			TH_LOG("%s: %s", s->name, why);
		judge(s->p, s->len, &fz->dest, &v);
		ASSERT_EQ(X_LOAD, v.x)
			TH_LOG("%s: this test's reading of the format refuses the device's own stream: %s / %s",
			       s->name, v.drv_why, v.dev_why);
		walk(s->p, s->len, &s->rc);
		fz->weight_sum += s->weight;
		if (s->len > fz->max_src)
			fz->max_src = s->len;
		printf("# fuzz: source %s: %zu bytes, %u records (%u DEVMEM, %" PRIu64 " pages with data), fnv %016" PRIx64 "\n",
		       s->name, s->len, info.records, info.devmem_records,
		       info.devmem_pages - info.devmem_zero_pages,
		       fnv(0xcbf29ce484222325ULL, s->p, s->len));
	}
	/* S1 has a record of the largest size; S3 names pages twice */
	ASSERT_LT(1 << 20, fz->src[1].len);
	if (strstr(fz->src[3].name, "pre-copy")) {
		struct mvf_stream_info info;

		ASSERT_EQ(0, mvf_stream_parse(fz->src[3].p, fz->src[3].len,
					      true, &info, why, sizeof(why)));
		ASSERT_LT(fz->dest.devmem_size / PG, info.devmem_pages);
	}

	/* the bystander: busy, with its own state, never loaded */
	mvf_make_busy(&self->env, self->by, &self->qp[MVF_NUM_SLOTS - 1],
		      MVF_NUM_SLOTS - 1, SEED_BY, 128 << 10);
	ASSERT_EQ(0, mvf_devmem_fill(self->by, self->by->devmem_size / 2, 3 * PG,
				     SEED_BY + 1));
	ASSERT_EQ(0, mvf_vf_read_regs(self->by, &self->by_regs));
	buf = malloc(1 << 20);
	ASSERT_NE(NULL, buf);
	self->by_sum = devmem_sum(self->by, buf, &err);
	free(buf);
	ASSERT_EQ(0, err);
	ASSERT_EQ(0, mvf_frozen_accesses(self->by->bdf, &self->by_frozen));

	/* per thread: buffers for the case, a save, the expected memory */
	for (i = 0; i < fz->nworkers; i++) {
		struct worker *w = &fz->w[i];
		uint64_t pages = fz->dest.devmem_size / PG;

		w->fz = fz;
		w->id = i;
		w->vf = self->env.vf[i];
		w->m.cap = 3 * fz->max_src + 4 * MVF_REC_MAX_SIZE;
		w->m.p = malloc(w->m.cap);
		w->tmp = malloc(w->m.cap);
		w->sv_cap = 1 << 20;
		w->sv = malloc(w->sv_cap);
		w->mem = calloc(1, fz->dest.devmem_size);
		w->data = calloc(1, (pages + 7) / 8);
		w->seen = calloc(1, (pages + 7) / 8);
		ASSERT_TRUE(w->m.p && w->tmp && w->sv && w->mem && w->data &&
			    w->seen);
		ASSERT_EQ(0, vfio_dev_reset(w->vf->vdev));
	}
}

FIXTURE_TEARDOWN(fuzz)
{
	struct fuzz *fz = &self->fz;
	int i;

	vfio_util_quiet = true;
	for (i = 0; i < self->env.nvf; i++)
		vfio_dev_reset(self->env.vf[i]->vdev);
	vfio_util_quiet = false;
	for (i = 0; i < MVF_TEST_MAX_VFS; i++) {
		free(fz->w[i].m.p);
		free(fz->w[i].tmp);
		free(fz->w[i].sv);
		free(fz->w[i].mem);
		free(fz->w[i].data);
		free(fz->w[i].seen);
	}
	for (i = 0; i < NSRC; i++)
		free(fz->src[i].p);
	mvf_env_close(&self->env);
}

/*
 * The checks themselves must be able to fail: the unchanged S0 loads and
 * equals S0, and the comparison of that VF with S2 finds differences in
 * pages and registers.
 */
static void controls(struct __test_metadata *_metadata,
		     FIXTURE_DATA(fuzz) *self)
{
	struct fuzz *fz = &self->fz;
	struct worker *w = &fz->w[0];
	char why[384];
	int fd;

	memcpy(w->m.p, fz->src[0].p, fz->src[0].len);
	w->m.len = fz->src[0].len;
	ASSERT_EQ(0, mig_set(w->vf, VFIO_DEVICE_STATE_RESUMING, &fd));
	ASSERT_EQ(0, write_all(fd, w->m.p, w->m.len));
	ASSERT_EQ(0, mig_set(w->vf, VFIO_DEVICE_STATE_STOP, NULL));
	close(fd);
	why[0] = 0;
	EXPECT_EQ(0, compare_dest(w, why, sizeof(why))) TH_LOG("%s", why);
	memcpy(w->m.p, fz->src[2].p, fz->src[2].len);
	w->m.len = fz->src[2].len;
	w->quiet = true;
	EXPECT_LT(0, compare_dest(w, why, sizeof(why)))
		TH_LOG("the comparison does not see S0 loaded where S2 was expected");
	w->quiet = false;
	TH_LOG("control: S0 compared with S2: %s", why);
	ASSERT_EQ(0, vf_reset(w->vf));
}

/* Where the time went, per case and thread. */
static void print_times(struct fuzz *fz)
{
	double tt[T_N] = { 0 };
	char line[256];
	size_t o = 0;
	int i, k;

	for (i = 0; i < fz->nworkers; i++)
		for (k = 0; k < T_N; k++)
			tt[k] += fz->w[i].t[k];
	for (k = 0; k < T_N; k++)
		o += snprintf(line + o, sizeof(line) - o, "%s%s %.1f",
			      k ? ", " : "", t_name[k],
			      1000 * tt[k] / (fz->ncases ?: 1));
	printf("# fuzz: ms per case and thread: %s\n", line);
}

TEST_F_TIMEOUT(fuzz, streams, MVF_T_LONG)
{
	struct fuzz *fz = &self->fz;
	uint64_t refused = 0, loaded = 0, wrong = 0, by_x[X_DEVICE_DRIVER + 1] = { 0 };
	uint64_t base = 0, peak = 0, now = 0, next_check = 1000, done;
	unsigned int checks = 0;
	double t0, secs;
	char why[512];
	int i, fatal = 0, bad;

	printf("# fuzz: seed %#" PRIx64 ", %" PRIu64 " case(s)%s, %d thread(s), bystander %s; replay one case with MVF_FUZZ_SEED=%#" PRIx64 " MVF_FUZZ_CASE=N\n",
	       fz->seed, fz->ncases, fz->only >= 0 ? " (MVF_FUZZ_CASE)" : "",
	       fz->nworkers, self->by->bdf, fz->seed);
	fflush(stdout);
	controls(_metadata, self);

	ASSERT_EQ(0, read_img_bytes(&base, &peak))
		TH_LOG("cannot read %s/img_bytes", MVF_DEBUGFS_DIR);
	ASSERT_EQ(0, img_bytes_reset());

	t0 = vfio_now();
	for (i = 0; i < fz->nworkers; i++)
		ASSERT_EQ(0, pthread_create(&fz->w[i].thread, NULL, worker_main,
					    &fz->w[i]));
	/* the bystander, while the others load */
	while ((done = atomic_load(&fz->done)) < fz->ncases) {
		bool alive = false;

		for (i = 0; i < fz->nworkers; i++)
			alive |= !fz->w[i].fatal;
		if (!alive)
			break;
		if (done >= next_check) {
			bad = bystander_check(self, why, sizeof(why));
			checks++;
			if (bad) {
				ADD_FAILURE("bystander %s changed after %" PRIu64 " cases: %s",
					    self->by->bdf, done, why);
				atomic_store(&fz->stop, 1);
				break;
			}
			next_check += 1000;
		}
		usleep(200 * 1000);
	}
	for (i = 0; i < fz->nworkers; i++) {
		struct worker *w = &fz->w[i];
		int x;

		pthread_join(w->thread, NULL);
		refused += w->refused;
		loaded += w->loaded;
		wrong += w->wrong;
		for (x = 0; x <= X_DEVICE_DRIVER; x++)
			by_x[x] += w->by_expect[x];
		if (w->fatal) {
			fatal++;
			ADD_FAILURE("thread %d (VF %s) stopped: %s", i, w->vf->bdf,
				    w->fatal_why);
		}
	}
	secs = vfio_now() - t0;
	print_times(fz);

	bad = bystander_check(self, why, sizeof(why));
	checks++;
	EXPECT_EQ(0, bad) TH_LOG("bystander %s at the end: %s", self->by->bdf, why);

	/* the image buffers: within one fd's ring per thread, all given back */
	ASSERT_EQ(0, read_img_bytes(&now, &peak));
	for (i = 0; i < 50 && now != base; i++) {
		usleep(100 * 1000);
		ASSERT_EQ(0, read_img_bytes(&now, &peak));
	}
	printf("# fuzz: image buffers: peak %" PRIu64 " bytes over %" PRIu64 " before (bound: %d thread(s) x %llu), now %" PRIu64 "\n",
	       peak, base, fz->nworkers, (unsigned long long)FD_BOUND, now);
	EXPECT_GE(fz->nworkers * FD_BOUND, peak - base)
		TH_LOG("the kernel held %" PRIu64 " bytes of image buffers for %d data fd(s)",
		       peak - base, fz->nworkers);
	EXPECT_EQ(base, now) TH_LOG("image buffers not given back");

	printf("# fuzz: expected: %" PRIu64 " must load, %" PRIu64 " empty, %" PRIu64 " cut short, %" PRIu64 " write() refuses, %" PRIu64 " device refuses, %" PRIu64 " both\n",
	       by_x[X_LOAD], by_x[X_EMPTY], by_x[X_TRUNC],
	       by_x[X_DRIVER], by_x[X_DEVICE], by_x[X_DEVICE_DRIVER]);
	printf("# fuzz: %" PRIu64 " cases (seed %#" PRIx64 "): %" PRIu64 " refused, %" PRIu64 " loaded exactly, %" PRIu64 " wrong; %.1f s, %d thread(s), bystander checked %u times\n",
	       refused + loaded + wrong, fz->seed, refused, loaded, wrong, secs,
	       fz->nworkers, checks);
	fflush(stdout);
	EXPECT_EQ(0, wrong);
	EXPECT_EQ(0, fatal);
	EXPECT_EQ(fz->ncases, refused + loaded + wrong)
		TH_LOG("not every case ran");
	if (fz->only < 0 && fz->ncases >= 1000) {
		/* a fuzzer that never loads or never refuses tests little */
		EXPECT_LT(fz->ncases / 50, loaded);
		EXPECT_LT(fz->ncases / 2, refused);
	}
}

TEST_HARNESS_MAIN
