// SPDX-License-Identifier: GPL-2.0
/*
 * FUSE over io_uring (Linux 6.14+): requests and replies through the ring's
 * payload buffers (the transport: fl_uring.c), which the kernel's
 * fuse_copy_* code reads and writes, as for /dev/fuse.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <linux/io_uring.h>
#include <linux/limits.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "fuselab.h"
#include "kselftest_harness.h"

#ifdef FUSE_OVER_IO_URING

FIXTURE(uring) {
	struct fl_uring u;
};

FIXTURE_SETUP(uring)
{
	int err;

	memset(&self->u, 0, sizeof(self->u));
	self->u.r.fd = -1;
	err = fl_uring_enable();
	if (err == -ENOENT)
		SKIP(return, "this kernel has no FUSE-over-io_uring");
	ASSERT_EQ(0, err);
	err = fl_uring_start(&self->u, 64);
	ASSERT_EQ(0, err) TH_LOG("starting the ring: %s", strerror(-err));
}

FIXTURE_TEARDOWN(uring)
{
	fl_uring_stop(&self->u);
}

static const size_t sizes[] = { 1, 4097, 65536 + 7, (256u << 10) + 3 };

/* Write and read back each size, through the page cache and direct. */
static void ring_roundtrip(struct __test_metadata *_metadata, struct fl_uring *u)
{
	unsigned char *p = malloc((1u << 20) + 8);
	char path[96];

	ASSERT_TRUE(p != NULL);
	for (int direct = 0; direct < 2; direct++) {
		u->fs->cfg.direct_io = direct;
		for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
			size_t len = sizes[i], off = 4093 * i + direct;
			unsigned int seed = 300 + i + 10 * direct;
			int fd;

			fl_path(u->fs, i, path, sizeof(path));
			fd = open(path, O_RDWR | O_TRUNC);
			ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
			fl_fill(p + 1, len, off, seed);
			ASSERT_EQ((ssize_t)len, pwrite(fd, p + 1, len, off));
			close(fd);
			ASSERT_EQ(-1, fl_check(u->fs->files[i].data + off, len,
					       off, seed));
			memset(p, 0, len + 1);
			fd = open(path, O_RDONLY);
			ASSERT_LE(0, fd);
			ASSERT_EQ((ssize_t)len, pread(fd, p + 1, len, off));
			ASSERT_EQ(-1, fl_check(p + 1, len, off, seed))
				TH_LOG("%zu bytes at %zu, direct %d", len, off,
				       direct);
			close(fd);
		}
	}
	free(p);
}

/*
 * 1 B .. 256 KiB+3 at unaligned offsets, page cache and direct I/O, match
 * the pattern; more than 16 requests came through the ring and none through
 * /dev/fuse once the ring was ready.
 */
TEST_F_TIMEOUT(uring, roundtrip_goes_through_the_ring, 120)
{
	struct fl_uring *u = &self->u;
	unsigned long dev_before = atomic_load(&u->fs->st.requests);

	ring_roundtrip(_metadata, u);
	TH_LOG("measured: %lu requests through the ring, %lu through /dev/fuse",
	       atomic_load(&u->served),
	       atomic_load(&u->fs->st.requests) - dev_before);
	EXPECT_LT(16UL, atomic_load(&u->served));
	/* once the ring is ready, /dev/fuse carries nothing */
	EXPECT_EQ(dev_before, atomic_load(&u->fs->st.requests));
}

/*
 * The ring's payload copies pin none of the daemon's pages (they share
 * fuse_copy_* with /dev/fuse).  The client's direct I/O still pins its
 * own pages, which shows that the tracer sees GUP calls.  Fails on a stock kernel.
 */
TEST_F_TIMEOUT(uring, ring_copies_pin_no_user_pages, 120)
{
	struct fl_uring *u = &self->u;
	unsigned long served = atomic_load(&u->served);
	struct fl_gup g;

	ASSERT_EQ(0, fl_gup_start(&g));
	ring_roundtrip(_metadata, u);
	ASSERT_EQ(0, fl_gup_stop(&g));
	TH_LOG("measured: GUP hits: %lu under ring copies%s%s, %lu elsewhere; %lu requests via the ring",
	       g.dev, g.dev ? ", first " : "", g.dev_example, g.other,
	       atomic_load(&u->served) - served);
	EXPECT_LT(16UL, atomic_load(&u->served) - served);
	EXPECT_LT(0UL, g.other) TH_LOG("the tracer saw no GUP call at all");
	EXPECT_EQ(0UL, g.dev);
}

