"""The Spark engine equals the local engine: same rows accepted and rejected (same reasons, files
and lines), same tracks, same voyages, numeric features equal to 1e-9. On a real local[2]
Spark with the real files, a simulated month, a CSV split into many blocks, a directory output,
the CLI and spark-submit, and on a real standalone cluster (master and worker JVMs)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.spark import DIR_META, SparkEngine
from features.io import read_counts, track_positions_table, write_rejected, write_table
from features.engine import LocalEngine
from features.pipeline import run_tracks

from ..conftest import GFW_REGR, NMEA, ROOT, SPARK_TEST_JVM_FLAGS
from .conftest import MASTER  # the fixtures spark and month live there too
from ..helpers import invoke
from ..servers import free_port

TOL = 1e-9


def _cell(v):
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    return str(v)


def assert_same_table(local: pd.DataFrame, spark: pd.DataFrame, key: list[str], skip: tuple = ()):
    """Same columns, same rows (matched by ``key``), floats to 1e-9, everything else exactly."""
    assert sorted(local.columns) == sorted(spark.columns)
    assert len(local) == len(spark)
    a = local.sort_values(key, kind="stable").reset_index(drop=True)
    b = spark.sort_values(key, kind="stable").reset_index(drop=True)
    for c in a.columns:
        if c in skip:
            continue
        x, y = a[c], b[c]
        if pd.api.types.is_float_dtype(x.dtype) or pd.api.types.is_float_dtype(y.dtype):
            np.testing.assert_allclose(y.to_numpy(float), x.to_numpy(float), rtol=TOL, atol=TOL, equal_nan=True, err_msg=c)
        else:
            xs, ys = [_cell(v) for v in x.astype(object)], [_cell(v) for v in y.astype(object)]
            bad = [i for i, (p, q) in enumerate(zip(xs, ys)) if p != q]
            assert not bad, f"{c}: {len(bad)} rows differ, e.g. local {xs[bad[0]]!r} spark {ys[bad[0]]!r}"


def assert_same_watchlist(local: pd.DataFrame, spark: pd.DataFrame) -> float:
    """Same rows in the same order, every column equal, risk to 1e-9; returns max |risk diff|."""
    assert list(local.columns) == list(spark.columns) and len(local) == len(spark)
    a, b = local["risk"].to_numpy(float), spark["risk"].to_numpy(float)
    np.testing.assert_allclose(b, a, rtol=0, atol=TOL, equal_nan=True)
    for c in local.columns.drop("risk"):
        xs, ys = [_cell(v) for v in local[c].astype(object)], [_cell(v) for v in spark[c].astype(object)]
        bad = [i for i, (p, q) in enumerate(zip(xs, ys)) if p != q]
        assert not bad, f"{c}: {len(bad)} rows differ, e.g. row {bad[0]}: local {xs[bad[0]]!r} spark {ys[bad[0]]!r}"
    both = np.isfinite(a) & np.isfinite(b)
    return float(np.max(np.abs(a[both] - b[both]), initial=0.0))


def _same_reasons(a: list[dict], b: list[dict]) -> bool:
    """Reasons (feature, value, contribution, text) equal; numbers to 1e-9."""
    def num(x, y):
        return (x is None and y is None) or (x is not None and y is not None and abs(x - y) <= TOL * max(1.0, abs(x)))
    return len(a) == len(b) and all(p["feature"] == q["feature"] and p["text"] == q["text"] and num(p["value"], q["value"])
                                    and num(p["contribution"], q["contribution"]) for p, q in zip(a, b))


def _rejected_keys(path) -> list[tuple]:
    r = pd.read_csv(path, dtype=str, keep_default_na=False)
    return sorted(zip(r["reason"], r["detail"].where(r["reason"] != "unparseable row", ""), r["file"], r["line"]))


def _local_tracks(files, out: Path, gaz):
    tr = run_tracks(files, gaz)
    write_table(track_positions_table(tr, gaz), out, tr.counts)
    write_rejected(tr.rejected, out)
    return tr


def _local_features(files, out: Path, gaz, grid=None):
    run = LocalEngine().features(files, gaz=gaz, coverage=grid)
    voyages, tr = run.voyages, run.tracks
    write_table(voyages, out, tr.counts)
    write_rejected(tr.rejected, out)
    return voyages


def test_real_files_tracks_equal_local(spark, real_files, gaz, tmp_path):
    """All 39 real files at once (GFW NDJSON with nested fields, NaN tokens and junk rows; NMEA)."""
    _local_tracks(real_files, tmp_path / "local.parquet", gaz)
    run = SparkEngine(MASTER).tracks(real_files, str(tmp_path / "spark.parquet"), gaz=gaz)
    assert run.counts.balanced
    assert read_counts(tmp_path / "spark.parquet") == read_counts(tmp_path / "local.parquet")
    assert run.counts.rejected["unparseable row"] > 100 and run.counts.rejected["duplicate message"] > 5000
    local = pq.read_table(tmp_path / "local.parquet").to_pandas()
    got = pq.read_table(tmp_path / "spark.parquet").to_pandas()
    # GFW's nested `identities` is JSON text in both, written by json.dumps / Spark's to_json.
    assert_same_table(local, got, ["mmsi", "timestamp", "lat", "lon"], skip=("identities",))
    assert list(got.columns[:4]) == ["mmsi", "timestamp", "lat", "lon"]
    assert json.loads(got["identities"].dropna().iloc[0])  # still JSON
    assert run.figures["tracks"] == local["track_id"].nunique()
    # Every rejected row is the same row with the same reason (unparseable NDJSON details
    # are Python's JSON messages locally, one generic text on Spark).
    a, b = _rejected_keys(tmp_path / "local.parquet.rejected.csv"), _rejected_keys(tmp_path / "spark.parquet.rejected.csv")
    assert len(a) == sum(run.counts.rejected.values()) and a == b


def test_semicolon_and_tab_csv_read_as_locally(spark, gaz, tmp_path):
    """The delimiter is sniffed from the file's head on Spark too (a ';' export used to read
    as one column: "no column for mmsi")."""
    rows = pd.read_json(GFW_REGR / "regr_441723000.json", lines=True)[["ssvid", "timestamp", "lat", "lon"]].dropna()
    for sep, name in ((";", "semi.csv"), ("\t", "tabs.csv")):
        path = tmp_path / name
        rows.rename(columns={"ssvid": "mmsi"}).to_csv(path, sep=sep, index=False)
        _local_tracks([path], tmp_path / f"local_{name}.parquet", gaz)
        run = SparkEngine(MASTER).tracks([path], str(tmp_path / f"spark_{name}.parquet"), gaz=gaz)
        assert run.counts.positions > 100
        assert read_counts(tmp_path / f"spark_{name}.parquet") == read_counts(tmp_path / f"local_{name}.parquet")


def test_simulated_month_equal_local(spark, month, gaz, tmp_path):
    """A month of simulated Caspian traffic: every feature family, dark calls, live context."""
    local = _local_features([month], tmp_path / "local.parquet", gaz)
    run = SparkEngine(MASTER).features([month], str(tmp_path / "spark.parquet"), gaz=gaz)
    assert run.figures["voyages"] == len(local)
    got = pq.read_table(tmp_path / "spark.parquet").to_pandas()
    assert len(local) > 500 and (local["max_gap_h"] >= 12).sum() > 20
    assert local["ctx_neighbours_per_h"].notna().sum() > 100  # the live context is exercised
    assert_same_table(local, got, ["voyage_id"])
    assert list(got["voyage_id"]) == list(local["voyage_id"])  # the local order: by MMSI, track, start


def test_reference_grid_and_directory_output(spark, month, gaz, tmp_path):
    """With a model's reference coverage grid, into a Parquet directory (cluster style)."""
    from features.pipeline import build_coverage
    grid = build_coverage(run_tracks([month], gaz, keep_all=False).positions.iloc[::3].reset_index(drop=True))
    local = _local_features([month], tmp_path / "local.parquet", gaz, grid)
    out = str(tmp_path / "voyages") + "/"
    SparkEngine(MASTER).features([month], out, gaz=gaz, coverage=grid)
    got = pq.read_table(out).to_pandas()
    assert_same_table(local, got, ["voyage_id"])
    assert read_counts(out) == read_counts(tmp_path / "local.parquet")
    meta = json.loads((Path(out) / DIR_META).read_text())
    assert meta["engine"] == "spark" and meta["feature_code_version"]


