// SPDX-License-Identifier: GPL-2.0-only
/*
 * While an MVF VF is not running - migration states STOP, STOP_COPY,
 * RESUMING and ERROR - mvf-vfio-pci revokes all access to its BARs: a
 * fault on a user mmap gets SIGBUS, pread/pwrite of a BAR fail with EIO,
 * VFIO_DEVICE_IOEVENTFD writes are dropped and a BAR exported as a dma-buf
 * loses its IOMMU mappings, so a peer's DMA to it faults.  RUNNING and
 * RUNNING_P2P keep access; config space keeps working throughout.  Access
 * is revoked before the freeze command and given back after the thaw, so
 * the device never sees an access while frozen: its frozen access counter
 * (mvf_core debugfs, frozen_accesses) must not move, and the state image
 * of a stopped VF must not change whatever is tried against it.
 *
 * Every case starts from RUNNING (the fixture resets the VFs), ends there,
 * and checks that no VF it used saw a frozen access.  VF B (env.vf[0]) is
 * the one stopped; VF A (env.vf[1]) stays RUNNING and does the peer DMA.
 */
#include <endian.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/iommufd.h>

#include "kselftest_harness.h"
#include "mvf_test.h"

#define S_ERROR		VFIO_DEVICE_STATE_ERROR
#define S_STOP		VFIO_DEVICE_STATE_STOP
#define S_RUNNING	VFIO_DEVICE_STATE_RUNNING
#define S_STOP_COPY	VFIO_DEVICE_STATE_STOP_COPY
#define S_RESUMING	VFIO_DEVICE_STATE_RESUMING
#define S_P2P		VFIO_DEVICE_STATE_RUNNING_P2P

#define SEED		0x7e40c0de1ULL
#define FILL		(1UL << 20)	/* B's pattern at the start of devmem */

/* Device memory layout used here (both VFs); needs MIN_DEVMEM. */
#define HAMMER_BASE	(1UL << 20)	/* the hammer's words, one a page */
#define HAMMER_WORDS	32
#define HAMMER_STRIDE	(4096 + 8)
#define RW_OFF		(3UL << 20)	/* BAR 2 word for pread/pwrite */
#define IOEV_OFF	(RW_OFF + 4096)	/* BAR 2 word of the ioeventfd */
#define B_OFF		(4UL << 20)	/* in B: where A's pushes land */
#define A_OFF		(5UL << 20)	/* in A: what it pushes */
#define A_OFF2		(6UL << 20)	/* in A: where its pulls land */
#define PEER_LEN	(64UL << 10)
#define MIN_DEVMEM	(8UL << 20)

#define RW_SCRATCH	5		/* BAR 0 scratch for pread/pwrite */
#define IOEV_SCRATCH	7		/* BAR 0 scratch of an ioeventfd */

/* IOVAs of B's BAR 2 dma-bufs in the shared IOAS, far from the DMA area */
#define PEER_IOVA	0x100000000ULL
#define PEER_IOVA2	0x200000000ULL

/* Rounds (BAR 0 load, BAR 2 store, BAR 2 load) per settled phase */
#define HAMMER_ROUNDS	200
#define SIGNALS		1000		/* ioeventfd signals while stopped */

/* ---- SIGBUS-safe BAR accesses --------------------------------------------- */

enum acc { LD32, ST32, LD64, ST64 };

static __thread sigjmp_buf *fault_jmp;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	if (fault_jmp)
		siglongjmp(*fault_jmp, 1);
	/* not an access made to see it fault: the retry dies of it */
	sigaction(SIGBUS, &dfl, NULL);
}

/*
 * Make one access through a BAR mapping.  Returns true if it got SIGBUS,
 * in which case it did not happen (the faulting instruction is not
 * retried); *val is the value loaded or to store.
 */
static bool bar_access(volatile void *p, enum acc op, uint64_t *val)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		fault_jmp = NULL;
		return true;
	}
	fault_jmp = &jb;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	switch (op) {
	case LD32:
		*val = le32toh(*(volatile uint32_t *)p);
		break;
	case ST32:
		*(volatile uint32_t *)p = htole32((uint32_t)*val);
		break;
	case LD64:
		*val = le64toh(*(volatile uint64_t *)p);
		break;
	case ST64:
		*(volatile uint64_t *)p = htole64(*val);
		break;
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	fault_jmp = NULL;
	return false;
}

/* ---- the hammer thread ------------------------------------------------------ */

/* The walk of mmap_hammer; settled phase i + 1 follows arc i. */
static const uint32_t walk[] = {
	S_RUNNING, S_P2P, S_STOP, S_STOP_COPY, S_STOP, S_P2P, S_RUNNING,
};
#define NWALK		7
_Static_assert(ARRAY_SIZE(walk) == NWALK, "walk");
#define H_ARC		0		/* during an arc: not judged */
#define H_QUIT		(NWALK + 1)

struct hstat {
	uint64_t rounds;		/* judged rounds (atomic) */
	uint64_t ld0_faults, st2_faults, ld2_faults;
	uint64_t ld0_bad, ld2_bad;	/* loads that did not fault, wrong value */
};

struct hammer {
	volatile uint32_t *bar0;
	volatile uint64_t *bar2;
	int phase;			/* published by the main thread */
	struct hstat st[NWALK + 1];	/* by settled phase, 1..NWALK */
	/* what each word holds: the last store to it that did not fault */
	uint64_t shadow[HAMMER_WORDS];
	uint64_t seq;
	char first_bad[200];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running;
};

static inline volatile uint64_t *hammer_word(struct hammer *h, unsigned int w)
{
	return h->bar2 + (HAMMER_BASE + (uint64_t)w * HAMMER_STRIDE) / 8;
}

/*
 * One round: load a read-only BAR 0 register, store a new value into the
 * next BAR 2 word, load it back.  A round is credited to the phase that
 * was published before it began only if that phase is still published
 * after it: rounds that overlap an arc are not judged.
 */
