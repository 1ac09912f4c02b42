"""Out-and-back: a voyage that comes back to where it started, the shape of a call hidden in
the middle of it."""

from __future__ import annotations

import numpy as np

from ..config import Config
from ..geo import haversine_km, planar_km
from .index import VoyageIndex

FEATURES = [
    ("oab", "0/1", "out-and-back: returns to its origin port, or ends within out_and_back_km of its start after going farther"),
    ("oab_max_excursion_km", "km", "farthest fix from the voyage start, for out-and-back voyages (0 otherwise)"),
    ("oab_dark_share", "fraction", "dark_share of an out-and-back voyage (0 otherwise)"),
    ("oab_dark_sensitive", "0/1", "out-and-back whose gaps fit a call at a sensitive port"),
]


def out_and_back(ix: VoyageIndex, cfg: Config, dark_share: np.ndarray, dc_sensitive_feasible: np.ndarray) -> dict:
    """Back at the origin port, or (ports unknown) back within out_and_back_km of the start
    after going farther away. The excursion is measured on those candidate voyages only."""
    lat, lon, rf, rl = ix.lat, ix.lon, ix.row_first, ix.row_last
    end_gap_km = haversine_km(lat[rf], lon[rf], lat[rl], lon[rl])
    same_port = (ix.origin >= 0) & (ix.origin == ix.dest)
    portless_back = (ix.origin < 0) & (ix.dest < 0) & (end_gap_km <= cfg.out_and_back_km)
    cand = np.flatnonzero(same_port | portless_back)
    excursion = np.zeros(ix.nv)
    if len(cand):
        lens = ix.gend[cand] - ix.gst[cand] + 1
        rows = np.repeat(ix.gst[cand] - np.cumsum(np.append(0, lens[:-1])), lens) + np.arange(lens.sum())
        owner = np.repeat(cand, lens)
        dist = planar_km(lat[rf[owner]], lon[rf[owner]], lat[rows + 1], lon[rows + 1])
        np.maximum.at(excursion, owner, np.where(ix.valid[rows], dist, 0.0))
    oab = same_port | (portless_back & (excursion > cfg.out_and_back_km))
    return {"oab": oab.astype(float), "oab_max_excursion_km": np.where(oab, excursion, 0.0),
            "oab_dark_share": np.where(oab, dark_share, 0.0),
            "oab_dark_sensitive": (oab & (dc_sensitive_feasible > 0)).astype(float)}
