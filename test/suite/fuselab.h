/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuselab: a small FUSE filesystem that speaks the /dev/fuse protocol itself,
 * so that each test controls exactly which buffers the daemon hands to
 * read(2)/readv(2)/splice(2) and write(2)/writev(2) of /dev/fuse.
 *
 * The filesystem is flat: a root directory with FL_NFILES regular files
 * "f0".."f7" whose contents live in daemon memory (struct fl_file).
 */
#ifndef FUSELAB_H
#define FUSELAB_H

#include <linux/fuse.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define FL_NFILES	8
#define FL_FILE_CAP	(8u << 20)	/* bytes of backing store per file */
#define FL_MAX_THREADS	8
#define FL_PAGE		4096u

/* Where the daemon's request/reply buffers live. */
enum fl_mem {
	FL_MEM_ANON,	/* private anonymous mapping */
	FL_MEM_MEMFD,	/* MAP_SHARED mapping of a memfd */
	FL_MEM_THP,	/* anonymous, 2 MiB aligned, MADV_HUGEPAGE, populated */
	FL_MEM_SECRET,	/* MAP_SHARED mapping of a memfd_secret() (ENOSYS: none) */
};

/* How the daemon talks to /dev/fuse. */
enum fl_xport {
	FL_XP_RW,		/* read(2) + write(2) of one buffer */
	FL_XP_VEC,		/* readv(2) + writev(2) of niov odd-sized pieces */
	FL_XP_SPLICE_IN,	/* splice(/dev/fuse -> pipe) + read(pipe); write(2) */
	FL_XP_SPLICE_OUT,	/* read(2); vmsplice + splice(pipe -> /dev/fuse) */
	FL_XP_SPLICE_MOVE,	/* as SPLICE_OUT with SPLICE_F_GIFT/SPLICE_F_MOVE */
};

struct fl_config {
	unsigned int max_pages;		/* negotiated max_pages, 1..256 */
	bool direct_io;			/* FOPEN_DIRECT_IO on every open */
	uint32_t direct_mask;		/* ... or on opens of f<bit> */
	enum fl_mem mem;
	enum fl_xport xport;
	unsigned int niov;		/* pieces per readv/writev (FL_XP_VEC) */
	unsigned int nthreads;		/* serving threads started by fl_start() */
	uint64_t want2;			/* extra INIT flags: low half flags, high flags2 */
	bool alias_tag;			/* serving buffers watched by the alias plugin */
};

struct fl_file {
	pthread_mutex_t lock;
	size_t size;
	unsigned char *data;		/* FL_FILE_CAP bytes */
};

struct fl_stats {
	atomic_ulong reads, writes;	/* FUSE_READ / FUSE_WRITE served */
	atomic_ulong max_read, max_write; /* largest payload seen */
	atomic_ulong requests;
	atomic_ulong thp_buffers;	/* serving buffers seen backed by THP */
};

struct fl_buf {
	unsigned char *base;		/* the daemon's buffer, of kind mem */
	enum fl_mem mem;
	size_t size;			/* its mapped length */
	unsigned char *lin;		/* contiguous copy of a readv'd request */
	unsigned char *out;		/* reply staging, copied into base */
	struct iovec *iov;		/* FL_XP_VEC pieces, niov entries */
	unsigned int niov;
	int pipe[2];			/* splice transports */
	void *priv;			/* the transport's own (io_uring entry) */
	bool alias_tagged;		/* base is tagged for the alias plugin */
};

struct fl_fs;
/* Optional per-request hook: return true if it handled the request. */
typedef bool (*fl_hook_t)(struct fl_fs *fs, struct fl_buf *buf,
			  const struct fuse_in_header *in, void *arg);
/* Optional reply transport replacing /dev/fuse writes (io_uring). */
typedef int (*fl_reply_t)(struct fl_fs *fs, struct fl_buf *buf,
			  const struct fuse_out_header *oh, const void *data,
			  size_t len);

struct fl_fs {
	struct fl_config cfg;
	int fd;				/* /dev/fuse */
	char mnt[64];
	unsigned int conn;		/* /sys/fs/fuse/connections/<conn> */
	uint32_t minor;			/* protocol minor the kernel speaks */
	uint32_t max_write;
	struct fl_file files[FL_NFILES];
	struct fl_stats st;
	fl_hook_t hook;
	void *hook_arg;
	fl_reply_t reply;
	pthread_t thr[FL_MAX_THREADS];
	int thr_err[FL_MAX_THREADS];	/* errno that ended each thread */
	unsigned int nthr;
	atomic_int started;		/* threads that got their buffers */
	atomic_int start_err;		/* first error of a starting thread */
	atomic_int stop;
};

