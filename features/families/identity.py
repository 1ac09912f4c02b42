"""Identity: several ships under one MMSI, and two of them reporting at once.

A track counts as a ship only with ``Config.ship_track_min_fixes`` fixes: GPS interference
throws the odd fix kilometres off, and a few of those chain into a short second track that is
no second hull.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config
from ..tracks import group_starts
from .index import VoyageIndex

FEATURES = [
    ("n_tracks_mmsi", "count", "tracks (ships) seen under this MMSI, of ship_track_min_fixes fixes or more"),
    ("concurrent_tracks", "count", "other tracks of this MMSI (of ship_track_min_fixes fixes or more) reporting during the "
                                   "voyage: two ships under one identity at once"),
]


def identity(ix: VoyageIndex, cfg: Config) -> dict:
    n, mmsi, rf = len(ix.mmsi), ix.mmsi, ix.row_first
    # Rows are grouped by MMSI, then track: count each MMSI's tracks long enough to be a ship.
    tfirst = np.flatnonzero(ix.tstart)
    tlast = np.append(tfirst[1:], n) - 1
    ship = (tlast - tfirst + 1) >= cfg.ship_track_min_fixes
    mfirst = np.flatnonzero(group_starts(mmsi))
    per_mmsi = np.add.reduceat(ship.astype(np.int64), np.searchsorted(tfirst, mfirst)) if n else np.zeros(0, np.int64)
    n_tracks = np.maximum(per_mmsi, 1)[np.searchsorted(mfirst, rf, side="right") - 1].astype(float)
    # Other ships' tracks of the same MMSI whose time span overlaps the voyage (few MMSIs have any).
    conc = np.zeros(ix.nv)
    multi = np.flatnonzero(n_tracks > 1)
    if len(multi):
        spans = pd.DataFrame({"mmsi": mmsi[tfirst], "tid": np.arange(len(tfirst)), "t0": ix.t[tfirst], "t1": ix.t[tlast]})
        spans = spans[ship]
        vv = pd.DataFrame({"v": multi, "mmsi": mmsi[rf[multi]], "vtid": ix.vtid[multi],
                           "s": ix.start_s[multi], "e": ix.end_s[multi]}).merge(spans, on="mmsi")
        hit = vv[(vv["tid"] != vv["vtid"]) & (vv["t0"] <= vv["e"]) & (vv["t1"] >= vv["s"])]
        conc[:] = np.bincount(hit["v"].to_numpy(), minlength=ix.nv)
    return {"n_tracks_mmsi": n_tracks, "concurrent_tracks": conc}
