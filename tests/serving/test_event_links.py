"""Other-vessel evidence for the watchlist: reasons and map links (issue #14, item 2)."""

from __future__ import annotations

import pandas as pd

from serving.event_links import append_reasons, link_features, other_vessel_reasons
from tests.features.test_events import A, B, events_of, meeting


def test_reasons_name_the_partner_for_both_vessels(tmp_path, gaz):
    ev = events_of(meeting(True, True, wait_h=16), tmp_path, gaz)
    r = other_vessel_reasons(ev)
    assert r[A].startswith(f"met {B} at sea while both were dark, ")
    assert r[B].startswith(f"met {A} at sea while both were dark, ")
    wl = pd.DataFrame({"mmsi": [A, B, 273999999], "reasons": ["AIS off 8 h", "", "nothing"]})
    out = append_reasons(wl["reasons"], wl["mmsi"], ev)
    assert out[0].startswith("AIS off 8 h; met ") and out[1].startswith("met ") and out[2] == "nothing"


def test_one_side_visible_and_encounters(tmp_path, gaz):
    ev = events_of(meeting(False, True, wait_h=16), tmp_path, gaz)
    r = other_vessel_reasons(ev)
    assert "(dark) while loitering at sea with AIS on" in r[A] and "(loitering at sea, AIS on) while dark" in r[B]
    (tmp_path / "b").mkdir()
    enc = events_of(meeting(False, False), tmp_path / "b", gaz)
    assert other_vessel_reasons(enc)[A].startswith(f"alongside {B} at sea (encounter, AIS on), 6 h")


def test_link_features_join_the_two_tracks(tmp_path, gaz):
    ev = events_of(meeting(True, True, wait_h=16), tmp_path, gaz)
    links = link_features(ev, [B])
    assert len(links) == 1
    f = links[0]
    assert f["geometry"]["type"] == "LineString" and len(f["geometry"]["coordinates"]) == 3
    assert f["properties"]["feature"] == "link" and {f["properties"]["mmsi"], f["properties"]["partner_mmsi"]} == {A, B}
    assert link_features(ev, [273999999]) == []


def test_two_vessel_events_only(tmp_path, gaz):
    from features.config import DEFAULT
    from features.pipeline import run_tracks
    from serving.event_links import two_vessel_events
    from tests.helpers import write_csv
    path = write_csv(pd.concat(meeting(True, True, wait_h=16), ignore_index=True), tmp_path / "ais.csv")
    ev = two_vessel_events(run_tracks([path], gaz), gaz, DEFAULT)
    assert set(ev["kind"]) == {"dark_rendezvous"}
    assert two_vessel_events(None, gaz, DEFAULT) is None


def test_watchlist_evidence_leaves_risk_alone(tmp_path, gaz):
    from types import SimpleNamespace
    from features.config import DEFAULT
    from features.pipeline import run_tracks
    from serving.event_links import add_other_vessel_evidence, map_links
    from tests.helpers import write_csv
    path = write_csv(pd.concat(meeting(True, True, wait_h=16), ignore_index=True), tmp_path / "ais.csv")
    scored = SimpleNamespace(tracks=run_tracks([path], gaz), gaz=gaz)
    wl = pd.DataFrame({"mmsi": [A, B], "risk": [0.9, 0.1], "reasons": ["AIS off 8 h", "AIS off 8 h"]})
    out = add_other_vessel_evidence(wl, scored, DEFAULT)
    assert (out["risk"] == wl["risk"]).all() and out["reasons"].str.contains("met ").all()
    links = map_links(scored.events, [A])
    assert len(links) == 1 and set(links[0]) == {"a", "m", "b", "kind", "text"}
    spark = SimpleNamespace(tracks=None, gaz=gaz)
    assert add_other_vessel_evidence(wl, spark, DEFAULT) is wl and map_links(spark.events, [A]) == []


def test_watchlist_with_other_vessels(tmp_path, gaz):
    """``watchlist --other-vessels``: reasons name the partner, GeoJSON and HTML link the two
    tracks; without the option the watchlist is as before (golden files, Spark equality)."""
    import json
    from pathlib import Path
    from tests.helpers import console, invoke, write_csv
    root = Path(__file__).resolve().parents[2]
    path = write_csv(pd.concat(meeting(True, True, wait_h=16), ignore_index=True), tmp_path / "ais.csv")
    outs = {}
    for suffix in ("csv", "geojson", "html"):  # the console script once, the other formats in this process
        outs[suffix] = tmp_path / f"wl.{suffix}"
        r = (console if suffix == "csv" else invoke)("watchlist", path, "--out", outs[suffix], "--model",
                                                     root / "tests" / "golden" / "model", "--other-vessels")
        assert r.returncode == 0, r.stderr[-2000:]
    wl = pd.read_csv(outs["csv"], dtype={"mmsi": int})
    assert wl.set_index("mmsi").loc[A, "reasons"].count(f"met {B} at sea while both were dark") == 1
    links = [f for f in json.loads(outs["geojson"].read_text())["features"] if f["properties"]["feature"] == "link"]
    assert links and links[0]["geometry"]["type"] == "LineString"
    assert '"links": [{' in outs["html"].read_text()
    from ..helpers import browse
    dom, errors = browse(outs["html"], tmp_path / "prof")  # drawn in a real browser, without console errors
    assert 'class="link"' in dom and "met another vessel" in dom
    assert not errors
    r = invoke("watchlist", path, "--out", tmp_path / "s.csv", "--other-vessels", "--engine", "spark")
    assert r.returncode == 2 and "--other-vessels" in r.stderr