/* The byte every test expects at file offset @off for pattern @seed. */
static inline unsigned char fl_pattern(uint64_t off, unsigned int seed)
{
	uint64_t x = off * 0x9e3779b97f4a7c15ull + seed * 0x632be59bd9b4e019ull;

	return (unsigned char)((x >> 56) ^ (x >> 29) ^ off);
}

void fl_fill(unsigned char *p, size_t len, uint64_t off, unsigned int seed);
/* Offset of the first mismatch against the pattern, or -1 if none. */
long long fl_check(const unsigned char *p, size_t len, uint64_t off,
		   unsigned int seed);

/*
 * Mount a new instance at a fresh directory and complete FUSE_INIT in the
 * calling thread. Returns NULL and sets errno on failure.
 */
struct fl_fs *fl_mount(const struct fl_config *cfg);
/*
 * Start cfg.nthreads serving threads; returns once each has its buffer, or
 * the first thread's error (-errno).
 */
int fl_start(struct fl_fs *fs);
/* Join the serving threads (they end on ENODEV or ECONNABORTED). */
void fl_join(struct fl_fs *fs);
/* Lazy-unmount, stop threads, close /dev/fuse, free everything. */
void fl_destroy(struct fl_fs *fs);

/* Path of file @i on the mount (static buffer per call site is the caller's). */
void fl_path(struct fl_fs *fs, unsigned int i, char *out, size_t len);
/* Integers from /sys/fs/fuse/connections/<conn>/waiting, or -1. */
long fl_waiting(struct fl_fs *fs);
/* Write 1 to /sys/fs/fuse/connections/<conn>/abort. */
int fl_abort(struct fl_fs *fs);

/* Buffers in the configured memory kind, shaped for the configured transport. */
int fl_buf_init(struct fl_fs *fs, struct fl_buf *b);
void fl_buf_free(struct fl_buf *b);
size_t fl_buf_size(struct fl_fs *fs);
/* Map @len bytes of memory of kind @mem; MAP_FAILED on error. */
void *fl_map(enum fl_mem mem, size_t len);
void fl_unmap(enum fl_mem mem, void *p, size_t len);
/* True if [p, p+len) is backed by at least one transparent huge page. */
bool fl_thp_backed(const void *p, size_t len);

/*
 * Receive one request into @b with the configured transport. Returns its
 * length and points *in at a contiguous copy of it, or -errno.
 */
ssize_t fl_recv(struct fl_fs *fs, struct fl_buf *b,
		const struct fuse_in_header **in);
/*
 * Send a reply built from @hdr (error, unique) plus @len payload bytes at
 * @data through the configured transport. Returns 0 or -errno.
 */
int fl_reply(struct fl_fs *fs, struct fl_buf *b, uint64_t unique, int error,
	     const void *data, size_t len);
/* Serve one received request with the in-memory filesystem. */
int fl_handle(struct fl_fs *fs, struct fl_buf *b,
	      const struct fuse_in_header *in);
/* The serving loop of one thread; returns the errno that ended it. */
int fl_serve(struct fl_fs *fs);

/* Client side helpers, run in forked children so that a hang is visible. */
typedef int (*fl_client_fn)(struct fl_fs *fs, void *arg);
pid_t fl_spawn(struct fl_fs *fs, fl_client_fn fn, void *arg);
/* Clients for fl_spawn(): statfs() of the mount (0 or errno) ... */
int fl_client_statfs(struct fl_fs *fs, void *arg);
/*
 * ... and direct I/O of FL_CLIENT_RW_LEN bytes of the pattern (seed 9) at
 * offset 0 of f0: written if @arg, else read and checked (200: wrong data).
 */
#define FL_CLIENT_RW_LEN	(64u << 10)
int fl_client_rw(struct fl_fs *fs, void *arg);
/* The daemon's side: a request is queued within @ms. */
bool fl_readable(struct fl_fs *fs, int ms);
/*
 * A daemon that serves one request at a time with @b (the test thread):
 * until a request of @opcode arrives, left unanswered in b->lin (for
 * FUSE_STATFS: until anything is queued, nothing read), 0 or -errno; ...
 */
