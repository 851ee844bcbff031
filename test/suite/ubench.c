// SPDX-License-Identifier: GPL-2.0
/*
 * ubench: the user side of test/kmod/uaccess_bench (uaccess_bench.ko).
 *
 *   ubench [harness options]   the module's tests (kselftest harness, TAP):
 *                              every mode moves the right bytes, bad input
 *                              gets -EFAULT/-EINVAL, and the kernel thread
 *                              survives a caller that is signalled, killed
 *                              or unmaps its buffer while it waits
 *   ubench bench               ns per byte of each mode from 64 B to 1 MiB,
 *                              read (kernel -> user) and write (user ->
 *                              kernel), median of 3 rounds, with the
 *                              ratio to copy_{to,from}_user(); one line
 *                              "BENCH ubench ..." per point, and a TAP line
 *                              per point whose data was verified
 *
 * Under the cache model (FUSELAB_PLUGIN=cache) each point runs one round,
 * a window of its own, ubench/DIR/MODE/SIZE, whose counts the plugin logs.
 *
 * Under QEMU -icount shift=0 the guest's clock advances one nanosecond per
 * instruction: the lab runs the bench that way to count instructions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "../kmod/uaccess_bench/uaccess_bench.h"

/* the cache model's windows (fl_plugin.c, in libfuselab.a; fuselab.h) */
void fl_alias_open(const char *name, const char *expect);
void fl_alias_close(void);

#define MODULE_PATH	"/lib/fuselab/uaccess_bench.ko"
#define DEV_PATH	"/dev/uaccess_bench"
#define PAGE		4096u
/* The caller's buffer: UAB_MAX_LEN plus a page on each side. */
#define BUF_LEN		(UAB_MAX_LEN + 2 * PAGE)

static const char *const mode_name[UAB_NR_MODES] = {
	[UAB_USER] = "user", [UAB_GUP] = "gup",
	[UAB_KTHREAD] = "kthread", [UAB_ITER] = "iter",
};

/* Open the device, loading the module first if needed; -errno on failure. */
static int ub_open(void)
{
	int fd = open(DEV_PATH, O_RDWR | O_CLOEXEC), mfd;

	if (fd >= 0 || errno != ENOENT)
		return fd < 0 ? -errno : fd;
	mfd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	if (mfd < 0)
		return -ENOENT;
	if (syscall(SYS_finit_module, mfd, "", 0) && errno != EEXIST) {
		int err = -errno;

		close(mfd);
		return err == -ENOENT ? -EIO : err;
	}
	close(mfd);
	fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int ub_ioctl(int fd, unsigned long cmd, uint32_t val)
{
	return ioctl(fd, cmd, &val) ? -errno : 0;
}

static void *ub_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void ub_fill(unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = uab_pattern(i);
}

/* Offset of the first byte of @p that is not the pattern, or -1. */
static long ub_check(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != uab_pattern(i))
			return i;
	return -1;
}

/* ------------------------------------------------------------------ tests */

FIXTURE(ub) {
	int fd;
	unsigned char *buf;	/* BUF_LEN bytes, populated */
};

FIXTURE_VARIANT(ub) {
	enum uab_mode mode;
};

FIXTURE_VARIANT_ADD(ub, user) { .mode = UAB_USER };
FIXTURE_VARIANT_ADD(ub, gup) { .mode = UAB_GUP };
FIXTURE_VARIANT_ADD(ub, kthread) { .mode = UAB_KTHREAD };
FIXTURE_VARIANT_ADD(ub, iter) { .mode = UAB_ITER };

FIXTURE_SETUP(ub)
{
	self->buf = NULL;
	self->fd = ub_open();
	if (self->fd == -ENOENT)
		SKIP(return, "no %s (kernel without modules)", MODULE_PATH);
	ASSERT_LE(0, self->fd) TH_LOG("%s: %s", DEV_PATH, strerror(-self->fd));
	ASSERT_EQ(0, ub_ioctl(self->fd, UAB_SET_MODE, variant->mode | UAB_VERIFY));
	self->buf = ub_map(BUF_LEN);
	ASSERT_TRUE(self->buf != NULL);
}

