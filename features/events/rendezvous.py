"""``dark_rendezvous`` events: two vessels that could have met at sea while out of sight.

**Episodes.** Per track, maximal runs of consecutive intervals that are dark (a gap of at
most ``rendezvous_max_dark_h``, not inside one port visit, one ship at both ends) or slow away
from ports (the loitering rule), cut at every fix that shows the vessel moving by its speed and
its steps (a transit through poor reception is a chain of gaps between moving fixes: each is
judged alone; a stale speed field at one spot is a wait).
A run silent for at least ``rendezvous_min_dark_h``, and for ``rendezvous_min_dark_share`` of
its time, is a *dark* episode, with the vessel's usual speed; otherwise, lasting
``rendezvous_min_loiter_h``, a *visible loitering* episode, with ``loiter_speed_kn`` (we see it
stay put: a stop seen now and then under patchy reception is one too). No episode for an
installer's default MMSI (:func:`features.flags.default_mmsi`, many small craft), nor for a run
during which the MMSI reported from an offshore installation (:mod:`features.installations`:
a supply boat at its platform), nor for a run of a vessel seen idle at an installation (any
time in the data) that could have been spent there (its stay offshore is often unheard).

**Feasibility.** An episode runs from fix p0 at t0 to fix p1 at t1 at speed v. A meeting point
m is open to it from ``t0 + |p0 m| / v`` (sailing there from the last fix) to ``t1 - |m p1| / v``
(sailing on to the next fix): the ellipse rule. Two episodes could meet at m for
``f(m) = min(leave_a, leave_b) - max(arrive_a, arrive_b)`` hours, the *spare time for the
meeting*. f is concave in m, and its best m lies in the hull of the four end fixes, so a 9 x 9
grid over their bounding box, refined four times around the best node, finds it (planar
coordinates around the pair; < 0.5 % error at Caspian distances). A rendezvous needs
``f >= rendezvous_min_meet_h`` and at least one dark episode (two ships loitering with AIS on
side by side are an ``encounter``), and its best m neither at an installation nor within
``rendezvous_min_port_km`` of a port's radius (a roadstead: ships there are queueing), and no
third ship silent in step with either side near where it went dark, at sea or in port
(:mod:`.ordinary`: a shore station down silences all ships in its range). A stay inside a port's radius is a port visit,
so its gaps and slow fixes form no episode.

**Score.** Sea time ``f - out of step - off course`` (h; :func:`desync_h`; off course: the sailing
each side adds to its straight course p0 -> p1 to pass m) less the longest stay both could have
shared in one port (:func:`.ordinary.shared_call_h`, when positive). Each episode names the partner
with the most sea time; a pair is reported when it is that best partner for either side (a tenth
of a month's feasible pairs), its sea time is not negative and its score reaches
``rendezvous_min_score_h``.

**Candidates.** Episode pairs are joined on (2-degree cell, UTC day) of their reach (the
circle around the chord's middle of radius ``v * (t1 - t0) / 2``, which holds every m open to
it), then kept when their times overlap and their circles intersect; no Python loop per row.
Rows of one pair of tracks that overlap in time are merged into one (the best meeting kept).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config
from ..flags import default_mmsi
from ..gazetteer import Gazetteer
from ..geo import KM_PER_DEG, KM_PER_NM, haversine_km
from ..ids import track_ids
from ..installations import Installations, load_installations
from ..tracks import utc_times
from .frame import Fixes, event_frame, event_ids, fmt, track_key
from .gaps import Gaps
from .loitering import runs, slow_intervals, step_kn
from .ordinary import in_outage, shared_call_h, silences

_CELL_DEG = 2.0
_DAY_US = 86_400_000_000


#: Columns (and Spark types) of :func:`episodes`: a table that stands alone, so the episodes of
#: many vessels' groups can be pooled and paired in one place (the Spark engine's events).
EPISODE_TYPES = {"mmsi": "long", "track_no": "long", "t0": "long", "t1": "long", "lat0": "double", "lon0": "double",
                 "lat1": "double", "lon1": "double", "dark_h": "double", "speed_kmh": "double", "dark": "boolean",
                 "pairable": "boolean"}
#: The episode table's order (unique: a vessel's episodes do not share a start, nor its silences).
EPISODE_ORDER = ["mmsi", "track_no", "t0", "pairable"]


def episodes(fx: Fixes, g: Gaps, cfg: Config) -> pd.DataFrame:
    """Dark and visible-loitering episodes (:data:`EPISODE_TYPES`, ``pairable``), and the
    vessel's silences as witnesses of a station's outage (:func:`.ordinary.silences`, not
    pairable), in :data:`EPISODE_ORDER`: the track, t0/t1 (first and last fix, epoch us),
    lat0/lon0 and lat1/lon1 (deg) there, dark_h (h), speed_kmh (the reach speed, km/h), dark
    (bool). A run during which the MMSI reported from an offshore installation (the packaged
    list) is service there, no episode; nor is a run of a vessel seen idle at one, when it
    could have spent the run there."""
    if fx.n < 2:
        return pd.DataFrame({c: pd.Series(dtype=bool if t == "boolean" else np.int64 if t == "long" else float)
                             for c, t in EPISODE_TYPES.items()})
    dark = np.zeros(fx.n - 1, bool)
    ok = g.dark & ~g.in_port & (g.hours <= cfg.rendezvous_max_dark_h)
    dark[g.row[ok]] = True
    # Cut at every fix seen moving: the vessel was there, then; the ellipses either side must not merge.
    moving = np.minimum(np.nan_to_num(fx.speed_kn, nan=0.0), step_kn(fx)) >= cfg.loiter_speed_kn
    first, last = runs(dark | slow_intervals(fx, cfg), cut=moving[1:-1])
    dt = np.diff(fx.t_us).astype(float) / 3.6e9
    # Summed per run (not as differences of one running sum, whose rounding would depend on
    # every vessel before this one: an engine that splits the vessels must get the same hours).
    dark_h = np.add.reduceat(np.r_[np.where(dark, dt, 0.0), 0.0], np.c_[first, last + 1].ravel())[::2] \
        if len(first) else np.zeros(0)
    a0, a1 = first, last + 1
    span_h = (fx.t_us[a1] - fx.t_us[a0]) / 3.6e9
    # Merged chains of gaps longer than the cap hide as much as one long gap: not paired. A
    # run silent for less than its dark share is a stop seen now and then: a visible side.
    is_dark = (dark_h >= cfg.rendezvous_min_dark_h) & (dark_h <= cfg.rendezvous_max_dark_h) \
        & (dark_h >= cfg.rendezvous_min_dark_share * span_h)
    keep = is_dark | ((dark_h <= cfg.rendezvous_max_dark_h) & (span_h >= cfg.rendezvous_min_loiter_h))
    # An installer's default MMSI is many boats: its gaps and stops are no one ship's.
    keep &= ~default_mmsi(fx.mmsi[a0])
    inst = load_installations()
    at_inst = inst.near(fx.lat, fx.lon)  # per fix; both installation rules read it
    keep &= ~_at_installation(fx, at_inst, a0, a1)
    speed = np.where(is_dark, fx.usual_kn[fx.tid[a0]], cfg.loiter_speed_kn) * KM_PER_NM
    keep &= ~_service_run(fx, at_inst, a0, a1, speed, inst, cfg)
    a0, a1, is_dark, dark_h, speed = a0[keep], a1[keep], is_dark[keep], dark_h[keep], speed[keep]
    ep = pd.DataFrame({"mmsi": fx.mmsi[a0], "track_no": fx.track_no[a0], "t0": fx.t_us[a0], "t1": fx.t_us[a1],
                       "lat0": fx.lat[a0], "lon0": fx.lon[a0], "lat1": fx.lat[a1], "lon1": fx.lon[a1],
                       "dark_h": dark_h, "speed_kmh": speed, "dark": is_dark, "pairable": True})
    # A dark episode of one gap is that gap's witness already.
    alone = a0[is_dark & (a1 == a0 + 1)]
    out = pd.concat([ep, silences(fx, g, cfg, skip=alone)], ignore_index=True)
    return out.sort_values(EPISODE_ORDER, kind="stable").reset_index(drop=True)


def _at_installation(fx: Fixes, near: np.ndarray, a0: np.ndarray, a1: np.ndarray) -> np.ndarray:
    """Per run (fixes ``a0`` to ``a1``): did its MMSI report from an installation (``near``,
    per fix) meanwhile? By MMSI and time, not by track: the tracker may file a boat's fixes at
    the platform (a satellite's, a stale speed's) under a track of their own."""
    if not near.any() or not len(a0):
        return np.zeros(len(a0), bool)
    _, inv = np.unique(np.r_[fx.mmsi[near], fx.mmsi[a0]], return_inverse=True)
    t_min = int(fx.t_us.min())
    sec = (fx.t_us - t_min) // 1_000_000  # < 2**36 s (2,000 years): code and time fit one int64
    key = np.sort(inv[:near.sum()].astype(np.int64) * 2**36 + sec[near])
    ep = inv[near.sum():].astype(np.int64) * 2**36
    return np.searchsorted(key, ep + sec[a1], "right") > np.searchsorted(key, ep + sec[a0], "left")


def _service_run(fx: Fixes, near: np.ndarray, a0: np.ndarray, a1: np.ndarray, speed_kmh: np.ndarray,
                 inst: Installations, cfg: Config) -> np.ndarray:
    """Per run (fixes ``a0`` to ``a1``, reach speed ``speed_kmh``): was its vessel seen idle at
    an installation (``near``, per fix; slower than ``loiter_speed_kn``) any time in the data,
    a supply boat, and could it have spent the run there? Its stay offshore is often unheard."""
    idle = near & (np.nan_to_num(fx.speed_kn, nan=np.inf) < cfg.loiter_speed_kn)
    out = np.zeros(len(a0), bool)
    if not idle.any() or not len(a0):
        return out
    server, hours = np.isin(fx.mmsi[a0], np.unique(fx.mmsi[idle])), (fx.t_us[a1] - fx.t_us[a0]) / 3.6e9
    for lat, lon in zip(inst.lat, inst.lon):  # a handful of installations
        out |= server & (haversine_km(fx.lat[a0], fx.lon[a0], lat, lon) + haversine_km(lat, lon, fx.lat[a1], fx.lon[a1])
                         <= speed_kmh * hours)
    return out


def candidate_pairs(ep: pd.DataFrame, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Episode index pairs (i < j) of different vessels, at least one dark, overlapping in
    time by ``rendezvous_min_meet_h`` and with intersecting reach circles."""
    n = len(ep)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lat0, lon0, lat1, lon1 = (ep[c].to_numpy(float) for c in ("lat0", "lon0", "lat1", "lon1"))
    clat, clon = (lat0 + lat1) / 2, (lon0 + lon1) / 2
    t0, t1 = ep["t0"].to_numpy(np.int64), ep["t1"].to_numpy(np.int64)
    reach = np.maximum(ep["speed_kmh"].to_numpy() * (t1 - t0) / 3.6e9 / 2, haversine_km(lat0, lon0, lat1, lon1) / 2)
    dlat = reach / KM_PER_DEG
    dlon = reach / (KM_PER_DEG * np.maximum(np.cos(np.radians(clat)), 0.1))
    i0, i1 = np.floor((clat - dlat + 90) / _CELL_DEG), np.floor((clat + dlat + 90) / _CELL_DEG)
    j0, j1 = np.floor((clon - dlon + 180) / _CELL_DEG), np.floor((clon + dlon + 180) / _CELL_DEG)
    d0, d1 = t0 // _DAY_US, t1 // _DAY_US
    ni, nj, nd = (i1 - i0 + 1).astype(np.int64), (j1 - j0 + 1).astype(np.int64), d1 - d0 + 1
    cnt = ni * nj * nd
    e = np.repeat(np.arange(n), cnt)
    k = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    di, rest = k // (nj[e] * nd[e]), k % (nj[e] * nd[e])
    dj, dd = rest // nd[e], rest % nd[e]
    key = (((i0[e] + di).astype(np.int64) * 400 + (j0[e] + dj).astype(np.int64)) * 1_000_000
           + (d0[e] + dd - d0.min()))
    order = np.lexsort((e, key))
    key, e = key[order], e[order]
    # All pairs within each run of equal keys.
    gs = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    gsize = np.diff(np.r_[gs, len(key)])
    pos = np.arange(len(key)) - np.repeat(gs, gsize)
    after = np.repeat(gsize, gsize) - pos - 1
    p = np.repeat(np.arange(len(key)), after)
    q = p + 1 + (np.arange(after.sum()) - np.repeat(np.cumsum(after) - after, after))
    i, j = e[p], e[q]
    m = ep["mmsi"].to_numpy(np.int64)
    dark = ep["dark"].to_numpy(bool)
    ok = (m[i] != m[j]) & (dark[i] | dark[j])
    ok &= (np.minimum(t1[i], t1[j]) - np.maximum(t0[i], t0[j])) >= cfg.rendezvous_min_meet_h * 3.6e9
    i, j = i[ok], j[ok]
    ok = haversine_km(clat[i], clon[i], clat[j], clon[j]) <= reach[i] + reach[j]
    i, j = np.minimum(i[ok], j[ok]), np.maximum(i[ok], j[ok])
    u = np.unique(i * n + j)
    return u // n, u % n


