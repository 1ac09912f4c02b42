"""Model robustness across worlds: train on differently drawn worlds and sizes, judge every
model on the same reference set (a reserved world none of them saw).

Each line is one model: its training worlds, size, and the reference metrics the run logged
(average precision, precision at k, ROC-AUC, ECE, recall per behaviour, the false-positive rate
on benign twins at k, both continuous rules). The last line summarises: the spread of reference
AP, the worst margin over the better rule, the worst ECE, and how much of it the reference set's
own sampling explains: each model's 90 % interval of reference AP and that of the single-world
spread, over the same resamples of reference vessels. A throw-away MLflow store holds it all.

Usage: python benchmarks/bench_robustness.py [--plan "101:300x60 202:600x60 303:1000x30 101+202+303"]
[--served] [--params '{"num_leaves": 7}']
A plan item is WORLD:VESSELSxDAYS, or several world seeds joined with + (one model trained on
those scenarios together, each at the size given for it earlier in the plan). ``--served`` adds
each model's reference AP as the watchlist ranks the reference world (the identity rule of
``training/identity_ranking.py`` applied with that world's identity links: what a one-track
model cannot see, an MMSI changed at sea, two hulls on one MMSI, made-up positions).
``--params``: LightGBM parameters over ``TrainConfig``'s.
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

DEFAULT_PLAN = "101:300x60 202:600x60 303:1000x30 101+202+303"
KEYS = ("reference_average_precision", "reference_precision_at_k", "reference_roc_auc", "reference_ece",
        "reference_twin_fpr_at_k", "reference_rule_longest_gap_average_precision",
        "reference_rule_surplus_time_average_precision", "test_average_precision")


def _scenario(folder: Path, world: int, vessels: int, days: float, share: float) -> Path:
    from training.simulator import SimConfig, simulate, write_scenario
    out = folder / f"world{world}"
    if not (out / "labels.csv").exists():
        write_scenario(simulate(SimConfig(vessels=vessels, days=days, seed=world, world_seed=world,
                                          suspicious_share=share)), out)
    return out


class _ServedRanking:
    """The reference world simulated once; each model's served ranking of it
    (``benchmarks/bench_identity.py``'s :func:`served_ranking`)."""

    def __init__(self, folder: Path):
        from training.reference import sim_config
        from training.scenarios import ScenarioInput
        from training.simulator import simulate, write_scenario
        paths = write_scenario(simulate(sim_config()), folder / "reference")
        self.source = ScenarioInput((Path(paths["positions"]),), Path(paths["labels"]))
        self.evidence = None

    def __call__(self, version: str) -> dict:
        from benchmarks.bench_identity import served_ranking
        from features.config import DEFAULT
        from features.identity import identity_evidence
        from features.pipeline import jumps_of
        from training.registry import load_model
        from training.scenarios import scenario_table
        model, _ = load_model(f"models:/voyage-risk/{version}")
        table = scenario_table(self.source, model.gaz, DEFAULT, grid=model.grid)
        if self.evidence is None:  # the links do not depend on the model
            self.evidence = identity_evidence(table.tracks.positions, DEFAULT, jumps_of(table.tracks))
        r = served_ranking(model, table, *self.evidence)
        return {"served_average_precision": r["with_identity_rule"]["average_precision"],
                "served_recall": {k.removeprefix("recall_"): v for k, v in r["with_identity_rule"].items()
                                  if k.startswith("recall_")}}


def _reference_predictions(run_id: str):
    """The run's reference predictions (voyage_id, vessel_group, y, behaviour, risk)."""
    import mlflow
    import pandas as pd
    with tempfile.TemporaryDirectory() as tmp:
        return pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="reference_predictions.csv",
                                                               dst_path=tmp))


