"""Analyst label files (contract section 2) and how voyages take their labels.

CSV with ``mmsi, start, end, label`` (+ optional ``behaviour, source, note, analyst,
reviewed_at, confidence``); ``label`` is ``suspicious``/``benign`` or 1/0, or ``uncertain``: an
analyst looked and could not say, kept in the file and never trained on (read, counted in the
log, left out here). A voyage takes the label of the interval it overlaps most; voyages that
overlap no interval are unlabelled and not used for training.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import DarkvoyageError

log = logging.getLogger(__name__)

REQUIRED = ("mmsi", "start", "end", "label")
_VALUES = {"suspicious": 1, "benign": 0, "1": 1, "0": 0, "true": 1, "false": 0, "uncertain": -1}


class LabelError(DarkvoyageError):
    """A label file that cannot be used; the message names the file, row and problem."""


def read_labels(path: str | Path) -> pd.DataFrame:
    """Validated labels: mmsi int64, start/end UTC, y (0/1), behaviour, source, note."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: no such label file")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise LabelError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    df.columns = [c.strip().lower() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise LabelError(f"{path}: label file lacks column(s) {', '.join(missing)} (needs {', '.join(REQUIRED)})")
    if df.empty:
        raise LabelError(f"{path}: no labels in the file")
    line = np.arange(2, len(df) + 2)
    mmsi = pd.to_numeric(df["mmsi"].str.strip(), errors="coerce")
    bad = mmsi.isna() | (mmsi % 1 != 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise LabelError(f"{path}: line {line[i]}: mmsi {df['mmsi'].iloc[i]!r} is not a number")
    start = pd.to_datetime(df["start"].str.strip(), utc=True, format="ISO8601", errors="coerce")
    end = pd.to_datetime(df["end"].str.strip(), utc=True, format="ISO8601", errors="coerce")
    for name, col in (("start", start), ("end", end)):
        if col.isna().any():
            i = int(np.flatnonzero(col.isna().to_numpy())[0])
            raise LabelError(f"{path}: line {line[i]}: {name} {df[name].iloc[i]!r} is not an ISO 8601 time")
    if (end < start).any():
        i = int(np.flatnonzero((end < start).to_numpy())[0])
        raise LabelError(f"{path}: line {line[i]}: end {df['end'].iloc[i]} is before start {df['start'].iloc[i]}")
    lab = df["label"].str.strip().str.lower().map(_VALUES)
    if lab.isna().any():
        i = int(np.flatnonzero(lab.isna().to_numpy())[0])
        raise LabelError(f"{path}: line {line[i]}: label {df['label'].iloc[i]!r} is not suspicious/benign, 1/0 or "
                         "uncertain")
    out = pd.DataFrame({"mmsi": mmsi.astype(np.int64), "start": start.dt.as_unit("us"), "end": end.dt.as_unit("us"),
                        "y": lab.astype(np.int64)})
    for c in ("behaviour", "source", "note"):
        out[c] = df[c].replace("", None) if c in df.columns else None
    unsure = out["y"] < 0
    if unsure.all():
        raise LabelError(f"{path}: every label is uncertain: nothing to train on")
    if unsure.any():
        log.info("%s: %d uncertain label(s) kept in the file, not trained on", path, int(unsure.sum()))
    return out[~unsure].reset_index(drop=True)


def from_analyst(source) -> np.ndarray:
    """Per label: given by an analyst (``source`` analyst, or left out: the contract's default).

    >>> from_analyst(["simulated", None, "analyst"]).tolist()
    [False, True, True]
    """
    s = pd.Series(source, dtype=object)
    return (s.isna() | (s == "analyst")).to_numpy(bool)


def assign_labels(voyages: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Voyages with ``y`` (0/1, NaN when no interval overlaps), ``behaviour`` and ``label_idx``.

    A voyage takes the label of the interval it overlaps most (ties: the earlier interval).
    """
    v = voyages[["voyage_id", "mmsi", "start", "end"]].reset_index().rename(columns={"index": "_row"})
    lab = labels.reset_index().rename(columns={"index": "label_idx", "start": "l_start", "end": "l_end"})
    m = v.merge(lab, on="mmsi", how="inner")
    ov = (np.minimum(m["end"], m["l_end"]) - np.maximum(m["start"], m["l_start"])).dt.total_seconds()
    # Zero-length voyages (or labels) still overlap when one lies inside the other.
    inside = (m["start"] >= m["l_start"]) & (m["end"] <= m["l_end"])
    m = m.assign(overlap=np.where(inside, np.maximum(ov, 0.0) + 1e-9, ov))
    m = m[m["overlap"] > 0].sort_values(["_row", "overlap", "label_idx"], ascending=[True, False, True])
    best = m.drop_duplicates("_row")
    out = voyages.copy()
    out["y"] = np.nan
    out["behaviour"] = None
    out["label_idx"] = -1
    out.loc[best["_row"].to_numpy(), "y"] = best["y"].to_numpy(float)
    out.loc[best["_row"].to_numpy(), "behaviour"] = best["behaviour"].to_numpy()
    out.loc[best["_row"].to_numpy(), "label_idx"] = best["label_idx"].to_numpy()
    return out


def unmatched_labels(labelled: pd.DataFrame, labels: pd.DataFrame) -> int:
    """How many label intervals no voyage took."""
    return int(len(labels) - labelled.loc[labelled["label_idx"] >= 0, "label_idx"].nunique())
