"""The Spark engine: the local engine's per-vessel functions, distributed by MMSI.

Parquet, CSV and NDJSON are read by Spark itself (so a single large file is split across
tasks, and any Hadoop file system works: ``s3a://``, ``hdfs://``, ``abfss://``). NMEA has no
Spark reader: it is decoded by pyais on the driver and handed to Spark. Then

1. every row is grouped by MMSI bucket (a hash of the MMSI, so every vessel's rows meet in
   one group), validated by :func:`features.clean.validate` and tracked by the local engine's
   own :func:`features.pipeline.split_tracks` (``applyInPandas``), which also gives each fix
   the keys the cross-vessel measures need; the result is staged as Parquet. (Several sources
   with different columns are validated one by one first, ``mapInPandas``, so that each
   column has one type when they are put together.)
2. for ``features``: the coverage grid, the live coverage of each gap's cell and day and the
   neighbours reporting during each gap are Spark aggregations and joins over those keys;
   the voyage features are :func:`features.voyage_features.voyage_features` per MMSI bucket.

The per-vessel code is the local engine's, and every cross-vessel number is a count or an
integer sum, so the outputs equal the local engine's: the same rows accepted and rejected for
the same reasons, the same voyages, the same features. Differences, all documented in the
README: row order across vessels; CSV extra columns stay text (Spark does not guess types);
nested values are JSON written by Spark; ``line`` of NDJSON counts records, not blank lines.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import schema as S
from .clean import validate
from .config import DEFAULT, FEATURE_CODE_VERSION, Config
from .engine import Run
from .errors import EngineError
from .coverage import CoverageGrid, fix_keys, gap_keys, gap_us
from .gazetteer import Gazetteer, load_gazetteer
from .io import META_KEY, OUTPUT_SUFFIXES, OutputError, _arrow_safe, arrow_table, rejected_path, track_positions_table
from .io import check_output as check_file_output
from .pipeline import FEATURE_INPUTS, TRACK_COLS, RowCounts, Stage, TrackResult, no_stage, split_tracks
from .settings import settings
from .readers import InputError, detect_format, open_text, read_one
from .tracks import epoch_us, group_starts
from .voyage_table import empty_voyage_table, voyage_features

log = logging.getLogger(__name__)

#: Rows per Arrow batch between the JVM and Python: validation has a fixed cost per call.
ARROW_BATCH_ROWS = 100_000
#: Shuffle partitions, and so MMSI buckets, on a local master. Each bucket is one pandas frame
#: of whole vessels; a few per core keep every frame small (10 M rows: ~600 k per bucket). On a
#: cluster the count is ``spark.sql.shuffle.partitions``: aim for under ~1 M rows per bucket.
LOCAL_SHUFFLE_PARTITIONS = 16
#: Driver heap for local masters: the default 1 GB spills the shuffle of 10 M rows to disk.
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",  # time stamps cross to pandas as UTC wall time
    "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS),
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # not INT96: pyarrow reads it zoned
    "spark.ui.showConsoleProgress": "false",  # the CLI shows its own stages
}
#: Metadata file of a directory output (Hadoop file systems have no Parquet key-value metadata
#: for a whole directory).
DIR_META = "_darkvoyage.json"
_CORRUPT = "_corrupt"


class SparkError(EngineError):
    """The Spark engine cannot run (PySpark or Java missing, cluster unreachable)."""


# --------------------------------------------------------------------------- session

def session(master: str | None = None):
    """The Spark session: ``master`` if given (``local[2]``, ``spark://host:7077``, ``yarn``),
    else whatever ``spark-submit`` configured, else ``local[*]``."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkError("--engine spark needs PySpark: install the extra with `uv sync --extra spark` "
                         "(or `pip install 'darkvoyage[spark]'`)") from None
    # PySpark warns that pandas >= 3 is not fully supported; what darkvoyage uses is tested.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")  # the same, in Python workers
    # Under spark-submit the JVM is up and configured already (the gateway port is set).
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    local = master.startswith("local") if master else not submitted
    if local and "PYSPARK_PYTHON" not in os.environ:
        os.environ["PYSPARK_PYTHON"] = sys.executable  # workers run this interpreter and its packages
    b = SparkSession.builder.appName("darkvoyage")
    if master:
        b = b.master(master)
    for k, v in SPARK_CONF.items():
        b = b.config(k, v)
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no network needed, no hostname warnings
        b = b.config("spark.driver.memory", settings().spark_driver_memory)
        log4j = Path(__file__).parent / "data" / "spark-log4j2.properties"
        b = b.config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
    try:
        spark = b.getOrCreate()
    except Exception as err:  # noqa: BLE001 - PySpark raises a bare runtime error without Java
        raise SparkError(f"Spark did not start ({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
                         "it needs Java 17 (`java -version`)") from None
    spark.sparkContext.setLogLevel("ERROR")
    if spark.sparkContext.master.startswith("local") and not spark.sparkContext.getConf().contains("spark.sql.shuffle.partitions"):
        # 200 shuffle partitions (the cluster default) are mostly task overhead on one machine.
        spark.conf.set("spark.sql.shuffle.partitions", str(LOCAL_SHUFFLE_PARTITIONS))
    return spark


