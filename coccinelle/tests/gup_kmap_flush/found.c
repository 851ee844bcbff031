// SPDX-License-Identifier: GPL-2.0
/* gup_kmap_flush.cocci: what it must report (and patch where it can). */

/* vhost set_bit_to_user(): a bit set through kmap_atomic() */
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
	kaddr = kmap_local_page(page);
	ptr = kaddr + (vaddr & ~PAGE_MASK);
	if (*ptr + d < 0) {
		ret = -EINVAL;
		goto out;
	}
	*ptr += d;
	ret = 0;
out:
	kunmap_local(kaddr);
	put_page(page);
	return ret;
}

/* user_events: set_bit() or clear_bit(), one report for the one release */
static int enabler_write(struct mm_struct *mm, unsigned long uaddr, int bit,
			 bool on)
{
	struct page *page;
	void *kaddr;
	unsigned long *ptr;

	if (pin_user_pages_remote(mm, uaddr, 1, FOLL_WRITE, &page, NULL) <= 0)
		return -EFAULT;
	kaddr = kmap_local_page(page);
	ptr = kaddr + (uaddr & ~PAGE_MASK);
	if (on)
		set_bit(bit, ptr);
	else
		clear_bit(bit, ptr);
	kunmap_local(kaddr);
	unpin_user_pages_dirty_lock(&page, 1, true);
	return 0;
}

/* memcpy(), dirtied then put: reported and patched at the first release */
static int put_one(unsigned long uaddr, const void *src, size_t len)
{
	struct page *page;
	void *addr;

	if (get_user_pages(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	addr = kmap_local_page(page);
	memcpy(addr + offset_in_page(uaddr), src, len);
	kunmap_local(addr);
	set_page_dirty_lock(page);
	put_page(page);
	return 0;
}

/* the page returned by get_user_page_vma_remote(), a store into an array */
static int poke_word(struct mm_struct *mm, unsigned long addr, u32 val)
{
	struct vm_area_struct *vma;
	struct page *page;
	u32 *p;

	page = get_user_page_vma_remote(mm, addr, FOLL_WRITE | FOLL_FORCE, &vma);
	if (IS_ERR(page))
		return PTR_ERR(page);
	p = kmap_local_page(page);
	p[(addr & ~PAGE_MASK) / 4] = val;
	kunmap_local(p);
	put_page(page);
	return 0;
}

/* array elements, page by page: patched inside the loop */
static long fill_each(unsigned long uaddr, int n, struct page **pages)
{
	long got;
	int i;

	got = get_user_pages_unlocked(uaddr, n, pages, FOLL_WRITE);
	for (i = 0; i < got; i++) {
		char *va = kmap_local_page(pages[i]);

		memset(va, 0xff, PAGE_SIZE);
		kunmap_local(va);
		put_page(pages[i]);
	}
	return got;
}

/* pages of an iov_iter, released all at once: reported, no patch */
static ssize_t fill_iter(struct iov_iter *to, struct iov_iter *from)
{
	struct page **pages = NULL;
	size_t off;
	ssize_t n;
	void *va;

	n = iov_iter_extract_pages(to, &pages, PAGE_SIZE, 1, 0, &off);
	if (n <= 0)
		return n;
	va = page_address(*pages);
	n = copy_from_iter(va + off, n, from);
	unpin_user_pages(pages, 1);
	kvfree(pages);
	return n;
}

/* a store through the mapping itself */
static int store_word(unsigned long uaddr, u32 val)
{
	struct page *page;
	u32 *w;

	if (pin_user_pages_unlocked(uaddr, 1, &page, FOLL_WRITE) != 1)
		return -EFAULT;
	w = kmap(page);
	*w = val;
	kunmap(page);
	unpin_user_page(page);
	return 0;
}

/* copy_from_user() into the mapping */
static int from_user(unsigned long uaddr, const void __user *src, size_t len)
{
	struct page *page;
	void *addr;
	int ret = 0;

	if (get_user_pages_fast(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	addr = kmap(page);
	if (copy_from_user(addr, src, len))
		ret = -EFAULT;
	kunmap(page);
	put_page(page);
	return ret;
}

/* memmove() inside the mapping */
static int move_in_page(unsigned long uaddr, size_t off, size_t len)
{
	struct page *page;
	char *addr;

	if (pin_user_pages_fast(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	addr = kmap_local_page(page);
	memmove(addr, addr + off, len);
	kunmap_local(addr);
	unpin_user_page(page);
	return 0;
}

/* __set_bit() through a pointer derived from the mapping */
static int set_bit_nonatomic(unsigned long uaddr, int nr)
{
	struct page *page;
	void *addr;
	unsigned long *map;

	if (get_user_pages_fast(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	addr = kmap_local_page(page);
	map = addr + (uaddr & ~PAGE_MASK & ~(sizeof(long) - 1));
	__set_bit(nr, map);
	kunmap_local(addr);
	put_page(page);
	return 0;
}

/* change_bit() through the mapping itself */
static int flip_bit(unsigned long uaddr, int nr)
{
	struct page *page;
	void *addr;

	if (pin_user_pages_fast(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	addr = kmap_atomic(page);
	change_bit(nr, addr);
	kunmap_atomic(addr);
	unpin_user_page(page);
	return 0;
}
