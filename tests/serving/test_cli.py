"""The command line as a user runs it: exit codes, one-line errors, outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import GFW_REGR, NMEA, ROOT
from ..helpers import invoke

EXE = str(Path(sys.executable).parent / "darkvoyage")


def run(*args, cwd=None):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["features", "/no/such/file.csv", "--out", "{tmp}/v.parquet"], "/no/such/file.csv: no such file"),
    (["features", str(GFW_REGR / "regr_200000010.json"), "--out", "{tmp}/v.txt"], "output must end in .parquet or .csv"),
    (["features", str(GFW_REGR / "regr_200000010.json"), "--out", "{tmp}/nodir/v.parquet"], "output folder does not exist"),
    (["tracks", str(GFW_REGR / "regr_200000010.json"), "--out", "{tmp}/t.parquet", "--set", "gap_hourz=2"], "--set 'gap_hourz=2'"),
    (["tracks", str(GFW_REGR / "regr_200000010.json"), "--out", "{tmp}/t.parquet", "--set", "gap_hours=abc"], "is not a valid value"),
    (["tracks", "{tmp}/garbage.parquet", "--out", "{tmp}/t.parquet"], "not a readable Parquet file"),
    (["tracks", "{tmp}/nocols.csv", "--out", "{tmp}/t.parquet"], "no column for mmsi"),
    (["features", str(GFW_REGR / "regr_200000010.json"), "--out", "{tmp}/v.parquet", "--gazetteer", "{tmp}/nocols.csv"], "gazetteer lacks column"),
])
def test_bad_usage_exits_2_with_one_line(tmp_path, args, message):
    (tmp_path / "garbage.parquet").write_bytes(b"PAR1 this is not parquet")
    (tmp_path / "nocols.csv").write_text("a,b\n1,2\n")
    res = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], res.stderr


def test_missing_argument_is_usage_error(tmp_path):
    res = run("features", "--out", tmp_path / "v.parquet")
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_features_command_end_to_end(tmp_path):
    out = tmp_path / "v.parquet"
    res = run("features", GFW_REGR / "regr_224306000.json", GFW_REGR / "regr_412331088.json", "--out", out,
              "--set", "gap_hours=2")
    assert res.returncode == 0, res.stderr
    v = pd.read_parquet(out)
    assert "voyages" in res.stdout and "duplicate message" in res.stdout
    assert set(v["mmsi"]) == {224306000, 412331088}
    # gap_hours=2: no counted gap is shorter than 2 h.
    assert (v.loc[v["n_gaps_1h"] > 0, "max_gap_h"] > 2).all()
    import pyarrow.parquet as pq
    import json
    meta = pq.read_schema(out).metadata
    assert json.loads(meta[b"darkvoyage.config"])["gap_hours"] == 2.0


#: What every command that reads AIS says, once, when most fixes lie far from the gazetteer's ports.
OUTSIDE = "of the positions lie over 500 km from every port of the gazetteer"


def test_every_command_that_reads_ais_says_when_it_lies_outside_the_gazetteers_sea(tmp_path):
    """``watchlist``, ``events`` and ``report`` said it; ``watch`` (the desk's daily path) fed a
    Danish file stored and alerted without a word. Now every command that reads AIS says it once,
    and Caspian traffic draws nothing."""
    danish = NMEA / "dma_aisabnormal_538004030_multisource_2014-09-28.txt"
    caspian = tmp_path / "caspian.csv"
    caspian.write_text("mmsi,timestamp,lat,lon\n" + "".join(f"273000001,2024-01-01T00:{m:02d}:00Z,45.{m:02d},49.0\n"
                                                              for m in range(30)))
    model = ROOT / "tests" / "golden" / "model"
    for name, src in (("danish", danish), ("caspian", caspian)):
        for args in (["tracks", src, "--out", tmp_path / f"{name}_t.parquet"],
                     ["features", src, "--out", tmp_path / f"{name}_v.parquet"],
                     ["identities", src, "--out", tmp_path / f"{name}_i.csv"],
                     ["watch", src, "--store", tmp_path / f"{name}.db", "--model", model],
                     ["card", "538004030" if name == "danish" else "273000001", src, "--out",
                      tmp_path / f"{name}.html", "--model", model]):
            r = invoke(*args)
            assert r.returncode == 0, (args, r.output)
            assert r.stderr.count(OUTSIDE) == (name == "danish"), (args, r.stderr)


@pytest.mark.parametrize("command", ["tracks", "features", "watchlist"])
def test_a_missing_spark_engine_is_one_line_naming_its_install_and_exit_2(tmp_path, command):
    """Without PySpark (hidden from the interpreter here), ``--engine spark`` says what to
    install in one line and exits 2 (it was an internal error, exit 1, for ``features``)."""
    import os
    hide = tmp_path / "nospark"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['pyspark'] = None\n")
    exe = str(Path(sys.executable).parent / "darkvoyage")
    root = Path(__file__).resolve().parents[2]
    extra = ["--model", str(root / "tests" / "golden" / "model")] if command == "watchlist" else []
    out = tmp_path / ("out.csv" if command == "watchlist" else "out.parquet")
    res = subprocess.run([exe, command, str(sorted(GFW_REGR.glob("*.json"))[0]), "--out", str(out), "--engine", "spark",
                          *extra], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(hide)})
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "uv sync --extra spark" in lines[0] and not out.exists(), res.stderr


def test_no_make_target_removes_what_another_installed():
    """``make test`` installs the spark extra, ``make demo`` must not take it away again: every
    sync the targets run is --inexact (``uv run`` never removes packages)."""
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run(["make", "-n", "-C", str(root), "setup", "demo", "test", "bench"], capture_output=True,
                         text=True, timeout=60)
    syncs = [line for line in res.stdout.splitlines() if " sync " in f" {line} "]
    assert len(syncs) >= 3, res.stdout
    assert all("--inexact" in line for line in syncs), syncs
    assert not any("--exact" in line for line in res.stdout.splitlines())
