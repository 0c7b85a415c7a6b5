"""``tools/benchmark.py --official`` finds each architecture's runner through its spec
(``ArchSpec.official_runner``, ``"tests.official.<module>:runner"``); runs without official
code."""

import importlib
import importlib.util
import os
import sys

import pytest
from detectron2.config import CfgNode

import vision_plugins  # noqa: F401  (registers the specs)
from tests.parity import REPO
from vision_plugins.spec import SPECS

WITH_RUNNER = sorted(key for key, spec in SPECS.items() if spec.official_runner)


@pytest.fixture(scope="module")
def benchmark():
    """tools/benchmark.py, loaded from its file (``tools`` is not put on ``sys.path``)."""
    spec = importlib.util.spec_from_file_location(
        "vp_benchmark_tool", os.path.join(REPO, "tools", "benchmark.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cfg(key):
    arch, _, roi_heads = key.partition("/")
    return CfgNode({"MODEL": {"META_ARCHITECTURE": arch, "ROI_HEADS": {"NAME": roi_heads}}})


@pytest.mark.parametrize("key", WITH_RUNNER)
def test_every_spec_runner_resolves_to_a_context_manager(benchmark, key):
    path = list(sys.path)
    target = SPECS.get(key).official_runner
    module, _, function = target.partition(":")
    assert module.startswith("tests.official.") and function == "runner", target
    runner = benchmark.official_runner(_cfg(key))
    assert runner is getattr(importlib.import_module(module), function)
    assert hasattr(runner(None, None, None, None), "__enter__")  # nothing runs before entering
    assert sys.path == path


def test_no_runner_is_a_clear_error(benchmark):
    with pytest.raises(SystemExit, match="no official runner for VpNoSuchArch; available"):
        benchmark.official_runner(_cfg("VpNoSuchArch"))
