/* SPDX-License-Identifier: GPL-2.0-only */
#include "qemu/osdep.h"
