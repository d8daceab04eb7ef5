// SPDX-License-Identifier: GPL-2.0-only
/* kzalloc_obj(), the typed allocation helpers of <linux/slab.h> (7.0+). */
#include <linux/slab.h>

struct mvf_probe_obj {
	int x;
};

void *mvf_probe_alloc(void);
void *mvf_probe_alloc(void)
{
	struct mvf_probe_obj *p = kzalloc_obj(*p, GFP_KERNEL_ACCOUNT);

	return p;
}
