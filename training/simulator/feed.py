"""What the archive receives besides positions: destination, name, draught and navigational
status as crews type them and providers deliver them.

A model learns whatever separates the classes, so every habit here is drawn per ship from the
world's shares (``training/simulator/world.py``), independently of its profile, from the ship's own
random stream (a habit costs no draw elsewhere). The planner records, per fix, the port the
crew means (an *intent*: the next port, or a deliberate declaration that is always typed); this
module turns intents into the text of the destination field:

- **when** the entry changes: at departure (sometimes before leaving), hours late, rarely (a
  stale entry for days and voyages), or never (one entry for the whole window), and on any
  voyage it may be left as it was (``stale_destination_p``);
- **what** is typed: the crew's own spelling of the port (``SPELLINGS``: transliterations,
  Russian and local forms, some the gazetteer does not know), its UN/LOCODE with or without
  the space, a truncation, the port with its country, a route ``A-B`` or ``A-B-A``, or no port
  at all (orders pending, a sea area, an oil field), or nothing; typos; AIS '@' padding; at
  most 20 characters.

Ships whose static messages never reach the archive have no name, IMO, call sign, type,
destination or draught at all; some misuse the navigational status; draughts are rarely
updated; names arrive in two spellings. ``docs/simulator.md`` lists the ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Ports as the planner names them (gazetteer ids) and the offshore platforms, in code order.
INTENTS: tuple[str, ...] = ("AZALA", "AZBAK", "AZSAN", "IR-CASPN", "IRASR", "IRBAM", "IRBAZ", "IRFKR", "IRNEK",
                            "IRNSH", "KZAAU", "KZBTN", "KZGUW", "KZKUR", "RU-VCSC-N1", "RUASF", "RUMCX", "RUOYA",
                            "TM-EKERM", "TMKRW", "TMZ7H", "PLATFORM")
#: A deliberate declaration (a false destination, an order given at departure) is the intent's
#: code plus this: always typed, at departure, whatever the crew's habit.
FORCED = len(INTENTS)

#: What crews type for each port, with weights: the common form first. Written from public
#: usage (Russian and local transliterations, former names, port districts), independently of
#: the gazetteer's aliases, so some forms are ones the reader does not know.
SPELLINGS: dict[str, tuple[tuple[str, float], ...]] = {
    "RUASF": (("ASTRAKHAN", 6), ("ASTRAHAN", 2), ("ASTRAKHAN PORT", 1), ("ASTRAKHAN SEAPORT", 0.5),
              ("ASTRAKHAN ROADS", 0.3), ("AST", 0.3), ("ASTRAKHANSKIY PORT", 0.2)),
    "RUOYA": (("OLYA", 6), ("OLIA", 1), ("OLYA-3", 1), ("PORT OLYA", 0.5), ("OLJA", 0.3)),
    "RUMCX": (("MAKHACHKALA", 6), ("MAHACHKALA", 3), ("MAKHACHKALA PORT", 0.5), ("MCHKALA", 0.2),
              ("MAHACKALA", 0.3)),
    "KZAAU": (("AKTAU", 8), ("AQTAU", 1), ("AKTAU PORT", 0.5), ("AKTAU ROADS", 0.3)),
    "KZKUR": (("KURYK", 6), ("KURIK", 1), ("PORT KURYK", 0.5)),
    "KZBTN": (("BAUTINO", 6), ("BAUTINO BAY", 0.5)),
    "KZGUW": (("ATYRAU", 6), ("ATIRAU", 1)),
    "TMKRW": (("TURKMENBASHI", 6), ("TURKMENBASY", 2), ("TURKMENBASHY", 1), ("T-BASHI", 0.3)),
    "TMZ7H": (("HAZAR", 4), ("CHELEKEN", 2), ("ALAJA", 1)),
    "TM-EKERM": (("EKEREM", 4), ("OKAREM", 2)),
    "AZALA": (("ALAT", 6), ("BAKU", 3), ("ALYAT", 1), ("BAKU PORT", 1), ("ALAT PORT", 0.5)),
    "AZBAK": (("BAKU", 8), ("BAKI", 1), ("BAKU ROADS", 0.5)),
    "AZSAN": (("SANGACHAL", 6), ("SANGACHALY", 1)),
    "IR-CASPN": (("CASPIAN PORT", 4), ("ANZALI", 2), ("ANZALI FTZ", 0.5)),
    "IRASR": (("ASTARA", 6), ("ASTARA IRAN", 0.5)),
    "IRBAM": (("AMIRABAD", 6), ("AMIR ABAD", 1), ("BANDAR AMIRABAD", 1), ("AMIRABAD PORT", 0.5)),
    "IRBAZ": (("BANDAR ANZALI", 4), ("ANZALI", 4), ("BANDAR-E ANZALI", 1), ("ENZELI", 0.3), ("B. ANZALI", 0.3)),
    "IRFKR": (("FEREYDUNKENAR", 3), ("FEREYDOONKENAR", 2), ("FREIDOON KENAR", 1)),
    "IRNEK": (("NEKA", 6), ("BANDAR NEKA", 1), ("NEKA TERMINAL", 0.5)),
    "IRNSH": (("NOWSHAHR", 4), ("NOSHAHR", 2), ("NOW SHAHR", 1)),
}
#: UN/LOCODEs as crews write them (with the space; some drop it).
CODES = {"RUASF": "RU ASF", "RUOYA": "RU OYA", "RUMCX": "RU MCX", "KZAAU": "KZ AAU", "KZKUR": "KZ KUR",
         "KZBTN": "KZ BTN", "KZGUW": "KZ GUW", "TMKRW": "TM KRW", "TMZ7H": "TM Z7H", "AZALA": "AZ ALA",
         "AZSAN": "AZ SAN", "IRBAZ": "IR BAZ", "IRBAM": "IR AMD", "IRNEK": "IR NEK", "IRFKR": "IR FKR",
         "IRASR": "IR ASR", "IRNSH": "IR NSH"}
#: The country a port's text may carry after it, as crews add it.
COUNTRY = {"RU": (" RUSSIA", " RU", " RF", ",RUSSIA"), "IR": (" IRAN", " IR", ",IRAN"), "KZ": (" KZ", " KAZAKHSTAN"),
           "AZ": (" AZ", " AZERBAIJAN"), "TM": (" TM", " TURKMENISTAN")}
#: Entries that name no port: orders pending, a sea area, an offshore field, an activity, junk.
NON_PORT = ("FOR ORDERS", "AWAITING ORDERS", "WAITING FOR ORDERS", "TBA", "CASPIAN SEA", "CASPIAN", "NORTH CASPIAN",
            "ANCHORAGE", "ROADS", "KASHAGAN", "SHAH DENIZ", "ACG", "CHIRAG", "BUNKERING", "HOME", "N/A", "-", "???",
            "SEA", "STANDBY")
#: Where a supply boat says it is going when it heads for a platform.
FIELDS = ("SHAH DENIZ", "ACG", "CHIRAG", "NEFT DASHLARI", "AZERI", "PLATFORM", "OFFSHORE")
#: The destination field holds 20 characters (ITU-R M.1371, message 5).
FIELD_CHARS = 20


@dataclass
class FeedHabits:
    """One ship's habits in what it sends, drawn once (:func:`draw_habits`)."""

    update: str            # departure | late | rarely | never
    update_p: float        # chance a voyage's entry is typed at all
    late_h: float          # 'late': mean hours after departure
    form: str              # name | code | short | country | route
    code_space: bool       # writes a UN/LOCODE with its space
    padding: bool          # the provider keeps the 6-bit '@' padding
    typo_p: float          # per typed entry
    nonport_p: float       # per typed entry: no port at all
    blank_p: float         # per typed entry: the field cleared
    static_lost: bool      # no static or voyage message reaches the archive
    nav: str               # ok | stuck_0 | stuck_5 | undefined
    draught_updates: bool  # draught typed again each voyage (else left as it is)
    name_variant: str      # a second spelling of the name some receivers deliver, or ""
    stale_speed: bool = False  # the speed field keeps the last sailing value while at rest
    rng: np.random.Generator = field(repr=False, default=None)
    spelling: dict = field(default_factory=dict)  # per port: this crew's spelling, chosen once


