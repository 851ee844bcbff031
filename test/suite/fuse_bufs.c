// SPDX-License-Identifier: GPL-2.0
/*
 * The shapes of the daemon's buffers on read and write of
 * /dev/fuse: one buffer, readv/writev with 1..1024 odd-sized pieces that
 * cross page boundaries, anonymous, MAP_SHARED memfd and THP-backed memory,
 * the splice transports (group 4's regression guard). A buffer that is an
 * mmap of a file on the same mount: fuse_mmapself.c.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <time.h>

#include "fuselab.h"
#include "kselftest_harness.h"

FIXTURE(bufs) {
	struct fl_fs *fs;
	unsigned char *buf;
	size_t buflen;
};

FIXTURE_VARIANT(bufs) {
	const char *name;
	enum fl_xport xport;
	enum fl_mem mem;
	unsigned int niov;
};

#define BUFS(v, x, m, n) \
	FIXTURE_VARIANT_ADD(bufs, v) { \
		.name = #v, .xport = x, .mem = m, .niov = n }

BUFS(rw_anon, FL_XP_RW, FL_MEM_ANON, 1);
BUFS(rw_memfd, FL_XP_RW, FL_MEM_MEMFD, 1);
BUFS(rw_thp, FL_XP_RW, FL_MEM_THP, 1);
BUFS(vec1_anon, FL_XP_VEC, FL_MEM_ANON, 1);
BUFS(vec2_memfd, FL_XP_VEC, FL_MEM_MEMFD, 2);
BUFS(vec7_anon, FL_XP_VEC, FL_MEM_ANON, 7);
BUFS(vec64_thp, FL_XP_VEC, FL_MEM_THP, 64);
BUFS(vec1024_anon, FL_XP_VEC, FL_MEM_ANON, 1024);
BUFS(vec1024_memfd, FL_XP_VEC, FL_MEM_MEMFD, 1024);
BUFS(vec1024_thp, FL_XP_VEC, FL_MEM_THP, 1024);
BUFS(splice_read, FL_XP_SPLICE_IN, FL_MEM_ANON, 1);
BUFS(splice_write, FL_XP_SPLICE_OUT, FL_MEM_ANON, 1);
BUFS(splice_move, FL_XP_SPLICE_MOVE, FL_MEM_ANON, 1);

FIXTURE_SETUP(bufs)
{
	struct fl_config cfg = {
		.max_pages = 256,
		.xport = variant->xport,
		.mem = variant->mem,
		.niov = variant->niov,
		.nthreads = 2,
		.alias_tag = true,
	};

	/* CONFIG_TRANSPARENT_HUGEPAGE needs LPAE on arm: not on ARMv5 */
	if (variant->mem == FL_MEM_THP &&
	    access("/sys/kernel/mm/transparent_hugepage", F_OK))
		SKIP(return, "no transparent hugepages in this kernel");
	self->fs = fl_mount(&cfg);
	ASSERT_TRUE(self->fs != NULL) TH_LOG("mount: %s", strerror(errno));
	ASSERT_EQ(0, fl_start(self->fs));
	self->buflen = (2u << 20) + FL_PAGE;
	self->buf = mmap(NULL, self->buflen, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(self->buf != MAP_FAILED);
}

FIXTURE_TEARDOWN(bufs)
{
	if (self->fs)
		fl_destroy(self->fs);
	munmap(self->buf, self->buflen);
}

static const size_t rt_sizes[] = { 1, 4097, 65536 + 13, 1u << 20,
				   (1u << 20) + 4095 };

