// SPDX-License-Identifier: GPL-2.0
/*
 * The shape of fs/fuse/dev.c before the series: the daemon's page is got
 * with GUP-fast in one function, kept in a field, mapped and copied in a
 * second and released in a third.  C3 at the GUP call;
 * no C1: the release is preceded by flush_dcache_page().
 */
struct fuse_copy_state {
	bool write;
	struct iov_iter *iter;
	struct page *pg;
	unsigned int len;
	unsigned int offset;
};

void fuse_copy_finish(struct fuse_copy_state *cs)
{
	if (cs->pg) {
		if (cs->write) {
			flush_dcache_page(cs->pg);
			set_page_dirty_lock(cs->pg);
		}
		put_page(cs->pg);
	}
	cs->pg = NULL;
}

static int fuse_copy_fill(struct fuse_copy_state *cs)
{
	struct page *page;
	size_t off;
	int err;

	fuse_copy_finish(cs);
	err = iov_iter_get_pages2(cs->iter, &page, PAGE_SIZE, 1, &off);
	if (err < 0)
		return err;
	cs->len = err;
	cs->offset = off;
	cs->pg = page;
	return 0;
}

static int fuse_copy_do(struct fuse_copy_state *cs, void **val, unsigned *size)
{
	unsigned ncpy = min(*size, cs->len);
	if (val) {
		void *pgaddr = kmap_local_page(cs->pg);
		void *buf = pgaddr + cs->offset;

		if (cs->write)
			memcpy(buf, *val, ncpy);
		else
			memcpy(*val, buf, ncpy);

		kunmap_local(pgaddr);
		*val += ncpy;
	}
	*size -= ncpy;
	cs->len -= ncpy;
	cs->offset += ncpy;
	return ncpy;
}
