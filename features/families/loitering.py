"""Loitering: slow away from ports while reporting, and gaps that end near where they began
(loitering while dark)."""

from __future__ import annotations

import numpy as np

from ..config import Config
from ..geo import KM_PER_NM
from .index import VoyageIndex

FEATURES = [
    ("loiter_h", "h", "time under loiter_speed_kn away from ports, gaps excluded"),
    ("loiter_events", "count", "loitering stretches of at least loiter_min_h"),
    ("dark_loiter_h", "h", "gaps of at least dark_loiter_min_gap_h whose implied speed is under loiter_speed_kn"),
    ("dark_idle_h", "h", "largest, over the voyage's gaps, of the gap less the time to sail from its first fix to its last at the track's usual speed (times route_factor): hours the ship did not need to move on, spent somewhere while dark (~0 for a reception hole crossed at sea speed)"),
]


def loitering(ix: VoyageIndex, cfg: Config, speed_kn: np.ndarray) -> dict:
    """Hours and stretches under loiter_speed_kn away from ports, gaps excluded; hours of
    long gaps whose implied speed is under it; the idle hours of the idlest gap.
    ``speed_kn``: each track's usual speed (:func:`features.families.motion.usual_speed_kn`)."""
    nv = ix.nv
    spd = np.where(np.isfinite(ix.sog), ix.sog, np.inf)  # unknown speed is not "slow"
    spd_iv = np.where(np.isfinite(ix.step_kn), ix.step_kn, np.inf)
    slow = (ix.no_gap & (np.minimum(spd[:-1], spd_iv) < cfg.loiter_speed_kn)
            & (np.minimum(spd[1:], spd_iv) < cfg.loiter_speed_kn) & (ix.near_port[:-1] < 0) & (ix.near_port[1:] < 0))
    si = np.flatnonzero(slow)
    out = {"loiter_h": np.bincount(ix.gidx[si], weights=ix.dt[si], minlength=nv) / 3600.0}
    if len(si):
        run_start = np.ones(len(si), bool)
        run_start[1:] = (si[1:] != si[:-1] + 1) | (ix.gidx[si[1:]] != ix.gidx[si[:-1]])
        run_id = np.cumsum(run_start) - 1
        dur = np.bincount(run_id, weights=ix.dt[si])
        run_v = ix.gidx[si[run_start]]
        out["loiter_events"] = np.bincount(run_v[dur >= cfg.loiter_min_h * 3600.0], minlength=nv).astype(float)
    else:
        out["loiter_events"] = np.zeros(nv)
    with np.errstate(invalid="ignore", divide="ignore"):
        g_kn = ix.d[ix.gi] / (ix.g_dt / 3600.0) / KM_PER_NM
    dark_loiter = (ix.g_dt >= cfg.dark_loiter_min_gap_h * 3600.0) & (g_kn < cfg.loiter_speed_kn)
    out["dark_loiter_h"] = np.bincount(ix.gv, weights=np.where(dark_loiter, ix.g_dt, 0.0), minlength=nv) / 3600.0
    out["dark_idle_h"] = dark_idle_h(ix.g_dt / 3600.0, ix.d[ix.gi], speed_kn[ix.tid[ix.gi]], ix.gv, nv, cfg)
    return out


def dark_idle_h(gap_h: np.ndarray, km: np.ndarray, speed_kn: np.ndarray, gv: np.ndarray, nv: int,
                cfg: Config) -> np.ndarray:
    """Per voyage, the largest idle time of its gaps (h; 0 without a gap): a gap's length less
    the time to sail its displacement at the ship's usual speed, ``route_factor`` times the
    straight line. Per gap: ``gap_h`` (h), ``km`` between its end fixes, ``speed_kn``, ``gv``.

    >>> from features.config import DEFAULT
    >>> # 10 h dark, 37 km apart at 10 kn (2.3 h with the route factor): 7.7 h idle; 3 h, 56 km: none
    >>> dark_idle_h(np.array([10.0, 3.0]), np.array([37.04, 55.56]), np.array([10.0, 10.0]),
    ...             np.array([0, 1]), 2, DEFAULT).round(1).tolist()
    [7.7, 0.0]
    """
    idle = np.maximum(gap_h - km * cfg.route_factor / (speed_kn * KM_PER_NM), 0.0)
    out = np.zeros(nv)
    np.maximum.at(out, gv, np.where(np.isfinite(idle), idle, 0.0))
    return out
