// SPDX-License-Identifier: GPL-2.0
/*
 * fuselab: the /dev/fuse protocol spoken by hand. See fuselab.h.
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

#define FL_HUGE		(2u << 20)
#define FL_GAP_MAX	5

static atomic_uint fl_seq;

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

void fl_fill(unsigned char *p, size_t len, uint64_t off, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = fl_pattern(off + i, seed);
}

long long fl_check(const unsigned char *p, size_t len, uint64_t off,
		   unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != fl_pattern(off + i, seed))
			return (long long)i;
	return -1;
}

/* ------------------------------------------------------------------ memory */

void *fl_map(enum fl_mem mem, size_t len)
{
	void *p;
	int fd;

	switch (mem) {
	case FL_MEM_ANON:
		return mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	case FL_MEM_MEMFD:
	case FL_MEM_SECRET:
		/* memfd_secret(): 447 on every architecture, no libc wrapper */
		fd = mem == FL_MEM_MEMFD ? memfd_create("fuselab", 0) :
					   syscall(447, 0);
		if (fd < 0)
			return MAP_FAILED;
		if (ftruncate(fd, len)) {
			close(fd);
			return MAP_FAILED;
		}
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		return p;
	case FL_MEM_THP: {
		size_t span = (len + FL_HUGE - 1) & ~(size_t)(FL_HUGE - 1);
		unsigned char *raw, *aligned;

		raw = mmap(NULL, span + FL_HUGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (raw == MAP_FAILED)
			return MAP_FAILED;
		aligned = (unsigned char *)(((uintptr_t)raw + FL_HUGE - 1) &
					    ~(uintptr_t)(FL_HUGE - 1));
		/* Keep exactly [aligned, aligned + span) so unmap knows it. */
		if (aligned > raw)
			munmap(raw, aligned - raw);
		if (raw + FL_HUGE > aligned)
			munmap(aligned + span, raw + FL_HUGE - aligned);
		if (madvise(aligned, span, MADV_HUGEPAGE)) {
			munmap(aligned, span);
			return MAP_FAILED;
		}
		memset(aligned, 0, span);
		return aligned;
	}
	}
	errno = EINVAL;
	return MAP_FAILED;
}

void fl_unmap(enum fl_mem mem, void *p, size_t len)
{
	if (mem == FL_MEM_THP)
		len = (len + FL_HUGE - 1) & ~(size_t)(FL_HUGE - 1);
	munmap(p, len);
}

bool fl_thp_backed(const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;
	unsigned long lo, hi;
	bool in = false, ret = false;
	char line[256];
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long kb;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = lo < a + len && a < hi;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1 &&
		    kb > 0)
			ret = true;
	}
	fclose(f);
	return ret;
}

size_t fl_buf_size(struct fl_fs *fs)
{
	size_t need = sizeof(struct fuse_in_header) +
		      sizeof(struct fuse_write_in) + fs->max_write;

	if (need < FUSE_MIN_READ_BUFFER)
		need = FUSE_MIN_READ_BUFFER;
	/* One spare page: the SPLICE_F_MOVE layout puts payload on a page. */
	return ((need + FL_PAGE - 1) & ~(size_t)(FL_PAGE - 1)) + FL_PAGE;
}

/*
 * FL_XP_VEC: cut the buffer into niov pieces of odd lengths (L-2, L, L+2),
 * separated by gaps of 1..5 bytes so that no two pieces are contiguous and
 * most of them straddle a page boundary at a different offset.
 */
static size_t fl_vec_layout(struct fl_buf *b, size_t size, unsigned int niov,
			    unsigned char *base)
{
	size_t l = (size / niov + 3) | 1, off = 0;

	for (unsigned int i = 0; i < niov; i++) {
		size_t len = niov == 1 ? size : l + 2 * (i % 3) - 2;

		off += i % FL_GAP_MAX + 1;
		if (b) {
			b->iov[i].iov_base = base + off;
			b->iov[i].iov_len = len;
		}
		off += len;
	}
	return off + FL_PAGE;
}

