/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kio: the ioctls of /dev/kio, shared by the module and the guest test
 * (test/suite/fuse_kio.c).
 */
#ifndef KIO_H
#define KIO_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* The largest transfer (64 KiB and some); the object is a little larger */
#define KIO_MAX_LEN	(68u << 10)

struct kio_op {
	__s32 fd;	/* an open file of the caller */
	__u32 len;	/* bytes to write or read, 1..KIO_MAX_LEN */
	__u64 pos;	/* file offset */
	__u64 buf;	/* KIO_WRITE: the bytes to write; KIO_READ: receives them */
	__s64 ret;	/* kernel_write()'s or kernel_read()'s result */
};

/*
 * Both return 0 when the module did its part (op.ret says how the file
 * operation went), or -1 with errno: EBADF, EINVAL, EFAULT, ENOMEM for bad
 * arguments, EBADMSG when the module's own check of its object failed
 * (KIO_WRITE: the object changed; KIO_READ: bytes past op.ret changed).
 */
#define KIO_WRITE	_IOWR('K', 1, struct kio_op)
#define KIO_READ	_IOWR('K', 2, struct kio_op)

#endif
