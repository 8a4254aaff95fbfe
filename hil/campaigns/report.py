"""Reports people can look at (``flightsw report DIR``).

One self-contained HTML file (plots embedded as PNG data, styles inline: it opens
offline, and can be mailed) and the same plots as PNG files beside it, for

- a single run's folder (``flightsw sim --out`` or ``flightsw hil --out``): approach
  trajectory in the Hill frame with the corridor and hold points; range rate against
  range with the glideslope; position and attitude errors (control: truth against the
  guidance reference; navigation: estimate against truth, with its 3-sigma); thruster
  firing history; propellant; the mode timeline; the contact conditions against the IDSS
  envelope and every decision of the sequencer and of fault management;
- a Monte Carlo folder (``flightsw montecarlo --out``): contact conditions scattered
  against the envelope box, histograms of every contact quantity and of propellant, the
  statistics with their margins, and every failed run with the command that flies it again.

Panels whose data a folder does not hold (a bench run records truth, not the flight
software's internals) are left out with a note saying so.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from flightsw.attitude import dcm_from_q
from flightsw.orbit import OrbitSpec
from hil.progress import Progress


def _envelope() -> dict[str, Any]:
    """The IDSS envelope as ``geometry.json`` stores it (``hil.plant.docking.IDSS``)."""
    from dataclasses import asdict

    from hil.scenario.envelope import IDSS

    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(IDSS).items()}


LABELS = {"closing_speed_mps": "closing speed [m/s]",
          "lateral_speed_mps": "lateral speed [m/s]",
          "lateral_offset_m": "lateral misalignment [m]",
          "pitch_yaw_misalignment_deg": "pitch/yaw misalignment [deg]",
          "roll_misalignment_deg": "roll misalignment [deg]",
          "pitch_yaw_rate_dps": "pitch/yaw rate [deg/s]",
          "roll_rate_dps": "roll rate [deg/s]"}


class ReportError(ValueError):
    """The folder is not a run's or a Monte Carlo campaign's output."""


# -- plumbing ---------------------------------------------------------------------------

class _Figures:
    """Collects figures: each saved as PNG and kept for embedding."""

    def __init__(self, out: Path, show: Progress | None = None) -> None:
        import matplotlib

        matplotlib.use("Agg")
        self.out = out
        self.show = show if show is not None else Progress("", enabled=False)
        self.items: list[tuple[str, str, str]] = []  # (file, title, base64)

    def add(self, fig: Any, name: str, title: str) -> None:
        import matplotlib.pyplot as plt

        self.show.phase(f"drawing {name}.png ({len(self.items) + 1})")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        data = buf.getvalue()
        (self.out / f"{name}.png").write_bytes(data)
        self.items.append((f"{name}.png", title, base64.b64encode(data).decode("ascii")))


def _table(rows: list[list[Any]], head: list[str]) -> str:
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


def _page(title: str, head: list[str], figs: _Figures, tail: list[str]) -> str:
    """The HTML page: ``head`` (what happened, in a few lines), the plots, then ``tail``
    (the tables)."""
    imgs = "".join(
        f'<figure><img alt="{html.escape(t)}" src="data:image/png;base64,{b}">'
        f"<figcaption>{html.escape(t)} ({html.escape(f)})</figcaption></figure>"
        for f, t, b in figs.items)
    style = ("body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}"
             "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
             "td,th{border:1px solid #bbb;padding:3px 8px;text-align:left;font-size:90%}"
             "th{background:#eee}.bad{color:#b00;font-weight:bold}.ok{color:#070}"
             "figure{margin:1em 0}img{max-width:100%}figcaption{color:#555;font-size:85%}"
             ".note{color:#555;font-style:italic}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
            + "".join(head) + "<h2>Plots</h2>" + imgs + "".join(tail) + "</body></html>\n")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# -- single run -------------------------------------------------------------------------

def _port_track(t: dict[str, np.ndarray], geo: dict[str, Any]) -> np.ndarray:
    """Chaser docking port relative to the station's port, in H [m], per sample (truth).

    ``r_DP_H = r_CT_H + C_HN C_NB r_D_B - r_P_H`` with H the truth's orbit model's local
    frame (a run written before the model was recorded: a circular orbit, H = N at t = 0)."""
    r = np.column_stack([t[f"truth_r_CT_H_{a}"] for a in "xyz"])
    q = np.column_stack([t[f"truth_q_BN_{a}"] for a in "wxyz"])
    rD = np.asarray(geo["chaser_port_B_m"])
    d_N = np.einsum("kji,j->ki", dcm_from_q(q), rD)  # C_BN^T r_D_B
    o = geo.get("orbit")
    if o is None:
        th = geo["mean_motion_rps"] * t["t_s"]
        q_HN = np.column_stack((np.cos(th / 2), 0 * th, 0 * th, np.sin(th / 2)))
    else:
        orbit = OrbitSpec(o["model"], o["params"]).build()
        q_HN = np.array([orbit.frame(float(ts))[0] for ts in t["t_s"]]).reshape(-1, 4)
    d_H = np.einsum("kij,kj->ki", dcm_from_q(q_HN), d_N)
    return r + d_H - np.asarray(geo["target_port_H_m"])


def _orbit_figure(ts: np.ndarray, geo: dict[str, Any], figs: _Figures) -> list[str]:
    """Where on its orbit the approach happened: the target's whole orbit and the stretch
    flown, in the Earth-Moon rotating frame (Moon-centred) for the three-body orbit, in the
    orbit's plane for a circular one."""
    import matplotlib.pyplot as plt

    o = geo.get("orbit")
    if o is None:
        return []
    spec = OrbitSpec(o["model"], o["params"])
    orbit = spec.build()
    t_fl = np.linspace(float(ts[0]), float(ts[-1]), 200)
    if o["model"] == "circular":
        r0, n = float(o["params"]["r0"]) / 1e3, float(orbit.mean_motion)
        th = np.linspace(0.0, 2.0 * np.pi, 361)
        fig, ax = plt.subplots(figsize=(6.5, 6.5))
        ax.add_patch(plt.Circle((0.0, 0.0), 1737.4, color="0.8", label="Moon"))
        ax.plot(r0 * np.cos(th), r0 * np.sin(th), color="0.4", lw=1.0, label="target orbit")
        ax.plot(r0 * np.cos(n * t_fl), r0 * np.sin(n * t_fl), color="tab:red", lw=4,
                label="the approach")
        ax.set_aspect("equal")
        ax.set_xlabel("x [km] (inertial N, Moon-centred)")
        ax.set_ylabel("y [km]")
        ax.legend(fontsize=8, loc="upper right")
        ax.set_title(f"circular orbit of radius {r0:.0f} km: the approach flew "
                     f"{np.degrees(n * (t_fl[-1] - t_fl[0])):.1f} deg of it")
        ax.grid(alpha=0.3)
        figs.add(fig, "orbit", "Where on the orbit the approach happened")
        return []
    from flightsw.orbit._cr3bp import propagate

    p = o["params"]
    L, T, mu, period = p["length_m"], p["time_s"], p["mu"], p["period"]
    s = np.array(p["state0"], float)
    pts = [s]
    for _ in range(2000):  # the whole orbit from the approach's start, nondimensional
        s = propagate(mu, s, period / 2000)
        pts.append(s)
    xs = np.array(pts)[:, :3]
    xs[:, 0] -= 1.0 - mu
    xs *= L / 1e3  # km from the Moon, synodic axes
    fl = np.array([orbit.target_state(float(t))[:3] for t in t_fl])  # type: ignore[attr-defined]
    fl[:, 0] -= (1.0 - mu) * L
    fl /= 1e3
    r = np.linalg.norm(xs, axis=1)
    i_p, i_a = int(np.argmin(r)), int(np.argmax(r))
    fig, axs = plt.subplots(1, 3, figsize=(15, 6.5), width_ratios=(1, 2, 2))
    for ax, (i, j, lab) in zip(axs, ((0, 2, ("x [km]", "z [km]")),
                                     (1, 2, ("y [km]", "z [km]")),
                                     (1, 2, ("y [km]", "z [km]"))), strict=True):
        ax.add_patch(plt.Circle((0.0, 0.0), 1737.4, color="0.8", label="Moon"))
        ax.plot(xs[:, i], xs[:, j], color="0.4", lw=1.0, label="target orbit (one period)")
        ax.plot(fl[:, i], fl[:, j], color="tab:red", lw=4, label="the approach")
        ax.plot(xs[i_p, i], xs[i_p, j], "v", color="tab:green",
                label=f"perilune {r[i_p]:.0f} km")
        ax.plot(xs[i_a, i], xs[i_a, j], "^", color="tab:purple",
                label=f"apolune {r[i_a]:.0f} km")
        ax.set_aspect("equal")
        ax.set_xlabel(lab[0])
        ax.set_ylabel(lab[1])
        ax.grid(alpha=0.3)
    # the third: around the approach, at a scale that shows it
    c = 0.5 * (fl.min(axis=0) + fl.max(axis=0))
    half = max(float(np.ptp(fl[:, [1, 2]], axis=0).max()), 2.0 * 1737.4) * 0.75
    axs[2].set_xlim(c[1] - half, c[1] + half)
    axs[2].set_ylim(c[2] - half, c[2] + half)
    axs[1].legend(fontsize=8, loc="center")
    r_fl = np.linalg.norm(fl, axis=1)
    axs[0].set_title("side view (x-z)")
    axs[1].set_title(f"NRHO, period {period * T / 86400:.2f} d, seen from the Earth (y-z)")
    axs[2].set_title(f"the approach, {r_fl.min():.0f}-{r_fl.max():.0f} km from the Moon")
    fig.supxlabel("Earth-Moon rotating frame, Moon-centred (x away from the Earth, z north)",
                  fontsize=9)
    figs.add(fig, "orbit", "Where on the orbit the approach happened: the target's orbit in "
                           "the Earth-Moon rotating frame, the approach marked")
    return [f"The approach flew {r_fl.min():.0f}-{r_fl.max():.0f} km from the Moon's centre "
            f"(perilune {r[i_p]:.0f} km, apolune {r[i_a]:.0f} km)."]


