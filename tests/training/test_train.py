"""Training against a real MLflow store in a temp dir: runs, metrics, artifacts, registry,
the promotion gate, reproducible champion predictions, and bad label files. (The gate's own
cases, the reference set and several scenarios: tests/test_gate.py.)"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from training.labels import LabelError, assign_labels, read_labels

from ..helpers import invoke, mlflow_store

METRIC_KEYS = ["test_average_precision", "test_roc_auc", "test_precision_at_k", "test_recall_at_fpr05", "test_brier",
               "test_ece", "rule_gap12h_average_precision", "rule_gap30h_average_precision", "logreg_average_precision",
               "iforest_average_precision"]


@pytest.fixture(scope="module")
def scenario(small_world):
    return small_world


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with mlflow_store(tmp_path_factory.mktemp("mlflow")) as root:
        yield root


@pytest.fixture(scope="module")
def first_run(scenario, store):
    from training.train import train
    return train([scenario["positions"]], scenario["labels"], experiment="t-exp")


def test_run_logs_params_metrics_and_artifacts(first_run):
    import mlflow
    from mlflow import MlflowClient
    client = MlflowClient()
    run = client.get_run(first_run["run_id"])
    for k in METRIC_KEYS:
        assert k in run.data.metrics, k
    assert any(k.startswith("test_recall_dark") for k in run.data.metrics)
    assert "test_fpr_benign_gap12h" in run.data.metrics
    assert run.data.params["feature_code_version"] and int(run.data.params["labelled_voyages"]) > 100
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"plots", "counts.json", "features.json", "feature_importance.csv", "test_predictions.csv"} <= names
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {"plots/precision_recall.png", "plots/calibration.png", "plots/reference_precision_recall.png"}
    assert "reference_predictions.csv" in names and "gate.json" in names
    imp = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="feature_importance.csv"))
    assert list(imp.columns) == ["feature", "gain", "mean_abs_shap"] and imp["gain"].sum() > 0
    assert first_run["counts"]["labels_unmatched"] >= 0
    info = mlflow.models.get_model_info(first_run["model_uri"])
    assert info.signature is not None and info.saved_input_example_info is not None


def test_registered_with_aliases(first_run):
    from mlflow import MlflowClient
    client = MlflowClient()
    assert first_run["promotion"].startswith("promoted (no champion")
    assert str(client.get_model_version_by_alias("voyage-risk", "champion").version) == str(first_run["model_version"])
    assert str(client.get_model_version_by_alias("voyage-risk", "challenger").version) == str(first_run["model_version"])


def test_champion_reproduces_the_run_predictions(first_run):
    """The served model (refit on every vessel) is what the run judged on the reference set."""
    import mlflow
    from features.config import DEFAULT
    from features.gazetteer import load_gazetteer
    from training.reference import default_reference
    preds = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=first_run["run_id"],
                                                            artifact_path="reference_predictions.csv"))
    ref = default_reference(load_gazetteer(), DEFAULT)
    assert ref.digest == first_run["reference"]["digest"]
    pyfunc = mlflow.pyfunc.load_model("models:/voyage-risk@champion")
    got = pyfunc.predict(ref.voyages)["risk"].to_numpy()
    np.testing.assert_allclose(got, preds["risk"].to_numpy(), rtol=0, atol=1e-12)
    assert ((got >= 0) & (got <= 1)).all()
    # The in-world test figures come from the model fitted without the test vessels: a different one.
    test = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=first_run["run_id"], artifact_path="test_predictions.csv"))
    assert len(test) > 0 and test["risk"].between(0, 1).all()


def test_worse_model_does_not_take_champion(first_run, scenario, tmp_path):
    from mlflow import MlflowClient
    from training.train import train
    lab = pd.read_csv(scenario["labels"])
    lab["label"] = np.random.default_rng(0).permutation(lab["label"].to_numpy())  # labels shuffled
    bad = tmp_path / "shuffled.csv"
    lab.to_csv(bad, index=False)
    s = train([scenario["positions"]], bad, experiment="t-exp")
    client = MlflowClient()
    assert s["promotion"].startswith("kept champion")
    assert str(client.get_model_version_by_alias("voyage-risk", "champion").version) == str(first_run["model_version"])
    assert str(client.get_model_version_by_alias("voyage-risk", "challenger").version) == str(s["model_version"])
    run = client.get_run(s["run_id"])
    assert run.data.tags["promotion"].startswith("kept")
    assert run.data.metrics["gate_champion_ap"] > run.data.metrics["gate_candidate_ap"]
    assert run.data.metrics["gate_diff_low"] <= 0  # (--promote force past a champion: tests/training/test_gate.py)


def test_search_logs_nested_trials(first_run, scenario):
    from mlflow import MlflowClient
    from training.train import train
    s = train([scenario["positions"]], scenario["labels"], experiment="t-search", search=2, promote="never")
    client = MlflowClient()
    runs = client.search_runs([s["experiment_id"]], filter_string=f"tags.mlflow.parentRunId = '{s['run_id']}'")
    assert len(runs) == 2 and all("cv_average_precision" in r.data.metrics for r in runs)
    assert s["promotion"].startswith("skipped")


@pytest.mark.parametrize("text, message", [
    ("mmsi,start,end\n1,2024-01-01,2024-01-02\n", "lacks column(s) label"),
    ("mmsi,start,end,label\n273000001,2024-01-01,2024-01-02,maybe\n", "line 2: label 'maybe'"),
    ("mmsi,start,end,label\n273000001,2024-01-03,2024-01-02,benign\n", "line 2: end 2024-01-02 is before start"),
    ("mmsi,start,end,label\nabc,2024-01-01,2024-01-02,1\n", "line 2: mmsi 'abc' is not a number"),
    ("mmsi,start,end,label\n273000001,yesterday,2024-01-02,1\n", "line 2: start 'yesterday' is not an ISO 8601 time"),
    ("", "not a readable CSV"),
])
def test_bad_label_files(tmp_path, text, message):
    p = tmp_path / "labels.csv"
    p.write_text(text)
    with pytest.raises(LabelError) as err:
        read_labels(p)
    assert message in str(err.value) and str(p) in str(err.value)


def test_bad_label_file_on_the_command_line(tmp_path, scenario):
    p = tmp_path / "labels.csv"
    p.write_text("mmsi,start,end,label\n273000001,2024-01-01,2024-01-02,perhaps\n")
    res = invoke("train", "--positions", scenario["positions"], "--labels", p)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("darkvoyage:") and "perhaps" in res.stderr


def test_training_on_traffic_outside_the_gazetteers_sea_says_so(first_run, scenario, tmp_path):
    """``train`` reads AIS as every other command does and says the same line when most of it
    lies far from the gazetteer's ports (its features, ports and dark calls are the Caspian's);
    the Caspian world draws nothing."""
    assert first_run["outside_share"] < 0.01
    pos = pd.read_parquet(scenario["positions"])
    pos["lon"] = pos["lon"] - 40.0  # the same ships 40 degrees west: over 500 km from every port
    shifted = tmp_path / "shifted.parquet"
    pos.to_parquet(shifted, index=False)
    res = invoke("train", "--positions", shifted, "--labels", scenario["labels"], "--promote", "never",
                 "--experiment", "t-outside")
    assert res.returncode == 0, res.output
    assert res.stderr.count("of the positions lie over 500 km from every port of the gazetteer") == 1, res.stderr


def test_voyage_takes_the_label_it_overlaps_most():
    t = pd.Timestamp("2024-01-01", tz="UTC")
    v = pd.DataFrame({"voyage_id": ["a", "b", "c"], "mmsi": [1, 1, 2],
                      "start": [t, t + pd.Timedelta(hours=10), t], "end": [t + pd.Timedelta(hours=10), t + pd.Timedelta(hours=20), t]})
    lab = pd.DataFrame({"mmsi": [1, 1], "start": [t - pd.Timedelta(hours=1), t + pd.Timedelta(hours=8)],
                        "end": [t + pd.Timedelta(hours=8), t + pd.Timedelta(hours=30)], "y": [0, 1],
                        "behaviour": ["normal", "dark_approach"], "source": None, "note": None})
    out = assign_labels(v, lab)
    assert list(out["y"].iloc[:2]) == [0, 1] and np.isnan(out["y"].iloc[2])


def test_every_suspicious_behaviour_weighs_the_same():
    from training.train import behaviour_weights
    w = behaviour_weights([1, 1, 1, 1, 0, 0], ["dark_loiter"] * 3 + ["shared_mmsi", "normal", None])
    assert w[:3].sum() == pytest.approx(w[3]) and w[4:].tolist() == [1.0, 1.0]
    assert w[:4].mean() == pytest.approx(1.0)
    assert behaviour_weights([1, 0], [None, None]).tolist() == [1.0, 1.0]
