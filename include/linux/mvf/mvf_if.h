/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MVF device interface: registers, commands, queue entries and the VF
 * migration stream of the MVF emulated SR-IOV device.
 *
 * This file is the single definition of the hardware interface.  It is
 * included by the kernel drivers (mvf_core, mvf-vfio-pci), by the QEMU
 * device model and by the userspace selftests, so it only uses the
 * fixed-width types of <linux/types.h> and plain macros.  Everything the
 * device reads or writes in memory or registers is little-endian.
 *
 * The prose specification is Documentation/mvf/device.rst.
 */
#ifndef _LINUX_MVF_MVF_IF_H
#define _LINUX_MVF_MVF_IF_H

#include <linux/types.h>

/*
 * PCI identity.  0x6d76 ("mv") is not assigned to any vendor in the PCI ID
 * database; it marks an emulated device that exists only in this project and
 * must never appear in real hardware.
 */
#define MVF_PCI_VENDOR_ID		0x6d76
#define MVF_PCI_DEVICE_ID_PF		0x1000
#define MVF_PCI_DEVICE_ID_VF		0x1001
#define MVF_PCI_REVISION		0x01

/* Interface version: major changes are incompatible, minor ones add. */
#define MVF_IF_VERSION_MAJOR		2	/* 2: record stream, sessions */
#define MVF_IF_VERSION_MINOR		2	/* 1: errors, link events; 2: dirty pages */
#define MVF_IF_VERSION			((MVF_IF_VERSION_MAJOR << 16) | \
					 MVF_IF_VERSION_MINOR)

#define MVF_MAGIC_PF			0x3146564d	/* "MVF1" */
#define MVF_MAGIC_VF			0x3156564d	/* "MVV1" */

/* ------------------------------------------------------------------ */
/* PF BAR 0: registers (64-bit BAR, MVF_PF_BAR0_SIZE bytes)            */
/* ------------------------------------------------------------------ */
#define MVF_PF_BAR0_SIZE		0x4000
#define MVF_PF_MSIX_BAR			2	/* MSI-X table and PBA */
#define MVF_PF_MSIX_VECTORS		4
#define MVF_PF_EQ_VECTOR		0	/* event queue interrupt */

#define MVF_PF_REG_MAGIC		0x000	/* RO: MVF_MAGIC_PF */
#define MVF_PF_REG_VERSION		0x004	/* RO: MVF_IF_VERSION */
#define MVF_PF_REG_CAPS			0x008	/* RO: MVF_CAP_* */
#define MVF_PF_REG_STATUS		0x00c	/* RO: MVF_PF_STATUS_* */
#define MVF_PF_REG_CTRL			0x010	/* RW: MVF_PF_CTRL_* */
#define MVF_PF_REG_CMDQ_BASE_LO		0x018	/* RW: command queue IOVA */
#define MVF_PF_REG_CMDQ_BASE_HI		0x01c
#define MVF_PF_REG_CMDQ_LOG_SIZE	0x020	/* RW: log2(entries) */
#define MVF_PF_REG_CMDQ_PI		0x024	/* WO doorbell: producer index */
#define MVF_PF_REG_CMDQ_CI		0x028	/* RO: device consumer index */
#define MVF_PF_REG_EQ_BASE_LO		0x030	/* RW: event queue IOVA */
#define MVF_PF_REG_EQ_BASE_HI		0x034
#define MVF_PF_REG_EQ_LOG_SIZE		0x038	/* RW: log2(entries) */
#define MVF_PF_REG_EQ_CI		0x03c	/* RW: driver consumer index */
#define MVF_PF_REG_MAX_VFS		0x040	/* RO: TotalVFs */
#define MVF_PF_REG_DEVMEM_SIZE_LO	0x044	/* RO: per-VF device memory */
#define MVF_PF_REG_DEVMEM_SIZE_HI	0x048

/* CAPS: features of this device (also in every stream's IDENT record). */
#define MVF_CAP_MIGRATION		(1u << 0)	/* SUSPEND/RESUME/SAVE/LOAD */
#define MVF_CAP_P2P			(1u << 1)	/* separate quiesce/freeze */
#define MVF_CAP_PRE_COPY		(1u << 2)	/* SAVE of a running VF */
#define MVF_CAP_DIRTY_TRACK		(1u << 3)	/* page tracker (2.2) */
/* bits 4..31 reserved for later features */

/*
 * The capabilities a VF's migration state depends on: the only ones a
 * stream's IDENT record carries and LOAD compares.  The page tracker is
 * not VF state, so a stream of a 2.2 device loads into a 2.1 one.
 */
