"""The voyage-risk model as it is logged, registered and served.

One object holds everything scoring needs, so training and serving cannot drift apart: the
LightGBM booster, its Platt calibration, the feature list and feature-code version, the
reference coverage grid and the gazetteer. An MLflow ``PythonModel``: ``mlflow.pyfunc.load_model``
of ``models:/voyage-risk@champion`` gives calibrated probabilities, ``unwrap_python_model()`` this object.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import lightgbm as lgb
import mlflow.pyfunc
import numpy as np
import pandas as pd

from features.config import FEATURE_CODE_VERSION
from features.coverage import CoverageGrid
from features.gazetteer import Gazetteer, load_gazetteer
from features.catalogue import FEATURE_NAMES
from features.families.declared import TEXT_FEATURES

#: Risk levels on the calibrated probability: "high" when suspicious is more likely than not,
#: "medium" from five times the simulated base rate (~2 % of voyages).
DEFAULT_LEVELS = {"high": 0.5, "medium": 0.1}
#: The level of a vessel with no voyage to score (one position, or never out of port).
INSUFFICIENT = "insufficient data"
#: Text is supporting evidence: the declared destination may change the odds the rest of the
#: voyage gives by at most this factor, either way (a bound on the raw log-odds, applied before
#: calibration in training and serving alike). Twice or half the odds: a stale or changed entry
#: is common in real feeds, and a model that leans on how text is typed loses its ranking when
#: a feed carries no destination (measured: drop:destination moved reference AP by 0.034
#: unbounded, ``benchmarks/bench_feeds.py``).
TEXT_ODDS_FACTOR = 2.0
#: How far below the ``high`` cut-off a voyage whose only evidence is its declared destination
#: is held (:meth:`VoyageRiskModel.risk_and_text_only`): it ranks among the mediums, never high.
TEXT_ONLY_MARGIN = 0.01
#: Features recomputed from the model's own coverage grid, whoever built the voyage table.
GRID_FEATURES = ("lg_cell_gap_rate", "lg_cell_interval_s")

#: Voyage-table columns the model does not learn from: how densely the feed reported. A count
#: of fixes, or a gap measured in the track's usual reporting intervals, moves with a
#: provider's thinning and with reception, not with what the ship did (the gap features say
#: what a silence means in hours and against the coverage grid). On a feed thinned to every
#: 2nd fix the golden model lost 0.04-0.07 AP through the count; once the speeds were left
#: out, ``lg_vs_usual`` moved most under thinning (mean |SHAP| change 0.35, the next 0.02) and
#: cost 0.030 AP; single-world reference AP without it within a retrain's noise (-0.004 mean
#: over three worlds and two seeds). Kept in the table for reading.
FEED_DENSITY = ("n_positions", "lg_vs_usual")
#: Nor how fast the ship sails: a fleet's and a world's habit, not behaviour (what a ship did
#: with its speed in a gap is the gap features' `lg_implied_speed_kn`, `dark_idle_h`). Learnt
#: from one world, these carried that world's speeds to the next: without them single-world
#: models gained reference AP (``benchmarks/bench_robustness.py``, two seeds: world 303
#: +0.047 and +0.047, 101 +0.017 and +0.006, 202 -0.001 and +0.003); with ``lg_vs_usual`` left
#: out too, 303's recall of dark loitering rose 0.71 -> 0.86 and of dark Volga arrivals
#: 0.64 -> 0.82 (docs/training.md). Kept for reading.
SAILING_SPEED = ("mean_speed_kn", "mean_sog_kn", "max_sog_kn")
#: The model's inputs, in order.
MODEL_FEATURES = [f for f in FEATURE_NAMES if f not in FEED_DENSITY + SAILING_SPEED]


@functools.lru_cache(maxsize=16)
def _positions(columns: tuple[str, ...], features: tuple[str, ...]) -> np.ndarray:
    """Where each feature sits among a table's columns (-1: absent), read-only. Cached by
    layout: every voyage table has the same columns, and building the lookup of a new frame's
    column index costs ~50 us, which a /score request paid on every call."""
    at = pd.Index(columns).get_indexer(features)
    at.setflags(write=False)
    return at


def domain_design(X: np.ndarray, analyst) -> np.ndarray:
    """Daumé's augmented features (ACL 2007): each row's features three times, as general,
    simulated-only and analysts'-only copies, the other domain's copy unknown (NaN). A model
    fitted on them is served as the analysts' domain (``analyst`` True for every row).

    >>> domain_design(np.array([[1.0], [2.0]]), [False, True]).tolist()
    [[1.0, 1.0, nan], [2.0, nan, 2.0]]
    """
    X = np.asarray(X, dtype=np.float64)
    a = np.broadcast_to(np.asarray(analyst, bool).reshape(-1, 1), X.shape)
    return np.hstack([X, np.where(a, np.nan, X), np.where(a, X, np.nan)])


def _text_bounded(predict, X: np.ndarray, text_cols: list[int],
                  factor: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(raw, bare) log-odds of ``predict`` (a matrix -> raw scores) on ``X`` (rows x features):
    ``bare`` with the text columns unknown, ``raw`` the full score clipped to
    ``bare +- log(factor)`` (not clipped when ``factor`` is None). Only rows that carry text
    are scored twice; no rows, no scores."""
    if not len(X):
        return np.zeros(0), np.zeros(0)
    raw = predict(X)
    bare = raw.copy()
    rows = np.flatnonzero(np.isfinite(X[:, text_cols]).any(axis=1)) if text_cols else []
    if len(rows):
        Xb = X[rows]
        Xb[:, text_cols] = np.nan
        bare[rows] = predict(Xb)
        if factor is not None:
            c = float(np.log(factor))
            raw[rows] = np.clip(raw[rows], bare[rows] - c, bare[rows] + c)
    return raw, bare


