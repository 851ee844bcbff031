// SPDX-License-Identifier: GPL-2.0
/*
 * Daemon buffers of unusual memory kinds, where uaccess and GUP
 * disagree about what the daemon may touch.
 *
 * mte: arm64's Memory Tagging Extension. The daemon's buffer is PROT_MTE
 * memory of one tag, with synchronous tag checks; the daemon hands the
 * kernel a pointer of another tag. An ordinary store through it faults,
 * and so does the kernel's uaccess copy, but faulting the page in (GUP)
 * ignores tags and succeeds: the copy must fail with -EFAULT, not go round
 * fault-in and copy for ever. Stock copied through the kernel's own
 * mapping, where no user tag is checked.
 *
 * secret: a memfd_secret() mapping, which has no kernel mapping and which
 * GUP refuses. Stock cannot read a request into it (-EFAULT); with the
 * series the daemon's own mapping is used and it just works: a behaviour
 * change of the series.
 *
 * The test thread is the daemon for mte; secret has a serving thread.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "fuselab.h"
#include "kselftest_harness.h"

#ifndef PR_SET_TAGGED_ADDR_CTRL
#define PR_SET_TAGGED_ADDR_CTRL	55
#define PR_TAGGED_ADDR_ENABLE	(1UL << 0)
#endif
#ifndef PR_MTE_TCF_SYNC
#define PR_MTE_TCF_SYNC		(1UL << 1)
#define PR_MTE_TAG_SHIFT	3
#endif
#ifndef HWCAP2_MTE
#define HWCAP2_MTE		(1UL << 18)
#endif
#ifndef PROT_MTE
#define PROT_MTE		0x20
#endif
#ifndef SEGV_MTESERR
#define SEGV_MTESERR		9
#endif

#define FILE_LEN	FL_CLIENT_RW_LEN	/* what fl_client_rw() moves */
/* What "promptly" means: far above a good return, even under TCG. */
#define DEADLINE_MS	10000u

/* The tag the buffer's memory gets, and the other one the daemon uses. */
#define MEM_TAG		0x3ul
#define BAD_TAG		0x5ul

/* Read @len bytes at @p as the kernel does, unchecked (/proc/self/mem). */
static ssize_t peek(void *p, void *out, size_t len)
{
	int fd = open("/proc/self/mem", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, out, len, (off_t)(uintptr_t)fl_mte_tagged(p, 0));
	close(fd);
	return n;
}

/*
 * A bad call of the daemon, made by a child process so that a call that
 * never returns (it is killable) cannot hang the suite: what it returned,
 * or timed_out after DEADLINE_MS (the child is then killed), or the
 * signal the child died of.
 */
struct outcome {
	ssize_t n;
	int err;
	unsigned int ms;
	bool timed_out;
	int died;		/* signal that ended the child, 0 if none */
	uint32_t opcode;	/* a read that succeeded: what it received, */
	int served;		/* the daemon's answer to it, */
	unsigned char tags[4];	/* and the tags of the buffer's first granules */
};

typedef void (*bad_call_fn)(void *arg, struct outcome *o);

/* Say where the child faulted: the harness only sees "signal 11". */
static void child_segv(int sig, siginfo_t *si, void *uc)
{
	char msg[128];
	int len;

	(void)uc;
	len = snprintf(msg, sizeof(msg),
		       "# the daemon's child: signal %d, si_code %d at %p\n",
		       sig, si->si_code, si->si_addr);
	if (write(2, msg, len) < 0)
		len = 0;
	signal(sig, SIG_DFL);
	raise(sig);
}

