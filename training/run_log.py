"""What a training run leaves in MLflow: parameters, metrics, the reference dataset input,
plots and tables as artifacts, the registered model and the gate's decision; and the
summary ``darkvoyage train`` prints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve

from features.config import FEATURE_CODE_VERSION

from .evaluation import rule_scores
from .model import MODEL_FEATURES, VoyageRiskModel
from .tracking import MODEL_NAME


def _pr_plot(path: Path, y, scores: dict, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, s in scores.items():
        s = np.nan_to_num(np.asarray(s, float), neginf=-1e9)
        pr, rc, _ = precision_recall_curve(y, s)
        ax.plot(rc, pr, label=f"{name} (AP {average_precision_score(y, s):.2f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _calibration_plot(path: Path, y, p) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4.5, 4))
    idx = np.clip(np.digitize(p, np.linspace(0, 1, 11)[1:-1]), 0, 9)
    xs = [p[idx == b].mean() for b in range(10) if (idx == b).any()]
    ys = [np.asarray(y)[idx == b].mean() for b in range(10) if (idx == b).any()]
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.plot(xs, ys, "o-")
    ax.set_xlabel("predicted risk")
    ax.set_ylabel("observed share suspicious")
    ax.set_title("Calibration (test)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- the experiment --------------------------------------------------------------------------

def log_run(tmp: Path, sources, ref, params, metrics, counts, data, test, p_test, p_ref, base, model, search, tcfg, cfg):
    """Parameters, metrics, the reference dataset input and every artifact except the model."""
    import mlflow
    from .reference import log_reference_input
    mlflow.log_params({**{f"lgb_{k}": v for k, v in params.items()}, "feature_code_version": FEATURE_CODE_VERSION,
                       "n_features": len(MODEL_FEATURES), "seed": tcfg.seed, "search_trials": search,
                       "scenarios": len(sources),
                       "positions": " | ".join(",".join(map(str, s.positions)) for s in sources)[:500],
                       "labels": " | ".join(str(s.labels) for s in sources)[:500],
                       "labelled_voyages": counts["labelled"], "suspicious_voyages": counts["suspicious"],
                       "labels_unmatched": counts["labels_unmatched"], "analyst_labels": counts["analyst_labels"],
                       "analyst_vessels": counts["analyst_vessels"], "calibration": "platt, 3-fold grouped out-of-fold",
                       "served_model": "refit on every labelled voyage; test_* from the model without the test vessels",
                       "sample_weights": "every suspicious behaviour the same total weight",
                       "reference": ref.name, "reference_digest": ref.digest, "reference_voyages": len(ref.voyages)})
    mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
    log_reference_input(ref)
    d_test, y_test = data[test], data["y"].to_numpy(int)[test]
    (tmp / "counts.json").write_text(json.dumps(counts, indent=1))
    (tmp / "features.json").write_text(json.dumps({"feature_code_version": FEATURE_CODE_VERSION,
                                                   "features": MODEL_FEATURES, "config": cfg.to_dict()}, indent=1))
    shap = np.abs(model.contributions(d_test).to_numpy()).mean(axis=0) if test.any() else np.zeros(len(MODEL_FEATURES))
    imp = pd.DataFrame({"feature": MODEL_FEATURES, "gain": model.gain(), "mean_abs_shap": shap})
    imp.sort_values("gain", ascending=False).to_csv(tmp / "feature_importance.csv", index=False)
    pd.DataFrame({"scenario": d_test["scenario"], "voyage_id": d_test["voyage_id"], "y": y_test,
                  "risk": p_test}).to_csv(tmp / "test_predictions.csv", index=False)
    rv = ref.voyages
    pd.DataFrame({"voyage_id": rv["voyage_id"], "vessel_group": rv["vessel_group"], "y": rv["y"],
                  "behaviour": rv["behaviour"], "risk": p_ref}).to_csv(tmp / "reference_predictions.csv", index=False)
    mlflow.log_artifact(str(_pr_plot(tmp / "precision_recall.png", y_test, {"model": p_test, **base},
                                     "Precision-recall, vessel-grouped test")), "plots")
    mlflow.log_artifact(str(_calibration_plot(tmp / "calibration.png", y_test, p_test)), "plots")
    rules = {f"rule {k}": v for k, v in rule_scores(rv).items()}
    mlflow.log_artifact(str(_pr_plot(tmp / "reference_precision_recall.png", rv["y"].to_numpy(int),
                                     {"model": p_ref, **rules}, "Precision-recall, reference set")), "plots")
    for f in ("counts.json", "features.json", "feature_importance.csv", "test_predictions.csv",
              "reference_predictions.csv"):
        mlflow.log_artifact(str(tmp / f))
    mlflow.log_artifact(str(tmp / "feature_importance.csv"), "importance")


def register(tmp: Path, model: VoyageRiskModel, sample: pd.DataFrame):
    """Log the pyfunc model, register a version of ``voyage-risk`` and alias it ``challenger``."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    example = sample.head(3)[MODEL_FEATURES + ["lg_start_lat", "lg_start_lon"]].astype(float).reset_index(drop=True)
    artifacts = model.save_artifacts(tmp / "model_artifacts")
    signature = infer_signature(example, model.predict(None, example))
    info = mlflow.pyfunc.log_model(name="model", python_model=model, artifacts=artifacts, signature=signature,
                                   input_example=example, pip_requirements=_requirements())
    version = mlflow.register_model(info.model_uri, MODEL_NAME)
    MlflowClient().set_registered_model_alias(MODEL_NAME, "challenger", version.version)
    return info, str(version.version)


