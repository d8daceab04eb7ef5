// SPDX-License-Identifier: GPL-2.0-only
/*
 * The device interface header must build as plain C11 for user space and
 * QEMU, and its memory layouts must be the ones the spec documents.
 */
#include <stddef.h>
#include <linux/mvf/mvf_if.h>
#include <linux/mvf/mvf_vfio_uapi.h>

#define SIZE(t, n) _Static_assert(sizeof(struct t) == (n), #t " size")
#define OFF(t, f, n) _Static_assert(offsetof(struct t, f) == (n), #t "." #f)

SIZE(mvf_cmd_entry, MVF_CMD_ENTRY_SIZE);
SIZE(mvf_eqe, MVF_EQE_SIZE);
SIZE(mvf_sge, 16);
SIZE(mvf_send_wqe, MVF_SEND_WQE_SIZE);
SIZE(mvf_recv_wqe, MVF_RECV_WQE_SIZE);
SIZE(mvf_cqe, MVF_CQE_SIZE);
SIZE(mvf_rec_hdr, MVF_REC_HDR_SIZE);
SIZE(mvf_rec_hdr, 16);
SIZE(mvf_rec_ident, 40);
SIZE(mvf_rec_size, 8);
SIZE(mvf_rec_devmem, 16);
SIZE(mvf_rec_state, 208);
SIZE(mvf_rec_end, 8);
SIZE(mvf_img_regs, 72);
SIZE(mvf_img_queue, 24);
SIZE(mvf_img_queues, 72);
OFF(mvf_cmd_entry, own, 7);
OFF(mvf_cmd_entry, syndrome, 12);
OFF(mvf_cmd_entry, in, 16);
OFF(mvf_cmd_entry, out, 32);
OFF(mvf_cmd_entry, sgl_addr, 48);
OFF(mvf_cqe, phase, 15);
OFF(mvf_rec_hdr, crc32, 4);
OFF(mvf_rec_hdr, len, 8);
OFF(mvf_rec_ident, if_version, 12);
OFF(mvf_rec_ident, page_size, 20);
OFF(mvf_rec_ident, devmem_size, 24);
OFF(mvf_rec_ident, src_vhca_id, 32);
OFF(mvf_rec_devmem, pages, 8);
OFF(mvf_rec_state, queues, 72);
OFF(mvf_rec_state, cnt, 144);
_Static_assert(MVF_REC_MAX_SIZE == MVF_REC_HDR_SIZE +
	       sizeof(struct mvf_rec_devmem) +
	       MVF_REC_DEVMEM_MAX_PAGES * MVF_DEVMEM_PAGE_SIZE,
	       "the largest DEVMEM record is MVF_REC_MAX_SIZE");
_Static_assert(MVF_REC_HDR_SIZE % MVF_REC_ALIGN == 0 &&
	       sizeof(struct mvf_rec_state) % MVF_REC_ALIGN == 0 &&
	       sizeof(struct mvf_rec_ident) % MVF_REC_ALIGN == 0,
	       "fixed records need no padding");
_Static_assert(MVF_VF_REG_CNT(MVF_VF_NUM_COUNTERS) <= MVF_VF_REG_SCRATCH_BASE,
	       "counters overlap scratch");
_Static_assert(MVF_VF_REG_SCRATCH(MVF_VF_NUM_SCRATCH) <= MVF_VF_BAR0_SIZE,
	       "scratch beyond BAR0");

int main(void)
{
	return 0;
}

/* The MVF interrupt indexes follow vfio-pci's own. */
_Static_assert((int)MVF_VFIO_PCI_NONFATAL_ERR_IRQ_INDEX == (int)VFIO_PCI_NUM_IRQS,
	       "first MVF irq index");
_Static_assert((int)MVF_VFIO_PCI_NUM_IRQS == (int)VFIO_PCI_NUM_IRQS + 2,
	       "MVF irq indexes");
