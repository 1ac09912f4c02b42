"""Loading a registered model, with one clear error when there is none. What serving needs,
and no more: the model (:mod:`training.model`) and its explanations (:mod:`training.reasons`),
not the training code (the promotion gate is :mod:`training.gate`)."""

from __future__ import annotations

import logging

import numpy as np

from features.config import FEATURE_CODE_VERSION
from features.errors import DarkvoyageError

from .model import VoyageRiskModel
from .tracking import MODEL_NAME, tracking_uri

DEFAULT_MODEL_URI = f"models:/{MODEL_NAME}@champion"

log = logging.getLogger(__name__)


class ModelUnavailable(DarkvoyageError):
    """No model at the URI, or one that cannot be loaded; the message says which and why."""


def load_model(uri: str | None = None) -> tuple[VoyageRiskModel, dict]:
    """(model, info) for ``uri`` (default ``models:/voyage-risk@champion``) from the tracking
    store (``MLFLOW_TRACKING_URI``, else ``mlruns/`` at the project root)."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    uri = uri or DEFAULT_MODEL_URI
    store = tracking_uri()
    mlflow.set_tracking_uri(store)
    try:
        model = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    except (MlflowException, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelUnavailable(f"no model at {uri} in {store} ({first[:160]}); train one with "
                               "`darkvoyage train --positions P --labels L` (or run `make demo`)") from None
    if model.feature_code_version != FEATURE_CODE_VERSION:  # scores, but with features it did not learn
        log.warning("%s was trained on feature code %s, this code computes %s: its scores may be off; retrain "
                    "(darkvoyage train) or point at a newer version", uri, model.feature_code_version,
                    FEATURE_CODE_VERSION)
    info = {"name": MODEL_NAME, "uri": uri, "version": None, "alias": None, "run_id": None, "metrics": {},
            "features": model.features, "feature_code_version": model.feature_code_version, "levels": model.levels}
    if uri.startswith("models:/"):
        client = MlflowClient()
        name, _, ref = uri[len("models:/"):].partition("@")
        try:
            mv = client.get_model_version_by_alias(name, ref) if ref else None
            if mv is None and "/" in uri[len("models:/"):]:
                name, ver = uri[len("models:/"):].split("/", 1)
                mv = client.get_model_version(name, ver)
            if mv is not None:
                run = client.get_run(mv.run_id)
                info.update(name=name, version=str(mv.version), alias=ref or None, run_id=mv.run_id,
                            metrics={k: v for k, v in run.data.metrics.items() if np.isfinite(v)})
        except MlflowException:
            pass
    return model, info


def model_label(info: dict) -> str:
    """The model as pages and cards name it (``info`` as :func:`load_model` returns it): the
    registered name and version, or a model folder's, which has no version.

    >>> model_label({"name": "voyage-risk", "version": "3"}), model_label({"name": "voyage-risk", "version": None})
    ('voyage-risk v3', 'voyage-risk (from a model folder, unregistered)')
    >>> model_label({})
    'no model loaded'
    """
    if not info.get("name"):
        return "no model loaded"
    return f"{info['name']} v{info['version']}" if info.get("version") else f"{info['name']} (from a model folder, unregistered)"