def _pick(rng, shares: dict) -> str:
    """One key of ``shares`` (shares of the rest; what is left goes to the first key)."""
    x, acc = rng.random(), 0.0
    keys = list(shares)
    for k in keys[1:]:
        acc += shares[k]
        if x < acc:
            return k
    return keys[0]


def draw_habits(mmsi: int, kind: str, name: str, world, seed: int) -> FeedHabits:
    """A ship's habits from the world's shares, from its own stream (``seed``, ``mmsi``)."""
    rng = np.random.default_rng([int(seed), int(mmsi), 0xFEED])
    shuttle = kind in ("ferry", "supply")
    update = _pick(rng, {"departure": 0, "late": world.dest_update_late_share, "rarely": world.dest_update_rare_share,
                         "never": world.dest_never_share})
    form = _pick(rng, {"name": 0, "code": world.dest_code_share, "short": world.dest_short_share,
                       "country": world.dest_country_share,
                       "route": min(world.dest_route_share * (3.0 if shuttle else 1.0), 0.5)})
    variant = name.replace("-", " ") if rng.random() < 0.5 else name.replace("-", "")
    return FeedHabits(
        update=update, update_p=float(rng.uniform(0.2, 0.6)) if update == "rarely" else 1.0 - world.stale_destination_p,
        late_h=float(rng.uniform(0.5, world.dest_late_h_max)), form=form, code_space=bool(rng.random() < 0.6),
        padding=bool(rng.random() < world.dest_padding_share), typo_p=float(world.dest_typo_p * rng.uniform(0, 2)),
        nonport_p=float(world.dest_nonport_p * rng.uniform(0, 2)), blank_p=float(world.dest_blank_p * rng.uniform(0, 2)),
        static_lost=bool(rng.random() < world.static_loss_share),
        nav=_pick(rng, {"ok": 0, "stuck_0": world.nav_misuse_share * 0.5, "stuck_5": world.nav_misuse_share * 0.2,
                        "undefined": world.nav_misuse_share * 0.3}),
        draught_updates=bool(rng.random() < world.draught_update_share),
        name_variant=variant if rng.random() < world.name_variant_share and variant != name else "",
        stale_speed=bool(rng.random() < world.stale_speed_share), rng=rng)