static void *hammer_fn(void *arg)
{
	struct hammer *h = arg;

	for (;;) {
		int p = __atomic_load_n(&h->phase, __ATOMIC_ACQUIRE);
		unsigned int w = h->seq % HAMMER_WORDS;
		uint64_t v = (uint64_t)p << 56 | ++h->seq, magic = 0, got = 0;
		bool f0, f1, f2;
		struct hstat *s;

		if (p == H_QUIT)
			return NULL;
		f0 = bar_access(h->bar0 + MVF_VF_REG_MAGIC / 4, LD32, &magic);
		f1 = bar_access(hammer_word(h, w), ST64, &v);
		if (!f1)
			__atomic_store_n(&h->shadow[w], v, __ATOMIC_RELAXED);
		f2 = bar_access(hammer_word(h, w), LD64, &got);
		if (p == H_ARC || __atomic_load_n(&h->phase, __ATOMIC_ACQUIRE) != p)
			continue;
		s = &h->st[p];
		s->ld0_faults += f0;
		s->st2_faults += f1;
		s->ld2_faults += f2;
		if (!f0 && magic != MVF_MAGIC_VF) {
			if (!s->ld0_bad++ && !h->first_bad[0])
				snprintf(h->first_bad, sizeof(h->first_bad),
					 "phase %d: BAR0 MAGIC read 0x%llx", p,
					 (unsigned long long)magic);
		}
		if (!f2 && got != h->shadow[w]) {
			if (!s->ld2_bad++ && !h->first_bad[0])
				snprintf(h->first_bad, sizeof(h->first_bad),
					 "phase %d: BAR2 word %u read 0x%llx, last store 0x%llx",
					 p, w, (unsigned long long)got,
					 (unsigned long long)h->shadow[w]);
		}
		if (__atomic_add_fetch(&s->rounds, 1, __ATOMIC_RELEASE) ==
		    HAMMER_ROUNDS) {
			pthread_mutex_lock(&h->lock);
			pthread_cond_broadcast(&h->cond);
			pthread_mutex_unlock(&h->lock);
		}
	}
}

static void hammer_publish(struct hammer *h, int phase)
{
	__atomic_store_n(&h->phase, phase, __ATOMIC_RELEASE);
}

/* Wait until the hammer did HAMMER_ROUNDS judged rounds in @phase. */
static bool hammer_wait(struct hammer *h, int phase)
{
	struct timespec dl;
	uint64_t n;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += mvf_timeout_ms() / 1000 + 1;
	pthread_mutex_lock(&h->lock);
	while ((n = __atomic_load_n(&h->st[phase].rounds, __ATOMIC_ACQUIRE)) <
	       HAMMER_ROUNDS)
		if (pthread_cond_timedwait(&h->cond, &h->lock, &dl) == ETIMEDOUT)
			break;
	n = __atomic_load_n(&h->st[phase].rounds, __ATOMIC_ACQUIRE);
	pthread_mutex_unlock(&h->lock);
	return n >= HAMMER_ROUNDS;
}

static void hammer_stop(struct hammer *h)
{
	if (!h->running)
		return;
	hammer_publish(h, H_QUIT);
	pthread_join(h->thread, NULL);
	h->running = false;
}

/* ---- fixture ----------------------------------------------------------------- */

struct rv {
	struct mvf_env env;
	enum vfio_mode mode;
	struct mvf_vf *vf;		/* B: the VF that is stopped */
	struct mvf_vf *peer;		/* A: stays RUNNING */
	uint32_t fa0[2];		/* frozen_accesses of B, A at the start */
	uint64_t off0, off2, offc;	/* B's BAR 0, BAR 2, config in its fd */
	/* B's BARs mapped for this test, apart from the library's mappings */
	volatile uint32_t *bar0;
	volatile uint64_t *bar2;
	size_t bar0_len, bar2_len;
	struct sigaction old_sigbus;
	bool sigbus_set;
	/* what a test may leave behind when it fails; rv_teardown() cleans */
	struct hammer *h;
	int efd;
	bool ioev_armed;
	uint32_t ioev_index, ioev_size;
	uint64_t ioev_off, ioev_data;
	int dmabuf[2];
	uint64_t mapped[2];		/* IOVA of dmabuf[i] in the IOAS, or 0 */
	struct mvf_qp qp;		/* A's queue pair */
	bool qp_up;
	uint64_t wr_id;
};

static int rv_setup(struct __test_metadata *_metadata, struct rv *r,
		    enum vfio_mode mode, char *why, size_t why_len)
{
	struct sigaction sa = {
		.sa_sigaction = on_sigbus,
		.sa_flags = SA_SIGINFO,
	};
	struct vfio_region_info info;
	size_t sz;
	void *p;
	int ret, i;

	r->mode = mode;
	r->efd = -1;
	r->dmabuf[0] = r->dmabuf[1] = -1;
	ret = mvf_env_open(&r->env, mode, 2, why, why_len);
	if (ret)
		return ret;
	r->vf = r->env.vf[0];
	r->peer = r->env.vf[1];
	for (i = 0; i < 2; i++) {
		struct mvf_vf *vf = r->env.vf[i];

		ASSERT_EQ(0, vfio_dev_reset(vf->vdev));
		ASSERT_EQ(S_RUNNING, mvf_state(vf));
		ASSERT_EQ(0, mvf_vhca(_metadata, vf))
			TH_LOG("%s: quiesced or frozen after reset", vf->bdf);
		r->fa0[i] = mvf_frozen(_metadata, vf);
		ASSERT_LE(MIN_DEVMEM, vf->devmem_size)
			TH_LOG("%s: %llu bytes of device memory, the test needs %lu",
			       vf->bdf, (unsigned long long)vf->devmem_size,
			       MIN_DEVMEM);
	}
	ASSERT_EQ(0, vfio_region_info(r->vf->vdev, VFIO_PCI_BAR0_REGION_INDEX,
				      &info));
	r->off0 = info.offset;
	ASSERT_EQ(0, vfio_region_info(r->vf->vdev, MVF_VF_DEVMEM_BAR, &info));
	r->off2 = info.offset;
	ASSERT_EQ(0, vfio_region_info(r->vf->vdev,
				      VFIO_PCI_CONFIG_REGION_INDEX, &info));
	r->offc = info.offset;
	ASSERT_EQ(0, vfio_region_mmap(r->vf->vdev, VFIO_PCI_BAR0_REGION_INDEX,
				      &p, &sz));
	r->bar0 = p;
	r->bar0_len = sz;
	ASSERT_EQ(0, vfio_region_mmap(r->vf->vdev, MVF_VF_DEVMEM_BAR, &p, &sz));
	r->bar2 = p;
	r->bar2_len = sz;
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, &r->old_sigbus));
	r->sigbus_set = true;
	return 0;
}

static void rv_teardown(struct rv *r)
{
	int i;

	if (r->h) {
		hammer_stop(r->h);
		free(r->h);
		r->h = NULL;
	}
	vfio_util_quiet = true;
	for (i = 0; i < r->env.nvf; i++)
		vfio_dev_reset(r->env.vf[i]->vdev);
	if (r->ioev_armed)
		vfio_dev_ioeventfd(r->vf->vdev, r->ioev_index, r->ioev_off,
				   r->ioev_data, r->ioev_size, -1);
	for (i = 0; i < 2; i++) {
		if (r->mapped[i])
			vfio_dma_unmap(r->env.ctx, r->mapped[i],
				       r->vf->devmem_bar_size);
		if (r->dmabuf[i] >= 0)
			close(r->dmabuf[i]);
	}
	vfio_util_quiet = false;
	if (r->efd >= 0)
		close(r->efd);
	if (r->bar0)
		munmap((void *)r->bar0, r->bar0_len);
	if (r->bar2)
		munmap((void *)r->bar2, r->bar2_len);
	if (r->sigbus_set)
		sigaction(SIGBUS, &r->old_sigbus, NULL);
	mvf_env_close(&r->env);
}

