"""``encounter`` events: two vessels within ``encounter_max_km`` for ``encounter_min_h``, both
slower than ``encounter_max_speed_kn``, at least ``encounter_min_port_km`` beyond every port's
radius (Global Fishing Watch's encounter rule; AIS on for both).

Scales by never comparing all fixes: only slow fixes away from ports are kept, each vessel is
resampled to an ``encounter_bin_min`` time grid (a bin takes the position interpolated at its
middle between the slow fixes around it, never across a gap), and the pairwise join runs per
time bin between neighbouring grid cells only (sort + ``searchsorted``, no Python loop).
One row per pair and run of consecutive bins; the vessel with the lower MMSI is ``mmsi``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config
from ..gazetteer import Gazetteer
from ..geo import haversine_km
from ..ids import track_ids
from .frame import Fixes, event_frame, event_ids, fmt, track_key



#: Columns (and Spark types) of :func:`resampled`: a table that stands alone, so the entries of
#: many vessels' groups can be pooled and paired in one place (the Spark engine's events).
BIN_TYPES = {"mmsi": "long", "track_no": "long", "bin": "long", "lat": "double", "lon": "double"}


def resampled(fx: Fixes, gaz: Gazetteer, cfg: Config) -> pd.DataFrame:
    """Slow fixes away from ports on the encounter time grid (:data:`BIN_TYPES`), in (mmsi,
    track, bin) order: the track, ``bin`` (``encounter_bin_min`` since the epoch), ``lat``,
    ``lon`` (deg); at most one entry per track and bin."""
    bin_us = int(cfg.encounter_bin_min * 60e6)
    slow = np.flatnonzero(np.nan_to_num(fx.speed_kn, nan=np.inf) < cfg.encounter_max_speed_kn)
    if len(slow) and gaz.n:
        near, _ = gaz.in_reach(fx.lat[slow], fx.lon[slow], gaz.radius_km + cfg.encounter_min_port_km,
                               key=f"enc{cfg.encounter_min_port_km}")
        slow = slow[near < 0]
    if not len(slow):
        return pd.DataFrame({k: np.zeros(0, np.int64 if t == "long" else float) for k, t in BIN_TYPES.items()})
    b = fx.t_us[slow] // bin_us
    nxt = np.minimum(np.arange(len(slow)) + 1, len(slow) - 1)
    # Linked: the next kept fix is the next fix of the same track, less than a gap later.
    linked = ((slow[nxt] == slow + 1) & (fx.tid[slow[nxt]] == fx.tid[slow])
              & (fx.t_us[slow[nxt]] - fx.t_us[slow] <= cfg.gap_hours * 3.6e9))
    linked[-1] = False
    count = np.where(linked, b[nxt] - b, 1)
    src = np.repeat(np.arange(len(slow)), count)
    offs = np.arange(len(src)) - np.repeat(np.cumsum(count) - count, count)
    bins = b[src] + offs
    i, j = slow[src], slow[nxt][src]
    t_mid = (bins * bin_us + bin_us // 2).astype(float)
    span = (fx.t_us[j] - fx.t_us[i]).astype(float)
    frac = np.where(linked[src] & (span > 0), np.clip((t_mid - fx.t_us[i]) / np.where(span > 0, span, 1), 0, 1), 0.0)
    lat = fx.lat[i] + frac * (fx.lat[j] - fx.lat[i])
    lon = fx.lon[i] + frac * (fx.lon[j] - fx.lon[i])
    # Entries come in (track, time) order; a slow fix cut off from the next slow one by a fast
    # fix in the same bin would give that bin twice: keep the first, so runs stay unbroken.
    tid = fx.tid[i]
    keep = np.r_[True, (tid[1:] != tid[:-1]) | (bins[1:] != bins[:-1])]
    i = i[keep]
    return pd.DataFrame({"mmsi": fx.mmsi[i], "track_no": fx.track_no[i], "bin": bins[keep], "lat": lat[keep],
                         "lon": lon[keep]})


def close_pairs(r: dict[str, np.ndarray], cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (p, q) into the resampled entries: same bin, different vessels (MMSI of p
    below q's), within ``encounter_max_km``. Cells are wide enough that a partner within reach
    lies in the 3 x 3 cells around (up to 75 deg latitude)."""
    if not len(r["bin"]):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cd = cfg.encounter_max_km / (111.2 * 0.25)
    ci = ((r["lat"] + 90.0) / cd).astype(np.int64)
    cj = ((r["lon"] + 180.0) / cd).astype(np.int64)
    ni, nj = int(180.0 / cd) + 3, int(360.0 / cd) + 3
    key = ((r["bin"] - r["bin"].min()) * ni + ci + 1) * nj + cj + 1
    order = np.argsort(key, kind="stable")
    sk = key[order]
    ps, qs = [], []
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            k = key + di * nj + dj
            lo, hi = np.searchsorted(sk, k, "left"), np.searchsorted(sk, k, "right")
            cnt = hi - lo
            p = np.repeat(np.arange(len(key)), cnt)
            q = order[np.repeat(lo, cnt) + np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)]
            ps.append(p)
            qs.append(q)
    p, q = np.concatenate(ps), np.concatenate(qs)
    m = r["mmsi"]
    keep = m[p] < m[q]
    p, q = p[keep], q[keep]
    d = haversine_km(r["lat"][p], r["lon"][p], r["lat"][q], r["lon"][q])
    keep = d <= cfg.encounter_max_km
    return p[keep], q[keep]