FIXTURE_TEARDOWN(ub)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->buf)
		munmap(self->buf, BUF_LEN);
}

/* Sizes and offsets that cross pages in every way, up to the largest. */
static const struct { size_t off, len; } shapes[] = {
	{ 0, 1 }, { 5, 64 }, { 0, PAGE }, { PAGE - 3, 7 }, { 100, PAGE },
	{ 17, 3 * PAGE + 5 }, { 0, 65536 }, { PAGE / 2, UAB_MAX_LEN - PAGE },
	{ 0, UAB_MAX_LEN },
};

/*
 * 1 B to 1 MiB at offsets that cross pages every way: the pattern arrives,
 * the bytes before and after are untouched.
 */
TEST_F(ub, read_fills_the_buffer_and_nothing_around_it)
{
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		unsigned char *p = self->buf + PAGE + shapes[i].off;
		size_t len = shapes[i].len;

		memset(self->buf, 0xa5, BUF_LEN);
		ASSERT_EQ((ssize_t)len, read(self->fd, p, len))
			TH_LOG("%zu bytes at +%zu: %s", len, shapes[i].off,
			       strerror(errno));
		ASSERT_EQ(-1, ub_check(p, len))
			TH_LOG("%zu bytes at +%zu: byte %ld differs", len,
			       shapes[i].off, ub_check(p, len));
		ASSERT_EQ(0xa5, p[-1]);
		ASSERT_EQ(0xa5, p[len]);
	}
}

/* The same shapes written arrive; one wrong last byte gets EIO. */
TEST_F(ub, write_takes_the_bytes_and_checks_them)
{
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		unsigned char *p = self->buf + PAGE + shapes[i].off;
		size_t len = shapes[i].len;

		ub_fill(p, len);
		ASSERT_EQ((ssize_t)len, write(self->fd, p, len))
			TH_LOG("%zu bytes at +%zu: %s", len, shapes[i].off,
			       strerror(errno));
		/* the module's check is live: a wrong last byte is seen */
		p[len - 1] ^= 1;
		ASSERT_EQ(-1, write(self->fd, p, len));
		ASSERT_EQ(EIO, errno);
	}
}

/*
 * NULL, read-only, PROT_NONE, kernel addresses: EFAULT; a buffer half
 * unmapped: a short count, then EFAULT; the device still works.
 */
TEST_F(ub, bad_pointers_get_efault)
{
	unsigned char *ro = mmap(NULL, PAGE, PROT_READ,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *none = mmap(NULL, PAGE, PROT_NONE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* the top of the address space is the kernel's, on every arch */
	void *kern = (void *)(uintptr_t)-(intptr_t)(16 * PAGE);
	void *volatile null = NULL;	/* hidden from the compiler */

	ASSERT_TRUE(ro != MAP_FAILED);
	ASSERT_TRUE(none != MAP_FAILED);
	ASSERT_EQ(-1, read(self->fd, null, PAGE));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, read(self->fd, ro, PAGE));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, read(self->fd, kern, PAGE));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, write(self->fd, none, PAGE));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, write(self->fd, kern, PAGE));
	ASSERT_EQ(EFAULT, errno);
	munmap(ro, PAGE);
	munmap(none, PAGE);
	/* a buffer whose second half is gone: a short count, then -EFAULT */
	ASSERT_EQ(0, munmap(self->buf + 2 * PAGE, PAGE));
	ASSERT_LT(0, read(self->fd, self->buf + PAGE, 2 * PAGE));
	ASSERT_EQ(-1, read(self->fd, self->buf + 2 * PAGE, PAGE));
	ASSERT_EQ(EFAULT, errno);
	/* and the device still works */
	ASSERT_EQ((ssize_t)PAGE, read(self->fd, self->buf + 4 * PAGE, PAGE));
}

/*
 * 1 MiB + 1: EINVAL; an unknown mode or a delay over 10 s: EINVAL; an
 * unknown ioctl: ENOTTY.
 */
