// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's buffer is an mmap of a file on its own mount
 * (Documentation/filesystems/fuse/fuse.rst, "Scenario 2"): copying a reply
 * out of it, or a request into it, faults on a page of the filesystem
 * itself. That may block, but it must stay abortable, and after an abort
 * a fresh mount works.
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

/*
 * Kamikaze reply: the daemon answers a READ of f0 from a buffer that is an
 * mmap of f0 itself. Copying the reply faults on the very page that the
 * READ is filling, which is locked until the reply arrives.
 */
struct kamikaze {
	unsigned char *map;	/* mmap of f0, never touched by the test */
	atomic_int armed;
	atomic_int done;
	int err;		/* errno of the daemon's writev */
};

static bool kamikaze_hook(struct fl_fs *fs, struct fl_buf *b,
			  const struct fuse_in_header *in, void *arg)
{
	const struct fuse_read_in *r = (const void *)(in + 1);
	struct kamikaze *k = arg;
	struct fuse_out_header oh;
	struct iovec iov[2];
	ssize_t n;

	if (in->opcode != FUSE_READ || in->nodeid != 2 ||
	    !atomic_exchange(&k->armed, 0))
		return false;
	oh.unique = in->unique;
	oh.error = 0;
	oh.len = sizeof(oh) + r->size;
	iov[0].iov_base = &oh;
	iov[0].iov_len = sizeof(oh);
	iov[1].iov_base = k->map;
	iov[1].iov_len = r->size;
	n = writev(fs->fd, iov, 2);
	k->err = n < 0 ? errno : 0;
	atomic_store(&k->done, 1);
	return true;
}

static int client_read_f0(struct fl_fs *fs, void *arg)
{
	char path[96], buf[FL_PAGE];
	int fd;

	(void)arg;
	fl_path(fs, 0, path, sizeof(path));
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return errno;
	if (read(fd, buf, sizeof(buf)) < 0)
		return errno;
	return 0;
}

/* After an abort, a fresh mount must work: the system recovered. */
static void check_recovery(struct __test_metadata *_metadata)
{
	struct fl_config cfg = { .max_pages = 32, .nthreads = 1 };
	struct fl_fs *fs = fl_mount(&cfg);
	unsigned char b[5000];
	char path[96];
	int fd;

	ASSERT_TRUE(fs != NULL) TH_LOG("remount after abort: %s", strerror(errno));
	ASSERT_EQ(0, fl_start(fs));
	fl_path(fs, 3, path, sizeof(path));
	fd = open(path, O_RDWR);
	ASSERT_LE(0, fd);
	fl_fill(b, sizeof(b), 0, 3);
	ASSERT_EQ((ssize_t)sizeof(b), pwrite(fd, b, sizeof(b), 0));
	memset(b, 0, sizeof(b));
	ASSERT_EQ((ssize_t)sizeof(b), pread(fd, b, sizeof(b), 0));
	ASSERT_EQ(-1, fl_check(b, sizeof(b), 0, 3));
	close(fd);
	fl_destroy(fs);
}

FIXTURE(mmapself) {
	struct fl_fs *fs;
};

FIXTURE_SETUP(mmapself)
{
	struct fl_config cfg = { .max_pages = 32, .nthreads = 1 };

	self->fs = fl_mount(&cfg);
	ASSERT_TRUE(self->fs != NULL) TH_LOG("mount: %s", strerror(errno));
	for (unsigned int i = 0; i < 2; i++) {
		self->fs->files[i].size = 1u << 20;
		fl_fill(self->fs->files[i].data, 1u << 20, 0, 40 + i);
	}
}

FIXTURE_TEARDOWN(mmapself)
{
	if (self->fs)
		fl_destroy(self->fs);
}

/*
 * fuse.rst's "Scenario 2": the daemon answers the READ of f0 from an mmap of
 * f0 itself. It may deadlock (it does on 7.2); then writing 1 to
 * /sys/fs/fuse/connections/N/abort must end both the client's read and the
 * daemon's writev within 10 s, waiting must be 0, and a new mount must work.
 */
