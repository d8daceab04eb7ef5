// SPDX-License-Identifier: GPL-2.0-only
/*
 * Expectations of VFIO device dirty page tracking for the MVF selftests:
 * page sets, the tracker as the test sees it, REPORT bitmaps compared
 * with it, and mvf_core's per-VF debugfs file "track".
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mvf_dirty.h"

#define GRAIN		MVF_DIRTY_GRAIN

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

static uint64_t round_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* ---- page sets ------------------------------------------------------------ */

void mvf_pageset_init(struct mvf_pageset *s)
{
	memset(s, 0, sizeof(*s));
	s->sorted = true;
}

void mvf_pageset_free(struct mvf_pageset *s)
{
	free(s->pg);
	mvf_pageset_init(s);
}

void mvf_pageset_clear(struct mvf_pageset *s)
{
	s->n = 0;
	s->sorted = true;
}

static int pageset_push(struct mvf_pageset *s, uint64_t page)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		uint64_t *pg = realloc(s->pg, cap * sizeof(*pg));

		if (!pg)
			return -ENOMEM;
		s->pg = pg;
		s->cap = cap;
	}
	if (s->n && s->pg[s->n - 1] >= page)
		s->sorted = false;
	s->pg[s->n++] = page;
	return 0;
}

int mvf_pageset_add(struct mvf_pageset *s, uint64_t iova, uint64_t len)
{
	uint64_t p, end;
	int ret;

	if (!len)
		return 0;
	end = iova + len - 1;
	for (p = round_down(iova, GRAIN); p <= end; p += GRAIN) {
		ret = pageset_push(s, p);
		if (ret)
			return ret;
		if (p + GRAIN < p)
			break;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void pageset_sort(struct mvf_pageset *s)
{
	size_t i, j;

	if (s->sorted)
		return;
	qsort(s->pg, s->n, sizeof(*s->pg), cmp_u64);
	for (i = j = 0; i < s->n; i++)
		if (!j || s->pg[j - 1] != s->pg[i])
			s->pg[j++] = s->pg[i];
	s->n = j;
	s->sorted = true;
}

int mvf_pageset_add_set(struct mvf_pageset *s, struct mvf_pageset *o)
{
	size_t i;
	int ret;

	for (i = 0; i < o->n; i++) {
		ret = pageset_push(s, o->pg[i]);
		if (ret)
			return ret;
	}
	return 0;
}

int mvf_pageset_add_cqes(struct mvf_pageset *s, const struct mvf_qp *qp,
			 uint32_t from, uint32_t to)
{
	uint32_t entries = 1u << qp->cq.log_size, i;
	int ret;

	if (to - from >= entries)
		return mvf_pageset_add(s, qp->cq.iova,
				       (uint64_t)entries * MVF_CQE_SIZE);
	for (i = from; i != to; i++) {
		ret = mvf_pageset_add(s, qp->cq.iova +
				      (uint64_t)(i & (entries - 1)) *
				      MVF_CQE_SIZE, MVF_CQE_SIZE);
		if (ret)
			return ret;
	}
	return 0;
}

size_t mvf_pageset_count(struct mvf_pageset *s)
{
	pageset_sort(s);
	return s->n;
}

bool mvf_pageset_has(struct mvf_pageset *s, uint64_t iova)
{
	uint64_t key = round_down(iova, GRAIN);

	pageset_sort(s);
	return bsearch(&key, s->pg, s->n, sizeof(key), cmp_u64) != NULL;
}

void mvf_pageset_forget(struct mvf_pageset *s, uint64_t iova,
			uint64_t length, uint64_t tpage)
{
	size_t i, j;

	for (i = j = 0; i < s->n; i++) {
		uint64_t tp = round_down(s->pg[i], tpage);

		if (tp >= iova && tp - iova <= length &&
		    tpage <= length - (tp - iova))
			continue;
		s->pg[j++] = s->pg[i];
	}
	s->n = j;
}

/* Append "0xA-0xB" (inclusive) to @line, or "..." once it is full. */
static void run_append(char *line, size_t len, unsigned int *runs,
		       unsigned int max, uint64_t lo, uint64_t hi)
{
	size_t used = strlen(line);

	if ((*runs)++ == max) {
		snprintf(line + used, len - used, " ...");
		return;
	}
	if (*runs > max)
		return;
	if (hi - lo == GRAIN - 1)
		snprintf(line + used, len - used, " 0x%" PRIx64, lo);
	else
		snprintf(line + used, len - used, " 0x%" PRIx64 "-0x%" PRIx64,
			 lo, hi);
}

void mvf_pageset_print(struct mvf_pageset *s, const char *what,
		       unsigned int max)
{
	char line[2048] = "";
	unsigned int runs = 0;
	size_t i, start;

	pageset_sort(s);
	for (i = 0; i < s->n; i = start) {
		for (start = i + 1; start < s->n &&
		     s->pg[start] == s->pg[start - 1] + GRAIN; start++)
			;
		run_append(line, sizeof(line), &runs, max, s->pg[i],
			   s->pg[start - 1] + GRAIN - 1);
	}
	fprintf(stderr, "# %s: %zu pages in %u runs:%s\n", what, s->n, runs,
		s->n ? line : " none");
}

/* ---- bitmaps ---------------------------------------------------------------- */

uint64_t *mvf_bitmap_alloc(uint64_t length, uint64_t psize)
{
	uint64_t words = (mvf_bitmap_bits(length, psize) + 63) / 64;

	return calloc(words ? words : 1, sizeof(uint64_t));
}

uint64_t mvf_bitmap_weight(const uint64_t *bm, uint64_t nbits)
{
	uint64_t i, w = 0;

	for (i = 0; i < nbits / 64; i++)
		w += __builtin_popcountll(bm[i]);
	if (nbits % 64)
		w += __builtin_popcountll(bm[i] &
					  ((1ULL << (nbits % 64)) - 1));
	return w;
}

/* Set the bits of bytes [@lo, @hi) of the window starting at @iova. */
static void bitmap_mark(uint64_t *bm, uint64_t iova, uint64_t psize,
			uint64_t lo, uint64_t hi)
{
	uint64_t b, first, last;

	if (lo >= hi)
		return;
	first = (lo - iova) / psize;
	last = (hi - 1 - iova) / psize;
	for (b = first; b <= last; b++)
		bm[b / 64] |= 1ULL << (b % 64);
}

/* ---- the tracker as the test sees it -------------------------------------- */

int mvf_dirty_log_start(struct mvf_dirty_log *l, struct vfio_dev *dev,
			uint64_t hint, const mvf_range_t *ranges,
			unsigned int n)
{
	uint64_t psize = hint;
	int ret;

	memset(l, 0, sizeof(*l));
	mvf_pageset_init(&l->written);
	l->ranges = calloc(n ? n : 1, sizeof(*ranges));
	if (!l->ranges)
		return -ENOMEM;
	memcpy(l->ranges, ranges, n * sizeof(*ranges));
	l->nranges = n;
	ret = vfio_dirty_start(dev, &psize, ranges, n);
	if (ret) {
		mvf_dirty_log_free(l);
		return ret;
	}
	l->dev = dev;
	l->tpage = psize;
	return 0;
}

void mvf_dirty_log_free(struct mvf_dirty_log *l)
{
	free(l->ranges);
	mvf_pageset_free(&l->written);
	memset(l, 0, sizeof(*l));
	mvf_pageset_init(&l->written);
}

int mvf_dirty_log_stop(struct mvf_dirty_log *l)
{
	int ret = 0;

	if (l->dev)
		ret = vfio_dirty_stop(l->dev);
	mvf_dirty_log_free(l);
	return ret;
}

static int cmp_range(const void *a, const void *b)
{
	const mvf_range_t *x = a, *y = b;

	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

/* @l's ranges rounded outwards to the tracker page, sorted (malloc'ed). */
static mvf_range_t *rounded_ranges(const struct mvf_dirty_log *l)
{
	mvf_range_t *r = calloc(l->nranges ? l->nranges : 1, sizeof(*r));
	unsigned int i;

	if (!r)
		return NULL;
	for (i = 0; i < l->nranges; i++) {
		uint64_t lo = round_down(l->ranges[i].iova, l->tpage);
		uint64_t hi = round_up(l->ranges[i].iova + l->ranges[i].length,
				       l->tpage);

		r[i].iova = lo;
		r[i].length = hi - lo;
	}
	qsort(r, l->nranges, sizeof(*r), cmp_range);
	return r;
}

bool mvf_dirty_tracked(const struct mvf_dirty_log *l, uint64_t iova)
{
	unsigned int i;

	for (i = 0; i < l->nranges; i++) {
		uint64_t lo = round_down(l->ranges[i].iova, l->tpage);
		uint64_t hi = round_up(l->ranges[i].iova + l->ranges[i].length,
				       l->tpage);

		if (iova >= lo && iova < hi)
			return true;
	}
	return false;
}

void mvf_dirty_expect(struct mvf_dirty_log *l, uint64_t iova,
		      uint64_t length, uint64_t psize, bool overflow,
		      uint64_t *want)
{
	uint64_t nbits = mvf_bitmap_bits(length, psize);
	uint64_t end = iova + length, cur = iova;
	mvf_range_t *r;
	unsigned int i;
	size_t k;

	memset(want, 0, (nbits + 63) / 64 * sizeof(uint64_t));
	if (!length)
		return;
	if (overflow) {
		bitmap_mark(want, iova, psize, iova, end);
		return;
	}
	/* what no range covers */
	r = rounded_ranges(l);
	if (!r) {
		/* cannot tell: expect everything, the diff will say */
		bitmap_mark(want, iova, psize, iova, end);
		return;
	}
	for (i = 0; i < l->nranges && cur < end; i++) {
		if (r[i].iova > cur)
			bitmap_mark(want, iova, psize, cur,
				    min64(r[i].iova, end));
		cur = max64(cur, r[i].iova + r[i].length);
	}
	if (cur < end)
		bitmap_mark(want, iova, psize, cur, end);
	free(r);
	/* the tracker pages written, clipped to the window */
	pageset_sort(&l->written);
	for (k = 0; k < l->written.n; k++) {
		uint64_t tp = round_down(l->written.pg[k], l->tpage);

		bitmap_mark(want, iova, psize, max64(tp, iova),
			    min64(tp + l->tpage, end));
	}
}

static void diff_runs(const uint64_t *a, const uint64_t *b, bool a_not_b,
		      uint64_t iova, uint64_t length, uint64_t psize,
		      const char *name)
{
	uint64_t nbits = mvf_bitmap_bits(length, psize), i = 0, start;
	uint64_t end = iova + length, pages = 0;
	unsigned int runs = 0;
	char line[2048] = "";

	while (i < nbits) {
		bool x = mvf_bitmap_test(a, i), y = mvf_bitmap_test(b, i);

		if (!(a_not_b ? x && !y : y && !x)) {
			i++;
			continue;
		}
		start = i;
		while (i < nbits) {
			x = mvf_bitmap_test(a, i);
			y = mvf_bitmap_test(b, i);
			if (!(a_not_b ? x && !y : y && !x))
				break;
			i++;
		}
		pages += i - start;
		if (runs < 24) {
			size_t used = strlen(line);
			uint64_t lo = iova + start * psize;
			uint64_t hi = min64(iova + i * psize, end) - 1;

			if (i - start == 1 && psize == GRAIN)
				snprintf(line + used, sizeof(line) - used,
					 " 0x%" PRIx64, lo);
			else
				snprintf(line + used, sizeof(line) - used,
					 " 0x%" PRIx64 "-0x%" PRIx64, lo, hi);
		} else if (runs == 24) {
			size_t used = strlen(line);

			snprintf(line + used, sizeof(line) - used, " ...");
		}
		runs++;
	}
	if (pages)
		fprintf(stderr, "#   %s: %" PRIu64 " pages of 0x%" PRIx64
			" in %u runs:%s\n", name, pages, psize, runs, line);
}

uint64_t mvf_dirty_diff(const uint64_t *got, const uint64_t *want,
			uint64_t iova, uint64_t length, uint64_t psize,
			uint64_t tpage, const char *what)
{
	uint64_t nbits = mvf_bitmap_bits(length, psize), i, bad = 0;
	uint64_t missing = 0, extra = 0;

	for (i = 0; i < nbits; i++) {
		bool g = mvf_bitmap_test(got, i), w = mvf_bitmap_test(want, i);

		missing += w && !g;
		extra += g && !w;
	}
	bad = missing + extra;
	if (!bad)
		return 0;
	fprintf(stderr, "# %s: REPORT of window [0x%" PRIx64 ", 0x%" PRIx64
		") with bits of 0x%" PRIx64 ", tracker pages of 0x%" PRIx64
		": %" PRIu64 " bits missing, %" PRIu64 " extra (expected %"
		PRIu64 ", the REPORT set %" PRIu64 ")\n", what, iova,
		iova + length, psize, tpage, missing, extra,
		mvf_bitmap_weight(want, nbits), mvf_bitmap_weight(got, nbits));
	diff_runs(want, got, true, iova, length, psize, "missing");
	diff_runs(got, want, true, iova, length, psize, "extra");
	return bad;
}

int64_t mvf_dirty_check(struct mvf_dirty_log *l, uint64_t iova,
			uint64_t length, uint64_t psize, bool overflow,
			const char *what, uint64_t **gotp)
{
	uint64_t *got = mvf_bitmap_alloc(length, psize);
	uint64_t *want = mvf_bitmap_alloc(length, psize);
	int64_t ret;

	if (gotp)
		*gotp = NULL;
	if (!got || !want) {
		ret = -ENOMEM;
		goto out;
	}
	ret = vfio_dirty_report(l->dev, iova, length, psize, got);
	if (ret) {
		fprintf(stderr, "# %s: REPORT of window [0x%" PRIx64 ", 0x%"
			PRIx64 ") with bits of 0x%" PRIx64 " failed: %s\n",
			what, iova, iova + length, psize, strerror((int)-ret));
		goto out;
	}
	mvf_dirty_expect(l, iova, length, psize, overflow, want);
	ret = mvf_dirty_diff(got, want, iova, length, psize, l->tpage, what);
	mvf_pageset_forget(&l->written, iova, length, l->tpage);
	if (gotp) {
		*gotp = got;
		got = NULL;
	}
out:
	free(got);
	free(want);
	return ret;
}

/* ---- mvf_core's debugfs ------------------------------------------------------ */

static const char * const track_keys[] = {
	"active", "page_shift", "ranges", "capacity", "reports", "overflows",
};

static int64_t *track_field(struct mvf_track_dbg *t, unsigned int i)
{
	int64_t *f[ARRAY_SIZE(track_keys)] = {
		&t->active, &t->page_shift, &t->ranges, &t->capacity,
		&t->reports, &t->overflows,
	};

	return f[i];
}

static bool parse_val(const char *s, int64_t *v)
{
	char *end;

	if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "on")) {
		*v = 1;
		return true;
	}
	if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "off")) {
		*v = 0;
		return true;
	}
	errno = 0;
	*v = strtoll(s, &end, 0);
	return !errno && end != s && !*end;
}

