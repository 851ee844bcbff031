// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile daemon. Bad buffers on read(2) and write(2) of
 * /dev/fuse get -EFAULT or -EINVAL; whatever the daemon does, the process
 * that made the request gets an answer (an error or the real result), never
 * a hang, and the connection's "waiting" count returns to 0.
 *
 * The test thread is the daemon here: no serving threads.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
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

#define FILE_LEN	FL_CLIENT_RW_LEN	/* what fl_client_rw() moves */

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

/* Spawn the client and wait until its request is queued for us. */
static pid_t start_client(struct __test_metadata *_metadata,
			  FIXTURE_DATA(hostile) *self, fl_client_fn fn,
			  void *arg, uint32_t opcode)
{
	pid_t pid = fl_spawn(self->fs, fn, arg);
	int err;

	ASSERT_LT(0, pid);
	/* the client's LOOKUP and OPEN (if any) are served normally */
	err = fl_serve_until(self->fs, &self->b, opcode);
	ASSERT_EQ(0, err) TH_LOG("serving the client until opcode %u: %s",
				 opcode, strerror(-err));
	return pid;
}

/* Keep serving until the client exits: its exit code, -1 if it hangs. */
static int finish(FIXTURE_DATA(hostile) *self, pid_t pid)
{
	return fl_serve_until_exit(self->fs, &self->b, pid);
}

/*
 * The client is gone; its RELEASE may still be queued. A daemon that keeps
 * serving sees "waiting" return to 0.
 */
static void check_waiting_drains(struct __test_metadata *_metadata,
				 FIXTURE_DATA(hostile) *self)
{
	ASSERT_EQ(0, fl_serve_until_drained(self->fs, &self->b))
		TH_LOG("connection still counts waiting requests");
}

