"""Read AIS positions from CSV, Parquet, NDJSON (each optionally gzip-compressed) and NMEA 0183.

Every reader maps its columns onto the canonical names (:mod:`features.schema`), keeps
columns it does not know, and tags each row with the file and line it came from. A line that
cannot be parsed at all is not dropped: it comes back in ``ReadResult.unparseable`` with its
raw text, so that ``read == positions + static + rejected`` holds.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import schema
from .errors import InputError
from .schema import DETAIL_COL, FILE_COL, LINE_COL, REASON_COL, UNPARSEABLE

log = logging.getLogger(__name__)




@dataclass
class ReadResult:
    """Rows read from the inputs.

    ``frame``: one row per parsed input row, canonical columns where present, extra columns
    as they came, plus ``_file`` and ``_line``. ``unparseable``: rows that could not be split
    into fields (``_file``, ``_line``, ``raw``, ``_reason``, ``_detail``).
    """

    frame: pd.DataFrame
    unparseable: pd.DataFrame

    @property
    def n_read(self) -> int:
        return len(self.frame) + len(self.unparseable)


def _unparseable(file: str, lines: list[int], raws: list[str], details: list[str]) -> pd.DataFrame:
    return pd.DataFrame({FILE_COL: file, LINE_COL: pd.array(lines, dtype="int64"),
                         "raw": pd.array(raws, dtype="str"), REASON_COL: UNPARSEABLE,
                         DETAIL_COL: pd.array(details, dtype="str")})


def _file_col(path: Path, n: int) -> pd.Categorical:
    """The source file of every row, as a category (millions of rows, one string)."""
    return pd.Categorical.from_codes(np.zeros(n, np.int8), categories=[str(path)])


def open_text(path: Path) -> io.TextIOBase:
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", errors="replace")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace")


def detect_format(path: Path) -> str:
    """``csv``, ``parquet``, ``ndjson`` or ``nmea``, from the suffix or, failing that, the content."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".gzip"):
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    by_ext = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
              ".json": "ndjson", ".jsonl": "ndjson", ".ndjson": "ndjson",
              ".nmea": "nmea", ".ais": "nmea"}
    if ext in by_ext:
        return by_ext[ext]
    with path.open("rb") as fh:
        if fh.read(4) == b"PAR1":
            return "parquet"
    with open_text(path) as fh:
        for line in fh:
            s = line.strip()
            if not s:
                continue
            if s[0] in "!$\\":
                return "nmea"
            if s[0] == "{":
                return "ndjson"
            return "csv"
    return "csv"


def _rename(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    names = [schema.canonical_name(c) for c in frame.columns]
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            # Two input columns map to one canonical name (e.g. both "speed" and "sog"):
            # keep the first under the canonical name, the other under its own.
            names[i] = f"{n}_{str(frame.columns[i]).strip().lower()}"
        seen[n] = i
    frame.columns = names
    missing = [c for c in ("mmsi", "timestamp") if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: no column for {', '.join(missing)} "
                         f"(found: {', '.join(map(str, frame.columns[:20]))})")
    for c in ("lat", "lon"):
        if c not in frame.columns:
            frame[c] = np.nan  # a static-only export: every row is an identity row
    return frame


def _flatten_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Nested values (GFW's ``identities`` lists) become JSON text so every writer can store them."""
    for c in frame.columns:
        if frame[c].dtype == object:
            col = frame[c]
            nested = col.map(lambda v: isinstance(v, (list, dict)))
            if nested.any():
                frame[c] = col.map(lambda v: json.dumps(v, default=str) if isinstance(v, (list, dict)) else v)
    return frame


def read_csv(path: Path) -> ReadResult:
    delimiter = "\t" if ".tsv" in [x.lower() for x in path.suffixes] else ","

    def attempt(threads: bool, as_text: bool):
        bad: list[tuple[int | None, str]] = []

        def handler(row):
            bad.append((row.number, row.text))
            return "skip"

        parse = pacsv.ParseOptions(invalid_row_handler=handler, delimiter=delimiter)
        read = pacsv.ReadOptions(use_threads=threads)
        convert = pacsv.ConvertOptions()
        if as_text:
            header = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(invalid_row_handler=lambda r: "skip",
                                                                            delimiter=delimiter),
                                    read_options=pacsv.ReadOptions(block_size=1 << 16)).column_names
            convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in header})
        return pacsv.read_csv(path, parse_options=parse, read_options=read, convert_options=convert), bad

    try:
        try:
            table, bad = attempt(True, False)
        except pa.ArrowInvalid:
            # A column whose type changes mid-file (an "abc" in the MMSI column): read as text.
            table, bad = attempt(True, True)
        if any(n is None for n, _ in bad):
            # Multi-threaded parsing does not know line numbers of bad rows; parse once more,
            # single-threaded, only for files that have any (as text if the first pass was).
            as_text = all(t == pa.string() for t in table.schema.types)
            table, bad = attempt(False, as_text)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable CSV file ({err})") from err
    frame = _rename(table.to_pandas(), path)
    bad_lines = [int(n) if n is not None else -1 for n, _ in bad]
    # Data rows sit on lines 2, 3, ... (line 1 is the header), skipping the bad ones.
    lines = np.setdiff1d(np.arange(2, len(frame) + len(bad) + 2), np.asarray(bad_lines, np.int64))
    frame[LINE_COL] = lines[:len(frame)].astype(np.int32)
    frame[FILE_COL] = _file_col(path, len(frame))
    unparseable = _unparseable(str(path), bad_lines, [t for _, t in bad], ["wrong number of fields"] * len(bad))
    return ReadResult(frame, unparseable)


