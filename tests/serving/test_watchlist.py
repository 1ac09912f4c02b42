"""The watchlist: ranking and columns, GeoJSON, the offline HTML report in a real headless
Chromium, sanctions matching, and bad usage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from serving.scoring import WATCHLIST_COLUMNS
from training.simulator import SimConfig, simulate, write_scenario

from ..helpers import console
from ..helpers import invoke as cli_in_process


@pytest.fixture(scope="module")
def env(tmp_path_factory, cli_trained):
    root = tmp_path_factory.mktemp("wl")
    month = write_scenario(simulate(SimConfig(vessels=60, days=10, seed=32, start="2024-11-01")), root / "month")
    return root, month, cli_trained[1]  # the run's shared trained store


def run(e, *args):
    """The console script in its own process, with the run's trained store (``e``)."""
    return console(*args, env=e)


def invoke(e, *args):
    """The same command in this process (``run``'s answer, no interpreter start)."""
    return cli_in_process(*args, env={"MLFLOW_TRACKING_URI": e["MLFLOW_TRACKING_URI"]})


@pytest.fixture(scope="module")
def outputs(env):
    root, month, e = env
    outs = {}
    for suffix in ("csv", "parquet", "geojson", "html"):
        out = root / f"watchlist.{suffix}"
        go = run if suffix == "csv" else invoke  # the console script once; the other formats in this process
        res = go(e, "watchlist", month["positions"], "--out", out, *(["--top", "15"] if suffix == "html" else []))
        assert res.returncode == 0, res.stderr
        outs[suffix] = out
    return outs


def test_csv_and_parquet_rank_vessels(outputs, env):
    wl = pd.read_csv(outputs["csv"], keep_default_na=False, na_values={"risk": [""]})
    assert list(wl.columns) == WATCHLIST_COLUMNS
    assert list(wl["rank"]) == list(range(1, len(wl) + 1))
    # Vessels with no voyage (if the month has any) come last, risk empty: no evidence.
    none = wl["level"] == "insufficient data"
    assert (wl["risk"].isna() == none).all() and not none.iloc[:(~none).sum()].any()
    pq = pd.read_parquet(outputs["parquet"])
    assert list(pq.columns) == WATCHLIST_COLUMNS and len(pq) == len(wl)
    assert (pq["level"] == wl["level"]).all()
    wl, pq = wl[~none], pq[~none.to_numpy()]
    assert wl["risk"].is_monotonic_decreasing and wl["risk"].between(0, 1).all()
    assert wl["track_id"].is_unique and set(wl["level"]) <= {"high", "medium", "low"}
    assert (pq["voyage_id"] == wl["voyage_id"]).all()
    # A voyage cut by the edges of the data says so, in the column and in the reasons.
    assert set(wl["partial"]) <= {"start", "end", "both", ""} and (wl["partial"] != "").any()
    assert (pq["partial"].fillna("") == wl["partial"]).all()
    for flag, words in (("start", "already under way when the data starts"), ("end", "still open at the end of the data")):
        cut = wl["partial"].isin([flag, "both"])
        assert wl.loc[cut, "reasons"].str.contains(words).all()
        assert not wl.loc[~cut, "reasons"].str.contains(words).any()
    # ... and the column agrees with the voyage table's open_start / open_end.
    from features.engine import LocalEngine
    v = LocalEngine().features([env[1]["positions"]]).voyages
    v = v.set_index("voyage_id").loc[wl["voyage_id"]]
    expect = [{(1, 1): "both", (1, 0): "start", (0, 1): "end"}.get((int(a), int(b)), "")
              for a, b in zip(v["open_start"], v["open_end"])]
    assert list(wl["partial"]) == expect
    # Levels follow the model's documented cut-offs.
    assert ((wl["risk"] >= 0.5) == (wl["level"] == "high")).all(), wl[["risk", "level"]].to_string()
    assert (((wl["risk"] >= 0.1) & (wl["risk"] < 0.5)) == (wl["level"] == "medium")).all()
    top = wl[wl["level"] == "high"]
    assert len(top) == 0 or top["reasons"].str.len().min() > 10


