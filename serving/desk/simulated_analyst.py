"""An analyst who answers from the simulator's truth: ``darkvoyage demo --review`` works one round
of the desk's review queue with it, so the loop from verdicts to a retrained model can be seen
without a person at the desk. Each verdict judges the vessel's riskiest voyage (what the queue
ranks it by) with that voyage's true label."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from training.labels import assign_labels, read_labels

from .alerts import packaged_gazetteer, sensitive_ids
from .analysts import add_analyst, analyst_of_key
from .models import Alert, Analyst, Vessel, Voyage
from .queries import record_verdict
from .review import review_queue
from .store import Store

NAME = "simulated analyst (answers from the simulator's truth)"


def review_round(store: Store, labels_path, reviews: int) -> pd.DataFrame:
    """Judge ``reviews`` vessels in the order of the review queue (asked again as verdicts empty
    it) from the true labels in ``labels_path`` (a simulated scenario's ``labels.csv``); one
    row per verdict: mmsi, voyage_id, verdict, pick and why (the queue's kind of pick, reason)."""
    with Session(store.engine) as s:
        analyst = s.scalar(select(Analyst).where(Analyst.name == NAME))  # a second demo run: the same analyst
    analyst = analyst or analyst_of_key(store, add_analyst(store, NAME))
    labels, ports = read_labels(labels_path), set(sensitive_ids(packaged_gazetteer()))
    done: list[dict] = []
    skipped: set[int] = set()  # no voyage the truth labels: the queue keeps them, the loop must not
    while len(done) < reviews:
        queue = [q for q in review_queue(store, ports) if q["mmsi"] not in skipped][:reviews - len(done)]
        if not queue:
            break
        done += _judge(store, analyst, queue, labels, skipped)
    return pd.DataFrame(done, columns=["mmsi", "voyage_id", "verdict", "pick", "why"])


def _judge(store: Store, analyst, queue: list[dict], labels: pd.DataFrame, skipped: set[int]) -> list[dict]:
    """Each queued vessel's riskiest voyage judged by its true label, on the open alert of that
    voyage when there is one, else on the vessel (a ``review`` alert)."""
    mmsis = [q["mmsi"] for q in queue]
    with Session(store.engine) as s:
        worst = pd.DataFrame(s.execute(select(Vessel.mmsi, Voyage.voyage_id, Voyage.start, Voyage.end)
                                       .join(Voyage, (Voyage.voyage_id == Vessel.voyage_id) & (Voyage.run_id == Vessel.run_id))
                                       .where(Vessel.mmsi.in_(mmsis))).all(), columns=["mmsi", "voyage_id", "start", "end"])
        alert_of = dict(s.execute(select(Alert.voyage_id, Alert.id).where(Alert.mmsi.in_(mmsis), Alert.status == "new")
                                  .order_by(Alert.id)).all())
    worst = worst.assign(start=pd.to_datetime(worst["start"], utc=True), end=pd.to_datetime(worst["end"], utc=True))
    truth = assign_labels(worst, labels).drop_duplicates("mmsi").set_index("mmsi")
    out = []
    for q in queue:
        mmsi = q["mmsi"]
        if mmsi not in truth.index or pd.isna(truth.at[mmsi, "y"]):
            skipped.add(mmsi)
            continue
        verdict = "suspicious" if truth.at[mmsi, "y"] == 1 else "benign"
        voyage = truth.at[mmsi, "voyage_id"]
        record_verdict(store, analyst, alert_of.get(voyage), verdict, "answered from the simulator's truth",
                       mmsi=None if voyage in alert_of else mmsi)
        out.append({"mmsi": mmsi, "voyage_id": voyage, "verdict": verdict, "pick": q["pick"], "why": q["why"]})
    return out
