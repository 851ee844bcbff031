// SPDX-License-Identifier: GPL-2.0
/* gup_kmap_flush.cocci: what it must not report. */

/* flushed before the release */
static int flushed(unsigned long uaddr, const void *src, size_t len)
{
	struct page *page;
	void *addr;

	if (get_user_pages_fast(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	addr = kmap_local_page(page);
	memcpy(addr, src, len);
	kunmap_local(addr);
	flush_dcache_page(page);
	put_page(page);
	return 0;
}

/* flushed as a folio, after a store through a derived pointer */
static int folio_flushed(unsigned long uaddr, u32 val)
{
	struct page *page;
	void *addr;
	u32 *w;

	if (pin_user_pages(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	addr = kmap_local_page(page);
	w = addr + offset_in_page(uaddr);
	*w = val;
	kunmap_local(addr);
	flush_dcache_folio(page_folio(page));
	unpin_user_pages_dirty_lock(&page, 1, true);
	return 0;
}

/* only read through the mapping */
static int read_only(unsigned long uaddr, void *dst, size_t len)
{
	struct page *page;
	void *addr;

	if (get_user_pages_fast_only(uaddr, 1, 0, &page) != 1)
		return -EFAULT;
	addr = kmap_local_page(page);
	memcpy(dst, addr, len);
	kunmap_local(addr);
	put_page(page);
	return 0;
}

/* memcpy_to_page() flushes by itself */
static int to_page(unsigned long uaddr, const void *src, size_t len)
{
	struct page *page;

	if (pin_user_pages_fast(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	memcpy_to_page(page, 0, src, len);
	unpin_user_page(page);
	return 0;
}

/* a kernel page */
static int kernel_page(const void *src)
{
	struct page *page = alloc_page(GFP_KERNEL);
	void *addr;

	page = alloc_page(GFP_KERNEL);
	addr = kmap_local_page(page);
	memcpy(addr, src, 64);
	kunmap_local(addr);
	put_page(page);
	return 0;
}

/* the mapping variable now points elsewhere when it is written */
static int remapped(unsigned long uaddr, void *buf)
{
	struct page *page;
	void *addr;

	if (get_user_pages_remote(current->mm, uaddr, 1, 0, &page, NULL) != 1)
		return -EFAULT;
	addr = kmap_local_page(page);
	kunmap_local(addr);
	addr = buf;
	memset(addr, 0, 64);
	put_page(page);
	return 0;
}

/* a helper writes: one function at a time, not seen (the audit engine
 * reports it) */
static void scribble(struct page *pg, const void *src)
{
	void *va = kmap_local_page(pg);

	memcpy(va, src, 64);
	kunmap_local(va);
}

static int via_helper(unsigned long uaddr, const void *src)
{
	struct page *page;

	if (get_user_pages(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	scribble(page, src);
	put_page(page);
	return 0;
}

/* pages kept in a structure field: not followed */
static int in_field(struct my_buf *b, unsigned long uaddr)
{
	void *va;

	if (iov_iter_get_pages2(b->iter, b->pages, PAGE_SIZE, 1, &b->off) <= 0)
		return -EFAULT;
	va = kmap(b->pages[0]);
	memset(va, 0, PAGE_SIZE);
	kunmap(b->pages[0]);
	put_page(b->pages[0]);
	return 0;
}

/* released, then the variable holds a kernel page when it is written */
static int unpinned_then_kernel_page(unsigned long uaddr, const void *src)
{
	struct page *page;
	void *addr;

	if (pin_user_pages_fast(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	unpin_user_page(page);
	page = alloc_page(GFP_KERNEL);
	addr = kmap_local_page(page);
	memcpy(addr, src, 64);
	kunmap_local(addr);
	put_page(page);
	return 0;
}

/* the user page kept aside, the variable reused for a bounce page */
static int bounce(unsigned long uaddr, const void *src)
{
	struct page *page, *user;
	void *addr;

	if (get_user_pages_fast(uaddr, 1, 0, &page) != 1)
		return -EFAULT;
	user = page;
	page = alloc_page(GFP_KERNEL);
	addr = kmap_local_page(page);
	memcpy(addr, src, 64);
	kunmap_local(addr);
	put_page(page);
	put_page(user);
	return 0;
}

/* the array released, then refilled with kernel pages before the write */
static int array_reused(unsigned long uaddr, struct page **pages, int n)
{
	void *addr;
	int i;

	if (pin_user_pages_fast(uaddr, n, 0, pages) != n)
		return -EFAULT;
	unpin_user_pages(pages, n);
	for (i = 0; i < n; i++)
		pages[i] = alloc_page(GFP_KERNEL);
	addr = kmap_local_page(pages[0]);
	memset(addr, 0, PAGE_SIZE);
	kunmap_local(addr);
	put_page(pages[0]);
	return 0;
}

/* the pointer derived from the mapping points elsewhere when written */
static int derived_moved(unsigned long uaddr, u32 *buf, u32 val)
{
	struct page *page;
	void *addr;
	u32 *w;

	if (get_user_pages_fast(uaddr, 1, 0, &page) != 1)
		return -EFAULT;
	addr = kmap_local_page(page);
	w = addr + offset_in_page(uaddr);
	w = buf;
	*w = val;
	kunmap_local(addr);
	put_page(page);
	return 0;
}