def _angle_deg(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    c = np.abs(np.sum(qa * qb, axis=1))
    return np.degrees(2.0 * np.arccos(np.clip(c, 0.0, 1.0)))


def _steady_scale(ax: Any, ts: np.ndarray, series: list[np.ndarray], unit: str,
                  symmetric: bool = True, where: str = "t = {:.0f} s") -> None:
    """Scale ``ax`` to the steady part of ``series`` (all sampled at ``ts``, in order of
    flight): a start-up transient in the first half of the samples, more than three times
    the 95th percentile of the second half, is left off scale and its peak written on the
    plot, at ``where`` (formatted with the sample's ``ts``)."""
    m = np.max(np.abs(np.vstack(series)), axis=0)
    m = np.where(np.isfinite(m), m, 0.0)
    if m.size < 4:
        return
    band = 3.0 * float(np.percentile(m[m.size // 2:], 95))
    out = np.flatnonzero(m > band)
    start = int(out[-1]) + 1 if out.size and out[-1] < m.size // 2 else 0
    lim = 1.15 * float(m[start:].max()) if m[start:].size else 0.0
    if start == 0 or not lim > 0.0:
        return
    ax.set_ylim((-lim, lim) if symmetric else (0.0, lim))
    k = int(np.argmax(m))
    ax.text(0.99, 0.97, f"start-up transient off scale: peak {m[k]:.3g} {unit} at "
            f"{where.format(ts[k])}; scaled from {where.format(ts[start])}",
            transform=ax.transAxes, ha="right", va="top", fontsize=7, color="0.3")


def _run_figures(t: dict[str, np.ndarray], geo: dict[str, Any], events: dict[str, Any],
                 figs: _Figures, contact: dict[str, Any] | None = None) -> list[str]:
    import matplotlib.pyplot as plt

    notes = []
    t_all = t
    ts = t["t_s"]
    states = events.get("states") or []
    end = len(ts)  # range rate and errors until contact: then the mechanism moves things
    if "mode_state" in t and "contact" in states:
        after = np.flatnonzero(t["mode_state"] >= states.index("contact"))
        end = max(2, int(after[0])) if after.size else end
    axis = np.asarray(geo["target_axis_H"], float)
    d = _port_track(t, geo)
    rho = d @ axis
    lat = np.linalg.norm(d - np.outer(rho, axis), axis=1)
    portP = np.asarray(geo["target_port_H_m"])
    half = geo["corridor_half_angle_deg"]
    tan = math.tan(math.radians(half))
    # 1. trajectory in the Hill frame (chaser port, relative to the station's CM): the
    # approach against the corridor at full scale, then the deviation from the docking
    # axis at the data's own scale
    fig, axs = plt.subplots(2, 2, figsize=(13, 9.5))
    p = d + portP
    rmax = max(float(rho.max()), 1.0) * 1.05
    s = np.linspace(0.0, rmax, 50)
    perps = []
    for col, ((i, j), lab) in enumerate((((1, 0), ("V-bar y [m]", "R-bar x [m]")),
                                         ((1, 2), ("V-bar y [m]", "H-bar z [m]")))):
        ax = axs[0, col]
        perp = np.zeros(3)
        perp[j] = 1.0
        perp -= (perp @ axis) * axis
        if np.linalg.norm(perp) > 1e-9:
            perp /= np.linalg.norm(perp)
        perps.append((perp, lab[1].split(" [")[0]))
        for sign in (1, -1):
            edge = portP + np.outer(s, axis) + sign * np.outer(s * tan, perp)
            ax.plot(edge[:, i], edge[:, j], "--", color="0.6",
                    label=f"corridor {half:g} deg" if sign > 0 else None)
        for h in geo["hold_points_m"]:
            hp = portP + h * axis
            ax.plot(hp[i], hp[j], "s", color="tab:orange", ms=7,
                    label="hold points" if h == geo["hold_points_m"][0] else None)
            ax.annotate(f"{h:g} m", (hp[i], hp[j]), textcoords="offset points", xytext=(4, 6),
                        fontsize=8)
        ax.plot(p[:, i], p[:, j], color="tab:blue", lw=1.2, label="chaser port (truth)")
        ax.plot(p[0, i], p[0, j], "o", color="tab:blue")
        ax.plot(portP[i], portP[j], "k^", label="station port")
        ax.set_xlabel(lab[0])
        ax.set_ylabel(lab[1])
        ax.grid(alpha=0.3)
    axs[0, 0].legend(fontsize=8, loc="best")
    axs[0, 0].set_title("approach in the Hill frame (in plane), corridor to scale")
    axs[0, 1].set_title("approach in the Hill frame (out of plane), corridor to scale")
    rr = np.clip(rho[:end], 0.0, None)
    for col, (perp, name) in enumerate(perps):
        ax = axs[1, col]
        dev = d[:end] @ perp
        ax.plot(rr, dev, color="tab:blue", lw=1.0, label=f"chaser port, {name} (truth)")
        lim = max(1.3 * float(np.max(np.abs(dev))) if dev.size else 0.0, 5e-3)
        sl = np.r_[0.0, np.geomspace(1e-3, rmax, 200)]  # straight on the log axis too
        for sign in (1, -1):
            ax.plot(sl, sign * sl * tan, "--", color="0.6",
                    label=f"corridor {half:g} deg" if sign > 0 else None)
        for h in geo["hold_points_m"]:
            ax.axvline(h, color="tab:orange", lw=0.8, ls=":")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(rmax, 0.0)  # as flown: from the start on the left to the port
        ax.set_ylim(-lim, lim)
        _steady_scale(ax, rr, [dev], "m", where="range {:.1f} m")
        ax.set_xlabel("range along the docking axis [m] (log above 1 m)")
        ax.set_ylabel(f"deviation from the axis, {name} [m]")
        ax.set_title(f"deviation from the docking axis ({name}), at the data's scale",
                     fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    figs.add(fig, "trajectory_hill", "Approach trajectory in the Hill frame with the corridor "
                                     "and hold points, and the deviation from the docking "
                                     "axis at the data's scale")
    notes += _orbit_figure(ts, geo, figs)
    # 2. range rate against range, with the glideslope and the IDSS contact band at contact
    fig, ax = plt.subplots(figsize=(8, 5))
    dt = np.gradient(ts)
    closing = -np.gradient(rho) / np.where(dt > 0, dt, 1.0)
    k = max(1, len(ts) // 4000)
    ax.plot(rr[::k], closing[:end:k], color="tab:blue", lw=1, label="truth")
    if "gnc_rho_m" in t:
        ax.plot(np.clip(t["gnc_rho_m"][:end:k], 0.0, None), t["gnc_closing_speed_mps"][:end:k],
                color="tab:green", lw=0.8, alpha=0.7, label="navigation estimate")
    gs = geo["glideslope"]
    rg = np.linspace(0.0, rmax, 300)
    ax.plot(rg, np.minimum(gs["v_max_mps"], gs["v_contact_mps"] + gs["gain_1ps"] * rg), "k--",
            label="glideslope")
    lo, hi = geo["envelope"]["closing_speed_mps"]
    ax.fill_between([0.0, 0.3], lo, hi, color="tab:red", alpha=0.3,
                    label="IDSS closing speed at contact")
    if contact:
        ax.plot(0.0, contact["closing_speed_mps"], "D", color="tab:red", ms=6,
                label=f"contact (truth): {contact['closing_speed_mps']:.4f} m/s")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(0.0, rmax)
    ax.set_xlabel("range along the docking axis [m] (log above 1 m)")
    ax.set_ylabel("closing speed [m/s]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("range rate against range")
    figs.add(fig, "range_rate", "Range rate against range with the glideslope and the IDSS "
                                "contact band")
    # 3. errors, each scaled to its steady part (the start-up transient noted)
    if "ref_r_H_x" in t and "nav_r_CT_H_x" in t:
        t = {k: v[:end] for k, v in t.items()}
        ts = t["t_s"]
        fig, axs = plt.subplots(2, 2, figsize=(13, 7), sharex=True)
        tr = np.column_stack([t[f"truth_r_CT_H_{a}"] for a in "xyz"])
        ref = np.column_stack([t[f"ref_r_H_{a}"] for a in "xyz"])
        nav = np.column_stack([t[f"nav_r_CT_H_{a}"] for a in "xyz"])
        started = np.any(ref != 0.0, axis=1)
        for i, a in enumerate("xyz"):
            axs[0, 0].plot(ts[started], (tr - ref)[started, i], lw=0.8, label=a)
            axs[0, 1].plot(ts, (nav - tr)[:, i], lw=0.8, label=a)
        sr = 3 * t["nav_sigma_r_m"]
        axs[0, 1].fill_between(ts, -sr, sr, color="0.85", label="3 sigma")
        _steady_scale(axs[0, 0], ts[started], list((tr - ref)[started].T), "m")
        _steady_scale(axs[0, 1], ts, [*(nav - tr).T, sr], "m")
        qt = np.column_stack([t[f"truth_q_BN_{a}"] for a in "wxyz"])
        qr = np.column_stack([t[f"ref_q_BN_{a}"] for a in "wxyz"])
        qn = np.column_stack([t[f"nav_q_BN_{a}"] for a in "wxyz"])
        ok = np.abs(qr).sum(axis=1) > 0
        att_c = _angle_deg(qt[ok], qr[ok])
        att_n = _angle_deg(qt, qn)
        s3 = np.degrees(3 * t["nav_sigma_att_rad"])
        axs[1, 0].plot(ts[ok], att_c, lw=0.8, color="tab:purple")
        axs[1, 1].plot(ts, att_n, lw=0.8, color="tab:purple", label="error")
        axs[1, 1].plot(ts, s3, "k--", lw=0.8, label="3 sigma")
        _steady_scale(axs[1, 0], ts[ok], [att_c], "deg", symmetric=False)
        _steady_scale(axs[1, 1], ts, [att_n, s3], "deg", symmetric=False)
        axs[0, 0].set_title("position control error: truth - reference (Hill) [m]")
        axs[0, 1].set_title("navigation position error: estimate - truth (Hill) [m]",
                            fontsize=10)
        axs[1, 0].set_title("attitude control error: truth vs reference [deg]")
        axs[1, 1].set_title("navigation attitude error [deg]")
        axs[0, 0].legend(fontsize=8, loc="lower right")
        axs[0, 1].legend(fontsize=8, loc="lower right")
        axs[1, 1].legend(fontsize=8, loc="lower right")
        for ax in axs.flat:
            ax.grid(alpha=0.3)
        axs[1, 0].set_xlabel("time [s]")
        axs[1, 1].set_xlabel("time [s]")
        figs.add(fig, "errors", "Position and attitude errors (control and navigation), "
                                "each scaled to its steady part")
    else:
        fig, axs = plt.subplots(1, 1, figsize=(10, 4))
        axs.plot(ts[:end], lat[:end], lw=0.8)
        _steady_scale(axs, ts[:end], [lat[:end]], "m", symmetric=False)
        axs.set_title("lateral offset of the chaser port from the docking axis (truth) [m]")
        axs.set_xlabel("time [s]")
        axs.grid(alpha=0.3)
        figs.add(fig, "errors", "Lateral offset from the docking axis (truth)")
        notes.append("This folder holds no flight-software internals (a bench run records "
                     "truth): control and navigation errors are not plotted.")
    t = t_all
    ts = t["t_s"]
    # 4. thruster firing history (duty cycle per thruster, max over each time bin)
    names = geo.get("thrusters") or []
    cols = sorted((c for c in t if c.startswith("thr_t_on_")), key=lambda c: int(c[9:]))
    if cols:
        period = 1.0 / geo["base_rate_hz"]
        duty = np.column_stack([t[c] for c in cols]) / period
        nb = min(len(ts), 1500)
        edges = np.linspace(0, len(ts), nb + 1).astype(int)
        img = np.array([duty[a:b].max(axis=0) if b > a else np.zeros(len(cols))
                        for a, b in zip(edges[:-1], edges[1:], strict=True)]).T
        fig, ax = plt.subplots(figsize=(13, 5))
        im = ax.imshow(img, aspect="auto", interpolation="nearest", cmap="magma_r",
                       extent=(ts[0], ts[-1], len(cols) - 0.5, -0.5), vmin=0, vmax=1)
        ax.set_yticks(range(len(cols)))
        ax.set_yticklabels(names if len(names) == len(cols) else [c[9:] for c in cols],
                           fontsize=7)
        ax.set_xlabel("time [s]")
        ax.set_title("thruster firing history (duty cycle, peak over each time bin)")
        fig.colorbar(im, ax=ax, label="duty cycle [-]")
        figs.add(fig, "thrusters", "Thruster firing history")
    # 5. propellant and mode
    fig, axs = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    axs[0].plot(ts, t["truth_mass_kg"][0] - t["truth_mass_kg"], color="tab:brown")
    axs[0].set_ylabel("propellant used [kg]")
    axs[0].grid(alpha=0.3)
    if "mode_state" in t:
        axs[1].step(ts, t["mode_state"], where="post", color="k", lw=1)
        used = sorted(set(int(v) for v in t["mode_state"]))
        axs[1].set_yticks(used)
        axs[1].set_yticklabels([states[i] if i < len(states) else str(i) for i in used],
                               fontsize=8)
    axs[1].set_xlabel("time [s]")
    axs[1].set_title("sequencer mode")
    axs[1].grid(alpha=0.3)
    axs[0].set_title("propellant")
    figs.add(fig, "propellant_mode", "Propellant used and the sequencer mode")
    return notes


def _run_report(d: Path, out: Path, show: Progress | None = None) -> Path:
    summ = json.loads((d / "summary.json").read_text())
    ev = json.loads((d / "events.json").read_text()) if (d / "events.json").exists() else {}
    geo_file = d / "geometry.json"
    if not geo_file.exists():
        raise ReportError(f"{d} has telemetry but no geometry.json (written by this "
                          f"version's --out): fly the run again with --out")
    geo = json.loads(geo_file.read_text())
    with np.load(d / "telemetry.npz") as z:
        t = {k: z[k] for k in z.files}
    if t["t_s"].size < 2:
        raise ReportError(f"{d}/telemetry.npz holds fewer than two samples")
    figs = _Figures(out, show)
    notes = _run_figures(t, geo, ev, figs, summ.get("contact"))
    env = geo.get("envelope") or _envelope()
    cls = "ok" if summ.get("outcome") == "docked" else "bad"
    head = [f"<p>Scenario <b>{html.escape(str(summ.get('scenario')))}</b>, seed "
           f"{summ.get('seed')}: outcome <b class='{cls}'>"
           f"{html.escape(str(summ.get('outcome')))}</b>; mission time "
           f"{_fmt(summ.get('sim_time_s'))} s, propellant {_fmt(summ.get('propellant_kg'))} kg "
           f"(delta-v {_fmt(summ.get('delta_v_mps'))} m/s).</p>"]
    head += [f"<p class='note'>{html.escape(n)}</p>" for n in notes]
    sec: list[str] = []
    c = summ.get("contact")
    if c:
        from hil.scenario.envelope import Envelope

        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in env.items()}
        checks = Envelope(**fields).checks(c)
        rows = [[LABELS[k], f"{c[k]:.4g}", lim_s, "inside" if ok else "OUTSIDE"]
                for k, (lim_s, ok) in checks.items()]
        sec.append("<h2>Contact conditions (truth) against the IDSS envelope</h2>"
                   + _table(rows, ["quantity", "value", "limit", ""]))
    else:
        sec.append("<p>No contact.</p>")
    evs = summ.get("events") or []
    if evs:
        rows = [[f"{e['t_s']:.2f}", e.get("source", ""),
                 e.get("to") or e.get("monitor") or e.get("event", ""), e.get("action", ""),
                 e.get("reason", "")]
                for e in evs]
        sec.append("<h2>Decisions (sequencer and fault management)</h2>"
                   + _table(rows, ["t [s]", "source", "to / monitor", "action", "reason"]))
    dd = summ.get("dispersions") or {}
    if dd:
        sec.append("<h2>This run's draws</h2>" + _table(
            [[k, f"{v:.4g}"] for k, v in dd.items()], ["dispersion", "value"]))
    sv = summ.get("safety_violations") or []
    sec.append("<h2>Safety invariants</h2>" + (
        _table([[v["invariant"], f"{v['t_s']:.2f}", v["detail"]] for v in sv],
               ["invariant", "t [s]", "detail"]) if sv else "<p class='ok'>none broken</p>"))
    page = _page(f"flightsw run report: {summ.get('scenario')} (seed {summ.get('seed')})",
                 head, figs, sec)
    path = out / "report.html"
    path.write_text(page)
    return path


# -- Monte Carlo ------------------------------------------------------------------------

def _histogram(ax: Any, v: np.ndarray, st: dict[str, Any], lim: Any, label: str) -> None:
    """One quantity's histogram over the range of its data, with p50 and p99, and each
    IDSS limit drawn where it falls in view or, when it is far off, the margin to it
    written on the plot."""
    v = v[np.isfinite(v)]
    ax.set_xlabel(label, fontsize=9)
    ax.set_ylabel("runs")
    ax.grid(alpha=0.3)
    if not v.size:
        ax.text(0.5, 0.5, "no run made contact", transform=ax.transAxes, ha="center")
        return
    lo, hi = float(v.min()), float(v.max())
    pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi) * 1e-3, 1e-12)
    x0, x1 = lo - pad, hi + pad
    ax.hist(v, bins=min(50, max(10, v.size // 10)), range=(lo - pad / 2, hi + pad / 2),
            color="tab:blue", alpha=0.8)
    for q, style in (("p50", "-"), ("p99", "--")):
        if st.get(q) is not None:
            ax.axvline(st[q], color="k", ls=style, lw=1, label=q)
    far = []
    for x in (lim if isinstance(lim, list | tuple) else [] if lim is None else [lim]):
        if x0 <= x <= x1:
            ax.axvline(x, color="tab:red", lw=1.5, label="IDSS limit")
        else:
            gap = x - hi if x > hi else lo - x
            far.append(f"IDSS limit {x:g}, off to the {'right' if x > hi else 'left'}: "
                       f"{gap:.3g} beyond the {'largest' if x > hi else 'smallest'} run")
    if far:
        ax.text(0.98, 0.97, "\n".join(far), transform=ax.transAxes, ha="right", va="top",
                fontsize=7, color="tab:red",
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    ax.set_xlim(x0, x1)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useOffset=False)



def _mc_report(d: Path, out: Path, show: Progress | None = None) -> Path:
    import matplotlib.pyplot as plt

    from hil.campaigns.montecarlo import CONTACT, load_rows, summarize

    man = json.loads((d / "manifest.json").read_text())
    rows = load_rows(d)
    if not rows:
        raise ReportError(f"{d} holds a campaign with no finished runs")
    s = summarize(rows, scenario=man["scenario"], master_seed=man["master_seed"])
    env = _envelope()
    figs = _Figures(out, show)
    ok = np.array([bool(r["success"]) for r in rows])

    def col(k: str) -> np.ndarray:
        return np.array([r.get(k) if r.get(k) is not None else np.nan for r in rows], float)

    pairs = [("closing_speed_mps", "lateral_offset_m"), ("closing_speed_mps",
                                                         "lateral_speed_mps"),
             ("roll_misalignment_deg", "pitch_yaw_misalignment_deg"),
             ("roll_rate_dps", "pitch_yaw_rate_dps")]
    def scatter(box: bool) -> Any:
        """The four pairs; with ``box`` the envelope drawn and in view, else zoomed to
        the data (the envelope is far larger than the spread)."""
        fig, axs = plt.subplots(2, 2, figsize=(12, 9))
        for ax, (kx, ky) in zip(axs.flat, pairs, strict=True):
            x, y = col(kx), col(ky)
            ax.scatter(x[ok], y[ok], s=8, alpha=0.6, color="tab:blue", label="success")
            if (~ok).any():
                ax.scatter(x[~ok], y[~ok], s=20, marker="x", color="tab:red", label="failed")
            if box:
                lx = env[kx] if isinstance(env[kx], list) else [0.0, env[kx]]
                ly = [0.0, env[ky]]
                ax.add_patch(plt.Rectangle((lx[0], ly[0]), lx[1] - lx[0], ly[1] - ly[0],
                                           fill=False, ec="tab:red", lw=1.5,
                                           label="IDSS envelope"))
                ax.set_xlim(min(lx[0], np.nanmin(x, initial=lx[0])) - 0.05 * (lx[1] - lx[0]),
                            max(lx[1], np.nanmax(x, initial=lx[1])) * 1.05)
                ax.set_ylim(-0.05 * ly[1], max(ly[1], np.nanmax(y, initial=ly[1])) * 1.05)
            ax.set_xlabel(LABELS[kx])
            ax.set_ylabel(LABELS[ky])
            ax.grid(alpha=0.3)
        axs[0, 0].legend(fontsize=8)
        return fig

    fig = scatter(box=True)
    fig.suptitle(f"contact conditions of {len(rows)} runs against the IDSS envelope")
    figs.add(fig, "mc_contact_scatter", "Contact conditions scattered against the envelope box")
    fig = scatter(box=False)
    fig.suptitle("contact conditions, zoomed to the data")
    figs.add(fig, "mc_contact_scatter_zoom", "Contact conditions, zoomed to the spread")
    fig, axs = plt.subplots(2, 4, figsize=(16, 7.5))
    for ax, k in zip(axs.flat, [*CONTACT, "propellant_kg"], strict=True):
        _histogram(ax, col(k), s["contact"].get(k) or s["propellant_kg"], env.get(k),
                   LABELS.get(k, "propellant [kg]"))
    handles, labels = [], []
    for ax in axs.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="upper right", fontsize=8, ncol=len(labels))
    fig.suptitle("histograms of the runs, each on its data's range (black: p50 and p99; red: "
                 "the IDSS limit where it is in view, else the margin to it is written)",
                 fontsize=11, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    figs.add(fig, "mc_histograms", "Histograms of the contact quantities and propellant, on "
                                   "the data's range, with the margin to each IDSS limit")
    lo, hi = s["success_ci95"]
    sec = [f"<p>Scenario <b>{html.escape(s['scenario'])}</b>, master seed {s['master_seed']}: "
           f"<b>{s['successes']}</b> of <b>{s['runs']}</b> runs docked with first contact "
           f"inside the IDSS envelope = <b>{100 * s['success_rate']:.2f}%</b> "
           f"(95% confidence interval {100 * lo:.2f} - {100 * hi:.2f}%, Wilson score).</p>",
           "<p>Outcomes: " + ", ".join(f"{k} {v}" for k, v in s["outcomes"].items()) + "</p>"]
    rows_t = []
    for k, v in s["contact"].items():
        if not v.get("n"):
            continue
        lim = v["limit"]
        rows_t.append([LABELS[k], f"{v['p50']:.4g}", f"{v['p99']:.4g}", f"{v['max']:.4g}",
                       f"{lim[0]:g} - {lim[1]:g}" if isinstance(lim, list) else f"{lim:g}",
                       f"{v['margin_p99']:.4g} ({100 * v['margin_p99_frac']:.0f}%)"])
    sec.append("<h2>Contact conditions</h2>" + _table(
        rows_t, ["quantity", "p50", "p99", "worst", "limit", "margin at p99"]))
    if s.get("drivers"):
        rows_d = [[LABELS.get(q, "propellant [kg]"),
                   ", ".join(f"{d['dispersion']} ({d['spearman']:+.2f})" for d in ds)
                   or "none with |rho| >= 0.2"]
                  for q, ds in s["drivers"].items()]
        sec.append("<h2>What drives each quantity</h2><p>Dispersions whose draws "
                   "rank-correlate most with it (Spearman rho over the runs that made "
                   "contact).</p>" + _table(rows_d, ["quantity", "strongest drivers"]))
    p = s["propellant_kg"]
    if p:
        sec.append(f"<p>Propellant: p50 {p['p50']:.2f} kg, p99 {p['p99']:.2f} kg, "
                   f"most {p['max']:.2f} kg.</p>")
    if s["failed"]:
        sec.append("<h2>Failed runs</h2>" + _table(
            [[f["index"], f["seed"], f["outcome"], f["why"], f["reproduce"]]
             for f in s["failed"]], ["index", "seed", "outcome", "why", "fly it again"]))
    else:
        sec.append("<p class='ok'>No failed run.</p>")
    page = _page(f"flightsw Monte Carlo report: {s['scenario']} ({s['runs']} runs)",
                 sec[:2], figs, sec[2:])
    path = out / "report.html"
    path.write_text(page)
    return path


def write_report(folder: str | Path, output: str | Path | None = None, *,
                 show: Progress | None = None) -> Path:
    """Write ``report.html`` and the PNGs for ``folder`` (a run's ``--out`` or a Monte
    Carlo folder) into ``output`` (default ``folder/report``); returns the HTML's path.
    ``show`` tells which plot is being drawn."""
    d = Path(folder)
    if not d.is_dir():
        raise ReportError(f"{d} is not a folder")
    out = Path(output) if output is not None else d / "report"
    if (d / "manifest.json").exists():
        out.mkdir(parents=True, exist_ok=True)
        return _mc_report(d, out, show)
    if (d / "telemetry.npz").exists() and (d / "summary.json").exists():
        out.mkdir(parents=True, exist_ok=True)
        return _run_report(d, out, show)
    raise ReportError(f"{d} is neither a run's --out folder (telemetry.npz, summary.json) "
                      f"nor a Monte Carlo folder (manifest.json)")
