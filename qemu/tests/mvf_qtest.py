#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
#
# Register-level checks of the mvf-pf/mvf-vf QEMU model through the qtest
# protocol: no guest, no firmware.  The script plays the PCI enumerator and
# the drivers (config space, BARs, SR-IOV, command queue, VF queue pairs,
# SAVE/LOAD between two VFs) and checks every result against mvf_if.h.
#
#   qemu/tests/mvf_qtest.py /path/to/qemu-system-x86_64
#
# Exit status 0 when every check passed.

import base64
import os
import re
import struct
import subprocess
import sys
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


class QTest:
    def __init__(self, args):
        self.p = subprocess.Popen([QEMU, '-qtest', 'stdio', '-qtest-log',
                                   '/dev/null', '-L', fw_dir(),
                                   '-display', 'none',
                                   '-nodefaults', '-machine', 'q35',
                                   '-m', '512M', '-accel', 'qtest'] + args,
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

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
            self.p.stdin.close()
            self.p.terminate()
            self.p.wait(timeout=30)
        finally:
            if self.p.poll() is None:
                self.p.kill()


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
    def __init__(self, extra='', pre=()):
        self.frozen_events = []     # (vhca_id, data) of FROZEN_ACCESS events
        self.q = q = QTest(list(pre) +
                           ['-device', 'pcie-root-port,id=rp1,chassis=1,addr=2',
                            '-device', 'mvf-pf,bus=rp1,devmem-size=%d%s'
                            % (DEVMEM, extra)])
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
        q.wl(cfg(0, rp, 0x2c), 8)
        q.ww(cfg(0, rp, 0x04), 0x6)
        exp = find_cap(q, 0, rp, 0x10)
        q.ww(cfg(0, rp, exp + 0x28), q.rw(cfg(0, rp, exp + 0x28)) | 0x20)
        # PF
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
             flags=MVF_CMD_F_EVENT, rsvd=b'\0\0\0'):
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
        q.wl(PF_BAR0 + MVF_PF_REG_CMDQ_PI, self.pi)
        return slot

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

    def run(self, op, vhca=0, **kw):
        slot = self.post(op, vhca, **kw)
        r = self.wait_entry(slot)
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


def vf_mem(i):
    return VF_MEM + (i - 1) * DEVMEM


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
    eq(q.rl(PF_BAR0 + MVF_PF_REG_CAPS), MVF_CAP_MIGRATION | MVF_CAP_P2P,
       'PF caps')
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
    eq(out, [MVF_CAP_MIGRATION | MVF_CAP_P2P, NVF, DEVMEM, 0], 'QUERY_CAPS')
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
    eq(q.rl(PF_BAR0 + MVF_PF_REG_CMDQ_CI), 4, 'CMDQ_CI at the stall')
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


IMG_SIZE = 64 + 16 * 4 + 72 + 72 + 64 + DEVMEM


def test_states(b):
    I, R = MVF_SUSPEND_INITIATOR, MVF_SUSPEND_RESPONDER
    size, st = mig_state(b, 1)
    eq((size, st), (IMG_SIZE, 0), 'QUERY_VHCA_MIGRATION_STATE live')
    suspend(b, 1, R, MVF_CMD_STAT_BAD_STATE, MVF_SYND_NOT_QUIESCED)
    suspend(b, 1, 3, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_MODE)
    resume(b, 1, 0, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_MODE)
    b.expect(MVF_CMD_STAT_BAD_STATE, MVF_SYND_NOT_FROZEN,
             MVF_CMD_SAVE_VHCA_STATE, 1, sgl=SCR, sgl_len=16,
             data_len=IMG_SIZE)
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
    before = save_image(b, 1)

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
    check(save_image(b, 1) == before, 'image identical after the accesses')
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


SAVE_BUF = 0xc000000


def save_image(b, vhca):
    # SAVE a frozen VF into SAVE_BUF and return the image
    sgl, slen = sgl_table(b, SCR + 0x7f00, [(SAVE_BUF, IMG_SIZE, 0)])
    out = b.expect(0, 0, MVF_CMD_SAVE_VHCA_STATE, vhca, sgl=sgl,
                   sgl_len=slen, data_len=IMG_SIZE)
    eq(out[0], IMG_SIZE, 'SAVE vhca %d size' % vhca)
    return b.q.read(SAVE_BUF, IMG_SIZE)


