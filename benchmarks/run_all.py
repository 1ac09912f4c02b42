"""Run every benchmark and print their JSON lines (``make bench``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    ["bench_features.py", "--rows", "1000000", "10000000", "--repeat", "3"],
    ["bench_events.py", "--rows", "10000000", "--repeat", "2"],
    ["segmenter_eval.py"],
    ["bench_identity.py"],
    ["bench_identity_options.py"],
    ["bench_simulator.py"],
    ["bench_training.py"],
    ["bench_watchlist.py"],
    ["bench_service.py"],
    ["bench_spark.py", "--rows", "10000000", "--repeat", "2"],  # needs the spark extra
]

if __name__ == "__main__":
    for script, *args in SCRIPTS:
        print(f"# {script}", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *args], check=True)
