"""One training experiment: features from one or more labelled scenarios, a vessel-grouped
split, LightGBM and baselines, calibration, evaluation on the reference set, MLflow logging,
registration and the promotion gate.

The serving model never silently gets worse: every run registers a new version of
``voyage-risk`` under alias ``challenger``; ``champion`` moves only when the new version beats
the current champion on the reference set (which neither learnt from) by a significant margin
(paired bootstrap over vessels, :mod:`training.gate`). See ``docs/evaluation.md``.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from features.config import DEFAULT, Config
from features.gazetteer import Gazetteer, load_gazetteer

from .evaluation import model_metrics, ranking_metrics, recall_by_behaviour, reference_metrics
from .labels import from_analyst, unmatched_labels
from .model import DEFAULT_LEVELS, MODEL_FEATURES, TEXT_ODDS_FACTOR, VoyageRiskModel
from . import analyst_reference
from .run_log import log_gate, log_run, register
from .scenarios import ScenarioError, ScenarioInput, check_not_reserved, combined_tables, pair_inputs
from .tracking import DEFAULT_EXPERIMENT, MODEL_NAME, TrainingError, create_experiment, tracking_uri

__all__ = ["DEFAULT_EXPERIMENT", "MODEL_NAME", "TrainConfig", "TrainingError", "behaviour_weights", "train",
           "tracking_uri"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    #: Share of vessels held out for the test set (calibration uses out-of-fold scores).
    test_share: float = 0.25
    #: The later-in-time holdout: voyages starting in the last 20 % of the labelled span.
    time_holdout: float = 0.2
    #: AP gain the gate needs at the bootstrap's lower bound (None: evaluation.GATE_MIN_GAIN).
    gate_min_gain: float | None = None
    params: dict = field(default_factory=lambda: {
        "objective": "binary", "learning_rate": 0.05, "n_estimators": 400, "num_leaves": 15,
        "min_child_samples": 10, "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8,
        "reg_lambda": 1.0, "n_jobs": 1, "verbose": -1})


# --- tracking --------------------------------------------------------------------------------

def _setup(experiment: str) -> str:
    import mlflow
    mlflow.set_tracking_uri(tracking_uri())
    exp_id = create_experiment(experiment)
    mlflow.set_experiment(experiment_id=exp_id)  # nested search trials land here too
    return exp_id


# --- splitting and fitting -------------------------------------------------------------------

def grouped_split(groups: np.ndarray, y: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Boolean mask of rows whose vessel (group) goes to the held-out side; vessels with and
    without suspicious voyages are drawn separately so both sides see both classes."""
    rng = np.random.default_rng(seed)
    vessels = pd.Series(y).groupby(groups).max()
    chosen = []
    for cls in (1, 0):
        ids = vessels.index[vessels == cls].to_numpy()
        n = int(round(share * len(ids)))
        if cls == 1 and len(ids) >= 2:
            n = max(n, 1)
        chosen += list(rng.choice(ids, size=n, replace=False)) if n else []
    return np.isin(groups, np.asarray(chosen, dtype=groups.dtype))


#: Suspicious behaviours seen in the destination text alone: learnt at their natural frequency,
#: not weighted up beside the others, so the model does not learn to key on text (a stale or
#: changed entry is common in real feeds; text is supporting evidence).
TEXT_BEHAVIOURS = ("false_destination",)


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


def _fit_lgb(X, y, params, seed, weight=None):
    pos = max(int(y.sum()), 1)
    p = dict(params)
    # Imbalance: weight positives by the square root of the class ratio (~5x at 3 % positives).
    # The full ratio (~30x) over-fits the few suspicious vessels (grouped CV AP 0.919 vs 0.928).
    p.setdefault("scale_pos_weight", float(np.sqrt((len(y) - pos) / pos)))
    clf = lgb.LGBMClassifier(random_state=seed, **p)
    clf.fit(X, y, sample_weight=weight)
    return clf.booster_


