"""When a vessel earns an analyst's look (contract section 3, "Store and alerts"): pure functions
over frames, one per rule.

* ``new_on_list``: it is in the top ``top_n`` of all stored vessels now, and was not before,
  at a level of ``alert_levels`` (in a store of a few dozen vessels every one is in the top);
* ``risk_up``: its risk rose by ``risk_step`` or more since the run that last scored it;
* ``new_event``: an event of ``event_kinds`` on it that the store did not hold (a possible
  dark port call only at a sensitive port, one alert per gap; no hull event on an installer's
  default MMSI).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from features.flags import default_mmsi
from training.identity_ranking import strong_pair

from .config import DeskConfig

#: One row per vessel: what the list shows of it.
STANDING = ["mmsi", "name", "flag", "risk", "level", "voyage_id", "reasons", "identities"]
#: An alert as ``watch`` writes it (``alert_id`` and ``first_seen`` come from the store).
ALERT_COLUMNS = ["alert_id", "kind", "mmsi", "name", "flag", "risk", "previous_risk", "level", "reasons", "voyage_id",
                 "first_seen"]


def sensitive_ids(gaz) -> frozenset[str]:
    """The ids of the gazetteer's sensitive ports (where a possible dark call alerts)."""
    return frozenset(str(i) for i, sens in zip(gaz.ids, gaz.sensitive) if sens)


@functools.cache
def packaged_gazetteer():
    """The curated port list shipped with darkvoyage, read once: what the desk's pages draw and
    its review queue reads (a watch run uses its model's own)."""
    from features.gazetteer import load_gazetteer
    return load_gazetteer()


def standings(watchlist: pd.DataFrame) -> pd.DataFrame:
    """Per MMSI, its riskiest row of a watchlist (one row per track; risk NaN for a track with
    no voyage ranks last).

    >>> wl = pd.DataFrame({"mmsi": [1, 1, 2], "name": "A", "flag": "RU", "risk": [0.2, 0.7, np.nan],
    ...                    "level": ["low", "high", "insufficient data"], "voyage_id": ["a", "b", None],
    ...                    "reasons": "", "identities": ""})
    >>> standings(wl)[["mmsi", "risk"]].to_dict("list")
    {'mmsi': [1, 2], 'risk': [0.7, nan]}
    """
    best = watchlist.sort_values(["risk", "mmsi"], ascending=[False, True], na_position="last", kind="stable")
    return best.drop_duplicates("mmsi")[STANDING].sort_values("mmsi", kind="stable").reset_index(drop=True)


def ranks(risk: pd.Series) -> pd.Series:
    """1 = riskiest; vessels without a risk rank after all others (ties share the best rank)."""
    return risk.fillna(-1.0).rank(ascending=False, method="min").astype(np.int64)


def new_on_list(before: pd.DataFrame, after: pd.DataFrame, now: pd.DataFrame, cfg: DeskConfig) -> pd.DataFrame:
    """Vessels of ``now`` (the run's standings: ``mmsi``, ``level``) in the top ``top_n`` of
    ``after`` and not of ``before`` (both: every stored vessel's ``mmsi``, ``risk``), at a
    level of ``cfg.alert_levels``.

    >>> before = pd.DataFrame({"mmsi": [1], "risk": [0.9]})
    >>> after = pd.DataFrame({"mmsi": [1, 2, 3], "risk": [0.9, 0.6, 0.05]})
    >>> now = pd.DataFrame({"mmsi": [2, 3], "level": ["high", "low"]})
    >>> new_on_list(before, after, now, DeskConfig(top_n=50))["mmsi"].tolist()
    [2]
    """
    rank_now = ranks(after["risk"]).set_axis(after["mmsi"]).reindex(now["mmsi"]).to_numpy(float)
    rank_was = ranks(before["risk"]).set_axis(before["mmsi"]).reindex(now["mmsi"]).to_numpy(float) if len(before) \
        else np.full(len(now), np.nan)
    risk = after.set_index("mmsi")["risk"].reindex(now["mmsi"]).to_numpy(float)
    hit = (rank_now <= cfg.top_n) & np.isfinite(risk) & ~(rank_was <= cfg.top_n) & now["level"].isin(cfg.alert_levels).to_numpy()
    return pd.DataFrame({"mmsi": now["mmsi"].to_numpy()[hit], "kind": "new_on_list"})


def risk_up(before: pd.DataFrame, now: pd.DataFrame, cfg: DeskConfig) -> pd.DataFrame:
    """Vessels of ``now`` whose risk rose by ``risk_step`` or more over ``before``'s."""
    j = now[["mmsi", "risk"]].merge(before[["mmsi", "risk"]], on="mmsi", suffixes=("", "_was"))
    up = j[(j["risk"] - j["risk_was"]) >= cfg.risk_step - 1e-12]
    return pd.DataFrame({"mmsi": up["mmsi"].to_numpy(), "kind": "risk_up"})