# --- the destination field -----------------------------------------------------------------

def typo(text: str, rng) -> str:
    """One slip of the fingers in a word of five letters or more: a letter dropped, doubled,
    swapped with the next, or replaced by a neighbour on the keyboard; else the text as is.

    >>> typo("AKTAU", np.random.default_rng(1)) != "AKTAU"
    True
    """
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    if len(letters) < 5:
        return text
    i = letters[rng.integers(1, len(letters))]
    op = rng.integers(4)
    if op == 0:
        return text[:i] + text[i + 1:]
    if op == 1:
        return text[:i] + text[i] + text[i:]
    if op == 2 and i + 1 < len(text):
        return text[:i - 1] + text[i] + text[i - 1] + text[i + 1:]
    near = "QWERTYUIOPASDFGHJKLZXCVBNM"
    k = near.index(text[i]) if text[i] in near else 0
    return text[:i] + near[(k + 1) % len(near)] + text[i + 1:]


def _spelling(h: FeedHabits, port: str) -> str:
    if port not in h.spelling:
        forms = SPELLINGS.get(port, ((port, 1.0),))
        w = np.array([f[1] for f in forms], float)
        h.spelling[port] = forms[h.rng.choice(len(forms), p=w / w.sum())][0]
    return h.spelling[port]


def render(h: FeedHabits, port: str, country: dict, previous: str | None = None, home: str | None = None) -> str:
    """The text this crew types for a voyage to ``port`` (a gazetteer id, or PLATFORM)."""
    rng = h.rng
    if port == "PLATFORM":
        return FIELDS[rng.integers(len(FIELDS))]
    if port == "RU-VCSC-N1":  # bound up the canal: the crew names the river port
        port = "RUASF"
    name = _spelling(h, port)
    if h.form == "code" and port in CODES:
        text = CODES[port] if h.code_space else CODES[port].replace(" ", "")
    elif h.form == "short" and len(name.replace(" ", "")) > 5:
        text = name.replace(" ", "")[:int(rng.integers(4, 9))]
    elif h.form == "country" and country.get(port) in COUNTRY:
        suffixes = COUNTRY[country[port]]
        text = name + suffixes[rng.integers(len(suffixes))]
    elif h.form == "route" and previous and previous not in ("PLATFORM", port):
        a = _spelling(h, "RUASF" if previous == "RU-VCSC-N1" else previous)
        text = f"{a}-{name}-{a}" if home == previous and rng.random() < 0.5 else f"{a}-{name}"
    else:
        text = name
    if rng.random() < h.typo_p:
        text = typo(text, rng)
    return text


def _finish(text: str, h: FeedHabits) -> str:
    text = text[:FIELD_CHARS]
    return text.ljust(FIELD_CHARS, "@") if h.padding and text else text


