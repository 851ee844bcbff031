// SPDX-License-Identifier: GPL-2.0
/*
 * cachetest - break and follow the cache rules for pinned user pages on
 * purpose, so that a cache model (test/qemu-plugins/cache926.c) can be checked
 * against both.
 *
 * /dev/cachetest pins one page of the caller (CACHETEST_PIN, with GUP, which
 * calls flush_anon_page()), then writes it (KWRITE) or reads it (KREAD)
 * through the kernel's mapping of that page:
 *
 *   KWRITE reads the page first, so that a read-allocate cache holds the
 *   kernel's lines, then overwrites it; with CACHETEST_FLUSH_DCACHE it calls
 *   flush_dcache_page() afterwards, as the rules ask.  Without it the new
 *   data stays in the kernel's lines and the user's loads miss them.
 *
 *   With CACHETEST_INVALIDATE it then invalidates the kernel's lines of
 *   the page without writing them back (an ARM926's CP15 operation, as a
 *   wrong cache maintenance call would): what it wrote is lost.
 *
 *   FLUSH calls flush_dcache_page() alone: after a KWRITE without it and
 *   the user's own stores, the kernel's old lines are written back over
 *   the user's data (clobbered).
 *
 *   KREAD sums the page.  With CACHETEST_REPIN it pins the page again
 *   first, so that GUP writes back and invalidates the user's lines; without
 *   it, what the user stored after CACHETEST_PIN may still sit in those.
 *
 * One page per open file; the page is released on UNPIN or close.
 */
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "cachetest.h"

struct cachetest {
	struct mutex lock;
	struct page *page;	/* pinned with FOLL_WRITE, or NULL */
	unsigned long addr;
};

static void cachetest_unpin(struct cachetest *ct)
{
	if (!ct->page)
		return;
	set_page_dirty_lock(ct->page);
	put_page(ct->page);
	ct->page = NULL;
}

static int cachetest_pin(struct cachetest *ct, u64 addr)
{
	struct page *page;
	int ret;

	if (addr != (unsigned long)addr || !PAGE_ALIGNED(addr))
		return -EINVAL;
	ret = get_user_pages_fast(addr, 1, FOLL_WRITE, &page);
	if (ret < 0)
		return ret;
	if (ret != 1)
		return -EFAULT;
	cachetest_unpin(ct);
	ct->page = page;
	ct->addr = addr;
	return 0;
}

static u32 cachetest_sum(const u32 *p)
{
	u32 sum = 0;
	unsigned int i;

	for (i = 0; i < PAGE_SIZE / sizeof(*p); i++)
		sum += READ_ONCE(p[i]);
	return sum;
}

/* Drop the lines of @kaddr's page from the D-cache, dirty or not */
static int cachetest_invalidate(void *kaddr)
{
#ifdef CONFIG_CPU_ARM926T
	unsigned long p = (unsigned long)kaddr;

	for (; p < (unsigned long)kaddr + PAGE_SIZE; p += 32)
		asm volatile("mcr p15, 0, %0, c7, c6, 1" : : "r" (p) : "memory");
	return 0;
#else
	return -EOPNOTSUPP;
#endif
}

static long cachetest_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct cachetest *ct = file->private_data;
	struct cachetest_op __user *uop = (void __user *)arg;
	struct cachetest_op op;
	u32 *kaddr;
	long ret = 0;

	if (_IOC_TYPE(cmd) != 'C')
		return -ENOTTY;
	if (cmd != CACHETEST_UNPIN && cmd != CACHETEST_FLUSH &&
	    copy_from_user(&op, uop, sizeof(op)))
		return -EFAULT;

	mutex_lock(&ct->lock);
	switch (cmd) {
	case CACHETEST_PIN:
		ret = cachetest_pin(ct, op.addr);
		break;
	case CACHETEST_UNPIN:
		cachetest_unpin(ct);
		break;
	case CACHETEST_KWRITE:
		if (!ct->page) {
			ret = -ENXIO;
			break;
		}
		kaddr = kmap_local_page(ct->page);
		/* allocate the kernel's lines: ARM926 allocates on reads only */
		cachetest_sum(kaddr);
		memset32(kaddr, op.value, PAGE_SIZE / sizeof(u32));
		if (op.flags & CACHETEST_INVALIDATE)
			ret = cachetest_invalidate(kaddr);
		kunmap_local(kaddr);
		if (op.flags & CACHETEST_FLUSH_DCACHE)
			flush_dcache_page(ct->page);
		break;
	case CACHETEST_FLUSH:
		if (!ct->page) {
			ret = -ENXIO;
			break;
		}
		flush_dcache_page(ct->page);
		break;
	case CACHETEST_KREAD:
		if (!ct->page) {
			ret = -ENXIO;
			break;
		}
		if (op.flags & CACHETEST_REPIN) {
			ret = cachetest_pin(ct, ct->addr);
			if (ret)
				break;
		}
		kaddr = kmap_local_page(ct->page);
		op.value = cachetest_sum(kaddr);
		kunmap_local(kaddr);
		if (copy_to_user(uop, &op, sizeof(op)))
			ret = -EFAULT;
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&ct->lock);
	return ret;
}

static int cachetest_open(struct inode *inode, struct file *file)
{
	struct cachetest *ct = kzalloc(sizeof(*ct), GFP_KERNEL);

	if (!ct)
		return -ENOMEM;
	mutex_init(&ct->lock);
	file->private_data = ct;
	return 0;
}

static int cachetest_release(struct inode *inode, struct file *file)
{
	struct cachetest *ct = file->private_data;

	cachetest_unpin(ct);
	kfree(ct);
	return 0;
}

static const struct file_operations cachetest_fops = {
	.owner		= THIS_MODULE,
	.open		= cachetest_open,
	.release	= cachetest_release,
	.unlocked_ioctl	= cachetest_ioctl,
};

static struct miscdevice cachetest_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "cachetest",
	.fops	= &cachetest_fops,
};
module_misc_device(cachetest_dev);

MODULE_DESCRIPTION("Break and follow the cache rules for pinned user pages");
MODULE_LICENSE("GPL");
