"""Robustness of the score to the feed (issue: a score that holds on real AIS text and feeds).

Scores the default reference scenario (the reserved world, 500 vessels x 30 days) as it is and
under every change of ``training.robustness.VARIANTS`` that keeps behaviour: each optional
column dropped, destinations typed again in other realistic forms, reporting thinned to every
2nd / 3rd fix outside gaps, positions jittered 50 m, the whole set shifted in time, the same
data through the CSV, US MarineCadastre, GFW and NMEA readers. One JSON line per change (AP,
its change against the unchanged set in the same run, Spearman of the vessels' ranks, whether
both bars hold), then a summary; ``--markdown`` also prints the README's table.

The model: ``--model URI`` (e.g. models:/voyage-risk@champion with MLFLOW_TRACKING_URI set),
or by default one trained in a throw-away store with the demo's recipe (three worlds of 200
vessels x 60 days: world seeds 7, 11, 13), or ``--worlds 101:300x60`` for a single-world model.

Usage: python benchmarks/bench_feeds.py [--model URI | --worlds W:VxD[,W:VxD...]] [--variants NAME ...] [--markdown]
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

DEMO_PLAN = "7:200x60,11:200x60,13:200x60"


def _train(folder: Path, plan: str):
    from training.registry import load_model
    from training.simulator import SimConfig, simulate, write_scenario
    from training.train import train
    scen = []
    for item in plan.split(","):
        w, size = item.split(":")
        v, days = size.split("x")
        out = folder / f"world{w}"
        write_scenario(simulate(SimConfig(vessels=int(v), days=float(days), seed=int(w), world_seed=int(w))), out)
        scen.append(str(out))
    s = train(scen, None, experiment="bench-feeds", promote="force")
    model, _ = load_model(f"models:/voyage-risk/{s['model_version']}")
    return model, s["metrics"]["reference_average_precision"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None, help="a model URI; default: train one with the demo's recipe")
    ap.add_argument("--worlds", default=DEMO_PLAN, help="training plan when no --model: W:VESSELSxDAYS,...")
    ap.add_argument("--variants", nargs="*", default=None)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if a.model is None:
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{d}/mlflow.db"
        import pandas as pd
        from training import reference
        from training.registry import load_model
        from training.robustness import MAX_AP_CHANGE, MIN_SPEARMAN, check, table_markdown
        from training.simulator import simulate, write_scenario
        t0 = time.perf_counter()
        model, trained_ap = _train(d / "train", a.worlds) if a.model is None else (load_model(a.model)[0], None)
        t_train = time.perf_counter() - t0
        paths = write_scenario(simulate(reference.sim_config()), d / "reference")
        pos = pd.read_parquet(paths["positions"])
        labels = pd.read_csv(paths["labels"])
        times = {}

        def tick(name):
            times[name] = time.perf_counter()
        rows = check(model, pos, labels, d / "variants", a.variants, progress=tick)
        starts = [*times.values(), time.perf_counter()]
        for r, t_a, t_b in zip(rows, starts, starts[1:]):  # write, read, track, featurize and score
            print(json.dumps({"model": a.model or f"trained: {a.worlds}", **r, "seconds": round(t_b - t_a, 1)}),
                  flush=True)
        worst_ap = max(abs(r["ap_change"]) for r in rows[1:]) if len(rows) > 1 else 0.0
        worst_rho = min(r["spearman"] for r in rows[1:]) if len(rows) > 1 else 1.0
        print(json.dumps({"summary": True, "variants": len(rows) - 1, "reference_ap": rows[0]["ap"],
                          "trained_reference_ap": trained_ap, "worst_ap_change": worst_ap, "worst_spearman": worst_rho,
                          "failed": [r["variant"] for r in rows if not r["passed"]], "max_ap_change": MAX_AP_CHANGE,
                          "min_spearman": MIN_SPEARMAN, "train_seconds": round(t_train, 1),
                          "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
        if a.markdown:
            print(table_markdown(rows))


if __name__ == "__main__":
    main()
