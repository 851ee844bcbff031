// SPDX-License-Identifier: GPL-2.0
/*
 * C1 with the word-filling memsets: test/kmod/cachetest's KWRITE, which the
 * sanitizer reports (docs/sanitizer.md) and the script missed.
 */

/* filled with memset32() and released with no flush: C1 (and C3) */
static int fill_words(unsigned long uaddr, u32 v)
{
	struct page *page;
	u32 *kaddr;

	if (get_user_pages_fast(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	kaddr = kmap_local_page(page);
	memset32(kaddr, v, PAGE_SIZE / sizeof(u32));
	kunmap_local(kaddr);
	set_page_dirty_lock(page);
	put_page(page);
	return 0;
}

/* the same with memset64() and the flush: nothing for C1 */
static int fill_quads(unsigned long uaddr, u64 v)
{
	struct page *page;
	u64 *kaddr;

	if (get_user_pages_fast(uaddr, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	kaddr = kmap_local_page(page);
	memset64(kaddr, v, PAGE_SIZE / sizeof(u64));
	kunmap_local(kaddr);
	flush_dcache_page(page);
	set_page_dirty_lock(page);
	put_page(page);
	return 0;
}
