# SPDX-License-Identifier: GPL-2.0-only
"""
mvf_qemu: drive a stock QEMU (Debian's qemu-system-x86 10.0) that owns MVF
VFs through vfio-pci, over QMP, and follow what mvf-guest prints.  Python 3
standard library only.

  Qemu        a QEMU process: start (QMP on a unix socket, handshake done),
              commands, events, migration status, stop/kill, stderr
  GuestLog    mvf-guest's lines on the debug console (-debugcon file:...),
              followed while they are written
  migrate()   the source/destination dance: capabilities and parameters on
              both sides, migrate-incoming on the destination, migrate on
              the source, query-migrate until completed/failed
  check_stream()
              one guest's job stream across a migration: no gap, no repeat,
              no reboot, no FAIL, the sums of a reference run

Nothing here sleeps to synchronise: every wait is for a QMP state, an event,
a log line or a process exit, with a deadline, and says what it waited for
when the deadline passes.
"""

import errno
import fcntl
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time

STOCK_QEMU = os.environ.get("MVF_STOCK_QEMU", "/usr/bin/qemu-system-x86_64")

# Polling interval of the waits that look at a file or QMP state (not a
# synchronisation: each wait ends on the state it waits for).
POLL = 0.2


class Error(Exception):
    """A check or a wait failed; the message says what and where."""


class QMPError(Error):
    """QEMU answered a command with an error."""

    def __init__(self, cmd, err):
        self.cmd = cmd
        self.cls = err.get("class", "")
        self.desc = err.get("desc", "")
        super().__init__(f"{cmd}: {self.desc}")


# A wait longer than this says so, and again every HEARTBEAT seconds (a
# TAP comment): long waits show progress, and the VM's console is never
# silent long enough for the bench's stall watchdog.
HEARTBEAT = 60


def wait_until(pred, timeout, what, poll=POLL):
    """Call pred() until it returns something true; Error after timeout."""
    t0 = time.monotonic()
    end = t0 + timeout
    beat = t0 + HEARTBEAT
    while True:
        r = pred()
        if r:
            return r
        now = time.monotonic()
        if now >= end:
            raise Error(f"timed out after {timeout:.0f} s waiting for {what}")
        if now >= beat:
            print(f"# still waiting for {what} ({now - t0:.0f} of "
                  f"{timeout:.0f} s)", flush=True)
            beat = now + HEARTBEAT
        time.sleep(poll)


