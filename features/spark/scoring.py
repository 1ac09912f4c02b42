"""Scoring on Spark: the scorer (which holds the model) is broadcast once and applied to the
voyage table per MMSI bucket; tracks without a voyage are found per bucket by
:func:`features.no_voyage.tracks_without_voyage`; the fixes and port visits of the vessels a
watchlist lists are collected for its maps. Only what is small comes to the driver: the
scored voyage table, the tracks without a voyage and the listed vessels' fixes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..config import Config
from ..gazetteer import Gazetteer
from ..no_voyage import tracks_without_voyage
from ..pipeline import RowCounts, TrackResult
from ..tracks import epoch_us, group_starts
from .bridge import from_spark, to_spark, with_fields
from .stages import sort_fixes

#: What a scorer adds to the voyage table. ``reasons`` (a list of dicts per voyage) crosses
#: from the workers as JSON text and is decoded on the driver.
SCORE_TYPES = {"risk": "double", "level": "string", "reasons": "string", "reasons_text": "string",
               "partial": "string"}
NO_VOYAGE_TYPES = {"mmsi": "long", "track_id": "string", "name": "string", "flag": "string", "n_positions": "long",
                   "port_id": "string", "last_time": "timestamp", "last_lat": "double", "last_lon": "double",
                   "reasons_text": "string"}
#: The fixes a watchlist's maps draw (:mod:`serving.export`).
MAP_COLUMNS = ("mmsi", "track_no", "timestamp", "lat", "lon", "step_km", "visit", "port_idx")


def track_id(F):
    """``<mmsi>-<track_no>``, as the local engine spells a track."""
    return F.concat_ws("-", F.col("mmsi").cast("string"), F.col("track_no").cast("string"))


def scored_schema(voyage_schema):
    """The voyage table's schema (every column nullable: pandas' NaN crosses as null) + scores."""
    from pyspark.sql import types as T
    fields = [T.StructField(f.name, f.dataType, True) for f in voyage_schema.fields]
    return with_fields(T.StructType(fields), SCORE_TYPES)


def score_fn(scorer_bc, columns: list[str], schema):
    """Voyages of whole vessels -> the same rows scored. ``columns``: the voyage table's, in
    the local engine's order (the scorer sees exactly what it sees locally)."""
    def fn(pdf: pd.DataFrame) -> pd.DataFrame:
        pdf = from_spark(pdf)
        v = scorer_bc.value(pdf[columns].reset_index(drop=True))
        v["reasons"] = [json.dumps(r) for r in v["reasons"]]
        for c in pdf.columns:
            if c not in v:  # sort keys beside the table
                v[c] = pdf[c].to_numpy()
        return to_spark(v, schema)
    return fn


def decode_scored(pdf: pd.DataFrame) -> pd.DataFrame:
    """The scored voyages as collected -> as the local engine's scorer leaves them."""
    pdf = from_spark(pdf)
    pdf["reasons"] = [json.loads(s) for s in pdf["reasons"]]
    return pdf


def no_voyage_schema():
    from pyspark.sql import types as T
    return with_fields(T.StructType([]), NO_VOYAGE_TYPES)


def no_voyage_fn(gaz: Gazetteer, schema):
    """Fixes of whole tracks that have no voyage -> one row per track (the local function)."""
    def fn(pdf: pd.DataFrame) -> pd.DataFrame:
        pos = sort_fixes(from_spark(pdf))
        nv = tracks_without_voyage(pos, pd.DataFrame({"track_id": pd.Series(dtype=object)}), gaz)
        return to_spark(nv, schema)
    return fn


def visits_of(pos: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """The port visits of fixes sorted by (mmsi, track, time) with ``visit``/``port_idx``, as
    :func:`features.voyages.port_visits` tables them (``first_row`` indexes ``pos``): a visit
    is a run of fixes of one track with one visit number; its entry (exit) is observed when
    the fix before (after) is in the same track and less than a gap away."""
    n = len(pos)
    if n == 0:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in ("tid", "port_idx", "first_row", "last_row")})
    tstart = group_starts(pos["mmsi"].to_numpy(np.int64), pos["track_no"].to_numpy(np.int64))
    visit = pos["visit"].to_numpy(np.int64)
    inside = visit >= 0
    start = inside & (tstart | np.r_[True, visit[1:] != visit[:-1]])
    nxt = np.r_[start[1:] | ~inside[1:], True]  # the next row starts another run, or is outside
    vs, ve = np.flatnonzero(start), np.flatnonzero(inside & nxt)
    t_s = epoch_us(pos["timestamp"]) / 1e6
    gap_s = cfg.gap_hours * 3600.0
    prev_ok = ~tstart[vs] & (t_s[vs] - t_s[np.maximum(vs - 1, 0)] <= gap_s)
    after = np.minimum(ve + 1, max(n - 1, 0))
    next_ok = (ve + 1 < n) & ~tstart[after] & (t_s[after] - t_s[ve] <= gap_s)
    tid = np.cumsum(tstart) - 1
    return pd.DataFrame({"tid": tid[vs], "port_idx": pos["port_idx"].to_numpy(np.int64)[vs],
                         "first_row": vs, "last_row": ve, "arrival_s": t_s[vs], "departure_s": t_s[ve],
                         "entry_observed": prev_ok, "exit_observed": next_ok})


def listed_tracks(spark, fixes, track_ids, cfg: Config) -> TrackResult:
    """The fixes and port visits of the tracks ``track_ids`` only, collected to the driver
    (what :mod:`serving.export` draws on the watchlist's maps)."""
    from pyspark.sql import functions as F
    ids = spark.createDataFrame(pd.DataFrame({"track_id": pd.Series(list(track_ids), dtype=object)}))
    cols = [c for c in MAP_COLUMNS if c in fixes.columns]
    pdf = fixes.withColumn("track_id", track_id(F)).join(F.broadcast(ids), "track_id", "left_semi").select(*cols).toPandas()
    pos = sort_fixes(from_spark(pdf))
    none = pd.DataFrame()
    return TrackResult(pos, visits_of(pos, cfg), none, none, RowCounts())


def identity_schema():
    """One row per track (:data:`features.identity.ends.ENDS_TYPES`) or per hull event
    (:data:`features.identity.HULL_TYPES`), told apart by ``part``; the other's columns null."""
    from pyspark.sql import types as T
    from ..identity import HULL_TYPES
    from ..identity.ends import ENDS_TYPES
    return with_fields(T.StructType([]), {"part": "string", **ENDS_TYPES, **HULL_TYPES})


def identity_fn(cfg: Config, schema, cells: np.ndarray):
    """Fixes of whole MMSIs -> how each track begins and ends (``part`` "ends":
    :func:`features.identity.ends.track_ends`) and their hull events (``part`` "hull":
    :func:`features.identity.hull_events`, with the GPS interference ``cells`` the driver found
    from every vessel's rejected jumps), from one pass over the fixes; the identity links are
    found on the driver from the ends."""
    def fn(pdf: pd.DataFrame) -> pd.DataFrame:
        from ..events.frame import fixes_of
        from ..identity import hull_events
        from ..identity.ends import ends_frame, track_ends
        fx = fixes_of(sort_fixes(from_spark(pdf)), cfg)
        parts = (ends_frame(track_ends(fx)).assign(part="ends"), hull_events(fx, cfg, cells=cells).assign(part="hull"))
        return pd.concat([to_spark(x, schema) for x in parts], ignore_index=True)
    return fn
