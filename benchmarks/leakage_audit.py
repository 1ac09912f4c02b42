"""Leakage audit of the simulator (issue: honest worlds), one JSON line per world.

For each world seed, simulates a scenario (many suspicious ships so the audit has vessels to
judge) and reports the ROC-AUCs of :func:`training.simulator.audit.audit`: a vessel-grouped LightGBM on
the ordinary voyages of suspicious vs benign RU/IR cargo ships and tankers, and single ship
attributes. Every figure must stay <= 0.60; the script exits 1 when one does not.

Usage: python benchmarks/leakage_audit.py [--vessels 800] [--days 30] [--worlds 11 12 13]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--vessels", type=int, default=800)
    ap.add_argument("--days", type=float, default=30)
    ap.add_argument("--worlds", type=int, nargs="+", default=[11, 12, 13])
    a = ap.parse_args()
    from features.engine import LocalEngine
    from features.catalogue import FEATURE_NAMES
    from training.simulator.audit import MAX_AUC, audit
    from training.labels import assign_labels, read_labels
    from training.simulator import SimConfig, simulate, write_scenario
    failed = False
    for w in a.worlds:
        t0 = time.perf_counter()
        sc = simulate(SimConfig(vessels=a.vessels, days=a.days, seed=w, suspicious_share=0.25))
        with tempfile.TemporaryDirectory() as d:
            paths = write_scenario(sc, d)
            v = LocalEngine().features([paths["positions"]]).voyages
            res = audit(assign_labels(v, read_labels(paths["labels"])), sc.vessels, FEATURE_NAMES)
        worst = max(x for x in res.values() if isinstance(x, float))
        failed |= worst > MAX_AUC
        print(json.dumps({"world_seed": w, "vessels": a.vessels, "days": a.days, **{k: round(x, 3) if isinstance(x, float) else x
                                                                                   for k, x in res.items()},
                          "worst_auc": round(worst, 3), "max_auc": MAX_AUC, "seconds": round(time.perf_counter() - t0, 1)}),
              flush=True)
    sys.exit(1 if failed else 0)
