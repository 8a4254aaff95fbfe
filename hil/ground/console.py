"""The ground console: ``flightsw ground --connect HOST:PORT`` serves a web page on
127.0.0.1 from which an operator watches the vehicle and commands it.

The server (aiohttp) holds one :class:`~hil.ground.client.GroundClient` on the flight
side's TCP link. The page (plain HTML and JavaScript, plots by Plotly, served from the
``plotly`` package, nothing fetched from the network) polls ``/api/snapshot`` twice a
second: the sequencer's state and hold-point status, the telemetry history for the plots
(range and range rate against the glideslope, the approach in the Hill frame, attitude
error, propellant), the event log, device and link health, and each command's
verification stages. Its command panel is generated from the dictionary
(``/api/dictionary``): one form per command, each argument with its unit and range; GO and
NO-GO come forward when a hold point asks, and ABORT and CAM ask for a confirmation.
Commands go up through ``/api/command``, checked against the dictionary before they leave.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import deque
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from flightsw.dictionary import ACK_NONE, as_json
from flightsw.messages import GuidanceOut, NavState
from flightsw.tmtc import EventReport, HousekeepingReport, Report
from hil.ground.client import GroundClient

HISTORY = 20000
"""Telemetry samples kept for the plots (one per navigation report: 5.5 h at 1 Hz)."""
GLIDESLOPE = ("guidance.v_contact_mps", "guidance.v_max_mps", "guidance.glideslope_gain_1ps",
              "guidance.speed_limit_factor", "guidance.speed_limit_margin_mps")
"""The parameters the range-rate plot draws its glideslope and limit from (read from the
flight software at start, PUS 20)."""
STATIC = resources.files("hil.ground") / "console_page"
_N = NavState._slices
_G = GuidanceOut._slices


class Console:
    """The console's state: the client, the plots' history, and the page's API.

    Parameters
    ----------
    client : GroundClient
        Connected to the flight side.
    """

    def __init__(self, client: GroundClient, keepalive_s: float = 10.0) -> None:
        self.client = client
        self.keepalive_s = keepalive_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.history: deque[list[float]] = deque(maxlen=HISTORY)
        self._n = 0  # samples ever recorded (the page asks for those after its last)
        self._nav: tuple[float, ...] | None = None
        self._guid: tuple[float, ...] | None = None
        self.params: dict[str, float] = {}
        client.on_report(self._record)

    def start_keepalive(self) -> threading.Thread:
        """Send are-you-alive every ``keepalive_s`` [s] (a ground station keeps the uplink
        counted as up), until :meth:`stop`."""
        def loop() -> None:
            while not self._stop.wait(self.keepalive_s):
                try:
                    self.client.send("are_you_alive", ack=ACK_NONE)
                except OSError:
                    return
        t = threading.Thread(target=loop, name="console-keepalive", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        self._stop.set()

    def read_parameters(self, timeout_s: float = 30.0) -> None:
        """Read the glideslope's parameters from the flight software (PUS 20)."""
        self.client.request("parameter_read", "", dict.fromkeys(GLIDESLOPE, 0.0),
                            timeout_s=timeout_s)
        self.params = {k: self.client.station.parameters[k] for k in GLIDESLOPE}

    def _record(self, r: Report) -> None:
        """Each navigation report (with the latest guidance one) is a sample for the
        plots: t [s], range [m], closing speed [m/s], r_CT_H [m], attitude error [deg],
        mass [kg]."""
        if not isinstance(r, HousekeepingReport):
            return
        if r.name == "guidance":
            self._guid = r.values
            return
        if r.name != "nav" or self._guid is None:
            return
        v, g = r.values, self._guid
        q, qr = v[_N["q_BN"]], g[_G["q_ref_BN"]]
        dot = min(1.0, abs(sum(a * b for a, b in zip(q, qr, strict=True))))
        att_deg = math.degrees(2.0 * math.acos(dot)) if any(qr) else 0.0
        with self._lock:
            self.history.append([r.t_ns * 1e-9, g[_G["rho_m"]][0],
                                 g[_G["closing_speed_mps"]][0], *v[_N["r_CT_H"]], att_deg,
                                 v[_N["mass_kg"]][0]])
            self._n += 1

    def snapshot(self, since: int, events_since: int) -> dict[str, Any]:
        """What the page shows: samples after the ``since``-th, events after the
        ``events_since``-th, and everything current."""
        c = self.client
        with self._lock:
            first = self._n - len(self.history)
            new = list(self.history)[max(0, since - first):]
            n = self._n
        st = c.station
        with c.lock:
            evs = list(st.events)
            n_ev = st.n_events
            events = [{"t_s": e.t_ns * 1e-9, "name": e.name, "severity": e.severity,
                       "text": e.text} for e in st.events_since(events_since)]
            values = dict(st.values)
            sent = [s.as_dict() for s in list(st.sent.values())
                    if s.service != "are_you_alive"][-30:]
            state = st.state
            last_t = st.last_t_ns
            waiting = _waiting(evs)
        health = {k.split(".", 1)[1]: v for k, v in values.items()
                  if k.startswith(("health.", "link.", "fdir."))}
        return {"n": n, "samples": new, "events": events, "n_events": n_ev,
                "state": state, "hold_index": values.get("mode.hold_index"),
                "waiting": waiting, "t_s": None if last_t is None else last_t * 1e-9,
                "health": health, "commands": sent, "connected": c.connected,
                "params": self.params}

    def command(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send what the page asks (``service``, ``name``, ``args``); its sequence count.
        Raises ValueError with the dictionary's reason when it would be refused."""
        service = str(body.get("service", "function"))
        args = body.get("args") or {}
        if not isinstance(args, dict):
            raise ValueError("args must be an object")
        seq = self.client.send(service, str(body.get("name", "")), args)
        return {"seq": seq}


def _waiting(evs: list[EventReport]) -> bool:
    """A hold point is asking for GO: the sequencer's latest word says so."""
    for e in reversed(evs):
        if e.name == "sequencer":
            return "waiting for GO" in e.text
    return False


def _coerce(args: dict[str, Any]) -> dict[str, Any]:
    """Numbers typed into the page's forms arrive as strings: make them numbers."""
    out: dict[str, Any] = {}
    for k, v in args.items():
        if isinstance(v, str):
            try:
                out[k] = float(v)
                continue
            except ValueError:
                pass
        out[k] = v
    return out


def make_app(console: Console) -> web.Application:
    """The console's web application."""
    app = web.Application()

    async def page(_req: web.Request) -> web.StreamResponse:
        return web.Response(text=(STATIC / "index.html").read_text(), content_type="text/html")

    async def static(req: web.Request) -> web.StreamResponse:
        name = req.match_info["name"]
        if name not in ("console.js", "console.css"):
            raise web.HTTPNotFound()
        ctype = "text/css" if name.endswith(".css") else "application/javascript"
        return web.Response(text=(STATIC / name).read_text(), content_type=ctype)

    async def plotly(_req: web.Request) -> web.StreamResponse:
        import plotly as _p

        path = Path(_p.__file__).parent / "package_data" / "plotly.min.js"
        return web.FileResponse(path, headers={"Content-Type": "application/javascript"})

    async def dictionary(_req: web.Request) -> web.StreamResponse:
        return web.json_response(as_json())

    async def snapshot(req: web.Request) -> web.StreamResponse:
        try:
            since = int(req.query.get("since", "0"))
            ev = int(req.query.get("events", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="since and events are counts") from None
        return web.json_response(console.snapshot(since, ev))

    async def command(req: web.Request) -> web.StreamResponse:
        try:
            body = await req.json()
            if not isinstance(body, dict):
                raise ValueError("a JSON object")
            args = body.get("args") or {}
            if not isinstance(args, dict):
                raise ValueError("args must be an object")
            body["args"] = _coerce(args)
            out = await asyncio.get_running_loop().run_in_executor(None, console.command,
                                                                   body)
        except (ValueError, TypeError, KeyError) as e:
            return web.json_response({"error": str(e)}, status=400)
        except OSError as e:
            return web.json_response({"error": f"link: {e}"}, status=503)
        return web.json_response(out)

    app.router.add_get("/", page)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/plotly.min.js", plotly)
    app.router.add_get("/api/dictionary", dictionary)
    app.router.add_get("/api/snapshot", snapshot)
    app.router.add_post("/api/command", command)
    return app


def serve(console: Console, port: int = 0, on_ready: Any = None,
          stop: threading.Event | None = None) -> None:
    """Serve the console on 127.0.0.1:``port`` (0: a free one) until ``stop`` is set (or
    the process is interrupted); ``on_ready(url)`` once it listens."""
    stop = stop or threading.Event()

    async def main() -> None:
        runner = web.AppRunner(make_app(console), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        real = sockets[0].getsockname()[1] if sockets else port
        if on_ready is not None:
            on_ready(f"http://127.0.0.1:{real}/")
        try:
            while not stop.is_set():
                await asyncio.sleep(0.1)
        finally:
            await runner.cleanup()

    asyncio.run(main())
