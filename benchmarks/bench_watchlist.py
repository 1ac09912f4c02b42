"""Watchlist speed: ``darkvoyage watchlist`` on 10 M positions (~2,000 vessels) end to end
(target <= 15 s), and a screenshot of the HTML report for a person to look at.

Usage: python benchmarks/bench_watchlist.py [--rows 10000000] [--screenshot docs/watchlist.png]
Trains a small model in a throw-away store first. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXE = str(Path(sys.executable).parent / "darkvoyage")

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--screenshot", default=None, help="PNG path for the HTML report's screenshot")
    a = ap.parse_args()
    from benchmarks.bench_features import bench_folder, ensure_data
    from training.simulator import SimConfig, simulate, write_scenario
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{d}/mlflow.db"}
        sim = write_scenario(simulate(SimConfig(vessels=150, days=20, seed=51)), Path(d) / "sim")
        subprocess.run([EXE, "train", "--positions", sim["positions"], "--labels", sim["labels"]], env=env, check=True,
                       capture_output=True)
        data = ensure_data(a.rows, bench_folder())
        t0 = time.perf_counter()
        subprocess.run([EXE, "watchlist", str(data), "--out", f"{d}/wl.csv"], env=env, check=True, capture_output=True)
        secs = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        # The analyst's view of a Caspian month, rendered by a real browser.
        month = write_scenario(simulate(SimConfig(vessels=300, days=30, seed=52, start="2024-12-01")), Path(d) / "month")
        html = Path(d) / "watchlist.html"
        subprocess.run([EXE, "watchlist", month["positions"], "--out", str(html), "--top", "40"], env=env, check=True,
                       capture_output=True)
        shot = a.screenshot or str(Path(d) / "watchlist.png")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium:
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--no-first-run",
                            f"--user-data-dir={d}/chrome", "--window-size=1400,800", "--virtual-time-budget=3000",
                            f"--screenshot={shot}", html.as_uri()], capture_output=True, timeout=120)
        print(json.dumps({"rows": a.rows, "seconds": round(secs, 2), "rows_per_s": round(a.rows / secs),
                          "peak_mb": round(peak), "screenshot": shot if chromium else None}))
