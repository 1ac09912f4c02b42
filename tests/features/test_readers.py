"""Readers: every format and export flavour of the contract, and nothing lost on the way."""

from __future__ import annotations

import gzip
import json
from functools import reduce

import pandas as pd
import pytest

from features import schema as S
from features.clean import validate
from features.pipeline import run_tracks
from features.readers import InputError, detect_format, read_inputs, read_one

from ..conftest import GFW_REGR, NMEA


def _checksum(body: str) -> str:
    return f"{reduce(lambda a, c: a ^ ord(c), body, 0):02X}"


def tag_block(unix_s: int) -> str:
    body = f"s:station1,c:{unix_s}"
    return f"\\{body}*{_checksum(body)}\\"


def test_marinecadastre_csv_aliases_and_extra_columns(tmp_path):
    p = tmp_path / "mc.csv"
    p.write_text(
        "MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,Status,Draft,MsgRef\n"
        "273123456,2024-03-01T00:00:00,45.50,49.10,10.1,180.0,181,VOLGA ONE,IMO9123456,UBCD7,70,0,4.5,a1\n"
        "273123456,2024-03-01T00:02:00,45.497,49.10,10.2,180.0,181,VOLGA ONE,IMO9123456,UBCD7,70,0,4.5,a2\n")
    r = read_one(p)
    f = validate(r.frame)
    assert list(f["mmsi"]) == [273123456, 273123456]
    assert str(f["timestamp"].dtype) == "datetime64[us, UTC]"
    assert f["timestamp"].iloc[1] == pd.Timestamp("2024-03-01T00:02:00Z")  # zone-less = UTC
    assert f["name"].iloc[0] == "VOLGA ONE" and f["ship_type"].iloc[0] == "70" and f["draught"].iloc[0] == 4.5
    assert "MsgRef" in f.columns  # unknown columns pass through under their own name


def test_dma_csv_day_first_timestamps(tmp_path):
    p = tmp_path / "aisdk.csv"
    p.write_text(
        "# Timestamp,Type of mobile,MMSI,Latitude,Longitude,Navigational status,ROT,SOG,COG,Heading,IMO,Callsign,Name,Ship type,Destination,Draught\n"
        "11/06/2024 03:04:05,Class A,219000001,55.5,11.2,Under way using engine,0,12.0,90,91,Unknown,OXAB2,DANA,Cargo,AARHUS,6.1\n"
        "01/07/2024 00:00:00,Class A,219000001,55.6,11.3,Under way using engine,0,12.0,90,91,Unknown,OXAB2,DANA,Cargo,AARHUS,6.1\n")
    f = validate(read_one(p).frame)
    assert list(f["timestamp"]) == [pd.Timestamp("2024-06-11T03:04:05Z"), pd.Timestamp("2024-07-01T00:00:00Z")]
    assert f["nav_status"].iloc[0] == "Under way using engine"
    assert f["destination"].iloc[0] == "AARHUS" and "Type of mobile" in f.columns


def test_gfw_ndjson_real_file_keeps_all_rows():
    path = GFW_REGR / "regr_200000010.json"
    n_lines = sum(1 for line in path.read_text().splitlines() if line.strip())
    r = read_one(path)
    assert r.n_read == n_lines == 81
    assert {"mmsi", "timestamp", "lat", "lon", "sog", "cog", "name", "receiver_type", "msgid"} <= set(r.frame.columns)


def test_gzip_csv_and_ndjson_and_parquet_agree(tmp_path):
    rows = pd.DataFrame({"mmsi": [422000001] * 3, "timestamp": ["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z",
                                                                 "2024-01-01T00:02:00Z"],
                         "lat": [37.5, 37.501, 37.502], "lon": [49.4, 49.4, 49.4], "sog": [5.0, 5.0, 5.0]})
    rows.to_csv(tmp_path / "a.csv.gz", index=False, compression="gzip")
    with gzip.open(tmp_path / "a.ndjson.gz", "wt") as fh:
        for rec in rows.to_dict("records"):
            fh.write(json.dumps(rec) + "\n")
    rows.assign(timestamp=pd.to_datetime(rows["timestamp"])).to_parquet(tmp_path / "a.parquet")
    frames = [validate(read_one(tmp_path / n).frame)[["mmsi", "timestamp", "lat", "lon", "sog"]]
              for n in ("a.csv.gz", "a.ndjson.gz", "a.parquet")]
    for f in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], f)


