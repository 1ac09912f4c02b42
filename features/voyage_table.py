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
from .geo import KM_PER_NM, angle_diff_deg, bearing_deg, haversine_km, planar_km
from .catalogue import CONTEXT, FEATURE_NAMES
from .tracks import Seconds, epoch_us, group_starts

_BIG = np.iinfo(np.int64).max
#: Anchorage stops walked over to find where a trip ends: the canal mouth, then the river port
#: (a queue, the canal, a second queue at most).
_TRIP_MAX_STOPS = 3




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
    track_no = pos["track_no"].to_numpy()
    t_us = epoch_us(pos["timestamp"])
    t = Seconds(t_us)
    lat = pos["lat"].to_numpy(float)
    lon = pos["lon"].to_numpy(float)
    sog = pos["sog"].to_numpy(float) if "sog" in pos else np.full(n, np.nan)
    cog = pos["cog"].to_numpy(float) if "cog" in pos else np.full(n, np.nan)
    near_port = pos["near_port"].to_numpy()
    port_idx = pos["port_idx"].to_numpy()
    visit = pos["visit"].to_numpy()
    voyage_no = pos["voyage_no"].to_numpy()

    tstart = group_starts(mmsi, track_no)
    tid = np.cumsum(tstart) - 1
    n_tracks = int(tid[-1]) + 1 if n else 0
    if n < 2:
        return empty_voyage_table()
    # Interval space: interval i joins fix i and fix i + 1. Arrays are length n - 1 views or
    # single passes; intervals across a track start or inside one port visit are invalid.
    dt = np.empty(max(n - 1, 0))
    np.subtract(t_us[1:], t_us[:-1], out=dt)  # one float array, no int64 intermediate
    dt *= 1e-6
    d = (pos["step_km"].to_numpy(float)[1:] if "step_km" in pos
         else haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:]))
    same_track = ~tstart[1:]
    valid = same_track & ~((visit[:-1] >= 0) & (visit[:-1] == visit[1:]))
    gap_s = cfg.gap_hours * 3600.0
    gap = valid & (dt > gap_s)
    tid_iv = tid[1:]

    # Track-level: usual reporting interval and speed.
    ok = same_track & ~(dt > gap_s)
    cnt = np.bincount(tid_iv, weights=ok, minlength=n_tracks)
    with np.errstate(invalid="ignore", divide="ignore"):
        usual_interval = np.where(cnt > 0, np.bincount(tid_iv, weights=np.where(ok, dt, 0.0), minlength=n_tracks)
                                  / np.maximum(cnt, 1), np.nan)
        step_kn = d / dt * (3600.0 / KM_PER_NM)
    moving = sog > cfg.moving_speed_kn
    mv_cnt = np.bincount(tid, weights=moving, minlength=n_tracks)
    mv_speed = np.bincount(tid, weights=np.where(moving, sog, 0.0), minlength=n_tracks) / np.maximum(mv_cnt, 1)
    imp_ok = ok & (step_kn > cfg.moving_speed_kn) & (step_kn < cfg.max_speed_kn)
    imp_cnt = np.bincount(tid_iv, weights=imp_ok, minlength=n_tracks)
    imp_speed = np.bincount(tid_iv, weights=np.where(imp_ok, step_kn, 0.0), minlength=n_tracks) / np.maximum(imp_cnt, 1)
    usual_speed = np.where(mv_cnt >= 3, mv_speed, np.where(imp_cnt >= 3, imp_speed, cfg.default_speed_kn))

    # Voyages: maximal runs of valid intervals with one (track, voyage number).
    vkey_change = np.ones(n - 1, bool)
    vkey_change[1:] = ~valid[:-1] | (tid_iv[1:] != tid_iv[:-1]) | (voyage_no[2:] != voyage_no[1:-1])
    vfirst = valid & vkey_change
    gst = np.flatnonzero(vfirst)
    nv = len(gst)
    if nv == 0:
        return empty_voyage_table()
    gidx = np.cumsum(vfirst) - 1     # voyage of each interval (meaningful where valid)
    idx = np.arange(n - 1)
    gend = np.maximum.reduceat(np.where(valid, idx, -1), gst)
    row_first, row_last = gst, gend + 1
    vtid = tid[row_first]

    # Per-voyage reductions. reduceat over [gst[j], gst[j+1]) also sweeps the few invalid
    # intervals (port stays, track starts) that follow voyage j; subtracting them is far
    # cheaper than masking millions of valid ones. ``x`` must be finite.
    inval = np.flatnonzero(~valid)
    inval = inval[inval >= gst[0]]
    inval_v = gidx[inval]

    def vsum(x):
        x = np.broadcast_to(np.asarray(x, float), valid.shape)
        total = np.add.reduceat(x, gst)
        if len(inval):
            total -= np.bincount(inval_v, weights=x[inval], minlength=nv)
        return total

    def vmax(x, fill=-np.inf):
        return np.maximum.reduceat(np.where(valid, x, fill), gst)

    origin = np.where(visit[row_first] >= 0, port_idx[row_first], -1)
    dest = np.where(visit[row_last] >= 0, port_idx[row_last], -1)
    start_s, end_s = t[row_first], t[row_last]
    duration_s = end_s - start_s
    out = {}
    out["duration_h"] = duration_s / 3600.0
    out["distance_km"] = vsum(d)
    # Intervals from a voyage's first to its last, less the invalid ones inside that span (the
    # invalid ones after it, up to the next voyage, belong to no voyage), plus one fix.
    inside = inval <= gend[inval_v] if len(inval) else np.zeros(0, bool)
    out["n_positions"] = (gend - gst + 1) - np.bincount(inval_v[inside], minlength=nv) + 1.0
    no_gap = valid & ~gap
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_speed_kn"] = (np.add.reduceat(np.where(no_gap, d, 0.0), gst)
                                / (np.add.reduceat(np.where(no_gap, dt, 0.0), gst) / 3600.0) / KM_PER_NM)
    sog_b = sog[1:]
    has_sog = np.isfinite(sog_b)
    all_sog = bool(has_sog.all())
    n_sog = vsum(has_sog)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_sog_kn"] = vsum(sog_b if all_sog else np.where(has_sog, sog_b, 0.0)) / n_sog
    out["max_sog_kn"] = np.where(n_sog > 0, vmax(sog_b if all_sog else np.where(has_sog, sog_b, -np.inf)), np.nan)

    # Gaps are few: everything about them runs on the gap intervals only.
    gi = np.flatnonzero(gap)
    gv = gidx[gi]
    g_dt = dt[gi]
    for band in cfg.gap_bands_h:
        out[f"n_gaps_{band:g}h"] = np.bincount(gv, weights=g_dt > band * 3600.0, minlength=nv)
    max_gap = np.zeros(nv)
    np.maximum.at(max_gap, gv, g_dt)
    total_gap = np.bincount(gv, weights=g_dt, minlength=nv)
    out["max_gap_h"] = max_gap / 3600.0
    out["total_dark_h"] = total_gap / 3600.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out["dark_share"] = np.where(duration_s > 0, total_gap / duration_s, 0.0)

    # The longest gap of each voyage (the first, if two are equally long).
    order = np.lexsort((gi, -g_dt, gv))
    pick = order[group_starts(gv[order])] if len(gi) else np.zeros(0, np.int64)
    has_lg = np.zeros(nv, bool)
    has_lg[gv[pick]] = True
    lgi = gi[pick]               # interval index of each voyage's longest gap, voyage order
    la, lb = lgi, lgi + 1
    nan = np.full(nv, np.nan)

    def put(vals, fill=np.nan, dtype=float):
        o = np.full(nv, fill, dtype=dtype)
        o[has_lg] = vals
        return o

    out["lg_displacement_km"] = put(d[lgi])
    with np.errstate(invalid="ignore", divide="ignore"):
        out["lg_implied_speed_kn"] = put(d[lgi] / (dt[lgi] / 3600.0) / KM_PER_NM)
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
        out["lg_vs_usual"] = put(dt[lgi] / usual_interval[tid[la]])
    if coverage is not None and len(coverage.table):
        rate, cell_int, _ = coverage.lookup(lat[la], lon[la])
    else:
        rate = cell_int = np.full(len(la), np.nan)
    out["lg_cell_gap_rate"] = put(rate)
    out["lg_cell_interval_s"] = put(cell_int)

    # Possible dark port calls in every long gap.
    dc = _dark_calls(gi, g_dt, gv, nv, lat, lon, usual_speed[tid[gi]], gaz, cfg)
    out.update({k_: v for k_, v in dc.items() if not k_.startswith("_")})

    # Out-and-back: back at the origin port, or (ports unknown) back near the start after
    # going farther away. The excursion is measured on those candidate voyages only.
    first_lat, first_lon = lat[row_first], lon[row_first]
    end_gap_km = haversine_km(first_lat, first_lon, lat[row_last], lon[row_last])
    same_port = (origin >= 0) & (origin == dest)
    cand = np.flatnonzero(same_port | ((origin < 0) & (dest < 0) & (end_gap_km <= cfg.out_and_back_km)))
    excursion = np.zeros(nv)
    if len(cand):
        lens = gend[cand] - gst[cand] + 1
        rows = np.repeat(gst[cand] - np.cumsum(np.append(0, lens[:-1])), lens) + np.arange(lens.sum())
        owner = np.repeat(cand, lens)
        dist = planar_km(lat[row_first[owner]], lon[row_first[owner]], lat[rows + 1], lon[rows + 1])
        np.maximum.at(excursion, owner, np.where(valid[rows], dist, 0.0))
    oab = same_port | ((origin < 0) & (dest < 0) & (end_gap_km <= cfg.out_and_back_km)
                       & (excursion > cfg.out_and_back_km))
    excursion = np.where(oab, excursion, 0.0)
    out["oab"] = oab.astype(float)
    out["oab_max_excursion_km"] = excursion
    out["oab_dark_share"] = np.where(oab, out["dark_share"], 0.0)
    out["oab_dark_sensitive"] = (oab & (out["dc_sensitive_feasible"] > 0)).astype(float)

    # Loitering (slow, away from ports) and loitering while dark.
    spd = np.where(np.isfinite(sog), sog, np.inf)  # unknown speed is not "slow"
    spd_iv = np.where(np.isfinite(step_kn), step_kn, np.inf)
    slow = (no_gap & (np.minimum(spd[:-1], spd_iv) < cfg.loiter_speed_kn)
            & (np.minimum(spd[1:], spd_iv) < cfg.loiter_speed_kn) & (near_port[:-1] < 0) & (near_port[1:] < 0))
    si = np.flatnonzero(slow)
    out["loiter_h"] = np.bincount(gidx[si], weights=dt[si], minlength=nv) / 3600.0
    if len(si):
        run_start = np.ones(len(si), bool)
        run_start[1:] = (si[1:] != si[:-1] + 1) | (gidx[si[1:]] != gidx[si[:-1]])
        run_id = np.cumsum(run_start) - 1
        dur = np.bincount(run_id, weights=dt[si])
        run_v = gidx[si[run_start]]
        out["loiter_events"] = np.bincount(run_v[dur >= cfg.loiter_min_h * 3600.0], minlength=nv).astype(float)
    else:
        out["loiter_events"] = np.zeros(nv)
    with np.errstate(invalid="ignore", divide="ignore"):
        g_kn = d[gi] / (g_dt / 3600.0) / KM_PER_NM
    dark_loiter = (g_dt >= cfg.dark_loiter_min_gap_h * 3600.0) & (g_kn < cfg.loiter_speed_kn)
    out["dark_loiter_h"] = np.bincount(gv, weights=np.where(dark_loiter, g_dt, 0.0), minlength=nv) / 3600.0

    # Proximity to sensitive ports without a call there.
    reach = np.where(gaz.sensitive, gaz.radius_km + cfg.sensitive_near_km, -1.0)
    near_s, _ = gaz.in_reach(lat[:-1], lon[:-1], reach, key=f"sens{cfg.sensitive_near_km}")
    ni = np.flatnonzero(no_gap & (near_s >= 0))
    nsv = gidx[ni]
    ns = (near_s[ni] != origin[nsv]) & (near_s[ni] != dest[nsv])
    out["near_sensitive_h"] = np.bincount(nsv, weights=np.where(ns, dt[ni], 0.0), minlength=nv) / 3600.0
    # AIS gaps during the port stays at either end (a dark stay at an anchorage, say).
    in_visit = same_track & (visit[:-1] >= 0) & (visit[:-1] == visit[1:]) & (dt > gap_s)
    vi = np.flatnonzero(in_visit)
    n_vis = int(visit.max()) + 1 if n else 0
    visit_dark = np.zeros(max(n_vis, 1))
    if len(vi):
        np.maximum.at(visit_dark, visit[vi], dt[vi])
    ov, dv = visit[row_first], visit[row_last]
    out["origin_visit_dark_h"] = np.where(ov >= 0, visit_dark[np.maximum(ov, 0)], 0.0) / 3600.0
    out["dest_visit_dark_h"] = np.where(dv >= 0, visit_dark[np.maximum(dv, 0)], 0.0) / 3600.0
    # Per port index, and -1 (no port) last: an anchorage is a queue off a port, not a berth.
    anch = np.append(gaz.anchorage, False)
    out["dest_anchorage"] = anch[dest].astype(float)
    sens = gaz.sensitive
    out["origin_sensitive"] = np.where(origin >= 0, sens[np.maximum(origin, 0)], False).astype(float)
    out["dest_sensitive"] = np.where(dest >= 0, sens[np.maximum(dest, 0)], False).astype(float)
    declared = (pos["destination"].iloc[row_last].to_numpy(dtype=object, na_value=None)
                if "destination" in pos else np.full(nv, None))
    ids = gaz.ids
    names_port = _declared_names(declared, gaz)
    names_dest, names_origin = names_port(dest), names_port(origin)
    # An anchorage (a queue off a port) is where a ship waits, not the port it declares.
    out["dest_declared_mismatch"] = np.where(anch[dest], np.nan, 1.0 - names_dest)
    out["dest_declared_is_origin"] = names_origin
    _, first_km = gaz.nearest(lat[row_first], lon[row_first])
    _, last_km = gaz.nearest(lat[row_last], lon[row_last])
    out["starts_at_sea_km"] = np.where(origin >= 0, 0.0, first_km)
    out["ends_at_sea_km"] = np.where(dest >= 0, 0.0, last_km)
    # Voyages come in track order: a track's first (last) voyage is where the track id changes.
    track_first = group_starts(vtid)
    track_last = np.append(track_first[1:], True)[:nv]
    out["open_start"] = (track_first & (origin < 0)).astype(float)
    out["open_end"] = (track_last & (dest < 0)).astype(float)
    trip_end = _trip_end(origin, dest, vtid, anch)
    out.update(_trip_declared(trip_end, names_port(trip_end), names_dest, names_origin, gaz))
    # Rows are grouped by MMSI: the last row of each MMSI holds its highest track number.
    mfirst = np.flatnonzero(group_starts(mmsi))
    mlast = np.append(mfirst[1:], n) - 1
    out["n_tracks_mmsi"] = (track_no[mlast] + 1)[np.searchsorted(mfirst, row_first, side="right") - 1].astype(float)
    # Other tracks of the same MMSI whose time span overlaps the voyage (few MMSIs have any).
    conc = np.zeros(nv)
    multi = np.flatnonzero(out["n_tracks_mmsi"] > 1)
    if len(multi):
        tfirst = np.flatnonzero(tstart)
        tlast = np.append(tfirst[1:], n) - 1
        spans = pd.DataFrame({"mmsi": mmsi[tfirst], "tid": np.arange(len(tfirst)), "t0": t[tfirst], "t1": t[tlast]})
        vv = pd.DataFrame({"v": multi, "mmsi": mmsi[row_first[multi]], "vtid": vtid[multi],
                           "s": start_s[multi], "e": end_s[multi]}).merge(spans, on="mmsi")
        hit = vv[(vv["tid"] != vv["vtid"]) & (vv["t0"] <= vv["e"]) & (vv["t1"] >= vv["s"])]
        conc[:] = np.bincount(hit["v"].to_numpy(), minlength=nv)
    out["concurrent_tracks"] = conc

    # Descriptive columns.
    vm = mmsi[row_first]
    vtn = track_no[row_first]
    start_ts = pd.to_datetime(start_s * 1e6, unit="us", utc=True).floor("s")
    track_id = pd.Series(vm.astype(str), dtype="str") + "-" + pd.Series(vtn.astype(str), dtype="str")
    voyage_id = track_id + "-" + pd.Series(start_ts.strftime("%Y%m%dT%H%M%SZ"), dtype="str")
    def text_at(col, rows):
        if col not in pos:
            return pd.array([None] * len(rows), dtype="str")
        # Pick the rows first: converting a whole categorical column to objects costs seconds.
        return pd.array(pos[col].iloc[rows].to_numpy(dtype=object, na_value=None), dtype="str")

    def port_ids(idx):
        return pd.array(np.where(idx >= 0, ids[np.maximum(idx, 0)], None), dtype="str")

    # Built as one dict: a column at a time into a frame costs ~1 ms each on the REST path.
    ctx = {
        "voyage_id": voyage_id.array, "mmsi": vm, "track_id": track_id.array,
        "name": text_at("name", row_last), "imo": text_at("imo", row_last), "callsign": text_at("callsign", row_last),
        "flag": flag_of(vm).array, "ship_type": text_at("ship_type", row_last),
        "start": pd.to_datetime(start_s * 1e6, unit="us", utc=True), "end": pd.to_datetime(end_s * 1e6, unit="us", utc=True),
        "origin_port": port_ids(origin), "destination_port": port_ids(dest),
        # The departure was seen when the voyage's first interval is not a gap; likewise arrival.
        "origin_exit_observed": pd.array(np.where(origin >= 0, ~gap[gst], None), dtype="boolean"),
        "dest_entry_observed": pd.array(np.where(dest >= 0, ~gap[gend], None), dtype="boolean"),
        "declared_destination": pd.array(declared, dtype="str"),
        "trip_end_port": port_ids(trip_end),
        "usual_interval_s": usual_interval[vtid],
        "lg_start": pd.to_datetime(put(t[la]) * 1e6, unit="us", utc=True),
        "lg_end": pd.to_datetime(put(t[lb]) * 1e6, unit="us", utc=True),
        "lg_start_lat": put(lat[la]), "lg_start_lon": put(lon[la]), "lg_end_lat": put(lat[lb]), "lg_end_lon": put(lon[lb]),
        "lg_start_port": pd.array(put(np.where(sp_idx >= 0, ids[np.maximum(sp_idx, 0)], None), None, object), dtype="str"),
        "lg_start_sensitive_port": pd.array(put(np.where(ss_idx >= 0, ids[np.maximum(ss_idx, 0)], None), None, object), dtype="str"),
        "dc_port": port_ids(dc["_port"]), "dc_gap_h": dc["_gap_h"], "dc_port_spare_h": dc["_spare_h"],
        "ctx_neighbour_vessel_h": nan.copy(), "ctx_neighbours_per_h": nan.copy(),
        "ctx_cell_day_gap_rate": nan.copy(), "ctx_cell_day_interval_s": nan.copy(),
    }
    ctx.update({name: np.asarray(out[name], float) for name in FEATURE_NAMES})
    return pd.DataFrame({c: ctx[c] for c, _, _ in CONTEXT} | {f: ctx[f] for f in FEATURE_NAMES})