def test_every_row_is_accounted_for_beside_each_format(outputs, env):
    """Nothing vanishes (contract section 1): beside every watchlist format the rejected rows
    (``.rejected.csv``) and the row counts (Parquet metadata, else ``.rows.json``), balanced and
    equal to what ``tracks`` counts of the same input; the terminal names each reason."""
    from features.io import read_counts
    from features.pipeline import run_tracks
    expect = run_tracks([env[1]["positions"]]).counts.to_dict()
    assert sum(expect["rejected"].values()) > 0  # the month has duplicates and jumps to account for
    for suffix, out in outputs.items():
        got = read_counts(out)
        assert got == expect, suffix
        rej = pd.read_csv(str(out) + ".rejected.csv")
        assert rej["reason"].value_counts().to_dict() == expect["rejected"], suffix


def test_reasons_claim_nothing_unmeasured(outputs):
    """A reason states what was measured: no "nan", no call said to fit where none does. Also
    on the golden month's watchlist (``tests/test_golden.py`` holds today's output to it),
    where the golden model raised 35 vessels' risk on dark-call features of gaps no call fits."""
    golden = Path(__file__).resolve().parent.parent / "golden" / "month_watchlist.csv"
    for wl in (pd.read_csv(outputs["csv"], keep_default_na=False), pd.read_csv(golden, keep_default_na=False)):
        assert len(wl) > 50 and not wl["reasons"].str.contains(r"\bnan\b").any()
        assert not wl["reasons"].str.contains("a call at a port fits").any()
        assert wl["reasons"].str.contains("fits in the gap").any()


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
        assert set(WATCHLIST_COLUMNS) <= set(p) and p["feature"] in ("voyage", "gap", "port_visit", "last_position")
        kinds.add(p["feature"])
    assert {"voyage", "gap"} <= kinds
    gaps = [f["properties"] for f in gj["features"] if f["properties"]["feature"] == "gap"]
    assert all(g["hours"] >= 1 for g in gaps)  # longer than 1 h, rounded to 0.01 h


def test_html_report_in_a_real_browser(outputs, tmp_path):
    from ..helpers import browse, screenshot
    page = outputs["html"]
    html = page.read_text()
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html  # offline
    dom, errors = browse(page, tmp_path / "prof")
    assert "<table" in dom
    assert not errors, errors
    rows = re.findall(r"<tr class=\"lv-", dom)
    assert len(rows) == 15
    assert dom.count('class="track"') >= 10          # drawn by the page's own script
    assert 'class="port"' in dom and "<path" in dom   # ports and the Caspian
    assert 'class="gap"' in dom
    shot = screenshot(page, tmp_path / "prof2", tmp_path / "report.png", "1280,760")
    assert shot.exists() and shot.stat().st_size > 20_000


def test_sanctions_matching(env, tmp_path):
    root, month, e = env
    ves = pd.read_csv(month["vessels"], dtype=str)
    # A hull under one MMSI (a new one keeps its IMO) whose static messages arrive.
    ves = ves[ves["new_mmsi"].isna() & ves["imo"].notna() & (ves["static_lost"] == "False")]
    a, b = ves.iloc[0], ves.iloc[1]
    c = ves[~ves["name"].duplicated(keep=False)].iloc[2]  # a name no other vessel shares
    sanc = tmp_path / "sanctions.csv"
    pd.DataFrame({"Vessel Name": ["", "", f"m/v {c['name'].lower()}"], "IMO Number": [f"IMO {a['imo']}", "", ""],
                  "MMSI": ["", b["mmsi"], ""]}).to_csv(sanc, index=False)
    out = tmp_path / "wl.csv"
    res = run(e, "watchlist", month["positions"], "--out", out, "--sanctions", sanc)
    assert res.returncode == 0, res.stderr
    wl = pd.read_csv(out, dtype={"mmsi": str, "identities": str}).fillna("")
    by = dict(zip(wl["mmsi"], wl["sanctions_match"]))
    assert by[a["mmsi"]] == f"IMO {a['imo']}"
    assert by[b["mmsi"]] == f"MMSI {b['mmsi']}"
    assert by[c["mmsi"]].startswith("name ")
    assert (wl["sanctions_match"] != "").sum() == 3
    hit = wl[wl["mmsi"] == a["mmsi"]].iloc[0]
    assert "on a sanctions list (IMO" in hit["reasons"]


