"""Leakage audit of a simulated scenario: can anything but behaviour tell the classes apart?

Outside its planted events a suspicious ship must look like a benign trader of the same kind.
The audit takes the ordinary (benign-labelled) voyages of Russian and Iranian cargo ships and
tankers and asks a LightGBM classifier, cross-validated by vessel, to tell those of suspicious
ships from those of benign ones: on every voyage feature, and on what the destination text
alone says (the model's text features and how the text is written: known port or not, the
reading, length, codes, padding). Then it asks the same of single vessel attributes. A ROC-AUC
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


def text_inputs(voyages: pd.DataFrame) -> pd.DataFrame:
    """What the destination text alone says about each voyage, as numbers: the model's text
    features, whether the text names a known port and which way it reads, and how it is
    written (length, digits as in a code, AIS padding, a route)."""
    from features.families.declared import TEXT_FEATURES
    text = voyages["declared_destination"].astype("object").where(voyages["declared_destination"].notna(), "")
    text = text.astype(str)
    reading = voyages["declared_reading"].astype(str)
    out = {f: voyages[f].astype(float) for f in TEXT_FEATURES}
    out.update({"text_missing": (text == "").astype(float), "text_length": text.str.len().astype(float),
                "text_digits": text.str.contains(r"\d").astype(float), "text_padding": text.str.contains("@").astype(float),
                "text_route": text.str.contains(r"[-/>]").astype(float),
                "names_known_port": voyages["declared_ports"].notna().astype(float),
                **{f"reads_{r.replace(' ', '_')}": (reading == r).astype(float) for r in ("reached", "other port", "unknown")}})
    return pd.DataFrame(out, index=voyages.index)


def _oof_auc(X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> float:
    """ROC-AUC of a LightGBM's out-of-fold scores, folds grouped by vessel."""
    import lightgbm as lgb
    from sklearn.model_selection import GroupKFold
    oof = np.zeros(len(X))
    for tr, te in GroupKFold(n_splits=folds).split(X, y, groups):
        clf = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=20,
                                 subsample=0.8, subsample_freq=1, colsample_bytree=0.8, n_jobs=1, verbose=-1,
                                 random_state=seed)
        clf.fit(X.iloc[tr], y[tr])
        oof[te] = clf.predict_proba(X.iloc[te])[:, 1]
    return _auc(y, oof)


def audit(labelled: pd.DataFrame, vessels: pd.DataFrame, features: list[str], folds: int = 5, seed: int = 0) -> dict:
    """ROC-AUCs: ``voyage_classifier`` (every feature given), ``text_classifier`` (the text
    alone, :func:`text_inputs`; when the table has the text columns), both out-of-fold and
    grouped by vessel, and one per attribute."""
    v = ordinary_voyages(labelled, vessels)
    y, groups = v["susp_vessel"].to_numpy(), v["mmsi"].to_numpy()
    out = {"voyages": int(len(v)), "suspicious_vessels": int(v.loc[y == 1, "mmsi"].nunique()),
           "benign_vessels": int(v.loc[y == 0, "mmsi"].nunique()),
           "voyage_classifier": _oof_auc(v[features].astype(float), y, groups, folds, seed)}
    if {"declared_destination", "declared_reading", "declared_ports"} <= set(v.columns):
        out["text_classifier"] = _oof_auc(text_inputs(v), y, groups, folds, seed)
    ves = vessels[vessels["mmsi"].isin(groups)]
    yv = (ves["profile"] != "benign").astype(int).to_numpy()
    for a in ATTRIBUTES:
        out[a] = _auc(yv, ves[a].astype(float).to_numpy())
    return out
