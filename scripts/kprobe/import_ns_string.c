// SPDX-License-Identifier: GPL-2.0-only
/* MODULE_IMPORT_NS() takes a string literal, "IOMMUFD" (6.13; before: IOMMUFD). */
#include <linux/build_bug.h>
#include <linux/module.h>

/*
 * Both forms compile everywhere (the old macro stringifies whatever it is
 * given), so look at what the macro hands MODULE_INFO(): the literal as it
 * is, or the literal stringified once more, quotes and all.
 */
#undef MODULE_INFO
#define MODULE_INFO(tag, info) const char mvf_probe_ns[] = info

MODULE_IMPORT_NS("IOMMUFD");
static_assert(sizeof(mvf_probe_ns) == sizeof("IOMMUFD"));
