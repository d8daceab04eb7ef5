#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""
mvf_qemu_migrate_test: Debian's unmodified QEMU (qemu-system-x86 10.0 from
bookworm-backports) migrates a running mvf-guest that owns MVF VFs through
vfio-pci, and refuses cleanly when it must.  Issue 8.

Runs as root where VFs are bound to mvf-vfio-pci (the VM suite: $MVF_VFS,
four of them).  A case starts a source QEMU with the guest (mvf-guest.elf
with -kernel, next to this program or $MVF_GUEST), waits for its job
stream, migrates it with QMP into a destination QEMU that owns other VFs
and checks the stream there: no gap, no repeat, no reboot, no FAIL, and the
sum at every job line equal to a reference run of the same guest command
line that was not migrated.  TAP, one line a case:

  mvf_qemu_migrate_test [-l] [-t NAME]...

-l lists the cases, -t NAME (repeatable) runs those whose name starts with
NAME; without -t, all but those of NOT_BY_DEFAULT (cases the QEMU under
test fails now and then by itself; the output names them and why).  Environment: MVF_VFS (the VFs, in order), MVF_STOCK_QEMU (default
/usr/bin/qemu-system-x86_64), MVF_GUEST, MVF_QEMU_LOGS (default
/tmp/out/mvf_qemu_migrate_test under vm-run.sh, else
/tmp/mvf_qemu_migrate_test/logs), MVF_QEMU_AFTER (job lines verified after
each switch, default 6), MVF_QEMU_GUEST_TIMEOUT (the guest's timeout=,
default 600 s; a mutant run wants 60), MVF_STOCK_QEMU_ARGS (more
arguments for every QEMU, e.g. "-trace migrate_pending_*").

