// SPDX-License-Identifier: GPL-2.0
/* C3 on GUP-fast, slow and remote pins (C2, GUP-fast read with no
 * flush_anon_page(), is retired: docs/audit/README.md). */

/* GUP-fast, read: C3 */
static int peek(unsigned long uaddr, void *dst, size_t len)
{
	struct page *page;
	void *addr;

	if (get_user_pages_fast(uaddr, 1, 0, &page) != 1)
		return -EFAULT;
	addr = kmap_local_page(page);
	memcpy(dst, addr + offset_in_page(uaddr), len);
	kunmap_local(addr);
	put_page(page);
	return 0;
}

/* the slow path: C3 */
static int peek_slow(unsigned long uaddr, void *dst, size_t len)
{
	struct page *page;

	if (get_user_pages(uaddr, 1, 0, &page) != 1)
		return -EFAULT;
	memcpy_from_page(dst, page, offset_in_page(uaddr), len);
	put_page(page);
	return 0;
}

/* an iterator's pages copied to another iterator: C3 */
static ssize_t relay(struct iov_iter *from, struct iov_iter *to)
{
	struct page **pages = NULL;
	size_t off;
	ssize_t n;

	n = iov_iter_extract_pages(from, &pages, PAGE_SIZE, 1, 0, &off);
	if (n <= 0)
		return n;
	n = copy_page_to_iter(pages[0], off, n, to);
	unpin_user_page(pages[0]);
	kvfree(pages);
	return n;
}

/* another process's memory (ptrace-like): C1, but not C3 */
static int poke_remote(struct mm_struct *mm, unsigned long addr, u32 val)
{
	struct page *page;
	u32 *p;

	if (get_user_pages_remote(mm, addr, 1, FOLL_WRITE | FOLL_FORCE, &page,
				  NULL) != 1)
		return -EIO;
	p = kmap_local_page(page);
	memcpy(p + (addr & ~PAGE_MASK) / 4, &val, 4);
	kunmap_local(p);
	put_page(page);
	return 0;
}
