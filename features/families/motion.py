"""Motion: how long, how far and how fast a voyage went, and the track's habits (its usual
reporting interval and speed) that other families judge gaps against."""

from __future__ import annotations

import numpy as np

from ..config import Config
from ..geo import KM_PER_NM
from .index import VoyageIndex

FEATURES = [
    ("duration_h", "h", "voyage duration, last fix minus first fix"),
    ("distance_km", "km", "sum of great-circle steps between fixes"),
    ("n_positions", "count", "fixes in the voyage, both end fixes included"),
    ("mean_speed_kn", "kn", "distance over time, gaps excluded"),
    ("mean_sog_kn", "kn", "mean reported speed over ground"),
    ("max_sog_kn", "kn", "maximum reported speed over ground"),
]


def motion(ix: VoyageIndex) -> dict:
    """Duration, distance, fix count and speeds per voyage."""
    out = {"duration_h": ix.duration_s / 3600.0, "distance_km": ix.vsum(ix.d)}
    # Intervals from a voyage's first to its last, less the invalid ones inside that span (the
    # invalid ones after it, up to the next voyage, belong to no voyage), plus one fix.
    inside = ix.inval <= ix.gend[ix.inval_v] if len(ix.inval) else np.zeros(0, bool)
    out["n_positions"] = (ix.gend - ix.gst + 1) - np.bincount(ix.inval_v[inside], minlength=ix.nv) + 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_speed_kn"] = (np.add.reduceat(np.where(ix.no_gap, ix.d, 0.0), ix.gst)
                                / (np.add.reduceat(np.where(ix.no_gap, ix.dt, 0.0), ix.gst) / 3600.0) / KM_PER_NM)
    sog_b = ix.sog[1:]
    has_sog = np.isfinite(sog_b)
    all_sog = bool(has_sog.all())
    n_sog = ix.vsum(has_sog)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_sog_kn"] = ix.vsum(sog_b if all_sog else np.where(has_sog, sog_b, 0.0)) / n_sog
    out["max_sog_kn"] = np.where(n_sog > 0, ix.vmax(sog_b if all_sog else np.where(has_sog, sog_b, -np.inf)), np.nan)
    return out


def usual_interval_s(ix: VoyageIndex, cfg: Config) -> np.ndarray:
    """Per track: mean reporting interval outside gaps, s (NaN without one)."""
    ok = ix.same_track & ~(ix.dt > cfg.gap_hours * 3600.0)
    tid_iv = ix.tid[1:]
    cnt = np.bincount(tid_iv, weights=ok, minlength=ix.n_tracks)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, np.bincount(tid_iv, weights=np.where(ok, ix.dt, 0.0), minlength=ix.n_tracks)
                        / np.maximum(cnt, 1), np.nan)


def usual_speed_kn(ix: VoyageIndex, cfg: Config) -> np.ndarray:
    """Per track: :func:`usual_speed_kn_of` the index's fixes."""
    return usual_speed_kn_of(ix.tid, ix.sog, ix.dt, ix.step_kn, ix.same_track, ix.n_tracks, cfg)


def usual_speed_kn_of(tid: np.ndarray, sog: np.ndarray, dt: np.ndarray, step_kn: np.ndarray, same_track: np.ndarray,
                      n_tracks: int, cfg: Config) -> np.ndarray:
    """Per track: mean reported speed while moving, else mean implied speed, else the
    config's default speed (fewer than three of either), kn.

    ``tid``, ``sog``: per fix (n); ``dt`` (s), ``step_kn``, ``same_track``: per interval
    (n - 1). The events' reach and sailing times use the same rule."""
    ok = same_track & ~(dt > cfg.gap_hours * 3600.0)
    tid_iv = tid[1:]
    moving = sog > cfg.moving_speed_kn
    mv_cnt = np.bincount(tid, weights=moving, minlength=n_tracks)
    mv_speed = np.bincount(tid, weights=np.where(moving, sog, 0.0), minlength=n_tracks) / np.maximum(mv_cnt, 1)
    imp_ok = ok & (step_kn > cfg.moving_speed_kn) & (step_kn < cfg.max_speed_kn)
    imp_cnt = np.bincount(tid_iv, weights=imp_ok, minlength=n_tracks)
    imp_speed = np.bincount(tid_iv, weights=np.where(imp_ok, step_kn, 0.0), minlength=n_tracks) / np.maximum(imp_cnt, 1)
    return np.where(mv_cnt >= 3, mv_speed, np.where(imp_cnt >= 3, imp_speed, cfg.default_speed_kn))