def test_migration(b, qp1):
    q = b.q
    I, R = MVF_SUSPEND_INITIATOR, MVF_SUSPEND_RESPONDER
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
    suspend(b, 1, I)
    suspend(b, 1, R)
    # save through a chained list with odd-sized pieces
    buf = 0x4000000
    pieces = [(buf, 100, 0), (buf + 100, 4000, 0)]
    t2 = SCR + 0x7000
    rest = IMG_SIZE - 4100
    tbl2 = [(buf + 4100, rest // 2, 0), (buf + 4100 + rest // 2, rest - rest // 2, 0)]
    sgl_table(b, t2, tbl2)
    sgl, slen = sgl_table(b, SCR + 0x6000, pieces + [(t2, 32, MVF_SGE_F_CHAIN)])
    out = b.expect(MVF_CMD_STAT_NO_SPACE, MVF_SYND_SAVE_NO_SPACE,
                   MVF_CMD_SAVE_VHCA_STATE, 1, sgl=sgl, sgl_len=slen,
                   data_len=IMG_SIZE - 1)
    eq(out[0], IMG_SIZE, 'NO_SPACE reports the size')
    out = b.expect(0, 0, MVF_CMD_SAVE_VHCA_STATE, 1, sgl=sgl, sgl_len=slen,
                   data_len=IMG_SIZE + 100)
    eq(out[0] | out[1] << 32, IMG_SIZE, 'SAVE size')
    img = bytearray(q.read(buf, IMG_SIZE))
    h = struct.unpack('<IHHIIQHHIIIQHHIQ', img[:64])
    eq(h[0], MVF_IMG_MAGIC, 'image magic')
    eq(h[5], IMG_SIZE, 'image total_len')
    z = bytearray(img)
    z[12:16] = b'\0\0\0\0'
    eq(zlib.crc32(z), h[4], 'image crc32')
    eq(h[12], 1, 'src_vhca_id')
    # bad SGLs
    bad = [
        ((SCR + 0x6000, 0), 'sgl_len 0'),
        ((SCR + 0x6000, 24), 'sgl_len not a multiple'),
    ]
    for (a, l), what in bad:
        b.expect(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_SGL,
                 MVF_CMD_SAVE_VHCA_STATE, 1, sgl=a, sgl_len=l,
                 data_len=IMG_SIZE)
    for elems in ([(buf, 0, 0)], [(buf, IMG_SIZE, 2)], [(buf, 100, 0)],
                  [(SCR + 0x7800, 16, MVF_SGE_F_CHAIN), (buf, IMG_SIZE, 0)]):
        a, l = sgl_table(b, SCR + 0x7400, elems)
        b.expect(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_SGL,
                 MVF_CMD_SAVE_VHCA_STATE, 1, sgl=a, sgl_len=l,
                 data_len=IMG_SIZE)
    # chain loop: too deep
    a, l = sgl_table(b, SCR + 0x7400, [(SCR + 0x7400, 16, MVF_SGE_F_CHAIN)])
    b.expect(MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_SGL,
             MVF_CMD_SAVE_VHCA_STATE, 1, sgl=a, sgl_len=l, data_len=IMG_SIZE)
    a, l = sgl_table(b, SCR + 0x7400, [(0x7f00000000, IMG_SIZE, 0)])
    b.expect(MVF_CMD_STAT_DMA_ERROR, MVF_SYND_DMA_WRITE,
             MVF_CMD_SAVE_VHCA_STATE, 1, sgl=a, sgl_len=l, data_len=IMG_SIZE)

    # destination VF2: some state of its own
    qp2 = Qp(b, 2, 0x500000)
    q.wl(vf_bar(2) + MVF_VF_REG_SCRATCH(3), 0xdead)
    q.write(vf_mem(2), b'vf2 own data')
    b.expect(MVF_CMD_STAT_BAD_STATE, MVF_SYND_NOT_FROZEN,
             MVF_CMD_LOAD_VHCA_STATE, 2, sgl=sgl, sgl_len=slen,
             data_len=IMG_SIZE)
    suspend(b, 2, I)
    suspend(b, 2, R)

    ibuf = 0x8000000
    isgl, islen = sgl_table(b, SCR + 0x7c00, [(ibuf, IMG_SIZE + 64, 0)])
    # a frozen VF cannot be read: a rejected LOAD must leave its image as is
    vf2_img = save_image(b, 2)

    def load(image, want_stat, want_synd, what, fix_crc=True, n=None):
        image = bytearray(image)
        if fix_crc:
            image[12:16] = b'\0\0\0\0'
            image[12:16] = struct.pack('<I', zlib.crc32(image))
        q.write(ibuf, bytes(image))
        st, sy, out = b.run(MVF_CMD_LOAD_VHCA_STATE, 2, sgl=isgl,
                            sgl_len=islen,
                            data_len=len(image) if n is None else n)
        eq((st, sy), (want_stat, want_synd), 'LOAD ' + what)
        if want_stat:
            check(save_image(b, 2) == vf2_img, 'VF2 untouched after ' + what)

    def patched(off, fmt, val):
        x = bytearray(img)
        struct.pack_into(fmt, x, off, val)
        return x

    BI = MVF_CMD_STAT_BAD_IMAGE
    load(patched(0, '<I', 0x1234), BI, MVF_SYND_IMG_MAGIC, 'magic')
    load(patched(4, '<H', 2), BI, MVF_SYND_IMG_VERSION, 'version')
    load(patched(28, '<I', 2 << 16), BI, MVF_SYND_IMG_VERSION, 'if_version')
    load(patched(8, '<I', 72), BI, MVF_SYND_IMG_LENGTH, 'header_len')
    load(patched(26, '<H', 0x1000), BI, MVF_SYND_IMG_DEVICE, 'device')
    load(patched(32, '<I', 4), BI, MVF_SYND_IMG_CAPS, 'caps')
    load(patched(40, '<Q', 2 * DEVMEM), BI, MVF_SYND_IMG_GEOMETRY, 'geometry')
    load(patched(16, '<Q', IMG_SIZE + 8), BI, MVF_SYND_IMG_LENGTH, 'total_len')
    load(img, BI, MVF_SYND_IMG_LENGTH, 'truncated', n=IMG_SIZE - 8)
    load(img + b'\0' * 8, BI, MVF_SYND_IMG_LENGTH, 'trailing bytes')
    load(img, BI, MVF_SYND_IMG_LENGTH, 'shorter than header', n=60)
    load(img, MVF_CMD_STAT_BAD_PARAM, MVF_SYND_BAD_LEN, 'empty', n=0)
    load(patched(64 + 88 + 88 + 20, '<I', 5), BI, MVF_SYND_IMG_CRC, 'crc',
         fix_crc=False)
    load(patched(50, '<H', 1), BI, MVF_SYND_IMG_VALUE, 'rsvd0')
    load(patched(56, '<Q', 1), BI, MVF_SYND_IMG_VALUE, 'rsvd2')
    load(patched(36, '<I', 5), BI, MVF_SYND_IMG_SECTION, 'num_sections')
    load(patched(64, '<H', 9), BI, MVF_SYND_IMG_SECTION, 'unknown section')
    load(patched(64 + 88, '<H', 1), BI, MVF_SYND_IMG_SECTION, 'dup section')
    load(patched(64 + 2, '<H', 1), BI, MVF_SYND_IMG_SECTION, 'section flags')
    load(patched(64 + 8, '<Q', 64), BI, MVF_SYND_IMG_SECTION, 'section len')
    load(patched(80, '<I', 4), BI, MVF_SYND_IMG_VALUE, 'ctrl bits')
    load(patched(84, '<I', 8), BI, MVF_SYND_IMG_VALUE, 'status bits')
    load(patched(64 + 88 + 16 + 8, '<I', 13), BI, MVF_SYND_IMG_VALUE,
         'sq log size')
    load(patched(64 + 88 + 16 + 20, '<I', 1), BI, MVF_SYND_IMG_VALUE,
         'queue rsvd')
    load(patched(64 + 176 + 16 + 56, '<Q', 1), BI, MVF_SYND_IMG_VALUE,
         'reserved counter')
    # reordered sections are still a valid image
    regs, queues = img[64:152], img[152:240]
    load(img[:64] + queues + regs + img[240:], 0, 0, 'reordered sections')
    load(img, 0, 0, 'good image')
    eq(mig_state(b, 2)[1], MVF_VHCA_STATE_QUIESCED | MVF_VHCA_STATE_FROZEN,
       'VF2 still frozen')
    eq(save_image(b, 2)[64:], bytes(img[64:]), 'VF2 saves what it loaded')
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
    eq(q.read(vf_mem(2) + 0x10000, 1000), b'migrate me' * 100,
       'devmem after LOAD')
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


def main():
    b = Bench()
    try:
        run_all(b)
    finally:
        b.q.quit()
    test_iommu()
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
