// SPDX-License-Identifier: GPL-2.0
/*
 * cache_rules: the cache maintenance rules for a user page the kernel
 * touches through its own mapping, broken and followed on purpose by a
 * test module (test/kmod/cachetest), so that the cache model of the lab
 * (test/qemu-plugins/cache926.c) can be checked against both: it must see stale
 * loads where a rule is broken and none where it is followed.
 *
 * The verdicts are the model's ("<run>-cache/cache/cache_rules/<test>");
 * this program carries the traffic and checks the data, which QEMU, having
 * no cache, always gets right. Skips where the kernel has no modules.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "fuselab.h"
#include "../kmod/cachetest/cachetest.h"

#define MODULE_PATH	"/lib/fuselab/cachetest.ko"

FIXTURE(rules) {
	int fd;
	uint32_t *page;
};

FIXTURE_SETUP(rules)
{
	int mfd;

	self->page = NULL;
	self->fd = open("/dev/cachetest", O_RDWR);
	if (self->fd < 0 && errno == ENOENT) {
		mfd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
		if (mfd < 0)
			SKIP(return, "no %s (kernel without modules)", MODULE_PATH);
		ASSERT_EQ(0, syscall(SYS_finit_module, mfd, "", 0))
			TH_LOG("finit_module %s: %s", MODULE_PATH, strerror(errno));
		close(mfd);
		self->fd = open("/dev/cachetest", O_RDWR);
	}
	ASSERT_LE(0, self->fd) TH_LOG("/dev/cachetest: %s", strerror(errno));
	self->page = mmap(NULL, FL_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(self->page != MAP_FAILED);
	fl_alias_reset();
	fl_alias_tag(self->page, FL_PAGE, true);
}

FIXTURE_TEARDOWN(rules)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->page && self->page != MAP_FAILED)
		munmap(self->page, FL_PAGE);
}

static uint32_t user_sum(volatile const uint32_t *p)
{
	uint32_t sum = 0;

	for (unsigned int i = 0; i < FL_PAGE / 4; i++)
		sum += p[i];
	return sum;
}

static void user_fill(volatile uint32_t *p, uint32_t v)
{
	for (unsigned int i = 0; i < FL_PAGE / 4; i++)
		p[i] = v;
}

/* Pin the page with its lines in the user's cache lines: loaded, then stored. */
static int pin(FIXTURE_DATA(rules) *self, uint32_t v)
{
	struct cachetest_op op = { .addr = (unsigned long)self->page };

	user_sum(self->page);
	user_fill(self->page, v);
	return ioctl(self->fd, CACHETEST_PIN, &op);
}

static void kwrite(struct __test_metadata *_metadata,
		   FIXTURE_DATA(rules) *self, uint32_t flags, const char *rule)
{
	struct cachetest_op op = { .flags = flags, .value = 0x22222222 };
	char name[96];

	FL_NEED_PLUGIN();
	ASSERT_EQ(0, pin(self, 0x11111111)) TH_LOG("pin: %s", strerror(errno));
	snprintf(name, sizeof(name), "cache_rules/%s", _metadata->name);
	fl_alias_open(name, rule);
	ASSERT_EQ(0, ioctl(self->fd, CACHETEST_KWRITE, &op))
		TH_LOG("kwrite: %s", strerror(errno));
	/* the user's lines were invalidated by GUP: these loads miss */
	EXPECT_EQ(0x22222222u * (FL_PAGE / 4), user_sum(self->page));
	fl_alias_close();
	ASSERT_EQ(0, ioctl(self->fd, CACHETEST_UNPIN));
}

static void kread(struct __test_metadata *_metadata,
		  FIXTURE_DATA(rules) *self, uint32_t flags, const char *rule)
{
	struct cachetest_op op = { .flags = flags };
	char name[96];

	FL_NEED_PLUGIN();
	ASSERT_EQ(0, pin(self, 0x11111111)) TH_LOG("pin: %s", strerror(errno));
	/* after GUP: these stores sit dirty in the user's lines */
	user_sum(self->page);
	user_fill(self->page, 0x33333333);
	snprintf(name, sizeof(name), "cache_rules/%s", _metadata->name);
	fl_alias_open(name, rule);
	ASSERT_EQ(0, ioctl(self->fd, CACHETEST_KREAD, &op))
		TH_LOG("kread: %s", strerror(errno));
	EXPECT_EQ(0x33333333u * (FL_PAGE / 4), op.value);
	fl_alias_close();
	ASSERT_EQ(0, ioctl(self->fd, CACHETEST_UNPIN));
}

