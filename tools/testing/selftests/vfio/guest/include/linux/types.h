/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mvf-guest: the few fixed-width types of <linux/types.h> that
 * include/linux/mvf/mvf_if.h uses, for a freestanding 32-bit x86 build
 * (little-endian, so __le* are plain integers).
 */
#ifndef _MVF_GUEST_LINUX_TYPES_H
#define _MVF_GUEST_LINUX_TYPES_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __le16;
typedef __u32 __le32;
typedef __u64 __le64;

#endif