TEST_F_TIMEOUT(mmapself, reply_from_mmap_of_same_file_is_abortable, 60)
{
	struct kamikaze k = { 0 };
	char path[96];
	pid_t client;
	int fd, rc;
	long w;

	self->fs->hook = kamikaze_hook;
	self->fs->hook_arg = &k;
	ASSERT_EQ(0, fl_start(self->fs));
	fl_path(self->fs, 0, path, sizeof(path));
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	k.map = mmap(NULL, FL_PAGE * 32, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(k.map != MAP_FAILED);
	close(fd);
	atomic_store(&k.armed, 1);

	client = fl_spawn(self->fs, client_read_f0, NULL);
	ASSERT_LT(0, client);
	if (fl_still_blocked(client, 2000)) {
		TH_LOG("deadlocked as fuse.rst describes; aborting");
		ASSERT_EQ(0, fl_abort(self->fs));
	} else {
		TH_LOG("did not block");
	}
	rc = fl_wait(client, 10000);
	ASSERT_NE(-1, rc) TH_LOG("the client hangs even after abort");
	for (int t = 0; t < 500 && !atomic_load(&k.done); t++)
		fl_sleep_ms(10);
	ASSERT_EQ(1, atomic_load(&k.done))
		TH_LOG("the daemon's write hangs even after abort");
	TH_LOG("client errno %d, daemon writev errno %d", rc, k.err);
	w = fl_waiting(self->fs);
	ASSERT_TRUE(w == 0 || w == -1) TH_LOG("waiting = %ld", w);
	munmap(k.map, FL_PAGE * 32);
	fl_destroy(self->fs);
	self->fs = NULL;
	check_recovery(_metadata);
}

/*
 * The daemon reads the next request into an mmap of f1 on its own mount.
 * Faulting that buffer in needs a READ of f1 which, with a single daemon
 * thread, nobody serves: it may block but must stay abortable. With a
 * second serving thread the READ is served and the request arrives.
 */
struct kamikaze_read {
	struct fl_fs *fs;
	unsigned char *map;
	size_t len;
	ssize_t n;
	int err;
	atomic_int done;
};

static void *kamikaze_read_thread(void *arg)
{
	struct kamikaze_read *k = arg;

	k->n = read(k->fs->fd, k->map, k->len);
	k->err = k->n < 0 ? errno : 0;
	atomic_store(&k->done, 1);
	return NULL;
}

/*
 * Serve a STATFS, then end the serving thread. Stopping it from the test
 * after its last expected reply raced with its loop: woken by that reply,
 * the test could raise fs->stop before the thread went back to read(), and
 * the thread then left without serving the next request (seen on ARMv5,
 * one CPU, where the woken test runs first).
 */
static bool stop_after_statfs(struct fl_fs *fs, struct fl_buf *buf,
			      const struct fuse_in_header *in, void *arg)
{
	if (in->opcode == FUSE_STATFS)
		atomic_store(&fs->stop, 1);
	return false;
}

/* statfs() once the test writes a byte to the gate pipe (@arg: its fds). */
static int client_statfs_gated(struct fl_fs *fs, void *arg)
{
	int *gate = arg;
	struct statfs s;
	char c;

	close(gate[1]);
	if (read(gate[0], &c, 1) != 1)
		return EPIPE;
	return statfs(fs->mnt, &s) ? errno : 0;
}

static void read_into_mmap(struct __test_metadata *_metadata,
			   FIXTURE_DATA(mmapself) *self, bool second_thread)
{
	struct kamikaze_read k = { .fs = self->fs };
	struct statfs sfs;
	char path[96];
	pthread_t t;
	pid_t client;
	int fd, rc, gate[2];
	bool blocked;

	/* one serving thread while the daemon sets up its mapping */
	self->fs->hook = stop_after_statfs;
	ASSERT_EQ(0, fl_start(self->fs));
	TH_LOG("%llu ms: serving thread started", (unsigned long long)fl_now_ms());
	fl_path(self->fs, 1, path, sizeof(path));
	fd = open(path, O_RDWR);
	ASSERT_LE(0, fd);
	k.len = fl_buf_size(self->fs);
	k.map = mmap(NULL, k.len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(k.map != MAP_FAILED);
	close(fd);
	TH_LOG("%llu ms: f1 mapped", (unsigned long long)fl_now_ms());
	/* the serving thread ends after this one */
	ASSERT_EQ(0, statfs(self->fs->mnt, &sfs));
	TH_LOG("%llu ms: statfs served", (unsigned long long)fl_now_ms());
	fl_join(self->fs);
	self->fs->hook = NULL;
	atomic_store(&self->fs->stop, 0);
	TH_LOG("%llu ms: serving thread ended", (unsigned long long)fl_now_ms());

	/*
	 * Fork the client now and let it go later through a pipe.  Forked
	 * while the kamikaze reader was in its fault path, either variant
	 * hung now and then on ARMv5 until the harness' timeout: fork()
	 * waits for this mm's mmap_lock for writing, and a waiting writer
	 * holds back the serving thread's own faults.
	 */
	ASSERT_EQ(0, pipe(gate));
	client = fl_spawn(self->fs, client_statfs_gated, gate);
	ASSERT_LT(0, client);
	close(gate[0]);
	TH_LOG("%llu ms: client forked", (unsigned long long)fl_now_ms());

	/*
	 * The kamikaze reader waits first, so that the next request wakes it
	 * rather than a serving thread started after it.
	 */
	ASSERT_EQ(0, pthread_create(&t, NULL, kamikaze_read_thread, &k));
	fl_sleep_ms(200);
	if (second_thread) {
		ASSERT_EQ(0, fl_start(self->fs));
		fl_sleep_ms(200);
	}
	TH_LOG("%llu ms: reader%s waiting, releasing the client",
	       (unsigned long long)fl_now_ms(), second_thread ? " and server" : "");
	ASSERT_EQ(1, write(gate[1], "x", 1));
	close(gate[1]);
	for (int i = 0; i < 300 && !atomic_load(&k.done); i++)
		fl_sleep_ms(10);
	blocked = !atomic_load(&k.done);
	TH_LOG("%llu ms: read(2) %s", (unsigned long long)fl_now_ms(),
	       blocked ? "still blocked" : "returned");
	if (blocked) {
		TH_LOG("read(2) into the mmap blocked; aborting");
		ASSERT_EQ(0, fl_abort(self->fs));
	}
	for (int i = 0; i < 1000 && !atomic_load(&k.done); i++)
		fl_sleep_ms(10);
	ASSERT_EQ(1, atomic_load(&k.done))
		TH_LOG("read(2) hangs even after abort");
	pthread_join(t, NULL);
	TH_LOG("read returned %zd, errno %d", k.n, k.err);
	if (second_thread) {
		/* the other thread served the fault: the request arrived */
		ASSERT_FALSE(blocked);
		ASSERT_LT(0, k.n);
		ASSERT_EQ((uint32_t)FUSE_STATFS,
			  ((struct fuse_in_header *)k.map)->opcode);
		/* answer it so the client completes */
		struct fl_buf b;

		ASSERT_EQ(0, fl_buf_init(self->fs, &b));
		ASSERT_EQ(0, fl_handle(self->fs, &b, (void *)k.map));
		fl_buf_free(&b);
		ASSERT_EQ(0, fl_wait(client, 10000));
	} else {
		rc = fl_wait(client, 10000);
		ASSERT_NE(-1, rc) TH_LOG("the client hangs after abort");
		if (blocked)
			ASSERT_GT(0, k.n);
	}
	munmap(k.map, k.len);
	fl_destroy(self->fs);
	self->fs = NULL;
	check_recovery(_metadata);
}

/*
 * The daemon reads the next request into an mmap of f1 on its own mount with
 * no other serving thread: faulting the buffer needs a READ nobody serves;
 * after abort, read(2) returns an error, the client ends, a new mount works.
 */
TEST_F_TIMEOUT(mmapself, read_into_mmap_single_thread_is_abortable, 60)
{
	read_into_mmap(_metadata, self, false);
}

/*
 * The same with a second serving thread: the fault's READ is served, the
 * request lands in the mmap'd buffer without an abort, and the client's
 * statfs completes.
 */
TEST_F_TIMEOUT(mmapself, read_into_mmap_second_thread_serves_fault, 60)
{
	read_into_mmap(_metadata, self, true);
}

TEST_HARNESS_MAIN
