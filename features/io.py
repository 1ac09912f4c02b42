"""Writers: accepted rows and voyage tables out, rejected rows beside them, counts in metadata.

Output format by suffix: ``.parquet`` (row counts in the key-value metadata
``darkvoyage.rows``) or ``.csv`` (row counts in ``<out>.rows.json``). Rejected rows always go
to ``<out>.rejected.csv``: the row as read, ``reason``, ``detail``, ``file``, ``line``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import schema as S
from .errors import OutputError
from .gazetteer import Gazetteer
from .ids import ISO_MICROS, track_ids_arrow, voyage_ids_arrow
from .pipeline import TRACK_COLS, RowCounts, TrackResult
from .tracks import group_starts

META_KEY = b"darkvoyage.rows"
OUTPUT_SUFFIXES = (".parquet", ".csv")


def check_output(path: str | Path, suffixes: tuple[str, ...] = OUTPUT_SUFFIXES, what: str = "output") -> Path:
    """Validate an output path before any work is done: one of ``suffixes``, in a folder that
    exists. ``what`` names the output in the error ("events output", say)."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise OutputError(f"{p}: {what} must end in {' or '.join(suffixes)}")
    if not p.parent.exists():
        raise OutputError(f"{p.parent}: output folder does not exist")
    return p


def rejected_path(out: str | Path) -> Path:
    return Path(str(out) + ".rejected.csv") if not str(out).endswith(".rejected.csv") else Path(out)


def arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Mixed-type object columns (numbers and text in one column) become text."""
    for c in frame.columns:
        if frame[c].dtype == object:
            col = frame[c]
            frame[c] = pd.array([None if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v)
                                 for v in col], dtype="str")
    return frame


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """``pa.Table.from_pandas`` without the index, quietly."""
    with warnings.catch_warnings():
        # pyarrow's pandas bridge still reads Series.values of zoned time stamps, which
        # pandas 3.1 deprecates; the conversion itself is right.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return pa.Table.from_pandas(frame, preserve_index=False)


def write_table(frame: pd.DataFrame, out: str | Path, counts: RowCounts | None = None,
                extra_meta: dict | None = None) -> Path:
    """Write ``frame`` to ``out`` (.parquet or .csv) with the row counts as metadata."""
    out = Path(out)
    frame = arrow_safe(frame.copy())
    meta = counts_meta(counts) if counts is not None else {}
    for k, v in (extra_meta or {}).items():
        meta[f"darkvoyage.{k}".encode()] = json.dumps(v, default=str).encode()
    if out.suffix.lower() == ".parquet":
        table = arrow_table(frame)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
        pq.write_table(table, out, compression="zstd")
    else:
        frame.to_csv(out, index=False)
        if meta:
            write_meta_beside(out, meta)
    return out


def write_meta_beside(out: str | Path, meta: dict[bytes, bytes]) -> Path:
    """``<out>.rows.json``: the metadata of an output that has no room for it (CSV, HTML,
    GeoJSON), as :func:`read_counts` reads it. ``meta``: :func:`counts_meta`'s."""
    path = Path(str(out) + ".rows.json")
    path.write_text(json.dumps({k.decode(): json.loads(v) for k, v in meta.items()}, indent=1))
    return path


def counts_meta(counts: RowCounts) -> dict[bytes, bytes]:
    """The row counts as output metadata (key ``darkvoyage.rows``)."""
    return {META_KEY: json.dumps(counts.to_dict()).encode()}


def read_counts(path: str | Path) -> dict:
    """The ``darkvoyage.rows`` accounting of a written output."""
    path = Path(path)
    if path.is_dir():  # a Spark engine directory output
        return json.loads((path / "_darkvoyage.json").read_text())["rows"]
    if path.suffix.lower() == ".parquet":
        md = pq.read_schema(path).metadata or {}
        return json.loads(md[META_KEY])
    return json.loads(Path(str(path) + ".rows.json").read_text())["darkvoyage.rows"]


def write_rejected(rejected: pd.DataFrame, out: str | Path) -> Path:
    """``<out>.rejected.csv``: every rejected row with its reason (written even when empty)."""
    path = rejected_path(out)
    r = rejected.drop(columns=[c for c in (S.STATIC_COL,) + TRACK_COLS if c in rejected.columns])
    r = r.rename(columns={S.REASON_COL: "reason", S.DETAIL_COL: "detail", S.FILE_COL: "file", S.LINE_COL: "line"})
    front = [c for c in ("reason", "detail", "file", "line") if c in r.columns]
    r = r[front + [c for c in r.columns if c not in front]]
    if "timestamp" in r.columns and isinstance(r["timestamp"].dtype, pd.DatetimeTZDtype):
        r["timestamp"] = r["timestamp"].dt.strftime(ISO_MICROS)
    r.to_csv(path, index=False)
    return path


def track_positions_table(tr: TrackResult, gaz: Gazetteer) -> pd.DataFrame:
    """Accepted fixes with ``track_id``, ``voyage_id`` (empty while in port) and ``port_id``
    (the port of the visit the fix belongs to, empty at sea)."""
    pos = tr.positions
    n = len(pos)
    mmsi = pos["mmsi"].to_numpy(np.int64)
    track_no = pos["track_no"].to_numpy()
    visit = pos["visit"].to_numpy()
    voyage_no = pos["voyage_no"].to_numpy()
    t_us = np.asarray(pos["timestamp"].dt.as_unit("us").array.asi8)
    tstart = group_starts(mmsi, track_no)
    tid = np.cumsum(tstart) - 1
    first_row = np.flatnonzero(tstart)
    # A voyage starts at the track's first fix (voyage 0) or at the last fix of the visit
    # before it (voyage k: the k-th visit of the track).
    v = tr.visits
    vbase = np.searchsorted(v["tid"].to_numpy(), np.arange(len(first_row))) if n else np.zeros(0, np.int64)
    last_rows = v["last_row"].to_numpy(np.int64)
    at_sea = visit < 0
    k = voyage_no
    start_row = np.where(k > 0, last_rows[np.clip(vbase[tid] + k - 1, 0, max(len(last_rows) - 1, 0))]
                         if len(last_rows) else first_row[tid], first_row[tid])
    tid_str = track_ids_arrow(mmsi, track_no)
    vid = voyage_ids_arrow(tid_str, t_us[start_row])
    vid = pc.if_else(pa.array(at_sea), vid, pa.scalar(None, pa.string()))
    ids = np.asarray(gaz.ids, dtype=object)
    pidx = pos["port_idx"].to_numpy()
    port = pa.array(np.where(pidx >= 0, ids[np.maximum(pidx, 0)], None), pa.string())
    keep = [c for c in pos.columns if c not in S.INTERNAL and c not in TRACK_COLS]
    out = pos[keep].copy()
    out["track_id"] = pd.array(tid_str, dtype=pd.StringDtype("pyarrow")) if n else pd.Series(dtype="str")
    out["voyage_id"] = pd.array(vid, dtype=pd.StringDtype("pyarrow")) if n else pd.Series(dtype="str")
    out["port_id"] = pd.array(port, dtype=pd.StringDtype("pyarrow")) if n else pd.Series(dtype="str")
    return out