def _declared_names(declared: np.ndarray, gaz: Gazetteer):
    """A function port index per voyage -> 1.0/0.0 (the voyage's declared destination text names
    that port or not) or NaN (no text, or no port). Each distinct (text, port) pair is matched
    once: a fleet declares few texts."""
    has_text = np.array([bool(d) for d in declared], dtype=bool)
    seen: dict = {}

    def names_port(port: np.ndarray) -> np.ndarray:
        out = np.full(len(port), np.nan)
        for i in np.flatnonzero(has_text & (port >= 0)):
            key = (declared[i], int(port[i]))
            if key not in seen:
                seen[key] = destination_matches(declared[i], gaz.ids[key[1]], gaz.names[key[1]])
            out[i] = float(seen[key])
        return out
    return names_port


def _trip_end(origin, dest, vtid, anch) -> np.ndarray:
    """Per voyage, the port index where its trip ends (-1: unknown): its destination, or when
    that is an anchorage, the destination of the track's next voyage, over up to
    ``_TRIP_MAX_STOPS`` stops. A voyage that starts at an anchorage continues a trip judged on
    its first leg: -1 too.

    ``origin``, ``dest``: port index per voyage (-1: none); ``vtid``: track per voyage, voyages
    in track and time order; ``anch``: anchorage flag per port index, -1 (no port) last."""
    nv = len(dest)
    k, end = np.arange(nv), dest.copy()
    for _ in range(_TRIP_MAX_STOPS):
        nxt = np.minimum(k + 1, nv - 1)
        go = anch[end] & (k + 1 < nv) & (vtid[nxt] == vtid)
        k = np.where(go, nxt, k)
        end = np.where(go, dest[k], end)
    return np.where(anch[origin] | anch[end], -1, end)