static int bounded(bad_call_fn fn, void *arg, struct outcome *o)
{
	uint64_t t0 = fl_now_ms();
	struct pollfd p = { .events = POLLIN };
	int fds[2], status;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	if (pipe(fds))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		struct sigaction sa = { .sa_sigaction = child_segv,
					.sa_flags = SA_SIGINFO };

		sigaction(SIGSEGV, &sa, NULL);
		close(fds[0]);
		fn(arg, o);
		_exit(write(fds[1], o, sizeof(*o)) == sizeof(*o) ? 0 : 1);
	}
	close(fds[1]);
	p.fd = fds[0];
	if (poll(&p, 1, DEADLINE_MS) == 1) {
		/* the outcome, or end of file: the child died */
		if (read(fds[0], o, sizeof(*o)) != sizeof(*o))
			o->n = -2;
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status))
			o->died = WTERMSIG(status);
	} else {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		o->timed_out = true;
		o->ms = fl_now_ms() - t0;
	}
	close(fds[0]);
	return 0;
}

/* ------------------------------------------------------------------- mte */

FIXTURE(mte) {
	struct fl_fs *fs;
	struct fl_buf b;	/* a good buffer, for the client's other requests */
	struct fl_buf tb;	/* b, but based on the PROT_MTE buffer (good tag) */
	size_t size;
	unsigned char *mem;	/* PROT_MTE, tagged MEM_TAG, mapped len */
	size_t len;
	unsigned char *good;	/* mem through a MEM_TAG pointer */
	unsigned char *bad;	/* mem through a BAD_TAG pointer */
};

FIXTURE_SETUP(mte)
{
	struct fl_config cfg = { .max_pages = 32, .direct_io = true };
	unsigned long ctrl = PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_SYNC |
			     (0xfffeUL << PR_MTE_TAG_SHIFT);

#ifndef __aarch64__
	SKIP(return, "MTE is arm64's");
#endif
	if (!(getauxval(AT_HWCAP2) & HWCAP2_MTE))
		SKIP(return, "no MTE: HWCAP2_MTE absent (QEMU needs -M virt,mte=on, the kernel CONFIG_ARM64_MTE)");
	ASSERT_EQ(0, prctl(PR_SET_TAGGED_ADDR_CTRL, ctrl, 0, 0, 0))
		TH_LOG("synchronous tag checks: %s", strerror(errno));

	self->fs = fl_mount(&cfg);
	ASSERT_TRUE(self->fs != NULL) TH_LOG("mount: %s", strerror(errno));
	ASSERT_EQ(0, fl_buf_init(self->fs, &self->b));
	self->size = fl_buf_size(self->fs);
	self->fs->files[0].size = FILE_LEN;
	fl_fill(self->fs->files[0].data, FILE_LEN, 0, 9);

	self->len = self->size;
	self->mem = mmap(NULL, self->len, PROT_READ | PROT_WRITE | PROT_MTE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(self->mem != MAP_FAILED) TH_LOG("PROT_MTE: %s",
						    strerror(errno));
	self->good = fl_mte_tagged(self->mem, MEM_TAG);
	self->bad = fl_mte_tagged(self->mem, BAD_TAG);
	/*
	 * Fresh anonymous memory reads as zeroes: no memset(), whose DC ZVA
	 * takes a tag-check fault under QEMU 7.2 even through the matching tag.
	 */
	fl_mte_set_tags(self->good, self->len);
	self->tb = self->b;
	self->tb.base = self->good;
}

FIXTURE_TEARDOWN(mte)
{
	if (self->mem && self->mem != MAP_FAILED)
		munmap(self->mem, self->len);
	fl_buf_free(&self->b);
	if (self->fs)
		fl_destroy(self->fs);
}

static void segv_code(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	_exit(si->si_code == SEGV_MTESERR ? 0 : 100 + si->si_code);
}

static int load_through(void *arg)
{
	struct sigaction sa = { .sa_sigaction = segv_code,
				.sa_flags = SA_SIGINFO };

	sigaction(SIGSEGV, &sa, NULL);
	return *(volatile unsigned char *)arg == 0 ? 50 : 51;
}

/*
 * The control: tag checks are live. A load through the other tag is a
 * synchronous tag-check fault (SIGSEGV, SEGV_MTESERR), through the
 * memory's own tag it reads.
 */
TEST_F(mte, user_load_with_mismatched_tag_faults)
{
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(load_through(self->bad + 100));
	ASSERT_EQ(0, fl_wait(pid, 5000))
		TH_LOG("a load through tag %lx of memory tagged %lx did not fault with SEGV_MTESERR (50: it read)",
		       BAD_TAG, MEM_TAG);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(load_through(self->good + 100));
	ASSERT_EQ(50, fl_wait(pid, 5000)) TH_LOG("a load through the memory's own tag");
}

/*
 * The other control: through the memory's own tag, the daemon reads every
 * request into the PROT_MTE buffer and replies from it (a direct I/O write
 * and read of f0), on every kernel.
 */
TEST_F(mte, matching_tag_serves_requests)
{
	pid_t pid;

	/* the write must bring the pattern: the setup's copy goes */
	memset(self->fs->files[0].data, 0, FILE_LEN);
	self->fs->files[0].size = 0;
	pid = fl_spawn(self->fs, fl_client_rw, (void *)1);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, fl_serve_until_exit(self->fs, &self->tb, pid))
		TH_LOG("client's write result (errno, -1 = hang)");
	ASSERT_EQ(-1, fl_check(self->fs->files[0].data, FILE_LEN, 0, 9))
		TH_LOG("the daemon got other bytes than the client wrote");
	pid = fl_spawn(self->fs, fl_client_rw, NULL);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, fl_serve_until_exit(self->fs, &self->tb, pid))
		TH_LOG("client's read result (errno, -1 = hang)");
	ASSERT_EQ(0, fl_serve_until_drained(self->fs, &self->tb));
}

