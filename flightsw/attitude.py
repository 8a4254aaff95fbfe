"""Quaternion and rotation helpers in numpy (readable; used by reference twins and tests).

Quaternions are scalar-first ``[w, x, y, z]`` with the Hamilton product. ``q_BN`` is the
attitude of B relative to N and ``dcm_from_q(q_BN)`` returns ``dcm_BN`` with
``v_B = dcm_BN @ v_N``. Because the DCM is the transpose of Hamilton's active rotation
matrix, frames chain as ``q_CN = q_BN ⊗ q_CB`` (``dcm_CN = dcm_CB @ dcm_BN``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def qmul(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product ``p ⊗ q`` of scalar-first quaternions."""
    pw, pv = p[0], np.asarray(p[1:])
    qw, qv = q[0], np.asarray(q[1:])
    return np.concatenate(([pw * qw - pv @ qv], pw * qv + qw * pv + np.cross(pv, qv)))


def qconj(q: np.ndarray) -> np.ndarray:
    """Conjugate (inverse of a unit quaternion)."""
    return np.array([q[0], -q[1], -q[2], -q[3]])


def qnormalize(q: np.ndarray) -> np.ndarray:
    """Unit quaternion with non-negative scalar part."""
    q = np.asarray(q, dtype=float) / np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def unit_quat(q: npt.ArrayLike) -> bool:
    """A finite quaternion of unit norm within 0.1 (norm squared in [0.81, 1.21]): the
    check every twin makes of an input quaternion (the kernels' is ``_cmath.unit_quat``)."""
    a = np.asarray(q, float)
    n2 = float(np.dot(a, a))
    return bool(np.isfinite(n2) and 0.81 <= n2 <= 1.21)


def skew(v: np.ndarray) -> np.ndarray:
    """Cross-product matrix: ``skew(a) @ b == np.cross(a, b)``."""
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def dcm_from_q(q_BN: npt.ArrayLike) -> np.ndarray:
    """``dcm_BN`` of ``q_BN``: ``(w² − |v|²) I + 2 v vᵀ − 2 w [v×]``.

    ``q_BN`` is one quaternion, shape (4,), giving (3, 3); or a series, shape (..., 4),
    giving (..., 3, 3) (e.g. a run's recorded attitudes).
    """
    q = np.asarray(q_BN, dtype=float)
    if q.ndim == 1:
        w, v = q[0], q[1:]
        return (w * w - v @ v) * np.eye(3) + 2.0 * np.outer(v, v) - 2.0 * w * skew(v)
    w, v = q[..., 0], q[..., 1:]
    d = w * w - np.sum(v * v, axis=-1)
    C = 2.0 * v[..., :, None] * v[..., None, :]
    C[..., 0, 0] += d
    C[..., 1, 1] += d
    C[..., 2, 2] += d
    wv = 2.0 * w[..., None] * v  # - 2 w [v x]
    C[..., 0, 1] += wv[..., 2]
    C[..., 0, 2] -= wv[..., 1]
    C[..., 1, 0] -= wv[..., 2]
    C[..., 1, 2] += wv[..., 0]
    C[..., 2, 0] += wv[..., 1]
    C[..., 2, 1] -= wv[..., 0]
    return C


def q_from_rotvec(theta: np.ndarray) -> np.ndarray:
    """Quaternion of rotation vector ``theta`` [rad]."""
    theta = np.asarray(theta, dtype=float)
    a = np.linalg.norm(theta)
    if a < 1e-12:
        return qnormalize(np.concatenate(([1.0], 0.5 * theta)))
    return np.concatenate(([np.cos(0.5 * a)], np.sin(0.5 * a) / a * theta))


def q_from_dcm(C: np.ndarray) -> np.ndarray:
    """Quaternion ``q_BN`` of ``dcm_BN`` (Shepperd's method)."""
    tr = np.trace(C)
    cands = np.array([tr, C[0, 0], C[1, 1], C[2, 2]])
    i = int(np.argmax(cands))
    if i == 0:
        w = 0.5 * np.sqrt(1.0 + tr)
        q = [w, (C[1, 2] - C[2, 1]) / (4 * w), (C[2, 0] - C[0, 2]) / (4 * w),
             (C[0, 1] - C[1, 0]) / (4 * w)]
    elif i == 1:
        x = 0.5 * np.sqrt(1.0 + 2 * C[0, 0] - tr)
        q = [(C[1, 2] - C[2, 1]) / (4 * x), x, (C[0, 1] + C[1, 0]) / (4 * x),
             (C[2, 0] + C[0, 2]) / (4 * x)]
    elif i == 2:
        y = 0.5 * np.sqrt(1.0 + 2 * C[1, 1] - tr)
        q = [(C[2, 0] - C[0, 2]) / (4 * y), (C[0, 1] + C[1, 0]) / (4 * y), y,
             (C[1, 2] + C[2, 1]) / (4 * y)]
    else:
        z = 0.5 * np.sqrt(1.0 + 2 * C[2, 2] - tr)
        q = [(C[0, 1] - C[1, 0]) / (4 * z), (C[2, 0] + C[0, 2]) / (4 * z),
             (C[1, 2] + C[2, 1]) / (4 * z), z]
    return qnormalize(np.array(q))


def q_error_vec(q_est: np.ndarray, q_meas: np.ndarray) -> np.ndarray:
    """Small-angle error ``dθ`` [rad] with ``q_meas = q_est ⊗ dq(dθ)``."""
    dq = qmul(qconj(q_est), q_meas)
    s = 1.0 if dq[0] >= 0 else -1.0
    return 2.0 * s * dq[1:]


def q_hill(n: float, t: float) -> np.ndarray:
    """``q_HN``: the Hill frame turns at ``n`` [rad/s] about z; H = N at ``t`` = 0 [s]."""
    return np.array([np.cos(0.5 * n * t), 0.0, 0.0, np.sin(0.5 * n * t)])


def angle_between(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two vectors [rad]."""
    return float(np.arctan2(np.linalg.norm(np.cross(a, b)), np.dot(a, b)))