/* Written through the kernel's mapping, never written back: stale for the user */
TEST_F(rules, kmap_write_without_flush_dcache_page)
{
	kwrite(_metadata, self, 0, "nonzero/nonzero");
}

/* ... and with flush_dcache_page(), as the rules ask: nothing stale */
TEST_F(rules, kmap_write_with_flush_dcache_page)
{
	kwrite(_metadata, self, CACHETEST_FLUSH_DCACHE, "nonzero/zero");
}

/* Stored by the user after GUP's flush_anon_page(): stale for the kernel */
TEST_F(rules, kmap_read_of_stores_after_pinning)
{
	kread(_metadata, self, 0, "nonzero/nonzero");
}

/* ... and pinned again before the read: GUP writes the user's lines back */
TEST_F(rules, kmap_read_after_pinning_again)
{
	kread(_metadata, self, CACHETEST_REPIN, "nonzero/zero");
}

/* Written through the kernel's mapping, then invalidated unwritten: lost */
TEST_F(rules, kmap_write_then_invalidate)
{
	kwrite(_metadata, self, CACHETEST_INVALIDATE, "nonzero/zero");
}

/*
 * Written through the kernel's mapping without flush_dcache_page(), then
 * stored to by the user (its lines were invalidated by GUP: the stores go
 * to memory), then flushed: the kernel's old lines are written back over
 * the user's data, and the user's loads get them.
 */