int fl_buf_init(struct fl_fs *fs, struct fl_buf *b)
{
	size_t size = fl_buf_size(fs);

	memset(b, 0, sizeof(*b));
	b->pipe[0] = b->pipe[1] = -1;
	b->niov = fs->cfg.xport == FL_XP_VEC ? fs->cfg.niov : 0;
	b->size = b->niov ? fl_vec_layout(NULL, size, b->niov, NULL) : size;
	b->mem = fs->cfg.mem;
	b->base = fl_map(b->mem, b->size);
	if (b->base == MAP_FAILED)
		return -errno;
	b->lin = malloc(size);
	b->out = malloc(size);
	if (!b->lin || !b->out)
		return -ENOMEM;
	if (b->niov) {
		b->iov = calloc(b->niov, sizeof(*b->iov));
		if (!b->iov)
			return -ENOMEM;
		fl_vec_layout(b, size, b->niov, b->base);
	}
	if (fs->cfg.alias_tag) {
		fl_alias_tag(b->base, b->size, true);
		b->alias_tagged = true;
	}
	if (fs->cfg.xport >= FL_XP_SPLICE_IN) {
		/* non-blocking: a failed splice leaves a pipe we must drain */
		if (pipe2(b->pipe, O_NONBLOCK))
			return -errno;
		/* A whole request or reply must fit in the pipe at once. */
		if (fcntl(b->pipe[1], F_SETPIPE_SZ, 2 * size) < 0)
			return -errno;
	}
	return 0;
}

void fl_buf_free(struct fl_buf *b)
{
	if (b->base && b->base != MAP_FAILED) {
		if (b->alias_tagged)
			fl_alias_tag(b->base, b->size, false);
		fl_unmap(b->mem, b->base, b->size);
	}
	free(b->lin);
	free(b->out);
	free(b->iov);
	if (b->pipe[0] >= 0) {
		close(b->pipe[0]);
		close(b->pipe[1]);
	}
	memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------ alias plugin */

#define FL_ALIAS_MARKER		0x5a000000UL	/* test/alias/alias.c marker= */
#define FL_ALIAS_BEGIN		0x000		/* store offsets: message start, */
#define FL_ALIAS_EXEC		0x001		/* its end, */
#define FL_ALIAS_CHAR		0x100		/* and each character c at +c */

static volatile unsigned char *fl_alias_page;
static pthread_mutex_t fl_alias_lock = PTHREAD_MUTEX_INITIALIZER;

/* Send one message; called with fl_alias_lock held. */
static void fl_alias_send(const char *msg)
{
	if (!fl_alias_page) {
		void *p = mmap((void *)FL_ALIAS_MARKER, FL_PAGE,
			       PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE |
			       MAP_FIXED_NOREPLACE, -1, 0);

		if (p != (void *)FL_ALIAS_MARKER) {
			fprintf(stderr, "# alias: marker page: %s\n",
				p == MAP_FAILED ? strerror(errno) : "moved");
			if (p != MAP_FAILED)
				munmap(p, FL_PAGE);
			return;
		}
		fl_alias_page = p;
	}
	fl_alias_page[FL_ALIAS_BEGIN] = 1;
	for (const unsigned char *c = (const void *)msg; *c; c++)
		fl_alias_page[FL_ALIAS_CHAR + *c] = 1;
	fl_alias_page[FL_ALIAS_EXEC] = 1;
}

static void fl_alias_say(const char *msg)
{
	pthread_mutex_lock(&fl_alias_lock);
	fl_alias_send(msg);
	pthread_mutex_unlock(&fl_alias_lock);
}

void fl_alias_reset(void)
{
	fl_alias_say("reset");
}

void fl_alias_tag(void *p, size_t len, bool tag)
{
	volatile unsigned char *c = p;
	char msg[64];

	if (!len)
		return;
	snprintf(msg, sizeof(msg), "%s %lx %zx", tag ? "tag" : "untag",
		 (unsigned long)p, len);
	pthread_mutex_lock(&fl_alias_lock);
	fl_alias_send(msg);
	/* one store into each page, of the byte it holds */
	for (size_t off = 0; off < len; off = (off | (FL_PAGE - 1)) + 1)
		c[off] = c[off];
	c[len - 1] = c[len - 1];
	fl_alias_send("end");
	pthread_mutex_unlock(&fl_alias_lock);
}

void fl_alias_open(const char *name, const char *expect)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "open %s %s", expect, name);
	fprintf(stderr, "# alias window opened: %s\n", name);
	fl_alias_say(msg);
}