class QMP:
    """A QMP connection: commands in order, events kept in a list."""

    def __init__(self, path, alive, timeout=120):
        self.sock = None
        end = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                self.sock = s
                break
            except OSError as e:
                s.close()
                if not alive():
                    raise Error(f"QEMU exited before its QMP socket {path} "
                                f"accepted ({e})") from None
                if time.monotonic() >= end:
                    raise Error(f"no QMP on {path} after {timeout} s: {e}") \
                        from None
                time.sleep(POLL)
        self.rfile = self.sock.makefile("r", encoding="utf-8")
        self.lock = threading.Condition()
        self.events = []
        self.replies = []
        self.closed = False
        self.greeting = json.loads(self.rfile.readline())
        if "QMP" not in self.greeting:
            raise Error(f"not a QMP greeting: {self.greeting}")
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()
        self.cmd("qmp_capabilities")

    def _reader(self):
        try:
            for line in self.rfile:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                with self.lock:
                    if "event" in msg:
                        self.events.append(msg)
                    else:
                        self.replies.append(msg)
                    self.lock.notify_all()
        except (OSError, ValueError):
            pass
        with self.lock:
            self.closed = True
            self.lock.notify_all()

    def cmd(self, execute, timeout=60, **arguments):
        """Run one command; its "return" value, or QMPError.  QEMU answers
        from its main loop: no answer in TIMEOUT s means it hangs."""
        msg = {"execute": execute}
        if arguments:
            msg["arguments"] = arguments
        with self.lock:
            if self.closed:
                raise Error(f"{execute}: the QMP connection is closed")
            self.sock.sendall((json.dumps(msg) + "\n").encode())
            end = time.monotonic() + timeout
            while not self.replies:
                left = end - time.monotonic()
                if self.closed:
                    raise Error(f"{execute}: QEMU closed QMP before answering")
                if left <= 0:
                    raise Error(f"{execute}: no answer in {timeout} s")
                self.lock.wait(left)
            r = self.replies.pop(0)
        if "error" in r:
            raise QMPError(execute, r["error"])
        return r.get("return")

    def wait_event(self, name, timeout, pred=None, since=0):
        """The first event NAME (index >= since) that pred accepts."""
        end = time.monotonic() + timeout
        with self.lock:
            while True:
                for e in self.events[since:]:
                    if e["event"] == name and (pred is None or pred(e)):
                        return e
                left = end - time.monotonic()
                if self.closed:
                    raise Error(f"QMP closed while waiting for event {name}")
                if left <= 0:
                    raise Error(f"no {name} event in {timeout} s")
                self.lock.wait(left)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Qemu:
    """One QEMU process with QMP on WORKDIR/NAME.qmp, stdout+stderr in
    WORKDIR/NAME.err, the guest's debug console in WORKDIR/NAME.con."""

    def __init__(self, name, workdir, args, binary=STOCK_QEMU):
        self.name = name
        self.workdir = workdir
        self.args = list(args)
        self.binary = binary
        self.qmp_path = os.path.join(workdir, name + ".qmp")
        self.err_path = os.path.join(workdir, name + ".err")
        self.con_path = os.path.join(workdir, name + ".con")
        self.proc = None
        self.qmp = None

    def cmdline(self):
        return [self.binary] + self.args + [
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off"]

    def start(self, timeout=120):
        for p in (self.qmp_path, self.con_path):
            if os.path.exists(p):
                os.unlink(p)
        with open(self.err_path, "w") as err:
            err.write("# " + " ".join(self.cmdline()) + "\n")
            err.flush()
            self.proc = subprocess.Popen(self.cmdline(), stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err,
                                         start_new_session=True)
        try:
            self.qmp = QMP(self.qmp_path, self.alive, timeout)
        except Error as e:
            raise Error(f"{self.name}: {e}; {self.err_tail()}") from None
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cmd(self, execute, **arguments):
        try:
            return self.qmp.cmd(execute, **arguments)
        except QMPError as e:
            raise QMPError(f"{self.name}: {e.cmd}",
                           {"class": e.cls, "desc": e.desc}) from None

    def status(self):
        return self.cmd("query-status")["status"]

    def wait_status(self, want, timeout):
        return wait_until(lambda: self.status() == want, timeout,
                          f"{self.name} to be '{want}'")

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Error(f"{self.name} (pid {self.proc.pid}) did not exit "
                        f"in {timeout} s") from None

    def err_text(self):
        try:
            with open(self.err_path, errors="replace") as f:
                return "".join(l for l in f if not l.startswith("# "))
        except OSError:
            return ""

    def err_tail(self, n=3):
        lines = [l for l in self.err_text().splitlines() if l.strip()]
        if not lines:
            return f"{self.name} said nothing on stderr ({self.err_path})"
        return f"{self.name} stderr: " + " | ".join(lines[-n:])

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout=60):
        """quit if QMP still answers, else (or if it hangs) SIGKILL."""
        if self.proc is None:
            return None
        if self.alive() and self.qmp and not self.qmp.closed:
            try:
                self.qmp.cmd("quit", timeout=30)
            except Error:
                pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait(30)
        if self.qmp:
            self.qmp.close()
        return self.proc.returncode


def version(binary=STOCK_QEMU):
    """'10.0.2 (Debian 1:10.0.2+ds-...)' from qemu -version."""
    out = subprocess.run([binary, "-version"], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"QEMU emulator version (\S+(?: \([^)]*\))?)", out)
    return m.group(1) if m else out.strip().splitlines()[0]