static uint32_t vhca_want(uint32_t state)
{
	switch (state) {
	case S_RUNNING:
		return 0;
	case S_P2P:
		return MVF_VHCA_STATE_QUIESCED;
	default:
		return MVF_VHCA_STATE_QUIESCED | MVF_VHCA_STATE_FROZEN;
	}
}

/*
 * Request @to; the VF must be there, quiesced/frozen as that state wants
 * (debugfs), with a data fd (in *fd) exactly when a session starts.
 */
static void go(struct __test_metadata *_metadata, struct mvf_vf *vf,
	       uint32_t to, int *fd)
{
	int64_t from = mvf_state(vf);
	int dfd = -1, ret;

	ret = vfio_mig_set_state(vf->vdev, to, &dfd);
	ASSERT_EQ(0, ret) TH_LOG("%s -> %s: %s", vfio_mig_state_name(from),
				 vfio_mig_state_name(to), strerror(-ret));
	ASSERT_EQ(to, mvf_state(vf));
	EXPECT_EQ(vhca_want(to), mvf_vhca(_metadata, vf))
		TH_LOG("vhca_state in %s", vfio_mig_state_name(to));
	if (fd)
		*fd = dfd;
	else if (dfd >= 0)
		close(dfd);
}

/*
 * The end of every case: each VF RUNNING, neither quiesced nor frozen, no
 * access reached it while frozen, and nothing of the test left over.
 */
static void rv_end(struct __test_metadata *_metadata, struct rv *r)
{
	int i;

	for (i = 0; i < 2; i++) {
		struct mvf_vf *vf = r->env.vf[i];

		EXPECT_EQ(S_RUNNING, mvf_state(vf)) TH_LOG("%s", vf->bdf);
		EXPECT_EQ(0, mvf_vhca(_metadata, vf)) TH_LOG("%s", vf->bdf);
		EXPECT_EQ(r->fa0[i], mvf_frozen(_metadata, vf))
			TH_LOG("%s: accesses reached the VF while it was frozen",
			       vf->bdf);
	}
	EXPECT_FALSE(r->h && r->h->running);
	EXPECT_FALSE(r->ioev_armed);
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(0, r->mapped[i]);
		EXPECT_EQ(-1, r->dmabuf[i]);
	}
}

/* pread/pwrite @len bytes at @off of the region at fd offset @base. */
static int rw(struct rv *r, uint64_t base, uint64_t off, void *buf,
	      size_t len, bool write)
{
	int fd = r->vf->vdev->fd;
	ssize_t n;

	errno = 0;
	n = write ? pwrite(fd, buf, len, base + off) :
		    pread(fd, buf, len, base + off);
	if (n < 0)
		return errno;
	return (size_t)n == len ? 0 : -1;
}

/* pread and pwrite of B's BAR 0 and BAR 2 work; leaves @tag in both. */
static void rw_works(struct __test_metadata *_metadata, struct rv *r,
		     uint32_t tag, const char *where)
{
	uint32_t v32 = 0;
	uint64_t v64 = 0;

	ASSERT_EQ(0, rw(r, r->off0, MVF_VF_REG_MAGIC, &v32, 4, false))
		TH_LOG("pread of BAR0 in %s", where);
	EXPECT_EQ(MVF_MAGIC_VF, le32toh(v32));
	v32 = htole32(tag);
	ASSERT_EQ(0, rw(r, r->off0, MVF_VF_REG_SCRATCH(RW_SCRATCH), &v32, 4,
			true)) TH_LOG("pwrite of BAR0 in %s", where);
	v32 = 0;
	ASSERT_EQ(0, rw(r, r->off0, MVF_VF_REG_SCRATCH(RW_SCRATCH), &v32, 4,
			false));
	EXPECT_EQ(tag, le32toh(v32));
	v64 = htole64(mvf_pattern_word(SEED, tag));
	ASSERT_EQ(0, rw(r, r->off2, RW_OFF, &v64, 8, true))
		TH_LOG("pwrite of BAR2 in %s", where);
	v64 = 0;
	ASSERT_EQ(0, rw(r, r->off2, RW_OFF, &v64, 8, false))
		TH_LOG("pread of BAR2 in %s", where);
	EXPECT_EQ(mvf_pattern_word(SEED, tag), le64toh(v64));
}

/* Config space reads work, in any state. */
static void config_works(struct __test_metadata *_metadata, struct rv *r,
			 const char *where)
{
	uint32_t id = 0;

	EXPECT_EQ(0, rw(r, r->offc, 0, &id, 4, false))
		TH_LOG("config space pread in %s", where);
	EXPECT_EQ(MVF_PCI_VENDOR_ID | MVF_PCI_DEVICE_ID_VF << 16, le32toh(id))
		TH_LOG("vendor/device ID in %s", where);
}

/* pread and pwrite of B's BAR 0 and BAR 2 fail with EIO. */
static void rw_revoked(struct __test_metadata *_metadata, struct rv *r,
		       const char *where)
{
	uint64_t v64 = htole64(~0x5a5a5a5aULL);
	uint32_t v32 = htole32(0xdeadbeef);
	static char page[4096];

	EXPECT_EQ(EIO, rw(r, r->off0, MVF_VF_REG_MAGIC, &v32, 4, false))
		TH_LOG("pread of BAR0 in %s", where);
	EXPECT_EQ(EIO, rw(r, r->off0, MVF_VF_REG_SCRATCH(RW_SCRATCH), &v32, 4,
			  true)) TH_LOG("pwrite of BAR0 in %s", where);
	EXPECT_EQ(EIO, rw(r, r->off2, RW_OFF, &v64, 8, false))
		TH_LOG("pread of BAR2 in %s", where);
	EXPECT_EQ(EIO, rw(r, r->off2, RW_OFF, &v64, 8, true))
		TH_LOG("pwrite of BAR2 in %s", where);
	EXPECT_EQ(EIO, rw(r, r->off2, 0, page, sizeof(page), false))
		TH_LOG("pread of a BAR2 page in %s", where);
	config_works(_metadata, r, where);
}

/* Arm the ioeventfd: the @size low bytes of @data into B's @index at @off. */
static void ioev_arm(struct __test_metadata *_metadata, struct rv *r,
		     uint32_t index, uint64_t off, uint64_t data,
		     uint32_t size)
{
	if (r->efd < 0)
		r->efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, r->efd);
	ASSERT_EQ(0, vfio_dev_ioeventfd(r->vf->vdev, index, off, data, size,
					r->efd));
	r->ioev_index = index;
	r->ioev_off = off;
	r->ioev_data = data;
	r->ioev_size = size;
	r->ioev_armed = true;
}

