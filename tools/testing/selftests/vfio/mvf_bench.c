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
 */
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
	fprintf(json, "{\n  \"memcpy_bytes_per_second\": %.0f,\n  \"stop_copy\": [\n",
		base);

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
