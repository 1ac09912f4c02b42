"""Read AIS positions from CSV, Parquet, NDJSON (each optionally gzip-compressed) and NMEA 0183.

Every reader maps its columns onto the canonical names (:mod:`features.schema`), keeps
columns it does not know, and tags each row with the file and line it came from. A line that
cannot be parsed at all is not dropped: it comes back in ``ReadResult.unparseable`` with its
raw text, so that ``read == positions + static + rejected`` holds.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import schema
from .errors import InputError
from .schema import FILE_COL, LINE_COL
from .sources import (HEAD_BYTES, ReadResult, decode_line, file_col, is_gzip, one_line, open_binary, open_text,
                      numbered_lines, read_all_text, scan_text, unparseable_frame)

__all__ = ["InputError", "ReadResult", "detect_format", "open_text", "read_csv", "read_inputs",
           "read_ndjson", "read_one", "read_parquet"]

log = logging.getLogger(__name__)

#: Delimiters a CSV may use (contract: comma, semicolon, tab), in order of preference on a tie.
DELIMITERS = (",", ";", "\t")
#: A number written with a decimal comma ("45,5", "-0,25"): integer and fraction parts captured.
_DECIMAL_COMMA_RE = r"^\s*(-?\d+),(\d+)\s*$"
_DECIMAL_COMMA = re.compile(_DECIMAL_COMMA_RE)
#: pyarrow's block size: also the longest line a CSV may have.
CSV_BLOCK_BYTES = 1 << 20

#: File suffix -> format (a ``.gz`` after it is read through).
READ_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
              ".json": "ndjson", ".jsonl": "ndjson", ".ndjson": "ndjson",
              ".nmea": "nmea", ".ais": "nmea"}
#: First character of a text file's first non-blank line -> its format.
_BY_FIRST_CHAR = {"!": "nmea", "$": "nmea", "\\": "nmea", "{": "ndjson"}


def detect_format(path: Path) -> str:
    """``csv``, ``parquet``, ``ndjson`` or ``nmea``, from the suffix or, failing that, the content."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".gzip"):
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext in READ_SUFFIXES:
        return READ_SUFFIXES[ext]
    try:
        with open_binary(path) as fh:
            head = fh.read(4096)
    except (OSError, EOFError):
        return "csv"  # unreadable or truncated: the reader says what is wrong with it
    if head[:4] == b"PAR1":
        return "parquet"
    first = head.lstrip()[:1].decode("latin-1")
    return _BY_FIRST_CHAR.get(first, "csv")


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


def sniff_dialect(head: str, path: Path) -> tuple[str, bool]:
    """(delimiter, decimal comma?) of a CSV from its first lines.

    The delimiter is the candidate found most often in the header line (``.tsv``: tab).
    Decimal commas are recognised when the delimiter is not a comma and a field of the
    first rows looks like ``45,5``; quoted ``"45,5"`` in a comma file is fixed after reading.
    """
    lines = head.splitlines()[:50]
    header = lines[0] if lines else ""
    if ".tsv" in [x.lower() for x in path.suffixes]:
        delimiter = "\t"
    else:
        delimiter = max(DELIMITERS, key=header.count)  # the first of equal counts: DELIMITERS' order
    if delimiter == ",":
        return delimiter, False
    fields = (f for line in lines[1:] for f in line.split(delimiter))
    return delimiter, any(_DECIMAL_COMMA.match(f) for f in fields)


def _decimal_commas(table: pa.Table) -> pa.Table:
    """Canonical numeric columns still read as text ("45,5" quoted, or mixed with "45.5"):
    decimal comma -> point, vectorised; validation converts them to numbers."""
    numeric = {"lat", "lon", *schema.NUMERIC_OPTIONAL}
    for i, name in enumerate(table.column_names):
        col = table.column(i)
        if schema.canonical_name(name) in numeric and pa.types.is_string(col.type):
            fixed = pc.replace_substring_regex(col, _DECIMAL_COMMA_RE, r"\1.\2")
            table = table.set_column(i, name, fixed)
    return table


#: pyarrow's CSV errors that have a plainer explanation.
_CSV_ERRORS = {
    "straddling object": f"a line longer than {CSV_BLOCK_BYTES >> 20} MB: not a CSV file",
    "Empty CSV file": "no CSV header line",
}


def _csv_error(path: Path, err: Exception) -> InputError:
    text = str(err)
    why = next((v for k, v in _CSV_ERRORS.items() if k in text), f"not a readable CSV file ({one_line(err)})")
    return InputError(f"{path}: {why}")


def _parse_csv(source, delimiter: str, decimal_comma: bool):
    """pyarrow's CSV parse of ``source()`` (a fresh stream per call); -> (table, bad rows)."""

    def attempt(threads: bool, as_text: bool):
        bad: list[tuple[int | None, str]] = []

        def handler(row):
            bad.append((row.number, row.text))
            return "skip"

        parse = pacsv.ParseOptions(invalid_row_handler=handler, delimiter=delimiter)
        read = pacsv.ReadOptions(use_threads=threads, block_size=CSV_BLOCK_BYTES)
        convert = pacsv.ConvertOptions(decimal_point="," if decimal_comma else ".")
        if as_text:
            with source() as fh:
                header = pacsv.open_csv(fh, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                                        parse_options=pacsv.ParseOptions(invalid_row_handler=lambda r: "skip",
                                                                         delimiter=delimiter)).schema.names
            convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in header})
        with source() as fh:
            return pacsv.read_csv(fh, parse_options=parse, read_options=read, convert_options=convert), bad

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
    return table, bad


