"""Evaluation: metrics, the continuous rule rankers, the reference-set metrics and the paired
bootstrap over vessels that the promotion gate uses.

Everything here is a pure function of arrays (labels, scores, vessel groups); nothing trains,
logs or reads files. Scores are "higher = more suspicious"; probabilities are in [0, 1].
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve

#: Resamples of the paired bootstrap. 2,000 keeps the 5th percentile's own Monte-Carlo error
#: near 0.002 AP at the spreads seen on the reference set (~0.02) and costs ~1 s for 5k voyages.
BOOTSTRAP_RESAMPLES = 2000
#: Fixed bootstrap seed: the same two models on the same reference set always get the same
#: decision.
BOOTSTRAP_SEED = 20240601
#: One-sided 95 %: the candidate must be better at the 5th percentile of the AP difference.
GATE_QUANTILE = 0.05
#: The gain a candidate must show at that bound, AP. The bootstrap measures the reference
#: set's sampling noise only; retraining the same data with another seed (another split,
#: other subsamples) moves reference AP too: six seeds on a 160-vessel scenario gave pairwise
#: lower bounds up to +0.021, so a gain must clear 0.03 to count as more than a reroll.
GATE_MIN_GAIN = 0.03
#: How far the simulated reference AP may fall (point estimate) when a candidate is promoted for
#: a significant gain on the analyst reference set alone, and how far below the simulated-only
#: model a way of learning from verdicts may rank held-out simulated voyages: the same noise
#: between retrains of the same data as :data:`GATE_MIN_GAIN`.
GATE_MAX_LOSS = 0.03
#: Resamples per vectorised block: 200 x 5,000 voyages of float64 is 8 MB per array.
_BLOCK = 200

#: Behaviour names of benign look-alikes ("benign twins") start with this.
TWIN_PREFIX = "twin_"


# --- basic metrics ---------------------------------------------------------------------------

def expected_calibration_error(y, p, bins: int = 10) -> float:
    """Mean |observed rate - mean probability| over equal-width probability bins, weighted by
    the share of voyages in each bin (0 = perfectly calibrated)."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    if len(y) == 0:
        return float("nan")
    idx = np.clip(np.digitize(p, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    obs = np.bincount(idx, weights=y, minlength=bins)
    pred = np.bincount(idx, weights=p, minlength=bins)
    return float(np.abs(obs - pred).sum() / len(y))


def ranking_metrics(y, score, prefix: str) -> dict:
    """``<prefix>_average_precision`` and, with both classes present, ``<prefix>_roc_auc``."""
    y = np.asarray(y, int)
    s = np.asarray(score, float)
    out = {f"{prefix}_average_precision": float(average_precision_score(y, s)) if y.any() else float("nan")}
    if 0 < y.sum() < len(y):
        out[f"{prefix}_roc_auc"] = float(roc_auc_score(y, s))
    return out


def top_k_mask(score, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` highest scores (ties broken by position, stable)."""
    s = np.asarray(score, float)
    flagged = np.zeros(len(s), bool)
    flagged[np.argsort(-s, kind="stable")[:k]] = True
    return flagged


def model_metrics(y, p, prefix: str = "test") -> dict:
    """Ranking and calibration metrics of calibrated probabilities ``p`` against labels ``y``:
    AP, ROC-AUC, precision at k (k = number of positives), recall at 5 % FPR, Brier, ECE."""
    y = np.asarray(y, int)
    p = np.asarray(p, float)
    m = ranking_metrics(y, p, prefix)
    k = int(y.sum())
    m[f"{prefix}_precision_at_k"] = float(y[top_k_mask(p, k)].mean()) if k else float("nan")
    if 0 < k < len(y):
        fpr, tpr, _ = roc_curve(y, p)
        m[f"{prefix}_recall_at_fpr05"] = float(np.max(tpr[fpr <= 0.05]))
    m[f"{prefix}_brier"] = float(brier_score_loss(y, p))
    m[f"{prefix}_ece"] = expected_calibration_error(y, p)
    return m


def recall_by_behaviour(y, score, behaviour, prefix: str) -> dict:
    """``<prefix>_recall_<behaviour>``: share of each suspicious behaviour's voyages in the
    top k (k = number of suspicious voyages)."""
    y = np.asarray(y, int)
    flagged = top_k_mask(score, int(y.sum()))
    beh = pd.Series(behaviour).fillna("").astype(str).to_numpy()
    out = {}
    for b in sorted(set(beh[y == 1]) - {""}):
        m = (beh == b) & (y == 1)
        out[f"{prefix}_recall_{b}"] = float(flagged[m].mean())
    return out


def twin_fpr_at_k(y, score, behaviour) -> float | None:
    """Share of benign look-alike voyages (behaviour ``twin_*``) that land in the top k
    (k = number of suspicious voyages); None when the set has no such voyage."""
    y = np.asarray(y, int)
    beh = pd.Series(behaviour).fillna("").astype(str)
    twins = (beh.str.startswith(TWIN_PREFIX).to_numpy()) & (y == 0)
    if not twins.any():
        return None
    return float(top_k_mask(score, int(y.sum()))[twins].mean())


# --- continuous rule rankers -----------------------------------------------------------------

def rule_scores(voyages: pd.DataFrame) -> dict[str, np.ndarray]:
    """The analyst's rules of thumb as continuous rankers (higher = more suspicious):

    * ``longest_gap``: the longest AIS gap, hours (``max_gap_h``; none = 0 h);
    * ``surplus_time``: the best spare time, hours, for a dark call at a sensitive port inside
      a gap (``dc_sensitive_spare_h``); voyages where no such call fits rank lowest.
    """
    gap = pd.to_numeric(voyages["max_gap_h"], errors="coerce").fillna(0.0).to_numpy(float)
    spare = pd.to_numeric(voyages["dc_sensitive_spare_h"], errors="coerce").to_numpy(float)
    return {"longest_gap": gap, "surplus_time": np.where(np.isfinite(spare), spare, -np.inf)}


def average_precision(y, s) -> float:
    """Average precision that tolerates -inf scores (sklearn rejects non-finite input)."""
    s = np.asarray(s, float)
    finite = np.isfinite(s)
    if not finite.all():
        lo = s[finite].min() - 1.0 if finite.any() else 0.0
        s = np.where(finite, s, lo)
    return float(average_precision_score(y, s))


# --- the reference set -----------------------------------------------------------------------

def reference_metrics(voyages: pd.DataFrame, p, prefix: str = "reference") -> dict:
    """Every metric logged on the reference set for calibrated risks ``p`` of its labelled
    ``voyages`` (columns ``y``, ``behaviour``, ``max_gap_h``, ``dc_sensitive_spare_h``):
    AP, precision at k, ROC-AUC, ECE, recall per behaviour at k, the benign-twin false-positive
    rate at k, both rule rankers' AP, and the model's margin over the better rule."""
    y = voyages["y"].to_numpy(int)
    m = {k: v for k, v in model_metrics(y, p, prefix).items()
         if not k.endswith(("_brier", "_recall_at_fpr05"))}
    m.update(recall_by_behaviour(y, p, voyages["behaviour"], prefix))
    twin = twin_fpr_at_k(y, p, voyages["behaviour"])
    if twin is not None:
        m[f"{prefix}_twin_fpr_at_k"] = twin
    rules = {name: average_precision(y, s) for name, s in rule_scores(voyages).items()}
    for name, ap in rules.items():
        m[f"{prefix}_rule_{name}_average_precision"] = ap
    m["margin_over_best_rule"] = m[f"{prefix}_average_precision"] - max(rules.values())
    return m


# --- paired bootstrap over vessels -----------------------------------------------------------

def _sorted_parts(y: np.ndarray, score: np.ndarray):
    """Order by descending score, the labels in that order, and the last position of each run
    of tied scores (where precision and recall are read, as in sklearn)."""
    order = np.argsort(-score, kind="stable")
    s = score[order]
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    return order, y[order].astype(float), ends


def weighted_ap(y, score, weights: np.ndarray) -> np.ndarray:
    """Average precision for each row of ``weights`` (resamples x voyages; integer counts of
    how often each voyage was drawn), equal to ``average_precision_score(y, score,
    sample_weight=w)`` row by row; NaN where a row has no positive weight."""
    y = np.asarray(y, float)
    score = np.asarray(score, float)
    order, ys, ends = _sorted_parts(y, score)
    w = np.atleast_2d(weights)[:, order]
    tp = np.cumsum(w * ys, axis=1)[:, ends]
    fp = np.cumsum(w * (1.0 - ys), axis=1)[:, ends]
    total = tp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        d_tp = np.diff(tp, axis=1, prepend=0.0)
        ap = (d_tp * precision).sum(axis=1) / total[:, 0]
    return np.where(total[:, 0] > 0, ap, np.nan)


def vessel_weights(groups, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot x voyages) integer weights: vessels drawn with replacement, every voyage of a
    vessel weighted by how often its vessel was drawn."""
    codes, uniq = pd.factorize(pd.Series(groups), sort=True)
    v = len(uniq)
    draws = rng.integers(0, v, size=(n_boot, v))
    flat = (np.arange(n_boot)[:, None] * v + draws).ravel()
    counts = np.bincount(flat, minlength=n_boot * v).reshape(n_boot, v)
    return counts[:, codes].astype(float)


def paired_bootstrap_ap(y, cand, champ, groups, n_boot: int = BOOTSTRAP_RESAMPLES,
                        seed: int = BOOTSTRAP_SEED, quantile: float = GATE_QUANTILE) -> dict:
    """Paired bootstrap over vessels of AP(candidate) - AP(champion) on the same voyages.

    Each resample draws vessels (``groups``) with replacement and scores both models on the
    same draw, so what both get right or wrong cancels. Returns the point difference and the
    ``quantile`` / ``1 - quantile`` percentiles (``low``/``high``, a two-sided 90 % interval
    whose lower end is the one-sided 95 % bound the gate reads); resamples without a
    suspicious voyage are dropped.
    """
    y = np.asarray(y, int)
    cand, champ = np.asarray(cand, float), np.asarray(champ, float)
    ap = bootstrap_ap(y, [cand, champ], groups, n_boot, seed)
    d = ap[0] - ap[1]
    d = d[np.isfinite(d)]
    ap_cand, ap_champ = average_precision(y, cand), average_precision(y, champ)
    return {"candidate_ap": ap_cand, "champion_ap": ap_champ, "diff": ap_cand - ap_champ, "low": float(np.quantile(d, quantile)),
            "high": float(np.quantile(d, 1 - quantile)), "resamples": int(len(d))}


def bootstrap_ap(y, scores, groups, n_boot: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """AP of each score vector on the same ``n_boot`` resamples of vessels (``groups``),
    shape (len(scores), n_boot); NaN for a resample without a suspicious voyage. Paired: a
    column is one draw, so differences and spreads between models read column by column.

    >>> y, g = np.array([1, 0, 1, 0]), np.array([1, 1, 2, 2])
    >>> ap = bootstrap_ap(y, [np.array([.9, .1, .8, .2]), np.array([.1, .9, .2, .8])], g, n_boot=50)
    >>> ap.shape, bool((ap[0] == 1).all()), bool((ap[1] <= 0.5).all())
    ((2, 50), True, True)
    """
    y = np.asarray(y, int)
    scores = [np.asarray(s, float) for s in scores]
    rng = np.random.default_rng(seed)
    blocks = []
    for start in range(0, n_boot, _BLOCK):
        w = vessel_weights(groups, min(_BLOCK, n_boot - start), rng)
        blocks.append(np.stack([weighted_ap(y, s, w) for s in scores]))
    return np.concatenate(blocks, axis=1)
