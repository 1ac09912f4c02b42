"""The voyage-risk model as it is logged, registered and served.

One object holds everything scoring needs, so training and serving cannot drift apart: the
LightGBM booster, its Platt calibration, the feature list and feature-code version, the
reference coverage grid and the gazetteer. An MLflow ``PythonModel``: ``mlflow.pyfunc.load_model``
of ``models:/voyage-risk@champion`` gives calibrated probabilities, ``unwrap_python_model()`` this object.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import lightgbm as lgb
import mlflow.pyfunc
import numpy as np
import pandas as pd

from features.config import FEATURE_CODE_VERSION
from features.coverage import CoverageGrid
from features.gazetteer import Gazetteer, load_gazetteer
from features.catalogue import FEATURE_NAMES
from features.families.declared import TEXT_FEATURES

#: Risk levels on the calibrated probability: "high" when suspicious is more likely than not,
#: "medium" from five times the simulated base rate (~2 % of voyages).
DEFAULT_LEVELS = {"high": 0.5, "medium": 0.1}
#: The level of a vessel with no voyage to score (one position, or never out of port).
INSUFFICIENT = "insufficient data"
#: Text is supporting evidence: the declared destination may change the odds the rest of the
#: voyage gives by at most this factor, either way (a bound on the raw log-odds, applied before
#: calibration in training and serving alike). Twice or half the odds: a stale or changed entry
#: is common in real feeds, and a model that leans on how text is typed loses its ranking when
#: a feed carries no destination (measured: drop:destination moved reference AP by 0.034
#: unbounded, ``benchmarks/bench_feeds.py``).
TEXT_ODDS_FACTOR = 2.0
#: How far below the ``high`` cut-off a voyage whose only evidence is its declared destination
#: is held (:meth:`VoyageRiskModel.risk_and_text_only`): it ranks among the mediums, never high.
TEXT_ONLY_MARGIN = 0.01
#: Features recomputed from the model's own coverage grid, whoever built the voyage table.
GRID_FEATURES = ("lg_cell_gap_rate", "lg_cell_interval_s")

#: Voyage-table columns the model does not learn from: how densely the feed reported. A count
#: of fixes moves with a provider's thinning and with reception, not with what the ship did
#: (the gap features say what a silence means); on a feed thinned to every 2nd fix the golden
#: model lost 0.04-0.07 AP through it. Kept in the table for reading.
FEED_DENSITY = ("n_positions",)
#: The model's inputs, in order.
MODEL_FEATURES = [f for f in FEATURE_NAMES if f not in FEED_DENSITY]


@functools.lru_cache(maxsize=16)
def _positions(columns: tuple[str, ...], features: tuple[str, ...]) -> np.ndarray:
    """Where each feature sits among a table's columns (-1: absent), read-only. Cached by
    layout: every voyage table has the same columns, and building the lookup of a new frame's
    column index costs ~50 us, which a /score request paid on every call."""
    at = pd.Index(columns).get_indexer(features)
    at.setflags(write=False)
    return at


def _text_bounded(booster: lgb.Booster, X: np.ndarray, text_cols: list[int],
                  factor: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(raw, bare) log-odds of ``booster`` on ``X`` (rows x features): ``bare`` with the text
    columns unknown, ``raw`` the full score clipped to ``bare +- log(factor)`` (not clipped
    when ``factor`` is None). Only rows that carry text are scored twice; no rows, no scores."""
    if not len(X):
        return np.zeros(0), np.zeros(0)
    raw = booster.predict(X, raw_score=True, num_threads=1)
    bare = raw.copy()
    rows = np.flatnonzero(np.isfinite(X[:, text_cols]).any(axis=1)) if text_cols else []
    if len(rows):
        Xb = X[rows]
        Xb[:, text_cols] = np.nan
        bare[rows] = booster.predict(Xb, raw_score=True, num_threads=1)
        if factor is not None:
            c = float(np.log(factor))
            raw[rows] = np.clip(raw[rows], bare[rows] - c, bare[rows] + c)
    return raw, bare