#: Pairs per block of the meeting search: its 81-point grids stay in the CPU's cache (a month of
#: patchy reception has ~60 k feasible pairs; all at once, ~40 MB per array, ran 4x slower).
_MEET_BLOCK = 2048


def best_meeting(ep: pd.DataFrame, i: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
    """Per pair: the meeting point maximising the spare time f (see the module doc), f in
    hours, the sailing both sides add to their straight courses to pass it (``off_course_h``,
    hours), and the meeting window (us)."""
    col = {c: ep[c].to_numpy() for c in ("lat0", "lon0", "lat1", "lon1", "t0", "t1", "speed_kmh")}
    parts = [_best_meeting(col, i[k:k + _MEET_BLOCK], j[k:k + _MEET_BLOCK]) for k in range(0, len(i), _MEET_BLOCK)]
    return {key: np.concatenate([p[key] for p in parts]) if parts else np.zeros(0) for key in
            ("lat", "lon", "spare_h", "off_course_h", "meet0", "meet1")}


def _best_meeting(col: dict[str, np.ndarray], i: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
    # The four end fixes: i's first and last, j's first and last (lat, lon, us).
    ends = [(col[f"lat{k}"][x], col[f"lon{k}"][x], col[f"t{k}"][x]) for x in (i, j) for k in (0, 1)]
    lat0 = sum(e[0] for e in ends) / 4
    lon0 = sum(e[1] for e in ends) / 4
    kx = KM_PER_DEG * np.cos(np.radians(lat0))
    pts = [((lon - lon0) * kx, (lat - lat0) * KM_PER_DEG) for lat, lon, _ in ends]
    ref = np.minimum(ends[0][2], ends[2][2])
    th = [(t - ref) / 3.6e9 for _, _, t in ends]
    vi, vj = col["speed_kmh"][i][:, None], col["speed_kmh"][j][:, None]
    xs = np.stack([p[0] for p in pts], 1)
    ys = np.stack([p[1] for p in pts], 1)
    lo_x, hi_x, lo_y, hi_y = xs.min(1), xs.max(1), ys.min(1), ys.max(1)
    g = np.linspace(0.0, 1.0, 9)
    for _ in range(5):
        gx = lo_x[:, None, None] + (hi_x - lo_x)[:, None, None] * g[None, :, None]
        gy = lo_y[:, None, None] + (hi_y - lo_y)[:, None, None] * g[None, None, :]
        gx = np.broadcast_to(gx, (len(i), 9, 9)).reshape(len(i), 81)
        gy = np.broadcast_to(gy, (len(i), 9, 9)).reshape(len(i), 81)
        arr = np.maximum(th[0][:, None] + np.hypot(gx - pts[0][0][:, None], gy - pts[0][1][:, None]) / vi,
                         th[2][:, None] + np.hypot(gx - pts[2][0][:, None], gy - pts[2][1][:, None]) / vj)
        lea = np.minimum(th[1][:, None] - np.hypot(gx - pts[1][0][:, None], gy - pts[1][1][:, None]) / vi,
                         th[3][:, None] - np.hypot(gx - pts[3][0][:, None], gy - pts[3][1][:, None]) / vj)
        f = lea - arr
        k = np.argmax(f, axis=1)
        r = np.arange(len(i))
        bx, by, best, t_arr, t_lea = gx[r, k], gy[r, k], f[r, k], arr[r, k], lea[r, k]
        wx, wy = (hi_x - lo_x) / 8, (hi_y - lo_y) / 8
        lo_x, hi_x, lo_y, hi_y = bx - 2 * wx, bx + 2 * wx, by - 2 * wy, by + 2 * wy
    # Off course: the sailing each side adds to its straight course p0 -> p1 to pass there (a
    # ship idle in one place must leave it and come back; one met on its way adds none).
    off = sum((np.hypot(bx - pts[a][0], by - pts[a][1]) + np.hypot(bx - pts[b][0], by - pts[b][1])
               - np.hypot(pts[b][0] - pts[a][0], pts[b][1] - pts[a][1])) / v[:, 0]
              for a, b, v in ((0, 1, vi), (2, 3, vj)))
    return {"lat": lat0 + by / KM_PER_DEG, "lon": lon0 + bx / kx, "spare_h": best, "off_course_h": off,
            "meet0": ref + t_arr * 3.6e9, "meet1": ref + t_lea * 3.6e9}


def desync_h(ep: pd.DataFrame, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Per pair of episodes, how far apart in time they began and ended (h, the two summed):
    ships that meet go dark and show up again about together; a ship dark for days is
    within reach of everyone but in step with no one."""
    t0, t1 = ep["t0"].to_numpy(), ep["t1"].to_numpy()
    return (np.abs(t0[i] - t0[j]) + np.abs(t1[i] - t1[j])) / 3.6e9


def best_for_either(i: np.ndarray, j: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Per feasible pair (episodes ``i``, ``j``): is it the best partner of ``i`` or of ``j``
    by ``score`` (spare time less out of step less off course)? An episode stands for
    one meeting; naming every ship that was dark within reach at the time would bury it (in a
    month of patchy reception, ten times more)."""
    if not len(i):
        return np.zeros(0, bool)
    e = np.r_[i, j]
    k = np.r_[np.arange(len(i)), np.arange(len(i))]
    order = np.lexsort((k, -np.r_[score, score], e))
    first = np.r_[True, e[order][1:] != e[order][:-1]]
    keep = np.zeros(len(i), bool)
    keep[k[order][first]] = True
    return keep


def _merge_rows(ti: np.ndarray, tj: np.ndarray, t0: np.ndarray, t1: np.ndarray, score: np.ndarray):
    """Rows of one pair of tracks whose windows overlap are one meeting: (kept row per
    meeting, its merged start, its merged end)."""
    order = np.lexsort((t0, tj, ti))
    ti, tj, t0s, t1s = ti[order], tj[order], t0[order], t1[order]
    same = np.r_[False, (ti[1:] == ti[:-1]) & (tj[1:] == tj[:-1])]
    # A new meeting starts where the pair changes or this row starts after every earlier
    # row of the pair ended (running max of ends within the pair).
    pair_id = np.cumsum(~same)
    run_end = pd.Series(t1s).groupby(pair_id).cummax().to_numpy()
    new = ~same | (t0s > np.r_[0, run_end[:-1]])
    mid = np.cumsum(new) - 1
    best = pd.Series(score[order]).groupby(mid).idxmax().to_numpy()
    start = pd.Series(t0s).groupby(mid).min().to_numpy()
    end = pd.Series(t1s).groupby(mid).max().to_numpy()
    return order[best], start, end


def rendezvous_events(fx: Fixes, g: Gaps, gaz: Gazetteer, cfg: Config) -> pd.DataFrame:
    """One row per meeting (:func:`rendezvous_of_episodes` of the fixes' :func:`episodes`)."""
    return rendezvous_of_episodes(episodes(fx, g, cfg), gaz, cfg)


def rendezvous_of_episodes(ep: pd.DataFrame, gaz: Gazetteer, cfg: Config) -> pd.DataFrame:
    """One row per meeting of the ``episodes`` of every vessel (in :data:`EPISODE_ORDER`; the
    pairable ones paired, every dark row a witness of a station's outage):
    ``mmsi`` the lower MMSI, ``partner_mmsi`` the other; start/end: the time both episodes
    overlap; lat/lon and end_lat/end_lon: where each vessel's episode began; port_id/km_to_port:
    nearest port to the meeting point; detail: both sides, the meeting point (``at LAT,LON``)
    and the spare time for the meeting."""
    witnesses, ep = ep, ep[ep["pairable"].to_numpy(bool)].reset_index(drop=True)
    i, j = candidate_pairs(ep, cfg)
    if not len(i):
        return event_frame("dark_rendezvous", 0, mmsi=np.zeros(0, np.int64))
    meet = best_meeting(ep, i, j)
    meet["port_h"], meet["port_k"] = shared_call_h(ep, i, j, gaz)
    meet["out_of_step_h"] = desync_h(ep, i, j)
    meet["sea_h"] = meet["spare_h"] - meet["out_of_step_h"] - meet["off_course_h"]
    # What the sea beats the likeliest ordinary explanation by (a port stay within reach).
    meet["in_port_h"] = np.maximum(meet["port_h"], 0.0)
    meet["score_h"] = meet["sea_h"] - meet["in_port_h"]
    # Boats that could only meet at an installation were serving it (the supply run's silence);
    # ships that could only meet in a port's roadstead were waiting there.
    ok = (meet["spare_h"] >= cfg.rendezvous_min_meet_h) \
        & ~load_installations().near(meet["lat"], meet["lon"]) \
        & ~_in_roadstead(gaz, meet["lat"], meet["lon"], cfg.rendezvous_min_port_km) \
        & (meet["port_h"] - meet["spare_h"] <= cfg.rendezvous_port_stay_slack_h)
    ok[ok] = ~in_outage(ep, i[ok], j[ok], witnesses, cfg)  # per pair: only those the cheaper rules kept
    ok[ok] = best_for_either(i[ok], j[ok], meet["sea_h"][ok])
    ok &= (meet["sea_h"] >= 0) & (meet["score_h"] >= cfg.rendezvous_min_score_h)
    i, j, meet = i[ok], j[ok], {k: v[ok] for k, v in meet.items()}
    if not len(i):
        return event_frame("dark_rendezvous", 0, mmsi=np.zeros(0, np.int64))
    m = ep["mmsi"].to_numpy(np.int64)
    swap = m[i] > m[j]
    i, j = np.where(swap, j, i), np.where(swap, i, j)
    t0 = np.maximum(ep["t0"].to_numpy()[i], ep["t0"].to_numpy()[j])
    t1 = np.minimum(ep["t1"].to_numpy()[i], ep["t1"].to_numpy()[j])
    tracks = track_key(ep["mmsi"], ep["track_no"])
    keep, t0, t1 = _merge_rows(tracks[i], tracks[j], t0, t1, meet["sea_h"])
    i, j, meet = i[keep], j[keep], {k: v[keep] for k, v in meet.items()}
    port, km = gaz.nearest(meet["lat"], meet["lon"])
    return event_frame(
        "dark_rendezvous", len(i), event_id=event_ids("dark_rendezvous", m[i], t0, m[j]),
        mmsi=m[i], track_id=_track_ids(ep, i), partner_mmsi=m[j], start=t0, end=t1,
        hours=(t1 - t0) / 3.6e9, lat=ep["lat0"].to_numpy()[i], lon=ep["lon0"].to_numpy()[i],
        end_lat=ep["lat0"].to_numpy()[j], end_lon=ep["lon0"].to_numpy()[j],
        port_id=np.where(port >= 0, gaz.ids[np.maximum(port, 0)], None) if gaz.n else None, km_to_port=km,
        detail=_detail(ep, i, j, meet, gaz))


def _in_roadstead(gaz: Gazetteer, lat: np.ndarray, lon: np.ndarray, margin_km: float) -> np.ndarray:
    """Per point: within ``margin_km`` of some port's radius."""
    if not gaz.n or not len(lat):
        return np.zeros(len(lat), bool)
    port, _ = gaz.in_reach(lat, lon, gaz.radius_km + margin_km, key=f"rdv-road{margin_km}")
    return port >= 0


def _track_ids(ep: pd.DataFrame, idx: np.ndarray) -> np.ndarray:
    return track_ids(ep["mmsi"].to_numpy(np.int64)[idx], ep["track_no"].to_numpy(np.int64)[idx]).to_numpy(dtype=object)


def _side(ep: pd.DataFrame, idx: np.ndarray) -> np.ndarray:
    """'<track_id> dark 9.1 h' or '<track_id> loitering with AIS on 5.0 h'."""
    dark = ep["dark"].to_numpy()[idx]
    h = np.where(dark, ep["dark_h"].to_numpy()[idx], (ep["t1"].to_numpy()[idx] - ep["t0"].to_numpy()[idx]) / 3.6e9)
    state = np.where(dark, " dark ", " loitering with AIS on ")
    return np.char.add(np.char.add(np.char.add(_track_ids(ep, idx).astype(str), state), fmt(h, "%.1f")), " h")


def _detail(ep, i, j, meet, gaz: Gazetteer) -> np.ndarray:
    both = np.char.add(np.char.add(_side(ep, i), ", "), _side(ep, j))
    where = np.char.add(np.char.add(fmt(meet["lat"], "%.4f"), ","), fmt(meet["lon"], "%.4f"))
    when = np.asarray(utc_times(meet["meet0"].astype(np.int64)).strftime("%Y-%m-%d %H:%M"), dtype=str)
    text = np.char.add(np.char.add(both, "; both could be at "), where)
    text = np.char.add(np.char.add(text, " for up to "), np.char.add(fmt(meet["spare_h"], "%.1f"), " h from "))
    text = np.char.add(np.char.add(text, when), " UTC; score ")
    text = np.char.add(np.char.add(text, fmt(meet["score_h"], "%.1f")), " h (less ")
    text = np.char.add(np.char.add(text, fmt(meet["out_of_step_h"], "%.1f")), " h out of step, ")
    text = np.char.add(np.char.add(text, fmt(meet["off_course_h"], "%.1f")), " h off course, ")
    text = np.char.add(np.char.add(text, fmt(meet["in_port_h"], "%.1f")), " h in port)")
    # The ordinary explanation the meeting beat, when a port was within reach (-inf when none was).
    shown = meet["port_h"] > 0
    port = np.where(shown, gaz.ids[np.maximum(meet["port_k"], 0)] if gaz.n else "", "").astype(str)
    alt = np.char.add(np.char.add("; together in port at most ", fmt(meet["port_h"], "%.1f")),
                      np.char.add(" h (", np.char.add(port, ")")))
    return np.where(shown, np.char.add(text, alt), text).astype(object)


def meeting_points(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) of each event's meeting place: the point named in a rendezvous' detail
    (``at LAT,LON``), else the middle of lat/lon and end_lat/end_lon (an encounter), else
    lat/lon."""
    lat, lon = events["lat"].to_numpy(float), events["lon"].to_numpy(float)
    elat, elon = events["end_lat"].to_numpy(float), events["end_lon"].to_numpy(float)
    two = events["kind"].isin(["encounter", "dark_rendezvous"]).to_numpy() & np.isfinite(elat)
    out_lat, out_lon = np.where(two, (lat + elat) / 2, lat), np.where(two, (lon + elon) / 2, lon)
    got = events["detail"].astype("str").str.extract(r" at (-?\d+\.\d+),(-?\d+\.\d+) for up to ")
    has = got[0].notna().to_numpy()
    out_lat[has] = got[0][has].astype(float).to_numpy()
    out_lon[has] = got[1][has].astype(float).to_numpy()
    return out_lat, out_lon


def rendezvous_scores(events: pd.DataFrame) -> np.ndarray:
    """Per event: a rendezvous' score (h) as its detail writes it (to 0.1 h); NaN for other rows.
    Order by it to check the likeliest meetings first."""
    got = events["detail"].astype("str").str.extract(r"; score (-?\d+\.\d) h \(")[0]
    return pd.to_numeric(got, errors="coerce").to_numpy(float)
