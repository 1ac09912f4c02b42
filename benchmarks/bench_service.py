"""REST service speed on 127.0.0.1: sequential /score latency with a 1,000-position track
(targets p50 <= 20 ms, p99 <= 50 ms), /score_voyages throughput with concurrent clients
(target >= 2,000 voyages/s), and a bounded load run (default 60 s) counting errors.

Trains a small model in a throw-away store, starts the real server on a free port, and stops
it at the end. Only loopback traffic; every loop is bounded in count and time.
Usage: python benchmarks/bench_service.py [--seconds 60] [--requests 300]
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXE = str(Path(sys.executable).parent / "darkvoyage")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()
    from training.simulator import SimConfig, simulate, write_scenario
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{d}/mlflow.db", "BENTOML_HOME": f"{d}/bentoml",
               "BENTOML_DO_NOT_TRACK": "true"}
        paths = write_scenario(simulate(SimConfig(vessels=150, days=20, seed=41)), Path(d) / "sim")
        subprocess.run([EXE, "train", "--positions", paths["positions"], "--labels", paths["labels"]], env=env,
                       check=True, capture_output=True)
        port = free_port()
        proc = subprocess.Popen([EXE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            t_start = time.time()
            while time.time() - t_start < 120:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            cold_s = time.time() - t_start
            pos = pd.read_parquet(paths["positions"])
            m = pos["mmsi"].value_counts().index[0]
            p = pos[pos["mmsi"] == m].head(1000)
            body = {"mmsi": int(m), "positions": [{"timestamp": t.isoformat(), "lat": float(x), "lon": float(y),
                                                   "sog": float(s)} for t, x, y, s in zip(p["timestamp"], p["lat"], p["lon"], p["sog"])]}
            client = httpx.Client(base_url=base, timeout=30)
            for _ in range(5):
                client.post("/score", json=body)
            lat = []
            for _ in range(a.requests):
                t0 = time.perf_counter()
                r = client.post("/score", json=body)
                lat.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200
            from features.engine import LocalEngine
            v = LocalEngine().features([paths["positions"]]).voyages
            rows = json.loads(v.head(200).to_json(orient="records", date_format="iso"))
            n_done, errors, lock = [0], [0], threading.Lock()
            stop = time.time() + a.seconds

            def worker():
                c = httpx.Client(base_url=base, timeout=30)
                while time.time() < stop:
                    try:
                        r = c.post("/score_voyages", json={"voyages": rows})
                        ok = r.status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    with lock:
                        if ok:
                            n_done[0] += len(rows)
                        else:
                            errors[0] += 1
            t0 = time.time()
            threads = [threading.Thread(target=worker) for _ in range(a.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            secs = time.time() - t0
            print(json.dumps({"score_track_positions": len(p), "score_requests": a.requests,
                              "score_p50_ms": round(float(np.percentile(lat, 50)), 1),
                              "score_p99_ms": round(float(np.percentile(lat, 99)), 1),
                              "score_voyages_clients": a.clients, "load_seconds": round(secs, 1),
                              "voyages_per_s": round(n_done[0] / secs), "load_errors": errors[0],
                              "cold_start_s": round(cold_s, 1)}))
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
