"""The analyst reference set (issue #26, item 3): a fixed share of the vessels analysts labelled,
chosen by a hash of the MMSI, held out of training, logged as an MLflow dataset with its digest,
and scored on every run (AP, precision at k, ROC-AUC). Once it holds ``GATE_MIN_VESSELS``
vessels the gate never promotes a candidate that ranks it worse than the champion does.

Analysts' labels are the only ground truth a deployment gets; the simulated reference set says
how a model does on behaviour, this one how it does on the traffic the desk judges.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd

from features.config import FEATURE_CODE_VERSION

from .labels import from_analyst

#: Share of analyst-labelled vessels held out (by MMSI hash: a vessel stays in or out from run
#: to run as verdicts accumulate). A third: enough to judge on, most verdicts still taught.
HOLDOUT_SHARE = 1 / 3
#: The gate reads the analyst set from this many vessels on (fewer: too noisy to veto a model).
GATE_MIN_VESSELS = 30


def held_out(mmsi) -> np.ndarray:
    """A fixed share of MMSIs, the same on every run (Knuth's multiplicative hash).

    >>> held_out(np.array([273000001, 273000002, 273000003])).tolist()
    [True, False, True]
    """
    h = (np.asarray(mmsi, np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)
    return h.astype(float) / 2**32 < HOLDOUT_SHARE


def analyst_rows(data: pd.DataFrame, tables) -> np.ndarray:
    """Labelled voyages whose label an analyst gave (``source`` analyst, or left out: the
    contract's default), by each voyage's scenario and label index."""
    out = np.zeros(len(data), bool)
    for i, t in enumerate(tables):
        mine = (data["scenario"] == i).to_numpy() & (data["label_idx"].to_numpy() >= 0)
        out[np.flatnonzero(mine)] = from_analyst(t.labels["source"])[data.loc[mine, "label_idx"].to_numpy(np.int64)]
    return out


def split(data: pd.DataFrame, tables) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training data, analyst reference voyages), both with ``analyst`` (bool: an analyst gave
    the label): the held-out analysts' vessels leave training."""
    data = data.assign(analyst=analyst_rows(data, tables))
    hold = data["analyst"].to_numpy() & held_out(data["mmsi"].to_numpy(np.int64))
    return data[~hold].reset_index(drop=True), data[hold].reset_index(drop=True)


def evaluate(ref: pd.DataFrame, p: np.ndarray) -> dict:
    """AP, precision at k, ROC-AUC (and the rest of the model metrics) on the analyst set."""
    from .evaluation import model_metrics
    y = ref["y"].to_numpy(int)
    m = model_metrics(y, p, "analyst_reference") if 0 < y.sum() < len(y) else {}
    return {**m, "analyst_reference_vessels": float(ref["mmsi"].nunique()), "analyst_reference_voyages": float(len(ref))}


def log_input(ref: pd.DataFrame) -> str:
    """Record the set on the active run as a dataset (context ``analyst_reference``); its digest."""
    import mlflow
    from .reference import table_digest
    cols = [c for c in ("voyage_id", "mmsi", "start", "end", "y", "behaviour") if c in ref]
    frame = ref[cols].reset_index(drop=True)
    digest = table_digest(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mlflow.log_input(mlflow.data.from_pandas(frame, targets="y", name="analyst-reference", digest=digest),
                         context="analyst_reference")
    mlflow.set_tag("darkvoyage.analyst_reference_digest", digest)
    return digest


def gate_view(ref: pd.DataFrame) -> SimpleNamespace:
    """The analyst set as the gate reads a reference set (voyages, feature-code version)."""
    return SimpleNamespace(voyages=ref, feature_code_version=FEATURE_CODE_VERSION)
