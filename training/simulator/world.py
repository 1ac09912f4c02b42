"""Randomized Caspian worlds: every parameter the simulator does not take from the map.

A model trained on one fixed world learns that world's quirks (its reception holes, its port
stays, its one way of going dark). Each scenario therefore draws its world from
:data:`RANGES`: one value per parameter from a range wide enough to cover plausible reality,
so that models learn from several worlds and are judged on another. ``docs/simulator.md``
gives every range with its source or reason; :func:`draw_world` is deterministic per seed.

>>> w = draw_world(3)
>>> 10 <= w.shore_stations <= 28 and w == draw_world(3)
True
"""

from __future__ import annotations

from dataclasses import asdict, make_dataclass, replace

import numpy as np

#: name -> (low, high, how drawn, unit). ``log`` draws log-uniformly (rates and durations that
#: span an order of magnitude), ``int`` draws an integer, ``uni`` uniformly.
RANGES: dict[str, tuple[float, float, str, str]] = {
    # --- shore stations: correlated reception holes come from their outages ------------
    "shore_stations": (10, 28, "int", "count"),              # coastal network, beside the ports' own
    "port_station_p": (0.6, 1.0, "uni", "probability"),      # a port runs its own receiver (VTS)
    "station_range_km": (25.0, 70.0, "uni", "km"),           # mean range; each station +-30 %
    "station_detect_p": (0.85, 0.99, "uni", "probability"),  # per archived fix, in range and up
    "station_outages_per_day": (0.005, 0.08, "log", "1/day"),
    "station_outage_h_max": (10.0, 40.0, "uni", "h"),        # outages last 1 h .. this (log-uniform)
    "region_outage_factor_max": (1.5, 5.0, "uni", "ratio"),  # worst region's outage rate multiplier
    "iran_station_density": (0.3, 1.2, "uni", "ratio"),      # station density on the Iranian shore
    # --- satellites ---------------------------------------------------------------------
    "sat_revisit_min": (40.0, 240.0, "uni", "min"),
    "sat_pass_min": (5.0, 15.0, "uni", "min"),
    "sat_detect_p": (0.2, 0.8, "uni", "probability"),
    "sat_holes_per_day": (0.0, 0.3, "uni", "1/day"),
    "sat_hole_h_max": (2.0, 12.0, "uni", "h"),
    # --- ships' habits (the same for every profile) -------------------------------------
    "underway_interval_lo_s": (30.0, 90.0, "uni", "s"),
    "underway_interval_hi_s": (120.0, 300.0, "uni", "s"),
    "moored_interval_lo_s": (180.0, 600.0, "uni", "s"),
    "moored_interval_hi_s": (900.0, 2400.0, "uni", "s"),
    "speed_factor": (0.9, 1.1, "uni", "ratio"),
    "stay_median_h": (18.0, 60.0, "uni", "h"),
    "stay_sigma": (0.3, 0.8, "uni", "log-sd"),
    "queue_p": (0.1, 0.5, "uni", "probability"),
    "queue_h_max": (10.0, 48.0, "uni", "h"),
    "off_at_berth_share": (0.05, 0.3, "uni", "share of ships"),
    "stale_destination_p": (0.02, 0.15, "uni", "probability"),  # a voyage's entry left as it was
    # --- what crews type and providers deliver (training/simulator/feed.py), the same for every profile --
    "dest_update_late_share": (0.1, 0.4, "uni", "share of ships"),
    "dest_late_h_max": (4.0, 36.0, "uni", "h"),
    "dest_update_rare_share": (0.05, 0.25, "uni", "share of ships"),
    "dest_never_share": (0.02, 0.12, "uni", "share of ships"),
    "dest_code_share": (0.05, 0.3, "uni", "share of ships"),
    "dest_short_share": (0.03, 0.15, "uni", "share of ships"),
    "dest_country_share": (0.03, 0.15, "uni", "share of ships"),
    "dest_route_share": (0.02, 0.12, "uni", "share of ships"),
    "dest_nonport_p": (0.02, 0.12, "uni", "probability"),
    "dest_blank_p": (0.01, 0.06, "uni", "probability"),
    "dest_typo_p": (0.01, 0.08, "uni", "probability"),
    "dest_padding_share": (0.0, 0.15, "uni", "share of ships"),
    "static_loss_share": (0.0, 0.15, "uni", "share of ships"),
    "nav_misuse_share": (0.05, 0.35, "uni", "share of ships"),
    "draught_update_share": (0.1, 0.5, "uni", "share of ships"),
    "name_variant_share": (0.0, 0.3, "uni", "share of ships"),
    "column_drop_p": (0.0, 0.25, "uni", "probability"),
    "fault_rate_per_day": (0.005, 0.04, "log", "1/day"),
    "fault_h_max": (12.0, 60.0, "uni", "h"),
    "twin_vessel_share": (0.28, 0.40, "uni", "share of ships"),
    "twin_voyage_share": (0.25, 0.6, "uni", "probability"),
    "ru_ru_share": (0.05, 0.25, "uni", "share"),             # Russian coastal/Volga trade
    # --- planted behaviours ---------------------------------------------------------------
    "event_share_lo": (0.15, 0.4, "uni", "probability"),     # repeat offenders: per ship in [lo, hi]
    "event_share_hi": (0.6, 0.95, "uni", "probability"),
    "approach_off_km_max": (60.0, 200.0, "uni", "km"),       # off 20 km .. this before the port
    "oab_off_km_max": (250.0, 550.0, "uni", "km"),           # off 30 km .. this before the port
    "slowdown_p": (0.2, 0.7, "uni", "probability"),
    "reappear_elsewhere_p": (0.3, 0.7, "uni", "probability"),
    "partial_p": (0.1, 0.4, "uni", "probability"),
    "partial_keep_p": (0.01, 0.08, "uni", "probability"),
    "hidden_stay_h_max": (24.0, 72.0, "uni", "h"),           # hidden calls last 6 h .. this
    "loiter_h_max": (16.0, 60.0, "uni", "h"),                # dark loitering 4 h .. this
    "sts_one_dark_p": (0.2, 0.5, "uni", "probability"),
    "mmsi_change_static_p": (0.3, 0.8, "uni", "probability"),    # the new identity is renamed too
    "mmsi_change_imo_kept_p": (0.4, 0.9, "uni", "probability"),  # ... and keeps its IMO
    "spoof_circle_p": (0.3, 0.7, "uni", "probability"),          # a spoofer draws circles, else one point
    # --- identity and position quirks every ship shares (training/simulator/interference.py) ---
    "interference_areas": (0, 3, "int", "count"),
    "interference_radius_km": (20.0, 60.0, "uni", "km"),
    "interference_windows_per_week": (1.0, 6.0, "uni", "1/week"),
    "interference_h_max": (3.0, 12.0, "uni", "h"),               # a window lasts 1 h .. this (log-uniform)
    "interference_fix_p": (0.003, 0.015, "uni", "probability"),
    "interference_km_max": (40.0, 120.0, "uni", "km"),            # a fix lands 20 km .. this off
    "stale_speed_share": (0.03, 0.15, "uni", "share of ships"),
    "default_mmsi_boats": (2, 6, "int", "count"),
}


