"""The examples in the modules' docstrings run and say what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import features

MODULES = sorted(m.name for m in pkgutil.walk_packages(features.__path__, "features.")
                 if not m.name.startswith("features.spark"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
