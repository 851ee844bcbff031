/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cachetest: the ioctls of /dev/cachetest, shared by the module and the
 * guest test (test/suite/cache_rules.c).
 */
#ifndef CACHETEST_H
#define CACHETEST_H

#include <linux/ioctl.h>
#include <linux/types.h>

struct cachetest_op {
	__u64 addr;	/* CACHETEST_PIN: the user address of the page */
	__u32 flags;	/* CACHETEST_* below */
	__u32 value;	/* KWRITE: the word written; KREAD: the sum read */
};

/* KWRITE: flush_dcache_page() after writing through the kernel mapping */
#define CACHETEST_FLUSH_DCACHE	0x1
/* KREAD: pin the page again (GUP calls flush_anon_page()) before reading */
#define CACHETEST_REPIN		0x2
/*
 * KWRITE: then invalidate the kernel's lines of the page without cleaning
 * them (ARM926 only): the data written is lost
 */
#define CACHETEST_INVALIDATE	0x4

#define CACHETEST_PIN		_IOW('C', 1, struct cachetest_op)
#define CACHETEST_KWRITE	_IOW('C', 2, struct cachetest_op)
#define CACHETEST_KREAD		_IOWR('C', 3, struct cachetest_op)
#define CACHETEST_UNPIN		_IO('C', 4)
/* flush_dcache_page() of the pinned page, alone */
#define CACHETEST_FLUSH		_IO('C', 5)

#endif