/* Parse the text of a "track" file (destroys @buf). */
static int track_parse(char *buf, struct mvf_track_dbg *t)
{
	unsigned int ntok = 0, i, j, nkeys = ARRAY_SIZE(track_keys);
	char *tok[64], *save = NULL, *p;

	for (i = 0; i < nkeys; i++)
		*track_field(t, i) = -1;
	for (p = strtok_r(buf, " \t\n:=,", &save); p && ntok < 64;
	     p = strtok_r(NULL, " \t\n:=,", &save))
		tok[ntok++] = p;
	if (ntok && (isdigit((unsigned char)tok[0][0]) || tok[0][0] == '-')) {
		for (i = 0; i < nkeys && i < ntok; i++)
			if (!parse_val(tok[i], track_field(t, i)))
				return -EINVAL;
		return 0;
	}
	for (i = 0; i + 1 < ntok; i++)
		for (j = 0; j < nkeys; j++)
			if (!strcmp(tok[i], track_keys[j]) &&
			    parse_val(tok[i + 1], track_field(t, j)))
				break;
	return t->active >= 0 ? 0 : -EINVAL;
}

int mvf_track_info(const char *bdf, struct mvf_track_dbg *t)
{
	char path[256], buf[4096], text[4096];
	size_t n;
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "%s/%s/track", MVF_DEBUGFS_DIR, bdf);
	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		fprintf(stderr, "# cannot open %s: %s\n", path, strerror(-ret));
		return ret;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	memcpy(text, buf, n + 1);
	ret = track_parse(buf, t);
	if (ret)
		fprintf(stderr, "# %s: cannot parse \"%.200s\"\n", path, text);
	return ret;
}

int mvf_dirty_capacity_get(uint64_t *pages)
{
	unsigned long long v;
	FILE *f = fopen(MVF_DIRTY_CAPACITY_PARAM, "r");
	int ret = 0;

	if (!f) {
		ret = -errno;
		fprintf(stderr, "# cannot open %s: %s\n",
			MVF_DIRTY_CAPACITY_PARAM, strerror(-ret));
		return ret;
	}
	if (fscanf(f, "%llu", &v) == 1)
		*pages = v;
	else
		ret = -EINVAL;
	fclose(f);
	return ret;
}

int mvf_dirty_capacity_set(uint64_t pages)
{
	char val[32];

	snprintf(val, sizeof(val), "%llu", (unsigned long long)pages);
	return mvf_sysfs_put(MVF_DIRTY_CAPACITY_PARAM, val);
}
