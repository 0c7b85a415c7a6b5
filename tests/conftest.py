"""Set-up of every test session."""

import os
import shutil
import tempfile

# The most the default suite holds in the temporary directory at once, measured (du every 3 s over
# a whole run, 2026-12-06): 2.3 GB, mostly parity checkpoints (CenterNet-HG's official and converted
# files are 766 MB each). A passing test's files are removed at its teardown (setup.cfg).
SUITE_TMP_PEAK_GB = 2.3

_CACHE = {}


def pytest_configure(config):
    # Inductor's compile cache in a directory of this session (subprocesses inherit it), not the
    # machine's shared /tmp/torchinductor_<user>: a test's result must not depend on what earlier
    # runs left there (stale FX-graph entries written on an AVX-512 CPU corrupted the heap of a
    # CI run on another CPU). Costs the kernels' compilation once per session.
    _CACHE["dir"] = tempfile.mkdtemp(prefix="vp-inductor-")
    _CACHE["before"] = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = _CACHE["dir"]


def low_disk_message(directory, free_bytes, need_gb=SUITE_TMP_PEAK_GB):
    """The line to print when ``directory`` has less than ``need_gb`` free, else None."""
    free_gb = free_bytes / 1e9
    if free_gb >= need_gb:
        return None
    return (
        f"vision_plugins tests: only {free_gb:.1f} GB free in {directory}; the default suite holds "
        f"up to {need_gb} GB there at once: tests that write files will fail with 'No space left "
        "on device' (free space, or point TMPDIR or --basetemp elsewhere)"
    )


def pytest_report_collectionfinish(config):
    # Printed even with -q, before the first test: a full disk otherwise shows as hundreds of
    # unrelated-looking errors.
    directory = config.option.basetemp or tempfile.gettempdir()
    while not os.path.isdir(directory):
        directory = os.path.dirname(os.path.abspath(directory))
    return low_disk_message(directory, shutil.disk_usage(directory).free)


def pytest_unconfigure(config):
    if _CACHE.get("before") is None:
        os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
    else:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = _CACHE["before"]
    shutil.rmtree(_CACHE.pop("dir", ""), ignore_errors=True)
