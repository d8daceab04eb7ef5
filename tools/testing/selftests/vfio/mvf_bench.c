// SPDX-License-Identifier: GPL-2.0-only
/*
 * mvf_bench: how fast MVF migrates, as ratios against what the same machine
 * does in the same run.  Not a test: it prints a table and writes JSON.
 *
 *   mvf_bench --json FILE --big SRC,DST [--sizes 64M,256M,1G]
 *             [--small VF,VF,...] [--parallel 1,2,4,8]
 *
 * 1. Baseline: single-thread memcpy bandwidth in this VM.
 * 2. For each size, SRC's device memory gets that much of a pattern (the
 *    rest stays zero, which the stream carries as ZERO records) and
 *    migrates into DST with STOP_COPY, streamed through a 1 MiB buffer as a
 *    VMM would: bytes per second from the stop to DST running, and the
 *    ratio to memcpy.  The same stream is then read into memory and
 *    written back in two separate passes, which splits the time into
 *    save and load; the device's own share comes from mvf_core's
 *    cmd_stats (doorbell to completion of every SAVE and LOAD) and the
 *    copies' share is what memcpy of those bytes costs here.  The
 *    kernel memory the image buffers held at the peak of the migration
 *    comes from mvf_core's img_bytes.
 * 3. The SMALL VFs in pairs (first half into second half), 1, 2, 4 and 8
 *    migrations at once, one thread each: aggregate bytes per second and
 *    the slowest one's time.
 * Every destination is checked against its pattern.
 * 4. Device dirty tracking (VFIO DMA logging) on SRC: the cost of one
 *    REPORT of a 1 GiB and of a 1 TiB window holding the same 1,000 dirty
 *    pages (the device's report costs by dirty page, not by window; the
 *    kernel's bitmap is the same 1000 bits in both), REPORT throughput in
 *    dirty pages per second (65,536 pages in one report), and what
 *    tracking costs the VF's own DMA: DEVMEM_READ into host memory (the
 *    tracked direction) and 4 KiB loopback SENDs, untracked and tracked
 *    at 4 KiB and 2 MiB pages.
 */
#include <endian.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mvf_dev.h"
#include "vfio_util.h"

#include <linux/vfio.h>
#include <sys/mman.h>

#define SEED		0xbe9c4000ULL
#define BOUNCE		(1UL << 20)
#define MAX_SMALL	16
#define MAX_SIZES	8

static FILE *json;
static bool json_first = true;

static void die(const char *fmt, ...) __printf(1, 2);
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "mvf_bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'G': case 'g':
		v <<= 10;
		/* fall through */
	case 'M': case 'm':
		v <<= 10;
		/* fall through */
	case 'K': case 'k':
		v <<= 10;
	}
	return v;
}

static double mib(uint64_t b)
{
	return b / 1048576.0;
}

/* ---- debugfs of mvf_core ---- */

static void pf_of(const char *vf, char *pf, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/physfn", vf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		die("%s has no physfn", vf);
	target[n] = 0;
	snprintf(pf, len, "%s", basename(target));
}

static void dbg_write(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs("0\n", f) < 0 || fclose(f))
		die("cannot reset %s: %s", path, strerror(errno));
}

static uint64_t img_peak(void)
{
	unsigned long long now, peak;
	FILE *f = fopen("/sys/kernel/debug/mvf_core/img_bytes", "r");

	if (!f || fscanf(f, "%llu %llu", &now, &peak) != 2)
		die("cannot read mvf_core's img_bytes");
	fclose(f);
	return peak;
}

struct cmd_time {
	uint64_t count, bytes, ns;
};

static void cmd_stats(const char *pf, const char *opcode, struct cmd_time *t)
{
	char path[PATH_MAX], name[64];
	unsigned long long c, b, ns;
	FILE *f;

	memset(t, 0, sizeof(*t));
	snprintf(path, sizeof(path), "/sys/kernel/debug/mvf_core/%s/cmd_stats",
		 pf);
	f = fopen(path, "r");
	if (!f)
		die("cannot read %s", path);
	while (fscanf(f, "%63s %llu %llu %llu", name, &c, &b, &ns) == 4)
		if (!strcmp(name, opcode)) {
			t->count = c;
			t->bytes = b;
			t->ns = ns;
		}
	fclose(f);
}