#define MVF_CAP_STREAM_MASK		(MVF_CAP_MIGRATION | MVF_CAP_P2P | \
					 MVF_CAP_PRE_COPY)

#define MVF_PF_STATUS_READY		(1u << 0)	/* cmd interface enabled */
#define MVF_PF_STATUS_FATAL		(1u << 1)	/* bad queue setup, needs reset */

#define MVF_PF_CTRL_ENABLE		(1u << 0)	/* start the cmd interface */
#define MVF_PF_CTRL_RESET		(1u << 1)	/* W1: reset the cmd interface */

/*
 * Errors (since 2.1).  The PF and every VF have a PCIe AER capability and
 * report errors through it to the root port.  What the device does:
 *  - a correctable error: nothing but the AER status.
 *  - an uncorrectable error (non-fatal or fatal) of the PF: the command
 *    interface halts.  STATUS reads MVF_PF_STATUS_FATAL (READY clear); the
 *    commands fetched and not yet written back are dropped without
 *    completion or event, doorbells and EQ_CI writes are ignored, the VF
 *    events not posted yet are dropped.  It stays so until the driver
 *    writes MVF_PF_CTRL_RESET (then sets the queues up and ENABLEs again)
 *    or the PF is reset (FLR, bus reset).  Open save/load sessions of the
 *    VFs survive unless one of the dropped commands was running on them
 *    (as on MVF_PF_CTRL_RESET).  The VFs' BARs keep working.
 *  - an uncorrectable error of a VF: the device drops that VF's save and
 *    load sessions.  A SAVE or LOAD of the VF that the device had fetched
 *    before the error (running or waiting behind other commands of the VF)
 *    completes with BAD_STATE / MVF_SYND_ABORTED, except a SAVE with
 *    MVF_SAVE_F_CLOSE, which completes as usual; a later SAVE or LOAD
 *    without START fails with NO_SESSION.  Nothing else of the VF changes:
 *    its suspend state, registers and device memory stay as they were.
 */

#define MVF_CMDQ_LOG_SIZE_MIN		2
#define MVF_CMDQ_LOG_SIZE_MAX		8
#define MVF_EQ_LOG_SIZE_MIN		2
#define MVF_EQ_LOG_SIZE_MAX		12

/* ------------------------------------------------------------------ */
/* Command queue                                                       */
/* ------------------------------------------------------------------ */
/*
 * The driver fills an entry, sets MVF_CMD_OWN_HW in @own and writes the new
 * producer index (free running, modulo 2^16) to MVF_PF_REG_CMDQ_PI.  The
 * device fetches entries in order (MVF_PF_REG_CMDQ_CI counts the fetched
 * ones) but completes them in any order: commands for the same function
 * complete in the order they were posted, commands for different functions
 * run concurrently, so a long SAVE or LOAD of one VF never holds up another
 * VF's commands.  On completion the device writes back @status, @syndrome
 * and @out of the entry's own slot, then clears @own.  If MVF_CMD_F_EVENT
 * is set it also posts an MVF_EVENT_CMD_DONE event naming the entry's slot
 * (producer index modulo the queue size) and @token.  A slot may only be
 * reused once its command completed.
 */
struct mvf_cmd_entry {
	__le16 opcode;		/* MVF_CMD_* */
	__le16 vhca_id;		/* target function: 0 = PF, n = VF n-1 */
	__le16 token;		/* echoed in the completion event */
	__u8 flags;		/* MVF_CMD_F_* */
	__u8 own;		/* MVF_CMD_OWN_HW while the device owns it */
	__u8 status;		/* MVF_CMD_STAT_*, written by the device */
	__u8 rsvd0[3];
	__le32 syndrome;	/* MVF_SYND_*, written by the device */
	__le32 in[4];		/* inline input, per opcode */
	__le32 out[4];		/* inline output, per opcode */
	__le64 sgl_addr;	/* IOVA of the data scatter list (SAVE/LOAD) */
	__le32 sgl_len;		/* bytes of that scatter list table */
	__le32 data_len;	/* LOAD: image bytes; SAVE: buffer bytes */
};

#define MVF_CMD_ENTRY_SIZE		64

#define MVF_CMD_F_EVENT			(1u << 0)
#define MVF_CMD_OWN_HW			0x01

