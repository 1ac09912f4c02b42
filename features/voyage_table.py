"""One row per voyage: identity, times, ports and the behaviour features the model sees.

The families (:mod:`features.families`) each compute a few columns over one shared index of
the fixes; this module runs them in order and puts the table together, columns as listed
in :mod:`features.catalogue`. Works on fixes sorted by (track, time) of one vessel or of many
at once: every aggregation is a ``reduceat`` over contiguous voyages, never a Python loop
over fixes.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from .catalogue import CONTEXT, FEATURE_NAMES
from .config import Config
from .coverage import CoverageGrid
from .families import dark_calls, declared, edges, gaps, identity, loitering, motion, out_and_back, ports
from .families.context import LIVE_CONTEXT, context
from .families.index import VoyageIndex
from .frames import frame_of
from .gazetteer import Gazetteer


def voyage_features(pos: pd.DataFrame, gaz: Gazetteer, cfg: Config,
                    coverage: CoverageGrid | None = None) -> pd.DataFrame:
    """Voyage table from tracked fixes.

    ``pos``: fixes sorted by (mmsi, track_no, timestamp) with columns mmsi, track_no,
    timestamp, lat, lon, near_port, port_idx, visit, voyage_no (see :mod:`features.pipeline`)
    and optionally sog, cog, step_km and identity columns. ``coverage``: the reference grid;
    without one the coverage-grid features are NaN. Returns one row per voyage, columns
    ``CONTEXT`` then ``FEATURE_NAMES``.
    """
    ix = VoyageIndex.build(pos, cfg)
    if ix is None:
        return empty_voyage_table()
    usual_interval = motion.usual_interval_s(ix, cfg)
    out = motion.motion(ix)
    out.update(gaps.gap_counts(ix, cfg))
    lg = gaps.longest_gap(ix, gaz, usual_interval, coverage)
    out.update(lg.features)
    speed_kn = motion.usual_speed_kn(ix, cfg)
    calls = dark_calls.dark_calls(ix, gaz, cfg, speed_kn)
    out.update(calls.features)
    out.update(out_and_back.out_and_back(ix, cfg, out["dark_share"], out["dc_sensitive_feasible"]))
    out.update(loitering.loitering(ix, cfg, speed_kn))
    anch = ports.anchorage_flags(gaz)
    out.update(ports.ports(ix, gaz, cfg, anch))
    decl = declared.declared(ix, gaz, anch, cfg)
    out.update(decl.features)
    out.update(edges.edges(ix, gaz))
    out.update(identity.identity(ix, cfg))
    cols = context(ix, gaz, usual_interval, lg, calls, decl)
    # The features as one float block beside the context columns: building ~60 float columns
    # one by one costs more than the families that computed them, on a REST track.
    block = np.empty((ix.nv, len(FEATURE_NAMES)), order="F")  # column by column, as pandas keeps it
    for k, name in enumerate(FEATURE_NAMES):
        block[:, k] = out[name]
    return frame_of({c: cols[c] for c, _, _ in CONTEXT}, block, FEATURE_NAMES)


def empty_voyage_table() -> pd.DataFrame:
    """The voyage table with no rows, every column typed (a new frame each call)."""
    return _empty_voyage_table().copy(deep=False)


@functools.cache
def _empty_voyage_table() -> pd.DataFrame:
    # ~90 typed empty columns cost ~4 ms to build: a REST track without a voyage paid it.
    cols = {c: pd.Series(dtype="str") for c, _, _ in CONTEXT}
    cols["mmsi"] = pd.Series(dtype="int64")
    for c in ("start", "end", "lg_start", "lg_end"):
        cols[c] = pd.Series(dtype="datetime64[us, UTC]")
    for c in ("lg_start_lat", "lg_start_lon", "lg_end_lat", "lg_end_lon", "dc_gap_h", "dc_port_spare_h", *LIVE_CONTEXT):
        cols[c] = pd.Series(dtype="float64")
    for c in ("origin_exit_observed", "dest_entry_observed"):
        cols[c] = pd.Series(dtype="boolean")
    for c in FEATURE_NAMES:
        cols[c] = pd.Series(dtype="float64")
    return pd.DataFrame(cols)