static void cmd_stats_reset(const char *pf)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/kernel/debug/mvf_core/%s/cmd_stats",
		 pf);
	dbg_write(path);
}

/* ---- the measurements ---- */

static double memcpy_bw(void)
{
	const size_t n = 256UL << 20;
	char *a = malloc(n), *b = malloc(n);
	double best = 0, t;
	int i;

	if (!a || !b)
		die("no memory for the memcpy baseline");
	memset(a, 0x5a, n);
	memset(b, 0xa5, n);
	for (i = 0; i < 3; i++) {
		t = vfio_now();
		memcpy(i & 1 ? a : b, i & 1 ? b : a, n);
		t = vfio_now() - t;
		if (n / t > best)
			best = n / t;
	}
	free(a);
	free(b);
	return best;
}

static void prepare(struct mvf_vf *src, struct mvf_vf *dst, uint64_t fill,
		    uint64_t seed)
{
	if (vfio_dev_reset(src->vdev) || vfio_dev_reset(dst->vdev))
		die("reset of %s or %s failed", src->bdf, dst->bdf);
	if (mvf_devmem_fill(src, 0, fill, seed))
		die("filling %s failed", src->bdf);
}

/* The destination holds the pattern: a page every 8 MiB and the ends. */
static void verify(struct mvf_vf *dst, uint64_t fill, uint64_t seed)
{
	uint64_t off;

	for (off = 0; off < fill; off += 8 << 20)
		if (mvf_devmem_cmp_pattern(dst, off, 4096, seed, NULL))
			die("%s: device memory at %#llx differs after migration",
			    dst->bdf, (unsigned long long)off);
	if (mvf_devmem_cmp_pattern(dst, fill - 4096, 4096, seed, NULL) ||
	    (fill < dst->devmem_size &&
	     mvf_devmem_cmp_zero(dst, fill, 4096, NULL)))
		die("%s: device memory differs at the end of the pattern",
		    dst->bdf);
}

static void json_sep(void)
{
	if (!json_first)
		fprintf(json, ",\n");
	json_first = false;
}

static void bench_size(struct mvf_vf *src, struct mvf_vf *dst, uint64_t fill,
		       double base)
{
	struct vfio_live_opts o = { .bounce = BOUNCE };
	struct cmd_time save, load;
	struct vfio_live_stats st;
	struct vfio_mig_stats ms;
	char pf[64];
	uint64_t peak;
	double bw, copy_s;
	int ret;

	pf_of(src->bdf, pf, sizeof(pf));

	/* streamed, as a VMM would */
	prepare(src, dst, fill, SEED + fill);
	dbg_write("/sys/kernel/debug/mvf_core/img_bytes");
	ret = vfio_migrate_live(src->vdev, dst->vdev, &o, &st);
	if (ret)
		die("migrating %s into %s: %s", src->bdf, dst->bdf,
		    strerror(-ret));
	peak = img_peak();
	verify(dst, fill, SEED + fill);
	bw = st.stopcopy_bytes / st.t_downtime;

	/* the same, in two passes through memory: save, then load */
	prepare(src, dst, fill, SEED + fill + 1);
	cmd_stats_reset(pf);
	ret = vfio_migrate(src->vdev, dst->vdev, &ms, NULL, NULL);
	if (ret)
		die("migrating %s into %s in two passes: %s", src->bdf,
		    dst->bdf, strerror(-ret));
	verify(dst, fill, SEED + fill + 1);
	cmd_stats(pf, "SAVE_VHCA_STATE", &save);
	cmd_stats(pf, "LOAD_VHCA_STATE", &load);
	copy_s = ms.bytes / base;

	printf("| %8.0f MiB | %8.1f MiB | %7.1f MiB/s | %5.3f | %6.3f s | %6.3f s (device %5.3f s, copy %5.3f s) | %6.3f s (device %5.3f s, copy %5.3f s) | %6.2f MiB |\n",
	       mib(fill), mib(st.stopcopy_bytes), mib(bw), bw / base,
	       st.t_downtime, ms.t_save, save.ns / 1e9, copy_s, ms.t_load,
	       load.ns / 1e9, copy_s, mib(peak));
	fflush(stdout);

	json_sep();
	fprintf(json, "    {\"fill_bytes\": %llu, \"stream_bytes\": %llu, \"stopcopy_seconds\": %.6f, \"bytes_per_second\": %.0f, \"ratio_to_memcpy\": %.4f, \"save_seconds\": %.6f, \"save_device_seconds\": %.6f, \"save_commands\": %llu, \"load_seconds\": %.6f, \"load_device_seconds\": %.6f, \"load_commands\": %llu, \"memcpy_seconds_for_bytes\": %.6f, \"peak_image_buffer_bytes\": %llu}",
		(unsigned long long)fill,
		(unsigned long long)st.stopcopy_bytes, st.t_downtime, bw,
		bw / base, ms.t_save, save.ns / 1e9,
		(unsigned long long)save.count, ms.t_load, load.ns / 1e9,
		(unsigned long long)load.count, copy_s,
		(unsigned long long)peak);
}

