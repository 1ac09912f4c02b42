"""Every real file in ../shared/data/real runs through, and every row is accounted for."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.io import read_counts, rejected_path
from features.pipeline import run_tracks

from ..conftest import GFW_REGR


def test_each_real_file_balances(real_files, gaz):
    assert len(real_files) >= 34 + 3 + 2  # the GFW fixtures and every NMEA text file
    for path in real_files:
        tr = run_tracks([path], gaz)
        c = tr.counts
        assert c.balanced, (path.name, c.to_dict())
        assert c.read > 0
        assert len(tr.rejected) == sum(c.rejected.values())
        # Nothing accepted is a bad position.
        assert tr.positions["lat"].between(-90, 90).all() and tr.positions["lon"].between(-180, 180).all()
        assert tr.positions["mmsi"].between(200_000_000, 799_999_999).all()


def test_known_messiness_is_caught(gaz):
    # 413503050 carries 270 positions at the 91/181 "not available" sentinels.
    c = run_tracks([GFW_REGR / "regr_413503050.json"], gaz).counts
    assert c.rejected["position not available (91/181)"] >= 270
    # 224306000 repeats messages heard by several receivers.
    c = run_tracks([GFW_REGR / "regr_224306000.json"], gaz).counts
    assert c.rejected["duplicate message"] > 900


def test_segmenter_agrees_with_gfw():
    """Pairwise F1 of the 'same segment' relation against GFW's expected segments, all 34
    files, one global configuration, and like for like with GFW's 24 h idle rule (issue #23:
    >= 0.99). The README quotes these figures."""
    from benchmarks.segmenter_eval import evaluate
    from features.config import DEFAULT
    res = evaluate(GFW_REGR, DEFAULT)
    assert res["files"] == 34
    assert res["pairwise_precision"] >= 0.98 and res["pairwise_recall"] >= 0.99
    assert res["pairwise_f1"] >= 0.99
    assert evaluate(GFW_REGR, DEFAULT.with_(track_max_idle_h=24.0))["pairwise_f1"] >= 0.99


@pytest.mark.parametrize("idle_h", [None, 24.0])
def test_no_track_spans_two_hulls(real_files, gaz, idle_h):
    """Every step inside a track is one a ship can sail (<= max_speed_kn): two positions too
    far apart for the time between them are never one track, whatever order rows arrive in
    (the shared default MMSI 416000000 and a glitch of 477293900 had one each)."""
    from features.config import DEFAULT
    from features.geo import haversine_km
    from features.tracks import epoch_us, implied_speed_kn
    cfg = DEFAULT.with_(track_max_idle_h=idle_h)
    for files in (real_files, real_files[::-1]):
        p = run_tracks(files, gaz, cfg).positions
        m, tn = p["mmsi"].to_numpy(), p["track_no"].to_numpy()
        same = (m[1:] == m[:-1]) & (tn[1:] == tn[:-1])
        la, lo = p["lat"].to_numpy(), p["lon"].to_numpy()
        v = implied_speed_kn(haversine_km(la[:-1], lo[:-1], la[1:], lo[1:]), np.diff(epoch_us(p["timestamp"])) / 1e6, cfg)
        assert not (same & (v > cfg.max_speed_kn)).any()


def test_cli_writes_outputs_with_counts(tmp_path, real_files):
    from typer.testing import CliRunner
    from serving.cli import app
    out = tmp_path / "tracks.parquet"
    res = CliRunner().invoke(app, ["tracks", *map(str, real_files), "--out", str(out)])
    assert res.exit_code == 0, res.output
    counts = read_counts(out)
    assert counts["read"] == counts["positions"] + counts["static"] + sum(counts["rejected"].values())
    table = pd.read_parquet(out)
    assert len(table) == counts["positions"]
    assert {"track_id", "voyage_id", "port_id", "msgid"} <= set(table.columns)
    rej = pd.read_csv(rejected_path(out), low_memory=False)
    assert len(rej) == sum(counts["rejected"].values())
    assert rej["reason"].value_counts().to_dict() == counts["rejected"]
    assert {"reason", "detail", "file", "line"} <= set(rej.columns)

    fout = tmp_path / "voyages.csv"
    res = CliRunner().invoke(app, ["features", *map(str, real_files), "--out", str(fout)])
    assert res.exit_code == 0, res.output
    v = pd.read_csv(fout)
    assert v["voyage_id"].is_unique and len(v) > 40
    meta = json.loads((tmp_path / "voyages.csv.rows.json").read_text())
    assert meta["darkvoyage.rows"] == counts


#: Every NMEA file of ../shared/data/real/nmea: (read, positions, static, rejected by reason),
#: exactly, so a parser regression fails. ``read`` counts AIS messages (a multi-part message
#: is one; tag-block and $PGHP lines are not rows). The README's NMEA table quotes these.
NMEA_COUNTS = {
    "dma_aisabnormal_538004030_multisource_2014-09-28.txt":
        (5332, 911, 223, {"duplicate message": 4118, "not a vessel report": 80}),
    "dma_aisabnormal_sample_2013-11-12.txt.gz":
        (27050, 23658, 130, {"duplicate message": 998, "invalid MMSI": 32, "not a vessel report": 2232}),
    "dma_aislib_stream_example_2010-06-11.txt":
        (4051, 2873, 495, {"duplicate message": 57, "invalid MMSI": 50, "not a vessel report": 565,
                           "position not available (91/181)": 11}),
    "gfw_ais_tools/bad-tagblock-group.nmea": (1, 0, 0, {"not a vessel report": 1}),
    "gfw_ais_tools/errors.nmea": (5, 3, 0, {"unparseable row": 2}),
    "gfw_ais_tools/mixed_types.nmea":
        (99, 0, 0, {"invalid MMSI": 1, "missing required field": 39, "not a vessel report": 59}),
    "gfw_ais_tools/multi-part.nmea": (43, 0, 0, {"missing required field": 10, "not a vessel report": 33}),
    "gfw_ais_tools/sample.nmea": (3, 0, 0, {"invalid MMSI": 3}),
    "gfw_ais_tools/spire-test.nmea": (2, 0, 0, {"invalid MMSI": 2}),
    "pyais_nmea_data_sample.txt":
        (898, 0, 0, {"missing required field": 764, "not a vessel report": 14, "unparseable row": 120}),
}


def test_each_real_nmea_file_has_its_exact_counts(gaz):
    """Issue #15: the Danish stream's 27,050 tag-block lines were counted as unparseable rows
    beside 23,658 positions; now every file of the folder is read with nothing unparseable
    but genuinely broken sentences."""
    from ..conftest import NMEA
    files = {str(p.relative_to(NMEA)): p for p in NMEA.rglob("*") if p.is_file()}
    assert set(files) == set(NMEA_COUNTS)
    for name, (read, positions, static, rejected) in NMEA_COUNTS.items():
        c = run_tracks([files[name]], gaz).counts
        assert (c.read, c.positions, c.static, c.rejected) == (read, positions, static, rejected), name