def _buckets(spark) -> int:
    """MMSI buckets: one pandas frame of whole vessels each, one per shuffle partition."""
    return int(spark.conf.get("spark.sql.shuffle.partitions"))


# --------------------------------------------------------------------------- reading

@dataclass
class _Source:
    fmt: str
    paths: list[str] = field(default_factory=list)


def _is_uri(p: str) -> bool:
    return "://" in p


def _format_of(p: str) -> str:
    if _is_uri(p):
        name = p.rstrip("/").rsplit("/", 1)[-1]
        return detect_format(Path(name)) if "." in name else "parquet"
    path = Path(p)
    if path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith(("_", ".")))
        if not files:
            raise InputError(f"{p}: empty folder")
        return detect_format(files[0])
    return detect_format(path)


def _group_key(fmt: str, p: str):
    """Files read in one Spark read must share their columns: CSV by header, Parquet by schema."""
    if _is_uri(p) or Path(p).is_dir():
        return (fmt, p)
    if fmt == "csv":
        with open_text(Path(p)) as fh:
            return (fmt, fh.readline().strip())
    if fmt == "parquet":
        try:
            return (fmt, tuple(pq.read_schema(p).names))
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(f"{p}: not a readable Parquet file ({err})") from err
    if fmt == "nmea":
        return (fmt, p)
    return (fmt, "")


def plan_sources(paths: Sequence) -> list[_Source]:
    """Input paths (files, folders, URIs) -> Spark reads, in the order given."""
    if not paths:
        raise InputError("no input files given")
    groups: dict = {}
    for raw in paths:
        p = str(raw)
        if not _is_uri(p) and not Path(p).exists():
            raise InputError(f"{p}: no such file")
        fmt = _format_of(p)
        groups.setdefault(_group_key(fmt, p), _Source(fmt)).paths.append(p)
    return list(groups.values())


def _c(F, name: str):
    """A column by its exact name (input names may hold dots, spaces or '#')."""
    return F.col("`" + name.replace("`", "``") + "`")


def _canonical_names(columns: list[str], where: str) -> list[str]:
    names = [S.canonical_name(c) for c in columns]
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen:  # as the local readers: the first keeps the canonical name
            names[i] = f"{n}_{str(columns[i]).strip().lower()}"
        seen.add(n)
    missing = [c for c in ("mmsi", "timestamp") if c not in names]
    if missing:
        raise InputError(f"{where}: no column for {', '.join(missing)} (found: {', '.join(columns[:20])})")
    return names


FILE_ID = "_file_id"


class _Files:
    """Every input file once: an int id travels with each row (a path string per row would
    cost seconds per 10 M rows at every JVM/Python crossing) and the path, spelt as the user
    gave it (the local engine's spelling), is joined back onto rejected rows at the end."""

    def __init__(self):
        self.keys: list[str] = []    # the path as Spark's ``_metadata.file_path`` spells it
        self.names: list[str] = []   # as shown in the rejected file

    def add(self, key: str, name: str) -> int:
        if key not in self.keys:
            self.keys.append(key)
            self.names.append(name)
        return self.keys.index(key)

    def register(self, uris: list[str], given: list[str]) -> None:
        """Spark's input files of one read, named after the paths the user gave."""
        from urllib.parse import unquote, urlparse
        local = {os.path.abspath(g): g for g in given if not _is_uri(g)}
        dirs = {a: g for a, g in local.items() if Path(a).is_dir()}
        for u in uris:
            if not u.startswith("file:"):
                self.add(u, u)
                continue
            # inputFiles() says file:///a%20b, _metadata.file_path says file:/a%20b.
            key = "file:/" + u[len("file:"):].lstrip("/")
            a = unquote(urlparse(u).path)
            name = local.get(a)
            if name is None:  # a file found inside a given folder
                d = next((d for d in dirs if a.startswith(d.rstrip("/") + "/")), None)
                name = os.path.join(dirs[d], os.path.relpath(a, d)) if d else a
            self.add(key, name)

    def frame(self, spark):
        return spark.createDataFrame(pd.DataFrame({"_fkey": pd.Series(self.keys, dtype=object),
                                                   FILE_ID: np.arange(len(self.keys), dtype=np.int32),
                                                   S.FILE_COL: pd.Series(self.names, dtype=object)}))


def _json_key_order(columns: list[str], paths: list[str]) -> list[str]:
    """Spark sorts inferred JSON fields by name; the local reader keeps the files' key order
    (first record of each file, in file order). Remote files keep Spark's order."""
    order: list[str] = []
    for p in paths:
        if _is_uri(p) or not Path(p).is_file():
            continue
        with open_text(Path(p)) as fh:
            for line in fh:
                if line.strip():
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        rec = {}
                    order += [k for k in (rec if isinstance(rec, dict) else {}) if k not in order]
                    break
    known = [c for c in order if c in columns]
    return known + [c for c in columns if c not in known]


