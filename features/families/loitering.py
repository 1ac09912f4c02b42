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
]


def loitering(ix: VoyageIndex, cfg: Config) -> dict:
    """Hours and stretches under loiter_speed_kn away from ports, gaps excluded; hours of
    long gaps whose implied speed is under it."""
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
    return out
