"""Reading an AIS destination field as crews type it: which known port(s) does it name?

The field is free text, at most 20 characters in AIS, typed by hand or left from the last
voyage: a spelling or transliteration of the port (``MAHACHKALA``), a UN/LOCODE with or
without its space (``RU MCX``, ``RUMCX``), a truncation (``MAKHACH``), a typo (``AKTAO``), a
round trip (``ALAT-AKTAU-ALAT``), a port with its country (``AKTAU KZ``), AIS padding
(``AKTAU@@@@``), or no port at all (``FOR ORDERS``, ``CASPIAN SEA``, an oil field, a phone
number). :class:`DestinationReader` answers with the set of gazetteer ports the text names
and what kind of text it is; text that names no known port is *unknown*, never a mismatch.

How a text is read (each step only where the ones before found nothing for those words):

1. Normalise: upper case, AIS padding ``@`` and punctuation to spaces, a zero between letters
   to ``O`` (``THYB0ROEN``); split into words and legs (legs are cut at ``- > / = + , _``).
2. Exact aliases over runs of words, longest first, spaces ignored: every port name, alias
   and code of the gazetteer's ``aliases`` column (``BANDAR-E ANZALI`` = ``BANDAR E ANZALI``).
3. The words left: non-port phrases (``features/data/destination_nonport.csv``: orders
   pending, sea areas, offshore fields, activities, placeholders) and country words are
   dropped; each leg left is matched fuzzily (rapidfuzz ``ratio``) or as a truncation of an
   alias. Short texts (under ``dest_fuzzy_min_chars``) match exactly or not at all.

>>> from features.gazetteer import load_gazetteer
>>> r = reader_for(load_gazetteer())
>>> [r.read(t).port_ids for t in ("MAHACHKALA", "RU MCX", "AKTAO", "ALAT-AKTAU-ALAT", "FOR ORDERS")]
[('RUMCX',), ('RUMCX',), ('KZAAU',), ('KZAAU', 'AZALA'), ()]
>>> r.read("FOR ORDERS").kind, r.read("SKAW").kind, r.read("").kind
('non-port', 'unknown', 'empty')
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from .config import DEFAULT, PACKAGED_DATA, Config
from .gazetteer import Gazetteer

NONPORT_FILE = PACKAGED_DATA / "destination_nonport.csv"
#: Leg separators crews use between ports of a route: ``A-B-A``, ``A>B``, ``A/B``, ``A=B``.
_SEPARATORS = re.compile(r"\s*(?:<>|[-/>=+,_\\]|<)\s*")
#: Words that say where a port is, not which: a country, its code, or the kind of place.
_FILLER = frozenset("""RUSSIA RUSSIAN FEDERATION RF RUS RU IRAN IRI IR KAZAKHSTAN KAZ KZ AZERBAIJAN AZE AZ
    TURKMENISTAN TKM TM PORT PT OF THE ANCH ANCHORAGE ROADS OPL PILOT STATION AREA TERMINAL BERTH""".split())
#: A phone number or a radio channel instead of a port (``TLF +4721549177``, ``MOB 90834544``).
_CONTACT = re.compile(r"\d{6,}|\bCH\s*\d{1,2}\b|\bTLF\b|\bTEL\b|\bMOB(ILE)?\b")

#: Kinds of text (:attr:`Reading.kind`).
PORT, NON_PORT, UNKNOWN, EMPTY = "port", "non-port", "unknown", "empty"


@dataclass(frozen=True)
class Reading:
    """What one destination text names: gazetteer port indices (several for a route) and the
    kind of text (``port``, ``non-port``, ``unknown``, ``empty``)."""

    ports: tuple[int, ...]
    port_ids: tuple[str, ...]
    kind: str


def normalise(text) -> str:
    """Upper case, AIS padding and punctuation to spaces, a zero between letters to O.

    >>> normalise(" Thyb0roen@@@ ")
    'THYBOROEN'
    >>> normalise("ST.PETERBURG,  RUSSIA")
    'ST PETERBURG, RUSSIA'
    """
    s = str(text).upper().replace("@", " ")
    s = re.sub(r"(?<=[A-Z])0(?=[A-Z])", "O", s)
    s = re.sub(r"[^A-Z0-9<>/=+,_\\ -]+", " ", s)
    return re.sub(r"\s+", " ", s).strip(" -_,/")


def _key(words) -> str:
    return "".join(words)


class DestinationReader:
    """Reads destination texts against one gazetteer (its names, ids and ``aliases``)."""

    def __init__(self, gaz: Gazetteer, cfg: Config = DEFAULT, nonport: tuple[str, ...] | None = None):
        self.gaz = gaz
        self.min_chars = int(cfg.dest_fuzzy_min_chars)
        self.min_score = float(cfg.dest_fuzzy_min_score)
        self.prefix_share = float(cfg.dest_prefix_min_share)
        index: dict[str, set[int]] = {}
        near: dict[str, set[int]] = {}  # the same without filler words, for near spellings
        for i, names in enumerate(gaz.aliases):
            for name in names:
                words = normalise(name).replace("-", " ").split()
                for table, key in ((index, _key(words)), (near, _key(w for w in words if w not in _FILLER))):
                    if key:
                        table.setdefault(key, set()).add(i)
        self.index = {k: tuple(sorted(v)) for k, v in index.items()}
        self.near = {k: tuple(sorted(v)) for k, v in near.items()}
        self.near_keys = list(self.near)
        phrases = load_nonport() if nonport is None else nonport
        # Longest first, so 'WAITING FOR ORDERS' goes before 'ORDERS'.
        self.nonport = sorted({tuple(normalise(p).split()) for p in phrases}, key=len, reverse=True)
        self.read = functools.lru_cache(maxsize=65536)(self._read)

    def _read(self, text) -> Reading:
        if text is None or (isinstance(text, float) and np.isnan(text)):
            return self._reading((), EMPTY)
        s = normalise(text)
        if not re.search(r"[A-Z0-9]", s):
            return self._reading((), EMPTY)
        whole = self.index.get(_key(s.replace("-", " ").split()))
        if whole:
            return self._reading(whole, PORT)
        legs = [leg.split() for leg in _SEPARATORS.split(s) if leg.strip()]
        words = [w for leg in legs for w in leg]
        leg_of = [k for k, leg in enumerate(legs) for _ in leg]
        found, used = self._exact_runs(words)
        rest = [(w, leg_of[i]) for i, w in enumerate(words) if not used[i]]
        rest, had_nonport = self._drop_nonport(rest)
        if not found:
            for k in sorted({leg for _, leg in rest}):
                found |= self._fuzzy([w for w, leg in rest if leg == k and w not in _FILLER])
        if found:
            return self._reading(tuple(sorted(found)), PORT)
        return self._reading((), NON_PORT if had_nonport or _CONTACT.search(s) else UNKNOWN)

    def _reading(self, ports, kind: str) -> Reading:
        return Reading(tuple(ports), tuple(str(self.gaz.ids[i]) for i in ports), kind)

    def _exact_runs(self, words: list[str]) -> tuple[set[int], list[bool]]:
        """Ports named by runs of words that are an alias exactly, longest runs first."""
        used, found, n = [False] * len(words), set(), len(words)
        for size in range(n, 0, -1):
            for i in range(n - size + 1):
                if any(used[i:i + size]):
                    continue
                hit = self.index.get(_key(words[i:i + size]))
                if hit:
                    found.update(hit)
                    used[i:i + size] = [True] * size
        return found, used

    def _drop_nonport(self, rest: list[tuple[str, int]]) -> tuple[list[tuple[str, int]], bool]:
        """The words left once every non-port phrase is taken out; whether one was."""
        words = [w for w, _ in rest]
        drop = [False] * len(words)
        for phrase in self.nonport:
            n = len(phrase)
            for i in range(len(words) - n + 1):
                if not any(drop[i:i + n]) and tuple(words[i:i + n]) == phrase:
                    drop[i:i + n] = [True] * n
        return [x for x, d in zip(rest, drop) if not d], any(drop)

    def _fuzzy(self, words: list[str]) -> set[int]:
        """Ports one leg names by a near spelling or a truncation: one port (or one group an
        alias names), or nothing when the near spellings and truncations disagree ('ASTRA'
        begins ASTRAKHAN and is one letter from ASTARA)."""
        key = _key(words)
        if len(key) < self.min_chars:
            return set()
        hits = process.extract(key, self.near_keys, scorer=fuzz.ratio, score_cutoff=self.min_score, limit=8)
        best = max((h[1] for h in hits), default=0.0)
        ports = {self.near[h[0]] for h in hits if h[1] >= best - 1e-9}
        ports |= {self.near[k] for k in self.near_keys if k.startswith(key) and len(key) >= self.prefix_share * len(k)}
        return set(ports.pop()) if len(ports) == 1 else set()

    def read_all(self, texts) -> TextReadings:
        """The readings of many texts, each distinct text read once (a fleet types few)."""
        codes, uniq = pd.factorize(pd.Series(texts, dtype=object), use_na_sentinel=True)
        read = [self.read(t) for t in uniq]
        table = np.zeros((len(read), self.gaz.n), bool)
        for i, r in enumerate(read):
            table[i, list(r.ports)] = True
        ids = np.array(["|".join(r.port_ids) or None for r in read] + [None], dtype=object)
        return TextReadings(codes, table, ids)


@dataclass(frozen=True)
class TextReadings:
    """:meth:`DestinationReader.read_all`'s answer: per text the code of its distinct text
    (-1: missing), and per distinct text the ports it names (a row of booleans) and their ids."""

    codes: np.ndarray   # (n,) int
    table: np.ndarray   # (distinct texts, ports) bool
    ids: np.ndarray     # (distinct texts + 1,) '|'-joined port ids or None; the last for code -1

    @property
    def port_ids(self) -> np.ndarray:
        """Per text, the port ids it names, '|'-joined (None: none)."""
        return self.ids[self.codes]

    @property
    def known(self) -> np.ndarray:
        """Per text: it names at least one known port."""
        return np.r_[self.table.any(axis=1), False][self.codes]

    def names(self, ports: np.ndarray) -> np.ndarray:
        """Per text: 1.0 when it names port index ``ports[i]``, 0.0 when it names known ports
        but not that one, NaN when it names none (unknown, non-port, empty) or the row has no
        port (-1).

        >>> from features.gazetteer import load_gazetteer
        >>> r = reader_for(load_gazetteer())
        >>> aktau = int(np.flatnonzero(r.gaz.ids == "KZAAU")[0])
        >>> texts = np.array(["AKTAU", "BAKU", "FOR ORDERS", None], object)
        >>> r.read_all(texts).names(np.array([aktau] * 4)).tolist()
        [1.0, 0.0, nan, nan]
        """
        ports = np.asarray(ports)
        out = np.full(len(self.codes), np.nan)
        ok = np.flatnonzero((self.codes >= 0) & (ports >= 0))
        if len(ok):
            rows = self.table[self.codes[ok]]
            hit = rows[np.arange(len(ok)), ports[ok]]
            out[ok] = np.where(rows.any(axis=1), hit.astype(float), np.nan)
        return out


@functools.lru_cache(maxsize=1)
def load_nonport() -> tuple[str, ...]:
    """The non-port phrases of ``features/data/destination_nonport.csv``."""
    return tuple(pd.read_csv(NONPORT_FILE, dtype=str)["phrase"].dropna())


def reader_for(gaz: Gazetteer, cfg: Config = DEFAULT) -> DestinationReader:
    """One reader per gazetteer and reading thresholds (its alias index is built once)."""
    return _reader(gaz, cfg.dest_fuzzy_min_chars, cfg.dest_fuzzy_min_score, cfg.dest_prefix_min_share)


@functools.lru_cache(maxsize=8)
def _reader(gaz: Gazetteer, min_chars: int, min_score: float, prefix_share: float) -> DestinationReader:
    return DestinationReader(gaz, DEFAULT.with_(dest_fuzzy_min_chars=min_chars, dest_fuzzy_min_score=min_score,
                                                dest_prefix_min_share=prefix_share))