def _trip_declared(trip_end, names_end, names_dest, names_origin, gaz: Gazetteer) -> dict:
    """``trip_end_sensitive``, ``trip_decl_mismatch``, ``trip_decl_mismatch_sensitive`` (see
    FEATURES): the declared destination judged against the whole trip, so a ship bound for
    Astrakhan that queues at the canal mouth first still matches 'ASTRAKHAN'. ``names_*``:
    1/0/NaN per voyage, the text names the trip's end, the destination, the origin."""
    known = trip_end >= 0
    t_sens = np.where(known, gaz.sensitive[np.maximum(trip_end, 0)], np.nan).astype(float)
    # No text (names_end NaN) stays NaN; a missing destination or origin names nothing (0).
    named = np.maximum(np.fmax(np.nan_to_num(names_dest), np.nan_to_num(names_origin)), names_end)
    mismatch = np.where(known, 1.0 - named, np.nan)
    return {"trip_end_sensitive": t_sens, "trip_decl_mismatch": mismatch,
            "trip_decl_mismatch_sensitive": mismatch * t_sens}


def _dark_calls(gi, g_dt, gv, nv, lat, lon, speed_kn, gaz: Gazetteer, cfg: Config) -> dict:
    """Per voyage: which ports a call fits at, in its gaps of at least dark_call_min_gap_h.

    ``gi``: interval index of each gap (from fix gi to fix gi + 1), ``g_dt`` its seconds,
    ``gv`` its voyage, ``speed_kn`` its vessel's usual speed."""
    res = {
        "dc_n_feasible": np.zeros(nv), "dc_sensitive_feasible": np.zeros(nv),
        "dc_best_spare_h": np.full(nv, np.nan), "dc_sensitive_spare_h": np.full(nv, np.nan),
        "_port": np.full(nv, -1, np.int64), "_gap_h": np.full(nv, np.nan), "_spare_h": np.full(nv, np.nan),
    }
    long_ = g_dt >= cfg.dark_call_min_gap_h * 3600.0
    if not long_.any() or gaz.n == 0:
        return res
    ga = gi[long_]
    ds = gaz.distances(lat[ga], lon[ga])
    de = gaz.distances(lat[ga + 1], lon[ga + 1])
    gap_h = g_dt[long_] / 3600.0
    gv = gv[long_]
    sail_h = (ds + de) * cfg.route_factor / (speed_kn[long_][:, None] * KM_PER_NM)
    spare = gap_h[:, None] - sail_h - cfg.min_call_stay_h
    # A gap that starts and ends at the same port is a quiet stay there, not a hidden call.
    exit_r = gaz.radius_km * cfg.port_exit_factor
    spare = np.where((ds <= exit_r) & (de <= exit_r), -np.inf, spare)
    # An anchorage is where ships queue, not where cargo is worked: not a call.
    spare = np.where(gaz.anchorage[None, :], -np.inf, spare)
    feasible = spare > 0
    sens = gaz.sensitive[None, :]
    n_feas = feasible.sum(axis=1)
    best = spare.max(axis=1)
    best_port = spare.argmax(axis=1)
    s_spare = np.where(sens, spare, -np.inf)
    best_s = s_spare.max(axis=1)
    best_s_port = s_spare.argmax(axis=1)
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


def empty_voyage_table() -> pd.DataFrame:
    cols = {c: pd.Series(dtype="str") for c, _, _ in CONTEXT}
    cols["mmsi"] = pd.Series(dtype="int64")
    for c in ("start", "end", "lg_start", "lg_end"):
        cols[c] = pd.Series(dtype="datetime64[us, UTC]")
    for c in ("lg_start_lat", "lg_start_lon", "lg_end_lat", "lg_end_lon", "dc_gap_h", "dc_port_spare_h",
              "ctx_neighbour_vessel_h", "ctx_neighbours_per_h", "ctx_cell_day_gap_rate", "ctx_cell_day_interval_s"):
        cols[c] = pd.Series(dtype="float64")
    for c in ("origin_exit_observed", "dest_entry_observed"):
        cols[c] = pd.Series(dtype="boolean")
    for c in FEATURE_NAMES:
        cols[c] = pd.Series(dtype="float64")
    return pd.DataFrame(cols)
