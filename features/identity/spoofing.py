"""``spoofing`` events: positions or numbers a real ship would not send. One function per
typology in :data:`TYPOLOGIES`, each naming itself in the event's ``detail``; every threshold
is a ``spoof_*`` field of :class:`~features.config.Config`.

- ``fixed position``: the same position to the metre for hours while the speed says sailing
  (a transmitter fed a fixed position). Its look-alike, a ship at anchor whose speed field
  is stale, moves its fix by metres and does not fire.
- ``circles``: two full turns or more within hours, one way, round, on a tight radius, while
  the reported speed says sailing (the circles spoofed positions draw). A manoeuvre turns
  once; a ship swinging at anchor, or one at rest whose GPS noise draws loops, reports no
  speed.
- ``jumps that come back``: several fixes rejected as implausible jumps within a day, the
  track going on where it was (the tracker keeps the ship's own track). A single jump is a
  receiver glitch; jumps where other ships jumped too are GPS interference
  (:mod:`features.identity.interference`); an installer's default MMSI that many boats share
  jumps between them (its ``shared_mmsi`` event says so).
- ``unallocated MID``: an MMSI whose first three digits are no state's (ITU-R M.585).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config
from ..events.frame import Fixes, event_frame, event_ids, fmt
from ..flags import MID_TO_FLAG, default_mmsi
from ..geo import haversine_km
from ..tracks import epoch_us
from .interference import interfered


def _spans(mask: np.ndarray, link: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) index of each run of True in ``mask`` whose neighbours are joined by
    ``link`` (length n - 1: i and i + 1 belong together).

    >>> [x.tolist() for x in _spans(np.array([True, True, False, True]), np.array([True, True, True]))]
    [[0, 3], [1, 3]]
    """
    inner = mask[1:] & mask[:-1] & link
    return (np.flatnonzero(mask & ~np.r_[False, inner]), np.flatnonzero(mask & ~np.r_[inner, False]))


def _events(fx: Fixes, typology: str, a: np.ndarray, b: np.ndarray, detail) -> pd.DataFrame:
    """Spoofing events on fixes ``a`` (start) .. ``b`` (end) of one track each."""
    t0, t1 = fx.t_us[a], fx.t_us[b]
    text = np.char.add(f"{typology}: ", np.asarray(detail, str)) if len(a) else np.zeros(0, str)
    return event_frame("spoofing", len(a), event_id=event_ids("spoofing", fx.mmsi[a], t0, np.full(len(a), typology.replace(" ", "_"))),
                       mmsi=fx.mmsi[a], track_id=fx.track_ids(a), start=t0, end=t1, hours=(t1 - t0) / 3.6e9,
                       lat=fx.lat[a], lon=fx.lon[a], end_lat=fx.lat[b], end_lon=fx.lon[b],
                       identity_changed=np.zeros(len(a), bool), detail=text.astype(object))


def fixed_position(fx: Fixes, cfg: Config, jumps=None) -> pd.DataFrame:
    """Runs of one exact position (``spoof_fixed_eps_deg``), heard without a gap
    (``gap_hours``), lasting ``spoof_fixed_min_h`` with a mean reported speed of
    ``spoof_fixed_min_sog_kn`` or more."""
    eps = cfg.spoof_fixed_eps_deg
    same = fx.same_track_next() & (np.abs(np.diff(fx.lat)) <= eps) & (np.abs(np.diff(fx.lon)) <= eps)
    same &= np.diff(fx.t_us) <= cfg.gap_hours * 3.6e9  # heard all along: a gap is no evidence of standing still
    a, b = _spans(same, np.ones(max(len(same) - 1, 0), bool))
    b = b + 1  # link run i..j covers fixes i..j + 1
    hours = (fx.t_us[b] - fx.t_us[a]) / 3.6e9
    # Summed per run, not as differences of one running sum over every vessel (whose rounding
    # would depend on the vessels before: an engine that splits them must get the same).
    sog = np.add.reduceat(np.r_[np.nan_to_num(fx.speed_kn), 0.0], np.c_[a, b + 1].ravel())[::2] if len(a) else np.zeros(0)
    mean_kn = sog / (b - a + 1)
    ok = (hours >= cfg.spoof_fixed_min_h) & (mean_kn >= cfg.spoof_fixed_min_sog_kn)
    detail = ("the same position for " + fmt(hours[ok], "%.1f").astype(object) + " h while reporting "
              + fmt(mean_kn[ok], "%.1f").astype(object) + " kn")
    return _events(fx, "fixed position", a[ok], b[ok], detail)