void fl_alias_close(void)
{
	fl_alias_say("close");
}

/* --------------------------------------------------------------- transport */

static ssize_t read_full(int fd, void *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		done += n;
	}
	return done;
}

ssize_t fl_recv(struct fl_fs *fs, struct fl_buf *b,
		const struct fuse_in_header **in)
{
	size_t size = fl_buf_size(fs);
	ssize_t n, done = 0;

	switch (fs->cfg.xport) {
	case FL_XP_VEC:
		n = readv(fs->fd, b->iov, b->niov);
		if (n < 0)
			return -errno;
		for (unsigned int i = 0; i < b->niov && done < n; i++) {
			size_t c = b->iov[i].iov_len;

			if (c > (size_t)(n - done))
				c = n - done;
			memcpy(b->lin + done, b->iov[i].iov_base, c);
			done += c;
		}
		*in = (const struct fuse_in_header *)b->lin;
		break;
	case FL_XP_SPLICE_IN:
		n = splice(fs->fd, NULL, b->pipe[1], NULL, size, 0);
		if (n < 0)
			return -errno;
		if (read_full(b->pipe[0], b->base, n) < 0)
			return -EIO;
		*in = (const struct fuse_in_header *)b->base;
		break;
	default:
		n = read(fs->fd, b->base, size);
		if (n < 0)
			return -errno;
		*in = (const struct fuse_in_header *)b->base;
		break;
	}
	if ((size_t)n < sizeof(**in) || (*in)->len != (size_t)n)
		return -EPROTO;
	atomic_fetch_add(&fs->st.requests, 1);
	return n;
}

static int fl_send_vec(struct fl_fs *fs, struct fl_buf *b, size_t total)
{
	struct iovec *iov = b->iov;
	size_t done = 0;
	unsigned int n = 0;
	struct iovec *out = calloc(b->niov, sizeof(*out));
	ssize_t w;

	if (!out)
		return -ENOMEM;
	while (done < total && n < b->niov) {
		size_t c = iov[n].iov_len;

		if (c > total - done)
			c = total - done;
		memcpy(iov[n].iov_base, b->out + done, c);
		out[n].iov_base = iov[n].iov_base;
		out[n].iov_len = c;
		done += c;
		n++;
	}
	w = writev(fs->fd, out, n);
	free(out);
	if (w < 0)
		return -errno;
	return (size_t)w == total ? 0 : -EIO;
}

/* Splice @total bytes of b->out to /dev/fuse through the pipe. */
static int fl_send_splice(struct fl_fs *fs, struct fl_buf *b, size_t total,
			  bool move)
{
	size_t hdr = sizeof(struct fuse_out_header);
	struct iovec iov[2];
	unsigned char *p = b->base, *fresh = NULL;
	size_t maplen = 0;
	int niov = 1;
	ssize_t n;

	if (move && total > hdr) {
		/*
		 * Gift whole pages: header at the end of one page, payload
		 * page-aligned on the next ones, so that the kernel may try to
		 * steal them (fuse_try_move_folio). They stay mapped here
		 * until the splice is done, like a real daemon's buffers.
		 */
		maplen = FL_PAGE + ((total - hdr + FL_PAGE - 1) &
				    ~(size_t)(FL_PAGE - 1));
		fresh = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (fresh == MAP_FAILED)
			return -errno;
		memcpy(fresh + FL_PAGE - hdr, b->out, hdr);
		memcpy(fresh + FL_PAGE, b->out + hdr, total - hdr);
		iov[0].iov_base = fresh + FL_PAGE - hdr;
		iov[0].iov_len = hdr;
		iov[1].iov_base = fresh + FL_PAGE;
		iov[1].iov_len = total - hdr;
		niov = 2;
	} else {
		memcpy(p, b->out, total);
		iov[0].iov_base = p;
		iov[0].iov_len = total;
	}
	n = vmsplice(b->pipe[1], iov, niov, move ? SPLICE_F_GIFT : 0);
	if (n >= 0 && (size_t)n != total)
		n = -1, errno = EIO;
	if (n >= 0)
		n = splice(b->pipe[0], NULL, fs->fd, NULL, total,
			   move ? SPLICE_F_MOVE : 0);
	if (fresh)
		munmap(fresh, maplen);
	if (n < 0) {
		int err = -errno;
		char sink[4096];

		/* Drain what the kernel refused so the pipe stays usable. */
		while (read(b->pipe[0], sink, sizeof(sink)) > 0)
			;
		return err;
	}
	return (size_t)n == total ? 0 : -EIO;
}

