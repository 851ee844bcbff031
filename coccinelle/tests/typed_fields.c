// SPDX-License-Identifier: GPL-2.0
/*
 * Reduced from 6.1's fs/smb/client/file.c: two structures have a field
 * named pages.  Direct writes keep the caller's pages in
 * cifs_writedata.pages and only send them; readahead writes page-cache
 * pages through cifs_readdata.pages.  Followed by field name alone, the
 * write to one and the GUP pages of the other were one carrier: a false C1
 * at every release of wdata->pages (seven in 6.1) and a false C3.  Followed
 * by (structure type, field), only the read side, whose direct reads pin
 * the caller's pages into cifs_readdata.pages, is C1.
 */
struct cifs_readdata {
	struct page **pages;
	unsigned int nr_pages;
};

struct cifs_writedata {
	struct page **pages;
	unsigned int nr_pages;
};

static void readpages_fill_pages(struct cifs_readdata *rdata, const void *buf)
{
	void *addr = kmap_local_page(rdata->pages[0]);

	memcpy(addr, buf, PAGE_SIZE);
	kunmap_local(addr);
}

static int cifs_write_from_iter(struct iov_iter *from,
				struct cifs_writedata *wdata)
{
	struct page **pagevec;
	size_t start;
	ssize_t n;

	n = iov_iter_get_pages_alloc2(from, &pagevec, PAGE_SIZE, &start);
	if (n < 0)
		return n;
	wdata->pages = pagevec;
	return 0;
}

/* only read: no C1 */
static void cifs_writedata_release(struct cifs_writedata *wdata)
{
	put_page(wdata->pages[0]);
}

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

/* written at readpages_fill_pages(), no flush: C1 */
static void cifs_uncached_readdata_release(struct cifs_readdata *rdata)
{
	put_page(rdata->pages[0]);
}