static void roundtrip(struct __test_metadata *_metadata, FIXTURE_DATA(bufs) *self,
		      bool direct)
{
	char path[96];
	unsigned int seed = direct ? 500 : 600;

	self->fs->cfg.direct_io = direct;
	for (size_t i = 0; i < ARRAY_SIZE(rt_sizes); i++, seed++) {
		size_t len = rt_sizes[i], off = 4093 * i + 1;
		unsigned char *p = self->buf + i + 1;
		int fd;

		fl_path(self->fs, i % FL_NFILES, path, sizeof(path));
		fd = open(path, O_RDWR | O_TRUNC);
		ASSERT_LE(0, fd) TH_LOG("open %s: %s", path, strerror(errno));
		fl_fill(p, len, off, seed);
		ASSERT_EQ((ssize_t)len, pwrite(fd, p, len, off))
			TH_LOG("pwrite %zu at %zu: %s", len, off, strerror(errno));
		ASSERT_EQ(0, close(fd));
		ASSERT_EQ(-1, fl_check(self->fs->files[i % FL_NFILES].data + off,
				       len, off, seed))
			TH_LOG("daemon stored a wrong byte (%zu bytes at %zu)",
			       len, off);
		memset(p, 0, len);
		fd = open(path, O_RDONLY);
		ASSERT_LE(0, fd);
		ASSERT_EQ((ssize_t)len, pread(fd, p, len, off))
			TH_LOG("pread %zu at %zu: %s", len, off, strerror(errno));
		ASSERT_EQ(-1, fl_check(p, len, off, seed))
			TH_LOG("read back a wrong byte (%zu bytes at %zu)", len, off);
		ASSERT_EQ(0, close(fd));
	}
}

/*
 * 1 B, 4097 B, 64 KiB+13, 1 MiB, 1 MiB+4095 at unaligned offsets through
 * FOPEN_DIRECT_IO: daemon copy and read-back match the pattern; the largest
 * READ and WRITE carried more than 255 pages.
 */
TEST_F_TIMEOUT(bufs, roundtrip_direct_io, 120)
{
	unsigned long max = 256UL * FL_PAGE;

	roundtrip(_metadata, self, true);
	/*
	 * 256 pages of a misaligned client buffer carry a little less than
	 * 1 MiB: still more than 255 pages' worth means max_pages = 256.
	 */
	EXPECT_LT(max - FL_PAGE, atomic_load(&self->fs->st.max_read));
	EXPECT_GE(max, atomic_load(&self->fs->st.max_read));
	EXPECT_LT(max - FL_PAGE, atomic_load(&self->fs->st.max_write));
	EXPECT_GE(max, atomic_load(&self->fs->st.max_write));
}

/* roundtrip_direct_io's sizes and offsets through the page cache. */
TEST_F_TIMEOUT(bufs, roundtrip_page_cache, 120)
{
	roundtrip(_metadata, self, false);
}

/*
 * The daemon's copies pin none of its pages: /dev/fuse moves request and
 * reply data through uaccess, never iov_iter_get_pages2() + kmap.  The
 * client's direct I/O still pins its own pages (fuse_get_user_pages()),
 * which shows that the tracer sees GUP calls.  Fails on a stock kernel.
 */
TEST_F_TIMEOUT(bufs, daemon_copies_pin_no_user_pages, 120)
{
	struct fl_gup g;

	ASSERT_EQ(0, fl_gup_start(&g));
	roundtrip(_metadata, self, true);
	ASSERT_EQ(0, fl_gup_stop(&g));
	TH_LOG("measured: GUP hits: %lu under /dev/fuse copies%s%s, %lu elsewhere (probed: %s)",
	       g.dev, g.dev ? ", first " : "", g.dev_example, g.other, g.probed);
	EXPECT_LT(0UL, g.other) TH_LOG("the tracer saw no GUP call at all");
	EXPECT_EQ(0UL, g.dev);
}

/*
 * No request or reply byte crosses between two mappings of the daemon's
 * buffers: the kernel stores into them and loads from them through the
 * daemon's own addresses (uaccess), as the daemon does. Counted by the
 * alias plugin when the lab loads it (the TAP line
 * "alias/fuse_bufs/bufs.<variant>.daemon_buffers_see_no_cross_alias" is
 * its verdict); this test only carries the traffic. A stock kernel
 * copies through kmap: a kernel->user cross-alias load for every line
 * of a request the daemon reads, user->kernel for every line of a reply.
 *
 * Except one kind: a reply the daemon vmsplice()s hands its pages to a
 * pipe (pinned by GUP) and FUSE reads them from the pipe through the
 * kernel's mapping, on any kernel; the GUP slow path's flush_anon_page(),
 * which the series makes the only path on aliasing D-caches, is what
 * keeps that coherent. There only user->kernel loads are allowed.
 */