int fl_reply(struct fl_fs *fs, struct fl_buf *b, uint64_t unique, int error,
	     const void *data, size_t len)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh) + len, .error = error, .unique = unique,
	};
	ssize_t w;

	if (fs->reply && b->priv)
		return fs->reply(fs, b, &oh, data, len);
	if (data != b->out + sizeof(oh))
		memmove(b->out + sizeof(oh), data, len);
	memcpy(b->out, &oh, sizeof(oh));

	switch (fs->cfg.xport) {
	case FL_XP_VEC:
		return fl_send_vec(fs, b, oh.len);
	case FL_XP_SPLICE_OUT:
		return fl_send_splice(fs, b, oh.len, false);
	case FL_XP_SPLICE_MOVE:
		return fl_send_splice(fs, b, oh.len, true);
	default:
		memcpy(b->base, b->out, oh.len);
		w = write(fs->fd, b->base, oh.len);
		if (w < 0)
			return -errno;
		return (size_t)w == oh.len ? 0 : -EIO;
	}
}

/* ---------------------------------------------------------- the filesystem */

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

/* ------------------------------------------------------------ mount, INIT */

static int fl_conn_id(const char *mnt, unsigned int *conn)
{
	char line[512], path[256];
	unsigned int ma, mi;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*u %*u %u:%u %*s %255s", &ma, &mi, path) == 3 &&
		    !strcmp(path, mnt)) {
			/* fusectl names the directory after the kernel's dev_t */
			*conn = ma << 20 | mi;
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

static int fl_init(struct fl_fs *fs)
{
	size_t size = FUSE_MIN_READ_BUFFER + FL_PAGE;
	unsigned char *buf = malloc(size);
	struct {
		struct fuse_out_header h;
		struct fuse_init_out o;
	} r;
	const struct fuse_in_header *in = (void *)buf;
	const struct fuse_init_in *ii = (void *)(in + 1);
	uint32_t want = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES |
			FUSE_INIT_EXT;
	ssize_t n;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	n = read(fs->fd, buf, size);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	if ((size_t)n < sizeof(*in) + 16 || in->opcode != FUSE_INIT) {
		err = -EPROTO;
		goto out;
	}
	if (fs->cfg.xport >= FL_XP_SPLICE_IN)
		want |= FUSE_SPLICE_READ | FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE;

	memset(&r, 0, sizeof(r));
	r.h.unique = in->unique;
	r.h.len = sizeof(r);
	r.o.major = FUSE_KERNEL_VERSION;
	r.o.minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ?
		    ii->minor : FUSE_KERNEL_MINOR_VERSION;
	r.o.max_readahead = ii->max_readahead;
	/* want2: its low half adds to flags, its high half is flags2 */
	r.o.flags = (want | (uint32_t)fs->cfg.want2) & ii->flags;
	if (ii->flags & FUSE_INIT_EXT)
		r.o.flags2 = (uint32_t)(fs->cfg.want2 >> 32) & ii->flags2;
	r.o.max_background = 16;
	r.o.congestion_threshold = 12;
	r.o.max_pages = fs->cfg.max_pages;
	r.o.max_write = fs->cfg.max_pages * FL_PAGE;
	r.o.time_gran = 1;
	fs->minor = r.o.minor;
	fs->max_write = r.o.max_write;
	if (write(fs->fd, &r, sizeof(r)) != sizeof(r))
		err = -errno ? -errno : -EIO;
out:
	free(buf);
	return err;
}

struct fl_fs *fl_mount(const struct fl_config *cfg)
{
	struct fl_fs *fs = calloc(1, sizeof(*fs));
	char opts[128];
	int err = -ENOMEM;

	if (!fs)
		goto fail;
	/* a new connection: forget pages an earlier test left tagged */
	fl_alias_reset();
	fs->cfg = *cfg;
	if (!fs->cfg.max_pages)
		fs->cfg.max_pages = 32;
	if (!fs->cfg.niov)
		fs->cfg.niov = 1;
	fs->fd = -1;
	for (unsigned int i = 0; i < FL_NFILES; i++) {
		pthread_mutex_init(&fs->files[i].lock, NULL);
		fs->files[i].data = mmap(NULL, FL_FILE_CAP,
					 PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (fs->files[i].data == MAP_FAILED) {
			fs->files[i].data = NULL;
			goto fail;
		}
	}
	snprintf(fs->mnt, sizeof(fs->mnt), "/tmp/fl.%d.%u", getpid(),
		 atomic_fetch_add(&fl_seq, 1));
	if (mkdir(fs->mnt, 0755) && errno != EEXIST)
		goto fail_errno;
	fs->fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fs->fd < 0)
		goto fail_errno;
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other",
		 fs->fd);
	if (mount("fuselab", fs->mnt, "fuse.fuselab", MS_NOSUID | MS_NODEV,
		  opts))
		goto fail_errno;
	err = fl_init(fs);
	if (err)
		goto fail;
	err = fl_conn_id(fs->mnt, &fs->conn);
	if (err)
		goto fail;
	return fs;

fail_errno:
	err = -errno;
fail:
	if (fs)
		fl_destroy(fs);
	errno = -err;
	return NULL;
}

