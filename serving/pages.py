"""The offline HTML pages' templates (``serving/templates``): one Jinja2 environment, built
once, autoescaped, so every cell a page shows is text."""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, keep_trailing_newline=True)


def page(name: str) -> jinja2.Template:
    """The template ``serving/templates/<name>``."""
    return _environment().get_template(name)