#: Rows per block of whole tracks the circle windows are computed on: a dozen full-length
#: columns of 10 M rows would add ~1 GB to the events' peak.
_BLOCK_ROWS = 1_000_000


def _blocks(tid: np.ndarray, rows: int = _BLOCK_ROWS) -> list[tuple[int, int]]:
    """Row ranges ``[lo, hi)`` of about ``rows`` rows each, cut only where a track starts.

    >>> _blocks(np.array([0, 0, 1, 1, 1, 2]), rows=2)
    [(0, 2), (2, 5), (5, 6)]
    """
    n = len(tid)
    starts = np.flatnonzero(np.r_[True, tid[1:] != tid[:-1]]) if n else np.zeros(0, np.int64)
    cuts, lo = [], 0
    while lo < n:
        k = np.searchsorted(starts, lo + rows)  # the first track start at or after lo + rows
        hi = int(starts[k]) if k < len(starts) else n
        cuts.append((lo, hi))
        lo = hi
    return cuts


def circles(fx: Fixes, cfg: Config, jumps=None) -> pd.DataFrame:
    """Windows of ``spoof_circle_window_h`` whose signed turning reaches
    ``spoof_circle_turn_deg``, heard without a gap (``gap_hours``), at a mean reported speed
    of ``spoof_circle_min_kn`` or more, on a radius
    (path length / angle turned) of at most ``spoof_circle_max_km``, turning one way
    (``spoof_circle_steady``) and round (``spoof_circle_roundness``). Overlapping windows of
    one track are one event. Computed in blocks of whole tracks."""
    parts = [_circle_windows(fx, lo, hi, cfg) for lo, hi in _blocks(fx.tid) if hi - lo >= 3]
    if not parts:
        return _events(fx, "circles", np.zeros(0, np.int64), np.zeros(0, np.int64), [])
    start, end, turns, radius = (np.concatenate(x) for x in zip(*parts))
    detail = (fmt(turns, "%.1f").astype(object) + " turns in "
              + fmt((fx.t_us[end] - fx.t_us[start]) / 3.6e9, "%.1f").astype(object) + " h, radius ~"
              + fmt(radius, "%.1f").astype(object) + " km")
    return _events(fx, "circles", start, end, np.asarray(detail, object))


