"""``shared_mmsi`` events: two hulls on one MMSI, seen as two tracks of the number both
reporting in at least ``shared_mmsi_min_overlap_h`` of the same clock hours.

The tracker (:mod:`features.tracks`) has already split the fixes by what a ship can sail; one
ship's gap gives tracks one after the other and a single bad fix is rejected as a jump, so
neither looks like two tracks at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config
from ..events.frame import Fixes, event_frame, event_ids, fmt
from ..geo import haversine_km
from ..tracks import group_starts


def shared_mmsi_events(fx: Fixes, cfg: Config) -> pd.DataFrame:
    """One event per pair of tracks of one MMSI that overlap in time: on the later track,
    from its first fix to the end of the overlap; ``lat/lon`` the later track's first fix,
    ``end_lat/end_lon`` where the other track was then."""
    if fx.n == 0:
        return event_frame("shared_mmsi", 0, mmsi=np.zeros(0, np.int64))
    first = np.flatnonzero(group_starts(fx.tid))
    last = np.append(first[1:], fx.n) - 1
    t = pd.DataFrame({"mmsi": fx.mmsi[first], "k": np.arange(len(first)), "t0": fx.t_us[first], "t1": fx.t_us[last]})
    multi = t[t.duplicated("mmsi", keep=False)]
    pairs = multi.merge(multi, on="mmsi", suffixes=("_i", "_j"))
    pairs = pairs[(pairs["t0_i"] < pairs["t0_j"]) | ((pairs["t0_i"] == pairs["t0_j"]) & (pairs["k_i"] < pairs["k_j"]))]
    over_end = np.minimum(pairs["t1_i"].to_numpy(), pairs["t1_j"].to_numpy())
    t0 = pairs["t0_j"].to_numpy()
    ok = (over_end - t0) >= cfg.shared_mmsi_min_overlap_h * 3.6e9
    i, j, t0, t1 = pairs["k_i"].to_numpy()[ok], pairs["k_j"].to_numpy()[ok], t0[ok], over_end[ok]
    together = _hours_together(fx, first[i], last[i], first[j], last[j])
    ok = together >= cfg.shared_mmsi_min_overlap_h
    i, j, t0, t1, together = i[ok], j[ok], t0[ok], t1[ok], together[ok]
    # Where the other track was when the later one began: its last fix at or before then.
    at = _fix_at(fx, first[i], last[i], t0)
    row = first[j]
    km = haversine_km(fx.lat[row], fx.lon[row], fx.lat[at], fx.lon[at])
    hours = (t1 - t0) / 3.6e9
    who = ""
    if "name" in fx.identity:
        a = pd.Series(fx.static_at("name", at), dtype="str").fillna("?").to_numpy(dtype=object)
        b = pd.Series(fx.static_at("name", row), dtype="str").fillna("?").to_numpy(dtype=object)
        who = np.where(a != b, "; names " + a + " / " + b, "")
    detail = ("two hulls on one MMSI: tracks " + fx.track_ids(at) + " and " + fx.track_ids(row)
              + " report in the same hours " + together.astype(str).astype(object) + " times over "
              + fmt(hours, "%.1f").astype(object) + " h, "
              + fmt(km, "%.0f").astype(object) + " km apart" + who)
    mm = fx.mmsi[row]
    return event_frame("shared_mmsi", len(row), event_id=event_ids("shared_mmsi", mm, t0, fx.track_no[row]),
                       mmsi=mm, track_id=fx.track_ids(row), partner_mmsi=mm, start=t0, end=t1, hours=hours,
                       lat=fx.lat[row], lon=fx.lon[row], end_lat=fx.lat[at], end_lon=fx.lon[at],
                       identity_changed=np.ones(len(row), bool), detail=np.asarray(detail, object))


def _hours_together(fx: Fixes, fi, li, fj, lj) -> np.ndarray:
    """Per pair of tracks (rows ``fi..li`` and ``fj..lj``): the clock hours in which both
    report. One ship's track split in two takes turns (one silent while the other sails);
    two hulls report side by side. One count per pair (few), each over two tracks' rows."""
    out = np.zeros(len(fi), np.int64)
    for k, (a0, a1, b0, b1) in enumerate(zip(fi, li, fj, lj)):
        out[k] = len(np.intersect1d(fx.t_us[a0:a1 + 1] // 3_600_000_000, fx.t_us[b0:b1 + 1] // 3_600_000_000))
    return out


def _fix_at(fx: Fixes, first: np.ndarray, last: np.ndarray, t_us: np.ndarray) -> np.ndarray:
    """Per (track rows ``first..last``, time): the track's last fix at or before the time (its
    first fix if none). One search per event (few), each over its track's time-sorted rows."""
    return np.array([a + max(int(np.searchsorted(fx.t_us[a:b + 1], t, side="right")) - 1, 0)
                     for a, b, t in zip(first, last, t_us)], np.int64)
