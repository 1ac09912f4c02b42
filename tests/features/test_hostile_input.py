"""Hostile input through the real command line (issue #15): every bad file gets exit 2 and
exactly one stderr line, ``darkvoyage: <file>: <reason>``, and nothing else (no traceback, no
"Exception ignored"); every readable one gets exit 0 and rows that add up. The README's
"Hostile input" table lists these cases and what each gets."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.io import read_counts, rejected_path

EXE = str(Path(sys.executable).parent / "darkvoyage")
HEADER = "mmsi,timestamp,lat,lon,name\n"
ROW = "273000001,2024-01-01T00:{m:02d}:00Z,45.{m:02d},49.0,VOLGA\n"


def run(*args):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, timeout=300)


def _csv(n: int = 3) -> bytes:
    return (HEADER + "".join(ROW.format(m=m) for m in range(n))).encode()


def _gzip_truncated() -> bytes:
    data = gzip.compress(_csv(2000))
    return data[: len(data) // 2]


def _parquet_truncated() -> bytes:
    buf = io.BytesIO()
    pd.read_csv(io.BytesIO(_csv(50))).to_parquet(buf)
    return buf.getvalue()[:-100]


#: file name, content, the reason after "darkvoyage: <path>: ".
REFUSED = [
    ("empty.csv", b"", "empty file (no CSV rows)"),
    ("blank.csv", b"\n\n  \n", "empty file (no CSV rows)"),
    ("empty.nmea", b"", "empty file (no NMEA rows)"),
    ("truncated.csv.gz", _gzip_truncated(),
     "truncated or corrupt gzip data (Compressed file ended before the end-of-stream marker was reached)"),
    ("not_gzip.csv.gz", b"\x1f\x8bjunkjunkjunk", "truncated or corrupt gzip data (Unknown compression method)"),
    ("random.csv", bytes(range(256)) * 400, "binary data, not CSV text (12% control bytes in the first 65,536 bytes)"),
    ("random.json", bytes(range(256)) * 400, "binary data, not NDJSON text (12% control bytes in the first 65,536 bytes)"),
    ("random.nmea", bytes(range(256)) * 400, "binary data, not NMEA text (12% control bytes in the first 65,536 bytes)"),
    ("huge_line.csv", b"a" * 50_000_000, "no line break in the first 64 KB: not a CSV file"),
    ("long_row.csv", _csv(2) + b"9" * 3_000_000 + b"\n" + _csv(2), "a line longer than 1 MB: not a CSV file"),
    ("truncated.parquet", _parquet_truncated(), None),
    ("utf16.nmea", "!AIVDM,1,1,,A,144N8P0P1V3Phi0J2@`725b1P000,0*3B\n".encode("utf-16"), "UTF-16 text; save it as UTF-8"),
    ("semicolon_no_mmsi.csv", b"ship;when;lat;lon\n1;2;3;4\n", "no column for mmsi, timestamp (found: ship, when, lat, lon)"),
]


@pytest.mark.parametrize("name, content, reason", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_input_is_one_line_and_exit_2(tmp_path, name, content, reason):
    bad = tmp_path / name
    bad.write_bytes(content)
    res = run("features", bad, "--out", tmp_path / "v.parquet")
    err = res.stderr.decode("utf-8")
    assert res.returncode == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err and "Exception ignored" not in err, err
    if reason is None:  # pyarrow's own words follow; only the start is ours
        assert err.startswith(f"darkvoyage: {bad}: not a readable Parquet file ("), err
    else:
        assert err == f"darkvoyage: {bad}: {reason}\n"
    assert not (tmp_path / "v.parquet").exists()


def _accepted(tmp_path, name: str, content: bytes, command: str = "tracks"):
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "out.parquet"
    res = run(command, path, "--out", out)
    err = res.stderr.decode("utf-8")
    assert res.returncode == 0 and err == "", err
    return read_counts(out), pd.read_parquet(out), pd.read_csv(rejected_path(out), keep_default_na=False)


def test_latin1_vessel_name_keeps_its_row(tmp_path):
    """Issue #15: one cp1252/Latin-1 byte in a name was "internal error", exit 1."""
    content = HEADER.encode() + b"273000001,2024-01-01T00:00:00Z,45.0,49.0,K\xf8BENHAVN\n"
    counts, table, _ = _accepted(tmp_path, "latin1.csv", content)
    assert counts == {"read": 1, "positions": 1, "static": 0, "rejected": {}}
    assert "name" not in table or table["name"].tolist() == ["K\u00f8BENHAVN"]


def test_mixed_utf8_and_latin1_lines(tmp_path):
    content = (HEADER.encode() + "273000001,2024-01-01T00:00:00Z,45.0,49.0,MÜNCHEN\n".encode()
               + "273000002,2024-01-01T00:00:00Z,45.0,49.0,MÜNCHEN\n".encode("cp1252")
               + "273000003,2024-01-01T00:00:00Z,45.0,49.0,€URO\n".encode("cp1252"))
    counts, table, _ = _accepted(tmp_path, "mixed.csv", content)
    assert counts == {"read": 3, "positions": 3, "static": 0, "rejected": {}}
    assert sorted(table["name"]) == ["MÜNCHEN", "MÜNCHEN", "€URO"]


def test_nul_bytes_inside_a_csv(tmp_path):
    content = (HEADER.encode() + b"273000001,2024-01-01T00:00:00Z,45.0,49.0,AB\x00C\n"
               + b"27300\x0002,2024-01-01T00:01:00Z,45.0,49.0,X\n")
    counts, _, rej = _accepted(tmp_path, "nul.csv", content)
    assert counts == {"read": 2, "positions": 1, "static": 0, "rejected": {"invalid MMSI": 1}}
    assert rej["line"].tolist() == [3]


