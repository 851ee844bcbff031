// SPDX-License-Identifier: GPL-2.0
/*
 * Group 3: a hostile daemon. Bad buffers on read(2) and write(2) of
 * /dev/fuse get -EFAULT or -EINVAL; whatever the daemon does, the process
 * that made the request gets an answer (an error or the real result), never
 * a hang, and the connection's "waiting" count returns to 0.
 *
 * The test thread is the daemon here: no serving threads.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <sys/statfs.h>

#include "fuselab.h"
#include "kselftest_harness.h"

/* An address in the kernel half that access_ok() must refuse. */
#if defined(__x86_64__)
#define KERNEL_ADDR	0xffffffff81000000UL
#elif defined(__aarch64__)
#define KERNEL_ADDR	0xffff800080000000UL
#elif defined(__arm__) || defined(__i386__)
#define KERNEL_ADDR	0xc0008000UL
#elif defined(__sh__)
#define KERNEL_ADDR	0x8c001000UL	/* P1, never user-accessible */
#elif defined(__mips__)
#define KERNEL_ADDR	0x80001000UL
#else
#define KERNEL_ADDR	(~0UL - 0xfffff)
#endif

#define FILE_LEN	(64u << 10)

FIXTURE(hostile) {
	struct fl_fs *fs;
	struct fl_buf b;	/* a good buffer */
	size_t size;		/* what a good read(2) asks for */
	unsigned char *unmapped;
	unsigned char *rdonly;
};

