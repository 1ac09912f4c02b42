"""Where runs and models live: the tracking store, experiments, the registered model's name,
and the one exception training raises for unusable inputs. Small on purpose, so the registry,
the reference set and serving reach the store without importing the training code."""

from __future__ import annotations

from pathlib import Path

from features.config import PROJECT_ROOT
from features.errors import DarkvoyageError
from features.settings import settings

MODEL_NAME = "voyage-risk"
DEFAULT_EXPERIMENT = "voyage-risk"


class TrainingError(DarkvoyageError):
    """Training cannot go ahead with these inputs (too few labels, say)."""


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the local store under ``mlruns/`` at the project root."""
    uri = settings().mlflow_tracking_uri
    if uri:
        return uri
    store = PROJECT_ROOT / "mlruns"
    store.mkdir(exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def create_experiment(experiment: str) -> str:
    """The id of ``experiment`` in the current store, created (artifacts beside a SQLite
    store) if missing."""
    import mlflow
    uri = mlflow.get_tracking_uri()
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is not None:
        return exp.experiment_id
    artifacts = None
    if uri.startswith("sqlite:///") and not settings().mlflow_tracking_uri:
        artifacts = (PROJECT_ROOT / "mlruns" / "artifacts").as_uri()
    elif uri.startswith("sqlite:///"):
        artifacts = (Path(uri[len("sqlite:///"):]).parent / "artifacts").as_uri()
    return mlflow.create_experiment(experiment, artifact_location=artifacts)