def test_csv_split_into_blocks_keeps_line_numbers(spark, month, gaz, tmp_path):
    """A CSV read as many blocks by different tasks: rejected rows carry their true line."""
    pos = pd.read_parquet(month).iloc[:75_000].reset_index(drop=True)
    pos["msgid"] = np.arange(len(pos))
    pos = pd.concat([pos, pos.iloc[1000:1300]], ignore_index=True)  # 300 duplicate messages
    pos.loc[5, "mmsi"] = 12345  # invalid MMSI
    pos.loc[50_000, "lat"] = 91.0  # not available
    path = tmp_path / "a folder" / "ais+1.csv"  # Spark spells this file:/.../a%20folder/ais+1.csv
    path.parent.mkdir()
    pos.to_csv(path, index=False)
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(30_000, "273000001,2024-10-01T00:00:00Z,45.0\n")  # too few fields
    lines.insert(45_000, "junk,,,,,,,,,,,,,,,,,,,,,,,\n")  # too many
    path.write_text("".join(lines))
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(512 * 1024))
    try:
        run = SparkEngine(MASTER).tracks([path], str(tmp_path / "spark.parquet"), gaz=gaz)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    _local_tracks([path], tmp_path / "local.parquet", gaz)
    assert path.stat().st_size > 14 * 512 * 1024  # really 15 blocks
    assert run.counts.to_dict() == read_counts(tmp_path / "local.parquet")
    planted = {k: n for k, n in run.counts.rejected.items() if not k.startswith("implausible jump")}
    assert planted == {"duplicate message": 300, "invalid MMSI": 1,  # and the month's GPS interference's jumps
                       "position not available (91/181)": 1, "unparseable row": 2}
    a, b = _rejected_keys(tmp_path / "local.parquet.rejected.csv"), _rejected_keys(tmp_path / "spark.parquet.rejected.csv")
    assert a == b
    assert ("unparseable row", "", str(path), "30001") in b  # 1-based line, header is line 1
    local = pq.read_table(tmp_path / "local.parquet").to_pandas()
    got = pq.read_table(tmp_path / "spark.parquet").to_pandas()
    # CSV extra columns stay text on Spark (it does not guess types); pyarrow reads msgid as int.
    got["msgid"] = got["msgid"].astype("int64")
    assert_same_table(local, got, ["mmsi", "timestamp", "lat", "lon"])