def _circle_windows(fx: Fixes, lo: int, hi: int, cfg: Config):
    """(start, end, turns, radius km) of the circling episodes of rows ``lo..hi-1`` (whole
    tracks), as row numbers of ``fx``. The cheap tests (turning, speed, steadiness) run on
    every fix; radius and roundness only on the fixes that pass them."""
    n = hi - lo
    none = (np.zeros(0, np.int64),) * 2 + (np.zeros(0),) * 2
    lat, lon, t_us, tid = fx.lat[lo:hi], fx.lon[lo:hi], fx.t_us[lo:hi], fx.tid[lo:hi]
    step = fx.step_km[lo:hi - 1]
    same = tid[1:] == tid[:-1]
    # Turns between successive steps on a plane with the east-west scale of each step's start:
    # a scale off by a few percent draws a circle as an ellipse, which still turns 360 degrees.
    # One arctan2 of the steps' cross and dot products per fix, no trigonometry besides.
    kx = np.cos(np.radians(lat[:-1]))  # per step, so any block of whole tracks gives the same turns
    dx, dy = np.diff(lon) * kx, np.diff(lat)
    good = same & (step >= cfg.spoof_circle_min_step_km)
    turn = np.zeros(n)
    both = good[1:] & good[:-1]
    turn[1:-1] = np.where(both, np.degrees(np.arctan2(dx[:-1] * dy[1:] - dy[:-1] * dx[1:],
                                                      dx[:-1] * dx[1:] + dy[:-1] * dy[1:])), 0.0)
    # Turning counts where the ship reports sailing (GPS noise turns a ship at rest every way).
    turn[~(np.nan_to_num(fx.speed_kn[lo:hi]) >= cfg.spoof_circle_min_kn / 2)] = 0.0
    if not _may_circle(turn, t_us, tid, cfg):
        return none
    # Running sums restart at every track (:func:`_track_cumsum`): a window never leaves its
    # track, and how tracks are grouped into blocks (or an engine's buckets) must not matter.
    cum_turn = _track_cumsum(turn, tid)
    cum_abs = _track_cumsum(np.abs(turn), tid)
    # Per fix k, the first fix j of its track within the window: one search keyed by (track,
    # s), never before the track's first fix.
    t_s = (t_us - t_us.min()) // 1_000_000
    key = (tid - tid[0]) * (int(t_s.max()) + 1) + t_s
    j = np.searchsorted(key, key - int(cfg.spoof_circle_window_h * 3600))
    np.maximum(j, np.maximum.accumulate(np.where(np.r_[True, ~same], np.arange(n), 0)), out=j)
    turned = np.abs(cum_turn - cum_turn[j])
    hit = turned >= cfg.spoof_circle_turn_deg
    hit &= turned >= cfg.spoof_circle_steady * (cum_abs - cum_abs[j])
    # The reported speed (a spoofed circle is sent at a sailing speed; GPS jitter of a ship at
    # rest draws tight loops on a path that is long only because of the noise).
    sog_k = np.nan_to_num(fx.speed_kn[lo:hi])
    sog = _track_cumsum(sog_k, tid)
    k = np.arange(n)
    hit &= (sog - sog[j] + sog_k[j]) / (k - j + 1) >= cfg.spoof_circle_min_kn
    # Heard all along: a few fixes either side of a gap draw no circle.
    gaps = np.r_[0, np.cumsum(np.diff(t_us) > cfg.gap_hours * 3.6e9)]
    hit &= gaps == gaps[j]
    if not hit.any():
        return none
    cand = np.flatnonzero(hit)
    cum_km = _track_cumsum(np.r_[0.0, np.where(same, step, 0.0)], tid)  # km sailed to each fix
    radius = np.full(n, np.inf)
    radius[cand] = (cum_km[cand] - cum_km[j[cand]]) / np.radians(turned[cand])
    spread = _window_spread_km(lat, lon, tid, j, cand)
    hit[cand] &= (radius[cand] <= cfg.spoof_circle_max_km) & (
        np.abs(spread / np.maximum(radius[cand], 1e-9) - 1.0) <= cfg.spoof_circle_roundness)
    a, b = _spans(hit, same)
    start = j[a]
    # Windows of one track that overlap are one episode: a new one begins only past the
    # previous one's end (track starts are always past it: j never crosses a track).
    new = np.r_[True, start[1:] > np.maximum.accumulate(b)[:-1]] if len(a) else np.zeros(0, bool)
    start = start[new]
    b = np.maximum.reduceat(b, np.flatnonzero(new)) if len(a) else b
    return start + lo, b + lo, np.abs(cum_turn[b] - cum_turn[start]) / 360.0, radius[b]


def _may_circle(turn: np.ndarray, t_us: np.ndarray, tid: np.ndarray, cfg: Config) -> bool:
    """A cheap necessary condition: some track turns through ``spoof_circle_turn_deg`` within
    two consecutive clock bins of ``spoof_circle_window_h`` (any window of that length lies in
    two). Most blocks have none and skip the window search."""
    w = int(cfg.spoof_circle_window_h * 3.6e9)
    b = (t_us - t_us.min()) // w
    key = (tid - tid[0]) * (int(b.max()) + 2) + b
    r = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    s = np.add.reduceat(np.abs(turn), r)
    k = key[r]
    pair = s[:-1] + np.where(k[1:] == k[:-1] + 1, s[1:], 0.0)
    return bool((s >= cfg.spoof_circle_turn_deg).any() or (pair >= cfg.spoof_circle_turn_deg).any())


def _track_cumsum(v: np.ndarray, tid: np.ndarray) -> np.ndarray:
    """Running sum of ``v`` within each track (``tid`` sorted), restarting at its first fix.

    >>> _track_cumsum(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 0, 1, 1])).tolist()
    [1.0, 3.0, 3.0, 7.0]
    """
    return pd.Series(v).groupby(tid, sort=False).cumsum().to_numpy(float)


def _window_spread_km(lat: np.ndarray, lon: np.ndarray, tid: np.ndarray, j: np.ndarray,
                      rows: np.ndarray) -> np.ndarray:
    """Per fix k of ``rows``: the root-mean-square distance (km) of fixes j[k]..k from their
    centroid, from running sums on a local plane (a window spans a few km, where the plane is
    exact enough). On a circle it is the radius; a wandering or drifting path spreads wider or
    narrower."""
    y = lat * 110.574
    x = lon * 111.320 * np.cos(np.radians(lat))
    jj = j[rows]
    cnt = (rows + 1 - jj).astype(float)  # fixes j..k
    mx, my, mxx, myy = ((c[rows] - c[jj] + v[jj]) / cnt
                        for v in (x, y, x * x, y * y) for c in [_track_cumsum(v, tid)])
    return np.sqrt(np.maximum(mxx - mx * mx + myy - my * my, 0.0))


