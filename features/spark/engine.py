"""The engine interface (:class:`features.engine.Engine`) on Spark: the local engine's
per-vessel functions, distributed by MMSI bucket.

1. every row is read (:mod:`.sources`), grouped by MMSI bucket, validated and tracked by the
   local engine's own functions (:mod:`.stages`), and staged as Parquet in a workspace;
2. ``features``: the coverage grid and the live context are Spark aggregations and joins
   (:mod:`.context`), the voyage features are the local ``voyage_features`` per bucket;
3. ``score``: the scorer is broadcast and applied per bucket, tracks without a voyage are
   found per bucket (:mod:`.scoring`); only the scored table comes to the driver.

The per-vessel code is the local engine's and every cross-vessel number is a count or an
integer sum, so the answers equal the local engine's (differences: README, Spark section).
"""

from __future__ import annotations

import atexit
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import schema as S
from ..config import DEFAULT, FEATURE_CODE_VERSION, Config
from ..coverage import CoverageGrid
from ..errors import EngineError
from ..gazetteer import Gazetteer, load_gazetteer
from ..no_voyage import empty_no_voyage
from ..pipeline import FEATURE_INPUTS, TRACK_COLS, RowCounts, Run, Stage, TrackResult, no_stage
from ..readers import ReadResult
from ..voyage_table import empty_voyage_table
from .bridge import from_spark
from .context import coverage_grid, interval_sums, live_context
from ..io import rejected_path
from .output import Workspace, check_output, is_directory_output, parts_to_csv, write
from .scoring import (decode_scored, identity_fn, identity_schema, listed_tracks, no_voyage_fn, no_voyage_schema,
                      score_fn, scored_schema, track_id)
from .session import mmsi_bucket, session
from .sources import FILE_ID, Files, plan_sources
from .stages import ID_TYPES, KEY_COLS, TRACK_TYPES, accepted, rejected_rows, row_counts, stage_rows, voyage_fn, voyage_schema


@dataclass
class Job:
    """A run's Spark session, its staged rows (read, validated, tracked), files and counts."""

    spark: object
    staged: object
    files: Files
    ws: Workspace
    counts: RowCounts
    cached: list = field(default_factory=list)  # DataFrames persisted for this job, released after it

    @property
    def fixes(self):
        return accepted(self.staged)


@contextmanager
def job(inputs, out: str | None, gaz: Gazetteer, cfg: Config, mode: str, master: str | None, stage: Stage,
        keep: bool = False):
    """Check the inputs and output (before Spark starts), start Spark, stage every row tracked;
    yields a :class:`Job` and removes its workspace after (unless ``keep``)."""
    if isinstance(inputs, ReadResult):
        raise EngineError("the Spark engine reads files, folders or URIs; rows in memory go to the local engine")
    if out is not None:
        out = check_output(out)
    sources = plan_sources(inputs)
    stage("starting Spark")
    spark = session(master)
    ws = Workspace(spark, out)
    try:
        stage("reading, validating, tracking")
        files = Files()
        staged = stage_rows(spark, sources, gaz, cfg, mode, ws, files)
        j = Job(spark, staged, files, ws, row_counts(staged))
        try:
            yield j
        finally:
            for frame in j.cached:
                frame.unpersist()
    except BaseException:
        ws.remove()
        raise
    if not keep:
        ws.remove()


def voyage_frame(j: Job, gaz: Gazetteer, cfg: Config, coverage: CoverageGrid | None, stage: Stage):
    """The voyage table with its live context, as a Spark DataFrame with ``_track_no`` beside
    its columns, unordered (order it by MMSI, ``_track_no``, start for the local engine's
    order), and the coverage grid it used."""
    fixes = j.fixes
    stage("coverage grid")
    sums = interval_sums(fixes, cfg)  # small: cells x days
    if coverage is None:  # read twice: by the grid and by the live context
        sums = sums.persist()
        j.cached.append(sums)
    grid = coverage if coverage is not None else coverage_grid(sums, cfg)
    grid_bc = j.spark.sparkContext.broadcast(grid)
    try:
        stage("voyage features")
        schema = voyage_schema()
        inputs = [c for c in j.staged.columns if c in FEATURE_INPUTS or c in TRACK_COLS]
        fixes.select(*inputs).groupBy(mmsi_bucket(j.spark).alias("_bucket_key")) \
            .applyInPandas(voyage_fn(gaz, cfg, grid_bc, schema), schema).write.parquet(j.ws.path("voyages"))
    finally:
        grid_bc.destroy()
    voyages = j.spark.read.parquet(j.ws.path("voyages"))
    stage("neighbours during gaps")
    voyages = live_context(voyages, fixes, sums, cfg)
    return voyages.select(*empty_voyage_table().columns, "_track_no"), grid


