"""Training speed on ~20 k voyages, logging included (target <= 60 s), and the quality figures
on a simulated scenario. Uses a throw-away MLflow store.

Usage: python benchmarks/bench_training.py [--vessels 1000] [--days 60] [--seed 7]
Prints one JSON line: voyages, feature seconds, training seconds (fit, baselines, calibration,
MLflow logging and registration), key metrics.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--vessels", type=int, default=1000)
    ap.add_argument("--days", type=float, default=60)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{d}/mlflow.db"
        from training.simulator import SimConfig, simulate, write_scenario
        from training.train import train
        t0 = time.perf_counter()
        paths = write_scenario(simulate(SimConfig(vessels=a.vessels, days=a.days, seed=a.seed)), Path(d) / "sim")
        t_sim = time.perf_counter() - t0
        marks = {}
        s = train([paths["positions"]], paths["labels"], experiment="bench",
                  stage=lambda name: marks.setdefault(name, time.perf_counter()))
        t_end = time.perf_counter()
        m = s["metrics"]
        print(json.dumps({
            "vessels": a.vessels, "days": a.days, "voyages": s["counts"]["labelled"], "suspicious": s["counts"]["suspicious"],
            "simulate_seconds": round(t_sim, 1), "feature_seconds": round(marks["training"] - marks["features"], 1),
            "training_seconds": round(t_end - marks["training"], 1),
            **{k: round(m[k], 4) for k in ("test_average_precision", "rule_gap12h_average_precision",
                                           "rule_gap30h_average_precision", "logreg_average_precision",
                                           "iforest_average_precision", "test_ece", "test_brier",
                                           "time_holdout_average_precision") if k in m}}))
