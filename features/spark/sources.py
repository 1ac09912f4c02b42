"""Reading: input paths planned into Spark reads (files of one format and columns together),
each read to canonical columns with every record's file and number (line) attached.

Parquet, CSV and NDJSON are read by Spark itself (so a single large file is split across
tasks, and any Hadoop file system works: ``s3a://``, ``hdfs://``, ``abfss://``). NMEA has no
Spark reader: it is decoded by pyais on the driver and handed to Spark."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import schema as S
from ..io import arrow_safe, arrow_table
from ..readers import InputError, detect_format, open_text, read_one, sniff_dialect
from ..sources import HEAD_BYTES

_CORRUPT = "_corrupt"


@dataclass
class Source:
    fmt: str
    paths: list[str] = field(default_factory=list)


def is_uri(p: str) -> bool:
    return "://" in p


def format_of(p: str) -> str:
    if is_uri(p):
        name = p.rstrip("/").rsplit("/", 1)[-1]
        return detect_format(Path(name)) if "." in name else "parquet"
    path = Path(p)
    if path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith(("_", ".")))
        if not files:
            raise InputError(f"{p}: empty folder")
        return detect_format(files[0])
    return detect_format(path)


def group_key(fmt: str, p: str):
    """Files read in one Spark read must share their columns: CSV by header, Parquet by schema."""
    if is_uri(p) or Path(p).is_dir():
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


def plan_sources(paths: Sequence) -> list[Source]:
    """Input paths (files, folders, URIs) -> Spark reads, in the order given."""
    if not paths:
        raise InputError("no input files given")
    groups: dict = {}
    for raw in paths:
        p = str(raw)
        if not is_uri(p) and not Path(p).exists():
            raise InputError(f"{p}: no such file")
        fmt = format_of(p)
        groups.setdefault(group_key(fmt, p), Source(fmt)).paths.append(p)
    return list(groups.values())


def quoted(F, name: str):
    """A column by its exact name (input names may hold dots, spaces or '#')."""
    return F.col("`" + name.replace("`", "``") + "`")


def canonical_names(columns: list[str], where: str) -> list[str]:
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


class Files:
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
        local = {os.path.abspath(g): g for g in given if not is_uri(g)}
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


def json_key_order(columns: list[str], paths: list[str]) -> list[str]:
    """Spark sorts inferred JSON fields by name; the local reader keeps the files' key order
    (first record of each file, in file order). Remote files keep Spark's order."""
    order: list[str] = []
    for p in paths:
        if is_uri(p) or not Path(p).is_file():
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


def record_numbers(df, F, first: int):
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


def read_source(spark, src: Source, files: Files):
    """One Spark read -> DataFrame of canonical columns, extras, ``_file_id``, ``_line``,
    ``raw``, ``_reason``, ``_detail`` (the last three set for unparseable records only)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    where = src.paths[0] if len(src.paths) == 1 else f"{src.paths[0]} (+{len(src.paths) - 1} files)"
    if src.fmt == "nmea":
        return read_nmea(spark, src.paths[0], files)
    try:
        if src.fmt == "parquet":
            df = spark.read.option("mergeSchema", "true").parquet(*src.paths)
            names = canonical_names(df.columns, where)
            df = df.select(*[quoted(F, c).alias(n) for c, n in zip(df.columns, names)], "_metadata")
            df = df.withColumn(S.LINE_COL, F.col("_metadata.row_index") + 1)
            corrupt = None
        elif src.fmt == "csv":
            sep = _csv_delimiter(src.paths[0])
            header = spark.read.options(header=True, sep=sep).csv(src.paths[0]).columns
            names = canonical_names(header, where)
            schema = T.StructType([T.StructField(n, T.StringType()) for n in names] + [T.StructField(_CORRUPT, T.StringType())])
            df = (spark.read.options(header=True, sep=sep, mode="PERMISSIVE", columnNameOfCorruptRecord=_CORRUPT)
                  .schema(schema).csv(src.paths)).select("*", "_metadata")
            df = record_numbers(df, F, first=2)  # line 1 is the header
            corrupt = "wrong number of fields"
        else:
            df = spark.read.options(mode="PERMISSIVE", columnNameOfCorruptRecord=_CORRUPT).json(src.paths)
            if _CORRUPT not in df.columns:
                df = df.withColumn(_CORRUPT, F.lit(None).cast("string"))
            data = json_key_order([c for c in df.columns if c != _CORRUPT], src.paths)
            names = canonical_names(data, where)
            df = df.select(*[quoted(F, c).alias(n) for c, n in zip(data, names)], _CORRUPT, "_metadata")
            df = record_numbers(df, F, first=1)
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
            df = df.withColumn(f.name, F.to_json(quoted(F, f.name)))
    if corrupt:
        bad = F.col(_CORRUPT).isNotNull()
        df = (df.withColumn("raw", F.substring(_CORRUPT, 1, 2000))
              .withColumn(S.REASON_COL, F.when(bad, F.lit(S.UNPARSEABLE)))
              .withColumn(S.DETAIL_COL, F.when(bad, F.lit(corrupt))).drop(_CORRUPT))
    # Parquet has no unparseable records: validation adds the reason columns (a column of
    # nulls still costs seconds per 10 M rows at each JVM/Python crossing).
    return df.drop("_metadata")


def read_nmea(spark, path: str, files: Files):
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
    return spark.createDataFrame(arrow_table(arrow_safe(frame)))


def _csv_delimiter(path: str) -> str:
    """The delimiter of a CSV source (``,``, ``;`` or tab), sniffed from the head of its first
    file as the local reader does; a file the driver cannot open (a URI) is read as ``,``
    (``.tsv``: tab)."""
    p = Path(path.rstrip("/"))
    if p.is_file():
        with open_text(p) as fh:  # the head only: the file may be large
            return sniff_dialect(fh.read(HEAD_BYTES), p)[0]
    return "\t" if ".tsv" in p.suffixes else ","
