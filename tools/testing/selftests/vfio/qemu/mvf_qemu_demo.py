#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""
mvf_qemu_demo: Debian's own QEMU moves a working guest from one MVF VF to
another, step by step (./mvf demo qemu).

  mvf_qemu_demo [SRC_BDF DST_BDF]

Without addresses: the first two of $MVF_VFS.  The guest is mvf-guest
(next to this program, or $MVF_GUEST): it keeps its VF busy with a
numbered stream of self-checking jobs and prints a line every 50 jobs.
Exit status 0 only if the guest went on at the destination with no gap, no
repeat and no FAIL.
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
import mvf_qemu as mq  # noqa: E402

GUEST = os.environ.get("MVF_GUEST", os.path.join(HERE, "mvf-guest.elf"))
WORK = "/tmp/mvf_qemu_demo"
EVERY = 50
APPEND = f"every={EVERY} timeout=600 vfs=1"
# type1 container; QEMU 10.0 under TCG cannot migrate it with mmapped BARs
# (admin-guide.rst, "What QEMU 10.0 refused")
PROPS = "x-no-mmap=on"
T0 = time.monotonic()


def say(text):
    print(f"[{time.monotonic() - T0:7.1f}] {text}", flush=True)


def show_new(log, shown, prefix):
    """Print the guest's lines not shown yet."""
    ls = log.poll()
    for l in ls[shown:]:
        say(f"   {prefix} | {l.text}")
    return len(ls)


def main(argv):
    vfs = argv[1:3] if len(argv) >= 3 else os.environ.get("MVF_VFS", "").split()[:2]
    if len(vfs) < 2:
        print("usage: mvf_qemu_demo SRC_BDF DST_BDF (or MVF_VFS)", file=sys.stderr)
        return 2
    os.makedirs(WORK, exist_ok=True)
    a, b = vfs
    say(f"QEMU {mq.version()}: {mq.STOCK_QEMU}, the distribution's own build")
    for v in vfs:
        say(f"VF {v}: driver {mq.driver_of(v)}, {mq.devmem_of(v) >> 20} MiB "
            f"device memory, {mq.reset_vf(v)}")
    src = mq.Qemu("src", WORK, mq.vm_args([a], GUEST, APPEND,
                                          os.path.join(WORK, "src.con"),
                                          vfio_props=PROPS))
    dst = mq.Qemu("dst", WORK, mq.vm_args([b], GUEST, APPEND,
                                          os.path.join(WORK, "dst.con"),
                                          vfio_props=PROPS, incoming=True))
    ok = False
    try:
        say(f"step 1: the source VM owns VF {a}:")
        say("   " + " ".join(src.cmdline()[1:]))
        src.start()
        log = mq.GuestLog(src.con_path, "src")
        shown = 0
        for n in (1, 2, 3):
            log.wait_job(n * EVERY, 300, src)
            shown = show_new(log, shown, "source guest")
        say(f"step 2: the destination VM waits for it on VF {b} (-incoming defer):")
        say("   " + " ".join(dst.cmdline()[1:]))
        dst.start()
        caps = {"return-path": True}
        uri = f"unix:{WORK}/mig.sock"
        mq.start_incoming(dst, uri, caps)
        say(f"   migrate-incoming {uri}, capabilities return-path")
        say("step 3: migrate, the guest keeps working meanwhile "
            "(downtime-limit 120 s: without dirty tracking all RAM is dirty "
            "in every round)")
        mq.start_outgoing(src, uri, caps, {"downtime-limit": 120000})
        last_st = None

        def progress():
            nonlocal shown, last_st
            i = mq.query_migrate(src)
            st = i.get("status")
            if st != last_st:
                ram = i.get("ram", {}).get("transferred")
                say(f"   source: migration {st}"
                    + (f", RAM sent {mq.fmt_bytes(ram)}" if ram else ""))
                last_st = st
            shown = show_new(log, shown, "source guest")
            return i if st in ("completed", "failed", "cancelled") else None
        info = mq.wait_until(progress, 900, "the migration")
        s = mq.stats(info)
        if s["status"] != "completed":
            say(f"migration {s['status']}: {s['error']}")
            return 1
        say(f"step 4: done: {mq.fmt_stats(s)}")
        dst.wait_status("running", 120)
        log.final()
        last = log.last_job()
        say(f"   source VM: {src.status()}, VF {a} vhca_state "
            f"{mq.vhca_state(a)} (frozen); destination VM: {dst.status()}, "
            f"VF {b} vhca_state {mq.vhca_state(b)}")
        say(f"step 5: the guest goes on at the destination after job "
            f"{last.job if last else 0}:")
        dlog = mq.GuestLog(dst.con_path, "dst", carry=log.partial)
        base = last.job if last else 0
        dshown = 0
        for n in (1, 2, 3):
            dlog.wait_job(base + n * EVERY, 300, dst)
            dshown = show_new(dlog, dshown, "destination guest")
        r = mq.check_stream(log.poll(), dlog.poll(), EVERY, None, 3)
        say(f"   jobs {EVERY}..{r['last_src']} ran on VF {a}, "
            f"{r['first_dst']}..{r['last']} on VF {b}: no gap, no repeat, "
            "every result checked by the guest itself")
        say(f"result: Debian's QEMU moved a working guest between two MVF "
            f"VFs; QEMU's downtime {s['downtime_ms']} ms, total time "
            f"{s['total_ms']} ms")
        ok = True
    except mq.Error as e:
        say(f"FAILED: {e}")
    finally:
        for q in (src, dst):
            q.kill()
            if q.proc:
                q.proc.wait(60)
        for v in vfs:
            mq.reset_vf(v)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
