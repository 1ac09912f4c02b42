"""Gaps: how often and how long the voyage went silent, and where its longest gap started and
ended relative to ports, its course, its own habits and the reference coverage grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Config
from ..coverage import CoverageGrid
from ..gazetteer import Gazetteer
from ..geo import KM_PER_NM, angle_diff_deg, bearing_deg, haversine_km
from .index import VoyageIndex

FEATURES = [
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
]


@dataclass
class Gaps:
    features: dict
    start_port: np.ndarray            # per longest gap: nearest port index to its start (-1 none)
    start_sensitive_port: np.ndarray  # ... nearest sensitive port index


def gap_counts(ix: VoyageIndex, cfg: Config) -> dict:
    """Gaps per length band, the longest, their sum and the dark share of the voyage."""
    out = {}
    for band in cfg.gap_bands_h:
        out[f"n_gaps_{band:g}h"] = np.bincount(ix.gv, weights=ix.g_dt > band * 3600.0, minlength=ix.nv)
    max_gap = np.zeros(ix.nv)
    np.maximum.at(max_gap, ix.gv, ix.g_dt)
    total_gap = np.bincount(ix.gv, weights=ix.g_dt, minlength=ix.nv)
    out["max_gap_h"] = max_gap / 3600.0
    out["total_dark_h"] = total_gap / 3600.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out["dark_share"] = np.where(ix.duration_s > 0, total_gap / ix.duration_s, 0.0)
    return out


def longest_gap(ix: VoyageIndex, gaz: Gazetteer, usual_interval: np.ndarray,
                coverage: CoverageGrid | None) -> Gaps:
    """The ``lg_*`` features of each voyage's longest gap (NaN without a gap)."""
    lgi, la, lb, put = ix.lgi, ix.la, ix.lb, ix.put
    lat, lon = ix.lat, ix.lon
    out = {"lg_displacement_km": put(ix.d[lgi])}
    with np.errstate(invalid="ignore", divide="ignore"):
        out["lg_implied_speed_kn"] = put(ix.d[lgi] / (ix.dt[lgi] / 3600.0) / KM_PER_NM)
    sp_idx, sp_km = gaz.nearest(lat[la], lon[la])
    _, ep_km = gaz.nearest(lat[lb], lon[lb])
    ss_idx, ss_km = gaz.nearest(lat[la], lon[la], sensitive_only=True)
    _, es_km = gaz.nearest(lat[lb], lon[lb], sensitive_only=True)
    out["lg_start_port_km"] = put(sp_km)
    out["lg_end_port_km"] = put(ep_km)
    out["lg_start_sensitive_km"] = put(ss_km)
    out["lg_end_sensitive_km"] = put(es_km)
    out["lg_heading_off_sensitive_deg"] = put(_heading_off(ix, gaz, ss_idx))
    with np.errstate(invalid="ignore", divide="ignore"):
        out["lg_vs_usual"] = put(ix.dt[lgi] / usual_interval[ix.tid[la]])
    if coverage is not None and len(coverage.table):
        rate, cell_int, _ = coverage.lookup(lat[la], lon[la])
    else:
        rate = cell_int = np.full(len(la), np.nan)
    out["lg_cell_gap_rate"] = put(rate)
    out["lg_cell_interval_s"] = put(cell_int)
    return Gaps(out, sp_idx, ss_idx)


def _heading_off(ix: VoyageIndex, gaz: Gazetteer, ss_idx: np.ndarray) -> np.ndarray:
    """Angle between the course into each longest gap (reported, else from the fix before)
    and the bearing to the nearest sensitive port, deg."""
    lat, lon, la = ix.lat, ix.lon, ix.la
    course = ix.cog[la].copy()
    prev_ok = ~ix.tstart[la] & ~np.isfinite(course)
    pa = la[prev_ok] - 1
    course[prev_ok] = np.where(haversine_km(lat[pa], lon[pa], lat[la[prev_ok]], lon[la[prev_ok]]) > 0.05,
                               bearing_deg(lat[pa], lon[pa], lat[la[prev_ok]], lon[la[prev_ok]]), np.nan)
    if len(la) and (ss_idx >= 0).any():
        sidx = np.maximum(ss_idx, 0)
        brg = bearing_deg(lat[la], lon[la], gaz.lat[sidx], gaz.lon[sidx])
        return np.where(ss_idx >= 0, angle_diff_deg(course, brg), np.nan)
    return np.full(len(la), np.nan)
