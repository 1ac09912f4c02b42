"""Pairwise precision/recall/F1 of darkvoyage's track split against Global Fishing Watch's.

The gpsdio-segment regression fixtures (``../shared/data/real/gfw_gpsdio_segment/regr_2021-01``)
carry, per AIS message, the segment GFW's segmenter assigned (``expected``). For every pair of
position messages of one file that GFW put in a segment, we ask: do we put them in one track?
A message rejected as a duplicate (the same transmission heard again within seconds) belongs to
the track of the message it repeats; other rejected messages (jumps) are single-message tracks.
Prints one JSON line: pooled pairs over all 34 files, and the mean of per-file F1.

Usage: python benchmarks/segmenter_eval.py [DATA_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from features.engine import LocalEngine  # noqa: E402
from features.gazetteer import load_gazetteer  # noqa: E402
from features.config import DEFAULT, Config  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "data" / "real" / "gfw_gpsdio_segment" / "regr_2021-01"


def _pairs(counts: np.ndarray) -> float:
    return float((counts * (counts - 1) / 2).sum())


def _duplicates_tracked(tr) -> pd.DataFrame:
    """Rows rejected as duplicates, with the track of the accepted row they repeat (same MMSI
    and position, the nearest earlier time)."""
    rej = tr.rejected
    dup = rej[rej["_reason"].astype(str) == "duplicate message"] if len(rej) else rej
    if not len(dup):
        return pd.DataFrame({"_line": [], "mmsi": [], "track_no": []})
    key = ["mmsi", "lat", "lon"]
    acc = tr.positions[key + ["timestamp", "track_no"]].sort_values("timestamp")
    d = dup[key + ["timestamp", "_line"]].astype({"mmsi": "int64"}).sort_values("timestamp")
    m = pd.merge_asof(d, acc.astype({"mmsi": "int64"}), on="timestamp", by=key, direction="backward")
    return m[["_line", "mmsi", "track_no"]].dropna()


def score_file(path: Path, gaz, cfg) -> dict:
    truth = pd.read_json(path, lines=True, dtype=False)
    truth["_line"] = np.arange(1, len(truth) + 1)
    truth = truth[truth["lat"].notna() & truth["expected"].notna()][["_line", "expected"]]
    tr = LocalEngine().tracked([path], gaz, cfg, keep_all=True)
    pred = pd.concat([tr.positions[["_line", "mmsi", "track_no"]], _duplicates_tracked(tr)], ignore_index=True)
    m = truth.merge(pred, on="_line", how="left")
    # Rejected messages: a track of their own each.
    m["track_no"] = m["track_no"].astype(float)
    solo = m["track_no"].isna()
    m.loc[solo, "track_no"] = -1 - np.arange(int(solo.sum()))
    m["pred"] = m["mmsi"].astype("Int64").astype(str) + ":" + m["track_no"].astype(int).astype(str)
    both = m.groupby(["expected", "pred"]).size().to_numpy()
    tp = _pairs(both)
    p_all = _pairs(m.groupby("pred").size().to_numpy())
    e_all = _pairs(m.groupby("expected").size().to_numpy())
    return {"file": path.name, "messages": len(m), "tp": tp, "pred_pairs": p_all, "true_pairs": e_all,
            "gfw_segments": int(m["expected"].nunique()), "our_tracks": int(m["pred"].nunique())}


def evaluate(data: Path, cfg: Config) -> dict:
    gaz = load_gazetteer()
    rows = [score_file(p, gaz, cfg) for p in sorted(data.glob("regr_*.json"))]
    tp = sum(r["tp"] for r in rows)
    pp = sum(r["pred_pairs"] for r in rows)
    tt = sum(r["true_pairs"] for r in rows)
    prec, rec = tp / pp, tp / tt
    f1s = []
    for r in rows:
        p = r["tp"] / r["pred_pairs"] if r["pred_pairs"] else 1.0
        q = r["tp"] / r["true_pairs"] if r["true_pairs"] else 1.0
        r["f1"] = round(2 * p * q / (p + q), 4) if p + q else 0.0
        f1s.append(r["f1"])
    out = {"files": len(rows), "messages": sum(r["messages"] for r in rows),
           "pairwise_precision": round(prec, 4), "pairwise_recall": round(rec, 4),
           "pairwise_f1": round(2 * prec * rec / (prec + rec), 4), "mean_file_f1": round(float(np.mean(f1s)), 4),
           "worst": sorted(({"file": r["file"], "f1": r["f1"], "gfw_segments": r["gfw_segments"],
                             "our_tracks": r["our_tracks"]} for r in rows), key=lambda r: r["f1"])[:3]}
    return out


def main(argv: list[str]) -> dict:
    data = Path(argv[1]) if len(argv) > 1 else DEFAULT_DIR
    out = {"default": evaluate(data, DEFAULT),
           # GFW closes a segment after 24 h without messages; darkvoyage by default does not.
           "gfw_idle_24h": evaluate(data, DEFAULT.with_(track_max_idle_h=24.0))}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main(sys.argv)