TEST_F_TIMEOUT(bufs, daemon_buffers_see_no_cross_alias, 120)
{
	bool vmspliced = variant->xport == FL_XP_SPLICE_OUT ||
			 variant->xport == FL_XP_SPLICE_MOVE;
	char name[160];

	FL_NEED_PLUGIN();
	snprintf(name, sizeof(name), "%s/bufs.%s.%s",
		 program_invocation_short_name, variant->name, _metadata->name);
	fl_alias_open(name, vmspliced ? "zero:k2u,k2k,u2u" : "zero");
	roundtrip(_metadata, self, true);
	roundtrip(_metadata, self, false);
	fl_alias_close();
}

/*
 * The 2006 mail's item 4: another thread of the daemon loads from the
 * serving buffers while the kernel copies requests into them. On a VIVT
 * cache those loads fill lines of the daemon's mapping; a stock kernel
 * that is meanwhile writing the page through its own mapping leaves them
 * stale, whatever it flushes before and after. Judged by the cache model
 * (test/qemu-plugins/cache926.c, "cache/" TAP lines): no load may return stale
 * data. On one CPU the other thread must run in the middle of a copy: it
 * is a real-time thread woken by a high-resolution timer every
 * TOUCH_PERIOD_NS, which preempts the copy wherever it is (the lab's ARMv5
 * kernel is preemptible and has high-resolution timers), loads one line of
 * every page (each page a different line, so that they fall in different
 * cache sets) and sleeps again: its next loads then hit what it loaded
 * before the copy went on. rw_anon only: one variant is enough.
 */
#define TOUCH_PERIOD_NS	1000000

struct toucher {
	pthread_mutex_t lock;
	unsigned char *base[2];		/* the serving threads' buffers */
	size_t size[2];
	atomic_int stop;
	atomic_ulong sweeps;
};

static bool toucher_note(struct fl_fs *fs, struct fl_buf *b,
			 const struct fuse_in_header *in, void *arg)
{
	struct toucher *t = arg;

	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < 2; i++) {
		if (t->base[i] == b->base)
			break;
		if (!t->base[i]) {
			t->base[i] = b->base;
			t->size[i] = b->size;
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return false;
}

static void *toucher_main(void *arg)
{
	struct timespec period = { .tv_nsec = TOUCH_PERIOD_NS };
	struct toucher *t = arg;

	while (!atomic_load(&t->stop)) {
		for (int i = 0; i < 2; i++) {
			pthread_mutex_lock(&t->lock);
			volatile unsigned char *p = t->base[i];
			size_t size = t->size[i];

			pthread_mutex_unlock(&t->lock);
			for (size_t off = 0; p && off < size; off += FL_PAGE + 32)
				(void)p[off];
		}
		atomic_fetch_add(&t->sweeps, 1);
		nanosleep(&period, NULL);
	}
	return NULL;
}

/*
 * The 2006 mail's item 4: a third thread of the daemon, SCHED_FIFO and woken
 * every millisecond by a high-resolution timer (so that it preempts the
 * kernel's copies in their middle: the ARMv5 kernel has CONFIG_PREEMPT and
 * CONFIG_HIGH_RES_TIMERS), loads one line of every page of both serving
 * buffers while the same roundtrips run, inside a window (skipped for the
 * other variants). The verdict is the cache model's, in the cache runs only:
 * <run>-cache/cache/fuse_bufs/bufs.rw_anon.second_thread_loads_during_copy,
 * no load that an ARM926 would answer with stale data.
 */
TEST_F_TIMEOUT(bufs, second_thread_loads_during_copy, 300)
{
	struct toucher t = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct sched_param prio = { .sched_priority = 1 };
	pthread_attr_t attr;
	pthread_t thr;
	char name[160];

	if (variant->xport != FL_XP_RW || variant->mem != FL_MEM_ANON)
		SKIP(return, "one variant is enough for this race");
	FL_NEED_PLUGIN();
	self->fs->hook_arg = &t;
	self->fs->hook = toucher_note;
	ASSERT_EQ(0, pthread_attr_init(&attr));
	ASSERT_EQ(0, pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED));
	ASSERT_EQ(0, pthread_attr_setschedpolicy(&attr, SCHED_FIFO));
	ASSERT_EQ(0, pthread_attr_setschedparam(&attr, &prio));
	ASSERT_EQ(0, pthread_create(&thr, &attr, toucher_main, &t));
	pthread_attr_destroy(&attr);
	snprintf(name, sizeof(name), "%s/bufs.%s.%s",
		 program_invocation_short_name, variant->name, _metadata->name);
	fl_alias_open(name, "zero/zero");
	roundtrip(_metadata, self, true);
	roundtrip(_metadata, self, false);
	fl_alias_close();
	atomic_store(&t.stop, 1);
	pthread_join(thr, NULL);
	self->fs->hook = NULL;
	TH_LOG("the other thread swept the buffers %lu times",
	       atomic_load(&t.sweeps));
	EXPECT_LT(0UL, atomic_load(&t.sweeps));
}

