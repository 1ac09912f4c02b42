"""Which way to learn from analysts' verdicts beside the simulator (issue #26, item 2).

With analyst labels in a run, every variant of :data:`training.fitting.VARIANTS` is fitted in a
cross-validation over vessels (grouped by vessel, stratified by whether the vessel has a
suspicious voyage; the analysts' vessels and the simulator's each split into the same folds):
each fold's vessels are held out, the variant learns from the rest and ranks them. The variant
with the best average precision on the analysts' held-out voyages wins (ties to the simpler),
among those that rank the simulator's held-out voyages at most :data:`MAX_SIMULATED_LOSS` below
the simulated-only model: what verdicts teach must not unlearn what the simulator teaches (a
variant fitted to a few hundred verdicts can rank a month of them well and everything else
badly). Few verdicts cannot be cross-validated: below :data:`MIN_VESSELS` of either class the
run pools every row, as it did before this choice existed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedGroupKFold

from .evaluation import GATE_MAX_LOSS
from .fitting import VARIANTS, analyst_mask, fit_variant, sample_weights
from .model import MODEL_FEATURES, VoyageRiskModel

#: Folds of the comparison (fewer when there are fewer verdict vessels of a class).
CV_FOLDS = 3
#: Verdict vessels of each class (any suspicious voyage, or none) the comparison needs: with
#: fewer, a fold holds no suspicious vessel to rank.
MIN_VESSELS = 3
#: What a run without (enough) verdicts fits: every row alike.
DEFAULT_VARIANT = "pooled"
#: How far below the simulated-only model a variant may rank the simulator's held-out voyages
#: (AP) and still be chosen: the gate's allowance (the noise between retrains of the same data).
MAX_SIMULATED_LOSS = GATE_MAX_LOSS


@dataclass(frozen=True)
class Choice:
    """The variant a run uses, why, and each variant's cross-validated AP on the verdicts."""
    variant: str
    reason: str
    scores: dict[str, float] = field(default_factory=dict)
    folds: int = 0
    #: Each variant's cross-validated AP on the simulator's held-out voyages.
    simulated_scores: dict[str, float] = field(default_factory=dict)


def _folds(data: pd.DataFrame, analyst: np.ndarray, seed: int) -> np.ndarray | None:
    """Fold number per row, the analysts' vessels and the simulator's each split in the same
    number of folds; None when the verdicts are too few."""
    y, groups = data["y"].to_numpy(int), data["vessel_group"].to_numpy()
    vessel_y = pd.Series(y[analyst]).groupby(groups[analyst]).max()
    pos, neg = int(vessel_y.sum()), int((vessel_y == 0).sum())
    if min(pos, neg) < MIN_VESSELS:
        return None
    fold = np.full(len(data), -1)
    splitter = StratifiedGroupKFold(n_splits=min(CV_FOLDS, pos, neg), shuffle=True, random_state=seed)
    for rows in (np.flatnonzero(analyst), np.flatnonzero(~analyst)):
        for k, (_, va) in enumerate(splitter.split(rows, y[rows], groups[rows])):
            fold[rows[va]] = k
    return fold


def cross_validate(data: pd.DataFrame, params: dict, seed: int, grid=None, gaz=None,
                   features: list[str] = MODEL_FEATURES, progress=lambda name: None) -> Choice:
    """Compare the variants on ``data`` (labelled voyages with ``analyst``, ``y``, ``behaviour``,
    ``vessel_group`` and the features); the best by out-of-fold AP on the analysts' voyages."""
    analyst = analyst_mask(data)
    if not analyst.any():
        return Choice(DEFAULT_VARIANT, "no analyst labels")
    fold = _folds(data, analyst, seed)
    if fold is None:
        return Choice(DEFAULT_VARIANT, f"fewer than {MIN_VESSELS} analyst-labelled vessels of each class: "
                                       "too few to compare, every row alike")
    X = data[features].astype(float)
    y = data["y"].to_numpy(int)
    w = sample_weights(data)
    mat = VoyageRiskModel(None, (1.0, 0.0), features, grid, gaz).matrix_array(data)  # the same for every variant
    scores, sim = {}, {}
    for name in VARIANTS:
        progress(name)
        model = VoyageRiskModel(None, (1.0, 0.0), features, grid, gaz, augmented=name == "augmented")
        oof = np.full(len(data), np.nan)
        for k in range(fold.max() + 1):
            held = fold == k
            model.booster = fit_variant(name, X[~held], y[~held], w[~held], analyst[~held], params, seed)
            oof[held] = model.raw(mat[held])
        scores[name] = float(average_precision_score(y[analyst], oof[analyst]))
        sim[name] = float(average_precision_score(y[~analyst], oof[~analyst])) if y[~analyst].any() else 0.0
    keeps = [n for n in VARIANTS if sim[n] >= sim["simulated"] - MAX_SIMULATED_LOSS]
    best = max(keeps, key=lambda n: (round(scores[n], 6), -list(VARIANTS).index(n)))
    dropped = sorted(n for n in VARIANTS if n not in keeps and scores[n] > scores[best])
    why = f"best cross-validated AP on {int(analyst.sum())} analyst-labelled voyages"
    if dropped:
        why += (f" among variants holding the simulator's voyages (left out: {', '.join(dropped)}, more than "
                f"{MAX_SIMULATED_LOSS:.2f} AP below simulated-only there)")
    return Choice(best, why, scores, int(fold.max() + 1), sim)
