// SPDX-License-Identifier: GPL-2.0
/*
 * uaccess_bench - move the same bytes between the kernel and a caller's
 * buffer by four methods, so that their costs can be compared:
 *
 *   UAB_USER     copy_to_user() / copy_from_user() in the caller: the floor.
 *   UAB_GUP      the stock /dev/fuse way: one page at a time,
 *                iov_iter_get_pages2(), kmap_local_page(), memcpy(),
 *                kunmap_local(), then for a page the kernel wrote
 *                flush_dcache_page() and set_page_dirty_lock(), and
 *                put_page().
 *   UAB_KTHREAD  a kernel thread borrows the caller's mm with
 *                kthread_use_mm() and copies with copy_{to,from}_user()
 *                while the caller sleeps (Evgeniy Polyakov's "copy_to_user()
 *                from a kernel thread", 2008).
 *   UAB_ITER     copy_to_iter() / copy_from_iter() on a ubuf iterator: what
 *                /dev/fuse does with the series applied.
 *
 * read() fills the caller's buffer with uab_pattern(); write() takes the
 * caller's bytes into the open file's buffer.  With UAB_VERIFY either one
 * checks the data afterwards (-EIO on a mismatch).
 *
 * The kernel thread's requests are refcounted: the caller holds one
 * reference and the worker one.  The request pins the caller's mm
 * (mmget_not_zero()), so that the worker may copy into it even after the
 * caller was killed and has exited, and the open file's state, whose buffer
 * it copies from or into.  A caller interrupted by a signal takes its
 * request back if the worker has not started it; otherwise it leaves it to
 * the worker, whose copy then lands in an address space that is still
 * there, or in one nobody will look at again.
 */
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/kref.h>
#include <linux/kthread.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

#include "uaccess_bench.h"

/* The pattern read() returns, UAB_MAX_LEN bytes. */
static u8 *uab_src;

struct uab_file {
	struct kref kref;
	u32 mode;		/* enum uab_mode | UAB_VERIFY */
	u32 delay_ms;		/* UAB_KTHREAD: wait before copying */
	u8 *buf;		/* what write() received, UAB_MAX_LEN bytes */
};

struct uab_req {
	refcount_t ref;		/* the caller's and the worker's */
	struct list_head node;	/* on uab_queue until the worker takes it */
	struct mm_struct *mm;	/* the caller's, pinned with mmget_not_zero() */
	struct uab_file *uf;	/* whose buffer: a reference */
	void __user *ubuf;
	size_t len;
	bool to_user;
	ssize_t ret;
	struct completion done;
};

static struct task_struct *uab_worker;
static LIST_HEAD(uab_queue);
static DEFINE_SPINLOCK(uab_lock);
static DECLARE_WAIT_QUEUE_HEAD(uab_wait);

static void uab_file_free(struct kref *kref)
{
	struct uab_file *uf = container_of(kref, struct uab_file, kref);

	vfree(uf->buf);
	kfree(uf);
}

static void uab_req_put(struct uab_req *req)
{
	if (!refcount_dec_and_test(&req->ref))
		return;
	mmput(req->mm);
	kref_put(&req->uf->kref, uab_file_free);
	kfree(req);
}

/* The result of a copy that left @left of @len bytes: a short count or -EFAULT. */
static ssize_t uab_done(size_t len, size_t left)
{
	return left == len ? -EFAULT : len - left;
}

/* UAB_GUP: one page at a time, as fuse_copy_fill() and fuse_copy_do() did. */
static ssize_t uab_gup_copy(void __user *ubuf, u8 *kbuf, size_t len,
			    bool to_user)
{
	struct iov_iter iter;
	size_t done = 0;

	if (!access_ok(ubuf, len))
		return -EFAULT;
	iov_iter_ubuf(&iter, to_user ? ITER_DEST : ITER_SOURCE, ubuf, len);
	while (done < len) {
		struct page *page;
		size_t off;
		ssize_t n;
		void *p;

		n = iov_iter_get_pages2(&iter, &page, PAGE_SIZE, 1, &off);
		if (n <= 0)
			return done ? done : (n ? n : -EFAULT);
		p = kmap_local_page(page);
		if (to_user)
			memcpy(p + off, kbuf + done, n);
		else
			memcpy(kbuf + done, p + off, n);
		kunmap_local(p);
		if (to_user) {
			flush_dcache_page(page);
			set_page_dirty_lock(page);
		}
		put_page(page);
		done += n;
	}
	return done;
}