def alerting(events: pd.DataFrame, cfg: DeskConfig, sensitive_ports: set[str]) -> pd.Series:
    """Per event (``mmsi``, ``kind``, ``port_id``, ``detail``): one the rules alert on, of
    ``event_kinds`` and, for ``sensitive_only`` kinds, at a port of ``sensitive_ports``; two
    hulls on one MMSI only when the watchlist's identity rule would raise them
    (:func:`training.identity_ranking.strong_pair`: one hull whose track GPS interference split
    shares a few hours, close by), and no hull event on an installer's default MMSI (small craft
    share those: the identity rule ignores them too). The review queue reads the same.

    >>> ev = pd.DataFrame({"mmsi": [273000001, 423000000], "kind": "shared_mmsi", "port_id": None,
    ...     "detail": "two hulls on one MMSI: tracks 5-0 and 5-1 report in the same hours 90 times over 196.1 h, 150 km apart"})
    >>> alerting(ev, DeskConfig(), set()).tolist()
    [True, False]
    """
    at_sensitive = events["port_id"].isin(sensitive_ports) | ~events["kind"].isin(cfg.sensitive_only)
    hull = events["kind"].isin(("shared_mmsi", "spoofing")).to_numpy()
    weak_pair = (events["kind"] == "shared_mmsi").to_numpy() & ~strong_pair(events["detail"])
    on_default = hull & default_mmsi(events["mmsi"].to_numpy(np.int64))
    return events["kind"].isin(cfg.event_kinds) & at_sensitive & ~weak_pair & ~on_default


def alerted_ids(stored: pd.DataFrame, cfg: DeskConfig, sensitive_ports: set[str] = frozenset()) -> set[str]:
    """The ids of ``stored`` events (``event_id``, ``mmsi``, ``kind``, ``port_id``, ``detail``
    as the store holds them) the rules alert on: a run alerts on an event not among them, so a
    shared MMSI stored while weak alerts on the day it has become strong."""
    return set(stored.loc[alerting(stored, cfg, sensitive_ports), "event_id"])


def new_events(events: pd.DataFrame, known: set[str], now: pd.DataFrame, cfg: DeskConfig,
               sensitive_ports: set[str] = frozenset()) -> pd.DataFrame:
    """Events the rules alert on (:func:`alerting`) on the run's vessels (``now``: ``mmsi``),
    whatever the model says of them, but not those with ids in ``known``
    (:func:`alerted_ids`); a gap's dark calls as one (:func:`_one_per_gap`): mmsi, kind
    ``new_event``, event_id, and what it says (``kind: detail``)."""
    ev = events[alerting(events, cfg, sensitive_ports) & events["mmsi"].isin(now["mmsi"])
                & ~events["event_id"].isin(known)]
    ev, detail = _one_per_gap(ev)
    what = ev["kind"].astype(str) + ": " + detail
    return pd.DataFrame({"mmsi": ev["mmsi"].to_numpy(np.int64), "kind": "new_event",
                         "event_id": ev["event_id"].to_numpy(dtype=object), "event_text": what.to_numpy(dtype=object)})


def _one_per_gap(ev: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The possible dark calls of one gap (one vessel, start and end; up to
    ``dark_call_ports_per_gap`` ports) as one alert: the first event, and every port's detail
    joined (the demo's month: 969 such alerts on 694 gaps). Other events one each.

    >>> ev = pd.DataFrame({"event_id": ["a", "b", "c"], "kind": "possible_dark_port_call", "mmsi": 1,
    ...                    "start": [0, 0, 5], "end": [3, 3, 9], "detail": ["at A fits", "at B fits", "at A fits"]})
    >>> kept, detail = _one_per_gap(ev)
    >>> kept["event_id"].tolist(), detail.tolist()
    (['a', 'c'], ['at A fits; or at B fits', 'at A fits'])
    """
    call = (ev["kind"] == "possible_dark_port_call").to_numpy()
    gap = ev["mmsi"].astype(str) + "|" + ev["start"].astype(str) + "|" + ev["end"].astype(str)
    key = pd.Series(np.where(call, "call|" + gap.to_numpy(dtype=object), ev["event_id"].to_numpy(dtype=object)),
                    index=ev.index)
    detail = ev["detail"].fillna("").astype(str).groupby(key.to_numpy(), sort=False).transform("; or ".join)
    first = ~key.duplicated().to_numpy()
    return ev[first], detail[first].astype(str)  # str when empty too (transform gives float)


def alert_rows(rules: list[pd.DataFrame], now: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    """The rules' hits with each vessel's standing (``now``) and its previous risk, the riskiest
    vessel first and its alerts together; a ``new_event`` alert's reasons say the event."""
    hits = pd.concat([r for r in rules if len(r)] or [pd.DataFrame({"mmsi": [], "kind": []})], ignore_index=True)
    out = hits.merge(now, on="mmsi", how="inner").merge(  # an alert stands on what this run scored
        before[["mmsi", "risk"]].rename(columns={"risk": "previous_risk"}), on="mmsi", how="left")
    if "event_text" in out:
        ev = out["event_text"].notna()
        out.loc[ev, "reasons"] = out.loc[ev, "event_text"]
    else:
        out["event_id"] = None
    order = {k: i for i, k in enumerate(("new_on_list", "risk_up", "new_event"))}
    out["_k"] = out["kind"].map(order)
    # The riskiest vessel first, its alerts together (the desk lists a run's alerts so).
    return out.sort_values(["risk", "mmsi", "_k"], ascending=[False, True, True], kind="stable", na_position="last") \
        .drop(columns=["_k", "event_text"], errors="ignore").reset_index(drop=True)
