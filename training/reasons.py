"""Plain-language reasons for a score: the features that raised a voyage's risk (LightGBM SHAP
contributions, :meth:`training.model.VoyageRiskModel.contributions_array`), each read as one
sentence with its values and port names. One function, :func:`explain`, for the CLI, the
watchlist, the REST service and the desk.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from features.gazetteer import Gazetteer
from features.geo import haversine_km

from .model import SAILING_SPEED, VoyageRiskModel

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


def reason_text(feature: str, row: pd.Series, gaz: Gazetteer | None) -> str | None:
    """One sentence, with values and port names, for a feature that raised the risk; None when
    what the feature measured is no claim (a dark call feature of a gap in which no call fits).

    >>> row = pd.Series({"dc_port": None, "dc_port_spare_h": float("nan"), "dc_best_spare_h": -3.0})
    >>> reason_text("dc_best_spare_h", row, None) is None
    True
    >>> reason_text("dc_best_spare_h", pd.Series({"dc_port": "IRBAM", "dc_port_spare_h": 5.2}), None)
    'a call at a port fits in the gap (5 h to spare)'
    >>> reason_text("n_tracks_mmsi", pd.Series({"n_tracks_mmsi": 1.0, "concurrent_tracks": 0.0}), None) is None
    True
    """
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
        spare = _f(row, "dc_port_spare_h")
        if pd.isna(row.get("dc_port")) or not np.isfinite(spare):
            return None  # no call fits: a gap short of one is no claim to make
        return f"a call at {_port(gaz, row.get('dc_port'))} fits in the gap ({spare:.0f} h to spare)"
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
        if not _f(row, "n_tracks_mmsi") > 1:
            return None  # one ship on its MMSI is every ordinary ship ("1 ships transmit this MMSI, 0 at the same time")
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
    if feature in ("duration_h", "distance_km"):
        return _length_text(row, gaz)
    if feature in SAILING_SPEED:  # models trained before 0.5.0 learnt the speeds
        return f"averaged {_f(row, 'mean_speed_kn'):.1f} kn"
    pretty = re.sub(r"_", " ", feature)
    return f"{pretty} = {_f(row, feature):.3g}"


def _length_text(row, gaz: Gazetteer | None) -> str:
    """How long a voyage was (``duration_h`` and ``distance_km``: one sentence), read against
    its ports: a length alone ("sailed 1605 km") says nothing an analyst can check; out from a
    port and back, or the detour over the straight line between two, does.

    >>> from features.gazetteer import load_gazetteer
    >>> g = load_gazetteer()
    >>> row = pd.Series({"distance_km": 1605.0, "duration_h": 148.0, "origin_port": "IRBAZ", "destination_port": "IRBAZ"})
    >>> _length_text(row, g)
    'sailed 1605 km in 148 h (5.9 kn on average), out from Bandar-e Anzali and back'
    >>> _length_text(pd.Series({**row, "origin_port": "RUASF"}), g)
    'sailed 1605 km in 148 h (5.9 kn on average) from Astrakhan to Bandar-e Anzali, 1.6x the straight line (995 km)'
    >>> _length_text(pd.Series({"duration_h": 148.0}), None)
    'voyage took 148 h'
    """
    km, h = _f(row, "distance_km"), _f(row, "duration_h")
    if not np.isfinite(km):  # a feature row sent to /score_voyages without its distance
        return f"voyage took {h:.0f} h"
    text = f"sailed {km:.0f} km in {h:.0f} h ({km / h / 1.852:.1f} kn on average)" if h > 0 else f"sailed {km:.0f} km"
    o, d = row.get("origin_port"), row.get("destination_port")
    if gaz is None or not all(isinstance(p, str) and p in gaz.ids for p in (o, d)):
        return text
    if o == d:
        return f"{text}, out from {_port(gaz, o)} and back"
    i, j = (int(np.flatnonzero(gaz.ids == p)[0]) for p in (o, d))
    straight = float(haversine_km(gaz.lat[i], gaz.lon[i], gaz.lat[j], gaz.lon[j]))
    return f"{text} from {_port(gaz, o)} to {_port(gaz, d)}, {km / straight:.1f}x the straight line ({straight:.0f} km)"


def _family(feature: str) -> str:
    """Reasons of one family read as one sentence; show each family once."""
    if feature.startswith(("lg_", "n_gaps", "max_gap", "total_dark", "dark_share")):
        return "gap"
    if feature in SAILING_SPEED:
        return "speed"  # one sentence ("averaged ... kn") for all three
    if feature in ("duration_h", "distance_km"):
        return "length"  # one sentence for both
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
            text = reason_text(name, row, model.gaz)
            if text is None:
                continue
            seen.add(_family(name))
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