class SparkEngine:
    """The engine interface (:class:`features.engine.Engine`) on Spark."""

    name = "spark"

    def __init__(self, master: str | None = None):
        self.master = master
        self._kept = None  # (spark, fixes, workspace, cfg) of the last score, for listed_tracks
        atexit.register(self._close_at_exit)  # whatever a score keeps is removed at exit

    def check_output(self, out):
        return check_output(out)

    def tracks(self, inputs: Sequence, out, *, gaz=None, cfg=DEFAULT, stage=no_stage) -> Run:
        """``darkvoyage tracks --engine spark``: the local engine's ``tracks`` output, on Spark."""
        from pyspark.sql import functions as F
        gaz = gaz or load_gazetteer()
        with job(inputs, out, gaz, cfg, "tracks", self.master, stage) as j:
            acc = accepted(j.staged)
            figures = acc.agg(F.countDistinct("track_id").alias("t"), F.countDistinct("voyage_id").alias("v"),
                              F.sum(F.col("_visit_start").cast("long")).alias("p")).first()
            keep = [c for c in acc.columns if c not in S.INTERNAL and c not in ("_visit_start", "raw", FILE_ID)]
            keep = [c for c in S.REQUIRED if c in keep] + [c for c in keep if c not in S.REQUIRED]  # local order
            stage("writing")
            rej = write(acc.select(*keep), rejected_rows(j.spark, j.staged, tuple(ID_TYPES), j.files),
                        str(out), j.counts, {"config": cfg.to_dict(), "engine": "spark"}, j.spark, j.ws)
        return Run(j.counts, str(out), {"tracks": int(figures["t"] or 0), "voyages": int(figures["v"] or 0),
                                        "port visits": int(figures["p"] or 0), "rejected": rej})

    def features(self, inputs, out=None, *, gaz=None, cfg=DEFAULT, coverage=None, stage=no_stage) -> Run:
        """The local engine's voyage table, on Spark: written to ``out`` (a file or a Parquet
        directory), or without ``out`` collected to the driver as ``Run.voyages``."""
        from pyspark.sql import functions as F
        gaz = gaz or load_gazetteer()
        long_gap = f"with a gap >= {cfg.summary_gap_h:g} h"  # the local engine's summary line
        with job(inputs, out, gaz, cfg, "features", self.master, stage) as j:
            voyages, grid = voyage_frame(j, gaz, cfg, coverage, stage)
            voyages = voyages.orderBy("mmsi", "_track_no", "start").drop("_track_no")  # the local engine's order
            if out is None:
                table = from_spark(voyages.toPandas())
                return Run(j.counts, None, {"voyages": len(table),
                                            long_gap: int((table["max_gap_h"] >= cfg.summary_gap_h).sum())},
                           voyages=table, coverage=grid)
            stage("writing")
            out = str(out)
            rej = write(voyages, rejected_rows(j.spark, j.staged, tuple(TRACK_TYPES) + tuple(KEY_COLS), j.files), out,
                        j.counts, {"config": cfg.to_dict(), "feature_code_version": FEATURE_CODE_VERSION, "engine": "spark"},
                        j.spark, j.ws)
            # The written voyages, as Spark wrote them (the workspace parts of a single file).
            written = j.spark.read.parquet(out if is_directory_output(out) else j.ws.path("rows"))
            f = written.agg(F.count(F.lit(1)).alias("n"),
                            F.sum((F.col("max_gap_h") >= cfg.summary_gap_h).cast("long")).alias("g")).first()
        return Run(j.counts, out, {"voyages": int(f["n"] or 0), long_gap: int(f["g"] or 0), "rejected": rej},
                   coverage=grid)

    def events(self, inputs, *, gaz=None, cfg=DEFAULT, coverage=None, stage=no_stage, rejected_out=None) -> Run:
        """The local engine's event table (:mod:`.events`), gathered to the driver as
        ``Run.events``; the rejected rows go to ``rejected_out``'s ``.rejected.csv`` when given
        (the events file itself is small and written by the caller)."""
        from .events import find_events
        gaz = gaz or load_gazetteer()
        with job(inputs, None, gaz, cfg, "features", self.master, stage) as j:
            stage("events")
            ev = find_events(j.spark, j.staged, j.fixes, gaz, cfg, coverage)
            figures = {f"events: {k}": int(v) for k, v in ev["kind"].value_counts().items()}
            if rejected_out is not None:
                figures["rejected"] = self._write_rejected(j, rejected_out, stage)
        return Run(j.counts, None, figures, events=ev)

    def score(self, inputs, scorer, *, gaz=None, cfg=DEFAULT, coverage=None, stage=no_stage, rejected_out=None) -> Run:
        """Every voyage scored on the workers: ``scorer`` is broadcast once and applied per MMSI
        bucket; the tracks without a voyage are found per bucket too. The staged fixes are kept
        (until the next score or exit) for :meth:`listed_tracks`."""
        gaz = gaz or load_gazetteer()
        self.close()
        with job(inputs, None, gaz, cfg, "features", self.master, stage, keep=True) as j:
            voyages, grid = voyage_frame(j, gaz, cfg, coverage, stage)
            stage("scoring")
            cols = list(empty_voyage_table().columns)
            schema = scored_schema(voyages.schema)
            scorer_bc = j.spark.sparkContext.broadcast(scorer)
            try:
                scored = voyages.groupBy(mmsi_bucket(j.spark).alias("_bucket_key")) \
                    .applyInPandas(score_fn(scorer_bc, cols, schema), schema)
                table = decode_scored(scored.orderBy("mmsi", "_track_no", "start").drop("_track_no").toPandas())
            finally:
                scorer_bc.destroy()
            stage("tracks without a voyage")
            nv = self._no_voyage(j, gaz)
            stage("identity links")
            links, hull = self._identity(j, cfg)
            figures = {"voyages scored": len(table)}
            if rejected_out is not None:
                figures["rejected"] = self._write_rejected(j, rejected_out, stage)
        self._kept = (j.spark, j.fixes, j.ws, cfg)
        return Run(j.counts, None, figures, voyages=table, no_voyage=nv, coverage=grid,
                   identities=links, hull_events=hull)

    @staticmethod
    def _write_rejected(j, rejected_out, stage) -> str:
        """The job's rejected rows to ``rejected_out``'s ``.rejected.csv``; returns that path."""
        stage("writing rejected rows")
        rej = rejected_rows(j.spark, j.staged, tuple(TRACK_TYPES) + tuple(KEY_COLS), j.files)
        rej.write.parquet(j.ws.path("rejected"))
        return str(parts_to_csv(j.ws.local("rejected"), rejected_path(str(rejected_out))))

    @staticmethod
    def _identity(j: Job, cfg: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(identity links, hull events), as the local engine finds them, from one pass over
        each MMSI bucket: its tracks' ends and its hull events, gathered (one row per track or
        event); the links between the ends on the driver. The GPS interference cells come from
        every vessel's rejected jumps (few rows, gathered first) and go to every bucket."""
        from pyspark.sql import functions as F
        from ..events.frame import FIXES_INPUTS
        from ..identity import HULL_TYPES, links_of_ends
        from ..identity.ends import ENDS_TYPES, TrackEnds
        from ..identity.interference import interference_cells
        jumps = j.staged.where(F.col(S.REASON_COL) == S.JUMP).select("mmsi", "timestamp", "lat", "lon").toPandas()
        jumps["timestamp"] = pd.to_datetime(jumps["timestamp"], utc=True).dt.as_unit("us")
        cols = [c for c in FIXES_INPUTS if c in j.staged.columns]
        schema = identity_schema()
        rows = j.fixes.select(*cols).groupBy(mmsi_bucket(j.spark).alias("_bucket_key")) \
            .applyInPandas(identity_fn(cfg, schema, interference_cells(jumps, cfg)), schema).toPandas()
        links = links_of_ends(TrackEnds.from_frame(rows.loc[rows["part"] == "ends", list(ENDS_TYPES)]), cfg)
        hull = rows.loc[rows["part"] == "hull", list(HULL_TYPES)]
        for c in ("start", "end"):
            hull[c] = pd.to_datetime(hull[c], utc=True).dt.as_unit("us")
        hull = hull.astype({"mmsi": np.int64})
        return links, hull.sort_values(["kind", "mmsi", "start", "track_id"], kind="stable").reset_index(drop=True)

    @staticmethod
    def _no_voyage(j: Job, gaz: Gazetteer) -> pd.DataFrame:
        """Tracks with no voyage (:func:`features.no_voyage.tracks_without_voyage`), per bucket."""
        from pyspark.sql import functions as F
        has = j.spark.read.parquet(j.ws.path("voyages")).select("track_id")
        cols = [c for c in ("mmsi", "track_no", "timestamp", "lat", "lon", "visit", "port_idx", "name")
                if c in j.staged.columns]
        lone = j.fixes.select(*cols).withColumn("track_id", track_id(F)).join(has, "track_id", "left_anti").drop("track_id")
        schema = no_voyage_schema()
        nv = lone.groupBy(mmsi_bucket(j.spark).alias("_bucket_key")).applyInPandas(no_voyage_fn(gaz, schema), schema)
        nv = from_spark(nv.toPandas())
        if nv.empty:
            return empty_no_voyage()
        order = nv["track_id"].str.rsplit("-", n=1).str[1].astype("int64")
        return nv.assign(_t=order.to_numpy()).sort_values(["mmsi", "_t"], kind="stable").drop(columns="_t") \
            .reset_index(drop=True)

    def listed_tracks(self, track_ids) -> TrackResult:
        """The fixes and port visits of the tracks a watchlist lists, from the last
        :meth:`score` (what the GeoJSON and HTML maps draw); only these come to the driver."""
        if self._kept is None:
            raise EngineError("listed_tracks needs a score run first")
        spark, fixes, _, cfg = self._kept
        return listed_tracks(spark, fixes, track_ids, cfg)

    def close(self) -> None:
        """Remove the workspace a :meth:`score` kept."""
        if self._kept is not None:
            self._kept[2].remove()
            self._kept = None

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - a remote workspace needs the JVM, which may be gone at exit
            pass