/* Command status: coarse class; the syndrome says exactly what. */
#define MVF_CMD_STAT_OK			0x00
#define MVF_CMD_STAT_BAD_OPCODE		0x01
#define MVF_CMD_STAT_BAD_PARAM		0x02
#define MVF_CMD_STAT_BAD_STATE		0x03
#define MVF_CMD_STAT_BAD_RESOURCE	0x04	/* e.g. no such VF */
#define MVF_CMD_STAT_NO_SPACE		0x05	/* output buffer too small */
#define MVF_CMD_STAT_BAD_IMAGE		0x06	/* LOAD rejected the image */
#define MVF_CMD_STAT_DMA_ERROR		0x07	/* device DMA faulted */

/* Syndromes (unique per failure site, stable across versions). */
#define MVF_SYND_NONE			0x00000000
#define MVF_SYND_BAD_OPCODE		0x00010001
#define MVF_SYND_BAD_VHCA		0x00020001	/* vhca_id out of range */
#define MVF_SYND_VF_DISABLED		0x00020002	/* VF not enabled */
#define MVF_SYND_BAD_MODE		0x00030001	/* in[0] not a MVF_SUSPEND_* */
#define MVF_SYND_BAD_SGL		0x00030002	/* malformed scatter list */
#define MVF_SYND_BAD_LEN		0x00030003
#define MVF_SYND_RSVD_NOT_ZERO		0x00030004
#define MVF_SYND_NOT_QUIESCED		0x00040001	/* freeze before quiesce */
#define MVF_SYND_NOT_FROZEN		0x00040002	/* SAVE/LOAD while live */
#define MVF_SYND_STILL_FROZEN		0x00040003	/* unquiesce before thaw */
#define MVF_SYND_NO_SESSION		0x00040004	/* SAVE/LOAD not started */
#define MVF_SYND_RUNNING		0x00040005	/* live SAVE, no PRE_COPY */
#define MVF_SYND_ABORTED		0x00040006	/* VF error dropped the session (2.1) */
#define MVF_SYND_SAVE_NO_SPACE		0x00050001
#define MVF_SYND_DMA_READ		0x00070001
#define MVF_SYND_DMA_WRITE		0x00070002
#define MVF_SYND_IMG_MAGIC		0x00060001
#define MVF_SYND_IMG_VERSION		0x00060002
#define MVF_SYND_IMG_DEVICE		0x00060003	/* other vendor/device id */
#define MVF_SYND_IMG_CAPS		0x00060004	/* needs caps we lack */
#define MVF_SYND_IMG_GEOMETRY		0x00060005	/* devmem size differs */
#define MVF_SYND_IMG_LENGTH		0x00060006	/* truncated / oversized */
#define MVF_SYND_IMG_CRC		0x00060007
#define MVF_SYND_IMG_RECORD		0x00060008	/* bad record framing */
#define MVF_SYND_IMG_VALUE		0x00060009	/* a field out of range */
#define MVF_SYND_IMG_UNKNOWN		0x0006000a	/* unknown mandatory tag */
#define MVF_SYND_IMG_ORDER		0x0006000b	/* record out of order */
#define MVF_SYND_NO_TRACKER		0x00040007	/* REPORT_DIRTY without one (2.2) */
#define MVF_SYND_TRACK_PAGE_SIZE	0x00080001	/* page size not offered */
#define MVF_SYND_TRACK_NRANGES		0x00080002	/* 0 or above the maximum */
#define MVF_SYND_TRACK_RANGE		0x00080003	/* bad or unsorted range */
#define MVF_SYND_TRACK_ADDR_SPACE	0x00080004	/* ranges sum above the maximum */
#define MVF_SYND_TRACK_WINDOW		0x00080005	/* REPORT window empty or wrapping */

/* Opcodes.  0x0100.. are reserved for later migration features. */
#define MVF_CMD_NOP			0x0001
#define MVF_CMD_QUERY_CAPS		0x0002	/* PF only */
#define MVF_CMD_QUERY_VHCA_MIGRATION_STATE 0x0010
#define MVF_CMD_SUSPEND_VHCA		0x0011
#define MVF_CMD_RESUME_VHCA		0x0012
#define MVF_CMD_SAVE_VHCA_STATE		0x0013
#define MVF_CMD_LOAD_VHCA_STATE		0x0014
#define MVF_CMD_QUERY_TRACK_CAPS	0x0100	/* PF only (2.2) */
#define MVF_CMD_CREATE_TRACKER		0x0101	/* VF (2.2) */
#define MVF_CMD_DESTROY_TRACKER		0x0102	/* VF (2.2) */
#define MVF_CMD_REPORT_DIRTY		0x0103	/* VF (2.2) */

