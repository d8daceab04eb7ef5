#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""
mvf_libvirt_test: libvirt's managed mode with MVF VFs (issue 11).

libvirt 10.0 and later bind a `<hostdev mode='subsystem' type='pci'
managed='yes'>` to the VFIO variant driver whose `vfio_pci:` alias in
/lib/modules/$(uname -r)/modules.alias matches the device best, instead of
vfio-pci.  Debian bookworm has libvirt 9.0 (no such selection);
bookworm-backports has 11.3, which scripts/deps.sh installs.  This test
runs Debian's libvirtd 11.3 and Debian's qemu-system-x86_64 10.0, both
unmodified, in the test VM:

  libvirt.managed.variant_driver
      a domain (TCG, mvf-guest.elf booted with <os><kernel>) with an
      unbound MVF VF as a managed hostdev starts; libvirt bound the VF to
      mvf-vfio-pci by itself, and the guest works on it
  libvirt.migrate.same_host_refused
      `virsh migrate` of that domain to the same libvirtd is refused
      (libvirt forbids migrating to the host it runs on), and the domain
      works on
  libvirt.save_restore
      `virsh save` writes the domain, its VF's state included (the VFIO
      migration uAPI), to a file; libvirt gives the VF back; `virsh
      restore --xml` starts it again on another unbound VF, which libvirt
      binds to mvf-vfio-pci; the guest's job stream goes on with no gap,
      no repeat, no reboot and no FAIL
  libvirt.unmanaged.driver_override
      the path for libvirt before 10.0: the VF bound to mvf-vfio-pci by
      hand (driver_override), managed='no'; the guest works and libvirt
      leaves the binding as it was

