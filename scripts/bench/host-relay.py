#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
#
# host-relay.py --qmp SOCKET --dir DIR --parent PID
#
# The host end of the test VM's host channel (vm-run.sh starts it, one per
# run): a job in the guest asks the host to run a QMP command on the VM's
# own QEMU, e.g. to inject an error into a function of the MVF device
# while the job drives it.
#
# DIR is a directory of the run's output, which the guest sees over 9p
# (mounted without caching: new host files show at once).  A request is a
# file req.ID.json holding one QMP command, {"execute": ..., "arguments":
# {...}}; the answer is rep.ID.json, QEMU's reply without its id:
# {"return": ...} or {"error": {"class": ..., "desc": ...}}, or an error
# of class "RelayError" if the relay could not ask QEMU.  ID is made of
# letters, digits, '-', '_' and '.'.  Both sides write a file under a name
# starting with '.' and rename it into place, so nobody reads half a
# file.  The relay removes a request once answered; the guest removes the
# answer.  Requests are served one at a time in the order of their names'
# modification times.
#
# Costs nothing until used: the QMP socket is connected on the first
# request, the directory polled 10 times a second.  Ends when PID (vm-run)
# is gone, on SIGTERM, or once QEMU closed the QMP connection it had.
# Every QMP exchange is bounded (30 s); no child processes.
import argparse
import json
import os
import re
import signal
import socket
import sys
import time

REQ = re.compile(r'^req\.([A-Za-z0-9_.-]+)\.json$')
POLL = 0.1
QMP_TIMEOUT = 30


class RelayError(Exception):
    pass


class Qmp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(QMP_TIMEOUT)
        try:
            self.s.connect(path)
        except OSError as e:
            self.s.close()
            raise RelayError('cannot connect to QEMU\'s QMP socket: %s' % e)
        self.f = self.s.makefile('rw')
        self.msg()                              # greeting
        r = self.cmd({'execute': 'qmp_capabilities'})
        if 'return' not in r:
            raise RelayError('qmp_capabilities: %r' % r)

    def msg(self):
        while True:
            try:
                line = self.f.readline()
            except OSError as e:
                raise RelayError('QMP: %s' % e)
            if not line:
                raise RelayError('QEMU closed the QMP connection')
            m = json.loads(line)
            if 'event' not in m:
                return m

    def cmd(self, c):
        try:
            self.f.write(json.dumps(c) + '\n')
            self.f.flush()
        except OSError as e:
            raise RelayError('QMP: %s' % e)
        m = self.msg()
        m.pop('id', None)
        return m

    def close(self):
        self.s.close()


def write_atomic(d, name, obj):
    tmp = os.path.join(d, '.' + name + '.tmp')
    with open(tmp, 'w') as f:
        json.dump(obj, f)
        f.write('\n')
    os.rename(tmp, os.path.join(d, name))


def relay_error(desc):
    return {'error': {'class': 'RelayError', 'desc': desc}}


def serve(args):
    qmp = None
    gone = False        # QEMU closed the connection: nothing more to do
    while not gone:
        try:
            os.kill(args.parent, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        try:
            names = os.listdir(args.dir)
        except FileNotFoundError:
            return
        reqs = []
        for n in names:
            m = REQ.match(n)
            if m:
                try:
                    reqs.append((os.stat(os.path.join(args.dir, n)).st_mtime,
                                 n, m.group(1)))
                except FileNotFoundError:
                    pass
        if not reqs:
            time.sleep(POLL)
            continue
        for _, name, rid in sorted(reqs):
            path = os.path.join(args.dir, name)
            try:
                with open(path) as f:
                    req = json.load(f)
                if not isinstance(req, dict) or 'execute' not in req:
                    raise ValueError('not a QMP command')
            except (OSError, ValueError) as e:
                rep = relay_error('bad request %s: %s' % (name, e))
            else:
                try:
                    if qmp is None:
                        qmp = Qmp(args.qmp)
                    rep = qmp.cmd(req)
                except RelayError as e:
                    rep = relay_error(str(e))
                    if qmp is not None:
                        qmp.close()
                        qmp = None
                        gone = 'closed' in str(e)
            write_atomic(args.dir, 'rep.%s.json' % rid, rep)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--qmp', required=True)
    p.add_argument('--dir', required=True)
    p.add_argument('--parent', type=int, required=True)
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    os.makedirs(args.dir, exist_ok=True)
    serve(args)


if __name__ == '__main__':
    main()
