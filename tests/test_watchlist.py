"""The watchlist: ranking and columns, GeoJSON, the offline HTML report in a real headless
Chromium, sanctions matching, and bad usage."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from serving.scoring import WATCHLIST_COLUMNS
from training.simulator import SimConfig, simulate, write_scenario

EXE = str(Path(sys.executable).parent / "darkvoyage")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("wl")
    train = write_scenario(simulate(SimConfig(vessels=120, days=20, seed=31, suspicious_share=0.2)), root / "train")
    month = write_scenario(simulate(SimConfig(vessels=60, days=10, seed=32, start="2024-11-01")), root / "month")
    e = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    res = subprocess.run([EXE, "train", "--positions", train["positions"], "--labels", train["labels"]],
                         env=e, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return root, month, e


def run(e, *args):
    return subprocess.run([EXE, *map(str, args)], env=e, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def outputs(env):
    root, month, e = env
    outs = {}
    for suffix in ("csv", "parquet", "geojson", "html"):
        out = root / f"watchlist.{suffix}"
        res = run(e, "watchlist", month["positions"], "--out", out, *(["--top", "15"] if suffix == "html" else []))
        assert res.returncode == 0, res.stderr
        outs[suffix] = out
    return outs


def test_csv_and_parquet_rank_vessels(outputs, env):
    wl = pd.read_csv(outputs["csv"])
    assert list(wl.columns) == WATCHLIST_COLUMNS
    assert list(wl["rank"]) == list(range(1, len(wl) + 1))
    assert wl["risk"].is_monotonic_decreasing and wl["risk"].between(0, 1).all()
    assert wl["track_id"].is_unique and set(wl["level"]) <= {"high", "medium", "low"}
    pq = pd.read_parquet(outputs["parquet"])
    assert list(pq.columns) == WATCHLIST_COLUMNS and len(pq) == len(wl)
    assert (pq["voyage_id"] == wl["voyage_id"]).all()
    # Levels follow the model's documented cut-offs.
    assert ((wl["risk"] >= 0.5) == (wl["level"] == "high")).all()
    assert (((wl["risk"] >= 0.1) & (wl["risk"] < 0.5)) == (wl["level"] == "medium")).all()
    top = wl[wl["level"] == "high"]
    assert len(top) == 0 or top["reasons"].str.len().min() > 10


def test_geojson_is_valid(outputs):
    gj = json.loads(outputs["geojson"].read_text())
    assert gj["type"] == "FeatureCollection" and gj["features"]
    kinds = set()
    for f in gj["features"]:
        assert f["type"] == "Feature" and f["geometry"]["coordinates"]
        assert f["geometry"]["type"] in ("LineString", "Point")
        if f["geometry"]["type"] == "LineString":
            assert len(f["geometry"]["coordinates"]) >= 2
            assert all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in f["geometry"]["coordinates"])
        p = f["properties"]
        assert set(WATCHLIST_COLUMNS) <= set(p) and p["feature"] in ("voyage", "gap", "port_visit")
        kinds.add(p["feature"])
    assert {"voyage", "gap"} <= kinds
    gaps = [f["properties"] for f in gj["features"] if f["properties"]["feature"] == "gap"]
    assert all(g["hours"] > 1 for g in gaps)


@pytest.fixture(scope="module")
def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: .ci/run installs Debian's chromium for this test")
    return exe


CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_html_report_in_a_real_browser(outputs, chromium, tmp_path):
    page = outputs["html"]
    html = page.read_text()
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html  # offline
    res = subprocess.run([chromium, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'prof'}", "--enable-logging=stderr",
                          "--v=0", "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    dom = res.stdout
    assert "<table" in dom, res.stderr[-2000:]
    errors = [line for line in res.stderr.splitlines() if "CONSOLE" in line and ("Error" in line or "Uncaught" in line)]
    assert not errors, errors
    rows = re.findall(r"<tr class=\"lv-", dom)
    assert len(rows) == 15
    assert dom.count('class="track"') >= 10          # drawn by the page's own script
    assert 'class="port"' in dom and "<path" in dom   # ports and the Caspian
    assert 'class="gap"' in dom
    shot = tmp_path / "report.png"
    subprocess.run([chromium, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'prof2'}", "--window-size=1280,760",
                    "--virtual-time-budget=3000", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000


def test_sanctions_matching(env, tmp_path):
    root, month, e = env
    ves = pd.read_csv(month["vessels"], dtype=str)
    a, b, c = ves.iloc[0], ves.iloc[1], ves.iloc[2]
    sanc = tmp_path / "sanctions.csv"
    pd.DataFrame({"Vessel Name": ["", "", f"m/v {c['name'].lower()}"], "IMO Number": [f"IMO {a['imo']}", "", ""],
                  "MMSI": ["", b["mmsi"], ""]}).to_csv(sanc, index=False)
    out = tmp_path / "wl.csv"
    res = run(e, "watchlist", month["positions"], "--out", out, "--sanctions", sanc)
    assert res.returncode == 0, res.stderr
    wl = pd.read_csv(out, dtype={"mmsi": str}).fillna("")
    by = dict(zip(wl["mmsi"], wl["sanctions_match"]))
    assert by[a["mmsi"]] == f"IMO {a['imo']}"
    assert by[b["mmsi"]] == f"MMSI {b['mmsi']}"
    assert by[c["mmsi"]].startswith("name ")
    assert (wl["sanctions_match"] != "").sum() == 3
    hit = wl[wl["mmsi"] == a["mmsi"]].iloc[0]
    assert "on a sanctions list (IMO" in hit["reasons"]


@pytest.mark.parametrize("args, message", [
    (["{tmp}/missing.csv", "--out", "{tmp}/w.csv"], "no such file"),
    (["{month}", "--out", "{tmp}/w.xlsx"], "watchlist output must end in"),
    (["{tmp}/junk.csv", "--out", "{tmp}/w.csv"], "no column for mmsi"),
    (["{month}", "--out", "{tmp}/w.csv", "--sanctions", "{tmp}/junk.txt"], "needs an IMO, MMSI or name column"),
])
def test_bad_usage(env, tmp_path, args, message):
    root, month, e = env
    (tmp_path / "junk.csv").write_text("a,b\n1,2\n")
    (tmp_path / "junk.txt").write_text("x,y\n1,2\n")
    res = run(e, "watchlist", *[x.replace("{tmp}", str(tmp_path)).replace("{month}", month["positions"]) for x in args])
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and message in lines[0], res.stderr
