"""Review next: which vessels an analyst's verdict helps most, and why each is there.

The queue mixes three kinds, none an analyst has judged yet (no verdict on any of its alerts):
the riskiest vessels (the list's top: the verdicts a desk needs anyway, and asking about the top
is itself an efficient way to learn, Das et al. 2016), those nearest the ``high`` cut-off
(uncertain: a verdict there moves a retrained model most), and those where the rules and the
model disagree (a dark call at a sensitive port or an identity event on a low-risk vessel; a
high risk with no dark event, identity event or identity link behind it: the watchlist's
identity rule raises a vessel through a link at sea, which the store keeps apart from events)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from .alerts import alerting
from .config import DEFAULT_DESK, DeskConfig
from .models import Alert, Event, IdentityLink, Verdict, Vessel
from .store import Store

def review_queue(store: Store, sensitive_ports: set[str], cfg: DeskConfig = DEFAULT_DESK) -> list[dict]:
    """The queue, in order: [{mmsi, name, flag, risk, level, pick, why}]."""
    with Session(store.engine) as s:
        v = pd.DataFrame(s.execute(select(Vessel.mmsi, Vessel.name, Vessel.flag, Vessel.risk, Vessel.level)).all(),
                         columns=["mmsi", "name", "flag", "risk", "level"])
        judged = set(s.scalars(select(Alert.mmsi).join(Verdict, Verdict.alert_id == Alert.id)).all())
        ev = pd.DataFrame(s.execute(select(Event.mmsi, Event.kind, Event.port_id, Event.detail)
                                    .where(Event.kind.in_(cfg.event_kinds))).all(),
                          columns=["mmsi", "kind", "port_id", "detail"])
        linked = {m for pair in s.execute(select(IdentityLink.from_mmsi, IdentityLink.to_mmsi)).all() for m in pair}
    out = queue(v[~v["mmsi"].isin(judged)], ev, sensitive_ports, cfg, linked)
    out = out.astype(object).where(out.notna(), None)
    return [{**r, "mmsi": int(r["mmsi"]), "risk": float(r["risk"])} for r in out.to_dict("records")]


def queue(v: pd.DataFrame, ev: pd.DataFrame, sensitive_ports: set[str], cfg: DeskConfig = DEFAULT_DESK,
          linked: set[int] = frozenset()) -> pd.DataFrame:
    """The queue over vessels not judged yet: ``v`` (``mmsi``, ``risk`` and any other columns,
    one row per vessel), ``ev`` their rule events (``mmsi``, ``kind``, ``port_id``,
    ``detail``), ``linked`` the MMSIs at either end of an identity link; the rows of ``v`` in
    review order with ``pick`` (``top``, ``near_cut_off`` or ``disagreement``) and ``why``.
    Pure: the desk and the review-loop benchmark share it.

    >>> v = pd.DataFrame({"mmsi": [1, 2, 3], "risk": [0.9, 0.88, 0.88]})
    >>> ev = pd.DataFrame({"mmsi": [], "kind": [], "port_id": [], "detail": []})
    >>> q = queue(v, ev, set(), DeskConfig(review_top=1, review_boundary=0), linked={2})
    >>> q[["mmsi", "pick"]].to_dict("records")
    [{'mmsi': 1, 'pick': 'top'}, {'mmsi': 3, 'pick': 'disagreement'}]
    """
    v = v[v["risk"].notna()]
    if v.empty:
        return v.assign(pick=pd.Series(dtype=object), why=pd.Series(dtype=object))
    rule = ev[alerting(ev, cfg, sensitive_ports)]
    rule_kind = rule.drop_duplicates("mmsi").set_index("mmsi")["kind"]
    picks: list[pd.DataFrame] = []
    top = v.sort_values(["risk", "mmsi"], ascending=[False, True]).head(cfg.review_top)
    picks.append(top.assign(pick="top", why=[f"top of the list (risk {r:.2f})" for r in top["risk"]]))
    rest = v[~v["mmsi"].isin(top["mmsi"])]
    near = rest.assign(d=(rest["risk"] - cfg.review_cut).abs()).sort_values(["d", "mmsi"]).head(cfg.review_boundary)
    picks.append(near.drop(columns="d").assign(
        pick="near_cut_off", why=[f"risk {r:.2f}, near the high cut-off {cfg.review_cut:g}: a verdict here teaches the model most"
             for r in near["risk"]]))
    rest = rest[~rest["mmsi"].isin(near["mmsi"])]
    low_flagged = rest[rest["mmsi"].isin(rule_kind.index) & (rest["risk"] < cfg.review_cut)]
    behind = set(ev["mmsi"]) | set(linked)  # a link at sea raises a vessel with no event of its own
    high_bare = rest[~rest["mmsi"].isin(behind) & (rest["risk"] >= cfg.review_cut)]
    dis = pd.concat([low_flagged.assign(why=[f"the rules see {rule_kind[m].replace('_', ' ')} but the model says "
                                             f"{r:.2f}" for m, r in zip(low_flagged["mmsi"], low_flagged["risk"])]),
                     high_bare.assign(why=[f"risk {r:.2f} with no dark event or identity event behind it"
                                           for r in high_bare["risk"]])], ignore_index=True)
    picks.append(dis.sort_values(["risk", "mmsi"], ascending=[False, True]).head(cfg.review_disagree)
                 .assign(pick="disagreement"))
    return pd.concat([p for p in picks if len(p)], ignore_index=True)
