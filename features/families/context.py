"""Descriptive columns: identity, times, ports and the evidence reasons quote. Not model
inputs (``CONTEXT`` in :mod:`features.catalogue`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..flags import flag_of
from ..gazetteer import Gazetteer
from ..ids import str_array, track_ids_arrow, voyage_ids
from ..tracks import utc_times
from .dark_calls import DarkCalls
from .declared import Declared
from .gaps import Gaps
from .index import VoyageIndex

#: Filled from all vessels' traffic afterwards (:func:`features.pipeline.add_live_context`).
LIVE_CONTEXT = ("ctx_neighbour_vessel_h", "ctx_neighbours_per_h", "ctx_cell_day_gap_rate", "ctx_cell_day_interval_s")


def context(ix: VoyageIndex, gaz: Gazetteer, usual_interval: np.ndarray, gaps: Gaps, calls: DarkCalls,
            decl: Declared) -> dict:
    """Descriptive columns per voyage, as arrays (one dict: adding columns to a frame one at
    a time costs ~1 ms each on the REST path)."""
    rf, rl, t_us, put = ix.row_first, ix.row_last, ix.t.t_us, ix.put
    vm = ix.mmsi[rf]
    track_id = track_ids_arrow(vm, ix.track_no[rf])
    ids = gaz.ids

    def port_ids(idx):
        return str_array(np.where(idx >= 0, ids[np.maximum(idx, 0)], None))

    def gap_port_ids(idx):
        return str_array(put(np.where(idx >= 0, ids[np.maximum(idx, 0)], None), None, object))

    return {
        "voyage_id": voyage_ids(track_id, t_us[rf]), "mmsi": vm, "track_id": str_array(track_id),
        "name": _text_at(ix.pos, "name", rl), "imo": _text_at(ix.pos, "imo", rl),
        "callsign": _text_at(ix.pos, "callsign", rl), "flag": flag_of(vm).array,
        "ship_type": _text_at(ix.pos, "ship_type", rl),
        "start": utc_times(t_us[rf]), "end": utc_times(t_us[rl]),
        "origin_port": port_ids(ix.origin), "destination_port": port_ids(ix.dest),
        # The departure was seen when the voyage's first interval is not a gap; likewise arrival.
        "origin_exit_observed": _observed(ix.origin, ~ix.gap[ix.gst]),
        "dest_entry_observed": _observed(ix.dest, ~ix.gap[ix.gend]),
        "declared_destination": str_array(decl.text),
        "declared_ports": str_array(decl.ports), "declared_reading": str_array(decl.reading),
        "trip_end_port": port_ids(decl.trip_end),
        "usual_interval_s": usual_interval[ix.vtid],
        "lg_start": utc_times(put(t_us[ix.la].astype("datetime64[us]"), _NAT, "datetime64[us]")),
        "lg_end": utc_times(put(t_us[ix.lb].astype("datetime64[us]"), _NAT, "datetime64[us]")),
        "lg_start_lat": put(ix.lat[ix.la]), "lg_start_lon": put(ix.lon[ix.la]),
        "lg_end_lat": put(ix.lat[ix.lb]), "lg_end_lon": put(ix.lon[ix.lb]),
        "lg_start_port": gap_port_ids(gaps.start_port),
        "lg_start_sensitive_port": gap_port_ids(gaps.start_sensitive_port),
        "dc_port": port_ids(calls.port), "dc_gap_h": calls.gap_h, "dc_port_spare_h": calls.spare_h,
        **{c: np.full(ix.nv, np.nan) for c in LIVE_CONTEXT},
    }


_NAT = np.datetime64("NaT", "us")


def _observed(port: np.ndarray, seen: np.ndarray) -> pd.arrays.BooleanArray:
    """``seen`` where the voyage has that port (index >= 0), else missing: the nullable boolean
    array built directly (``pd.array(..., dtype="boolean")`` infers from objects, ~15 us).

    >>> _observed(np.array([3, -1]), np.array([True, True])).tolist()
    [True, <NA>]
    """
    return pd.arrays.BooleanArray(np.asarray(seen, bool) & (port >= 0), port < 0)


def _text_at(pos: pd.DataFrame, col: str, rows: np.ndarray):
    if col not in pos:
        return str_array(np.full(len(rows), None, dtype=object))
    # Pick the rows first: converting a whole categorical column to objects costs seconds.
    return str_array(pos[col].iloc[rows].to_numpy(dtype=object, na_value=None))
