// SPDX-License-Identifier: GPL-2.0
/*
 * fuse_kio: direct I/O from and into kernel memory (issue 16, point 3).
 *
 * A test module (test/kmod/kio) kernel_write()s and kernel_read()s a file
 * of the lab's mount from and into an object of its own slab cache, which
 * has no usercopy region. The mount answers every OPEN with
 * FOPEN_DIRECT_IO, so fs/fuse/file.c (fuse_get_user_pages()) puts the
 * object's kernel address itself into the request's arguments, and the
 * /dev/fuse copy moves the daemon's bytes straight from and into it.
 *
 * Stock copies through kmap() + memcpy() and never checks the object.
 * A copy that runs check_object_size() on it (copy_to_iter(),
 * copy_from_iter() under CONFIG_HARDENED_USERCOPY, which the lab's kernels
 * have) ends in usercopy_abort(): "kernel BUG at mm/usercopy.c", the serving
 * thread dies with the request locked, and the client never gets an answer.
 * The test gives up on it and fails, and so does the runner's
 * kernel_log_clean line.
 *
 * Needs the module: skipped on kernels without modules (x86_64's).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuselab.h"
#include "kselftest_harness.h"
#include "../kmod/kio/kio.h"

#define MODULE_PATH	"/lib/fuselab/kio.ko"
/* a client takes well under a second; one stuck after a BUG is given this */
#define CLIENT_MS	20000

/* 1 byte, a page and some, 64 KiB: each one WRITE or READ (max_pages 32) */
static const unsigned int kio_sizes[] = { 1, 4096 + 13, 64 << 10 };
#define NSIZES		(sizeof(kio_sizes) / sizeof(kio_sizes[0]))

static unsigned int seed_of(unsigned int i, bool daemon)
{
	return 40 + i + (daemon ? 10 : 0);
}

FIXTURE(kio) {
	struct fl_fs *fs;
};

/* /dev/kio exists once the module is loaded: load it the first time. */
static int kio_load(void)
{
	int fd, ret;

	if (!access("/dev/kio", F_OK))
		return 0;
	fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret == -EEXIST ? 0 : ret;
}

FIXTURE_SETUP(kio)
{
	struct fl_config cfg = { .max_pages = 32, .direct_io = true,
				 .nthreads = 1 };
	int ret = kio_load();

	self->fs = NULL;
	if (ret == -ENOENT)
		SKIP(return, "no %s (a kernel without modules: x86_64's lab kernels have none)",
		     MODULE_PATH);
	ASSERT_EQ(0, ret) TH_LOG("finit_module %s: %s", MODULE_PATH,
				 strerror(-ret));
	self->fs = fl_mount(&cfg);
	ASSERT_TRUE(self->fs != NULL) TH_LOG("mount: %s", strerror(errno));
	ASSERT_EQ(0, fl_start(self->fs));
}

FIXTURE_TEARDOWN(kio)
{
	if (self->fs)
		fl_destroy(self->fs);
}

/*
 * One KIO_WRITE or KIO_READ of @len bytes at offset 0 of file @i through
 * the module; returns the file operation's result, or -errno of the ioctl
 * (EBADMSG: the module's own check of its object failed).
 */
static long long kio_op(struct fl_fs *fs, unsigned long cmd, unsigned int i,
			void *buf, unsigned int len)
{
	struct kio_op op = { .len = len, .buf = (uintptr_t)buf };
	char path[96];
	int dev, ret;

	dev = open("/dev/kio", O_RDWR);
	if (dev < 0)
		return -errno;
	fl_path(fs, i, path, sizeof(path));
	op.fd = open(path, O_RDWR);
	ret = op.fd < 0 || ioctl(dev, cmd, &op) ? -errno : 0;
	if (op.fd >= 0)
		close(op.fd);
	close(dev);
	return ret ? ret : op.ret;
}

static unsigned char kio_buf[KIO_MAX_LEN];

/* Write size i's pattern to f<i>, read it back, compare: 0 or 10 + i. */
static int client_write_then_read(struct fl_fs *fs, void *arg)
{
	for (unsigned int i = 0; i < NSIZES; i++) {
		unsigned int len = kio_sizes[i];
		long long n;

		fl_fill(kio_buf, len, 0, seed_of(i, false));
		n = kio_op(fs, KIO_WRITE, i, kio_buf, len);
		if (n != len) {
			fprintf(stderr, "# client: kernel_write() of %u bytes: %lld\n",
				len, n);
			return 10 + i;
		}
		memset(kio_buf, 0, len);
		n = kio_op(fs, KIO_READ, i, kio_buf, len);
		if (n != len || fl_check(kio_buf, len, 0, seed_of(i, false)) != -1) {
			fprintf(stderr, "# client: kernel_read() of %u bytes: %lld, first wrong byte %lld\n",
				len, n, fl_check(kio_buf, len, 0, seed_of(i, false)));
			return 20 + i;
		}
	}
	return 0;
}

