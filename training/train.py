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
from .model import MODEL_FEATURES, VoyageRiskModel
from . import adaptation, analyst_reference
from .fitting import behaviour_weights, fit_booster, fit_model
from .run_log import log_gate, log_run, register
from .scenarios import ScenarioError, ScenarioInput, check_not_reserved, combined_tables, pair_inputs
from .tracking import DEFAULT_EXPERIMENT, MODEL_NAME, TrainingError, create_experiment, tracking_uri

__all__ = ["DEFAULT_EXPERIMENT", "MODEL_NAME", "TrainConfig", "TrainingError", "behaviour_weights", "fit_model",
           "train", "tracking_uri"]

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
            b = fit_booster(X.iloc[tr_i], y[tr_i], params, seed)
            aps.append(average_precision_score(y[va_i], b.predict(X.iloc[va_i], raw_score=True, num_threads=1)))
        score = float(np.mean(aps)) if aps else 0.0
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            mlflow.log_params({k: v for k, v in params.items() if k in trial.params})
            mlflow.log_metric("cv_average_precision", score)
        return score

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return {**base, **study.best_params}


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
    b = fit_booster(data.loc[fit, MODEL_FEATURES].astype(float), y[fit], params, seed)
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
    # Of the scenario most outside the gazetteer's sea: the command says so, as every reader of AIS does.
    outside = max(t.tracks.share_outside(gaz, cfg.dark_call_region_km) for t in tables)
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
        choice = _choose_variant(data, params, grid, gaz, tcfg.seed, stage, mlflow)
        model = fit_model(data, ~test, params, grid, gaz, tcfg.seed, variant=choice.variant)
        stage("evaluation")
        p_test = model.risk(data[test])
        metrics, base = holdout_metrics(data, test, p_test, model, tcfg.seed)
        metrics.update(time_holdout_metrics(data, test, model, params, tcfg.time_holdout, tcfg.seed))
        # The in-world test needs vessels held out; the served model learns from every vessel
        # (+0.02-0.03 reference AP on single worlds), and the reference set judges that one.
        stage("refitting on every vessel")
        served = fit_model(data, np.ones(len(data), bool), params, grid, gaz, tcfg.seed,
                           variant=choice.variant) if test.any() else model
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
        return {"run_id": run.info.run_id, "experiment_id": exp_id, "model_version": version, "variant": choice,
                "promotion": gate["decision"], "gate": gate, "metrics": metrics, "counts": counts,
                "reference": {"name": ref.name, "digest": ref.digest, "run_id": ref.run_id, "voyages": len(ref.voyages),
                              "suspicious": int(ref.voyages["y"].sum())},
                "tracking_uri": mlflow.get_tracking_uri(), "model_uri": info.model_uri, "outside_share": outside}


def _choose_variant(data, params, grid, gaz, seed, stage, mlflow) -> adaptation.Choice:
    """How this run learns from analysts' labels (:mod:`training.adaptation`), each variant a
    nested run with its cross-validated AP, the choice on the run (param ``variant``)."""
    choice = adaptation.cross_validate(data, params, seed, grid, gaz,
                                       progress=lambda name: stage(f"comparing ways to learn from verdicts: {name}"))
    for name, score in choice.scores.items():
        with mlflow.start_run(run_name=f"variant-{name}", nested=True):
            mlflow.log_params({"variant": name, "folds": choice.folds})
            mlflow.log_metrics({"cv_average_precision": score,
                                "cv_simulated_average_precision": choice.simulated_scores[name]})
    mlflow.log_params({"variant": choice.variant, "variant_reason": choice.reason[:500]})
    mlflow.log_metrics({f"variant_cv_average_precision_{k}": v for k, v in choice.scores.items()})
    log.info("variant %s: %s %s", choice.variant, choice.reason, choice.scores)
    return choice


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
