"""The two ways identity evidence could reach the score (issue #23, item 3), measured side by side
on the reference set: (A) the model stays single-track and links and hull events enter the
ranking by the rule of ``training/identity_ranking.py`` (what darkvoyage does), or (B) the
model learns the identity evidence as features, which ``/score`` could only give by taking
the linked tracks too.

Usage: python benchmarks/bench_identity_options.py [--train-vessels 600 --train-days 30 --seed 7]

Both models are ``training.train.fit_model``'s on the same training world (parameters, sample
weights, seed, calibration; (A) raised to its ``high`` threshold); (B) adds three per-voyage
inputs: touched by a likely link at sea (0/1), the
highest confidence of any link touching it, touched by a hull event (0/1). Prints one JSON line
per variant: AP and recall at k of the identity behaviours on the reference set.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from features.config import DEFAULT  # noqa: E402
from features.gazetteer import load_gazetteer  # noqa: E402
from features.identity import identity_evidence  # noqa: E402
from features.pipeline import jumps_of  # noqa: E402

from benchmarks.bench_identity import ranking  # noqa: E402

EVIDENCE = ["id_link_at_sea", "id_link_confidence", "id_hull_event"]


def table_of(sim, gaz, folder: Path):
    """The labelled voyage table of one simulated scenario, with its identity evidence."""
    from training.identity_ranking import hull_touched, touched
    from training.scenarios import ScenarioInput, scenario_table
    from training.simulator import simulate, write_scenario
    paths = write_scenario(simulate(sim), folder)
    t = scenario_table(ScenarioInput((Path(paths["positions"]),), Path(paths["labels"])), gaz, DEFAULT)
    links, hull = identity_evidence(t.tracks.positions, DEFAULT, jumps_of(t.tracks))
    v = t.voyages[t.voyages["y"].notna()].reset_index(drop=True)
    v["vessel_group"] = v["mmsi"].astype(np.int64)  # one world: a vessel is its MMSI
    ev = pd.DataFrame(0.0, index=v.index, columns=EVIDENCE)
    tl = touched(v, links)
    if len(tl):
        lk = links.iloc[tl["link"].to_numpy()]
        sea = ((lk["level"] == "likely") & lk["at_sea"].astype(bool)).to_numpy(float)
        ev["id_link_at_sea"] = pd.Series(sea, index=tl["row"].to_numpy()).groupby(level=0).max()
        conf = pd.Series(lk["confidence"].to_numpy(float), index=tl["row"].to_numpy()).groupby(level=0).max()
        ev["id_link_confidence"] = conf
    th = hull_touched(v, hull)
    ev.loc[th["row"].unique(), "id_hull_event"] = 1.0
    return pd.concat([v, ev.fillna(0.0)], axis=1), links, hull


def main(argv=None) -> list[dict]:
    from training.identity_ranking import with_identities
    from training.model import MODEL_FEATURES
    from training.reference import sim_config
    from training.simulator import SimConfig
    from training.train import TrainConfig, fit_model
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-vessels", type=int, default=600)
    ap.add_argument("--train-days", type=float, default=30)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    gaz = load_gazetteer()
    with tempfile.TemporaryDirectory() as tmp:
        train, _, _ = table_of(SimConfig(vessels=a.train_vessels, days=a.train_days, seed=a.seed), gaz, Path(tmp) / "t")
        ref, links, hull = table_of(sim_config(), gaz, Path(tmp) / "r")
    # Both as train fits them (calibrated); (A) raised by the rule (training.identity_ranking.RULE_RISK).
    fit = np.ones(len(train), bool)
    model = fit_model(train, fit, TrainConfig().params, None, gaz, seed=0)
    single = model.risk(ref)
    scored = ref.assign(risk=single, level="low", reasons_text="", reasons=[[] for _ in range(len(ref))])
    ruled = with_identities(scored, links, model.levels["high"], hull)["risk"].to_numpy(float)
    learnt = fit_model(train, fit, TrainConfig().params, None, gaz, seed=0, features=MODEL_FEATURES + EVIDENCE).risk(ref)
    rows = [{"variant": "single-track model", **ranking(ref, single), "high": round(float(model.levels["high"]), 3)},
            {"variant": "A: single-track model + identity ranking rule", **ranking(ref, ruled)},
            {"variant": "B: model that learns the identity evidence", **ranking(ref, learnt),
             "training_voyages_with_evidence": int((train[EVIDENCE].to_numpy() > 0).any(axis=1).sum())}]
    for r in rows:
        print(json.dumps(r), flush=True)
    return rows


if __name__ == "__main__":
    main()
