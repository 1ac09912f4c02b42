"""The evaluation functions on hand-made arrays: the weighted AP the bootstrap uses equals
sklearn's, the bootstrap is paired, fast and deterministic, rule rankers and per-behaviour
recall read the right columns, and the scenario inputs pair up or fail in one line."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from training.evaluation import (expected_calibration_error, paired_bootstrap_ap, recall_by_behaviour,
                                 reference_metrics, rule_scores, twin_fpr_at_k, vessel_weights, weighted_ap)


def _data(n=5000, vessels=400, seed=1):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, vessels, n)
    y = (rng.random(n) < 0.04).astype(int)
    return rng, groups, y


def test_weighted_ap_equals_sklearn_with_ties_and_zero_weights():
    rng, groups, y = _data(2000, 150)
    score = np.round(y * 0.4 + rng.random(len(y)), 1)  # many ties
    w = vessel_weights(groups, 20, rng)
    assert (w == 0).any()
    got = weighted_ap(y, score, w)
    want = [average_precision_score(y, score, sample_weight=row) for row in w]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_vessel_weights_draw_whole_vessels():
    rng = np.random.default_rng(0)
    groups = np.array([5, 5, 9, 9, 9, 2])
    w = vessel_weights(groups, 50, rng)
    assert w.shape == (50, 6)
    assert (w[:, 0] == w[:, 1]).all() and (w[:, 2] == w[:, 4]).all()
    np.testing.assert_array_equal(w[:, [0, 2, 5]].sum(axis=1), 3)  # 3 vessels drawn each time


def test_paired_bootstrap_is_fast_deterministic_and_paired():
    rng, groups, y = _data()
    good = y * 0.5 + rng.random(len(y))
    worse = y * 0.2 + rng.random(len(y))
    t = time.perf_counter()
    a = paired_bootstrap_ap(y, good, worse, groups)
    seconds = time.perf_counter() - t
    assert seconds < 3.0, seconds
    assert a["resamples"] >= 1000 and a["low"] > 0 and a["diff"] > 0
    assert a == paired_bootstrap_ap(y, good, worse, groups)  # fixed seed: same decision
    same = paired_bootstrap_ap(y, good, good, groups)
    assert same["low"] == same["high"] == 0.0  # paired: identical models differ by exactly 0
    b = paired_bootstrap_ap(y, worse, good, groups)
    assert b["high"] < 0


def test_rule_scores_and_reference_metrics():
    v = pd.DataFrame({"y": [1, 1, 0, 0, 0, 0], "behaviour": ["dark_volga", "sts", "normal", "twin_sts", "twin_sts", "normal"],
                      "max_gap_h": [30.0, np.nan, 2.0, 40.0, 1.0, 0.0],
                      "dc_sensitive_spare_h": [5.0, np.nan, np.nan, 10.0, np.nan, np.nan],
                      "vessel_group": [1, 2, 3, 4, 5, 6]})
    r = rule_scores(v)
    assert r["longest_gap"].tolist() == [30.0, 0.0, 2.0, 40.0, 1.0, 0.0]
    assert r["surplus_time"][1] == -np.inf and r["surplus_time"][3] == 10.0
    p = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.05])
    m = reference_metrics(v, p)
    assert m["reference_average_precision"] == 1.0 and m["reference_precision_at_k"] == 1.0
    assert m["reference_recall_dark_volga"] == 1.0 and m["reference_recall_sts"] == 1.0
    assert m["reference_twin_fpr_at_k"] == 0.0
    assert m["reference_rule_longest_gap_average_precision"] < 1.0
    assert m["margin_over_best_rule"] == pytest.approx(1.0 - max(m["reference_rule_longest_gap_average_precision"],
                                                                 m["reference_rule_surplus_time_average_precision"]))
    # The twin ranked above a suspicious voyage is in the top k.
    assert twin_fpr_at_k(v["y"], np.array([0.9, 0.1, 0.1, 0.95, 0.2, 0.05]), v["behaviour"]) == 0.5
    assert twin_fpr_at_k(v["y"], p, ["normal"] * 6) is None
    assert recall_by_behaviour(v["y"], p, v["behaviour"], "x") == {"x_recall_dark_volga": 1.0, "x_recall_sts": 1.0}


def test_expected_calibration_error():
    y = np.array([0, 0, 1, 1])
    assert expected_calibration_error(y, np.array([0.0, 0.0, 1.0, 1.0])) == 0.0
    assert expected_calibration_error(y, np.full(4, 0.5)) == 0.0
    assert expected_calibration_error(y, np.array([1.0, 1.0, 0.0, 0.0])) == pytest.approx(1.0)


def test_pair_inputs(tmp_path):
    from training.scenarios import ScenarioError, pair_inputs
    for name in ("a.parquet", "b.parquet", "la.csv", "lb.csv"):
        (tmp_path / name).write_text("x")
    folder = tmp_path / "sc"
    folder.mkdir()
    (folder / "positions.parquet").write_text("x")
    (folder / "labels.csv").write_text("x")
    got = pair_inputs([tmp_path / "a.parquet", tmp_path / "b.parquet"], [tmp_path / "la.csv", tmp_path / "lb.csv"])
    assert [(s.positions[0].name, s.labels.name) for s in got] == [("a.parquet", "la.csv"), ("b.parquet", "lb.csv")]
    got = pair_inputs([folder, folder], None)
    assert got[0].positions[0] == folder / "positions.parquet" and got[1].labels == folder / "labels.csv"
    with pytest.raises(ScenarioError, match="2 --positions but 1 --labels"):
        pair_inputs([tmp_path / "a.parquet", tmp_path / "b.parquet"], [tmp_path / "la.csv"])
    with pytest.raises(ScenarioError, match="needs its --labels"):
        pair_inputs([tmp_path / "a.parquet"], None)
    with pytest.raises(ScenarioError, match="no such label file"):
        pair_inputs([tmp_path / "a.parquet"], [tmp_path / "missing.csv"])
    with pytest.raises(ScenarioError, match="nowhere.parquet: no such positions file"):
        pair_inputs([tmp_path / "nowhere.parquet"], None)  # not "needs its --labels"
