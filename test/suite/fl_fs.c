// SPDX-License-Identifier: GPL-2.0
/*
 * fuselab: the daemon: a small in-memory filesystem and its threads. See fuselab.h.
 */
#define _GNU_SOURCE
#include "fuselab.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * FUSELAB_BREAK makes the daemon misbehave on purpose, to show that the
 * tests catch it: "pattern" flips the first byte of every READ reply,
 * "mute" never answers a READ.
 */
static bool fl_broken(const char *what)
{
	const char *b = getenv("FUSELAB_BREAK");

	return b && !strcmp(b, what);
}

#define FL_ROOT		FUSE_ROOT_ID
#define FL_TTL		3600

static struct fl_file *fl_node(struct fl_fs *fs, uint64_t nodeid)
{
	if (nodeid < 2 || nodeid >= 2 + FL_NFILES)
		return NULL;
	return &fs->files[nodeid - 2];
}

static void fl_attr(struct fl_fs *fs, uint64_t nodeid, struct fuse_attr *a)
{
	struct fl_file *f = fl_node(fs, nodeid);

	memset(a, 0, sizeof(*a));
	a->ino = nodeid;
	a->blksize = FL_PAGE;
	if (!f) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
		return;
	}
	a->mode = S_IFREG | 0666;
	a->nlink = 1;
	pthread_mutex_lock(&f->lock);
	a->size = f->size;
	pthread_mutex_unlock(&f->lock);
	a->blocks = (a->size + 511) / 512;
}

static void atomic_max(atomic_ulong *m, unsigned long v)
{
	unsigned long cur = atomic_load(m);

	while (v > cur && !atomic_compare_exchange_weak(m, &cur, v))
		;
}

int fl_handle(struct fl_fs *fs, struct fl_buf *b,
	      const struct fuse_in_header *in)
{
	const void *arg = in + 1;
	unsigned char *out = b->out + sizeof(struct fuse_out_header);
	struct fl_file *f = fl_node(fs, in->nodeid);
	uint64_t u = in->unique;

	if (fs->hook && fs->hook(fs, b, in, fs->hook_arg))
		return 0;

	switch (in->opcode) {
	case FUSE_LOOKUP: {
		struct fuse_entry_out *e = (void *)out;
		unsigned int i;
		char c;

		if (in->nodeid != FL_ROOT ||
		    sscanf(arg, "f%u%c", &i, &c) != 1 || i >= FL_NFILES)
			return fl_reply(fs, b, u, -ENOENT, NULL, 0);
		memset(e, 0, sizeof(*e));
		e->nodeid = 2 + i;
		e->generation = 1;
		e->entry_valid = FL_TTL;
		e->attr_valid = FL_TTL;
		fl_attr(fs, e->nodeid, &e->attr);
		return fl_reply(fs, b, u, 0, e, sizeof(*e));
	}
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		return 0;
	case FUSE_SETATTR: {
		const struct fuse_setattr_in *sa = arg;

		if (f && (sa->valid & FATTR_SIZE)) {
			if (sa->size > FL_FILE_CAP)
				return fl_reply(fs, b, u, -EFBIG, NULL, 0);
			pthread_mutex_lock(&f->lock);
			if (sa->size > f->size)
				memset(f->data + f->size, 0,
				       sa->size - f->size);
			f->size = sa->size;
			pthread_mutex_unlock(&f->lock);
		}
	}
	/* fall through */
	case FUSE_GETATTR: {
		struct fuse_attr_out *a = (void *)out;

		memset(a, 0, sizeof(*a));
		a->attr_valid = FL_TTL;
		fl_attr(fs, in->nodeid, &a->attr);
		return fl_reply(fs, b, u, 0, a, sizeof(*a));
	}
	case FUSE_OPEN:
	case FUSE_OPENDIR: {
		struct fuse_open_out *o = (void *)out;

		memset(o, 0, sizeof(*o));
		o->fh = in->nodeid;
		if (in->opcode == FUSE_OPEN &&
		    (fs->cfg.direct_io ||
		     (fs->cfg.direct_mask & (1u << (in->nodeid - 2)))))
			o->open_flags = FOPEN_DIRECT_IO;
		return fl_reply(fs, b, u, 0, o, sizeof(*o));
	}
	case FUSE_READ: {
		const struct fuse_read_in *r = arg;
		size_t n = 0;

		if (!f)
			return fl_reply(fs, b, u, -EISDIR, NULL, 0);
		pthread_mutex_lock(&f->lock);
		if (r->offset < f->size) {
			n = f->size - r->offset;
			if (n > r->size)
				n = r->size;
			memcpy(out, f->data + r->offset, n);
		}
		pthread_mutex_unlock(&f->lock);
		if (n && fl_broken("pattern"))
			out[0] ^= 0xff;
		if (fl_broken("mute"))
			return 0;
		atomic_fetch_add(&fs->st.reads, 1);
		atomic_max(&fs->st.max_read, r->size);
		return fl_reply(fs, b, u, 0, out, n);
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *w = arg;
		struct fuse_write_out *wo = (void *)out;

		if (!f)
			return fl_reply(fs, b, u, -EISDIR, NULL, 0);
		if (w->offset + w->size > FL_FILE_CAP)
			return fl_reply(fs, b, u, -EFBIG, NULL, 0);
		pthread_mutex_lock(&f->lock);
		if (w->offset > f->size)	/* a hole reads as zeroes */
			memset(f->data + f->size, 0, w->offset - f->size);
		memcpy(f->data + w->offset, w + 1, w->size);
		if (w->offset + w->size > f->size)
			f->size = w->offset + w->size;
		pthread_mutex_unlock(&f->lock);
		atomic_fetch_add(&fs->st.writes, 1);
		atomic_max(&fs->st.max_write, w->size);
		memset(wo, 0, sizeof(*wo));
		wo->size = w->size;
		return fl_reply(fs, b, u, 0, wo, sizeof(*wo));
	}
	case FUSE_STATFS: {
		struct fuse_statfs_out *s = (void *)out;

		memset(s, 0, sizeof(*s));
		s->st.bsize = FL_PAGE;
		s->st.frsize = FL_PAGE;
		s->st.namelen = 255;
		return fl_reply(fs, b, u, 0, s, sizeof(*s));
	}
	case FUSE_READDIR:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_FLUSH:
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
	case FUSE_DESTROY:
		return fl_reply(fs, b, u, 0, NULL, 0);
	default:
		return fl_reply(fs, b, u, -ENOSYS, NULL, 0);
	}
}

