#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
#
# Register-level checks of the mvf-pf/mvf-vf QEMU model through the qtest
# protocol: no guest, no firmware.  The script plays the PCI enumerator and
# the drivers (config space, BARs, SR-IOV, command queue, VF queue pairs,
# save and load sessions of the migration stream between VFs) and checks
# every result against mvf_if.h.
#
#   qemu/tests/mvf_qtest.py /path/to/qemu-system-x86_64
#
# Exit status 0 when every check passed.

import base64
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

QEMU = sys.argv[1] if len(sys.argv) > 1 else 'qemu-system-x86_64'
HDR = __file__.rsplit('/', 3)[0] + '/include/linux/mvf/mvf_if.h'

# ---- constants from the header (so the test follows the contract) ----
def _parse_header():
    vals = {}
    txt = open(HDR).read()
    txt = re.sub(r'\\\n', ' ', txt)
    for m in re.finditer(r'#define\s+(MVF_\w+)\s+([^\n]+)', txt):
        name, expr = m.group(1), m.group(2)
        expr = re.sub(r'/\*.*?\*/', '', expr).strip()
        if '(' in name or not expr:
            continue
        expr = re.sub(r'(0x[0-9a-fA-F]+|\d+)u\b', r'\1', expr)
        expr = re.sub(r'\b(MVF_\w+)\b', r'V["\1"]', expr)
        try:
            vals[name] = eval(expr, {'V': vals})
        except Exception:
            pass
    return vals


V = _parse_header()
globals().update(V)


def MVF_VF_REG_CNT(i):
    return MVF_VF_REG_CNT_BASE + 8 * i


def MVF_VF_REG_SCRATCH(i):
    return MVF_VF_REG_SCRATCH_BASE + 4 * i

FAILS = 0
CHECKS = 0


def check(cond, what):
    global FAILS, CHECKS
    CHECKS += 1
    if not cond:
        FAILS += 1
        print('FAIL:', what, flush=True)


def eq(got, want, what):
    check(got == want, '%s: got %r want %r' % (what, got, want))


def fw_dir():
    # the machine wants its BIOS file even though qtest never runs it
    d = '/tmp/mvf-qtest-fw'
    os.makedirs(d, exist_ok=True)
    for src in ('/usr/share/seabios', '/usr/share/qemu'):
        for f in os.listdir(src) if os.path.isdir(src) else ():
            if not os.path.lexists(os.path.join(d, f)):
                os.symlink(os.path.join(src, f), os.path.join(d, f))
    return d


class Qmp:
    """A QMP client on QEMU's -qmp unix socket"""

    def __init__(self, path):
        for _ in range(100):
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                time.sleep(0.05)
        else:
            raise RuntimeError('no QMP socket at ' + path)
        self.f = self.s.makefile('rw')
        self._msg()                         # greeting
        self.cmd('qmp_capabilities')

    def _msg(self):
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError('QMP closed')
            m = json.loads(line)
            if 'event' not in m:
                return m

    def cmd(self, name, **args):
        """('return', value) or ('error', description)"""
        self.f.write(json.dumps({'execute': name, 'arguments': args}) + '\n')
        self.f.flush()
        m = self._msg()
        if 'error' in m:
            return 'error', m['error'].get('desc', '')
        return 'return', m.get('return')

    def close(self):
        self.s.close()


