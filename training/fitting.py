"""Fitting the voyage-risk model: LightGBM with every suspicious behaviour weighed alike, Platt
calibration on vessel-grouped out-of-fold scores, and the ways analysts' labels join the
simulator's (:data:`VARIANTS`, after Daumé III, "Frustratingly Easy Domain Adaptation", ACL
2007; which one a run uses is chosen by :mod:`training.adaptation`).

Rows are voyages; ``analyst`` (bool per row) marks those an analyst labelled. Without analyst
rows every variant but ``simulated`` is the plain fit of every row.
"""

from __future__ import annotations

import logging

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from .model import DEFAULT_LEVELS, MODEL_FEATURES, TEXT_ODDS_FACTOR, VoyageRiskModel, domain_design

log = logging.getLogger(__name__)

#: Suspicious behaviours seen in the destination text alone: learnt at their natural frequency,
#: not weighted up beside the others, so the model does not learn to key on text (a stale or
#: changed entry is common in real feeds; text is supporting evidence).
TEXT_BEHAVIOURS = ("false_destination",)
#: ``weighted``: the analysts' rows together carry this share of the total sample weight. A
#: quarter: a hundred verdicts beside ~10,000 simulated voyages then outweigh the simulator
#: where the two disagree (each verdict ~30 simulated voyages), without the few verdicts
#: becoming the whole of what the model knows.
ANALYST_WEIGHT_SHARE = 0.25
#: ``prior``: the boosting rounds added on the analysts' rows to the simulated model (its score
#: the starting point, LightGBM ``init_model``). Few, shallow trees and no class weighting:
#: there are few verdicts, and analysts review the top of the list, so their rows are not
#: imbalanced the way simulated voyages are.
PRIOR_PARAMS = {"n_estimators": 60, "num_leaves": 4, "min_child_samples": 5, "scale_pos_weight": 1.0}


def behaviour_weights(y, behaviour) -> np.ndarray:
    """Sample weights (mean 1 over the positives) that give every suspicious behaviour the same
    total weight: a world with 40 dark-loitering voyages and 4 shared-MMSI ones still teaches
    both. Behaviours of :data:`TEXT_BEHAVIOURS` keep a weight per voyage as if unweighted.
    Benign voyages weigh 1; without behaviour names every weight is 1.

    >>> behaviour_weights([1, 1, 1, 0], ["a", "a", "b", None]).round(2).tolist()
    [0.75, 0.75, 1.5, 1.0]
    >>> behaviour_weights([1, 1, 1, 1], ["a", "a", "b", "false_destination"]).round(2).tolist()
    [0.73, 0.73, 1.45, 1.09]
    """
    y = np.asarray(y, int)
    b = pd.Series(behaviour).fillna("").astype(str).to_numpy()
    w = np.ones(len(y))
    pos = y == 1
    if pos.any():
        counts = pd.Series(b[pos]).value_counts()
        raw = pos.sum() / (len(counts) * counts.reindex(b[pos]).to_numpy(float))
        raw = np.where(np.isin(b[pos], TEXT_BEHAVIOURS), 1.0, raw)
        w[pos] = raw / raw.mean()
    return w


def analyst_mask(data: pd.DataFrame) -> np.ndarray:
    """Rows an analyst labelled (column ``analyst``; none when the table has no such column)."""
    return data["analyst"].to_numpy(bool) if "analyst" in data else np.zeros(len(data), bool)


def sample_weights(data: pd.DataFrame) -> np.ndarray:
    """:func:`behaviour_weights` of the simulator's rows and of the analysts' rows, each among
    their own: the simulated voyages weigh what they weigh in a run without verdicts (so the
    ``simulated`` variant is that run's model), each verdict 1 on average."""
    y, b, a = data["y"].to_numpy(int), data["behaviour"].to_numpy(object), analyst_mask(data)
    w = np.ones(len(data))
    for rows in (~a, a):
        if rows.any():
            w[rows] = behaviour_weights(y[rows], b[rows])
    return w


def fit_booster(X, y, params: dict, seed: int, weight=None, init_model: lgb.Booster | None = None) -> lgb.Booster:
    """A LightGBM booster on ``X`` (rows x features), positives weighted up by the square root
    of the class ratio unless ``params`` say otherwise; ``init_model``: boosting continues from
    it (its trees stay in the returned booster)."""
    pos = max(int(np.sum(y)), 1)
    p = dict(params)
    # Imbalance: weight positives by the square root of the class ratio (~5x at 3 % positives).
    # The full ratio (~30x) over-fits the few suspicious vessels (grouped CV AP 0.919 vs 0.928).
    p.setdefault("scale_pos_weight", float(np.sqrt((len(y) - pos) / pos)))
    clf = lgb.LGBMClassifier(random_state=seed, **p)
    clf.fit(X, y, sample_weight=weight, init_model=init_model)
    return clf.booster_