def test_semicolon_csv_with_decimal_commas(tmp_path):
    """Issue #15: a semicolon-separated CSV with decimal commas gave "no column for mmsi"."""
    content = (b"MMSI;BaseDateTime;LAT;LON;SOG\n"
               b"273000001;2024-01-01T00:00:00;45,50;49,10;10,5\n"
               b"273000001;2024-01-01T00:02:00;45,497;49,1;10,2\n")
    counts, table, _ = _accepted(tmp_path, "semi.csv", content)
    assert counts == {"read": 2, "positions": 2, "static": 0, "rejected": {}}
    assert table["lat"].tolist() == [45.5, 45.497] and table["lon"].tolist() == [49.1, 49.1]


def test_tab_separated_with_csv_suffix(tmp_path):
    content = b"mmsi\ttimestamp\tlat\tlon\n273000001\t2024-01-01T00:00:00Z\t45,5\t49,25\n"
    counts, table, _ = _accepted(tmp_path, "tabs.csv", content)
    assert counts["positions"] == 1 and table["lon"].tolist() == [49.25]


def test_years_1970_and_9999_are_out_of_range(tmp_path):
    """Issue #15: 1970 and 9999 in one track were accepted: a gap of millions of hours."""
    content = (HEADER + ROW.format(m=0) + "273000001,1970-01-01T00:00:00Z,45.0,49.0,VOLGA\n"
               + "273000001,9999-12-31T00:00:00Z,45.0,49.0,VOLGA\n" + ROW.format(m=5)).encode()
    counts, _, rej = _accepted(tmp_path, "years.csv", content, command="features")
    assert counts == {"read": 4, "positions": 2, "static": 0, "rejected": {"timestamp out of range": 2}}
    assert rej["line"].tolist() == [3, 4]


def test_truncated_csv_last_row_is_a_row_with_a_reason(tmp_path):
    counts, _, rej = _accepted(tmp_path, "cut.csv", _csv(3) + b"273000001,2024-01-01T00:0")
    assert counts == {"read": 4, "positions": 3, "static": 0, "rejected": {"unparseable row": 1}}
    assert rej["detail"].tolist() == ["wrong number of fields"]


def test_huge_nmea_line_is_one_unparseable_row(tmp_path):
    counts, _, rej = _accepted(tmp_path, "huge.nmea", b"!" + b"A" * 50_000_000)
    assert counts == {"read": 1, "positions": 0, "static": 0, "rejected": {"unparseable row": 1}}
    assert rej["detail"].tolist() == ["line longer than 65,536 characters"]


def test_ndjson_latin1_and_broken_lines(tmp_path):
    content = (b'{"mmsi": 273000001, "timestamp": "2024-01-01T00:00:00Z", "lat": 45, "lon": 49, "name": "K\xf8GE"}\n'
               b'{"mmsi": 273000001, "timestamp": "2024-01-01T00:01:00Z", "lat": 45,\n'
               b"[1, 2]\n" + b"[" * 100_000 + b"\n")
    counts, table, rej = _accepted(tmp_path, "lines.json", content)
    assert counts == {"read": 4, "positions": 1, "static": 0, "rejected": {"unparseable row": 3}}
    assert table["name"].tolist() == ["K\u00f8GE"]
    assert sorted(rej["detail"].str.split(":").str[0]) == ["JSON line is not an object", "invalid JSON", "invalid JSON"]


def test_output_metadata_of_a_hostile_run_balances(tmp_path):
    content = HEADER.encode() + b"273000001,2024-01-01T00:00:00Z,45.0,49.0,K\xf8BENHAVN\n"
    path = tmp_path / "a.csv"
    path.write_bytes(content)
    out = tmp_path / "v.parquet"
    assert run("features", path, "--out", out).returncode == 0
    meta = pq.read_schema(out).metadata
    assert b"darkvoyage.rows" in meta


def test_excel_unicode_text_utf16_tabs_and_utf8_bom(tmp_path):
    """Excel's "Unicode text" export: UTF-16 with a byte-order mark, tab-separated, decimal commas."""
    text = "MMSI\tBaseDateTime\tLAT\tLON\tVesselName\n273000001\t2024-01-01T00:00:00\t45,5\t49,0\tKØGE\n"
    counts, table, _ = _accepted(tmp_path, "excel.csv", text.encode("utf-16"))
    assert counts["positions"] == 1 and table["lat"].tolist() == [45.5] and table["name"].tolist() == ["KØGE"]
    counts, _, _ = _accepted(tmp_path, "bom.csv", b"\xef\xbb\xbf" + _csv(2))
    assert counts == {"read": 2, "positions": 2, "static": 0, "rejected": {}}


def test_header_only_csv_and_tag_blocks_only_nmea(tmp_path):
    counts, _, _ = _accepted(tmp_path, "header.csv", HEADER.encode())
    assert counts == {"read": 0, "positions": 0, "static": 0, "rejected": {}}
    counts, _, rej = _accepted(tmp_path, "tags.nmea", b"\\si:AISD*3F\\\n\\si:AISD*3F\\\n")
    assert counts == {"read": 2, "positions": 0, "static": 0, "rejected": {"unparseable row": 2}}
    assert rej["detail"].tolist() == ["tag block without a sentence"] * 2
