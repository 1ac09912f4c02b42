"""Speed and memory of the simulator: 1,000 vessels x 60 days (target <= 60 s).

Usage: python benchmarks/bench_simulator.py [--vessels 1000] [--days 60]
Prints one JSON line: rows, seconds, rows_per_s, peak_mb.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.simulator import SimConfig, simulate, write_scenario  # noqa: E402

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--vessels", type=int, default=1000)
    ap.add_argument("--days", type=float, default=60)
    a = ap.parse_args()
    t0 = time.perf_counter()
    sc = simulate(SimConfig(vessels=a.vessels, days=a.days))
    with tempfile.TemporaryDirectory() as d:
        write_scenario(sc, d)
    secs = time.perf_counter() - t0
    print(json.dumps({"vessels": a.vessels, "days": a.days, "rows": len(sc.positions), "seconds": round(secs, 2),
                      "rows_per_s": round(len(sc.positions) / secs),
                      "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
