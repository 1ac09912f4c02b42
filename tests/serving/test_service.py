"""The REST service, for real: a trained temp store, a BentoML server on 127.0.0.1 and a free
port, HTTP calls with good and bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest


from ..servers import EXE, darkvoyage_server, free_port

KEY = "test-key-123"
#: The test server's byte limit: above the largest schema-valid body a fuzzer sends (10,000
#: feature rows), so the byte limit and the count limits can each be tested.
LIMIT_MB = 30


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cli_trained):
    """The run's shared trained store (``cli_trained``), and a folder of this module's own."""
    return (tmp_path_factory.mktemp("svc"), *cli_trained)


@pytest.fixture(scope="module")
def server(trained):
    root, paths, env = trained
    env = {**env, "BENTOML_HOME": str(root / "bentoml"), "BENTOML_DO_NOT_TRACK": "true",
           "DARKVOYAGE_API_KEY": KEY, "DARKVOYAGE_MAX_UPLOAD_MB": str(LIMIT_MB)}
    with darkvoyage_server([], env, root / "server.log") as (base, port), \
            httpx.Client(base_url=base, headers={"x-api-key": KEY}, timeout=120) as client:
        yield client, paths, port


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
    client, paths, _ = server
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
    client, paths, _ = server
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
    client, paths, _ = server
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
    assert r.json()["warnings"] == []


def test_watchlist_upload_says_when_the_file_lies_outside_the_gazetteers_sea(server):
    """The commands say it on stderr; an upload of Danish traffic said nothing (contract 5)."""
    client, _, _ = server
    from ..conftest import NMEA
    with (NMEA / "dma_aisabnormal_538004030_multisource_2014-09-28.txt").open("rb") as fh:
        r = client.post("/watchlist", files={"file": ("danish.txt", fh, "text/plain")}, data={"suffix": ".nmea"})
    assert r.status_code == 200, r.text
    (w,) = r.json()["warnings"]
    assert w.startswith("100% of the positions lie over 500 km from every port of the gazetteer"), w


def _positions(frame: pd.DataFrame) -> list[dict]:
    return [{"timestamp": t.isoformat(), "lat": float(a), "lon": float(b), "sog": float(v)}
            for t, a, b, v in zip(frame["timestamp"], frame["lat"], frame["lon"], frame["sog"])]


def test_score_open_voyage_says_so(server):
    """A track at sea from its first fix to its last: one voyage cut by both edges of the data."""
    from ..helpers import T0, sail
    client, _, _ = server
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
    from ..helpers import T0, stay
    client, _, _ = server
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
    client, paths, _ = server
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
    client, _, _ = server
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
    client, _, _ = server
    r = client.post("/score", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert field in r.text


def test_malformed_oversize_unauthorised_and_still_up(server):
    client, _, _ = server
    r = client.post("/score", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = client.post("/score_voyages", json={"voyages": [{"max_gap_h": 3}]})
    assert r.status_code == 400 and "duration_h" in r.text
    big = b"x" * ((LIMIT_MB + 1) * 1_000_000)
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
    res = subprocess.run([EXE, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    line = res.stderr.strip().splitlines()[-1]
    assert "no model at models:/voyage-risk@champion" in line and "darkvoyage train" in line


# --- hostile input (#15): every refusal a 4xx JSON {error, field, problem}, never a 5xx ----------

def _post_raw(client, path, content, ctype, **headers):
    h = {"content-type": ctype} if ctype else {}
    return client.post(path, content=content, headers={**h, **headers})


def _multipart(fields: dict, boundary: str = "b0undary") -> tuple[bytes, str]:
    out = b""
    for name, value in fields.items():
        if isinstance(value, tuple):  # (filename, bytes)
            out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{value[0]}"\r\n'
                    f"Content-Type: application/octet-stream\r\n\r\n").encode() + value[1] + b"\r\n"
        else:
            out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _chunks(data: bytes, size: int = 1 << 20):
    for i in range(0, len(data), size):
        yield data[i:i + size]


ONE = {"timestamp": "2024-01-01T00:00:00Z", "lat": 40.0, "lon": 50.0}
TRACK = {"mmsi": 273000001, "positions": [ONE]}
GOOD_JSON = json.dumps(TRACK).encode()
OVER = (LIMIT_MB + 1) * 1_000_000


def _gzip(data: bytes) -> bytes:
    import gzip
    return gzip.compress(data, compresslevel=1)


def _row(**kw) -> dict:
    from features.catalogue import FEATURE_NAMES
    return {"voyage_id": "x-0-1", **dict.fromkeys(FEATURE_NAMES, 0.0), **kw}


#: (case, route, request builder, status, field named). The README's hostile-input table lists
#: the same cases.
HOSTILE = [
    ("empty body", "/score", lambda c: _post_raw(c, "/score", b"", "application/json"), 400, "mmsi"),
    ("truncated JSON", "/score", lambda c: _post_raw(c, "/score", GOOD_JSON[:25], "application/json"), 400, "body"),
    ("binary body", "/score", lambda c: _post_raw(c, "/score", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "application/json"),
     400, "body"),
    ("NUL bytes in the JSON", "/score", lambda c: _post_raw(c, "/score", GOOD_JSON.replace(b",", b"\x00,", 1),
                                                            "application/json"), 400, "body"),
    ("mixed encodings (Latin-1 byte in UTF-8 JSON)", "/score",
     lambda c: _post_raw(c, "/score", GOOD_JSON[:-3] + b', "name": "S\xe9ville"}]}', "application/json"), 400, "body"),
    ("UTF-16 JSON", "/score", lambda c: _post_raw(c, "/score", GOOD_JSON.decode().encode("utf-16"), "application/json"),
     400, "body"),
    ("JSON with charset=latin-1", "/score",
     lambda c: _post_raw(c, "/score", GOOD_JSON, "application/json; charset=latin-1"), 415, "content-type"),
    ("no content type", "/score", lambda c: _post_raw(c, "/score", GOOD_JSON, None), 415, "content-type"),
    ("text/plain", "/score", lambda c: _post_raw(c, "/score", GOOD_JSON, "text/plain"), 415, "content-type"),
    ("multipart without boundary: /score", "/score",
     lambda c: _post_raw(c, "/score", b"abc", "multipart/form-data"), 415, "content-type"),
    ("multipart without boundary: /score_voyages", "/score_voyages",
     lambda c: _post_raw(c, "/score_voyages", b"abc", "multipart/form-data"), 415, "content-type"),
    ("multipart without boundary: /watchlist", "/watchlist",
     lambda c: _post_raw(c, "/watchlist", b"abc", "multipart/form-data"), 400, "content-type"),
    ("form-urlencoded upload", "/watchlist",
     lambda c: _post_raw(c, "/watchlist", b"file=abc", "application/x-www-form-urlencoded"), 415, "content-type"),
    ("malformed multipart", "/watchlist",
     lambda c: _post_raw(c, "/watchlist", b"garbage", "multipart/form-data; boundary=abc"), 400, "body"),
    ("file given as text (a URL)", "/watchlist",
     lambda c: _post_raw(c, "/watchlist", *_multipart({"file": "http://169.254.169.254/latest"})), 400, "file"),
    ("two files", "/watchlist",
     lambda c: _post_raw(c, "/watchlist", *_multipart({"file": ("a.csv", b"x"), "file2": ("b.csv", b"y")})), 400,
     "file"),
    ("binary upload", "/watchlist",
     lambda c: _post_raw(c, "/watchlist", *_multipart({"file": ("a.bin", bytes(range(256)) * 64)})), 400, "file"),
    ("empty upload", "/watchlist", lambda c: _post_raw(c, "/watchlist", *_multipart({"file": ("a.csv", b"")})), 400,
     "file"),
    ("huge single line (5 MB, no newline)", "/watchlist",
     lambda c: _post_raw(c, "/watchlist", *_multipart({"file": ("a.csv", b"a," * 2_500_000)})), 400, "file"),
    ("unknown suffix", "/watchlist",
     lambda c: _post_raw(c, "/watchlist", *_multipart({"file": ("a.csv", b"x"), "suffix": ".exe"})), 400, "suffix"),
    ("suffix with a path", "/watchlist",
     lambda c: _post_raw(c, "/watchlist", *_multipart({"file": ("a.csv", b"x"), "suffix": "/../../x"})), 400,
     "suffix"),
    ("top out of range", "/watchlist",
     lambda c: _post_raw(c, "/watchlist", *_multipart({"file": ("a.csv", b"x"), "top": "0"})), 400, "top"),
    ("unsupported content-encoding", "/score",
     lambda c: _post_raw(c, "/score", GOOD_JSON, "application/json", **{"content-encoding": "br"}), 415,
     "content-encoding"),
    ("truncated gzip", "/score",
     lambda c: _post_raw(c, "/score", _gzip(GOOD_JSON)[:20], "application/json", **{"content-encoding": "gzip"}), 400,
     "content-encoding"),
    ("gzip bomb (request body)", "/score",
     lambda c: _post_raw(c, "/score", _gzip(b" " * OVER), "application/json", **{"content-encoding": "gzip"}), 413,
     "body"),
    ("gzip bomb (uploaded file)", "/watchlist",
     lambda c: _post_raw(c, "/watchlist", *_multipart({"file": ("a.csv.gz", _gzip(b"a,b\n" * (OVER // 4)))})), 413,
     "body"),
    ("chunked body over the limit", "/score",
     lambda c: _post_raw(c, "/score", _chunks(b" " * OVER), "application/json"), 413, "body"),
    ("chunked upload over the limit", "/watchlist",
     lambda c: (lambda b, t: _post_raw(c, "/watchlist", _chunks(b), t))(*_multipart({"file": ("a.csv", b"x" * OVER)})),
     413, "body"),
    ("string where a number belongs", "/score",
     lambda c: c.post("/score", json={"mmsi": 273000001, "positions": [{**ONE, "lat": "40"}]}), 400,
     "positions[0].lat"),
    ("number where a timestamp belongs", "/score",
     lambda c: c.post("/score", json={"mmsi": 273000001, "positions": [{**ONE, "timestamp": 1.7e9}]}), 400,
     "positions[0].timestamp"),
    ("null mmsi", "/score", lambda c: c.post("/score", json={"mmsi": None, "positions": [ONE]}), 400, "mmsi"),
    ("mmsi as text", "/score", lambda c: c.post("/score", json={"mmsi": "273000001", "positions": [ONE]}), 400, "mmsi"),
    ("too many positions", "/score",
     lambda c: c.post("/score", json={"mmsi": 273000001, "positions": [ONE] * 50_001}), 422, "positions"),
    ("string in lg_start_lat", "/score_voyages",
     lambda c: c.post("/score_voyages", json={"voyages": [_row(lg_start_lat="x")]}), 400, "voyages[0].lg_start_lat"),
    ("boolean in a feature", "/score_voyages",
     lambda c: c.post("/score_voyages", json={"voyages": [_row(max_gap_h=True)]}), 400, "voyages[0].max_gap_h"),
    ("voyages not a list", "/score_voyages", lambda c: c.post("/score_voyages", json={"voyages": {}}), 400, "voyages"),
    ("too many voyages", "/score_voyages",
     lambda c: c.post("/score_voyages", json={"voyages": [_row()] * 10_001}), 422, "voyages"),
    ("unknown route", "/nowhere", lambda c: c.post("/nowhere", json={}), 404, "path"),
    ("GET on a POST route", "/score", lambda c: c.get("/score"), 405, "method"),
    ("POST /model", "/model", lambda c: c.post("/model"), 405, "method"),
]


@pytest.mark.parametrize("case, route, send, status, field", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_requests_get_a_4xx_naming_the_problem(server, case, route, send, status, field):
    client, _, _ = server
    r = send(client)
    assert r.status_code == status, (case, r.status_code, r.text[:500])
    body = r.json()
    assert set(body) == {"error", "field", "problem"} and body["problem"], body
    assert field in body["field"], body
    if status in (413, 422):  # a limit: the answer says which
        assert any(w in body["problem"] for w in ("MB", "MAX_POSITIONS", "MAX_VOYAGES")), body
    assert client.get("/readyz").status_code == 200


def test_gzip_request_and_gzip_upload_are_read(server):
    """Within the limits a gzip body, and a gzip file, are inflated and scored as the plain ones."""
    client, paths, _ = server
    plain = client.post("/score", json=TRACK)
    gz = _post_raw(client, "/score", _gzip(GOOD_JSON), "application/json", **{"content-encoding": "gzip"})
    assert plain.status_code == gz.status_code == 200 and plain.json() == gz.json()
    pos = pd.read_parquet(paths["positions"])
    csv = pos[pos["mmsi"].isin(pos["mmsi"].unique()[:2])].to_csv(index=False).encode()
    a = client.post("/watchlist", files={"file": ("t.csv", csv, "text/csv")})
    b = client.post("/watchlist", files={"file": ("t.csv.gz", _gzip(csv), "application/gzip")})
    assert a.status_code == b.status_code == 200, (a.text[:300], b.text[:300])
    assert a.json()["watchlist"] == b.json()["watchlist"]


def test_a_bad_row_fails_only_its_own_request(server, trained):
    """Requests are validated one by one before BentoML batches them: a string in a feature
    row is that request's 400, and the good requests batched beside it are answered."""
    from concurrent.futures import ThreadPoolExecutor
    client, paths, port = server
    from features.engine import LocalEngine
    v = LocalEngine().features([paths["positions"]]).voyages
    rows = json.loads(v.head(40).to_json(orient="records", date_format="iso"))
    bad = [dict(rows[0], lg_start_lat="north"), *rows[1:5]]

    def call(body):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": KEY}, timeout=60) as c:
            return c.post("/score_voyages", json={"voyages": body})
    bodies = [rows[i * 5:(i + 1) * 5] for i in range(8)]
    with ThreadPoolExecutor(9) as ex:  # sent together, within BentoML's batching window
        futures = [ex.submit(call, b) for b in bodies] + [ex.submit(call, bad)]
        answers = [f.result() for f in futures]
    assert answers[-1].status_code == 400 and answers[-1].json()["field"] == "voyages[0].lg_start_lat"
    import mlflow
    mlflow.set_tracking_uri(trained[2]["MLFLOW_TRACKING_URI"])
    model = mlflow.pyfunc.load_model("models:/voyage-risk@champion").unwrap_python_model()
    for body, r in zip(bodies, answers[:-1]):
        assert r.status_code == 200, r.text[:300]
        assert [x["voyage_id"] for x in r.json()] == [b["voyage_id"] for b in body]
    got = [x["risk"] for r in answers[:-1] for x in r.json()]
    np.testing.assert_allclose(got, model.risk(v.head(40)), atol=1e-9)