/*
 * read(2) of the queued request through the mismatched tag. A read that
 * succeeds (stock) received the request: it is answered through the
 * matching tag, so that the client is not left waiting.
 */
static void read_bad(void *arg, struct outcome *o)
{
	FIXTURE_DATA(mte) *self = arg;
	uint64_t t0 = fl_now_ms();

	o->n = read(self->fs->fd, self->bad, self->size);
	o->err = errno;
	o->ms = fl_now_ms() - t0;
	if (o->n > 0) {
		const struct fuse_in_header *in = (void *)self->b.lin;

		/* not through a pointer: the tags may have changed */
		for (unsigned int i = 0; i < ARRAY_SIZE(o->tags); i++)
			o->tags[i] = fl_mte_get_tag(self->good + i * FL_MTE_GRANULE);
		if (peek(self->good, self->b.lin, o->n) != o->n)
			return;
		o->opcode = in->opcode;
		o->served = fl_handle(self->fs, &self->b, in);
	}
}

/*
 * The kernel has taken the request when the copy fails: -EFAULT, the
 * client's statfs gets EIO, "waiting" drains, the daemon keeps serving.
 * Today's series went round fault-in (which succeeds: GUP ignores tags)
 * and copy (which faults) for ever.
 */
TEST_F(mte, read_with_mismatched_tag_gets_efault)
{
	pid_t pid = fl_spawn(self->fs, fl_client_statfs, NULL);
	struct outcome o;

	ASSERT_LT(0, pid);
	ASSERT_EQ(0, fl_serve_until(self->fs, &self->b, FUSE_STATFS))
		TH_LOG("no request from the client");
	ASSERT_EQ(0, bounded(read_bad, self, &o));
	if (o.timed_out) {
		fl_serve_until_exit(self->fs, &self->b, pid);
		ASSERT_FALSE(o.timed_out)
			TH_LOG("read(2) into a buffer with a mismatched MTE tag did not return within %u s (killed after %u ms)",
			       DEADLINE_MS / 1000, o.ms);
	}
	ASSERT_EQ(0, o.died) TH_LOG("the reading process died");
	TH_LOG("measured: read(2) returned %zd (%s) after %u ms", o.n,
	       o.n < 0 ? strerror(o.err) : "no error", o.ms);
	if (o.n >= 0) {
		TH_LOG("the kernel wrote request %u (%zd bytes) past the tag check; the daemon answered it: %d; tags of the first granules now %x %x %x %x (were %lx)",
		       o.opcode, o.n, o.served, o.tags[0], o.tags[1],
		       o.tags[2], o.tags[3], MEM_TAG);
		fl_serve_until_exit(self->fs, &self->b, pid);
	}
	ASSERT_EQ(-1, o.n) TH_LOG("read(2) into a buffer with a mismatched MTE tag succeeded");
	ASSERT_EQ(EFAULT, o.err);
	ASSERT_EQ(EIO, fl_serve_until_exit(self->fs, &self->b, pid))
		TH_LOG("client's statfs result (errno, -1 = hang)");
	ASSERT_EQ(0, fl_serve_until_drained(self->fs, &self->b))
		TH_LOG("connection still counts waiting requests");
}

