"""Analysts and their keys. A key is 32 random bytes (URL-safe text) shown once when the analyst
is added; the store keeps its SHA-256 only, so a copy of the store gives no one a key. (A key
of that length needs no slow hash: there is nothing to guess.)"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, UTC

from sqlalchemy import select

from .models import Analyst
from .store import Store, StoreError, writing


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def add_analyst(store: Store, name: str) -> str:
    """Register ``name``; returns their new key."""
    name = name.strip()
    if not name or len(name) > 200:
        raise StoreError(f"analyst name {name!r}: give 1 to 200 characters")
    key = secrets.token_urlsafe(32)
    with writing(store) as s:
        if s.scalar(select(Analyst.id).where(Analyst.name == name)) is not None:
            raise StoreError(f"analyst {name!r} is already in {store.url}")
        s.add(Analyst(name=name, key_hash=key_hash(key), created_at=datetime.now(UTC)))
    return key


def analyst_of_key(store: Store, key: str | None) -> Analyst | None:
    """The analyst whose key this is, or None."""
    if not key:
        return None
    # Looked up by the key's SHA-256: timing can only tell how much of a hash matched, and no one
    # can aim at a hash without the key (256 random bits).
    with store.engine.connect() as conn:
        r = conn.execute(select(Analyst.id, Analyst.name, Analyst.key_hash)
                         .where(Analyst.key_hash == key_hash(key))).first()
    return None if r is None else Analyst(id=r.id, name=r.name, key_hash=r.key_hash)
