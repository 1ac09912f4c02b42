"""The desk's REST routes on a real server (``darkvoyage serve --store``) over a store that
``watch`` filled: alerts listed and filtered, a vessel's page as JSON, an analyst's verdict that
moves an alert's status; 401 without a valid key, 404 for an unknown alert or vessel, 4xx for
bad input, never 5xx; the schema fuzzer over the three routes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

from serving.desk.analysts import add_analyst
from serving.desk.store import open_store
from serving.desk.watch import watch
from training.registry import load_model

from ..servers import EXE, darkvoyage_server

GOLDEN_MODEL = Path(__file__).resolve().parent.parent / "golden" / "model"
KEY = "service-key-for-tests"


@pytest.fixture(scope="module")
def desk(small_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("desk")
    pos = pd.read_parquet(small_world["positions"])
    files = []
    for k, (_, g) in enumerate(pos.groupby(pos["timestamp"].dt.floor("D"))):
        if k < 6:
            files.append(root / f"day{k}.parquet")
            g.to_parquet(files[-1], index=False)
    db = root / "desk.db"
    store = open_store(str(db))
    m, info = load_model(str(GOLDEN_MODEL))
    alerts = watch(files, store, m, info).alerts
    analyst_key = add_analyst(store, "Ann Analyst")
    env = {**os.environ, "BENTOML_HOME": str(root / "bentoml"), "BENTOML_DO_NOT_TRACK": "true",
           "DARKVOYAGE_API_KEY": KEY}
    with darkvoyage_server(["--model", str(GOLDEN_MODEL), "--store", str(db)], env, root / "server.log") \
            as (base, port), httpx.Client(base_url=base, timeout=60) as client:
        yield client, alerts, analyst_key, port, root


def test_alerts_and_a_vessel(desk):
    client, alerts, akey, _, _ = desk
    got = client.get("/alerts", headers={"x-api-key": KEY})
    assert got.status_code == 200 and len(got.json()) == len(alerts)
    assert {a["status"] for a in got.json()} == {"new"}
    # One run: its alerts as it made them, the riskiest vessel first (newest first put its last,
    # lowest-risk alerts on top).
    assert [a["id"] for a in got.json()] == alerts["alert_id"].astype(int).tolist()
    risk = [a["risk"] for a in got.json()]
    known = [r for r in risk if r is not None]  # a vessel without a voyage has no risk: last
    assert risk[:len(known)] == known == sorted(known, reverse=True) and known[0] > known[-1]
    assert client.get("/alerts", params={"status": "confirmed"}, headers={"x-api-key": akey}).json() == []
    assert len(client.get("/alerts", params={"since": "2999-01-01T00:00:00Z"}, headers={"x-api-key": KEY}).json()) == 0
    mmsi = int(alerts["mmsi"].iloc[0])
    v = client.get(f"/vessels/{mmsi}", headers={"x-api-key": KEY}).json()
    assert v["mmsi"] == mmsi and v["voyages"] and v["alerts"] and v["risk"] == pytest.approx(alerts["risk"].iloc[0])
    for path, params, status, field in (("/alerts", {"status": "open"}, 400, "status"),
                                        ("/alerts", {"since": "yesterday"}, 400, "since"),
                                        ("/alerts", {"sort": "risk"}, 400, "sort"),
                                        ("/vessels/123456789", {}, 404, "mmsi"),
                                        ("/vessels/abc", {}, 422, "mmsi"),
                                        ("/vessels/\u00b2", {}, 422, "mmsi"),  # a digit to isdigit(), not to int()
                                        ("/vessels/\u00b2/card", {}, 422, "mmsi"),
                                        ("/vessels", {"q": "a\x00b"}, 400, "q")):
        r = client.get(path, params=params, headers={"x-api-key": KEY})
        assert r.status_code == status and r.json()["field"] == field, (path, r.text)
    assert client.get("/vessels", params={"q": "\u00b2"}, headers={"x-api-key": KEY}).json() == []
    assert client.get("/alerts").status_code == 401
    assert client.get("/alerts", headers={"x-api-key": "wrong"}).status_code == 401
    assert client.post("/alerts", headers={"x-api-key": KEY}).status_code == 405
    # An analyst's key opens the scoring routes too.
    assert client.get("/model", headers={"x-api-key": akey}).status_code == 200
    # The page names the model the server loaded: a folder's has no version (it read "v?").
    page = client.get("/", headers={"x-api-key": KEY}).text
    assert "(model voyage-risk (from a model folder, unregistered);" in page and " v?" not in page


def test_a_verdict_moves_the_alert(desk):
    client, alerts, akey, _, _ = desk
    aid = int(alerts["alert_id"].iloc[-1])
    body = {"alert_id": aid, "verdict": "suspicious", "note": "imagery shows a tanker alongside"}
    assert client.post("/verdicts", json=body).status_code == 401
    assert client.post("/verdicts", json=body, headers={"x-api-key": KEY}).status_code == 401  # not an analyst
    for bad, status, field in (({**body, "alert_id": 10**9}, 404, "alert_id"),
                               ({**body, "verdict": "guilty"}, 400, "verdict"),
                               ({**body, "alert_id": "1"}, 400, "alert_id"),
                               ({"verdict": "benign"}, 400, "alert_id"),
                               ({**body, "extra": 1}, 400, "extra")):
        r = client.post("/verdicts", json=bad, headers={"x-api-key": akey})
        assert r.status_code == status and r.json()["field"] == field, (bad, r.text)
    for raw in (b"\xff\xfe{", b"[" * 60_000):  # not UTF-8; nested too deep for the JSON parser
        r = client.post("/verdicts", content=raw, headers={"x-api-key": akey, "content-type": "application/json"})
        assert r.status_code == 400 and r.json()["field"] == "body", r.text
    r = client.post("/verdicts", content=b"alert_id=1", headers={"x-api-key": akey, "content-type": "text/plain"})
    assert r.status_code == 415
    r = client.post("/verdicts", content=b"{" * 70_000, headers={"x-api-key": akey, "content-type": "application/json"})
    assert r.status_code == 413
    r = client.post("/verdicts", json=body, headers={"x-api-key": akey})
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert r.json()["verdict"]["analyst"] == "Ann Analyst"
    v = client.get(f"/vessels/{int(alerts['mmsi'].iloc[-1])}", headers={"x-api-key": akey}).json()
    mine = [a for a in v["alerts"] if a["id"] == aid][0]
    assert mine["status"] == "confirmed" and mine["verdicts"][0]["note"] == body["note"]
    r = client.post("/verdicts", json={**body, "verdict": "benign"}, headers={"x-api-key": akey})
    assert r.json()["status"] == "dismissed"
    assert len(client.get("/alerts", params={"status": "dismissed"}, headers={"x-api-key": KEY}).json()) == 1
    assert client.get("/readyz").status_code == 200  # still up


def test_schemathesis_on_the_desk_routes(desk):
    """The fuzzer over the desk's routes with an analyst's key: no 5xx, every answer as
    documented (random alert ids and MMSIs are mostly unknown: 404 is an expected answer)."""
    client, _, akey, port, root = desk
    config = root / "schemathesis.toml"
    config.write_text('checks.enabled = true\n\n[[operations]]\ninclude-path-regex = "^/(verdicts|vessels)"\n'
                      'checks.positive_data_acceptance.expected-statuses = ["2xx", 404]\n')
    st = str(Path(sys.executable).parent / "st")
    res = subprocess.run([st, "--config-file", str(config), "run", f"http://127.0.0.1:{port}/docs.json",
                          "--include-path-regex", "^/(alerts|review|verdicts|vessels.*)?$", "--phases", "examples,coverage,fuzzing",
                          "--max-examples", "40", "--seed", "25", "--workers", "1", "--request-timeout", "60",
                          "--continue-on-failure", "-H", f"x-api-key: {akey}", "--no-color"],
                         capture_output=True, text=True, timeout=600, cwd=root)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    assert re.search(r"Tested: +7\b", out), out[-3000:]  # the page, /alerts, /review, /verdicts, 3 /vessels
    summary = out[out.index("SUMMARY"):]
    assert "Failures" not in summary and "Errors" not in summary, out[-3000:]


def test_the_desk_in_a_browser(desk):
    """Debian's Chromium driven by Playwright, with clicks: the analyst types a key, searches
    a vessel by MMSI, opens it, confirms one of its alerts with a note, and sees the status
    change on the vessel and in the list. The page loads nothing from the network."""
    from playwright.sync_api import sync_playwright
    from tests.helpers import chromium
    client, alerts, akey, port, root = desk
    fresh = [a for a in client.get("/alerts", headers={"x-api-key": akey}).json() if a["status"] == "new"]
    target = fresh[0]
    errors, outside = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(f"http://127.0.0.1:{port}") else None)
        page.goto(f"http://127.0.0.1:{port}/")
        page.fill("#key", akey)
        page.click("#save-key")
        page.wait_for_selector("#alerts tbody tr")
        assert page.locator("#alerts tbody tr").count() == len(client.get("/alerts", headers={"x-api-key": akey}).json())
        page.fill("#search", str(target["mmsi"]))
        page.click("#search-go")
        page.wait_for_selector(f"#v-alerts .alert[data-alert-id='{target['id']}']")
        assert str(target["mmsi"]) in page.inner_text("#v-title")
        assert page.locator("#v-map path").count() >= 1 and page.locator("#v-events tbody tr").count() >= 1
        box = page.locator(f"#v-alerts .alert[data-alert-id='{target['id']}']")
        assert box.locator(".status").inner_text() == "new"
        box.locator(".note").fill("checked Sentinel-1: a second hull alongside")
        box.locator("button.confirm").click()
        page.wait_for_function(f"document.querySelector(\"#v-alerts .alert[data-alert-id='{target['id']}'] .status\")"
                               ".textContent === 'confirmed'")
        # The list reloads after the verdict: its row says so too.
        page.wait_for_function(f"(document.querySelector(\"#alerts tbody tr[data-alert-id='{target['id']}'] .status\")"
                               " || {}).textContent === 'confirmed'")
        assert "Ann Analyst" in page.locator(f"#v-alerts .alert[data-alert-id='{target['id']}'] .verdict").inner_text()
        page.screenshot(path=str(root / "desk.png"), full_page=True)
        # A vessel no run alerted on: judged on the vessel itself, a review alert appears.
        bare = _vessels_without_alerts(root)[-1]
        page.fill("#search", str(bare))
        page.click("#search-go")
        page.wait_for_selector("#v-judge")
        page.locator("#v-judge button.dismiss").click()
        page.wait_for_function("(document.querySelector('#v-alerts .alert .status') || {}).textContent === 'dismissed'")
        assert page.locator("#v-judge").count() == 0 and "review" in page.inner_text("#v-alerts")
        page.screenshot(path=str(root / "desk_judged.png"), full_page=True)
        browser.close()
    assert not errors, errors
    assert not outside, outside
    got = client.get(f"/vessels/{target['mmsi']}", headers={"x-api-key": akey}).json()
    mine = [a for a in got["alerts"] if a["id"] == target["id"]][0]
    assert mine["status"] == "confirmed" and mine["verdicts"][-1]["note"].startswith("checked Sentinel-1")


def test_evidence_cards(desk, tmp_path):
    """``darkvoyage card`` as HTML, Markdown and PDF (printed by Chromium), and the desk's route:
    the vessel, the model and its reference AP, reasons, a map with the gaps' reach, the gaps
    with Copernicus Browser links set to each gap's window and area, provenance, and the
    statement that this is a lead, not a finding."""
    from urllib.parse import parse_qs, urlparse
    client, alerts, akey, _, root = desk
    mmsi = int(alerts["mmsi"].iloc[0])
    db = str(root / "desk.db")
    for suffix in (".html", ".md", ".pdf"):
        out = tmp_path / f"card{suffix}"
        r = subprocess.run([EXE, "card", str(mmsi), "--store", db, "--out", str(out)], capture_output=True, text=True,
                           timeout=180)
        assert r.returncode == 0, r.stderr
        assert out.stat().st_size > 1000
    page = (tmp_path / "card.html").read_text()
    md = (tmp_path / "card.md").read_text()
    for text in (str(mmsi), "lead for investigation, not a finding", "reference AP", "Where the data came from"):
        assert text in page and text in md, text
    assert (tmp_path / "card.pdf").read_bytes()[:5] == b"%PDF-"
    assert "<svg" in page and "class=\"reach\"" in page and "<script" not in page
    links = re.findall(r'href="(https://browser\.dataspace\.copernicus\.eu/[^"]+)"', page)
    assert links and {parse_qs(urlparse(u.replace("&amp;", "&")).query)["datasetId"][0] for u in links} == \
        {"S1_CDAS_IW_VVVH", "S2_L2A_CDAS"}
    q = parse_qs(urlparse(links[0].replace("&amp;", "&")).query)
    assert q["fromTime"][0] < q["toTime"][0] and 36 < float(q["lat"][0]) < 48 and 46 < float(q["lng"][0]) < 56
    r = client.get(f"/vessels/{mmsi}/card", headers={"x-api-key": akey})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html") and str(mmsi) in r.text
    assert client.get(f"/vessels/{mmsi}/card").status_code == 401
    assert client.get("/vessels/123456789/card", headers={"x-api-key": akey}).status_code == 404
    bad = subprocess.run([EXE, "card", "123456789", "--store", db, "--out", str(tmp_path / "x.html")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not in the store" in bad.stderr
    bad = subprocess.run([EXE, "card", str(mmsi), "--store", db, "--out", str(tmp_path / "x.docx")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and ".html, .pdf or .md" in bad.stderr


def test_evidence_card_from_files(desk, tmp_path):
    """``darkvoyage card MMSI INPUT...`` (contract section 3): the same vessel's card made from
    the AIS files themselves, scored with ``--model``, with no store; a store and files at
    once, a missing file and a store that is not there are one-line errors (exit 2), and
    reading a missing store creates nothing."""
    from ..helpers import invoke
    _, alerts, _, _, root = desk
    mmsi = int(alerts["mmsi"].iloc[0])
    files = sorted(root.glob("day*.parquet"))
    out = tmp_path / "card.md"
    r = invoke("card", mmsi, *files, "--out", out, "--model", GOLDEN_MODEL)
    assert r.returncode == 0, r.output
    md = out.read_text()
    for text in (str(mmsi), "lead for investigation, not a finding", "reference AP", "Where the data came from"):
        assert text in md, text
    assert not list(tmp_path.glob("*.db")) and "read" in r.stdout  # the row counts, no store left behind
    for args, said in (((*files, "--store", root / "desk.db"), "not both"), ((tmp_path / "none.parquet",), "no such file"),
                       (("--store", tmp_path / "nosuch.db"), "no such store")):
        r = invoke("card", mmsi, *args, "--out", tmp_path / "x.md", "--model", GOLDEN_MODEL)
        assert r.returncode == 2 and said in r.stderr, r.output
    r = invoke("labels", "export", "--store", tmp_path / "nosuch.db", "--out", tmp_path / "l.csv")
    assert r.returncode == 2 and "no such store" in r.stderr and not (tmp_path / "nosuch.db").exists()


def test_a_run_leaves_no_write_ahead_log(desk, tmp_path):
    """A watch run folds SQLite's write-ahead log back into the store: what it wrote is in the
    one file and the log is empty (it was as large as the run's writes: 80 MB after the demo)."""
    _, _, _, _, root = desk
    db = tmp_path / "desk.db"
    m, info = load_model(str(GOLDEN_MODEL))
    res = watch(sorted(root.glob("day*.parquet"))[:2], open_store(str(db)), m, info)
    wal = tmp_path / "desk.db-wal"
    assert len(res.alerts) > 0 and db.stat().st_size > 100_000
    assert not wal.exists() or wal.stat().st_size == 0, wal.stat().st_size


def test_review_next(desk):
    """The queue: vessels no analyst has judged, the riskiest first, then those near the high
    cut-off, then rules-versus-model disagreements; each says why it is there."""
    client, _, akey, _, _ = desk
    items = client.get("/review", headers={"x-api-key": akey}).json()
    alerts = client.get("/alerts", headers={"x-api-key": akey}).json()
    judged = {a["mmsi"] for a in alerts if a["status"] != "new"}
    assert judged and items and not {i["mmsi"] for i in items} & judged
    assert len({i["mmsi"] for i in items}) == len(items) and all(i["why"] for i in items)
    top = [i for i in items if i["why"].startswith("top of the list")]
    assert top and top == items[:len(top)] and [i["risk"] for i in top] == sorted((i["risk"] for i in top), reverse=True)
    assert any("near the high cut-off" in i["why"] for i in items)
    assert client.get("/review").status_code == 401
    assert client.get("/review", params={"n": 3}, headers={"x-api-key": akey}).status_code == 400


def test_a_vessel_the_queue_lists_without_an_alert_can_be_judged(desk):
    """The queue lists vessels no run alerted on (near the cut-off, say): a verdict on the
    vessel itself (``{mmsi, verdict}``) is carried by one ``review`` alert on its riskiest
    voyage; the vessel then leaves the queue, and its verdict exports as a label."""
    from serving.desk.labels import verdict_labels
    from serving.desk.store import open_store
    client, alerts, akey, _, root = desk
    store = open_store(str(root / "desk.db"))
    bare = _vessels_without_alerts(root)
    queued = {i["mmsi"] for i in client.get("/review", headers={"x-api-key": akey}).json()}
    mmsi = next((m for m in bare if m in queued), bare[0])  # one the queue lists, if it lists any
    for bad, status, field in (({"mmsi": mmsi, "alert_id": 1, "verdict": "benign"}, 400, "alert_id"),
                               ({"mmsi": 123456789, "verdict": "benign"}, 404, "mmsi"),
                               ({"mmsi": 0, "verdict": "benign"}, 400, "mmsi")):
        r = client.post("/verdicts", json=bad, headers={"x-api-key": akey})
        assert r.status_code == status and r.json()["field"] == field, (bad, r.text)
    first = client.post("/verdicts", json={"mmsi": mmsi, "verdict": "uncertain"}, headers={"x-api-key": akey}).json()
    again = client.post("/verdicts", json={"mmsi": mmsi, "verdict": "benign", "note": "a queue at Aktau"},
                        headers={"x-api-key": akey}).json()
    assert first["kind"] == "review" and again["id"] == first["id"] and again["status"] == "dismissed"
    v = client.get(f"/vessels/{mmsi}", headers={"x-api-key": akey}).json()
    assert [a["kind"] for a in v["alerts"]] == ["review"] and len(v["alerts"][0]["verdicts"]) == 2
    assert v["alerts"][0]["voyage_id"] == v["voyage_id"]
    assert mmsi not in {i["mmsi"] for i in client.get("/review", headers={"x-api-key": akey}).json()}
    labels = verdict_labels(store)
    assert labels[labels["mmsi"] == mmsi]["label"].tolist() == ["benign"]


def _vessels_without_alerts(root) -> list[int]:
    """Scored vessels of the desk's store that no alert names yet, by MMSI."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session
    from serving.desk.models import Alert, Vessel
    from serving.desk.store import open_store
    with Session(open_store(str(root / "desk.db")).engine) as s:
        named = set(s.scalars(select(Alert.mmsi)).all())
        return sorted(m for m, r in s.execute(select(Vessel.mmsi, Vessel.risk)).all() if r is not None and m not in named)