/*
 * QUERY_CAPS (vhca_id 0): out[0] = MVF_CAP_*, out[1] = TotalVFs,
 * out[2..3] = per-VF device memory bytes (lo, hi).
 *
 * QUERY_VHCA_MIGRATION_STATE: in[0] = 0 or MVF_QUERY_F_INCREMENTAL.
 * out[0..1] (lo, hi): with in[0] = 0, the stream bytes the function's save
 * session still has to write up to and including its END record, were the
 * function frozen now (without a session: the bytes of a whole stream);
 * with MVF_QUERY_F_INCREMENTAL, the bytes a SAVE of the running function
 * would write now (0 without a session).  out[2] = MVF_VHCA_STATE_* flags
 * of the function, out[3] = its frozen access counter (since 1.1; 0
 * before): the accesses to its BAR 0 or BAR 2 that the device trapped
 * while the function was frozen, saturating at 0xffffffff, cleared by a
 * function reset (FLR, VF enable), never part of the migration stream.
 *
 * SUSPEND_VHCA / RESUME_VHCA: in[0] = MVF_SUSPEND_INITIATOR (quiesce: stop
 * starting DMA and finish what is outstanding) or MVF_SUSPEND_RESPONDER
 * (freeze: stop responding; the function's state no longer changes).
 * While frozen, every access that reaches the function's BAR 0 or BAR 2
 * (CPU or peer DMA) is trapped: a read returns all-ones, a write is dropped,
 * the frozen access counter counts it and the first one after each freeze
 * posts an MVF_EVENT_FROZEN_ACCESS event.  MSI-X (BAR 4) and config space
 * keep working and are not counted.
 * Freezing needs a quiesced function; un-quiescing needs a thawed one.
 * Both are idempotent.
 *
 * SAVE_VHCA_STATE: the device writes the next records of the function's
 * migration stream (see "Migration stream" below) into the buffers of the
 * scatter list at @sgl_addr, whole records only, at most @data_len bytes.
 * in[0] = MVF_SAVE_F_START opens a new save session (an open one is
 * dropped): all of the function's state counts as changed, and the first
 * records are IDENT and SIZE.  Without it the open session continues
 * (BAD_STATE / NO_SESSION if there is none).
 *  - Frozen function: the records of device memory changed since it was
 *    last saved in the session, then STATE and END, and sets
 *    MVF_SAVE_OUT_END.  The session is then complete: until the next
 *    START, a SAVE writes nothing and sets MVF_SAVE_OUT_END again, and
 *    QUERY reports 0 bytes to come.
 *  - Running function (MVF_CAP_PRE_COPY only, else BAD_STATE / RUNNING):
 *    the records of device memory changed since it was last saved, and
 *    STATE if the queue contexts or registers changed; never END.  The
 *    device tracks every change the function or the CPU makes from then
 *    on, so a later SAVE writes it again.  0 bytes: nothing changed.
 * in[0] = MVF_SAVE_F_CLOSE instead closes the save session, if any
 * (nothing is written; data_len and the scatter list are not used): a
 * driver whose data transfer ends early says so, and QUERY sizes a whole
 * stream again.
 * out[0..1] = bytes written, out[2] = MVF_SAVE_OUT_* flags.  NO_SPACE /
 * SAVE_NO_SPACE with out[0..1] = the bytes the next record needs if not
 * even that fits.  Commands of the same function after a SAVE see its
 * effect; the function's state is not touched.
 *
 * LOAD_VHCA_STATE: the function must be frozen.  @data_len bytes of whole
 * records are read from the scatter list.  in[0] = MVF_LOAD_F_START opens
 * a new load session (an open one is dropped), whose first record must be
 * IDENT; without it the open session continues (BAD_STATE / NO_SESSION).
 * All records of the command are checked (framing, CRC, tags, values
 * against this function) before any is applied, so a rejected command
 * changes nothing; the records of earlier commands of the session were
 * applied already: device memory records are written at once, a STATE
 * record is kept aside and only END makes it the function's state.  On
 * END (checked against the session's byte count) out[2] has
 * MVF_LOAD_OUT_END and the session is closed.  A rejected command closes
 * the session too.
 */
#define MVF_QUERY_F_INCREMENTAL		(1u << 0)

#define MVF_SAVE_F_START		(1u << 0)
#define MVF_SAVE_F_CLOSE		(1u << 1)
#define MVF_SAVE_OUT_END		(1u << 0)

#define MVF_LOAD_F_START		(1u << 0)
#define MVF_LOAD_OUT_END		(1u << 0)