def vm_args(vfs, kernel, append, con, iommufd=False, vfio_props="",
            mem="32M", incoming=False, debug_exit=False, extra=()):
    """The command line of one VM: q35 under TCG, no defaults, the guest
    image with -kernel, VFS passed through with vfio-pci (QEMU's default
    enable-migration=auto unless VFIO_PROPS say otherwise: migratable with
    the device's DMA logging), the debug console to CON."""
    a = ["-accel", "tcg", "-M", "q35", "-m", mem, "-nodefaults",
         "-no-user-config", "-display", "none", "-no-reboot",
         "-kernel", kernel, "-append", append,
         "-debugcon", f"file:{con}"]
    if iommufd:
        a += ["-object", "iommufd,id=iommufd0"]
    for i, bdf in enumerate(vfs):
        dev = f"vfio-pci,host={bdf},id=vf{i}"
        if iommufd:
            dev += ",iommufd=iommufd0"
        if vfio_props:
            dev += "," + vfio_props
        a += ["-device", dev]
    if debug_exit:
        a += ["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
    if incoming:
        a += ["-incoming", "defer"]
    # a developer's extra arguments for every QEMU, e.g. -trace PATTERN
    return a + list(extra) + os.environ.get("MVF_STOCK_QEMU_ARGS", "").split()


# ---- the guest's console --------------------------------------------------

JOB_RE = re.compile(r"^mvf-guest: (job|done) ([0-9]+)(?: jobs)? ok "
                    r"sum (0x[0-9a-f]{8})(?: wqe ([0-9]+) cqe ([0-9]+) "
                    r"ms ([0-9]+))?")
FAIL_RE = re.compile(r"^mvf-guest: FAIL job ([0-9]+): (.*)$")


class Line:
    def __init__(self, text, where):
        self.text = text
        self.where = where
        self.kind = None            # job, done, fail, boot, start, other
        self.job = self.sum = self.ms = None
        m = JOB_RE.match(text)
        if m:
            self.kind = m.group(1)
            self.job = int(m.group(2))
            self.sum = m.group(3)
            self.ms = int(m.group(6)) if m.group(6) else None
            return
        m = FAIL_RE.match(text)
        if m:
            self.kind = "fail"
            self.job = int(m.group(1))
            return
        for k in ("boot", "start"):
            if text.startswith(f"mvf-guest: {k} "):
                self.kind = k
                return
        self.kind = "other"

    def __repr__(self):
        return f"{self.where}: {self.text}"


class GuestLog:
    """mvf-guest's lines in the debug console file PATH, read as they come.
    carry: an unterminated last line of the same guest on another VM (the
    source of a migration), which this file's first bytes complete."""

    def __init__(self, path, name, carry=""):
        self.path = path
        self.name = name
        self.pos = 0
        self.partial = carry
        self.lines = []

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return self.lines
        self.pos += len(data)
        text = self.partial + data.decode("ascii", "replace")
        parts = text.split("\n")
        self.partial = parts.pop()
        for p in parts:
            p = p.rstrip("\r")
            if p:
                self.lines.append(Line(p, self.name))
        return self.lines

    def final(self):
        """Everything written so far; the unterminated rest is in partial
        (what the destination's log completes after a migration)."""
        self.poll()
        return self.lines

    def jobs(self):
        return [l for l in self.poll() if l.kind in ("job", "done")]

    def last_job(self):
        j = self.jobs()
        return j[-1] if j else None

    def fails(self):
        return [l for l in self.poll() if l.kind == "fail"]

    def tail(self, n=4):
        ls = self.poll()[-n:]
        t = " | ".join(l.text for l in ls)
        if self.partial:
            t += (" | " if t else "") + self.partial + "(...)"
        return t or "(nothing)"

    def wait(self, pred, timeout, what, vm=None):
        """Wait until pred(lines) is true.  A FAIL line, or VM's QEMU
        exiting, ends the wait at once with an Error."""
        def check():
            ls = self.poll()
            f = [l for l in ls if l.kind == "fail"]
            if f:
                raise Error(f"guest on {self.name}: {f[0].text}")
            r = pred(ls)
            if r:
                return r
            if vm is not None and not vm.alive():
                raise Error(f"{vm.name} exited (status {vm.proc.returncode}) "
                            f"while waiting for {what}; {vm.err_tail()}; "
                            f"guest: {self.tail()}")
            return None
        try:
            return wait_until(check, timeout, what)
        except Error as e:
            if "timed out" in str(e):
                raise Error(f"{e} on {self.name}; guest: {self.tail()}") \
                    from None
            raise

    def wait_job(self, n, timeout, vm=None, after=None):
        """The first job line with job >= N (and > AFTER's job)."""
        def pred(ls):
            for l in ls:
                if l.kind in ("job", "done") and l.job >= n and \
                   (after is None or l.job > after):
                    return l
            return None
        return self.wait(pred, timeout, f"guest job {n}", vm)


def check_stream(src_lines, dst_lines, every, ref=None, min_after=1):
    """One guest's output across a migration: SRC_LINES then DST_LINES (as
    GuestLog made them, DST carrying SRC's partial line).  Returns a
    summary dict; Error on a gap, a repeat, a reboot, a FAIL, a sum that
    differs from REF (job -> sum) or fewer than MIN_AFTER job lines on the
    destination."""
    for l in src_lines + dst_lines:
        if l.kind == "fail":
            raise Error(f"guest FAIL on {l.where}: {l.text}")
    for l in dst_lines:
        if l.kind in ("boot", "start"):
            raise Error(f"guest started again on {l.where}: {l.text}")
    jobs = [l for l in src_lines + dst_lines if l.kind in ("job", "done")]
    if not jobs:
        raise Error("no job lines at all")
    prev = None
    for l in jobs:
        want = every if prev is None else prev.job + every
        if l.job != want:
            what = "repeated" if prev is not None and l.job <= prev.job \
                else "missing"
            after = repr(prev) if prev else "the start"
            raise Error(f"job lines {what}: {l!r} follows {after}, "
                        f"want job {want}")
        prev = l
    checked = 0
    if ref is not None:
        for l in jobs:
            if l.kind != "job":
                continue
            if l.job not in ref:
                raise Error(f"the reference run has no job {l.job}")
            if ref[l.job] != l.sum:
                raise Error(f"sum of job {l.job} is {l.sum} on {l.where}, "
                            f"the reference run has {ref[l.job]}")
            checked += 1
    src_jobs = [l for l in src_lines if l.kind in ("job", "done")]
    dst_jobs = [l for l in dst_lines if l.kind in ("job", "done")]
    if len(dst_jobs) < min_after:
        raise Error(f"only {len(dst_jobs)} job lines after the switch, want "
                    f"{min_after}")
    return {
        "last_src": src_jobs[-1].job if src_jobs else 0,
        "first_dst": dst_jobs[0].job if dst_jobs else None,
        "last": jobs[-1].job,
        "after": len(dst_jobs),
        "checked": checked,
    }


# ---- migration -------------------------------------------------------------

def set_caps(vm, caps):
    if caps:
        vm.cmd("migrate-set-capabilities", capabilities=[
            {"capability": k, "state": bool(v)} for k, v in caps.items()])


def query_migrate(vm):
    return vm.cmd("query-migrate")


def wait_migration(vm, timeout, done=("completed", "failed", "cancelled"),
                   want=None):
    """Poll query-migrate on VM until its status is one of DONE (or WANT);
    the last MigrationInfo."""
    last = {}

    def pred():
        nonlocal last
        last = query_migrate(vm)
        st = last.get("status")
        if (want and st == want) or st in done:
            return last
        return None
    try:
        return wait_until(pred, timeout, f"migration on {vm.name}")
    except Error as e:
        raise Error(f"{e}: last query-migrate {json.dumps(last)}") from None


def start_incoming(dst, uri, caps=None, params=None):
    set_caps(dst, caps or {})
    if params:
        dst.cmd("migrate-set-parameters", **params)
    dst.cmd("migrate-incoming", uri=uri)


def start_outgoing(src, uri, caps=None, params=None):
    set_caps(src, caps or {})
    if params:
        src.cmd("migrate-set-parameters", **params)
    src.cmd("migrate", uri=uri)


def stats(info):
    """QEMU's own numbers from a final MigrationInfo (query-migrate)."""
    ram = info.get("ram", {})
    out = {
        "status": info.get("status"),
        "downtime_ms": info.get("downtime"),
        "total_ms": info.get("total-time"),
        "setup_ms": info.get("setup-time"),
        "ram_bytes": ram.get("transferred"),
        "ram_precopy_bytes": ram.get("precopy-bytes"),
        "ram_downtime_bytes": ram.get("downtime-bytes"),
        "multifd_bytes": ram.get("multifd-bytes"),
        "iterations": ram.get("dirty-sync-count"),
        "vfio_bytes": info.get("vfio", {}).get("transferred"),
        "error": info.get("error-desc"),
    }
    return out


def fmt_bytes(n):
    if n is None:
        return "n/a"
    return f"{n / 1048576:.1f} MiB"


def fmt_stats(s):
    t = (f"downtime {s['downtime_ms']} ms, total-time {s['total_ms']} ms, "
         f"setup-time {s['setup_ms']} ms, ram {fmt_bytes(s['ram_bytes'])}")
    if s.get("multifd_bytes"):
        t += f" (multifd {fmt_bytes(s['multifd_bytes'])})"
    t += f", vfio {fmt_bytes(s['vfio_bytes'])}"
    if s.get("iterations") is not None:
        t += f", {s['iterations']} dirty syncs"
    return t


class Relay:
    """A migration channel between two QEMUs through this process: the
    source connects to LISTEN (a unix socket), the relay connects to
    CONNECT (the destination's migrate-incoming socket) and copies both
    ways (the return path too).  In the source-to-destination direction
    the first occurrence of FIND is replaced by REPLACE (same length), as
    a device with other firmware would have written it; a partial match
    at the end of what arrived is held back for at most HOLD seconds.
    found is set once the replacement was made."""

    HOLD = 0.2

    def __init__(self, listen, connect, find, replace):
        assert len(find) == len(replace)
        self.find, self.replace = find, replace
        self.found = False
        self.error = None
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(listen)
        self.lsock.listen(1)
        self.connect = connect
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _held(self, data):
        """How many bytes at the end of DATA could start FIND."""
        for k in range(min(len(self.find) - 1, len(data)), 0, -1):
            if self.find.startswith(data[-k:]):
                return k
        return 0

    def _run(self):
        try:
            src, _ = self.lsock.accept()
            dst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            dst.connect(self.connect)
        except OSError as e:
            self.error = e
            return
        socks = [src, dst]
        held = b""
        try:
            while True:
                r, _, _ = select.select(socks, [], [],
                                        self.HOLD if held else None)
                if not r:               # nothing more came: let it go
                    dst.sendall(held)
                    held = b""
                    continue
                if dst in r:
                    d = dst.recv(1 << 16)
                    if not d:
                        break
                    src.sendall(d)
                if src in r:
                    d = src.recv(1 << 16)
                    if not d:
                        dst.sendall(held)
                        break
                    d = held + d
                    held = b""
                    if not self.found:
                        i = d.find(self.find)
                        if i >= 0:
                            d = d[:i] + self.replace + d[i + len(self.find):]
                            self.found = True
                        else:
                            k = self._held(d)
                            if k:
                                d, held = d[:-k], d[-k:]
                    dst.sendall(d)
        except OSError as e:
            self.error = e
        finally:
            for x in socks:
                x.close()

    def close(self):
        self.lsock.close()


# ---- the VFs in the VM that runs QEMU ----------------------------------------

SYS_PCI = "/sys/bus/pci/devices"
MVF_VENDOR, MVF_PF_ID, MVF_VF_ID = "0x6d76", "0x1000", "0x1001"


def _read(path):
    with open(path) as f:
        return f.read().strip()


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def driver_of(bdf):
    p = os.path.join(SYS_PCI, bdf, "driver")
    return os.path.basename(os.readlink(p)) if os.path.exists(p) else None


def pfs():
    """The MVF PFs, by address."""
    out = []
    for d in sorted(os.listdir(SYS_PCI)):
        try:
            if _read(f"{SYS_PCI}/{d}/vendor") == MVF_VENDOR and \
               _read(f"{SYS_PCI}/{d}/device") == MVF_PF_ID:
                out.append(d)
        except OSError:
            pass
    return out


def vfs_of(pf):
    out, i = [], 0
    while os.path.exists(f"{SYS_PCI}/{pf}/virtfn{i}"):
        out.append(os.path.basename(os.readlink(f"{SYS_PCI}/{pf}/virtfn{i}")))
        i += 1
    return out


def bind_vf(bdf):
    """Hand BDF to mvf-vfio-pci (driver_override), as guest-lib.sh does."""
    d = f"{SYS_PCI}/{bdf}"
    if driver_of(bdf):
        _write(f"{d}/driver/unbind", bdf)
    _write(f"{d}/driver_override", "mvf-vfio-pci")
    _write("/sys/bus/pci/drivers_probe", bdf)
    drv = driver_of(bdf)
    if drv != "mvf-vfio-pci":
        raise Error(f"VF {bdf} bound to {drv}, not mvf-vfio-pci")


def reset_vf(bdf):
    """A known state, as the suite's mvf_reset_vfs: FLR through sysfs, or
    rebind if that fails or the VF lost its driver.  How it was done."""
    if driver_of(bdf) == "mvf-vfio-pci":
        try:
            _write(f"{SYS_PCI}/{bdf}/reset", "1")
            return "reset"
        except OSError:
            pass
    bind_vf(bdf)
    return "rebound"


def devmem_of(bdf):
    """A VF's device memory size: the size of its BAR 2."""
    with open(f"{SYS_PCI}/{bdf}/resource") as f:
        lines = f.read().splitlines()
    start, end, _ = (int(x, 16) for x in lines[2].split())
    return end - start + 1 if end else 0


# VFIO uAPI (include/uapi/linux/vfio.h): _IO(VFIO_TYPE, VFIO_BASE + n)
_VFIO_SET_IOMMU = 0x3b66
_VFIO_GROUP_SET_CONTAINER = 0x3b68
_VFIO_GROUP_GET_DEVICE_FD = 0x3b6a
_VFIO_DEVICE_FEATURE = 0x3b75
_VFIO_TYPE1v2_IOMMU = 3
_VFIO_DEVICE_FEATURE_GET = 1 << 16
_VFIO_DEVICE_FEATURE_SET = 1 << 17
_VFIO_DEVICE_FEATURE_PROBE = 1 << 18
_VFIO_DEVICE_FEATURE_MIGRATION = 1
_VFIO_DEVICE_FEATURE_DMA_LOGGING_START = 6
MIG_STOP_COPY, MIG_P2P, MIG_PRE_COPY = 1 << 0, 1 << 1, 1 << 2
MIG_FLAGS = {MIG_STOP_COPY: "STOP_COPY", MIG_P2P: "P2P",
             MIG_PRE_COPY: "PRE_COPY"}


def _device_feature(bdf, flags, payload=b""):
    """VFIO_DEVICE_FEATURE with FLAGS on the VF, opened through its group and
    a type1 container as a VMM would open it (which resets the VF).  The
    argument buffer after the ioctl; OSError if the kernel refused."""
    group = os.path.basename(os.readlink(f"{SYS_PCI}/{bdf}/iommu_group"))
    cont = os.open("/dev/vfio/vfio", os.O_RDWR)
    try:
        grp = os.open(f"/dev/vfio/{group}", os.O_RDWR)
        try:
            fcntl.ioctl(grp, _VFIO_GROUP_SET_CONTAINER,
                        struct.pack("i", cont))
            fcntl.ioctl(cont, _VFIO_SET_IOMMU, _VFIO_TYPE1v2_IOMMU)
            # a mutable buffer: ioctl() then returns the syscall's value
            dev = fcntl.ioctl(grp, _VFIO_GROUP_GET_DEVICE_FD,
                              bytearray(bdf.encode() + b"\0"), True)
            try:
                buf = bytearray(struct.pack("II", 8 + len(payload), flags)
                                + payload)
                fcntl.ioctl(dev, _VFIO_DEVICE_FEATURE, buf, True)
                return bytes(buf)
            finally:
                os.close(dev)
        finally:
            os.close(grp)
    finally:
        os.close(cont)


def mig_flags(bdf):
    """The migration flags the VF's driver reports
    (VFIO_DEVICE_FEATURE_MIGRATION), as a VMM would see them; opening the
    VF resets it."""
    buf = _device_feature(bdf, _VFIO_DEVICE_FEATURE_GET |
                          _VFIO_DEVICE_FEATURE_MIGRATION, bytes(8))
    return struct.unpack_from("Q", buf, 8)[0]


def dma_logging(bdf):
    """Whether the VF's driver offers device DMA logging: the PROBE of
    VFIO_DEVICE_FEATURE_DMA_LOGGING_START, as QEMU makes it at realize
    (ENOTTY: no log_ops)."""
    try:
        _device_feature(bdf, _VFIO_DEVICE_FEATURE_PROBE |
                        _VFIO_DEVICE_FEATURE_SET |
                        _VFIO_DEVICE_FEATURE_DMA_LOGGING_START)
    except OSError as e:
        if e.errno == errno.ENOTTY:
            return False
        raise
    return True


def fmt_mig_flags(flags):
    return "|".join(n for b, n in sorted(MIG_FLAGS.items()) if flags & b) \
        or "none"


def vhca_state(bdf):
    try:
        return _read(f"/sys/kernel/debug/mvf_core/{bdf}/vhca_state")
    except OSError as e:
        return f"unreadable ({e.strerror})"
