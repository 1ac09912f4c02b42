"""Ports: what kind of port a voyage starts and ends at, dark stays there, and time spent
near a sensitive port it did not call at."""

from __future__ import annotations

import numpy as np

from ..config import Config
from ..gazetteer import Gazetteer
from .index import VoyageIndex

FEATURES = [
    ("near_sensitive_h", "h", "time within sensitive_near_km of a sensitive port area that is neither origin nor destination"),
    ("origin_visit_dark_h", "h", "longest AIS gap during the stay at the origin port"),
    ("dest_visit_dark_h", "h", "longest AIS gap during the stay at the destination port"),
    ("dest_anchorage", "0/1", "the voyage ends at an anchorage (a queue off a port), not a berth"),
    ("origin_sensitive", "0/1", "the voyage starts from a sensitive port"),
    ("dest_sensitive", "0/1", "the voyage ends at a sensitive port"),
]


def anchorage_flags(gaz: Gazetteer) -> np.ndarray:
    """Anchorage flag per port index with a last entry for -1 (no port): ``flags[dest]``
    works on port indices that may be -1. An anchorage is a queue off a port, not a berth."""
    return np.append(gaz.anchorage, False)


def ports(ix: VoyageIndex, gaz: Gazetteer, cfg: Config, anch: np.ndarray) -> dict:
    """Port-kind, near-sensitive and visit-darkness features per voyage."""
    origin, dest = ix.origin, ix.dest
    out = {"near_sensitive_h": _near_sensitive_h(ix, gaz, cfg)}
    out.update(_visit_dark_h(ix, cfg))
    out["dest_anchorage"] = anch[dest].astype(float)
    sens = gaz.sensitive
    out["origin_sensitive"] = np.where(origin >= 0, sens[np.maximum(origin, 0)], False).astype(float)
    out["dest_sensitive"] = np.where(dest >= 0, sens[np.maximum(dest, 0)], False).astype(float)
    return out


def _near_sensitive_h(ix: VoyageIndex, gaz: Gazetteer, cfg: Config) -> np.ndarray:
    """Hours within sensitive_near_km of a sensitive port that is neither origin nor destination."""
    reach = np.where(gaz.sensitive, gaz.radius_km + cfg.sensitive_near_km, -1.0)
    near_s, _ = gaz.in_reach(ix.lat[:-1], ix.lon[:-1], reach, key=f"sens{cfg.sensitive_near_km}")
    ni = np.flatnonzero(ix.no_gap & (near_s >= 0))
    nsv = ix.gidx[ni]
    ns = (near_s[ni] != ix.origin[nsv]) & (near_s[ni] != ix.dest[nsv])
    return np.bincount(nsv, weights=np.where(ns, ix.dt[ni], 0.0), minlength=ix.nv) / 3600.0


def _visit_dark_h(ix: VoyageIndex, cfg: Config) -> dict:
    """Longest AIS gap during the stays at either end (a dark stay at an anchorage, say), h."""
    visit = ix.visit
    in_visit = ix.same_track & (visit[:-1] >= 0) & (visit[:-1] == visit[1:]) & (ix.dt > cfg.gap_hours * 3600.0)
    vi = np.flatnonzero(in_visit)
    visit_dark = np.zeros(max(int(visit.max()) + 1, 1))
    if len(vi):
        np.maximum.at(visit_dark, visit[vi], ix.dt[vi])
    ov, dv = visit[ix.row_first], visit[ix.row_last]
    return {"origin_visit_dark_h": np.where(ov >= 0, visit_dark[np.maximum(ov, 0)], 0.0) / 3600.0,
            "dest_visit_dark_h": np.where(dv >= 0, visit_dark[np.maximum(dv, 0)], 0.0) / 3600.0}