#: A Spark configuration folder as a cluster's operator writes one (``docs/spark.md``): four
#: MMSI buckets instead of the 200 shuffle partitions Spark takes on a cluster (on a local master
#: darkvoyage takes 16); a few vessels' test files do not need more, and each bucket is a task.
SPARK_CONF = ROOT / "tests" / "data" / "spark-conf"


def _cli(*args, env=None, **kw):
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_CONF_DIR": str(SPARK_CONF),
           **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, **kw)


def test_cli_engine_spark(real_files, month, tmp_path):
    out = tmp_path / "v.parquet"
    r = _cli(sys.executable, "-m", "serving.cli", "features", str(real_files[1]), "--out", str(out),
             "--engine", "spark", "--spark-master", MASTER)
    assert r.returncode == 0, r.stderr
    assert "voyages" in r.stdout and "rejected rows" in r.stdout
    assert read_counts(out) == run_tracks([real_files[1]]).counts.to_dict()
    assert "Traceback" not in r.stderr and not re.search(r"\b(WARN|INFO) \w+:", r.stderr)  # Spark's log stays quiet
    # Bad usage: one line, exit 2, before Spark starts.
    for args, msg in ((["--engine", "sprk"], "expected local or spark"),
                      (["--spark-master", "local[2]"], "--spark-master needs --engine spark")):
        r = invoke("tracks", month, "--out", tmp_path / "t.parquet", *args)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr
    r = invoke("tracks", tmp_path / "none.json", "--out", tmp_path / "t.parquet", "--engine", "spark")
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr
    r = invoke("tracks", month, "--out", tmp_path / "t.txt", "--engine", "spark")
    assert r.returncode == 2 and "folder ending in /" in r.stderr


def _wait_for(path: Path, text: str, proc, seconds: float = 60.0) -> None:
    import time
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        assert proc.poll() is None, path.read_text(errors="replace")[-2000:]
        time.sleep(0.3)
    raise AssertionError(f"{path}: no {text!r} after {seconds} s")


def test_standalone_cluster(real_files, tmp_path):
    """The README's cluster recipe on a real Spark standalone cluster (master and worker in
    their own JVMs, executors apart from the driver): ``spark-submit --master spark://...``
    runs the CLI module; inputs of two formats read, tracked, turned into voyages and scored on
    the executor, the watchlist equal to the local engine's. (Directory output and row counts
    are checked on a local master: ``test_reference_grid_and_directory_output``.)"""
    import signal
    from pyspark.find_spark_home import _find_spark_home
    spark_class = Path(_find_spark_home()) / "bin" / "spark-class"
    port = free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable, "SPARK_CONF_DIR": str(SPARK_CONF),
           "SPARK_LOG_DIR": str(tmp_path), "SPARK_WORKER_DIR": str(tmp_path / "work")}
    procs = []
    try:
        master_log, worker_log = tmp_path / "master.log", tmp_path / "worker.log"
        procs.append(subprocess.Popen([str(spark_class), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                       "--port", str(port), "--webui-port", str(free_port())],
                                      stdout=master_log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True))
        _wait_for(master_log, "I have been elected leader", procs[0])
        procs.append(subprocess.Popen([str(spark_class), "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}",
                                       "--cores", "2", "--memory", "2g", "--webui-port", str(free_port()),
                                       "--work-dir", str(tmp_path / "work")],
                                      stdout=worker_log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True))
        _wait_for(worker_log, "Successfully registered with master", procs[1])
        files = [GFW_REGR / "regr_666000001.json", NMEA / "dma_aislib_stream_example_2010-06-11.txt"]  # two sources
        # The model broadcast to the executor; reading, tracking, voyages and scoring run there.
        model = str(ROOT / "tests" / "golden" / "model")
        submit = Path(sys.executable).parent / "spark-submit"
        jvm = [a for side in ("driver", "executor") for a in ("--conf", f"spark.{side}.defaultJavaOptions={SPARK_TEST_JVM_FLAGS}")]
        r = _cli(str(submit), "--master", f"spark://127.0.0.1:{port}", *jvm, str(ROOT / "serving" / "cli.py"), "watchlist",
                 *map(str, files), "--out", str(tmp_path / "wl_spark.csv"), "--model", model, "--engine", "spark")
        assert r.returncode == 0, r.stderr[-3000:]
        r = invoke("watchlist", *files, "--out", tmp_path / "wl_local.csv", "--model", model)
        assert r.returncode == 0, r.stderr[-3000:]
        read = lambda p: pd.read_csv(p, dtype=str, keep_default_na=False)  # noqa: E731 - text as written
        assert "app-" in worker_log.read_text()  # the job ran on the cluster's executor
        wl = read(tmp_path / "wl_local.csv")
        assert len(wl) > 20
        pd.testing.assert_frame_equal(wl, read(tmp_path / "wl_spark.csv"))
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=30)