void fl_destroy(struct fl_fs *fs)
{
	atomic_store(&fs->stop, 1);
	if (fs->fd >= 0) {
		umount2(fs->mnt, MNT_DETACH);
		/* Wakes serving threads if clients still hold the super block. */
		fl_abort(fs);
		fl_join(fs);
		close(fs->fd);
	}
	rmdir(fs->mnt);
	for (unsigned int i = 0; i < FL_NFILES; i++)
		if (fs->files[i].data)
			munmap(fs->files[i].data, FL_FILE_CAP);
	free(fs);
}

void fl_path(struct fl_fs *fs, unsigned int i, char *out, size_t len)
{
	snprintf(out, len, "%s/f%u", fs->mnt, i);
}

static int fl_ctl_path(struct fl_fs *fs, const char *name, char *out,
		       size_t len)
{
	return snprintf(out, len, "/sys/fs/fuse/connections/%u/%s", fs->conn,
			name) >= (int)len ? -ENAMETOOLONG : 0;
}

long fl_waiting(struct fl_fs *fs)
{
	char path[96];
	long v = -1;
	FILE *f;

	if (fl_ctl_path(fs, "waiting", path, sizeof(path)))
		return -1;
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

int fl_abort(struct fl_fs *fs)
{
	char path[96];
	int fd, ret = 0;

	if (fl_ctl_path(fs, "abort", path, sizeof(path)))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		ret = -errno;
	close(fd);
	return ret;
}

/* ---------------------------------------------------------------- GUP probes */

#define FL_TRACE "/sys/kernel/tracing"

/*
 * Everything mm/gup.c of 7.2 offers to take references on user pages.  The
 * iov_iter helpers (iov_iter_get_pages2(), iov_iter_extract_pages()) end in
 * these; they cannot be traced themselves, since lib/Makefile builds lib/
 * without the ftrace hooks.
 */
static const char *const fl_gup_syms[] = {
	"get_user_pages_fast",
	"get_user_pages_fast_only", "pin_user_pages_fast", "get_user_pages",
	"get_user_pages_unlocked", "get_user_pages_remote", "pin_user_pages",
	"pin_user_pages_unlocked", "pin_user_pages_remote",
	"gup_fast_fallback", "__get_user_pages",
};

int fl_write(const char *path, const char *val, bool append)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY | (append ? O_APPEND : O_TRUNC));
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