TEST_F(ub, bad_sizes_and_modes_get_einval)
{
	ASSERT_EQ(-1, read(self->fd, self->buf, UAB_MAX_LEN + 1));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, write(self->fd, self->buf, UAB_MAX_LEN + 1));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(0, read(self->fd, self->buf, 0));
	ASSERT_EQ(-EINVAL, ub_ioctl(self->fd, UAB_SET_MODE, UAB_NR_MODES));
	ASSERT_EQ(-EINVAL, ub_ioctl(self->fd, UAB_SET_DELAY, UAB_MAX_DELAY_MS + 1));
	ASSERT_EQ(-ENOTTY, ub_ioctl(self->fd, _IO('U', 99), 0));
	ASSERT_EQ(-1, ioctl(self->fd, UAB_SET_MODE, NULL));
	ASSERT_EQ(EFAULT, errno);
}

/* The kernel thread's races: only the kthread variant has them. */
static void on_alarm(int sig)
{
}

/*
 * A signal while the worker holds the request gets EINTR; the abandoned copy
 * still lands in the live buffer.
 */
TEST_F(ub, signal_while_the_worker_waits_gets_eintr)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct itimerspec its = { .it_value = { 0, 100 * 1000 * 1000 } };
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL,
				.sigev_signo = SIGALRM };
	timer_t t;

	if (variant->mode != UAB_KTHREAD)
		SKIP(return, "the caller only sleeps in the kthread mode");
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	ASSERT_EQ(0, ub_ioctl(self->fd, UAB_SET_DELAY, 500));
	ASSERT_EQ(0, timer_create(CLOCK_MONOTONIC, &sev, &t));
	ASSERT_EQ(0, timer_settime(t, 0, &its, NULL));
	ASSERT_EQ(-1, read(self->fd, self->buf, UAB_MAX_LEN));
	ASSERT_EQ(EINTR, errno);
	timer_delete(t);
	/*
	 * The abandoned copy still lands in the live buffer: the worker is
	 * one thread serving requests in order, so once a later request is
	 * done, so is that one.
	 */
	ASSERT_EQ(0, ub_ioctl(self->fd, UAB_SET_DELAY, 0));
	ASSERT_EQ((ssize_t)PAGE, read(self->fd, self->buf + UAB_MAX_LEN, PAGE));
	ASSERT_EQ(-1, ub_check(self->buf, UAB_MAX_LEN));
}

/*
 * SIGKILL of a caller whose request the worker holds: the worker copies into
 * the dead caller's pinned mm and then serves the next caller.
 */
TEST_F(ub, caller_killed_while_the_worker_waits)
{
	pid_t pid;
	int status;

	if (variant->mode != UAB_KTHREAD)
		SKIP(return, "the caller only sleeps in the kthread mode");
	ASSERT_EQ(0, ub_ioctl(self->fd, UAB_SET_DELAY, 300));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* the child's own copy of the buffer, gone when it dies */
		ssize_t n = read(self->fd, self->buf, UAB_MAX_LEN);

		_exit(n < 0 ? 2 : 3);
	}
	usleep(100 * 1000);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* the worker copies into the dead child's mm, then serves us */
	ASSERT_EQ(0, ub_ioctl(self->fd, UAB_SET_DELAY, 0));
	ASSERT_EQ((ssize_t)PAGE, read(self->fd, self->buf, PAGE));
	ASSERT_EQ(-1, ub_check(self->buf, PAGE));
}

struct unmapper {
	void *p;
	size_t len;
};

static void *unmap_later(void *arg)
{
	struct unmapper *u = arg;

	usleep(100 * 1000);
	munmap(u->p, u->len);
	return NULL;
}

/* Another thread unmaps the buffer meanwhile: EFAULT, no oops. */
TEST_F(ub, buffer_unmapped_while_the_worker_waits_gets_efault)
{
	struct unmapper u = { self->buf, BUF_LEN };
	pthread_t thr;

	if (variant->mode != UAB_KTHREAD)
		SKIP(return, "the caller only sleeps in the kthread mode");
	ASSERT_EQ(0, ub_ioctl(self->fd, UAB_SET_DELAY, 300));
	ASSERT_EQ(0, pthread_create(&thr, NULL, unmap_later, &u));
	ASSERT_EQ(-1, read(self->fd, self->buf + PAGE, UAB_MAX_LEN));
	ASSERT_EQ(EFAULT, errno);
	pthread_join(thr, NULL);
	self->buf = NULL;
}

