"""Events an analyst can count and map (issue #14): gaps, port visits, loitering, possible dark
port calls, encounters and dark rendezvous, and the identity kinds (issue #23: identity
changes, shared MMSIs, spoofing; found by :mod:`features.identity`), as one table with the
contract's event columns.

One public function, :func:`detect_events`, pure over frames: it takes what
:func:`features.pipeline.run_tracks` returns (``TrackResult.positions`` and ``.visits``), the
gazetteer and the :class:`~features.config.Config`, and gives one row per event. Each kind is
a module (``gaps``, ``visits``, ``loitering``, ``dark_calls``, ``encounters``,
``rendezvous``); every threshold comes from the config. Rows are sorted by kind (in
:data:`EVENT_KINDS` order), then mmsi, start and event_id.

Encounters and rendezvous need every vessel's traffic: they are evidence for reports and
reasons, never a model input (the model's risk stays a one-track probability; README).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..config import DEFAULT, Config
from ..coverage import CoverageGrid, TrafficSums
from ..errors import ConfigError
from ..gazetteer import Gazetteer
from .dark_calls import dark_call_events
from .encounters import encounters_of_bins, resampled
from .frame import EVENT_COLUMNS, EVENT_KINDS, Fixes, empty_events, fixes_of
from .gaps import Gaps, add_reception, find_gaps, gap_events
from .loitering import loiter_events
from .rendezvous import episodes, meeting_points, rendezvous_of_episodes, rendezvous_scores
from .visits import visit_events

__all__ = ["EVENT_COLUMNS", "EVENT_KINDS", "detect_events", "dark_mask", "meeting_points", "pair_events",
           "rendezvous_scores", "sorted_events", "vessel_events"]
log = logging.getLogger(__name__)
_PAIRING_MARGIN_US = 24 * 3_600_000_000


def detect_events(positions: pd.DataFrame, visits: pd.DataFrame, gaz: Gazetteer, cfg: Config = DEFAULT,
                  coverage: CoverageGrid | None = None, kinds: tuple[str, ...] = EVENT_KINDS,
                  jumps: pd.DataFrame | None = None, since: pd.Timestamp | None = None) -> pd.DataFrame:
    """All events of the tracked fixes (with ``since``: those that end then or later).

    ``positions``: accepted fixes sorted by (mmsi, track_no, timestamp) with the tracking
    columns (``TrackResult.positions``); ``visits``: ``TrackResult.visits``; ``coverage``: a
    reference coverage grid, whose gap rate at each gap's start goes into the gap's detail.
    Returns :data:`EVENT_COLUMNS` (event_id, kind, mmsi, track_id, partner_mmsi, start, end
    (UTC), hours, lat, lon, end_lat, end_lon (deg), port_id, km_to_port (km),
    implied_speed_kn (kn), coverage_share (0-1), neighbours_reporting (vessels/h),
    identity_changed, detail), one row per event. ``kinds``: only these (the watchlist asks for
    the two-vessel kinds alone, which skip the gaps' reception context). ``jumps``: the rows
    the tracker rejected as implausible jumps (mmsi, timestamp, lat, lon), for the spoofing
    typology of jumps that come back. ``since`` (UTC): only events ending then or later, and the
    two-vessel kinds paired from the episodes and slow fixes of that period only, so a day added
    to a month pairs a day's worth (``darkvoyage watch``; events found before stay as found).

    The work splits as a distributed engine splits it (:mod:`features.spark.events`): what
    each vessel's own fixes show (:func:`vessel_events`), the pairs of vessels found from
    every vessel's episodes and resampled slow fixes (:func:`pair_events`), and identity
    changes from every track's ends.
    """
    check_kinds(kinds)
    if len(positions) == 0:
        return empty_events()
    fx = fixes_of(positions, cfg)
    g = find_gaps(fx, cfg)
    parts = [vessel_events(fx, g, visits, gaz, cfg, coverage, kinds, jumps)]
    ep = episodes(fx, g, cfg) if "dark_rendezvous" in kinds else None
    bins = resampled(fx, gaz, cfg) if "encounter" in kinds else None
    if since is not None:
        # A day's margin before ``since``: an encounter that began before it keeps its start
        # (and its id), and a meeting's partners that went quiet just before are still there.
        t = pd.Timestamp(since).value // 1000 - _PAIRING_MARGIN_US
        ep = ep[ep["t1"] >= t].reset_index(drop=True) if ep is not None else None
        bins = bins[(bins["bin"] + 1) * int(cfg.encounter_bin_min * 60e6) >= t].reset_index(drop=True) \
            if bins is not None else None
    parts.append(pair_events(ep, bins, gaz, cfg))
    if "identity_change" in kinds:
        from ..identity import change_events, links_of_fixes  # identity builds on this package's frame
        parts.append(change_events(links_of_fixes(fx, cfg)[0], gaz))
    out = sorted_events(parts)
    return out[out["end"] >= pd.Timestamp(since)].reset_index(drop=True) if since is not None else out


def check_kinds(kinds: tuple[str, ...]) -> None:
    unknown = set(kinds) - set(EVENT_KINDS)
    if unknown:
        raise ConfigError(f"unknown event kinds {sorted(unknown)}; expected some of {', '.join(EVENT_KINDS)}")


def vessel_events(fx: Fixes, g: Gaps, visits: pd.DataFrame, gaz: Gazetteer, cfg: Config,
                  coverage: CoverageGrid | None, kinds: tuple[str, ...], jumps: pd.DataFrame | None,
                  traffic: TrafficSums | None = None) -> pd.DataFrame:
    """The events one vessel's own fixes show: gaps (their reception context from ``fx``, or
    from ``traffic`` when ``fx`` holds only some vessels), port visits, loitering, possible
    dark port calls, shared MMSIs and spoofing (``jumps``: every vessel's, for the GPS
    interference cells). Unsorted."""
    detectors = {
        "gap": lambda: gap_events(fx, add_reception(fx, g, cfg, traffic), gaz, cfg, coverage),
        "port_visit": lambda: visit_events(fx, visits, gaz),
        "loitering": lambda: loiter_events(fx, gaz, cfg),
        "possible_dark_port_call": lambda: dark_call_events(fx, g, gaz, cfg),
    }
    if {"shared_mmsi", "spoofing"} & set(kinds):
        from ..identity import shared_mmsi_events, spoofing_events  # identity builds on this package's frame
        detectors["shared_mmsi"] = lambda: shared_mmsi_events(fx, cfg, jumps)
        detectors["spoofing"] = lambda: spoofing_events(fx, cfg, jumps)
    parts = [detectors[k]() for k in EVENT_KINDS if k in kinds and k in detectors]
    return pd.concat([p for p in parts if len(p)] or [empty_events()], ignore_index=True)


def pair_events(ep: pd.DataFrame | None, bins: pd.DataFrame | None, gaz: Gazetteer, cfg: Config) -> pd.DataFrame:
    """Encounters from every vessel's :func:`~.encounters.resampled` slow fixes (``bins``) and
    dark rendezvous from every vessel's :func:`~.rendezvous.episodes` (``ep``); None: not
    asked for. Unsorted."""
    parts = ([encounters_of_bins(bins, gaz, cfg)] if bins is not None else []) \
        + ([rendezvous_of_episodes(ep, gaz, cfg)] if ep is not None else [])
    return pd.concat([p for p in parts if len(p)] or [empty_events()], ignore_index=True)


def sorted_events(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts as one table in the contract's order: by kind (:data:`EVENT_KINDS`), mmsi,
    start and event_id; the count per kind logged."""
    out = pd.concat([p for p in parts if len(p)] or [empty_events()], ignore_index=True)
    for kind, n in out["kind"].value_counts().items():
        log.info("%s: %d", kind, n)
    rank = pd.Categorical(out["kind"], categories=list(EVENT_KINDS), ordered=True).codes
    order = np.lexsort((out["event_id"].to_numpy(dtype=str), out["start"].to_numpy(), out["mmsi"].to_numpy(), rank))
    return out.take(order).reset_index(drop=True)[list(EVENT_COLUMNS)]


def dark_mask(events: pd.DataFrame) -> np.ndarray:
    """Rows that count as dark activity: every kind but a gap whose ends are two ships on one
    MMSI (``identity_changed``), which is left out of dark counts."""
    return ~((events["kind"] == "gap") & events["identity_changed"].fillna(False)).to_numpy(bool)