def destination_texts(t: np.ndarray, intent: np.ndarray, h: FeedHabits, country: dict,
                      home: str) -> tuple[np.ndarray, list[str]]:
    """The destination field at each fix: (index into the returned texts per fix, texts).

    ``t``: every planned fix's time (s, ascending), ``intent``: its intent code (an index of
    :data:`INTENTS`, plus :data:`FORCED` for a deliberate declaration). The entry changes when
    the intent does (the ship departs), as the crew's habit has it.
    """
    rng = h.rng
    if len(t) == 0:
        return np.zeros(0, np.int64), []
    starts = np.flatnonzero(np.r_[True, intent[1:] != intent[:-1]])
    if h.update == "never":  # one entry for the whole window
        x = rng.random()
        text = (render(h, home, country) if x < 0.5 else NON_PORT[rng.integers(len(NON_PORT))] if x < 0.75
                else render(h, INTENTS[int(intent[0]) % FORCED], country, previous=home, home=home))
        return np.zeros(len(t), np.int64), [_finish(text, h)]
    times, texts, previous = [-np.inf], [], home
    for k, s in enumerate(starts):
        code = int(intent[s])
        port, forced = INTENTS[code % FORCED], code >= FORCED
        if k > 0 and not forced and rng.random() >= h.update_p:
            previous = port
            continue  # left as it was: a stale entry
        if forced:
            text = render(h, port, country)
        elif rng.random() < h.blank_p:
            text = ""
        elif rng.random() < h.nonport_p:
            text = NON_PORT[rng.integers(len(NON_PORT))]
        else:
            text = render(h, port, country, previous=previous, home=home)
        if k > 0:
            delay = (float(rng.uniform(0.5, 2.0)) * h.late_h if h.update == "late" and not forced
                     else float(rng.uniform(-1.0, 0.5)))
            nxt = t[starts[k + 1]] if k + 1 < len(starts) else np.inf
            # Typed before leaving at the earliest, and before the next departure at the latest.
            times.append(float(np.clip(t[s] + delay * 3600.0, max(times[-1], t[max(s - 1, 0)]), nxt - 1.0)))
        texts.append(_finish(text, h))
        previous = port
    return np.searchsorted(np.asarray(times), t, side="right") - 1, texts


def nav_status(nav: np.ndarray, h: FeedHabits) -> np.ndarray:
    """The navigational status sent: as sailed, or stuck on 'under way' (0) or 'moored' (5),
    or 'not defined' (15), as crews who never touch the switch send it."""
    fixed = {"stuck_0": 0, "stuck_5": 5, "undefined": 15}.get(h.nav)
    return nav if fixed is None else np.full(len(nav), fixed, nav.dtype)


def draughts(t: np.ndarray, intent: np.ndarray, h: FeedHabits, base: float) -> np.ndarray:
    """Draught per fix (m): typed again at each departure (laden or in ballast) by some crews,
    left at one value by most."""
    if not h.draught_updates or len(t) == 0:
        return np.full(len(t), base)
    run = np.cumsum(np.r_[True, intent[1:] != intent[:-1]]) - 1
    values = np.round(np.where(h.rng.random(run[-1] + 1) < 0.5, h.rng.uniform(3.4, 4.6, run[-1] + 1),
                               h.rng.uniform(2.2, 3.2, run[-1] + 1)), 1)
    return values[run]


#: Below this speed (kn) a ship is at rest; a stale speed field repeats the last reading at or
#: above ``STALE_FROM_KN``.
AT_REST_KN, STALE_FROM_KN = 1.0, 3.0


def stale_speeds(sog: np.ndarray, h: FeedHabits) -> np.ndarray:
    """The speed field as sent: with ``h.stale_speed``, every reading at rest repeats the
    last sailing one (the look-alike of a fixed spoofed position: the position moves by
    metres, the speed says sailing).

    >>> h = FeedHabits("departure", 1, 1, "name", True, False, 0, 0, 0, False, "ok", False, "", stale_speed=True)
    >>> stale_speeds(np.array([9.5, 0.2, 0.1, 4.0, 0.3]), h).tolist()
    [9.5, 9.5, 9.5, 4.0, 4.0]
    """
    if not h.stale_speed or not len(sog):
        return sog
    moving = sog >= STALE_FROM_KN
    last = np.maximum.accumulate(np.where(moving, np.arange(len(sog)), -1))
    rest = (sog < AT_REST_KN) & (last >= 0)
    return np.where(rest, sog[np.maximum(last, 0)], sog)


#: Optional column groups a provider may leave out altogether (``column_drop_p`` each).
COLUMN_GROUPS = {"identity": ("name", "imo", "callsign", "ship_type"), "voyage": ("destination", "draught"),
                 "status": ("nav_status", "heading")}


def dropped_columns(world) -> list[str]:
    """The optional columns this world's provider does not deliver (deterministic per world)."""
    rng = np.random.default_rng([int(world.world_seed), 0xC015])
    return [c for cols in COLUMN_GROUPS.values() if rng.random() < world.column_drop_p for c in cols]