static ssize_t uab_iter_copy(void __user *ubuf, u8 *kbuf, size_t len,
			     bool to_user)
{
	struct iov_iter iter;
	size_t n;

	if (!access_ok(ubuf, len))
		return -EFAULT;
	iov_iter_ubuf(&iter, to_user ? ITER_DEST : ITER_SOURCE, ubuf, len);
	if (to_user)
		n = copy_to_iter(kbuf, len, &iter);
	else
		n = copy_from_iter(kbuf, len, &iter);
	return uab_done(len, len - n);
}

static int uab_worker_fn(void *unused)
{
	struct uab_req *req;
	size_t left;

	while (!kthread_should_stop()) {
		wait_event_interruptible(uab_wait, !list_empty(&uab_queue) ||
					 kthread_should_stop());
		spin_lock(&uab_lock);
		req = list_first_entry_or_null(&uab_queue, struct uab_req, node);
		if (req)
			list_del_init(&req->node);
		spin_unlock(&uab_lock);
		if (!req)
			continue;
		if (req->uf->delay_ms)
			msleep(req->uf->delay_ms);
		kthread_use_mm(req->mm);
		if (req->to_user)
			left = copy_to_user(req->ubuf, uab_src, req->len);
		else
			left = copy_from_user(req->uf->buf, req->ubuf, req->len);
		kthread_unuse_mm(req->mm);
		req->ret = uab_done(req->len, left);
		complete(&req->done);
		uab_req_put(req);
	}
	/* Callers hold the module while they wait: nothing is queued now. */
	WARN_ON(!list_empty(&uab_queue));
	return 0;
}

/* UAB_KTHREAD: hand the copy to uab_worker and sleep until it is done. */
static ssize_t uab_kthread_copy(struct uab_file *uf, void __user *ubuf,
				size_t len, bool to_user)
{
	struct uab_req *req;
	ssize_t ret;

	if (!access_ok(ubuf, len))
		return -EFAULT;
	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	if (!current->mm || !mmget_not_zero(current->mm)) {
		kfree(req);
		return -ESRCH;
	}
	req->mm = current->mm;
	kref_get(&uf->kref);
	req->uf = uf;
	req->ubuf = ubuf;
	req->len = len;
	req->to_user = to_user;
	init_completion(&req->done);
	refcount_set(&req->ref, 2);

	spin_lock(&uab_lock);
	list_add_tail(&req->node, &uab_queue);
	spin_unlock(&uab_lock);
	wake_up(&uab_wait);

	if (wait_for_completion_interruptible(&req->done)) {
		/* Take the request back unless the worker has it already. */
		spin_lock(&uab_lock);
		if (!list_empty(&req->node)) {
			list_del_init(&req->node);
			refcount_dec(&req->ref);
		}
		spin_unlock(&uab_lock);
		uab_req_put(req);
		return -EINTR;
	}
	ret = req->ret;
	uab_req_put(req);
	return ret;
}

static ssize_t uab_copy(struct uab_file *uf, u32 mode, void __user *ubuf,
			size_t len, bool to_user)
{
	u8 *kbuf = to_user ? uab_src : uf->buf;
	size_t left;

	switch (mode & ~UAB_VERIFY) {
	case UAB_USER:
		if (to_user)
			left = copy_to_user(ubuf, kbuf, len);
		else
			left = copy_from_user(kbuf, ubuf, len);
		return uab_done(len, left);
	case UAB_GUP:
		return uab_gup_copy(ubuf, kbuf, len, to_user);
	case UAB_KTHREAD:
		return uab_kthread_copy(uf, ubuf, len, to_user);
	default:
		return uab_iter_copy(ubuf, kbuf, len, to_user);
	}
}

/* The first @len bytes of @p hold the pattern. */
static bool uab_is_pattern(const u8 *p, size_t len)
{
	return !memcmp(p, uab_src, len);
}

