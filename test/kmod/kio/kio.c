// SPDX-License-Identifier: GPL-2.0
/*
 * kio - kernel_write() and kernel_read() a file of the caller from and into
 * an object of the module's own slab cache, which has no usercopy region.
 *
 * That is what eCryptfs does with its header, and what a filesystem's
 * direct I/O must survive under CONFIG_HARDENED_USERCOPY: FUSE with
 * FOPEN_DIRECT_IO puts the kvec's kernel address into the request's
 * arguments (fuse_get_user_pages()), so /dev/fuse copies the daemon's bytes
 * straight from and into this object.  Any copy that runs
 * check_object_size() on it (copy_to_iter(), copy_from_iter(),
 * copy_{to,from}_user()) ends in usercopy_abort(), since no part of the
 * object may be copied to or from user space.  The module itself therefore
 * moves the caller's bytes through a bounce buffer and memcpy().
 *
 * /dev/kio, KIO_WRITE: the caller's bytes are copied into a fresh object,
 * kernel_write() writes them from it; the object must not change.
 * KIO_READ: a fresh object is poisoned, kernel_read() reads into it; bytes
 * past what it returned must still be poison; the rest goes to the caller.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "kio.h"

/* room past KIO_MAX_LEN, so that a read's overrun shows */
#define KIO_OBJ_SIZE	(KIO_MAX_LEN + 256)
#define KIO_POISON	0xa5

static struct kmem_cache *kio_cache;

/* True if @len bytes at @p all hold @c. */
static bool kio_all(const u8 *p, size_t len, u8 c)
{
	return !len || (p[0] == c && !memcmp(p, p + 1, len - 1));
}

static long kio_write(struct file *file, struct kio_op *op, const u8 *bounce,
		      u8 *obj)
{
	loff_t pos = op->pos;

	memcpy(obj, bounce, op->len);
	op->ret = kernel_write(file, obj, op->len, &pos);
	/* the write only reads the object */
	return memcmp(obj, bounce, op->len) ? -EBADMSG : 0;
}

static long kio_read(struct file *file, struct kio_op *op, u8 *bounce, u8 *obj)
{
	loff_t pos = op->pos;
	size_t got;

	memset(obj, KIO_POISON, KIO_OBJ_SIZE);
	op->ret = kernel_read(file, obj, op->len, &pos);
	got = op->ret > 0 ? op->ret : 0;
	if (got > op->len || !kio_all(obj + got, KIO_OBJ_SIZE - got, KIO_POISON))
		return -EBADMSG;
	memcpy(bounce, obj, got);
	return 0;
}

static long kio_ioctl(struct file *kf, unsigned int cmd, unsigned long arg)
{
	struct kio_op __user *uop = (void __user *)arg;
	void __user *ubuf;
	struct kio_op op;
	u8 *bounce, *obj;
	long ret;

	if (cmd != KIO_WRITE && cmd != KIO_READ)
		return -ENOTTY;
	if (copy_from_user(&op, uop, sizeof(op)))
		return -EFAULT;
	if (!op.len || op.len > KIO_MAX_LEN || op.pos > LLONG_MAX)
		return -EINVAL;
	ubuf = u64_to_user_ptr(op.buf);

	CLASS(fd, f)(op.fd);
	if (fd_empty(f))
		return -EBADF;

	/* kmalloc's caches do allow usercopy: the caller's bytes pass here */
	bounce = kvmalloc(op.len, GFP_KERNEL);
	obj = kmem_cache_alloc(kio_cache, GFP_KERNEL);
	ret = -ENOMEM;
	if (!bounce || !obj)
		goto out;

	if (cmd == KIO_WRITE) {
		ret = -EFAULT;
		if (copy_from_user(bounce, ubuf, op.len))
			goto out;
		ret = kio_write(fd_file(f), &op, bounce, obj);
	} else {
		ret = kio_read(fd_file(f), &op, bounce, obj);
		if (!ret && op.ret > 0 && copy_to_user(ubuf, bounce, op.ret))
			ret = -EFAULT;
	}
	if (!ret && copy_to_user(uop, &op, sizeof(op)))
		ret = -EFAULT;
out:
	if (obj)
		kmem_cache_free(kio_cache, obj);
	kvfree(bounce);
	return ret;
}

static const struct file_operations kio_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= kio_ioctl,
};

static struct miscdevice kio_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kio",
	.fops	= &kio_fops,
};

static int __init kio_init(void)
{
	/*
	 * No useroffset/usersize: no byte of these objects may be copied to
	 * or from user space.  SLAB_NO_MERGE keeps the cache ours, so that a
	 * usercopy report names it.
	 */
	struct kmem_cache_args args = { };
	int ret;

	kio_cache = kmem_cache_create("kio_obj", KIO_OBJ_SIZE, &args,
				      SLAB_NO_MERGE);
	if (!kio_cache)
		return -ENOMEM;
	ret = misc_register(&kio_dev);
	if (ret)
		kmem_cache_destroy(kio_cache);
	return ret;
}

static void __exit kio_exit(void)
{
	misc_deregister(&kio_dev);
	kmem_cache_destroy(kio_cache);
}

module_init(kio_init);
module_exit(kio_exit);

MODULE_DESCRIPTION("kernel_write() and kernel_read() from and into a slab object without a usercopy region");
MODULE_LICENSE("GPL");
