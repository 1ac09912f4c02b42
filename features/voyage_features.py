"""One row per voyage: identity, times, ports and the behaviour features the model sees.

Works on fixes sorted by (track, time) of one vessel or of many at once: every aggregation is
a ``reduceat`` over contiguous voyages, never a Python loop over fixes. ``FEATURES`` lists the
model inputs with unit and meaning; ``docs/features.md`` is generated from it.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .config import Config
from .coverage import CoverageGrid
from .flags import flag_of
from .gazetteer import Gazetteer
from .geo import KM_PER_NM, angle_diff_deg, bearing_deg, haversine_km
from .tracks import epoch_us, group_starts

# (column, unit, meaning). Everything here is computable from one vessel's track plus the
# gazetteer and the reference coverage grid, so /score computes it exactly as training did.
FEATURES: list[tuple[str, str, str]] = [
    ("duration_h", "h", "voyage duration, last fix minus first fix"),
    ("distance_km", "km", "sum of great-circle steps between fixes"),
    ("n_positions", "count", "fixes in the voyage, both end fixes included"),
    ("mean_speed_kn", "kn", "distance over time, gaps excluded"),
    ("mean_sog_kn", "kn", "mean reported speed over ground"),
    ("max_sog_kn", "kn", "maximum reported speed over ground"),
    ("usual_interval_s", "s", "the track's mean reporting interval outside gaps"),
    ("n_gaps_1h", "count", "intervals between fixes longer than 1 h"),
    ("n_gaps_6h", "count", "... longer than 6 h"),
    ("n_gaps_12h", "count", "... longer than 12 h (GFW's intentional-disabling threshold)"),
    ("n_gaps_30h", "count", "... longer than 30 h (Lloyd's List's dark-activity threshold)"),
    ("max_gap_h", "h", "longest gap (0 when there is none)"),
    ("total_dark_h", "h", "sum of all gaps"),
    ("dark_share", "fraction", "total_dark_h / duration_h"),
    ("lg_displacement_km", "km", "distance between the fixes before and after the longest gap"),
    ("lg_implied_speed_kn", "kn", "that distance over the gap's duration"),
    ("lg_start_port_km", "km", "distance from the longest gap's first fix to the nearest port"),
    ("lg_end_port_km", "km", "distance from its last fix to the nearest port"),
    ("lg_start_sensitive_km", "km", "distance from its first fix to the nearest sensitive port"),
    ("lg_end_sensitive_km", "km", "distance from its last fix to the nearest sensitive port"),
    ("lg_heading_off_sensitive_deg", "deg", "angle between the course into the longest gap and the bearing to the nearest sensitive port (0 = heading straight at it)"),
    ("lg_vs_usual", "ratio", "longest gap / the track's usual reporting interval"),
    ("lg_cell_gap_rate", "fraction", "reference coverage grid: share of intervals in the gap's start cell that are gaps (high = coverage hole)"),
    ("lg_cell_interval_s", "s", "reference coverage grid: mean reporting interval in that cell"),
    ("dc_n_feasible", "count", "most ports at which a call fits in one gap (spare time > 0)"),
    ("dc_sensitive_feasible", "0/1", "a call at a sensitive port fits in some gap"),
    ("dc_best_spare_h", "h", "largest spare time = gap - sailing start->port->end - minimum stay, over gaps and ports"),
    ("dc_sensitive_spare_h", "h", "largest spare time at a sensitive port"),
    ("oab", "0/1", "out-and-back: returns to its origin port, or ends within out_and_back_km of its start after going farther"),
    ("oab_max_excursion_km", "km", "farthest fix from the voyage start"),
    ("oab_dark_share", "fraction", "dark_share of an out-and-back voyage (0 otherwise)"),
    ("oab_dark_sensitive", "0/1", "out-and-back whose gaps fit a call at a sensitive port"),
    ("loiter_h", "h", "time under loiter_speed_kn away from ports, gaps excluded"),
    ("loiter_events", "count", "loitering stretches of at least loiter_min_h"),
    ("dark_loiter_h", "h", "gaps of at least dark_loiter_min_gap_h whose implied speed is under loiter_speed_kn"),
    ("near_sensitive_h", "h", "time within sensitive_near_km of a sensitive port area that is neither origin nor destination"),
    ("origin_sensitive", "0/1", "the voyage starts from a sensitive port"),
    ("dest_sensitive", "0/1", "the voyage ends at a sensitive port"),
    ("dest_declared_mismatch", "0/1/NaN", "declared AIS destination does not name the port reached (NaN: unknown)"),
    ("n_tracks_mmsi", "count", "tracks (ships) seen under this MMSI"),
]
FEATURE_NAMES = [f[0] for f in FEATURES]

# Descriptive columns: identity, times, ports, and evidence for reasons. Not model inputs.
CONTEXT: list[tuple[str, str, str]] = [
    ("voyage_id", "", "stable id: track_id + start time (UTC)"),
    ("mmsi", "", "MMSI"),
    ("track_id", "", "MMSI-track number; one MMSI may carry several ships"),
    ("name", "", "latest reported ship name"),
    ("imo", "", "IMO number"),
    ("callsign", "", "call sign"),
    ("flag", "ISO2", "flag from the MMSI's MID"),
    ("ship_type", "", "AIS ship type as reported"),
    ("start", "UTC", "first fix of the voyage (departure from the origin port)"),
    ("end", "UTC", "last fix (arrival at the destination port)"),
    ("origin_port", "", "port_id of the origin visit; empty when the voyage starts at sea or at the edge of the data"),
    ("destination_port", "", "port_id of the destination visit; empty when it ends at sea or at the edge of the data"),
    ("origin_exit_observed", "bool", "the departure from the origin was seen (not across a gap)"),
    ("dest_entry_observed", "bool", "the arrival at the destination was seen"),
    ("declared_destination", "", "AIS destination field at the end of the voyage"),
    ("lg_start", "UTC", "start of the longest gap"),
    ("lg_end", "UTC", "end of the longest gap"),
    ("lg_start_lat", "deg", "latitude of the fix before the longest gap"),
    ("lg_start_lon", "deg", "longitude of the fix before the longest gap"),
    ("lg_end_lat", "deg", "latitude of the fix after the longest gap"),
    ("lg_end_lon", "deg", "longitude of the fix after the longest gap"),
    ("lg_start_port", "", "nearest port to the gap start"),
    ("lg_start_sensitive_port", "", "nearest sensitive port to the gap start"),
    ("dc_port", "", "the best candidate port for a dark call (sensitive first)"),
    ("dc_gap_h", "h", "duration of the gap in which that call fits"),
    ("dc_port_spare_h", "h", "spare time of that call"),
    ("ctx_neighbour_vessel_h", "vessel-h", "live data: other vessels' reporting hours near the longest gap's start while it lasted (not a model input)"),
    ("ctx_neighbours_per_h", "vessels", "the same per hour of gap (0 while others report = a switch-off, not a coverage hole)"),
]

_BIG = np.iinfo(np.int64).max


def _norm(s: str) -> str:
    return re.sub(r"[^A-Z0-9 ]+", " ", str(s).upper()).strip()


def destination_matches(declared: str, port_id: str, port_name: str) -> bool:
    """Does an AIS destination text name this port? ('ASTRAKHAN' vs 'Astrakhan (seaport...)')."""
    d = _norm(declared)
    if not d:
        return False
    pid = re.sub(r"[^A-Z0-9]", "", str(port_id).upper())
    if pid and (pid in d.replace(" ", "") or (len(pid) == 5 and f"{pid[:2]} {pid[2:]}" in d)):
        return True
    words = [w for w in _norm(re.sub(r"\(.*?\)", " ", port_name)).split() if len(w) >= 4]
    dwords = [w for w in d.split() if len(w) >= 4]
    return any(w in d for w in words) or any(w in _norm(port_name) for w in dwords)


def voyage_features(pos: pd.DataFrame, gaz: Gazetteer, cfg: Config,
                    coverage: CoverageGrid | None = None) -> pd.DataFrame:
    """Voyage table from tracked fixes.

    ``pos``: fixes sorted by (mmsi, track_no, timestamp) with columns mmsi, track_no,
    timestamp, lat, lon, near_port, port_idx, visit, voyage_no (see :mod:`features.pipeline`)
    and optionally sog, cog and identity columns. ``coverage``: the reference grid; without
    one the coverage-grid features are NaN.
    """
    n = len(pos)
    mmsi = pos["mmsi"].to_numpy(np.int64)
    track_no = pos["track_no"].to_numpy(np.int64)
    t = epoch_us(pos["timestamp"]) / 1e6
    lat = pos["lat"].to_numpy(float)
    lon = pos["lon"].to_numpy(float)
    sog = pos["sog"].to_numpy(float) if "sog" in pos else np.full(n, np.nan)
    cog = pos["cog"].to_numpy(float) if "cog" in pos else np.full(n, np.nan)
    near_port = pos["near_port"].to_numpy(np.int64)
    port_idx = pos["port_idx"].to_numpy(np.int64)
    visit = pos["visit"].to_numpy(np.int64)
    voyage_no = pos["voyage_no"].to_numpy(np.int64)

    tstart = group_starts(mmsi, track_no)
    tid = np.cumsum(tstart) - 1
    b_all = np.flatnonzero(~tstart)           # interval (b-1, b)
    a_all = b_all - 1
    dt_all = t[b_all] - t[a_all]
    d_all = haversine_km(lat[a_all], lon[a_all], lat[b_all], lon[b_all])
    gap_s = cfg.gap_hours * 3600.0
    gap_all = dt_all > gap_s

    # Track-level: usual reporting interval and speed.
    n_tracks = int(tid[-1]) + 1 if n else 0
    tid_iv = tid[b_all]
    ok = ~gap_all
    cnt = np.bincount(tid_iv[ok], minlength=n_tracks)
    usual_interval = np.where(cnt > 0, np.bincount(tid_iv[ok], weights=dt_all[ok], minlength=n_tracks)
                              / np.maximum(cnt, 1), np.nan)
    moving = np.nan_to_num(sog, nan=0.0) > cfg.moving_speed_kn
    mv_cnt = np.bincount(tid[moving], minlength=n_tracks)
    mv_speed = np.bincount(tid[moving], weights=sog[moving], minlength=n_tracks) / np.maximum(mv_cnt, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        step_kn = np.where(dt_all > 0, d_all / np.maximum(dt_all, 1e-9) * 3600.0 / KM_PER_NM, np.nan)
    imp_ok = ok & (step_kn > cfg.moving_speed_kn) & (step_kn < cfg.max_speed_kn)
    imp_cnt = np.bincount(tid_iv[imp_ok], minlength=n_tracks)
    imp_speed = np.bincount(tid_iv[imp_ok], weights=step_kn[imp_ok], minlength=n_tracks) / np.maximum(imp_cnt, 1)
    usual_speed = np.where(mv_cnt >= 3, mv_speed, np.where(imp_cnt >= 3, imp_speed, cfg.default_speed_kn))
    tracks_per_mmsi = pd.Series(track_no).groupby(mmsi).transform("max").to_numpy() + 1 if n else np.zeros(0)

    # Voyage intervals: all intervals except those inside one port visit.
    in_port = (visit[a_all] >= 0) & (visit[a_all] == visit[b_all])
    sel = ~in_port
    a, b = a_all[sel], b_all[sel]
    dt, d, gap = dt_all[sel], d_all[sel], gap_all[sel]
    vfirst = group_starts(tid[b], voyage_no[b])
    gst = np.flatnonzero(vfirst)
    nv = len(gst)
    if nv == 0:
        return _empty_table()
    gidx = np.cumsum(vfirst) - 1
    gend = np.append(gst[1:], len(b)) - 1
    row_first, row_last = a[gst], b[gend]
    vtid = tid[row_first]

    def vsum(x):
        return np.add.reduceat(np.asarray(x, float), gst)

    def vmax(x):
        return np.maximum.reduceat(np.asarray(x, float), gst)

    origin = np.where(visit[row_first] >= 0, port_idx[row_first], -1)
    dest = np.where(visit[row_last] >= 0, port_idx[row_last], -1)
    start_s, end_s = t[row_first], t[row_last]
    duration_s = end_s - start_s
    out = {}
    out["duration_h"] = duration_s / 3600.0
    out["distance_km"] = vsum(d)
    out["n_positions"] = np.diff(np.append(gst, len(b))) + 1.0
    ok_v = ~gap
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_speed_kn"] = vsum(np.where(ok_v, d, 0)) / (vsum(np.where(ok_v, dt, 0)) / 3600.0) / KM_PER_NM
    sog_b = sog[b]
    has_sog = np.isfinite(sog_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_sog_kn"] = vsum(np.where(has_sog, sog_b, 0)) / vsum(has_sog)
    out["max_sog_kn"] = np.where(vsum(has_sog) > 0, vmax(np.where(has_sog, sog_b, -np.inf)), np.nan)
    out["usual_interval_s"] = usual_interval[vtid]

    for band in cfg.gap_bands_h:
        out[f"n_gaps_{band:g}h"] = vsum(dt > band * 3600.0)
    gap_dt = np.where(gap, dt, 0.0)
    max_gap = vmax(gap_dt)
    out["max_gap_h"] = max_gap / 3600.0
    out["total_dark_h"] = vsum(gap_dt) / 3600.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out["dark_share"] = np.where(duration_s > 0, vsum(gap_dt) / duration_s, 0.0)

    # The longest gap of each voyage.
    k = np.arange(len(b))
    cand = np.where(gap & (dt == max_gap[gidx]), k, _BIG)
    lg = np.minimum.reduceat(cand, gst)
    has_lg = lg < _BIG
    lgk = lg[has_lg]
    la, lb = a[lgk], b[lgk]
    nan = np.full(nv, np.nan)

    def put(vals, fill=np.nan, dtype=float):
        o = np.full(nv, fill, dtype=dtype)
        o[has_lg] = vals
        return o

    out["lg_displacement_km"] = put(d[lgk])
    with np.errstate(invalid="ignore", divide="ignore"):
        out["lg_implied_speed_kn"] = put(d[lgk] / (dt[lgk] / 3600.0) / KM_PER_NM)
    sp_idx, sp_km = gaz.nearest(lat[la], lon[la])
    ep_idx, ep_km = gaz.nearest(lat[lb], lon[lb])
    ss_idx, ss_km = gaz.nearest(lat[la], lon[la], sensitive_only=True)
    _, es_km = gaz.nearest(lat[lb], lon[lb], sensitive_only=True)
    out["lg_start_port_km"] = put(sp_km)
    out["lg_end_port_km"] = put(ep_km)
    out["lg_start_sensitive_km"] = put(ss_km)
    out["lg_end_sensitive_km"] = put(es_km)
    course = cog[la].copy()
    prev_ok = ~tstart[la] & ~np.isfinite(course)
    pa = la[prev_ok] - 1
    course[prev_ok] = np.where(haversine_km(lat[pa], lon[pa], lat[la[prev_ok]], lon[la[prev_ok]]) > 0.05,
                               bearing_deg(lat[pa], lon[pa], lat[la[prev_ok]], lon[la[prev_ok]]), np.nan)
    if len(la) and (ss_idx >= 0).any():
        sidx = np.maximum(ss_idx, 0)
        brg = bearing_deg(lat[la], lon[la], gaz.lat[sidx], gaz.lon[sidx])
        off = np.where(ss_idx >= 0, angle_diff_deg(course, brg), np.nan)
    else:
        off = np.full(len(la), np.nan)
    out["lg_heading_off_sensitive_deg"] = put(off)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["lg_vs_usual"] = put(dt[lgk] / usual_interval[tid[la]])
    if coverage is not None and len(coverage.table):
        rate, cell_int, _ = coverage.lookup(lat[la], lon[la])
    else:
        rate = cell_int = np.full(len(la), np.nan)
    out["lg_cell_gap_rate"] = put(rate)
    out["lg_cell_interval_s"] = put(cell_int)

    # Possible dark port calls in every long gap.
    dc = _dark_calls(a, b, dt, gap, gidx, nv, lat, lon, usual_speed[tid[a]], gaz, cfg)
    out.update({k_: v for k_, v in dc.items() if not k_.startswith("_")})

    # Out-and-back.
    first_lat, first_lon = lat[row_first], lon[row_first]
    excursion = vmax(haversine_km(lat[b], lon[b], first_lat[gidx], first_lon[gidx]))
    end_gap_km = haversine_km(first_lat, first_lon, lat[row_last], lon[row_last])
    oab = ((origin >= 0) & (origin == dest)) | (
        (origin < 0) & (dest < 0) & (end_gap_km <= cfg.out_and_back_km) & (excursion > cfg.out_and_back_km))
    out["oab"] = oab.astype(float)
    out["oab_max_excursion_km"] = excursion
    out["oab_dark_share"] = np.where(oab, out["dark_share"], 0.0)
    out["oab_dark_sensitive"] = (oab & (out["dc_sensitive_feasible"] > 0)).astype(float)

    # Loitering (slow, away from ports) and loitering while dark.
    spd_b = np.where(np.isfinite(sog[b]), sog[b], step_kn_of(d, dt))
    spd_a = np.where(np.isfinite(sog[a]), sog[a], step_kn_of(d, dt))
    slow = ~gap & (spd_a < cfg.loiter_speed_kn) & (spd_b < cfg.loiter_speed_kn) & (near_port[a] < 0) & (near_port[b] < 0)
    out["loiter_h"] = vsum(np.where(slow, dt, 0)) / 3600.0
    prev_slow = np.concatenate([[False], slow[:-1]])
    run_start = slow & (vfirst | ~prev_slow)
    run_id = np.cumsum(run_start) - 1
    if slow.any():
        dur = np.bincount(run_id[slow], weights=dt[slow])
        run_v = gidx[np.flatnonzero(run_start)]
        out["loiter_events"] = np.bincount(run_v[dur >= cfg.loiter_min_h * 3600.0], minlength=nv).astype(float)
    else:
        out["loiter_events"] = np.zeros(nv)
    dark_loiter = gap & (dt >= cfg.dark_loiter_min_gap_h * 3600.0) & (step_kn_of(d, dt) < cfg.loiter_speed_kn)
    out["dark_loiter_h"] = vsum(np.where(dark_loiter, dt, 0)) / 3600.0

    # Proximity to sensitive ports without a call there.
    reach = np.where(gaz.sensitive, gaz.radius_km + cfg.sensitive_near_km, -1.0)
    near_s, _ = gaz.in_reach(lat[a], lon[a], reach, key=f"sens{cfg.sensitive_near_km}")
    ns = ~gap & (near_s >= 0) & (near_s != origin[gidx]) & (near_s != dest[gidx])
    out["near_sensitive_h"] = vsum(np.where(ns, dt, 0)) / 3600.0
    sens = gaz.sensitive
    out["origin_sensitive"] = np.where(origin >= 0, sens[np.maximum(origin, 0)], False).astype(float)
    out["dest_sensitive"] = np.where(dest >= 0, sens[np.maximum(dest, 0)], False).astype(float)
    declared = pos["destination"].to_numpy(dtype=object, na_value=None)[row_last] if "destination" in pos else np.full(nv, None)
    mismatch = np.full(nv, np.nan)
    ids, names = gaz.ids, gaz.names
    for i in np.flatnonzero(dest >= 0):
        if declared[i]:
            mismatch[i] = 0.0 if destination_matches(declared[i], ids[dest[i]], names[dest[i]]) else 1.0
    out["dest_declared_mismatch"] = mismatch
    out["n_tracks_mmsi"] = tracks_per_mmsi[row_first].astype(float)

    # Descriptive columns.
    vm = mmsi[row_first]
    vtn = track_no[row_first]
    start_ts = pd.to_datetime(start_s * 1e6, unit="us", utc=True).floor("s")
    track_id = pd.Series(vm.astype(str), dtype="str") + "-" + pd.Series(vtn.astype(str), dtype="str")
    voyage_id = track_id + "-" + pd.Series(start_ts.strftime("%Y%m%dT%H%M%SZ"), dtype="str")
    ctx = pd.DataFrame({
        "voyage_id": voyage_id, "mmsi": vm, "track_id": track_id,
    })
    for c in ("name", "imo", "callsign"):
        ctx[c] = pos[c].to_numpy(dtype=object, na_value=None)[row_last] if c in pos else None
        ctx[c] = ctx[c].astype("str")
    ctx["flag"] = flag_of(vm).to_numpy()
    ctx["ship_type"] = (pos["ship_type"].to_numpy(dtype=object, na_value=None)[row_last]
                        if "ship_type" in pos else None)
    ctx["ship_type"] = ctx["ship_type"].astype("str")
    ctx["start"] = pd.to_datetime(start_s * 1e6, unit="us", utc=True)
    ctx["end"] = pd.to_datetime(end_s * 1e6, unit="us", utc=True)
    ctx["origin_port"] = pd.array(np.where(origin >= 0, ids[np.maximum(origin, 0)], None), dtype="str")
    ctx["destination_port"] = pd.array(np.where(dest >= 0, ids[np.maximum(dest, 0)], None), dtype="str")
    # The departure was seen when the voyage's first interval is not a gap; likewise arrival.
    ctx["origin_exit_observed"] = pd.array(np.where(origin >= 0, ~gap[gst], None), dtype="boolean")
    ctx["dest_entry_observed"] = pd.array(np.where(dest >= 0, ~gap[gend], None), dtype="boolean")
    ctx["declared_destination"] = pd.array(declared, dtype="str")
    ctx["lg_start"] = pd.to_datetime(put(t[la]) * 1e6, unit="us", utc=True)
    ctx["lg_end"] = pd.to_datetime(put(t[lb]) * 1e6, unit="us", utc=True)
    ctx["lg_start_lat"], ctx["lg_start_lon"] = put(lat[la]), put(lon[la])
    ctx["lg_end_lat"], ctx["lg_end_lon"] = put(lat[lb]), put(lon[lb])
    ctx["lg_start_port"] = pd.array(put(np.where(sp_idx >= 0, ids[np.maximum(sp_idx, 0)], None), None, object), dtype="str")
    ctx["lg_start_sensitive_port"] = pd.array(put(np.where(ss_idx >= 0, ids[np.maximum(ss_idx, 0)], None), None, object), dtype="str")
    ctx["dc_port"] = pd.array(np.where(dc["_port"] >= 0, ids[np.maximum(dc["_port"], 0)], None), dtype="str")
    ctx["dc_gap_h"] = dc["_gap_h"]
    ctx["dc_port_spare_h"] = dc["_spare_h"]
    ctx["ctx_neighbour_vessel_h"] = nan.copy()
    ctx["ctx_neighbours_per_h"] = nan.copy()
    feats = pd.DataFrame({name: np.asarray(out[name], float) for name in FEATURE_NAMES})
    return pd.concat([ctx, feats], axis=1)


def step_kn_of(d_km: np.ndarray, dt_s: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(dt_s > 0, d_km / (dt_s / 3600.0) / KM_PER_NM, np.inf)


def _dark_calls(a, b, dt, gap, gidx, nv, lat, lon, speed_kn, gaz: Gazetteer, cfg: Config) -> dict:
    """Per voyage: which ports a call fits at, in its gaps of at least dark_call_min_gap_h."""
    res = {
        "dc_n_feasible": np.zeros(nv), "dc_sensitive_feasible": np.zeros(nv),
        "dc_best_spare_h": np.full(nv, np.nan), "dc_sensitive_spare_h": np.full(nv, np.nan),
        "_port": np.full(nv, -1, np.int64), "_gap_h": np.full(nv, np.nan), "_spare_h": np.full(nv, np.nan),
    }
    gi = np.flatnonzero(gap & (dt >= cfg.dark_call_min_gap_h * 3600.0))
    if len(gi) == 0 or gaz.n == 0:
        return res
    ga, gb = a[gi], b[gi]
    ds = gaz.distances(lat[ga], lon[ga])
    de = gaz.distances(lat[gb], lon[gb])
    gap_h = dt[gi] / 3600.0
    sail_h = (ds + de) * cfg.route_factor / (speed_kn[gi][:, None] * KM_PER_NM)
    spare = gap_h[:, None] - sail_h - cfg.min_call_stay_h
    # A gap that starts and ends at the same port is a quiet stay there, not a hidden call.
    exit_r = gaz.radius_km * cfg.port_exit_factor
    spare = np.where((ds <= exit_r) & (de <= exit_r), -np.inf, spare)
    feasible = spare > 0
    sens = gaz.sensitive[None, :]
    n_feas = feasible.sum(axis=1)
    best = spare.max(axis=1)
    best_port = spare.argmax(axis=1)
    s_spare = np.where(sens, spare, -np.inf)
    best_s = s_spare.max(axis=1)
    best_s_port = s_spare.argmax(axis=1)
    gv = gidx[gi]
    np.maximum.at(res["dc_n_feasible"], gv, n_feas)
    np.maximum.at(res["dc_sensitive_feasible"], gv, (best_s > 0).astype(float))
    tmp = np.full(nv, -np.inf)
    np.maximum.at(tmp, gv, best)
    res["dc_best_spare_h"] = np.where(np.isfinite(tmp), tmp, np.nan)
    tmp = np.full(nv, -np.inf)
    np.maximum.at(tmp, gv, best_s)
    res["dc_sensitive_spare_h"] = np.where(np.isfinite(tmp), tmp, np.nan)
    # Candidate port: the feasible sensitive call with most spare time, else any feasible call.
    score = np.where(best_s > 0, 1e6 + best_s, np.where(best > 0, best, -np.inf))
    port = np.where(best_s > 0, best_s_port, best_port)
    spare_of = np.where(best_s > 0, best_s, best)
    order = np.lexsort((-score, gv))
    first = group_starts(gv[order])
    pick = order[first]
    ok = np.isfinite(score[pick])
    res["_port"][gv[pick[ok]]] = port[pick[ok]]
    res["_gap_h"][gv[pick[ok]]] = gap_h[pick[ok]]
    res["_spare_h"][gv[pick[ok]]] = spare_of[pick[ok]]
    return res


def _empty_table() -> pd.DataFrame:
    cols = {c: pd.Series(dtype="str") for c, _, _ in CONTEXT}
    cols["mmsi"] = pd.Series(dtype="int64")
    for c in ("start", "end", "lg_start", "lg_end"):
        cols[c] = pd.Series(dtype="datetime64[us, UTC]")
    for c in ("lg_start_lat", "lg_start_lon", "lg_end_lat", "lg_end_lon", "dc_gap_h", "dc_port_spare_h",
              "ctx_neighbour_vessel_h", "ctx_neighbours_per_h"):
        cols[c] = pd.Series(dtype="float64")
    for c in ("origin_exit_observed", "dest_entry_observed"):
        cols[c] = pd.Series(dtype="boolean")
    for c in FEATURE_NAMES:
        cols[c] = pd.Series(dtype="float64")
    return pd.DataFrame(cols)