class VoyageRiskModel(mlflow.pyfunc.PythonModel):
    def __init__(self, booster: lgb.Booster | None = None, calib: tuple[float, float] = (1.0, 0.0),
                 features: list[str] | None = None, grid: CoverageGrid | None = None,
                 gaz: Gazetteer | None = None, levels: dict | None = None,
                 text_odds_factor: float | None = TEXT_ODDS_FACTOR):
        self.booster = booster
        self.calib = tuple(float(x) for x in calib)
        self.features = list(features or MODEL_FEATURES)
        self.grid = grid
        self.gaz = gaz
        self.levels = dict(levels or DEFAULT_LEVELS)
        self.feature_code_version = FEATURE_CODE_VERSION
        self.text_odds_factor = text_odds_factor

    # -- persistence ----------------------------------------------------------------------
    def save_artifacts(self, folder: Path) -> dict[str, str]:
        """Write the parts MLflow stores beside the pickled class; returns ``artifacts``."""
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / "booster.txt"))
        (folder / "model.json").write_text(json.dumps({
            "calibration": self.calib, "features": self.features, "levels": self.levels,
            "feature_code_version": self.feature_code_version, "text_odds_factor": self.text_odds_factor}, indent=1))
        self.grid.save(folder / "coverage_grid.parquet")
        self.gaz.ports.to_csv(folder / "gazetteer.csv", index=False)
        return {"booster": str(folder / "booster.txt"), "meta": str(folder / "model.json"),
                "coverage_grid": str(folder / "coverage_grid.parquet"), "gazetteer": str(folder / "gazetteer.csv")}

    def load_context(self, context):
        a = context.artifacts
        self.booster = lgb.Booster(model_file=a["booster"])
        meta = json.loads(Path(a["meta"]).read_text())
        self.calib = tuple(meta["calibration"])
        self.features = meta["features"]
        self.levels = meta["levels"]
        self.feature_code_version = meta["feature_code_version"]
        self.text_odds_factor = meta.get("text_odds_factor")  # models before 0.5.0: text unbounded
        self.grid = CoverageGrid.load(a["coverage_grid"])
        gz = pd.read_csv(a["gazetteer"])
        self.gaz = load_gazetteer(a["gazetteer"]) if "sensitive" in gz else None

    def __getstate__(self):
        # The booster, grid and gazetteer travel as artifacts, not in the pickle.
        state = dict(self.__dict__)
        state.update(booster=None, grid=None, gaz=None)
        return state

    # -- scoring --------------------------------------------------------------------------
    def matrix(self, voyages: pd.DataFrame) -> pd.DataFrame:
        """The model's input matrix: its features in order, grid features from its own grid."""
        return pd.DataFrame(self.matrix_array(voyages), columns=self.features, index=voyages.index)

    def matrix_array(self, voyages: pd.DataFrame, grid_rows: np.ndarray | None = None) -> np.ndarray:
        """:meth:`matrix` as a float64 array (rows x features): what LightGBM is given either
        way, without building a DataFrame per call (the service scores one track at a time).
        ``grid_rows`` (bool per row): the rows whose grid features come from the model's grid
        (default all, when the table says where the longest gap started); the others keep
        the values they carry."""
        # tolist: iterating pandas' Arrow-backed column index name by name costs ~35 us.
        at = _positions(tuple(voyages.columns.tolist()), tuple(self.features))
        if (at < 0).any():
            missing = [f for f, k in zip(self.features, at) if k < 0]
            raise ValueError(f"voyage table lacks feature column(s): {', '.join(missing[:5])}")
        # By position: selecting ~60 columns by name costs ~0.15 ms a call, this ~0.03 ms.
        X = np.array(voyages.take(at, axis=1).to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64, order="C")
        if self.grid is not None and "lg_start_lat" in voyages.columns and "lg_start_lon" in voyages.columns:
            rows = np.ones(len(X), bool) if grid_rows is None else np.asarray(grid_rows, bool)
            lat = voyages["lg_start_lat"].to_numpy(float)
            lon = voyages["lg_start_lon"].to_numpy(float)
            ok = rows & np.isfinite(lat) & np.isfinite(lon)
            rate = np.full(len(X), np.nan)
            cell = np.full(len(X), np.nan)
            if ok.any():
                r, c, _ = self.grid.lookup(lat[ok], lon[ok])
                rate[ok], cell[ok] = r, c
            for name, vals in zip(GRID_FEATURES, (rate, cell)):
                if name in self.features:
                    X[rows, self.features.index(name)] = vals[rows]
        return X

    def raw(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Raw log-odds of a :meth:`matrix_array`, the text's part bounded (:meth:`raw_and_bare`)."""
        return self.raw_and_bare(np.asarray(X, dtype=np.float64))[0]

    def raw_and_bare(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw, bare) log-odds per row: ``bare`` scores the voyage with its text features
        unknown (NaN), ``raw`` is the full score held within ``log(text_odds_factor)`` of it.
        Rows without text: both the same, one prediction. Training calibrates on these raw
        scores of each fold's booster (:func:`training.train.fit_model`), so what is
        calibrated is what is served."""
        text = [k for k, f in enumerate(self.features) if f in TEXT_FEATURES]
        return _text_bounded(self.booster, X, text, self.text_odds_factor)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        a, b = self.calib
        return 1.0 / (1.0 + np.exp(-(a * raw + b)))

    def risk(self, voyages: pd.DataFrame, X: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probability that each voyage is suspicious, in [0, 1], text held to its
        place (:meth:`risk_and_text_only`). ``X``: the voyages' :meth:`matrix_array`, when the
        caller has it already."""
        if len(voyages) == 0:
            return np.zeros(0)
        return self.risk_and_text_only(self.matrix_array(voyages) if X is None else X)[0]

    def risk_and_text_only(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(risk, text_only) per row of a :meth:`matrix_array`. Text is supporting evidence:
        it moves the odds at most ``text_odds_factor`` either way (:meth:`raw_and_bare`), and a
        voyage that only its declared destination makes risky (scored with its text unknown,
        it is below the ``medium`` cut-off) never reads ``high``: its risk is held
        :data:`TEXT_ONLY_MARGIN` below that cut-off; ``text_only`` marks those voyages."""
        raw, bare = self.raw_and_bare(X)
        r, r0 = self.calibrate(raw), self.calibrate(bare)
        only = (r >= self.levels["medium"]) & (r0 < self.levels["medium"])
        return np.where(only, np.minimum(r, self.levels["high"] - TEXT_ONLY_MARGIN), r), only

    def level(self, risk) -> np.ndarray:
        """``high``/``medium``/``low`` by the model's cut-offs; no risk (NaN) is no evidence,
        not low risk: ``insufficient data``."""
        r = np.asarray(risk, float)
        return np.where(np.isnan(r), INSUFFICIENT,
                        np.where(r >= self.levels["high"], "high", np.where(r >= self.levels["medium"], "medium", "low")))

    def contributions(self, voyages: pd.DataFrame) -> pd.DataFrame:
        """Per-feature SHAP contributions (log-odds) from LightGBM, one row per voyage."""
        return pd.DataFrame(self.contributions_array(self.matrix_array(voyages)), columns=self.features,
                            index=voyages.index)

    def contributions_array(self, X: np.ndarray) -> np.ndarray:
        """:meth:`contributions` of a :meth:`matrix_array`, rows x features (no bias column)."""
        return self.booster.predict(X, pred_contrib=True, num_threads=1)[:, :-1]

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        r = self.risk(model_input)
        return pd.DataFrame({"risk": r, "level": self.level(r)}, index=model_input.index)


# --- plain-language reasons ------------------------------------------------------------------

#: Plain words for a voyage cut by the edges of the data. Shown on every such voyage, whether
#: or not the model weighed it: the evidence of an open voyage is incomplete.
OPEN_TEXT = {"open_start": "voyage already under way when the data starts",
             "open_end": "voyage still open at the end of the data"}


def _port(gaz: Gazetteer | None, port_id) -> str:
    if gaz is None or port_id is None or (isinstance(port_id, float) and np.isnan(port_id)) or pd.isna(port_id):
        return "a port"
    hit = np.flatnonzero(gaz.ids == port_id)
    return gaz.short_name(int(hit[0])) if len(hit) else str(port_id)


def _declared(row, gaz: Gazetteer | None) -> str:
    """The destination text as typed, and the port(s) it was read as when they are not
    spelled out: ``'AKTAO' (read as Aktau)``."""
    text = str(row.get("declared_destination"))
    ids = row.get("declared_ports")
    names = [_port(gaz, p) for p in str(ids).split("|")] if isinstance(ids, str) and ids else []
    if not names or " ".join(text.upper().split()) == " / ".join(names).upper():
        return f"'{text}'"
    return f"'{text}' (read as {' / '.join(names)})"


def _f(row, name, default=np.nan):
    v = row.get(name, default)
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def reason_text(feature: str, row: pd.Series, gaz: Gazetteer | None) -> str:
    """One sentence, with values and port names, for a feature that raised the risk."""
    gap = _f(row, "max_gap_h")
    if feature in ("max_gap_h", "total_dark_h", "dark_share", "n_gaps_1h", "n_gaps_6h", "n_gaps_12h", "n_gaps_30h",
                   "lg_start_port_km", "lg_end_port_km", "lg_start_sensitive_km", "lg_end_sensitive_km",
                   "lg_vs_usual", "lg_heading_off_sensitive_deg", "lg_displacement_km", "lg_implied_speed_kn",
                   "lg_cell_gap_rate", "lg_cell_interval_s"):
        s_km, p_km = _f(row, "lg_start_sensitive_km"), _f(row, "lg_start_port_km")
        if np.isfinite(s_km) and s_km <= 60:
            where = f", starting {s_km:.0f} km from {_port(gaz, row.get('lg_start_sensitive_port'))}"
        elif np.isfinite(p_km):
            where = f", starting {p_km:.0f} km from {_port(gaz, row.get('lg_start_port'))}"
        else:
            where = ""
        if feature == "lg_cell_gap_rate" and np.isfinite(_f(row, "lg_cell_gap_rate")):
            return f"AIS off {gap:.0f} h where reception is normally good ({_f(row, 'lg_cell_gap_rate'):.0%} of intervals there are gaps)"
        return f"AIS off {gap:.0f} h{where}"
    if feature.startswith("dc_"):
        return (f"a call at {_port(gaz, row.get('dc_port'))} fits in the gap "
                f"({_f(row, 'dc_port_spare_h'):.0f} h to spare)")
    if feature.startswith("oab"):
        return (f"out-and-back from {_port(gaz, row.get('origin_port')) if pd.notna(row.get('origin_port')) else 'sea'}, "
                f"{_f(row, 'oab_dark_share'):.0%} of it dark, {_f(row, 'oab_max_excursion_km'):.0f} km out")
    if feature == "dark_idle_h":
        return f"{_f(row, 'dark_idle_h'):.0f} h of a dark stretch not needed to sail on: spent somewhere while dark"
    if feature == "dark_loiter_h":
        return f"loitered {_f(row, 'dark_loiter_h'):.0f} h while dark (ended near where it went dark)"
    if feature in ("loiter_h", "loiter_events"):
        return f"loitered {_f(row, 'loiter_h'):.0f} h at sea away from ports"
    if feature == "near_sensitive_h":
        return f"{_f(row, 'near_sensitive_h'):.0f} h near a sensitive port without calling there"
    if feature in ("concurrent_tracks", "n_tracks_mmsi"):
        return f"{_f(row, 'n_tracks_mmsi'):.0f} ships transmit this MMSI, {_f(row, 'concurrent_tracks'):.0f} at the same time"
    if feature == "dest_declared_is_origin":
        return (f"declared destination {_declared(row, gaz)} names the port it left, not "
                f"{_port(gaz, row.get('destination_port'))} where it arrived")
    if feature == "dest_declared_mismatch":
        return f"declared destination {_declared(row, gaz)} but arrived at {_port(gaz, row.get('destination_port'))}"
    if feature.startswith("trip_"):  # trip_end_sensitive is where the trip ends, not the text
        end = _port(gaz, row.get("trip_end_port"))
        return f"the trip ends at {end}, a sensitive port" if feature == "trip_end_sensitive" else \
            f"declared destination {_declared(row, gaz)} on a trip to {end}"
    if feature in ("dest_visit_dark_h", "dest_anchorage"):
        return f"AIS off {_f(row, 'dest_visit_dark_h'):.0f} h during the stay at {_port(gaz, row.get('destination_port'))}"
    if feature == "origin_visit_dark_h":
        return f"AIS off {_f(row, 'origin_visit_dark_h'):.0f} h during the stay at {_port(gaz, row.get('origin_port'))}"
    if feature in OPEN_TEXT:
        return OPEN_TEXT[feature]
    if feature == "starts_at_sea_km":
        return f"track appears {_f(row, 'starts_at_sea_km'):.0f} km out at sea"
    if feature == "ends_at_sea_km":
        return f"track ends {_f(row, 'ends_at_sea_km'):.0f} km out at sea"
    if feature in ("origin_sensitive", "dest_sensitive"):
        port = row.get("destination_port") if feature == "dest_sensitive" else row.get("origin_port")
        return f"{'calls at' if feature == 'dest_sensitive' else 'sails from'} {_port(gaz, port)}, a sensitive port"
    if feature == "duration_h":
        return f"voyage took {_f(row, 'duration_h'):.0f} h"
    if feature == "distance_km":
        return f"sailed {_f(row, 'distance_km'):.0f} km"
    if feature in ("mean_speed_kn", "mean_sog_kn", "max_sog_kn"):
        return f"averaged {_f(row, 'mean_speed_kn'):.1f} kn"
    pretty = re.sub(r"_", " ", feature)
    return f"{pretty} = {_f(row, feature):.3g}"


def _family(feature: str) -> str:
    """Reasons of one family read as one sentence; show each family once."""
    if feature.startswith(("lg_", "n_gaps", "max_gap", "total_dark", "dark_share")):
        return "gap"
    if feature in ("mean_speed_kn", "mean_sog_kn", "max_sog_kn"):
        return "speed"  # one sentence ("averaged ... kn") for all three
    for prefix in ("dc_", "oab", "dest_declared", "trip_", "concurrent", "n_tracks"):
        if feature.startswith(prefix):
            return prefix
    return feature


#: The caveat on a voyage whose risk rests on its declared destination alone.
TEXT_ONLY_TEXT = "only the declared destination points to risk: held below high (text is supporting evidence)"


def explain(model: VoyageRiskModel, voyages: pd.DataFrame, top: int = 3,
            X: np.ndarray | None = None, text_only: np.ndarray | None = None) -> list[list[dict]]:
    """Top reasons per voyage: [{feature, value, contribution, text}], strongest first. Only
    features that raised the risk count; reasons that read the same are merged. A voyage cut by
    the edges of the data (``open_start``/``open_end`` = 1) always carries that caveat: among the
    top reasons when it raised the risk, else after them, with its SHAP contribution (log-odds; 0
    for a model that does not use the feature). One function
    for the CLI, the watchlist and the REST service. ``X``: the voyages' :meth:`~VoyageRiskModel.matrix_array`,
    when the caller has it already; ``text_only``: :meth:`~VoyageRiskModel.risk_and_text_only`'s
    flags, which add the caveat :data:`TEXT_ONLY_TEXT` (computed when not given)."""
    if len(voyages) == 0:
        return []
    X = model.matrix_array(voyages) if X is None else X
    text_only = model.risk_and_text_only(X)[1] if text_only is None else text_only
    contrib = model.contributions_array(X)
    col = {f: k for k, f in enumerate(model.features)}
    open_flags = {f: voyages[f].to_numpy(float) if f in voyages else np.zeros(len(voyages)) for f in OPEN_TEXT}
    out, columns = [], {}
    for i in range(len(voyages)):
        c = contrib[i]
        order = np.argsort(-c)
        row = _Row(voyages, i, columns)
        reasons, seen = [], set()
        for k in order:
            if c[k] <= 0 or len(reasons) >= top:
                break
            name = model.features[k]
            val = X[i, k]
            # Absence (0 or unknown) may lower a score's uncertainty, but it is no reason.
            if pd.isna(val) or val == 0 or _family(name) in seen:
                continue
            seen.add(_family(name))
            text = reason_text(name, row, model.gaz)
            reasons.append({"feature": name, "value": None if pd.isna(val) else float(val),
                            "contribution": round(float(c[k]), 4), "text": text})
        if text_only[i]:
            reasons.append({"feature": "text_only", "value": 1.0, "contribution": 0.0, "text": TEXT_ONLY_TEXT})
        for name, text in OPEN_TEXT.items():
            if open_flags[name][i] == 1 and name not in seen:
                reasons.append({"feature": name, "value": 1.0,
                                "contribution": round(float(c[col[name]]), 4) if name in col else 0.0, "text": text})
        out.append(reasons)
    return out


class _Row:
    """Row ``i`` of a voyage table, read a cell at a time (``row.get(name)``) as the reason
    texts need: building a whole row (``iterrows``) turns every column to objects first.
    ``columns`` holds the columns read so far as arrays, shared by the rows of one table."""

    __slots__ = ("frame", "i", "columns")

    def __init__(self, frame: pd.DataFrame, i: int, columns: dict):
        self.frame, self.i, self.columns = frame, i, columns

    def get(self, name, default=None):
        col = self.columns.get(name)
        if col is None:
            if name not in self.frame.columns:
                return default
            col = self.columns[name] = self.frame[name].to_numpy()
        return col[self.i]


def reasons_line(reasons: list[dict]) -> str:
    return "; ".join(r["text"] for r in reasons)