def test_usage_errors_are_one_line(env, tmp_path):
    """The console script answers bad usage (an unknown option, a missing --out, a value out of
    range) in one line on stderr naming the command, exit 2, no traceback and no box."""
    for args, said in ((["tracks", "x.csv", "--bogus"], "tracks: No such option: --bogus"),
                       (["tracks", "x.csv"], "tracks: Missing option '--out'"),
                       (["watchlist", "x.csv", "--out", tmp_path / "w.csv", "--top", "0"], "watchlist: Invalid value for '--top'")):
        res = run(env[2], *args)
        assert res.returncode == 2 and res.stderr.startswith("darkvoyage: ") and said in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and res.stdout == "", res.stderr


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
    res = invoke(e, "watchlist", *[x.replace("{tmp}", str(tmp_path)).replace("{month}", month["positions"]) for x in args])
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and message in lines[0], res.stderr


# --- hand-built vessels: open voyages and vessels with no voyage ------------------------------

ANZALI = (37.4667, 49.4667)
AMIRABAD = (36.85, 53.365)


@pytest.fixture(scope="module")
def handbuilt(env):
    """Six vessels: at sea throughout (both edges), sea -> Anzali (start), Anzali -> sea (end),
    Anzali -> Anzali round trip between berths (closed), one lone position, and one that never
    leaves Amirabad (the last two have no voyage: insufficient data)."""
    from ..helpers import T0, chain, end_of, sail, stay, write_csv
    root = env[0]
    both = sail(273100001, T0, [(41.0, 50.0), (41.5, 50.5)])
    start = sail(273100002, T0, [(38.6, 50.0), (37.56, 49.47), ANZALI])
    start = chain(start, stay(273100002, end_of(start) + pd.Timedelta(minutes=3), *ANZALI, hours=6))
    berth = stay(273100003, T0, *ANZALI, hours=6)
    end = chain(berth, sail(273100003, end_of(berth) + pd.Timedelta(minutes=3), [ANZALI, (37.56, 49.47), (38.6, 50.0)]))
    b1 = stay(273100004, T0, *ANZALI, hours=6)
    trip = sail(273100004, end_of(b1) + pd.Timedelta(minutes=3), [ANZALI, (37.56, 49.47), (38.6, 50.0), (37.56, 49.47), ANZALI])
    closed = chain(b1, trip, stay(273100004, end_of(trip) + pd.Timedelta(minutes=3), *ANZALI, hours=6))
    lone = pd.DataFrame({"mmsi": [273100005], "timestamp": [T0 + pd.Timedelta(hours=3)], "lat": [41.2], "lon": [51.3], "sog": [9.0]})
    moored = stay(273100006, T0, *AMIRABAD, hours=20, every_min=30)
    frame = pd.concat([both, start, end, closed, lone, moored], ignore_index=True)
    frame["name"] = frame["mmsi"].map(lambda m: f"HAND {m % 100}")
    src = write_csv(frame, root / "handbuilt_positions.csv")
    outs = {}
    for suffix in ("csv", "parquet", "geojson", "html"):
        out = root / f"handbuilt.{suffix}"
        res = (run if suffix == "csv" else invoke)(env[2], "watchlist", src, "--out", out)
        assert res.returncode == 0, res.stderr
        outs[suffix] = out
    outs["stdout"] = res.stdout
    return outs


EXPECT_PARTIAL = {273100001: "both", 273100002: "start", 273100003: "end", 273100004: ""}
NO_VOYAGE = {273100005: "no voyage in the data: only one position",
             273100006: "no voyage in the data: never left port (41 positions at Amirabad)"}


