"""One exception family for everything a user can get wrong.

Every error darkvoyage raises for bad input, a missing model or an unusable output path is a
:class:`DarkvoyageError`: its message is one line that names the input and what was wrong
with it. The CLI turns any of them into that line and exit status 2; the service into a 4xx.
Anything else that escapes is a bug.

>>> try:
...     raise InputError("ais.csv: no column for mmsi")
... except DarkvoyageError as err:
...     print(err)
ais.csv: no column for mmsi
"""

from __future__ import annotations


class DarkvoyageError(ValueError):
    """Base of every user-facing error; ``str(err)`` is the one line shown to the user."""


class InputError(DarkvoyageError):
    """An input file that cannot be read at all (missing, wrong format, no usable columns)."""


class OutputError(DarkvoyageError):
    """An output path darkvoyage cannot write (unknown suffix, missing folder)."""


class GazetteerError(DarkvoyageError):
    """A port list that cannot be used (missing columns, bad coordinates)."""


class ConfigError(DarkvoyageError):
    """A threshold or setting with an unusable value."""


class EngineError(InputError):
    """The chosen engine cannot run here (PySpark missing, Java missing, cluster unreachable)."""