TEST_F(rules, kmap_write_flushed_after_user_stores)
{
	struct cachetest_op op = { .value = 0x22222222 };
	char name[96];

	FL_NEED_PLUGIN();
	ASSERT_EQ(0, pin(self, 0x11111111)) TH_LOG("pin: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(self->fd, CACHETEST_KWRITE, &op))
		TH_LOG("kwrite: %s", strerror(errno));
	snprintf(name, sizeof(name), "cache_rules/%s", _metadata->name);
	fl_alias_open(name, "nonzero/nonzero");
	user_fill(self->page, 0x44444444);
	ASSERT_EQ(0, ioctl(self->fd, CACHETEST_FLUSH))
		TH_LOG("flush: %s", strerror(errno));
	EXPECT_EQ(0x44444444u * (FL_PAGE / 4), user_sum(self->page));
	fl_alias_close();
	ASSERT_EQ(0, ioctl(self->fd, CACHETEST_UNPIN));
}

/*
 * user_events (patch 0005): the kernel sets a process's enable bit through
 * kmap_local_page() when the event is enabled. GUP's slow path has
 * invalidated the process's lines of the word; set_bit() loads the word
 * through the kernel's mapping (a read-allocate cache keeps the line) and
 * stores to that line. Unless flush_dcache_page() writes it back, the
 * process's next load misses and reads the old word from memory. No
 * module needed; skips where the kernel has no user events.
 */
struct fl_user_reg {
	uint32_t size;
	uint8_t enable_bit;
	uint8_t enable_size;
	uint16_t flags;
	uint64_t enable_addr;
	uint64_t name_args;
	uint32_t write_index;
} __attribute__((__packed__));

struct fl_user_unreg {
	uint32_t size;
	uint8_t disable_bit;
	uint8_t reserved;
	uint16_t reserved2;
	uint64_t disable_addr;
} __attribute__((__packed__));

/* include/uapi/linux/user_events.h */
#define FL_DIAG_IOCSREG		_IOWR('*', 0, struct fl_user_reg *)
#define FL_DIAG_IOCSUNREG	_IOW('*', 2, struct fl_user_unreg *)
#define FL_TRACING		"/sys/kernel/tracing"
#define FL_UE_ENABLE		FL_TRACING "/events/user_events/fuselab_ue/enable"

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

TEST(user_events_enable_bit_is_seen)
{
	struct fl_user_reg reg = { .size = sizeof(reg), .enable_size = 4 };
	struct fl_user_unreg unreg = { .size = sizeof(unreg) };
	volatile uint32_t *word;
	int fd;

	FL_NEED_PLUGIN();
	fd = open(FL_TRACING "/user_events_data", O_RDWR);
	if (fd < 0)
		SKIP(return, "no %s/user_events_data: %s", FL_TRACING,
		     strerror(errno));
	word = mmap(NULL, FL_PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(word != MAP_FAILED);
	user_fill((volatile uint32_t *)word, 0);
	reg.enable_addr = (uintptr_t)word;
	reg.name_args = (uintptr_t)"fuselab_ue u32 x";
	ASSERT_EQ(0, ioctl(fd, FL_DIAG_IOCSREG, &reg))
		TH_LOG("DIAG_IOCSREG: %s", strerror(errno));
	fl_alias_reset();
	fl_alias_tag((void *)word, FL_PAGE, true);
	(void)user_sum(word);
	fl_alias_open("cache_rules/user_events_enable_bit_is_seen",
		      "nonzero/zero");
	ASSERT_EQ(0, write_str(FL_UE_ENABLE, "1"))
		TH_LOG("%s: %s", FL_UE_ENABLE, strerror(errno));
	EXPECT_EQ(1u, word[0]);
	fl_alias_close();
	fl_alias_tag((void *)word, FL_PAGE, false);
	EXPECT_EQ(0, write_str(FL_UE_ENABLE, "0"));
	unreg.disable_addr = (uintptr_t)word;
	EXPECT_EQ(0, ioctl(fd, FL_DIAG_IOCSUNREG, &unreg))
		TH_LOG("DIAG_IOCSUNREG: %s", strerror(errno));
	close(fd);
	munmap((void *)word, FL_PAGE);
}

/*
 * uprobes (patch 0008): a uprobe with a reference counter, a USDT
 * semaphore, makes the kernel add 1 to a short in the traced process's
 * data when the probe goes in. __update_ref_ctr() takes the page with
 * get_user_pages_remote(), whose slow path invalidates the process's
 * lines of it (flush_anon_page()), and adds through kmap_local_page():
 * the load brings the line into the cache on the kernel's side (a
 * read-allocate cache too), the store dirties it. Unless
 * flush_dcache_page() writes it back, the process's next load misses and
 * reads the old count from memory. The semaphore is in a page of its own
 * in this program's .data (the counter must be in the probed file's
 * mapping); the probe is on fl_usdt_site(), never called. No module
 * needed; skips where the kernel has no uprobe events.
 */
#define FL_UPROBE_EVENTS	FL_TRACING "/uprobe_events"
#define FL_USDT_ENABLE		FL_TRACING "/events/fuselab/usdt/enable"

static volatile uint16_t fl_usdt_sema[FL_PAGE / 2]
	__attribute__((section(".data.fuselab_usdt"), aligned(FL_PAGE)));

__attribute__((noinline, used)) int fl_usdt_site(int x)
{
	asm volatile("" : "+r" (x));
	return x + 1;
}

/* The offset in the file mapped at addr, from /proc/self/maps */
static int file_offset(const volatile void *addr, unsigned long *off)
{
	unsigned long a = (unsigned long)addr, start, end, pgoff;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %*s %lx", &start, &end, &pgoff) != 3)
			continue;
		if (a >= start && a < end) {
			*off = a - start + pgoff;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

TEST(uprobe_semaphore_is_seen)
{
	volatile uint32_t *page = (volatile uint32_t *)fl_usdt_sema;
	unsigned long site, sema;
	char exe[256], ev[400];
	ssize_t n;

	FL_NEED_PLUGIN();
	if (access(FL_UPROBE_EVENTS, W_OK))
		SKIP(return, "no %s: %s", FL_UPROBE_EVENTS, strerror(errno));
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_LT(0, n) TH_LOG("/proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	ASSERT_EQ(0, file_offset((const void *)fl_usdt_site, &site));
	ASSERT_EQ(0, file_offset(fl_usdt_sema, &sema));
	snprintf(ev, sizeof(ev), "p:fuselab/usdt %s:0x%lx(0x%lx)", exe, site, sema);
	ASSERT_EQ(0, write_str(FL_UPROBE_EVENTS, ev))
		TH_LOG("%s: %s: %s", FL_UPROBE_EVENTS, ev, strerror(errno));
	TH_LOG("%s", ev);
	EXPECT_EQ(0, fl_usdt_sema[0]);
	fl_alias_reset();
	fl_alias_tag((void *)page, FL_PAGE, true);
	(void)user_sum(page);
	fl_alias_open("cache_rules/uprobe_semaphore_is_seen", "nonzero/zero");
	EXPECT_EQ(0, write_str(FL_USDT_ENABLE, "1"))
		TH_LOG("%s: %s", FL_USDT_ENABLE, strerror(errno));
	EXPECT_EQ(1, fl_usdt_sema[0]);
	fl_alias_close();
	fl_alias_tag((void *)page, FL_PAGE, false);
	EXPECT_EQ(0, write_str(FL_USDT_ENABLE, "0"));
	EXPECT_EQ(0, fl_usdt_sema[0]);
	EXPECT_EQ(0, write_str(FL_UPROBE_EVENTS, "-:fuselab/usdt"));
}

TEST_HARNESS_MAIN
