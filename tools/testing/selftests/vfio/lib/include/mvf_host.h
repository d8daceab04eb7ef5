/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The host channel of the MVF test VM, from a test in the guest: ask the
 * host to run a QMP command on the VM's own QEMU (scripts/bench/vm-run.sh
 * and host-relay.py), e.g. to make an MVF function detect an error or to
 * change the PF's link while the test drives the device.
 *
 * Requests and answers are files in the channel directory, the host's
 * <run output>/host-channel, mounted in the guest at
 * /tmp/out/host-channel (MVF_HOST_DIR in the environment overrides it).
 *
 * Functions return 0 on success and a negative errno on failure, with a
 * message on stderr: -ENOENT without a channel (not a vm-run.sh VM),
 * -ETIMEDOUT if no relay answered in time, -EREMOTEIO if QEMU answered
 * with an error (the answer is in the reply buffer where there is one).
 */
#ifndef _MVF_HOST_H
#define _MVF_HOST_H

#include <stddef.h>

/* Size of the names mvf_host_fn() writes */
#define MVF_HOST_ID_LEN		16

/* Seconds to wait for an answer; the relay gives QEMU up to 30 s */
#define MVF_HOST_TIMEOUT_S	40

/*
 * Run the QMP command @json ({"execute": ..., "arguments": ...}) on the
 * host; QEMU's answer, {"return": ...} or {"error": ...}, goes to @reply
 * (@len bytes, NUL terminated, may be NULL).
 */
int mvf_host_qmp(const char *json, char *reply, size_t len);

/*
 * The function @bdf as the host knows it: the qdev id of its PF ("pfK":
 * the K-th MVF PF in BDF order, as vm-run.sh numbers them) into @pf_id
 * (at least 8 bytes) and into @fn "pf" or "vfN" (N its 0-based VF number,
 * from its PF's virtfnN link; at least 8 bytes).
 */
int mvf_host_fn(const char *bdf, char *pf_id, char *fn);

/*
 * The MVF function @bdf (PF or VF) detects an error: @kind "cor",
 * "uncor-nonfatal" or "fatal" (the PF's aer-inject property, see
 * Documentation/mvf/device.rst).
 */
int mvf_host_aer_inject(const char *bdf, const char *kind);

/*
 * The link of PF @pf_bdf retrains to @speed (1..5 = 2.5..32 GT/s) and
 * @width lanes; the device posts MVF_EVENT_LINK_CHANGE.
 */
int mvf_host_link_set(const char *pf_bdf, int speed, int width);

#endif /* _MVF_HOST_H */
