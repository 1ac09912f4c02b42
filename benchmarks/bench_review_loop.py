"""The review loop, measured (issue #26, item 5): do analysts' verdicts make the model better on
traffic the simulator did not foresee?

Training worlds are drawn as ``darkvoyage simulate`` draws them. The desk's world and a further
evaluation world carry a change no training draw can give (``WORLD_VARIANTS``: a behaviour or a
feed habit outside the simulator's ranges). Round by round, the current model scores the desk's
world; an analyst who answers from the simulator's truth reviews N vessels, in the order of the
desk's review queue (``serving.desk.review.queue``: the top of the list, the vessels near the
high cut-off, rules-versus-model disagreements) or, beside it, at random; each verdict labels
the reviewed vessel's riskiest voyage (what its alert shows). Training then runs as ``darkvoyage
train --store`` runs: a third of the verdict vessels held out by MMSI hash (the analyst
reference set), the way to learn from the rest chosen by grouped cross-validation
(``training.adaptation``), the model refit on everything. Its AP on the evaluation world, which
neither the training nor the analyst saw, is the figure; beside it the model without feedback.

One JSON line per (order, reviews per round, round), then a summary line; ``--markdown``
prints the table for ``docs/evaluation.md``; ``--probe`` only prints each world variant's AP
without feedback (where the simulated-only model is weak).

Usage: python benchmarks/bench_review_loop.py [--variant NAME] [--sizes 25,50,100] [--rounds 3] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: Changes no training draw gives (``training.simulator.world.RANGES`` says what each means).
WORLD_VARIANTS = {
    # Suspicious ships switch off much further out than any training world's, and hide longer.
    "far_dark": {"approach_off_km_max": 420.0, "oab_off_km_max": 900.0, "hidden_stay_h_max": 140.0,
                 "loiter_h_max": 140.0},
    # A coast with a broken receiver network: long outages everywhere, Iran almost unheard.
    "broken_coast": {"station_outages_per_day": 0.25, "station_outage_h_max": 90.0, "iran_station_density": 0.1,
                     "sat_detect_p": 0.1},
    # Crews who switch off alongside as a habit: most ships, benign or not.
    "berth_off": {"off_at_berth_share": 0.75},
}
TRAIN_WORLDS = (101, 102)          # seeds (each its own world) of the simulated training worlds
DESK_SEED, EVAL_SEED = 301, 302    # the desk's world and the evaluation world (same variant)
VERDICT_BEHAVIOUR = "new_on_list"  # what a verdict label's behaviour says (the alert's kind)


def _scenarios(a, folder: Path) -> dict:
    from training.scenarios import ScenarioInput
    from training.simulator import SimConfig, simulate, write_scenario
    over = tuple(WORLD_VARIANTS[a.variant].items()) if a.variant else ()
    plans = {f"train{w}": SimConfig(vessels=a.vessels, days=a.days, seed=w) for w in TRAIN_WORLDS}
    plans["desk"] = SimConfig(vessels=a.desk_vessels, days=a.days, seed=DESK_SEED, suspicious_share=0.1,
                              world_overrides=over)
    plans["eval"] = SimConfig(vessels=a.vessels, days=a.days, seed=EVAL_SEED, world_overrides=over)
    out = {}
    for name, cfg in plans.items():
        p = write_scenario(simulate(cfg), folder / name)
        out[name] = ScenarioInput((Path(p["positions"]),), Path(p["labels"]))
    return out


def prepare(a, folder: Path) -> dict:
    """Voyage tables: the training worlds and the desk's world on one grid (as ``train --store``
    builds them), the evaluation world on its own; the desk world's rule events."""
    from features.config import DEFAULT
    from features.events import detect_events
    from features.gazetteer import load_gazetteer
    from serving.desk.config import DEFAULT_DESK
    from training.scenarios import combined_tables
    gaz = load_gazetteer()
    sc = _scenarios(a, folder)
    names = [n for n in sc if n.startswith("train")] + ["desk"]
    tables, grid, voyages = combined_tables([sc[n] for n in names], gaz, DEFAULT)
    desk_i = len(names) - 1
    tr = tables[desk_i].tracks
    ev = detect_events(tr.positions, tr.visits, gaz, DEFAULT, kinds=DEFAULT_DESK.event_kinds)[["mmsi", "kind", "port_id", "detail"]]
    _, _, ev_voy = combined_tables([sc["eval"]], gaz, DEFAULT)
    labelled = voyages[voyages["y"].notna()].assign(y=lambda d: d["y"].astype(int), analyst=False)
    return {"sim": labelled[labelled["scenario"] < desk_i].reset_index(drop=True),
            "desk": labelled[labelled["scenario"] == desk_i].reset_index(drop=True),
            "eval": ev_voy[ev_voy["y"].notna()].assign(y=lambda d: d["y"].astype(int)).reset_index(drop=True),
            "events": ev, "grid": grid, "gaz": gaz}


