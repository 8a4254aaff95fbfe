"""A docking-mechanism controller written only against flightsw's interface documents.

This is what another team would write to put its own unit (or its own emulator of it) on
a flightsw bench: it uses nothing from flightsw, only the DBC file (``flightsw.dbc``, read
with cantools), the behaviour ``docs/can-icd.md`` gives the docking mechanism, and
python-can. It joins the bench's own CAN bus (a bench file says ``can = "bench"`` for the
unit and gives ``[virtual_can] port``), or any bus python-can opens.

    python examples/third_party_dock.py --dbc firmware_bridge/icd/flightsw.dbc --port 29536

Behaviour (docs/can-icd.md, "Docking mechanism"):

- it reports DOCK_STATUS at 10 Hz and at once on a change, its 4-bit Counter stepping by
  one per frame, and HEARTBEAT_DOCK (NMT operational) at 1 Hz;
- ``Contact`` is what its ring sensors feel (on a bench: DOCK_STIM's ``Contact``);
- armed (DOCK_CMD ``Arm``) and in contact for ``--latch-s``, it closes its capture latches
  (``Soft_capture``); unarmed, it never does;
- captured, it declares ``Attenuated`` once the relative speed and rate (DOCK_STIM) have
  stayed under 1 mm/s and 1e-4 rad/s for 0.5 s;
- on ``Retract`` once attenuated it draws the ring in from its extension to 0 in
  ``--retract-s`` (``Ring_extension``), then reports ``Retracted``;
- on ``Close_hooks`` once retracted it closes the hooks in ``--hooks-s``, then reports
  ``Hard_capture``;
- a command that does not fit its state (retract before attenuation, hooks before the ring
  is in) is ignored and counted; it stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from typing import Any

import can
import cantools

RING_STROKE_M = 0.3
SPEED_DONE_MPS = 1e-3
RATE_DONE_RADPS = 1e-4
STATUS_PERIOD_S = 0.1
HEARTBEAT_PERIOD_S = 1.0


class Controller:
    def __init__(self, db: Any, latch_s: float, retract_s: float,
                 hooks_s: float) -> None:
        self.cmd_msg = db.get_message_by_name("DOCK_CMD")
        self.stim_msg = db.get_message_by_name("DOCK_STIM")
        self.status_msg = db.get_message_by_name("DOCK_STATUS")
        self.hb_msg = db.get_message_by_name("HEARTBEAT_DOCK")
        self.latch_s, self.retract_s, self.hooks_s = latch_s, retract_s, hooks_s
        self.cmd = {"Arm": 0, "Retract": 0, "Close_hooks": 0}
        self.stim: dict[str, Any] = {"Contact": 0, "Rel_speed": 1.0, "Rel_rate": 1.0}
        self.status: dict[str, Any] = {
            "Contact": 0, "Soft_capture": 0, "Attenuated": 0, "Retracted": 0,
            "Hard_capture": 0, "Ring_extension": RING_STROKE_M, "Counter": 0}
        self.contact_since: float | None = None
        self.quiet_since: float | None = None
        self.hooks_since: float | None = None
        self.ignored = 0

    def on_frame(self, m: can.Message) -> None:
        if m.is_extended_id or m.is_error_frame:
            return
        try:
            if m.arbitration_id == self.cmd_msg.frame_id:
                v: Any = self.cmd_msg.decode(bytes(m.data), decode_choices=False)
                self.cmd = {k: int(v[k]) for k in self.cmd}
            elif m.arbitration_id == self.stim_msg.frame_id:
                self.stim = dict(self.stim_msg.decode(bytes(m.data), decode_choices=False))
        except (cantools.database.DecodeError, ValueError, KeyError):
            pass  # a frame that does not decode is dropped

    def step(self, now: float, dt: float) -> None:
        s = self.status
        s["Contact"] = int(self.stim["Contact"])
        if not s["Soft_capture"]:
            if self.cmd["Arm"] and s["Contact"]:
                self.contact_since = now if self.contact_since is None else self.contact_since
                if now - self.contact_since >= self.latch_s:
                    s["Soft_capture"] = 1
            else:
                self.contact_since = None
            return
        if not s["Attenuated"]:
            if (self.stim["Rel_speed"] < SPEED_DONE_MPS
                    and self.stim["Rel_rate"] < RATE_DONE_RADPS):
                self.quiet_since = now if self.quiet_since is None else self.quiet_since
                if now - self.quiet_since >= 0.5:
                    s["Attenuated"] = 1
            else:
                self.quiet_since = None
            if self.cmd["Retract"] or self.cmd["Close_hooks"]:
                self.ignored += 1
            return
        if not s["Retracted"]:
            if self.cmd["Retract"]:
                s["Ring_extension"] = max(0.0, s["Ring_extension"]
                                          - RING_STROKE_M * dt / self.retract_s)
                if s["Ring_extension"] == 0.0:
                    s["Retracted"] = 1
            if self.cmd["Close_hooks"]:
                self.ignored += 1
            return
        if not s["Hard_capture"] and self.cmd["Close_hooks"]:
            self.hooks_since = now if self.hooks_since is None else self.hooks_since
            if now - self.hooks_since >= self.hooks_s:
                s["Hard_capture"] = 1

    def status_frame(self) -> can.Message:
        self.status["Counter"] = (self.status["Counter"] + 1) % 16
        return can.Message(arbitration_id=self.status_msg.frame_id, is_extended_id=False,
                           data=self.status_msg.encode(self.status))

    def heartbeat(self) -> can.Message:
        return can.Message(arbitration_id=self.hb_msg.frame_id, is_extended_id=False,
                           data=self.hb_msg.encode({"State": 5}))


def join(args: argparse.Namespace) -> can.BusABC:
    """The bench's bus, retried until it is up (the bench may start after this)."""
    end = time.monotonic() + args.join_timeout
    while True:
        try:
            return can.Bus(interface="socketcand", host=args.host, port=args.port,
                           channel=args.channel)
        except Exception:  # not up yet (a signal still ends the process: SystemExit)
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dbc", required=True, help="the bench's DBC file")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="the bench bus's TCP port")
    p.add_argument("--channel", default="can0")
    p.add_argument("--latch-s", type=float, default=0.1, help="contact to latches closed [s]")
    p.add_argument("--retract-s", type=float, default=10.0, help="ring retraction [s]")
    p.add_argument("--hooks-s", type=float, default=5.0, help="hook closing [s]")
    p.add_argument("--join-timeout", type=float, default=120.0, help="[s]")
    args = p.parse_args(argv)
    db: Any = cantools.database.load_file(args.dbc)
    ctl = Controller(db, args.latch_s, args.retract_s, args.hooks_s)
    running = [True]
    joined = [False]

    def stop(*_: object) -> None:
        running[0] = False
        if not joined[0]:
            raise SystemExit(0)  # out of the joining's retries at once

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # python-can warns at every refused connection while the bench's bus is not up yet
    logging.getLogger("can.interfaces.socketcand.socketcand").setLevel(logging.CRITICAL)
    bus = join(args)
    joined[0] = True
    print("joined", flush=True)
    last = time.monotonic()
    next_status = next_hb = last
    sent_status = dict(ctl.status)
    try:
        while running[0]:
            try:
                m = bus.recv(timeout=0.01)
            except (can.CanError, OSError) as e:  # the bench's bus has gone: it is over
                print(f"the bus went away: {e}".splitlines()[0], flush=True)
                break
            if m is not None:
                ctl.on_frame(m)
            now = time.monotonic()
            ctl.step(now, now - last)
            last = now
            changed = {k: v for k, v in ctl.status.items() if k != "Counter"} != {
                k: v for k, v in sent_status.items() if k != "Counter"}
            out = []
            if now >= next_status or changed:
                out.append(ctl.status_frame())
                sent_status = dict(ctl.status)
                next_status = now + STATUS_PERIOD_S
            if now >= next_hb:
                out.append(ctl.heartbeat())
                next_hb = now + HEARTBEAT_PERIOD_S
            try:
                for frame in out:
                    bus.send(frame)
            except (can.CanError, OSError) as e:
                print(f"the bus went away: {e}".splitlines()[0], flush=True)
                break
    finally:
        try:
            bus.shutdown()
        except OSError:
            pass  # already closed by the other end
    print(f"stopped; status {ctl.status}, {ctl.ignored} commands ignored", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
