// SPDX-License-Identifier: GPL-2.0
/*
 * Group 5: the FUSE-over-io_uring transport (Linux 6.14+), spoken with raw
 * io_uring syscalls. Each queue (one per possible CPU) gets ring entries:
 * a header buffer (struct fuse_uring_req_header) and a payload buffer,
 * registered with FUSE_IO_URING_CMD_REGISTER and answered with
 * FUSE_IO_URING_CMD_COMMIT_AND_FETCH. The payload buffers are what the
 * kernel's fuse_copy_* code reads and writes, as for /dev/fuse.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/io_uring.h>
#include <sys/syscall.h>

#include "fuselab.h"
#include "kselftest_harness.h"

#ifdef FUSE_OVER_IO_URING

#define ENTS_PER_QUEUE	2
#define MAX_QUEUES	8

struct ring {
	int fd;
	unsigned int *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	unsigned char *sqes;	/* 128-byte entries */
	void *sq_map, *cq_map;
	size_t sq_len, cq_len, sqes_len;
};

struct ent {
	unsigned int qid;
	struct fuse_uring_req_header *hdr;
	unsigned char *payload;
	struct iovec iov[2];
};

struct uring_fs {
	struct fl_fs *fs;
	struct ring r;
	struct ent ents[MAX_QUEUES * ENTS_PER_QUEUE];
	unsigned int nents;
	size_t payload_sz;
	pthread_t thr;
	atomic_ulong served;	/* requests answered through the ring */
	atomic_int err;		/* first error of the ring thread */
	atomic_int registered;
};

static int ring_setup(struct ring *r, unsigned int entries)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SQE128 };

	r->fd = syscall(__NR_io_uring_setup, entries, &p);
	if (r->fd < 0)
		return -errno;
	r->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	r->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	r->sqes_len = p.sq_entries * 128;
	r->sq_map = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	r->cq_map = mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (r->sq_map == MAP_FAILED || r->cq_map == MAP_FAILED ||
	    r->sqes == MAP_FAILED)
		return -errno;
	r->sq_head = (void *)((char *)r->sq_map + p.sq_off.head);
	r->sq_tail = (void *)((char *)r->sq_map + p.sq_off.tail);
	r->sq_mask = (void *)((char *)r->sq_map + p.sq_off.ring_mask);
	r->sq_array = (void *)((char *)r->sq_map + p.sq_off.array);
	r->cq_head = (void *)((char *)r->cq_map + p.cq_off.head);
	r->cq_tail = (void *)((char *)r->cq_map + p.cq_off.tail);
	r->cq_mask = (void *)((char *)r->cq_map + p.cq_off.ring_mask);
	r->cqes = (void *)((char *)r->cq_map + p.cq_off.cqes);
	return 0;
}

static void ring_free(struct ring *r)
{
	if (r->sq_map && r->sq_map != MAP_FAILED)
		munmap(r->sq_map, r->sq_len);
	if (r->cq_map && r->cq_map != MAP_FAILED)
		munmap(r->cq_map, r->cq_len);
	if (r->sqes && r->sqes != MAP_FAILED)
		munmap(r->sqes, r->sqes_len);
	if (r->fd >= 0)
		close(r->fd);
}

/* Queue one FUSE uring command for entry @i; submitted by ring_enter(). */
static void queue_cmd(struct uring_fs *u, unsigned int i, uint32_t op,
		      uint64_t commit_id)
{
	struct ring *r = &u->r;
	unsigned int tail = atomic_load_explicit((_Atomic unsigned int *)r->sq_tail,
						 memory_order_relaxed);
	unsigned int idx = tail & *r->sq_mask;
	struct io_uring_sqe *sqe = (void *)(r->sqes + idx * 128);
	struct fuse_uring_cmd_req *req;

	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = u->fs->fd;
	sqe->cmd_op = op;
	sqe->user_data = i;
	if (op == FUSE_IO_URING_CMD_REGISTER) {
		sqe->addr = (uintptr_t)u->ents[i].iov;
		sqe->len = 2;
	}
	req = (void *)sqe->cmd;
	req->qid = u->ents[i].qid;
	req->commit_id = commit_id;
	r->sq_array[idx] = idx;
	atomic_store_explicit((_Atomic unsigned int *)r->sq_tail, tail + 1,
			      memory_order_release);
}