def _record_numbers(df, F, first: int):
    """Number each record within its file (``first`` for the first data record).

    Spark splits a file into blocks read by different tasks, and no reader numbers lines.
    Within a task a block's records arrive in file order, so a record's number is the count
    of records in the file's earlier blocks plus its place in its own block."""
    from pyspark.sql import Window
    df = df.withColumn("_path", F.col("_metadata.file_path")).withColumn(
        "_blk", F.col("_metadata.file_block_start")).withColumn("_mid", F.monotonically_increasing_id())
    blocks = df.groupBy("_path", "_blk").agg(F.count(F.lit(1)).alias("_n"), F.min("_mid").alias("_mid0"))
    before = F.sum("_n").over(Window.partitionBy("_path").orderBy("_blk").rowsBetween(Window.unboundedPreceding, -1))
    blocks = blocks.select("_path", "_blk", "_mid0", F.coalesce(before, F.lit(0)).alias("_before"))
    df = df.join(F.broadcast(blocks), ["_path", "_blk"])
    return df.withColumn(S.LINE_COL, F.col("_before") + F.col("_mid") - F.col("_mid0") + first).drop(
        "_path", "_blk", "_mid", "_mid0", "_before")


def _read_source(spark, src: _Source, files: _Files):
    """One Spark read -> DataFrame of canonical columns, extras, ``_file_id``, ``_line``,
    ``raw``, ``_reason``, ``_detail`` (the last three set for unparseable records only)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    where = src.paths[0] if len(src.paths) == 1 else f"{src.paths[0]} (+{len(src.paths) - 1} files)"
    if src.fmt == "nmea":
        return _read_nmea(spark, src.paths[0], files)
    try:
        if src.fmt == "parquet":
            df = spark.read.option("mergeSchema", "true").parquet(*src.paths)
            names = _canonical_names(df.columns, where)
            df = df.select(*[_c(F, c).alias(n) for c, n in zip(df.columns, names)], "_metadata")
            df = df.withColumn(S.LINE_COL, F.col("_metadata.row_index") + 1)
            corrupt = None
        elif src.fmt == "csv":
            sep = "\t" if any(".tsv" in Path(p.rstrip("/")).suffixes for p in src.paths) else ","
            header = spark.read.options(header=True, sep=sep).csv(src.paths[0]).columns
            names = _canonical_names(header, where)
            schema = T.StructType([T.StructField(n, T.StringType()) for n in names] + [T.StructField(_CORRUPT, T.StringType())])
            df = (spark.read.options(header=True, sep=sep, mode="PERMISSIVE", columnNameOfCorruptRecord=_CORRUPT)
                  .schema(schema).csv(src.paths)).select("*", "_metadata")
            df = _record_numbers(df, F, first=2)  # line 1 is the header
            corrupt = "wrong number of fields"
        else:
            df = spark.read.options(mode="PERMISSIVE", columnNameOfCorruptRecord=_CORRUPT).json(src.paths)
            if _CORRUPT not in df.columns:
                df = df.withColumn(_CORRUPT, F.lit(None).cast("string"))
            data = _json_key_order([c for c in df.columns if c != _CORRUPT], src.paths)
            names = _canonical_names(data, where)
            df = df.select(*[_c(F, c).alias(n) for c, n in zip(data, names)], _CORRUPT, "_metadata")
            df = _record_numbers(df, F, first=1)
            corrupt = "invalid JSON or not an object"
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - Spark's analysis errors: name the input
        raise InputError(f"{where}: not a readable {src.fmt} input ({str(err).splitlines()[0][:200]})") from None
    files.register(df.inputFiles(), src.paths)
    # A left join: a path spelt in a way the key misses would cost its name, never its rows.
    df = (df.withColumn("_fkey", F.col("_metadata.file_path")).join(F.broadcast(files.frame(spark).drop(S.FILE_COL)), "_fkey", "left")
          .drop("_fkey").withColumn(FILE_ID, F.coalesce(F.col(FILE_ID), F.lit(-1))))
    for c in ("lat", "lon"):
        if c not in df.columns:
            df = df.withColumn(c, F.lit(None).cast("double"))  # a static-only export
    # Nested values (GFW's identities) become JSON text, as the local readers do.
    for f in df.schema.fields:
        if isinstance(f.dataType, (T.StructType, T.ArrayType, T.MapType)) and f.name != "_metadata":
            df = df.withColumn(f.name, F.to_json(_c(F, f.name)))
    if corrupt:
        bad = F.col(_CORRUPT).isNotNull()
        df = (df.withColumn("raw", F.substring(_CORRUPT, 1, 2000))
              .withColumn(S.REASON_COL, F.when(bad, F.lit(S.UNPARSEABLE)))
              .withColumn(S.DETAIL_COL, F.when(bad, F.lit(corrupt))).drop(_CORRUPT))
    # Parquet has no unparseable records: validation adds the reason columns (a column of
    # nulls still costs seconds per 10 M rows at each JVM/Python crossing).
    return df.drop("_metadata")


def _read_nmea(spark, path: str, files: _Files):
    """NMEA has no Spark reader: decode on the driver with the local reader, then distribute."""
    rr = read_one(path)
    bad = rr.unparseable
    frame = pd.concat([rr.frame, bad], ignore_index=True, sort=False) if len(bad) else rr.frame
    frame = frame.drop(columns=[S.FILE_COL])
    frame[FILE_ID] = np.int32(files.add("nmea:" + os.path.abspath(path), path))
    for c in ("raw", S.REASON_COL, S.DETAIL_COL):
        if c not in frame:
            frame[c] = None
    frame = frame.astype({c: object for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)})
    return spark.createDataFrame(arrow_table(_arrow_safe(frame)))


# --------------------------------------------------------------------------- pandas <-> Spark

def _spark_type(dtype):
    from pyspark.sql import types as T
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        return T.TimestampType()
    if pd.api.types.is_bool_dtype(dtype):
        return T.BooleanType()
    if pd.api.types.is_integer_dtype(dtype):
        return T.IntegerType() if np.dtype(getattr(dtype, "numpy_dtype", dtype)).itemsize <= 4 else T.LongType()
    if pd.api.types.is_float_dtype(dtype):
        return T.DoubleType()
    return T.StringType()


def _validated_type(name: str, dtype):
    from pyspark.sql import types as T
    if name == "mmsi" or name == S.LINE_COL:
        return T.LongType()
    if name == FILE_ID:
        return T.IntegerType()
    if name == "timestamp":
        return T.TimestampType()
    if name in ("lat", "lon") or name in S.NUMERIC_OPTIONAL:
        return T.DoubleType()
    if name in S.TEXT_OPTIONAL or name in ("raw", S.REASON_COL, S.DETAIL_COL):
        return T.StringType()
    return dtype


def _from_spark(pdf: pd.DataFrame) -> pd.DataFrame:
    """Spark hands time stamps over as naive UTC wall time: zone them again."""
    for c in pdf.columns:
        if pd.api.types.is_datetime64_dtype(pdf[c].dtype) and not isinstance(pdf[c].dtype, pd.DatetimeTZDtype):
            pdf[c] = pdf[c].dt.tz_localize("UTC").dt.as_unit("us")
    return pdf


def _to_spark(frame: pd.DataFrame, schema) -> pd.DataFrame:
    """``frame`` with exactly ``schema``'s columns, in dtypes Arrow converts to them."""
    from pyspark.sql import types as T
    out = {}
    n = len(frame)
    for f in schema.fields:
        if f.name not in frame:
            out[f.name] = pd.Series([None] * n, dtype=object)
            continue
        col = frame[f.name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object).where(col.notna(), None)
        if isinstance(f.dataType, (T.LongType, T.IntegerType)) and not pd.api.types.is_integer_dtype(col.dtype):
            col = col.astype("Int64" if isinstance(f.dataType, T.LongType) else "Int32")
        elif isinstance(f.dataType, T.BooleanType) and col.dtype != bool:
            col = col.astype("boolean")
        elif isinstance(f.dataType, T.StringType) and col.dtype != object:
            # PySpark converts object columns only: Arrow-backed text arrives chunked and fails.
            text = pd.api.types.is_string_dtype(col.dtype)
            col = col.astype(object).where(col.notna(), None)
            if not text:
                col = col.map(lambda v: v if v is None else str(v))
        out[f.name] = col.reset_index(drop=True)
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def _validate_fn(schema):
    def fn(batches):
        for b in batches:
            yield _to_spark(validate(_from_spark(b)), schema)
    return fn


