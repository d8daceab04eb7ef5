// SPDX-License-Identifier: GPL-2.0-only
/*
 * mvf_migrate_demo: live-migrate a busy MVF VF into another one and show,
 * step by step, what happens and that nothing was lost.
 *
 *   mvf_migrate_demo [options] [SRC_BDF DST_BDF]
 *
 * Without addresses the first two VFs bound to mvf-vfio-pci (or $MVF_VFS)
 * are used; of more than two addresses, the first two.  Exit status 0 only if every check passed.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mvf_dev.h"

#define IOVA		0x40000000ULL
#define SLOT		(2UL << 20)
#define SEED		0xdeb0de40ULL
#define MIB		(1024.0 * 1024.0)

/* qp->buf layout */
#define BUF_BUSY_TX	(0)
#define BUF_BUSY_RX	(64 << 10)
#define BUF_BUSY_DM	(128 << 10)
#define BUF_TX		(512 << 10)
#define BUF_RX		(768 << 10)
#define BUF_LATE	(1024 << 10)

#define BUSY_LEN	1024
#define BUSY_DM_LEN	4096
#define BUSY_DM_SLOTS	16
#define INFL_LEN	2048
#define LATE_LEN	8192

#define WR_BUSY		0x100000000ULL
#define WR_SEND(i)	(0x5e00 + (i))
#define WR_RECV(i)	(0x7e00 + (i))
#define WR_LATE		0x1a7e
#define WR_NOP		0x0a0a

static double t0;
static int failures;

