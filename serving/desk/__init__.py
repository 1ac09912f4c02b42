"""The analysts' desk (issue #25): a store of what was ingested, scored and found, day by day
(:mod:`.store`, :mod:`.models`, Alembic migrations in ``migrations/``), ``watch`` (:mod:`.watch`:
add files, rescore what they touch, record alerts by the rules of :mod:`.alerts`), and the
analysts who judge the alerts (:mod:`.analysts`). Every threshold is in :mod:`.config`."""
