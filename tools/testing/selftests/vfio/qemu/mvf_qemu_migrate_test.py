#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""
mvf_qemu_migrate_test: Debian's unmodified QEMU (qemu-system-x86 10.0 from
bookworm-backports) migrates a running mvf-guest that owns MVF VFs through
vfio-pci, and refuses cleanly when it must.  Issue 8.

Runs as root where VFs are bound to mvf-vfio-pci (the VM suite: $MVF_VFS,
four of them).  Every case starts a source QEMU with the guest
(mvf-guest.elf with -kernel, next to this program or $MVF_GUEST), waits for
its job stream, migrates it with QMP into a destination QEMU that owns
other VFs, and checks the stream there: no gap, no repeat, no reboot, no
FAIL, and the sum at every job line equal to a reference run of the same
command line that was not migrated.  TAP, one line a case:

  mvf_qemu_migrate_test [-l] [-t NAME]...

Options: -l lists the cases, -t NAME (repeatable) runs the cases whose
name starts with NAME.  Environment: MVF_VFS (the VFs, in order),
MVF_STOCK_QEMU (default /usr/bin/qemu-system-x86_64), MVF_GUEST,
MVF_QEMU_LOGS (logs; default /tmp/out/mvf_qemu_migrate_test under vm-run,
else /tmp/mvf_qemu_migrate_test/logs), MVF_QEMU_AFTER (job lines to verify
after each switch, default 4).
"""

import os
import shutil
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
import mvf_qemu as mq  # noqa: E402

EVERY = 50          # a guest job line every EVERY jobs
AFTER = int(os.environ.get("MVF_QEMU_AFTER", "4"))   # job lines after a switch
WARMUP = 2          # job lines on the source before it is migrated
T_BOOT = 300        # s: QEMU start to the guest's first job line
T_LINE = 300        # s: one more job line
T_MIG = 900         # s: a migration
# No dirty tracking (the device has none, the emulated IOMMU has none):
# QEMU counts all guest RAM as dirty in every round, so the expected
# downtime never drops below the 300 ms default and the migration would
# never converge; allow a long stop instead.
DOWNTIME_LIMIT = 120000
RETURN_PATH = {"return-path": True}

WORK = "/tmp/mvf_qemu_migrate_test"
GUEST = os.environ.get("MVF_GUEST", os.path.join(HERE, "mvf-guest.elf"))


def default_logs():
    if os.environ.get("MVF_QEMU_LOGS"):
        return os.environ["MVF_QEMU_LOGS"]
    if os.path.isdir("/tmp/out") and os.access("/tmp/out", os.W_OK):
        return "/tmp/out/mvf_qemu_migrate_test"
    return os.path.join(WORK, "logs")


LOGS = default_logs()


def append_line(nvfs):
    return f"every={EVERY} timeout=600 vfs={nvfs}"


def say(text):
    for l in str(text).splitlines():
        print(f"# {l}", flush=True)


class Skip(Exception):
    pass


class Case:
    """One case: its QEMUs, work dir and log dir; cleanup() stops every
    QEMU it started (whatever happened), keeps their logs and resets the
    VFs it used."""

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
        how = [f"{v} {mq.reset_vf(v)}" for v in self.vfs]
        say(f"{name}: VFs {', '.join(how)}")
        for v in self.vfs:
            st = mq.vhca_state(v)
            if st != "0x0":
                raise mq.Error(f"VF {v} is not running after its reset: "
                               f"vhca_state {st}")

    def vm(self, name, vfs, append, **kw):
        q = mq.Qemu(name, self.dir, mq.vm_args(
            vfs, GUEST, append, os.path.join(self.dir, name + ".con"), **kw))
        self.vms.append(q)
        return q

    def stop_vms(self):
        """quit every QEMU of the case (their VFs are free again)."""
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
    """Job sums of runs that were not migrated, one stream per guest
    command line: job -> sum.  A run is made (on the VFs given, after a
    reset) when a case needs a job the cache does not have yet."""

    def __init__(self):
        self.sums = {}

    def get(self, append, need, vfs, case):
        have = self.sums.get(append, {})
        if have and max(have) >= need:
            return have
        # Some margin, so that the next case rarely needs another run.
        jobs = (need // EVERY + 1 + AFTER) * EVERY + EVERY
        for v in vfs:
            mq.reset_vf(v)
        q = case.vm("ref", vfs, f"{append} jobs={jobs}", debug_exit=True)
        t = time.monotonic()
        q.start()
        log = mq.GuestLog(q.con_path, "reference")
        log.wait(lambda ls: [l for l in ls if l.kind == "done"],
                 T_BOOT + T_LINE * (jobs // EVERY), f"the reference's done line "
                 f"(jobs={jobs})", q)
        rc = q.wait_exit(120)
        if rc != 1:
            raise mq.Error(f"reference QEMU exit status {rc}, want 1 "
                           f"(isa-debug-exit after done); {q.err_tail()}")
        sums = {l.job: l.sum for l in log.jobs() if l.kind == "job"}
        case.note(f"reference run: {jobs} jobs ({len(sums)} job lines) in "
                  f"{time.monotonic() - t:.0f} s on {' '.join(vfs)}")
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


def follow_destination(case, src_log, dst, append, vfs, what):
    """After the switch: AFTER job lines on DST, the whole stream checked
    against the reference.  The summary."""
    last = src_log.last_job()
    dst_log = mq.GuestLog(dst.con_path, "dst", carry=src_log.partial)
    base = last.job if last else 0
    dst_log.wait_job(base + AFTER * EVERY, T_LINE * (AFTER + 1), dst)
    dst_log.poll()
    src_log.poll()
    end = dst_log.last_job().job
    case.stop_vms()
    ref = REF.get(append, end, vfs, case)
    r = mq.check_stream(src_log.lines, dst_log.lines, EVERY, ref, AFTER)
    case.note(f"{what}: source's last job line {r['last_src']}, destination "
              f"from {r['first_dst']} to {r['last']}: {r['after']} job lines "
              f"({r['after'] * EVERY} jobs) after the switch, no gap, no "
              f"repeat, {r['checked']} sums equal to the reference")
    return r


def migrate_live(case, src, dst, uri, caps=None, src_params=None):
    caps = dict(RETURN_PATH, **(caps or {}))
    params = {"downtime-limit": DOWNTIME_LIMIT}
    params.update(src_params or {})
    mq.start_incoming(dst, uri, caps)
    mq.start_outgoing(src, uri, caps, params)
    info = mq.wait_migration(src, T_MIG)
    s = mq.stats(info)
    if s["status"] != "completed":
        raise mq.Error(f"migration {s['status']}: {s['error']}; "
                       f"{dst.err_tail()}")
    mq.wait_until(lambda: mq.query_migrate(dst).get("status") == "completed",
                  120, "the destination's migration status 'completed'")
    dst.wait_status("running", 120)
    st = src.status()
    if st != "postmigrate":
        raise mq.Error(f"source status '{st}' after the migration, want "
                       "'postmigrate'")
    return s


def report(case, s):
    case.note("QEMU: " + mq.fmt_stats(s))
    case.stats = s


def check_source_goes_on(case, src, log, why):
    """After a failed migration: the source runs again and its guest goes
    on with the right sums."""
    src.wait_status("running", 120)
    last = log.last_job()
    log.wait_job(last.job + AFTER * EVERY, T_LINE * (AFTER + 1), src)
    for v in case.vfs[:1]:
        st = mq.vhca_state(v)
        if st != "0x0":
            raise mq.Error(f"source VF {v} vhca_state {st} after {why}, "
                           "want 0x0 (running)")
    case.stop_vms()
    ref = REF.get(append_line(1), log.last_job().job, case.vfs[:1], case)
    r = mq.check_stream(log.poll(), [], EVERY, ref, 0)
    case.note(f"after {why} the source runs on: job lines up to "
              f"{r['last']}, {r['checked']} sums equal to the reference, "
              f"VF {case.vfs[0]} running (vhca_state 0x0)")


# ---- the cases ---------------------------------------------------------------

def case_blocked(case, vfs):
    """Without enable-migration=on QEMU 10.0 blocks migration of a VFIO
    device that has no dirty tracking (auto), and says why."""
    q = mq.Qemu("blk", case.dir, ["-accel", "tcg", "-M", "q35", "-m", "32M",
                                   "-nodefaults", "-display", "none", "-S",
                                   "-device", f"vfio-pci,host={vfs[0]},id=vf0"])
    case.vms.append(q)
    q.start()
    want = f"{vfs[0]}: VFIO device doesn't support device and IOMMU dirty tracking"
    reasons = mq.query_migrate(q).get("blocked-reasons", [])
    if want not in reasons:
        raise mq.Error(f"blocked-reasons {reasons}, want '{want}'")
    try:
        q.cmd("migrate", uri=f"unix:{case.dir}/none.sock")
        raise mq.Error("migrate was accepted without enable-migration=on")
    except mq.QMPError as e:
        if want not in e.desc:
            raise mq.Error(f"migrate refused with '{e.desc}', want '{want}'")
        case.note(f"migrate refused: {e.desc}")
    q.stop()
    # With enable-migration=on the same is only a warning at startup.
    q2 = case.vm("warn", vfs[:1], append_line(1), extra=["-S"])
    q2.start()
    reasons = mq.query_migrate(q2).get("blocked-reasons", [])
    if reasons:
        raise mq.Error(f"enable-migration=on: still blocked: {reasons}")
    w = [l for l in q2.err_text().splitlines() if "dirty tracking" in l]
    if not w:
        raise mq.Error("enable-migration=on: no warning about dirty tracking "
                       f"on stderr; {q2.err_tail()}")
    case.note(f"with enable-migration=on, at startup: {w[0]}")
    q2.stop()


def case_unix(case, vfs, iommufd=False, multifd=False):
    app = append_line(1)
    props = "x-migration-multifd-transfer=on" if multifd else ""
    src, log = boot_source(case, vfs[:1], app, iommufd=iommufd,
                           vfio_props=props)
    dst = case.vm("dst", vfs[1:2], app, iommufd=iommufd, vfio_props=props,
                  incoming=True)
    dst.start()
    caps = {"multifd": True} if multifd else {}
    s = migrate_live(case, src, dst, f"unix:{case.dir}/mig.sock", caps)
    report(case, s)
    if multifd and not s["multifd_bytes"]:
        raise mq.Error("multifd: QEMU reports 0 multifd bytes")
    follow_destination(case, log, dst, app, vfs[:1], "stream")


def case_file(case, vfs):
    app = append_line(1)
    src, log = boot_source(case, vfs[:1], app)
    path = f"{case.dir}/vm.mig"
    mq.start_outgoing(src, f"file:{path}", {},
                      {"downtime-limit": DOWNTIME_LIMIT})
    s = mq.stats(mq.wait_migration(src, T_MIG))
    if s["status"] != "completed":
        raise mq.Error(f"migration to {path}: {s['status']}: {s['error']}")
    st = src.status()
    if st != "postmigrate":
        raise mq.Error(f"source status '{st}' after saving, want postmigrate")
    report(case, s)
    case.note(f"saved to {path}: {os.path.getsize(path)} bytes; the source "
              "QEMU quits")
    src.stop()
    dst = case.vm("dst", vfs[1:2], app, incoming=True)
    dst.start()
    t = time.monotonic()
    dst.cmd("migrate-incoming", uri=f"file:{path}")
    dst.wait_status("running", T_MIG)
    case.note(f"a new QEMU on {vfs[1]} loaded it and runs after "
              f"{time.monotonic() - t:.1f} s")
    follow_destination(case, log, dst, app, vfs[:1], "stream")


def case_two_vfs(case, vfs):
    app = append_line(2)
    src, log = boot_source(case, vfs[:2], app)
    dst = case.vm("dst", vfs[2:4], app, incoming=True)
    dst.start()
    s = migrate_live(case, src, dst, f"unix:{case.dir}/mig.sock")
    report(case, s)
    follow_destination(case, log, dst, app, vfs[:2], "stream (2 VFs)")


def other_size_vf(case, vfs):
    """A VF whose device memory differs from vfs[0]'s: a VF of another
    PF (vm-run.sh --pf2 SIZE), enabled and bound for this case only."""
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
            if mq.devmem_of(v) != size:
                if mq.driver_of(v) != "mvf-vfio-pci":
                    mq.bind_vf(v)
                mq.reset_vf(v)
                return v
    raise Skip(f"no VF with other device memory than {vfs[0]}'s "
               f"{size >> 20} MiB (one PF; vm-run.sh --pf2 SIZE adds "
               "a second)")


def case_refuse_devmem(case, vfs):
    """Destination VF with less device memory: the stream does not fit,
    the destination fails, the source goes on."""
    other = other_size_vf(case, vfs)
    a, b = mq.devmem_of(vfs[0]), mq.devmem_of(other)
    if b > a:
        raise Skip(f"{other} has more device memory ({b >> 20} MiB) than "
                   f"{vfs[0]} ({a >> 20} MiB): this case wants less")
    case.note(f"destination VF {other}: {b >> 20} MiB of device memory, "
              f"the source's {vfs[0]}: {a >> 20} MiB")
    app = append_line(1)
    src, log = boot_source(case, vfs[:1], app)
    dst = case.vm("dst", [other], app, incoming=True)
    dst.start()
    mq.start_incoming(dst, f"unix:{case.dir}/mig.sock", RETURN_PATH)
    mq.start_outgoing(src, f"unix:{case.dir}/mig.sock", RETURN_PATH,
                      {"downtime-limit": DOWNTIME_LIMIT})
    s = mq.stats(mq.wait_migration(src, T_MIG))
    if s["status"] != "failed":
        raise mq.Error(f"migration {s['status']}, want failed")
    case.note(f"source: migration failed: {s['error']}")
    rc = dst.wait_exit(120)
    err = [l for l in dst.err_text().splitlines() if l.strip()]
    if rc == 0 or not any("load of migration failed" in l for l in err):
        raise mq.Error(f"destination exit {rc}, want a failure with "
                       f"'load of migration failed'; {dst.err_tail()}")
    for l in err:
        case.note(f"destination (exit {rc}): {l}")
    check_source_goes_on(case, src, log, "the refused migration")


def case_refuse_killed(case, vfs, at):
    """The destination QEMU is SIGKILLed mid-stream; the source goes on.
    at='ram': while RAM streams (bandwidth capped, the VF running);
    at='switchover': with the source stopped before its device state is
    sent (pause-before-switchover), then the save goes into a dead socket."""
    app = append_line(1)
    src, log = boot_source(case, vfs[:1], app)
    dst = case.vm("dst", vfs[1:2], app, incoming=True)
    dst.start()
    uri = f"unix:{case.dir}/mig.sock"
    mq.start_incoming(dst, uri, RETURN_PATH)
    if at == "ram":
        mq.start_outgoing(src, uri, RETURN_PATH,
                          {"downtime-limit": DOWNTIME_LIMIT,
                           "max-bandwidth": 1 << 20})

        def streaming():
            i = mq.query_migrate(src)
            if i.get("status") != "active":
                return None
            return i if i.get("ram", {}).get("transferred", 0) >= 2 << 20 \
                else None
        i = mq.wait_until(streaming, T_MIG, "2 MiB of RAM streamed")
        case.note(f"RAM streaming at 1 MiB/s, {mq.fmt_bytes(i['ram']['transferred'])} "
                  f"sent, source status {src.status()}: SIGKILL to the destination")
    else:
        caps = dict(RETURN_PATH, **{"pause-before-switchover": True})
        mq.start_outgoing(src, uri, caps, {"downtime-limit": DOWNTIME_LIMIT})
        mq.wait_migration(src, T_MIG, want="pre-switchover")
        case.note(f"source paused before switchover (status {src.status()}, "
                  f"VF {vfs[0]} vhca_state {mq.vhca_state(vfs[0])}): SIGKILL "
                  "to the destination, then migrate-continue")
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
    ("qemu.blocked_without_enable_migration", 1, case_blocked),
    ("qemu.stop_copy.unix", 2, case_unix),
    ("qemu.stop_copy.file", 2, case_file),
    ("qemu.stop_copy.iommufd", 2,
     lambda c, v: case_unix(c, v, iommufd=True)),
    ("qemu.stop_copy.multifd", 2,
     lambda c, v: case_unix(c, v, multifd=True)),
    ("qemu.stop_copy.two_vfs", 4, case_two_vfs),
    ("qemu.refuse.devmem_size", 1, case_refuse_devmem),
    ("qemu.refuse.dest_killed_ram", 2,
     lambda c, v: case_refuse_killed(c, v, "ram")),
    ("qemu.refuse.dest_killed_switchover", 2,
     lambda c, v: case_refuse_killed(c, v, "switchover")),
]


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
            print(__doc__.strip().splitlines()[0], file=sys.stderr)
            print("usage: mvf_qemu_migrate_test [-l] [-t NAME]...",
                  file=sys.stderr)
            return 2
    cases = [c for c in CASES if not sel or any(c[0].startswith(s) for s in sel)]
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
    if pre is None:
        ver = mq.version()
        say(f"QEMU {ver} ({mq.STOCK_QEMU}); guest {GUEST}; VFs {' '.join(vfs)}"
            f"; logs in {LOGS}")
        if not ver.startswith("10.0."):
            say(f"warning: QEMU {ver}: these cases were written for 10.0")
    failed = 0
    os.makedirs(LOGS, exist_ok=True)
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
        verdict = None
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
        say(f"{name}: {time.monotonic() - t:.0f} s")
        print(verdict, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
