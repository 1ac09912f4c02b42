"""Identity on the reference world (issue #23): link recall and precision per level against the
simulator's MMSI changes, shared-MMSI and spoofing events against the planted ones (and their
look-alikes: default-MMSI small craft, GPS interference, stale speeds), and the reference set's
AP and recall per behaviour with and without the identity ranking rule
(``training/identity_ranking.py``), for one model.

Usage: python benchmarks/bench_identity.py [--model tests/golden/model] [--vessels N --days D --seed S]

Default: the reference scenario itself (``training.reference.sim_config()``). Prints JSON lines:
``links`` (per level: links, true, precision; recall of planted changes), ``shared_mmsi``
(planted, found, extra), ``ranking`` (AP, recall of mmsi_change and shared_mmsi at k; model
alone, then with the rule).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from features.config import DEFAULT  # noqa: E402
from features.identity import identity_events, identity_evidence  # noqa: E402
from features.pipeline import jumps_of  # noqa: E402


def planted_changes(vessels, heard: set) -> set[tuple[int, int]]:
    """(old, new) MMSI of every ship the simulator moved to a new MMSI (an MMSI change or a
    registered sale), both heard in the data (a change before the data starts leaves one)."""
    out = set()
    for a, b in zip(vessels["mmsi"], vessels["new_mmsi"]):
        if str(b).split(".")[0].isdigit() and int(float(b)) in heard and int(a) in heard:
            out.add((int(a), int(float(b))))
    return out


def link_scores(links, planted: set) -> dict:
    got = {(int(a), int(b)): lv for a, b, lv in zip(links["from_mmsi"], links["to_mmsi"], links["level"])}
    out = {"planted": len(planted)}
    for lv in ("likely", "possible"):
        mine = {k for k, v in got.items() if v == lv}
        out[lv] = {"links": len(mine), "true": len(mine & planted),
                   "precision": round(len(mine & planted) / len(mine), 3) if mine else None}
    out["recall_likely"] = round(len(planted & {k for k, v in got.items() if v == "likely"}) / len(planted), 3) if planted else None
    out["recall_any"] = round(len(planted & set(got)) / len(planted), 3) if planted else None
    return out


def ranking(voyages, risk) -> dict:
    from training.evaluation import reference_metrics
    m = reference_metrics(voyages, risk)
    keys = ("reference_average_precision", "reference_recall_mmsi_change", "reference_recall_shared_mmsi",
            "reference_recall_spoofing", "reference_twin_fpr_at_k")
    return {k.replace("reference_", ""): round(m[k], 3) for k in keys if k in m}


def served_ranking(model, table, links, hull) -> dict:
    """The labelled voyages of a scenario ``table`` ranked by the model alone and as the
    watchlist serves them (the identity rule applied with the scenario's ``links`` and ``hull``
    events): AP, recall at k of the identity behaviours, benign twins in the top k."""
    from serving.scoring import annotate
    from training.identity_ranking import with_identities
    v = table.voyages[table.voyages["y"].notna()].reset_index(drop=True)
    scored = annotate(model, v)
    ruled = with_identities(scored, links, model.levels["high"], hull)
    return {"voyages": len(v), "suspicious": int(v["y"].sum()),
            "model_alone": ranking(v, scored["risk"].to_numpy(float)),
            "with_identity_rule": ranking(v, ruled["risk"].to_numpy(float)),
            "voyages_raised": int((ruled["risk"].to_numpy(float) > scored["risk"].to_numpy(float)).sum())}


def main(argv=None) -> list[dict]:
    from training.reference import sim_config
    from training.registry import load_model
    from training.scenarios import ScenarioInput, scenario_table
    from training.simulator import SimConfig, simulate, write_scenario
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "tests" / "golden" / "model"))
    ap.add_argument("--vessels", type=int)
    ap.add_argument("--days", type=float)
    ap.add_argument("--seed", type=int)
    a = ap.parse_args(argv)
    sim = sim_config() if a.vessels is None else SimConfig(vessels=a.vessels, days=a.days or 30, seed=a.seed or 7)
    model, info = load_model(a.model)
    with tempfile.TemporaryDirectory() as tmp:
        sc = simulate(sim)
        paths = write_scenario(sc, Path(tmp) / "scenario")
        table = scenario_table(ScenarioInput((Path(paths["positions"]),), Path(paths["labels"])), model.gaz, DEFAULT,
                               grid=model.grid)
    tr = table.tracks
    t0 = time.perf_counter()
    links, hull = identity_evidence(tr.positions, DEFAULT, jumps_of(tr))
    seconds = time.perf_counter() - t0
    heard = set(tr.positions["mmsi"].unique())
    res = [{"what": "links", "world": sim.world_seed_used, "vessels": sim.vessels, "seconds": round(seconds, 2),
            **link_scores(links, planted_changes(sc.vessels, heard))}]
    ev = identity_events(tr.positions, model.gaz, jumps=jumps_of(tr), links=links)
    planted = set(sc.vessels.loc[sc.vessels["profile"] == "shared_mmsi", "mmsi"].astype(int))
    found = set(ev.loc[ev["kind"] == "shared_mmsi", "mmsi"])
    boats = set(sc.vessels.loc[sc.vessels["kind"] == "small_craft", "mmsi"].astype(int))
    spoofers = set(sc.vessels.loc[sc.vessels["profile"] == "spoofing", "mmsi"].astype(int))
    spoof = ev[ev["kind"] == "spoofing"]
    typology = spoof["detail"].astype(str).str.split(":").str[0]
    res.append({"what": "shared_mmsi", "planted": len(planted), "found": len(planted & found),
                "default_mmsi_boats_found": len(boats & found), "extra": len(found - planted - boats)})
    pe = sc.events
    shown = set(pe.loc[(pe["behaviour"] == "spoofing") & pe["visible_in_window"].astype(bool), "mmsi"].astype(int))
    res.append({"what": "spoofing", "spoofers": len(spoofers), "found": len(spoofers & set(spoof["mmsi"])),
                "shown_in_window": len(shown), "shown_found": len(shown & set(spoof["mmsi"])),
                "events_on_others": {k: int(n) for k, n in typology[~spoof["mmsi"].isin(spoofers)].value_counts().items()},
                "gps_interference": sc.world.get("gps_interference", {})})
    res.append({"what": "ranking", "model": f"{info.get('name', a.model)} v{info.get('version', '')}",
                **served_ranking(model, table, links, hull)})
    for r in res:
        print(json.dumps(r, default=lambda x: x.item() if isinstance(x, np.generic) else str(x)), flush=True)
    return res


if __name__ == "__main__":
    main()
