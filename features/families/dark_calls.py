"""Possible dark port calls: at which ports a call fits inside a voyage's long gaps, given
the sailing there and back at the vessel's usual speed and a minimum stay."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Config
from ..gazetteer import Gazetteer
from ..geo import KM_PER_NM
from ..tracks import group_starts
from .index import VoyageIndex

FEATURES = [
    ("dc_n_feasible", "count", "most ports at which a call fits in one gap (spare time > 0)"),
    ("dc_sensitive_feasible", "0/1", "a call at a sensitive port fits in some gap"),
    ("dc_best_spare_h", "h", "largest spare time = gap - sailing start->port->end - minimum stay, over gaps and ports"),
    ("dc_sensitive_spare_h", "h", "largest spare time at a sensitive port"),
]


@dataclass
class DarkCalls:
    features: dict
    port: np.ndarray     # per voyage: best candidate port index (sensitive first), -1 none
    gap_h: np.ndarray    # the gap that call fits in, h
    spare_h: np.ndarray  # its spare time, h


def dark_calls(ix: VoyageIndex, gaz: Gazetteer, cfg: Config, usual_speed_kn: np.ndarray) -> DarkCalls:
    """Per voyage: which ports a call fits at, in its gaps of at least dark_call_min_gap_h.

    Spare time = gap - sailing (start -> port -> end, straight line times route_factor, at
    the track's usual speed) - min_call_stay_h."""
    nv = ix.nv
    res = DarkCalls({"dc_n_feasible": np.zeros(nv), "dc_sensitive_feasible": np.zeros(nv),
                     "dc_best_spare_h": np.full(nv, np.nan), "dc_sensitive_spare_h": np.full(nv, np.nan)},
                    np.full(nv, -1, np.int64), np.full(nv, np.nan), np.full(nv, np.nan))
    long_ = ix.g_dt >= cfg.dark_call_min_gap_h * 3600.0
    if not long_.any() or gaz.n == 0:
        return res
    ga = ix.gi[long_]
    gap_h = ix.g_dt[long_] / 3600.0
    gv = ix.gv[long_]
    spare = call_spare_h(ix.lat[ga], ix.lon[ga], ix.lat[ga + 1], ix.lon[ga + 1], gap_h,
                         usual_speed_kn[ix.tid[ix.gi]][long_], gaz, cfg)
    feasible = spare > 0
    sens = gaz.sensitive[None, :]
    best = spare.max(axis=1)
    best_port = spare.argmax(axis=1)
    s_spare = np.where(sens, spare, -np.inf)
    best_s = s_spare.max(axis=1)
    best_s_port = s_spare.argmax(axis=1)
    f = res.features
    np.maximum.at(f["dc_n_feasible"], gv, feasible.sum(axis=1))
    np.maximum.at(f["dc_sensitive_feasible"], gv, (best_s > 0).astype(float))
    f["dc_best_spare_h"] = _max_per_voyage(gv, best, nv)
    f["dc_sensitive_spare_h"] = _max_per_voyage(gv, best_s, nv)
    # Candidate port: the feasible sensitive call with most spare time, else any feasible call.
    score = np.where(best_s > 0, 1e6 + best_s, np.where(best > 0, best, -np.inf))
    port = np.where(best_s > 0, best_s_port, best_port)
    spare_of = np.where(best_s > 0, best_s, best)
    order = np.lexsort((-score, gv))
    pick = order[group_starts(gv[order])]
    ok = np.isfinite(score[pick])
    res.port[gv[pick[ok]]] = port[pick[ok]]
    res.gap_h[gv[pick[ok]]] = gap_h[pick[ok]]
    res.spare_h[gv[pick[ok]]] = spare_of[pick[ok]]
    return res


def call_spare_h(lat0, lon0, lat1, lon1, gap_h, speed_kn, gaz: Gazetteer, cfg: Config) -> np.ndarray:
    """(gaps, ports) spare hours of a call at each port in each gap; -inf where no call can be
    (the gap starts and ends at one port, or the port is an anchorage). Inputs are per gap:
    the fixes before (lat0, lon0) and after (lat1, lon1) it, deg; its length, h; the vessel's
    usual speed, kn. The events' ``possible_dark_port_call`` uses the same rule."""
    ds = gaz.distances(lat0, lon0)
    de = gaz.distances(lat1, lon1)
    sail_h = (ds + de) * cfg.route_factor / (np.asarray(speed_kn, float)[:, None] * KM_PER_NM)
    spare = np.asarray(gap_h, float)[:, None] - sail_h - cfg.min_call_stay_h
    # A gap that starts and ends at the same port is a quiet stay there, not a hidden call.
    exit_r = gaz.radius_km * cfg.port_exit_factor
    spare = np.where((ds <= exit_r) & (de <= exit_r), -np.inf, spare)
    # An anchorage is where ships queue, not where cargo is worked: not a call.
    return np.where(gaz.anchorage[None, :], -np.inf, spare)


def _max_per_voyage(gv: np.ndarray, x: np.ndarray, nv: int) -> np.ndarray:
    tmp = np.full(nv, -np.inf)
    np.maximum.at(tmp, gv, x)
    return np.where(np.isfinite(tmp), tmp, np.nan)