def _intervals(preds: list, items: list[str]) -> dict:
    """How much of the AP figures is the reference set's own sampling: per model the 90 %
    interval of reference AP over resampled reference vessels, and of the spread between the
    single-world models (a plan item without ``+``) on the same resamples."""
    import numpy as np
    from training.evaluation import bootstrap_ap
    ref = preds[0]
    ap = bootstrap_ap(ref["y"], [p.set_index("voyage_id")["risk"].reindex(ref["voyage_id"]) for p in preds],
                      ref["vessel_group"])
    out = {"reference_ap_90": [[round(float(lo), 3), round(float(hi), 3)]
                               for lo, hi in zip(np.nanquantile(ap, 0.05, axis=1), np.nanquantile(ap, 0.95, axis=1))]}
    single = [i for i, item in enumerate(items) if "+" not in item.partition(":")[0]]
    if len(single) > 1:
        spread = np.nanmax(ap[single], axis=0) - np.nanmin(ap[single], axis=0)
        out["single_world_spread_90"] = [round(float(np.nanquantile(spread, q)), 3) for q in (0.05, 0.95)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plan", default=DEFAULT_PLAN)
    ap.add_argument("--suspicious-share", type=float, default=0.25, help="of each training scenario's fleet")
    ap.add_argument("--served", action="store_true", help="also the reference AP as the watchlist ranks it")
    ap.add_argument("--params", type=json.loads, default={}, help="LightGBM parameters over TrainConfig's (JSON)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{d}/mlflow.db"
        from training.train import TrainConfig, train
        tcfg = TrainConfig(params={**TrainConfig().params, **a.params})
        served = _ServedRanking(Path(d)) if a.served else None
        served_aps, preds = [], []
        sizes: dict[int, tuple[int, float]] = {}
        aps, margins, eces = [], [], []
        for item in a.plan.split():
            worlds, _, size = item.partition(":")
            seeds = [int(w) for w in worlds.split("+")]
            if size:
                v, _, days = size.partition("x")
                sizes.update({w: (int(v), float(days)) for w in seeds})
            t0 = time.perf_counter()
            folders = [_scenario(Path(d), w, *sizes[w], a.suspicious_share) for w in seeds]
            t_sim = time.perf_counter() - t0
            s = train([str(f) for f in folders], None, experiment="robustness", promote="never", tcfg=tcfg)
            m = s["metrics"]
            preds.append(_reference_predictions(s["run_id"]))
            extra = served(s["model_version"]) if served else {}
            served_aps += [extra["served_average_precision"]] if extra else []
            rule = max(m["reference_rule_longest_gap_average_precision"], m["reference_rule_surplus_time_average_precision"])
            aps.append(m["reference_average_precision"])
            margins.append(m["reference_average_precision"] - rule)
            eces.append(m["reference_ece"])
            print(json.dumps({
                "worlds": seeds, "suspicious_share": a.suspicious_share, "sizes": [f"{sizes[w][0]}x{sizes[w][1]:g}" for w in seeds],
                "labelled_voyages": s["counts"]["labelled"], "suspicious": s["counts"]["suspicious"],
                **{k: round(m[k], 4) for k in KEYS if k in m},
                "margin_over_best_rule": round(margins[-1], 4),
                **{k: round(v, 3) for k, v in sorted(m.items()) if k.startswith("reference_recall_")},
                **extra, "params": a.params,
                "reference_digest": s["reference"]["digest"], "simulate_seconds": round(t_sim, 1),
                "train_seconds": round(time.perf_counter() - t0 - t_sim, 1)}), flush=True)
        print(json.dumps({"summary": True, "models": len(aps), "reference_ap_min": round(min(aps), 4),
                          "reference_ap_max": round(max(aps), 4), "reference_ap_spread": round(max(aps) - min(aps), 4),
                          **_intervals(preds, a.plan.split()),
                          "worst_margin_over_best_rule": round(min(margins), 4), "worst_ece": round(max(eces), 4),
                          **({"served_ap_min": min(served_aps), "served_ap_max": max(served_aps)} if served_aps else {})}))


if __name__ == "__main__":
    main()
