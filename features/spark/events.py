"""``darkvoyage events --engine spark``: the local engine's events, found where they can be.

1. per MMSI bucket (one pass over its fixes, :func:`events_fn`): every event one vessel's own
   fixes show (:func:`features.events.vessel_events`: gaps, port visits, loitering, possible
   dark port calls, shared MMSIs, spoofing), and what the cross-vessel kinds need of it: its
   dark and loitering episodes, its slow fixes resampled on the encounter grid, its tracks'
   ends. The gaps' reception context reads every vessel's traffic as sums Spark aggregates
   first (:class:`features.coverage.TrafficSums`: presences per cell and hour, intervals per
   cell and day), broadcast to the buckets; the GPS interference cells come from every
   vessel's rejected jumps, gathered (few rows).
2. on the driver, from the gathered episodes, resampled fixes and track ends (tens of
   thousands of rows, not the fixes): encounters and dark rendezvous, paired by space-time
   cells and their neighbours as the local engine pairs them (so vessels of different
   buckets meet), and identity changes linked from the ends.

Every function is the local engine's, over the same rows in the same order, so the event
table equals the local one (tested on the real files and a simulated month).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import schema as S
from ..config import Config
from ..coverage import CoverageGrid, TrafficSums
from ..events import pair_events, sorted_events, vessel_events
from ..events.encounters import BIN_TYPES, resampled
from ..events.frame import EVENT_KINDS, EVENT_TYPES, FIXES_INPUTS, fixes_of, typed_events
from ..events.gaps import find_gaps
from ..events.rendezvous import EPISODE_ORDER, EPISODE_TYPES, episodes
from ..gazetteer import Gazetteer
from ..identity import change_events, links_of_ends
from ..identity.ends import ENDS_TYPES, TrackEnds, ends_frame, track_ends
from .bridge import from_spark, to_spark, with_fields
from .context import interval_sums
from .scoring import visits_of
from .session import mmsi_bucket
from .stages import sort_fixes

#: The staged columns a bucket's events read.
INPUTS = (*FIXES_INPUTS, "port_idx")


def events_schema():
    """One row per event, episode, resampled fix or track end, told apart by ``part``; the
    other parts' columns null (a name shared by two parts has one type in both)."""
    from pyspark.sql import types as T
    return with_fields(T.StructType([]), {"part": "string", **EVENT_TYPES, **EPISODE_TYPES, **BIN_TYPES, **ENDS_TYPES})


def events_fn(gaz: Gazetteer, cfg: Config, coverage: CoverageGrid | None, jumps: pd.DataFrame, traffic_bc, schema):
    """Fixes of whole MMSIs -> their own events, episodes, resampled slow fixes and track ends."""
    def fn(pdf: pd.DataFrame) -> pd.DataFrame:
        pos = sort_fixes(from_spark(pdf))
        fx = fixes_of(pos, cfg)
        g = find_gaps(fx, cfg)
        parts = {"event": vessel_events(fx, g, visits_of(pos, cfg), gaz, cfg, coverage, EVENT_KINDS, jumps,
                                        traffic_bc.value),
                 "episode": episodes(fx, g, cfg), "bin": resampled(fx, gaz, cfg), "ends": ends_frame(track_ends(fx))}
        return pd.concat([to_spark(x.assign(part=k), schema) for k, x in parts.items()], ignore_index=True)
    return fn


def traffic_sums(fixes, cfg: Config) -> TrafficSums:
    """Every vessel's presences per cell and hour and intervals per cell and day, gathered
    (cells x hours: small)."""
    from pyspark.sql import functions as F
    pres = fixes.where("_presence").groupBy("_cell", "_bucket").agg(F.count(F.lit(1)).alias("n")).toPandas()
    pres = pres.sort_values(["_cell", "_bucket"], kind="stable")
    days = interval_sums(fixes, cfg).toPandas()
    return TrafficSums({"cell": pres["_cell"].to_numpy(np.int64), "bucket": pres["_bucket"].to_numpy(np.int64),
                        "n": pres["n"].to_numpy(np.int64)},
                       {"cell": days["_cell"].to_numpy(np.int64), "day": days["_day"].to_numpy(np.int64),
                        "n": days["_n"].to_numpy(np.int64), "n_gap": days["_ng"].to_numpy(np.int64)})


def find_events(spark, staged, fixes, gaz: Gazetteer, cfg: Config, coverage: CoverageGrid | None) -> pd.DataFrame:
    """The event table of the staged rows (``fixes``: the accepted ones), as the local
    engine's :func:`features.events.detect_events` gives it."""
    from pyspark.sql import functions as F
    jumps = staged.where(F.col(S.REASON_COL) == S.JUMP).select("mmsi", "timestamp", "lat", "lon").toPandas()
    jumps["timestamp"] = pd.to_datetime(jumps["timestamp"], utc=True).dt.as_unit("us")
    traffic_bc = spark.sparkContext.broadcast(traffic_sums(fixes, cfg))
    schema = events_schema()
    try:
        rows = fixes.select(*[c for c in INPUTS if c in staged.columns]) \
            .groupBy(mmsi_bucket(spark).alias("_bucket_key")) \
            .applyInPandas(events_fn(gaz, cfg, coverage, jumps, traffic_bc, schema), schema).toPandas()
    finally:
        traffic_bc.destroy()
    rows = from_spark(rows)
    part = rows["part"].to_numpy(dtype=object)
    ev = typed_events(rows[part == "event"])
    ep = _sorted(rows[part == "episode"], EPISODE_TYPES, EPISODE_ORDER)
    bins = _sorted(rows[part == "bin"], BIN_TYPES, ["mmsi", "track_no", "bin"])
    links = links_of_ends(TrackEnds.from_frame(rows.loc[part == "ends", list(ENDS_TYPES)].reset_index(drop=True)), cfg)
    return sorted_events([ev, pair_events(ep, bins, gaz, cfg), change_events(links, gaz)])


def _sorted(rows: pd.DataFrame, types: dict[str, str], by: list[str]) -> pd.DataFrame:
    """A gathered part in the local engine's order and dtypes."""
    dtype = {"long": np.int64, "double": float, "boolean": bool}
    out = pd.DataFrame({c: rows[c].to_numpy(dtype=dtype[t]) for c, t in types.items()})
    return out.sort_values(by, kind="stable").reset_index(drop=True)