REGIONS = ("RU", "KZ", "TM", "AZ", "IR")

#: One drawn world: ``world_seed``, a field per :data:`RANGES` entry (its unit there), and
#: ``region_outage_factor``, the outage-rate multiplier per shore region (holes cluster).
World = make_dataclass(
    "World", [("world_seed", int)] + [(n, int if how == "int" else float) for n, (_, _, how, _) in RANGES.items()]
    + [("region_outage_factor", dict)], frozen=True, namespace={"to_dict": lambda self: asdict(self)})


def draw_world(world_seed: int) -> World:
    """Draw every parameter of :data:`RANGES` from its range (deterministic per seed)."""
    rng = np.random.default_rng([int(world_seed), 0x57])
    values: dict = {"world_seed": int(world_seed)}
    for name, (lo, hi, how, _unit) in RANGES.items():
        if how == "int":
            values[name] = int(rng.integers(int(lo), int(hi) + 1))
        elif how == "log":
            values[name] = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        else:
            values[name] = float(rng.uniform(lo, hi))
    # One region has the worst holes, the others somewhere between 0.5x and it.
    factors = rng.uniform(0.5, values["region_outage_factor_max"], len(REGIONS))
    factors[rng.integers(len(REGIONS))] = values["region_outage_factor_max"]
    values["region_outage_factor"] = {r: round(float(f), 3) for r, f in zip(REGIONS, factors)}
    return World(**values)


