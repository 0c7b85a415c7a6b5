"""The scripts of ``tools/`` as modules for the tests, loaded from their files (no ``sys.path``
edit): ``load_tool("demo")``."""

import importlib.util
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_tool(name):
    """``tools/<name>.py`` as a module, loaded once (``sys.modules["vp_tools.<name>"]``)."""
    key = f"vp_tools.{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            key, os.path.join(REPO, "tools", f"{name}.py")
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[key]
            raise
    return sys.modules[key]


def run_benchmark(tmp_path, config, *args):
    """``tools/benchmark.py --config-file config --output tmp_path/bench.json *args`` (options,
    then KEY VALUE overrides); returns the JSON (torch's thread count restored: ``--threads``
    sets it process-wide)."""
    import json

    import torch

    out = tmp_path / "bench.json"
    threads = torch.get_num_threads()
    try:
        load_tool("benchmark").main(["--config-file", config, "--output", str(out), *args])
    finally:
        torch.set_num_threads(threads)
    return json.loads(out.read_text())