static int fl_trace_write(const char *file, const char *val, bool append)
{
	char path[160];

	snprintf(path, sizeof(path), FL_TRACE "/%s", file);
	return fl_write(path, val, append);
}

/*
 * The function tracer, filtered to the GUP entry points, with a stack trace
 * per call (func_stack_trace).  Kprobe events were tried first: on 7.2.13
 * (x86_64, TCG) re-arming a kprobe on get_user_pages_fast() or
 * pin_user_pages_fast() made the next hit jump to a bad address, on stock
 * and patched alike.
 */
int fl_calls_start(struct fl_gup *g, const char *const *syms, size_t nsyms,
		   const char *frame)
{
	char sym[80];
	int ret;

	memset(g, 0, sizeof(*g));
	if (frame)
		snprintf(g->frame, sizeof(g->frame), "%s", frame);
	fl_trace_write("tracing_on", "0", false);
	fl_trace_write("current_tracer", "nop", false);
	fl_trace_write("set_ftrace_filter", "", false);
	for (size_t i = 0; i < nsyms; i++) {
		snprintf(sym, sizeof(sym), "%s\n", syms[i]);
		ret = fl_trace_write("set_ftrace_filter", sym, true);
		if (ret) {
			/* e.g. an empty inline on this architecture */
			if (!frame)
				fprintf(stderr, "fl_gup: cannot trace %s: %s\n",
					syms[i], strerror(-ret));
			continue;
		}
		g->probes++;
		snprintf(g->probed + strlen(g->probed),
			 sizeof(g->probed) - strlen(g->probed), "%s%s",
			 g->probes > 1 ? " " : "", syms[i]);
	}
	if (!g->probes) {
		if (!frame)
			fprintf(stderr, "fl_gup: no GUP entry point can be traced\n");
		return -ENOENT;
	}
	if ((ret = fl_trace_write("buffer_size_kb", "4096", false)) ||
	    (ret = fl_trace_write("current_tracer", "function", false)) ||
	    (ret = fl_trace_write("options/func_stack_trace", "1", false)) ||
	    (ret = fl_trace_write("trace", "", false)) ||
	    (ret = fl_trace_write("tracing_on", "1", false))) {
		fprintf(stderr, "fl_gup: cannot start tracing: %s\n", strerror(-ret));
		return ret;
	}
	return 0;
}

int fl_gup_start(struct fl_gup *g)
{
	return fl_calls_start(g, fl_gup_syms,
			      sizeof(fl_gup_syms) / sizeof(fl_gup_syms[0]), NULL);
}

/*
 * The frames that make a hit "dev": by default any frame of /dev/fuse
 * read/write or of the io_uring transport's copies; with g->frame, only the
 * immediate caller, if it is that function.
 */
static bool fl_dev_frame(const struct fl_gup *g, const char *f)
{
	if (g->frame[0])
		return strcspn(f, "+ \n") == strlen(g->frame) &&
		       !strncmp(f, g->frame, strlen(g->frame));
	return !strncmp(f, "fuse_dev_", 9) || !strncmp(f, "fuse_copy_", 10) ||
	       !strncmp(f, "fuse_uring_", 11);
}

/* Events lost to a full ring buffer would make "0 hits" meaningless. */
static long fl_trace_overruns(void)
{
	char path[96], line[128];
	long total = 0, v;

	for (int cpu = 0; cpu < 64; cpu++) {
		FILE *f;

		snprintf(path, sizeof(path), FL_TRACE "/per_cpu/cpu%d/stats", cpu);
		f = fopen(path, "r");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "overrun: %ld", &v) == 1)
				total += v;
		fclose(f);
	}
	return total;
}

