"""The examples in the training modules' docstrings run and say what they show (behaviour
weights, the feed's typos, thinning a feed, the drawn world)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import training

MODULES = sorted(m.name for m in pkgutil.walk_packages(training.__path__, "training."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