def test_schemathesis_finds_nothing(server, tmp_path):
    """Schemathesis (examples, coverage and fuzzing phases, every check) against the served
    OpenAPI document of the real server: no 5xx, every answer as documented."""
    _, _, port = server
    config = tmp_path / "schemathesis.toml"
    # Every check is on. One is narrowed, for one route: a file that fits the schema (any bytes)
    # need not be a readable positions file, so /watchlist may answer a schema-valid upload 400;
    # for the same reason most generated uploads are refused (empty, binary: the readers refuse
    # them since #15), which schemathesis reports as a "validation mismatch" warning there.
    # One worker: hypothesis parses lambdas' source with ast, and CPython 3.11.7's ast is not
    # safe across threads ("AST constructor recursion depth mismatch", cpython#106905).
    config.write_text('checks.enabled = true\n\n[[operations]]\ninclude-path = "/watchlist"\n'
                      'checks.positive_data_acceptance.expected-statuses = ["2xx", 400]\n')
    st = str(Path(sys.executable).parent / "st")
    res = subprocess.run([st, "--config-file", str(config), "run", f"http://127.0.0.1:{port}/docs.json",
                          "--phases", "examples,coverage,fuzzing", "--max-examples", "60", "--seed", "15",
                          "--workers", "1", "--request-timeout", "60", "--continue-on-failure",
                          "-H", f"x-api-key: {KEY}", "--no-color"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    assert re.search(r"Tested: +8\b", out), out[-3000:]  # every route, GET /model too
    counts = re.search(r"(\d+) generated, (\d+) passed", out)
    assert counts and counts[1] == counts[2] and int(counts[1]) > 500, out[-3000:]
    # No failure, no error; the one warning allowed is the upload route's (see above).
    summary = out[out.index("SUMMARY"):]
    assert "Failures" not in summary and "Errors" not in summary, out[-3000:]
    warned = re.findall(r"^  - (\w+ \S+)$", summary, re.M)
    assert set(warned) <= {"POST /watchlist"}, out[-3000:]


def test_bounded_load_has_no_errors(server, trained):
    """Eight clients for 10 s on /score and /score_voyages: every answer a 200 (no timing
    assertion: these machines are shared)."""
    import threading
    client, paths, port = server
    _, pos, body = _track(paths)
    body = {**body, "positions": body["positions"][:500]}
    from features.engine import LocalEngine
    v = LocalEngine().features([paths["positions"]]).voyages
    rows = json.loads(v.head(200).to_json(orient="records", date_format="iso"))
    stop, lock, seen = time.time() + 10, threading.Lock(), {"ok": 0, "errors": []}

    def worker(i):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": KEY}, timeout=60) as c:
            while time.time() < stop:
                try:
                    r = c.post("/score", json=body) if i % 2 else c.post("/score_voyages", json={"voyages": rows})
                    ok, what = r.status_code == 200, f"{r.status_code} {r.text[:200]}"
                except httpx.HTTPError as err:
                    ok, what = False, repr(err)
                with lock:
                    if ok:
                        seen["ok"] += 1
                    else:
                        seen["errors"].append(what)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not seen["errors"], seen["errors"][:5]
    assert seen["ok"] > 8


# --- the same answers as before the speed work (#15) -----------------------------------------

def _reference_matrix(model, voyages):
    """``VoyageRiskModel.matrix`` as it was before the speed work (0.3.0), kept to compare."""
    X = voyages[model.features].astype(float).copy()
    if model.grid is not None and {"lg_start_lat", "lg_start_lon"} <= set(voyages.columns):
        lat = voyages["lg_start_lat"].to_numpy(float)
        lon = voyages["lg_start_lon"].to_numpy(float)
        ok = np.isfinite(lat) & np.isfinite(lon)
        rate, cell = np.full(len(X), np.nan), np.full(len(X), np.nan)
        if ok.any():
            r, c, _ = model.grid.lookup(lat[ok], lon[ok])
            rate[ok], cell[ok] = r, c
        for name, vals in zip(("lg_cell_gap_rate", "lg_cell_interval_s"), (rate, cell)):
            if name in X:
                X[name] = vals
    return X


def _reference_answers(model, voyages):
    """Risk and reasons per voyage by the 0.3.0 code (DataFrame in, ``iterrows``), with the
    rules added since (0.5.0): the text moves the odds at most ``text_odds_factor`` either way,
    and a voyage only its text makes risky is held below high."""
    from features.families.declared import TEXT_FEATURES
    from training.model import TEXT_ONLY_MARGIN
    from training.reasons import OPEN_TEXT, TEXT_ONLY_TEXT, _family, reason_text
    X = _reference_matrix(model, voyages)
    raw = model.booster.predict(X, raw_score=True, num_threads=1)
    text = [f for f in model.features if f in TEXT_FEATURES]
    bare_X = X.copy()
    bare_X[text] = np.nan
    bare = model.booster.predict(bare_X, raw_score=True, num_threads=1)
    c = np.log(model.text_odds_factor)
    raw = np.clip(raw, bare - c, bare + c)
    risk = model.calibrate(raw)
    only = (risk >= model.levels["medium"]) & (model.calibrate(bare) < model.levels["medium"])
    risk = np.where(only, np.minimum(risk, model.levels["high"] - TEXT_ONLY_MARGIN), risk)
    c_all = pd.DataFrame(model.booster.predict(X, pred_contrib=True, num_threads=1)[:, :-1], columns=model.features,
                         index=voyages.index)
    open_flags = {f: voyages[f].to_numpy(float) if f in voyages else np.zeros(len(voyages)) for f in OPEN_TEXT}
    out = []
    for i, (_idx, row) in enumerate(voyages.iterrows()):
        c = c_all.iloc[i]
        reasons, seen = [], set()
        for k in np.argsort(-c.to_numpy()):
            if c.iloc[k] <= 0 or len(reasons) >= 3:
                break
            name = model.features[k]
            val = X.iloc[i, k]
            if pd.isna(val) or val == 0 or _family(name) in seen:
                continue
            text = reason_text(name, row, model.gaz)
            if text is None:
                continue
            seen.add(_family(name))
            reasons.append({"feature": name, "value": None if pd.isna(val) else float(val),
                            "contribution": round(float(c.iloc[k]), 4), "text": text})
        if only[i]:
            reasons.append({"feature": "text_only", "value": 1.0, "contribution": 0.0, "text": TEXT_ONLY_TEXT})
        for name, text in OPEN_TEXT.items():
            if open_flags[name][i] == 1 and name not in seen:
                reasons.append({"feature": name, "value": 1.0,
                                "contribution": round(float(c[name]), 4) if name in c.index else 0.0, "text": text})
        out.append(reasons)
    return risk, out


def test_score_answers_are_those_of_the_reference_code(server, trained, tmp_path):
    """/score (the fast path: no live context, one matrix, cell-wise rows) answers, voyage by
    voyage, what the 0.3.0 code computes from the full voyage table of the same positions:
    risk to 1e-9, reasons identical. So does the watchlist's path (score_files)."""
    import mlflow
    from serving.scoring import score_files
    client, paths, _ = server
    mlflow.set_tracking_uri(trained[2]["MLFLOW_TRACKING_URI"])
    model = mlflow.pyfunc.load_model("models:/voyage-risk@champion").unwrap_python_model()
    ves = pd.read_csv(paths["vessels"])
    pos = pd.read_parquet(paths["positions"])
    picks = list(dict.fromkeys(
        [int(ves.loc[ves["profile"].str.startswith(p), "mmsi"].iloc[0]) for p in ("dark",) if
         ves["profile"].str.startswith(p).any()] + [int(m) for m in pos["mmsi"].value_counts().index[:5]]))
    compared = 0
    for mmsi in picks:
        p = pos[pos["mmsi"] == mmsi].head(1000)
        body = {"mmsi": mmsi, "positions": [
            {"timestamp": t.isoformat(), "lat": float(a), "lon": float(b), "sog": float(s), "cog": float(c)}
            for t, a, b, s, c in zip(p["timestamp"], p["lat"], p["lon"], p["sog"], p["cog"])]}
        r = client.post("/score", json=body)
        assert r.status_code == 200, r.text[:300]
        got = {v["voyage_id"]: v for v in r.json()["voyages"]}
        f = tmp_path / f"{mmsi}.csv"
        pd.DataFrame([{"mmsi": mmsi, **x} for x in body["positions"]]).to_csv(f, index=False)
        sc = score_files([f], model)
        if not len(sc.voyages):  # a ship that never left port: nothing to compare but the answer
            assert got == {}
            continue
        risk, reasons = _reference_answers(model, sc.voyages)
        assert sorted(got) == sorted(sc.voyages["voyage_id"])
        np.testing.assert_allclose(sc.voyages["risk"].to_numpy(float), risk, rtol=0, atol=1e-12)
        assert list(sc.voyages["reasons"]) == reasons
        for vid, rk, rs in zip(sc.voyages["voyage_id"], risk, reasons):
            assert abs(got[vid]["risk"] - rk) <= 1e-9, vid
            assert got[vid]["reasons"] == rs, vid
            compared += 1
    assert compared >= 5


def test_parquet_bomb_upload_is_refused_from_its_footer(server, tmp_path):
    """A small Parquet file whose rows decode to more than PARQUET_EXPANSION x the byte limit:
    a 413 naming the limit, decided before any page is read."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import warnings
    with warnings.catch_warnings():  # bentoml's own import-time deprecation notices
        warnings.simplefilter("ignore", DeprecationWarning)
        from serving.http_gate import PARQUET_EXPANSION
    client, _, _ = server
    n = 1_000_000
    block = pa.table({"mmsi": np.full(n, 273000001, np.int64), "timestamp": np.full(n, 1_700_000_000, np.int64),
                      "lat": np.full(n, 40.0), "lon": np.full(n, 50.0)})
    f = tmp_path / "bomb.parquet"
    rounds = PARQUET_EXPANSION * LIMIT_MB * 1_000_000 // (n * 4 * 8) + 1
    with pq.ParquetWriter(f, block.schema, compression="zstd") as w:
        for _ in range(rounds):
            w.write_table(block)
    assert f.stat().st_size < LIMIT_MB * 1_000_000 / 10
    r = client.post("/watchlist", files={"file": ("bomb.parquet", f.read_bytes(), "application/octet-stream")})
    assert r.status_code == 413, r.text[:300]
    assert r.json()["field"] == "body" and "DARKVOYAGE_MAX_UPLOAD_MB" in r.json()["problem"]


def test_a_whole_number_written_with_a_fraction_is_an_integer(server):
    """JSON Schema's integer includes 273000001.0: strict types refuse text and booleans, not that."""
    client, _, _ = server
    r = client.post("/score", json={"mmsi": 273000001.0, "positions": [{**ONE, "nav_status": 1.0}]})
    assert r.status_code == 200, r.text[:300]
    assert r.json()["mmsi"] == 273000001


def test_a_long_track_gets_the_watchlist_answers_and_the_server_keeps_answering(server, tmp_path, trained):
    """Tracks above INLINE_POSITIONS are scored in a worker thread, shorter ones on the event
    loop: both give what the watchlist's code path gives for the same positions, and the
    server answers other requests while the long one is scored."""
    import threading

    import mlflow

    from serving.scoring import score_files
    from serving.service import INLINE_POSITIONS
    client, paths, _ = server
    pos = pd.read_parquet(paths["positions"])
    mmsi = int(pos["mmsi"].value_counts().index[0])
    p = pos[pos["mmsi"] == mmsi]
    # The vessel's track at one fix a minute (a terrestrial receiver's rate), interpolated.
    t = p["timestamp"].astype("int64").to_numpy() // 1_000_000
    minute = np.arange(t[0], t[-1], 60)[: INLINE_POSITIONS + 200]
    dense = pd.DataFrame({"timestamp": pd.to_datetime(minute, unit="s", utc=True),
                          "lat": np.interp(minute, t, p["lat"]), "lon": np.interp(minute, t, p["lon"]),
                          "sog": np.interp(minute, t, p["sog"])})
    assert len(dense) > INLINE_POSITIONS
    body = {"mmsi": mmsi, "positions": [{"timestamp": a.isoformat(), "lat": float(b), "lon": float(c), "sog": float(d)}
                                        for a, b, c, d in zip(dense["timestamp"], dense["lat"], dense["lon"], dense["sog"])]}
    answers = {}

    def long_one():
        answers["long"] = client.post("/score", json=body)
    th = threading.Thread(target=long_one)
    th.start()
    ready = client.get("/readyz")
    short = client.post("/score", json={**body, "positions": body["positions"][:500]})
    th.join(timeout=300)
    assert ready.status_code == 200 and short.status_code == 200, short.text
    r = answers["long"]
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["rows"]["read"] == len(dense) and out["voyages"]
    f = tmp_path / "dense.csv"
    dense.assign(mmsi=mmsi).to_csv(f, index=False)
    mlflow.set_tracking_uri(trained[2]["MLFLOW_TRACKING_URI"])
    model = mlflow.pyfunc.load_model("models:/voyage-risk@champion").unwrap_python_model()
    sc = score_files([f], model)
    got = {v["voyage_id"]: v for v in out["voyages"]}
    assert sorted(got) == sorted(sc.voyages["voyage_id"])
    for vid, risk, reasons in zip(sc.voyages["voyage_id"], sc.voyages["risk"], sc.voyages["reasons"]):
        assert abs(got[vid]["risk"] - risk) <= 1e-9 and got[vid]["reasons"] == reasons