/*
 * Dirty page tracking (MVF_CAP_DIRTY_TRACK, since 2.2).  A VF may have one
 * page tracker.  While it exists, every DMA write the VF issues (receive
 * buffers, CQEs, the host side of DEVMEM_READ, writes to a peer's BAR)
 * marks the tracker pages it touches that lie inside the tracked ranges,
 * at the VF's IOVA, whatever the write's outcome.  DMA reads mark nothing.
 * The tracker is not VF state: it is in no stream, SUSPEND/RESUME, SAVE,
 * LOAD, VF errors, VF FLR and D3hot->D0 leave it (and its pages) alone.  It
 * ends with DESTROY_TRACKER, a new CREATE_TRACKER, or when the VF goes away
 * (VF Enable cleared: also PF FLR and bus reset).
 *
 * QUERY_TRACK_CAPS (vhca_id 0): out[0] = page sizes offered, bit n set =
 * 2^n bytes; out[1] = the most ranges a tracker takes; out[2] bits 7..0 =
 * log2 of the largest sum of range lengths; out[3] = the most pages a
 * tracker stores (its capacity).
 *
 * CREATE_TRACKER: in[0] = log2 page size (offered in QUERY_TRACK_CAPS),
 * in[1] = number of ranges (1..out[1]), in[2] = capacity in pages (0 or
 * above the maximum: the maximum), in[3] = 0.  The scatter list holds
 * in[1] struct mvf_track_range, @data_len = 16 x in[1]: ascending, not
 * overlapping, aligned to the page size, length > 0.  Replaces an existing
 * tracker of the VF.  out[0] = the capacity granted.
 *
 * DESTROY_TRACKER: out[0] = 1 if the VF had a tracker (OK either way).
 *
 * REPORT_DIRTY: in[0..1] = window IOVA (lo, hi), in[2..3] = window length
 * (lo, hi, > 0, not wrapping).  The device writes struct mvf_track_run
 * entries, ascending, into the scatter list, at most @data_len / 16 (a
 * multiple of 16, >= 16) of the stored dirty pages that intersect the
 * window.  out[0] = runs written; out[1] = MVF_REPORT_OUT_* flags;
 * out[2..3] (lo, hi) with MORE: the IOVA to report from next.  Once all
 * runs were written, the reported pages that lie entirely inside the
 * window are forgotten; a page straddling a window edge is reported and
 * kept.  A failed REPORT forgets nothing.  Its cost depends on the number
 * of stored pages, not on the window.
 * When a new page does not fit the capacity, the device drops every
 * stored page and considers the whole tracked space dirty: the next
 * REPORT of any window inside it sets OVERFLOW (the caller must take the
 * whole window as dirty), once per window.
 */
#define MVF_REPORT_OUT_OVERFLOW		(1u << 0)
#define MVF_REPORT_OUT_MORE		(1u << 1)

struct mvf_track_range {
	__le64 iova;
	__le64 length;
};

struct mvf_track_run {
	__le64 iova;		/* multiple of the tracker page size */
	__le32 pages;		/* consecutive dirty tracker pages from @iova */
	__le32 rsvd0;
};

#define MVF_SUSPEND_INITIATOR		1
#define MVF_SUSPEND_RESPONDER		2

#define MVF_VHCA_STATE_QUIESCED		(1u << 0)
#define MVF_VHCA_STATE_FROZEN		(1u << 1)
#define MVF_VHCA_STATE_SAVING		(1u << 2)	/* save session open */
#define MVF_VHCA_STATE_LOADING		(1u << 3)	/* load session open */

/* Scatter list element: a table of these lives at sgl_addr. */
struct mvf_sge {
	__le64 addr;		/* IOVA (PF's address space) */
	__le32 len;		/* bytes, > 0 */
	__le32 flags;		/* MVF_SGE_F_* */
};

/* The element points to another table of @len bytes instead of data. */
#define MVF_SGE_F_CHAIN			(1u << 0)
#define MVF_SGL_MAX_DEPTH		8	/* chain links per list */

/* ------------------------------------------------------------------ */
/* Event queue                                                         */
/* ------------------------------------------------------------------ */
/*
 * A ring of 16-byte entries written by the device.  An entry is valid when
 * its @phase equals the current pass parity: 1 on the first pass through the
 * ring, 0 on the second, and so on.  The driver returns entries by writing
 * its consumer index (free running, modulo 2^32) to MVF_PF_REG_EQ_CI; the
 * device raises MSI-X vector MVF_PF_EQ_VECTOR after posting entries.
 */
