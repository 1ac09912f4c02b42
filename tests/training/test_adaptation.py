"""Every way of learning from analysts' verdicts (``training.fitting.VARIANTS``) gives a model
that scores, explains, ranks its features and survives saving and loading as MLflow stores it;
the comparison picks the best by cross-validation on the verdicts, and says why when it cannot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.fitting import VARIANTS, fit_model, sample_weights


@pytest.fixture(scope="module")
def labelled(small_world, gaz):
    """The small world's labelled voyages, every second vessel's labels an analyst's."""
    from features.config import DEFAULT
    from training.scenarios import combined_tables, ScenarioInput
    _, grid, v = combined_tables([ScenarioInput((Path(small_world["positions"]),), Path(small_world["labels"]))],
                                 gaz, DEFAULT)
    v = v[v["y"].notna()].reset_index(drop=True).assign(y=lambda d: d["y"].astype(int))
    vessels = np.sort(v["mmsi"].unique())
    return v.assign(analyst=v["mmsi"].isin(vessels[::2])), grid


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_variant_scores_explains_and_round_trips(labelled, gaz, variant, tmp_path):
    from training.model import MODEL_FEATURES, VoyageRiskModel
    from training.reasons import explain
    from training.train import TrainConfig
    data, grid = labelled
    model = fit_model(data, np.ones(len(data), bool), TrainConfig().params, grid, gaz, 0, variant=variant)
    risk = model.risk(data)
    assert risk.shape == (len(data),) and np.isfinite(risk).all() and 0 <= risk.min() < risk.max() <= 1
    assert model.augmented == (variant == "augmented")
    assert model.gain().shape == (len(MODEL_FEATURES),) and model.gain().sum() > 0
    c = model.contributions(data.head(50))
    assert list(c.columns) == MODEL_FEATURES  # an augmented model's three copies read as one feature
    assert any(explain(model, data.head(50)))
    # Saved and loaded as MLflow stores it: the same risks.
    art = model.save_artifacts(tmp_path)
    back = VoyageRiskModel()
    back.load_context(type("Ctx", (), {"artifacts": art})())
    assert back.augmented == model.augmented
    np.testing.assert_allclose(back.risk(data), risk, rtol=0, atol=1e-12)


def test_the_simulated_variant_is_the_model_without_verdicts(labelled, gaz):
    """Its rows, and their weights, are those of a run whose verdicts were never given."""
    from training.train import TrainConfig
    data, grid = labelled
    with_verdicts = fit_model(data, np.ones(len(data), bool), TrainConfig().params, grid, gaz, 0, variant="simulated")
    without = data[~data["analyst"]].reset_index(drop=True).assign(analyst=False)
    alone = fit_model(without, np.ones(len(without), bool), TrainConfig().params, grid, gaz, 0, variant="pooled")
    np.testing.assert_allclose(with_verdicts.risk(data), alone.risk(data), rtol=0, atol=1e-12)
    w = sample_weights(data)
    a = data["analyst"].to_numpy()
    assert w[a & (data["y"] == 1).to_numpy()].mean() == pytest.approx(1.0)  # verdicts weigh 1 on average


def test_the_comparison_keeps_the_best_and_says_why_when_it_cannot(labelled, gaz):
    from training.adaptation import MAX_SIMULATED_LOSS, MIN_VESSELS, cross_validate
    from training.train import TrainConfig
    data, grid = labelled
    choice = cross_validate(data, TrainConfig().params, 0, grid, gaz)
    assert set(choice.scores) == set(choice.simulated_scores) == set(VARIANTS) and choice.folds == 3
    # The best on the verdicts among those that still rank the simulator's held-out voyages.
    sim = choice.simulated_scores
    keeps = [k for k in VARIANTS if sim[k] >= sim["simulated"] - MAX_SIMULATED_LOSS]
    assert choice.variant == max(keeps, key=lambda k: (round(choice.scores[k], 6), -list(VARIANTS).index(k)))
    few = data[~data["analyst"] | data["mmsi"].isin(data.loc[data["analyst"], "mmsi"].unique()[:2])]
    got = cross_validate(few.reset_index(drop=True), TrainConfig().params, 0, grid, gaz)
    assert got.variant == "pooled" and not got.scores and f"fewer than {MIN_VESSELS}" in got.reason
    none = cross_validate(data.assign(analyst=False), TrainConfig().params, 0, grid, gaz)
    assert none.variant == "pooled" and none.reason == "no analyst labels"
