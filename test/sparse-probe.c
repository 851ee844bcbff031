// SPDX-License-Identifier: GPL-2.0
/*
 * Proof that the lab's sparse really checks: compiled with the exact
 * command kbuild used for fs/fuse/dev.c, this must be reported as a
 * dereference of a __user (noderef) pointer.
 */
#include <linux/compiler.h>

int fuselab_sparse_probe(int __user *p);

int fuselab_sparse_probe(int __user *p)
{
	return *p;
}