def _validated_schema(raw_schema):
    from pyspark.sql import types as T
    fields = [T.StructField(f.name, _validated_type(f.name, f.dataType)) for f in raw_schema.fields]
    have = {f.name for f in fields}
    fields += [T.StructField(c, T.StringType()) for c in (S.REASON_COL, S.DETAIL_COL) if c not in have]
    return T.StructType(fields + [T.StructField(S.STATIC_COL, T.BooleanType())])


def _union(parts):
    """One DataFrame of several validated sources (extras of clashing types become text)."""
    from pyspark.sql import functions as F
    types: dict[str, list] = {}
    for p in parts:
        for f in p.schema.fields:
            types.setdefault(f.name, []).append(f.dataType)
    clash = {c for c, ts in types.items() if len(set(map(str, ts))) > 1}
    out = None
    for p in parts:
        p = p.select(*[_c(F, c).cast("string").alias(c) if c in clash else _c(F, c) for c in p.columns])
        out = p if out is None else out.unionByName(p, allowMissingColumns=True)
    return out


def _mmsi_key(df, F):
    """The MMSI validation will give each row, as Spark parses it (None where it cannot): rows
    are bucketed by it before validation, so a vessel's rows must agree on it. Spark and pandas
    parse numbers alike; a text Spark cannot parse is no ship-station MMSI to pandas either."""
    from pyspark.sql import types as T
    t = df.schema["mmsi"].dataType
    m = F.col("mmsi")
    if isinstance(t, (T.LongType, T.IntegerType, T.ShortType, T.ByteType)):
        return m.cast("long")
    if isinstance(t, T.StringType):
        return m.try_cast("double").try_cast("long")
    return m.try_cast("long")


# --------------------------------------------------------------------------- per MMSI bucket

#: Columns the tracking stage adds for ``features``: the local TRACK_COLS plus the keys of
#: :func:`features.coverage.fix_keys`.
KEY_COLS = {"_cell": "long", "_bucket": "long", "_day": "long", "_next_dt_us": "long", "_presence": "boolean"}
TRACK_TYPES = {"track_no": "long", "step_km": "double", "near_port": "int", "port_idx": "int", "visit": "int",
               "voyage_no": "int"}
ID_TYPES = {"track_id": "string", "voyage_id": "string", "port_id": "string", "_visit_start": "boolean"}