def platt(raw, y) -> tuple[float, float]:
    """(slope, intercept) of a logistic fit of ``y`` on raw log-odds; (1, 0) with one class."""
    if len(np.unique(y)) < 2:
        log.warning("calibration fold has one class only: probabilities left uncalibrated")
        return 1.0, 0.0
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(np.asarray(raw).reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


# --- how analysts' rows join the simulated ones: one function per variant ------------------

def _simulated(X, y, w, analyst, params, seed):
    """The simulator's voyages only: what a run without verdicts learns."""
    keep = ~analyst
    return fit_booster(X[keep], y[keep], params, seed, w[keep])


def _pooled(X, y, w, analyst, params, seed):
    """Every row alike (Daumé's ALL)."""
    return fit_booster(X, y, params, seed, w)


def _weighted(X, y, w, analyst, params, seed):
    """Every row, the analysts' together carrying :data:`ANALYST_WEIGHT_SHARE` of the weight."""
    w = np.asarray(w, float).copy()
    if analyst.any() and (~analyst).any():
        share = ANALYST_WEIGHT_SHARE / (1 - ANALYST_WEIGHT_SHARE)
        w[analyst] *= share * w[~analyst].sum() / w[analyst].sum()
    return fit_booster(X, y, params, seed, w)


def _prior(X, y, w, analyst, params, seed):
    """The simulated model's score as the starting point, boosting continued on the analysts'
    rows (:data:`PRIOR_PARAMS`); the simulated model alone when those rows hold one class."""
    booster = _simulated(X, y, w, analyst, params, seed)
    if len(np.unique(y[analyst])) < 2:
        return booster
    return fit_booster(X[analyst], y[analyst], {**params, **PRIOR_PARAMS}, seed, init_model=booster)


def _augmented(X, y, w, analyst, params, seed):
    """Every feature three times: general, simulated-only, analysts'-only (the other domain's
    copy unknown); served as the analysts' domain (:func:`training.model.domain_design`)."""
    names = list(X.columns)
    design = pd.DataFrame(domain_design(X.to_numpy(float), analyst),
                          columns=names + [f"{n}@simulated" for n in names] + [f"{n}@analyst" for n in names])
    return fit_booster(design, y, params, seed, w)


#: variant -> fit(X, y, weight, analyst, params, seed) -> booster, simplest first (ties in the
#: comparison go to the earlier one).
VARIANTS = {"simulated": _simulated, "pooled": _pooled, "weighted": _weighted, "prior": _prior,
            "augmented": _augmented}


def fit_variant(variant: str, X: pd.DataFrame, y, w, analyst, params: dict, seed: int) -> lgb.Booster:
    """The booster of ``variant`` on these rows (``analyst``: bool per row)."""
    analyst = np.asarray(analyst, bool)
    return VARIANTS[variant](X.reset_index(drop=True), np.asarray(y, int), np.asarray(w, float), analyst, params, seed)


def fit_model(data: pd.DataFrame, fit: np.ndarray, params: dict, grid, gaz, seed: int,
              text_odds_factor: float | None = TEXT_ODDS_FACTOR,
              features: list[str] = MODEL_FEATURES, variant: str = "pooled") -> VoyageRiskModel:
    """LightGBM of ``variant`` on the ``fit`` rows, Platt-calibrated on 3-fold vessel-grouped
    out-of-fold raw scores of those rows (so the final model still learns from every training
    vessel), the text's part of every score bounded by ``text_odds_factor`` (None: unbounded).
    ``features``: the columns it learns from (a benchmark tries others)."""
    analyst = analyst_mask(data)
    if variant == "simulated":  # calibrated on what it learns from
        fit = np.asarray(fit, bool) & ~analyst
    X = data[features].astype(float)
    y = data["y"].to_numpy(int)
    w = sample_weights(data)
    groups = data["vessel_group"].to_numpy(np.int64)
    idx = np.flatnonzero(fit)
    oof = np.full(len(idx), np.nan)
    model = VoyageRiskModel(None, (1.0, 0.0), features, grid, gaz, DEFAULT_LEVELS, text_odds_factor,
                            augmented=variant == "augmented")
    mat = model.matrix_array(data.iloc[idx])
    for tr_i, va_i in GroupKFold(n_splits=3).split(idx, y[idx], groups[idx]):
        # Calibrated on the scores serving gives: each fold's booster, the text's part bounded.
        rows = idx[tr_i]
        model.booster = fit_variant(variant, X.iloc[rows], y[rows], w[rows], analyst[rows], params, seed)
        oof[va_i] = model.raw(mat[va_i])
    model.booster = fit_variant(variant, X.iloc[idx], y[idx], w[idx], analyst[idx], params, seed)
    model.calib = platt(oof, y[idx])
    return model