/*
 * Remove it.  VFIO_DEVICE_IOEVENTFD with fd -1 flushes: a write of this
 * ioeventfd that the kernel deferred to a worker has been done (or
 * dropped) when it returns.
 */
static void ioev_disarm(struct __test_metadata *_metadata, struct rv *r)
{
	ASSERT_EQ(0, vfio_dev_ioeventfd(r->vf->vdev, r->ioev_index,
					r->ioev_off, r->ioev_data,
					r->ioev_size, -1));
	r->ioev_armed = false;
}

static void ioev_signal(struct __test_metadata *_metadata, struct rv *r,
			int n)
{
	uint64_t one = 1;
	int i;

	for (i = 0; i < n; i++)
		ASSERT_EQ(sizeof(one), write(r->efd, &one, sizeof(one)));
}

/* Wait (bounded) until pread of B's region at @base + @off gives @want. */
static bool reads_back(struct rv *r, uint64_t base, uint64_t off,
		       uint64_t want, uint32_t size)
{
	double end = vfio_now() + mvf_timeout_ms() / 1000.0;
	uint64_t v;

	do {
		v = 0;
		if (rw(r, base, off, &v, size, false))
			return false;
		if (le64toh(v) == want)
			return true;
		sched_yield();
	} while (vfio_now() < end);
	return false;
}

/* ---- peer DMA through a dma-buf of B's BAR 2 ----------------------------------- */

/*
 * 0 if B's BAR 2 can be exported as a dma-buf and mapped into the IOAS;
 * 1 if this kernel cannot do that at all (@why is the expected reason);
 * -1 if it could but mvf-vfio-pci does not offer it (@why: what lacks).
 */
static int peer_support(struct rv *r, char *why, size_t len)
{
#if defined(VFIO_DEVICE_FEATURE_DMA_BUF) && defined(IOMMU_IOAS_MAP_FILE)
	int ret;

	if (r->mode != VFIO_MODE_IOMMUFD) {
		snprintf(why, len, "a type1 container cannot import a dma-buf");
		return 1;
	}
	ret = vfio_feature_probe(r->vf->vdev, VFIO_DEVICE_FEATURE_DMA_BUF,
				 VFIO_DEVICE_FEATURE_GET);
	if (ret == -ENOTTY) {
		snprintf(why, len,
			 "kernel has no VFIO_DEVICE_FEATURE_DMA_BUF (before 6.19, or CONFIG_VFIO_PCI_DMABUF off)");
		return 1;
	}
	if (ret) {
		snprintf(why, len,
			 "%s: VFIO_DEVICE_FEATURE_DMA_BUF probe: %s: mvf-vfio-pci offers no BAR dma-buf (built without vfio_pci_core_revoke_bars(), patches/linux/0001, or without vfio-pci dma-buf support: MVF_NO_CORE_REVOKE / MVF_NO_VFIO_PCI_DMABUF)",
			 r->vf->bdf, strerror(-ret));
		return -1;
	}
	return 0;
#else
	snprintf(why, len,
		 "built against uAPI headers without VFIO_DEVICE_FEATURE_DMA_BUF or IOMMU_IOAS_MAP_FILE");
	return 1;
#endif
}

/* dmabuf[i]: a dma-buf of all of B's BAR 2. */
static int peer_export(struct rv *r, int i)
{
	return vfio_dev_dmabuf(r->vf->vdev, MVF_VF_DEVMEM_BAR, 0,
			       r->vf->devmem_bar_size, &r->dmabuf[i]);
}

static int peer_map(struct rv *r, int i, uint64_t iova)
{
	int ret = vfio_dma_map_file(r->env.ctx, r->dmabuf[i], 0, iova,
				    r->vf->devmem_bar_size);

	if (!ret)
		r->mapped[i] = iova;
	return ret;
}

static int peer_unmap(struct rv *r, int i)
{
	int ret = vfio_dma_unmap(r->env.ctx, r->mapped[i],
				 r->vf->devmem_bar_size);

	if (!ret)
		r->mapped[i] = 0;
	return ret;
}

static void peer_close(struct rv *r, int i)
{
	close(r->dmabuf[i]);
	r->dmabuf[i] = -1;
}

/*
 * A moves PEER_LEN bytes between its device memory at @aoff and @iova:
 * DEVMEM_READ pushes them to the IOVA, DEVMEM_WRITE pulls them from it.
 * Returns the CQE status, or -1 without a (matching) CQE.
 */
static int peer_dma(struct rv *r, uint8_t op, uint64_t iova, uint64_t aoff)
{
	struct mvf_cqe c;

	if (mvf_qp_post(&r->qp, op, iova, PEER_LEN, aoff, ++r->wr_id))
		return -1;
	mvf_qp_ring_sq(&r->qp);
	if (mvf_qp_wait(&r->qp, &c, 1) != 1)
		return -1;
	if (le64toh(c.wr_id) != r->wr_id || c.opcode != op ||
	    c.qtype != MVF_CQE_Q_SQ)
		return -1;
	return c.status;
}

#define push(r, iova)	peer_dma(r, MVF_WQE_DEVMEM_READ, iova, A_OFF)
#define pull(r, iova)	peer_dma(r, MVF_WQE_DEVMEM_WRITE, iova, A_OFF2)

/* Put the pattern of @seed into A at A_OFF, and into @expect. */
static void peer_load(struct __test_metadata *_metadata, struct rv *r,
		      uint64_t seed, uint8_t *expect)
{
	ASSERT_EQ(0, mvf_devmem_fill(r->peer, A_OFF, PEER_LEN, seed));
	mvf_pattern_fill(expect, A_OFF, PEER_LEN, seed);
}

/*
 * The device memory a migration stream carries, in a buffer of @size
 * bytes the caller frees.
 */
static uint8_t *stream_devmem(struct __test_metadata *_metadata,
			      const void *img, size_t len, uint64_t size)
{
	struct mvf_stream_info info;
	char why[256] = "";
	uint8_t *dm;

	EXPECT_EQ(0, mvf_stream_parse(img, len, true, &info, why, sizeof(why)))
		TH_LOG("migration stream: %s", why);
	dm = calloc(1, size);
	if (dm && mvf_stream_devmem(img, len, dm, size)) {
		EXPECT_TRUE(false) TH_LOG("a DEVMEM record outside device memory");
	}
	return dm;
}

FIXTURE(revoke) {
	struct rv r;
};

FIXTURE_VARIANT(revoke) {
	enum vfio_mode mode;
};

FIXTURE_VARIANT_ADD(revoke, iommufd) {
	.mode = VFIO_MODE_IOMMUFD,
};

FIXTURE_VARIANT_ADD(revoke, group) {
	.mode = VFIO_MODE_GROUP,
};