FIXTURE_SETUP(hostile)
{
	struct fl_config cfg = { .max_pages = 32, .direct_io = true };

	self->fs = fl_mount(&cfg);
	ASSERT_TRUE(self->fs != NULL) TH_LOG("mount: %s", strerror(errno));
	ASSERT_EQ(0, fl_buf_init(self->fs, &self->b));
	self->size = fl_buf_size(self->fs);
	self->fs->files[0].size = FILE_LEN;
	fl_fill(self->fs->files[0].data, FILE_LEN, 0, 9);

	self->rdonly = mmap(NULL, self->size, PROT_READ,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(self->rdonly != MAP_FAILED);
	/* last mapping made: nothing reuses the hole before the test */
	self->unmapped = mmap(NULL, self->size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(self->unmapped != MAP_FAILED);
	ASSERT_EQ(0, munmap(self->unmapped, self->size));
}

/* The hole really is a hole (msync fails with ENOMEM on unmapped memory). */
static bool unmapped(void *p, size_t len)
{
	return msync(p, len, MS_ASYNC) == -1 && errno == ENOMEM;
}

FIXTURE_TEARDOWN(hostile)
{
	fl_buf_free(&self->b);
	munmap(self->rdonly, self->size);
	if (self->fs)
		fl_destroy(self->fs);
}

static int client_statfs(struct fl_fs *fs, void *arg)
{
	struct statfs s;

	(void)arg;
	return statfs(fs->mnt, &s) ? errno : 0;
}

/* Direct I/O of FILE_LEN bytes on f0: a READ or a WRITE with payload. */
static int client_rw(struct fl_fs *fs, void *arg)
{
	static unsigned char buf[FILE_LEN];
	bool write = arg != NULL;
	char path[96];
	ssize_t n;
	int fd;

	fl_path(fs, 0, path, sizeof(path));
	fd = open(path, O_RDWR);
	if (fd < 0)
		return errno;
	fl_fill(buf, sizeof(buf), 0, 9);
	n = write ? pwrite(fd, buf, sizeof(buf), 0) :
		    pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return errno;
	if (n != sizeof(buf) || fl_check(buf, sizeof(buf), 0, 9) != -1)
		return 200;
	return 0;
}

static bool readable(struct fl_fs *fs, int ms)
{
	struct pollfd p = { .fd = fs->fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* Spawn the client and wait until its request is queued for us. */
static pid_t start_client(struct __test_metadata *_metadata,
			  FIXTURE_DATA(hostile) *self, fl_client_fn fn,
			  void *arg, uint32_t opcode)
{
	pid_t pid = fl_spawn(self->fs, fn, arg);

	ASSERT_LT(0, pid);
	/* the client's OPEN (if any) is served normally */
	for (;;) {
		const struct fuse_in_header *in;

		ASSERT_TRUE(readable(self->fs, 5000))
			TH_LOG("no request from the client");
		if (opcode == FUSE_STATFS)
			break;
		/* serve what comes first (LOOKUP, OPEN) until @opcode */
		ASSERT_LT(0, fl_recv(self->fs, &self->b, &in));
		if (in->opcode == opcode) {
			memcpy(self->b.lin, in, in->len);
			return pid;
		}
		ASSERT_EQ(0, fl_handle(self->fs, &self->b, in));
	}
	return pid;
}

/*
 * Keep serving (a well-behaved daemon again) until the client exits; return
 * its exit code (an errno, 0 for success) or -1 if it still waits after
 * 10 s. A request the daemon has taken cannot be killed from the client
 * side, so a hung client is released by aborting the connection.
 */
static int finish(FIXTURE_DATA(hostile) *self, pid_t pid)
{
	uint64_t end = fl_now_ms() + 10000;

	while (fl_now_ms() < end) {
		const struct fuse_in_header *in;
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 300;
		if (readable(self->fs, 10) &&
		    fl_recv(self->fs, &self->b, &in) > 0)
			fl_handle(self->fs, &self->b, in);
	}
	fl_abort(self->fs);
	fl_wait(pid, 5000);
	return -1;
}

/*
 * The client is gone; its RELEASE may still be queued. A daemon that keeps
 * serving sees "waiting" return to 0.
 */
static void check_waiting_drains(struct __test_metadata *_metadata,
				 FIXTURE_DATA(hostile) *self)
{
	uint64_t end = fl_now_ms() + 3000;
	long w = -1;

	while (fl_now_ms() < end) {
		const struct fuse_in_header *in;

		w = fl_waiting(self->fs);
		if (w == 0)
			break;
		if (readable(self->fs, 10) &&
		    fl_recv(self->fs, &self->b, &in) > 0)
			fl_handle(self->fs, &self->b, in);
	}
	ASSERT_EQ(0, w) TH_LOG("connection still counts waiting requests");
}

/* A read(2) that fails, then the client's fate. */
static void bad_read(struct __test_metadata *_metadata,
		     FIXTURE_DATA(hostile) *self, void *buf, size_t len,
		     int want_errno, int want_client)
{
	pid_t pid = start_client(_metadata, self, client_statfs, NULL,
				 FUSE_STATFS);
	ssize_t n;

	n = read(self->fs->fd, buf, len);
	ASSERT_EQ(-1, n) TH_LOG("read(2) into a bad buffer returned %zd", n);
	ASSERT_EQ(want_errno, errno) TH_LOG("read(2) errno %d (%s)", errno,
					    strerror(errno));
	ASSERT_EQ(want_client, finish(self, pid))
		TH_LOG("client's statfs result (errno, -1 = hang)");
	check_waiting_drains(_metadata, self);
}

TEST_F(hostile, read_into_null_gets_efault)
{
	bad_read(_metadata, self, NULL, self->size, EFAULT, EIO);
}

TEST_F(hostile, read_into_unmapped_gets_efault)
{
	ASSERT_TRUE(unmapped(self->unmapped, self->size));
	bad_read(_metadata, self, self->unmapped, self->size, EFAULT, EIO);
}

TEST_F(hostile, read_into_readonly_gets_efault)
{
	bad_read(_metadata, self, self->rdonly, self->size, EFAULT, EIO);
}

/* access_ok() refuses it before the request is taken: it is served later. */
TEST_F(hostile, read_into_kernel_address_gets_efault)
{
	bad_read(_metadata, self, (void *)KERNEL_ADDR, self->size, EFAULT, 0);
}

TEST_F(hostile, read_with_short_buffer_gets_einval)
{
	bad_read(_metadata, self, self->b.base, FUSE_MIN_READ_BUFFER / 2,
		 EINVAL, 0);
}

/* Header lands in a good piece, the WRITE payload in an unmapped one. */
TEST_F(hostile, readv_payload_into_unmapped_gets_efault)
{
	struct iovec iov[2] = {
		{ self->b.base, sizeof(struct fuse_in_header) +
				sizeof(struct fuse_write_in) },
		{ self->unmapped, self->size },
	};
	const struct fuse_in_header *in;
	pid_t pid = fl_spawn(self->fs, client_rw, (void *)1);
	uint32_t op;

	ASSERT_LT(0, pid);
	/* LOOKUP and OPEN are served; the WRITE comes next */
	do {
		ASSERT_TRUE(readable(self->fs, 5000));
		ASSERT_LT(0, fl_recv(self->fs, &self->b, &in));
		op = in->opcode;	/* the reply overwrites the request */
		ASSERT_NE((uint32_t)FUSE_WRITE, op);
		ASSERT_EQ(0, fl_handle(self->fs, &self->b, in));
	} while (op != FUSE_OPEN);
	ASSERT_TRUE(readable(self->fs, 5000));
	ASSERT_TRUE(unmapped(self->unmapped, self->size));
	ASSERT_EQ(-1, readv(self->fs->fd, iov, 2));
	ASSERT_EQ(EFAULT, errno) TH_LOG("readv errno %d", errno);
	ASSERT_EQ(EIO, finish(self, pid));
	check_waiting_drains(_metadata, self);
}

/*
 * Receive the client's READ of f0 and reply from a buffer the kernel cannot
 * read at all: the header is not even read, so the request stays in place
 * and a proper reply afterwards reaches the client.
 */
static void bad_reply(struct __test_metadata *_metadata,
		      FIXTURE_DATA(hostile) *self, const struct iovec *iov,
		      int niov, int want_errno)
{
	pid_t pid = start_client(_metadata, self, client_rw, NULL, FUSE_READ);
	struct fuse_in_header *in = (void *)self->b.lin;
	ssize_t n;

	n = writev(self->fs->fd, iov, niov);
	ASSERT_EQ(-1, n) TH_LOG("bad reply accepted: %zd", n);
	ASSERT_EQ(want_errno, errno) TH_LOG("writev errno %d (%s)", errno,
					    strerror(errno));
	ASSERT_EQ(0, fl_handle(self->fs, &self->b, in));
	ASSERT_EQ(0, finish(self, pid))
		TH_LOG("client's read result (errno, -1 = hang)");
	check_waiting_drains(_metadata, self);
}

/* The reply header that a good answer to the READ in b.lin would carry. */
static struct fuse_out_header *good_header(FIXTURE_DATA(hostile) *self,
					   struct fuse_out_header *oh)
{
	struct fuse_in_header *in = (void *)self->b.lin;

	oh->unique = in->unique;
	oh->error = 0;
	oh->len = sizeof(*oh) + FILE_LEN;
	return oh;
}

static unsigned char reply_data[FILE_LEN];

TEST_F(hostile, reply_from_null_gets_efault)
{
	struct iovec iov = { NULL, sizeof(struct fuse_out_header) + FILE_LEN };

	bad_reply(_metadata, self, &iov, 1, EFAULT);
}

TEST_F(hostile, reply_from_kernel_address_gets_efault)
{
	struct iovec iov = { (void *)KERNEL_ADDR,
			     sizeof(struct fuse_out_header) + FILE_LEN };

	bad_reply(_metadata, self, &iov, 1, EFAULT);
}

TEST_F(hostile, reply_payload_from_unmapped_gets_efault)
{
	struct fuse_out_header oh;
	struct iovec iov[2] = {
		{ &oh, sizeof(oh) }, { self->unmapped, FILE_LEN },
	};
	pid_t pid = start_client(_metadata, self, client_rw, NULL, FUSE_READ);

	good_header(self, &oh);
	ASSERT_TRUE(unmapped(self->unmapped, FILE_LEN));
	ASSERT_EQ(-1, writev(self->fs->fd, iov, 2));
	ASSERT_EQ(EFAULT, errno) TH_LOG("writev errno %d", errno);
	/* the request was found and ended with -EIO */
	ASSERT_EQ(-ENOENT, fl_handle(self->fs, &self->b, (void *)self->b.lin));
	ASSERT_EQ(EIO, finish(self, pid))
		TH_LOG("client's read result (errno, -1 = hang)");
	check_waiting_drains(_metadata, self);
}

/* Is @name a function of the running kernel (/proc/kallsyms)? */
static bool kernel_has_function(const char *name)
{
	char line[256], sym[128];
	bool found = false;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*[tT] %127s", sym) == 1 &&
			!strcmp(sym, name);
	fclose(f);
	return found;
}

/*
 * Reply to a direct I/O READ with a payload whose second part is unmapped:
 * when the copy fails, the kernel has already stored half a page into the
 * client's own page through the kernel's mapping.  It must still write that
 * page back (flush_dcache_folio() by fuse_copy_folio(); before folios, as in
 * 6.1, flush_dcache_page() by fuse_copy_page()), or on an aliasing D-cache
 * the kernel's dirty lines can later be evicted over what the client stores
 * to its buffer.  Seen with the function tracer, so only where the flush is
 * a function (arm, mips, parisc, sh...).
 */
TEST_F(hostile, reply_failing_mid_folio_writes_the_folio_back)
{
	bool folios = kernel_has_function("fuse_copy_folio");
	const char *const flush[] = {
		folios ? "flush_dcache_folio" : "flush_dcache_page"
	};
	const char *copier = folios ? "fuse_copy_folio" : "fuse_copy_page";
	struct fuse_out_header oh;
	struct iovec iov[3] = {
		{ &oh, sizeof(oh) }, { reply_data, FL_PAGE / 2 },
		{ self->unmapped, FILE_LEN - FL_PAGE / 2 },
	};
	struct fl_gup g;
	int ret, err;
	pid_t pid;

	/* the client's READ and its LOOKUP/OPEN store into no folio */
	ret = fl_calls_start(&g, flush, 1, copier);
	if (ret == -ENOENT)
		SKIP(return, "%s() is an empty inline here", flush[0]);
	ASSERT_EQ(0, ret);
	pid = start_client(_metadata, self, client_rw, NULL, FUSE_READ);
	good_header(self, &oh);
	ASSERT_TRUE(unmapped(self->unmapped, FILE_LEN));
	ret = writev(self->fs->fd, iov, 3);
	err = errno;
	ASSERT_EQ(0, fl_gup_stop(&g));
	TH_LOG("measured: %lu %s() calls by %s(), %lu by others",
	       g.dev, flush[0], copier, g.other);
	ASSERT_EQ(-1, ret);
	ASSERT_EQ(EFAULT, err) TH_LOG("writev errno %d", err);
	ASSERT_EQ(-ENOENT, fl_handle(self->fs, &self->b, (void *)self->b.lin));
	ASSERT_EQ(EIO, finish(self, pid))
		TH_LOG("client's read result (errno, -1 = hang)");
	check_waiting_drains(_metadata, self);
	EXPECT_LT(0UL, g.dev)
		TH_LOG("the half-written folio was not written back");
}

/*
 * A reply whose header lies: @dlen is added to the true oh.len, @udelta to
 * oh.unique, @error replaces oh.error; @wlen bytes are written (0: header
 * and the whole payload). The request is left in place: a proper reply
 * afterwards reaches the client.
 */
struct lie {
	int dlen;
	uint64_t udelta;
	int error;
	size_t wlen;
	int want_errno;
};

static void lying_reply(struct __test_metadata *_metadata,
			FIXTURE_DATA(hostile) *self, const struct lie *l)
{
	struct fuse_out_header oh;
	struct iovec iov[2] = {
		{ &oh, sizeof(oh) }, { reply_data, FILE_LEN },
	};
	pid_t pid = start_client(_metadata, self, client_rw, NULL, FUSE_READ);
	size_t wlen = l->wlen ? l->wlen : sizeof(oh) + FILE_LEN;

	good_header(self, &oh);
	oh.len += l->dlen;
	oh.unique += l->udelta;
	oh.error = l->error;
	if (wlen <= sizeof(oh)) {
		iov[0].iov_len = wlen;
		iov[1].iov_len = 0;
	}
	ASSERT_EQ(-1, writev(self->fs->fd, iov, 2));
	ASSERT_EQ(l->want_errno, errno) TH_LOG("writev errno %d (%s)", errno,
					       strerror(errno));
	ASSERT_EQ(0, fl_handle(self->fs, &self->b, (void *)self->b.lin));
	ASSERT_EQ(0, finish(self, pid))
		TH_LOG("client's read result (errno, -1 = hang)");
	check_waiting_drains(_metadata, self);
}

TEST_F(hostile, reply_len_longer_than_write_gets_einval)
{
	lying_reply(_metadata, self, &(struct lie){ .dlen = 8,
						   .want_errno = EINVAL });
}

TEST_F(hostile, reply_len_shorter_than_write_gets_einval)
{
	lying_reply(_metadata, self, &(struct lie){ .dlen = -1,
						   .want_errno = EINVAL });
}

TEST_F(hostile, reply_shorter_than_header_gets_einval)
{
	lying_reply(_metadata, self,
		    &(struct lie){ .wlen = sizeof(struct fuse_out_header) - 1,
				   .want_errno = EINVAL });
}

TEST_F(hostile, reply_with_positive_error_gets_einval)
{
	lying_reply(_metadata, self,
		    &(struct lie){ .dlen = -FILE_LEN, .error = 1,
				   .wlen = sizeof(struct fuse_out_header),
				   .want_errno = EINVAL });
}

TEST_F(hostile, reply_to_unknown_unique_gets_enoent)
{
	lying_reply(_metadata, self,
		    &(struct lie){ .dlen = -FILE_LEN, .udelta = 1000,
				   .error = -EIO,
				   .wlen = sizeof(struct fuse_out_header),
				   .want_errno = ENOENT });
}

TEST_HARNESS_MAIN
