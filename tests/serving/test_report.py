"""``darkvoyage report`` (issue #14): the counts behind the charts, and the page in a real
headless browser (no console errors, every chart drawn)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from features.config import DEFAULT
from serving.report import METRICS

EXE = str(Path(sys.executable).parent / "darkvoyage")


@pytest.fixture(scope="module")
def page(small_world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    res = subprocess.run([EXE, "report", str(small_world["positions"]), "--out", str(out)], capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "events: dark_rendezvous" in res.stdout
    assert "warning" not in res.stderr  # Caspian traffic: inside the gazetteer's region
    counts = json.loads(Path(str(out) + ".rows.json").read_text())["darkvoyage.rows"]
    assert sum(counts["rejected"].values()) == len(pd.read_csv(str(out) + ".rejected.csv")) > 0
    return out


def test_numbers_beside_the_page(page, small_world):
    csv = page.with_suffix(".csv")
    table = pd.read_csv(csv)
    assert list(table.columns) == ["period_type", "period", "metric", "by", "group", "count"]
    assert set(table["metric"]) == set(METRICS) and set(table["period_type"]) == {"week", "month"}
    assert set(table["by"]) == {"all", "flag", "area"}
    # Every breakdown adds up to the total of its period and metric.
    tot = table[table["by"] == "all"].set_index(["period_type", "period", "metric"])["count"]
    for by in ("flag", "area"):
        part = table[table["by"] == by].groupby(["period_type", "period", "metric"])["count"].sum()
        assert (part.reindex(tot.index, fill_value=0) == tot).all(), by
    assert "open sea" in set(table.loc[table["by"] == "area", "group"])
    weeks = table[(table["period_type"] == "week") & (table["by"] == "all")]["period"].unique()
    assert len(weeks) >= 4   # 24 days: every week, the empty ones too


def test_report_in_a_real_browser(page, tmp_path):
    from ..helpers import browse, screenshot
    html = page.read_text()
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html  # offline
    dom, errors = browse(page, tmp_path / "prof")
    assert not errors, errors
    charts = re.findall(r'<svg class="chart"[^>]*width="(\d+)" height="(\d+)"', dom)
    assert len(charts) == 2 * len(METRICS) and all(int(w) > 100 and int(h) > 100 for w, h in charts)
    bars = re.findall(r'<rect class="bar"[^>]*height="([\d.]+)"', dom)
    assert len(bars) >= 20 and all(float(h) > 0 for h in bars)
    assert "<table" in dom and "open sea" in dom
    shot = screenshot(page, tmp_path / "prof2", tmp_path / "report.png", "1280,1600")
    assert shot.exists() and shot.stat().st_size > 30_000


def test_rendezvous_to_check_first_are_ordered_by_score(page, tmp_path, gaz):
    """The page lists the month's dark rendezvous highest score first (the list's threshold
    is the floor); hand-made rows come back in score order, other kinds left out."""
    from features.events import EVENT_COLUMNS
    from serving.report import check_first
    cells = re.findall(r'<table class="check-first">(.*?)</table>', page.read_text(), re.S)
    assert cells, "the small world's month lists dark rendezvous"
    scores = [float(x) for x in re.findall(r'<td class="num">(-?\d+\.\d)</td><td class="num">[\d.]+</td></tr>', cells[0])]
    assert scores and scores == sorted(scores, reverse=True) and min(scores) >= DEFAULT.rendezvous_min_score_h
    side = "273100001-0 dark 20.0 h, 422200002-0 dark 20.0 h; both could be at 42.0000,50.5000 for up to 18.0 h"
    rows = pd.DataFrame({c: [None] * 4 for c in EVENT_COLUMNS})
    rows["kind"] = ["dark_rendezvous", "gap", "dark_rendezvous", "dark_rendezvous"]
    rows["mmsi"], rows["partner_mmsi"] = [273100001, 273100001, 273100002, 273100003], [422200002, None, 422200003, 422200004]
    rows["start"] = pd.Timestamp("2024-03-01", tz="UTC")
    rows["lat"], rows["lon"], rows["hours"] = 42.0, 50.5, 18.0
    rows["detail"] = [f"{side} from 2024-03-01 05:00 UTC; score {s} h (less 1.0 h out of step, 0.0 h off course)"
                      for s in ("9.5", "99.0", "17.0", "12.3")]
    top = check_first(rows, gaz, DEFAULT, n=2)
    assert list(top["score_h"]) == [17.0, 12.3] and list(top["mmsi"]) == [273100002, 273100003]
    assert top["area"].iloc[0] == "open sea" and top["flags"].iloc[0] == "RU / IR"


def test_report_refuses_a_wrong_suffix(small_world, tmp_path):
    res = subprocess.run([EXE, "report", str(small_world["positions"]), "--out", str(tmp_path / "r.pdf")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and ".html" in res.stderr
