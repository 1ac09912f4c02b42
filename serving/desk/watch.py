"""``darkvoyage watch``: add the day's files to the store, rescore the vessels they touch, record
alerts, and say what is new since the last run.

One run is one transaction (:func:`serving.desk.store.writing`): the files, the rescored
voyages, the new events and identity links, each vessel's standing and the alerts land
together or not at all. A run rescores the vessels with new rows over the last
``lookback_days`` of stored positions (every vessel's rows in that window are read, so the
context the features take from other vessels, such as neighbours still reporting during a
gap, is the one a full rescoring would see); the other vessels keep their standing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, UTC

import numpy as np
import pandas as pd
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from features.config import DEFAULT, Config
from features.events import detect_events
from features.pipeline import RowCounts, jumps_of
from features.readers import ReadResult, unparseable_frame
from serving.scoring import score_raw, watchlist

from .alerts import (ALERT_COLUMNS, STANDING, alert_rows, alerted_ids, new_events, new_on_list, risk_up,
                     sensitive_ids, standings)
from .config import DEFAULT_DESK, DeskConfig
from .ingest import Added, ingest
from .models import Alert, Event, IdentityLink, PositionBlock, Run, Vessel, Voyage
from .store import Store, read_positions, writing

EVENT_FIELDS = ("event_id", "kind", "mmsi", "track_id", "partner_mmsi", "start", "end", "hours", "lat", "lon", "end_lat",
                "end_lon", "port_id", "km_to_port", "identity_changed", "detail")


@dataclass
class WatchResult:
    alerts: pd.DataFrame                  # ALERT_COLUMNS, this run's
    counts: RowCounts                     # the new rows' accounting
    rejected: pd.DataFrame                # the new rows that could not be kept, with why
    figures: dict = field(default_factory=dict)
    outside_share: float = 0.0            # of the new fixes, farther than dark_call_region_km from every port


def watch(paths, store: Store, model, info: dict, cfg: Config = DEFAULT, desk: DeskConfig = DEFAULT_DESK,
          stage=lambda s: None) -> WatchResult:
    """Add ``paths`` to ``store`` and rescore what they touch with ``model`` (``info``: what
    :func:`training.registry.load_model` says of it)."""
    now = datetime.now(UTC)
    with writing(store, desk.lock_wait_s) as s:
        run = Run(started_at=now, model_name=str(info.get("name") or ""), model_version=str(info.get("version") or ""),
                  model_uri=str(info.get("uri") or ""), files_added=0, vessels_scored=0, alerts=0,
                  reference_ap=(info.get("metrics") or {}).get("reference_average_precision"))
        s.add(run)
        s.flush()
        stage("adding files")
        added = ingest(s, run, paths, cfg)
        run.files_added = len(added.added)
        alerts = pd.DataFrame(columns=ALERT_COLUMNS)
        if added.touched:
            alerts = _rescore(s, run, added, model, cfg, desk, stage)
        run.vessels_scored, run.alerts = len(added.touched), len(alerts)
        run.finished_at = datetime.now(UTC)
        stage("writing to the store")
    rejected = pd.concat(added.rejected, ignore_index=True) if added.rejected else pd.DataFrame()
    figures = {"files added": len(added.added), "files already in the store": len(added.skipped),
               "vessels rescored": len(added.touched), "run": run.id,
               **{f"alerts: {k}": int((alerts["kind"] == k).sum()) for k in ("new_on_list", "risk_up", "new_event")}}
    fixes = np.concatenate(added.sample) if added.sample else np.zeros((0, 2))
    outside = model.gaz.share_outside(fixes[:, 0], fixes[:, 1], cfg.dark_call_region_km)
    return WatchResult(alerts, added.counts, rejected, figures, outside)


def _rescore(s: Session, run: Run, added: Added, model, cfg: Config, desk: DeskConfig, stage) -> pd.DataFrame:
    stage("rescoring")
    # The window ends at the store's newest day, not this run's: a late file (a backfilled day)
    # is scored in the current context, and its vessels' standings stay current.
    last = max(added.last_day, s.scalar(select(func.max(PositionBlock.day))) or added.last_day)
    rows = read_positions(s, last - desk.lookback_days + 1, last)
    scored = score_raw(ReadResult(rows, unparseable_frame("store", [], [], [])), model, cfg, stage)
    touched = pd.Series(sorted(added.touched), dtype="int64")
    now = standings(watchlist(scored.voyages, no_voyage=scored.no_voyage))
    now = now[now["mmsi"].isin(touched)].merge(_identity(scored.voyages), on="mmsi", how="left").reset_index(drop=True)
    stage("events")
    tr = scored.tracks
    events = detect_events(tr.positions, tr.visits, model.gaz, cfg, model.grid, jumps=jumps_of(tr),
                           since=added.first_time)
    events = events[events["mmsi"].isin(touched)]
    before = _stored_standing(s)
    after = pd.concat([before[~before["mmsi"].isin(now["mmsi"])], now[["mmsi", "risk"]]], ignore_index=True)
    stored = pd.DataFrame(s.execute(select(Event.event_id, Event.mmsi, Event.kind, Event.port_id, Event.detail)
                                    .where(Event.mmsi.in_(touched.tolist()))).all(),
                          columns=["event_id", "mmsi", "kind", "port_id", "detail"])
    known, sensitive = set(stored["event_id"]), sensitive_ids(model.gaz)
    # Only vessels the run scored: one with new rows outside the window keeps its standing, no alert.
    rules = [new_on_list(before, after, now, desk), risk_up(before, now, desk),
             new_events(events, alerted_ids(stored, desk, sensitive), now, desk, sensitive)]
    alerts = alert_rows(rules, now, before)
    _write(s, run, scored, now, events, known, added, touched)
    return _store_alerts(s, run, alerts)


#: What feeds send for "no IMO" (ITU-R M.1371: 0 is "not available") or an empty call sign.
NOT_AVAILABLE = ("", "0")


def _identity(voyages: pd.DataFrame) -> pd.DataFrame:
    """Per MMSI, the IMO and call sign of its latest voyage that has them (what the desk's
    search finds a vessel by); an IMO of 0 is none.

    >>> v = pd.DataFrame({"mmsi": [1, 1, 2], "end": [1, 2, 1], "imo": ["9596985", "0", "0"], "callsign": ["UBX", None, "4JQ"]})
    >>> _identity(v).sort_values("mmsi").to_dict("list")
    {'mmsi': [1, 2], 'imo': ['9596985', nan], 'callsign': ['UBX', '4JQ']}
    """
    out = pd.DataFrame({"mmsi": pd.Series(dtype="int64")})
    for c in ("imo", "callsign"):
        if c in voyages:
            known = voyages[c].notna() & ~voyages[c].astype(str).isin(NOT_AVAILABLE)
            last = voyages[known].sort_values("end", kind="stable").drop_duplicates("mmsi", keep="last")
            text = last[c].astype(str).str[:20]  # free text from the feed, kept to the column's 20 characters
            out = out.merge(pd.DataFrame({"mmsi": last["mmsi"].to_numpy(), c: text.to_numpy()}), on="mmsi", how="outer")
        else:
            out[c] = pd.Series(dtype=object)
    return out


def _stored_standing(s: Session) -> pd.DataFrame:
    got = s.execute(select(Vessel.mmsi, Vessel.risk)).all()
    return pd.DataFrame(got, columns=["mmsi", "risk"]).astype({"mmsi": "int64", "risk": "float64"})


def _write(s: Session, run: Run, scored, now: pd.DataFrame, events: pd.DataFrame, known: set[str], added: Added,
           touched: pd.Series) -> None:
    v = scored.voyages
    v = v[v["mmsi"].isin(touched) & (pd.to_datetime(v["end"], utc=True) >= added.first_time)]
    cols = {"mmsi": "mmsi", "track_id": "track_id", "voyage_id": "voyage_id", "start": "start", "end": "end",
            "origin_port": "origin_port", "destination_port": "destination_port", "risk": "risk", "level": "level",
            "reasons": "reasons_text", "partial": "partial"}
    voy = pd.DataFrame({k: v[c].to_numpy() if c in v else "" for k, c in cols.items()}).assign(run_id=run.id)
    _insert(s, Voyage, voy)
    new = ~events["event_id"].isin(known)
    _insert(s, Event, events.loc[new, list(EVENT_FIELDS)].assign(run_id=run.id))
    _extend_events(s, events[~new])
    links = scored.identities
    if links is not None and len(links):
        links = links[links["to_mmsi"].isin(touched) | links["from_mmsi"].isin(touched)]
        _insert(s, IdentityLink, links[["from_mmsi", "to_mmsi", "level", "confidence", "evidence"]].assign(run_id=run.id))
    have = set(s.scalars(select(Vessel.mmsi).where(Vessel.mmsi.in_(touched.tolist()))).all())
    fresh = now[~now["mmsi"].isin(have)].assign(first_seen=run.started_at, run_id=run.id)
    cols = STANDING + ["imo", "callsign"]
    _insert(s, Vessel, fresh[cols + ["first_seen", "run_id"]])
    old = now[now["mmsi"].isin(have)].assign(run_id=run.id)
    if len(old):
        s.execute(update(Vessel), _records(old[cols + ["run_id"]]))


def _extend_events(s: Session, events: pd.DataFrame) -> None:
    """Events found before and still going on (a stay, a loitering, a shared MMSI): their end,
    hours, end point and detail move on; the id (kind, vessel, start) stays."""
    if not len(events):
        return
    from sqlalchemy import bindparam
    stmt = update(Event).where(Event.event_id == bindparam("b_id")).values(
        end=bindparam("b_end"), hours=bindparam("b_hours"), end_lat=bindparam("b_end_lat"),
        end_lon=bindparam("b_end_lon"), detail=bindparam("b_detail"))
    rows = _records(events[["event_id", "end", "hours", "end_lat", "end_lon", "detail"]])
    s.connection().execute(stmt, [{"b_id": r["event_id"], **{f"b_{k}": r[k] for k in ("end", "hours", "end_lat", "end_lon",
                                                                                       "detail")}} for r in rows])


def _store_alerts(s: Session, run: Run, alerts: pd.DataFrame) -> pd.DataFrame:
    """Insert the alerts; returns them with their ids and the vessels' first sighting."""
    if not len(alerts):
        return pd.DataFrame(columns=ALERT_COLUMNS)
    seen = dict(s.execute(select(Vessel.mmsi, Vessel.first_seen).where(
        Vessel.mmsi.in_(alerts["mmsi"].astype("int64").unique().tolist()))).all())
    a = alerts.assign(run_id=run.id, created_at=run.started_at, status="new",
                      first_seen=alerts["mmsi"].map(seen))
    fields = ["run_id", "kind", "mmsi", "name", "flag", "risk", "previous_risk", "level", "reasons", "voyage_id",
              "event_id", "first_seen", "created_at", "status"]
    ids = s.scalars(insert(Alert).returning(Alert.id, sort_by_parameter_order=True), _records(a[fields])).all()
    out = a.assign(alert_id=np.asarray(ids, np.int64))
    out["first_seen"] = pd.to_datetime(out["first_seen"], utc=True)
    return out[ALERT_COLUMNS].reset_index(drop=True)


def _insert(s: Session, model, frame: pd.DataFrame) -> None:
    if len(frame):
        s.execute(insert(model), _records(frame))


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of Python values, missing as None (what the database drivers take)."""
    out = frame.astype(object).where(frame.notna(), None)
    for c in out.columns:
        if isinstance(frame[c].dtype, pd.DatetimeTZDtype):
            out[c] = [None if x is None else x.to_pydatetime() for x in out[c]]
    return out.to_dict("records")
