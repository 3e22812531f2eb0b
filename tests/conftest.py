"""Shared test fixtures (kept minimal).

``tests/`` is put on sys.path so that tests and tools can ``import oracles``.
"""
import os
import shutil
import sys

import pytest

_TESTS = os.path.dirname(os.path.abspath(__file__))
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


@pytest.fixture(scope="session")
def need_tool():
    """need_tool("readelf") -> absolute path, or skip the test with a clear reason."""
    def need(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            pytest.skip(f"{name} not found on PATH")
        return path
    return need