def log_gate(tmp: Path, gate: dict, version: str) -> None:
    """The gate's decision, both APs and the interval on the run."""
    import mlflow
    mlflow.set_tags({"promotion": gate["decision"], "model_version": version,
                     "champion_version": gate.get("champion_version") or ""})
    mlflow.log_metrics({f"gate_{k}": float(v) for k, v in gate.items()
                        if k in ("candidate_ap", "champion_ap", "diff", "diff_low", "diff_high", "resamples", "min_gain")
                        and v is not None and np.isfinite(v)})
    (tmp / "gate.json").write_text(json.dumps(gate, indent=1, default=str))
    mlflow.log_artifact(str(tmp / "gate.json"))


def _requirements() -> list[str]:
    from importlib.metadata import version
    return [f"{p}=={version(p)}" for p in ("mlflow", "lightgbm", "pandas", "numpy", "pyarrow", "scikit-learn")]


def _ap(x, absent: str) -> str:
    """An AP to three decimals, or why there is none (``absent``) when it is NaN or missing.

    >>> _ap(0.72345, "none"), _ap(float("nan"), "none (no suspicious voyage)"), _ap(None, "none")
    ('0.723', 'none (no suspicious voyage)', 'none')
    """
    return f"{x:.3f}" if x is not None and np.isfinite(x) else absent


def summary_rows(s: dict) -> dict[str, str]:
    """The lines ``darkvoyage train`` prints for a run summary (label: text)."""
    m, c, g, r = s["metrics"], s["counts"], s["gate"], s["reference"]
    nan = float("nan")
    none_late = "none (too few suspicious voyages early, or none of unseen vessels late, in the time span)"
    rows = {
        "scenarios": f"{c['scenarios']}",
        "labelled voyages": f"{c['labelled']:,} ({c['suspicious']} suspicious); labels matching no voyage: {c['labels_unmatched']}",
        "test (unseen vessels)": f"{c['test_voyages']:,} voyages, {c['test_suspicious']} suspicious, {c['test_vessels']} vessels",
        "test average precision": f"{m['test_average_precision']:.3f}  (GFW rule 12 h {m['rule_gap12h_average_precision']:.3f}, "
                                  f"30 h {m['rule_gap30h_average_precision']:.3f}, logreg {m['logreg_average_precision']:.3f}, "
                                  f"iforest {m['iforest_average_precision']:.3f})",
        "later-in-time holdout AP": _ap(m.get("time_holdout_average_precision"), none_late),
        "reference set": f"{r['name']} ({r['voyages']:,} voyages, {r['suspicious']} suspicious; digest {r['digest']})",
        "reference average precision": f"{m['reference_average_precision']:.3f}  (rules: longest gap "
                                       f"{m['reference_rule_longest_gap_average_precision']:.3f}, surplus time "
                                       f"{m['reference_rule_surplus_time_average_precision']:.3f}; margin "
                                       f"{m['margin_over_best_rule']:+.3f})",
        "reference precision@k / ROC-AUC / ECE": f"{m['reference_precision_at_k']:.3f} / {m.get('reference_roc_auc', nan):.3f}"
                                                 f" / {m['reference_ece']:.4f}",
    }
    if "reference_twin_fpr_at_k" in m:
        rows["benign twins in the top k"] = f"{m['reference_twin_fpr_at_k']:.3f}"
    for k, v in sorted(m.items()):
        if k.startswith("reference_recall_"):
            rows[f"recall: {k[len('reference_recall_'):]}"] = f"{v:.2f}"
    if c.get("analyst_labels"):
        v = s["variant"]
        cv = "; CV AP " + ", ".join(f"{k} {x:.3f}" for k, x in v.scores.items()) if v.scores else ""
        rows["analyst labels"] = f"{c['analyst_labels']:,} on {c['analyst_vessels']} vessels; learnt as {v.variant} ({v.reason}{cv})"
    if "analyst_reference_vessels" in m:
        rows["analyst reference set"] = (f"{m['analyst_reference_vessels']:.0f} vessels, "
                                         f"{m['analyst_reference_voyages']:.0f} voyages; AP "
                                         + _ap(m.get("analyst_reference_average_precision"), "none (no suspicious verdict in it yet)"))
    if g.get("champion_ap") is not None:
        rows["gate (reference AP)"] = (f"candidate {g['candidate_ap']:.3f}, champion v{g['champion_version']} "
                                       f"{g['champion_ap']:.3f}; difference {g['diff']:+.3f}, 90 % interval "
                                       f"[{g['diff_low']:+.3f}, {g['diff_high']:+.3f}] over {g['resamples']} vessel resamples")
    if g.get("analyst_diff") is not None:
        rows["gate (analyst reference AP)"] = (f"candidate {g['analyst_ap']:.3f}, champion {g['champion_analyst_ap']:.3f}; "
                                               f"difference {g['analyst_diff']:+.3f}, 90 % interval "
                                               f"[{g['analyst_diff_low']:+.3f}, {g['analyst_diff_high']:+.3f}]")
    rows.update({"model": f"voyage-risk v{s['model_version']} (alias challenger)", "promotion": s["promotion"],
                 "run": f"{s['run_id']} in {s['tracking_uri']}"})
    return rows
