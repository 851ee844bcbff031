// SPDX-License-Identifier: GPL-2.0
/*
 * Reduced from fs/orangefs/orangefs-bufmap.c (6.1 and 7.2): the daemon's
 * buffer is pinned into bufmap->page_array, and each descriptor's
 * page_array, a field of an element of another array, points into it.
 * File data is copied into a descriptor's pages and nothing flushes them
 * before the unpin: C1 (a true finding).  The field is the last one of
 * desc_array[i].page_array, not desc_array.
 */
struct orangefs_bufmap_desc {
	struct page **page_array;
	int array_count;
};

struct orangefs_bufmap {
	int page_count;
	struct page **page_array;
	struct orangefs_bufmap_desc *desc_array;
};

static void orangefs_bufmap_unmap(struct orangefs_bufmap *bufmap)
{
	unpin_user_pages(bufmap->page_array, bufmap->page_count);
}

static int orangefs_bufmap_map(struct orangefs_bufmap *bufmap,
			       unsigned long uaddr, int n)
{
	int i, offset = 0;

	if (pin_user_pages_fast(uaddr, bufmap->page_count, FOLL_WRITE,
				bufmap->page_array) < 0)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		bufmap->desc_array[i].page_array = &bufmap->page_array[offset];
		offset += 4;
	}
	return 0;
}

static int orangefs_bufmap_copy_from_iovec(struct orangefs_bufmap *bufmap,
					   struct iov_iter *iter, int index)
{
	struct orangefs_bufmap_desc *to = &bufmap->desc_array[index];
	struct page *page = to->page_array[0];
	void *addr = kmap_local_page(page);

	copy_from_iter(addr, PAGE_SIZE, iter);
	kunmap_local(addr);
	return 0;
}
