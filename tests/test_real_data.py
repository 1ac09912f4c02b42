"""Every real file in ../shared/data/real runs through, and every row is accounted for."""

from __future__ import annotations

import json

import pandas as pd

from features.io import read_counts, rejected_path
from features.pipeline import run_tracks

from .conftest import GFW_REGR


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
    files, one global configuration. The README quotes these figures."""
    from benchmarks.segmenter_eval import evaluate
    from features.config import DEFAULT
    res = evaluate(GFW_REGR, DEFAULT)
    assert res["files"] == 34
    assert res["pairwise_precision"] >= 0.98 and res["pairwise_recall"] >= 0.96
    assert res["pairwise_f1"] >= 0.975


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