def jumps_back(fx: Fixes, cfg: Config, jumps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Clusters of at least ``spoof_jump_min`` rejected jumps of one MMSI, each within
    ``spoof_jump_window_h`` of the previous; the event sits on the MMSI's track nearest in
    time (its fix just before the first jump)."""
    empty = _events(fx, "jumps that come back", np.zeros(0, np.int64), np.zeros(0, np.int64), [])
    if jumps is None or not len(jumps) or fx.n == 0:
        return empty
    m = jumps["mmsi"].to_numpy(np.int64)
    t = epoch_us(jumps["timestamp"])
    o = np.lexsort((t, m))
    m, t = m[o], t[o]
    lat, lon = jumps["lat"].to_numpy(float)[o], jumps["lon"].to_numpy(float)[o]
    a, b = _spans(np.ones(len(m), bool), (m[1:] == m[:-1]) & (np.diff(t) <= cfg.spoof_jump_window_h * 3.6e9))
    ok = (b - a + 1) >= cfg.spoof_jump_min
    # Boats sharing an installer's default MMSI jump between each other: no spoofing.
    ok &= ~default_mmsi(m[a])
    # Most of a cluster's jumps where other ships jumped too: GPS interference, not this ship.
    inside = np.r_[0, np.cumsum(interfered(lat, lon, t, jumps, cfg))]
    ok &= (inside[b + 1] - inside[a]) * 2 < (b - a + 1)
    a, b = a[ok], b[ok]
    # The MMSI's fix at or before each cluster's first jump (fixes sorted by mmsi, track, time
    # give each MMSI one contiguous block).
    rows = np.array([_fix_of(fx, int(m[x]), int(t[x])) for x in a], np.int64)
    keep = rows >= 0
    a, b, rows = a[keep], b[keep], rows[keep]
    far = np.array([haversine_km(fx.lat[r], fx.lon[r], lat[x:y + 1], lon[x:y + 1]).max()
                    for r, x, y in zip(rows, a, b)]) if len(a) else np.zeros(0)
    detail = ((b - a + 1).astype(str).astype(object) + " positions jumped up to " + fmt(far, "%.0f").astype(object)
              + " km off the track within " + fmt((t[b] - t[a]) / 3.6e9, "%.1f").astype(object)
              + " h and it went on where it was")
    ev = _events(fx, "jumps that come back", rows, rows, np.asarray(detail, object))
    if len(ev):
        ev["start"], ev["end"] = pd.DatetimeIndex(t[a].astype("datetime64[us]")).tz_localize("UTC"), \
            pd.DatetimeIndex(t[b].astype("datetime64[us]")).tz_localize("UTC")
        ev["hours"] = (t[b] - t[a]) / 3.6e9
        ev["end_lat"], ev["end_lon"] = lat[b], lon[b]
    return ev


def _fix_of(fx: Fixes, mmsi: int, t_us: int) -> int:
    """Row of the MMSI's last fix at or before ``t_us`` (its first if none); -1: no fix."""
    lo, hi = np.searchsorted(fx.mmsi, mmsi), np.searchsorted(fx.mmsi, mmsi, side="right")
    if lo == hi:
        return -1
    before = np.flatnonzero(fx.t_us[lo:hi] <= t_us)
    return lo + (int(before[np.argmax(fx.t_us[lo:hi][before])]) if len(before) else 0)


def unallocated_mid(fx: Fixes, cfg: Config, jumps=None) -> pd.DataFrame:
    """One event per MMSI whose MID is allocated to no state, over its first to last fix."""
    first = np.flatnonzero(np.r_[True, fx.mmsi[1:] != fx.mmsi[:-1]]) if fx.n else np.zeros(0, np.int64)
    last = np.append(first[1:], fx.n) - 1
    mid = fx.mmsi[first] // 1_000_000
    bad = ~np.isin(mid, np.fromiter(MID_TO_FLAG, np.int64))
    detail = "MID " + mid[bad].astype(str).astype(object) + " is allocated to no state (ITU-R M.585)"
    return _events(fx, "unallocated MID", first[bad], last[bad], detail)


#: Typology -> detector, in the order their events are listed.
TYPOLOGIES = {"fixed position": fixed_position, "circles": circles, "jumps that come back": jumps_back,
              "unallocated MID": unallocated_mid}


def spoofing_events(fx: Fixes, cfg: Config, jumps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every typology's events (:data:`TYPOLOGIES`)."""
    parts = [f(fx, cfg, jumps) for f in TYPOLOGIES.values()]
    return pd.concat([p for p in parts if len(p)] or [parts[0]], ignore_index=True)
