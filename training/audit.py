"""Leakage audit of a simulated scenario: can anything but behaviour tell the classes apart?

Outside its planted events a suspicious ship must look like a benign trader of the same kind.
The audit takes the ordinary (benign-labelled) voyages of Russian and Iranian cargo ships and
tankers and asks a LightGBM classifier, cross-validated by vessel, to tell those of suspicious
ships from those of benign ones; then it asks the same of single vessel attributes. A ROC-AUC
near 0.5 means nothing but behaviour separates them; the test and the benchmark fail above
:data:`MAX_AUC`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

#: Largest ROC-AUC the audit tolerates (the issue's bar).
MAX_AUC = 0.60
#: Ship attributes that must not separate the classes on their own.
ATTRIBUTES = ("report_interval_s", "service_speed_kn", "length", "built")
_KINDS = ("70", "80")  # AIS ship types of general cargo and tankers


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    a = float(roc_auc_score(y, score))
    return max(a, 1.0 - a)


def ordinary_voyages(labelled: pd.DataFrame, vessels: pd.DataFrame) -> pd.DataFrame:
    """Benign-labelled voyages of RU/IR cargo ships and tankers, with ``susp_vessel`` (0/1)."""
    ves = vessels[vessels["flag"].isin(["RU", "IR"]) & vessels["ship_type"].astype(str).isin(_KINDS)]
    profile = ves.set_index("mmsi")["profile"]
    v = labelled[(labelled["y"] == 0) & labelled["mmsi"].isin(profile.index)].copy()
    v["susp_vessel"] = (v["mmsi"].map(profile) != "benign").astype(int)
    return v.reset_index(drop=True)


def audit(labelled: pd.DataFrame, vessels: pd.DataFrame, features: list[str], folds: int = 5, seed: int = 0) -> dict:
    """ROC-AUCs: ``voyage_classifier`` (out-of-fold, grouped by vessel) and one per attribute."""
    import lightgbm as lgb
    from sklearn.model_selection import GroupKFold
    v = ordinary_voyages(labelled, vessels)
    y, groups = v["susp_vessel"].to_numpy(), v["mmsi"].to_numpy()
    X = v[features].astype(float)
    oof = np.zeros(len(v))
    for tr, te in GroupKFold(n_splits=folds).split(X, y, groups):
        clf = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=20,
                                 subsample=0.8, subsample_freq=1, colsample_bytree=0.8, n_jobs=1, verbose=-1,
                                 random_state=seed)
        clf.fit(X.iloc[tr], y[tr])
        oof[te] = clf.predict_proba(X.iloc[te])[:, 1]
    out = {"voyages": int(len(v)), "suspicious_vessels": int(v.loc[y == 1, "mmsi"].nunique()),
           "benign_vessels": int(v.loc[y == 0, "mmsi"].nunique()), "voyage_classifier": _auc(y, oof)}
    ves = vessels[vessels["mmsi"].isin(groups)]
    yv = (ves["profile"] != "benign").astype(int).to_numpy()
    for a in ATTRIBUTES:
        out[a] = _auc(yv, ves[a].astype(float).to_numpy())
    return out
