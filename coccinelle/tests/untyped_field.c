// SPDX-License-Identifier: GPL-2.0
/*
 * A field of a structure whose type spatch cannot infer (struct io_ctx
 * lives in a header it is not given, so ctx->rd has no type here): the
 * field may be that of any structure, and the pages pinned into
 * ctx->rd->pages are those that copy_out() writes and rd_release()
 * releases through a struct rd_buf: C1, as when fields were followed by
 * name alone.
 */
struct rd_buf {
	struct page **pages;
};

static int pin_buf(struct io_ctx *ctx, unsigned long uaddr)
{
	return pin_user_pages_fast(uaddr, 1, FOLL_WRITE, ctx->rd->pages);
}

static void copy_out(struct rd_buf *rd, const void *src, size_t len)
{
	void *addr = kmap_local_page(rd->pages[0]);

	memcpy(addr, src, len);
	kunmap_local(addr);
}

static void rd_release(struct rd_buf *rd)
{
	unpin_user_pages_dirty_lock(rd->pages, 1, true);
}