def read_parquet(path: Path) -> ReadResult:
    try:
        # self_destruct frees each Arrow column once converted: half the peak memory.
        frame = pq.read_table(path).to_pandas(split_blocks=True, self_destruct=True)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{path}: not a readable Parquet file ({err})") from err
    frame = _rename(frame, path)
    frame[LINE_COL] = np.arange(1, len(frame) + 1, dtype=np.int32)
    frame[FILE_COL] = _file_col(path, len(frame))
    return ReadResult(_flatten_objects(frame), _unparseable(str(path), [], [], []))


def read_ndjson(path: Path) -> ReadResult:
    records: list[dict] = []
    lines: list[int] = []
    bad_lines: list[int] = []
    bad_raw: list[str] = []
    bad_detail: list[str] = []
    try:
        with open_text(path) as fh:
            for i, line in enumerate(fh, start=1):
                s = line.strip()
                if not s:
                    continue
                try:
                    rec = json.loads(s)  # Python's json accepts the NaN tokens GFW writes
                except json.JSONDecodeError as err:
                    bad_lines.append(i)
                    bad_raw.append(s[:2000])
                    bad_detail.append(f"invalid JSON: {err.msg}")
                    continue
                if not isinstance(rec, dict):
                    bad_lines.append(i)
                    bad_raw.append(s[:2000])
                    bad_detail.append("JSON line is not an object")
                    continue
                records.append(rec)
                lines.append(i)
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: not a readable file ({err})") from err
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(
        {c: pd.Series(dtype="object") for c in schema.REQUIRED})
    frame = _rename(frame, path)
    frame[LINE_COL] = np.asarray(lines, dtype=np.int64)
    frame[FILE_COL] = _file_col(path, len(frame))
    return ReadResult(_flatten_objects(frame), _unparseable(str(path), bad_lines, bad_raw, bad_detail))


def read_one(path: str | Path) -> ReadResult:
    """Read one input file of any supported format."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    fmt = detect_format(path)
    log.info("reading %s as %s", path, fmt)
    if fmt == "parquet":
        return read_parquet(path)
    if fmt == "ndjson":
        return read_ndjson(path)
    if fmt == "nmea":
        from .nmea import read_nmea
        return read_nmea(path)
    return read_csv(path)


def read_inputs(paths) -> ReadResult:
    """Read several files into one :class:`ReadResult` (row order across files does not matter)."""
    parts = [read_one(p) for p in paths]
    if not parts:
        raise InputError("no input files given")
    frames = [p.frame for p in parts]
    if len(frames) > 1:
        # One category list for all files, so the concatenated column stays categorical.
        files = list(dict.fromkeys(str(p) for p in paths))
        for p, f in zip(paths, frames):
            f[FILE_COL] = pd.Categorical.from_codes(np.full(len(f), files.index(str(p)), np.int32), categories=files)
        frame = pd.concat(frames, ignore_index=True, sort=False)
    else:
        frame = frames[0]
    bads = [p.unparseable for p in parts if len(p.unparseable)]
    bad = pd.concat(bads, ignore_index=True) if bads else parts[0].unparseable.iloc[:0]
    return ReadResult(frame, bad)
