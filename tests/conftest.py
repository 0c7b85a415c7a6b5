"""Set-up of every test session."""

import os
import shutil
import tempfile

_CACHE = {}


def pytest_configure(config):
    # Inductor's compile cache in a directory of this session (subprocesses inherit it), not the
    # machine's shared /tmp/torchinductor_<user>: a test's result must not depend on what earlier
    # runs left there (stale FX-graph entries written on an AVX-512 CPU corrupted the heap of a
    # CI run on another CPU). Costs the kernels' compilation once per session.
    _CACHE["dir"] = tempfile.mkdtemp(prefix="vp-inductor-")
    _CACHE["before"] = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = _CACHE["dir"]


def pytest_unconfigure(config):
    if _CACHE.get("before") is None:
        os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
    else:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = _CACHE["before"]
    shutil.rmtree(_CACHE.pop("dir", ""), ignore_errors=True)
