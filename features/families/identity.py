"""Identity: several ships under one MMSI, and two of them reporting at once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..tracks import group_starts
from .index import VoyageIndex

FEATURES = [
    ("n_tracks_mmsi", "count", "tracks (ships) seen under this MMSI"),
    ("concurrent_tracks", "count", "other tracks of this MMSI reporting during the voyage: two ships under one identity at once"),
]


def identity(ix: VoyageIndex) -> dict:
    n, mmsi, rf = len(ix.mmsi), ix.mmsi, ix.row_first
    # Rows are grouped by MMSI: the last row of each MMSI holds its highest track number.
    mfirst = np.flatnonzero(group_starts(mmsi))
    mlast = np.append(mfirst[1:], n) - 1
    n_tracks = (ix.track_no[mlast] + 1)[np.searchsorted(mfirst, rf, side="right") - 1].astype(float)
    # Other tracks of the same MMSI whose time span overlaps the voyage (few MMSIs have any).
    conc = np.zeros(ix.nv)
    multi = np.flatnonzero(n_tracks > 1)
    if len(multi):
        tfirst = np.flatnonzero(ix.tstart)
        tlast = np.append(tfirst[1:], n) - 1
        spans = pd.DataFrame({"mmsi": mmsi[tfirst], "tid": np.arange(len(tfirst)), "t0": ix.t[tfirst], "t1": ix.t[tlast]})
        vv = pd.DataFrame({"v": multi, "mmsi": mmsi[rf[multi]], "vtid": ix.vtid[multi],
                           "s": ix.start_s[multi], "e": ix.end_s[multi]}).merge(spans, on="mmsi")
        hit = vv[(vv["tid"] != vv["vtid"]) & (vv["t0"] <= vv["e"]) & (vv["t1"] >= vv["s"])]
        conc[:] = np.bincount(hit["v"].to_numpy(), minlength=ix.nv)
    return {"n_tracks_mmsi": n_tracks, "concurrent_tracks": conc}
