"""Order fixes per vessel, drop duplicates, and split each MMSI into tracks (one per ship).

One MMSI can carry several ships (default MMSIs such as 200000010, spoofing, a typo in a
transponder). A fix joins the open track it most plausibly continues - the nearest one it can
reach without exceeding ``max_speed_kn`` - and otherwise opens a new track, like GFW's
gpsdio-segment. Almost every MMSI is one ship whose consecutive fixes are all reachable; those
take a vectorised fast path and never enter the per-fix loop.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import schema as S
from .config import Config
from .geo import KM_PER_NM, haversine_km, pair_km
from .geo import step_km as geo_step_km

_US = 1_000_000


def epoch_us(ts: pd.Series) -> np.ndarray:
    """Microseconds since the Unix epoch of a ``datetime64[*, UTC]`` column, as int64."""
    arr = ts.array
    if arr.unit != "us":  # converting through .dt costs ~40 us even when there is nothing to do
        arr = ts.dt.as_unit("us").array
    return np.asarray(arr.asi8, dtype=np.int64)


def utc_times(us) -> pd.DatetimeIndex:
    """Microseconds since the Unix epoch (int64, or ``datetime64[us]`` with NaT) as UTC times,
    without a parse: the inverse of :func:`epoch_us`."""
    a = np.asarray(us)
    if a.dtype.kind != "M":
        a = a.astype(np.int64)
    return pd.DatetimeIndex(a.astype("datetime64[us]"), copy=False).tz_localize("UTC")


class Seconds:
    """Seconds since the epoch of an int64 microsecond column, computed only for the rows
    asked for: every use picks a few rows, so a 10 M-row float copy is not needed."""

    def __init__(self, t_us: np.ndarray):
        self.t_us = t_us

    def __getitem__(self, idx):
        return self.t_us[idx] / 1e6


def group_starts(*keys: np.ndarray) -> np.ndarray:
    """Boolean mask of rows that start a new run of equal keys (arrays already sorted)."""
    n = len(keys[0])
    first = np.zeros(n, bool)
    if n:
        first[0] = True
        for k in keys:
            first[1:] |= k[1:] != k[:-1]
    return first


def sort_rows(mmsi: np.ndarray, t_us: np.ndarray, lat: np.ndarray, lon: np.ndarray):
    """Sort rows by (mmsi, time, lat, lon, row): ``(order, mmsi, t_us, lat, lon)`` in that order.

    One int64 key (MMSI in the high 30 bits, time in ~1.05 s steps below) sorts most rows in
    one pass; rows sharing an MMSI and step are then ordered exactly. Ties are found on the gathered columns, which are needed anyway, instead of gathering the
    sort key a second time: at 10 M rows that random gather alone costs a quarter second.
    """
    n = len(mmsi)
    if n == 0:
        return np.arange(0), mmsi, t_us, lat, lon
    t0 = int(t_us.min())
    sec = t_us - t0
    sec >>= 20  # 2**20 us steps: a shift, where a division by 10**6 costs a pass
    if not (int(mmsi.min()) >= 0 and int(mmsi.max()) < (1 << 30) and int(sec.max()) < (1 << 33)):
        # Out of the packed key's range (an MMSI of 10 digits, centuries of data): the slow way.
        order = np.lexsort((np.arange(n), lon, lat, t_us, mmsi))
        return order, mmsi[order], t_us[order], lat[order], lon[order]
    key = mmsi.astype(np.int64) << 33
    key |= sec
    del sec
    order = np.argsort(key, kind="quicksort")
    del key
    m, t, la, lo = mmsi[order], t_us[order], lat[order], lon[order]
    bucket = t - t0
    bucket >>= 20
    same = (m[1:] == m[:-1]) & (bucket[1:] == bucket[:-1])
    del bucket
    if same.any():
        tie = np.zeros(n, bool)
        tie[1:] |= same
        tie[:-1] |= same
        p = np.flatnonzero(tie)
        # The row index last: exact duplicates keep their file order (the first one heard is
        # the one kept), whatever quicksort did with equal keys.
        sub = np.lexsort((order[p], lo[p], la[p], t[p], m[p]))
        for a in (order, m, t, la, lo):
            a[p] = a[p][sub]
    return order, m, t, la, lo


def duplicate_mask(mmsi, t_us, lat, lon, cfg: Config) -> np.ndarray:
    """Rows (sorted) repeating the previous row's MMSI and exact position within
    ``duplicate_window_s``: one transmission heard twice."""
    dup = np.zeros(len(mmsi), bool)
    if len(mmsi) > 1:
        dup[1:] = ((mmsi[1:] == mmsi[:-1]) & (lat[1:] == lat[:-1]) & (lon[1:] == lon[:-1])
                   & (t_us[1:] - t_us[:-1] <= cfg.duplicate_window_s * _US))
    return dup


def implied_speed_kn(d_km: np.ndarray, dt_s: np.ndarray, cfg: Config) -> np.ndarray:
    """Speed needed to cover ``d_km`` in ``dt_s``, forgiving GPS noise and time-stamp jitter."""
    d = np.maximum(d_km - cfg.position_noise_km, 0.0)
    return d / (np.maximum(dt_s, cfg.min_step_s) / 3600.0) / KM_PER_NM


def _nearer_elsewhere(t_s, lat, lon, step, a: int, b: int, others: np.ndarray, cfg: Config,
                      idle: float) -> int:
    """First fix k in ``(a, b]`` of a chain that lies nearer, by more than GPS noise, to one of
    ``others`` (rows of time, lat, lon: the last fixes of the other open tracks and the fixes a
    fallback skipped) than to the chain's previous fix (``step[k]`` km away), and can reach
    it. ``b + 1`` when there is none.

    Two hulls on one MMSI that report in turn, close enough that an alternating step is
    reachable (12 km in a 13-minute step is 29 kn), chain together although each fix sits on
    its own hull's last position. ``others`` do not change while a chain is walked, so the
    check is vectorised, in blocks that grow (a long chain costs O(length), not O(length^2)).
    """
    if not len(others):
        return b + 1
    ot, ola, olo = others[:, 0], others[:, 1], others[:, 2]
    k0, size = a + 1, 64
    while k0 <= b:
        k1 = min(b + 1, k0 + size)
        d = haversine_km(ola[None, :], olo[None, :], lat[k0:k1, None], lon[k0:k1, None])
        dt = t_s[k0:k1, None] - ot[None, :]
        ok = (implied_speed_kn(d, dt, cfg) <= cfg.max_speed_kn) & (dt <= idle)
        nearer = ok & (d + cfg.position_noise_km < step[k0:k1, None])
        hit = np.flatnonzero(nearer.any(axis=1))
        if len(hit):
            return k0 + int(hit[0])
        k0, size = k1, size * 4
    return b + 1


# Per open track the state is Python lists and tuples, not arrays: there are a handful.
# long on purpose: one sequential pass over the fixes of an MMSI that forms no single path
# (rare in real feeds; a simulated default MMSI several boats share sends most of its fixes
# through it); the rule reads top to bottom as the docstring states it.
def _segment_loop(t_s: np.ndarray, lat: np.ndarray, lon: np.ndarray, cfg: Config,
                  bad: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Track number per fix for one MMSI whose fixes do not form one plausible path.

    ``bad[k]`` marks a step from fix k-1 to fix k that no ship could make; ``step[k]`` is its
    length (km). Runs of fixes between bad steps (chains) are taken whole where they can be:
    a chain is cut into pieces where a fix lies nearer (by more than GPS noise) to another
    open track's last fix than to the previous fix of the chain, and each piece is one ship's.
    A piece continues the open track it can reach from that track's last fix or, when that
    last fix was itself off (a stale or coarse position from a repeater or a long-range
    message), from the fix before it (a fallback, unless a track of ``min_track_fixes`` reaches
    it from its own last fix: hulls crossing on a lane); among those it joins the nearest, leaving
    out a track of fewer than ``min_track_fixes`` fixes that was passed over for as many
    fixes since its last one (unless no other track reaches the piece from its last fix): a
    lone fix thrown
    off (GPS interference) must not draw the ship's later fixes away from its own track,
    while two young tracks of two hulls reporting in turn each keep theirs. Otherwise it
    opens a new track.

    A fallback is a claim that the skipped fix was off. It is withdrawn when a later fix lies
    nearer (by more than GPS noise) to the skipped fix than to the track's last one and can
    reach it: the skipped fix was a ship, and the piece that skipped it was another ship
    (two hulls on one MMSI reporting in turn), which then opens a track of its own.
    """
    n = len(t_s)
    starts = np.flatnonzero(np.r_[True, bad[1:]])
    ends = np.append(starts[1:], n) - 1
    seg = np.empty(n, np.int64)
    ts, la, lo = t_s.tolist(), lat.tolist(), lon.tolist()
    nan3 = (math.nan, math.nan, math.nan)
    noise, vmax, min_step, few = cfg.position_noise_km, cfg.max_speed_kn, cfg.min_step_s, cfg.min_track_fixes
    # Per open track: last and second-to-last fix (time, lat, lon); NaN time = none. Per track
    # whose last piece came by a fallback (``pend``): the fixes it skipped and that piece's rows.
    # Fixes per track; fixes placed (in any track) when it last took one, and when its last
    # piece was placed (what a withdrawn piece keeps).
    last, prev, skip_last, skip_prev, piece, pend, size, mark, piece_mark = ([] for _ in range(9))
    placed = 0
    idle = cfg.track_max_idle_h * 3600.0 if cfg.track_max_idle_h is not None else math.inf

    def reach(fix: tuple, k: int) -> tuple[float, bool]:
        """Distance (km) from ``fix`` to fix k, and whether <= max_speed_kn covers it (as
        :func:`implied_speed_kn`: NaN compares false; ``max`` keeps a NaN first argument)."""
        d = pair_km(fix[1], fix[2], la[k], lo[k])
        return d, max(d - noise, 0.0) / (max(ts[k] - fix[0], min_step) / 3600.0) / KM_PER_NM <= vmax

    def new_track() -> int:
        for col, v in ((size, 0), (mark, placed), (piece_mark, placed), (last, nan3), (prev, nan3),
                       (skip_last, nan3), (skip_prev, nan3), (piece, (0, 0)), (pend, False)):
            col.append(v)
        return len(last) - 1

    def fix(k: int) -> tuple:
        return ts[k], la[k], lo[k]

    for a0, b in zip(starts.tolist(), ends.tolist()):
        a = a0
        while a <= b:
            if any(pend):
                # Withdraw fallbacks whose skipped fix this one continues better.
                hits = []
                for s in range(len(last)):
                    if pend[s]:
                        dg, okg = reach(skip_last[s], a)
                        if okg and (ts[a] - skip_last[s][0]) <= idle and dg + noise < pair_km(last[s][1], last[s][2], la[a], lo[a]):
                            hits.append(s)
                for s in hits:
                    pa, pe = piece[s]
                    t = new_track()
                    seg[pa:pe + 1] = t
                    size[t], size[s] = pe - pa + 1, size[s] - (pe - pa + 1)
                    mark[t] = piece_mark[s]
                    last[t], prev[t] = fix(pe), (fix(pe - 1) if pe > pa else nan3)
                    last[s], prev[s], pend[s] = skip_last[s], skip_prev[s], False
            s, via_prev = -1, False
            ok, ok1, dist = [], [], []
            for i in range(len(last)):
                d1, o1 = reach(last[i], a)
                d2, o2 = reach(prev[i], a)
                ok.append((o1 or o2) and (ts[a] - last[i][0]) <= idle)
                ok1.append(o1)
                dist.append(d1 if o1 else d2)
            if any(ok):
                # Left out only for a track reaching it from its last fix (a fallback may
                # be withdrawn): a second hull reporting less often keeps its own track.
                kept = [ok[i] and not (size[i] < few and placed - mark[i] >= few) for i in range(len(ok))]
                pool = kept if any(k and o for k, o in zip(kept, ok1)) else ok
                # No fallback past a settled track that reaches it (the other hull's, crossing).
                if any(p and o and size[i] >= few for i, (p, o) in enumerate(zip(pool, ok1))):
                    pool = [p and o for p, o in zip(pool, ok1)]
                s = min((i for i, p in enumerate(pool) if p), key=dist.__getitem__)  # the first nearest
                via_prev = not ok1[s]
            if s < 0:
                s = new_track()
            if via_prev:
                skip_last[s], skip_prev[s] = last[s], prev[s]
            pend[s] = via_prev
            e = b
            if b > a:
                others = [last[i] for i in range(len(last)) if i != s] + [skip_last[i] for i in range(len(last)) if pend[i]]
                e = _nearer_elsewhere(t_s, lat, lon, step, a, b, np.array(others, dtype=float).reshape(-1, 3), cfg, idle) - 1
            piece[s] = (a, e)
            seg[a:e + 1] = s
            size[s] += e - a + 1
            placed += e - a + 1
            mark[s] = piece_mark[s] = placed
            prev[s] = fix(e - 1) if e > a else last[s]
            last[s] = fix(e)
            a = e + 1
    # Tracks numbered in order of their first fix (a withdrawn piece's track is made late).
    _, first = np.unique(seg, return_index=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[seg]


def _off_fixes(t_s: np.ndarray, lat: np.ndarray, lon: np.ndarray, seg: np.ndarray, cfg: Config) -> np.ndarray:
    """Fixes (of one MMSI, in time order) that a track kept although the next fix of the same
    track cannot be reached from them: the fallback of :func:`_segment_loop` joined that next
    fix from the one before, judging this one off (a stale or coarse position). Dropping it
    leaves every step of every track within ``max_speed_kn``: no track spans two hulls."""
    order = np.lexsort((np.arange(len(seg)), seg))  # stable: each track's fixes in time order
    s, t, la, lo = seg[order], t_s[order], lat[order], lon[order]
    d = haversine_km(la[:-1], lo[:-1], la[1:], lo[1:])
    bad = (s[1:] == s[:-1]) & (implied_speed_kn(d, np.diff(t), cfg) > cfg.max_speed_kn)
    off = np.zeros(len(seg), bool)
    off[order[:-1][bad]] = True
    return off


def segment(mmsi: np.ndarray, t_us: np.ndarray, lat: np.ndarray, lon: np.ndarray,
            cfg: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split sorted, de-duplicated fixes into tracks.

    Returns ``(track_no, jump, step_km)``: the track number within the MMSI (0, 1, ... in
    order of each track's first fix), a mask of fixes rejected as implausible jumps (tracks
    shorter than ``min_track_fixes`` on an MMSI that has a longer one; their track_no is -1),
    and the distance from the previous row (valid where MMSI and track are unchanged).
    """
    n = len(mmsi)
    track = np.zeros(n, np.int32)
    jump = np.zeros(n, bool)
    if n == 0:
        return track, jump, np.zeros(0)
    first = group_starts(mmsi)
    d = np.empty(n)
    d[0] = 0.0
    d[1:] = geo_step_km(lat, lon)
    dt = np.empty(n)
    dt[0] = 0.0
    np.subtract(t_us[1:], t_us[:-1], out=dt[1:])
    dt *= 1.0 / _US
    # implied_speed_kn(d, dt) > max_speed_kn, rearranged to spare 10 M-row temporaries.
    reach = np.maximum(dt, cfg.min_step_s)
    reach *= cfg.max_speed_kn * KM_PER_NM / 3600.0
    reach += cfg.position_noise_km
    bad = d > reach
    del reach
    if cfg.track_max_idle_h is not None:
        bad |= dt > cfg.track_max_idle_h * 3600.0
    bad &= ~first
    if not bad.any():
        return track, jump, d
    t_s = t_us / _US
    gid = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], n)
    for g in np.unique(gid[bad]):
        a, b = starts[g], ends[g]
        seg = _segment_loop(t_s[a:b], lat[a:b], lon[a:b], cfg, bad[a:b], d[a:b])
        off = _off_fixes(t_s[a:b], lat[a:b], lon[a:b], seg, cfg)
        sizes = np.bincount(seg[~off], minlength=seg.max() + 1)
        if sizes.max() >= cfg.min_track_fixes:
            small = sizes < cfg.min_track_fixes
            jump[a:b] = small[seg] | off
            # Renumber the kept tracks 0.. in order of their first fix (creation order).
            new_no = np.cumsum(~small) - 1
            seg = np.where(small[seg] | off, -1, new_no[seg])
        track[a:b] = seg
    return track, jump, d


def step_km(mmsi: np.ndarray, track: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Distance (km) from the previous fix of the same track; 0 at a track's first fix."""
    d = np.zeros(len(mmsi))
    if len(mmsi) > 1:
        d[1:] = geo_step_km(lat, lon)
        d[group_starts(mmsi, track)] = 0.0
    return d


def order_by_track(mmsi: np.ndarray, track: np.ndarray) -> np.ndarray | None:
    """Permutation that makes each track contiguous (rows already sorted by MMSI and time);
    ``None`` when every MMSI is a single track and nothing needs to move."""
    if track.max(initial=0) <= 0:
        return None
    n = len(mmsi)
    first = group_starts(mmsi)
    gid = np.cumsum(first) - 1
    multi = np.zeros(gid[-1] + 1, bool)
    multi[gid[track > 0]] = True
    mask = multi[gid]
    rows = np.flatnonzero(mask)
    order = np.arange(n)
    order[mask] = rows[np.lexsort((rows, track[rows], gid[rows]))]
    return order


def fill_identity(pos: pd.DataFrame, static: pd.DataFrame) -> pd.DataFrame:
    """Give each fix its vessel's latest known identity (name, IMO, call sign, ship type,
    declared destination, draught) from static rows and other fixes of the same MMSI.

    Both frames are sorted by (mmsi, timestamp). Values carried by the fix itself win; else the
    latest earlier value; a vessel's first fixes take the first value reported after them.
    Forward/backward fill runs on row positions with numpy, not a groupby.
    """
    cols = [c for c in S.IDENTITY if c in pos.columns or c in static.columns]
    todo = [c for c in cols if len(static) or (c in pos.columns and pos[c].isna().any())]
    if not todo:
        return pos
    n_pos = len(pos)
    both = pd.concat([pos[["mmsi", "timestamp"] + [c for c in todo if c in pos.columns]],
                      static[["mmsi", "timestamp"] + [c for c in todo if c in static.columns]]],
                     ignore_index=True, sort=False)
    is_pos = np.r_[np.ones(n_pos, bool), np.zeros(len(static), bool)]
    order = np.lexsort((~is_pos, epoch_us(both["timestamp"]), both["mmsi"].to_numpy()))
    mm = both["mmsi"].to_numpy()[order]
    first = group_starts(mm)
    gstart = np.maximum.accumulate(np.where(first, np.arange(len(mm)), 0))
    gend = np.minimum.accumulate(np.where(np.r_[first[1:], True], np.arange(len(mm)), len(mm))[::-1])[::-1]
    back = np.empty(len(order), np.int64)
    back[order] = np.arange(len(order))
    rows = back[:n_pos]  # where each position sits in the sorted combined frame
    out = pos.copy()
    for c in todo:
        col = both[c].take(order).reset_index(drop=True)
        have = col.notna().to_numpy()
        idx = np.where(have, np.arange(len(col)), -1)
        ff = np.maximum.accumulate(idx)
        ff = np.where(ff >= gstart, ff, -1)
        bf_src = np.where(have, np.arange(len(col)), len(col))
        bf = np.minimum.accumulate(bf_src[::-1])[::-1]
        bf = np.where(bf <= gend, bf, -1)
        pick = np.where(ff >= 0, ff, bf)[rows]
        vals = col.take(np.maximum(pick, 0)).reset_index(drop=True)
        vals[pick < 0] = None
        out[c] = vals.to_numpy() if not isinstance(vals.dtype, pd.CategoricalDtype) else vals.values
    return out