struct job {
	struct mvf_vf *src, *dst;
	struct vfio_live_stats st;
	int ret;
};

static void *job_main(void *arg)
{
	struct vfio_live_opts o = { .bounce = BOUNCE };
	struct job *j = arg;

	j->ret = vfio_migrate_live(j->src->vdev, j->dst->vdev, &o, &j->st);
	return NULL;
}

static void bench_parallel(struct mvf_vf **small, int nsmall, int k,
			   double base)
{
	struct job jobs[MAX_SMALL / 2];
	pthread_t t[MAX_SMALL / 2];
	uint64_t bytes = 0, fill = small[0]->devmem_size;
	double t0, wall, slowest = 0;
	int i;

	if (2 * k > nsmall)
		die("%d migrations at once need %d small VFs, have %d", k,
		    2 * k, nsmall);
	for (i = 0; i < k; i++) {
		jobs[i].src = small[i];
		jobs[i].dst = small[nsmall / 2 + i];
		prepare(jobs[i].src, jobs[i].dst, fill, SEED + 1000 + i);
	}
	t0 = vfio_now();
	for (i = 0; i < k; i++)
		if (pthread_create(&t[i], NULL, job_main, &jobs[i]))
			die("pthread_create");
	for (i = 0; i < k; i++)
		pthread_join(t[i], NULL);
	wall = vfio_now() - t0;
	for (i = 0; i < k; i++) {
		if (jobs[i].ret)
			die("migration %d of %d: %s", i, k,
			    strerror(-jobs[i].ret));
		verify(jobs[i].dst, fill, SEED + 1000 + i);
		bytes += jobs[i].st.stopcopy_bytes;
		if (jobs[i].st.t_total > slowest)
			slowest = jobs[i].st.t_total;
	}
	printf("| %2d at once | %8.1f MiB | %7.1f MiB/s | %5.3f | %6.3f s | %6.3f s |\n",
	       k, mib(bytes), mib(bytes / wall), bytes / wall / base, wall,
	       slowest);
	fflush(stdout);
	json_sep();
	fprintf(json, "    {\"concurrent\": %d, \"bytes\": %llu, \"wall_seconds\": %.6f, \"aggregate_bytes_per_second\": %.0f, \"slowest_seconds\": %.6f}",
		k, (unsigned long long)bytes, wall, bytes / wall, slowest);
}

static int split(char *s, char **out, int max)
{
	char *tok, *save = NULL;
	int n = 0;

	for (tok = strtok_r(s, ",", &save); tok && n < max;
	     tok = strtok_r(NULL, ",", &save))
		out[n++] = tok;
	return n;
}

/* ---- device dirty tracking ---- */