def _with_fields(schema, extra: dict):
    from pyspark.sql import types as T
    names = {"long": T.LongType(), "double": T.DoubleType(), "int": T.IntegerType(), "boolean": T.BooleanType(),
             "string": T.StringType()}
    have = {f.name for f in schema.fields}
    return T.StructType(list(schema.fields) + [T.StructField(k, names[v]) for k, v in extra.items() if k not in have])


def _track_fn(gaz: Gazetteer, cfg: Config, mode: str, schema, validate_first: bool):
    """Rows of whole vessels -> the same rows: accepted fixes (with ids for ``tracks``, with
    track columns and aggregation keys for ``features``), rejected and static rows."""
    def fn(pdf: pd.DataFrame) -> pd.DataFrame:
        pdf = _from_spark(pdf)
        if validate_first:
            pdf = validate(pdf)
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
        return _to_spark(frame, schema)
    return fn


def _sort_fixes(pdf: pd.DataFrame) -> pd.DataFrame:
    """A shuffle loses row order: back to the local engine's (mmsi, track, time, lat, lon).
    Accepted fixes are unique in (mmsi, time, lat, lon), so this order is total."""
    order = np.lexsort((pdf["lon"].to_numpy(float), pdf["lat"].to_numpy(float), epoch_us(pdf["timestamp"]),
                        pdf["track_no"].to_numpy(), pdf["mmsi"].to_numpy(np.int64)))
    return pdf.take(order).reset_index(drop=True)


GAP_COLS = {"_g_cell": "long", "_g_first_b": "long", "_g_last_b": "long", "_g_day": "long", "_track_no": "long"}


def _voyage_fn(gaz: Gazetteer, cfg: Config, grid_bc, schema):
    def fn(pdf: pd.DataFrame) -> pd.DataFrame:
        pos = _sort_fixes(_from_spark(pdf))
        v = voyage_features(pos, gaz, cfg, grid_bc.value)
        has = v["lg_start"].notna().to_numpy()
        g = gap_keys(epoch_us(v["lg_start"].fillna(pd.Timestamp(0, tz="UTC"))),
                     epoch_us(v["lg_end"].fillna(pd.Timestamp(0, tz="UTC"))),
                     np.nan_to_num(v["lg_start_lat"].to_numpy(float)), np.nan_to_num(v["lg_start_lon"].to_numpy(float)), cfg)
        for k, a in g.items():
            v[f"_g_{k}"] = pd.Series(np.where(has, a, 0), dtype="Int64").where(pd.Series(has))
        # track_id is "<mmsi>-<track_no>" (track_no may be -1): the sort key of the output
        v["_track_no"] = v["track_id"].str.split("-", n=1).str[1].astype("int64")
        return _to_spark(v, schema)
    return fn


def _voyage_schema():
    from pyspark.sql import types as T
    empty = empty_voyage_table()
    schema = T.StructType([T.StructField(c, _spark_type(empty[c].dtype)) for c in empty.columns])
    return _with_fields(schema, GAP_COLS)


# --------------------------------------------------------------------------- cross-vessel measures

def _interval_sums(fixes, cfg: Config):
    """Per grid cell and UTC day, the intervals starting there: count ``_n``, gaps ``_ng`` and
    the summed length of the others ``_ok`` (us). One pass over the fixes feeds both the
    coverage grid (summed over days) and each gap cell's live coverage that day."""
    from pyspark.sql import functions as F
    gap = F.col("_next_dt_us") > F.lit(gap_us(cfg))
    return (fixes.where(F.col("_next_dt_us") >= 0).groupBy("_cell", "_day")
            .agg(F.count(F.lit(1)).alias("_n"), F.sum(gap.cast("long")).alias("_ng"),
                 F.sum(F.when(gap, 0).otherwise(F.col("_next_dt_us"))).alias("_ok")))


def _coverage_grid(sums, cfg: Config) -> CoverageGrid:
    """The reference grid from :func:`_interval_sums`: per cell, intervals, gaps, non-gap time."""
    from pyspark.sql import functions as F
    rows = sums.groupBy("_cell").agg(*[F.sum(c).alias(c) for c in ("_n", "_ng", "_ok")]).toPandas()
    if rows.empty:
        return CoverageGrid.empty(cfg)
    return CoverageGrid.from_sums(rows["_cell"].to_numpy(), rows["_n"].to_numpy(), rows["_ng"].to_numpy(),
                                  rows["_ok"].to_numpy(np.int64), cfg)