def test_partial_column_and_reasons(handbuilt):
    wl = pd.read_csv(handbuilt["csv"], keep_default_na=False, na_values={"risk": [""]})
    assert list(wl.columns) == WATCHLIST_COLUMNS and len(wl) == 6
    scored = wl[wl["level"] != "insufficient data"]
    assert dict(zip(scored["mmsi"], scored["partial"])) == EXPECT_PARTIAL
    by = scored.set_index("mmsi")["reasons"]
    parts = by[273100001].split("; ")
    assert {"voyage already under way when the data starts", "voyage still open at the end of the data"} <= set(parts)
    assert "voyage already under way when the data starts" in by[273100002].split("; ") and "still open" not in by[273100002]
    assert "voyage still open at the end of the data" in by[273100003].split("; ") and "under way" not in by[273100003]
    assert "under way" not in by[273100004] and "still open" not in by[273100004]


def test_insufficient_data_rows_in_every_format(handbuilt):
    wl = pd.read_csv(handbuilt["csv"], keep_default_na=False, na_values={"risk": [""]})
    # Scored vessels first (risk descending), then the vessels with no voyage: risk empty.
    assert list(wl["rank"]) == list(range(1, 7))
    assert list(wl["level"].iloc[4:]) == ["insufficient data"] * 2 and "insufficient data" not in set(wl["level"].iloc[:4])
    assert wl["risk"].iloc[:4].is_monotonic_decreasing and wl["risk"].iloc[:4].between(0, 1).all()
    tail = wl.iloc[4:].set_index("mmsi")
    assert tail["risk"].isna().all() and dict(tail["reasons"]) == NO_VOYAGE
    for c in ("voyage_id", "voyage_start", "voyage_end", "origin_port", "destination_port", "partial"):
        assert (tail[c] == "").all(), c
    assert list(tail["name"]) == ["HAND 5", "HAND 6"] and (tail["flag"] == "RU").all()
    raw = handbuilt["csv"].read_text().splitlines()
    assert raw[-1].startswith("6,273100006,273100006-0,HAND 6,RU,,insufficient data,,,,,,")

    pq = pd.read_parquet(handbuilt["parquet"])
    assert list(pq.columns) == WATCHLIST_COLUMNS and list(pq["mmsi"]) == list(wl["mmsi"])
    pt = pq.iloc[4:]
    assert pt["risk"].isna().all() and pt["voyage_id"].isna().all() and pt["voyage_start"].isna().all()
    assert (pt["level"] == "insufficient data").all()

    gj = json.loads(handbuilt["geojson"].read_text())
    props = {}
    for f in gj["features"]:
        p = f["properties"]
        assert set(WATCHLIST_COLUMNS) <= set(p)
        props.setdefault(p["mmsi"], []).append((f["geometry"]["type"], p["feature"], p["risk"], p["level"], p["voyage_id"]))
    assert ("Point", "last_position", None, "insufficient data", None) in props[273100005]
    assert {x[1] for x in props[273100006]} == {"last_position", "port_visit"}
    assert all(x[2] is None and x[3] == "insufficient data" for x in props[273100006])
    assert {x[1] for x in props[273100001]} == {"voyage"}

    html = handbuilt["html"].read_text()
    assert html.count("<tr class='lv-insufficient-data'") == 2
    assert "no voyage in the data: only one position" in html


def test_insufficient_data_in_the_terminal_table(handbuilt):
    out = handbuilt["stdout"]
    assert "insufficient" in out and "273100006" in out and "Traceback" not in out


def test_insufficient_data_html_in_a_real_browser(handbuilt, tmp_path):
    from ..helpers import browse
    dom, errors = browse(handbuilt["html"], tmp_path / "prof")
    assert not errors, errors
    assert len(re.findall(r"<tr class=\"lv-", dom)) == 6
    assert dom.count('class="last-position"') == 2 and dom.count('class="track"') == 4