def test_bad_lines_are_rows_with_a_reason(tmp_path):
    p = tmp_path / "messy.csv"
    p.write_text("mmsi,timestamp,lat,lon\n"
                 "273000001,2024-01-01T00:00:00Z,45.0,49.0\n"
                 "this line,has,too,many,fields,here\n"
                 "abc,2024-01-01T00:00:00Z,45.0,49.0\n"
                 "273000001,not a time,45.0,49.0\n"
                 "273000001,2024-01-01T00:05:00Z,91,181\n"
                 "273000001,2024-01-01T00:06:00Z,95.0,49.0\n"
                 "273000001,2024-01-01T00:07:00Z,,\n"
                 "273000001,2024-01-01T00:08:00Z,45.0,\n"
                 "12345,2024-01-01T00:09:00Z,45.0,49.0\n"
                 "273000001,2024-01-01T00:10:00Z,0,0\n")
    tr = run_tracks([p])
    c = tr.counts
    assert c.read == 10 and c.balanced
    assert c.positions == 1 and c.static == 1
    assert c.rejected == {S.UNPARSEABLE: 1, S.INVALID_MMSI: 2, S.BAD_TIMESTAMP: 1, S.NOT_AVAILABLE: 1,
                          S.OUT_OF_RANGE: 1, S.MISSING_FIELD: 1, S.NULL_ISLAND: 1}
    assert set(tr.rejected[S.LINE_COL]) == {3, 4, 5, 6, 7, 9, 10, 11}


def test_missing_required_column_is_a_clear_error(tmp_path):
    p = tmp_path / "nope.csv"
    p.write_text("ship,when,lat,lon\n1,2,3,4\n")
    with pytest.raises(InputError, match=r"nope.csv: no column for mmsi, timestamp"):
        read_one(p)
    with pytest.raises(InputError, match="no such file"):
        read_one(tmp_path / "absent.csv")


def test_format_sniffing_without_suffix(tmp_path):
    (tmp_path / "feed").write_text("!AIVDM,1,1,,A,144N8P0P1V3Phi0J2@`725b1P000,0*3B\n")
    (tmp_path / "lines").write_text('{"mmsi": 1}\n')
    assert detect_format(tmp_path / "feed") == "nmea"
    assert detect_format(tmp_path / "lines") == "ndjson"


def test_nmea_dma_stream_real_file():
    r = read_one(NMEA / "dma_aislib_stream_example_2010-06-11.txt")
    f = validate(r.frame)
    # ~4,050 messages from ~1,930 MMSIs over ~27 s (the data README), every one stamped by $PGHP.
    assert 4000 <= r.n_read <= 4100
    assert f["timestamp"].notna().all()
    assert f["timestamp"].min() >= pd.Timestamp("2010-06-11T11:46:00Z")
    assert f["timestamp"].max() <= pd.Timestamp("2010-06-11T11:47:00Z")
    # Multi-part type 5 static messages were assembled: names and destinations decoded.
    static = f[f[S.STATIC_COL]]
    assert len(static) > 100 and static["name"].notna().sum() > 100
    assert f["mmsi"].nunique() > 1500


def test_nmea_undecodable_sentences_are_reported_not_fatal():
    r = read_one(NMEA / "pyais_nmea_data_sample.txt")
    assert len(r.unparseable) >= 90  # empty payloads and broken groups
    assert r.unparseable[S.DETAIL_COL].str.contains("does not decode|incomplete").all()
    tr = run_tracks([NMEA / "pyais_nmea_data_sample.txt"])
    assert tr.counts.balanced
    # No time stamps at all in this file: every decoded row lacks a required field.
    assert tr.counts.positions == 0 and tr.counts.rejected[S.MISSING_FIELD] > 700


def test_nmea_tag_block_time_and_multipart(tmp_path):
    t = 1709251200  # 2024-03-01T00:00:00Z
    lines = [
        tag_block(t) + "!AIVDO,1,1,,A,144N8P0P1V3Phi0J2@`725b1P000,0*3D",
        "$PGHP,1,2024,3,1,0,5,0,0,219,1,992190934,1,2B*5B",
        "!AIVDO,2,1,3,A,544N8P02;=`1D8<CL01HthL61@E=@00000000016000000000;@Dm4PBj0CP,0*41",
        "!AIVDO,2,2,3,A,00000000000,2*25",
        "!AIVDO,2,1,4,A,544N8P02;=`1D8<CL01HthL61@E=@00000000016000000000;@Dm4PBj0CP,0*41",  # never completed
        "garbage that is no sentence",
    ]
    p = tmp_path / "feed.nmea"
    p.write_text("\n".join(lines) + "\n")
    r = read_one(p)
    f = validate(r.frame)
    assert r.n_read == 4
    pos = f[~f[S.STATIC_COL]].iloc[0]
    assert pos["mmsi"] == 273123456 and pos["timestamp"] == pd.Timestamp("2024-03-01T00:00:00Z")
    assert abs(pos["lat"] - 45.5) < 1e-4 and pos["sog"] == pytest.approx(10.2)
    static = f[f[S.STATIC_COL]].iloc[0]
    assert static["name"] == "VOLGA TEST" and static["destination"] == "ASTRAKHAN"
    assert static["timestamp"] == pd.Timestamp("2024-03-01T00:05:00Z")
    assert sorted(r.unparseable[S.DETAIL_COL]) == ["incomplete multi-part message", "not an NMEA AIS sentence"]


def test_several_files_in_any_order_concatenate(tmp_path):
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("mmsi,timestamp,lat,lon\n273000001,2024-01-01T00:00:00Z,45,49\n")
    b.write_text("MMSI,BaseDateTime,LAT,LON,extra\n273000002,2024-01-01T00:00:00,46,50,x\n")
    r = read_inputs([a, b])
    assert r.n_read == 2 and list(r.frame[S.FILE_COL].astype(str)) == [str(a), str(b)]
    assert r.frame["extra"].isna().iloc[0] and r.frame["extra"].iloc[1] == "x"