def _platt(raw, y) -> tuple[float, float]:
    if len(np.unique(y)) < 2:
        log.warning("calibration fold has one class only: probabilities left uncalibrated")
        return 1.0, 0.0
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(np.asarray(raw).reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _search(X, y, groups, trials: int, base: dict, seed: int, mlflow) -> dict:
    """Optuna over LightGBM parameters, each trial a nested run, scored by grouped 3-fold AP."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folds = list(GroupKFold(n_splits=3).split(X, y, groups))

    def objective(trial):
        params = {**base,
                  "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
                  "num_leaves": trial.suggest_int("num_leaves", 4, 63, log=True),
                  "min_child_samples": trial.suggest_int("min_child_samples", 5, 60, log=True),
                  "n_estimators": trial.suggest_int("n_estimators", 100, 800, step=100),
                  "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
                  "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True)}
        aps = []
        for tr_i, va_i in folds:
            if y[va_i].sum() == 0:
                continue
            b = _fit_lgb(X.iloc[tr_i], y[tr_i], params, seed)
            aps.append(average_precision_score(y[va_i], b.predict(X.iloc[va_i], raw_score=True, num_threads=1)))
        score = float(np.mean(aps)) if aps else 0.0
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            mlflow.log_params({k: v for k, v in params.items() if k in trial.params})
            mlflow.log_metric("cv_average_precision", score)
        return score

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return {**base, **study.best_params}


def fit_model(data: pd.DataFrame, fit: np.ndarray, params: dict, grid, gaz, seed: int,
              text_odds_factor: float | None = TEXT_ODDS_FACTOR,
              features: list[str] = MODEL_FEATURES) -> VoyageRiskModel:
    """LightGBM on the ``fit`` rows, Platt-calibrated on 3-fold vessel-grouped out-of-fold raw
    scores of those rows (so the final model still learns from every training vessel), the
    text's part of every score bounded by ``text_odds_factor`` (None: unbounded). ``features``:
    the columns it learns from (a benchmark tries others)."""
    X = data[features].astype(float)
    y = data["y"].to_numpy(int)
    w = behaviour_weights(y, data["behaviour"])
    groups = data["vessel_group"].to_numpy(np.int64)
    idx = np.flatnonzero(fit)
    oof = np.full(len(idx), np.nan)
    fold = VoyageRiskModel(None, (1.0, 0.0), features, grid, gaz, text_odds_factor=text_odds_factor)
    mat = fold.matrix_array(data.iloc[idx])
    for tr_i, va_i in GroupKFold(n_splits=3).split(idx, y[idx], groups[idx]):
        # Calibrated on the scores serving gives: each fold's booster, the text's part bounded.
        fold.booster = _fit_lgb(X.iloc[idx[tr_i]], y[idx[tr_i]], params, seed, w[idx[tr_i]])
        oof[va_i] = fold.raw(mat[va_i])
    booster = _fit_lgb(X.iloc[idx], y[idx], params, seed, w[idx])
    return VoyageRiskModel(booster, _platt(oof, y[idx]), features, grid, gaz, DEFAULT_LEVELS, text_odds_factor)


# --- evaluation on the training scenarios ---------------------------------------------------

def holdout_metrics(data: pd.DataFrame, test: np.ndarray, p_test: np.ndarray, model: VoyageRiskModel,
                    seed: int) -> tuple[dict, dict]:
    """(metrics, baseline scores) on the vessel-grouped in-world test set: the model's metrics,
    the binary gap rules, logistic regression, IsolationForest, recall per behaviour at k and
    how benign long gaps fare."""
    fit = ~test
    X = data[MODEL_FEATURES].astype(float)
    y = data["y"].to_numpy(int)
    y_test, d_test = y[test], data[test]
    metrics = model_metrics(y_test, p_test, "test")
    base = {"rule_gap12h": (d_test["max_gap_h"] >= 12).astype(float).to_numpy(),
            "rule_gap30h": (d_test["max_gap_h"] >= 30).astype(float).to_numpy()}
    med = X[fit].median().fillna(0.0)  # a column no training voyage has (a feed without destinations)
    logreg = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000, C=0.5))
    logreg.fit(X[fit].fillna(med), y[fit])
    base["logreg"] = logreg.predict_proba(X[test].fillna(med))[:, 1]
    iforest = IsolationForest(n_estimators=200, random_state=seed, n_jobs=1).fit(X[fit].fillna(med))
    base["iforest"] = -iforest.score_samples(X[test].fillna(med))
    for name, s in base.items():
        metrics.update(ranking_metrics(y_test, s, name))
    metrics.update(recall_by_behaviour(y_test, p_test, d_test["behaviour"], "test"))
    ben12 = (y_test == 0) & (d_test["max_gap_h"].to_numpy() >= 12)
    if ben12.any():
        metrics["test_fpr_benign_gap12h"] = float((p_test[ben12] >= model.levels["high"]).mean())
        metrics["test_benign_gap12h_mean_risk"] = float(p_test[ben12].mean())
    return metrics, base


def time_holdout_metrics(data: pd.DataFrame, test: np.ndarray, model: VoyageRiskModel, params: dict,
                         share: float, seed: int) -> dict:
    """The later-in-time holdout, grouped by vessel: a model fitted on the training-side
    vessels' voyages that start before the last ``share`` of the labelled span, scored on the
    test-side vessels' voyages that start within it (later voyages of unseen vessels)."""
    y = data["y"].to_numpy(int)
    late = (data["start"] >= data["start"].quantile(1 - share)).to_numpy()
    fit, score = ~late & ~test, late & test
    if not y[score].any() or y[fit].sum() < 2:
        return {}
    b = _fit_lgb(data.loc[fit, MODEL_FEATURES].astype(float), y[fit], params, seed)
    early = VoyageRiskModel(b, model.calib, model.features, model.grid, model.gaz, text_odds_factor=model.text_odds_factor)
    return ranking_metrics(y[score], early.raw(early.matrix_array(data[score])), "time_holdout")


# --- plots -----------------------------------------------------------------------------------

def as_sources(positions, labels=None) -> list[ScenarioInput]:
    """Training inputs as scenarios: a list of :class:`ScenarioInput`; or positions with one
    label file (all positions one scenario); or positions and labels paired in order."""
    positions = list(positions)
    if positions and all(isinstance(p, ScenarioInput) for p in positions):
        return positions
    if labels is None or isinstance(labels, (list, tuple)):
        return pair_inputs(positions, labels)
    return [ScenarioInput(tuple(Path(p) for p in positions), Path(labels))]


def _labelled(voyages: pd.DataFrame, tables) -> pd.DataFrame:
    data = voyages[voyages["y"].notna()].reset_index(drop=True)
    y = data["y"].to_numpy(int)
    if len(data) < 20 or y.sum() < 4 or (y == 0).sum() < 4:
        unmatched = sum(unmatched_labels(t.voyages, t.labels) for t in tables)
        raise TrainingError(f"too few labelled voyages to train: {len(data)} labelled, {int(y.sum())} suspicious "
                            f"(need >= 20 and >= 4 of each class); {unmatched} of "
                            f"{sum(len(t.labels) for t in tables)} labels matched no voyage")
    data["y"] = y
    return data


def _reference(reference, sources, gaz, cfg, stage):
    """The reference set: the analyst's (positions, labels), or the stored default one, after
    refusing training scenarios from its reserved world (before it is built or fetched)."""
    from .reference import REFERENCE_WORLD_SEED, analyst_reference, default_reference
    if reference is not None:
        return analyst_reference(reference[0], reference[1], gaz, cfg, stage)
    check_not_reserved(sources, REFERENCE_WORLD_SEED)
    return default_reference(gaz, cfg, stage)


def train(positions, labels_path=None, experiment: str = DEFAULT_EXPERIMENT, search: int = 0, promote: str = "auto",
          tcfg: TrainConfig = TrainConfig(), cfg: Config = DEFAULT, gaz: Gazetteer | None = None,
          stage=lambda s: None, reference: tuple | None = None) -> dict:
    """Run one experiment; returns a summary (run id, version, metrics, gate, promotion).

    ``positions``/``labels_path``: see :func:`as_sources`. ``reference``: (positions, labels)
    of the analyst's own reference set; default: the stored default reference set.
    """
    import mlflow
    if promote not in ("auto", "force", "never"):
        raise TrainingError(f"--promote must be auto, force or never, not {promote!r}")
    gaz = gaz or load_gazetteer()
    try:
        sources = as_sources(positions, labels_path)
        exp_id = _setup(experiment)
        ref = _reference(reference, sources, gaz, cfg, stage)
        tables, grid, voyages = combined_tables(sources, gaz, cfg, stage)
    except ScenarioError as err:
        raise TrainingError(str(err)) from None
    data, analyst_ref = analyst_reference.split(_labelled(voyages, tables), tables)
    groups = data["vessel_group"].to_numpy(np.int64)
    test = grouped_split(groups, data["y"].to_numpy(int), tcfg.test_share, tcfg.seed)
    stage("training")
    with mlflow.start_run(experiment_id=exp_id) as run, tempfile.TemporaryDirectory() as tmp:
        params = dict(tcfg.params)
        if search > 0:
            stage(f"hyperparameter search ({search} trials)")
            rest = data[~test].reset_index(drop=True)
            params = _search(rest[MODEL_FEATURES].astype(float), rest["y"].to_numpy(int), groups[~test], search,
                             params, tcfg.seed, mlflow)
        model = fit_model(data, ~test, params, grid, gaz, tcfg.seed)
        stage("evaluation")
        p_test = model.risk(data[test])
        metrics, base = holdout_metrics(data, test, p_test, model, tcfg.seed)
        metrics.update(time_holdout_metrics(data, test, model, params, tcfg.time_holdout, tcfg.seed))
        # The in-world test needs vessels held out; the served model learns from every vessel
        # (+0.02-0.03 reference AP on single worlds), and the reference set judges that one.
        stage("refitting on every vessel")
        served = fit_model(data, np.ones(len(data), bool), params, grid, gaz, tcfg.seed) if test.any() else model
        p_ref = served.risk(ref.voyages)
        metrics.update(reference_metrics(ref.voyages, p_ref))
        p_analyst = served.risk(analyst_ref) if len(analyst_ref) else None
        if p_analyst is not None:
            metrics.update(analyst_reference.evaluate(analyst_ref, p_analyst))
            analyst_reference.log_input(analyst_ref)
        counts = _counts(tables, voyages, data, test)
        log_run(Path(tmp), sources, ref, params, metrics, counts, data, test, p_test, p_ref, base, model, search, tcfg, cfg)
        stage("logging the model")
        info, version = register(Path(tmp), served, data[test] if test.any() else data)
        stage("promotion")
        from .gate import promotion_gate
        judged = analyst_ref["mmsi"].nunique() >= analyst_reference.GATE_MIN_VESSELS
        gate = promotion_gate(version, ref, p_ref, promote, tcfg.gate_min_gain,
                              analyst=(analyst_reference.gate_view(analyst_ref), p_analyst) if judged else None)
        log_gate(Path(tmp), gate, version)
        return {"run_id": run.info.run_id, "experiment_id": exp_id, "model_version": version,
                "promotion": gate["decision"], "gate": gate, "metrics": metrics, "counts": counts,
                "reference": {"name": ref.name, "digest": ref.digest, "run_id": ref.run_id, "voyages": len(ref.voyages),
                              "suspicious": int(ref.voyages["y"].sum())},
                "tracking_uri": mlflow.get_tracking_uri(), "model_uri": info.model_uri}


def analyst_counts(labels: list[pd.DataFrame]) -> dict:
    """Labels an analyst gave (``source`` analyst, the contract's default when it is left out)
    and their vessels, over every label file of a run."""
    mine = [x[from_analyst(x["source"])] for x in labels if len(x)]
    return {"analyst_labels": int(sum(len(x) for x in mine)),
            "analyst_vessels": int(len(set().union(*[set(x["mmsi"].tolist()) for x in mine]))) if mine else 0}


def _counts(tables, voyages, data, test) -> dict:
    y = data["y"].to_numpy(int)
    groups = data["vessel_group"].to_numpy(np.int64)
    rows = [t.tracks.counts.to_dict() for t in tables]
    return {"scenarios": len(tables), "voyages": int(len(voyages)), "labelled": int(len(data)), "suspicious": int(y.sum()),
            "labels": int(sum(len(t.labels) for t in tables)),
            "labels_unmatched": int(sum(unmatched_labels(t.voyages, t.labels) for t in tables)),
            **analyst_counts([t.labels for t in tables]),
            "train_voyages": int((~test).sum()), "test_voyages": int(test.sum()), "test_suspicious": int(y[test].sum()),
            "train_vessels": int(len(np.unique(groups[~test]))), "test_vessels": int(len(np.unique(groups[test]))),
            "rows": rows[0] if len(rows) == 1 else rows}