def _live_context(voyages, fixes, sums, cfg: Config):
    """Fill the ``ctx_*`` columns with joins: neighbours' presences in the 3x3 cells around each
    longest gap's start over the buckets inside it, and the gap cell's coverage that day.
    The arithmetic is :func:`features.coverage.neighbour_values` and ``mean_interval_s``."""
    from pyspark.sql import functions as F
    from .geo import grid_shape
    ncol = grid_shape(cfg.coverage_cell_deg)[1]
    r = cfg.neighbour_cells
    offsets = [di * ncol + dj for di in range(-r, r + 1) for dj in range(-r, r + 1)]
    pres = fixes.where("_presence").groupBy("_cell", "_bucket").agg(F.count(F.lit(1)).alias("_p"))
    gaps = (voyages.where(F.col("_g_cell").isNotNull() & (F.col("_g_last_b") >= F.col("_g_first_b")))
            .select("voyage_id", "_g_first_b", "_g_last_b",
                    F.explode(F.array(*[F.col("_g_cell") + F.lit(o) for o in offsets])).alias("_c")))
    # Every offset cell counts, repeats included, exactly as the local sum over the 3x3 offsets.
    total = (gaps.join(pres, (gaps["_c"] == pres["_cell"]) & pres["_bucket"].between(gaps["_g_first_b"], gaps["_g_last_b"]))
             .groupBy("voyage_id").agg(F.sum("_p").alias("_total")))
    day = sums.withColumnRenamed("_cell", "_g_cell").withColumnRenamed("_day", "_g_day")
    v = voyages.join(total, "voyage_id", "left").join(day, ["_g_cell", "_g_day"], "left")
    h = float(cfg.coverage_bucket_h)
    nan = F.lit(float("nan"))
    has = F.col("_g_cell").isNotNull()
    n_b = F.col("_g_last_b") - F.col("_g_first_b") + 1
    tot = F.coalesce(F.col("_total"), F.lit(0)).cast("double")
    ok = (F.col("_n") - F.col("_ng"))
    return (v.withColumn("ctx_neighbour_vessel_h", F.when(has & (n_b > 0), tot * h).otherwise(nan))
            .withColumn("ctx_neighbours_per_h", F.when(has & (n_b > 0), tot / (n_b.cast("double") * h)).otherwise(nan))
            .withColumn("ctx_cell_day_gap_rate", F.when(has & F.col("_n").isNotNull(),
                                                        F.col("_ng").cast("double") / F.col("_n").cast("double")).otherwise(nan))
            .withColumn("ctx_cell_day_interval_s", F.when(has & (ok > 0),
                                                          F.col("_ok").cast("double") / (ok.cast("double") * 1e6)).otherwise(nan)))


# --------------------------------------------------------------------------- runs

@dataclass
class SparkRun:
    """What a Spark run did: row accounting and figures for the terminal."""

    counts: RowCounts
    figures: dict
    out: str


def _staged(spark, sources: list[_Source], gaz: Gazetteer, cfg: Config, mode: str, ws: _Workspace,
            files: _Files):
    """Read, validate and track every row, bucketed by MMSI, into the workspace: the stages
    after read back only the columns they need (cheaper than caching every column).

    One source (the usual case: files of one format and columns) is validated inside the
    tracking function, saving a JVM/Python round trip; several are validated one by one first
    so that their columns have one type each before they are put together."""
    from pyspark.sql import functions as F
    extra = TRACK_TYPES | KEY_COLS if mode == "features" else ID_TYPES
    n = _buckets(spark)
    raws = [_read_source(spark, src, files) for src in sources]
    if len(raws) == 1:
        rows = raws[0]
        schema = _with_fields(_validated_schema(rows.schema), extra)
        mmsi = _mmsi_key(rows, F)
        key = F.when(mmsi.isNotNull(), F.xxhash64(mmsi))
    else:
        parts = []
        for r in raws:
            sch = _validated_schema(r.schema)
            parts.append(r.mapInPandas(_validate_fn(sch), sch))
        rows = _union(parts)
        schema = _with_fields(rows.schema, extra)
        key = F.when(F.col(S.REASON_COL).isNull(), F.xxhash64("mmsi"))
    # Rows without a vessel (rejected already) are spread by origin, not piled onto one bucket.
    key = F.pmod(F.coalesce(key, F.xxhash64(FILE_ID, S.LINE_COL)), F.lit(n))
    rows.groupBy(key.alias("_bucket_key")).applyInPandas(_track_fn(gaz, cfg, mode, schema, len(raws) == 1), schema) \
        .write.parquet(ws.path("staged"))
    return spark.read.parquet(ws.path("staged"))


class _Workspace:
    """Intermediate Parquet beside the output, removed at the end: ``<out>._work-<id>`` for a
    directory output (any Hadoop file system), ``.<name>.<id>.work`` beside a single file."""

    def __init__(self, spark, out: str):
        self.spark = spark
        tag = uuid.uuid4().hex[:8]
        if is_directory_output(out):
            self.root = f"{out.rstrip('/')}._work-{tag}"
        else:  # the driver merges the parts into one file, so they are on its disk
            self.root = (Path(out).resolve().parent / f".{Path(out).name}.{tag}.work").as_uri()

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def remove(self) -> None:
        jvm = self.spark.sparkContext._jvm
        p = jvm.org.apache.hadoop.fs.Path(self.root)
        p.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration()).delete(p, True)

    def local(self, name: str) -> Path:
        from urllib.parse import unquote, urlparse
        return Path(unquote(urlparse(self.path(name)).path))


def _counts(staged) -> RowCounts:
    from pyspark.sql import functions as F
    kind = (F.when(F.col(S.REASON_COL).isNotNull(), F.col(S.REASON_COL))
            .when(F.col(S.STATIC_COL), F.lit("static")).otherwise(F.lit("position")))
    got = {r["k"]: int(r["count"]) for r in staged.groupBy(kind.alias("k")).count().collect()}
    pos, static = got.pop("position", 0), got.pop("static", 0)
    return RowCounts(read=pos + static + sum(got.values()), positions=pos, static=static, rejected=got)