/* The variant's memory kind is what the daemon really used. */
TEST_F(bufs, buffers_have_the_requested_backing)
{
	struct statfs sfs;

	/* one request so that both threads have set up their buffers */
	ASSERT_EQ(0, statfs(self->fs->mnt, &sfs));
	unsigned long thp = atomic_load(&self->fs->st.thp_buffers);

	if (variant->mem == FL_MEM_THP) {
		EXPECT_LT(0UL, thp)
			TH_LOG("no serving buffer is backed by a huge page");
	} else {
		EXPECT_EQ(0UL, thp);
	}
}

/*
 * Controls for the alias plugin, the same on both kernels. read() from a
 * pipe copies with uaccess into the reader's own mapping: no cross-alias
 * load. process_vm_writev() to oneself pins the destination and copies
 * into it through the kernel's mapping, which the process then reads
 * through its own: kernel->user loads.
 */
#define CONTROL_LEN	(16 * FL_PAGE)

static unsigned char *control_buf(struct __test_metadata *_metadata)
{
	unsigned char *p = mmap(NULL, CONTROL_LEN, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
				-1, 0);

	if (p == MAP_FAILED)
		return NULL;
	fl_alias_reset();
	fl_alias_tag(p, CONTROL_LEN, true);
	return p;
}

/*
 * A control of the alias plugin, the same on both kernels: read() from a
 * pipe into a tagged buffer copies with uaccess: no cross-alias load.
 */
TEST(alias_control_pipe_read)
{
	unsigned char *src, *dst;
	int p[2];

	FL_NEED_PLUGIN();
	src = malloc(CONTROL_LEN);
	ASSERT_TRUE(src != NULL);
	dst = control_buf(_metadata);
	ASSERT_TRUE(dst != NULL);
	ASSERT_EQ(0, pipe(p));
	fl_fill(src, CONTROL_LEN, 0, 71);
	fl_alias_open("fuse_bufs/alias_control_pipe_read", "zero");
	for (size_t off = 0; off < CONTROL_LEN; off += FL_PAGE) {
		ASSERT_EQ((ssize_t)FL_PAGE, write(p[1], src + off, FL_PAGE));
		ASSERT_EQ((ssize_t)FL_PAGE, read(p[0], dst + off, FL_PAGE));
	}
	ASSERT_EQ(-1, fl_check(dst, CONTROL_LEN, 0, 71));
	fl_alias_close();
	fl_alias_tag(dst, CONTROL_LEN, false);
}

/*
 * A control of the alias plugin, the same on both kernels:
 * process_vm_writev() to oneself copies through the kernel's mapping of the
 * pinned destination: kernel->user loads.
 */
TEST(alias_control_process_vm_writev_to_self)
{
	unsigned char *src, *dst;
	struct iovec local, remote;

	FL_NEED_PLUGIN();
	src = malloc(CONTROL_LEN);
	ASSERT_TRUE(src != NULL);
	dst = control_buf(_metadata);
	ASSERT_TRUE(dst != NULL);
	fl_fill(src, CONTROL_LEN, 0, 72);
	local = (struct iovec){ src, CONTROL_LEN };
	remote = (struct iovec){ dst, CONTROL_LEN };
	fl_alias_open("fuse_bufs/alias_control_process_vm_writev_to_self",
		      "nonzero");
	ASSERT_EQ((ssize_t)CONTROL_LEN, process_vm_writev(getpid(), &local, 1,
						 &remote, 1, 0))
		TH_LOG("process_vm_writev: %s", strerror(errno));
	ASSERT_EQ(-1, fl_check(dst, CONTROL_LEN, 0, 72));
	fl_alias_close();
	fl_alias_tag(dst, CONTROL_LEN, false);
}

TEST_HARNESS_MAIN