int fl_gup_stop(struct fl_gup *g)
{
	char line[512], sym[64] = "", frame[96];
	bool in_hit = false, is_dev = false;
	long lost;
	FILE *f;

	fl_trace_write("tracing_on", "0", false);
	f = fopen(FL_TRACE "/trace", "r");
	if (!f)
		return -errno;
	/*
	 *   comm-pid [cpu] flags ts: get_user_pages_fast <-caller
	 *   comm-pid [cpu] flags ts: <stack trace>
	 *  => caller
	 */
	while (fgets(line, sizeof(line), f)) {
		char *arrow = strstr(line, " <-");
		char *p;

		if (line[0] != '#' && arrow) {
			if (in_hit)
				is_dev ? g->dev++ : g->other++;
			in_hit = true;
			*arrow = '\0';
			p = strrchr(line, ' ');
			snprintf(sym, sizeof(sym), "%.63s", p ? p + 1 : line);
			is_dev = fl_dev_frame(g, arrow + 3);
			if (is_dev && !g->dev_example[0])
				snprintf(g->dev_example, sizeof(g->dev_example),
					 "%s <- %.*s", sym,
					 (int)strcspn(arrow + 3, "+\n"), arrow + 3);
		} else if (in_hit && sscanf(line, " => %95[^+ \n]", frame) == 1 &&
			   !is_dev && !g->frame[0] && fl_dev_frame(g, frame)) {
			is_dev = true;
			if (!g->dev_example[0])
				snprintf(g->dev_example, sizeof(g->dev_example),
					 "%s <- %s", sym, frame);
		}
	}
	if (in_hit)
		is_dev ? g->dev++ : g->other++;
	fclose(f);
	lost = fl_trace_overruns();
	fl_trace_write("options/func_stack_trace", "0", false);
	fl_trace_write("current_tracer", "nop", false);
	fl_trace_write("set_ftrace_filter", "", false);
	if (lost) {
		fprintf(stderr, "fl_gup: %ld trace events lost\n", lost);
		return -ENOBUFS;
	}
	return 0;
}

/* ------------------------------------------------------------------ clients */

pid_t fl_spawn(struct fl_fs *fs, fl_client_fn fn, void *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* A client must not keep the daemon's end of the connection. */
		if (fs && fs->fd >= 0)
			close(fs->fd);
		_exit(fn(fs, arg) & 0xff);
	}
	return pid;
}

void fl_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

uint64_t fl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

int fl_wait(pid_t pid, unsigned int ms)
{
	uint64_t end = fl_now_ms() + ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0)
			return -1;
		if (fl_now_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		fl_sleep_ms(10);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

bool fl_still_blocked(pid_t pid, unsigned int ms)
{
	siginfo_t si = { 0 };

	fl_sleep_ms(ms);
	/* WNOWAIT: leave the exit status for fl_wait(). */
	if (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT))
		return false;
	return si.si_pid == 0;
}

bool fl_readable(struct fl_fs *fs, int ms)
{
	struct pollfd p = { .fd = fs->fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

int fl_client_statfs(struct fl_fs *fs, void *arg)
{
	struct statfs s;

	(void)arg;
	return statfs(fs->mnt, &s) ? errno : 0;
}

int fl_client_rw(struct fl_fs *fs, void *arg)
{
	static unsigned char buf[FL_CLIENT_RW_LEN];
	char path[96];
	ssize_t n;
	int fd;

	fl_path(fs, 0, path, sizeof(path));
	fd = open(path, O_RDWR);
	if (fd < 0)
		return errno;
	fl_fill(buf, sizeof(buf), 0, 9);
	n = arg ? pwrite(fd, buf, sizeof(buf), 0) :
		  pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return errno;
	if (n != sizeof(buf) || fl_check(buf, sizeof(buf), 0, 9) != -1)
		return 200;
	return 0;
}
