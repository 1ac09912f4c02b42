"""Every threshold of the feature pipeline, in one place, with its unit and its reason.

A pipeline run takes one :class:`Config`; nothing else in ``features`` hard-codes a number that
changes an answer. Change a value here (or pass ``Config(gap_hours=2)``) and every stage, the
CLI, training and serving agree on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

#: Where the curated Caspian gazetteer lives when darkvoyage runs from a checkout with
#: ``../shared`` beside it; the packaged copy (``features/data``) is used otherwise.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGED_DATA = Path(__file__).resolve().parent / "data"

#: Bumped whenever a feature's definition changes, so models record which code made their inputs.
FEATURE_CODE_VERSION = "1.8.0"


@dataclass(frozen=True)
class Config:
    """Thresholds of cleaning, segmentation, port visits, voyages and features.

    Units are in the names: ``_kn`` knots, ``_km`` kilometres, ``_h`` hours, ``_s`` seconds,
    ``_deg`` degrees.
    """

    # --- cleaning ------------------------------------------------------------------------
    #: A track's fix is "implausible" when reaching it from the previous fix needs more than
    #: this speed. Caspian general cargo does 9-12 kn, ferries ~15 kn; GFW's segmenter uses
    #: ~25-30 kn. 30 kn leaves room for GPS noise without joining two ships.
    max_speed_kn: float = 30.0
    #: Distance that GPS noise and receiver time-stamping can add between two fixes; it is
    #: forgiven before the implied speed is judged, so a jittering moored ship is not "jumping".
    position_noise_km: float = 0.5
    #: Shortest time step used for implied speed: AIS time stamps are whole seconds and two
    #: receivers may stamp the same message a few seconds apart.
    min_step_s: float = 10.0
    #: The same transmission heard by two receivers arrives with time stamps a few seconds
    #: apart and an identical position: within this window it is a duplicate message.
    duplicate_window_s: float = 10.0
    #: Close a track after this long without fixes (None: never). GFW's segmenter closes
    #: after 24 h, which also cuts every long AIS gap out of its tracks; darkvoyage keeps a
    #: ship's track across gaps of any length, because the gap is the evidence.
    track_max_idle_h: float | None = None
    #: A fix that starts a track of fewer than this many fixes, on an MMSI that also has a
    #: longer track, is an outlier (a jump), not a second ship, and is rejected.
    min_track_fixes: int = 3
    #: A track counts as a ship in the identity features (``n_tracks_mmsi``,
    #: ``concurrent_tracks``) only with at least this many fixes: fixes thrown off by GPS
    #: interference chain into second tracks of a few fixes (in the simulator, 3-15), a second
    #: hull on the number reports for days (hundreds).
    ship_track_min_fixes: int = 20

    # --- gaps ----------------------------------------------------------------------------
    #: An interval between consecutive fixes of a track longer than this is an AIS gap.
    #: Class A ships report every 2-10 s under way; an archive thinned to 1-3 min still never
    #: goes an hour silent while covered. The issue's default; GFW uses 12 h for "disabling".
    gap_hours: float = 1.0
    #: Gap-length bands counted per voyage: 1 h (any gap), 6 h, 12 h (GFW's intentional
    #: disabling threshold) and 30 h (Lloyd's List's "dark activity" reporting threshold).
    gap_bands_h: tuple[float, ...] = (1.0, 6.0, 12.0, 30.0)
    #: The terminal summary of ``features`` counts voyages with a gap at least this long:
    #: GFW's threshold for intentional disabling.
    summary_gap_h: float = 12.0

    # --- ports ---------------------------------------------------------------------------
    #: Exit radius = entry radius (the gazetteer's ``radius_km``) times this. GFW's port
    #: visits use entry 3 km / exit 4 km; the same 4/3 hysteresis stops a ship at the edge
    #: of a port from flickering in and out.
    port_exit_factor: float = 4.0 / 3.0
    #: Below this speed a ship is stopped (GFW: 0.2 kn) ...
    stop_speed_kn: float = 0.2
    #: ... and above this it is moving again (GFW: 0.5 kn); the band between is hysteresis.
    moving_speed_kn: float = 0.5
    #: A stay inside a port radius counts as a visit when the ship stopped there or stayed at
    #: least this long: a ship sailing past a port's edge at 10 kn is out again in < 1 h.
    min_port_stay_h: float = 2.0
    #: "Near" a sensitive port without calling: within this distance. 30 km is about two
    #: hours of steaming at 8 kn from the harbour, where pilots and anchorages are.
    sensitive_near_km: float = 30.0

    # --- dark port calls -----------------------------------------------------------------
    #: A call at a port needs at least this long alongside (cargo, papers, pilot): a few
    #: hours for a small general cargo ship.
    min_call_stay_h: float = 4.0
    #: Only gaps at least this long are checked for hidden port calls.
    dark_call_min_gap_h: float = 6.0
    #: ... and at most this long (14 days): a longer gap is a hole in the data (an archive's
    #: missing weeks, a ship laid up or out of every receiver's range), not a call to check.
    #: Hidden calls in public reporting last hours to days; the longest the simulator plants is
    #: ~12 days (a Volga call within a 200 h port stay). The real files' gaps of years between
    #: the 2010 and 2013 Danish streams made 6,840 "possible dark port calls" without it.
    dark_call_max_gap_h: float = 336.0
    #: ... whose two ends lie within this distance of a gazetteer port (km): a gap far from the
    #: gazetteer's region (Danish waters for the Caspian list) cannot hide a call there. Every
    #: point of the Caspian is within ~250 km of a port of the curated list.
    dark_call_region_km: float = 500.0
    #: Per gap, the ports listed as possible calls: at most this many, sensitive ones first,
    #: then by spare time (a long gap fits a call almost anywhere; the best few are the leads).
    dark_call_ports_per_gap: int = 3
    #: Speed used for the vessel's sailing time when its own is unknown: the low end of
    #: Caspian river-sea cargo service speed (9-12 kn).
    default_speed_kn: float = 9.0
    #: Straight-line distances are stretched by this factor for sailing time: sea lanes
    #: bend round the Absheron peninsula and the Volga channel.
    route_factor: float = 1.15

    # --- out-and-back, loitering ----------------------------------------------------------
    #: A voyage with no known ports is "out-and-back" when it ends within this of its start.
    out_and_back_km: float = 20.0
    #: Loitering: slower than this away from ports (GFW's loitering speed).
    loiter_speed_kn: float = 2.0
    #: ... for at least this long to count as an event (GFW: 4 h).
    loiter_min_h: float = 4.0
    #: A gap at least this long whose implied speed is under ``loiter_speed_kn`` is
    #: "loitering while dark": the ship ended near where it went dark.
    dark_loiter_min_gap_h: float = 6.0
    #: Angle within which the course into a gap "points at" a sensitive port.
    heading_tolerance_deg: float = 45.0

    # --- declared destination (``features/destinations.py``) --------------------------------
    #: Texts shorter than this (characters, spaces left out) name a port only exactly: the
    #: Caspian has four-letter ports (Baku, Neka, Olya, Alat) one typo away from unrelated
    #: words ('ALAO', 'OSLO' in the real NMEA).
    dest_fuzzy_min_chars: int = 5
    #: rapidfuzz ``ratio`` (0-100) a text needs to read as an alias it does not spell exactly:
    #: one wrong letter in a 5-8 letter name scores 80-88, a dropped letter more; none of the
    #: 349 real (non-Caspian) destinations of ../shared/data/real reaches it for a Caspian name.
    dest_fuzzy_min_score: float = 80.0
    #: A truncated text (the field holds 20 characters; crews shorten) names a port when it
    #: begins an alias of that port alone and is at least this share of the alias's length.
    dest_prefix_min_share: float = 0.5

    # --- reception -----------------------------------------------------------------------
    #: Coverage grid cell size. 0.25 deg is ~25 km in the Caspian, about the range at which
    #: a coastal AIS station hears a ship reliably, and small enough to separate coast from
    #: the open middle sea.
    coverage_cell_deg: float = 0.25
    #: Neighbour count time bucket.
    coverage_bucket_h: float = 1.0
    #: Neighbours are counted in the gap-start cell and this many cells around it (1 = 3x3).
    neighbour_cells: int = 1

    # --- plausible time window (readers' validation) ---------------------------------------
    #: Earliest plausible fix time, ISO 8601 date (UTC). AIS became mandatory (SOLAS) from
    #: 2002 and no archive darkvoyage reads is older than 2000; 1970 is a receiver clock
    #: that lost its time (Unix 0), not a fix.
    min_timestamp: str = "2000-01-01"
    #: Latest plausible fix time: this many days after the run (days). One day forgives
    #: receiver clocks and time zones; a 9999 or next year's date is a typing or clock error.
    max_timestamp_ahead_days: float = 1.0

    # --- events (issue #14: ``darkvoyage events`` / ``report``) -----------------------------
    #: Encounter: two vessels within this distance ... (Global Fishing Watch's encounter rule,
    #: Miller et al. 2018, "Identifying global patterns of transshipment behavior").
    encounter_max_km: float = 0.5
    #: ... for at least this long (GFW: 2 h) ...
    encounter_min_h: float = 2.0
    #: ... both slower than this (GFW: 2 kn; a ship alongside another drifts, it does not sail) ...
    encounter_max_speed_kn: float = 2.0
    #: ... and at least this far beyond a port's radius (GFW: 10 km from an anchorage), so
    #: ships queueing in one roadstead are not "meeting".
    encounter_min_port_km: float = 10.0
    #: Time grid the encounter join resamples each vessel to (GFW resamples to 10 min).
    encounter_bin_min: float = 10.0
    #: A dark period that can hide a ship-to-ship meeting: a gap at least this long. Shorter
    #: than a meeting plus the sailing to and from it, it hides nothing an analyst can act on.
    rendezvous_min_dark_h: float = 2.0
    #: A visible stop at sea counts as the waiting side of a rendezvous when at least this
    #: long: the encounter duration, shorter than ``loiter_min_h`` because the partner's dark
    #: period is the other half of the evidence.
    rendezvous_min_loiter_h: float = 2.0
    #: Both vessels must be able to spend at least this long at one meeting point (the
    #: encounter duration): transferring cargo or crew between hulls takes hours.
    rendezvous_min_meet_h: float = 2.0
    #: Dark periods longer than this are not paired: over three days a ship can reach any
    #: point of the Caspian and "meet" every other ship dark at the time; such gaps stay gaps
    #: and possible dark port calls. 66 h is the longest silence a transfer makes: up to 60 h
    #: alongside plus switching off and on again up to 3 h either side. Six simulated 600-ship
    #: months at -3 h (``benchmarks/bench_rendezvous.py``): 421 listed, 44 of 59 planted
    #: meetings named, first k places as at 48 h or better; at 48 h 405 listed, 40 named
    #: (meetings inside 50-52 h silences were lost); 60 h and 72 h as 66 h. (Before the
    #: outage, supply-boat and port-stay rules, 72 h let ships dark for three days in step near
    #: ports take the top of the list.)
    rendezvous_max_dark_h: float = 66.0
    #: A side counts as dark when at least this share of its silence-or-stop is silence: a
    #: ship that switches off is silent throughout; one seen now and then while it waits is a
    #: stop under patchy reception, a visible side at most (the planted meetings: >= 0.84).
    rendezvous_min_dark_share: float = 0.8
    #: A meeting point within this far of a port's radius (km) is a roadstead, where ships wait
    #: for a berth, a pilot or orders: two ships dark there are queueing, not meeting. GFW asks
    #: 10 km of an encounter; 5 km keeps every planted meeting of six simulated months (10 km
    #: lost four) and drops a fifth of the listed rendezvous.
    rendezvous_min_port_km: float = 5.0
    #: Two ships silent near a port could both have been in it, unheard: a pair is no
    #: rendezvous when a stay together in one port fits longer, by more than this (h), than the
    #: best meeting point at sea (:func:`features.events.ordinary.shared_call_h`). Half an hour:
    #: the meeting search and a port's radius are good to a few km. Six simulated months: 886 ->
    #: 720 listed, 37 of 59 planted meetings named either way (no slack: 544, but 36 named).
    rendezvous_port_stay_slack_h: float = 0.5
    #: A shore station that goes down silences every ship in its range at once; two ships that
    #: meet are alone in their silence. A pair is no rendezvous when a third ship went dark and
    #: came back in step with either side (start and end differences summed, h) ...
    rendezvous_outage_step_h: float = 2.0
    #: ... from within this far of where that side went dark (km; a station hears ~25-40 km).
    #: Six simulated months: 1,226 -> 1,084 listed, all 38 planted meetings named kept (4 h cut
    #: a third but lost 4 of the 38: ships that passed a meeting by chance).
    rendezvous_outage_km: float = 30.0
    #: A rendezvous is listed when its score reaches this (h): the spare time for the meeting
    #: less how far out of step the two went dark and came back, less the sailing each would
    #: have had to add to its own straight course to reach the meeting point (its sea time),
    #: less the longest stay both could have shared in one port. Below zero: a port stay may
    #: fit up to 3 h better, as both are bounds, not measurements (planted meetings: most
    #: have a port in reach, and a quarter of them score below -0.5 h). Six simulated 600-ship months
    #: (``benchmarks/bench_rendezvous.py``): 5-35 a week, 41 of 59 planted meetings (-2 h:
    #: 5-23 a week, 38; -4 h: 5-48, 43; the old 8 h on sea time alone: 7-75, 37).
    rendezvous_min_score_h: float = -3.0

    # --- identity (issue #23: ``darkvoyage identities``, identity events) ------------------
    #: One hull under a new MMSI: the new identity must start within this long of the old
    #: one's last fix. RadianceFleet pairs within 30 days; longer, the old MMSI is a lost
    #: ship, not a renamed one.
    identity_max_gap_h: float = 720.0
    #: ... and be reachable from it at this speed (kn): the Caspian's river-sea cargo ships
    #: cruise at 9-12 kn; RadianceFleet's 16 kn leaves room for a fast tanker, not for a jump.
    identity_max_speed_kn: float = 16.0
    #: The new identity may begin this long before the old one's last fix: a transponder
    #: reprogrammed while the old one still sends, or two receivers' clocks.
    identity_max_overlap_h: float = 0.5
    #: Tracks that start within this long of the data's first fix (or end within it of the
    #: last) were already there (or are still there): an edge of the data is no identity
    #: change. Half a day: longer than a berth stay's silence is not; shorter cuts nothing.
    identity_edge_h: float = 12.0
    #: A switch at sea is space-time evidence: the new identity began inside the disk the old
    #: one could have sailed at its usual speed since it went dark, and within this long (h),
    #: where another ship's track would begin anywhere in the data's area at any time of its
    #: span. The log of that ratio, (area / disk) x (span / this), at most
    #: ``identity_w_space_max``, is added when both ends lie at sea; at a port many ships come
    #: and go, so there only the static data (IMO, name, call sign) can tell. The cap equals
    #: the prior: space and time alone make a link at most even odds against "a new ship"
    #: (``possible``); a ``likely`` link needs static data that agrees.
    identity_sea_gap_h: float = 48.0
    #: Evidence weights (log-odds) of one pair, added to ``identity_prior``: the same valid
    #: IMO; the name's similarity (rapidfuzz ratio, 0-100, mapped to 0..+1 from 70 to 100); the
    #: same call sign; a different ship type (first AIS digit); the space-time term above; the
    #: old MMSI heard again after the new one began (two ships, or a number re-used). A new
    #: name or call sign is no evidence against: renaming and reflagging are what a hull that
    #: changes its identity does. An IMO is evidence, not proof (scrapped ships' IMOs are
    #: re-used), so two different valid IMOs block a pair and the same one does not make it
    #: certain. The prior makes a pair with no evidence but reach weigh 0.05 against "a new
    #: ship", so a crowd of such pairs does not drown a real one.
    identity_prior: float = -3.0
    identity_w_imo: float = 4.0
    identity_w_name: float = 2.5
    identity_w_callsign: float = 1.5
    identity_w_type_diff: float = 2.0
    identity_w_space_max: float = 3.0
    identity_w_reappears: float = 3.0
    #: Confidence of a link (the pair against every competitor and "a new ship", see
    #: :mod:`features.identity.links`) from which it is ``likely``, and ``possible``; below,
    #: no link is written.
    identity_likely: float = 0.8
    identity_possible: float = 0.3
    #: ``shared_mmsi``: two tracks of one MMSI both reporting in at least this many of the
    #: same clock hours: two hulls on one number. One hull's track split in two (a jump at a
    #: departure, a drift) reports on one track at a time, the seam sharing an hour or two.
    shared_mmsi_min_overlap_h: float = 3.0
    #: ``spoofing`` (fixed position): the same reported position (within this many degrees,
    #: ~1 m) for at least ``spoof_fixed_min_h`` while the reported speed is at least
    #: ``spoof_fixed_min_sog_kn``: a ship that sails does not stand still. A ship at anchor
    #: whose speed field is stale moves its GPS fix by metres, and is not flagged.
    spoof_fixed_eps_deg: float = 1e-5
    spoof_fixed_min_h: float = 3.0
    spoof_fixed_min_sog_kn: float = 3.0
    #: ``spoofing`` (circles): a track turning through at least this many degrees in all
    #: (two full turns) on a radius of at most ``spoof_circle_max_km``, within
    #: ``spoof_circle_window_h``: the circles that spoofed positions draw. A ship swinging at
    #: anchor is slower; a turn in a manoeuvre is one turn.
    spoof_circle_turn_deg: float = 720.0
    spoof_circle_max_km: float = 5.0
    spoof_circle_window_h: float = 6.0
    #: Steps shorter than this (km) give no heading: GPS noise (~10 m) turns a slow ship's
    #: short steps every which way.
    spoof_circle_min_step_km: float = 0.05
    #: ... at a mean reported speed of at least this (kn): trawls and purse-seine sets loop at
    #: 2-4 kn, a ship at rest whose GPS noise draws loops reports ~0; a spoofed circle is sent
    #: at a sailing speed ...
    spoof_circle_min_kn: float = 5.0
    #: ... turning one way: the signed turn is at least this share of all turning (a fishing
    #: or search pattern turns both ways) ...
    spoof_circle_steady: float = 0.9
    #: ... and round: the fixes' spread about their centre within this share of the radius
    #: that the path length and angle give (a trawler's loops drift and wander; a drawn circle
    #: does not).
    spoof_circle_roundness: float = 0.25
    #: ``spoofing`` (jumps that come back): at least this many fixes of one MMSI rejected as
    #: implausible jumps within ``spoof_jump_window_h``, the track going on where it was:
    #: a single bad fix is a receiver glitch, a series is a position being faked.
    spoof_jump_min: int = 3
    spoof_jump_window_h: float = 24.0
    #: GPS interference (:mod:`features.identity.interference`): a cell of this many degrees
    #: (~50 km, the size of a jamming area) and a time bin of ``gnss_bin_h``, with the cells and bins around it,
    #: in which at least ``gnss_min_ships`` MMSIs had fixes rejected as jumps. One ship's
    #: jumps are its own (a glitch, or spoofing); three ships' at once are the area's. Jumps
    #: that come back and shared-MMSI tracks there are not events. Bins of 3 h (so +-3-6 h
    #: around a jump): on simulated interference 1 h bins left 11 false shared-MMSI events
    #: in a 500-ship month, 3 h bins 3, every planted one kept (the windows last 1-12 h).
    gnss_cell_deg: float = 0.5
    gnss_bin_h: float = 3.0
    gnss_min_ships: int = 3

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gap_bands_h"] = list(self.gap_bands_h)
        return d

    def with_(self, **changes) -> Config:
        return replace(self, **changes)


DEFAULT = Config()