/* ------------------------------------------------------------------ bench */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#define MAX_ROUNDS	9

/* ns for @calls transfers of @len bytes each; 0 on error (errno set). */
static uint64_t bench_one(int fd, unsigned char *buf, size_t len,
			  unsigned int calls, bool to_user)
{
	uint64_t t0 = now_ns();

	for (unsigned int i = 0; i < calls; i++) {
		ssize_t n = to_user ? read(fd, buf, len) : write(fd, buf, len);

		if (n != (ssize_t)len) {
			if (n >= 0)
				errno = EIO;
			return 0;
		}
	}
	return now_ns() - t0;
}

static int bench(int rounds)
{
	static const size_t sizes[] = {
		64, 256, 1024, 4096, 16384, 65536, 262144, 1048576,
	};
	const unsigned int nsizes = sizeof(sizes) / sizeof(sizes[0]);
	unsigned char *buf = ub_map(UAB_MAX_LEN);
	double floor_ns[2][8];
	int fd = ub_open(), n = 0, failed = 0;
	const char *plugin = getenv("FUSELAB_PLUGIN");
	bool windows = plugin && !strcmp(plugin, "cache");

	if (fd < 0 || !buf) {
		printf("1..0 # SKIP %s: %s\n", fd < 0 ? DEV_PATH : "mmap",
		       strerror(fd < 0 ? -fd : errno));
		return fd == -ENOENT ? 0 : 1;
	}
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 3;
	if (windows)
		rounds = 1;
	printf("TAP version 13\n1..%u\n", 2 * UAB_NR_MODES * nsizes);
	for (int dir = 0; dir < 2; dir++) {
		bool to_user = dir == 0;

		for (int mode = 0; mode < UAB_NR_MODES; mode++) {
			for (unsigned int s = 0; s < nsizes; s++) {
				size_t len = sizes[s];
				unsigned int calls = (4u << 20) / len;
				uint64_t t[MAX_ROUNDS];
				double ns;
				long bad;
				int r;

				if (calls < 16)
					calls = 16;
				if (calls > 4096)
					calls = 4096;
				/* one verified transfer, which also warms up */
				ioctl(fd, UAB_SET_MODE, &(uint32_t){ mode | UAB_VERIFY });
				ub_fill(buf, len);
				bad = (to_user ? read(fd, buf, len) :
				       write(fd, buf, len)) != (ssize_t)len;
				if (!bad && to_user)
					bad = ub_check(buf, len) >= 0;
				ioctl(fd, UAB_SET_MODE, &(uint32_t){ mode });
				for (r = 0; r < rounds && !bad; r++) {
					char window[64];

					snprintf(window, sizeof(window), "ubench/%s/%s/%zu",
						 to_user ? "read" : "write",
						 mode_name[mode], len);
					if (windows)
						fl_alias_open(window, "timing");
					t[r] = bench_one(fd, buf, len, calls, to_user);
					if (windows)
						fl_alias_close();
					bad = !t[r];
				}
				n++;
				if (bad) {
					failed++;
					printf("not ok %d - %s/%s/%zu\n# %s\n", n,
					       to_user ? "read" : "write",
					       mode_name[mode], len, strerror(errno));
					continue;
				}
				qsort(t, rounds, sizeof(t[0]), cmp_u64);
				ns = (double)t[rounds / 2] / ((double)calls * len);
				if (mode == UAB_USER)
					floor_ns[dir][s] = ns;
				printf("BENCH ubench dir=%s mode=%s size=%zu calls=%u rounds=%d ns_per_byte=%.4f ratio=%.3f\n",
				       to_user ? "read" : "write", mode_name[mode],
				       len, calls, rounds, ns, ns / floor_ns[dir][s]);
				printf("ok %d - %s/%s/%zu\n# measured: %.4f ns/byte, %.3f x copy_%s_user\n",
				       n, to_user ? "read" : "write",
				       mode_name[mode], len, ns,
				       ns / floor_ns[dir][s], to_user ? "to" : "from");
				fflush(stdout);
			}
		}
	}
	close(fd);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "bench"))
		return bench(3);
	return test_harness_run(argc, argv);
}