#define D_QP_IOVA	0x00100000ULL	/* rings and SEND buffers, 8 MiB */
#define D_QP_SIZE	(8ULL << 20)
#define D_SCAT_IOVA	0x10000000ULL	/* 1,000 of its 2,048 pages written */
#define D_SCAT_SIZE	(8ULL << 20)
#define D_BIG_IOVA	0x40000000ULL	/* the DMA throughput buffer */
#define D_BIG_SIZE	(256ULL << 20)
#define D_PAGES		1000
#define D_WINDOW_1G	(1ULL << 30)
#define D_WINDOW_1T	(1ULL << 40)
#define D_ROUNDS	20
#define D_CHUNK		(16U << 20)

struct dirty_env {
	struct mvf_vf *vf;
	struct mvf_dma qpmem, scat, big;
	struct mvf_qp qp;
	uint64_t *bm;			/* bitmap of the 1 TiB window */
	size_t bm_len;
	char pf[64];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Wait for @n CQEs of the bench's QP; die if one is missing or failed. */
static void d_wait(struct dirty_env *e, struct mvf_cqe *cqe, int n)
{
	int got = mvf_qp_wait(&e->qp, cqe, n), i;

	if (got != n)
		die("%s: %d of %d completions", e->vf->bdf, got, n);
	for (i = 0; i < n; i++)
		if (cqe[i].status != MVF_CQE_STAT_OK)
			die("%s: WQE %llu completed with status %u",
			    e->vf->bdf,
			    (unsigned long long)le64toh(cqe[i].wr_id),
			    cqe[i].status);
}

/* Post @n WQEs (a batch at a time), wait for all, die on an error CQE. */
static void d_run(struct dirty_env *e, uint8_t op, const uint64_t *addr,
		  uint32_t len, int n)
{
	struct mvf_cqe cqe[256];
	int posted = 0, i;

	while (posted < n) {
		int batch = n - posted < 256 ? n - posted : 256;

		for (i = 0; i < batch; i++)
			if (mvf_qp_post(&e->qp, op, addr[posted + i], len,
					((uint64_t)(posted + i) * len) %
					e->vf->devmem_size, posted + i))
				die("posting a WQE failed");
		posted += batch;
		mvf_qp_ring_sq(&e->qp);
		d_wait(e, cqe, batch);
	}
}

/* Loopback SENDs of @len bytes from the first half of the QP's buffers into
 * receive buffers in the second half; wall seconds. */
static double d_sends(struct dirty_env *e, int n, uint32_t len)
{
	struct mvf_cqe cqe[128];
	size_t half = e->qp.buf_size / 2;
	double t = vfio_now();
	int i, done = 0;

	while (done < n) {
		int batch = n - done < 64 ? n - done : 64;

		for (i = 0; i < batch; i++) {
			uint64_t off = ((uint64_t)i * len) % (half - len);

			if (mvf_qp_post_recv(&e->qp, e->qp.buf_iova + half + off,
					     len, i) ||
			    mvf_qp_post(&e->qp, MVF_WQE_SEND,
					e->qp.buf_iova + off, len, 0, i))
				die("posting a SEND failed");
		}
		mvf_qp_ring_rq(&e->qp);
		mvf_qp_ring_sq(&e->qp);
		d_wait(e, cqe, 2 * batch);
		done += batch;
	}
	return vfio_now() - t;
}

/* One REPORT of [0, @len) in 4 KiB bits into e->bm; seconds.  The bitmap
 * words the window covers are zeroed first (not timed). */
static double d_report(struct dirty_env *e, uint64_t len)
{
	size_t words = len / 4096 / 64;
	double t;
	int ret;

	memset(e->bm, 0, words * 8);
	t = vfio_now();
	ret = vfio_dirty_report(e->vf->vdev, 0, len, 4096, e->bm);
	t = vfio_now() - t;
	if (ret)
		die("%s: DMA_LOGGING_REPORT of %llu bytes: %s", e->vf->bdf,
		    (unsigned long long)len, strerror(-ret));
	return t;
}

static uint64_t d_count(const struct dirty_env *e, uint64_t len)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < len / 4096 / 64; i++)
		n += __builtin_popcountll(e->bm[i]);
	return n;
}