def test_text_that_is_not_utf8_is_re_decoded_and_counted(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes(b"mmsi,timestamp,lat,lon,name\n"
                  b"273000001,2024-01-01T00:00:00Z,45.0,49.0,K\xf8BENHAVN\n"
                  b"273000002,2024-01-01T00:00:00Z,45.0,49.0,PLAIN\n"
                  b"273000003,2024-01-01T00:00:00Z,45.0,49.0,\x80 \x81\n")  # cp1252 euro; 0x81 -> Latin-1
    r = read_one(p)
    assert r.re_decoded == 2 and r.n_read == 3
    assert list(r.frame["name"]) == ["K\u00f8BENHAVN", "PLAIN", "\u20ac \x81"]
    q = tmp_path / "b.json"
    q.write_bytes(b'{"mmsi": 273000001, "timestamp": "2024-01-01T00:00:00Z", "lat": 45, "lon": 49, "name": "\xc6GIR"}\n')
    both = read_inputs([p, q])
    assert both.re_decoded == 3 and both.frame["name"].iloc[-1] == "\u00c6GIR"
    assert read_one(GFW_REGR / "regr_200000010.json").re_decoded == 0


def test_delimiter_and_decimal_comma_sniffing(tmp_path):
    from features.readers import sniff_dialect
    from pathlib import Path
    assert sniff_dialect("mmsi;timestamp;lat;lon\n1;2;45,5;49,1\n", Path("a.csv")) == (";", True)
    assert sniff_dialect("mmsi;timestamp;lat;lon\n1;2;45.5;49.1\n", Path("a.csv")) == (";", False)
    assert sniff_dialect("mmsi\ttimestamp\tlat\tlon\n", Path("a.txt")) == ("\t", False)
    assert sniff_dialect("a,b;c\n", Path("a.tsv")) == ("\t", False)
    assert sniff_dialect("mmsi,name\n1,\"A;B;C\"\n", Path("a.csv")) == (",", False)
    p = tmp_path / "quoted.csv"  # decimal commas in a comma file must be quoted
    p.write_text('mmsi,timestamp,lat,lon,sog\n273000001,2024-01-01T00:00:00Z,"45,5","49,25","10,5"\n')
    f = validate(read_one(p).frame)
    assert (f["lat"].iloc[0], f["lon"].iloc[0], f["sog"].iloc[0]) == (45.5, 49.25, 10.5)


def test_plausible_time_window_is_configurable(tmp_path):
    from features.clean import time_window
    from features.config import Config
    p = tmp_path / "t.csv"
    p.write_text("mmsi,timestamp,lat,lon\n"
                 "273000001,1999-12-31T23:59:59Z,45,49\n"
                 "273000001,2000-01-01T00:00:00Z,45,49\n"
                 "273000001,2024-01-02T00:00:00Z,45,49\n"
                 "273000001,2024-01-02T00:00:01Z,45,49\n")
    now = pd.Timestamp("2024-01-01T00:00:00Z")
    f = validate(read_one(p).frame, now=now)
    assert list(f[S.REASON_COL].astype(object).fillna("")) == [S.TIMESTAMP_RANGE, "", "", S.TIMESTAMP_RANGE]
    f = validate(read_one(p).frame, Config(min_timestamp="1990-01-01", max_timestamp_ahead_days=30), now=now)
    assert f[S.REASON_COL].isna().all()
    lo, hi = time_window()
    assert lo == pd.Timestamp("2000-01-01T00:00:00Z") and hi > pd.Timestamp.now(tz="UTC")


def test_nmea_does_not_import_readers():
    import ast
    import features.nmea as nmea
    tree = ast.parse(open(nmea.__file__).read())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "readers" not in imported and "features.readers" not in imported


def test_validate_replaces_a_readers_marks_and_puts_them_last():
    """A reader may mark rows already (NMEA: not a vessel report): validate keeps that reason,
    marks the other rows itself, and returns each mark once, after the data columns."""
    frame = pd.DataFrame({
        "mmsi": [273000001, 273000001, 273000001], "lat": [41.0, 91.0, 41.2], "lon": [50.0, 181.0, 50.2],
        "timestamp": pd.to_datetime(["2024-03-01T00:00:00Z", "2024-03-01T00:10:00Z", "2024-03-01T00:20:00Z"]),
        S.REASON_COL: [None, None, S.NOT_VESSEL], S.DETAIL_COL: [None, None, "$PSTT"]})
    f = validate(frame, now=pd.Timestamp("2024-03-02", tz="UTC"))
    assert list(f.columns[-3:]) == [S.REASON_COL, S.DETAIL_COL, S.STATIC_COL] and f.columns.is_unique
    assert f[S.REASON_COL].tolist()[1:] == [S.NOT_AVAILABLE, S.NOT_VESSEL] and pd.isna(f[S.REASON_COL].iloc[0])
    assert f[S.DETAIL_COL].iloc[2] == "$PSTT" and not f[S.STATIC_COL].any()