/*
 * After abort a client's write fails, the ring's commands complete with an
 * error, waiting is 0.
 */
TEST_F_TIMEOUT(uring, abort_ends_ring_and_clients, 60)
{
	struct fl_uring *u = &self->u;
	char path[96];
	int fd;

	/* a client whose READ is answered, then an abort */
	fl_path(u->fs, 0, path, sizeof(path));
	fd = open(path, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fl_abort(u->fs));
	ASSERT_GT(0, pwrite(fd, "x", 1, 0));
	close(fd);
	pthread_join(u->thr, NULL);
	u->thr = 0;
	TH_LOG("ring thread ended with %d", atomic_load(&u->err));
	EXPECT_NE(0, atomic_load(&u->err));
	EXPECT_EQ(0, fl_waiting(u->fs));
}

/*
 * Arguments larger than the ring's payload buffer.  dev_uring.c copies a
 * request's arguments into, and a reply's out of, the payload buffer the
 * daemon registered: ring->max_payload_sz bytes, with max_pages 1 (and so
 * max_write 4 KiB) FUSE_MIN_READ_BUFFER, 8 KiB.  A SETXATTR carries its
 * value (up to XATTR_SIZE_MAX, 64 KiB) as an argument and a GETXATTR's
 * reply may be as long as the client's buffer: max_pages bounds neither.
 * /dev/fuse ends such a request with E2BIG (fuse_dev_do_read()); the ring
 * must too, and must refuse a reply whose payload_sz is larger than the
 * buffer.  Stock copies on until fuse_copy_fill() hits BUG_ON(!err), with
 * the ring's uring_lock held: these tests run in a boot of their own
 * (test/lab.sh run ARCH FLAVOUR crash, whose guest sets FUSELAB_CRASH) and
 * skip anywhere else.
 */
#define XNAME		"user.fuselab"
#define XSMALL		100		/* a value that fits */

/* The daemon's xattrs: one name, answered by fl_handle()'s hook. */
struct xattr_srv {
	struct fl_uring *u;
	pthread_mutex_t lock;
	unsigned char *value;		/* XATTR_SIZE_MAX bytes */
	size_t len;			/* of the value set, 0 if none */
	atomic_ulong setxattr;		/* SETXATTRs received */
	atomic_ulong last;		/* the value size of the last one */
	atomic_ulong via_dev;		/* xattr requests that came via /dev/fuse */
	atomic_int overrun;		/* answer the next GETXATTR too long */
	atomic_ulong overruns;		/* answers given too long */
};

/*
 * Answer a GETXATTR of @size bytes with a payload_sz of @size, larger than
 * the payload buffer: the buffer holds what fits, the rest is not there.
 */
static void overrun_reply(struct xattr_srv *x, struct fl_buf *b,
			  const struct fuse_in_header *in, uint32_t size)
{
	struct fl_uring_ent *e = b->priv;
	struct fuse_out_header oh = {
		.len = sizeof(oh) + size, .unique = in->unique,
	};

	fl_fill(e->payload, x->u->payload_sz, 0, 77);
	memcpy(e->hdr->in_out, &oh, sizeof(oh));
	e->hdr->ring_ent_in_out.payload_sz = size;
	atomic_fetch_add(&x->overruns, 1);
}

static void setxattr_answer(struct fl_fs *fs, struct xattr_srv *x,
			    struct fl_buf *b, const struct fuse_in_header *in)
{
	const struct fuse_setxattr_in *si = (const void *)(in + 1);
	/* no FUSE_SETXATTR_EXT: the short form of the header */
	size_t hdr = sizeof(*in) + FUSE_COMPAT_SETXATTR_IN_SIZE;
	const char *name = (const char *)in + hdr;
	size_t len = strnlen(name, in->len - hdr) + 1;
	int err = 0;

