"""One code path from positions to scored, explained voyages and a ranked watchlist: the
``watchlist`` command, ``POST /score`` and ``POST /watchlist`` all go through here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.config import DEFAULT, Config
from features.pipeline import TrackResult, add_live_context, tracks_from_raw, vessel_voyages
from features.readers import ReadResult, read_inputs
from training.model import VoyageRiskModel, explain, reasons_line

WATCHLIST_COLUMNS = ["rank", "mmsi", "track_id", "name", "flag", "risk", "level", "voyage_id", "voyage_start",
                     "voyage_end", "origin_port", "destination_port", "reasons"]


@dataclass
class Scored:
    voyages: pd.DataFrame        # voyage table + risk, level, reasons (list of dicts), reasons_text
    tracks: TrackResult
    gaz: object = None           # the model's gazetteer


def score_raw(raw: ReadResult, model: VoyageRiskModel, cfg: Config = DEFAULT, stage=lambda s: None,
              live_context: bool = True) -> Scored:
    """Clean, track, cut voyages, compute features with the model's grid and gazetteer, score
    and explain every voyage."""
    tr = tracks_from_raw(raw, model.gaz, cfg, stage, keep_all=False)
    stage("voyage features")
    v = vessel_voyages(tr.positions, model.gaz, cfg, model.grid)
    if live_context:
        v = add_live_context(v, tr.positions, cfg)
    stage("scoring")
    v = v.reset_index(drop=True)
    v["risk"] = model.risk(v)
    v["level"] = model.level(v["risk"])
    reasons = explain(model, v)
    v["reasons"] = reasons
    v["reasons_text"] = [reasons_line(r) for r in reasons]
    return Scored(v, tr, model.gaz)


def score_files(paths, model: VoyageRiskModel, cfg: Config = DEFAULT, stage=lambda s: None) -> Scored:
    stage("reading")
    return score_raw(read_inputs(paths), model, cfg, stage)


def score_frame(frame: pd.DataFrame, model: VoyageRiskModel, cfg: Config = DEFAULT) -> Scored:
    """Positions already in memory (canonical column names)."""
    empty = pd.DataFrame({"_file": pd.Series(dtype="str"), "_line": pd.Series(dtype="int64"), "raw": pd.Series(dtype="str"),
                          "_reason": pd.Series(dtype="str"), "_detail": pd.Series(dtype="str")})
    f = frame.copy()
    f["_line"] = np.arange(1, len(f) + 1)
    f["_file"] = "request"
    return score_raw(ReadResult(f, empty), model, cfg)


def watchlist(voyages: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """One row per vessel (track): its riskiest voyage, highest risk first, contract columns."""
    if len(voyages) == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in WATCHLIST_COLUMNS})
    v = voyages.sort_values(["risk", "voyage_id"], ascending=[False, True], kind="stable")
    best = v.drop_duplicates("track_id")
    if top:
        best = best.head(top)
    out = pd.DataFrame({
        "rank": np.arange(1, len(best) + 1), "mmsi": best["mmsi"].to_numpy(), "track_id": best["track_id"].to_numpy(),
        "name": best["name"].to_numpy(), "flag": best["flag"].to_numpy(), "risk": best["risk"].round(4).to_numpy(),
        "level": best["level"].to_numpy(), "voyage_id": best["voyage_id"].to_numpy(),
        "voyage_start": best["start"].to_numpy(), "voyage_end": best["end"].to_numpy(),
        "origin_port": best["origin_port"].to_numpy(), "destination_port": best["destination_port"].to_numpy(),
        "reasons": best["reasons_text"].to_numpy()})
    out["voyage_start"] = pd.to_datetime(out["voyage_start"], utc=True)
    out["voyage_end"] = pd.to_datetime(out["voyage_end"], utc=True)
    return out
