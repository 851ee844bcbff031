// SPDX-License-Identifier: GPL-2.0
/* Shapes found in the tree, each reduced to a few lines. */

/* vhost set_bit_to_user(): a bit set through the mapping: C1 */
static int set_bit_to_user(int nr, void __user *addr)
{
	unsigned long log = (unsigned long)addr;
	struct page *page;
	void *base;
	int bit = nr + (log % PAGE_SIZE) * 8;
	int r;

	r = pin_user_pages_fast(log, 1, FOLL_WRITE, &page);
	if (r < 0)
		return r;
	base = kmap_atomic(page);
	set_bit(bit, base);
	kunmap_atomic(base);
	unpin_user_pages_dirty_lock(&page, 1, true);
	return 0;
}

/* uprobes __update_ref_ctr(): a store through a pointer into the mapping */
static int update_ref_ctr(struct mm_struct *mm, unsigned long vaddr, short d)
{
	void *kaddr;
	struct page *page;
	short *ptr;
	int ret;

	ret = get_user_pages_remote(mm, vaddr, 1, FOLL_WRITE, &page, NULL);
	if (ret <= 0)
		return ret;
	kaddr = kmap_atomic(page);
	ptr = kaddr + (vaddr & ~PAGE_MASK);
	*ptr += d;
	kunmap_atomic(kaddr);
	put_page(page);
	return 0;
}

/* rds_info_copy(): the mapping kept in a field of an iterator */
struct info_iter {
	struct page **pages;
	void *addr;
	unsigned long offset;
};

void info_copy(struct info_iter *iter, void *data, unsigned long bytes)
{
	iter->addr = kmap_atomic(*iter->pages);
	memcpy(iter->addr + iter->offset, data, bytes);
	kunmap_atomic(iter->addr);
}

int info_getsockopt(struct iov_iter *to, int nr_pages, void *data)
{
	struct info_iter iter;
	struct page **pages = NULL;
	size_t offset;
	long ret;

	ret = iov_iter_extract_pages(to, &pages, PAGE_SIZE, nr_pages, 0, &offset);
	if (ret <= 0)
		return ret;
	iter.pages = pages;
	iter.offset = offset;
	info_copy(&iter, data, ret);
	unpin_user_pages_dirty_lock(pages, nr_pages, true);
	kfree(pages);
	return 0;
}

/* process_vm_rw_pages(): a helper walks the array: C1 in the caller */
static int rw_pages(struct page **pages, unsigned int offset, size_t len,
		    struct iov_iter *iter, int vm_write)
{
	while (len && iov_iter_count(iter)) {
		struct page *page = *pages++;
		size_t copy = PAGE_SIZE - offset;
		size_t copied;

		if (vm_write)
			copied = copy_page_from_iter(page, offset, copy, iter);
		else
			copied = copy_page_to_iter(page, offset, copy, iter);
		len -= copied;
		offset = 0;
	}
	return 0;
}

static int rw_single_vec(unsigned long addr, unsigned long len,
			 struct iov_iter *iter, struct page **process_pages,
			 struct mm_struct *mm, int vm_write)
{
	int pinned;

	pinned = pin_user_pages_remote(mm, addr, 16, FOLL_WRITE, process_pages,
				       NULL);
	rw_pages(process_pages, 0, len, iter, vm_write);
	unpin_user_pages_dirty_lock(process_pages, pinned, vm_write);
	return 0;
}