Everything it mounts (tmpfs on /lib/modules, /etc/libvirt, /var/lib/libvirt,
/var/cache/libvirt, /var/log/libvirt, /run/libvirt: the VM's root is the
host's, read-only) is in a private mount namespace: the program runs itself
again under `unshare --mount`.  The modules.alias libvirt reads is made by
depmod from the modules in $MVF_KMOD (the ones mvf_setup loaded), as a
distribution's `make modules_install` or DKMS would leave it.

TAP, one line a case; a failure says what went wrong on its "not ok" line,
and a missing prerequisite (libvirt, QEMU, the guest, the modules, two MVF
VFs) is a failure too.  Environment: MVF_VFS (the VFs the suite bound; the
test unbinds two of them and binds them back at the end), MVF_KMOD,
MVF_GUEST, MVF_STOCK_QEMU, MVF_LIBVIRT_LOGS (default
/tmp/out/mvf_libvirt_test under vm-run.sh), MVF_QEMU_GUEST_TIMEOUT (the
guest's timeout=, default 600 s; a mutant run wants 60).
"""

import os
import json
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
import mvf_qemu as mq  # noqa: E402

GUEST = os.environ.get("MVF_GUEST", os.path.join(HERE, "mvf-guest.elf"))
LIBVIRTD = "/usr/sbin/libvirtd"
VIRSH = "/usr/bin/virsh"
URI = "qemu:///system"
DOM = "mvf-lv"
WORK = "/tmp/mvf_libvirt_test"
EVERY = 500
AFTER = 6           # job lines verified after the restore
T_BOOT = 300        # s: domain start to the guest's first job line
T_LINE = 300        # s: one more job line
T_VIRSH = 600       # s: one virsh command (save and restore move ~50 MiB)
# The guest's own limit for a completion (TSC seconds): a FAIL after it.
GUEST_TIMEOUT = int(os.environ.get("MVF_QEMU_GUEST_TIMEOUT", "600"))
APPEND = f"every={EVERY} timeout={GUEST_TIMEOUT} vfs=1 fill=1"
DOWNTIME_MS = 120000    # virsh migrate-setmaxdowntime before the save
# libvirt's own mounts, each a tmpfs in the private namespace
LV_DIRS = ["/etc/libvirt", "/var/lib/libvirt", "/var/cache/libvirt",
           "/var/log/libvirt", "/run/libvirt"]
NS_MARK = "MVF_LIBVIRT_NS"

CASES = ["libvirt.managed.variant_driver",
         "libvirt.migrate.same_host_refused",
         "libvirt.save_restore",
         "libvirt.unmanaged.driver_override"]

# Root, no security driver, no cgroups, no namespaces: the test VM has
# neither AppArmor nor a cgroup mount nor a writable /dev for a private
# one.  stdio_handler=file: no virtlogd.
QEMU_CONF = """\
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
stdio_handler = "file"
"""

LIBVIRTD_CONF = """\
auth_unix_ro = "none"
auth_unix_rw = "none"
log_filters = "1:util.pci 1:hypervisor.virhostdev 1:qemu.qemu_hostdev \
1:qemu.qemu_migration 1:qemu.qemu_saveimage 1:qemu.qemu_monitor 2:qemu 3:*"
log_outputs = "1:file:/var/log/libvirt/libvirtd.log"
"""


def default_logs():
    if os.environ.get("MVF_LIBVIRT_LOGS"):
        return os.environ["MVF_LIBVIRT_LOGS"]
    if os.path.isdir("/tmp/out") and os.access("/tmp/out", os.W_OK):
        return "/tmp/out/mvf_libvirt_test"
    return os.path.join(WORK, "logs")


LOGS = default_logs()
T0 = time.monotonic()


def say(text):
    for l in str(text).splitlines():
        print(f"# [{time.monotonic() - T0:6.1f}] {l}", flush=True)


class Fail(mq.Error):
    pass


def run(argv, timeout=120, what=None):
    """Run ARGV; its stdout.  Fail with the last line of its stderr."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise Fail(f"{what or ' '.join(argv)}: no answer in {timeout} s") \
            from None
    if p.returncode != 0:
        err = [l for l in (p.stderr + p.stdout).splitlines() if l.strip()]
        raise Fail(f"{what or ' '.join(argv)}: "
                   f"{err[-1] if err else f'exit status {p.returncode}'}")
    return p.stdout


def virsh(*args, timeout=T_VIRSH):
    return run([VIRSH, "-c", URI] + list(args), timeout,
               "virsh " + " ".join(args))


def virsh_try(*args, timeout=T_VIRSH):
    """(status, stdout + stderr) of a virsh command that may fail."""
    p = subprocess.run([VIRSH, "-c", URI] + list(args), capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, (p.stdout + p.stderr).strip()


def kernel_log():
    return run(["dmesg"]).splitlines()


def mount_tmpfs(path):
    os.makedirs(path, exist_ok=True)
    run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", path])


def override_of(bdf):
    try:
        with open(f"{mq.SYS_PCI}/{bdf}/driver_override") as f:
            return f.read().strip()
    except OSError:
        return "?"


def release_vf(bdf):
    """No driver and no driver_override, as a VF nobody has claimed."""
    d = f"{mq.SYS_PCI}/{bdf}"
    if mq.driver_of(bdf):
        mq._write(f"{d}/driver/unbind", bdf)
    mq._write(f"{d}/driver_override", "\n")
    if mq.driver_of(bdf) or override_of(bdf) != "(null)":
        raise Fail(f"VF {bdf} still has driver {mq.driver_of(bdf)}, "
                   f"driver_override {override_of(bdf)}")


def bdf_xml(bdf):
    dom, bus, rest = bdf.split(":")
    slot, fn = rest.split(".")
    return (f"<address domain='0x{dom}' bus='0x{bus}' slot='0x{slot}' "
            f"function='0x{fn}'/>")


def domain_xml(bdf, con, managed="yes"):
    """The domain: TCG, q35, the guest with <os><kernel>, COM1 to a file,
    BDF as a managed hostdev.  vfio-pci needs enable-migration=on (no dirty
    tracking: QEMU would add a migration blocker) and, with the type1
    container under TCG, x-no-mmap=on (admin-guide.rst): libvirt has no
    element for either, <qemu:override> sets them on the device."""
    return f"""\
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{DOM}</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{GUEST}</kernel>
    <cmdline>{APPEND}</cmdline>
  </os>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>{mq.STOCK_QEMU}</emulator>
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path='{con}'/>
      <target port='0'/>
    </serial>
    <hostdev mode='subsystem' type='pci' managed='{managed}'>
      <source>
        {bdf_xml(bdf)}
      </source>
      <alias name='ua-vf0'/>
    </hostdev>
    <memballoon model='none'/>
  </devices>
  <qemu:override>
    <qemu:device alias='ua-vf0'>
      <qemu:frontend>
        <qemu:property name='enable-migration' type='string' value='on'/>
        <qemu:property name='x-no-mmap' type='bool' value='true'/>
      </qemu:frontend>
    </qemu:device>
  </qemu:override>
</domain>
"""


class Bench:
    """The private libvirt: its mounts, modules.alias, libvirtd."""

    def __init__(self, vfs):
        self.vfs = vfs
        self.daemon = None
        self.daemon_log = os.path.join(WORK, "libvirtd.out")
        self.alias = None

    def modules_alias(self):
        """depmod of $MVF_KMOD's modules into a tmpfs on /lib/modules: the
        file libvirt reads.  Its vfio_pci: lines."""
        rel = os.uname().release
        kmod = os.environ["MVF_KMOD"]
        mount_tmpfs("/lib/modules")
        extra = f"/lib/modules/{rel}/extra"
        os.makedirs(extra)
        kos = []
        for root, _, files in os.walk(kmod):
            for f in files:
                if f.endswith(".ko"):
                    shutil.copy(os.path.join(root, f), extra)
                    kos.append(f)
        run(["depmod", rel], what=f"depmod {rel}")
        self.alias = f"/lib/modules/{rel}/modules.alias"
        with open(self.alias) as f:
            lines = [l.strip() for l in f if l.startswith("alias vfio_pci:")]
        say(f"{self.alias} (depmod of {', '.join(sorted(kos))} from "
            f"{kmod}): " + ("; ".join(lines) or "no vfio_pci: alias"))
        return lines

    def start(self):
        for d in LV_DIRS:
            mount_tmpfs(d)
        with open("/etc/libvirt/qemu.conf", "w") as f:
            f.write(QEMU_CONF)
        with open("/etc/libvirt/libvirtd.conf", "w") as f:
            f.write(LIBVIRTD_CONF)
        os.makedirs("/var/log/libvirt/qemu", exist_ok=True)
        t = time.monotonic()
        with open(self.daemon_log, "w") as out:
            self.daemon = subprocess.Popen(
                [LIBVIRTD], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)

        def up():
            if self.daemon.poll() is not None:
                raise Fail(f"libvirtd exited with status "
                           f"{self.daemon.returncode}: {self.tail()}")
            return virsh_try("version", timeout=60)[0] == 0
        mq.wait_until(up, 120, "libvirtd to answer", poll=1)
        say(f"libvirtd up after {time.monotonic() - t:.1f} s: "
            + " ".join(virsh("version").split()[:12]))

    def tail(self):
        try:
            with open(self.daemon_log, errors="replace") as f:
                ls = [l.strip() for l in f if l.strip()]
            return " | ".join(ls[-2:]) or "nothing on its stderr"
        except OSError:
            return "no output file"

    def log_lines(self, needle):
        try:
            with open("/var/log/libvirt/libvirtd.log", errors="replace") as f:
                return [l.strip() for l in f if needle in l]
        except OSError:
            return []

    def choice(self, bdf):
        """What libvirt's log says it matched in modules.alias and bound
        BDF to."""
        m = self.log_lines("matching alias")
        t = re.sub(r".*(matching alias '[^']*').*", r"\1", m[-1]) if m \
            else "no vfio_pci: alias matched"
        b = self.log_lines(f"Device {bdf} is bound to")
        if b:
            t += ", " + re.sub(r".*(is bound to \S+).*", r"\1", b[-1])
        return t

    def last_migration(self):
        """QEMU's last completed query-migrate answer in libvirt's log
        (libvirt asks it while it saves)."""
        for l in reversed(self.log_lines('"status": "completed"')):
            m = re.search(r"reply=(\{.*\})\s*$", l)
            if m:
                try:
                    r = json.loads(m.group(1)).get("return", {})
                except ValueError:
                    continue
                if "ram" in r:
                    return r
        return None

    def stop(self):
        for cmd in (["destroy", DOM], ["undefine", DOM]):
            virsh_try(*cmd, timeout=120)
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.daemon.pid, signal.SIGKILL)
                self.daemon.wait(30)

    def keep_logs(self):
        os.makedirs(LOGS, exist_ok=True)
        for src in [self.daemon_log, "/var/log/libvirt/libvirtd.log",
                    f"/var/log/libvirt/qemu/{DOM}.log", self.alias or ""] + \
                [os.path.join(WORK, f) for f in os.listdir(WORK)
                 if f.endswith((".con", ".xml"))]:
            if src and os.path.exists(src):
                shutil.copy(src, LOGS)


class State:
    """What the cases hand on to each other."""
    src_log = None
    running = False


def case_variant_driver(b, st):
    vf = b.vfs[0]
    release_vf(vf)
    say(f"VF {vf}: driver {mq.driver_of(vf)}, driver_override "
        f"{override_of(vf)}, vhca_state {mq.vhca_state(vf)}")
    con = os.path.join(WORK, "src.con")
    xml = os.path.join(WORK, "domain.xml")
    with open(xml, "w") as f:
        f.write(domain_xml(vf, con))
    virsh("define", xml)
    t = time.monotonic()
    rc, out = virsh_try("start", DOM)
    if rc != 0:
        raise Fail(f"virsh start: {out.splitlines()[-1] if out else rc} "
                   f"(VF {vf} now: driver {mq.driver_of(vf)}; libvirt: "
                   f"{b.choice(vf)})")
    st.running = True
    drv = mq.driver_of(vf)
    say(f"virsh start {DOM}: {time.monotonic() - t:.1f} s; VF {vf}: driver "
        f"{drv}, driver_override {override_of(vf)}; libvirt: "
        f"{b.choice(vf)}")
    if drv != "mvf-vfio-pci":
        raise Fail(f"libvirt bound VF {vf} to {drv}, not mvf-vfio-pci "
                   f"({b.choice(vf)})")
    log = mq.GuestLog(con, "src")
    first = log.wait_job(EVERY, T_BOOT)
    log.wait_job(2 * EVERY, T_LINE)
    say(f"guest on VF {vf}: {first.text}")
    st.src_log = log


def case_migrate_refused(b, st):
    if not st.running:
        raise Fail("no running domain (the first case failed)")
    log = st.src_log
    before = log.last_job().job
    rc, out = virsh_try("migrate", "--live", DOM, URI, timeout=300)
    last = out.splitlines()[-1] if out else ""
    if rc == 0:
        raise Fail("virsh migrate to the same libvirtd succeeded; this "
                   "test expects libvirt to refuse it")
    if "same host" not in out:
        raise Fail(f"virsh migrate failed, but not because of the same "
                   f"host: {last}")
    say(f"virsh migrate --live {DOM} {URI}: {last}")
    state = virsh("domstate", DOM).strip()
    if state != "running":
        raise Fail(f"domain {state} after the refused migration")
    log.wait_job(before + 2 * EVERY, T_LINE * 2)
    say(f"domain {state}, the guest went on to job {log.last_job().job}")


def case_save_restore(b, st):
    if not st.running:
        raise Fail("no running domain (the first case failed)")
    src_vf = b.vfs[0]
    dst_vf = b.vfs[1]
    log = st.src_log
    log.wait_job(log.last_job().job + EVERY, T_LINE)
    # No dirty tracking: on the type1 container every dirty sync reports
    # all guest RAM dirty, the paused VM included, so with libvirt's
    # default 300 ms limit QEMU resends all of RAM round after round until
    # its bandwidth estimate happens to allow a stop (20 rounds, or until
    # the file's disk is full, on the bench).  A long limit ends it after
    # the first round: the VM is paused anyway.
    virsh("migrate-setmaxdowntime", DOM, str(DOWNTIME_MS))
    img = os.path.join(WORK, f"{DOM}.sav")
    t = time.monotonic()
    virsh("save", DOM, img)
    st.running = False
    save_s = time.monotonic() - t
    log.final()
    say(f"virsh save {DOM} {img}: {save_s:.1f} s, {os.path.getsize(img)} "
        f"bytes; the guest's last line before: job {log.last_job().job}")
    m = b.last_migration()
    if m is None:
        raise Fail("no completed migration of the save in libvirt's log")
    ram, vfio = m["ram"], m.get("vfio", {}).get("transferred", 0)
    say(f"QEMU (query-migrate, libvirt's log): vfio {vfio} bytes, ram "
        f"{ram.get('transferred')} bytes in {ram.get('dirty-sync-count')} "
        f"dirty syncs, downtime {m.get('downtime')} ms, total-time "
        f"{m.get('total-time')} ms")
    if not vfio:
        raise Fail("the save carried no VFIO device state (query-migrate "
                   "vfio transferred 0)")
    state = virsh("domstate", DOM).strip()
    drv = mq.driver_of(src_vf)
    say(f"domain {state}; VF {src_vf} given back: driver {drv}, "
        f"driver_override {override_of(src_vf)}")
    if drv == "mvf-vfio-pci":
        raise Fail(f"libvirt kept VF {src_vf} on mvf-vfio-pci after the "
                   "save")
    release_vf(dst_vf)
    con = os.path.join(WORK, "dst.con")
    xml = virsh("save-image-dumpxml", img)
    new = re.sub(r"<source>\s*<address [^>]*/>\s*</source>",
                 f"<source>{bdf_xml(dst_vf)}</source>", xml, count=1)
    new = new.replace(os.path.join(WORK, "src.con"), con)
    if new.count(bdf_xml(dst_vf)) != 1 or con not in new:
        raise Fail("could not put the other VF and console into the saved "
                   "XML (save-image-dumpxml)")
    rxml = os.path.join(WORK, "restore.xml")
    with open(rxml, "w") as f:
        f.write(new)
    klog = len(kernel_log())
    t = time.monotonic()
    rc, out = virsh_try("restore", img, "--xml", rxml)
    if rc != 0:
        raise Fail(f"virsh restore onto VF {dst_vf}: "
                   f"{out.splitlines()[-1] if out else rc} (VF now: driver "
                   f"{mq.driver_of(dst_vf)}; libvirt: {b.choice(dst_vf)})")
    st.running = True
    drv = mq.driver_of(dst_vf)
    say(f"virsh restore {img} --xml (VF {dst_vf}): "
        f"{time.monotonic() - t:.1f} s; VF {dst_vf}: driver {drv}; "
        f"domain {virsh('domstate', DOM).strip()}")
    if drv != "mvf-vfio-pci":
        raise Fail(f"libvirt bound VF {dst_vf} to {drv} for the restore, "
                   f"not mvf-vfio-pci")
    # QEMU 10.0 resets a device whose RESUMING -> RUNNING fails and runs
    # the VM on, and libvirt reports a successful restore: only the
    # driver's kernel log tells (the guest would time out much later).
    def refused():
        bad = [l for l in kernel_log()[klog:]
               if dst_vf in l and ("failed" in l or "refus" in l)]
        if bad:
            raise Fail(f"virsh restore succeeded, but the VF's driver "
                       f"refused the state: {bad[0]}")
    refused()
    dlog = mq.GuestLog(con, "dst", carry=log.partial)
    base = log.last_job().job
    try:
        dlog.wait_job(base + AFTER * EVERY, T_LINE * (AFTER + 1))
    except mq.Error:
        refused()
        raise
    r = mq.check_stream(log.lines, dlog.final(), EVERY, None, AFTER)
    say(f"stream: last job line before the save {r['last_src']}, after the "
        f"restore {r['first_dst']}..{r['last']}: {r['after']} job lines, no "
        "gap, no repeat, no reboot, no FAIL")


def case_unmanaged(b, st):
    """What libvirt before 10.0 needs: the VF bound to mvf-vfio-pci by hand
    (driver_override, as in admin-guide.rst), managed='no'; libvirt leaves
    the binding alone before, during and after."""
    virsh_try("destroy", DOM, timeout=120)
    virsh_try("undefine", DOM, timeout=120)
    st.running = False
    vf = b.vfs[0]
    release_vf(vf)
    mq.bind_vf(vf)
    con = os.path.join(WORK, "unmanaged.con")
    xml = os.path.join(WORK, "unmanaged.xml")
    with open(xml, "w") as f:
        f.write(domain_xml(vf, con, managed="no"))
    virsh("create", xml)
    drv = mq.driver_of(vf)
    if drv != "mvf-vfio-pci":
        raise Fail(f"VF {vf} on {drv} after virsh create with managed='no'")
    log = mq.GuestLog(con, "unmanaged")
    first = log.wait_job(EVERY, T_BOOT)
    log.wait_job(2 * EVERY, T_LINE)
    virsh("destroy", DOM)
    drv = mq.driver_of(vf)
    say(f"managed='no' on VF {vf} (bound by hand): {first.text}; after "
        f"virsh destroy the VF is on {drv}")
    if drv != "mvf-vfio-pci":
        raise Fail(f"libvirt moved the unmanaged VF {vf} to {drv}")


FNS = [case_variant_driver, case_migrate_refused, case_save_restore,
       case_unmanaged]


def prerequisites(vfs):
    """None, or what is missing."""
    if os.geteuid() != 0:
        return "not root"
    for p, what in ((LIBVIRTD, "libvirt-daemon"), (VIRSH, "libvirt-clients"),
                    (mq.STOCK_QEMU, "qemu-system-x86")):
        if not os.access(p, os.X_OK):
            return f"no {p} ({what} from bookworm-backports, scripts/deps.sh)"
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/libvirt/"
                          "connection-driver/libvirt_driver_qemu.so"):
        return "no libvirt QEMU driver (libvirt-daemon-driver-qemu)"
    v = run([LIBVIRTD, "--version"]).split()[-1]
    if int(v.split(".")[0]) < 10:
        return (f"libvirt {v}: automatic VFIO variant driver selection "
                "needs 10.0 or later (bookworm-backports has 11.3)")
    if not os.path.exists(GUEST):
        return f"no guest image {GUEST} (scripts/bench/build-selftests.sh)"
    if not os.environ.get("MVF_KMOD") or not os.path.isdir(
            os.environ["MVF_KMOD"]):
        return "MVF_KMOD (the directory of the loaded modules) is not set"
    if not os.path.isdir("/sys/module/mvf_vfio_pci"):
        return "mvf-vfio-pci is not loaded"
    if not os.path.isdir("/lib/modules"):
        return ("no /lib/modules to mount a tmpfs on (the VM's root is "
                "read-only; scripts/deps.sh creates it)")
    if len(vfs) < 2:
        return f"needs 2 MVF VFs in MVF_VFS, have {len(vfs)}"
    return None


def main(argv):
    if os.environ.get(NS_MARK) != "1" and os.geteuid() == 0:
        env = dict(os.environ, **{NS_MARK: "1"})
        os.execvpe("unshare", ["unshare", "--mount", "--propagation",
                               "private", sys.executable,
                               os.path.realpath(__file__)] + argv[1:], env)
    print("TAP version 13")
    print(f"1..{len(CASES)}", flush=True)
    vfs = os.environ.get("MVF_VFS", "").split()[:2]
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.rmtree(LOGS, ignore_errors=True)
    os.makedirs(WORK)
    pre = prerequisites(vfs)
    b = Bench(vfs)
    failed = 0
    if pre is None:
        try:
            say(f"libvirt {run([LIBVIRTD, '--version']).split()[-1]} "
                f"({LIBVIRTD}), QEMU {mq.version()} ({mq.STOCK_QEMU}), guest "
                f"{GUEST}, VFs {' '.join(vfs)}, logs in {LOGS}")
            if not any("v00006D76d00001001" in l for l in b.modules_alias()):
                say("no vfio_pci: alias for the MVF VF: libvirt will fall "
                    "back to vfio-pci")
            b.start()
        except Exception as e:          # the cases all fail with it
            pre = f"setting up libvirt: {e}"
    st = State()
    try:
        for i, (name, fn) in enumerate(zip(CASES, FNS), 1):
            t = time.monotonic()
            if pre:
                print(f"not ok {i} {name} - {pre}", flush=True)
                failed += 1
                continue
            try:
                fn(b, st)
                verdict = f"ok {i} {name}"
            except Exception as e:      # one failure never stops the others
                failed += 1
                msg = str(e).replace("#", "").replace("\n", " ")
                verdict = f"not ok {i} {name} - {msg} (logs: {LOGS})"
            say(f"{name}: {time.monotonic() - t:.0f} s")
            print(verdict, flush=True)
    finally:
        if pre is None or b.daemon:
            try:
                b.stop()
            except Exception as e:
                say(f"stopping libvirt: {e}")
            try:
                b.keep_logs()
            except Exception as e:
                say(f"keeping the logs: {e}")
        for v in vfs:
            try:
                mq.bind_vf(v)
            except Exception as e:
                say(f"binding {v} back to mvf-vfio-pci: {e}")
        say(f"in all: {time.monotonic() - T0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