/* A read(2) that fails, then the client's fate. */
static void bad_read(struct __test_metadata *_metadata,
		     FIXTURE_DATA(hostile) *self, void *buf, size_t len,
		     int want_errno, int want_client)
{
	pid_t pid = start_client(_metadata, self, fl_client_statfs, NULL,
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
	pid_t pid = fl_spawn(self->fs, fl_client_rw, (void *)1);
	uint32_t op;

	ASSERT_LT(0, pid);
	/* LOOKUP and OPEN are served; the WRITE comes next */
	do {
		ASSERT_TRUE(fl_readable(self->fs, 5000));
		ASSERT_LT(0, fl_recv(self->fs, &self->b, &in));
		op = in->opcode;	/* the reply overwrites the request */
		ASSERT_NE((uint32_t)FUSE_WRITE, op);
		ASSERT_EQ(0, fl_handle(self->fs, &self->b, in));
	} while (op != FUSE_OPEN);
	ASSERT_TRUE(fl_readable(self->fs, 5000));
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
	pid_t pid = start_client(_metadata, self, fl_client_rw, NULL, FUSE_READ);
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
	pid_t pid = start_client(_metadata, self, fl_client_rw, NULL, FUSE_READ);

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
	bool folios = fl_kernel_has_function("fuse_copy_folio");
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
	pid = start_client(_metadata, self, fl_client_rw, NULL, FUSE_READ);
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
 * The flush of a folio the copy stopped in must come while the copier
 * still owns it (issue 16, point 2). A direct I/O READ's folios are the
 * requester's pages, pinned by fuse_get_user_pages(); once the request is
 * ended, the requester unpins them. The copier owns them only while the
 * request is locked (FR_LOCKED): fuse_copy_fill() unlocks it before it
 * faults in the daemon's buffer, and an abort may then end the request.
 *
 * Deterministic on one serving thread: the mount negotiates FUSE_ASYNC_DIO
 * and the client reads f0 with O_DIRECT (not FOPEN_DIRECT_IO), so its READ
 * is a background request whose end callback, fuse_aio_complete_req(),
 * unpins the folios in whoever ends it. The daemon replies with 2 KiB and
 * then an mmap of f1 of the same mount: the copy faults mid-folio, the
 * request is unlocked, the fault-in sends a READ of f1 that nobody serves.
 * Seeing that READ queued, a second thread aborts the connection:
 * fuse_abort_conn() ends the client's request (unpin_folio(), in the
 * aborting thread) before the fault's READ, and only then does the
 * fault-in fail and the copier return. Kprobe events on
 * flush_dcache_folio() and unpin_folio() record the folio of each call, in
 * order: a flush of one of the client's folios after its unpin is a flush
 * of a page the copier no longer owns.
 */
struct opener {
	char path[96];
	int fd, err;
	atomic_int done;
};

static void *opener_main(void *p)
{
	struct opener *o = p;

	o->fd = open(o->path, O_RDONLY);
	o->err = errno;
	atomic_store(&o->done, 1);
	return NULL;
}

/*
 * Open f<i> in the daemon's own process: a helper thread opens it while
 * the test thread, the only daemon, serves its LOOKUP and OPEN.
 */
static int open_served(FIXTURE_DATA(hostile) *self, unsigned int i)
{
	uint64_t end = fl_now_ms() + 5000;
	struct opener o = { .fd = -1 };
	pthread_t t;

	fl_path(self->fs, i, o.path, sizeof(o.path));
	if (pthread_create(&t, NULL, opener_main, &o))
		return -EAGAIN;
	while (!atomic_load(&o.done) && fl_now_ms() < end) {
		const struct fuse_in_header *in;

		if (fl_readable(self->fs, 10) &&
		    fl_recv(self->fs, &self->b, &in) > 0)
			fl_handle(self->fs, &self->b, in);
	}
	if (!atomic_load(&o.done))
		fl_abort(self->fs);
	pthread_join(t, NULL);
	return o.fd >= 0 ? o.fd : -o.err;
}

struct aborter {
	struct fl_fs *fs;
	bool saw_request;
};

/*
 * The daemon is in writev(); the next request on /dev/fuse can only be the
 * READ of f1 that its fault-in sends, with the client's request unlocked.
 */
static void *aborter_main(void *p)
{
	struct aborter *a = p;

	a->saw_request = fl_readable(a->fs, 10000);
	fl_abort(a->fs);
	return NULL;
}

/* The client's pipes: its result to the test, then it waits for "go". */
struct odirect_client {
	int res[2], go[2];
};

/*
 * Read f0 with O_DIRECT into page-aligned memory that stays mapped (and
 * so the same folios) until the test has read the trace.
 */
static int client_odirect_read(struct fl_fs *fs, void *arg)
{
	struct odirect_client *c = arg;
	unsigned char *buf;
	char path[96], go;
	int fd, ret;
	ssize_t n;

	close(c->res[0]);
	close(c->go[1]);
	buf = mmap(NULL, FILE_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 201;
	fl_path(fs, 0, path, sizeof(path));
	fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0) {
		ret = errno;
	} else {
		n = pread(fd, buf, FILE_LEN, 0);
		ret = n < 0 ? errno : n == FILE_LEN ? 0 : 200;
	}
	if (write(c->res[1], &ret, sizeof(ret)) != sizeof(ret))
		return 202;
	while (read(c->go[0], &go, 1) < 0 && errno == EINTR)
		;
	return ret;
}

/* The client's result, or -1 if it sent none within @ms. */
static int client_result(struct odirect_client *c, int ms)
{
	struct pollfd p = { .fd = c->res[0], .events = POLLIN };
	int ret;

	if (poll(&p, 1, ms) != 1 ||
	    read(c->res[0], &ret, sizeof(ret)) != sizeof(ret))
		return -1;
	return ret;
}

TEST_F_TIMEOUT(hostile, abort_while_reply_faults_flushes_before_unpin, 90)
{
	struct fl_config cfg = { .max_pages = 32, .want2 = FUSE_ASYNC_DIO };
	struct odirect_client c;
	struct fuse_out_header oh;
	struct iovec iov[3];
	struct aborter a;
	struct fl_folio_order o;
	unsigned char *f1;
	pthread_t t;
	int fd, ret, err, res;
	pid_t pid;

	if (!fl_kernel_has_function("flush_dcache_folio"))
		SKIP(return, "flush_dcache_folio() is an empty inline here");
	if (!fl_kernel_has_function("unpin_folio"))
		SKIP(return, "no unpin_folio(): direct I/O pages are released with put_page() here (6.1)");
	if (!fl_folio_order_supported())
		SKIP(return, "the first argument's register is not known here");

	/* page-cache opens, FUSE_ASYNC_DIO: a mount of its own */
	fl_buf_free(&self->b);
	fl_destroy(self->fs);
	self->fs = fl_mount(&cfg);
	ASSERT_TRUE(self->fs != NULL) TH_LOG("mount: %s", strerror(errno));
	ASSERT_EQ(0, fl_buf_init(self->fs, &self->b));
	self->fs->files[0].size = FILE_LEN;
	fl_fill(self->fs->files[0].data, FILE_LEN, 0, 9);
	self->fs->files[1].size = FILE_LEN;
	fl_fill(self->fs->files[1].data, FILE_LEN, 0, 10);
	/* present, so that the copy's first 2 KiB do not fault */
	fl_fill(reply_data, FILE_LEN, 0, 9);

	fd = open_served(self, 1);
	ASSERT_LE(0, fd) TH_LOG("open f1: %s", strerror(-fd));
	/* no close(fd) before the abort: its FLUSH would wait for us */
	f1 = mmap(NULL, FILE_LEN, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(f1 != MAP_FAILED) TH_LOG("mmap f1: %s", strerror(errno));

	ASSERT_EQ(0, pipe(c.res));
	ASSERT_EQ(0, pipe(c.go));
	pid = start_client(_metadata, self, client_odirect_read, &c, FUSE_READ);
	close(c.res[1]);
	close(c.go[0]);
	ret = fl_folio_order_start();
	ASSERT_EQ(0, ret) TH_LOG("kprobe events: %s", strerror(-ret));

	good_header(self, &oh);
	iov[0] = (struct iovec){ &oh, sizeof(oh) };
	iov[1] = (struct iovec){ reply_data, FL_PAGE / 2 };
	iov[2] = (struct iovec){ f1, FILE_LEN - FL_PAGE / 2 };
	a = (struct aborter){ .fs = self->fs };
	ASSERT_EQ(0, pthread_create(&t, NULL, aborter_main, &a));
	ret = writev(self->fs->fd, iov, 3);
	err = errno;
	pthread_join(t, NULL);
	res = client_result(&c, 10000);
	ASSERT_EQ(0, fl_folio_order_stop(&o));
	close(c.go[1]);
	fl_wait(pid, 5000);
	close(c.res[0]);
	munmap(f1, FILE_LEN);
	close(fd);

	TH_LOG("measured: writev %d (%s), client %d, %u folios unpinned, %lu flushes of them before, %lu after their unpin",
	       ret, ret < 0 ? strerror(err) : "-", res, o.nunpinned,
	       o.flushes_before, o.flushes_after);
	ASSERT_EQ(0UL, o.lost) TH_LOG("trace events lost");
	ASSERT_TRUE(a.saw_request)
		TH_LOG("the fault-in of f1 sent no READ: the copy did not fault mid-folio");
	ASSERT_EQ(-1, ret) TH_LOG("the aborted reply was accepted");
	ASSERT_NE(0, res) TH_LOG("client's O_DIRECT read (errno, -1 = hang)");
	ASSERT_LT(0U, o.nunpinned) TH_LOG("the client's folios were not seen unpinned");
	EXPECT_EQ(0UL, o.flushes_after)
		TH_LOG("folio %#lx flushed after the client unpinned it", o.late_folio);
	EXPECT_LT(0UL, o.flushes_before)
		TH_LOG("the half-written folio was not written back before its unpin");
	check_waiting_drains(_metadata, self);
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
	pid_t pid = start_client(_metadata, self, fl_client_rw, NULL, FUSE_READ);
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
