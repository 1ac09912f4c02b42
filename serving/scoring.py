"""One code path from positions to scored, explained voyages and a ranked watchlist: the
``watchlist`` command, ``POST /score`` and ``POST /watchlist`` all go through here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.config import DEFAULT, Config
from features.flags import flag_of
from features.gazetteer import Gazetteer
from features.pipeline import TrackResult, add_live_context, tracks_from_raw, vessel_voyages
from features.readers import ReadResult, read_inputs
from features.tracks import group_starts
from training.model import INSUFFICIENT, VoyageRiskModel, explain, reasons_line

WATCHLIST_COLUMNS = ["rank", "mmsi", "track_id", "name", "flag", "risk", "level", "voyage_id", "voyage_start",
                     "voyage_end", "origin_port", "destination_port", "reasons", "partial"]
#: Columns of :func:`tracks_without_voyage`.
NO_VOYAGE_COLUMNS = ["mmsi", "track_id", "name", "flag", "n_positions", "port_id", "last_time", "last_lat",
                     "last_lon", "reasons_text"]
NO_VOYAGE_REASON = "no voyage in the data"


@dataclass
class Scored:
    voyages: pd.DataFrame        # voyage table + risk, level, reasons (list of dicts), reasons_text, partial
    tracks: TrackResult
    gaz: object = None           # the model's gazetteer
    no_voyage: pd.DataFrame | None = None  # tracks with no voyage to score (:func:`tracks_without_voyage`)


def partial_of(voyages: pd.DataFrame) -> np.ndarray:
    """Per voyage: ``start``, ``end``, ``both`` or empty for a voyage cut by the edges of the
    data (the ``open_start``/``open_end`` features); empty when the table has no such columns."""
    n = len(voyages)
    s = voyages["open_start"].to_numpy(float) == 1 if "open_start" in voyages else np.zeros(n, bool)
    e = voyages["open_end"].to_numpy(float) == 1 if "open_end" in voyages else np.zeros(n, bool)
    return np.where(s & e, "both", np.where(s, "start", np.where(e, "end", ""))).astype(object)


def tracks_without_voyage(positions: pd.DataFrame, voyages: pd.DataFrame, gaz: Gazetteer | None) -> pd.DataFrame:
    """One row per track that has no voyage: a single position, or every fix inside one port
    visit. Such a track has no evidence either way, which is not the same as low risk.

    ``positions``: accepted fixes sorted by (mmsi, track_no, timestamp) with ``visit`` and
    ``port_idx`` (:func:`features.pipeline.tracks_from_raw`). Columns :data:`NO_VOYAGE_COLUMNS`:
    ``n_positions`` (count), ``port_id`` (the port it stayed in, else empty), ``last_time``
    (UTC), ``last_lat``/``last_lon`` (deg) of its last fix, and a plain-language reason."""
    if len(positions) == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in NO_VOYAGE_COLUMNS})
    mmsi = positions["mmsi"].to_numpy(np.int64)
    track_no = positions["track_no"].to_numpy(np.int64)
    first = np.flatnonzero(group_starts(mmsi, track_no))
    last = np.append(first[1:], len(mmsi)) - 1
    track_id = pd.Series(mmsi[first].astype(str), dtype="str") + "-" + pd.Series(track_no[first].astype(str), dtype="str")
    keep = ~track_id.isin(set(voyages["track_id"])).to_numpy() if len(voyages) else np.ones(len(first), bool)
    first, last, track_id = first[keep], last[keep], track_id[keep].to_numpy(dtype=object)
    n_pos = last - first + 1
    visit = positions["visit"].to_numpy() if "visit" in positions else np.full(len(mmsi), -1)
    port_idx = positions["port_idx"].to_numpy() if "port_idx" in positions else np.full(len(mmsi), -1)
    # Every fix in one visit: the visit number is the same (and set) at both ends of the track.
    in_port = (visit[first] >= 0) & (visit[first] == visit[last])
    port = np.where(in_port, port_idx[last], -1)
    ids = gaz.ids if gaz is not None else np.zeros(0, dtype=object)
    port_id = np.array([ids[p] if 0 <= p < len(ids) else None for p in port], dtype=object)
    port_name = np.array([gaz.short_name(int(p)) if gaz is not None and 0 <= p < len(ids) else "a port" for p in port],
                         dtype=object)
    reason = np.where(n_pos == 1, f"{NO_VOYAGE_REASON}: only one position",
                      np.where(in_port, [f"{NO_VOYAGE_REASON}: never left port ({k} positions at {p})"
                                         for k, p in zip(n_pos, port_name)],
                               f"{NO_VOYAGE_REASON}: too few positions or never left port"))
    name = (positions["name"].iloc[last].to_numpy(dtype=object, na_value=None) if "name" in positions
            else np.full(len(last), None, dtype=object))
    return pd.DataFrame({
        "mmsi": mmsi[last], "track_id": track_id, "name": name, "flag": flag_of(mmsi[last]).to_numpy(dtype=object),
        "n_positions": n_pos, "port_id": port_id, "last_time": positions["timestamp"].iloc[last].to_numpy(),
        "last_lat": positions["lat"].to_numpy(float)[last], "last_lon": positions["lon"].to_numpy(float)[last],
        "reasons_text": reason.astype(object)})


def score_raw(raw: ReadResult, model: VoyageRiskModel, cfg: Config = DEFAULT, stage=lambda s: None,
              live_context: bool = True, no_voyage: str = "always") -> Scored:
    """Clean, track, cut voyages, compute features with the model's grid and gazetteer, score
    and explain every voyage.

    ``live_context=False`` skips the neighbour and cell-day context columns (``ctx_*``): no
    model input and no reason reads them, so risks and reasons are the same without them.
    ``no_voyage="if none"`` builds :attr:`Scored.no_voyage` only when there is no voyage at all
    (what ``POST /score`` reports); ``"always"`` for every track without one (the watchlist)."""
    tr = tracks_from_raw(raw, model.gaz, cfg, stage, keep_all=False)
    stage("voyage features")
    v = vessel_voyages(tr.positions, model.gaz, cfg, model.grid)
    if live_context:
        v = add_live_context(v, tr.positions, cfg)
    stage("scoring")
    v = v.reset_index(drop=True)
    X = model.matrix_array(v) if len(v) else None  # once, for the risks and the reasons
    v["risk"] = model.calibrate(model.raw(X)) if len(v) else np.zeros(0)
    v["level"] = model.level(v["risk"])
    reasons = explain(model, v, X=X)
    v["reasons"] = reasons
    v["reasons_text"] = [reasons_line(r) for r in reasons]
    v["partial"] = partial_of(v)
    nv = tracks_without_voyage(tr.positions, v, model.gaz) if no_voyage == "always" or len(v) == 0 else None
    return Scored(v, tr, model.gaz, nv)


def score_files(paths, model: VoyageRiskModel, cfg: Config = DEFAULT, stage=lambda s: None) -> Scored:
    stage("reading")
    return score_raw(read_inputs(paths), model, cfg, stage)


def score_frame(frame: pd.DataFrame, model: VoyageRiskModel, cfg: Config = DEFAULT, **how) -> Scored:
    """Positions already in memory (canonical column names); ``how``: :func:`score_raw`'s
    ``live_context`` and ``no_voyage``."""
    empty = pd.DataFrame({"_file": pd.Series(dtype="str"), "_line": pd.Series(dtype="int64"), "raw": pd.Series(dtype="str"),
                          "_reason": pd.Series(dtype="str"), "_detail": pd.Series(dtype="str")})
    f = frame.copy()
    f["_line"] = np.arange(1, len(f) + 1)
    f["_file"] = "request"
    return score_raw(ReadResult(f, empty), model, cfg, **how)


def watchlist(voyages: pd.DataFrame, top: int | None = None, no_voyage: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per vessel (track), contract columns: its riskiest voyage, highest risk first;
    then the tracks of ``no_voyage`` (:func:`tracks_without_voyage`) with risk empty and level
    ``insufficient data``, after every scored row. ``top`` keeps the first N rows."""
    if "track_id" not in voyages:  # no voyage table at all: nothing was scored
        voyages = pd.DataFrame({c: pd.Series(dtype="object") for c in
                                ("mmsi", "track_id", "name", "flag", "risk", "level", "voyage_id", "start", "end",
                                 "origin_port", "destination_port", "reasons_text", "partial")})
    v = voyages.sort_values(["risk", "voyage_id"], ascending=[False, True], kind="stable")
    best = v.drop_duplicates("track_id")
    scored = pd.DataFrame({
        "mmsi": best["mmsi"].to_numpy(np.int64), "track_id": best["track_id"].to_numpy(dtype=object),
        "name": best["name"].to_numpy(dtype=object), "flag": best["flag"].to_numpy(dtype=object),
        # Truncated, not rounded, to 4 decimals: 0.49996 must not read 0.5000 beside "medium".
        "risk": np.floor(best["risk"].to_numpy(float) * 1e4) / 1e4, "level": best["level"].to_numpy(dtype=object),
        "voyage_id": best["voyage_id"].to_numpy(dtype=object),
        "voyage_start": pd.to_datetime(best["start"], utc=True).reset_index(drop=True),
        "voyage_end": pd.to_datetime(best["end"], utc=True).reset_index(drop=True),
        "origin_port": best["origin_port"].to_numpy(dtype=object),
        "destination_port": best["destination_port"].to_numpy(dtype=object),
        "reasons": best["reasons_text"].to_numpy(dtype=object),
        "partial": (best["partial"].to_numpy(dtype=object) if "partial" in best else partial_of(best))})
    parts = [scored]
    if no_voyage is not None and len(no_voyage):
        nv = no_voyage.sort_values("track_id", kind="stable")
        none = np.full(len(nv), None, dtype=object)
        parts.append(pd.DataFrame({
            "mmsi": nv["mmsi"].to_numpy(np.int64), "track_id": nv["track_id"].to_numpy(dtype=object),
            "name": nv["name"].to_numpy(dtype=object), "flag": nv["flag"].to_numpy(dtype=object),
            "risk": np.full(len(nv), np.nan), "level": np.full(len(nv), INSUFFICIENT, dtype=object),
            "voyage_id": none, "voyage_start": pd.Series(pd.NaT, index=range(len(nv)), dtype="datetime64[us, UTC]"),
            "voyage_end": pd.Series(pd.NaT, index=range(len(nv)), dtype="datetime64[us, UTC]"), "origin_port": none,
            "destination_port": none, "reasons": nv["reasons_text"].to_numpy(dtype=object),
            "partial": np.full(len(nv), "", dtype=object)}))
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 and len(scored) else parts[-1].reset_index(drop=True)
    if top:
        out = out.head(top)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["voyage_start"] = pd.to_datetime(out["voyage_start"], utc=True)
    out["voyage_end"] = pd.to_datetime(out["voyage_end"], utc=True)
    out["risk"] = out["risk"].astype(float)
    return out[WATCHLIST_COLUMNS]
