"""Test-wide settings: a private cache so tests never touch (or depend on) the user's cache."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    if "MEDGEN_NB_TEST_CACHE" in os.environ:  # reuse a warm cache between local runs
        os.environ["MEDGEN_NB_CACHE"] = os.environ["MEDGEN_NB_TEST_CACHE"]
    else:
        os.environ.setdefault("MEDGEN_NB_CACHE", str(tmp_path_factory.mktemp("medgen_cache")))
    yield