int fl_serve(struct fl_fs *fs)
{
	const struct fuse_in_header *in;
	struct fl_buf b;
	int err;

	err = fl_buf_init(fs, &b);
	if (!err && fs->cfg.mem == FL_MEM_THP && fl_thp_backed(b.base, b.size))
		atomic_fetch_add(&fs->st.thp_buffers, 1);
	if (err) {
		int zero = 0;

		atomic_compare_exchange_strong(&fs->start_err, &zero, err);
	}
	atomic_fetch_add(&fs->started, 1);
	while (!err && !atomic_load(&fs->stop)) {
		ssize_t n = fl_recv(fs, &b, &in);

		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n < 0) {
			err = n;
			break;
		}
		err = fl_handle(fs, &b, in);
		/* The request was interrupted or aborted meanwhile. */
		if (err == -ENOENT)
			err = 0;
	}
	fl_buf_free(&b);
	return -err;
}

struct fl_thread {
	struct fl_fs *fs;
	unsigned int idx;
};

static void *fl_thread_main(void *p)
{
	struct fl_thread t = *(struct fl_thread *)p;

	free(p);
	t.fs->thr_err[t.idx] = fl_serve(t.fs);
	return NULL;
}

int fl_start(struct fl_fs *fs)
{
	unsigned int n = fs->cfg.nthreads ? fs->cfg.nthreads : 1;
	struct timespec ts = { 0, 1000000 };

	if (n > FL_MAX_THREADS)
		n = FL_MAX_THREADS;
	atomic_store(&fs->started, 0);
	atomic_store(&fs->start_err, 0);
	for (fs->nthr = 0; fs->nthr < n; fs->nthr++) {
		struct fl_thread *t = malloc(sizeof(*t));

		if (!t)
			return -ENOMEM;
		t->fs = fs;
		t->idx = fs->nthr;
		if (pthread_create(&fs->thr[fs->nthr], NULL, fl_thread_main, t))
			return -EAGAIN;
	}
	while (atomic_load(&fs->started) < (int)n)
		nanosleep(&ts, NULL);
	return atomic_load(&fs->start_err);
}

void fl_join(struct fl_fs *fs)
{
	for (unsigned int i = 0; i < fs->nthr; i++)
		pthread_join(fs->thr[i], NULL);
	fs->nthr = 0;
}
