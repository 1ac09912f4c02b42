"""Feature families: one small module per kind of evidence, each a few functions over the
shared :class:`~features.families.index.VoyageIndex`. Each module lists its model inputs in
``FEATURES`` (column, unit, meaning); :mod:`features.catalogue` puts them together in this
order and :mod:`features.voyage_table` assembles the table.
"""

from . import dark_calls, declared, edges, gaps, identity, loitering, motion, out_and_back, ports

#: The families in the order of their columns in the voyage table.
FAMILIES = (motion, gaps, dark_calls, out_and_back, loitering, ports, declared, edges, identity)