struct mvf_eqe {
	__u8 type;		/* MVF_EVENT_* */
	__u8 phase;
	__le16 vhca_id;		/* the function the event is about */
	__le16 token;		/* CMD_DONE: the command's token; else 0 */
	__le16 index;		/* CMD_DONE: command queue slot; else 0 */
	__le64 data;		/* per type, see below */
};

#define MVF_EQE_SIZE			16

/* A command completed: data = status | syndrome << 32. */
#define MVF_EVENT_CMD_DONE		0x01
/*
 * An access reached frozen VF @vhca_id and was trapped (since 1.1).  Posted
 * for the first trapped access after each freeze only, once the event queue
 * has room (dropped if the command interface is reset or stopped, or the VF
 * reset, first): at most one per VF and freeze, however many accesses
 * follow.  data = the VF's frozen access counter when it was written.
 */
#define MVF_EVENT_FROZEN_ACCESS		0x02
/*
 * The PCIe link of the PF changed speed or width (since 2.1).  vhca_id 0,
 * data = MVF_LINK_EVENT_DATA(speed, width): the Current Link Speed
 * encoding of the Link Status register (1 = 2.5 GT/s, 2 = 5, 3 = 8,
 * 4 = 16, 5 = 32 GT/s) and the negotiated width in lanes, as the Link
 * Status registers of the PF and of every VF read from then on.  Posted
 * only while the command interface is up (dropped otherwise, not kept for
 * later); if the event queue is full it waits for room, and several
 * changes meanwhile make one event with the last values.
 */
#define MVF_EVENT_LINK_CHANGE		0x03
#define MVF_LINK_EVENT_DATA(speed, width) \
	((__u64)((speed) & 0xff) | (__u64)((width) & 0xff) << 8)
#define MVF_LINK_EVENT_SPEED(data)	((__u32)(data) & 0xff)
#define MVF_LINK_EVENT_WIDTH(data)	(((__u32)(data) >> 8) & 0xff)
/* 0x04.. reserved: VF FLR, ... */

/* ------------------------------------------------------------------ */
/* VF BAR 0: registers; BAR 2: on-device memory; BAR 4: MSI-X          */
/* ------------------------------------------------------------------ */
#define MVF_VF_BAR0_SIZE		0x1000
#define MVF_VF_DEVMEM_BAR		2
#define MVF_VF_MSIX_BAR			4
#define MVF_VF_MSIX_VECTORS		2
#define MVF_VF_CQ_VECTOR		0

#define MVF_VF_REG_MAGIC		0x000	/* RO: MVF_MAGIC_VF */
#define MVF_VF_REG_VERSION		0x004	/* RO: MVF_IF_VERSION */
#define MVF_VF_REG_STATUS		0x008	/* RO: MVF_VF_STATUS_* */
#define MVF_VF_REG_CTRL			0x00c	/* RW: MVF_VF_CTRL_* */
#define MVF_VF_REG_SQ_BASE_LO		0x010
#define MVF_VF_REG_SQ_BASE_HI		0x014
#define MVF_VF_REG_SQ_LOG_SIZE		0x018
#define MVF_VF_REG_SQ_PI		0x01c	/* doorbell (free running u32) */
#define MVF_VF_REG_RQ_BASE_LO		0x020
#define MVF_VF_REG_RQ_BASE_HI		0x024
#define MVF_VF_REG_RQ_LOG_SIZE		0x028
#define MVF_VF_REG_RQ_PI		0x02c	/* doorbell */
#define MVF_VF_REG_CQ_BASE_LO		0x030
#define MVF_VF_REG_CQ_BASE_HI		0x034
#define MVF_VF_REG_CQ_LOG_SIZE		0x038
#define MVF_VF_REG_CQ_CI		0x03c	/* consumer index (RW) */
#define MVF_VF_REG_SQ_CI		0x040	/* RO: device consumer index */
#define MVF_VF_REG_RQ_CI		0x044	/* RO */
#define MVF_VF_REG_CQ_PI		0x048	/* RO: device producer index */
#define MVF_VF_REG_DEVMEM_SIZE_LO	0x050	/* RO */
#define MVF_VF_REG_DEVMEM_SIZE_HI	0x054