def _fit(data: pd.DataFrame, w: dict, seed: int = 0):
    from training.adaptation import cross_validate
    from training.train import TrainConfig, fit_model
    params = TrainConfig().params
    choice = cross_validate(data, params, seed, w["grid"], w["gaz"])
    model = fit_model(data, np.ones(len(data), bool), params, w["grid"], w["gaz"], seed, variant=choice.variant)
    return model, choice


def _ap(model, w: dict) -> float:
    from sklearn.metrics import average_precision_score
    return float(average_precision_score(w["eval"]["y"], model.risk(w["eval"])))


def _pick(model, w: dict, reviewed: set, n: int, order: str, rng) -> pd.DataFrame:
    """The n vessels reviewed next and the voyage each verdict labels (its riskiest)."""
    from serving.desk.alerts import sensitive_ids
    from serving.desk.config import DeskConfig
    from serving.desk.review import queue
    desk = w["desk"].assign(risk=model.risk(w["desk"]))
    top = desk.sort_values("risk", ascending=False).drop_duplicates("mmsi")
    open_ = top[~top["mmsi"].isin(reviewed)]
    if order == "random":
        chosen = open_["mmsi"].to_numpy()[rng.permutation(len(open_))[:n]]
    else:
        cfg = DeskConfig(review_top=n - 2 * (n // 4), review_boundary=n // 4, review_disagree=n // 4)
        q = queue(open_[["mmsi", "risk"]], w["events"], set(sensitive_ids(w["gaz"])), cfg)["mmsi"].tolist()
        q += [m for m in open_["mmsi"] if m not in set(q)]  # a short queue: on down the list
        chosen = np.asarray(q[:n])
    if w.get("covers") == "vessel":  # as the desk exports them: a dismissed vessel's whole window benign
        benign = top.loc[top["mmsi"].isin(chosen) & (top["y"] == 0), "mmsi"]
        return pd.concat([top[top["mmsi"].isin(chosen) & (top["y"] == 1)], desk[desk["mmsi"].isin(benign)].assign(y=0)])
    return top[top["mmsi"].isin(chosen)]


def arm(order: str, size: int, rounds: int, w: dict, start: tuple) -> list[dict]:
    """One review order and round size over the rounds: a record per round. ``start``: the
    model without feedback as (booster text, calibration), as a model pickles without its
    booster."""
    import lightgbm as lgb
    from training.analyst_reference import held_out
    from training.model import VoyageRiskModel
    model = VoyageRiskModel(lgb.Booster(model_str=start[0]), start[1], grid=w["grid"], gaz=w["gaz"])
    rng = np.random.default_rng(size)
    reviewed, verdicts, out = set(), [], []
    for r in range(1, rounds + 1):
        t0 = time.perf_counter()
        picked = _pick(model, w, reviewed, size, order, rng)
        reviewed |= set(picked["mmsi"].tolist())
        verdicts.append(picked.assign(analyst=True, behaviour=VERDICT_BEHAVIOUR))
        taught = pd.concat(verdicts, ignore_index=True)
        taught = taught[~held_out(taught["mmsi"].to_numpy(np.int64))]  # the analyst reference set stays out
        data = pd.concat([w["sim"], taught.drop(columns="risk")], ignore_index=True)
        model, choice = _fit(data, w)
        out.append({"order": order, "reviews_per_round": size, "round": r, "reviews": len(reviewed),
                    "suspicious_reviewed": int(sum(int(v["y"].sum()) for v in verdicts)),
                    "verdicts_trained": int(len(taught)), "variant": choice.variant,
                    "cv_average_precision": {k: round(v, 4) for k, v in choice.scores.items()},
                    "eval_average_precision": round(_ap(model, w), 4), "seconds": round(time.perf_counter() - t0, 1)})
    return out


def _markdown(rows: list[dict], base: float) -> str:
    lines = ["| reviews per round | round | reviews | queue: AP (variant) | random: AP (variant) | no feedback |",
             "|---|---|---|---|---|---|"]
    by = {(r["order"], r["reviews_per_round"], r["round"]): r for r in rows}
    for size, rnd in sorted({(r["reviews_per_round"], r["round"]) for r in rows}):
        q, rn = by.get(("queue", size, rnd)), by.get(("random", size, rnd))
        cell = lambda x: f"{x['eval_average_precision']:.3f} ({x['variant']})" if x else "-"  # noqa: E731
        lines.append(f"| {size} | {rnd} | {q['reviews'] if q else '-'} | {cell(q)} | {cell(rn)} | {base:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", default="far_dark", choices=sorted(WORLD_VARIANTS))
    ap.add_argument("--vessels", type=int, default=150, help="vessels per training world and in the evaluation world")
    ap.add_argument("--desk-vessels", type=int, default=400)
    ap.add_argument("--days", type=float, default=40.0)
    ap.add_argument("--sizes", default="25,50,100")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--covers", default="vessel", choices=("voyage", "vessel"),
                    help="what a benign verdict labels: the vessel's window (as labels export writes it) or only "
                         "its riskiest voyage")
    ap.add_argument("--probe", action="store_true", help="only the AP without feedback, per world variant")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        if a.probe:
            for name in [None, *WORLD_VARIANTS]:
                a.variant = name
                w = prepare(a, Path(d) / str(name))
                print(json.dumps({"variant": name or "none", "no_feedback_ap": round(_ap(_fit(w["sim"], w)[0], w), 4),
                                  "eval_voyages": len(w["eval"]), "eval_suspicious": int(w["eval"]["y"].sum())}), flush=True)
            return
        w = prepare(a, Path(d))
    w["covers"] = a.covers
    base_model, _ = _fit(w["sim"], w)
    base = _ap(base_model, w)
    print(json.dumps({"bench": "review_loop", "variant": a.variant, "no_feedback_ap": round(base, 4),
                      "sim_voyages": len(w["sim"]), "desk_voyages": len(w["desk"]),
                      "desk_suspicious_vessels": int(w["desk"].groupby("mmsi")["y"].max().sum()),
                      "eval_voyages": len(w["eval"]), "eval_suspicious": int(w["eval"]["y"].sum())}), flush=True)
    jobs = [(order, int(n)) for n in a.sizes.split(",") for order in ("queue", "random")]
    rows = []
    with ProcessPoolExecutor(max_workers=2) as pool:  # both cores: one arm each
        start = (base_model.booster.model_to_string(), base_model.calib)
        for got in pool.map(arm, *zip(*[(o, n, a.rounds, w, start) for o, n in jobs])):
            for r in got:
                print(json.dumps(r), flush=True)
            rows += got
    last = {(r["order"], r["reviews_per_round"]): r for r in rows if r["round"] == a.rounds}
    print(json.dumps({"bench": "review_loop_summary", "variant": a.variant, "no_feedback_ap": round(base, 4),
                      **{f"gain_{o}_{n}": round(r["eval_average_precision"] - base, 4) for (o, n), r in last.items()},
                      "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
    if a.markdown:
        print(_markdown(rows, base))


if __name__ == "__main__":
    main()