int fl_serve_until(struct fl_fs *fs, struct fl_buf *b, uint32_t opcode);
/*
 * ... until client @pid exits: its exit code (an errno, 0 for success; 300
 * if a signal ended it), or -1 if it still waits after 10 s (the connection
 * is then aborted) ...
 */
int fl_serve_until_exit(struct fl_fs *fs, struct fl_buf *b, pid_t pid);
/* ... until the connection's "waiting" is 0 (3 s at most): its last value. */
long fl_serve_until_drained(struct fl_fs *fs, struct fl_buf *b);
/* Write @val to the file @path (appended, or truncating it): 0 or -errno. */
int fl_write(const char *path, const char *val, bool append);
/*
 * Wait up to @ms for @pid. Returns its exit code (0..255), or -1 after
 * killing it on timeout.
 */
int fl_wait(pid_t pid, unsigned int ms);
void fl_sleep_ms(unsigned int ms);
/* Monotonic milliseconds, for deadlines (TCG makes loop counts meaningless). */
uint64_t fl_now_ms(void);
/* True if @pid is still running after @ms. */
bool fl_still_blocked(pid_t pid, unsigned int ms);

/*
 * The alias plugin (test/qemu-plugins/alias.c), when the lab loads it into QEMU,
 * counts loads of a tagged page's lines through a virtual line other than
 * the one that last stored to them, inside a window the test opens and
 * closes. The guest talks to it by storing to a marker page at a fixed
 * address (the address carries the message); without the plugin these
 * are stores to a private page. The verdict is the plugin's, on the host:
 * the window's name becomes a TAP line of its own ("<run>/alias/<name>"),
 * "ok" if its counts match the window's rule.
 */
void fl_alias_reset(void);
/* Tag (@tag) or untag the physical pages under [p, p + len). */
void fl_alias_tag(void *p, size_t len, bool tag);
/*
 * @name: "<suite>/<test>", no spaces. @expect, the host's rules:
 * "<alias rule>[/<cache rule>]". The alias plugin's: "zero" (no cross-alias
 * load), "nonzero", or "zero:<class>[,<class>]" for some of k2u (stored
 * through a kernel address, loaded through a user one), u2k, k2k, u2u. The
 * cache model's (test/qemu-plugins/cache926.c): "zero" (no load returns stale
 * data on the tagged pages; the default) or "nonzero".
 */
void fl_alias_open(const char *name, const char *expect);
void fl_alias_close(void);

/*
 * A test whose verdict is its windows' skips where no plugin judges them
 * (the lab boots with fuselab.plugin=alias|cache when QEMU has one): its
 * own assertions alone would pass on every kernel.
 */
#define FL_NEED_PLUGIN()						\
	do {								\
		if (!getenv("FUSELAB_PLUGIN"))				\
			SKIP(return, "no QEMU plugin in this boot: "	\
			     "the alias and cache runs judge this test");\
	} while (0)

/*
 * Counting GUP calls: the function tracer on the get_user_pages and
 * pin_user_pages entry points of mm/gup.c, each call recorded with its stack.
 * A call is "dev" when a frame of its stack is /dev/fuse or io_uring
 * transport code (fuse_dev_*, fuse_copy_*, fuse_uring_*), "other" else.
 */
struct fl_gup {
	unsigned int probes;		/* entry points traced */
	unsigned long dev, other;	/* hits by class */
	char dev_example[160];		/* "symbol <- frame" of the first dev hit */
	char probed[512];		/* names of the traced entry points */
	char frame[64];			/* fl_calls_start(): the "dev" frame */
};

/* Start tracing; 0 or -errno (message on stderr). */
int fl_gup_start(struct fl_gup *g);
/*
 * The same for any functions @syms: a hit is "dev" when its immediate
 * caller is the function @frame (so flush_dcache_folio() called by the GUP slow
 * path under fuse_copy_fill() is not a hit of fuse_copy_folio()).  -ENOENT if none of @syms can be traced (not a
 * function on this architecture, e.g. an empty inline), quietly.
 */
int fl_calls_start(struct fl_gup *g, const char *const *syms, size_t nsyms,
		   const char *frame);
/* Stop tracing and classify the hits; 0 or -errno (e.g. lost events). */
int fl_gup_stop(struct fl_gup *g);