FIXTURE_SETUP(revoke)
{
	char why[512];
	int ret;

	ret = rv_setup(_metadata, &self->r, variant->mode, why, sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
}

FIXTURE_TEARDOWN(revoke)
{
	rv_teardown(&self->r);
}

/* Peer DMA needs iommufd: the only variant of this fixture. */
FIXTURE(peer) {
	struct rv r;
};

FIXTURE_VARIANT(peer) {
	enum vfio_mode mode;
};

FIXTURE_VARIANT_ADD(peer, iommufd) {
	.mode = VFIO_MODE_IOMMUFD,
};

FIXTURE_SETUP(peer)
{
	char why[512];
	int ret;

	ret = rv_setup(_metadata, &self->r, variant->mode, why, sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
}

FIXTURE_TEARDOWN(peer)
{
	rv_teardown(&self->r);
}

/*
 * A thread hammers B's BARs through mmaps (a read-only BAR 0 register, a
 * BAR 2 store and load) while B walks RUNNING -> RUNNING_P2P -> STOP ->
 * STOP_COPY (the whole image read) -> STOP -> RUNNING_P2P -> RUNNING.  In
 * each settled phase it must do HAMMER_ROUNDS rounds: in RUNNING and
 * RUNNING_P2P none faults and every load reads what it must, in STOP and
 * STOP_COPY every access gets SIGBUS.  The image read in STOP_COPY and
 * BAR 2 at the end hold exactly what the stores that did not fault left,
 * and the device saw no access while frozen (also not during the arcs,
 * which are not judged here).
 */
TEST_F_TIMEOUT(revoke, mmap_hammer, MVF_T_LONG)
{
	static const char * const name[] = { "arc", "RUNNING", "RUNNING_P2P",
		"STOP", "STOP_COPY", "STOP", "RUNNING_P2P", "RUNNING" };
	struct rv *r = &self->r;
	struct mvf_vf *vf = r->vf;
	uint64_t frozen_shadow[HAMMER_WORDS], v;
	uint8_t *dm;
	bool have_snapshot = false;
	struct hammer *h;
	void *img = NULL;
	size_t len = 0;
	int i, fd;
	unsigned int w;

	h = calloc(1, sizeof(*h));
	ASSERT_NE(NULL, h);
	r->h = h;
	h->bar0 = r->bar0;
	h->bar2 = r->bar2;
	pthread_mutex_init(&h->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&h->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	/* the words start from known values, as the hammer's shadow says */
	for (w = 0; w < HAMMER_WORDS; w++) {
		*hammer_word(h, w) = 0;
		h->shadow[w] = 0;
	}
	hammer_publish(h, 1);
	ASSERT_EQ(0, pthread_create(&h->thread, NULL, hammer_fn, h));
	h->running = true;
	ASSERT_TRUE(hammer_wait(h, 1)) TH_LOG("the hammer is not running");

	for (i = 1; i < NWALK; i++) {
		hammer_publish(h, H_ARC);
		go(_metadata, vf, walk[i], &fd);
		hammer_publish(h, i + 1);
		if (walk[i] == S_STOP_COPY) {
			ASSERT_LE(0, fd);
			ASSERT_EQ(0, vfio_mig_save(fd, vf->devmem_size, &img,
						   &len));
			close(fd);
		} else {
			ASSERT_EQ(-1, fd);
		}
		ASSERT_TRUE(hammer_wait(h, i + 1))
			TH_LOG("the hammer did %llu of %d rounds in %s",
			       (unsigned long long)__atomic_load_n(&h->st[i + 1].rounds,
								   __ATOMIC_ACQUIRE),
			       HAMMER_ROUNDS, name[i + 1]);
		if (walk[i] == S_STOP && !have_snapshot) {
			/* what BAR 2 holds while frozen */
			for (w = 0; w < HAMMER_WORDS; w++)
				frozen_shadow[w] =
					__atomic_load_n(&h->shadow[w],
							__ATOMIC_RELAXED);
			have_snapshot = true;
		}
	}
	hammer_stop(h);

	for (i = 1; i <= NWALK; i++) {
		struct hstat *s = &h->st[i];
		bool revoked = vhca_want(walk[i - 1]) & MVF_VHCA_STATE_FROZEN;

		printf("#   %-12s %6llu rounds, SIGBUS: BAR0 load %llu, BAR2 store %llu, load %llu; wrong reads %llu\n",
		       name[i], (unsigned long long)s->rounds,
		       (unsigned long long)s->ld0_faults,
		       (unsigned long long)s->st2_faults,
		       (unsigned long long)s->ld2_faults,
		       (unsigned long long)(s->ld0_bad + s->ld2_bad));
		EXPECT_LE(HAMMER_ROUNDS, s->rounds);
		if (revoked) {
			EXPECT_EQ(s->rounds, s->ld0_faults)
				TH_LOG("BAR0 loads that did not fault in %s", name[i]);
			EXPECT_EQ(s->rounds, s->st2_faults)
				TH_LOG("BAR2 stores that did not fault in %s", name[i]);
			EXPECT_EQ(s->rounds, s->ld2_faults)
				TH_LOG("BAR2 loads that did not fault in %s", name[i]);
		} else {
			EXPECT_EQ(0, s->ld0_faults + s->st2_faults +
				     s->ld2_faults)
				TH_LOG("SIGBUS in %s", name[i]);
			EXPECT_EQ(0, s->ld0_bad + s->ld2_bad)
				TH_LOG("%s", h->first_bad);
		}
	}

	/* the image of the frozen VF: what BAR 2 held when it froze */
	ASSERT_NE(NULL, img);
	dm = stream_devmem(_metadata, img, len, vf->devmem_size);
	ASSERT_NE(NULL, dm);
	for (w = 0; w < HAMMER_WORDS; w++) {
		memcpy(&v, dm + HAMMER_BASE + (uint64_t)w * HAMMER_STRIDE, 8);
		EXPECT_EQ(frozen_shadow[w], le64toh(v))
			TH_LOG("word %u in the STOP_COPY stream", w);
	}
	free(dm);
	free(img);
	/* and now: exactly what the stores that did not fault left */
	for (w = 0; w < HAMMER_WORDS; w++) {
		ASSERT_FALSE(bar_access(hammer_word(h, w), LD64, &v));
		EXPECT_EQ(h->shadow[w], v) TH_LOG("BAR2 word %u after RUNNING", w);
	}
	rv_end(_metadata, r);
}

/*
 * pread/pwrite of BAR 0 and BAR 2 work in RUNNING and RUNNING_P2P and fail
 * with EIO in STOP, STOP_COPY and RESUMING, where config space reads still
 * work; nothing written there lands.  An ioeventfd into BAR 2 armed in
 * RUNNING writes when signalled there, signalled SIGNALS times in STOP it
 * changes nothing, and after RUNNING it works again.
 */
TEST_F_TIMEOUT(revoke, rw_and_ioeventfd, MVF_T_SHORT)
{
	const uint64_t ioev_data = mvf_pattern_word(SEED, 0x10e7);
	const uint64_t before = mvf_pattern_word(SEED, 0xbef0);
	struct rv *r = &self->r;
	struct mvf_vf *vf = r->vf;
	uint64_t v64;
	uint32_t v32;
	void *img = NULL;
	size_t len = 0;
	int fd;

	rw_works(_metadata, r, 1, "RUNNING");
	config_works(_metadata, r, "RUNNING");

	/* the ioeventfd works in RUNNING */
	v64 = htole64(mvf_pattern_word(SEED, 0xbef1));
	ASSERT_EQ(0, rw(r, r->off2, IOEV_OFF, &v64, 8, true));
	ioev_arm(_metadata, r, MVF_VF_DEVMEM_BAR, IOEV_OFF, ioev_data, 8);
	ioev_signal(_metadata, r, 1);
	ASSERT_TRUE(reads_back(r, r->off2, IOEV_OFF, ioev_data, 8))
		TH_LOG("the ioeventfd wrote nothing in RUNNING");
	v64 = htole64(before);
	ASSERT_EQ(0, rw(r, r->off2, IOEV_OFF, &v64, 8, true));

	go(_metadata, vf, S_P2P, NULL);
	rw_works(_metadata, r, 2, "RUNNING_P2P");

	go(_metadata, vf, S_STOP, NULL);
	rw_revoked(_metadata, r, "STOP");
	ioev_signal(_metadata, r, SIGNALS);
	/* what was deferred is done (dropped) now, while still STOP */
	ioev_disarm(_metadata, r);
	ioev_arm(_metadata, r, MVF_VF_DEVMEM_BAR, IOEV_OFF, ioev_data, 8);

	go(_metadata, vf, S_STOP_COPY, &fd);
	ASSERT_LE(0, fd);
	rw_revoked(_metadata, r, "STOP_COPY");
	ASSERT_EQ(0, vfio_mig_save(fd, vf->devmem_size, &img, &len));
	close(fd);
	go(_metadata, vf, S_STOP, NULL);
	go(_metadata, vf, S_RESUMING, &fd);
	ASSERT_LE(0, fd);
	rw_revoked(_metadata, r, "RESUMING");
	ASSERT_EQ(0, vfio_mig_load(fd, img, len));
	close(fd);
	free(img);
	go(_metadata, vf, S_STOP, NULL);
	go(_metadata, vf, S_P2P, NULL);
	go(_metadata, vf, S_RUNNING, NULL);

	/* nothing written while stopped landed */
	v32 = 0;
	ASSERT_EQ(0, rw(r, r->off0, MVF_VF_REG_SCRATCH(RW_SCRATCH), &v32, 4,
			false));
	EXPECT_EQ(2, le32toh(v32));
	v64 = 0;
	ASSERT_EQ(0, rw(r, r->off2, RW_OFF, &v64, 8, false));
	EXPECT_EQ(mvf_pattern_word(SEED, 2), le64toh(v64));
	v64 = 0;
	ASSERT_EQ(0, rw(r, r->off2, IOEV_OFF, &v64, 8, false));
	EXPECT_EQ(before, le64toh(v64))
		TH_LOG("an ioeventfd signalled in STOP wrote BAR2");

	/* the same ioeventfd writes again once the VF runs */
	ioev_signal(_metadata, r, 1);
	EXPECT_TRUE(reads_back(r, r->off2, IOEV_OFF, ioev_data, 8))
		TH_LOG("the ioeventfd wrote nothing in RUNNING after the thaw");
	ioev_disarm(_metadata, r);
	rw_works(_metadata, r, 3, "RUNNING again");
	rv_end(_metadata, r);
}

/*
 * A refused load (a resume of an empty stream) leaves the VF in RESUMING,
 * still frozen and still revoked: EIO, SIGBUS, config space works, no
 * access reaches the device; VFIO_DEVICE_RESET gives the BARs back, and
 * the next STOP revokes them again.  (ERROR itself, revoked on the same
 * path, is only reached when a device command fails and the device cannot
 * say where the VF is: not from user space.)
 */
TEST_F_TIMEOUT(revoke, refused_load, MVF_T_SHORT)
{
	struct rv *r = &self->r;
	struct mvf_vf *vf = r->vf;
	uint64_t v = 0x1234;
	int fd;

	go(_metadata, vf, S_RESUMING, &fd);
	ASSERT_LE(0, fd);
	close(fd);
	EXPECT_NE(0, mvf_set_state_quiet(vf, S_STOP, NULL));
	ASSERT_EQ(S_RESUMING, mvf_state(vf));
	EXPECT_TRUE(mvf_vhca(_metadata, vf) & MVF_VHCA_STATE_FROZEN)
		TH_LOG("a failed load must leave the VF frozen");

	rw_revoked(_metadata, r, "RESUMING after a refused load");
	EXPECT_TRUE(bar_access(r->bar0 + MVF_VF_REG_MAGIC / 4, LD32, &v));
	EXPECT_TRUE(bar_access(r->bar0 + MVF_VF_REG_SCRATCH(0) / 4, ST32, &v));
	EXPECT_TRUE(bar_access(r->bar2 + RW_OFF / 8, ST64, &v));
	EXPECT_TRUE(bar_access(r->bar2 + RW_OFF / 8, LD64, &v));
	/* before the reset, which clears the counter */
	EXPECT_EQ(r->fa0[0], mvf_frozen(_metadata, vf))
		TH_LOG("accesses reached the VF after a refused load");

	ASSERT_EQ(0, vfio_dev_reset(vf->vdev));
	ASSERT_EQ(S_RUNNING, mvf_state(vf));
	EXPECT_EQ(0, mvf_vhca(_metadata, vf));
	EXPECT_FALSE(bar_access(r->bar0 + MVF_VF_REG_MAGIC / 4, LD32, &v))
		TH_LOG("BAR0 still revoked after the reset");
	EXPECT_EQ(MVF_MAGIC_VF, v);
	v = 0x1234;
	EXPECT_FALSE(bar_access(r->bar2 + RW_OFF / 8, ST64, &v));
	v = 0;
	EXPECT_FALSE(bar_access(r->bar2 + RW_OFF / 8, LD64, &v));
	EXPECT_EQ(0x1234, v);
	rw_works(_metadata, r, 4, "RUNNING after reset");
	r->fa0[0] = mvf_frozen(_metadata, vf);

	/* and the next stop revokes again */
	go(_metadata, vf, S_P2P, NULL);
	go(_metadata, vf, S_STOP, NULL);
	rw_revoked(_metadata, r, "STOP after the reset");
	EXPECT_TRUE(bar_access(r->bar0 + MVF_VF_REG_MAGIC / 4, LD32, &v));
	go(_metadata, vf, S_P2P, NULL);
	go(_metadata, vf, S_RUNNING, NULL);
	rw_works(_metadata, r, 5, "RUNNING");
	rv_end(_metadata, r);
}

/*
 * A dma-buf of B's BAR 2 mapped into the shared IOAS lets A's queue write
 * B's device memory and read it back, in RUNNING and RUNNING_P2P.  In STOP
 * both fault (error CQE), the device sees nothing, and B's image holds
 * what was there before.  iommufd's revocation is one-way: after RUNNING
 * the old mapping still faults until it is unmapped and mapped again.  A
 * dma-buf made while B is in STOP cannot be mapped then, but can be (and
 * works) once B runs.
 */
TEST_F_TIMEOUT(peer, peer_dmabuf, MVF_T_SHORT)
{
	struct rv *r = &self->r;
	struct mvf_vf *a = r->peer, *b = r->vf;
	uint8_t *expect, *stale;
	void *img = NULL;
	size_t len = 0;
	char why[512];
	uint64_t bad = 0;
	uint8_t *dm;
	int ret, fd;

	ret = peer_support(r, why, sizeof(why));
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	expect = malloc(PEER_LEN);
	stale = malloc(PEER_LEN);
	ASSERT_NE(NULL, expect);
	ASSERT_NE(NULL, stale);

	ASSERT_EQ(0, mvf_qp_create_slot(&r->qp, a, &r->env, 0));
	r->qp_up = true;
	ASSERT_EQ(0, peer_export(r, 0));
	ASSERT_EQ(0, peer_map(r, 0, PEER_IOVA));

	/* RUNNING: A writes B's memory and reads it back */
	peer_load(_metadata, r, SEED + 1, expect);
	ASSERT_EQ(MVF_CQE_STAT_OK, push(r, PEER_IOVA + B_OFF));
	EXPECT_EQ(0, mvf_devmem_cmp(b, B_OFF, expect, PEER_LEN, &bad))
		TH_LOG("B's memory at 0x%llx is not what A pushed",
		       (unsigned long long)bad);
	ASSERT_EQ(MVF_CQE_STAT_OK, pull(r, PEER_IOVA + B_OFF));
	EXPECT_EQ(0, mvf_devmem_cmp(a, A_OFF2, expect, PEER_LEN, NULL))
		TH_LOG("A did not read back what it pushed to B");

	/* RUNNING_P2P: B still answers its peers */
	go(_metadata, b, S_P2P, NULL);
	peer_load(_metadata, r, SEED + 2, expect);
	EXPECT_EQ(MVF_CQE_STAT_OK, push(r, PEER_IOVA + B_OFF))
		TH_LOG("peer DMA to a RUNNING_P2P VF must work");
	EXPECT_EQ(0, mvf_devmem_cmp(b, B_OFF, expect, PEER_LEN, NULL));

	/* STOP: the mapping is gone, A's DMA faults */
	go(_metadata, b, S_STOP, NULL);
	memcpy(stale, expect, PEER_LEN);
	peer_load(_metadata, r, SEED + 3, expect);
	EXPECT_EQ(MVF_CQE_STAT_DMA, push(r, PEER_IOVA + B_OFF))
		TH_LOG("A's write to a stopped B must complete with a DMA error");
	EXPECT_EQ(MVF_CQE_STAT_DMA, pull(r, PEER_IOVA + B_OFF))
		TH_LOG("A's read of a stopped B must complete with a DMA error");
	EXPECT_EQ(r->fa0[0], mvf_frozen(_metadata, b))
		TH_LOG("peer DMA reached the frozen VF");
	go(_metadata, b, S_STOP_COPY, &fd);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, vfio_mig_save(fd, b->devmem_size, &img, &len));
	close(fd);
	dm = stream_devmem(_metadata, img, len, b->devmem_size);
	ASSERT_NE(NULL, dm);
	EXPECT_EQ(0, memcmp(dm + B_OFF, stale, PEER_LEN))
		TH_LOG("B's stream does not hold what A wrote before the freeze");
	free(dm);
	free(img);
	go(_metadata, b, S_STOP, NULL);

	/*
	 * A dma-buf of a stopped VF (Linux 7.3): it is created, already
	 * revoked (vfio_pci_core_feature_dma_buf() marks a new dma-buf
	 * revoked while BAR access is off), and iommufd cannot map it:
	 * attaching to a revoked VFIO dma-buf fails with ENODEV, so
	 * IOMMU_IOAS_MAP_FILE does, and nothing is left in the IOAS.
	 */
	ASSERT_EQ(0, peer_export(r, 1))
		TH_LOG("exporting BAR2 of a stopped VF");
	vfio_util_quiet = true;
	ret = peer_map(r, 1, PEER_IOVA2);
	vfio_util_quiet = false;
	EXPECT_EQ(-ENODEV, ret)
		TH_LOG("mapping a dma-buf of a stopped VF: %s", strerror(-ret));
	if (!ret) {
		EXPECT_EQ(MVF_CQE_STAT_DMA, push(r, PEER_IOVA2 + B_OFF))
			TH_LOG("A used a mapping made while B was stopped");
		ASSERT_EQ(0, peer_unmap(r, 1));
	} else {
		struct iommu_ioas_unmap unmap = {
			.size = sizeof(unmap),
			.ioas_id = r->env.ctx->ioas_id,
			.iova = PEER_IOVA2,
			.length = b->devmem_bar_size,
		};

		errno = 0;
		EXPECT_EQ(-1, ioctl(r->env.ctx->iommufd, IOMMU_IOAS_UNMAP,
				    &unmap));
		EXPECT_EQ(ENOENT, errno)
			TH_LOG("a failed map left something in the IOAS");
	}

	go(_metadata, b, S_P2P, NULL);
	go(_metadata, b, S_RUNNING, NULL);
	EXPECT_EQ(0, mvf_devmem_cmp(b, B_OFF, stale, PEER_LEN, &bad))
		TH_LOG("A's writes while B was stopped landed (0x%llx)",
		       (unsigned long long)bad);

	/* one-way: the old mapping stays revoked until mapped again */
	EXPECT_EQ(MVF_CQE_STAT_DMA, push(r, PEER_IOVA + B_OFF))
		TH_LOG("iommufd restored a revoked mapping by itself");
	EXPECT_EQ(0, mvf_devmem_cmp(b, B_OFF, stale, PEER_LEN, NULL));
	ASSERT_EQ(0, peer_unmap(r, 0));
	ASSERT_EQ(0, peer_map(r, 0, PEER_IOVA))
		TH_LOG("mapping B's dma-buf again after RUNNING");
	peer_load(_metadata, r, SEED + 4, expect);
	EXPECT_EQ(MVF_CQE_STAT_OK, push(r, PEER_IOVA + B_OFF));
	EXPECT_EQ(0, mvf_devmem_cmp(b, B_OFF, expect, PEER_LEN, NULL));
	EXPECT_EQ(MVF_CQE_STAT_OK, pull(r, PEER_IOVA + B_OFF));
	EXPECT_EQ(0, mvf_devmem_cmp(a, A_OFF2, expect, PEER_LEN, NULL));

	/* the dma-buf made in STOP maps and works now */
	if (!r->mapped[1])
		EXPECT_EQ(0, peer_map(r, 1, PEER_IOVA2));
	peer_load(_metadata, r, SEED + 5, expect);
	EXPECT_EQ(MVF_CQE_STAT_OK, push(r, PEER_IOVA2 + B_OFF));
	EXPECT_EQ(0, mvf_devmem_cmp(b, B_OFF, expect, PEER_LEN, NULL));

	if (r->mapped[1])
		EXPECT_EQ(0, peer_unmap(r, 1));
	EXPECT_EQ(0, peer_unmap(r, 0));
	peer_close(r, 0);
	peer_close(r, 1);
	free(expect);
	free(stale);
	rv_end(_metadata, r);
}

/*
 * Two saves of a stopped VF are byte-identical whatever is tried against
 * it in between: mmap loads and stores (SIGBUS), pread/pwrite (EIO), an
 * ioeventfd into a BAR 0 register armed in RUNNING, and (iommufd with
 * dma-bufs) peer DMA from A into and out of B's BAR 2.
 */
TEST_F_TIMEOUT(revoke, image_identical, MVF_T_SHORT)
{
	const uint32_t ioev_val = 0x10e710e7;
	struct rv *r = &self->r;
	struct mvf_vf *vf = r->vf;
	uint64_t v, bad = 0;
	void *img1 = NULL, *img2 = NULL;
	size_t len1 = 0, len2 = 0, i;
	uint8_t *expect = NULL;
	char why[512];
	bool use_peer;
	int ret;

	ASSERT_EQ(0, mvf_devmem_fill(vf, 0, FILL, SEED));
	mvf_scratch_set(vf, SEED);
	ASSERT_EQ(0, vf->io_err);

	ret = peer_support(r, why, sizeof(why));
	ASSERT_LE(0, ret) TH_LOG("%s", why);
	use_peer = ret == 0;
	if (!use_peer) {
		TH_LOG("no peer DMA in this case: %s", why);
	} else {
		expect = malloc(PEER_LEN);
		ASSERT_NE(NULL, expect);
		ASSERT_EQ(0, mvf_qp_create_slot(&r->qp, r->peer, &r->env, 0));
		r->qp_up = true;
		ASSERT_EQ(0, peer_export(r, 0));
		ASSERT_EQ(0, peer_map(r, 0, PEER_IOVA));
		peer_load(_metadata, r, SEED + 1, expect);
		ASSERT_EQ(MVF_CQE_STAT_OK, push(r, PEER_IOVA + B_OFF));
		ASSERT_EQ(0, mvf_devmem_cmp(vf, B_OFF, expect, PEER_LEN, NULL));
	}

	/* an ioeventfd into a scratch register: it works in RUNNING */
	ioev_arm(_metadata, r, VFIO_PCI_BAR0_REGION_INDEX,
		 MVF_VF_REG_SCRATCH(IOEV_SCRATCH), ioev_val, 4);
	ioev_signal(_metadata, r, 1);
	ASSERT_TRUE(reads_back(r, r->off0, MVF_VF_REG_SCRATCH(IOEV_SCRATCH),
			       ioev_val, 4));
	mvf_wr32(vf, MVF_VF_REG_SCRATCH(IOEV_SCRATCH),
		 mvf_scratch_val(SEED, IOEV_SCRATCH));

	go(_metadata, vf, S_P2P, NULL);
	go(_metadata, vf, S_STOP, NULL);
	ASSERT_EQ(0, mvf_vf_save_stopped(vf, &img1, &len1));
	ASSERT_EQ(S_STOP, mvf_state(vf));

	/* everything, in STOP */
	v = 0;
	EXPECT_TRUE(bar_access(r->bar0 + MVF_VF_REG_MAGIC / 4, LD32, &v));
	v = ~0ULL;
	EXPECT_TRUE(bar_access(r->bar0 + MVF_VF_REG_SCRATCH(0) / 4, ST32, &v));
	v = 1;
	EXPECT_TRUE(bar_access(r->bar0 + MVF_VF_REG_SQ_PI / 4, ST32, &v));
	EXPECT_TRUE(bar_access(r->bar0 + MVF_VF_REG_CTRL / 4, ST32, &v));
	for (i = 0; i < 3; i++) {
		uint64_t off = (uint64_t[]){ 0, FILL - 8,
					     vf->devmem_size - 8 }[i];

		v = ~0ULL;
		EXPECT_TRUE(bar_access(r->bar2 + off / 8, ST64, &v))
			TH_LOG("BAR2 store at 0x%llx", (unsigned long long)off);
		EXPECT_TRUE(bar_access(r->bar2 + off / 8, LD64, &v))
			TH_LOG("BAR2 load at 0x%llx", (unsigned long long)off);
	}
	rw_revoked(_metadata, r, "STOP");
	ioev_signal(_metadata, r, SIGNALS);
	ioev_disarm(_metadata, r);
	if (use_peer) {
		peer_load(_metadata, r, SEED + 2, expect);
		EXPECT_EQ(MVF_CQE_STAT_DMA, push(r, PEER_IOVA + B_OFF));
		EXPECT_EQ(MVF_CQE_STAT_DMA, pull(r, PEER_IOVA));
	}

	ASSERT_EQ(0, mvf_vf_save_stopped(vf, &img2, &len2));
	ASSERT_EQ(len1, len2);
	for (i = 0; i < len1; i++)
		if (((uint8_t *)img1)[i] != ((uint8_t *)img2)[i])
			break;
	EXPECT_EQ(len1, i) TH_LOG("the images differ first at byte %zu", i);
	EXPECT_EQ(r->fa0[0], mvf_frozen(_metadata, vf))
		TH_LOG("accesses reached the frozen VF");

	go(_metadata, vf, S_P2P, NULL);
	go(_metadata, vf, S_RUNNING, NULL);
	EXPECT_EQ(0, mvf_devmem_cmp_pattern(vf, 0, FILL, SEED, &bad))
		TH_LOG("device memory changed, first at 0x%llx",
		       (unsigned long long)bad);
	EXPECT_EQ(0, mvf_scratch_check(vf, SEED));
	if (use_peer) {
		/* the pattern A pushed before the freeze, not the later one */
		mvf_pattern_fill(expect, A_OFF, PEER_LEN, SEED + 1);
		EXPECT_EQ(0, mvf_devmem_cmp(vf, B_OFF, expect, PEER_LEN, NULL));
		EXPECT_EQ(0, peer_unmap(r, 0));
		peer_close(r, 0);
		free(expect);
	}
	free(img1);
	free(img2);
	rv_end(_metadata, r);
}

TEST_HARNESS_MAIN