def encounter_events(fx: Fixes, gaz: Gazetteer, cfg: Config) -> pd.DataFrame:
    """One row per encounter (:func:`encounters_of_bins` of the fixes' :func:`resampled`)."""
    return encounters_of_bins(resampled(fx, gaz, cfg), gaz, cfg)


def encounters_of_bins(bins: pd.DataFrame, gaz: Gazetteer, cfg: Config) -> pd.DataFrame:
    """One row per pair of vessels and stretch of consecutive bins together of at least
    ``encounter_min_h``, from every vessel's :func:`resampled` entries (in (mmsi, track, bin)
    order). lat/lon: the first vessel's mean position, end_lat/end_lon: the partner's;
    port_id/km_to_port: nearest port to the first."""
    r = {c: bins[c].to_numpy() for c in BIN_TYPES}
    p, q = close_pairs(r, cfg)
    track = track_key(r["mmsi"], r["track_no"])
    tp, tq, b = track[p], track[q], r["bin"][p]
    order = np.lexsort((b, tq, tp))
    p, q, tp, tq, b = p[order], q[order], tp[order], tq[order], b[order]
    together = np.zeros(len(b), bool)
    together[1:] = (tp[1:] == tp[:-1]) & (tq[1:] == tq[:-1]) & (b[1:] == b[:-1] + 1)
    # Runs of "continues the previous entry": entry k starts a run unless together[k].
    starts = np.flatnonzero(~together)
    ends = np.append(starts[1:], len(b)) - 1
    n_bins = ends - starts + 1
    bin_h = cfg.encounter_bin_min / 60.0
    keep = n_bins * bin_h >= cfg.encounter_min_h - 1e-9
    s, e, nb = starts[keep], ends[keep], n_bins[keep]
    if not len(s):
        return event_frame("encounter", 0, mmsi=np.zeros(0, np.int64))
    run_of = np.repeat(np.arange(len(starts)), n_bins)
    sel = np.flatnonzero(keep[run_of])
    grp = np.searchsorted(np.flatnonzero(keep), run_of[sel])
    mean = lambda x: np.bincount(grp, weights=x[sel], minlength=len(s)) / nb  # noqa: E731
    la, lo = mean(r["lat"][p]), mean(r["lon"][p])
    la2, lo2 = mean(r["lat"][q]), mean(r["lon"][q])
    dist_m = mean(haversine_km(r["lat"][p], r["lon"][p], r["lat"][q], r["lon"][q])) * 1000
    bin_us = int(cfg.encounter_bin_min * 60e6)
    t0, t1 = b[s] * bin_us, (b[e] + 1) * bin_us
    a_row, q_row = p[s], q[s]
    port, km = gaz.nearest(la, lo)
    detail = np.char.add(np.char.add("within ", fmt(np.full(len(s), cfg.encounter_max_km * 1000), "%.0f")),
                         np.char.add(np.char.add(" m of ", _track_ids(r, q_row).astype(str)),
                                     np.char.add(np.char.add(", both under ", fmt(np.full(len(s), cfg.encounter_max_speed_kn), "%g")),
                                                 np.char.add(" kn, AIS on; mean distance ", np.char.add(fmt(dist_m, "%.0f"), " m")))))
    return event_frame(
        "encounter", len(s), event_id=event_ids("encounter", r["mmsi"][a_row], t0, r["mmsi"][q_row]),
        mmsi=r["mmsi"][a_row], track_id=_track_ids(r, a_row), partner_mmsi=r["mmsi"][q_row], start=t0, end=t1,
        hours=nb * bin_h,
        lat=la, lon=lo, end_lat=la2, end_lon=lo2,
        port_id=np.where(port >= 0, gaz.ids[np.maximum(port, 0)], None) if gaz.n else None, km_to_port=km,
        detail=detail.astype(object))


def _track_ids(r: dict[str, np.ndarray], idx: np.ndarray) -> np.ndarray:
    return track_ids(r["mmsi"][idx], r["track_no"][idx]).to_numpy(dtype=object)