/* Counters: RO, 64-bit as LO/HI pairs, cleared by FLR only. */
#define MVF_VF_REG_CNT_BASE		0x080
#define MVF_VF_CNT_SQ_WQES		0	/* send WQEs completed */
#define MVF_VF_CNT_RQ_WQES		1	/* receive WQEs consumed */
#define MVF_VF_CNT_CQES			2	/* CQEs written */
#define MVF_VF_CNT_TX_BYTES		3	/* bytes moved by WQEs */
#define MVF_VF_CNT_DOORBELLS		4
#define MVF_VF_CNT_ERRORS		5	/* error CQEs */
#define MVF_VF_NUM_COUNTERS		8
#define MVF_VF_REG_CNT(i)		(MVF_VF_REG_CNT_BASE + 8 * (i))

/* Scratch registers: RW, device state that a migration must carry. */
#define MVF_VF_REG_SCRATCH_BASE		0x100
#define MVF_VF_NUM_SCRATCH		16
#define MVF_VF_REG_SCRATCH(i)		(MVF_VF_REG_SCRATCH_BASE + 4 * (i))

#define MVF_VF_STATUS_QUIESCED		(1u << 0)
#define MVF_VF_STATUS_FROZEN		(1u << 1)
#define MVF_VF_STATUS_QP_ERROR		(1u << 2)	/* bad WQE or DMA */

#define MVF_VF_CTRL_QP_ENABLE		(1u << 0)	/* process SQ/RQ */
#define MVF_VF_CTRL_CQ_IRQ		(1u << 1)	/* MSI-X on each CQE */
#define MVF_VF_CTRL_MASK		0x3

#define MVF_VF_Q_LOG_SIZE_MIN		1
#define MVF_VF_Q_LOG_SIZE_MAX		12

/*
 * Send WQE.  SEND copies @len bytes from host @addr into the buffer of the
 * next receive WQE; with no receive WQE posted the send waits at the head of
 * the send queue (it stays in flight).  DEVMEM_WRITE copies host @addr to
 * on-device memory at @devmem_off, DEVMEM_READ the other way.  Every WQE
 * produces one CQE; a SEND also produces one for its receive WQE.
 */
struct mvf_send_wqe {
	__u8 opcode;		/* MVF_WQE_* */
	__u8 flags;		/* must be 0 */
	__le16 rsvd0;
	__le32 len;
	__le64 addr;
	__le64 devmem_off;
	__le64 wr_id;		/* echoed in the CQE */
};

#define MVF_SEND_WQE_SIZE		32

#define MVF_WQE_NOP			0x00
#define MVF_WQE_SEND			0x01
#define MVF_WQE_DEVMEM_WRITE		0x02
#define MVF_WQE_DEVMEM_READ		0x03

#define MVF_WQE_MAX_LEN			(1u << 24)

struct mvf_recv_wqe {
	__le64 addr;
	__le32 len;
	__le32 rsvd0;
	__le64 wr_id;
	__le64 rsvd1;
};

#define MVF_RECV_WQE_SIZE		32

/*
 * Completion entry.  Valid when @phase equals the pass parity (1 on the
 * first pass through the CQ), like the event queue.
 */
struct mvf_cqe {
	__le64 wr_id;
	__le32 byte_cnt;
	__u8 opcode;		/* the WQE's opcode, or MVF_CQE_OP_RECV */
	__u8 status;		/* MVF_CQE_STAT_* */
	__u8 qtype;		/* MVF_CQE_Q_SQ or MVF_CQE_Q_RQ */
	__u8 phase;
	__le32 wqe_index;	/* SQ/RQ index of the WQE */
	__le32 rsvd0;
	__le64 rsvd1;
};

#define MVF_CQE_SIZE			32

#define MVF_CQE_OP_RECV			0x80
#define MVF_CQE_Q_SQ			0
#define MVF_CQE_Q_RQ			1

#define MVF_CQE_STAT_OK			0x00
#define MVF_CQE_STAT_BAD_WQE		0x01
#define MVF_CQE_STAT_LEN		0x02	/* receive buffer too small */
#define MVF_CQE_STAT_DMA		0x03
#define MVF_CQE_STAT_RANGE		0x04	/* devmem offset out of range */

