/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uaccess_bench: the ioctls of /dev/uaccess_bench, shared by the module and
 * its user-space driver (ubench.c).
 *
 * read() fills the caller's buffer with the module's pattern, write() takes
 * the caller's bytes, each by the method the file's mode selects.
 */
#ifndef UACCESS_BENCH_H
#define UACCESS_BENCH_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* How read() and write() move the bytes (uaccess_bench.c says more). */
enum uab_mode {
	UAB_USER,	/* (a) copy_{to,from}_user() in the caller */
	UAB_GUP,	/* (b) GUP + kmap_local + memcpy + put_page: stock FUSE */
	UAB_KTHREAD,	/* (c) a kernel thread borrows the mm and copies */
	UAB_ITER,	/* (d) copy_{to,from}_iter() on a ubuf iterator */
	UAB_NR_MODES,
};

/* The largest read() or write(); more is -EINVAL. */
#define UAB_MAX_LEN		0x100000u
/* The longest UAB_SET_DELAY, in milliseconds. */
#define UAB_MAX_DELAY_MS	10000u

/* Byte @i of what read() returns and write() must be given to verify. */
static inline __u8 uab_pattern(__u32 i)
{
	return (__u8)(i * 131u + (i >> 9) + 7u);
}

/* The mode of this open file, or'ed with UAB_VERIFY. */
#define UAB_SET_MODE		_IOW('U', 1, __u32)
/*
 * read(): read the buffer back after filling it and fail with -EIO unless
 * it holds the pattern; write(): fail with -EIO unless the bytes written are
 * the pattern. Off while measuring.
 */
#define UAB_VERIFY		0x100u
/* UAB_KTHREAD: the worker waits this long before it copies (tests). */
#define UAB_SET_DELAY		_IOW('U', 2, __u32)

#endif
