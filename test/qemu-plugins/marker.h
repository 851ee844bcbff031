/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest's messages to the plugins (test/suite/fl_plugin.c sends them):
 * a store to marker+0 starts one, marker+0x100+c appends the character c,
 * marker+1 ends it. The messages:
 *
 *   reset                 forget every tagged page; a window still open
 *                         was never closed (its test died)
 *   tag VA LEN            the stores until "end" into [VA, VA+LEN) tag
 *   untag VA LEN          ... or untag the pages they reach (hex)
 *   end                   tagging ends
 *   open EXPECT NAME      a window opens, judged by rule EXPECT
 *   close                 the window closes: the plugin writes its line
 */
#ifndef QEMU_PLUGINS_MARKER_H
#define QEMU_PLUGINS_MARKER_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct marker_msg {
	char text[256];
	size_t len;
};

/*
 * Feed the offset of each store into the marker page; true when @m holds
 * a whole message, NUL-terminated.
 */
static inline bool marker_msg_store(struct marker_msg *m, uint64_t off)
{
	if (off == 0) {
		m->len = 0;
	} else if (off == 1) {
		m->text[m->len] = '\0';
		m->len = 0;
		return true;
	} else if (off > 0x100 && off < 0x200 && m->len < sizeof(m->text) - 1) {
		m->text[m->len++] = (char)(off - 0x100);
	}
	return false;
}

enum marker_cmd_kind {
	MARKER_UNKNOWN,
	MARKER_RESET,
	MARKER_TAG,
	MARKER_UNTAG,
	MARKER_END,
	MARKER_OPEN,
	MARKER_CLOSE,
};

struct marker_cmd {
	enum marker_cmd_kind kind;
	uint64_t va, len;		/* tag, untag */
	char expect[64], name[200];	/* open */
};

/* The message @text parsed into @cmd; MARKER_UNKNOWN if it is none. */
static inline void marker_parse(const char *text, struct marker_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	if (!strcmp(text, "reset"))
		cmd->kind = MARKER_RESET;
	else if (sscanf(text, "tag %" SCNx64 " %" SCNx64, &cmd->va, &cmd->len) == 2)
		cmd->kind = MARKER_TAG;
	else if (sscanf(text, "untag %" SCNx64 " %" SCNx64, &cmd->va, &cmd->len) == 2)
		cmd->kind = MARKER_UNTAG;
	else if (!strcmp(text, "end"))
		cmd->kind = MARKER_END;
	else if (sscanf(text, "open %63s %199s", cmd->expect, cmd->name) == 2)
		cmd->kind = MARKER_OPEN;
	else if (!strcmp(text, "close"))
		cmd->kind = MARKER_CLOSE;
}

#endif /* QEMU_PLUGINS_MARKER_H */
