// SPDX-License-Identifier: GPL-2.0
/*
 * cache_rules: the cache maintenance rules for a user page the kernel
 * touches through its own mapping, broken and followed on purpose by a
 * test module (test/kmod/cachetest), so that the cache model of the lab
 * (test/alias/cache926.c) can be checked against both: it must see stale
 * loads where a rule is broken and none where it is followed.
 *
 * The verdicts are the model's ("<run>-cache/cache/cache_rules/<test>");
 * this program carries the traffic and checks the data, which QEMU, having
 * no cache, always gets right. Skips where the kernel has no modules.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

TEST_HARNESS_MAIN