	atomic_fetch_add(&x->setxattr, 1);
	atomic_store(&x->last, si->size);
	if (hdr + len + si->size != in->len || si->size > XATTR_SIZE_MAX) {
		err = -EINVAL;
	} else if (strcmp(name, XNAME)) {
		err = -ENOTSUP;
	} else {
		pthread_mutex_lock(&x->lock);
		memcpy(x->value, name + len, si->size);
		x->len = si->size;
		pthread_mutex_unlock(&x->lock);
	}
	fl_reply(fs, b, in->unique, err, NULL, 0);
}

static void getxattr_answer(struct fl_fs *fs, struct xattr_srv *x,
			    struct fl_buf *b, const struct fuse_in_header *in)
{
	const struct fuse_getxattr_in *gi = (const void *)(in + 1);
	unsigned char *out = b->out + sizeof(struct fuse_out_header);
	const char *name = (const char *)(gi + 1);
	size_t room = x->u->payload_sz, len;

	pthread_mutex_lock(&x->lock);
	len = x->len;
	if (len <= room)
		memcpy(out, x->value, len);
	pthread_mutex_unlock(&x->lock);

	if (strcmp(name, XNAME) || !len) {
		fl_reply(fs, b, in->unique, -ENODATA, NULL, 0);
	} else if (!gi->size) {
		struct fuse_getxattr_out go = { .size = len };

		fl_reply(fs, b, in->unique, 0, &go, sizeof(go));
	} else if (gi->size < len) {
		fl_reply(fs, b, in->unique, -ERANGE, NULL, 0);
	} else if (b->priv && gi->size > room &&
		   atomic_exchange(&x->overrun, 0)) {
		overrun_reply(x, b, in, gi->size);
	} else if (b->priv && len > room) {
		/* more than the ring can carry (a SETXATTR it let through) */
		fl_reply(fs, b, in->unique, -E2BIG, NULL, 0);
	} else {
		fl_reply(fs, b, in->unique, 0, out, len);
	}
}

static bool xattr_hook(struct fl_fs *fs, struct fl_buf *b,
		       const struct fuse_in_header *in, void *arg)
{
	struct xattr_srv *x = arg;

	if (in->opcode != FUSE_SETXATTR && in->opcode != FUSE_GETXATTR)
		return false;
	/* b->priv is the ring entry; NULL for a request read from /dev/fuse */
	if (!b->priv)
		atomic_fetch_add(&x->via_dev, 1);
	if (in->opcode == FUSE_SETXATTR)
		setxattr_answer(fs, x, b, in);
	else
		getxattr_answer(fs, x, b, in);
	return true;
}

/* One xattr call of a client process, its result in shared memory. */
struct xcall {
	const char *path;
	bool set;
	size_t len;		/* of the value, or of the getxattr buffer */
	unsigned int seed;	/* the value's pattern */
	ssize_t ret;
	int err;
	long long bad;		/* getxattr: first byte off the pattern, or -1 */
};

static int xattr_client(struct fl_fs *fs, void *arg)
{
	struct xcall *c = arg;
	unsigned char *v = malloc(c->len);
	ssize_t n;

	if (!v)
		return 1;
	if (c->set) {
		fl_fill(v, c->len, 0, c->seed);
		n = setxattr(c->path, XNAME, v, c->len, 0);
	} else {
		n = getxattr(c->path, XNAME, v, c->len);
	}
	c->err = n < 0 ? errno : 0;
	c->bad = n > 0 && !c->set ? fl_check(v, n, 0, c->seed) : -1;
	c->ret = n;
	return 0;
}

FIXTURE(uring_small) {
	struct fl_uring u;
	struct xattr_srv x;
	struct xcall *call;	/* MAP_SHARED: the clients write it */
	char path[96];
};

/*
 * setxattr() (@set) of a value of @len bytes, or getxattr() into a buffer
 * of @len bytes, of XNAME on f0 by a client process that must end within
 * 20 s.  Returns 0, or -1 if it did not (killed; the call's result is in
 * self->call).  Not fl_wait(): after stock's BUG the client waits for ever
 * and uninterruptibly for a request the dead ring thread had taken, and
 * cannot be reaped; it is left behind.
 */
