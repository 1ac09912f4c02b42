"""Tracks with no voyage to score: a single position, or every fix inside one port visit.

Such a track has no evidence either way, which is not the same as low risk: the watchlist
lists it as ``insufficient data`` with this module's reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .flags import flag_of
from .gazetteer import Gazetteer
from .ids import track_ids
from .tracks import group_starts

#: Columns of :func:`tracks_without_voyage`.
NO_VOYAGE_COLUMNS = ["mmsi", "track_id", "name", "flag", "n_positions", "port_id", "last_time", "last_lat",
                     "last_lon", "reasons_text"]
NO_VOYAGE_REASON = "no voyage in the data"


def tracks_without_voyage(positions: pd.DataFrame, voyages: pd.DataFrame, gaz: Gazetteer | None) -> pd.DataFrame:
    """One row per track that has no voyage: a single position, or every fix inside one port
    visit. Such a track has no evidence either way, which is not the same as low risk.

    ``positions``: accepted fixes sorted by (mmsi, track_no, timestamp) with ``visit`` and
    ``port_idx`` (:func:`features.pipeline.tracks_from_raw`). Columns :data:`NO_VOYAGE_COLUMNS`:
    ``n_positions`` (count), ``port_id`` (the port it stayed in, else empty), ``last_time``
    (UTC), ``last_lat``/``last_lon`` (deg) of its last fix, and a plain-language reason."""
    if len(positions) == 0:
        return empty_no_voyage()
    mmsi = positions["mmsi"].to_numpy(np.int64)
    track_no = positions["track_no"].to_numpy(np.int64)
    first = np.flatnonzero(group_starts(mmsi, track_no))
    last = np.append(first[1:], len(mmsi)) - 1
    track_id = track_ids(mmsi[first], track_no[first])
    keep = ~track_id.isin(set(voyages["track_id"])).to_numpy() if len(voyages) else np.ones(len(first), bool)
    first, last, track_id = first[keep], last[keep], track_id[keep].to_numpy(dtype=object)
    n_pos = last - first + 1
    visit = positions["visit"].to_numpy() if "visit" in positions else np.full(len(mmsi), -1)
    port_idx = positions["port_idx"].to_numpy() if "port_idx" in positions else np.full(len(mmsi), -1)
    # Every fix in one visit: the visit number is the same (and set) at both ends of the track.
    in_port = (visit[first] >= 0) & (visit[first] == visit[last])
    port = np.where(in_port, port_idx[last], -1)
    ids = gaz.ids if gaz is not None else np.zeros(0, dtype=object)
    port_id = np.array([ids[p] if 0 <= p < len(ids) else None for p in port], dtype=object)
    port_name = np.array([gaz.short_name(int(p)) if gaz is not None and 0 <= p < len(ids) else "a port" for p in port],
                         dtype=object)
    reason = np.where(n_pos == 1, f"{NO_VOYAGE_REASON}: only one position",
                      np.where(in_port, [f"{NO_VOYAGE_REASON}: never left port ({k} positions at {p})"
                                         for k, p in zip(n_pos, port_name)],
                               f"{NO_VOYAGE_REASON}: too few positions or never left port"))
    name = (positions["name"].iloc[last].to_numpy(dtype=object, na_value=None) if "name" in positions
            else np.full(len(last), None, dtype=object))
    return pd.DataFrame({
        "mmsi": mmsi[last], "track_id": track_id, "name": name, "flag": flag_of(mmsi[last]).to_numpy(dtype=object),
        "n_positions": n_pos, "port_id": port_id, "last_time": positions["timestamp"].iloc[last].to_numpy(),
        "last_lat": positions["lat"].to_numpy(float)[last], "last_lon": positions["lon"].to_numpy(float)[last],
        "reasons_text": reason.astype(object)})


def empty_no_voyage() -> pd.DataFrame:
    """The no-voyage table without a row (columns :data:`NO_VOYAGE_COLUMNS`)."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in NO_VOYAGE_COLUMNS})
