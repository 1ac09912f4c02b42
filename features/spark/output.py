"""Writing: the workspace of intermediate Parquet, and outputs exactly as the local engine
writes them (one Parquet or CSV file merged from Spark's parts on the driver, rejected rows
as CSV, counts in the metadata), or a Parquet directory on any Hadoop file system."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from ..io import META_KEY, OUTPUT_SUFFIXES, OutputError, rejected_path
from ..io import check_output as check_file_output
from ..ids import ISO_MICROS
from ..pipeline import RowCounts
from .bridge import from_spark
from .sources import is_uri

#: Metadata file of a directory output (Hadoop file systems have no Parquet key-value metadata
#: for a whole directory).
DIR_META = "_darkvoyage.json"
#: Where a run without an output (``watchlist``) keeps its intermediate Parquet: any Hadoop
#: URI all executors reach (default: the driver's temporary folder, fine on one machine).
WORKSPACE_CONF = "spark.darkvoyage.workspace"


class Workspace:
    """Intermediate Parquet beside the output, removed at the end: ``<out>._work-<id>`` for a
    directory output (any Hadoop file system), ``.<name>.<id>.work`` beside a single file,
    ``darkvoyage-<id>.work`` in :data:`WORKSPACE_CONF` (or the temporary folder) without one."""

    def __init__(self, spark, out: str | None = None):
        self.spark = spark
        tag = uuid.uuid4().hex[:8]
        if out is None:
            base = spark.conf.get(WORKSPACE_CONF, None) or Path(tempfile.gettempdir()).as_uri()
            self.root = f"{base.rstrip('/')}/darkvoyage-{tag}.work"
        elif is_directory_output(out):
            self.root = f"{out.rstrip('/')}._work-{tag}"
        else:  # the driver merges the parts into one file, so they are on its disk
            self.root = (Path(out).resolve().parent / f".{Path(out).name}.{tag}.work").as_uri()

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def remove(self) -> None:
        if self.root.startswith("file:"):  # on the driver's disk: no JVM needed (also at exit)
            shutil.rmtree(self.local(""), ignore_errors=True)
            return
        jvm = self.spark.sparkContext._jvm
        p = jvm.org.apache.hadoop.fs.Path(self.root)
        p.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration()).delete(p, True)

    def local(self, name: str) -> Path:
        from urllib.parse import unquote, urlparse
        return Path(unquote(urlparse(self.path(name)).path))


def is_directory_output(out: str) -> bool:
    """``--out`` names a Parquet directory (a URI, or a path ending in ``/``), not one file."""
    return is_uri(out) or out.endswith("/")


def check_output(out: str | Path) -> str:
    """A directory output as given; a single file as the local engine checks it."""
    out = str(out)
    if is_directory_output(out):
        return out
    if Path(out).suffix.lower() not in OUTPUT_SUFFIXES:
        raise OutputError(f"{out}: output must end in {' or '.join(OUTPUT_SUFFIXES)}, or be a folder ending in /")
    check_file_output(out)
    return out


def write(df, rejected, out: str, counts: RowCounts, meta: dict, spark, ws: Workspace) -> str:
    """Accepted rows to ``out`` (one file, as the local engine, or a Parquet directory), rejected
    rows to ``<out>.rejected.csv`` (or ``<dir>/_rejected/``), counts in the metadata."""
    meta = {"rows": counts.to_dict(), **meta}
    if is_directory_output(out):
        df.write.mode("overwrite").parquet(out)
        (rejected.withColumn("timestamp", iso_time()) if "timestamp" in rejected.columns else rejected) \
            .write.mode("overwrite").option("header", True).csv(out.rstrip("/") + "/_rejected")
        write_text(spark, out.rstrip("/") + "/" + DIR_META, json.dumps(meta, indent=1, default=str))
        return out.rstrip("/") + "/_rejected/"
    df.write.parquet(ws.path("rows"))
    rejected.write.parquet(ws.path("rejected"))
    kv = {META_KEY: json.dumps(counts.to_dict()).encode()}
    kv.update({f"darkvoyage.{k}".encode(): json.dumps(v, default=str).encode() for k, v in meta.items() if k != "rows"})
    merge_parts(ws.local("rows"), Path(out), kv)
    return str(parts_to_csv(ws.local("rejected"), rejected_path(out)))


def iso_time():
    """Time stamps as the local engine's rejected file writes them."""
    from pyspark.sql import functions as F
    return F.date_format("timestamp", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")


def write_text(spark, path: str, text: str) -> None:
    """A small file on any Hadoop file system (the driver may not see the output's disk)."""
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    fs = p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.create(p, True)
    try:
        stream.write(bytearray(text.encode()))
    finally:
        stream.close()


def part_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


def merge_parts(folder: Path, out: Path, kv: dict) -> None:
    """Spark's part files -> one Parquet file (the local engine's layout), row groups streamed."""
    parts = part_files(folder)
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


def parts_to_csv(folder: Path, path: Path) -> Path:
    """Rejected rows as the local engine writes them (pandas CSV, ISO time stamps)."""
    parts = part_files(folder)
    with path.open("w", newline="") as fh:
        if not parts:
            fh.write("reason,detail,file,line\n")
        for i, p in enumerate(parts):
            r = from_spark(pq.read_table(p).to_pandas())
            if "timestamp" in r.columns and isinstance(r["timestamp"].dtype, pd.DatetimeTZDtype):
                r["timestamp"] = r["timestamp"].dt.strftime(ISO_MICROS)
            r.to_csv(fh, index=False, header=(i == 0))
    return path


