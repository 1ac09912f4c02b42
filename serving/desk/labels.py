"""The store's verdicts as analyst labels (contract section 2): one row per alerted voyage, its
latest verdict (``suspicious``, ``benign``, or ``uncertain``: kept, never trained on), with who
gave it and when, so ``darkvoyage train`` can learn from the desk."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import Alert, Analyst, Event, Verdict, Voyage
from .store import Store

LABEL_COLUMNS = ["mmsi", "start", "end", "label", "behaviour", "source", "note", "analyst", "reviewed_at", "confidence"]


def verdict_labels(store: Store) -> pd.DataFrame:
    """Per alerted voyage (or event, for an alert without a voyage), the latest verdict on it.
    The interval is the voyage's as the run that raised the alert scored it (the event's
    otherwise); a vessel only ever dismissed gives one label over its window instead
    (:func:`_dismissed_windows`); ``behaviour`` the alert's kind; ``confidence`` empty (an
    analyst's verdict as given)."""
    with Session(store.engine) as s:
        rows = s.execute(
            select(Verdict.id, Verdict.verdict, Verdict.note, Verdict.created_at, Analyst.name, Alert.mmsi, Alert.kind,
                   Alert.voyage_id, Alert.event_id, Alert.run_id)
            .join(Analyst, Verdict.analyst_id == Analyst.id).join(Alert, Verdict.alert_id == Alert.id)
            .order_by(Verdict.id)).all()
        v = pd.DataFrame(rows, columns=["vid", "verdict", "note", "at", "analyst", "mmsi", "kind", "voyage_id", "event_id",
                                        "run_id"])
        if v.empty:
            return pd.DataFrame(columns=LABEL_COLUMNS)
        voy = pd.DataFrame(s.execute(select(Voyage.voyage_id, Voyage.run_id, Voyage.start, Voyage.end).where(
            Voyage.voyage_id.in_(v["voyage_id"].dropna().unique().tolist()))).all(),
            columns=["voyage_id", "run_id", "start", "end"])
        ev = pd.DataFrame(s.execute(select(Event.event_id, Event.start, Event.end).where(
            Event.event_id.in_(v["event_id"].dropna().unique().tolist()))).all(), columns=["event_id", "e_start", "e_end"])
    # The voyage as the run that raised the alert scored it (what the analyst judged), else its latest.
    same = v.merge(voy, on=["voyage_id", "run_id"], how="left")
    latest = voy.sort_values("run_id").drop_duplicates("voyage_id", keep="last").drop(columns="run_id")
    v = same.merge(latest, on="voyage_id", how="left", suffixes=("", "_latest"))
    v["start"], v["end"] = v["start"].fillna(v["start_latest"]), v["end"].fillna(v["end_latest"])
    v = v.drop(columns=["start_latest", "end_latest"]).merge(ev.drop_duplicates("event_id"), on="event_id", how="left")
    v["start"], v["end"] = v["start"].fillna(v["e_start"]), v["end"].fillna(v["e_end"])
    v = v.dropna(subset=["start", "end"])
    v["key"] = v["voyage_id"].fillna(v["event_id"])
    v = v.sort_values("vid").drop_duplicates("key", keep="last")  # the latest verdict on each voyage
    v = _dismissed_windows(store, v)
    stamp = lambda c: pd.to_datetime(c, utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    return pd.DataFrame({"mmsi": v["mmsi"].astype("int64"), "start": stamp(v["start"]), "end": stamp(v["end"]),
                         "label": v["verdict"], "behaviour": v["kind"], "source": "analyst", "note": v["note"],
                         "analyst": v["analyst"], "reviewed_at": stamp(v["at"]), "confidence": ""})[LABEL_COLUMNS] \
        .sort_values(["mmsi", "start"], kind="stable").reset_index(drop=True)


def _dismissed_windows(store: Store, v: pd.DataFrame) -> pd.DataFrame:
    """A vessel whose every verdict is ``benign`` was looked at in full (the desk shows its whole
    window) and dismissed: its label spans the window the latest dismissing run scored, first
    voyage start to last voyage end, so each of its voyages there counts as benign. A vessel
    with a ``suspicious`` or ``uncertain`` verdict keeps one label per judged voyage (what was
    confirmed is that voyage; a window would outvote it)."""
    dismissed = v.groupby("mmsi")["verdict"].transform(lambda x: (x == "benign").all())
    if not dismissed.any():
        return v
    last = v[dismissed].sort_values("vid").drop_duplicates("mmsi", keep="last")
    with Session(store.engine) as s:
        span = pd.DataFrame(s.execute(
            select(Voyage.mmsi, Voyage.run_id, func.min(Voyage.start), func.max(Voyage.end))
            .where(Voyage.mmsi.in_(last["mmsi"].astype(int).tolist()), Voyage.run_id.in_(last["run_id"].tolist()))
            .group_by(Voyage.mmsi, Voyage.run_id)).all(), columns=["mmsi", "run_id", "w_start", "w_end"])
    last = last.merge(span, on=["mmsi", "run_id"], how="left")
    last["start"] = pd.to_datetime(last["w_start"], utc=True).fillna(pd.to_datetime(last["start"], utc=True))
    last["end"] = pd.to_datetime(last["w_end"], utc=True).fillna(pd.to_datetime(last["end"], utc=True))
    return pd.concat([v[~dismissed], last.drop(columns=["w_start", "w_end"])], ignore_index=True)


def training_pair(store: Store, folder) -> tuple:
    """(positions file, label file) in ``folder``: the verdict labels of :func:`verdict_labels`
    (uncertain ones too: training leaves them out) and the stored positions of their vessels
    from a day before the first labelled interval to a day after the last, so ``train`` takes
    the store as one more scenario."""
    from pathlib import Path
    from .store import StoreError, read_positions
    labels = verdict_labels(store)
    if labels.empty:
        raise StoreError(f"--store {store.url}: no verdicts to learn from yet (the desk records them)")
    day = 86_400
    first = int(pd.to_datetime(labels["start"], utc=True).min().timestamp() // day) - 1
    last = int(pd.to_datetime(labels["end"], utc=True).max().timestamp() // day) + 1
    with Session(store.engine) as s:
        rows = read_positions(s, first, last, sorted(set(labels["mmsi"].astype(int).tolist())))
    folder = Path(folder)
    pos, lab = folder / "store_positions.parquet", folder / "store_labels.csv"
    from features.io import arrow_table
    import pyarrow.parquet as pq
    pq.write_table(arrow_table(rows.drop(columns=[c for c in ("_file", "_line") if c in rows.columns])), pos)
    labels.to_csv(lab, index=False)
    return pos, lab