class QTest:
    def __init__(self, args):
        self.qmp_dir = tempfile.mkdtemp(prefix='mvf-qtest-')
        self.qmp_path = os.path.join(self.qmp_dir, 'qmp.sock')
        self._qmp = None
        self.p = subprocess.Popen([QEMU, '-qtest', 'stdio', '-qtest-log',
                                   '/dev/null', '-L', fw_dir(),
                                   '-display', 'none',
                                   '-nodefaults', '-machine', 'q35',
                                   '-m', '512M', '-accel', 'qtest',
                                   '-qmp', 'unix:%s,server=on,wait=off'
                                   % self.qmp_path] + args,
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

    def qmp(self, name, **args):
        if self._qmp is None:
            self._qmp = Qmp(self.qmp_path)
        return self._qmp.cmd(name, **args)

    def cmd(self, s):
        self.p.stdin.write(s + '\n')
        while True:
            r = self.p.stdout.readline()
            if not r:
                raise RuntimeError('qemu died on: ' + s)
            if r.startswith('IRQ'):
                continue
            r = r.strip()
            if not r.startswith('OK'):
                raise RuntimeError('%s -> %s' % (s, r))
            return r[3:]

    def outl(self, a, v): self.cmd('outl 0x%x 0x%x' % (a, v))
    def inl(self, a): return int(self.cmd('inl 0x%x' % a), 16)
    def rl(self, a): return int(self.cmd('readl 0x%x' % a), 16)
    def wl(self, a, v): self.cmd('writel 0x%x 0x%x' % (a, v & 0xffffffff))
    def rq(self, a): return int(self.cmd('readq 0x%x' % a), 16)
    def wq(self, a, v): self.cmd('writeq 0x%x 0x%x' % (a, v))
    def rb(self, a): return int(self.cmd('readb 0x%x' % a), 16)
    def wb(self, a, v): self.cmd('writeb 0x%x 0x%x' % (a, v))
    def rw(self, a): return int(self.cmd('readw 0x%x' % a), 16)
    def ww(self, a, v): self.cmd('writew 0x%x 0x%x' % (a, v))

    def read(self, a, n):
        return base64.b64decode(self.cmd('b64read 0x%x 0x%x' % (a, n)))

    def write(self, a, data):
        if data:
            self.cmd('b64write 0x%x 0x%x %s' % (a, len(data),
                     base64.b64encode(data).decode()))

    def memset(self, a, n, v=0):
        self.cmd('memset 0x%x 0x%x 0x%x' % (a, n, v))

    def step(self):
        self.cmd('clock_step 1000')

    def quit(self):
        try:
            if self._qmp:
                self._qmp.close()
            self.p.stdin.close()
            self.p.terminate()
            self.p.wait(timeout=30)
        finally:
            if self.p.poll() is None:
                self.p.kill()
            for f in os.listdir(self.qmp_dir):
                os.unlink(os.path.join(self.qmp_dir, f))
            os.rmdir(self.qmp_dir)


ECAM = 0xb0000000
PF_BAR0 = 0xc0000000
PF_MSIX = 0xc0010000
VF_BAR0 = 0xc0100000
VF_MSIX = 0xc0200000
VF_MEM = 0x800000000
DEVMEM = 1 << 20
NVF = 8

CMDQ = 0x200000
EQ = 0x210000
MSI_PF = 0x9000
MSI_VF = 0x9100
SCR = 0x1000000     # scratch area for buffers
CAPS = MVF_CAP_MIGRATION | MVF_CAP_P2P | MVF_CAP_PRE_COPY  # a stream's
DEV_CAPS = CAPS | MVF_CAP_DIRTY_TRACK                       # the device's


def cfg(bus, devfn, reg):
    return ECAM + (bus << 20) + (devfn << 12) + reg


def find_cap(q, bus, devfn, cid):
    p = q.rb(cfg(bus, devfn, 0x34))
    while p:
        if q.rb(cfg(bus, devfn, p)) == cid:
            return p
        p = q.rb(cfg(bus, devfn, p + 1))
    return 0


def find_ecap(q, bus, devfn, cid):
    p = 0x100
    while p:
        h = q.rl(cfg(bus, devfn, p))
        if h & 0xffff == cid:
            return p
        p = h >> 20
    return 0


def msix_enable(q, bus, devfn, table_bar, vectors, base_addr):
    cap = find_cap(q, bus, devfn, 0x11)
    check(cap != 0, 'MSI-X capability %x' % devfn)
    ctl = q.rw(cfg(bus, devfn, cap + 2))
    eq((ctl & 0x7ff) + 1, vectors, 'MSI-X table size of %x' % devfn)
    q.ww(cfg(bus, devfn, cap + 2), ctl | 0x8000)
    tbl = q.rl(cfg(bus, devfn, cap + 4)) & ~7
    for v in range(vectors):
        e = table_bar + tbl + 16 * v
        q.wl(e, base_addr + 4 * v)
        q.wl(e + 4, 0)
        q.wl(e + 8, 0xabc0 + v)
        q.wl(e + 12, 0)


class Bench:
    def __init__(self, extra='', pre=(), devmem=DEVMEM):
        self.frozen_events = []     # (vhca_id, data) of FROZEN_ACCESS events
        self.devmem = devmem
        self.q = q = QTest(list(pre) +
                           ['-device', 'pcie-root-port,id=rp1,chassis=1,addr=2',
                            '-device', 'mvf-pf,id=pf1,bus=rp1,devmem-size=%d%s'
                            % (devmem, extra)])
        # MCH: ECAM at 0xb0000000, 256 buses
        q.outl(0xcf8, 0x80000000 | 0x60)
        q.outl(0xcfc, ECAM | 1)
        q.outl(0xcf8, 0x80000000 | 0x64)
        q.outl(0xcfc, 0)
        rp = 2 << 3
        q.wl(cfg(0, rp, 0x18), 0x010100)
        q.wl(cfg(0, rp, 0x20), 0xc0f0c000)
        q.wl(cfg(0, rp, 0x24), 0xfff00000)
        q.wl(cfg(0, rp, 0x28), 8)
        q.wl(cfg(0, rp, 0x2c), 0xf)     # prefetchable 32 GiB .. 64 GiB
        q.ww(cfg(0, rp, 0x04), 0x6)
        exp = find_cap(q, 0, rp, 0x10)
        q.ww(cfg(0, rp, exp + 0x28), q.rw(cfg(0, rp, exp + 0x28)) | 0x20)
        self.pf_config()

    def pf_config(self):
        """What the OS sets up in the PF's config space (also after FLR)"""
        q = self.q
        q.wl(cfg(1, 0, 0x10), PF_BAR0)
        q.wl(cfg(1, 0, 0x14), 0)
        q.wl(cfg(1, 0, 0x18), PF_MSIX)
        q.ww(cfg(1, 0, 0x04), 0x6)
        msix_enable(q, 1, 0, PF_MSIX, MVF_PF_MSIX_VECTORS, MSI_PF)
        self.sriov = find_ecap(q, 1, 0, 0x10)
        check(self.sriov != 0, 'SR-IOV capability')
        s = self.sriov
        q.wl(cfg(1, 0, s + 0x24), VF_BAR0)
        q.wl(cfg(1, 0, s + 0x28), 0)
        q.wl(cfg(1, 0, s + 0x2c), VF_MEM & 0xffffffff)
        q.wl(cfg(1, 0, s + 0x30), VF_MEM >> 32)
        q.wl(cfg(1, 0, s + 0x34), VF_MSIX)

    def enable_vfs(self, n):
        q, s = self.q, self.sriov
        q.ww(cfg(1, 0, s + 0x08), 0x10)
        q.ww(cfg(1, 0, s + 0x10), n)
        q.ww(cfg(1, 0, s + 0x08), 0x19)
        for i in range(1, n + 1):
            q.ww(cfg(1, i, 0x04), 0x6)
            msix_enable(q, 1, i, VF_MSIX + (i - 1) * 0x1000,
                        MVF_VF_MSIX_VECTORS, MSI_VF + 16 * i)

    def pf_enable(self, cmdq_log=4, eq_log=4):
        q = self.q
        self.cmdq_log, self.eq_log = cmdq_log, eq_log
        q.wl(PF_BAR0 + MVF_PF_REG_CTRL, MVF_PF_CTRL_RESET)
        q.memset(CMDQ, 64 << cmdq_log)
        q.memset(EQ, 16 << eq_log)
        q.wl(PF_BAR0 + MVF_PF_REG_CMDQ_BASE_LO, CMDQ)
        q.wl(PF_BAR0 + MVF_PF_REG_CMDQ_BASE_HI, 0)
        q.wl(PF_BAR0 + MVF_PF_REG_CMDQ_LOG_SIZE, cmdq_log)
        q.wl(PF_BAR0 + MVF_PF_REG_EQ_BASE_LO, EQ)
        q.wl(PF_BAR0 + MVF_PF_REG_EQ_BASE_HI, 0)
        q.wl(PF_BAR0 + MVF_PF_REG_EQ_LOG_SIZE, eq_log)
        q.wl(PF_BAR0 + MVF_PF_REG_CTRL, MVF_PF_CTRL_ENABLE)
        self.pi = 0
        self.eq_ci = 0
        self.token = 0x100

    # one command entry: returns the slot address
    def post(self, op, vhca=0, ins=(), sgl=0, sgl_len=0, data_len=0,
             flags=MVF_CMD_F_EVENT, rsvd=b'\0\0\0', ring=True):
        q = self.q
        slot = CMDQ + 64 * (self.pi & ((1 << self.cmdq_log) - 1))
        self.token += 1
        ins = list(ins) + [0] * (4 - len(ins))
        e = struct.pack('<HHHBBB3sI4I4IQII', op, vhca, self.token, flags,
                        MVF_CMD_OWN_HW, 0xee, rsvd, 0xdeadbeef, *ins,
                        0, 0, 0, 0, sgl, sgl_len, data_len)
        assert len(e) == 64
        q.write(slot, e)
        self.pi = (self.pi + 1) & 0xffff
        if ring:
            self.ring()
        return slot

    def ring(self):
        self.q.wl(PF_BAR0 + MVF_PF_REG_CMDQ_PI, self.pi)

    def wait_entry(self, slot, tries=200):
        for _ in range(tries):
            if self.q.rb(slot + 7) == 0:
                e = self.q.read(slot, 64)
                f = struct.unpack('<HHHBBB3sI4I4IQII', e)
                return f[5], f[7], list(f[12:16])
            self.q.step()
        return None

    def next_event(self, frozen=False):
        # FROZEN_ACCESS events go to self.frozen_events unless @frozen
        q = self.q
        while True:
            slot = EQ + 16 * (self.eq_ci & ((1 << self.eq_log) - 1))
            phase = ((self.eq_ci >> self.eq_log) & 1) ^ 1
            e = q.read(slot, 16)
            t, ph, vh, tok, idx, data = struct.unpack('<BBHHHQ', e)
            if ph != phase:
                return None
            self.eq_ci += 1
            q.wl(PF_BAR0 + MVF_PF_REG_EQ_CI, self.eq_ci)
            if t == MVF_EVENT_FROZEN_ACCESS and not frozen:
                check(tok == 0 and idx == 0, 'FROZEN_ACCESS token/index 0')
                self.frozen_events.append((vh, data))
                continue
            return t, vh, tok, idx, data

    def take_frozen_events(self):
        # every FROZEN_ACCESS event posted so far, consumed
        for _ in range(5):
            self.q.step()
        while self.next_event() is not None:
            pass
        ev, self.frozen_events = self.frozen_events, []
        return ev

    def run(self, op, vhca=0, tries=200, **kw):
        slot = self.post(op, vhca, **kw)
        r = self.wait_entry(slot, tries)
        check(r is not None, 'command 0x%x completes' % op)
        if r is None:
            return (None, None, [0] * 4)
        if kw.get('flags', MVF_CMD_F_EVENT) & MVF_CMD_F_EVENT:
            ev = self.next_event()
            check(ev is not None and ev[0] == MVF_EVENT_CMD_DONE and
                  ev[2] == self.token and
                  ev[3] == (self.pi - 1) & ((1 << self.cmdq_log) - 1),
                  'CMD_DONE event for 0x%x: %r' % (op, ev))
        return r

    def expect(self, want_stat, want_synd, op, vhca=0, **kw):
        st, sy, out = self.run(op, vhca, **kw)
        eq((st, sy), (want_stat, want_synd),
           'op 0x%x vhca %d status/syndrome' % (op, vhca))
        return out


def vf_bar(i):
    return VF_BAR0 + (i - 1) * 0x1000


def vf_mem(i, devmem=DEVMEM):
    return VF_MEM + (i - 1) * devmem


# ------------------------------------------------------------------ #

def test_identity(b):
    q = b.q
    eq(q.rl(cfg(1, 0, 0)), MVF_PCI_VENDOR_ID | MVF_PCI_DEVICE_ID_PF << 16,
       'PF vendor/device')
    eq(q.rb(cfg(1, 0, 8)), MVF_PCI_REVISION, 'PF revision')
    s = b.sriov
    eq(q.rw(cfg(1, 0, s + 0x0e)), NVF, 'TotalVFs')
    eq(q.rw(cfg(1, 0, s + 0x14)), 1, 'VF offset')
    eq(q.rw(cfg(1, 0, s + 0x16)), 1, 'VF stride')
    eq(q.rw(cfg(1, 0, s + 0x1a)), MVF_PCI_DEVICE_ID_VF, 'VF device id')
    check(find_ecap(q, 1, 0, 0x0e) != 0, 'PF ARI capability')
    exp = find_cap(q, 1, 0, 0x10)
    check(q.rl(cfg(1, 0, exp + 4)) & (1 << 28), 'PF FLR capable')
    eq(q.rl(PF_BAR0 + MVF_PF_REG_MAGIC), MVF_MAGIC_PF, 'PF magic')
    eq(q.rl(PF_BAR0 + MVF_PF_REG_VERSION), MVF_IF_VERSION, 'PF version')
    eq(q.rl(PF_BAR0 + MVF_PF_REG_CAPS), DEV_CAPS, 'PF caps')
    eq(CAPS, DEV_CAPS & MVF_CAP_STREAM_MASK, 'stream caps: the masked ones')
    eq(q.rl(PF_BAR0 + MVF_PF_REG_MAX_VFS), NVF, 'MAX_VFS')
    eq(q.rl(PF_BAR0 + MVF_PF_REG_DEVMEM_SIZE_LO), DEVMEM, 'DEVMEM lo')
    eq(q.rl(PF_BAR0 + MVF_PF_REG_DEVMEM_SIZE_HI), 0, 'DEVMEM hi')


def test_setup_errors(b):
    q = b.q
    q.wl(PF_BAR0 + MVF_PF_REG_CTRL, MVF_PF_CTRL_RESET)
    q.wl(PF_BAR0 + MVF_PF_REG_CMDQ_LOG_SIZE, 9)
    q.wl(PF_BAR0 + MVF_PF_REG_EQ_LOG_SIZE, 4)
    q.wl(PF_BAR0 + MVF_PF_REG_CTRL, MVF_PF_CTRL_ENABLE)
    eq(q.rl(PF_BAR0 + MVF_PF_REG_STATUS), MVF_PF_STATUS_FATAL,
       'cmdq log 9 -> FATAL')
    q.wl(PF_BAR0 + MVF_PF_REG_CTRL, MVF_PF_CTRL_RESET)
    eq(q.rl(PF_BAR0 + MVF_PF_REG_STATUS), 0, 'RESET clears FATAL')
    q.wl(PF_BAR0 + MVF_PF_REG_CMDQ_LOG_SIZE, 4)
    q.wl(PF_BAR0 + MVF_PF_REG_EQ_LOG_SIZE, 13)
    q.wl(PF_BAR0 + MVF_PF_REG_CTRL, MVF_PF_CTRL_ENABLE)
    eq(q.rl(PF_BAR0 + MVF_PF_REG_STATUS), MVF_PF_STATUS_FATAL,
       'eq log 13 -> FATAL')
    b.pf_enable()
    eq(q.rl(PF_BAR0 + MVF_PF_REG_STATUS), MVF_PF_STATUS_READY, 'READY')


def test_basic_cmds(b):
    q = b.q
    q.wl(MSI_PF, 0)
    out = b.expect(MVF_CMD_STAT_OK, 0, MVF_CMD_QUERY_CAPS)
    eq(out, [DEV_CAPS, NVF, DEVMEM, 0], 'QUERY_CAPS')
    eq(q.rl(MSI_PF), 0xabc0 + MVF_PF_EQ_VECTOR, 'EQ MSI-X message')
    b.expect(MVF_CMD_STAT_OK, 0, MVF_CMD_NOP)
    b.expect(MVF_CMD_STAT_BAD_OPCODE, MVF_SYND_BAD_OPCODE, 0x77)
    b.expect(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_RSVD_NOT_ZERO, MVF_CMD_NOP,
             rsvd=b'\0\1\0')
    b.expect(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_RSVD_NOT_ZERO, MVF_CMD_NOP,
             flags=MVF_CMD_F_EVENT | 0x80)
    b.expect(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_RSVD_NOT_ZERO,
             MVF_CMD_SUSPEND_VHCA, 1, ins=(1, 5))
    b.expect(MVF_CMD_STAT_BAD_RESOURCE, MVF_SYND_BAD_VHCA,
             MVF_CMD_QUERY_VHCA_MIGRATION_STATE, NVF + 1)
    b.expect(MVF_CMD_STAT_BAD_RESOURCE, MVF_SYND_VF_DISABLED,
             MVF_CMD_QUERY_VHCA_MIGRATION_STATE, 1)
    b.expect(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_VHCA,
             MVF_CMD_SUSPEND_VHCA, 0, ins=(1,))
    # without an event: entry written back, no EQE
    st, sy, out = b.run(MVF_CMD_NOP, flags=0)
    eq((st, sy), (0, 0), 'NOP without event')
    check(b.next_event() is None, 'no event without F_EVENT')


def test_eq_full(b):
    q = b.q
    b.pf_enable(cmdq_log=3, eq_log=2)       # 4 events
    slots = [b.post(MVF_CMD_NOP) for _ in range(6)]
    for _ in range(5):
        q.step()
    done = [q.rb(s + 7) == 0 for s in slots]
    eq(done, [True] * 4 + [False] * 2, 'EQ full stalls the 5th command')
    eq(q.rl(PF_BAR0 + MVF_PF_REG_CMDQ_CI), 6, 'CMDQ_CI: all 6 fetched')
    for i in range(4):
        check(b.next_event() is not None, 'event %d' % i)
    for _ in range(5):
        q.step()
    eq([q.rb(s + 7) == 0 for s in slots], [True] * 6, 'resumed on EQ_CI')
    for i in range(2):
        ev = b.next_event()
        check(ev is not None and ev[3] == (4 + i) % 8,
              'event after wrap %r' % (ev,))
    # doorbell past the ring -> FATAL
    q.wl(PF_BAR0 + MVF_PF_REG_CMDQ_PI, (b.pi + 9) & 0xffff)
    eq(q.rl(PF_BAR0 + MVF_PF_REG_STATUS), MVF_PF_STATUS_FATAL,
       'PI beyond ring -> FATAL')
    b.pf_enable()


def suspend(b, vhca, mode, st=0, sy=0):
    b.expect(st, sy, MVF_CMD_SUSPEND_VHCA, vhca, ins=(mode,))


def resume(b, vhca, mode, st=0, sy=0):
    b.expect(st, sy, MVF_CMD_RESUME_VHCA, vhca, ins=(mode,))


def mig_state(b, vhca):
    out = b.expect(0, 0, MVF_CMD_QUERY_VHCA_MIGRATION_STATE, vhca)
    return out[0] | out[1] << 32, out[2]


def test_states(b):
    I, R = MVF_SUSPEND_INITIATOR, MVF_SUSPEND_RESPONDER
    size, st = mig_state(b, 1)
    # all-zero device memory: IDENT, SIZE, one ZERO record, STATE, END
    eq((size, st), (REC_IDENT + REC_SIZE + ZERO_REC + REC_STATE + REC_END, 0),
       'QUERY_VHCA_MIGRATION_STATE live, zero devmem')
    suspend(b, 1, R, MVF_CMD_STAT_BAD_STATE, MVF_SYND_NOT_QUIESCED)
    suspend(b, 1, 3, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_MODE)
    resume(b, 1, 0, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_MODE)
    b.expect(MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_SESSION,
             MVF_CMD_SAVE_VHCA_STATE, 1, sgl=SCR, sgl_len=16, data_len=4096)
    b.expect(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_RSVD_NOT_ZERO,
             MVF_CMD_SAVE_VHCA_STATE, 1, ins=(4,), sgl=SCR, sgl_len=16,
             data_len=4096)
    b.expect(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_RSVD_NOT_ZERO,
             MVF_CMD_QUERY_VHCA_MIGRATION_STATE, 1, ins=(2,))
    b.expect(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_RSVD_NOT_ZERO,
             MVF_CMD_LOAD_VHCA_STATE, 1, ins=(0, 1), sgl=SCR, sgl_len=16,
             data_len=4096)
    suspend(b, 1, I)
    suspend(b, 1, I)
    eq(mig_state(b, 1)[1], MVF_VHCA_STATE_QUIESCED, 'quiesced')
    eq(b.q.rl(vf_bar(1) + MVF_VF_REG_STATUS), MVF_VF_STATUS_QUIESCED,
       'VF STATUS quiesced')
    suspend(b, 1, R)
    suspend(b, 1, R)
    eq(mig_state(b, 1)[1], MVF_VHCA_STATE_QUIESCED | MVF_VHCA_STATE_FROZEN,
       'frozen')
    resume(b, 1, I, MVF_CMD_STAT_BAD_STATE, MVF_SYND_STILL_FROZEN)
    # frozen: register and devmem accesses are trapped (test_frozen_trap)
    q = b.q
    q.wl(vf_bar(1) + MVF_VF_REG_SCRATCH(0), 0x1234)
    eq(q.rl(vf_bar(1) + MVF_VF_REG_SCRATCH(0)), 0xffffffff, 'frozen scratch')
    q.wl(vf_mem(1) + 64, 0x1234)
    eq(q.rl(vf_mem(1) + 64), 0xffffffff, 'frozen devmem')
    resume(b, 1, R)
    eq(q.rl(vf_bar(1) + MVF_VF_REG_SCRATCH(0)), 0, 'frozen write dropped')
    eq(q.rl(vf_mem(1) + 64), 0, 'frozen devmem write dropped')
    ev = b.take_frozen_events()
    eq([v for v, _ in ev], [1], 'one FROZEN_ACCESS event for VF1')
    check(all(1 <= d <= 4 for _, d in ev), 'event data %r' % (ev,))
    resume(b, 1, R)
    resume(b, 1, I)
    resume(b, 1, I)
    eq(mig_state(b, 1)[1], 0, 'live again')
    q.wl(vf_bar(1) + MVF_VF_REG_SCRATCH(0), 0x5a5a)
    eq(q.rl(vf_bar(1) + MVF_VF_REG_SCRATCH(0)), 0x5a5a, 'scratch rw')


def frozen_count(b, vhca):
    return b.expect(0, 0, MVF_CMD_QUERY_VHCA_MIGRATION_STATE, vhca)[3]


def flr(b, i):
    q = b.q
    exp = find_cap(q, 1, i, 0x10)
    q.ww(cfg(1, i, exp + 8), q.rw(cfg(1, i, exp + 8)) | 0x8000)


def test_frozen_trap(b):
    """Every access that reaches a frozen VF's BAR0/BAR2 is trapped."""
    q = b.q
    I, R = MVF_SUSPEND_INITIATOR, MVF_SUSPEND_RESPONDER
    r1, m1 = vf_bar(1), vf_mem(1)
    pattern = bytes((i * 7) & 0xff for i in range(4096))
    q.write(m1 + 0x1000, pattern)
    q.wl(r1 + MVF_VF_REG_SCRATCH(1), 0x600d)
    n = 4       # test_states' accesses: kept until a function reset
    eq(frozen_count(b, 1), n, 'count of the earlier freeze kept')
    suspend(b, 1, I)
    suspend(b, 1, R)
    eq(frozen_count(b, 1), n, 'freezing is no access')
    before = save_whole(b, 1)

    # CPU accesses, each counted once whatever its size
    eq(q.rl(r1 + MVF_VF_REG_SCRATCH(1)), 0xffffffff, 'BAR0 read all-ones')
    q.wl(r1 + MVF_VF_REG_SCRATCH(1), 0xbad)
    eq(q.rq(r1 + MVF_VF_REG_CNT(0)), (1 << 64) - 1, 'BAR0 readq all-ones')
    q.wq(r1 + MVF_VF_REG_SCRATCH(2), 0x1111222233334444)
    q.wl(r1 + MVF_VF_REG_CTRL, MVF_VF_CTRL_QP_ENABLE)
    n += 5
    eq(q.rl(m1 + 64), 0xffffffff, 'BAR2 read all-ones')
    q.wl(m1 + 64, 0x1234)
    q.wb(m1 + 3, 0x55)
    eq(q.rw(m1 + 5), 0xffff, 'BAR2 unaligned read all-ones')
    q.wq(m1 + 0x1008, 0)
    n += 5
    q.write(m1 + 0x1000, b'\0' * 4096)       # 512 accesses of 8 bytes
    eq(q.read(m1 + 0x1000, 64), b'\xff' * 64, 'BAR2 block read all-ones')
    n += 512 + 8
    # neither MSI-X nor config space is trapped
    eq(q.rl(VF_MSIX + 8), 0xabc0, 'MSI-X table readable while frozen')
    eq(q.rb(cfg(1, 1, 8)), MVF_PCI_REVISION,
       'config space readable while frozen')
    eq(frozen_count(b, 1), n, 'frozen_accesses after CPU accesses')

    # a peer's DMA reaches the frozen BAR2 and is trapped the same way
    qp2 = Qp(b, 2, 0x600000)
    q.write(vf_mem(2), b'\xa5' * 256)
    qp2.send(MVF_WQE_DEVMEM_READ, 256, m1 + 0x1000, 0, wr_id=1)
    qp2.send(MVF_WQE_DEVMEM_WRITE, 128, m1 + 0x1100, 0x100, wr_id=2)
    c = qp2.poll(2)
    eq([(x['wr_id'], x['status'], x['byte_cnt']) for x in c],
       [(1, 0, 256), (2, 0, 128)], 'peer DMA completes')
    eq(q.read(vf_mem(2) + 0x100, 128), b'\xff' * 128,
       'peer DMA read of a frozen BAR2 gets all-ones')
    n += 256 // 8 + 128 // 8
    eq(frozen_count(b, 1), n, 'frozen_accesses after peer DMA')
    ev = b.take_frozen_events()
    eq([v for v, _ in ev], [1], 'one FROZEN_ACCESS event per freeze')
    check(all(1 <= d <= n for _, d in ev), 'event data %r' % (ev,))

    # nothing of the VF changed: its image is byte for byte the same
    check(save_whole(b, 1) == before,
          'stream identical after the accesses')
    resume(b, 1, R)
    eq(q.rl(r1 + MVF_VF_REG_SCRATCH(1)), 0x600d, 'BAR0 writes dropped')
    eq(q.rl(r1 + MVF_VF_REG_SCRATCH(2)), 0, 'BAR0 writeq dropped')
    eq(q.rl(r1 + MVF_VF_REG_CTRL), 0, 'CTRL write dropped')
    eq(q.read(m1 + 0x1000, 4096), pattern, 'BAR2 writes dropped')
    eq(q.rl(m1 + 64), 0, 'BAR2 writel dropped')
    eq(frozen_count(b, 1), n, 'thawed: count kept, live accesses free')

    # the count saturates at 2^32 - 1 (not reached here); a new freeze
    # period reports its first access again
    suspend(b, 1, R)
    q.rl(m1)
    resume(b, 1, R)
    eq(frozen_count(b, 1), n + 1, 'counts across freeze periods')
    eq([v for v, _ in b.take_frozen_events()], [1],
       'a new freeze period posts a new event')

    # an event waits for room in a full event queue
    b.pf_enable(cmdq_log=3, eq_log=2)
    suspend(b, 1, R)
    for _ in range(4):
        b.post(MVF_CMD_NOP)
    for _ in range(5):
        q.step()
    q.rl(r1)
    for _ in range(5):
        q.step()
    for i in range(4):
        ev = b.next_event(frozen=True)
        check(ev is not None and ev[0] == MVF_EVENT_CMD_DONE,
              'EQ full of CMD_DONE %d: %r' % (i, ev))
    for _ in range(5):
        q.step()
    ev = b.next_event(frozen=True)
    check(ev is not None and ev[:2] == (MVF_EVENT_FROZEN_ACCESS, 1),
          'FROZEN_ACCESS posted once the EQ has room: %r' % (ev,))
    b.pf_enable()
    resume(b, 1, R)
    resume(b, 1, I)

    # FLR and VF enable clear the count
    flr(b, 1)
    eq(frozen_count(b, 1), 0, 'FLR clears frozen_accesses')
    suspend(b, 2, I)
    suspend(b, 2, R)
    q.rl(vf_bar(2))
    eq(frozen_count(b, 2), 1, 'VF2 counts its own')
    eq(b.take_frozen_events(), [(2, 1)], 'VF2 event names vhca 2')
    b.enable_vfs(2)
    eq(frozen_count(b, 2), 0, 'VF enable clears frozen_accesses')
    eq(mig_state(b, 2)[1], 0, 'VF enable thaws')


class Qp:
    """Driver side of one VF queue pair."""

    def __init__(self, b, vf, base, log=4):
        self.b, self.q, self.vf, self.log = b, b.q, vf, log
        self.sq, self.rq, self.cq = base, base + 0x1000, base + 0x2000
        self.bufs = base + 0x4000
        self.sq_pi = self.rq_pi = self.cq_ci = 0
        q, r = self.q, vf_bar(vf)
        q.memset(base, 0x4000)
        for name, addr in (('SQ', self.sq), ('RQ', self.rq), ('CQ', self.cq)):
            q.wl(r + V['MVF_VF_REG_%s_BASE_LO' % name], addr)
            q.wl(r + V['MVF_VF_REG_%s_BASE_HI' % name], 0)
            q.wl(r + V['MVF_VF_REG_%s_LOG_SIZE' % name], log)
        q.wl(r + MVF_VF_REG_CTRL, MVF_VF_CTRL_QP_ENABLE | MVF_VF_CTRL_CQ_IRQ)

    def reg(self, off):
        return self.q.rl(vf_bar(self.vf) + off)

    def send(self, op, length=0, addr=0, off=0, wr_id=0, flags=0, ring=True):
        slot = self.sq + 32 * (self.sq_pi & ((1 << self.log) - 1))
        self.q.write(slot, struct.pack('<BBHIQQQ', op, flags, 0, length, addr,
                                       off, wr_id))
        self.sq_pi = (self.sq_pi + 1) & 0xffffffff
        if ring:
            self.q.wl(vf_bar(self.vf) + MVF_VF_REG_SQ_PI, self.sq_pi)

    def recv(self, addr, length, wr_id):
        slot = self.rq + 32 * (self.rq_pi & ((1 << self.log) - 1))
        self.q.write(slot, struct.pack('<QIIQQ', addr, length, 0, wr_id, 0))
        self.rq_pi += 1
        self.q.wl(vf_bar(self.vf) + MVF_VF_REG_RQ_PI, self.rq_pi)

    def poll(self, n, tries=50):
        got = []
        for _ in range(tries):
            while len(got) < n:
                slot = self.cq + 32 * (self.cq_ci & ((1 << self.log) - 1))
                e = self.q.read(slot, 32)
                f = struct.unpack('<QIBBBBIIQ', e)
                if f[5] != ((self.cq_ci >> self.log) & 1) ^ 1:
                    break
                got.append(dict(wr_id=f[0], byte_cnt=f[1], opcode=f[2],
                                status=f[3], qtype=f[4], index=f[6]))
                self.cq_ci += 1
            if len(got) >= n:
                break
            self.q.step()
        self.q.wl(vf_bar(self.vf) + MVF_VF_REG_CQ_CI, self.cq_ci)
        return got


def test_qp(b):
    q = b.q
    r = vf_bar(1)
    eq(q.rl(r + MVF_VF_REG_MAGIC), MVF_MAGIC_VF, 'VF magic')
    eq(q.rl(r + MVF_VF_REG_DEVMEM_SIZE_LO), DEVMEM, 'VF devmem size')
    qp = Qp(b, 1, 0x300000)
    data = bytes(range(256)) * 16
    q.write(SCR, data)
    q.wl(MSI_VF + 16, 0)
    qp.send(MVF_WQE_DEVMEM_WRITE, len(data), SCR, 0x800, wr_id=11)
    c = qp.poll(1)
    eq([(x['wr_id'], x['status'], x['byte_cnt'], x['opcode'], x['qtype'])
        for x in c], [(11, 0, 4096, MVF_WQE_DEVMEM_WRITE, MVF_CQE_Q_SQ)],
       'DEVMEM_WRITE CQE')
    eq(q.read(vf_mem(1) + 0x800, 4096), data, 'devmem through BAR2')
    eq(q.rl(MSI_VF + 16), 0xabc0, 'VF CQ MSI-X')
    q.write(vf_mem(1) + 0x2000, b'hello devmem')
    qp.send(MVF_WQE_DEVMEM_READ, 12, SCR + 0x2000, 0x2000, wr_id=12)
    qp.send(MVF_WQE_NOP, wr_id=13)
    c = qp.poll(2)
    eq([(x['wr_id'], x['status']) for x in c], [(12, 0), (13, 0)],
       'READ+NOP CQEs')
    eq(q.read(SCR + 0x2000, 12), b'hello devmem', 'DEVMEM_READ data')
    # SEND waits for a receive buffer
    q.write(SCR + 0x3000, b'x' * 100)
    qp.send(MVF_WQE_SEND, 100, SCR + 0x3000, wr_id=14)
    eq(qp.poll(1, tries=3), [], 'SEND waits without RQ WQE')
    qp.recv(SCR + 0x4000, 128, wr_id=99)
    c = qp.poll(2)
    eq([(x['wr_id'], x['status'], x['opcode'], x['qtype'], x['byte_cnt'])
        for x in c], [(14, 0, MVF_WQE_SEND, 0, 100),
                      (99, 0, MVF_CQE_OP_RECV, 1, 100)], 'SEND CQEs')
    eq(q.read(SCR + 0x4000, 100), b'x' * 100, 'SEND data')
    # errors
    qp.send(MVF_WQE_DEVMEM_WRITE, 16, SCR, DEVMEM - 8, wr_id=20)
    qp.send(0x9, wr_id=21)
    qp.send(MVF_WQE_NOP, wr_id=22, flags=1)
    qp.send(MVF_WQE_DEVMEM_READ, MVF_WQE_MAX_LEN + 1, SCR, 0, wr_id=23)
    qp.send(MVF_WQE_DEVMEM_READ, 16, 0x7ff0000000, 0, wr_id=24)
    c = qp.poll(5)
    eq([(x['wr_id'], x['status']) for x in c],
       [(20, MVF_CQE_STAT_RANGE), (21, MVF_CQE_STAT_BAD_WQE),
        (22, MVF_CQE_STAT_BAD_WQE), (23, MVF_CQE_STAT_BAD_WQE),
        (24, MVF_CQE_STAT_DMA)], 'error CQEs')
    check(qp.reg(MVF_VF_REG_STATUS) & MVF_VF_STATUS_QP_ERROR, 'QP_ERROR')
    q.write(SCR + 0x3000, b'y' * 100)
    qp.send(MVF_WQE_SEND, 100, SCR + 0x3000, wr_id=25)
    qp.recv(SCR + 0x4000, 50, wr_id=98)
    c = qp.poll(2)
    eq([(x['wr_id'], x['status']) for x in c],
       [(25, MVF_CQE_STAT_LEN), (98, MVF_CQE_STAT_LEN)], 'short RQ buffer')
    cnt = [qp.reg(MVF_VF_REG_CNT(i)) for i in range(6)]
    eq(cnt, [10, 2, 12, 4096 + 12 + 100, 12, 7],
       'counters (sq, rq, cqe, bytes, doorbells, errors)')
    q.wl(r + MVF_VF_REG_CTRL, 0)
    eq(qp.reg(MVF_VF_REG_STATUS), 0, 'QP disable clears QP_ERROR')
    q.wl(r + MVF_VF_REG_CTRL, MVF_VF_CTRL_QP_ENABLE | MVF_VF_CTRL_CQ_IRQ)
    # CQ full: 16-entry CQ; 12 NOPs completed and not consumed, 8 more
    base = qp.sq_pi
    for i in range(12):
        qp.send(MVF_WQE_NOP, wr_id=100 + i, ring=False)
    q.wl(r + MVF_VF_REG_SQ_PI, qp.sq_pi)
    q.step()
    for i in range(12, 20):
        qp.send(MVF_WQE_NOP, wr_id=100 + i, ring=False)
    q.wl(r + MVF_VF_REG_SQ_PI, qp.sq_pi)
    for _ in range(3):
        q.step()
    eq(qp.reg(MVF_VF_REG_SQ_CI), base + 16, 'CQ full stalls the SQ')
    eq(qp.reg(MVF_VF_REG_CQ_PI) - qp.reg(MVF_VF_REG_CQ_CI), 16, 'CQ full')
    c = qp.poll(16)
    c += qp.poll(4)
    eq([x['wr_id'] for x in c], list(range(100, 120)), 'CQ resumes')
    eq(qp.reg(MVF_VF_REG_STATUS), 0, 'no error from a full CQ')
    # SQ_PI beyond the ring is a queue error, nothing is executed
    q.wl(r + MVF_VF_REG_SQ_PI, qp.sq_pi + 17)
    q.step()
    eq(qp.reg(MVF_VF_REG_SQ_CI), qp.sq_pi, 'SQ overflow not executed')
    check(qp.reg(MVF_VF_REG_STATUS) & MVF_VF_STATUS_QP_ERROR,
          'SQ overflow -> QP_ERROR')
    q.wl(r + MVF_VF_REG_SQ_PI, qp.sq_pi)
    q.wl(r + MVF_VF_REG_CTRL, 0)
    q.wl(r + MVF_VF_REG_CTRL, MVF_VF_CTRL_QP_ENABLE | MVF_VF_CTRL_CQ_IRQ)
    return qp


def sgl_table(b, addr, elems):
    b.q.write(addr, b''.join(struct.pack('<QII', a, l, f)
                             for a, l, f in elems))
    return addr, 16 * len(elems)


# ---- the migration stream (mvf_if.h, "Migration stream") ----

RH = struct.Struct('<HHIQ')
IDENT = struct.Struct('<IHHHHIIIQHHI')
PAGE = MVF_DEVMEM_PAGE_SIZE
ZPAGE = bytes(PAGE)
MAXP = MVF_REC_DEVMEM_MAX_PAGES
QF = MVF_VHCA_STATE_QUIESCED | MVF_VHCA_STATE_FROZEN
BI = MVF_CMD_STAT_BAD_IMAGE


def rec_bytes(payload_len):
    return MVF_REC_HDR_SIZE + ((payload_len + 7) & ~7)


REC_IDENT = rec_bytes(40)
REC_SIZE = rec_bytes(8)
REC_STATE = rec_bytes(208)
REC_END = rec_bytes(8)
ZERO_REC = rec_bytes(16)


def data_rec(pages):
    return rec_bytes(16 + pages * PAGE)


class Rec:
    """One record; built from its fields, CRC and padding computed unless
    given."""

    def __init__(self, tag, payload, flags=None, crc=None, pad=0):
        if flags is None:
            flags = 0 if tag == MVF_REC_SIZE else MVF_REC_F_MANDATORY
        self.tag, self.flags, self.payload = tag, flags, bytes(payload)
        n = len(self.payload)
        if crc is None:
            crc = zlib.crc32(RH.pack(tag, flags, 0, n) + self.payload)
        self.raw = (RH.pack(tag, flags, crc, n) + self.payload +
                    bytes([pad]) * (((n + 7) & ~7) - n))

    def patched(self, off, fmt, val):
        p = bytearray(self.payload)
        struct.pack_into(fmt, p, off, val)
        return Rec(self.tag, p, self.flags)

    def dm(self):
        # DEVMEM: offset, pages, flags
        return struct.unpack_from('<QII', self.payload)

    def u64(self):
        # SIZE, END
        return struct.unpack('<Q', self.payload)[0]


def parse(data, what):
    """The records of @data; framing, CRC and padding checked."""
    recs, off = [], 0
    while off < len(data):
        if len(data) - off < MVF_REC_HDR_SIZE:
            check(False, '%s: partial header at %d' % (what, off))
            break
        tag, flags, crc, n = RH.unpack_from(data, off)
        end = off + rec_bytes(n)
        if end > len(data):
            check(False, '%s: record at %d overruns' % (what, off))
            break
        r = Rec(tag, data[off + 16:off + 16 + n], flags)
        check(r.raw == bytes(data[off:end]),
              '%s: record %d (tag %d): CRC and padding' % (what, len(recs),
                                                           tag))
        recs.append(r)
        off = end
    return recs


def join(recs):
    return b''.join(r.raw for r in recs)


def end_rec(before):
    return Rec(MVF_REC_END, struct.pack('<Q', len(join(before))))


def dm_pages(recs):
    """(first page, pages) of the DEVMEM records"""
    return [(r.dm()[0] // PAGE, r.dm()[1]) for r in recs
            if r.tag == MVF_REC_DEVMEM]


class Image:
    """What a stream says: device memory pages and the last STATE."""

    def __init__(self, recs=()):
        self.pages, self.state = {}, None
        self.apply(recs)

    def apply(self, recs):
        for r in recs:
            if r.tag == MVF_REC_DEVMEM:
                off, n, fl = r.dm()
                for i in range(n):
                    self.pages[off // PAGE + i] = (
                        ZPAGE if fl & MVF_REC_DEVMEM_F_ZERO else
                        r.payload[16 + i * PAGE:16 + (i + 1) * PAGE])
            elif r.tag == MVF_REC_STATE:
                self.state = r.payload

    def devmem(self, size=DEVMEM):
        return b''.join(self.pages.get(p, b'?') for p in range(size // PAGE))


def state_scratch(payload, i):
    return struct.unpack_from('<I', payload, 8 + 4 * i)[0]


def check_devmem_recs(recs, what):
    """The device's rule: increasing pages, at most MAXP a record, a data
    record only of non-zero pages, zero pages as ZERO records."""
    last = -1
    for r in recs:
        if r.tag != MVF_REC_DEVMEM:
            continue
        off, n, fl = r.dm()
        zero = fl == MVF_REC_DEVMEM_F_ZERO
        ok = (off % PAGE == 0 and 1 <= n <= MAXP and off // PAGE > last and
              fl in (0, MVF_REC_DEVMEM_F_ZERO))
        if zero:
            ok = ok and len(r.payload) == 16
        else:
            ok = ok and len(r.payload) == 16 + n * PAGE and all(
                r.payload[16 + i * PAGE:16 + (i + 1) * PAGE] != ZPAGE
                for i in range(n))
        check(ok, '%s: DEVMEM record at 0x%x, %d pages, flags %d' %
              (what, off, n, fl))
        last = off // PAGE + n - 1


def check_whole(recs, what, vhca, devmem=DEVMEM):
    """A whole stream of a frozen VF from a new session."""
    tags = [r.tag for r in recs]
    check(len(tags) >= 5 and tags[:2] == [MVF_REC_IDENT, MVF_REC_SIZE] and
          tags[-2:] == [MVF_REC_STATE, MVF_REC_END] and
          all(t == MVF_REC_DEVMEM for t in tags[2:-2]),
          '%s: record order %r' % (what, tags[:8]))
    if len(tags) < 5:
        return
    eq(IDENT.unpack(recs[0].payload),
       (MVF_STREAM_MAGIC, MVF_STREAM_VERSION_MAJOR, MVF_STREAM_VERSION_MINOR,
        MVF_PCI_VENDOR_ID, MVF_PCI_DEVICE_ID_VF, MVF_IF_VERSION, CAPS, PAGE,
        devmem, vhca, 0, 0), what + ': IDENT')
    total = len(join(recs))
    eq(recs[1].u64(), total, what + ': SIZE = bytes of the stream')
    eq(recs[-1].u64(), total - REC_END, what + ': END = bytes before it')
    check_devmem_recs(recs, what)
    # every page exactly once
    p = 0
    for first, n in dm_pages(recs):
        if first != p:
            break
        p += n
    eq(p, devmem // PAGE, what + ': DEVMEM covers every page once')


def rule_bytes_all(npages, nonzero):
    """The bytes of the DEVMEM records of all @npages pages, by the rule of
    device.rst, given the set of pages that are not zero."""
    nz = sorted(nonzero)
    total, p, i = 0, 0, 0
    while p < npages:
        if i < len(nz) and nz[i] == p:
            q = p
            while i < len(nz) and nz[i] == q:
                i, q = i + 1, q + 1
            total += sum(data_rec(min(MAXP, q - k)) for k in range(p, q, MAXP))
        else:
            q = nz[i] if i < len(nz) else npages
            total += ZERO_REC * -(-(q - p) // MAXP)
        p = q
    return total


def nonzero_pages(dm):
    return {p for p in range(len(dm) // PAGE)
            if dm[p * PAGE:(p + 1) * PAGE] != ZPAGE}


SAVE_BUF = 0xc000000
LOAD_BUF = 0x8000000


def save(b, vhca, data_len, start=False, want=(0, 0), tries=200, what=''):
    """One SAVE into SAVE_BUF: (out, the bytes written)"""
    sgl, slen = sgl_table(b, SCR + 0x7f00, [(SAVE_BUF, data_len, 0)])
    st, sy, out = b.run(MVF_CMD_SAVE_VHCA_STATE, vhca,
                        ins=(MVF_SAVE_F_START if start else 0,), sgl=sgl,
                        sgl_len=slen, data_len=data_len, tries=tries)
    eq((st, sy), want, 'SAVE vhca %d %s' % (vhca, what))
    n = out[0] | out[1] << 32
    if st != 0 or not n:
        return out, b''
    check(n <= data_len, 'SAVE wrote within data_len')
    return out, b.q.read(SAVE_BUF, n)


def save_whole(b, vhca, data_len=2 * DEVMEM):
    """A whole stream of a frozen VF, in one SAVE"""
    out, data = save(b, vhca, data_len, start=True, what='whole')
    eq(out[2], MVF_SAVE_OUT_END, 'whole stream of vhca %d ends' % vhca)
    return data


def load(b, vhca, data, start=False, want=(0, 0), n=None, tries=200,
         what=''):
    b.q.write(LOAD_BUF, data)
    sgl, slen = sgl_table(b, SCR + 0x7c00, [(LOAD_BUF, len(data) + 64, 0)])
    st, sy, out = b.run(MVF_CMD_LOAD_VHCA_STATE, vhca,
                        ins=(MVF_LOAD_F_START if start else 0,), sgl=sgl,
                        sgl_len=slen, data_len=len(data) if n is None else n,
                        tries=tries)
    eq((st, sy), want, 'LOAD vhca %d %s' % (vhca, what))
    return out


def query(b, vhca, incremental=False, tries=200):
    out = b.expect(0, 0, MVF_CMD_QUERY_VHCA_MIGRATION_STATE, vhca,
                   ins=(MVF_QUERY_F_INCREMENTAL if incremental else 0,),
                   tries=tries)
    return out[0] | out[1] << 32, out[2]


def vf_regs(b, i):
    return [b.q.rl(vf_bar(i) + off) for off in range(0, 0x140, 4)]


def test_migration(b, qp1):
    q = b.q
    I, R = MVF_SUSPEND_INITIATOR, MVF_SUSPEND_RESPONDER
    SAVING = MVF_VHCA_STATE_SAVING
    # VF1: devmem pattern, scratch, a SEND in flight
    q.write(vf_mem(1) + 0x10000, b'migrate me' * 100)
    for i in range(MVF_VF_NUM_SCRATCH):
        q.wl(vf_bar(1) + MVF_VF_REG_SCRATCH(i), 0x1000 + i)
    q.write(SCR + 0x5000, b'in flight payload')
    qp1.send(MVF_WQE_SEND, 17, SCR + 0x5000, wr_id=777)
    q.step()
    sq_ci = qp1.reg(MVF_VF_REG_SQ_CI)
    eq(sq_ci, (qp1.sq_pi - 1) & 0xffffffff, 'SEND in flight')
    cnt1 = [qp1.reg(MVF_VF_REG_CNT(i)) for i in range(8)]
    dm1 = q.read(vf_mem(1), DEVMEM)
    whole = (REC_IDENT + REC_SIZE + rule_bytes_all(DEVMEM // PAGE,
                                                   nonzero_pages(dm1)) +
             REC_STATE + REC_END)
    suspend(b, 1, I)
    suspend(b, 1, R)
    eq(query(b, 1), (whole, QF), 'QUERY: the bytes of a whole stream')
    eq(query(b, 1, True), (0, QF), 'QUERY INCREMENTAL without a session')

    # not even IDENT fits: nothing is opened
    out, _ = save(b, 1, REC_IDENT - 1, start=True,
                  want=(MVF_CMD_STAT_NO_SPACE, MVF_SYND_SAVE_NO_SPACE),
                  what='NO_SPACE')
    eq(out[0] | out[1] << 32, REC_IDENT, 'NO_SPACE: the bytes IDENT needs')
    eq(query(b, 1, True)[1], QF, 'NO_SPACE opened no session')
    save(b, 1, 0, start=True,
         want=(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_LEN), what='data_len 0')

    # save through a chained list with odd-sized pieces
    buf = 0x4000000
    pieces = [(buf, 100, 0), (buf + 100, 4000, 0)]
    t2 = SCR + 0x7000
    rest = whole + 100 - 4100
    tbl2 = [(buf + 4100, rest // 2, 0),
            (buf + 4100 + rest // 2, rest - rest // 2, 0)]
    sgl_table(b, t2, tbl2)
    sgl, slen = sgl_table(b, SCR + 0x6000,
                          pieces + [(t2, 32, MVF_SGE_F_CHAIN)])
    out = b.expect(0, 0, MVF_CMD_SAVE_VHCA_STATE, 1, ins=(MVF_SAVE_F_START,),
                   sgl=sgl, sgl_len=slen, data_len=whole + 100)
    eq((out[0] | out[1] << 32, out[2]), (whole, MVF_SAVE_OUT_END),
       'SAVE: the whole stream and END')
    img = q.read(buf, whole)
    recs = parse(img, 'VF1 stream')
    check_whole(recs, 'VF1 stream', 1)
    check(Image(recs).devmem() == dm1, 'the stream carries device memory')
    st = Image(recs).state
    eq([state_scratch(st, i) for i in range(16)],
       [0x1000 + i for i in range(16)], 'STATE scratch')
    eq(struct.unpack_from('<I', st, 4)[0],
       MVF_VF_STATUS_QUIESCED | MVF_VF_STATUS_FROZEN, 'STATE status')
    eq(list(struct.unpack_from('<8Q', st, 144)), cnt1, 'STATE counters')
    eq(query(b, 1, True), (0, QF), 'END completed the session')
    eq(query(b, 1)[0], whole, 'after END, QUERY sizes a whole new stream')
    out, data = save(b, 1, whole, what='after END')
    eq((out[0], out[1], out[2], data), (0, 0, MVF_SAVE_OUT_END, b''),
       'a SAVE after END writes nothing and says END again')
    # CLOSE: a session cut short is gone, QUERY sizes a whole stream again
    out, part = save(b, 1, 4096, start=True, what='a session cut short')
    eq(query(b, 1)[1], QF | SAVING, 'the cut session is open')
    check(query(b, 1)[0] < whole, 'QUERY: what the cut session has left')
    st, sy, out = b.run(MVF_CMD_SAVE_VHCA_STATE, 1, ins=(MVF_SAVE_F_CLOSE,))
    eq((st, sy), (0, 0), 'SAVE with CLOSE, no buffer')
    eq(query(b, 1), (whole, QF), 'CLOSE: no session, a whole stream again')
    st, sy, out = b.run(MVF_CMD_SAVE_VHCA_STATE, 1,
                        ins=(MVF_SAVE_F_CLOSE | MVF_SAVE_F_START,))
    eq((st, sy), (MVF_CMD_STAT_BAD_PARAM, MVF_SYND_RSVD_NOT_ZERO),
       'CLOSE with START is refused')

    # bad lists are refused before anything is written or opened
    bad = [
        ((SCR + 0x6000, 0), 'sgl_len 0'),
        ((SCR + 0x6000, 24), 'sgl_len not a multiple'),
    ]
    for (a, l), what in bad:
        b.expect(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_SGL,
                 MVF_CMD_SAVE_VHCA_STATE, 1, ins=(MVF_SAVE_F_START,), sgl=a,
                 sgl_len=l, data_len=whole)
    for elems in ([(buf, 0, 0)], [(buf, whole, 2)], [(buf, 100, 0)],
                  [(SCR + 0x7800, 16, MVF_SGE_F_CHAIN), (buf, whole, 0)]):
        a, l = sgl_table(b, SCR + 0x7400, elems)
        b.expect(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_SGL,
                 MVF_CMD_SAVE_VHCA_STATE, 1, ins=(MVF_SAVE_F_START,), sgl=a,
                 sgl_len=l, data_len=whole)
    # chain loop: too deep
    a, l = sgl_table(b, SCR + 0x7400, [(SCR + 0x7400, 16, MVF_SGE_F_CHAIN)])
    b.expect(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_SGL,
             MVF_CMD_SAVE_VHCA_STATE, 1, ins=(MVF_SAVE_F_START,), sgl=a,
             sgl_len=l, data_len=whole)
    eq(query(b, 1, True)[1], QF, 'refused lists opened no session')
    # a DMA fault while records are written: the stream is lost
    a, l = sgl_table(b, SCR + 0x7400, [(0x7f00000000, whole, 0)])
    b.expect(MVF_CMD_STAT_DMA_ERROR, MVF_SYND_DMA_WRITE,
             MVF_CMD_SAVE_VHCA_STATE, 1, ins=(MVF_SAVE_F_START,), sgl=a,
             sgl_len=l, data_len=whole)
    eq(query(b, 1, True)[1], QF, 'a DMA fault closes the new session')
    out, first = save(b, 1, REC_IDENT + REC_SIZE, start=True,
                      what='IDENT and SIZE only')
    eq((len(first), out[2]), (REC_IDENT + REC_SIZE, 0),
       'a small buffer: IDENT and SIZE')
    eq(query(b, 1), (whole - len(first), QF | SAVING),
       'QUERY: the rest of the open session')
    b.expect(MVF_CMD_STAT_DMA_ERROR, MVF_SYND_DMA_WRITE,
             MVF_CMD_SAVE_VHCA_STATE, 1, sgl=a, sgl_len=l, data_len=whole)
    eq(query(b, 1, True)[1], QF, 'a DMA fault closes an open session')

    # destination VF2: some state of its own
    qp2 = Qp(b, 2, 0x500000)
    q.wl(vf_bar(2) + MVF_VF_REG_SCRATCH(3), 0xdead)
    q.write(vf_mem(2), b'vf2 own data')
    load(b, 2, img, start=True,
         want=(MVF_CMD_STAT_BAD_STATE, MVF_SYND_NOT_FROZEN), what='live VF')
    suspend(b, 2, I)
    suspend(b, 2, R)
    load(b, 2, img, want=(MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_SESSION),
         what='without START or session')
    # a frozen VF cannot be read: what it saves says it is unchanged
    test_load_errors(b, recs, save_whole(b, 2))
    out = load(b, 2, img, start=True, what='good stream')
    eq(out[2], MVF_LOAD_OUT_END, 'LOAD: END taken')
    eq(query(b, 2, True)[1], QF, 'VF2 still frozen, no session open')
    got = parse(save_whole(b, 2), 'VF2 stream')
    eq([r.raw for r in got[1:]], [r.raw for r in recs[1:]],
       'VF2 saves what it loaded')
    check(not b.take_frozen_events(), 'no access reached a frozen VF')
    # resume the destination; the source is reset as a VMM would
    b.q.ww(cfg(1, 1, find_cap(q, 1, 1, 0x10) + 8),
           q.rw(cfg(1, 1, find_cap(q, 1, 1, 0x10) + 8)) | 0x8000)
    eq(q.rl(vf_bar(1) + MVF_VF_REG_STATUS), 0, 'VF1 FLR clears state')
    eq(q.read(vf_mem(1) + 0x10000, 16), b'\0' * 16, 'VF1 FLR zeroes devmem')
    eq([q.rl(vf_bar(1) + MVF_VF_REG_CNT(i)) for i in range(8)], [0] * 8,
       'VF1 FLR zeroes counters')
    resume(b, 2, R)
    eq([q.rl(vf_bar(2) + MVF_VF_REG_SCRATCH(i)) for i in range(16)],
       [0x1000 + i for i in range(16)], 'scratch after LOAD')
    check(q.read(vf_mem(2), DEVMEM) == dm1, 'devmem after LOAD')
    eq([q.rl(vf_bar(2) + MVF_VF_REG_CNT(i)) for i in range(8)], cnt1,
       'counters after LOAD')
    eq(q.rl(vf_bar(2) + MVF_VF_REG_SQ_CI), sq_ci, 'SQ_CI after LOAD')
    eq(q.rl(vf_bar(2) + MVF_VF_REG_STATUS), MVF_VF_STATUS_QUIESCED,
       'VF2 thawed, still quiesced')
    resume(b, 2, I)
    qp2.sq_pi, qp2.rq_pi = qp1.sq_pi, qp1.rq_pi
    qp2.sq, qp2.rq, qp2.cq, qp2.cq_ci = qp1.sq, qp1.rq, qp1.cq, qp1.cq_ci
    eq(qp2.poll(1, tries=3), [], 'no completion before a buffer')
    qp2.recv(SCR + 0x8000, 64, wr_id=555)
    c = qp2.poll(2)
    eq([(x['wr_id'], x['status']) for x in c], [(777, 0), (555, 0)],
       'in-flight SEND completes on the destination')
    eq(q.read(SCR + 0x8000, 17), b'in flight payload', 'SEND payload')
    eq(qp2.poll(1, tries=3), [], 'exactly once')


def test_load_errors(b, recs, before):
    """Malformed streams: each refused with its syndrome; nothing of the
    command applied (VF2 saves the same stream), the session closed."""
    LOADING = MVF_VHCA_STATE_LOADING
    ident, size, st = recs[0], recs[1], recs[-2]
    zi = next(i for i, r in enumerate(recs)
              if r.tag == MVF_REC_DEVMEM and r.dm()[2])
    di = next(i for i, r in enumerate(recs)
              if r.tag == MVF_REC_DEVMEM and not r.dm()[2])
    zr, dr = recs[zi], recs[di]

    def sub(i, r):
        x = list(recs)
        x[i] = r
        return x

    def ins(i, r):
        x = list(recs[:-1])
        x.insert(i, r)
        return x + [end_rec(x)]

    huge = (RH.pack(MVF_REC_STATE, MVF_REC_F_MANDATORY, 0, 1 << 40) +
            st.payload)
    M = MVF_REC_F_MANDATORY
    cases = [
        ('stream magic', sub(0, ident.patched(0, '<I', 0x1234)),
         MVF_SYND_IMG_MAGIC),
        ('stream version', sub(0, ident.patched(4, '<H', 3)),
         MVF_SYND_IMG_VERSION),
        ('stream version 3, longer IDENT',
         sub(0, Rec(MVF_REC_IDENT, ident.patched(4, '<H', 3).payload +
                    bytes(8))), MVF_SYND_IMG_VERSION),
        ('if_version major', sub(0, ident.patched(12, '<I', 1 << 16)),
         MVF_SYND_IMG_VERSION),
        ('device id', sub(0, ident.patched(10, '<H', 0x1000)),
         MVF_SYND_IMG_DEVICE),
        ('vendor id', sub(0, ident.patched(8, '<H', 0x1af4)),
         MVF_SYND_IMG_DEVICE),
        # a stream needing the tracker (not a stream cap) or a cap the
        # device lacks altogether
        ('caps', sub(0, ident.patched(16, '<I', CAPS | 8)),
         MVF_SYND_IMG_CAPS),
        ('caps beyond the device',
         sub(0, ident.patched(16, '<I', CAPS | 0x10)), MVF_SYND_IMG_CAPS),
        ('page size', sub(0, ident.patched(20, '<I', 2 * PAGE)),
         MVF_SYND_IMG_GEOMETRY),
        ('devmem size', sub(0, ident.patched(24, '<Q', 2 * DEVMEM)),
         MVF_SYND_IMG_GEOMETRY),
        ('IDENT rsvd0', sub(0, ident.patched(34, '<H', 1)),
         MVF_SYND_IMG_VALUE),
        ('IDENT rsvd1', sub(0, ident.patched(36, '<I', 1)),
         MVF_SYND_IMG_VALUE),
        ('IDENT longer', sub(0, Rec(MVF_REC_IDENT, ident.payload + bytes(8))),
         MVF_SYND_IMG_RECORD),
        ('IDENT not mandatory', sub(0, Rec(MVF_REC_IDENT, ident.payload, 0)),
         MVF_SYND_IMG_RECORD),
        ('SIZE mandatory', sub(1, Rec(MVF_REC_SIZE, size.payload, M)),
         MVF_SYND_IMG_RECORD),
        ('header flags', sub(di, Rec(MVF_REC_DEVMEM, dr.payload, M | 2)),
         MVF_SYND_IMG_RECORD),
        ('padding', ins(2, Rec(0x7ff0, b'abcde', 0, pad=1)),
         MVF_SYND_IMG_RECORD),
        ('crc of DEVMEM data', sub(di, Rec(MVF_REC_DEVMEM, dr.payload,
                                           crc=zlib.crc32(dr.raw[:16]))),
         MVF_SYND_IMG_CRC),
        ('crc of STATE (last but one)', sub(-2, Rec(MVF_REC_STATE, st.payload,
                                                    crc=1)),
         MVF_SYND_IMG_CRC),
        ('record longer than the data', join(recs[:-2]) + huge,
         MVF_SYND_IMG_LENGTH),
        ('first record not IDENT', [size, ident] + recs[2:],
         MVF_SYND_IMG_ORDER),
        ('unknown optional first', [Rec(0x7ff0, b'x' * 8, 0)] + recs,
         MVF_SYND_IMG_ORDER),
        ('second IDENT', ins(2, ident), MVF_SYND_IMG_ORDER),
        ('SIZE after DEVMEM', ins(3, size), MVF_SYND_IMG_ORDER),
        ('END after DEVMEM', recs[:-2] + [end_rec(recs[:-2])],
         MVF_SYND_IMG_ORDER),
        ('record after END', recs + [st], MVF_SYND_IMG_ORDER),
        ('END stream_bytes', recs[:-1] + [
            Rec(MVF_REC_END, struct.pack('<Q', recs[-1].u64() + 8))],
         MVF_SYND_IMG_LENGTH),
        ('unknown mandatory', ins(2, Rec(0x7ff1, b'must know', M)),
         MVF_SYND_IMG_UNKNOWN),
        ('DEVMEM flags', sub(zi, zr.patched(12, '<I', 3)),
         MVF_SYND_IMG_VALUE),
        ('DEVMEM 0 pages', sub(zi, zr.patched(8, '<I', 0)),
         MVF_SYND_IMG_VALUE),
        ('DEVMEM too many pages', sub(zi, zr.patched(8, '<I', MAXP + 1)),
         MVF_SYND_IMG_VALUE),
        ('DEVMEM unaligned', sub(zi, zr.patched(0, '<Q', zr.dm()[0] + 8)),
         MVF_SYND_IMG_VALUE),
        ('DEVMEM beyond devmem',
         sub(zi, zr.patched(0, '<Q', DEVMEM - PAGE).patched(8, '<I', 2)),
         MVF_SYND_IMG_VALUE),
        ('DEVMEM ZERO with data',
         sub(di, Rec(MVF_REC_DEVMEM,
                     dr.patched(12, '<I', MVF_REC_DEVMEM_F_ZERO).payload)),
         MVF_SYND_IMG_RECORD),
        ('DEVMEM data short', sub(di, Rec(MVF_REC_DEVMEM, dr.payload[:-8])),
         MVF_SYND_IMG_RECORD),
        ('STATE ctrl', sub(-2, st.patched(0, '<I', 4)), MVF_SYND_IMG_VALUE),
        ('STATE status', sub(-2, st.patched(4, '<I', 8)), MVF_SYND_IMG_VALUE),
        ('STATE sq log size', sub(-2, st.patched(72 + 8, '<I', 13)),
         MVF_SYND_IMG_VALUE),
        ('STATE queue rsvd', sub(-2, st.patched(72 + 20, '<I', 1)),
         MVF_SYND_IMG_VALUE),
        ('STATE counter 6', sub(-2, st.patched(144 + 48, '<Q', 1)),
         MVF_SYND_IMG_VALUE),
        ('STATE short', sub(-2, Rec(MVF_REC_STATE, st.payload[:200])),
         MVF_SYND_IMG_RECORD),
    ]
    for what, x, synd in cases:
        data = x if isinstance(x, bytes) else join(x)
        load(b, 2, data, start=True, want=(BI, synd), what=what)
        eq(query(b, 2, True)[1] & LOADING, 0, 'session closed: ' + what)
        check(save_whole(b, 2) == before, 'VF2 unchanged: ' + what)
    whole = join(recs)
    for what, n, synd in (('truncated record', len(whole) - 8,
                           MVF_SYND_IMG_LENGTH),
                          ('partial header', len(whole) - 16,
                           MVF_SYND_IMG_LENGTH)):
        load(b, 2, whole, start=True, n=n, want=(BI, synd), what=what)
        check(save_whole(b, 2) == before, 'VF2 unchanged: ' + what)
    load(b, 2, whole + bytes(8), start=True, want=(BI, MVF_SYND_IMG_LENGTH),
         what='8 bytes after END')
    load(b, 2, whole, start=True, n=0,
         want=(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_LEN), what='data_len 0')
    check(save_whole(b, 2) == before, 'VF2 unchanged after all of them')


def post_save(b, vhca, buf, n, start=False, sgl_at=SCR + 0x6000):
    sgl, slen = sgl_table(b, sgl_at, [(buf, n, 0)])
    return b.post(MVF_CMD_SAVE_VHCA_STATE, vhca,
                  ins=(MVF_SAVE_F_START if start else 0,), sgl=sgl,
                  sgl_len=slen, data_len=n, ring=False)


def events(b, n, tries=2000):
    got = []
    for _ in range(tries):
        ev = b.next_event()
        if ev is None:
            if len(got) == n:
                break
            b.q.step()
            continue
        got.append(ev)
    eq(len(got), n, '%d events' % n)
    return got


def test_ooo(b):
    """Commands of different VFs complete out of order, those of one VF in
    order; a full event queue holds completions back, losing none."""
    q = b.q
    for p in (0, 1, 2, 3, 100):
        q.write(vf_mem(1) + p * PAGE, bytes([p + 1]) * PAGE)
    dm = q.read(vf_mem(1), DEVMEM)
    bufs, lens = [0x4000000, 0x4400000, 0x4800000], [8192, 32768, 32768]
    slots = [post_save(b, 1, buf, n, start=not i, sgl_at=SCR + 0x6000 +
                       0x100 * i) for i, (buf, n) in enumerate(zip(bufs,
                                                                   lens))]
    tok_save = [b.token - 2, b.token - 1, b.token]
    b.post(MVF_CMD_QUERY_VHCA_MIGRATION_STATE, 2, ring=False)
    tok_q = b.token
    b.ring()
    ev = events(b, 4)
    eq([e[2] for e in ev][:1], [tok_q],
       "VF2's QUERY completes before VF1's SAVEs posted before it")
    eq([e[2] for e in ev if e[1] == 1], tok_save,
       "VF1's SAVEs complete in the order posted")
    eq([(e[0], e[4]) for e in ev], [(MVF_EVENT_CMD_DONE, 0)] * 4,
       'all four OK')
    eq(sorted(e[3] for e in ev), [0, 1, 2, 3], 'each event names its slot')
    res = [b.wait_entry(s) for s in slots]
    eq([r[2][0] for r in res],
       [REC_IDENT + REC_SIZE, data_rec(4) + ZERO_REC + data_rec(1) +
        ZERO_REC + REC_STATE, 0],
       'SAVE sizes: IDENT+SIZE, the rest, nothing (running VF)')
    data = b''.join(q.read(buf, r[2][0]) for buf, r in zip(bufs, res)
                    if r[2][0])
    recs = parse(data, 'out-of-order session')
    eq([r.tag for r in recs][:2] + [r.tag for r in recs][-1:],
       [MVF_REC_IDENT, MVF_REC_SIZE, MVF_REC_STATE], 'IDENT SIZE ... STATE')
    eq(dm_pages(recs), [(0, 4), (4, 96), (100, 1), (101, 155)],
       'DEVMEM records by the rule')
    check(Image(recs).devmem() == dm, 'pre-copy stream carries devmem')
    check_devmem_recs(recs, 'out-of-order session')
    eq(recs[1].u64(), len(data) + REC_END, 'SIZE: the stream were it frozen')

    # a full event queue: completions wait, per VF in order, none lost
    b.pf_enable(cmdq_log=3, eq_log=2)
    toks = []
    for i in range(6):
        b.post(MVF_CMD_QUERY_VHCA_MIGRATION_STATE, 1 + i % 2,
               ins=(MVF_QUERY_F_INCREMENTAL,), ring=False)
        toks.append((1 + i % 2, b.token))
    b.ring()
    for _ in range(10):
        q.step()
    eq(sum(q.rb(CMDQ + 64 * i + 7) == 0 for i in range(6)), 4,
       'four written back, two wait for the event queue')
    ev = events(b, 6)
    for v in (1, 2):
        eq([e[2] for e in ev if e[1] == v], [t for w, t in toks if w == v],
           'VF%d: completions in order across a full event queue' % v)
    b.pf_enable()


def test_precopy(b):
    """(c) change tracking in a pre-copy session, (f) exact sizes, (d) a
    chunked load, (e) a truncated stream and a rejected chunk."""
    q = b.q
    I, R = MVF_SUSPEND_INITIATOR, MVF_SUSPEND_RESPONDER
    SAVING, LOADING = MVF_VHCA_STATE_SAVING, MVF_VHCA_STATE_LOADING
    qp = Qp(b, 1, 0x300000)
    dm0 = q.read(vf_mem(1), DEVMEM)
    whole0 = (REC_IDENT + REC_SIZE +
              rule_bytes_all(DEVMEM // PAGE, nonzero_pages(dm0)) +
              REC_STATE + REC_END)
    eq(query(b, 3), (REC_IDENT + REC_SIZE + ZERO_REC + REC_STATE + REC_END,
                     0), 'QUERY VF3: all zero')
    # START on a running VF: every page, then STATE; nothing after
    out, s1 = save(b, 1, 2 * DEVMEM, start=True, what='pre-copy START')
    eq(out[2], 0, 'a running VF never gets END')
    r1 = parse(s1, 'pre-copy 1')
    eq([r.tag for r in r1][:2] + [r.tag for r in r1][-1:],
       [MVF_REC_IDENT, MVF_REC_SIZE, MVF_REC_STATE], 'IDENT SIZE ... STATE')
    eq(sum(n for _, n in dm_pages(r1)), DEVMEM // PAGE, 'every page')
    eq(r1[1].u64(), whole0, 'SIZE: exact for an unchanged VF')
    eq(query(b, 1, True), (0, SAVING), 'INCREMENTAL: nothing changed')
    out, d = save(b, 1, 4096, what='unchanged')
    eq((out[:3], len(d)), ([0, 0, 0], 0), 'nothing changed: 0 bytes')

    # changes through BAR2 (a page, a byte) and a DEVMEM_WRITE WQE
    q.write(vf_mem(1) + 7 * PAGE, b'\x77' * PAGE)
    q.wb(vf_mem(1) + 30 * PAGE + 5, 0x55)
    q.write(SCR, bytes(range(256)) * 16)
    qp.send(MVF_WQE_DEVMEM_WRITE, PAGE, SCR, 20 * PAGE, wr_id=1)
    eq([x['status'] for x in qp.poll(1)], [0], 'DEVMEM_WRITE')
    dm = q.read(vf_mem(1), DEVMEM)
    n2, fl = query(b, 1, True)
    out, s2 = save(b, 1, 2 * DEVMEM, what='increment')
    eq(len(s2), n2, 'INCREMENTAL QUERY = the bytes SAVE wrote')
    r2 = parse(s2, 'pre-copy 2')
    eq(dm_pages(r2), [(7, 1), (20, 1), (30, 1)],
       'exactly the pages written by CPU and WQE')
    check(all(Image(r2).pages.get(p) == dm[p * PAGE:(p + 1) * PAGE]
              for p in (7, 20, 30)), 'their new contents')
    eq([r.tag for r in r2][-1:], [MVF_REC_STATE],
       'STATE: the WQE moved counters and indices')
    eq(len(save(b, 1, 4096, what='unchanged')[1]), 0, 'then nothing again')
    # a register: STATE only
    q.wl(vf_bar(1) + MVF_VF_REG_SCRATCH(5), 0xabcd)
    eq(query(b, 1, True)[0], REC_STATE, 'INCREMENTAL: one STATE')
    out, s3 = save(b, 1, 4096, what='scratch')
    r3 = parse(s3, 'pre-copy 3')
    eq([r.tag for r in r3], [MVF_REC_STATE], 'a changed register: STATE')
    eq(state_scratch(r3[0].payload, 5), 0xabcd, 'with the new value')

    # freeze: the remaining pages, STATE, END
    q.write(vf_mem(1) + 40 * PAGE, b'\x40' * PAGE)
    rem = data_rec(1) + REC_STATE + REC_END
    eq(query(b, 1), (rem, SAVING), 'QUERY: what is left were it frozen now')
    suspend(b, 1, I)
    suspend(b, 1, R)
    eq(query(b, 1), (rem, QF | SAVING), 'frozen: the same')
    eq(query(b, 1, True), (rem, QF | SAVING), 'INCREMENTAL when frozen')
    out, s4 = save(b, 1, data_rec(1) + 100, what='final 1')
    eq((len(s4), out[2]), (data_rec(1), 0), 'the page; STATE does not fit')
    eq(query(b, 1)[0], REC_STATE + REC_END, 'QUERY after it')
    out, _ = save(b, 1, REC_STATE - 1, what='final NO_SPACE',
                  want=(MVF_CMD_STAT_NO_SPACE, MVF_SYND_SAVE_NO_SPACE))
    eq(out[0], REC_STATE, 'NO_SPACE: the bytes of the next record')
    out, s5 = save(b, 1, REC_STATE + REC_END - 1, what='final 2')
    eq((len(s5), out[2]), (REC_STATE, 0), 'STATE; END does not fit')
    out, s6 = save(b, 1, 4096, what='final 3')
    eq((len(s6), out[2]), (REC_END, MVF_SAVE_OUT_END), 'END')
    eq(sum(map(len, (s4, s5, s6))), rem, 'QUERY was exact')
    session = s1 + s2 + s3 + s4 + s5 + s6
    recs = parse(session, 'pre-copy session')
    eq(recs[-1].u64(), len(session) - REC_END,
       'END: the bytes of the whole session before it')
    eq(recs[-2].tag, MVF_REC_STATE, 'STATE right before END')
    eq(query(b, 1, True), (0, QF), 'END completed the session')
    out, data = save(b, 1, 4096, what='after END')
    eq((out[0], out[2], data), (0, MVF_SAVE_OUT_END, b''),
       'a SAVE after END writes nothing and says END again')
    resume(b, 1, R)                 # readable, still quiesced
    dm1 = q.read(vf_mem(1), DEVMEM)
    regs1 = vf_regs(b, 1)
    check(Image(recs).devmem() == dm1, 'the session carries device memory')

    # (d) into VF3 in four LOADs, an unknown optional record in between
    suspend(b, 3, I)
    suspend(b, 3, R)
    x = recs[:-1]
    x.insert(3, Rec(0x7ff0, b'an optional record of a later version', 0))
    x.append(end_rec(x))
    k = len(x) // 3
    chunks = [x[:k], x[k:2 * k], x[2 * k:-3], x[-3:]]
    for i, c in enumerate(chunks):
        last = i == len(chunks) - 1
        out = load(b, 3, join(c), start=not i, what='chunk %d' % i)
        eq(out[2], MVF_LOAD_OUT_END if last else 0, 'END flag, chunk %d' % i)
        eq(query(b, 3, True)[1], QF | (0 if last else LOADING),
           'LOADING, chunk %d' % i)
    resume(b, 3, R)
    check(q.read(vf_mem(3), DEVMEM) == dm1, 'chunked LOAD: device memory')
    eq(vf_regs(b, 3), regs1, 'chunked LOAD: registers')

    # (e) a rejected chunk applies nothing and ends the session; a
    # stream without END leaves its state uncommitted
    q.wl(vf_bar(4) + MVF_VF_REG_SCRATCH(0), 0x4444)
    suspend(b, 4, I)
    suspend(b, 4, R)
    load(b, 4, join(x[:k]), start=True, what='first chunk')
    page50 = Rec(MVF_REC_DEVMEM, struct.pack('<QII', 50 * PAGE, 1, 0) +
                 b'X' * PAGE)
    load(b, 4, join([page50, Rec(MVF_REC_STATE, recs[-2].payload, crc=0)]),
         want=(BI, MVF_SYND_IMG_CRC), what='good DEVMEM, bad STATE')
    eq(query(b, 4, True)[1] & LOADING, 0, 'a rejected chunk ends the session')
    eq(Image(parse(save_whole(b, 4), 'VF4 stream')).pages.get(50), ZPAGE,
       'its good DEVMEM record was not applied')
    load(b, 4, join(x[k:]), want=(MVF_CMD_STAT_BAD_STATE,
                                  MVF_SYND_NO_SESSION), what='after it')
    load(b, 4, join(x[:k]), start=True, what='again, first chunk')
    load(b, 4, join(x[k:-2]), what='all but the last STATE and END')
    eq(query(b, 4, True)[1] & LOADING, LOADING, 'no END: session open')
    got = parse(save_whole(b, 4), 'VF4 stream')
    img = Image(got)
    check(img.devmem() == dm1, 'DEVMEM records applied at once')
    eq(img.state and state_scratch(img.state, 0), 0x4444,
       'STATE staged, not committed')
    resume(b, 4, R)
    eq(query(b, 4, True)[1] & LOADING, 0, 'thawing ends the load session')
    eq(q.rl(vf_bar(4) + MVF_VF_REG_SCRATCH(0)), 0x4444,
       'the staged STATE never became the state')


def test_sessions():
    b = Bench()
    try:
        b.pf_enable()
        b.enable_vfs(4)
        test_ooo(b)
        test_precopy(b)
    finally:
        b.q.quit()


BIG = 8 << 30
BIG_TRIES = 200000


def test_big():
    """8 GiB of device memory: offsets above 4 GiB, the main loop runs
    during a long SAVE, resets under running and queued commands."""
    b = Bench(devmem=BIG, extra=',total-vfs=2')
    try:
        test_big_body(b)
    finally:
        b.q.quit()


def wait_running(b, slot, what):
    for _ in range(3):
        b.q.step()
    eq(b.q.rb(slot + 7), MVF_CMD_OWN_HW, what + ' still running')


def test_big_body(b):
    q = b.q
    I, R = MVF_SUSPEND_INITIATOR, MVF_SUSPEND_RESPONDER
    npages = BIG // PAGE
    m1, m2 = vf_mem(1, BIG), vf_mem(2, BIG)
    b.pf_enable()
    b.enable_vfs(2)
    eq(q.rl(vf_bar(1) + MVF_VF_REG_DEVMEM_SIZE_HI), BIG >> 32, '8 GiB')
    hi1, hi2 = (4 << 30) + 2 * PAGE, (6 << 30) + PAGE
    text = b'above 4 GiB ' * 16
    pattern = bytes(range(256)) * 16
    q.write(m1 + hi1, text)
    qp = Qp(b, 1, 0x300000)
    q.write(SCR, pattern)
    qp.send(MVF_WQE_DEVMEM_WRITE, PAGE, SCR, hi2, wr_id=5)
    eq([x['status'] for x in qp.poll(1)], [0], 'DEVMEM_WRITE above 4 GiB')
    eq(q.read(m1 + hi2, PAGE), pattern, 'through BAR2 above 4 GiB')
    whole = (REC_IDENT + REC_SIZE +
             rule_bytes_all(npages, {hi1 // PAGE, hi2 // PAGE}) +
             REC_STATE + REC_END)
    suspend(b, 1, I)
    suspend(b, 1, R)
    eq(query(b, 1, tries=BIG_TRIES), (whole, QF), 'QUERY of 8 GiB: exact')

    # (b) the main loop runs while a SAVE walks 8 GiB
    sgl, slen = sgl_table(b, SCR + 0x7f00, [(SAVE_BUF, whole + 4096, 0)])
    slot = b.post(MVF_CMD_SAVE_VHCA_STATE, 1, ins=(MVF_SAVE_F_START,),
                  sgl=sgl, sgl_len=slen, data_len=whole + 4096)
    tok = b.token
    wait_running(b, slot, 'SAVE of 8 GiB')
    sq = b.post(MVF_CMD_QUERY_VHCA_MIGRATION_STATE, 2,
                ins=(MVF_QUERY_F_INCREMENTAL,))
    sn = b.post(MVF_CMD_NOP)
    rq, rn = b.wait_entry(sq), b.wait_entry(sn)
    eq((rq and rq[:2], rn and rn[:2]), ((0, 0), (0, 0)),
       'a QUERY of VF2 and a NOP posted later')
    eq(q.rb(slot + 7), MVF_CMD_OWN_HW,
       "... completed while VF1's SAVE still runs")
    r = b.wait_entry(slot, BIG_TRIES)
    check(r is not None and r[:2] == (0, 0), 'SAVE of 8 GiB: %r' % (r,))
    ev = events(b, 3)
    eq([e[2] for e in ev][-1:], [tok], 'its event comes last')
    n = r[2][0] | r[2][1] << 32 if r else 0
    eq((n, r and r[2][2]), (whole, MVF_SAVE_OUT_END), 'SAVE: exactly QUERY')
    data = q.read(SAVE_BUF, n)
    recs = parse(data, '8 GiB stream')
    check_whole(recs, '8 GiB stream', 1, BIG)
    eq([(r.dm()[0], r.dm()[1]) for r in recs
        if r.tag == MVF_REC_DEVMEM and not r.dm()[2]],
       [(hi1, 1), (hi2, 1)], 'data records above 4 GiB')
    img = Image(recs)
    eq(img.pages.get(hi1 // PAGE, b'')[:len(text)], text,
       'page at 4 GiB + 8 KiB')
    eq(img.pages.get(hi2 // PAGE), pattern, 'page at 6 GiB + 4 KiB')

    # into VF2, which reads them back through its BAR2
    q.write(m2 + hi1 + 4 * PAGE, b'VF2 own')
    suspend(b, 2, I)
    suspend(b, 2, R)
    out = load(b, 2, data, start=True, tries=BIG_TRIES, what='8 GiB')
    eq(out[2], MVF_LOAD_OUT_END, 'LOAD of 8 GiB: END')
    resume(b, 2, R)
    eq(q.read(m2 + hi1, len(text)), text, 'VF2 at 4 GiB + 8 KiB')
    eq(q.read(m2 + hi2, PAGE), pattern, 'VF2 at 6 GiB + 4 KiB')
    eq(q.read(m2 + hi1 + 4 * PAGE, 8), bytes(8), 'VF2 own data replaced')

    # a VF reset under a running SAVE and behind it a queued SAVE, QUERY
    s0 = post_save(b, 1, SAVE_BUF, whole + 4096, start=True)
    s1 = post_save(b, 1, SAVE_BUF, whole + 4096, sgl_at=SCR + 0x6100)
    s2 = b.post(MVF_CMD_QUERY_VHCA_MIGRATION_STATE, 1,
                ins=(MVF_QUERY_F_INCREMENTAL,), ring=False)
    b.ring()
    wait_running(b, s0, 'SAVE before the FLR')
    flr(b, 1)
    res = [b.wait_entry(s, BIG_TRIES) for s in (s0, s1, s2)]
    eq([x and x[:2] for x in res],
       [(MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_SESSION),
        (MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_SESSION), (0, 0)],
       'FLR: the running SAVE loses its session, the queued one has none')
    eq(res[2] and res[2][2], [0, 0, 0, 0], 'QUERY after the FLR: a new VF')
    events(b, 3)

    # VFs disabled under a running SAVE and a queued QUERY
    s0 = post_save(b, 2, SAVE_BUF, whole + 4096, start=True)
    s1 = b.post(MVF_CMD_QUERY_VHCA_MIGRATION_STATE, 2, ring=False)
    b.ring()
    wait_running(b, s0, 'SAVE before VF disable')
    q.ww(cfg(1, 0, b.sriov + 8), 0x10)
    res = [b.wait_entry(s, BIG_TRIES) for s in (s0, s1)]
    eq([x and x[:2] for x in res],
       [(MVF_CMD_STAT_BAD_RESOURCE, MVF_SYND_VF_DISABLED)] * 2,
       'VF disable: the running and the queued command fail')
    events(b, 2)
    b.enable_vfs(2)
    eq(query(b, 2, True), (0, 0), 'a re-enabled VF has no session')

    # the interface reset drops a running SAVE: its session closes
    suspend(b, 1, I)
    suspend(b, 1, R)
    out, first = save(b, 1, REC_IDENT, start=True, what='IDENT only')
    eq(len(first), REC_IDENT, 'a session with IDENT only')
    slot = post_save(b, 1, SAVE_BUF, whole + 4096)
    b.ring()
    wait_running(b, slot, 'SAVE before the interface reset')
    q.wl(PF_BAR0 + MVF_PF_REG_CTRL, MVF_PF_CTRL_RESET)
    for _ in range(10):
        q.step()
    eq(q.rb(slot + 7), MVF_CMD_OWN_HW, 'a dropped command is not written back')
    check(b.next_event() is None, 'nor is its event posted')
    b.pf_enable()
    eq(query(b, 1, True), (0, QF), 'the dropped SAVE closed its session')

    # a slot reused before its command completed
    b.pf_enable(cmdq_log=2)
    slot = post_save(b, 1, SAVE_BUF, REC_IDENT + REC_SIZE, start=True)
    nops = [b.post(MVF_CMD_NOP, ring=False) for _ in range(3)]
    b.ring()
    eq([b.wait_entry(s) is not None for s in nops], [True] * 3,
       'NOPs behind nothing: done')
    eq(q.rb(slot + 7), MVF_CMD_OWN_HW, 'the SAVE still runs')
    b.post(MVF_CMD_NOP)
    q.step()
    eq(q.rl(PF_BAR0 + MVF_PF_REG_STATUS), MVF_PF_STATUS_FATAL,
       'slot reused before completion -> FATAL')
    b.pf_enable()
    eq(query(b, 1, True), (0, QF), 'RESET after FATAL: nothing left')
    test_big_vf_error(b, whole)


PF_QOM = '/machine/peripheral/pf1'
RP = 2 << 3
# AER (PCI_ERR_*) and PCIe capability registers
AER_UNCOR_STATUS, AER_UNCOR_SEVER, AER_COR_STATUS = 0x04, 0x0c, 0x10
AER_ROOT_STATUS, AER_ERR_SRC = 0x30, 0x34
UNC_COMP_TIME, UNC_MALF_TLP, COR_RCVR = 1 << 14, 1 << 18, 1 << 0
ROOT_COR_RCV, ROOT_UNCOR_RCV = 1 << 0, 1 << 2
ROOT_NONFATAL_RCV, ROOT_FATAL_RCV = 1 << 5, 1 << 6
EXP_DEVCTL, EXP_LNKCAP, EXP_LNKSTA = 0x08, 0x0c, 0x12


def aer_inject(b, value):
    return b.q.qmp('qom-set', path=PF_QOM, property='aer-inject',
                   value=value)


def link_set(b, value):
    return b.q.qmp('qom-set', path=PF_QOM, property='link', value=value)


def lnksta(b, devfn):
    q = b.q
    return q.rw(cfg(1, devfn, find_cap(q, 1, devfn, 0x10) + EXP_LNKSTA))


def aer_enable_reporting(b, nvf):
    """What a guest's AER driver sets up: reports from the functions
    reach the root port's Root Error Status"""
    q = b.q
    for fn in range(nvf + 1):
        exp = find_cap(q, 1, fn, 0x10)
        q.ww(cfg(1, fn, exp + EXP_DEVCTL),
             q.rw(cfg(1, fn, exp + EXP_DEVCTL)) | 0xf)
    exp = find_cap(q, 0, RP, 0x10)
    q.ww(cfg(0, RP, exp + EXP_DEVCTL), q.rw(cfg(0, RP, exp + EXP_DEVCTL)) | 7)
    q.ww(cfg(0, RP, 0x3e), q.rw(cfg(0, RP, 0x3e)) | 2)    # SERR forwarding


def root_status(b):
    """(Root Error Status, Error Source Id) of the root port, cleared"""
    q = b.q
    aer = find_ecap(q, 0, RP, 1)
    st = q.rl(cfg(0, RP, aer + AER_ROOT_STATUS))
    src = q.rl(cfg(0, RP, aer + AER_ERR_SRC))
    q.wl(cfg(0, RP, aer + AER_ROOT_STATUS), st)
    return st, src


def aer_status(b, devfn):
    """(uncorrectable, correctable) status of a function, cleared"""
    q = b.q
    aer = find_ecap(q, 1, devfn, 1)
    u = q.rl(cfg(1, devfn, aer + AER_UNCOR_STATUS))
    c = q.rl(cfg(1, devfn, aer + AER_COR_STATUS))
    q.wl(cfg(1, devfn, aer + AER_UNCOR_STATUS), u)
    q.wl(cfg(1, devfn, aer + AER_COR_STATUS), c)
    return u, c


def test_ras():
    """aer-inject and link: errors and link changes on the host's command;
    the VFs' PM capability"""
    b = Bench()
    try:
        q = b.q
        b.pf_enable()
        b.enable_vfs(2)
        aer_enable_reporting(b, 2)
        status = PF_BAR0 + MVF_PF_REG_STATUS

        # refused values change nothing
        for v in ('', 'pf', 'pf cor x', 'pf  cor', 'PF cor', 'vf cor',
                  'vfx cor', 'vf-1 cor', 'vf8 cor', 'vf2 cor', 'pf warm',
                  'pf uncor'):
            r = aer_inject(b, v)
            eq(r[0], 'error', 'aer-inject %r refused' % v)
        eq(aer_status(b, 0), (0, 0), 'refused injections: no AER status')
        eq(q.rl(status), MVF_PF_STATUS_READY, '... and the PF is READY')
        r = q.qmp('qom-get', path=PF_QOM, property='link')
        eq(r, ('return', '4 16'), 'link comes up at 16 GT/s x16')
        exp = find_cap(q, 1, 0, 0x10)
        eq(q.rl(cfg(1, 0, exp + EXP_LNKCAP)) & 0x3ff, 4 | 16 << 4,
           'PF Link Capabilities: 16 GT/s x16')
        eq([lnksta(b, fn) & 0x3ff for fn in range(3)], [4 | 16 << 4] * 3,
           'Link Status of PF and VFs at reset')
        for v in ('', '4', '4 16 1', '0 16', '5 16', '8 16', '4 0', '4 3',
                  '4 32', '4 12', 'a b', '-1 4'):
            r = link_set(b, v)
            eq(r[0], 'error', 'link %r refused' % v)
        eq([lnksta(b, fn) & 0x3ff for fn in range(3)], [4 | 16 << 4] * 3,
           'refused link values change nothing')
        check(b.next_event() is None, 'no event for a refused link value')

        # link change: Link Status of all, one event
        eq(link_set(b, '2 4'), ('return', {}), 'link 2 4')
        eq([lnksta(b, fn) & 0x3ff for fn in range(3)], [2 | 4 << 4] * 3,
           'Link Status of PF, VF1, VF2: 5 GT/s x4')
        eq(q.qmp('qom-get', path=PF_QOM, property='link'),
           ('return', '2 4'), 'qom-get link')
        for _ in range(3):
            q.step()
        ev = b.next_event()
        eq(ev, (MVF_EVENT_LINK_CHANGE, 0, 0, 0, 2 | 4 << 8),
           'LINK_CHANGE event: speed | width << 8')
        check(b.next_event() is None, 'one event per change')
        # not while the interface is down: dropped, not kept
        q.wl(PF_BAR0 + MVF_PF_REG_CTRL, 0)
        eq(link_set(b, '1 1'), ('return', {}), 'link 1 1')
        b.pf_enable()
        for _ in range(3):
            q.step()
        check(b.next_event() is None, 'no LINK_CHANGE from while it was down')
        eq(lnksta(b, 1) & 0x3ff, 1 | 1 << 4, 'VF1 Link Status 2.5 GT/s x1')
        link_set(b, '4 16')
        for _ in range(3):
            q.step()
        eq(b.next_event(), (MVF_EVENT_LINK_CHANGE, 0, 0, 0, 4 | 16 << 8),
           'LINK_CHANGE back to 16 GT/s x16')

        # correctable: AER status and a report, nothing else
        root_status(b)
        eq(aer_inject(b, 'pf cor'), ('return', {}), 'pf cor')
        eq(aer_status(b, 0), (0, COR_RCVR), 'PF: a Receiver Error')
        st, src = root_status(b)
        eq((st & 0x7f, src & 0xffff), (ROOT_COR_RCV, 0x100),
           'root port got a correctable report from 01:00.0')
        eq(q.rl(status), MVF_PF_STATUS_READY, 'cor: still READY')
        b.expect(0, 0, MVF_CMD_NOP)
        eq(aer_inject(b, 'vf1 cor'), ('return', {}), 'vf1 cor')
        eq(aer_status(b, 2), (0, COR_RCVR), 'VF2 (vf1): a Receiver Error')
        st, src = root_status(b)
        eq((st & 0x7f, src & 0xffff), (ROOT_COR_RCV, 0x102),
           'root port got it from 01:00.2')

        # uncorrectable on the PF: the interface halts, queued work dropped
        b.pf_enable(cmdq_log=3, eq_log=2)       # 4 events
        slots = [b.post(MVF_CMD_NOP) for _ in range(6)]
        for _ in range(5):
            q.step()
        eq([q.rb(x + 7) == 0 for x in slots], [True] * 4 + [False] * 2,
           'two NOPs wait for event queue room')
        q.wl(vf_bar(1) + MVF_VF_REG_SCRATCH(2), 0x77)
        eq(aer_inject(b, 'pf uncor-nonfatal'), ('return', {}),
           'pf uncor-nonfatal')
        eq(q.rl(status), MVF_PF_STATUS_FATAL, 'uncor: FATAL, not READY')
        u, c = aer_status(b, 0)
        eq((u, c), (UNC_COMP_TIME, 0), 'PF: a Completion Timeout')
        st, src = root_status(b)
        eq((st & 0x7f, src >> 16),
           (ROOT_UNCOR_RCV | ROOT_NONFATAL_RCV, 0x100),
           'root port got a non-fatal report from 01:00.0')
        for _ in range(4):
            b.next_event()
        for _ in range(5):
            q.step()
        eq([q.rb(x + 7) == 0 for x in slots[4:]], [False, False],
           'the waiting commands are dropped, not completed')
        extra = b.post(MVF_CMD_NOP)
        for _ in range(3):
            q.step()
        eq((q.rl(PF_BAR0 + MVF_PF_REG_CMDQ_CI), q.rb(extra + 7)),
           (6, MVF_CMD_OWN_HW), 'doorbell ignored while FATAL')
        eq(q.rl(vf_bar(1) + MVF_VF_REG_SCRATCH(2)), 0x77,
           "the VFs' BARs keep working")
        q.wl(PF_BAR0 + MVF_PF_REG_CTRL, 0)
        q.wl(PF_BAR0 + MVF_PF_REG_CTRL, MVF_PF_CTRL_ENABLE)
        eq(q.rl(status), MVF_PF_STATUS_FATAL, 'ENABLE alone: still FATAL')
        b.pf_enable()
        eq(q.rl(status), MVF_PF_STATUS_READY, 'RESET + ENABLE: READY')
        b.expect(0, 0, MVF_CMD_NOP)
        eq(mig_state(b, 1)[1], 0, 'VF commands work again')

        # fatal on the PF
        eq(aer_inject(b, 'pf fatal'), ('return', {}), 'pf fatal')
        eq(q.rl(status), MVF_PF_STATUS_FATAL, 'fatal: FATAL')
        eq(aer_status(b, 0), (UNC_MALF_TLP, 0), 'PF: a Malformed TLP')
        st, src = root_status(b)
        eq((st & ROOT_FATAL_RCV, src >> 16), (ROOT_FATAL_RCV, 0x100),
           'root port got a fatal report')
        b.pf_enable()
        b.expect(0, 0, MVF_CMD_NOP)

        # no error of the severity asked for: refused
        aer = find_ecap(q, 1, 1, 1)
        sev = q.rl(cfg(1, 1, aer + AER_UNCOR_SEVER))
        q.wl(cfg(1, 1, aer + AER_UNCOR_SEVER), 0)
        eq(aer_inject(b, 'vf0 fatal')[0], 'error',
           'vf0 fatal refused when nothing is fatal')
        q.wl(cfg(1, 1, aer + AER_UNCOR_SEVER), sev)

        # uncorrectable on a VF without a session: nothing to see but AER
        eq(aer_inject(b, 'vf0 fatal'), ('return', {}), 'vf0 fatal')
        eq(aer_status(b, 1), (UNC_MALF_TLP, 0), 'VF1: a Malformed TLP')
        eq(q.rl(status), MVF_PF_STATUS_READY, "a VF's error leaves the PF")
        eq(mig_state(b, 1)[1], 0, 'VF1 state unchanged')
        test_pm(b)
    finally:
        b.q.quit()


def test_pm(b):
    """The VFs' PM capability: D3hot -> D0 resets the function"""
    q = b.q
    pm = find_cap(q, 1, 1, 0x01)
    check(pm != 0, 'VF PM capability')
    eq(q.rw(cfg(1, 1, pm + 2)) & 7, 3, 'PM version 1.2')
    eq(q.rw(cfg(1, 1, pm + 4)) & 0xb, 0, 'D0, No_Soft_Reset clear')
    q.wl(vf_bar(1) + MVF_VF_REG_SCRATCH(3), 0x1234)
    q.ww(cfg(1, 1, pm + 4), 0)
    eq(q.rl(vf_bar(1) + MVF_VF_REG_SCRATCH(3)), 0x1234, 'D0 -> D0: no reset')
    q.ww(cfg(1, 1, pm + 4), 3)
    eq(q.rw(cfg(1, 1, pm + 4)) & 3, 3, 'D3hot')
    q.ww(cfg(1, 1, pm + 4), 0)
    eq(q.rw(cfg(1, 1, pm + 4)) & 3, 0, 'back in D0')
    eq(q.rw(cfg(1, 1, 4)) & 6, 0, 'the reset cleared the command register')
    q.ww(cfg(1, 1, 4), 6)      # what the OS restores after a reset
    eq(q.rl(vf_bar(1) + MVF_VF_REG_MAGIC), MVF_MAGIC_VF, 'VF1 BAR0 mapped')
    eq(q.rl(vf_bar(1) + MVF_VF_REG_SCRATCH(3)), 0, 'D3hot -> D0 reset the VF')


def test_big_vf_error(b, whole):
    """An uncorrectable error of a VF under a running SAVE and queued
    SAVE, LOAD and CLOSE"""
    q = b.q
    I, R = MVF_SUSPEND_INITIATOR, MVF_SUSPEND_RESPONDER
    suspend(b, 1, I)
    suspend(b, 1, R)
    s0 = post_save(b, 1, SAVE_BUF, whole + 4096, start=True)
    s1 = post_save(b, 1, SAVE_BUF, whole + 4096, sgl_at=SCR + 0x6100)
    s2 = b.post(MVF_CMD_LOAD_VHCA_STATE, 1, sgl=SCR + 0x6200, sgl_len=16,
                data_len=4096, ring=False)
    s3 = b.post(MVF_CMD_SAVE_VHCA_STATE, 1, ins=(MVF_SAVE_F_CLOSE,),
                ring=False)
    s4 = b.post(MVF_CMD_NOP, ring=False)
    b.ring()
    wait_running(b, s0, 'SAVE before the VF error')
    eq(aer_inject(b, 'vf0 uncor-nonfatal'), ('return', {}),
       'vf0 uncor-nonfatal')
    res = [b.wait_entry(s, BIG_TRIES) for s in (s0, s1, s2, s3, s4)]
    ab = (MVF_CMD_STAT_BAD_STATE, MVF_SYND_ABORTED)
    eq([x and x[:2] for x in res], [ab, ab, ab, (0, 0), (0, 0)],
       'VF error: running and queued SAVE/LOAD ABORTED, CLOSE and NOP ok')
    events(b, 5)
    eq(aer_status(b, 1)[0], UNC_COMP_TIME, 'VF1: a Completion Timeout')
    eq(query(b, 1, True, tries=BIG_TRIES), (0, QF),
       'no session left; still quiesced and frozen')
    save(b, 1, 4096, want=(MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_SESSION),
         what='without START after the error')
    out, first = save(b, 1, REC_IDENT, start=True, what='START after it')
    eq(len(first), REC_IDENT, 'a new session starts')
    b.expect(0, 0, MVF_CMD_SAVE_VHCA_STATE, 1, ins=(MVF_SAVE_F_CLOSE,))


def test_vf_disable(b):
    q = b.q
    q.wl(vf_bar(2) + MVF_VF_REG_SCRATCH(0), 7)
    q.ww(cfg(1, 0, b.sriov + 8), 0x10)
    b.expect(MVF_CMD_STAT_BAD_RESOURCE, MVF_SYND_VF_DISABLED,
             MVF_CMD_QUERY_VHCA_MIGRATION_STATE, 2)
    b.enable_vfs(2)
    eq(q.rl(vf_bar(2) + MVF_VF_REG_SCRATCH(0)), 0, 'VF disable resets')
    # PF FLR resets the command interface and disables the VFs
    exp = find_cap(q, 1, 0, 0x10)
    q.ww(cfg(1, 0, exp + 8), q.rw(cfg(1, 0, exp + 8)) | 0x8000)
    eq(q.rl(PF_BAR0 + MVF_PF_REG_STATUS), 0, 'PF FLR resets cmd interface')
    eq(q.rw(cfg(1, 0, b.sriov + 8)) & 1, 0, 'PF FLR disables VFs')


VTD = 0xfed90000            # q35's intel-iommu registers
VTD_GCMD, VTD_GSTS, VTD_RTADDR, VTD_FSTS = 0x18, 0x1c, 0x20, 0x34
VTD_TE, VTD_SRTP = 1 << 31, 1 << 30


class Vtd:
    """Legacy-mode VT-d tables for bus 1: the PF passes through, VF2 gets a
    4-level second-level page table."""

    def __init__(self, b, base=0x18000000):
        self.q, self.next = b.q, base
        self.rt, self.ct, self.pml4 = self.page(), self.page(), self.page()
        q = self.q
        q.wq(self.rt + 16 * 1, self.ct | 1)
        q.wq(self.ct + 16 * 0, (2 << 2) | 1)            # PF: pass-through
        q.wq(self.ct + 16 * 0 + 8, 2 | (1 << 8))        # 48-bit, domain 1
        q.wq(self.ct + 16 * 2, self.pml4 | 1)           # VF2: translated
        q.wq(self.ct + 16 * 2 + 8, 2 | (2 << 8))        # 48-bit, domain 2
        q.wq(VTD + VTD_RTADDR, self.rt)
        q.wl(VTD + VTD_GCMD, VTD_SRTP)
        check(q.rl(VTD + VTD_GSTS) & VTD_SRTP, 'VT-d root table set')
        q.wl(VTD + VTD_GCMD, VTD_TE)
        check(q.rl(VTD + VTD_GSTS) & VTD_TE, 'VT-d translation enabled')

    def page(self):
        a, self.next = self.next, self.next + 0x1000
        self.q.memset(a, 0x1000)
        return a

    def map(self, iova, pa, n=1):
        q = self.q
        for i in range(n):
            va, t = iova + 0x1000 * i, self.pml4
            for shift in (39, 30, 21):
                e = t + 8 * ((va >> shift) & 0x1ff)
                v = q.rq(e)
                if not v & 1:
                    v = self.page() | 3
                    q.wq(e, v)
                t = v & 0xffffffffff000
            q.wq(t + 8 * ((va >> 12) & 0x1ff), (pa + 0x1000 * i) | 3)


def test_iommu():
    """A peer VF's DMA through the intel-iommu to a frozen VF's BAR2."""
    b = Bench(pre=['-device', 'intel-iommu,intremap=off,aw-bits=48'])
    try:
        q = b.q
        I, R = MVF_SUSPEND_INITIATOR, MVF_SUSPEND_RESPONDER
        b.pf_enable()
        b.enable_vfs(2)
        vtd = Vtd(b)
        qp2 = Qp(b, 2, 0x700000)
        vtd.map(0x700000, 0x700000, 16)         # VF2's queues
        vtd.map(MSI_VF, MSI_VF)                 # its MSI-X message
        P2P = 0x40000000
        vtd.map(P2P, vf_mem(1))                 # one page of VF1's BAR2
        eq(mig_state(b, 1)[1], 0, 'PF commands pass through the IOMMU')
        suspend(b, 1, I)
        suspend(b, 1, R)
        q.write(vf_mem(2), b'\xa5' * 256)
        qp2.send(MVF_WQE_DEVMEM_READ, 256, P2P, 0, wr_id=1)
        qp2.send(MVF_WQE_DEVMEM_WRITE, 128, P2P + 0x100, 0x100, wr_id=2)
        qp2.send(MVF_WQE_DEVMEM_READ, 16, P2P + 0x1000, 0, wr_id=3)
        c = qp2.poll(3)
        eq([(x['wr_id'], x['status']) for x in c],
           [(1, 0), (2, 0), (3, MVF_CQE_STAT_DMA)],
           'translated P2P DMA trapped; a translation fault is an error CQE')
        check(q.rl(VTD + VTD_FSTS) != 0, 'the IOMMU recorded the fault')
        eq(q.read(vf_mem(2) + 0x100, 128), b'\xff' * 128,
           'translated read of a frozen BAR2 gets all-ones')
        eq(frozen_count(b, 1), 256 // 8 + 128 // 8,
           'translated DMA reached the frozen BAR2')
        eq([v for v, _ in b.take_frozen_events()], [1], 'one event')
        resume(b, 1, R)
        eq(q.read(vf_mem(1), 256), b'\0' * 256, 'nothing written while frozen')
        qp2.send(MVF_WQE_DEVMEM_READ, 256, P2P, 0, wr_id=4)
        eq([(x['wr_id'], x['status']) for x in qp2.poll(1)], [(4, 0)],
           'P2P DMA to a live VF')
        eq(q.read(vf_mem(1), 256), b'\xa5' * 256,
           'translated DMA lands in the live BAR2')
    finally:
        b.q.quit()


# ---- dirty page tracking (interface 2.2) ----

TRK_SGL = 0x14000000        # scatter list tables of the tracker commands
TRK_RANGES = 0x14001000     # CREATE's ranges
TRK_RUNS = 0x14002000       # REPORT's runs
TRK_AREA = (0x14000000, 0x10000)
DATA = 0x10000000           # tracked: a VF's queues and buffers
DATA_LEN = 4 << 20
M32 = 0xffffffff
TOP = 1 << 64


def trk_create(b, vhca, shift, ranges, cap=0, want=(0, 0), n=None,
               data_len=None, sgl_len=None, rsvd=0, what=''):
    data = b''.join(struct.pack('<QQ', a & (TOP - 1), ln & (TOP - 1))
                    for a, ln in ranges)
    b.q.write(TRK_RANGES, data)
    sgl, slen = sgl_table(b, TRK_SGL, [(TRK_RANGES, max(len(data), 16), 0)])
    st, sy, out = b.run(MVF_CMD_CREATE_TRACKER, vhca,
                        ins=(shift, len(ranges) if n is None else n, cap,
                             rsvd),
                        sgl=sgl, sgl_len=slen if sgl_len is None else sgl_len,
                        data_len=len(data) if data_len is None else data_len)
    eq((st, sy), want, 'CREATE_TRACKER vhca %d %s' % (vhca, what))
    return out


def trk_report(b, vhca, iova, length, nruns=64, want=(0, 0), data_len=None,
               buf=TRK_RUNS, sgl_len=None, split=0, what=''):
    """REPORT_DIRTY: (out, [(iova, pages)]); @split: two buffers"""
    if buf == TRK_RUNS:
        b.q.memset(TRK_RUNS, 16 * (nruns + 1), 0xee)
    elems = [(buf, 16 * nruns, 0)]
    if split:
        elems = [(buf, split, 0), (buf + split, 16 * nruns - split, 0)]
    sgl, slen = sgl_table(b, TRK_SGL + 0x100, elems)
    st, sy, out = b.run(MVF_CMD_REPORT_DIRTY, vhca,
                        ins=(iova & M32, iova >> 32, length & M32,
                             length >> 32),
                        sgl=sgl, sgl_len=slen if sgl_len is None else sgl_len,
                        data_len=16 * nruns if data_len is None else data_len)
    eq((st, sy), want, 'REPORT_DIRTY vhca %d %s' % (vhca, what))
    if st != 0:
        return out, []
    check(out[0] <= nruns, 'REPORT wrote at most data_len / 16 runs')
    runs = []
    for i in range(min(out[0], nruns)):
        a, n, r = struct.unpack('<QII', b.q.read(buf + 16 * i, 16))
        check(r == 0, 'run rsvd0 0')
        runs.append((a, n))
    if buf == TRK_RUNS:
        eq(b.q.read(TRK_RUNS + 16 * out[0], 16), b'\xee' * 16,
           'nothing written after the runs %s' % what)
    return out, runs


def trk_destroy(b, vhca):
    return b.expect(0, 0, MVF_CMD_DESTROY_TRACKER, vhca)[0]


def runs_of(pages, shift=12):
    """Ascending runs of a set of page numbers, as the device writes them"""
    runs = []
    for p in sorted(pages):
        if runs and (runs[-1][0] >> shift) + runs[-1][1] == p:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((p << shift, 1))
    return runs


def pages_of(addr, length, shift=12):
    return set(range(addr >> shift, ((addr + length - 1) >> shift) + 1))


def trk_stats(b):
    """x-track-stats: {vhca: {name: value}}"""
    r = b.q.qmp('qom-get', path=PF_QOM, property='x-track-stats')
    check(r[0] == 'return', 'x-track-stats readable: %r' % (r,))
    res = {}
    for line in (r[1] or '').splitlines():
        f = line.split()
        res[int(f[0][2:])] = {k: int(v) for k, v in
                              (x.split('=') for x in f[1:])}
    return res


def whole_report(b, vhca, what, nruns=64):
    """REPORT of everything (one window over all IOVAs): the runs"""
    out, runs = trk_report(b, vhca, 0, TOP - 1, nruns=nruns, what=what)
    eq(out[1], 0, 'no flags: ' + what)
    return runs


def test_track_errors(b):
    """QUERY_TRACK_CAPS and every CREATE/REPORT/DESTROY failure"""
    BP, BS, BR = (MVF_CMD_STAT_BAD_PARAM, MVF_CMD_STAT_BAD_STATE,
                  MVF_CMD_STAT_BAD_RESOURCE)
    out = b.expect(0, 0, MVF_CMD_QUERY_TRACK_CAPS)
    eq(out, [0x003ff000, 8, 48, 1 << 20], 'QUERY_TRACK_CAPS')
    b.expect(BP, MVF_SYND_BAD_VHCA, MVF_CMD_QUERY_TRACK_CAPS, 1)
    b.expect(BP, MVF_SYND_RSVD_NOT_ZERO, MVF_CMD_QUERY_TRACK_CAPS, ins=(1,))
    for op in (MVF_CMD_CREATE_TRACKER, MVF_CMD_DESTROY_TRACKER,
               MVF_CMD_REPORT_DIRTY):
        b.expect(BP, MVF_SYND_BAD_VHCA, op, 0)
        b.expect(BR, MVF_SYND_BAD_VHCA, op, NVF + 1)
        b.expect(BR, MVF_SYND_VF_DISABLED, op, 4)
    b.expect(BP, MVF_SYND_RSVD_NOT_ZERO, MVF_CMD_DESTROY_TRACKER, 1,
             ins=(1,))
    trk_create(b, 1, 12, [(DATA, 0x1000)], rsvd=1,
               want=(BP, MVF_SYND_RSVD_NOT_ZERO), what='in[3] set')
    # no tracker: the state before the parameters
    trk_report(b, 1, DATA, 0x1000, want=(BS, MVF_SYND_NO_TRACKER),
               what='without a tracker')
    trk_report(b, 1, DATA, 0, want=(BS, MVF_SYND_NO_TRACKER),
               what='without a tracker, length 0')
    eq(trk_destroy(b, 1), 0, 'DESTROY without a tracker: out[0] 0')

    R = (BP, MVF_SYND_TRACK_RANGE)
    for shift in (0, 11, 22, 40, 0x8000000c):
        trk_create(b, 1, shift, [(DATA, 0x400000)],
                   want=(BP, MVF_SYND_TRACK_PAGE_SIZE),
                   what='page shift %#x' % shift)
    trk_create(b, 1, 12, [], n=0, data_len=0,
               want=(BP, MVF_SYND_TRACK_NRANGES), what='0 ranges')
    trk_create(b, 1, 12, [(DATA + 0x1000 * 2 * i, 0x1000) for i in range(9)],
               want=(BP, MVF_SYND_TRACK_NRANGES), what='9 ranges')
    trk_create(b, 1, 12, [(DATA, 0x1000)], data_len=32,
               want=(BP, MVF_SYND_BAD_LEN), what='data_len 32 for 1 range')
    trk_create(b, 1, 12, [(DATA, 0x1000)], data_len=0,
               want=(BP, MVF_SYND_BAD_LEN), what='data_len 0')
    trk_create(b, 1, 12, [(DATA, 0x1000)], sgl_len=0,
               want=(BP, MVF_SYND_BAD_SGL), what='sgl_len 0')
    for what, rr in (
            ('unaligned iova', [(DATA + 0x800, 0x1000)]),
            ('unaligned length', [(DATA, 0x1800)]),
            ('length 0', [(DATA, 0x1000), (DATA + 0x2000, 0)]),
            ('wrapping', [(TOP - 0x1000, 0x2000)]),
            ('unsorted', [(DATA + 0x2000, 0x1000), (DATA, 0x1000)]),
            ('overlapping', [(DATA, 0x2000), (DATA + 0x1000, 0x2000)]),
            ('the same twice', [(DATA, 0x1000), (DATA, 0x1000)])):
        trk_create(b, 1, 12, rr, want=R, what=what)
    trk_create(b, 1, 21, [(DATA, 0x1000)], want=R,
               what='4 KiB range, 2 MiB pages')
    trk_create(b, 1, 21, [(DATA + 0x1000, 0x200000)], want=R,
               what='4 KiB aligned iova, 2 MiB pages')
    trk_create(b, 1, 12, [(0, 1 << 47), (1 << 48, (1 << 47) + 0x1000)],
               want=(BP, MVF_SYND_TRACK_ADDR_SPACE), what='2^48 + 4 KiB')
    trk_create(b, 1, 12, [(0, TOP - 0x1000)],
               want=(BP, MVF_SYND_TRACK_ADDR_SPACE), what='2^64 - 4 KiB')
    eq(trk_destroy(b, 1), 0, 'no failed CREATE left a tracker')

    # what works: touching ranges, 2^48 bytes, the top of the space
    eq(trk_create(b, 1, 12, [(0, 1 << 47), (1 << 47, 1 << 47)],
                  what='2^48 bytes, touching ranges'), [1 << 20, 0, 0, 0],
       'capacity 0 -> the maximum')
    eq(trk_create(b, 1, 21, [(TOP - 0x200000, 0x200000)],
                  cap=100, what='the last 2 MiB'), [100, 0, 0, 0],
       'capacity granted as asked')
    eq(trk_create(b, 1, 12, [(DATA, 0x1000)], cap=M32)[0], 1 << 20,
       'capacity above the maximum -> the maximum')
    trk_create(b, 1, 12, [(DATA, 0x1000)] * 2, want=R,
               what='a failed CREATE ...')
    trk_report(b, 1, DATA, 0x1000, what='... keeps the tracker')

    # REPORT's parameters
    W = (BP, MVF_SYND_TRACK_WINDOW)
    trk_report(b, 1, DATA, 0, want=W, what='length 0')
    trk_report(b, 1, TOP - 0x1000, 0x2000, want=W, what='wrapping window')
    trk_report(b, 1, 0x1000, TOP - 0x1000, what='window to the top')
    for dl in (0, 8, 24):
        trk_report(b, 1, DATA, 0x1000, data_len=dl,
                   want=(BP, MVF_SYND_BAD_LEN), what='data_len %d' % dl)
    trk_report(b, 1, DATA, 0x1000, sgl_len=8, want=(BP, MVF_SYND_BAD_SGL),
               what='sgl_len 8')
    eq(trk_destroy(b, 1), 1, 'DESTROY: out[0] 1')
    eq(trk_destroy(b, 1), 0, 'DESTROY again: out[0] 0')
    trk_report(b, 1, DATA, 0x1000, want=(BS, MVF_SYND_NO_TRACKER),
               what='after DESTROY')


def test_track_exact(b):
    """Exactly the pages the VF's DMA writes; runs ascending; windows"""
    q = b.q
    QP = DATA                   # SQ, RQ, CQ pages, buffers from +0x4000
    CQ = QP + 0x2000
    qp = Qp(b, 1, QP)
    ranges = [(DATA, DATA_LEN), TRK_AREA]
    trk_create(b, 1, 12, ranges, what='VF1, 4 KiB')
    eq(whole_report(b, 1, 'nothing written yet'), [], 'nothing dirty yet')
    eq(trk_stats(b), {1: dict(page_shift=12, ranges=2, capacity=1 << 20,
                              pages=0, pending=0, marks=0, overflows=0,
                              reports=1)}, 'x-track-stats')

    # DEVMEM_READ (host write), SEND (its receive buffer), CQEs: marked;
    # WQE reads, the SEND source and DEVMEM_WRITE's host side: not
    q.write(DATA + 0x30000, b's' * 100)
    qp.send(MVF_WQE_DEVMEM_READ, 3 * 4096, DATA + 0x10800, 0, wr_id=1)
    qp.send(MVF_WQE_DEVMEM_WRITE, 8192, DATA + 0x20000, 0, wr_id=2)
    qp.send(MVF_WQE_SEND, 100, DATA + 0x30000, wr_id=3)
    qp.recv(DATA + 0x40ff0, 128, wr_id=4)
    qp.send(MVF_WQE_NOP, wr_id=5)
    c = qp.poll(5)
    eq([x['status'] for x in c], [0] * 5, 'tracked WQEs complete')
    want = (pages_of(DATA + 0x10800, 3 * 4096) | pages_of(CQ, 1) |
            pages_of(DATA + 0x40ff0, 100))
    eq(trk_stats(b)[1]['pages'], len(want), 'stored pages, once each')
    eq(whole_report(b, 1, 'CQE/SEND/DEVMEM_READ'), runs_of(want),
       'exact sorted runs of CQE, SEND and DEVMEM_READ writes')
    eq(whole_report(b, 1, 'again'), [], 'a REPORT forgets what it reported')

    # reads only: the CQ page alone
    qp.send(MVF_WQE_DEVMEM_WRITE, 4 * 4096, DATA + 0x50000, 0, wr_id=6)
    qp.poll(1)
    eq(whole_report(b, 1, 'reads'), runs_of(pages_of(CQ, 1)),
       'DMA reads mark nothing')
    # PF DMA (ranges, runs, command queue) never marks: TRK_AREA is tracked
    eq(whole_report(b, 1, 'PF DMA'), [], "the PF's own DMA marks nothing")

    # clipped to the ranges: a write across the end of one
    qp.send(MVF_WQE_DEVMEM_READ, 2 * 4096, DATA + DATA_LEN - 0x1000, 0,
            wr_id=7)
    qp.poll(1)
    eq(whole_report(b, 1, 'range end'),
       runs_of(pages_of(CQ, 1) | pages_of(DATA + DATA_LEN - 0x1000, 1)),
       'only the pages inside the ranges')

    # a window: only its pages, the rest stays; partly outside the ranges
    qp.send(MVF_WQE_DEVMEM_READ, 4096, DATA + 0x60000, 0, wr_id=8)
    qp.send(MVF_WQE_DEVMEM_READ, 4096, DATA + 0x80000, 0, wr_id=9)
    qp.poll(2)
    out, runs = trk_report(b, 1, DATA + 0x70000, DATA_LEN, what='upper')
    eq((out, runs), ([1, 0, 0, 0], [(DATA + 0x80000, 1)]),
       'a window beyond the range end: its pages only')
    out, runs = trk_report(b, 1, DATA - 0x100000, 0x180000, what='lower')
    eq(runs, runs_of(pages_of(CQ, 1) | pages_of(DATA + 0x60000, 1)),
       'a window from below the ranges: the rest')

    # MORE: three runs through a 16-byte buffer
    for i, off in enumerate((0x90000, 0x92000, 0x94000)):
        qp.send(MVF_WQE_DEVMEM_READ, 4096, DATA + off, 0, wr_id=10 + i)
    qp.poll(3)
    lo, ln = DATA + 0x90000, 0x10000
    seen, iova = [], lo
    for i in range(4):
        out, runs = trk_report(b, 1, iova, lo + ln - iova, nruns=1,
                               what='16-byte buffer %d' % i)
        seen += runs
        if not out[1] & MVF_REPORT_OUT_MORE:
            break
        iova = out[2] | out[3] << 32
        eq(iova, DATA + 0x92000 + 0x2000 * i, 'MORE: the next run')
    eq((i, seen), (2, [(DATA + 0x90000, 1), (DATA + 0x92000, 1),
                       (DATA + 0x94000, 1)]),
       'three REPORTs with MORE, one run each')
    eq(whole_report(b, 1, 'after MORE'), runs_of(pages_of(CQ, 1)),
       'the runs written were forgotten')

    # a page straddling a window edge is reported and kept
    qp.send(MVF_WQE_DEVMEM_READ, 16, DATA + 0xa0000, 0, wr_id=20)
    qp.poll(1)
    for w in ((DATA + 0xa0800, 0x1000), (DATA + 0x9f000, 0x1800),
              (DATA + 0xa0100, 0x10)):
        eq(trk_report(b, 1, *w, what='straddling')[1],
           [(DATA + 0xa0000, 1)], 'straddling window %#x+%#x' % w)
    eq(trk_report(b, 1, DATA + 0xa0000, 0x1000, what='covering')[1],
       [(DATA + 0xa0000, 1)], 'a window covering the page')
    eq(trk_report(b, 1, DATA + 0xa0000, 0x1000, what='covering again')[1],
       [], '... which forgets it')
    eq(whole_report(b, 1, 'straddle done'), runs_of(pages_of(CQ, 1)),
       'nothing else dirty')

    # more runs than one DMA write of the device carries, through a
    # scatter list of two buffers cut inside a run
    want = set()
    for k in range(0, 270, 15):
        for i in range(k, min(k + 15, 270)):
            qp.send(MVF_WQE_DEVMEM_READ, 8, DATA + 0x100000 + 0x2000 * i, 0,
                    wr_id=100 + i, ring=False)
            want |= pages_of(DATA + 0x100000 + 0x2000 * i, 8)
        q.wl(vf_bar(1) + MVF_VF_REG_SQ_PI, qp.sq_pi)
        check(len(qp.poll(min(15, 270 - k))) == min(15, 270 - k),
              'batch %d completes' % k)
    want |= pages_of(CQ, 1)
    out, runs = trk_report(b, 1, DATA, DATA_LEN, nruns=300, split=0x1008,
                           what='271 runs')
    eq((out[:2], runs), ([271, 0], runs_of(want)), '271 runs in one REPORT')

    # a failed REPORT forgets nothing
    qp.send(MVF_WQE_DEVMEM_READ, 4096, DATA + 0xb0000, 0, wr_id=21)
    qp.poll(1)
    trk_report(b, 1, DATA, DATA_LEN, buf=0x7ff0000000,
               want=(MVF_CMD_STAT_DMA_ERROR, MVF_SYND_DMA_WRITE),
               what='into a buffer that faults')
    eq(whole_report(b, 1, 'after a fault'),
       runs_of(pages_of(CQ, 1) | pages_of(DATA + 0xb0000, 1)),
       'a failed REPORT forgets nothing')

    # 2 MiB pages: a straddling page is reported by every window it meets
    trk_create(b, 1, 21, [(DATA, DATA_LEN)], what='VF1, 2 MiB')
    qp.send(MVF_WQE_DEVMEM_READ, 16, DATA + 0x300000, 0, wr_id=22)
    qp.poll(1)
    P0, P1 = (DATA, 1), (DATA + 0x200000, 1)
    eq(trk_report(b, 1, DATA + 0x300000, 0x1000, what='2M a')[1], [P1],
       '2 MiB page in a 4 KiB window')
    eq(trk_report(b, 1, DATA + 0x100000, 0x200000, what='2M b')[1],
       [(DATA, 2)], 'a window across two 2 MiB pages: one run of both')
    eq(trk_report(b, 1, DATA + 0x200000, 0x200000, what='2M c')[1], [P1],
       'the window of the page')
    eq(trk_report(b, 1, DATA, DATA_LEN, what='2M d')[1], [P0],
       'the page is forgotten, the CQ page not yet')
    eq(trk_report(b, 1, DATA, DATA_LEN, what='2M e')[1], [],
       'now nothing')

    # a peer's DMA into VF1's BAR 2 is VF2's write, at VF2's IOVA
    trk_create(b, 1, 12, [(DATA, DATA_LEN)], what='VF1 again')
    qp2 = Qp(b, 2, 0x600000)
    trk_create(b, 2, 12, [(vf_mem(1), DEVMEM)], what='VF2, over BAR 2 of VF1')
    qp2.send(MVF_WQE_DEVMEM_READ, 64, vf_mem(1) + 0x5000, 0, wr_id=1)
    eq([x['status'] for x in qp2.poll(1)], [0], 'peer write completes')
    eq(whole_report(b, 2, 'peer'), [(vf_mem(1) + 0x5000, 1)],
       "a write into a peer's BAR 2 marks the writer's tracker only")
    eq(whole_report(b, 1, 'VF1 unmarked'), [], "VF1's tracker sees nothing")
    eq(sorted(trk_stats(b)), [1, 2], 'two trackers')
    eq(trk_destroy(b, 2), 1, 'DESTROY VF2')
    return qp


def test_track_life(b, qp):
    """What keeps a tracker and what ends it"""
    q = b.q
    I, R = MVF_SUSPEND_INITIATOR, MVF_SUSPEND_RESPONDER
    CQ = DATA + 0x2000
    trk_create(b, 1, 12, [(DATA, DATA_LEN)], what='life')
    qp.send(MVF_WQE_DEVMEM_READ, 4096, DATA + 0x10000, 0, wr_id=1)
    qp.poll(1)
    want = runs_of(pages_of(CQ, 1) | pages_of(DATA + 0x10000, 1))
    # a new CREATE replaces it
    trk_create(b, 1, 12, [(DATA, DATA_LEN)], what='replace')
    eq(whole_report(b, 1, 'replaced'), [], 'CREATE replaces the tracker')

    # suspend, SAVE, CTRL = RESET, FLR, D3hot -> D0: kept, with its pages
    qp.send(MVF_WQE_DEVMEM_READ, 4096, DATA + 0x10000, 0, wr_id=2)
    qp.poll(1)
    suspend(b, 1, I)
    suspend(b, 1, R)
    save_whole(b, 1)
    resume(b, 1, R)
    resume(b, 1, I)
    b.pf_enable()
    flr(b, 1)
    pm = find_cap(q, 1, 1, 0x01)
    q.ww(cfg(1, 1, pm + 4), 3)
    q.ww(cfg(1, 1, pm + 4), 0)
    q.ww(cfg(1, 1, 4), 6)
    eq(whole_report(b, 1, 'kept'), want,
       'suspend, SAVE, RESET, FLR and D3hot -> D0 keep the pages')
    qp = Qp(b, 1, DATA)
    qp.send(MVF_WQE_DEVMEM_READ, 4096, DATA + 0x20000, 0, wr_id=3)
    qp.poll(1)
    eq(whole_report(b, 1, 'tracking after FLR'),
       runs_of(pages_of(CQ, 1) | pages_of(DATA + 0x20000, 1)),
       'still tracking after the resets')

    # VF disable frees it
    qp.send(MVF_WQE_DEVMEM_READ, 4096, DATA + 0x30000, 0, wr_id=4)
    qp.poll(1)
    q.ww(cfg(1, 0, b.sriov + 8), 0x10)
    trk_report(b, 1, 0, TOP - 1,
               want=(MVF_CMD_STAT_BAD_RESOURCE, MVF_SYND_VF_DISABLED),
               what='VF disabled')
    b.enable_vfs(3)
    trk_report(b, 1, 0, TOP - 1,
               want=(MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_TRACKER),
               what='VF enabled again')
    eq(trk_stats(b), {}, 'no tracker left')

    # a REPORT whose own DMA disables the VF: the runs land on the PF's
    # SR-IOV control register (VF Enable clear)
    qp = Qp(b, 1, DATA)
    trk_create(b, 1, 12, [(DATA, DATA_LEN)], what='to be disabled')
    qp.send(MVF_WQE_DEVMEM_READ, 4096, DATA + 0x10000, 0, wr_id=5)
    qp.poll(1)
    trk_report(b, 1, 0, TOP - 1, buf=cfg(1, 0, b.sriov + 8), nruns=1,
               want=(MVF_CMD_STAT_BAD_RESOURCE, MVF_SYND_VF_DISABLED),
               what='whose runs disable the VF')
    eq(q.rw(cfg(1, 0, b.sriov + 8)) & 1, 0, 'the REPORT disabled the VFs')
    b.enable_vfs(3)
    trk_report(b, 1, 0, TOP - 1,
               want=(MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_TRACKER),
               what='after the REPORT that disabled it')

    # PF FLR (disables SR-IOV) frees it too
    trk_create(b, 1, 12, [(DATA, DATA_LEN)], what='before PF FLR')
    exp = find_cap(q, 1, 0, 0x10)
    q.ww(cfg(1, 0, exp + 8), q.rw(cfg(1, 0, exp + 8)) | 0x8000)
    eq(q.rw(cfg(1, 0, b.sriov + 8)) & 1, 0, 'PF FLR disables the VFs')
    b.pf_config()
    b.pf_enable()
    b.enable_vfs(3)
    trk_report(b, 1, 0, TOP - 1,
               want=(MVF_CMD_STAT_BAD_STATE, MVF_SYND_NO_TRACKER),
               what='after PF FLR')


def test_track():
    b = Bench()
    try:
        b.pf_enable()
        b.enable_vfs(3)
        test_track_errors(b)
        qp = test_track_exact(b)
        test_track_life(b, qp)
    finally:
        b.q.quit()


def test_track_overflow():
    """track-capacity=64: the store overflows, windows report OVERFLOW"""
    b = Bench(extra=',track-capacity=64')
    try:
        b.pf_enable()
        b.enable_vfs(1)
        eq(b.expect(0, 0, MVF_CMD_QUERY_TRACK_CAPS)[3], 64,
           'QUERY_TRACK_CAPS: capacity from track-capacity')
        eq(trk_create(b, 1, 12, [(DATA, DATA_LEN)], cap=1000)[0], 64,
           'capacity granted: at most track-capacity')
        qp = Qp(b, 1, DATA)
        OF, MORE = MVF_REPORT_OUT_OVERFLOW, MVF_REPORT_OUT_MORE
        W1, W2 = (DATA + 0x100000, 0x40000), (DATA + 0x140000, 0x40000)
        qp.send(MVF_WQE_DEVMEM_READ, 63 * 4096, DATA + 0x100000, 0, wr_id=1)
        qp.poll(1)
        eq(trk_stats(b)[1]['pages'], 64, '63 pages and the CQ page fit')
        qp.send(MVF_WQE_DEVMEM_READ, DEVMEM, DATA + 0x100000, 0, wr_id=2)
        qp.poll(1)
        st = trk_stats(b)[1]
        eq((st['pages'], st['overflows'], st['pending']), (0, 1, 1),
           'overflow: the store emptied, the range pending')
        out, runs = trk_report(b, 1, *W1, what='W1')
        eq((out[:2], runs), ([0, OF], []), 'W1: OVERFLOW, no runs')
        out, runs = trk_report(b, 1, *W1, what='W1 again')
        eq((out[:2], runs), ([0, 0], []), 'W1 again: clean')
        out, runs = trk_report(b, 1, *W2, what='W2')
        eq(out[:2], [0, OF], 'W2, not reported yet: OVERFLOW')
        eq(trk_stats(b)[1]['pending'], 2, 'two intervals left')
        # writes into what was reported are stored again, the rest not
        qp.send(MVF_WQE_DEVMEM_READ, 4096, DATA + 0x101000, 0, wr_id=3)
        qp.poll(1)
        out, runs = trk_report(b, 1, *W1, what='W1 exact')
        eq((out[:2], runs), ([1, 0], [(DATA + 0x101000, 1)]),
           'W1 exact after the overflow')
        out, runs = trk_report(b, 1, DATA - 0x1000, 0x2000, what='edge')
        eq(out[:2], [0, OF], 'a window across the range start: OVERFLOW')
        out, runs = trk_report(b, 1, DATA, DATA_LEN, what='whole')
        eq(out[:2], [0, OF], 'the whole range: OVERFLOW once')
        eq(trk_stats(b)[1]['pending'], 0, 'no interval left')
        out, runs = trk_report(b, 1, DATA, DATA_LEN, what='whole again')
        eq(out[:2], [0, 0], 'then clean (the CQ page was reported in it)')

        # at most 64 intervals: a REPORT that needs more leaves them
        qp.send(MVF_WQE_DEVMEM_READ, DEVMEM, DATA + 0x100000, 0, wr_id=4)
        qp.poll(1)
        eq(trk_stats(b)[1]['overflows'], 2, 'second overflow')
        for i in range(63):
            out, _ = trk_report(b, 1, DATA + 0x2000 * (i + 1), 0x1000,
                                what='hole %d' % i)
            check(out[1] == OF, 'hole %d: OVERFLOW' % i)
        eq(trk_stats(b)[1]['pending'], 64, '64 intervals')
        hole = DATA + 0x2000 * 64
        for i in range(2):
            out, _ = trk_report(b, 1, hole, 0x1000, what='hole 64')
            eq(out[1], OF, 'the 65th interval is not made: OVERFLOW again')
        out, _ = trk_report(b, 1, DATA + 0x1000, 0x2000, what='hole 0 again')
        eq(out[1], OF, 'a window across a hole and an interval')
        out, _ = trk_report(b, 1, DATA + 0x2000, 0x1000, what='a hole')
        eq(out[1], 0, 'a hole stays clean')
        check(not out[1] & MORE, 'no MORE')
    finally:
        b.q.quit()


def test_track_off():
    """dirty-track=off: a device without the tracker"""
    b = Bench(extra=',dirty-track=off')
    try:
        q = b.q
        b.pf_enable()
        b.enable_vfs(1)
        eq(q.rl(PF_BAR0 + MVF_PF_REG_CAPS), CAPS, 'CAPS without DIRTY_TRACK')
        eq(b.expect(0, 0, MVF_CMD_QUERY_CAPS)[0], CAPS,
           'QUERY_CAPS without DIRTY_TRACK')
        BO = MVF_CMD_STAT_BAD_OPCODE, MVF_SYND_BAD_OPCODE
        b.expect(*BO, MVF_CMD_QUERY_TRACK_CAPS)
        for op in (MVF_CMD_CREATE_TRACKER, MVF_CMD_DESTROY_TRACKER,
                   MVF_CMD_REPORT_DIRTY):
            b.expect(*BO, op, 1)
        suspend(b, 1, MVF_SUSPEND_INITIATOR)
        suspend(b, 1, MVF_SUSPEND_RESPONDER)
        recs = parse(save_whole(b, 1), 'dirty-track=off')
        eq(IDENT.unpack(recs[0].payload)[6], CAPS, 'IDENT caps the same')
    finally:
        b.q.quit()
    # the property's bounds
    for v in ('63', '16777217'):
        try:
            p = subprocess.run([QEMU, '-machine', 'q35', '-accel', 'qtest',
                                '-display', 'none', '-nodefaults',
                                '-L', fw_dir(), '-device',
                                'pcie-root-port,id=rp1,chassis=1', '-device',
                                'mvf-pf,bus=rp1,track-capacity=' + v],
                               stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=60)
            err = p.stderr if p.returncode else ''
        except subprocess.TimeoutExpired:
            err = ''
        check('track-capacity' in err,
              'track-capacity=%s refused: %r' % (v, err))


def main():
    b = Bench()
    try:
        run_all(b)
    finally:
        b.q.quit()
    test_iommu()
    test_sessions()
    test_ras()
    test_track()
    test_track_overflow()
    test_track_off()
    test_big()
    print('%d checks, %d failed' % (CHECKS, FAILS))
    return 1 if FAILS else 0


def run_all(b):
    test_identity(b)
    test_setup_errors(b)
    test_basic_cmds(b)
    test_eq_full(b)
    b.enable_vfs(2)
    test_states(b)
    test_frozen_trap(b)
    qp1 = test_qp(b)
    test_migration(b, qp1)
    test_vf_disable(b)


if __name__ == '__main__':
    sys.exit(main())