static bool d_bit(const struct dirty_env *e, uint64_t iova)
{
	return e->bm[iova / 4096 / 64] >> (iova / 4096 % 64) & 1;
}

static void d_start(struct dirty_env *e, uint64_t hint)
{
	struct vfio_device_feature_dma_logging_range r = {
		.iova = 0, .length = D_WINDOW_1T,
	};
	uint64_t ps = hint;
	int ret = vfio_dirty_start(e->vf->vdev, &ps, &r, 1);

	if (ret)
		die("%s: DMA_LOGGING_START (page %llu): %s", e->vf->bdf,
		    (unsigned long long)hint, strerror(-ret));
	if (ps != hint)
		die("%s: DMA_LOGGING_START chose page %llu for hint %llu",
		    e->vf->bdf, (unsigned long long)ps,
		    (unsigned long long)hint);
}

/* The three ways the cost section runs the VF: untracked, and tracked at
 * 4 KiB and at 2 MiB pages (the device's page, not the report's bits). */
#define D_NCFG		3
#define D_COST_ROUNDS	5
static const uint64_t d_cfg_page[D_NCFG] = { 0, 4096, 2 << 20 };

/* DEVMEM_READ of 1 GiB into the 256 MiB buffer in 16 MiB WQEs; bytes/s.
 * Tracked: the log is cleared first (not timed), so that every page is a
 * new one for the device. */
static double d_dma_once(struct dirty_env *e, bool tracked)
{
	uint64_t addr[64];
	double t;
	int i;

	for (i = 0; i < 64; i++)
		addr[i] = D_BIG_IOVA + (uint64_t)i * D_CHUNK % D_BIG_SIZE;
	if (tracked)
		d_report(e, D_WINDOW_1T);
	t = vfio_now();
	d_run(e, MVF_WQE_DEVMEM_READ, addr, D_CHUNK, 64);
	return 64.0 * D_CHUNK / (vfio_now() - t);
}

/* 16,384 loopback SENDs of 4 KiB (about 0.15 s); SENDs/s. */
static double d_send_once(struct dirty_env *e, bool tracked)
{
	if (tracked)
		d_report(e, D_WINDOW_1T);
	return 16384 / d_sends(e, 16384, 4096);
}

/*
 * What tracking costs the VF's DMA: best of D_COST_ROUNDS for each
 * configuration.  The configurations take turns, each round starting with
 * a different one, after an untimed warm-up of both loads: run one after
 * the other, the first paid for the buffers' first touch in QEMU and the
 * host and came out slower whichever it was.
 */
static void d_cost(struct dirty_env *e, double dma[D_NCFG],
		   double snd[D_NCFG])
{
	int r, k, c, ret;
	double v;

	d_dma_once(e, false);
	d_send_once(e, false);
	for (c = 0; c < D_NCFG; c++)
		dma[c] = snd[c] = 0;
	for (r = 0; r < D_COST_ROUNDS; r++) {
		for (k = 0; k < D_NCFG; k++) {
			c = (r + k) % D_NCFG;
			if (d_cfg_page[c])
				d_start(e, d_cfg_page[c]);
			v = d_dma_once(e, d_cfg_page[c]);
			if (v > dma[c])
				dma[c] = v;
			v = d_send_once(e, d_cfg_page[c]);
			if (v > snd[c])
				snd[c] = v;
			if (!d_cfg_page[c])
				continue;
			ret = vfio_dirty_stop(e->vf->vdev);
			if (ret)
				die("%s: DMA_LOGGING_STOP: %s", e->vf->bdf,
				    strerror(-ret));
		}
	}
}

