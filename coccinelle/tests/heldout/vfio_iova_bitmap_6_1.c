// SPDX-License-Identifier: GPL-2.0
/*
 * Held out: drivers/vfio/iova_bitmap.c of 6.1.176 (iommufd's copy in 7.2
 * was triaged; this one was not used to change the script), reduced.  The
 * user's dirty bitmap is pinned into bitmap->mapped.pages, bits are set
 * through kmap_local_page() by iova_bitmap_set() and the pages unpinned
 * with no flush_dcache_page().  The field is reached through a pointer to
 * an embedded structure (mapped = &bitmap->mapped).
 * must: C1 iova_bitmap_put
 * must: C3 iova_bitmap_get
 */
struct iova_bitmap_map {
	unsigned long iova;
	unsigned long pgshift;
	unsigned long pgoff;
	unsigned long npages;
	struct page **pages;
};

struct iova_bitmap {
	struct iova_bitmap_map mapped;
	u64 __user *bitmap;
	unsigned long mapped_base_index;
	unsigned long mapped_total_index;
};

static int iova_bitmap_get(struct iova_bitmap *bitmap)
{
	struct iova_bitmap_map *mapped = &bitmap->mapped;
	unsigned long npages;
	u8 __user *addr;
	long ret;

	npages = DIV_ROUND_UP((bitmap->mapped_total_index -
			       bitmap->mapped_base_index) *
			       sizeof(*bitmap->bitmap), PAGE_SIZE);
	addr = bitmap->bitmap + bitmap->mapped_base_index;
	npages = min(npages + !!offset_in_page(addr),
		     PAGE_SIZE / sizeof(struct page *));
	ret = pin_user_pages_fast((unsigned long)addr, npages,
				  FOLL_WRITE, mapped->pages);
	if (ret <= 0)
		return -EFAULT;
	mapped->npages = (unsigned long)ret;
	mapped->pgoff = offset_in_page(addr);
	return 0;
}

static void iova_bitmap_put(struct iova_bitmap *bitmap)
{
	struct iova_bitmap_map *mapped = &bitmap->mapped;

	if (mapped->npages) {
		unpin_user_pages(mapped->pages, mapped->npages);
		mapped->npages = 0;
	}
}

void iova_bitmap_set(struct iova_bitmap *bitmap,
		     unsigned long iova, size_t length)
{
	struct iova_bitmap_map *mapped = &bitmap->mapped;
	unsigned long cur_bit = ((iova - mapped->iova) >>
			mapped->pgshift) + mapped->pgoff * BITS_PER_BYTE;
	unsigned long last_bit = (((iova + length - 1) - mapped->iova) >>
			mapped->pgshift) + mapped->pgoff * BITS_PER_BYTE;
	unsigned long last_page_idx = mapped->npages - 1;

	do {
		unsigned int page_idx = cur_bit / BITS_PER_PAGE;
		unsigned int offset = cur_bit % BITS_PER_PAGE;
		unsigned int nbits = min(BITS_PER_PAGE - offset,
					 last_bit - cur_bit + 1);
		void *kaddr;

		if (unlikely(page_idx > last_page_idx))
			break;

		kaddr = kmap_local_page(mapped->pages[page_idx]);
		bitmap_set(kaddr, offset, nbits);
		kunmap_local(kaddr);
		cur_bit += nbits;
	} while (cur_bit <= last_bit);
}