def _accepted(staged):
    from pyspark.sql import functions as F
    return staged.where(F.col(S.REASON_COL).isNull() & ~F.coalesce(F.col(S.STATIC_COL), F.lit(False)))


def _rejected(spark, staged, drop: Sequence[str], files: _Files):
    from pyspark.sql import functions as F
    r = staged.where(F.col(S.REASON_COL).isNotNull())
    r = r.join(F.broadcast(files.frame(spark).drop("_fkey")), FILE_ID, "left")
    gone = set(drop) | {S.STATIC_COL, FILE_ID}
    cols = [c for c in r.columns if c not in gone]
    front = [c for c in (S.REASON_COL, S.DETAIL_COL, S.FILE_COL, S.LINE_COL, "raw") if c in cols]
    names = {S.REASON_COL: "reason", S.DETAIL_COL: "detail", S.FILE_COL: "file", S.LINE_COL: "line"}
    return r.select(*[_c(F, c).alias(names.get(c, c)) for c in front + [c for c in cols if c not in front]])


def is_directory_output(out: str) -> bool:
    """``--out`` names a Parquet directory (a URI, or a path ending in ``/``), not one file."""
    return _is_uri(out) or out.endswith("/")


def check_output(out: str | Path) -> str:
    """A directory output as given; a single file as the local engine checks it."""
    out = str(out)
    if is_directory_output(out):
        return out
    if Path(out).suffix.lower() not in OUTPUT_SUFFIXES:
        raise OutputError(f"{out}: output must end in {' or '.join(OUTPUT_SUFFIXES)}, or be a folder ending in /")
    check_file_output(out)
    return out


def _write(df, rejected, out: str, counts: RowCounts, meta: dict, spark, ws: _Workspace) -> str:
    """Accepted rows to ``out`` (one file, as the local engine, or a Parquet directory), rejected
    rows to ``<out>.rejected.csv`` (or ``<dir>/_rejected/``), counts in the metadata."""
    meta = {"rows": counts.to_dict(), **meta}
    if is_directory_output(out):
        df.write.mode("overwrite").parquet(out)
        (rejected.withColumn("timestamp", _iso()) if "timestamp" in rejected.columns else rejected) \
            .write.mode("overwrite").option("header", True).csv(out.rstrip("/") + "/_rejected")
        _write_text(spark, out.rstrip("/") + "/" + DIR_META, json.dumps(meta, indent=1, default=str))
        return out.rstrip("/") + "/_rejected/"
    df.write.parquet(ws.path("rows"))
    rejected.write.parquet(ws.path("rejected"))
    kv = {META_KEY: json.dumps(counts.to_dict()).encode()}
    kv.update({f"darkvoyage.{k}".encode(): json.dumps(v, default=str).encode() for k, v in meta.items() if k != "rows"})
    _merge_parts(ws.local("rows"), Path(out), kv)
    return str(_parts_to_csv(ws.local("rejected"), rejected_path(out)))