/* arm64 MTE: @p with pointer tag @tag; tag memory with @p's tag; read it */
#define FL_MTE_GRANULE	16u
void *fl_mte_tagged(void *p, unsigned long tag);
void fl_mte_set_tags(void *p, size_t len);
unsigned int fl_mte_get_tag(void *p);

/* Is @name a function of the running kernel (/proc/kallsyms)? */
bool fl_kernel_has_function(const char *name);

/*
 * The order of flush_dcache_folio() and unpin_folio() calls per folio
 * (fl_kprobe.c): started, then stopped and read.
 */
#define FL_MAX_UNPINS	64
/* What the trace says about the folios unpinned in it (the client's). */
struct fl_folio_order {
	unsigned long unpinned[FL_MAX_UNPINS];	/* each folio once */
	unsigned long first_unpin[FL_MAX_UNPINS]; /* its first unpin's event */
	unsigned int nunpinned;
	unsigned long flushes_before;	/* of such a folio, before its unpin */
	unsigned long flushes_after;	/* ... and after it */
	unsigned long late_folio;	/* the first one flushed after */
	unsigned long lost;		/* events written but not in the buffer */
};
bool fl_folio_order_supported(void);
int fl_folio_order_start(void);
int fl_folio_order_stop(struct fl_folio_order *o);

/* The null server (fl_null.c): its file, its variants, its state. */
#define FL_NULL_PERIOD	65536u		/* the pattern repeats every 64 KiB */
#define FL_NULL_MAX		(1u << 20)	/* max_pages 256 */
#define FL_NULL_FILE_SIZE	(1u << 30)
#define FL_NULL_PIECE	1028u		/* ~1 KiB, not a divisor of the page */
#define FL_NULL_READ_FILE	0
#define FL_NULL_WRITE_FILE	1

struct fl_null_variant {
	bool dio;		/* FOPEN_DIRECT_IO, else the page cache */
	bool vec;		/* /dev/fuse through ~1 KiB iovecs */
	unsigned int nthreads;	/* server threads */
};

struct fl_null {
	struct fl_fs *fs;
	struct fl_null_variant v;
	unsigned char *pat;	/* FL_NULL_PERIOD + FL_NULL_MAX bytes of pattern */
	atomic_int verify;	/* check the bytes of WRITEs */
	atomic_ulong requests, max_req, bad_writes;
	atomic_int err;		/* the first error that ended a server thread */
};

/* The byte the null file holds at @off ... */
unsigned char fl_null_byte(uint64_t off);
/* ... and where @p (the file's @len bytes at @off) differs from it, or -1 */
long fl_null_check(const unsigned char *p, size_t len, uint64_t off);
/* Mount and start @v's server threads (NULL and errno); stop them */
struct fl_null *fl_null_start(const struct fl_null_variant *v);
int fl_null_stop(struct fl_null *nb);

#ifdef FUSE_OVER_IO_URING
#include <linux/io_uring.h>

/*
 * The FUSE-over-io_uring transport (fl_uring.c): a ring of
 * FL_URING_ENTS_PER_QUEUE entries per possible CPU, served by a thread of
 * its own through fl_handle().
 */
#define FL_URING_ENTS_PER_QUEUE	2
#define FL_URING_MAX_QUEUES	8

struct fl_ring {
	int fd;
	unsigned int *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	unsigned char *sqes;	/* 128-byte entries */
	void *sq_map, *cq_map;
	size_t sq_len, cq_len, sqes_len;
};

struct fl_uring_ent {
	unsigned int qid;
	struct fuse_uring_req_header *hdr;
	unsigned char *payload;
	struct iovec iov[2];
};

struct fl_uring {
	struct fl_fs *fs;
	struct fl_ring r;
	struct fl_uring_ent ents[FL_URING_MAX_QUEUES * FL_URING_ENTS_PER_QUEUE];
	unsigned int nents;
	size_t payload_sz;
	pthread_t thr;
	atomic_ulong served;	/* requests answered through the ring */
	atomic_int err;		/* first error of the ring thread */
	atomic_int registered;
};

int fl_uring_enable(void);	/* 0, -ENOENT without FUSE-over-io_uring */
int fl_uring_start(struct fl_uring *u, unsigned int max_pages);
void fl_uring_stop(struct fl_uring *u);
#endif

#endif
