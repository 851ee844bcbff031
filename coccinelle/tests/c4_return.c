// SPDX-License-Identifier: GPL-2.0
/* C4 through a helper that returns the pinned pages. */

/* io_pin_pages() + vmap(): pages that a helper returns stay mapped: C4 */
struct region {
	struct page **pages;
	void *ptr;
};

static struct page **pin_pages(unsigned long uaddr, int nr)
{
	struct page **pages;

	pages = kvmalloc_array(nr, sizeof(struct page *), GFP_KERNEL);
	if (pin_user_pages_fast(uaddr, nr, FOLL_WRITE | FOLL_LONGTERM, pages) != nr)
		return NULL;
	return pages;
}

static int region_map(struct region *mr, unsigned long uaddr, int nr)
{
	mr->pages = pin_pages(uaddr, nr);
	mr->ptr = vmap(mr->pages, nr, VM_MAP, PAGE_KERNEL);
	return mr->ptr ? 0 : -ENOMEM;
}