/* Read back what read() wrote into the caller's buffer. */
static int uab_verify_user(const void __user *ubuf, size_t len)
{
	u8 *tmp = kvmalloc(len, GFP_KERNEL);
	int ret = 0;

	if (!tmp)
		return -ENOMEM;
	if (copy_from_user(tmp, ubuf, len))
		ret = -EFAULT;
	else if (!uab_is_pattern(tmp, len))
		ret = -EIO;
	kvfree(tmp);
	return ret;
}

static ssize_t uab_read(struct file *file, char __user *ubuf, size_t len,
			loff_t *ppos)
{
	struct uab_file *uf = file->private_data;
	u32 mode = READ_ONCE(uf->mode);
	ssize_t ret;
	int err;

	if (len > UAB_MAX_LEN)
		return -EINVAL;
	if (!len)
		return 0;
	ret = uab_copy(uf, mode, ubuf, len, true);
	if (ret > 0 && (mode & UAB_VERIFY)) {
		err = uab_verify_user(ubuf, ret);
		if (err)
			return err;
	}
	return ret;
}

static ssize_t uab_write(struct file *file, const char __user *ubuf,
			 size_t len, loff_t *ppos)
{
	struct uab_file *uf = file->private_data;
	u32 mode = READ_ONCE(uf->mode);
	ssize_t ret;

	if (len > UAB_MAX_LEN)
		return -EINVAL;
	if (!len)
		return 0;
	ret = uab_copy(uf, mode, (void __user *)ubuf, len, false);
	if (ret > 0 && (mode & UAB_VERIFY) && !uab_is_pattern(uf->buf, ret))
		return -EIO;
	return ret;
}

static long uab_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct uab_file *uf = file->private_data;
	u32 val;

	if (cmd != UAB_SET_MODE && cmd != UAB_SET_DELAY)
		return -ENOTTY;
	if (get_user(val, (u32 __user *)arg))
		return -EFAULT;
	if (cmd == UAB_SET_MODE) {
		if ((val & ~UAB_VERIFY) >= UAB_NR_MODES)
			return -EINVAL;
		WRITE_ONCE(uf->mode, val);
	} else {
		if (val > UAB_MAX_DELAY_MS)
			return -EINVAL;
		WRITE_ONCE(uf->delay_ms, val);
	}
	return 0;
}

static int uab_open(struct inode *inode, struct file *file)
{
	struct uab_file *uf = kzalloc(sizeof(*uf), GFP_KERNEL);

	if (!uf)
		return -ENOMEM;
	uf->buf = vzalloc(UAB_MAX_LEN);
	if (!uf->buf) {
		kfree(uf);
		return -ENOMEM;
	}
	kref_init(&uf->kref);
	uf->mode = UAB_USER;
	file->private_data = uf;
	return 0;
}

static int uab_release(struct inode *inode, struct file *file)
{
	struct uab_file *uf = file->private_data;

	kref_put(&uf->kref, uab_file_free);
	return 0;
}

static const struct file_operations uab_fops = {
	.owner		= THIS_MODULE,
	.open		= uab_open,
	.release	= uab_release,
	.read		= uab_read,
	.write		= uab_write,
	.unlocked_ioctl	= uab_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice uab_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "uaccess_bench",
	.fops	= &uab_fops,
};

static int __init uab_init(void)
{
	u32 i;
	int err;

	uab_src = vmalloc(UAB_MAX_LEN);
	if (!uab_src)
		return -ENOMEM;
	for (i = 0; i < UAB_MAX_LEN; i++)
		uab_src[i] = uab_pattern(i);
	uab_worker = kthread_run(uab_worker_fn, NULL, "uaccess_bench");
	if (IS_ERR(uab_worker)) {
		err = PTR_ERR(uab_worker);
		goto free_src;
	}
	err = misc_register(&uab_dev);
	if (err)
		goto stop_worker;
	return 0;

stop_worker:
	kthread_stop(uab_worker);
free_src:
	vfree(uab_src);
	return err;
}

static void __exit uab_exit(void)
{
	misc_deregister(&uab_dev);
	/* Requests of killed callers may still be running: it finishes them. */
	kthread_stop(uab_worker);
	vfree(uab_src);
}

module_init(uab_init);
module_exit(uab_exit);
MODULE_DESCRIPTION("copy_to_user, GUP + kmap, kthread_use_mm and copy_to_iter side by side");
MODULE_LICENSE("GPL");