/* A good reply header, and FILE_LEN bytes of payload through the bad tag. */
static void reply_bad(void *arg, struct outcome *o)
{
	FIXTURE_DATA(mte) *self = arg;
	const struct fuse_in_header *in = (void *)self->b.lin;
	struct fuse_out_header oh = {
		.len = sizeof(oh) + FILE_LEN, .unique = in->unique,
	};
	struct iovec iov[2] = {
		{ &oh, sizeof(oh) }, { self->bad, FILE_LEN },
	};
	uint64_t t0 = fl_now_ms();

	o->n = writev(self->fs->fd, iov, 2);
	o->err = errno;
	o->ms = fl_now_ms() - t0;
}

/*
 * The header is read, the request found, the payload copy fails: -EFAULT,
 * the request ends with EIO (a second reply gets ENOENT), as for an
 * unmapped payload (fuse_hostile).
 */
TEST_F(mte, reply_payload_with_mismatched_tag_gets_efault)
{
	pid_t pid = fl_spawn(self->fs, fl_client_rw, NULL);
	struct outcome o;

	ASSERT_LT(0, pid);
	ASSERT_EQ(0, fl_serve_until(self->fs, &self->b, FUSE_READ))
		TH_LOG("no READ from the client");
	/* what the client reads if the kernel copies it unchecked */
	fl_fill(self->good, FILE_LEN, 0, 9);
	ASSERT_EQ(0, bounded(reply_bad, self, &o));
	if (o.timed_out) {
		fl_serve_until_exit(self->fs, &self->b, pid);
		ASSERT_FALSE(o.timed_out)
			TH_LOG("writev(2) from a buffer with a mismatched MTE tag did not return within %u s (killed after %u ms)",
			       DEADLINE_MS / 1000, o.ms);
	}
	ASSERT_EQ(0, o.died) TH_LOG("the replying process died");
	TH_LOG("measured: writev(2) returned %zd (%s) after %u ms", o.n,
	       o.n < 0 ? strerror(o.err) : "no error", o.ms);
	if (o.n >= 0)
		TH_LOG("the kernel read the reply past the tag check; the client's read: %d",
		       fl_serve_until_exit(self->fs, &self->b, pid));
	ASSERT_EQ(-1, o.n) TH_LOG("writev(2) from a buffer with a mismatched MTE tag succeeded");
	ASSERT_EQ(EFAULT, o.err);
	/* the request was found and ended with -EIO */
	ASSERT_EQ(-ENOENT, fl_handle(self->fs, &self->b, (void *)self->b.lin));
	ASSERT_EQ(EIO, fl_serve_until_exit(self->fs, &self->b, pid))
		TH_LOG("client's read result (errno, -1 = hang)");
	ASSERT_EQ(0, fl_serve_until_drained(self->fs, &self->b))
		TH_LOG("connection still counts waiting requests");
}

/* ---------------------------------------------------------------- secret */

FIXTURE(secret) {
	struct fl_fs *fs;
};

FIXTURE_VARIANT(secret) {
	bool direct_io;
};

