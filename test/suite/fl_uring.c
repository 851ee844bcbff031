// SPDX-License-Identifier: GPL-2.0
/*
 * fuselab: the FUSE-over-io_uring transport (Linux 6.14+), spoken with raw
 * io_uring syscalls. Each queue (one per possible CPU) gets ring entries:
 * a header buffer (struct fuse_uring_req_header) and a payload buffer,
 * registered with FUSE_IO_URING_CMD_REGISTER and answered with
 * FUSE_IO_URING_CMD_COMMIT_AND_FETCH. The payload buffers are what the
 * kernel's fuse_copy_* code reads and writes, as for /dev/fuse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "fuselab.h"

#ifdef FUSE_OVER_IO_URING

static int ring_setup(struct fl_ring *r, unsigned int entries)
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

static void ring_free(struct fl_ring *r)
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
static void queue_cmd(struct fl_uring *u, unsigned int i, uint32_t op,
		      uint64_t commit_id)
{
	struct fl_ring *r = &u->r;
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

static int ring_enter(struct fl_uring *u, unsigned int submit,
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
	struct fl_uring_ent *e = b->priv;

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
static const struct fuse_in_header *linearize(struct fl_uring_ent *e, unsigned char *lin)
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
	struct fl_uring *u = arg;
	struct fl_buf b = { 0 };
	unsigned int pending = 0;
	int err;

	b.lin = malloc(u->payload_sz + 4096);
	b.out = malloc(u->payload_sz + 4096);
	b.pipe[0] = b.pipe[1] = -1;
	if (!b.lin || !b.out) {
		atomic_store(&u->err, ENOMEM);
		goto out;
	}
	for (unsigned int i = 0; i < u->nents; i++)
		queue_cmd(u, i, FUSE_IO_URING_CMD_REGISTER, 0);
	err = ring_enter(u, u->nents, 0);
	if (err != (int)u->nents) {
		atomic_store(&u->err, err < 0 ? -err : EIO);
		goto out;
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
			struct fl_uring_ent *e = &u->ents[c->user_data];
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
out:
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

/*
 * Mount with @max_pages (max_write is as many pages: fl_init()), start a
 * /dev/fuse thread for what comes before the ring is ready, and register
 * FL_URING_ENTS_PER_QUEUE ring entries per possible CPU with payload
 * buffers of the size the kernel asks for: ring->max_payload_sz, the largest
 * of FUSE_MIN_READ_BUFFER, max_write and max_pages pages.  0 once the
 * entries are registered, or -errno (@u is then for fl_uring_stop()).
 */
int fl_uring_start(struct fl_uring *u, unsigned int max_pages)
{
	struct fl_config cfg = {
		.max_pages = max_pages,
		.nthreads = 1,
		.want2 = FUSE_OVER_IO_URING,
	};
	unsigned int nq = possible_cpus();
	size_t pages_sz = (size_t)max_pages * FL_PAGE;
	int ret;

	memset(u, 0, sizeof(*u));
	u->r.fd = -1;
	if (nq > FL_URING_MAX_QUEUES)
		return -E2BIG;
	u->fs = fl_mount(&cfg);
	if (!u->fs)
		return -errno;
	u->fs->reply = uring_reply;
	/* requests before the ring is ready still come through /dev/fuse */
	ret = fl_start(u->fs);
	if (ret)
		return ret;

	u->payload_sz = u->fs->max_write > FUSE_MIN_READ_BUFFER ?
			u->fs->max_write : FUSE_MIN_READ_BUFFER;
	if (pages_sz > u->payload_sz)
		u->payload_sz = pages_sz;
	u->nents = nq * FL_URING_ENTS_PER_QUEUE;
	for (unsigned int i = 0; i < u->nents; i++) {
		struct fl_uring_ent *e = &u->ents[i];

		e->qid = i / FL_URING_ENTS_PER_QUEUE;
		e->hdr = fl_map(FL_MEM_ANON, sizeof(*e->hdr));
		e->payload = fl_map(FL_MEM_ANON, u->payload_sz);
		if (e->hdr == MAP_FAILED || e->payload == MAP_FAILED)
			return -ENOMEM;
		e->iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
		e->iov[1] = (struct iovec){ e->payload, u->payload_sz };
	}
	ret = ring_setup(&u->r, 64);
	if (ret)
		return ret;
	ret = pthread_create(&u->thr, NULL, ring_thread, u);
	if (ret)
		return -ret;
	for (int t = 0; t < 500 && !atomic_load(&u->registered) &&
			!atomic_load(&u->err); t++)
		usleep(10000);
	if (atomic_load(&u->err))
		return -atomic_load(&u->err);
	return atomic_load(&u->registered) ? 0 : -ETIMEDOUT;
}

/*
 * Aborting the connection ends the ring: its commands complete with errors
 * and its thread returns; then the mount, the ring and the entries' buffers
 * go.  Also for a ring that fl_uring_start() left half started.
 */
void fl_uring_stop(struct fl_uring *u)
{
	if (!u->fs)
		return;
	if (u->thr) {
		fl_abort(u->fs);
		pthread_join(u->thr, NULL);
	}
	fl_destroy(u->fs);
	ring_free(&u->r);
	for (unsigned int i = 0; i < u->nents; i++) {
		struct fl_uring_ent *e = &u->ents[i];

		if (e->hdr && e->hdr != MAP_FAILED)
			munmap(e->hdr, sizeof(*e->hdr));
		if (e->payload && e->payload != MAP_FAILED)
			munmap(e->payload, u->payload_sz);
	}
	memset(u, 0, sizeof(*u));
	u->r.fd = -1;
}

/* 0, -ENOENT on a kernel without FUSE-over-io_uring, or -errno */
int fl_uring_enable(void)
{
	return fl_write("/sys/module/fuse/parameters/enable_uring", "1", false);
}

#endif /* FUSE_OVER_IO_URING */
