// SPDX-License-Identifier: GPL-2.0
/* C1: the kernel writes a pinned user page through a kernel mapping. */

/* written, dirtied and released with no flush: C1 (and C3) */
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

/* the same with the flush: nothing for C1 */
static int put_one_flushed(unsigned long uaddr, const void *src, size_t len)
{
	struct page *page;
	void *addr;

	if (get_user_pages(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	addr = kmap_local_page(page);
	memcpy(addr + offset_in_page(uaddr), src, len);
	kunmap_local(addr);
	flush_dcache_page(page);
	set_page_dirty_lock(page);
	put_page(page);
	return 0;
}

/* an array, page by page, released all at once: C1, no patch */
static long fill_all(unsigned long uaddr, int n, struct page **pages)
{
	long got;
	int i;

	got = pin_user_pages(uaddr, n, FOLL_WRITE, pages);
	if (got <= 0)
		return got;
	for (i = 0; i < got; i++) {
		struct page *p = pages[i];
		char *va = kmap_local_page(p);

		memset(va, 0, PAGE_SIZE);
		kunmap_local(va);
	}
	unpin_user_pages_dirty_lock(pages, got, true);
	return got;
}

/* page by page, released page by page: C1, patched inside the loop */
static long fill_each(unsigned long uaddr, int n, struct page **pages)
{
	long got;
	int i;

	got = get_user_pages(uaddr, n, FOLL_WRITE, pages);
	for (i = 0; i < got; i++) {
		char *va = kmap_local_page(pages[i]);

		memset(va, 0xff, PAGE_SIZE);
		kunmap_local(va);
		put_page(pages[i]);
	}
	return got;
}

/* a helper does the write: C1 in the caller */
static void scribble(struct page *pg, int v, struct iov_iter *it)
{
	copy_page_from_iter(pg, 0, v, it);
}

static int via_helper(unsigned long uaddr, struct iov_iter *it)
{
	struct page *page;

	if (get_user_pages_unlocked(uaddr, 1, &page, FOLL_WRITE) != 1)
		return -EFAULT;
	scribble(page, 64, it);
	put_page(page);
	return 0;
}

/* a kernel page, not a user one: nothing */
static int kernel_page(const void *src)
{
	struct page *page = alloc_page(GFP_KERNEL);
	void *addr = kmap_local_page(page);

	memcpy(addr, src, 64);
	kunmap_local(addr);
	put_page(page);
	return 0;
}

/* the variable held a kernel page before it held a user page: nothing */
static int reused(unsigned long uaddr, struct pipe_buffer *buf, const void *src)
{
	struct page *page = alloc_page(GFP_HIGHUSER);
	void *addr;

	buf->page = page;
	addr = kmap_local_page(buf->page);
	memcpy(addr, src, 64);
	kunmap_local(addr);
	put_page(buf->page);
	if (get_user_pages_fast(uaddr, 1, 0, &page) != 1)
		return -EFAULT;
	put_page(page);
	return 0;
}

/* pages only handed to DMA: nothing */
static int dma_only(unsigned long uaddr, struct scatterlist *sg)
{
	struct page *page;

	if (pin_user_pages_fast(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	sg_set_page(sg, page, PAGE_SIZE, 0);
	return 0;
}
