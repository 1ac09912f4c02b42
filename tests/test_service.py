"""The REST service, for real: a trained temp store, a BentoML server on 127.0.0.1 and a free
port, HTTP calls with good and bad input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from training.simulator import SimConfig, simulate, write_scenario

KEY = "test-key-123"
EXE = str(Path(sys.executable).parent / "darkvoyage")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("svc")
    paths = write_scenario(simulate(SimConfig(vessels=120, days=20, seed=21, suspicious_share=0.2)), root / "sim")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    res = subprocess.run([EXE, "train", "--positions", paths["positions"], "--labels", paths["labels"]],
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return root, paths, env


@pytest.fixture(scope="module")
def server(trained):
    root, paths, env = trained
    port = _free_port()
    env = {**env, "BENTOML_HOME": str(root / "bentoml"), "BENTOML_DO_NOT_TRACK": "true",
           "DARKVOYAGE_API_KEY": KEY, "DARKVOYAGE_MAX_UPLOAD_MB": "5"}
    proc = subprocess.Popen([EXE, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(proc.stdout.read().decode()[-3000:])
        time.sleep(0.5)
    else:
        os.killpg(proc.pid, 15)
        raise RuntimeError("server did not get ready in 120 s")
    client = httpx.Client(base_url=base, headers={"x-api-key": KEY}, timeout=120)
    yield client, paths
    client.close()
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def _track(paths, profile_prefix="dark"):
    ves = pd.read_csv(paths["vessels"])
    mmsi = int(ves.loc[ves["profile"].str.startswith(profile_prefix), "mmsi"].iloc[0])
    pos = pd.read_parquet(paths["positions"])
    pos = pos[pos["mmsi"] == mmsi].head(4000)
    body = {"mmsi": mmsi, "positions": [
        {"timestamp": t.isoformat(), "lat": float(a), "lon": float(b), "sog": float(s), "cog": float(c),
         "destination": str(d)}
        for t, a, b, s, c, d in zip(pos["timestamp"], pos["lat"], pos["lon"], pos["sog"], pos["cog"], pos["destination"])]}
    return mmsi, pos, body


def test_score_matches_the_watchlist_command(server, tmp_path, trained):
    client, paths = server
    mmsi, pos, body = _track(paths)
    r = client.post("/score", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["mmsi"] == mmsi and out["model_version"] == "1"
    assert 0 <= out["risk"] <= 1 and out["voyages"]
    v0 = out["voyages"][0]
    assert set(v0) == {"voyage_id", "start", "end", "origin_port", "destination_port", "risk", "level", "partial", "reasons"}
    assert out["level"] in ("high", "medium", "low") and out["reason"] is None
    assert all(set(x) == {"feature", "value", "contribution", "text"} for v in out["voyages"] for x in v["reasons"])
    # The same positions through the CLI: one code path, the same answer.
    f = tmp_path / "track.csv"
    pd.DataFrame([{"mmsi": mmsi, **p} for p in body["positions"]]).to_csv(f, index=False)
    wl_path = tmp_path / "wl.csv"
    res = subprocess.run([EXE, "watchlist", str(f), "--out", str(wl_path)], env=trained[2], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    wl = pd.read_csv(wl_path)
    assert wl["risk"].iloc[0] == pytest.approx(out["risk"], abs=1e-4)
    best = max(out["voyages"], key=lambda v: v["risk"])
    assert wl["voyage_id"].iloc[0] == best["voyage_id"]
    assert wl["reasons"].iloc[0] == "; ".join(x["text"] for x in best["reasons"])


def test_score_voyages_batch(server, trained):
    client, paths = server
    from features.engine import LocalEngine
    v = LocalEngine().features([paths["positions"]]).voyages
    rows = json.loads(v.head(300).to_json(orient="records", date_format="iso"))
    r = client.post("/score_voyages", json={"voyages": rows})
    assert r.status_code == 200, r.text
    got = r.json()
    assert len(got) == 300 and got[0]["voyage_id"] == rows[0]["voyage_id"]
    import mlflow
    mlflow.set_tracking_uri(trained[2]["MLFLOW_TRACKING_URI"])
    model = mlflow.pyfunc.load_model("models:/voyage-risk@champion").unwrap_python_model()
    np.testing.assert_allclose([g["risk"] for g in got], model.risk(v.head(300)), atol=1e-9)


def test_watchlist_upload(server, tmp_path):
    client, paths = server
    pos = pd.read_parquet(paths["positions"])
    f = tmp_path / "few.csv"
    pos[pos["mmsi"].isin(pos["mmsi"].unique()[:6])].head(20000).to_csv(f, index=False)
    with f.open("rb") as fh:
        r = client.post("/watchlist", files={"file": ("few.csv", fh, "text/csv")}, data={"top": "5"})
    assert r.status_code == 200, r.text
    wl = r.json()["watchlist"]
    assert 1 <= len(wl) <= 5 and [w["rank"] for w in wl] == list(range(1, len(wl) + 1))
    assert wl == sorted(wl, key=lambda w: -w["risk"])
    from serving.scoring import WATCHLIST_COLUMNS
    assert list(wl[0]) == WATCHLIST_COLUMNS


def _positions(frame: pd.DataFrame) -> list[dict]:
    return [{"timestamp": t.isoformat(), "lat": float(a), "lon": float(b), "sog": float(v)}
            for t, a, b, v in zip(frame["timestamp"], frame["lat"], frame["lon"], frame["sog"])]


def test_score_open_voyage_says_so(server):
    """A track at sea from its first fix to its last: one voyage cut by both edges of the data."""
    from .helpers import T0, sail
    client, _ = server
    body = {"mmsi": 273100001, "positions": _positions(sail(273100001, T0, [(41.0, 50.0), (41.5, 50.5)]))}
    r = client.post("/score", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert 0 <= out["risk"] <= 1 and len(out["voyages"]) == 1
    v = out["voyages"][0]
    assert v["partial"] == "both"
    cut = {x["feature"]: x for x in v["reasons"] if x["feature"] in ("open_start", "open_end")}
    assert cut["open_start"]["text"] == "voyage already under way when the data starts" and cut["open_start"]["value"] == 1
    assert cut["open_end"]["text"] == "voyage still open at the end of the data"
    assert all(isinstance(x["contribution"], float) for x in cut.values())


@pytest.mark.parametrize("kind", ["one position", "never left port"])
def test_score_without_a_voyage_is_insufficient_data(server, kind):
    """No voyage is no evidence, not low risk: risk null, level "insufficient data", no voyages."""
    from .helpers import T0, stay
    client, _ = server
    if kind == "one position":
        positions = [{"timestamp": "2024-03-01T05:00:00Z", "lat": 41.2, "lon": 51.3, "sog": 9.0}]
        reason = "no voyage in the data: only one position"
    else:
        positions = _positions(stay(273100006, T0, 36.85, 53.365, hours=20, every_min=30))
        reason = "no voyage in the data: never left port (41 positions at Amirabad)"
    r = client.post("/score", json={"mmsi": 273100006, "positions": positions})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["mmsi"] == 273100006 and out["model_version"] == "1"
    assert out["risk"] is None and out["voyages"] == [] and out["level"] == "insufficient data"
    assert out["reason"] == reason


def test_watchlist_upload_lists_vessels_without_a_voyage_last(server, tmp_path):
    client, paths = server
    pos = pd.read_parquet(paths["positions"])
    few = pos[pos["mmsi"].isin(pos["mmsi"].unique()[:3])].head(6000)
    lone = pd.DataFrame({"mmsi": [273100005], "timestamp": [few["timestamp"].min()], "lat": [41.2], "lon": [51.3]})
    f = tmp_path / "with_lone.csv"
    pd.concat([few, lone], ignore_index=True).to_csv(f, index=False)
    with f.open("rb") as fh:
        r = client.post("/watchlist", files={"file": ("with_lone.csv", fh, "text/csv")}, data={"top": "50"})
    assert r.status_code == 200, r.text
    wl = r.json()["watchlist"]
    last = wl[-1]
    assert last["mmsi"] == 273100005 and last["rank"] == len(wl) >= 2
    assert last["risk"] is None and last["level"] == "insufficient data" and last["voyage_id"] is None
    assert last["voyage_start"] is None and last["partial"] == ""
    assert last["reasons"] == "no voyage in the data: only one position"
    assert all(w["risk"] is not None for w in wl[:-1])


def test_model_info(server):
    client, _ = server
    r = client.get("/model")
    assert r.status_code == 200
    info = r.json()
    assert info["name"] == "voyage-risk" and info["version"] == "1" and info["alias"] == "champion"
    assert info["run_id"] and "test_average_precision" in info["metrics"] and len(info["features"]) > 30


@pytest.mark.parametrize("body, field", [
    ({"mmsi": "not a number", "positions": [{"timestamp": "2024-01-01T00:00:00Z", "lat": 40, "lon": 50}]}, "mmsi"),
    ({"mmsi": 273000001, "positions": [{"timestamp": "2024-01-01T00:00:00Z", "lat": 200, "lon": 50}]}, "lat"),
    ({"mmsi": 273000001, "positions": [{"timestamp": "2024-01-01T00:00:00Z", "lat": 40, "lon": 50, "speed": 3}]}, "speed"),
    ({"mmsi": 273000001, "positions": []}, "positions"),
    ({"mmsi": 273000001, "positions": [{"timestamp": "yesterday", "lat": 40, "lon": 50}]}, "timestamp"),
    ({"mmsi": 123, "positions": [{"timestamp": "2024-01-01T00:00:00Z", "lat": 40, "lon": 50}]}, "mmsi"),
    ({"mmsi": 273000001, "positions": [{"timestamp": "2024-01-01T00:00:00Z", "lat": 40, "lon": 50}], "extra": 1}, "extra"),
])
def test_bad_requests_get_4xx_naming_the_field(server, body, field):
    client, _ = server
    r = client.post("/score", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert field in r.text


def test_malformed_oversize_unauthorised_and_still_up(server):
    client, _ = server
    r = client.post("/score", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = client.post("/score_voyages", json={"voyages": [{"max_gap_h": 3}]})
    assert r.status_code == 400 and "duration_h" in r.text
    big = b"x" * (6 * 1024 * 1024)
    r = client.post("/watchlist", files={"file": ("big.csv", big, "text/csv")})
    assert r.status_code == 413 and "body" in r.text
    r = client.post("/watchlist", files={"file": ("junk.csv", b"a,b\n1,2\n", "text/csv")})
    assert r.status_code == 400 and "file" in r.text
    r = httpx.post(f"{client.base_url}/score", json={"mmsi": 273000001, "positions": []})
    assert r.status_code == 401 and "x-api-key" in r.text
    r = httpx.get(f"{client.base_url}/model")
    assert r.status_code == 401
    for path in ("/readyz", "/livez", "/metrics", "/docs.json"):
        assert httpx.get(f"{client.base_url}{path}").status_code == 200, path


def test_refuses_to_start_without_a_champion(tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}"}
    res = subprocess.run([EXE, "serve", "--port", str(_free_port())], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    line = res.stderr.strip().splitlines()[-1]
    assert "no model at models:/voyage-risk@champion" in line and "darkvoyage train" in line
