// SPDX-License-Identifier: GPL-2.0
/*
 * Reduced from 6.1's fs/smb/client/file.c and io_uring's regions: a
 * carrier that holds user pages in one place holds the kernel's own pages
 * in another.  A function that fills it from the page allocator or the
 * page cache (and pins nothing) releases or vmap()s those pages, not user
 * pages: no C1 at cifs_read_allocate_pages() and cifs_readahead() (both
 * false C1s of 6.1), no C4 at ring_alloc_kernel().  The user pages are
 * still reported: C1 at cifs_uncached_readdata_release(), C4 at
 * ring_map_user().
 */
struct cifs_readdata {
	struct page **pages;
	unsigned int nr_pages;
};

static int cifs_send_async_read(struct iov_iter *to,
				struct cifs_readdata *rdata)
{
	struct page **pagevec;
	size_t start;
	ssize_t n;

	n = iov_iter_get_pages_alloc2(to, &pagevec, PAGE_SIZE, &start);
	if (n < 0)
		return n;
	rdata->pages = pagevec;
	return 0;
}

static void uncached_fill_pages(struct cifs_readdata *rdata, const void *buf)
{
	void *addr = kmap_local_page(rdata->pages[0]);

	memcpy(addr, buf, PAGE_SIZE);
	kunmap_local(addr);
}

static void cifs_uncached_readdata_release(struct cifs_readdata *rdata)
{
	put_page(rdata->pages[0]);
}

static int cifs_read_allocate_pages(struct cifs_readdata *rdata,
				    unsigned int nr_pages)
{
	struct page *page;
	unsigned int i;
	int rc = 0;

	for (i = 0; i < nr_pages; i++) {
		page = alloc_page(GFP_KERNEL | __GFP_HIGHMEM);
		if (!page) {
			rc = -ENOMEM;
			break;
		}
		rdata->pages[i] = page;
	}
	if (rc) {
		unsigned int nr_page_failed = i;

		for (i = 0; i < nr_page_failed; i++)
			put_page(rdata->pages[i]);
	}
	return rc;
}

static void cifs_readahead(struct readahead_control *ractl,
			   struct cifs_readdata *rdata, int rc)
{
	struct page *page;
	unsigned int i;

	__readahead_batch(ractl, rdata->pages, rdata->nr_pages);
	if (rc) {
		for (i = 0; i < rdata->nr_pages; i++) {
			page = rdata->pages[i];
			put_page(page);
		}
	}
}

struct ring {
	struct page **pages;
	void *va;
};

static int ring_map_user(struct ring *r, unsigned long uaddr, int n)
{
	if (pin_user_pages_fast(uaddr, n, FOLL_WRITE, r->pages) != n)
		return -EFAULT;
	r->va = vmap(r->pages, n, VM_MAP, PAGE_KERNEL);
	return r->va ? 0 : -ENOMEM;
}

static int ring_alloc_kernel(struct ring *r, int n)
{
	int i;

	for (i = 0; i < n; i++)
		r->pages[i] = alloc_page(GFP_KERNEL);
	r->va = vmap(r->pages, n, VM_MAP, PAGE_KERNEL);
	return r->va ? 0 : -ENOMEM;
}
