"""The test session's own set-up (tests/conftest.py)."""

import shutil
import types
from collections import namedtuple

from . import conftest

Usage = namedtuple("Usage", "total used free")


def test_low_disk_message_names_the_directory_and_both_sizes():
    assert conftest.low_disk_message("/scratch", 2_300_000_000, need_gb=2.3) is None
    message = conftest.low_disk_message("/scratch", 1_240_000_000, need_gb=2.3)
    assert "only 1.2 GB free in /scratch" in message
    assert "up to 2.3 GB" in message and "No space left on device" in message


def test_the_warning_is_printed_for_the_basetemp_or_its_nearest_existing_parent(
    tmp_path, monkeypatch
):
    seen = []

    def usage(path):
        seen.append(path)
        return Usage(100, 90, 10**8)

    monkeypatch.setattr(shutil, "disk_usage", usage)
    config = types.SimpleNamespace(option=types.SimpleNamespace(basetemp=str(tmp_path / "a" / "b")))
    line = conftest.pytest_report_collectionfinish(config)
    assert seen == [str(tmp_path)]
    assert line.startswith(f"vision_plugins tests: only 0.1 GB free in {tmp_path};")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(100, 0, 10**11))
    assert conftest.pytest_report_collectionfinish(config) is None