def _iso():
    """Time stamps as the local engine's rejected file writes them."""
    from pyspark.sql import functions as F
    return F.date_format("timestamp", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")


def _write_text(spark, path: str, text: str) -> None:
    """A small file on any Hadoop file system (the driver may not see the output's disk)."""
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    fs = p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.create(p, True)
    try:
        stream.write(bytearray(text.encode()))
    finally:
        stream.close()


def _part_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


def _merge_parts(folder: Path, out: Path, kv: dict) -> None:
    """Spark's part files -> one Parquet file (the local engine's layout), row groups streamed."""
    parts = _part_files(folder)
    if out.suffix.lower() == ".csv":
        with out.open("w", newline="") as fh:
            for i, p in enumerate(parts):
                frame = pq.read_table(p).to_pandas()
                frame.to_csv(fh, index=False, header=(i == 0))
        Path(str(out) + ".rows.json").write_text(json.dumps({k.decode(): json.loads(v) for k, v in kv.items()}, indent=1))
        return
    schema = pq.read_schema(parts[0])
    schema = schema.with_metadata({**{k: v for k, v in (schema.metadata or {}).items()
                                       if not k.startswith(b"org.apache.spark")}, **kv})
    with pq.ParquetWriter(out, schema, compression="zstd") as w:
        for p in parts:
            f = pq.ParquetFile(p)
            for i in range(f.num_row_groups):
                w.write_table(f.read_row_group(i).replace_schema_metadata(schema.metadata))


def _parts_to_csv(folder: Path, path: Path) -> Path:
    """Rejected rows as the local engine writes them (pandas CSV, ISO time stamps)."""
    parts = _part_files(folder)
    with path.open("w", newline="") as fh:
        if not parts:
            fh.write("reason,detail,file,line\n")
        for i, p in enumerate(parts):
            r = _from_spark(pq.read_table(p).to_pandas())
            if "timestamp" in r.columns and isinstance(r["timestamp"].dtype, pd.DatetimeTZDtype):
                r["timestamp"] = r["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            r.to_csv(fh, index=False, header=(i == 0))
    return path


@contextmanager
def _job(paths: Sequence, out: str, gaz: Gazetteer, cfg: Config, mode: str, master: str | None, stage: Stage):
    """Check the inputs and output (before Spark starts), start Spark, stage every row tracked;
    yields ``(spark, staged rows, files, workspace, counts)`` and removes the workspace after."""
    out = check_output(out)
    sources = plan_sources(paths)
    stage("starting Spark")
    spark = session(master)
    ws = _Workspace(spark, out)
    try:
        stage("reading, validating, tracking")
        files = _Files()
        staged = _staged(spark, sources, gaz, cfg, mode, ws, files)
        yield spark, staged, files, ws, _counts(staged)
    finally:
        ws.remove()


def run_tracks(paths: Sequence, out: str, gaz: Gazetteer | None = None, cfg: Config = DEFAULT,
               master: str | None = None, stage: Stage = no_stage) -> SparkRun:
    """``darkvoyage tracks --engine spark``: the local engine's ``tracks`` output, on Spark."""
    from pyspark.sql import functions as F
    gaz = gaz or load_gazetteer()
    with _job(paths, out, gaz, cfg, "tracks", master, stage) as (spark, staged, files, ws, counts):
        acc = _accepted(staged)
        figures = acc.agg(F.countDistinct("track_id").alias("t"), F.countDistinct("voyage_id").alias("v"),
                          F.sum(F.col("_visit_start").cast("long")).alias("p")).first()
        keep = [c for c in acc.columns if c not in S.INTERNAL and c not in ("_visit_start", "raw", FILE_ID)]
        keep = [c for c in S.REQUIRED if c in keep] + [c for c in keep if c not in S.REQUIRED]  # local order
        stage("writing")
        rej = _write(acc.select(*keep), _rejected(spark, staged, tuple(ID_TYPES), files),
                     out, counts, {"config": cfg.to_dict(), "engine": "spark"}, spark, ws)
    return SparkRun(counts, {"tracks": int(figures["t"] or 0), "voyages": int(figures["v"] or 0),
                             "port visits": int(figures["p"] or 0), "rejected": rej}, out)


def run_features(paths: Sequence, out: str, gaz: Gazetteer | None = None, cfg: Config = DEFAULT,
                 coverage: CoverageGrid | None = None, master: str | None = None,
                 stage: Stage = no_stage) -> SparkRun:
    """``darkvoyage features --engine spark``: the local engine's voyage table, on Spark."""
    from pyspark.sql import functions as F
    gaz = gaz or load_gazetteer()
    with _job(paths, out, gaz, cfg, "features", master, stage) as (spark, staged, files, ws, counts):
        fixes = _accepted(staged)
        stage("coverage grid")
        sums = _interval_sums(fixes, cfg).persist()  # small: cells x days
        grid_bc = spark.sparkContext.broadcast(coverage if coverage is not None else _coverage_grid(sums, cfg))
        try:
            stage("voyage features")
            schema = _voyage_schema()
            inputs = [c for c in staged.columns if c in FEATURE_INPUTS or c in TRACK_COLS]
            fixes.select(*inputs).groupBy(F.pmod(F.xxhash64("mmsi"), F.lit(_buckets(spark))).alias("_bucket_key")) \
                .applyInPandas(_voyage_fn(gaz, cfg, grid_bc, schema), schema).write.parquet(ws.path("voyages"))
        finally:
            grid_bc.destroy()
        stage("neighbours during gaps")
        voyages = _live_context(spark.read.parquet(ws.path("voyages")), fixes, sums, cfg)
        voyages = voyages.orderBy("mmsi", "_track_no", "start").select(*empty_voyage_table().columns)
        stage("writing")
        rej = _write(voyages, _rejected(spark, staged, tuple(TRACK_TYPES) + tuple(KEY_COLS), files), out, counts,
                     {"config": cfg.to_dict(), "feature_code_version": FEATURE_CODE_VERSION, "engine": "spark"}, spark, ws)
        # The written voyages, as Spark wrote them (the workspace parts of a single file).
        written = spark.read.parquet(out if is_directory_output(out) else ws.path("rows"))
        figures = written.agg(F.count(F.lit(1)).alias("n"), F.sum((F.col("max_gap_h") >= 12).cast("long")).alias("g")).first()
        sums.unpersist()
    return SparkRun(counts, {"voyages": int(figures["n"] or 0), "with a gap >= 12 h": int(figures["g"] or 0),
                             "rejected": rej}, out)


class SparkEngine:
    """The engine interface (:class:`features.engine.Engine`) on Spark."""

    name = "spark"

    def __init__(self, master: str | None = None):
        self.master = master

    def check_output(self, out):
        return check_output(out)

    def tracks(self, inputs, out, *, gaz=None, cfg=DEFAULT, stage=no_stage) -> Run:
        r = run_tracks(inputs, out, gaz, cfg, self.master, stage)
        return Run(r.counts, r.out, r.figures)

    def features(self, inputs, out=None, *, gaz=None, cfg=DEFAULT, coverage=None, stage=no_stage) -> Run:
        if out is None:
            raise EngineError("the Spark engine writes the voyage table: give --out")
        r = run_features(inputs, out, gaz, cfg, coverage, self.master, stage)
        return Run(r.counts, r.out, r.figures)

    def score(self, inputs, scorer, *, gaz=None, cfg=DEFAULT, coverage=None, stage=no_stage) -> Run:
        raise EngineError("watchlist --engine spark is not available yet")