/* ------------------------------------------------------------------ */
/* Migration stream (SAVE_VHCA_STATE / LOAD_VHCA_STATE)                */
/* ------------------------------------------------------------------ */
/*
 * A VF's migration stream is a sequence of records, each a 16-byte header
 * and @len payload bytes, padded with zeros to a multiple of 8 bytes.
 * @crc32 is the CRC-32 (IEEE 802.3, as zlib's crc32()) of the header with
 * @crc32 zero, then the payload (without padding).  A reader that does not
 * know a record's tag skips it, unless MVF_REC_F_MANDATORY is set: then it
 * must fail.  A stream is
 *
 *   IDENT, SIZE, { DEVMEM | STATE }..., STATE, END
 *
 * IDENT first, so that a destination can refuse an incompatible stream at
 * its first record.  SIZE announces how many bytes the stream is expected
 * to have, were the VF stopped when it was written.  With PRE_COPY the same
 * device memory page or STATE can occur several times; the last one
 * counts.  END closes the stream: its @stream_bytes must equal the bytes
 * of all records before it, so a lost or truncated record is noticed.
 * The device never writes a record longer than MVF_REC_MAX_SIZE (header,
 * payload and padding), so a reader needs no bigger buffer.
 */
#define MVF_STREAM_MAGIC		0x534d564d	/* "MVMS" */
#define MVF_STREAM_VERSION_MAJOR	2
#define MVF_STREAM_VERSION_MINOR	0

struct mvf_rec_hdr {
	__le16 tag;		/* MVF_REC_* */
	__le16 flags;		/* MVF_REC_F_* */
	__le32 crc32;
	__le64 len;		/* payload bytes, without padding */
};

#define MVF_REC_HDR_SIZE		16
#define MVF_REC_ALIGN			8

#define MVF_REC_F_MANDATORY		(1u << 0)

#define MVF_REC_IDENT			0x0001	/* struct mvf_rec_ident */
#define MVF_REC_SIZE			0x0002	/* struct mvf_rec_size */
#define MVF_REC_DEVMEM			0x0003	/* struct mvf_rec_devmem, data */
#define MVF_REC_STATE			0x0004	/* struct mvf_rec_state */
#define MVF_REC_END			0x0005	/* struct mvf_rec_end */

/* Device memory is saved, tracked and loaded in pages of this size. */
#define MVF_DEVMEM_PAGE_SIZE		4096
#define MVF_REC_DEVMEM_MAX_PAGES	256
#define MVF_REC_MAX_SIZE		(MVF_REC_HDR_SIZE + 16 + \
					 MVF_REC_DEVMEM_MAX_PAGES * \
					 MVF_DEVMEM_PAGE_SIZE)

/* Mandatory, first. */
struct mvf_rec_ident {
	__le32 magic;		/* MVF_STREAM_MAGIC */
	__le16 version_major;	/* MVF_STREAM_VERSION_* of the writer */
	__le16 version_minor;
	__le16 vendor_id;	/* identity of the device that saved it */
	__le16 device_id;
	__le32 if_version;	/* MVF_IF_VERSION of that device */
	__le32 caps;		/* MVF_CAP_* the state depends on */
	__le32 page_size;	/* MVF_DEVMEM_PAGE_SIZE */
	__le64 devmem_size;
	__le16 src_vhca_id;	/* informational */
	__le16 rsvd0;
	__le32 rsvd1;
};

/* Optional. */
struct mvf_rec_size {
	__le64 stream_bytes;	/* expected bytes of the whole stream */
};

/*
 * Mandatory.  @pages pages of device memory from byte @offset; the data
 * follows unless MVF_REC_DEVMEM_F_ZERO says they are all zero (then the
 * payload is this structure alone).
 */
struct mvf_rec_devmem {
	__le64 offset;		/* multiple of MVF_DEVMEM_PAGE_SIZE */
	__le32 pages;		/* 1..MVF_REC_DEVMEM_MAX_PAGES */
	__le32 flags;		/* MVF_REC_DEVMEM_F_* */
};

#define MVF_REC_DEVMEM_F_ZERO		(1u << 0)

struct mvf_img_regs {
	__le32 ctrl;
	__le32 status;		/* only MVF_VF_STATUS_QP_ERROR is restored */
	__le32 scratch[MVF_VF_NUM_SCRATCH];
};

struct mvf_img_queue {
	__le64 base;
	__le32 log_size;
	__le32 pi;		/* producer index */
	__le32 ci;		/* consumer index */
	__le32 rsvd0;
};

struct mvf_img_queues {
	struct mvf_img_queue sq;
	struct mvf_img_queue rq;
	struct mvf_img_queue cq;
};

/* Mandatory: registers, queue contexts and counters. */
struct mvf_rec_state {
	struct mvf_img_regs regs;
	struct mvf_img_queues queues;
	__le64 cnt[MVF_VF_NUM_COUNTERS];
};

/* Mandatory, last. */
struct mvf_rec_end {
	__le64 stream_bytes;	/* bytes of all records before this one */
};

#endif /* _LINUX_MVF_MVF_IF_H */