static void bench_dirty(struct vfio_ctx *ctx, struct mvf_vf *vf)
{
	double t1g[D_ROUNDS / 2], t1t[D_ROUNDS / 2], cold, tput, dev_s;
	double dma[D_NCFG], snd[D_NCFG], dma0, dma4k, dma2m, snd0, snd4k, snd2m;
	uint64_t addr[D_PAGES], dirty1g = 0, dirty1t = 0, got, i;
	struct dirty_env e = { .vf = vf };
	struct cmd_time ct;
	unsigned int seed = 0x5eed;
	uint8_t used[D_SCAT_SIZE / 4096] = {};
	int r, ret;

	if (vfio_dirty_probe(vf->vdev))
		die("%s offers no DMA logging", vf->bdf);
	pf_of(vf->bdf, e.pf, sizeof(e.pf));
	if (vfio_dev_reset(vf->vdev))
		die("reset of %s failed", vf->bdf);
	if (mvf_dma_alloc(ctx, D_QP_IOVA, D_QP_SIZE, &e.qpmem) ||
	    mvf_dma_alloc(ctx, D_SCAT_IOVA, D_SCAT_SIZE, &e.scat) ||
	    mvf_dma_alloc(ctx, D_BIG_IOVA, D_BIG_SIZE, &e.big))
		die("DMA buffers for the dirty tracking bench");
	if (mvf_qp_create(&e.qp, vf, &e.qpmem, 0, D_QP_SIZE, 10, 10, 10))
		die("queue pair on %s", vf->bdf);
	e.bm_len = D_WINDOW_1T / 4096 / 8;
	e.bm = mmap(NULL, e.bm_len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e.bm == MAP_FAILED)
		die("no memory for a 1 TiB window's bitmap");
	memset(e.bm, 0, e.bm_len);	/* fault it in before any timing */

	/* 1,000 distinct random pages of the scatter buffer */
	for (i = 0; i < D_PAGES; i++) {
		uint64_t pg;

		do
			pg = rand_r(&seed) % (D_SCAT_SIZE / 4096);
		while (used[pg]);
		used[pg] = 1;
		addr[i] = D_SCAT_IOVA + pg * 4096;
	}

	/* 1. report cost by window, same dirty pages */
	d_start(&e, 4096);
	d_run(&e, MVF_WQE_DEVMEM_READ, addr, 4096, D_PAGES);
	cold = d_report(&e, D_WINDOW_1T);
	got = d_count(&e, D_WINDOW_1T);
	for (i = 0; i < D_PAGES; i++)
		if (!d_bit(&e, addr[i]))
			die("%s: page %#llx was written and not reported",
			    vf->bdf, (unsigned long long)addr[i]);
	/* the rest: the CQ ring pages the CQEs went to, nothing else */
	if (got < D_PAGES || got > D_PAGES + 8)
		die("%s: %llu pages reported for %d written (and a few CQ ring pages)",
		    vf->bdf, (unsigned long long)got, D_PAGES);
	for (r = 0; r < D_ROUNDS; r++) {
		uint64_t len = r & 1 ? D_WINDOW_1T : D_WINDOW_1G;
		double t;

		d_run(&e, MVF_WQE_DEVMEM_READ, addr, 4096, D_PAGES);
		t = d_report(&e, len);
		got = d_count(&e, len);
		if (got < D_PAGES)
			die("%s: round %d: %llu pages reported, %d written",
			    vf->bdf, r, (unsigned long long)got, D_PAGES);
		if (r & 1) {
			t1t[r / 2] = t;
			dirty1t = got;
		} else {
			t1g[r / 2] = t;
			dirty1g = got;
		}
	}
	qsort(t1g, D_ROUNDS / 2, sizeof(double), cmp_double);
	qsort(t1t, D_ROUNDS / 2, sizeof(double), cmp_double);

	/* 2. throughput: every page of the 256 MiB buffer dirty, one report */
	{
		uint64_t a[16];

		for (i = 0; i < 16; i++)
			a[i] = D_BIG_IOVA + i * D_CHUNK;
		d_report(&e, D_WINDOW_1T);
		d_run(&e, MVF_WQE_DEVMEM_READ, a, D_CHUNK, 16);
		cmd_stats_reset(e.pf);
		tput = d_report(&e, D_WINDOW_1T);
		cmd_stats(e.pf, "REPORT_DIRTY", &ct);
		dev_s = ct.ns / 1e9;
		got = d_count(&e, D_WINDOW_1T);
		if (got < D_BIG_SIZE / 4096)
			die("%s: %llu pages reported after writing %llu",
			    vf->bdf, (unsigned long long)got,
			    D_BIG_SIZE / 4096);
	}

	/* 3. what tracking costs the VF's DMA */
	ret = vfio_dirty_stop(vf->vdev);
	if (ret)
		die("DMA_LOGGING_STOP: %s", strerror(-ret));
	d_cost(&e, dma, snd);
	dma0 = dma[0];
	dma4k = dma[1];
	dma2m = dma[2];
	snd0 = snd[0];
	snd4k = snd[1];
	snd2m = snd[2];

	printf("# device dirty tracking on %s (DMA logging, 4 KiB report bits)\n",
	       vf->bdf);
	printf("| measure | value |\n|---|---|\n");
	printf("| REPORT, 1 GiB window, %llu dirty pages (median of %d) | %.0f us |\n",
	       (unsigned long long)dirty1g, D_ROUNDS / 2, t1g[D_ROUNDS / 4] * 1e6);
	printf("| REPORT, 1 TiB window, %llu dirty pages (median of %d) | %.0f us |\n",
	       (unsigned long long)dirty1t, D_ROUNDS / 2, t1t[D_ROUNDS / 4] * 1e6);
	printf("| 1 TiB / 1 GiB | %.2f (target <= 3) |\n",
	       t1t[D_ROUNDS / 4] / t1g[D_ROUNDS / 4]);
	printf("| first REPORT of the 1 TiB window | %.0f us |\n", cold * 1e6);
	printf("| REPORT throughput, %llu dirty pages in one report | %.0f pages/s (device %.0f%% of it) |\n",
	       D_BIG_SIZE / 4096, D_BIG_SIZE / 4096 / tput,
	       100.0 * dev_s / tput);
	printf("| (DMA cost: best of %d rounds, the three configurations in turn) | |\n",
	       D_COST_ROUNDS);
	printf("| DEVMEM_READ to host, untracked | %.1f MiB/s |\n", mib(dma0));
	printf("| ... tracked, 4 KiB pages | %.1f MiB/s (%.1f%% slower) |\n",
	       mib(dma4k), 100.0 * (1 - dma4k / dma0));
	printf("| ... tracked, 2 MiB pages | %.1f MiB/s (%.1f%% slower) |\n",
	       mib(dma2m), 100.0 * (1 - dma2m / dma0));
	printf("| 4 KiB loopback SENDs, untracked | %.0f /s |\n", snd0);
	printf("| ... tracked, 4 KiB pages | %.0f /s (%.1f%% slower) |\n",
	       snd4k, 100.0 * (1 - snd4k / snd0));
	printf("| ... tracked, 2 MiB pages | %.0f /s (%.1f%% slower) |\n",
	       snd2m, 100.0 * (1 - snd2m / snd0));
	fprintf(json, "  \"dirty\": {\"report_1g_seconds\": %.6f, \"report_1t_seconds\": %.6f, \"report_ratio_1t_to_1g\": %.3f, \"report_1t_first_seconds\": %.6f, \"report_dirty_pages\": %llu, \"throughput_pages\": %llu, \"throughput_seconds\": %.6f, \"throughput_pages_per_second\": %.0f, \"throughput_device_seconds\": %.6f, \"dma_untracked_bytes_per_second\": %.0f, \"dma_4k_bytes_per_second\": %.0f, \"dma_2m_bytes_per_second\": %.0f, \"send_untracked_per_second\": %.0f, \"send_4k_per_second\": %.0f, \"send_2m_per_second\": %.0f},\n",
		t1g[D_ROUNDS / 4], t1t[D_ROUNDS / 4],
		t1t[D_ROUNDS / 4] / t1g[D_ROUNDS / 4], cold,
		(unsigned long long)dirty1t, D_BIG_SIZE / 4096, tput,
		D_BIG_SIZE / 4096 / tput, dev_s, dma0, dma4k, dma2m, snd0,
		snd4k, snd2m);

	munmap(e.bm, e.bm_len);
	if (vfio_dev_reset(vf->vdev))
		die("reset of %s failed", vf->bdf);
	mvf_dma_free(&e.big);
	mvf_dma_free(&e.scat);
	mvf_dma_free(&e.qpmem);
}