def read_csv(path: Path) -> ReadResult:
    """A CSV (``,`` ``;`` or tab, decimal point or comma, UTF-8 or cp1252/Latin-1, gzip or not).

    Clean UTF-8 files are parsed straight from disk by pyarrow (multi-threaded); only a file
    with bytes that are not UTF-8 is decoded in memory first (C-level, no per-row Python).
    """
    scan = scan_text(path, "CSV")
    if "\n" not in scan.head and len(scan.head) >= HEAD_BYTES // 2:
        raise InputError(f"{path}: no line break in the first {HEAD_BYTES >> 10} KB: not a CSV file")
    delimiter, decimal_comma = sniff_dialect(scan.head, path)
    re_decoded = 0
    if scan.utf8:
        compression = "gzip" if is_gzip(path) else None

        def source():
            return pa.input_stream(str(path), compression=compression)
    else:
        text, re_decoded = read_all_text(path, scan.encoding)
        data = pa.py_buffer(text.encode("utf-8"))
        del text

        def source():
            return pa.BufferReader(data)
    try:
        table, bad = _parse_csv(source, delimiter, decimal_comma)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as err:
        raise _csv_error(path, err) from None
    frame = _rename(_decimal_commas(table).to_pandas(), path)
    bad_lines = [int(n) if n is not None else -1 for n, _ in bad]
    # Data rows sit on lines 2, 3, ... (line 1 is the header), skipping the bad ones.
    lines = np.setdiff1d(np.arange(2, len(frame) + len(bad) + 2), np.asarray(bad_lines, np.int64))
    frame[LINE_COL] = lines[:len(frame)].astype(np.int32)
    frame[FILE_COL] = file_col(path, len(frame))
    unparseable = unparseable_frame(str(path), bad_lines, [t[:2000] for _, t in bad],
                                    ["wrong number of fields"] * len(bad))
    return ReadResult(frame, unparseable, re_decoded)


def read_parquet(path: Path) -> ReadResult:
    try:
        # self_destruct frees each Arrow column once converted: half the peak memory.
        frame = pq.read_table(path).to_pandas(split_blocks=True, self_destruct=True)
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"{path}: not a readable Parquet file ({one_line(err)})") from None
    frame = _rename(frame, path)
    frame[LINE_COL] = np.arange(1, len(frame) + 1, dtype=np.int32)
    frame[FILE_COL] = file_col(path, len(frame))
    return ReadResult(_flatten_objects(frame), unparseable_frame(str(path), [], [], []))


def _json_record(s: str) -> tuple[dict | None, str]:
    """One NDJSON line -> (record, "") or (None, why not)."""
    try:
        rec = json.loads(s)  # Python's json accepts the NaN tokens GFW writes
    except json.JSONDecodeError as err:
        return None, f"invalid JSON: {err.msg}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    if not isinstance(rec, dict):
        return None, "JSON line is not an object"
    return rec, ""


def read_ndjson(path: Path) -> ReadResult:
    records: list[dict] = []
    lines: list[int] = []
    bad_lines: list[int] = []
    bad_raw: list[str] = []
    bad_detail: list[str] = []
    re_decoded = 0
    for i, raw in numbered_lines(path, "NDJSON"):
        s, redone = decode_line(raw)
        s = s.strip()
        if not s:
            continue
        re_decoded += redone
        rec, why = _json_record(s)
        if rec is None:
            bad_lines.append(i)
            bad_raw.append(s[:2000])
            bad_detail.append(why)
            continue
        records.append(rec)
        lines.append(i)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(
        {c: pd.Series(dtype="object") for c in schema.REQUIRED})
    frame = _rename(frame, path)
    frame[LINE_COL] = np.asarray(lines, dtype=np.int64)
    frame[FILE_COL] = file_col(path, len(frame))
    return ReadResult(_flatten_objects(frame), unparseable_frame(str(path), bad_lines, bad_raw, bad_detail),
                      re_decoded)


def read_nmea(path: Path) -> ReadResult:
    """:func:`features.nmea.read_nmea`, imported when an NMEA file is read: pyais costs every
    other process (the CLI, the REST service) ~50 ms of start-up."""
    from .nmea import read_nmea as read
    return read(path)


#: Format -> reader.
READERS = {"csv": read_csv, "parquet": read_parquet, "ndjson": read_ndjson, "nmea": read_nmea}


def read_one(path: str | Path) -> ReadResult:
    """Read one input file of any supported format."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    fmt = detect_format(path)
    log.info("reading %s as %s", path, fmt)
    return READERS[fmt](path)


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
    return ReadResult(frame, bad, sum(p.re_decoded for p in parts))