/*
 * Ask 100 bytes more than the daemon holds in f<i>: exactly its bytes
 * arrive, and nothing past them (the module checks its poison): 0 or 30 + i.
 */
static int client_read(struct fl_fs *fs, void *arg)
{
	for (unsigned int i = 0; i < NSIZES; i++) {
		unsigned int len = kio_sizes[i];
		long long n, bad;

		memset(kio_buf, 0, len);
		n = kio_op(fs, KIO_READ, i, kio_buf, len + 100);
		bad = fl_check(kio_buf, len, 0, seed_of(i, true));
		if (n != len || bad != -1) {
			fprintf(stderr, "# client: kernel_read() of %u bytes: %lld, first wrong byte %lld\n",
				len + 100, n, bad);
			return 30 + i;
		}
	}
	return 0;
}

/* The client's exit code, or -1 if it is still running after @ms. */
static int reap(pid_t pid, unsigned int ms)
{
	uint64_t end = fl_now_ms() + ms;
	int status;

	do {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 300;
		fl_sleep_ms(20);
	} while (fl_now_ms() < end);
	return -1;
}

/*
 * Wait for the client. After a BUG in the copy the serving thread is dead
 * and the client's request stays locked (FR_LOCKED) for ever: not even an
 * abort ends it, and the client waits uninterruptibly. Abort anyway (it
 * ends any other case), but do not wait on the client for ever.
 */
static int wait_client(struct fl_fs *fs, pid_t pid)
{
	int ret = reap(pid, CLIENT_MS);

	if (ret >= 0)
		return ret;
	fprintf(stderr, "# client still waits after %u ms: aborting the connection\n",
		CLIENT_MS);
	fl_abort(fs);
	if (reap(pid, 3000) < 0)
		fprintf(stderr, "# ... and still after the abort: left behind\n");
	return -1;
}

/* The daemon stored exactly size i's pattern in f<i>. */
static void check_daemon_file(struct __test_metadata *_metadata,
			      struct fl_fs *fs, unsigned int i)
{
	struct fl_file *f = &fs->files[i];
	unsigned int len = kio_sizes[i];

	pthread_mutex_lock(&f->lock);
	EXPECT_EQ(len, f->size) TH_LOG("f%u: size", i);
	EXPECT_EQ(-1, fl_check(f->data, len, 0, seed_of(i, false)))
		TH_LOG("f%u: the daemon got a wrong byte of %u", i, len);
	pthread_mutex_unlock(&f->lock);
}

/*
 * For 1 B, 4 KiB + 13 and 64 KiB, each on its own file: the module's
 * kernel_write() returns the size, the daemon stored exactly the pattern
 * (one WRITE per call, the largest 64 KiB), the module's kernel_read()
 * returns it again byte for byte.
 */
TEST_F_TIMEOUT(kio, kernel_write_and_read_of_a_slab_object, 90)
{
	pid_t pid = fl_spawn(self->fs, client_write_then_read, NULL);

	ASSERT_LT(0, pid);
	ASSERT_EQ(0, wait_client(self->fs, pid))
		TH_LOG("client's result (10+i: write of size i, 20+i: read back, -1: hang; see the kernel log)");
	for (unsigned int i = 0; i < NSIZES; i++)
		check_daemon_file(_metadata, self->fs, i);
	/* direct I/O: one WRITE per call, the largest carried 64 KiB */
	EXPECT_EQ(NSIZES, atomic_load(&self->fs->st.writes));
	EXPECT_EQ(64u << 10, atomic_load(&self->fs->st.max_write));
}

/*
 * The daemon holds other patterns of those sizes; a kernel_read() of 100
 * bytes more returns exactly the daemon's bytes, nothing written past them;
 * one READ per call.
 */
TEST_F_TIMEOUT(kio, kernel_read_into_a_slab_object_gets_the_daemons_bytes, 90)
{
	pid_t pid;

	for (unsigned int i = 0; i < NSIZES; i++) {
		struct fl_file *f = &self->fs->files[i];

		pthread_mutex_lock(&f->lock);
		f->size = kio_sizes[i];
		fl_fill(f->data, f->size, 0, seed_of(i, true));
		pthread_mutex_unlock(&f->lock);
	}
	pid = fl_spawn(self->fs, client_read, NULL);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, wait_client(self->fs, pid))
		TH_LOG("client's result (30+i: read of size i, -1: hang; see the kernel log)");
	/* direct I/O: each read went to the daemon, none from a cache */
	EXPECT_EQ(NSIZES, atomic_load(&self->fs->st.reads));
}

TEST_HARNESS_MAIN