static int ring_enter(struct uring_fs *u, unsigned int submit,
		      unsigned int wait)
{
	int n = syscall(__NR_io_uring_enter, u->r.fd, submit, wait,
			wait ? IORING_ENTER_GETEVENTS : 0, NULL, 0);

	return n < 0 ? -errno : n;
}

/* Reply transport for fl_handle(): the answer goes into the ring entry. */
static int uring_reply(struct fl_fs *fs, struct fl_buf *b,
		       const struct fuse_out_header *oh, const void *data,
		       size_t len)
{
	struct ent *e = b->priv;

	memcpy(e->hdr->in_out, oh, sizeof(*oh));
	memmove(e->payload, data, len);
	e->hdr->ring_ent_in_out.payload_sz = len;
	return 0;
}

/*
 * Rebuild the /dev/fuse form of a ring request: the in header, then the
 * per-op header (whatever in.len leaves beside the payload), then the
 * payload.
 */
static const struct fuse_in_header *linearize(struct ent *e, unsigned char *lin)
{
	const struct fuse_in_header *in = (const void *)e->hdr->in_out;
	size_t payload = e->hdr->ring_ent_in_out.payload_sz;
	size_t op = in->len - sizeof(*in) - payload;

	memcpy(lin, in, sizeof(*in));
	memcpy(lin + sizeof(*in), e->hdr->op_in, op);
	memcpy(lin + sizeof(*in) + op, e->payload, payload);
	return (const void *)lin;
}

static void *ring_thread(void *arg)
{
	struct uring_fs *u = arg;
	struct fl_buf b = { 0 };
	unsigned int pending = 0;
	int err;

	b.lin = malloc(u->payload_sz + 4096);
	b.out = malloc(u->payload_sz + 4096);
	b.pipe[0] = b.pipe[1] = -1;
	if (!b.lin || !b.out) {
		atomic_store(&u->err, ENOMEM);
		return NULL;
	}
	for (unsigned int i = 0; i < u->nents; i++)
		queue_cmd(u, i, FUSE_IO_URING_CMD_REGISTER, 0);
	err = ring_enter(u, u->nents, 0);
	if (err != (int)u->nents) {
		atomic_store(&u->err, err < 0 ? -err : EIO);
		return NULL;
	}
	atomic_store(&u->registered, 1);

	for (;;) {
		unsigned int head, tail;

		err = ring_enter(u, pending, 1);
		pending = 0;
		if (err == -EINTR)
			continue;
		if (err < 0) {
			atomic_store(&u->err, -err);
			break;
		}
		head = *u->r.cq_head;
		tail = atomic_load_explicit((_Atomic unsigned int *)u->r.cq_tail,
					    memory_order_acquire);
		for (; head != tail; head++) {
			struct io_uring_cqe *c = &u->r.cqes[head & *u->r.cq_mask];
			struct ent *e = &u->ents[c->user_data];
			const struct fuse_in_header *in;

			if (c->res < 0) {
				/* the connection went away: the normal end */
				if (!atomic_load(&u->err))
					atomic_store(&u->err, -c->res);
				continue;
			}
			in = linearize(e, b.lin);
			b.priv = e;
			fl_handle(u->fs, &b, in);
			atomic_fetch_add(&u->served, 1);
			queue_cmd(u, c->user_data,
				  FUSE_IO_URING_CMD_COMMIT_AND_FETCH,
				  e->hdr->ring_ent_in_out.commit_id);
			pending++;
		}
		atomic_store_explicit((_Atomic unsigned int *)u->r.cq_head, head,
				      memory_order_release);
		if (atomic_load(&u->err) && !pending)
			break;
	}
	free(b.lin);
	free(b.out);
	return NULL;
}