def with_overrides(world: World, overrides) -> World:
    """``world`` with some parameters set by hand, also outside their ranges: a world no
    training draw could give (a benchmark's unseen behaviour or feed habit). ``overrides``:
    (name, value) pairs of :data:`RANGES` parameters.

    >>> with_overrides(draw_world(3), {"off_at_berth_share": 0.8}).off_at_berth_share
    0.8
    """
    values = dict(overrides)
    unknown = sorted(set(values) - set(RANGES))
    if unknown:
        raise ValueError(f"no world parameter(s) {', '.join(unknown)} (see training.simulator.world.RANGES)")
    kinds = {n: int if how == "int" else float for n, (_, _, how, _) in RANGES.items()}
    return replace(world, **{n: kinds[n](v) for n, v in values.items()})


#: Why each range is what it is (``docs/simulator.md`` prints these beside the ranges).
REASONS: dict[str, str] = {
    "shore_stations": "coastal AIS receivers of the five littoral states' networks and aggregators' volunteers; "
                      "a ~6,000 km shoreline with one every 200-600 km",
    "port_station_p": "most ports run VTS/AIS base stations; small Iranian and Turkmen ports may not feed archives",
    "station_range_km": "Class A at 12.5 W heard 20-40 nm by a coastal mast (ITU-R M.1371; IALA guideline 1082)",
    "station_detect_p": "slot collisions and VHF shadows lose a few percent of messages in range",
    "station_outages_per_day": "power, link and feeder outages of volunteer and national stations: weeks to months apart",
    "station_outage_h_max": "outages last 1 h to this (log-uniform): reception holes of 1-40 h as in published coverage maps",
    "region_outage_factor_max": "holes cluster: one region's network is worse than the others (the thin Iranian coverage "
                                "reported in Caspian analyses, or any other)",
    "iran_station_density": "Iranian coastal receivers feed public archives sparsely",
    "sat_revisit_min": "S-AIS revisit over a small inland sea: tens of minutes (large constellations) to hours",
    "sat_pass_min": "a satellite sees a point for ~10 min per pass",
    "sat_detect_p": "message collisions over busy areas; Class A detection 20-80 % per pass",
    "sat_holes_per_day": "gaps in constellation coverage and downlink delays",
    "sat_hole_h_max": "multi-hour satellite holes",
    "underway_interval_lo_s": "archives thin Class A (2-10 s) to one fix every 0.5-5 min",
    "underway_interval_hi_s": "as above",
    "moored_interval_lo_s": "moored Class A reports every 3 min; archives keep every 3-40 min",
    "moored_interval_hi_s": "as above",
    "speed_factor": "fleet-wide speed level (loading, weather, engine age)",
    "stay_median_h": "Caspian river-sea ships stay one to several days in port (cargo, papers, queues)",
    "stay_sigma": "spread of port stays (log-normal)",
    "queue_p": "anchorage queues at Caspian ports and the Volga canal entrance are common",
    "queue_h_max": "queues last 2 h to this",
    "off_at_berth_share": "crews switching AIS off alongside (allowed in port under SOLAS V/19 exceptions)",
    "stale_destination_p": "destination fields left from the last voyage: any crew forgets now and then",
    "dest_update_late_share": "crews who type the new destination hours after leaving (real NMEA: entries trail the "
                              "voyage), the rest at departure or just before",
    "dest_late_h_max": "a late entry comes 0.5 h to this after departure (times 0.5-2 per voyage)",
    "dest_update_rare_share": "crews who update only now and then (20-60 % of voyages): the entry stays stale for days",
    "dest_never_share": "one entry for the whole window: the home port, a route, 'FOR ORDERS'",
    "dest_code_share": "crews who write UN/LOCODEs ('RU MCX', 'RUMCX'; real NMEA: 'USHOU', 'CNTSN')",
    "dest_short_share": "crews who shorten the name to 4-8 letters ('MAKHACH'; real NMEA: 'GOTEBOR', 'ST-PET')",
    "dest_country_share": "crews who add the country ('AKTAU KZ'; real NMEA: 'RIGA LATVIA', 'TEES,U.K.')",
    "dest_route_share": "crews who write the route 'A-B' or 'A-B-A' (real NMEA: 'GRENA-VARBERG-GRENA'); three times "
                        "as many on ferries and supply boats",
    "dest_nonport_p": "per entry, no port: orders pending, a sea area, an oil field, junk (real NMEA: 'AWAITING "
                      "ORDERS', 'FISHING GROUNDS', 'HOME', '?')",
    "dest_blank_p": "per entry, the field cleared",
    "dest_typo_p": "per entry, a slip of the fingers (real NMEA: 'THYB0ROEN', 'ESBJERK', 'ROONE')",
    "dest_padding_share": "providers that keep the 6-bit '@' padding (real NMEA: 'PTO BELGRANO@@@@@@@A')",
    "static_loss_share": "ships whose static and voyage messages never reach the archive: no name, IMO, call sign, "
                         "type, destination or draught",
    "nav_misuse_share": "navigational status never switched: 'under way' alongside, 'moored' at sea, 'not defined'",
    "draught_update_share": "crews who type the draught again each voyage; the rest leave it as it was",
    "name_variant_share": "names that reach the archive in two spellings ('VOLGO-DON 5' / 'VOLGO DON 5') from "
                          "different receivers",
    "column_drop_p": "a provider leaves out an optional column group (identity, voyage data, navigational status) "
                     "altogether: drawn per group",
    "fault_rate_per_day": "transponder, GPS and power faults: once every 25-200 vessel-days",
    "fault_h_max": "faults last 2 h to this (log-uniform): until the next port or repair",
    "twin_vessel_share": "about a third of ships have a habit that looks like a dark event",
    "twin_voyage_share": "how often a ship's habit shows on a voyage where it can",
    "ru_ru_share": "Russian coastal and Volga trade (Makhachkala-Astrakhan-Olya)",
    "event_share_lo": "repeat offenders: the same ships call dark again and again in public reporting",
    "event_share_hi": "as above",
    "approach_off_km_max": "dark approaches to Amirabad/Anzali start 20 km to this far out",
    "oab_off_km_max": "out-and-back hidden calls: AIS off ~30-550 km before the Iranian port (the issue's range)",
    "slowdown_p": "some slow down visibly before switching off, others do not",
    "reappear_elsewhere_p": "AIS back on near the switch-off point, or anywhere along the way",
    "partial_p": "reduced transmit power or rare transmissions instead of a full switch-off",
    "partial_keep_p": "share of fixes still heard while 'partly on'",
    "hidden_stay_h_max": "a hidden call lasts 6 h to this (loading at a small berth)",
    "loiter_h_max": "dark loitering, drifting twins and rendezvous last 4 h to this (GFW loitering events: hours to "
                    "days)",
    "sts_one_dark_p": "in some meetings one ship stays visible while the other is dark",
    "mmsi_change_static_p": "a hull that takes a new MMSI is often renamed and reflagged too (new name and call "
                            "sign: the identity laundering RadianceFleet's merge rules look for)",
    "mmsi_change_imo_kept_p": "a renamed hull keeps its IMO (IMOs are kept or re-used; some laundered identities "
                              "carry none)",
    "spoof_circle_p": "spoofed positions are sent as one point or as circles about it (RadianceFleet's anchor and "
                      "circle spoofs; the circles seen off Chinese ports and in the Black Sea)",
    "interference_areas": "GNSS jamming and spoofing areas (reported in the Black Sea, the Baltic and around Russian "
                          "military sites): every ship's positions jump there, whatever its profile",
    "interference_radius_km": "an interference area's radius (published jamming maps: tens of km)",
    "interference_windows_per_week": "interference comes and goes: this many windows a week per area",
    "interference_h_max": "a window lasts 1 h to this (log-uniform)",
    "interference_fix_p": "share of a ship's fixes in an active area that land elsewhere",
    "interference_km_max": "how far such a fix lands from the ship: 20 km to this (jammed and spoofed positions "
                           "land tens to hundreds of km off)",
    "stale_speed_share": "ships whose speed field keeps the last sailing value at anchor or alongside (old GPS "
                         "units, a stuck NMEA talker): the look-alike of a fixed spoofed position",
    "default_mmsi_boats": "small craft (fishing, service) that keep the installer's default MMSI (MID + 000000: "
                          "GFW's 567000000 case) and share it, all benign",
}
assert set(REASONS) == set(RANGES)


def ranges_markdown() -> str:
    """``| parameter | range | unit | drawn | reason |`` rows for ``docs/simulator.md``."""
    rows = ["| parameter | range | unit | drawn | reason or source |", "|---|---|---|---|---|"]
    rows += [f"| `{n}` | {lo:g} - {hi:g} | {unit} | {how} | {REASONS[n]} |" for n, (lo, hi, how, unit) in RANGES.items()]
    return "\n".join(rows)