class VoyageRiskModel(mlflow.pyfunc.PythonModel):
    def __init__(self, booster: lgb.Booster | None = None, calib: tuple[float, float] = (1.0, 0.0),
                 features: list[str] | None = None, grid: CoverageGrid | None = None,
                 gaz: Gazetteer | None = None, levels: dict | None = None,
                 text_odds_factor: float | None = TEXT_ODDS_FACTOR, augmented: bool = False):
        self.booster = booster
        #: The booster learnt from :func:`domain_design`'s copies (``training.fitting``'s
        #: ``augmented`` variant): it is given the analysts' domain's.
        self.augmented = bool(augmented)
        self.calib = tuple(float(x) for x in calib)
        self.features = list(features or MODEL_FEATURES)
        self.grid = grid
        self.gaz = gaz
        self.levels = dict(levels or DEFAULT_LEVELS)
        self.feature_code_version = FEATURE_CODE_VERSION
        self.text_odds_factor = text_odds_factor

    # -- persistence ----------------------------------------------------------------------
    def save_artifacts(self, folder: Path) -> dict[str, str]:
        """Write the parts MLflow stores beside the pickled class; returns ``artifacts``."""
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / "booster.txt"))
        (folder / "model.json").write_text(json.dumps({
            "calibration": self.calib, "features": self.features, "levels": self.levels,
            "feature_code_version": self.feature_code_version, "text_odds_factor": self.text_odds_factor,
            "augmented": self.augmented}, indent=1))
        self.grid.save(folder / "coverage_grid.parquet")
        self.gaz.ports.to_csv(folder / "gazetteer.csv", index=False)
        return {"booster": str(folder / "booster.txt"), "meta": str(folder / "model.json"),
                "coverage_grid": str(folder / "coverage_grid.parquet"), "gazetteer": str(folder / "gazetteer.csv")}

    def load_context(self, context):
        a = context.artifacts
        self.booster = lgb.Booster(model_file=a["booster"])
        meta = json.loads(Path(a["meta"]).read_text())
        self.calib = tuple(meta["calibration"])
        self.features = meta["features"]
        self.levels = meta["levels"]
        self.feature_code_version = meta["feature_code_version"]
        self.text_odds_factor = meta.get("text_odds_factor")  # models before 0.5.0: text unbounded
        self.augmented = bool(meta.get("augmented", False))
        self.grid = CoverageGrid.load(a["coverage_grid"])
        gz = pd.read_csv(a["gazetteer"])
        self.gaz = load_gazetteer(a["gazetteer"]) if "sensitive" in gz else None

    def __getstate__(self):
        # The booster, grid and gazetteer travel as artifacts, not in the pickle.
        state = dict(self.__dict__)
        state.update(booster=None, grid=None, gaz=None)
        return state

    # -- scoring --------------------------------------------------------------------------
    def matrix(self, voyages: pd.DataFrame) -> pd.DataFrame:
        """The model's input matrix: its features in order, grid features from its own grid."""
        return pd.DataFrame(self.matrix_array(voyages), columns=self.features, index=voyages.index)

    def matrix_array(self, voyages: pd.DataFrame, grid_rows: np.ndarray | None = None) -> np.ndarray:
        """:meth:`matrix` as a float64 array (rows x features): what LightGBM is given either
        way, without building a DataFrame per call (the service scores one track at a time).
        ``grid_rows`` (bool per row): the rows whose grid features come from the model's grid
        (default all, when the table says where the longest gap started); the others keep
        the values they carry."""
        # tolist: iterating pandas' Arrow-backed column index name by name costs ~35 us.
        at = _positions(tuple(voyages.columns.tolist()), tuple(self.features))
        if (at < 0).any():
            missing = [f for f, k in zip(self.features, at) if k < 0]
            raise ValueError(f"voyage table lacks feature column(s): {', '.join(missing[:5])}")
        # By position: selecting ~60 columns by name costs ~0.15 ms a call, this ~0.03 ms.
        X = np.array(voyages.take(at, axis=1).to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64, order="C")
        if self.grid is not None and "lg_start_lat" in voyages.columns and "lg_start_lon" in voyages.columns:
            rows = np.ones(len(X), bool) if grid_rows is None else np.asarray(grid_rows, bool)
            lat = voyages["lg_start_lat"].to_numpy(float)
            lon = voyages["lg_start_lon"].to_numpy(float)
            ok = rows & np.isfinite(lat) & np.isfinite(lon)
            rate = np.full(len(X), np.nan)
            cell = np.full(len(X), np.nan)
            if ok.any():
                r, c, _ = self.grid.lookup(lat[ok], lon[ok])
                rate[ok], cell[ok] = r, c
            for name, vals in zip(GRID_FEATURES, (rate, cell)):
                if name in self.features:
                    X[rows, self.features.index(name)] = vals[rows]
        return X

    def raw(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Raw log-odds of a :meth:`matrix_array`, the text's part bounded (:meth:`raw_and_bare`)."""
        return self.raw_and_bare(np.asarray(X, dtype=np.float64))[0]

    def raw_and_bare(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw, bare) log-odds per row: ``bare`` scores the voyage with its text features
        unknown (NaN), ``raw`` is the full score held within ``log(text_odds_factor)`` of it.
        Rows without text: both the same, one prediction. Training calibrates on these raw
        scores of each fold's booster (:func:`training.fitting.fit_model`), so what is
        calibrated is what is served."""
        text = [k for k, f in enumerate(self.features) if f in TEXT_FEATURES]
        return _text_bounded(lambda M: self._predict(M, raw_score=True), X, text, self.text_odds_factor)

    def _predict(self, X: np.ndarray, **how) -> np.ndarray:
        """The booster on a :meth:`matrix_array` (as the analysts' domain when augmented)."""
        return self.booster.predict(domain_design(X, True) if self.augmented else X, num_threads=1, **how)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        a, b = self.calib
        return 1.0 / (1.0 + np.exp(-(a * raw + b)))

    def risk(self, voyages: pd.DataFrame, X: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probability that each voyage is suspicious, in [0, 1], text held to its
        place (:meth:`risk_and_text_only`). ``X``: the voyages' :meth:`matrix_array`, when the
        caller has it already."""
        if len(voyages) == 0:
            return np.zeros(0)
        return self.risk_and_text_only(self.matrix_array(voyages) if X is None else X)[0]

    def risk_and_text_only(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(risk, text_only) per row of a :meth:`matrix_array`. Text is supporting evidence:
        it moves the odds at most ``text_odds_factor`` either way (:meth:`raw_and_bare`), and a
        voyage that only its declared destination makes risky (scored with its text unknown,
        it is below the ``medium`` cut-off) never reads ``high``: its risk is held
        :data:`TEXT_ONLY_MARGIN` below that cut-off; ``text_only`` marks those voyages."""
        raw, bare = self.raw_and_bare(X)
        r, r0 = self.calibrate(raw), self.calibrate(bare)
        only = (r >= self.levels["medium"]) & (r0 < self.levels["medium"])
        return np.where(only, np.minimum(r, self.levels["high"] - TEXT_ONLY_MARGIN), r), only

    def level(self, risk) -> np.ndarray:
        """``high``/``medium``/``low`` by the model's cut-offs; no risk (NaN) is no evidence,
        not low risk: ``insufficient data``."""
        r = np.asarray(risk, float)
        return np.where(np.isnan(r), INSUFFICIENT,
                        np.where(r >= self.levels["high"], "high", np.where(r >= self.levels["medium"], "medium", "low")))

    def gain(self) -> np.ndarray:
        """LightGBM gain per model feature, in :attr:`features` order (an augmented booster's
        three copies of a feature summed)."""
        return self._fold_copies(self.booster.feature_importance("gain"))

    def contributions(self, voyages: pd.DataFrame) -> pd.DataFrame:
        """Per-feature SHAP contributions (log-odds) from LightGBM, one row per voyage."""
        return pd.DataFrame(self.contributions_array(self.matrix_array(voyages)), columns=self.features,
                            index=voyages.index)

    def contributions_array(self, X: np.ndarray) -> np.ndarray:
        """:meth:`contributions` of a :meth:`matrix_array`, rows x features (no bias column)."""
        return self._fold_copies(self._predict(X, pred_contrib=True)[..., :-1])

    def _fold_copies(self, per_column: np.ndarray) -> np.ndarray:
        """Values per booster column (last axis) as values per model feature: an augmented
        booster's three copies of a feature summed."""
        if not self.augmented:
            return per_column
        n = len(self.features)
        return per_column[..., :n] + per_column[..., n:2 * n] + per_column[..., 2 * n:]

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        r = self.risk(model_input)
        return pd.DataFrame({"risk": r, "level": self.level(r)}, index=model_input.index)