static unsigned int possible_cpus(void)
{
	unsigned int lo, hi;
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	int n;

	if (!f)
		return 1;
	n = fscanf(f, "%u-%u", &lo, &hi);
	fclose(f);
	return n == 2 ? hi + 1 : 1;
}

FIXTURE(uring) {
	struct uring_fs u;
};

FIXTURE_SETUP(uring)
{
	struct fl_config cfg = {
		.max_pages = 64,
		.nthreads = 1,
		.want2 = FUSE_OVER_IO_URING,
	};
	struct uring_fs *u = &self->u;
	unsigned int nq = possible_cpus();
	int fd;

	memset(u, 0, sizeof(*u));
	u->r.fd = -1;
	fd = open("/sys/module/fuse/parameters/enable_uring", O_WRONLY);
	if (fd < 0)
		SKIP(return, "this kernel has no FUSE-over-io_uring");
	ASSERT_EQ(1, write(fd, "1", 1));
	close(fd);
	ASSERT_GE((unsigned int)MAX_QUEUES, nq);

	u->fs = fl_mount(&cfg);
	ASSERT_TRUE(u->fs != NULL) TH_LOG("mount: %s", strerror(errno));
	u->fs->reply = uring_reply;
	/* requests before the ring is ready still come through /dev/fuse */
	ASSERT_EQ(0, fl_start(u->fs));

	u->payload_sz = u->fs->max_write > FUSE_MIN_READ_BUFFER ?
			u->fs->max_write : FUSE_MIN_READ_BUFFER;
	u->nents = nq * ENTS_PER_QUEUE;
	for (unsigned int i = 0; i < u->nents; i++) {
		struct ent *e = &u->ents[i];

		e->qid = i / ENTS_PER_QUEUE;
		e->hdr = fl_map(FL_MEM_ANON, sizeof(*e->hdr));
		e->payload = fl_map(FL_MEM_ANON, u->payload_sz);
		ASSERT_TRUE(e->hdr != MAP_FAILED);
		ASSERT_TRUE(e->payload != MAP_FAILED);
		e->iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
		e->iov[1] = (struct iovec){ e->payload, u->payload_sz };
	}
	ASSERT_EQ(0, ring_setup(&u->r, 64));
	ASSERT_EQ(0, pthread_create(&u->thr, NULL, ring_thread, u));
	for (int t = 0; t < 500 && !atomic_load(&u->registered) &&
			!atomic_load(&u->err); t++)
		usleep(10000);
	ASSERT_EQ(0, atomic_load(&u->err))
		TH_LOG("registering ring entries: %s",
		       strerror(atomic_load(&u->err)));
	ASSERT_EQ(1, atomic_load(&u->registered));
}

FIXTURE_TEARDOWN(uring)
{
	struct uring_fs *u = &self->u;

	if (!u->fs)
		return;
	/* unmounting ends the ring: its commands complete with errors */
	fl_destroy(u->fs);
	if (u->thr)
		pthread_join(u->thr, NULL);
	ring_free(&u->r);
}

static const size_t sizes[] = { 1, 4097, 65536 + 7, (256u << 10) + 3 };

/* Write and read back each size, through the page cache and direct. */
static void ring_roundtrip(struct __test_metadata *_metadata, struct uring_fs *u)
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

TEST_F_TIMEOUT(uring, roundtrip_goes_through_the_ring, 120)
{
	struct uring_fs *u = &self->u;
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
	struct uring_fs *u = &self->u;
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

TEST_F_TIMEOUT(uring, abort_ends_ring_and_clients, 60)
{
	struct uring_fs *u = &self->u;
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

#else /* FUSE_OVER_IO_URING */

/* The uapi headers of a kernel before 6.14 (the 6.1 backport's lab) */
TEST(uring_transport)
{
	SKIP(return, "these uapi headers (FUSE 7.%d) have no FUSE-over-io_uring",
	     FUSE_KERNEL_MINOR_VERSION);
}

#endif /* FUSE_OVER_IO_URING */

TEST_HARNESS_MAIN