static void say(const char *fmt, ...)
{
	va_list ap;

	printf("[%8.3f] ", vfio_now() - t0);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("[%8.3f]   %-4s ", vfio_now() - t0, ok ? "OK" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		failures++;
}

static void die(const char *what, int err)
{
	say("error: %s: %s", what, strerror(-err));
	printf("SUMMARY: migration demo aborted (%s), verified: no\n", what);
	exit(1);
}

static void print_usage(const char *prog)
{
	fprintf(stderr,
		"Usage: %s [options] [SRC_BDF DST_BDF]\n"
		"  -m, --mode MODE    iommufd or group (default: iommufd if available)\n"
		"  -M, --fill MIB     MiB of device memory to fill (default: all)\n"
		"  -n, --inflight N   SENDs left in flight (default 8, max 32)\n"
		"  -t, --busy SECS    keep the source busy this long before the\n"
		"                     migration (default 2; 0: no background work)\n"
		"  -p, --pio          access BAR0 with pread/pwrite instead of mmap\n",
		prog);
	exit(2);
}

/* ---- background work on the source ---------------------------------------- */

struct busy {
	struct mvf_qp *qp;
	uint8_t *shadow;
	uint64_t dm_base;
	volatile bool stop;
	uint64_t done, bytes;
	int err;
	pthread_t thread;
};

/*
 * Loopback SENDs and DEVMEM_WRITEs, posted and completed continuously.  The
 * device memory writes land in a 64 KiB area whose expected content is kept
 * in the shadow.  On stop, everything posted is completed before returning.
 */
static void *busy_fn(void *arg)
{
	struct busy *b = arg;
	struct mvf_qp *qp = b->qp;
	uint8_t *tx = qp->buf + BUF_BUSY_TX, *rx = qp->buf + BUF_BUSY_RX;
	uint8_t *dm = qp->buf + BUF_BUSY_DM;
	uint64_t k = 0, outstanding = 0;
	struct mvf_cqe c[16];
	int n, i;

	mvf_pattern_fill(tx, 0, BUSY_LEN, SEED + 11);
	while (!b->stop || outstanding) {
		if (!b->stop && outstanding == 0) {
			uint64_t slot = k % BUSY_DM_SLOTS;
			uint64_t off = b->dm_base + slot * BUSY_DM_LEN;

			mvf_pattern_fill(dm + slot * BUSY_DM_LEN, off,
					 BUSY_DM_LEN, SEED + 100 + k);
			if (mvf_qp_post_recv(qp, mvf_qp_iova(qp, rx), BUSY_LEN,
					     WR_BUSY | k) ||
			    mvf_qp_post(qp, MVF_WQE_SEND, mvf_qp_iova(qp, tx),
					BUSY_LEN, 0, WR_BUSY | k) ||
			    mvf_qp_post(qp, MVF_WQE_DEVMEM_WRITE,
					mvf_qp_iova(qp, dm + slot * BUSY_DM_LEN),
					BUSY_DM_LEN, off, WR_BUSY | k)) {
				b->err = -ENOSPC;
				break;
			}
			mvf_qp_ring_rq(qp);
			mvf_qp_ring_sq(qp);
			outstanding = 3;
		}
		n = mvf_qp_wait(qp, c, 1);
		if (n != 1) {
			b->err = -ETIMEDOUT;
			break;
		}
		n += mvf_qp_poll(qp, c + 1, 15);
		for (i = 0; i < n; i++) {
			if (c[i].status != MVF_CQE_STAT_OK ||
			    le64toh(c[i].wr_id) != (WR_BUSY | k)) {
				b->err = -EIO;
				return NULL;
			}
			if (c[i].opcode == MVF_WQE_DEVMEM_WRITE) {
				uint64_t slot = k % BUSY_DM_SLOTS;

				memcpy(b->shadow + b->dm_base +
				       slot * BUSY_DM_LEN,
				       dm + slot * BUSY_DM_LEN, BUSY_DM_LEN);
				b->bytes += BUSY_DM_LEN;
			} else if (c[i].opcode == MVF_WQE_SEND) {
				b->bytes += BUSY_LEN;
			}
			b->done++;
			outstanding--;
		}
		if (!outstanding) {
			if (memcmp(tx, rx, BUSY_LEN)) {
				b->err = -EIO;
				break;
			}
			memset(rx, 0, BUSY_LEN);
			k++;
		}
	}
	return NULL;
}

static void print_step(void *arg, const char *what, double secs,
		       uint64_t bytes)
{
	if (bytes)
		say("  %-34s %8.3f s  %llu bytes, %.1f MiB/s", what, secs,
		    (unsigned long long)bytes,
		    secs > 0 ? bytes / MIB / secs : 0.0);
	else
		say("  %-34s %8.3f s", what, secs);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "fill", required_argument, NULL, 'M' },
		{ "inflight", required_argument, NULL, 'n' },
		{ "busy", required_argument, NULL, 't' },
		{ "pio", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	enum vfio_mode mode = vfio_mode_default();
	enum mvf_bar0_access bar0 = mvf_bar0_default();
	char bdfs[MVF_MAX_VFS][MVF_BDF_LEN];
	struct mvf_vf_regs r1, r2, r1_after, r2_after;
	struct mvf_cqe cqes[2 * 32 + 2];
	struct mvf_vf *src, *dst;
	struct vfio_mig_stats st;
	struct vfio_ctx *ctx;
	struct mvf_dma dma;
	struct mvf_qp qp;
	struct busy busy = { 0 };
	uint64_t fill = 0, size, bad = 0, i;
	int inflight = 8, opt, n, ret, got, sq_seen = 0, rq_seen = 0;
	double busy_secs = 2, t, downtime;
	int64_t diff;
	uint8_t *shadow, *tx, *rx, *late;
	bool ok;

	setvbuf(stdout, NULL, _IOLBF, 0);
	t0 = vfio_now();
	while ((opt = getopt_long(argc, argv, "m:M:n:t:ph", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (vfio_mode_parse(optarg, &mode))
				print_usage(argv[0]);
			break;
		case 'M':
			fill = strtoull(optarg, NULL, 0) << 20;
			break;
		case 'n':
			inflight = atoi(optarg);
			if (inflight < 1 || inflight > 32)
				print_usage(argv[0]);
			break;
		case 't':
			busy_secs = atof(optarg);
			break;
		case 'p':
			bar0 = MVF_BAR0_PIO;
			break;
		default:
			print_usage(argv[0]);
		}
	}
	if (argc - optind >= 2) {
		if (argc - optind > 2)
			printf("note: using the first two of %d VFs given\n",
			       argc - optind);
		for (n = 0; n < 2; n++)
			if (vfio_bdf_normalize(argv[optind + n], bdfs[n],
					       MVF_BDF_LEN))
				print_usage(argv[0]);
		n = 2;
	} else if (argc == optind) {
		n = mvf_find_vfs(bdfs, MVF_MAX_VFS);
		if (n < 0)
			die("finding VFs", n);
	} else {
		print_usage(argv[0]);
	}

	printf("MVF live migration demo\n");
	if (n < 2) {
		say("found %d MVF VF(s) bound to mvf-vfio-pci, need 2", n);
		printf("SUMMARY: no migration (need 2 VFs), verified: no\n");
		return 1;
	}
	say("VFs: source %s, destination %s (%s, BAR0 by %s)", bdfs[0],
	    bdfs[1], vfio_mode_name(mode), bar0 == MVF_BAR0_MMAP ? "mmap" :
	    "pread/pwrite");

	ret = vfio_ctx_open(mode, &ctx);
	if (ret)
		die("opening the VFIO context", ret);
	ret = mvf_vf_open(ctx, bdfs[0], bar0, &src);
	if (ret)
		die("opening the source VF", ret);
	ret = mvf_vf_open(ctx, bdfs[1], bar0, &dst);
	if (ret)
		die("opening the destination VF", ret);
	if (src->devmem_size != dst->devmem_size)
		die("VFs with different device memory sizes", -EINVAL);
	size = src->devmem_size;
	if (size < (8 << 20))
		die("the demo needs at least 8 MiB of device memory", -EINVAL);
	if (!fill || fill > size)
		fill = size;
	ret = vfio_dev_reset(src->vdev);
	if (!ret)
		ret = vfio_dev_reset(dst->vdev);
	if (ret)
		die("resetting the VFs", ret);
	ret = mvf_dma_alloc(ctx, IOVA, 3 * SLOT, &dma);
	if (ret)
		die("mapping DMA memory", ret);
	say("both VFs reset and in one %s; %.0f MiB device memory each; %zu KiB DMA memory at IOVA 0x%llx",
	    mode == VFIO_MODE_IOMMUFD ? "iommufd IOAS" : "type1 container",
	    size / MIB, dma.size >> 10, (unsigned long long)IOVA);

	/* 1. state on the source */
	shadow = calloc(1, size);
	if (!shadow)
		die("allocating the shadow of device memory", -ENOMEM);
	t = vfio_now();
	mvf_pattern_fill(shadow, 0, fill, SEED);
	ret = mvf_devmem_write(src, 0, shadow, fill);
	if (ret)
		die("filling device memory", ret);
	t = vfio_now() - t;
	say("source: filled %.1f MiB of device memory with a per-offset pattern in %.2f s (%.1f MiB/s)",
	    fill / MIB, t, t > 0 ? fill / MIB / t : 0.0);
	for (i = 0; i < MVF_VF_NUM_SCRATCH; i++)
		mvf_wr32(src, MVF_VF_REG_SCRATCH(i),
			 (uint32_t)mvf_pattern_word(SEED, 8 * i));
	say("source: %d scratch registers set", MVF_VF_NUM_SCRATCH);

	ret = mvf_qp_create(&qp, src, &dma, 0, SLOT, 6, 6, 8);
	if (ret)
		die("creating the queue pair", ret);
	say("source: queue pair up: SQ 64, RQ 64, CQ 256 entries at IOVA 0x%llx",
	    (unsigned long long)qp.sq.iova);
	ret = mvf_qp_selftest(&qp, 8, 1024, 8192, SEED);
	if (ret)
		die("first work on the source", ret);
	mvf_pattern_fill(shadow + 8192, 8192, 1024, MVF_SELFTEST_DM_SEED(SEED));
	say("source: first work done (8 loopback SENDs, device memory write+read, NOP)");

	/* 2. busy */
	if (busy_secs > 0) {
		busy.qp = &qp;
		busy.shadow = shadow;
		busy.dm_base = size - 2 * (1 << 20);
		say("source: kept busy for %.1f s by a thread posting SENDs and DEVMEM_WRITEs...",
		    busy_secs);
		if (pthread_create(&busy.thread, NULL, busy_fn, &busy))
			die("starting the worker", -errno);
		usleep(busy_secs * 1e6);
		busy.stop = true;
		pthread_join(busy.thread, NULL);
		if (busy.err)
			die("background work", busy.err);
		say("source: %llu completions (%.1f MiB) while busy; worker stopped",
		    (unsigned long long)busy.done, busy.bytes / MIB);
	}

	/* 3. in flight */
	tx = qp.buf + BUF_TX;
	rx = qp.buf + BUF_RX;
	late = qp.buf + BUF_LATE;
	mvf_pattern_fill(tx, 0, (size_t)inflight * INFL_LEN, SEED + 1);
	memset(rx, 0, (size_t)inflight * INFL_LEN);
	mvf_pattern_fill(late, 4 << 20, LATE_LEN, SEED + 2);
	for (n = 0; n < inflight; n++)
		if (mvf_qp_post(&qp, MVF_WQE_SEND,
				mvf_qp_iova(&qp, tx + n * INFL_LEN), INFL_LEN,
				0, WR_SEND(n)))
			die("posting SENDs", -ENOSPC);
	if (mvf_qp_post(&qp, MVF_WQE_DEVMEM_WRITE, mvf_qp_iova(&qp, late),
			LATE_LEN, 4 << 20, WR_LATE) ||
	    mvf_qp_post(&qp, MVF_WQE_NOP, 0, 0, 0, WR_NOP))
		die("posting work", -ENOSPC);
	mvf_qp_ring_sq(&qp);
	usleep(300000);
	if (mvf_qp_cqe_pending(&qp))
		die("a SEND completed without a receive buffer", -EIO);
	if (mvf_vf_read_regs(src, &r1))
		die("reading the source registers", src->io_err);
	say("source: %d SENDs with no receive buffer, then DEVMEM_WRITE, NOP: %u WQEs in flight",
	    inflight, r1.sq_pi - r1.sq_ci);
	say("source: SQ pi/ci %u/%u, RQ pi/ci %u/%u, CQ pi/ci %u/%u",
	    r1.sq_pi, r1.sq_ci, r1.rq_pi, r1.rq_ci, r1.cq_pi, r1.cq_ci);
	say("source: counters: %llu send WQEs, %llu recv WQEs, %llu CQEs, %llu bytes, %llu doorbells",
	    (unsigned long long)r1.cnt[MVF_VF_CNT_SQ_WQES],
	    (unsigned long long)r1.cnt[MVF_VF_CNT_RQ_WQES],
	    (unsigned long long)r1.cnt[MVF_VF_CNT_CQES],
	    (unsigned long long)r1.cnt[MVF_VF_CNT_TX_BYTES],
	    (unsigned long long)r1.cnt[MVF_VF_CNT_DOORBELLS]);

	/* 4. migrate */
	say("migrating %s -> %s:", src->bdf, dst->bdf);
	ret = vfio_migrate(src->vdev, dst->vdev, &st, print_step, NULL);
	if (ret)
		die("migration", ret);
	/* from the source's quiesce to the destination running */
	downtime = st.t_p2p + st.t_stop + st.t_stop_copy + st.t_resuming +
		   st.t_save + st.t_load + st.t_dst_stop + st.t_src_stop +
		   st.t_dst_running;
	say("stream: %llu bytes (MIG_DATA_SIZE %llu), read %.3f s (%.1f MiB/s), written %.3f s (%.1f MiB/s)",
	    (unsigned long long)st.bytes, (unsigned long long)st.data_size,
	    st.t_save, st.t_save > 0 ? st.bytes / MIB / st.t_save : 0.0,
	    st.t_load, st.t_load > 0 ? st.bytes / MIB / st.t_load : 0.0);

	/* 5. verify */
	say("verification:");
	{
		uint32_t s1 = 0, s2 = 0;

		vfio_mig_get_state(src->vdev, &s1);
		vfio_mig_get_state(dst->vdev, &s2);
		check(s1 == VFIO_DEVICE_STATE_STOP &&
		      s2 == VFIO_DEVICE_STATE_RUNNING,
		      "states: source %s, destination %s",
		      vfio_mig_state_name(s1), vfio_mig_state_name(s2));
	}
	check(st.bytes == st.data_size,
	      "stream length %llu equals MIG_DATA_SIZE",
	      (unsigned long long)st.bytes);
	t = vfio_now();
	diff = mvf_devmem_cmp(dst, 0, shadow, size, &bad);
	t = vfio_now() - t;
	if (diff)
		check(false, "device memory: %llu bytes compared, %lld words differ (first at 0x%llx)",
		      (unsigned long long)size, (long long)diff,
		      (unsigned long long)bad);
	else
		check(true, "device memory: %llu bytes compared in %.2f s, identical",
		      (unsigned long long)size, t);
	if (mvf_vf_read_regs(dst, &r2))
		die("reading the destination registers", dst->io_err);
	n = 0;
	for (i = 0; i < MVF_VF_NUM_SCRATCH; i++)
		n += r2.scratch[i] == (uint32_t)mvf_pattern_word(SEED, 8 * i);
	check(n == MVF_VF_NUM_SCRATCH, "scratch registers: %d of %d equal", n,
	      MVF_VF_NUM_SCRATCH);
	check(r1.sq_pi == r2.sq_pi && r1.sq_ci == r2.sq_ci &&
	      r1.rq_pi == r2.rq_pi && r1.rq_ci == r2.rq_ci &&
	      r1.cq_pi == r2.cq_pi && r1.cq_ci == r2.cq_ci &&
	      r1.sq_base == r2.sq_base && r1.rq_base == r2.rq_base &&
	      r1.cq_base == r2.cq_base,
	      "queue positions: SQ %u/%u RQ %u/%u CQ %u/%u on the destination",
	      r2.sq_pi, r2.sq_ci, r2.rq_pi, r2.rq_ci, r2.cq_pi, r2.cq_ci);
	n = 0;
	for (i = 0; i < MVF_VF_NUM_COUNTERS; i++)
		n += r1.cnt[i] == r2.cnt[i];
	check(n == MVF_VF_NUM_COUNTERS, "counters: %d of %d equal", n,
	      MVF_VF_NUM_COUNTERS);
	n = mvf_vf_regs_diff(&r1, &r2, "source", "destination", true);
	check(n == 0, "all registers: %d differ", n);

	/* in-flight work completes on the destination, exactly once */
	mvf_qp_move(&qp, dst);
	for (n = 0; n < inflight; n++)
		mvf_qp_post_recv(&qp, mvf_qp_iova(&qp, rx + n * INFL_LEN),
				 INFL_LEN, WR_RECV(n));
	mvf_qp_ring_rq(&qp);
	say("destination: %d receive buffers posted", inflight);
	got = mvf_qp_wait(&qp, cqes, 2 * inflight + 2);
	ok = got == 2 * inflight + 2;
	for (n = 0; n < got; n++) {
		struct mvf_cqe *c = &cqes[n];
		uint64_t want;

		if (c->status != MVF_CQE_STAT_OK)
			ok = false;
		if (c->qtype == MVF_CQE_Q_RQ) {
			ok &= le64toh(c->wr_id) == (uint64_t)WR_RECV(rq_seen) &&
			      le32toh(c->byte_cnt) == INFL_LEN;
			rq_seen++;
			continue;
		}
		want = sq_seen < inflight ? WR_SEND(sq_seen) :
		       sq_seen == inflight ? WR_LATE : WR_NOP;
		ok &= le64toh(c->wr_id) == want;
		sq_seen++;
	}
	ok &= !memcmp(tx, rx, (size_t)inflight * INFL_LEN);
	usleep(500000);
	ok &= !mvf_qp_cqe_pending(&qp);
	check(ok, "in flight: %d SENDs + DEVMEM_WRITE + NOP done once on the destination (%d CQEs), data intact",
	      inflight, got);
	memcpy(shadow + (4 << 20), late, LATE_LEN);
	check(mvf_devmem_cmp(dst, 4 << 20, late, LATE_LEN, NULL) == 0,
	      "the DEVMEM_WRITE queued behind the SENDs reached the destination's memory");

	/* the stopped source's BARs are revoked: ask its state image */
	ret = mvf_vf_read_regs_stopped(src, &r1_after);
	if (ret)
		die("reading the stopped source's state image", ret);
	check(r1_after.sq_ci == r1.sq_ci && r1_after.cq_pi == r1.cq_pi,
	      "source (stopped) did not process anything: SQ ci %u, CQ pi %u",
	      r1_after.sq_ci, r1_after.cq_pi);
	ret = vfio_dev_reset(src->vdev);
	usleep(300000);
	check(!ret && !mvf_qp_cqe_pending(&qp),
	      "source reset: back to RUNNING, empty, no completions from it");

	ret = mvf_qp_selftest(&qp, 8, 2048, 1 << 20, SEED + 3);
	mvf_pattern_fill(shadow + (1 << 20), 1 << 20, 2048,
			 MVF_SELFTEST_DM_SEED(SEED + 3));
	mvf_vf_read_regs(dst, &r2_after);
	check(!ret, "destination keeps working: 8 more SENDs, devmem write+read (%llu send WQEs now)",
	      (unsigned long long)r2_after.cnt[MVF_VF_CNT_SQ_WQES]);
	diff = mvf_devmem_cmp(dst, 0, shadow, size, &bad);
	check(diff == 0, "device memory after the new work: %lld words differ",
	      (long long)diff);

	/* save: STOP_COPY arc + reading the stream; load: writing + LOAD arc */
	printf("SUMMARY: %s -> %s: %llu bytes, save %.3f s, load %.3f s, downtime %.3f s, "
	       "devmem %.0f MiB, %d in-flight SENDs, verified: %s\n",
	       src->bdf, dst->bdf, (unsigned long long)st.bytes,
	       st.t_stop_copy + st.t_save, st.t_load + st.t_dst_stop,
	       downtime, size / MIB, inflight, failures ? "no" : "yes");

	vfio_dev_reset(dst->vdev);
	mvf_dma_free(&dma);
	mvf_vf_close(src);
	mvf_vf_close(dst);
	vfio_ctx_close(ctx);
	free(shadow);
	return failures ? 1 : 0;
}