int main(int argc, char **argv)
{
	char *big[2] = {}, *small_bdf[MAX_SMALL], *sizes_s[MAX_SIZES];
	char *par_s[8], sizes_d[] = "64M,256M,1G", par_d[] = "1,2,4,8";
	char *sizes_arg = sizes_d, *par_arg = par_d, *json_path = NULL;
	struct mvf_vf *src, *dst, *small[MAX_SMALL];
	int nsmall = 0, nsizes, npar, i, ret;
	struct vfio_ctx *ctx;
	double base;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json_path = argv[++i];
		else if (!strcmp(argv[i], "--big") && i + 1 < argc)
			split(argv[++i], big, 2);
		else if (!strcmp(argv[i], "--small") && i + 1 < argc)
			nsmall = split(argv[++i], small_bdf, MAX_SMALL);
		else if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
			sizes_arg = argv[++i];
		else if (!strcmp(argv[i], "--parallel") && i + 1 < argc)
			par_arg = argv[++i];
		else
			die("usage: mvf_bench --json FILE --big SRC,DST [--sizes 64M,256M,1G] [--small VF,...] [--parallel 1,2,4,8]");
	}
	if (!json_path || !big[0] || !big[1])
		die("--json and --big SRC,DST are needed");
	nsizes = split(sizes_arg, sizes_s, MAX_SIZES);
	npar = nsmall ? split(par_arg, par_s, 8) : 0;

	json = fopen(json_path, "w");
	if (!json)
		die("cannot write %s: %s", json_path, strerror(errno));
	ret = vfio_ctx_open(vfio_mode_default(), &ctx);
	if (ret)
		die("VFIO context: %s", strerror(-ret));
	if (mvf_vf_open(ctx, big[0], mvf_bar0_default(), &src) ||
	    mvf_vf_open(ctx, big[1], mvf_bar0_default(), &dst))
		die("cannot open %s and %s", big[0], big[1]);
	for (i = 0; i < nsmall; i++)
		if (mvf_vf_open(ctx, small_bdf[i], mvf_bar0_default(),
				&small[i]))
			die("cannot open %s", small_bdf[i]);

	base = memcpy_bw();
	printf("# baseline: single-thread memcpy in this VM: %.1f MiB/s\n",
	       mib(base));
	fprintf(json, "{\n  \"memcpy_bytes_per_second\": %.0f,\n", base);
	bench_dirty(ctx, src);
	fprintf(json, "  \"stop_copy\": [\n");

	printf("# stop-copy of one VF (%s into %s, %.0f MiB of device memory), streamed through %lu KiB\n",
	       src->bdf, dst->bdf, mib(src->devmem_size), BOUNCE >> 10);
	printf("| written | stream | save+load | / memcpy | stop..running | save | load | peak kernel buffers |\n");
	printf("|---|---|---|---|---|---|---|---|\n");
	for (i = 0; i < nsizes; i++) {
		uint64_t fill = parse_size(sizes_s[i]);

		if (!fill || fill > src->devmem_size)
			die("size %s does not fit %s's %.0f MiB", sizes_s[i],
			    src->bdf, mib(src->devmem_size));
		bench_size(src, dst, fill, base);
	}
	fprintf(json, "\n  ],\n  \"concurrent\": [\n");
	json_first = true;
	if (npar) {
		printf("# concurrent stop-copy migrations of %.0f MiB VFs, one thread each\n",
		       mib(small[0]->devmem_size));
		printf("| migrations | bytes | aggregate | / memcpy | wall | slowest |\n");
		printf("|---|---|---|---|---|---|\n");
	}
	for (i = 0; i < npar; i++)
		bench_parallel(small, nsmall, atoi(par_s[i]), base);
	fprintf(json, "\n  ]\n}\n");
	fclose(json);

	for (i = 0; i < nsmall; i++)
		mvf_vf_close(small[i]);
	mvf_vf_close(src);
	mvf_vf_close(dst);
	vfio_ctx_close(ctx);
	return 0;
}
