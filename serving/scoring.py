"""One code path from positions to scored, explained voyages and a ranked watchlist: the
``watchlist`` command, ``POST /score`` and ``POST /watchlist`` all go through here."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.config import DEFAULT, Config
from features.engine import Engine, LocalEngine, Scorer
from features.no_voyage import tracks_without_voyage
from features.pipeline import RowCounts, TrackResult
from features.readers import ReadResult
from features.sources import unparseable_frame
from training.identity_ranking import with_identities
from training.model import INSUFFICIENT, VoyageRiskModel
from training.reasons import explain, reasons_line

WATCHLIST_COLUMNS = ["rank", "mmsi", "track_id", "name", "flag", "risk", "level", "voyage_id", "voyage_start",
                     "voyage_end", "origin_port", "destination_port", "reasons", "partial", "identities"]


@dataclass
class Scored:
    voyages: pd.DataFrame        # voyage table + risk, level, reasons (list of dicts), reasons_text, partial
    tracks: TrackResult | None   # the local engine's tracked fixes (None on Spark)
    gaz: object = None           # the model's gazetteer
    no_voyage: pd.DataFrame | None = None  # tracks with no voyage to score (:func:`tracks_without_voyage`)
    counts: RowCounts | None = None
    events: pd.DataFrame | None = None  # encounters and rendezvous (watchlist --other-vessels)
    identities: pd.DataFrame | None = None  # identity links (training.identity_ranking applied them)
    rejected: str | None = None  # where the rejected rows were written (``rejected_out``)


#: Warn when at least this share of the fixes lies outside the gazetteer's region: a few ships
#: passing through are no matter, a feed mostly elsewhere is.
OUTSIDE_WARN_SHARE = 0.5


def outside_region_warning(share: float, cfg: Config = DEFAULT) -> str | None:
    """What a user is told when ``share`` of the fixes lie farther than ``dark_call_region_km``
    from every port of the gazetteer (None below ``OUTSIDE_WARN_SHARE``): its ports, the reasons
    and the risk are made for that sea, and read elsewhere they mislead (a track "14,911 km out
    at sea"). The commands print it on stderr, ``POST /watchlist`` answers it in ``warnings``.

    >>> outside_region_warning(0.1) is None, outside_region_warning(0.87)[:33]
    (True, '87% of the positions lie over 500')
    """
    if share < OUTSIDE_WARN_SHARE:
        return None
    return (f"{share:.0%} of the positions lie over {cfg.dark_call_region_km:.0f} km from every port of the gazetteer: "
            "its ports, and the reasons and risk built on them, are made for its sea")


def partial_of(voyages: pd.DataFrame) -> np.ndarray:
    """Per voyage: ``start``, ``end``, ``both`` or empty for a voyage cut by the edges of the
    data (the ``open_start``/``open_end`` features); empty when the table has no such columns."""
    n = len(voyages)
    s = voyages["open_start"].to_numpy(float) == 1 if "open_start" in voyages else np.zeros(n, bool)
    e = voyages["open_end"].to_numpy(float) == 1 if "open_end" in voyages else np.zeros(n, bool)
    return np.where(s & e, "both", np.where(s, "start", np.where(e, "end", ""))).astype(object)


@dataclass(frozen=True)
class Assessment:
    """The model's verdict on each voyage of a voyage table, in the table's order (n each)."""
    risk: np.ndarray               # calibrated probability in [0, 1]
    level: np.ndarray              # high / medium / low
    reasons: list[list[dict]]      # :func:`training.reasons.explain`'s top reasons
    partial: np.ndarray            # start / end / both / "" (:func:`partial_of`)


def assess(model: VoyageRiskModel, v: pd.DataFrame) -> Assessment:
    """Risk, level, reasons and the partial flag of each voyage of ``v``: one model matrix
    for the risks and the reasons."""
    X = model.matrix_array(v)
    risk, text_only = model.risk_and_text_only(X)
    return Assessment(risk, model.level(risk), explain(model, v, X=X, text_only=text_only), partial_of(v))


def annotate(model: VoyageRiskModel, v: pd.DataFrame) -> pd.DataFrame:
    """A voyage table (index 0..n-1) -> the same rows with the model's ``risk``, ``level``,
    ``reasons`` (list of dicts), ``reasons_text`` and ``partial`` added (a new frame)."""
    a = assess(model, v)
    # One frame of the new columns joined once: five inserts into the ~90-column table cost
    # more than the model on a REST track.
    added = pd.DataFrame({"risk": a.risk, "level": a.level, "reasons": pd.Series(a.reasons, index=v.index, dtype=object),
                          "reasons_text": [reasons_line(r) for r in a.reasons], "partial": a.partial},
                         index=v.index, copy=False)
    again = [c for c in added.columns if c in v.columns]  # a table scored before: the new scores win
    return pd.concat([v.drop(columns=again) if again else v, added], axis=1)


class _ModelScorer(functools.partial):
    """``annotate(model, ...)`` that pickles whole: the model's own pickle leaves out the
    booster, grid and gazetteer (MLflow stores them as artifacts), Spark's broadcast needs them."""

    def __reduce__(self):
        m = self.args[0]
        return _scorer_of, (m, m.booster.model_to_string(), m.grid, m.gaz)


def _scorer_of(model: VoyageRiskModel, booster: str, grid, gaz) -> Scorer:
    import lightgbm as lgb
    model.booster, model.grid, model.gaz = lgb.Booster(model_str=booster), grid, gaz
    return _ModelScorer(annotate, model)


def scorer(model: VoyageRiskModel) -> Scorer:
    """The engines' scorer for ``model``: it pickles (Spark broadcasts it to its workers)."""
    return _ModelScorer(annotate, model)


def score_raw(raw, model: VoyageRiskModel, cfg: Config = DEFAULT, stage=lambda s: None,
              engine: Engine | None = None, rejected_out=None) -> Scored:
    """Clean, track, cut voyages, compute features with the model's grid and gazetteer, score
    and explain every voyage. ``raw``: rows already read (a :class:`ReadResult`) or files;
    ``rejected_out``: an output whose ``.rejected.csv`` takes the rejected rows."""
    run = (engine or LocalEngine()).score(raw, scorer(model), gaz=model.gaz, cfg=cfg, coverage=model.grid, stage=stage,
                                          rejected_out=rejected_out)
    voyages = with_identities(run.voyages, run.identities, model.levels["high"], run.hull_events)
    return Scored(voyages, run.tracks, model.gaz, run.no_voyage, run.counts, identities=run.identities,
                  rejected=run.figures.get("rejected"))


def score_files(paths, model: VoyageRiskModel, cfg: Config = DEFAULT, stage=lambda s: None,
                engine: Engine | None = None, rejected_out=None) -> Scored:
    return score_raw(list(paths), model, cfg, stage, engine, rejected_out)


@dataclass(frozen=True)
class TrackScore:
    """One vessel's positions scored (``POST /score``)."""
    voyages: pd.DataFrame           # the voyage table as the features give it, not annotated
    assessment: Assessment          # the model's verdict on each of its voyages
    counts: RowCounts
    no_voyage: pd.DataFrame | None  # its tracks, with why, when it has no voyage at all


def score_track(frame: pd.DataFrame, model: VoyageRiskModel, cfg: Config = DEFAULT) -> TrackScore:
    """Positions already in memory, with canonical column names and a reader's ``_file`` and
    ``_line`` (:func:`serving.request_models.track_frame` gives them): the local engine's ``score``
    step by step (tracked, voyages with the model's grid, :func:`assess`), so the numbers are
    the watchlist's before its identity rule (links and hull events need every vessel's
    traffic: ``training/identity_ranking.py``). What one vessel's answer does not need is left out: the live-context
    columns (no model input and no reason reads them), the join of the scores into the
    ~90-column table (~0.5 ms of a ~7 ms request: the answer reads five of its columns), and
    the tracks without a voyage unless there is no voyage at all."""
    eng = LocalEngine()
    tr = eng.tracked(ReadResult(frame, _nothing_unparseable().copy(deep=False)), model.gaz, cfg)
    v = eng.voyages(tr, model.gaz, cfg, model.grid, live_context=False)
    nv = tracks_without_voyage(tr.positions, v, model.gaz) if len(v) == 0 else None
    return TrackScore(v, assess(model, v), tr.counts, nv)


@functools.cache
def _nothing_unparseable() -> pd.DataFrame:
    return unparseable_frame("request", [], [], [])


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
        "partial": (best["partial"].to_numpy(dtype=object) if "partial" in best else partial_of(best)),
        "identities": (best["identities"].fillna("").to_numpy(dtype=object) if "identities" in best
                       else np.full(len(best), "", dtype=object))})
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
            "partial": np.full(len(nv), "", dtype=object), "identities": np.full(len(nv), "", dtype=object)}))
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 and len(scored) else parts[-1].reset_index(drop=True)
    if top:
        out = out.head(top)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["voyage_start"] = pd.to_datetime(out["voyage_start"], utc=True)
    out["voyage_end"] = pd.to_datetime(out["voyage_end"], utc=True)
    out["risk"] = out["risk"].astype(float)
    return out[WATCHLIST_COLUMNS]