The VFs' driver offers device DMA logging (interface 2.2): QEMU's default
enable-migration=auto migrates them, with the device's dirty page
tracker, and every migrating case checks that QEMU started the tracker
and that its syncs reported pages.  ALLDIRTY turns the tracker off where a
case wants QEMU without it.  Two defects of QEMU 10.0 shape the command
lines (Documentation/mvf/admin-guide.rst has the details):
 * under TCG, with the type1 container, a BAR that vfio-pci mmaps next to
   the MSI-X table makes the first dirty sync fail ("Failed to get dirty
   bitmap for iova ... size: 0xfe0: Invalid argument"): the type1 cases use
   x-no-mmap=on;
 * with iommufd and no dirty tracking, QEMU never marks the guest RAM that
   the device wrote as dirty, so a live migration loses it: a case asserts
   the loss with the tracker off (ALLDIRTY), another that the device's
   tracker makes the same migration whole.
"""

import os
import re
import shutil
import signal
import struct
import sys
import time
import traceback

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
import mvf_qemu as mq  # noqa: E402

EVERY = 500         # a guest job line every EVERY jobs
AFTER = int(os.environ.get("MVF_QEMU_AFTER", "6"))   # job lines after a switch
WARMUP = 2          # job lines on the source before the migration starts
BUSY = 2            # job lines on the source while RAM is being copied
T_BOOT = 300        # s: QEMU start to the guest's first job line
T_LINE = 300        # s: one more job line
T_MIG = 900         # s: a migration
# No dirty tracking (the device has none, the emulated IOMMU has none):
# QEMU counts all of guest RAM as dirty in every round (type1), so the
# expected downtime never gets below the 300 ms default and the migration
# would never converge: allow a long stop once the guest has worked during
# the copy.
DOWNTIME_LIMIT = 120000
# While the guest is to run on during the copy: QEMU may send this much a
# second (the first pass over the guest's filled RAM takes seconds).
BUSY_BW = 16 << 20
RETURN_PATH = {"return-path": True}
TYPE1 = {"vfio_props": "x-no-mmap=on"}
IOMMUFD = {"iommufd": True}
# QEMU without the device's dirty tracking: migratable only with
# enable-migration=on, and then all guest RAM the VF can reach is dirty in
# every round (type1) or none is (iommufd).
ALLDIRTY = "enable-migration=on,x-device-dirty-page-tracking=off"
TYPE1_ALLDIRTY = {"vfio_props": "x-no-mmap=on," + ALLDIRTY}
IOMMUFD_ALLDIRTY = {"iommufd": True, "vfio_props": ALLDIRTY}
# QEMU's trace of the device tracker: its START (ranges) and each sync's
# query (dirty pages found); Debian's QEMU logs traces to stderr.
TRACE = ["-trace", "vfio_device_dirty_tracking_start",
         "-trace", "vfio_get_dirty_bitmap"]
TRACK_START_RE = re.compile(r"vfio_device_dirty_tracking_start (nr_ranges .*)")
TRACK_QUERY_RE = re.compile(r"vfio_get_dirty_bitmap iova=(0x[0-9a-f]+) "
                            r"size= ?(0x[0-9a-f]+) .*dirty_pages=(\d+)")

WORK = "/tmp/mvf_qemu_migrate_test"
GUEST = os.environ.get("MVF_GUEST", os.path.join(HERE, "mvf-guest.elf"))


def default_logs():
    if os.environ.get("MVF_QEMU_LOGS"):
        return os.environ["MVF_QEMU_LOGS"]
    if os.path.isdir("/tmp/out") and os.access("/tmp/out", os.W_OK):
        return "/tmp/out/mvf_qemu_migrate_test"
    return os.path.join(WORK, "logs")


LOGS = default_logs()


# The guest's own limit for a completion (TSC seconds): a FAIL after it.
GUEST_TIMEOUT = int(os.environ.get("MVF_QEMU_GUEST_TIMEOUT", "600"))


def append_line(nvfs):
    """The guest's command line.  fill=1: all of its free RAM holds a
    pattern, checked at every checkpoint, so that QEMU's first pass over
    RAM sends ~30 MiB, not mostly zero pages.  At BUSY_BW that takes
    seconds, in which the guest runs thousands of jobs: QEMU 10.0 may
    switch over as soon as its estimate of what is left reaches zero,
    before any dirty sync, so the first pass is the live phase."""
    return f"every={EVERY} timeout={GUEST_TIMEOUT} vfs={nvfs} fill=1"


def say(text):
    for l in str(text).splitlines():
        print(f"# {l}", flush=True)


class Skip(Exception):
    pass


class Case:
    """One case: its QEMUs, work dir and log dir.  cleanup() stops every
    QEMU it started, whatever happened, keeps their logs and resets the VFs
    it used."""

    def __init__(self, name, used_vfs):
        self.name = name
        self.dir = os.path.join(WORK, name)
        self.logs = os.path.join(LOGS, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.logs, ignore_errors=True)
        os.makedirs(self.dir)
        self.vms = []
        self.vfs = list(used_vfs)
        self.notes = []
        self.extra_cleanup = []
        self.stats = None
        how = [f"{v} {mq.reset_vf(v)}" for v in self.vfs]
        say(f"{name}: VFs {', '.join(how)}")
        for v in self.vfs:
            st = mq.vhca_state(v)
            if st != "0x0":
                raise mq.Error(f"VF {v} is not running after its reset: "
                               f"vhca_state {st}")

    def vm(self, name, vfs, append, **kw):
        kw["extra"] = list(kw.get("extra", ())) + TRACE
        q = mq.Qemu(name, self.dir, mq.vm_args(
            vfs, GUEST, append, os.path.join(self.dir, name + ".con"), **kw))
        # QEMU uses the device's tracker unless the case turned it off
        q.tracked = "x-device-dirty-page-tracking=off" not in \
            kw.get("vfio_props", "")
        self.vms.append(q)
        return q

    def stop_vms(self):
        """quit every QEMU of the case: their VFs are free again."""
        for q in self.vms:
            if q.alive():
                q.stop()

    def note(self, text):
        self.notes.append(text)
        say(f"{self.name}: {text}")

    def cleanup(self):
        for q in self.vms:
            try:
                q.kill(signal.SIGKILL)
                if q.proc:
                    q.proc.wait(60)
                if q.qmp:
                    q.qmp.close()
            except Exception as e:      # keep cleaning up
                say(f"{self.name}: cleanup of {q.name}: {e}")
        for f in self.extra_cleanup:
            try:
                f()
            except Exception as e:
                say(f"{self.name}: cleanup: {e}")
        os.makedirs(self.logs, exist_ok=True)
        for f in os.listdir(self.dir):
            if not f.endswith((".qmp", ".sock", ".mig")):
                shutil.copy(os.path.join(self.dir, f), self.logs)
        with open(os.path.join(self.logs, "case.txt"), "w") as f:
            f.write("\n".join(self.notes) + "\n")
        for v in self.vfs:
            try:
                mq.reset_vf(v)
            except Exception as e:
                say(f"{self.name}: resetting {v}: {e}")
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- the reference run ------------------------------------------------------

class Reference:
    """Job sums of runs that were not migrated, one per guest command line:
    job -> sum.  A run (jobs=N, isa-debug-exit) is made on the VFs given,
    after a reset, when a case needs a job that is not there yet."""

    def __init__(self):
        self.sums = {}

    def get(self, append, need, vfs, case):
        have = self.sums.get(append, {})
        if have and max(have) >= need:
            return have
        # with a margin, so that the next case rarely needs another run
        jobs = (need * 3 // 2 // EVERY + 2) * EVERY
        for v in vfs:
            mq.reset_vf(v)
        q = case.vm("ref", vfs, f"{append} jobs={jobs}", debug_exit=True,
                    **IOMMUFD)
        t = time.monotonic()
        q.start()
        log = mq.GuestLog(q.con_path, "reference")
        log.wait(lambda ls: [l for l in ls if l.kind == "done"],
                 T_BOOT + T_LINE * (jobs // EVERY),
                 f"the reference's done line (jobs={jobs})", q)
        rc = q.wait_exit(120)
        if rc != 1:
            raise mq.Error(f"reference QEMU exit status {rc}, want 1 "
                           f"(isa-debug-exit after done); {q.err_tail()}")
        sums = {l.job: l.sum for l in log.jobs() if l.kind == "job"}
        case.note(f"reference run (not migrated): {jobs} jobs, "
                  f"{len(sums)} job lines in {time.monotonic() - t:.0f} s "
                  f"on {' '.join(vfs)}")
        self.sums[append] = sums
        for v in vfs:
            mq.reset_vf(v)
        return sums


REF = Reference()


# ---- steps shared by the cases ------------------------------------------------

def boot_source(case, vfs, append, **kw):
    src = case.vm("src", vfs, append, **kw)
    src.start()
    log = mq.GuestLog(src.con_path, "src")
    first = log.wait_job(EVERY, T_BOOT, src)
    log.wait_job(WARMUP * EVERY, T_LINE * WARMUP, src)
    case.note(f"source on {' '.join(vfs)}: guest running, "
              f"{first.text[len('mvf-guest: '):]}")
    return src, log


def follow_destination(case, src_log, dst, append, ref_vfs, what,
                       after=AFTER):
    """After the switch: AFTER job lines on DST, then the whole stream is
    checked against the reference (made on REF_VFS once the case's QEMUs
    have quit).  The summary."""
    src_log.final()
    last = src_log.last_job()
    dst_log = mq.GuestLog(dst.con_path, "dst", carry=src_log.partial)
    base = last.job if last else 0
    dst_log.wait_job(base + after * EVERY, T_LINE * (after + 1), dst)
    dst_log.final()
    end = dst_log.last_job().job
    case.stop_vms()
    ref = REF.get(append, end, ref_vfs, case)
    r = mq.check_stream(src_log.lines, dst_log.lines, EVERY, ref, after)
    case.note(f"{what}: source's last job line {r['last_src']}, destination "
              f"{r['first_dst']}..{r['last']}: {r['after']} job lines "
              f"({r['after'] * EVERY} jobs) after the switch, no gap, no "
              f"repeat, all {r['checked']} sums equal to the reference's")
    return r


def migrate(case, src, dst, uri, caps=None, busy=BUSY, log=None):
    """A live migration SRC -> DST over URI with return-path (and CAPS) on
    both sides.  With LOG: at BUSY_BW, so that the first pass over the
    guest's filled RAM takes seconds, and with downtime-limit 1 ms until the
    source's guest has printed BUSY more job lines; then DOWNTIME_LIMIT
    lets QEMU switch over.  max-bandwidth is never changed while QEMU
    migrates: with multifd, QEMU 10.0 broke its RAM stream now and then
    after that (docs/dev-notes.md).  QEMU's numbers."""
    caps = dict(RETURN_PATH, **(caps or {}))
    paused = src.status() == "paused"
    mq.start_incoming(dst, uri, caps)
    if log:
        params = {"downtime-limit": 1, "max-bandwidth": BUSY_BW}
    else:
        params = {"downtime-limit": DOWNTIME_LIMIT}
    mq.start_outgoing(src, uri, caps, params)
    if log:
        n = log.last_job().job
        want = n + busy * EVERY
        status = None

        def busy_or_over():
            nonlocal status
            j = log.last_job()
            if j and j.job >= want:
                return True
            status = mq.query_migrate(src).get("status")
            return status not in ("setup", "active")
        log.wait(lambda ls: busy_or_over(), T_LINE * busy,
                 f"guest job {want} while RAM is copied", src)
        last = log.last_job().job
        if last < want:
            raise mq.Error(f"migration {status} after the guest ran jobs "
                           f"{n}..{last} only, before it ran {busy} job "
                           f"lines more while RAM was copied")
        i = mq.query_migrate(src)
        ram = i.get("ram", {})
        case.live_vfio = i.get("vfio", {}).get("transferred", 0)
        src.cmd("migrate-set-parameters", **{"downtime-limit":
                                             DOWNTIME_LIMIT})
        case.note(f"guest ran jobs {n}..{last} while RAM was copied at "
                  f"{BUSY_BW >> 20} MiB/s ({mq.fmt_bytes(ram.get('transferred'))}"
                  f" of RAM and {mq.fmt_bytes(case.live_vfio)} of VFIO "
                  f"state sent, status {i.get('status')}); now it may "
                  "switch over")
    info = mq.wait_migration(src, T_MIG)
    s = mq.stats(info)
    if s["status"] != "completed":
        raise mq.Error(f"migration {s['status']}: {s['error']}; "
                       f"{dst.err_tail()}")
    mq.wait_until(lambda: mq.query_migrate(dst).get("status") == "completed",
                  120, "the destination's migration status 'completed'")
    st = src.status()
    if st != "postmigrate":
        raise mq.Error(f"source status '{st}' after the migration, want "
                       "'postmigrate'")
    case.stats = s
    case.note("QEMU: " + mq.fmt_stats(s))
    if src.tracked:
        check_tracked(case, src, paused)
    return s


def migrate_live(case, vfs, n=1, what="stream", **kw):
    """A busy guest on the first N of VFS live-migrated over a unix socket
    to the next N, both QEMUs with KW; its job stream (WHAT in the log)
    must go on intact."""
    app = append_line(n)
    src, log = boot_source(case, vfs[:n], app, **kw)
    dst = case.vm("dst", vfs[n:2 * n], app, incoming=True, **kw)
    dst.start()
    migrate(case, src, dst, f"unix:{case.dir}/mig.sock", log=log)
    follow_destination(case, log, dst, app, vfs[:n], what)


def check_tracked(case, src, paused):
    """SRC's QEMU used the device's dirty tracking in the migration: it
    started the tracker, and its syncs queried it and found pages that the
    VF wrote -- none at all when the source was PAUSED throughout, its VF
    stopped.  A note with its figures."""
    err = src.err_text().splitlines()
    starts = [m.group(1) for m in map(TRACK_START_RE.search, err) if m]
    if not starts:
        raise mq.Error("the source never started the device's dirty "
                       "tracking (no vfio_device_dirty_tracking_start in "
                       f"its trace); {src.err_tail()}")
    q = [(int(m.group(2), 16), int(m.group(3)))
         for m in map(TRACK_QUERY_RE.search, err) if m]
    dirty = sum(n for _, n in q)
    if paused:
        if not q or dirty:
            raise mq.Error(f"{len(q)} queries of the device's dirty tracking "
                           f"found {dirty} dirty pages while the source was "
                           "paused, its VF stopped: want at least one query "
                           "and no dirty page")
    elif not dirty:
        raise mq.Error(f"{len(q)} queries of the device's dirty tracking "
                       "found no dirty page, though the VF wrote guest RAM "
                       "all along")
    case.note(f"device dirty tracking: {starts[0]}; {len(q)} queries "
              f"found {dirty} dirty pages")
    case.dirty_pages = dirty


def migrate_fails(case, src, uri, what):
    """Start a migration of SRC to URI (return-path) that must fail; QEMU's
    numbers."""
    mq.start_outgoing(src, uri, RETURN_PATH,
                      {"downtime-limit": DOWNTIME_LIMIT})
    s = mq.stats(mq.wait_migration(src, T_MIG))
    if s["status"] != "failed":
        raise mq.Error(f"migration {s['status']} {what}, want failed; "
                       f"{src.err_tail()}")
    return s


def check_source_goes_on(case, src, log, why):
    """After a failed migration: the source runs again, its VF too, and its
    guest goes on with the right sums."""
    src.wait_status("running", 120)
    log.final()
    last = log.last_job()
    log.wait_job(last.job + AFTER * EVERY, T_LINE * (AFTER + 1), src)
    v = case.vfs[0]
    st = mq.vhca_state(v)
    if st != "0x0":
        raise mq.Error(f"source VF {v} vhca_state {st} after {why}, "
                       "want 0x0 (running)")
    log.final()
    case.stop_vms()
    ref = REF.get(append_line(1), log.last_job().job, case.vfs[:1], case)
    r = mq.check_stream(log.lines, [], EVERY, ref, 0)
    case.note(f"after {why} the source runs on: job lines "
              f"{last.job}..{r['last']} after it, all {r['checked']} sums "
              f"equal to the reference's, VF {v} running (vhca_state 0x0)")


def dst_exit_says(case, dst, want):
    """DST exited with an error, its stderr says WANT."""
    rc = dst.wait_exit(120)
    err = [l for l in dst.err_text().splitlines()
           if l.strip() and "dirty tracking" not in l]
    if rc == 0 or not any(want in l for l in err):
        raise mq.Error(f"destination exit {rc}, want a failure with "
                       f"'{want}'; {dst.err_tail()}")
    for l in err:
        case.note(f"destination (exit status {rc}): {l}")


# ---- the cases ---------------------------------------------------------------

DIRTY_MSG = "VFIO device doesn't support device and IOMMU dirty tracking"


def case_auto(case, vfs):
    """QEMU's default enable-migration=auto: the device's DMA logging
    (PROBE succeeds) makes the VF migratable, with no blocker and no
    warning."""
    if not mq.dma_logging(vfs[0]):
        raise mq.Error(f"{vfs[0]}: the driver offers no DMA logging "
                       "(DMA_LOGGING_START PROBE: ENOTTY)")
    case.note(f"{vfs[0]}: DMA_LOGGING_START PROBE succeeds")
    q = mq.Qemu("auto", case.dir, ["-accel", "tcg", "-M", "q35", "-m", "32M",
                                    "-nodefaults", "-display", "none", "-S",
                                    "-device", f"vfio-pci,host={vfs[0]},id=vf0"])
    case.vms.append(q)
    q.start()
    reasons = mq.query_migrate(q).get("blocked-reasons", [])
    if reasons:
        raise mq.Error(f"enable-migration=auto: blocked: {reasons}")
    w = [l for l in q.err_text().splitlines() if DIRTY_MSG in l]
    if w:
        raise mq.Error(f"enable-migration=auto: QEMU warns '{w[0]}'")
    case.note("enable-migration=auto: no blocked-reasons, no warning")
    q.stop()


def case_blocked(case, vfs):
    """With the device's tracking turned off (x-device-dirty-page-tracking
    =off), QEMU 10.0 blocks the migration under enable-migration=auto and
    says why; enable-migration=on makes that a warning."""
    q = mq.Qemu("blk", case.dir, ["-accel", "tcg", "-M", "q35", "-m", "32M",
                                   "-nodefaults", "-display", "none", "-S",
                                   "-device", f"vfio-pci,host={vfs[0]},id=vf0,"
                                   "x-device-dirty-page-tracking=off"])
    case.vms.append(q)
    q.start()
    want = f"{vfs[0]}: {DIRTY_MSG}"
    reasons = mq.query_migrate(q).get("blocked-reasons", [])
    if want not in reasons:
        raise mq.Error(f"blocked-reasons {reasons}, want '{want}'")
    try:
        q.cmd("migrate", uri=f"unix:{case.dir}/none.sock")
        raise mq.Error("migrate was accepted without dirty tracking")
    except mq.QMPError as e:
        if want not in e.desc:
            raise mq.Error(f"migrate refused with '{e.desc}', want '{want}'")
        case.note(f"migrate refused: {e.desc}")
    q.stop()
    # With enable-migration=on it is only a warning at startup.
    q2 = case.vm("warn", vfs[:1], append_line(1), extra=["-S"],
                 **TYPE1_ALLDIRTY)
    q2.start()
    reasons = mq.query_migrate(q2).get("blocked-reasons", [])
    if reasons:
        raise mq.Error(f"enable-migration=on: still blocked: {reasons}")
    w = [l for l in q2.err_text().splitlines() if DIRTY_MSG in l]
    if not w:
        raise mq.Error("enable-migration=on: no warning about dirty tracking "
                       f"on stderr; {q2.err_tail()}")
    case.note(f"with enable-migration=on, at startup: {w[0]}")
    q2.stop()


def case_guest_self_check(case, vfs):
    """The guest's checker can fail: a byte of guest RAM that the VF wrote,
    changed behind its back (scribble=), and data that does not match
    (corrupt=) each end in a FAIL line and isa-debug-exit status 3."""
    for what in ("scribble", "corrupt"):
        app = f"{append_line(1)} jobs={4 * EVERY} {what}={EVERY + 1}"
        q = case.vm(what, vfs[:1], app, debug_exit=True, **TYPE1)
        q.start()
        log = mq.GuestLog(q.con_path, what)
        rc = q.wait_exit(T_BOOT + 4 * T_LINE)
        fails = log.fails()
        if rc != 3 or not fails:
            raise mq.Error(f"{what}={EVERY + 1}: QEMU exit status {rc}, "
                           f"want 3 with a FAIL line; guest: {log.tail()}")
        case.note(f"{what}={EVERY + 1}: exit status 3, {fails[0].text}")
        mq.reset_vf(vfs[0])


def case_type1_mmap_tracked(case, vfs):
    """type1 container, BARs mmapped (QEMU's default) under TCG, with the
    device's tracker: QEMU asks the device, not the container, for the
    pages of the unaligned BAR section, and the migration completes."""
    migrate_live(case, vfs)


def case_type1_mmap(case, vfs):
    """type1 container, BARs mmapped (QEMU's default) under TCG, the
    device's tracker off: QEMU 10.0 fails the migration in its first dirty
    sync; the source goes on."""
    app = append_line(1)
    kw = {"vfio_props": ALLDIRTY}
    src, log = boot_source(case, vfs[:1], app, **kw)
    dst = case.vm("dst", vfs[1:2], app, incoming=True, **kw)
    dst.start()
    mq.start_incoming(dst, f"unix:{case.dir}/mig.sock", RETURN_PATH)
    want = "Failed to get dirty bitmap for iova"
    s = migrate_fails(case, src, f"unix:{case.dir}/mig.sock",
                      f"with mmapped BARs (want '{want}')")
    err = [l for l in src.err_text().splitlines() if want in l]
    if not err:
        raise mq.Error(f"migration failed ({s['error']}), but not with "
                       f"'{want}' from the source; {src.err_tail()}")
    case.note(f"source: migration failed: {s['error']}; stderr: {err[0]}")
    dst_exit_says(case, dst, "load of migration failed")
    check_source_goes_on(case, src, log, "the failed migration")


def case_unix(case, vfs, multifd=False):
    app = append_line(1)
    kw = dict(TYPE1)
    if multifd:
        kw["vfio_props"] += ",x-migration-multifd-transfer=on"
    src, log = boot_source(case, vfs[:1], app, **kw)
    dst = case.vm("dst", vfs[1:2], app, incoming=True, **kw)
    dst.start()
    caps = {"multifd": True} if multifd else {}
    s = migrate(case, src, dst, f"unix:{case.dir}/mig.sock", caps, log=log)
    if multifd and not s["multifd_bytes"]:
        raise mq.Error("multifd: QEMU reports 0 multifd bytes")
    follow_destination(case, log, dst, app, vfs[:1], "stream")


def case_file(case, vfs):
    """Save to a file (migrate file:...), quit, load it in a new QEMU with
    another VF (migrate-incoming file:...)."""
    app = append_line(1)
    src, log = boot_source(case, vfs[:1], app, **TYPE1)
    path = f"{case.dir}/vm.mig"
    mq.start_outgoing(src, f"file:{path}", {},
                      {"downtime-limit": DOWNTIME_LIMIT})
    s = mq.stats(mq.wait_migration(src, T_MIG))
    if s["status"] != "completed":
        raise mq.Error(f"migration to {path}: {s['status']}: {s['error']}")
    st = src.status()
    if st != "postmigrate":
        raise mq.Error(f"source status '{st}' after saving, want postmigrate")
    case.stats = s
    case.note("QEMU: " + mq.fmt_stats(s))
    case.note(f"saved to {path}: {os.path.getsize(path)} bytes; the source "
              "QEMU quits")
    log.final()
    src.stop()
    dst = case.vm("dst", vfs[1:2], app, incoming=True, **TYPE1)
    dst.start()
    t = time.monotonic()
    dst.cmd("migrate-incoming", uri=f"file:{path}")
    dst.wait_status("running", T_MIG)
    case.note(f"a new QEMU on {vfs[1]} loaded it and runs after "
              f"{time.monotonic() - t:.1f} s")
    follow_destination(case, log, dst, app, vfs[:1], "stream")


def case_iommufd_paused(case, vfs):
    """iommufd instead of the container.  The source is paused (stop) before
    the migration, so that no DMA write needs dirty tracking, and
    continued (cont) at the destination."""
    app = append_line(1)
    src, log = boot_source(case, vfs[:1], app, **IOMMUFD)
    dst = case.vm("dst", vfs[1:2], app, incoming=True, **IOMMUFD)
    dst.start()
    src.cmd("stop")
    src.wait_status("paused", 60)
    case.note(f"source paused (VF {vfs[0]} vhca_state {mq.vhca_state(vfs[0])})")
    migrate(case, src, dst, f"unix:{case.dir}/mig.sock")
    dst.wait_status("paused", 120)
    dst.cmd("cont")
    dst.wait_status("running", 60)
    case.note("destination paused after the migration, as the source was; cont")
    follow_destination(case, log, dst, app, vfs[:1], "stream")


def case_iommufd_tracked(case, vfs):
    """iommufd, live: the device's tracker tells QEMU which guest RAM the
    VF wrote while RAM was copied, and the guest at the destination finds
    all of it (the loss of the case below is gone)."""
    migrate_live(case, vfs, **IOMMUFD)


def case_iommufd_live(case, vfs):
    """QEMU 10.0 defect, asserted: a live migration with iommufd and no dirty
    tracking (the device's turned off) loses the guest RAM that the VF
    wrote after it was first copied; the guest at the destination finds it
    out."""
    # no reference here; a lost completion is a FAIL after 60 s, not 600
    app = append_line(1).replace(f"timeout={GUEST_TIMEOUT}", "timeout=60")
    src, log = boot_source(case, vfs[:1], app, **IOMMUFD_ALLDIRTY)
    dst = case.vm("dst", vfs[1:2], app, incoming=True, **IOMMUFD_ALLDIRTY)
    dst.start()
    migrate(case, src, dst, f"unix:{case.dir}/mig.sock", log=log)
    log.final()
    last = log.last_job()
    dlog = mq.GuestLog(dst.con_path, "dst", carry=log.partial)
    try:
        dlog.wait_job(last.job + AFTER * EVERY, T_LINE * (AFTER + 1), dst)
    except mq.Error as e:
        if "FAIL" not in str(e):
            raise
        case.note(f"as expected with QEMU 10.0: {e}")
        return
    raise mq.Error(f"{AFTER} job lines after the switch without a FAIL: "
                   "QEMU now migrates what the VF wrote with iommufd; this "
                   "case and admin-guide.rst need updating")


def case_switchover_ack(case, vfs):
    """return-path and switchover-ack on both sides.  With PRE_COPY QEMU
    sends the VF's initial data while the guest runs and switches over only
    after the destination acknowledged it; a device without PRE_COPY has
    nothing to acknowledge, and the migration is STOP_COPY as before."""
    flags = mq.mig_flags(vfs[0])
    app = append_line(1)
    src, log = boot_source(case, vfs[:1], app, **TYPE1)
    dst = case.vm("dst", vfs[1:2], app, incoming=True, **TYPE1)
    dst.start()
    if flags & mq.MIG_PRE_COPY:
        case.note(f"device offers {mq.fmt_mig_flags(flags)}: PRE_COPY "
                  "with switchover-ack")
    else:
        case.note(f"device offers {mq.fmt_mig_flags(flags)}, no PRE_COPY: "
                  "STOP_COPY alone, switchover-ack has nothing to wait for")
    s = migrate(case, src, dst, f"unix:{case.dir}/mig.sock",
                {"switchover-ack": True}, log=log)
    if flags & mq.MIG_PRE_COPY:
        # the VF's state went while the guest ran, before the switchover
        live = getattr(case, "live_vfio", 0)
        if not live:
            raise mq.Error("no VFIO bytes sent while the guest ran: QEMU "
                           "did not use PRE_COPY")
        case.note(f"PRE_COPY: {mq.fmt_bytes(live)} of the VF's state sent "
                  f"while the guest ran, of {mq.fmt_bytes(s.get('vfio_bytes'))} "
                  "in all")
    follow_destination(case, log, dst, app, vfs[:1], "stream")


def case_multifd_mapped_ram(case, vfs):
    """QEMU 10.0 refuses VFIO's multifd device state transfer together with
    mapped-ram (and with multifd compression): the migration fails at
    setup with QEMU's own message, the source goes on."""
    app = append_line(1)
    kw = dict(TYPE1)
    kw["vfio_props"] += ",x-migration-multifd-transfer=on"
    src, log = boot_source(case, vfs[:1], app, **kw)
    path = f"{case.dir}/vm.mig"
    mq.start_outgoing(src, f"file:{path}", {"multifd": True,
                                           "mapped-ram": True},
                      {"downtime-limit": DOWNTIME_LIMIT})
    s = mq.stats(mq.wait_migration(src, T_MIG))
    want = "Multifd device transfer requested but unsupported in the " \
        "current config"
    err = [l for l in src.err_text().splitlines() if want in l]
    if s["status"] != "failed" or not (err or want in (s["error"] or "")):
        raise mq.Error(f"migration {s['status']} ({s['error']}), want failed "
                       f"with '{want}'; {src.err_tail()}")
    case.note(f"refused by QEMU: {s['error']}"
              + (f"; stderr: {err[0]}" if err else ""))
    check_source_goes_on(case, src, log, "the refused migration")


def case_ram_bytes(case, vfs):
    """The same live migration twice, type1: with the device's tracker, and
    with QEMU counting all guest RAM the VF can reach as dirty in every
    round (ALLDIRTY).  The guest's stream arrives whole both times; with
    the tracker QEMU sends less RAM, in all and while the VM is stopped.
    QEMU's figures of both are noted."""
    app = append_line(1)
    got = {}
    for how, kw in (("tracked", TYPE1), ("all-dirty", TYPE1_ALLDIRTY)):
        src, log = boot_source(case, vfs[:1], app, **kw)
        dst = case.vm("dst", vfs[1:2], app, incoming=True, **kw)
        dst.start()
        s = migrate(case, src, dst, f"unix:{case.dir}/mig.sock", log=log)
        follow_destination(case, log, dst, app, vfs[:1], f"stream ({how})")
        got[how] = s
        case.note(f"{how}: ram.transferred {s['ram_bytes']} bytes, "
                  f"downtime-bytes {s['ram_downtime_bytes']}, dirty-sync-count "
                  f"{s['iterations']}, downtime {s['downtime_ms']} ms")
        case.vms = []
        for f in os.listdir(case.dir):
            if f.endswith((".con", ".err", ".log", ".out")):
                os.rename(os.path.join(case.dir, f),
                          os.path.join(case.dir, f"{how}-{f}"))
        for v in vfs[:2]:
            mq.reset_vf(v)
    t, a = got["tracked"], got["all-dirty"]
    for k, what in (("ram_bytes", "ram.transferred"),
                    ("ram_downtime_bytes", "downtime-bytes")):
        if not t[k] < a[k]:
            raise mq.Error(f"{what}: {t[k]} bytes with the device's tracker,"
                           f" {a[k]} with all RAM dirty: want fewer")
    case.note(f"with the tracker QEMU sent {t['ram_bytes']} bytes of RAM "
              f"({t['ram_downtime_bytes']} while stopped), all-dirty "
              f"{a['ram_bytes']} ({a['ram_downtime_bytes']})")
    case.stats = t


def case_two_vfs(case, vfs):
    migrate_live(case, vfs, n=2, what="stream (2 VFs)", **TYPE1)


def other_size_vf(case, vfs):
    """A VF with less device memory than vfs[0]: a VF of another PF
    (vm-run.sh --pf2 SIZE), enabled and bound for this case only."""
    size = mq.devmem_of(vfs[0])
    own = os.path.basename(os.path.realpath(f"{mq.SYS_PCI}/{vfs[0]}/physfn"))
    for pf in mq.pfs():
        if pf == own:
            continue
        numvfs = f"{mq.SYS_PCI}/{pf}/sriov_numvfs"
        if mq._read(numvfs) == "0":
            mq._write(numvfs, "1")

            def off(pf=pf, numvfs=numvfs):
                for v in mq.vfs_of(pf):
                    if mq.driver_of(v):
                        mq._write(f"{mq.SYS_PCI}/{v}/driver/unbind", v)
                mq._write(numvfs, "0")
            case.extra_cleanup.append(off)
        for v in mq.vfs_of(pf):
            if mq.devmem_of(v) < size:
                if mq.driver_of(v) != "mvf-vfio-pci":
                    mq.bind_vf(v)
                mq.reset_vf(v)
                return v
    raise Skip(f"no VF with less device memory than {vfs[0]}'s "
               f"{size >> 20} MiB (one PF; vm-run.sh --pf2 SIZE adds "
               "a second)")


def case_refuse_devmem(case, vfs):
    """A destination VF with less device memory: the stream does not fit,
    the destination fails, the source goes on."""
    other = other_size_vf(case, vfs)
    a, b = mq.devmem_of(vfs[0]), mq.devmem_of(other)
    if b > a:
        raise Skip(f"{other} has more device memory ({b >> 20} MiB) than "
                   f"{vfs[0]} ({a >> 20} MiB): this case wants less")
    case.note(f"destination VF {other}: {b >> 20} MiB of device memory, "
              f"the source's {vfs[0]}: {a >> 20} MiB")
    app = append_line(1)
    src, log = boot_source(case, vfs[:1], app, **TYPE1)
    dst = case.vm("dst", [other], app, incoming=True, **TYPE1)
    dst.start()
    mq.start_incoming(dst, f"unix:{case.dir}/mig.sock", RETURN_PATH)
    s = migrate_fails(case, src, f"unix:{case.dir}/mig.sock",
                      f"into a VF with {b >> 20} MiB of device memory")
    case.note(f"source: migration failed: {s['error']}")
    dst_exit_says(case, dst, "load of migration failed")
    check_source_goes_on(case, src, log, "the refused migration")


def case_refuse_version(case, vfs):
    """A destination that does not know the source's stream version: the
    stream passes through a relay that turns the IDENT record's version
    2.0 into 3.0, as a device with newer firmware would write it.  The
    destination's driver refuses the first record as soon as it arrives
    (before the device's CRC check could), the destination fails the
    load, the source goes on."""
    import struct
    app = append_line(1)
    src, log = boot_source(case, vfs[:1], app, **TYPE1)
    dst = case.vm("dst", vfs[1:2], app, incoming=True, **TYPE1)
    dst.start()
    # struct mvf_rec_ident: magic, version_major, version_minor,
    # vendor_id, device_id (include/linux/mvf/mvf_if.h)
    hdr = struct.pack("<IHHHH", 0x534d564d, 2, 0, 0x6d76, 0x1001)
    new = struct.pack("<IHHHH", 0x534d564d, 3, 0, 0x6d76, 0x1001)
    mq.start_incoming(dst, f"unix:{case.dir}/dst.sock", RETURN_PATH)
    relay = mq.Relay(f"{case.dir}/relay.sock", f"{case.dir}/dst.sock",
                     hdr, new)
    case.extra_cleanup.append(relay.close)
    try:
        s = migrate_fails(case, src, f"unix:{case.dir}/relay.sock",
                          "with stream version 3.0")
    finally:
        if not relay.found:
            # says more than whatever the migration did without it
            raise mq.Error(f"the relay never saw an IDENT record (relay "
                           f"error {relay.error})")
    case.note(f"IDENT record rewritten to version 3.0 in the stream; "
              f"source: migration failed: {s['error']}")
    dst_exit_says(case, dst, "load of migration failed")
    check_source_goes_on(case, src, log, "the refused migration")


def case_refuse_killed(case, vfs, at):
    """The destination QEMU is SIGKILLed mid-stream; the source goes on.
    at='ram': while RAM streams (bandwidth capped, the VF running);
    at='switchover': with the source stopped before its device state is
    sent (pause-before-switchover), then the save goes into a dead socket."""
    app = append_line(1)
    src, log = boot_source(case, vfs[:1], app, **TYPE1)
    dst = case.vm("dst", vfs[1:2], app, incoming=True, **TYPE1)
    dst.start()
    uri = f"unix:{case.dir}/mig.sock"
    mq.start_incoming(dst, uri, RETURN_PATH)
    if at == "ram":
        # 1 ms: it never switches over by itself, RAM streams until the kill
        mq.start_outgoing(src, uri, RETURN_PATH,
                          {"downtime-limit": 1, "max-bandwidth": 1 << 20})

        def streaming():
            i = mq.query_migrate(src)
            if i.get("status") != "active":
                return None
            return i if i.get("ram", {}).get("transferred", 0) >= 1 << 20 \
                else None
        i = mq.wait_until(streaming, T_MIG, "1 MiB of RAM streamed")
        case.note(f"RAM streaming at 1 MiB/s, "
                  f"{mq.fmt_bytes(i['ram']['transferred'])} sent, source "
                  f"{src.status()}: SIGKILL to the destination")
    else:
        caps = dict(RETURN_PATH, **{"pause-before-switchover": True})
        mq.start_outgoing(src, uri, caps, {"downtime-limit": DOWNTIME_LIMIT})
        mq.wait_migration(src, T_MIG, want="pre-switchover")
        case.note(f"source paused before the switchover (status "
                  f"{src.status()}, VF {vfs[0]} vhca_state "
                  f"{mq.vhca_state(vfs[0])}): SIGKILL to the destination, "
                  "then migrate-continue")
    dst.kill(signal.SIGKILL)
    rc = dst.wait_exit(60)
    if at != "ram":
        src.cmd("migrate-continue", state="pre-switchover")
    s = mq.stats(mq.wait_migration(src, T_MIG))
    if s["status"] != "failed":
        raise mq.Error(f"migration {s['status']} after the destination was "
                       f"killed (exit {rc}), want failed")
    case.note(f"source: migration failed: {s['error']}")
    check_source_goes_on(case, src, log, "the killed destination")


CASES = [
    ("qemu.auto.not_blocked", 1, case_auto),
    ("qemu.refused.auto_without_dirty_tracking", 1, case_blocked),
    ("qemu.guest_self_check", 1, case_guest_self_check),
    ("qemu.stop_copy.unix", 2, case_unix),
    ("qemu.stop_copy.file", 2, case_file),
    ("qemu.switchover_ack", 2, case_switchover_ack),
    ("qemu.stop_copy.multifd", 2, lambda c, v: case_unix(c, v, multifd=True)),
    ("qemu.stop_copy.two_vfs", 4, case_two_vfs),
    ("qemu.refused.multifd_mapped_ram", 1, case_multifd_mapped_ram),
    ("qemu.stop_copy.iommufd_paused", 2, case_iommufd_paused),
    ("qemu.stop_copy.iommufd_live", 2, case_iommufd_tracked),
    ("qemu.dirty.ram_bytes", 2, case_ram_bytes),
    ("qemu.defect.iommufd_live_loses_dma_writes", 2, case_iommufd_live),
    ("qemu.defect.type1_mmap_tcg_dirty_sync", 2, case_type1_mmap),
    ("qemu.stop_copy.type1_mmap", 2, case_type1_mmap_tracked),
    ("qemu.refuse.devmem_size", 1, case_refuse_devmem),
    ("qemu.refuse.image_version", 2, case_refuse_version),
    ("qemu.refuse.dest_killed_ram", 2,
     lambda c, v: case_refuse_killed(c, v, "ram")),
    ("qemu.refuse.dest_killed_switchover", 2,
     lambda c, v: case_refuse_killed(c, v, "switchover")),
]


# Cases that work, but that the QEMU under test fails now and then for
# reasons of its own: not in the default run (a flaky test is a broken
# test), said so in the output, run with -t NAME.
NOT_BY_DEFAULT = {
    "qemu.stop_copy.multifd":
        "QEMU 10.0.2's multifd with VFIO device state fails about 1 run in "
        "8 at the switchover (destination: 'Getting RAM address failed' in "
        "its RAM section, source: QMP hangs); docs/dev-notes.md",
}


def main(argv):
    sel = []
    args = argv[1:]
    while args:
        a = args.pop(0)
        if a == "-l":
            for n, _, _ in CASES:
                print(n)
            return 0
        if a == "-t" and args:
            sel.append(args.pop(0))
        else:
            print("usage: mvf_qemu_migrate_test [-l] [-t NAME]...",
                  file=sys.stderr)
            return 2
    if sel:
        cases = [c for c in CASES if any(c[0].startswith(s) for s in sel)]
    else:
        cases = [c for c in CASES if c[0] not in NOT_BY_DEFAULT]
    print("TAP version 13")
    print(f"1..{len(cases)}", flush=True)
    vfs = os.environ.get("MVF_VFS", "").split()
    pre = None
    if os.geteuid() != 0:
        pre = "not root"
    elif not os.path.exists(GUEST):
        pre = f"no guest image {GUEST} (scripts/bench/build-selftests.sh)"
    elif not os.access(mq.STOCK_QEMU, os.X_OK):
        pre = f"no {mq.STOCK_QEMU} (Debian's qemu-system-x86, scripts/deps.sh)"
    for n in NOT_BY_DEFAULT:
        if not any(c[0] == n for c in cases):
            say(f"{n}: not in this run (-t {n} runs it): "
                f"{NOT_BY_DEFAULT[n]}")
    if pre is None:
        ver = mq.version()
        say(f"QEMU {ver} ({mq.STOCK_QEMU}); guest {GUEST}; VFs {' '.join(vfs)}"
            f"; logs in {LOGS}")
        if not ver.startswith("10.0."):
            say(f"warning: QEMU {ver}: these cases were written for 10.0")
        if vfs:
            flags = mq.mig_flags(vfs[0])
            say(f"the VFs' driver offers {mq.fmt_mig_flags(flags)}"
                + ("" if flags & mq.MIG_PRE_COPY else
                   ": no PRE_COPY, every migration here is STOP_COPY (the "
                   "whole device state moves while the VM is stopped)"))
        if vfs:
            say("the VFs' driver offers device DMA logging: QEMU's "
                "enable-migration=auto migrates them with the device's dirty "
                "tracking" if mq.dma_logging(vfs[0]) else
                "the VFs' driver offers no DMA logging: QEMU blocks their "
                "migration unless enable-migration=on")
    failed = 0
    os.makedirs(LOGS, exist_ok=True)
    summary = []
    for i, (name, nvf, fn) in enumerate(cases, 1):
        if pre:
            print(f"ok {i} {name} # SKIP {pre}", flush=True)
            continue
        if len(vfs) < nvf:
            print(f"ok {i} {name} # SKIP needs {nvf} VFs bound to "
                  f"mvf-vfio-pci in MVF_VFS, have {len(vfs)}", flush=True)
            continue
        t = time.monotonic()
        case = None
        try:
            case = Case(name, vfs[:nvf])
            fn(case, vfs[:nvf])
            verdict = f"ok {i} {name}"
        except Skip as e:
            verdict = f"ok {i} {name} # SKIP {e}"
        except Exception as e:      # one failure never stops the others
            failed += 1
            where = case.logs if case else LOGS
            if not isinstance(e, mq.Error):
                say(traceback.format_exc())
            say(f"FAIL {name}: {e} (logs: {where})")
            verdict = f"not ok {i} {name}"
        finally:
            if case:
                case.cleanup()
        secs = time.monotonic() - t
        if case and case.stats and verdict.startswith("ok"):
            st = case.stats
            summary.append(f"{name}: downtime {st['downtime_ms']} ms, "
                           f"total-time {st['total_ms']} ms, "
                           f"vfio {mq.fmt_bytes(st['vfio_bytes'])}")
        say(f"{name}: {secs:.0f} s")
        print(verdict, flush=True)
    for l in summary:
        say(f"QEMU's numbers: {l}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
