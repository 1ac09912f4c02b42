"""Every threshold of the desk (``watch`` and its alerts): a named parameter with its unit and
reason, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeskConfig:
    #: Days of stored positions a run rescores, back from the newest day it added (days). Voyages
    #: last days to a few weeks and a gap's context needs its neighbours: a month holds the
    #: longest the model scores, and keeps a day's run to seconds in a store of many months.
    lookback_days: int = 30
    #: The top of the list: a vessel entering the first this many (by risk, all stored vessels)
    #: raises a ``new_on_list`` alert (vessels; the watchlist page shows 50).
    top_n: int = 50
    #: The levels (the model's ``level``) a vessel needs for a ``new_on_list`` alert: in a store
    #: of a few dozen vessels every one is in the top 50, and a vessel at risk 0.07 (``low``) is
    #: not a lead (seen on a 20-vessel store fed the Danish NMEA file). The demo's top 50 are
    #: all ``high``. (Events alert whatever the level: the rules are evidence of their own.)
    alert_levels: tuple[str, ...] = ("high", "medium")
    #: A vessel whose risk rose by at least this much since the run that last scored it raises
    #: a ``risk_up`` alert (probability; 0.2 moves a vessel across a level band).
    risk_step: float = 0.2
    #: A new event of these kinds on a rescored vessel raises a ``new_event`` alert: the dark
    #: activity an analyst checks. Not gaps (hundreds a day) nor dark rendezvous: on simulated
    #: 600-ship months 5-35 a week, 10 % of them a planted meeting (bench_rendezvous.py); both
    #: show on the vessel's page and card.
    event_kinds: tuple[str, ...] = ("possible_dark_port_call", "identity_change", "shared_mmsi", "spoofing")
    #: Of those, the kinds that alert only at a sensitive port (the gazetteer's flag): a gap in
    #: which some port call fits is common (a 160-ship week: ~150 of them, most at Baku or
    #: Aktau); one that could hide a call at Amirabad or Astrakhan is what the desk is for.
    sensitive_only: tuple[str, ...] = ("possible_dark_port_call",)
    #: An evidence card lists this many gaps, the longest first (gaps).
    card_gaps: int = 10
    #: The speed a card assumes a dark ship could keep, to draw the area it could reach during a
    #: gap (kn): a laden Caspian cargo ship's top speed; the area is a lead for where to look in
    #: the imagery, not where it went.
    card_reach_kn: float = 12.0
    #: The review queue (``GET /review``): this many of the riskiest vessels no analyst has
    #: judged yet, then this many nearest the ``high`` cut-off (where a verdict moves a model
    #: most: Das et al. 2016 ask about the top; uncertainty sampling asks at the boundary), then
    #: this many where the rules and the model disagree (vessels).
    review_top: int = 10
    review_boundary: int = 5
    review_disagree: int = 5
    #: The risk cut-off the boundary is measured from (the models' ``high`` level).
    review_cut: float = 0.5
    #: How long a second writer waits for the first before it refuses (s).
    lock_wait_s: float = 10.0


DEFAULT_DESK = DeskConfig()
