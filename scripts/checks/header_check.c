// SPDX-License-Identifier: GPL-2.0-only
/*
 * The device interface header must build as plain C11 for user space and
 * QEMU, and its memory layouts must be the ones the spec documents.
 */
#include <stddef.h>
#include <linux/mvf/mvf_if.h>

#define SIZE(t, n) _Static_assert(sizeof(struct t) == (n), #t " size")
#define OFF(t, f, n) _Static_assert(offsetof(struct t, f) == (n), #t "." #f)

SIZE(mvf_cmd_entry, MVF_CMD_ENTRY_SIZE);
SIZE(mvf_eqe, MVF_EQE_SIZE);
SIZE(mvf_sge, 16);
SIZE(mvf_send_wqe, MVF_SEND_WQE_SIZE);
SIZE(mvf_recv_wqe, MVF_RECV_WQE_SIZE);
SIZE(mvf_cqe, MVF_CQE_SIZE);
SIZE(mvf_img_header, MVF_IMG_HEADER_SIZE);
SIZE(mvf_img_section, MVF_IMG_SECTION_SIZE);
OFF(mvf_cmd_entry, own, 7);
OFF(mvf_cmd_entry, syndrome, 12);
OFF(mvf_cmd_entry, in, 16);
OFF(mvf_cmd_entry, out, 32);
OFF(mvf_cmd_entry, sgl_addr, 48);
OFF(mvf_cqe, phase, 15);
OFF(mvf_img_header, crc32, 12);
OFF(mvf_img_header, total_len, 16);
OFF(mvf_img_header, devmem_size, 40);
_Static_assert(MVF_VF_REG_CNT(MVF_VF_NUM_COUNTERS) <= MVF_VF_REG_SCRATCH_BASE,
	       "counters overlap scratch");
_Static_assert(MVF_VF_REG_SCRATCH(MVF_VF_NUM_SCRATCH) <= MVF_VF_BAR0_SIZE,
	       "scratch beyond BAR0");

int main(void)
{
	return 0;
}