static int xattr_call(FIXTURE_DATA(uring_small) *self, bool set, size_t len,
		      unsigned int seed)
{
	struct xcall *c = self->call;
	uint64_t end = fl_now_ms() + 20000;
	pid_t pid;
	int status;

	*c = (struct xcall){ self->path, set, len, seed, -2, 0, -1 };
	pid = fl_spawn(self->u.fs, xattr_client, c);
	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (fl_now_ms() > end) {
			kill(pid, SIGKILL);
			return -1;
		}
		fl_sleep_ms(10);
	}
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

FIXTURE_SETUP(uring_small)
{
	int err;

	memset(&self->u, 0, sizeof(self->u));
	memset(&self->x, 0, sizeof(self->x));
	self->u.r.fd = -1;
	self->call = MAP_FAILED;
	if (!getenv("FUSELAB_CRASH"))
		SKIP(return, "BUGs stock: runs in a boot of its own, test/lab.sh run ARCH FLAVOUR crash");
	err = fl_uring_enable();
	if (err == -ENOENT)
		SKIP(return, "this kernel has no FUSE-over-io_uring");
	ASSERT_EQ(0, err);

	pthread_mutex_init(&self->x.lock, NULL);
	self->x.u = &self->u;
	self->x.value = malloc(XATTR_SIZE_MAX);
	ASSERT_TRUE(self->x.value != NULL);
	self->call = mmap(NULL, sizeof(*self->call), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(self->call != MAP_FAILED);

	err = fl_uring_start(&self->u, 1);
	ASSERT_EQ(0, err) TH_LOG("starting the ring: %s", strerror(-err));
	/* before any client: nothing but INIT has been asked yet */
	self->u.fs->hook_arg = &self->x;
	self->u.fs->hook = xattr_hook;
	fl_path(self->u.fs, 0, self->path, sizeof(self->path));
	ASSERT_EQ((size_t)FUSE_MIN_READ_BUFFER, self->u.payload_sz);
}

FIXTURE_TEARDOWN(uring_small)
{
	fl_uring_stop(&self->u);
	if (self->call != MAP_FAILED)
		munmap(self->call, sizeof(*self->call));
	free(self->x.value);
}

/*
 * A SETXATTR whose value does not fit in the payload buffer ends with
 * E2BIG, as on /dev/fuse, and never reaches the daemon; the ring serves on.
 * Stock: kernel BUG at fs/fuse/dev.c (fuse_copy_fill()).
 */
TEST_F_TIMEOUT(uring_small, setxattr_larger_than_payload_buffer_gets_e2big, 60)
{
	struct fl_uring *u = &self->u;
	struct xattr_srv *x = &self->x;
	struct xcall *c = self->call;
	unsigned long dev = atomic_load(&u->fs->st.requests), served;

	/* a value that fits goes through the ring to the daemon */
	ASSERT_EQ(0, xattr_call(self, true, XSMALL, 1))
		TH_LOG("setxattr of %d bytes: the client hung", XSMALL);
	ASSERT_EQ(0, c->ret) TH_LOG("setxattr of %d bytes: %s", XSMALL,
				    strerror(c->err));
	ASSERT_EQ(1UL, atomic_load(&x->setxattr));

	served = atomic_load(&u->served);
	ASSERT_EQ(0, xattr_call(self, true, XATTR_SIZE_MAX, 2))
		TH_LOG("setxattr of %d bytes: the client hung: the ring stopped serving (see the kernel log)",
		       XATTR_SIZE_MAX);
	TH_LOG("measured: setxattr of %d bytes with a payload buffer of %zu: %zd (%s)",
	       XATTR_SIZE_MAX, u->payload_sz, c->ret,
	       c->ret < 0 ? strerror(c->err) : "no error");
	EXPECT_EQ(-1, c->ret);
	EXPECT_EQ(E2BIG, c->err) TH_LOG("expected E2BIG, got %s",
					 strerror(c->err));
	EXPECT_EQ(1UL, atomic_load(&x->setxattr))
		TH_LOG("the daemon received a SETXATTR of %lu bytes",
		       atomic_load(&x->last));

	/* the ring serves on: the value set first is still there */
	ASSERT_EQ(0, xattr_call(self, false, XATTR_SIZE_MAX, 1))
		TH_LOG("getxattr after it: the client hung");
	EXPECT_EQ(XSMALL, c->ret) TH_LOG("getxattr after it: %zd (%s)", c->ret,
					 strerror(c->err));
	EXPECT_EQ(-1, c->bad);
	EXPECT_LT(served, atomic_load(&u->served));
	EXPECT_EQ(0UL, atomic_load(&x->via_dev));
	EXPECT_EQ(dev, atomic_load(&u->fs->st.requests));
	EXPECT_EQ(0, atomic_load(&u->err)) TH_LOG("ring thread: %s",
						  strerror(atomic_load(&u->err)));
	EXPECT_EQ(0, fl_waiting(u->fs));
}

/*
 * A reply whose payload_sz is larger than the payload buffer (to a
 * GETXATTR of 64 KiB, which the same daemon answers right before and after
 * it): the kernel must not copy beyond the buffer, the commit fails with
 * EINVAL, which the client gets; the ring serves on.  Stock: kernel BUG at
 * fs/fuse/dev.c (fuse_copy_fill()).
 */
TEST_F_TIMEOUT(uring_small, reply_larger_than_payload_buffer_gets_einval, 60)
{
	struct fl_uring *u = &self->u;
	struct xattr_srv *x = &self->x;
	struct xcall *c = self->call;
	unsigned long dev = atomic_load(&u->fs->st.requests);

	ASSERT_EQ(0, xattr_call(self, true, XSMALL, 3))
		TH_LOG("setxattr of %d bytes: the client hung", XSMALL);
	ASSERT_EQ(0, c->ret) TH_LOG("setxattr of %d bytes: %s", XSMALL,
				    strerror(c->err));
	/* a getxattr into 64 KiB answered within the buffer */
	ASSERT_EQ(0, xattr_call(self, false, XATTR_SIZE_MAX, 3))
		TH_LOG("getxattr: the client hung");
	ASSERT_EQ(XSMALL, c->ret) TH_LOG("getxattr: %zd (%s)", c->ret,
					 strerror(c->err));
	ASSERT_EQ(-1, c->bad);

	atomic_store(&x->overrun, 1);
	ASSERT_EQ(0, xattr_call(self, false, XATTR_SIZE_MAX, 3))
		TH_LOG("getxattr answered with payload_sz %d: the client hung: the ring stopped serving (see the kernel log)",
		       XATTR_SIZE_MAX);
	TH_LOG("measured: reply with payload_sz %d, payload buffer %zu: the client's getxattr %zd (%s)",
	       XATTR_SIZE_MAX, u->payload_sz, c->ret,
	       c->ret < 0 ? strerror(c->err) : "no error");
	ASSERT_EQ(1UL, atomic_load(&x->overruns));
	EXPECT_EQ(-1, c->ret);
	EXPECT_EQ(EINVAL, c->err) TH_LOG("expected EINVAL, got %s",
					  strerror(c->err));

	/* the ring serves on */
	ASSERT_EQ(0, xattr_call(self, false, XATTR_SIZE_MAX, 3))
		TH_LOG("getxattr after it: the client hung");
	EXPECT_EQ(XSMALL, c->ret) TH_LOG("getxattr after it: %zd (%s)", c->ret,
					 strerror(c->err));
	EXPECT_EQ(-1, c->bad);
	EXPECT_EQ(0UL, atomic_load(&x->via_dev));
	EXPECT_EQ(dev, atomic_load(&u->fs->st.requests));
	EXPECT_EQ(0, atomic_load(&u->err)) TH_LOG("ring thread: %s",
						  strerror(atomic_load(&u->err)));
	EXPECT_EQ(0, fl_waiting(u->fs));
}

#else /* FUSE_OVER_IO_URING */

/* The uapi headers of a kernel before 6.14 (the 6.1 backport's lab) */
TEST(uring_transport)
{
	SKIP(return, "these uapi headers (FUSE 7.%d) have no FUSE-over-io_uring",
	     FUSE_KERNEL_MINOR_VERSION);
}

#endif /* FUSE_OVER_IO_URING */

TEST_HARNESS_MAIN
