"""Docking-interface model: contact from truth, judged against the IDSS capture envelope.

First contact is when the chaser's port D reaches the plane of the target's port P
(axial gap <= 0) within :data:`CONTACT_RADIUS_M` of the port's axis, where the capture
rings meet. The contact conditions are then computed from plant truth in the target's
docking-port frame and held against the IDSS initial-contact envelope (docs/design.md,
section 5). Further off the axis, crossing the port plane is a collision only when the
vehicles' bounding spheres (:func:`bounding_radius`) overlap; otherwise the chaser
passes by (a free drift after an escape passes the station's along-track position
hundreds of metres below it). Inside the envelope, the
capture latches close (soft capture), the attenuation system damps the relative motion,
the ring retracts and the hooks close (hard capture). Outside it there is no capture: the
run ends as a collision.

The mechanism's phases after capture are kinematic: relative velocity and rate decay with
the attenuation time constant, then retraction and hook closing take fixed times.

With a real docking-mechanism controller on a bench (:meth:`DockingInterface.follow`), the
controller decides instead of this model: the plant computes what its sensors feel
(:meth:`DockingInterface.stimulus`: contact, ring load, closing speed, relative motion),
and the controller's reported state decides the plant's: its capture latches closed while
the rings touch capture the chaser (unless a latch fault holds them open), latches that
do not close within the ring's stroke let the chaser bounce off, latches that open again
before the hooks release it, a retracted ring and closed hooks mate the vehicles.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from flightsw.attitude import angle_between, dcm_from_q
from flightsw.config import Vehicle
from flightsw.messages import DockingMechCmd, DockingMechStatus
from flightsw.orbit import Orbit
from hil.scenario.envelope import IDSS, Envelope

CONTACT_RADIUS_M = 1.0
"""Lateral offset of the chaser's port from the station port's axis within which reaching
the port plane is ring-to-ring contact [m] (the capture ring's reach)."""


def bounding_radius(v: Vehicle) -> float:
    """Radius of a sphere about the centre of mass the collision check gives the vehicle
    [m]: the farthest of its port and thrusters, or the half-length of a uniform rod with
    its mass and largest moment of inertia (``sqrt(3 I / m)``), whichever is larger (the
    files give no shape; a station is more than its port)."""
    pts = [np.asarray(v.docking_port_m, float)] + [t.position_B_m for t in v.thrusters]
    rod = float(np.sqrt(3.0 * np.max(np.linalg.eigvalsh(v.inertia_kgm2)) / v.mass_kg))
    return max(rod, float(max(np.linalg.norm(p) for p in pts)))


@dataclass(frozen=True)
class ContactConditions:
    """Truth at first contact, magnitudes in the target docking-port frame."""

    closing_speed_mps: float
    lateral_speed_mps: float
    lateral_offset_m: float
    pitch_yaw_misalignment_deg: float
    roll_misalignment_deg: float
    pitch_yaw_rate_dps: float
    roll_rate_dps: float

    def within(self, env: Envelope = IDSS) -> bool:
        d = asdict(self)
        return all(env.meets(k, d[k]) for k in asdict(env))

    def as_dict(self) -> dict[str, float | bool]:
        d: dict[str, float | bool] = dict(asdict(self))
        d["within_envelope"] = self.within()
        return d


def body_point(state: np.ndarray, t_s: float, orbit: Orbit,
               p_B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position [m] and velocity [m/s] in H, relative to the target's centre of mass, of the
    point fixed in the chaser at ``p_B`` [m] from its centre of mass (in B), from the plant
    state ``state`` at ``t_s`` [s] (H from the truth's ``orbit``)."""
    r, v, q_BN, w_B = state[0:3], state[3:6], state[6:10], state[10:13]
    q_HN, w_HN_H, _ = orbit.frame(t_s)
    C_HB = dcm_from_q(q_HN) @ dcm_from_q(q_BN).T
    w_BH_H = C_HB @ w_B - w_HN_H
    p_H = C_HB @ p_B
    return r + p_H, v + np.cross(w_BH_H, p_H)


def port_relative_state(state: np.ndarray, t_s: float, orbit: Orbit, chaser: Vehicle,
                        target: Vehicle) -> dict[str, np.ndarray]:
    """Relative position, velocity, axes and rates of the chaser port D w.r.t. target port P.

    All vectors in H. ``state`` is the plant state (see ``hil.plant._plant``).
    """
    q_BN, w_B, q_TN, w_T = state[6:10], state[10:13], state[13:17], state[17:20]
    q_HN, w_HN_H, _ = orbit.frame(t_s)
    C_HN = dcm_from_q(q_HN)
    C_HB = C_HN @ dcm_from_q(q_BN).T
    C_HT = C_HN @ dcm_from_q(q_TN).T
    # angular velocities relative to H, in H
    w_BH_H = C_HB @ w_B - w_HN_H
    w_TH_H = C_HT @ w_T - w_HN_H
    rD, vD = body_point(state, t_s, orbit, chaser.docking_port_m)
    rP = C_HT @ target.docking_port_m
    vP = np.cross(w_TH_H, rP)
    return {
        "dr": rD - rP, "dv": vD - vP,
        "n": C_HT @ target.docking_axis, "up_T": C_HT @ target.docking_up,
        "axis_C": C_HB @ chaser.docking_axis, "up_C": C_HB @ chaser.docking_up,
        "w_rel": w_BH_H - w_TH_H,
    }


def contact_conditions(state: np.ndarray, t_s: float, orbit: Orbit, chaser: Vehicle,
                       target: Vehicle) -> ContactConditions:
    """Contact conditions from truth (see :class:`ContactConditions`)."""
    g = port_relative_state(state, t_s, orbit, chaser, target)
    nrm, dr, dv = g["n"], g["dr"], g["dv"]
    closing = -float(dv @ nrm)
    lat_v = dv - (dv @ nrm) * nrm
    lat_r = dr - (dr @ nrm) * nrm
    # pitch/yaw: angle between the chaser docking axis and the port's inward axis
    py = angle_between(g["axis_C"], -nrm)
    # roll: angle between the roll references, projected on the port plane
    uc = g["up_C"] - (g["up_C"] @ nrm) * nrm
    roll = angle_between(uc, g["up_T"])
    w = g["w_rel"]
    w_ax = float(w @ nrm)
    w_lat = w - w_ax * nrm
    return ContactConditions(
        closing_speed_mps=closing,
        lateral_speed_mps=float(np.linalg.norm(lat_v)),
        lateral_offset_m=float(np.linalg.norm(lat_r)),
        pitch_yaw_misalignment_deg=float(np.degrees(py)),
        roll_misalignment_deg=float(np.degrees(roll)),
        pitch_yaw_rate_dps=float(np.degrees(np.linalg.norm(w_lat))),
        roll_rate_dps=float(np.degrees(abs(w_ax))),
    )


class DockingInterface:
    """Plant-side docking mechanism and contact model.

    Parameters
    ----------
    chaser, target : Vehicle
        True vehicles (port geometry).
    orbit : Orbit
        The truth's model of the target's orbit (its local frame H).
    status : DockingMechStatus
        Where the mechanism controller reports (the flight software's input in SIL).
    cmd : DockingMechCmd
        The flight software's commands to the mechanism.
    attenuation_tau_s, retract_time_s, hooks_time_s : float
        Mechanism timing [s].
    ring_extension_m : float
        Capture-ring stroke [m].
    """

    def __init__(self, chaser: Vehicle, target: Vehicle, orbit: Orbit,
                 status: DockingMechStatus, cmd: DockingMechCmd, *,
                 attenuation_tau_s: float = 2.0, retract_time_s: float = 10.0,
                 hooks_time_s: float = 5.0, ring_extension_m: float = 0.3) -> None:
        self.chaser, self.target, self.orbit = chaser, target, orbit
        self.status, self.cmd = status, cmd
        self.tau, self.t_retract, self.t_hooks = attenuation_tau_s, retract_time_s, hooks_time_s
        self.ring = ring_extension_m
        self.contact: ContactConditions | None = None
        self.contact_t_s: float | None = None
        self.phase = "free"
        self.outcome: str | None = None
        self.latch_failed = False  # fault injection: the capture latches will not close
        self.contacts_without_capture = 0
        self.last_gap: float | None = None  # axial port gap of the last step, if computed [m]
        self._t_phase = 0.0
        self._rP = np.asarray(target.docking_port_m, float)
        self._rD = np.asarray(chaser.docking_port_m, float)
        self._nT = np.asarray(target.docking_axis, float)
        self._plant: Any = None  # the plant whose gap() measures these ports
        self._r_touch = bounding_radius(chaser) + bounding_radius(target)
        status.buf[:] = 0.0
        status.ring_extension_m = ring_extension_m
        self.external: DockingMechStatus | None = None  # a real controller's status
        self.capture_window_s = 0.0
        self.releases = 0  # captures a real controller let go of before hard capture

    RING_STIFFNESS_NPM = 2.0e4
    """Axial stiffness of the capture ring's attenuation springs, for the stimulus's ring
    load [N/m]."""

    def follow(self, status: DockingMechStatus) -> None:
        """Let a real controller's reported ``status`` decide capture, release, retraction
        and mating (see the module docstring)."""
        self.external = status

    def stimulus(self, plant) -> dict[str, float]:
        """What a real mechanism's sensors feel now: ``contact`` (0/1), ``ring_load_n``
        [N], ``closing_speed_mps`` [m/s], ``rel_speed_mps`` [m/s], ``rel_rate_radps``
        [rad/s]."""
        g = port_relative_state(np.asarray(plant.state), plant.t_s, self.orbit, self.chaser,
                                self.target)
        touching = self.phase not in ("free", "passing", "bounced", "collision", "released")
        gap = self._ports_of(plant).gap()
        return {"contact": 1.0 if touching else 0.0,
                "ring_load_n": self.RING_STIFFNESS_NPM * max(0.0, -gap) if touching else 0.0,
                "closing_speed_mps": -float(g["dv"] @ g["n"]),
                "rel_speed_mps": float(np.linalg.norm(g["dv"])),
                "rel_rate_radps": float(np.linalg.norm(g["w_rel"]))}

    def _ports_of(self, plant: Any) -> Any:
        """``plant``, its :meth:`gap` measuring this interface's ports (given once)."""
        if plant is not self._plant:
            plant.set_ports(self._rD, self._rP, self._nT)
            self._plant = plant
        return plant

    def step(self, plant, dt: float) -> None:
        """Check contact (every step) and run the mechanism after capture."""
        plant = self._ports_of(plant)
        s = self.status
        self.last_gap = None
        if self.phase in ("bounced", "released"):  # contact without capture: apart again?
            self.last_gap = g = plant.gap()
            if g > 0.0:
                self.phase = "free"
            return
        if self.phase == "passing":  # beyond the port plane, far off the axis
            self.last_gap = g = plant.gap()
            if g > 0.0:
                self.phase = "free"
            elif float(np.linalg.norm(plant.state[:3])) < self._r_touch:
                self.phase = "free"  # close enough to touch: judge it as contact
            else:
                return
        if self.phase == "free":
            self.last_gap = g = plant.gap()
            if g > 0.0:
                return
            state = np.asarray(plant.state)
            c = contact_conditions(state, plant.t_s, self.orbit, self.chaser, self.target)
            if (c.lateral_offset_m > CONTACT_RADIUS_M
                    and float(np.linalg.norm(state[:3])) >= self._r_touch):
                self.phase = "passing"  # past the port plane far off the axis: not touching
                return
            if self.contact is None or not c.within():
                self.contact, self.contact_t_s = c, plant.t_s  # the first, or the worst
            s.contact = 1.0
            if not c.within():
                self.phase = "collision"
                self.outcome = "collision"
            elif self.external is not None:
                # the rings press together for the ring's stroke: the controller has that
                # long to close its latches
                self.phase = "pressing"
                self._t_phase = 0.0
                self.capture_window_s = max(0.5, self.ring / max(c.closing_speed_mps, 1e-3))
            elif self.cmd.arm and not self.latch_failed:
                self.phase = "captured"
                s.soft_capture = 1.0
            else:
                # inside the envelope but the latches do not close: the rings touch and
                # the guide petals push the chaser back out (restitution 0.3)
                self.phase = "bounced"
                self.contacts_without_capture += 1
                plant.state[3:6] = -0.3 * np.asarray(plant.state[3:6])
            return
        if self.phase == "collision":
            return
        ext = self.external
        if ext is not None and self._follow(plant, dt, ext):
            return
        # captured: the attenuation system damps relative translation and rotation
        y = plant.state
        decay = np.exp(-dt / self.tau)
        y[3:6] *= decay
        C_BT = dcm_from_q(y[6:10]) @ dcm_from_q(y[13:17]).T
        w_T_B = C_BT @ y[17:20]
        y[10:13] = w_T_B + (y[10:13] - w_T_B) * decay
        self._t_phase += dt
        if ext is not None:
            return  # the controller's status moves the phases (_follow)
        if self.phase == "captured":
            if np.linalg.norm(y[3:6]) < 1e-3 and np.linalg.norm(y[10:13] - w_T_B) < 1e-4:
                self.phase = "attenuated"
                s.attenuated = 1.0
        elif self.phase == "attenuated" and self.cmd.retract:
            self.phase = "retracting"
            self._t_phase = 0.0
        elif self.phase == "retracting":
            s.ring_extension_m = max(0.0, self.ring * (1 - self._t_phase / self.t_retract))
            if self._t_phase >= self.t_retract:
                self.phase = "retracted"
                s.retracted = 1.0
        elif self.phase == "retracted" and self.cmd.close_hooks:
            self.phase = "hooks"
            self._t_phase = 0.0
        elif self.phase == "hooks" and self._t_phase >= self.t_hooks:
            self.phase = "mated"
            s.hard_capture = 1.0
            self.outcome = "docked"

    def _follow(self, plant, dt: float, ext: DockingMechStatus) -> bool:
        """A real controller's status moves the mechanism's phases; True when the step is
        done (no attenuation acts)."""
        if self.phase == "pressing":
            self._t_phase += dt
            if ext.soft_capture and not self.latch_failed:
                self.phase = "captured"
                self._t_phase = 0.0
            elif self._t_phase >= self.capture_window_s:
                # the latches did not close within the stroke: the springs push it back
                self.phase = "bounced"
                self.contacts_without_capture += 1
                plant.state[3:6] = -0.3 * np.asarray(plant.state[3:6])
            return True
        if self.phase in ("captured", "retracted") and not (ext.soft_capture or
                                                            ext.hard_capture):
            self.phase = "released"  # the latches opened before the hooks held it
            self.releases += 1
            return True
        if self.phase == "captured" and ext.retracted:
            self.phase = "retracted"
        elif self.phase == "retracted" and ext.hard_capture:
            self.phase = "mated"
            self.outcome = "docked"
        return False
