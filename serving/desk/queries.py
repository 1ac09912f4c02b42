"""What the desk reads from the store and the one thing it writes (a verdict): plain functions
from a :class:`~serving.desk.store.Store` to JSON-ready dicts, used by the REST routes
(:mod:`serving.desk.api`) and later by the desk's pages."""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from datetime import datetime, UTC

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from .config import DEFAULT_DESK
from .models import ALERT_STATUS, REVIEW_KIND, Alert, Analyst, Event, IdentityLink, Run, Vessel, Verdict, Voyage
from .store import Store, StoreError, read_positions

#: Verdict -> the alert's status it sets.
STATUS_OF = {"suspicious": "confirmed", "benign": "dismissed", "uncertain": "in_review"}


class NotFound(StoreError):
    """No such alert or vessel in the store; ``field`` names the request field that asked."""

    def __init__(self, message: str, field: str = "mmsi"):
        super().__init__(message)
        self.field = field


def _row(obj, skip=("data", "key_hash")) -> dict:
    out = {}
    for c in obj.__table__.columns:
        if c.name in skip:
            continue
        v = getattr(obj, c.name)
        if isinstance(v, datetime):
            v = (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat()
        elif isinstance(v, float) and not math.isfinite(v):
            v = None
        out[c.name] = v
    return out


def list_alerts(store: Store, status: str | None = None, since: datetime | None = None,
                limit: int = 1000) -> list[dict]:
    """Alerts, the latest run's first and in each run the riskiest vessel first (its alerts
    together, in the order the run made them): all, or those of one ``status`` and/or created
    at or after ``since``. (Newest first put a run's last, lowest-risk alerts at the top.)"""
    q = select(Alert).order_by(Alert.run_id.desc(), Alert.risk.desc().nulls_last(), Alert.mmsi, Alert.id).limit(limit)
    if status is not None:
        if status not in ALERT_STATUS:
            raise StoreError(f"status {status!r}: expected one of {', '.join(ALERT_STATUS)}")
        q = q.where(Alert.status == status)
    if since is not None:
        q = q.where(Alert.created_at >= since)
    with Session(store.engine) as s:
        return [_row(a) for a in s.scalars(q).all()]


def vessel(store: Store, mmsi: int) -> dict:
    """One vessel: its standing, the voyages of the run that last scored it, its events,
    alerts (each with its verdicts), identity links, the model version that scored it and its
    track."""
    return vessel_and_rows(store, mmsi)[0]


def vessel_and_rows(store: Store, mmsi: int) -> tuple[dict, pd.DataFrame]:
    """:func:`vessel` and the stored rows its track is drawn from (read once; the card wants both)."""
    with Session(store.engine) as s:
        v = s.get(Vessel, mmsi)
        if v is None:
            raise NotFound(f"vessel {mmsi}: not in the store")
        run = s.get(Run, v.run_id)
        alerts = s.scalars(select(Alert).where(Alert.mmsi == mmsi).order_by(Alert.id.desc())).all()
        verdicts = s.execute(select(Verdict, Analyst.name).join(Analyst, Verdict.analyst_id == Analyst.id)
                             .where(Verdict.alert_id.in_([a.id for a in alerts])).order_by(Verdict.id)).all()
        by_alert: dict[int, list] = {}
        for vd, name in verdicts:
            by_alert.setdefault(vd.alert_id, []).append({**_row(vd), "analyst": name})
        links = s.scalars(select(IdentityLink).where((IdentityLink.from_mmsi == mmsi) | (IdentityLink.to_mmsi == mmsi))
                          .order_by(IdentityLink.id.desc())).all()
        rows = vessel_rows(s, mmsi)
        return {**_row(v), "model_version": run.model_version if run else None,
                "voyages": [_row(x) for x in s.scalars(select(Voyage).where(
                    Voyage.mmsi == mmsi, Voyage.run_id == v.run_id).order_by(Voyage.start)).all()],
                # Two-vessel events are kept under the lower MMSI: the partner's page shows them too.
                "events": [_row(x) for x in s.scalars(select(Event).where(
                    (Event.mmsi == mmsi) | (Event.partner_mmsi == mmsi)).order_by(Event.start)).all()],
                "alerts": [{**_row(a), "verdicts": by_alert.get(a.id, [])} for a in alerts],
                "identities": _latest_links(links), "track": track(rows)}, rows


def search(store: Store, text: str, limit: int = 50) -> list[dict]:
    """Vessels whose MMSI or IMO is ``text``, or whose name contains it (any case), riskiest
    first."""
    text = text.strip()
    if not text:
        return []
    cond = Vessel.name.ilike(f"%{text.replace('%', '').replace('_', '')}%") | (Vessel.imo == text)
    if re.fullmatch(r"[0-9]{1,9}", text):  # ASCII digits: '²'.isdigit() is True, int('²') fails
        cond = cond | (Vessel.mmsi == int(text))
    q = select(Vessel).where(cond).order_by(Vessel.risk.desc().nulls_last(), Vessel.mmsi).limit(limit)
    with Session(store.engine) as s:
        return [_row(v) for v in s.scalars(q).all()]


def vessel_rows(s: Session, mmsi: int, days: int = DEFAULT_DESK.lookback_days) -> pd.DataFrame:
    """The vessel's stored rows over its last ``days`` days (to the day its last voyage ends, not
    the store's newest), in time order; what its map and its card's provenance read."""
    last = s.scalar(select(Voyage.end).where(Voyage.mmsi == mmsi).order_by(Voyage.end.desc()).limit(1))
    if last is None:
        return pd.DataFrame()
    end = pd.Timestamp(last)
    day = int((end if end.tzinfo else end.tz_localize("UTC")).value // 86_400_000_000_000)  # UTC day
    rows = read_positions(s, day - days + 1, day, [mmsi])
    return rows.sort_values("timestamp", kind="stable").reset_index(drop=True) if len(rows) else rows


def track(rows: pd.DataFrame, max_points: int = 2000) -> list[list]:
    """A vessel's rows as [lon, lat, time] (every n-th kept when there are more than
    ``max_points``): what the desk's map draws."""
    if not len(rows):
        return []
    mine = rows[rows["lat"].notna()]
    mine = mine.iloc[::max(1, int(np.ceil(len(mine) / max_points)))]
    stamps = pd.to_datetime(mine["timestamp"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return [[round(float(a), 5), round(float(b), 5), t] for a, b, t in zip(mine["lon"], mine["lat"], stamps)]


def _latest_links(links) -> list[dict]:
    """Each (old, new) link once, as the latest run found it (every run that rescores a vessel
    records its links again)."""
    seen, out = set(), []
    for x in links:  # newest first
        if (x.from_mmsi, x.to_mmsi) not in seen:
            seen.add((x.from_mmsi, x.to_mmsi))
            out.append(_row(x))
    return out


def record_verdict(store: Store, analyst: Analyst, alert_id: int | None, verdict: str, note: str = "",
                   mmsi: int | None = None) -> dict:
    """The analyst's verdict on an alert; the alert's status follows it (:data:`STATUS_OF`).
    With ``mmsi`` instead of an alert: a verdict on a vessel no run alerted on (the review
    queue lists such vessels), carried by a ``review`` alert on its standing, the riskiest
    voyage as the last run scored it (one per vessel, reused). Returns the alert as it now
    stands, with the verdict."""
    if verdict not in STATUS_OF:
        raise StoreError(f"verdict {verdict!r}: expected one of {', '.join(STATUS_OF)}")
    # A row of its own: no need for the run lock a watch run holds for its whole length (on
    # SQLite a running watch still holds the one write lock: that wait ends in StoreBusy).
    with _verdict_transaction(store) as s:
        alert = s.get(Alert, alert_id) if alert_id is not None else _review_alert(s, mmsi)
        if alert is None:
            raise NotFound(f"alert {alert_id}: not in the store", "alert_id")
        vd = Verdict(alert_id=alert.id, analyst_id=analyst.id, verdict=verdict, note=note,
                     created_at=datetime.now(UTC))
        s.add(vd)
        alert.status = STATUS_OF[verdict]
        s.flush()
        return {**_row(alert), "verdict": {**_row(vd), "analyst": analyst.name}}


def _review_alert(s: Session, mmsi: int | None) -> Alert:
    """The vessel's ``review`` alert, made from its standing when it has none yet."""
    v = s.get(Vessel, mmsi) if mmsi is not None else None
    if v is None:
        raise NotFound(f"vessel {mmsi}: not in the store")
    alert = s.scalars(select(Alert).where(Alert.mmsi == mmsi, Alert.kind == REVIEW_KIND).order_by(Alert.id.desc())).first()
    if alert is None:
        alert = Alert(run_id=v.run_id, kind=REVIEW_KIND, mmsi=v.mmsi, name=v.name, flag=v.flag, risk=v.risk,
                      previous_risk=None, level=v.level, reasons=v.reasons, voyage_id=v.voyage_id, event_id=None,
                      first_seen=v.first_seen, created_at=datetime.now(UTC), status="new")
        s.add(alert)
        s.flush()
    return alert


@contextmanager
def _verdict_transaction(store: Store):
    from sqlalchemy.exc import OperationalError
    from .store import StoreBusy
    try:
        with Session(store.engine) as s, s.begin():
            yield s
    except OperationalError as e:
        if "locked" in str(e.orig):
            raise StoreBusy(f"--store {store.url}: a watch run is writing; try the verdict again in a minute") from None
        raise
