"""Per MMSI bucket: every row grouped by a hash of its MMSI (so each vessel's rows meet in one
pandas frame), validated by :func:`features.clean.validate` and tracked by the local engine's
own :func:`features.pipeline.split_tracks`; then the voyage features per bucket by
:func:`features.voyage_table.voyage_features`. Row accounting over the staged rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import schema as S
from ..clean import validate
from ..config import Config
from ..coverage import fix_keys, gap_keys
from ..gazetteer import Gazetteer
from ..io import track_positions_table
from ..pipeline import RowCounts, TrackResult, split_tracks
from ..tracks import epoch_us, group_starts
from ..voyage_table import empty_voyage_table, voyage_features
from .bridge import from_spark, mmsi_key, spark_type, to_spark, union, validate_fn, validated_schema, with_fields
from .output import Workspace
from .session import buckets
from .sources import FILE_ID, Files, Source, quoted, read_source

#: Columns the tracking stage adds for ``features``: the local TRACK_COLS plus the keys of
#: :func:`features.coverage.fix_keys`.
KEY_COLS = {"_cell": "long", "_bucket": "long", "_day": "long", "_next_dt_us": "long", "_presence": "boolean"}
TRACK_TYPES = {"track_no": "long", "step_km": "double", "near_port": "int", "port_idx": "int", "visit": "int",
               "voyage_no": "int"}
ID_TYPES = {"track_id": "string", "voyage_id": "string", "port_id": "string", "_visit_start": "boolean"}


def track_fn(gaz: Gazetteer, cfg: Config, mode: str, schema, validate_first: bool, now: pd.Timestamp):
    """Rows of whole vessels -> the same rows: accepted fixes (with ids for ``tracks``, with
    track columns and aggregation keys for ``features``), rejected and static rows."""
    def fn(pdf: pd.DataFrame) -> pd.DataFrame:
        pdf = from_spark(pdf)
        if validate_first:
            pdf = validate(pdf, cfg, now)
            pdf[S.REASON_COL] = pdf[S.REASON_COL].astype(object).where(pdf[S.REASON_COL].notna(), None)
        done = pdf[S.REASON_COL].notna().to_numpy()
        parts = [pdf[done]]
        if not done.all():
            rows = pdf[~done].reset_index(drop=True)
            acc, rej, static, visits = split_tracks(rows, gaz, cfg, keep_all=(mode == "tracks"))
            if mode == "tracks":
                out = track_positions_table(TrackResult(acc, visits, rej, static, RowCounts()), gaz)
                first = np.zeros(len(out), bool)
                first[visits["first_row"].to_numpy(np.int64)] = True
                out["_visit_start"] = first
            else:
                out = acc
                tid = np.cumsum(group_starts(acc["mmsi"].to_numpy(np.int64), acc["track_no"].to_numpy())) - 1
                keys = fix_keys(tid, epoch_us(acc["timestamp"]), acc["lat"].to_numpy(float),
                                acc["lon"].to_numpy(float), cfg)
                for k, v in keys.items():
                    out[f"_{k}"] = v
            parts = [out, rej, static] + parts
        frame = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True, sort=False)
        if len(frame) != len(pdf):  # a bug, never bad input
            raise AssertionError(f"tracking changed the row count of a bucket: {len(pdf)} -> {len(frame)}")
        return to_spark(frame, schema)
    return fn


def sort_fixes(pdf: pd.DataFrame) -> pd.DataFrame:
    """A shuffle loses row order: back to the local engine's (mmsi, track, time, lat, lon).
    Accepted fixes are unique in (mmsi, time, lat, lon), so this order is total."""
    order = np.lexsort((pdf["lon"].to_numpy(float), pdf["lat"].to_numpy(float), epoch_us(pdf["timestamp"]),
                        pdf["track_no"].to_numpy(), pdf["mmsi"].to_numpy(np.int64)))
    return pdf.take(order).reset_index(drop=True)


GAP_COLS = {"_g_cell": "long", "_g_first_b": "long", "_g_last_b": "long", "_g_day": "long", "_track_no": "long"}


def voyage_fn(gaz: Gazetteer, cfg: Config, grid_bc, schema):
    def fn(pdf: pd.DataFrame) -> pd.DataFrame:
        pos = sort_fixes(from_spark(pdf))
        v = voyage_features(pos, gaz, cfg, grid_bc.value)
        has = v["lg_start"].notna().to_numpy()
        g = gap_keys(epoch_us(v["lg_start"].fillna(pd.Timestamp(0, tz="UTC"))),
                     epoch_us(v["lg_end"].fillna(pd.Timestamp(0, tz="UTC"))),
                     np.nan_to_num(v["lg_start_lat"].to_numpy(float)), np.nan_to_num(v["lg_start_lon"].to_numpy(float)), cfg)
        for k, a in g.items():
            v[f"_g_{k}"] = pd.Series(np.where(has, a, 0), dtype="Int64").where(pd.Series(has))
        # track_id is "<mmsi>-<track_no>" (track_no may be -1): the sort key of the output
        v["_track_no"] = v["track_id"].str.split("-", n=1).str[1].astype("int64")
        return to_spark(v, schema)
    return fn


def voyage_schema():
    from pyspark.sql import types as T
    empty = empty_voyage_table()
    schema = T.StructType([T.StructField(c, spark_type(empty[c].dtype)) for c in empty.columns])
    return with_fields(schema, GAP_COLS)


def stage_rows(spark, sources: list[Source], gaz: Gazetteer, cfg: Config, mode: str, ws: Workspace,
               files: Files):
    """Read, validate and track every row, bucketed by MMSI, into the workspace: the stages
    after read back only the columns they need (cheaper than caching every column).

    One source (the usual case: files of one format and columns) is validated inside the
    tracking function, saving a JVM/Python round trip; several are validated one by one first
    so that their columns have one type each before they are put together."""
    from pyspark.sql import functions as F
    extra = TRACK_TYPES | KEY_COLS if mode == "features" else ID_TYPES
    n = buckets(spark)
    now = pd.Timestamp.now(tz="UTC")  # the run's start, as the local engine's validation takes it
    raws = [read_source(spark, src, files) for src in sources]
    if len(raws) == 1:
        rows = raws[0]
        schema = with_fields(validated_schema(rows.schema), extra)
        mmsi = mmsi_key(rows, F)
        key = F.when(mmsi.isNotNull(), F.xxhash64(mmsi))
    else:
        parts = []
        for r in raws:
            sch = validated_schema(r.schema)
            parts.append(r.mapInPandas(validate_fn(sch, cfg, now), sch))
        rows = union(parts)
        schema = with_fields(rows.schema, extra)
        key = F.when(F.col(S.REASON_COL).isNull(), F.xxhash64("mmsi"))
    # Rows without a vessel (rejected already) are spread by origin, not piled onto one bucket.
    key = F.pmod(F.coalesce(key, F.xxhash64(FILE_ID, S.LINE_COL)), F.lit(n))
    rows.groupBy(key.alias("_bucket_key")).applyInPandas(track_fn(gaz, cfg, mode, schema, len(raws) == 1, now), schema) \
        .write.parquet(ws.path("staged"))
    return spark.read.parquet(ws.path("staged"))


def row_counts(staged) -> RowCounts:
    from pyspark.sql import functions as F
    kind = (F.when(F.col(S.REASON_COL).isNotNull(), F.col(S.REASON_COL))
            .when(F.col(S.STATIC_COL), F.lit("static")).otherwise(F.lit("position")))
    got = {r["k"]: int(r["count"]) for r in staged.groupBy(kind.alias("k")).count().collect()}
    pos, static = got.pop("position", 0), got.pop("static", 0)
    return RowCounts(read=pos + static + sum(got.values()), positions=pos, static=static, rejected=got)


def accepted(staged):
    from pyspark.sql import functions as F
    return staged.where(F.col(S.REASON_COL).isNull() & ~F.coalesce(F.col(S.STATIC_COL), F.lit(False)))


def rejected_rows(spark, staged, drop: Sequence[str], files: Files):
    from pyspark.sql import functions as F
    r = staged.where(F.col(S.REASON_COL).isNotNull())
    r = r.join(F.broadcast(files.frame(spark).drop("_fkey")), FILE_ID, "left")
    gone = set(drop) | {S.STATIC_COL, FILE_ID}
    cols = [c for c in r.columns if c not in gone]
    front = [c for c in (S.REASON_COL, S.DETAIL_COL, S.FILE_COL, S.LINE_COL, "raw") if c in cols]
    names = {S.REASON_COL: "reason", S.DETAIL_COL: "detail", S.FILE_COL: "file", S.LINE_COL: "line"}
    return r.select(*[quoted(F, c).alias(names.get(c, c)) for c in front + [c for c in cols if c not in front]])


