"""Shared access to the parity fixtures at ../shared/parity (see its README)."""

import importlib.util
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARITY = os.path.normpath(os.path.join(REPO, "..", "shared", "parity"))

requires_fixtures = pytest.mark.skipif(
    not os.path.isdir(PARITY), reason=f"parity fixtures not found at {PARITY}"
)


def load_fixture(name):
    """``(manifest, official state_dict, image, expected)`` of fixture ``name``."""
    spec = importlib.util.spec_from_file_location("parity_synth", os.path.join(PARITY, "synth.py"))
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    return synth.load_fixture(os.path.join(PARITY, name))
