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
from ..events.frame import US_PER_H, Fixes, event_frame, event_ids, fmt, hours_between, norm_text
from ..flags import default_mmsi
from ..geo import haversine_km
from ..tracks import group_starts
from .interference import interference_cells, interfered


def shared_mmsi_events(fx: Fixes, cfg: Config, jumps: pd.DataFrame | None = None,
                       cells: np.ndarray | None = None) -> pd.DataFrame:
    """One event per pair of tracks of one MMSI that overlap in time: on the later track,
    from its first fix to the end of the last clock hour both reported in (not the end of the
    overlap: once a second hull has gone, the tracker may share the one left between the two
    tracks, which then take turns); ``lat/lon`` the later track's first fix,
    ``end_lat/end_lon`` where the other track was then. Not when half the fixes of the smaller
    track lie inside GPS interference (:mod:`features.identity.interference`, from every
    vessel's ``jumps`` or their ``cells``): fixes thrown off that chained into a second
    track. An MMSI that is an installer's default (:func:`default_mmsi`) says so."""
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
    ok = hours_between(t0, over_end) >= cfg.shared_mmsi_min_overlap_h
    i, j, t0, t1 = pairs["k_i"].to_numpy()[ok], pairs["k_j"].to_numpy()[ok], t0[ok], over_end[ok]
    together, last_h = _hours_together(fx, first[i], last[i], first[j], last[j])
    ok = together >= cfg.shared_mmsi_min_overlap_h
    cells = interference_cells(jumps, cfg) if cells is None else cells
    if len(cells) and ok.any():
        ok[ok] = ~_jammed(fx, first, last, i[ok], j[ok], cells, cfg)
    i, j, t0, together = i[ok], j[ok], t0[ok], together[ok]
    t1 = np.maximum(np.minimum(t1[ok], (last_h[ok] + 1) * US_PER_H), t0)
    # Where the other track was when the later one began: its last fix at or before then.
    at = _fix_at(fx, first[i], last[i], t0)
    row = first[j]
    km = haversine_km(fx.lat[row], fx.lon[row], fx.lat[at], fx.lon[at])
    hours = hours_between(t0, t1)
    who = ""
    if "name" in fx.identity:
        a = pd.Series(fx.static_at("name", at), dtype="str").fillna("?").to_numpy(dtype=object)
        b = pd.Series(fx.static_at("name", row), dtype="str").fillna("?").to_numpy(dtype=object)
        # Spellings of one name (SEPEHR 230 / SEPEHR-230: a crew's habit) are no second hull's.
        na, nb = norm_text(a), norm_text(b)
        who = np.where((na != "") & (nb != "") & (na != nb), "; names " + a + " / " + b, "")
    detail = ("two hulls on one MMSI: tracks " + fx.track_ids(at) + " and " + fx.track_ids(row)
              + " report in the same hours " + together.astype(str).astype(object) + " times over "
              + fmt(hours, "%.1f").astype(object) + " h, "
              + fmt(km, "%.0f").astype(object) + " km apart" + who)
    mm = fx.mmsi[row]
    detail = np.where(default_mmsi(mm), detail + "; a default MMSI, which small craft share", detail)
    return event_frame("shared_mmsi", len(row), event_id=event_ids("shared_mmsi", mm, t0, fx.track_no[row]),
                       mmsi=mm, track_id=fx.track_ids(row), partner_mmsi=mm, start=t0, end=t1, hours=hours,
                       lat=fx.lat[row], lon=fx.lon[row], end_lat=fx.lat[at], end_lon=fx.lon[at],
                       identity_changed=np.ones(len(row), bool), detail=np.asarray(detail, object))


def shared_tracks(detail: pd.Series) -> pd.DataFrame:
    """The two track ids (``a``, ``b``) a ``shared_mmsi`` event's detail names.

    >>> shared_tracks(pd.Series(["two hulls on one MMSI: tracks 5-0 and 5-2 report in ..."])).values.tolist()
    [['5-0', '5-2']]
    """
    return detail.astype("str").str.extract(r"tracks (?P<a>\S+) and (?P<b>\S+) report")


def _jammed(fx: Fixes, first, last, i, j, cells: np.ndarray, cfg: Config) -> np.ndarray:
    """Per pair of tracks ``i``, ``j``: most fixes of the one with fewer lie inside GPS
    interference ``cells`` (at least half). One check per pair (few), over that track's rows."""
    out = np.zeros(len(i), bool)
    for k, (a, b) in enumerate(zip(i, j)):
        s = a if last[a] - first[a] <= last[b] - first[b] else b
        rows = slice(first[s], last[s] + 1)
        out[k] = interfered(fx.lat[rows], fx.lon[rows], fx.t_us[rows], None, cfg, cells).mean() >= 0.5
    return out


def shared_evidence(detail: pd.Series) -> pd.DataFrame:
    """What a ``shared_mmsi`` event's detail says of the two tracks: ``hours`` (the clock hours
    both reported in) and ``km`` (how far apart they were when the later began); NaN where it
    says nothing.

    >>> head = "two hulls on one MMSI: tracks 5-0 and 5-2 report in the same hours "
    >>> shared_evidence(pd.Series([head + "112 times over 70.0 h, 497 km apart",
    ...                            head + "40 times over 9.0 h,  km apart"]))  # a distance not known
       hours     km
    0  112.0  497.0
    1   40.0    NaN
    """
    got = detail.astype("str").str.extract(r"report in the same hours (?P<hours>\d+) times over [\d.]+ h, "
                                           r"(?P<km>\d*) km apart")
    return got.apply(pd.to_numeric, errors="coerce").astype(float)


def _hours_together(fx: Fixes, fi, li, fj, lj) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of tracks (rows ``fi..li`` and ``fj..lj``): how many clock hours both report
    in, and the last of them (hours since the epoch; -1 if none). One ship's track split in
    two takes turns (one silent while the other sails); two hulls report side by side. One
    count per pair (few), each over two tracks' rows."""
    n, last = np.zeros(len(fi), np.int64), np.full(len(fi), -1, np.int64)
    for k, (a0, a1, b0, b1) in enumerate(zip(fi, li, fj, lj)):
        both = np.intersect1d(fx.t_us[a0:a1 + 1] // US_PER_H, fx.t_us[b0:b1 + 1] // US_PER_H)
        n[k], last[k] = len(both), (both[-1] if len(both) else -1)
    return n, last


def _fix_at(fx: Fixes, first: np.ndarray, last: np.ndarray, t_us: np.ndarray) -> np.ndarray:
    """Per (track rows ``first..last``, time): the track's last fix at or before the time (its
    first fix if none). One search per event (few), each over its track's time-sorted rows."""
    return np.array([a + max(int(np.searchsorted(fx.t_us[a:b + 1], t, side="right")) - 1, 0)
                     for a, b, t in zip(first, last, t_us)], np.int64)