FIXTURE_VARIANT_ADD(secret, direct_io) { .direct_io = true };
FIXTURE_VARIANT_ADD(secret, page_cache) { .direct_io = false };

FIXTURE_SETUP(secret)
{
	struct fl_config cfg = {
		.max_pages = 32, .direct_io = variant->direct_io,
		.mem = FL_MEM_SECRET, .nthreads = 1,
	};
	int fd = syscall(447, 0);	/* memfd_secret(0) */

	self->fs = NULL;
	if (fd < 0 && errno == ENOSYS)
		SKIP(return, "memfd_secret: ENOSYS (CONFIG_SECRETMEM=n, no set_direct_map, or secretmem.enable=0)");
	ASSERT_LE(0, fd) TH_LOG("memfd_secret: %s", strerror(errno));
	close(fd);
	self->fs = fl_mount(&cfg);
	ASSERT_TRUE(self->fs != NULL) TH_LOG("mount: %s", strerror(errno));
	ASSERT_EQ(0, fl_start(self->fs)) TH_LOG("no secret serving buffer");
}

FIXTURE_TEARDOWN(secret)
{
	if (self->fs)
		fl_destroy(self->fs);
}

/* Sizes through one page, across pages, and of whole max_pages requests. */
static const size_t secret_sizes[] = { 1, 4097, (64u << 10) + 13, 128u << 10 };

/* Write each size at an odd offset of f1, read it back: the pattern. */
static int client_secret(struct fl_fs *fs, void *arg)
{
	static unsigned char buf[(128u << 10) + 8];
	uint64_t off = 4093;
	char path[96];
	int fd;

	(void)arg;
	fl_path(fs, 1, path, sizeof(path));
	fd = open(path, O_RDWR);
	if (fd < 0)
		return errno;
	for (unsigned int i = 0; i < ARRAY_SIZE(secret_sizes); i++) {
		size_t len = secret_sizes[i];

		fl_fill(buf, len, off, 11);
		if (pwrite(fd, buf, len, off) != (ssize_t)len)
			return errno ? errno : 201;
		memset(buf, 0, len);
		/* read what the daemon has, not the page cache */
		if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
			return 202;
		if (pread(fd, buf, len, off) != (ssize_t)len)
			return errno ? errno : 203;
		if (fl_check(buf, len, off, 11) != -1)
			return 204;
		off += len + 1;
	}
	return close(fd) ? errno : 0;
}

/*
 * The serving thread reads every request into its memfd_secret() buffer
 * and replies from it. Stock pins the buffer with GUP, which refuses
 * secretmem (-EFAULT): the client's first request ends with EIO.
 */
TEST_F(secret, data_roundtrips)
{
	pid_t pid = fl_spawn(self->fs, client_secret, NULL);
	uint64_t off = 4093;
	int ret;

	ASSERT_LT(0, pid);
	ret = fl_wait(pid, 30000);
	ASSERT_EQ(0, ret)
		TH_LOG("client: %d (errno, 201-204: short or wrong data, -1: hang); serving thread ended with %d (%s)",
		       ret, self->fs->thr_err[0], strerror(self->fs->thr_err[0]));
	for (unsigned int i = 0; i < ARRAY_SIZE(secret_sizes); i++) {
		ASSERT_EQ(-1, fl_check(self->fs->files[1].data + off,
				       secret_sizes[i], off, 11))
			TH_LOG("the daemon stored other bytes of the %zu-byte write",
			       secret_sizes[i]);
		off += secret_sizes[i] + 1;
	}
	TH_LOG("measured: %lu READs (largest %lu), %lu WRITEs (largest %lu)",
	       atomic_load(&self->fs->st.reads),
	       atomic_load(&self->fs->st.max_read),
	       atomic_load(&self->fs->st.writes),
	       atomic_load(&self->fs->st.max_write));
	ASSERT_LT(0UL, atomic_load(&self->fs->st.writes));
}

TEST_HARNESS_MAIN