@pytest.fixture(scope="module")
def model():
    from training.registry import load_model
    return load_model(str(ROOT / "tests" / "golden" / "model"))[0]


def test_real_files_watchlist_equal_local(spark, real_files, gaz, model):
    """``score`` on Spark (the scorer broadcast, voyages scored per MMSI bucket): the same
    scored voyage table and the same ranked watchlist as the local engine."""
    from serving.scoring import score_files, watchlist
    local = score_files(real_files, model)
    eng = SparkEngine(MASTER)
    try:
        got = score_files(real_files, model, engine=eng)  # the voyage table comes to the driver
        assert got.counts == local.counts
        cols = [c for c in local.voyages.columns if c != "reasons"]
        assert len(got.voyages) > 700 and list(got.voyages["voyage_id"]) == list(local.voyages["voyage_id"])
        assert_same_table(local.voyages[cols], got.voyages[cols], ["voyage_id"])  # every feature to 1e-9
        by_id = dict(zip(got.voyages["voyage_id"], got.voyages["reasons"]))
        bad = [v for v, r in zip(local.voyages["voyage_id"], local.voyages["reasons"]) if not _same_reasons(r, by_id[v])]
        assert not bad, (bad[:3], [by_id[v] for v in bad[:1]])
        assert_same_table(local.no_voyage, got.no_voyage, ["track_id"])
        a, b = watchlist(local.voyages, None, local.no_voyage), watchlist(got.voyages, None, got.no_voyage)
        assert len(a) > 300 and (a["level"] == "insufficient data").any()
        diff = assert_same_watchlist(a, b)
        print(f"real files: {len(a)} watchlist rows, {len(local.voyages)} voyages, max |risk diff| {diff:.1e}")
        # The listed vessels' fixes for the maps, as the local engine has them.
        tr = eng.listed_tracks(a["track_id"].head(25))
        pos = local.tracks.positions
        mine = pos[(pos["mmsi"].astype(str) + "-" + pos["track_no"].astype(str)).isin(set(a["track_id"].head(25)))]
        assert len(tr.positions) == len(mine) > 0
        assert_same_table(mine[list(tr.positions.columns)], tr.positions, ["mmsi", "timestamp", "lat", "lon"])
    finally:
        eng.close()


def test_month_watchlist_cli_equal_local(spark, month, tmp_path):
    """``darkvoyage watchlist --engine spark`` on a simulated month: the GeoJSON, which carries
    every watchlist column of every vessel and the maps (the listed vessels' fixes, gaps and
    port visits), equals the local engine's."""
    model = str(ROOT / "tests" / "golden" / "model")
    outs = {}
    for eng in ("local", "spark"):
        outs[eng] = tmp_path / f"{eng}.geojson"
        extra = ["--engine", "spark", "--spark-master", MASTER] if eng == "spark" else []
        r = invoke("watchlist", month, "--out", outs[eng], "--model", model, *extra)
        assert r.returncode == 0, r.stderr[-3000:]
    ga, gb = (json.loads(outs[e].read_text()) for e in ("local", "spark"))
    kinds = {f["properties"]["feature"] for f in ga["features"]}
    assert {"voyage", "gap", "port_visit"} <= kinds
    ranked = {f["properties"]["rank"] for f in ga["features"]}
    assert len(ranked) > 100 and any(f["properties"]["level"] == "high" for f in ga["features"])
    assert ga == gb
