"""Install detectron2 into the current Python environment without compiling anything.

Run as a script with the target environment's interpreter (it imports neither torch nor
vision_plugins, so it works before the package is installed)::

    .venv/bin/python vision_plugins/compat/install_detectron2.py

Route (see DESIGN.md §Environment):

1. If ``DETECTRON2_SOURCE`` is set, ``pip install --no-build-isolation $DETECTRON2_SOURCE``
   (the official, compiled build; for GPU users). The stand-in is not installed.
2. Else, if ``import detectron2`` already works, keep that detectron2. If it is one this script
   installed (its ``_C`` is our stand-in), refresh the stand-in file only.
3. Else, fetch the pure-Python ``detectron2/`` tree of the ``sal-detectron2==0.7.2`` wheel
   (upstream detectron2 @ a59f0563), copy it into site-packages without its unusable ``_C*.so``
   and install ``detectron2/_C.py``: the pure-PyTorch/pycocotools stand-in for the compiled ops.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

WHEEL_SPEC = "sal-detectron2==0.7.2"
HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN_SRC = os.path.join(HERE, "d2_C_standin.py")
STANDIN_MARKER = "VISION_PLUGINS_STANDIN = True"


def _log(msg):
    print(f"[install_detectron2] {msg}", flush=True)


def _pip(*args):
    cmd = [sys.executable, "-m", "pip", *args]
    _log(" ".join(cmd))
    subprocess.check_call(cmd)


def _existing_detectron2():
    """Return the directory of an importable detectron2, or None (never imports it)."""
    spec = importlib.util.find_spec("detectron2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def _is_standin(d2_dir):
    path = os.path.join(d2_dir, "_C.py")
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as f:
        return STANDIN_MARKER in f.read()


def install_standin(d2_dir):
    dst = os.path.join(d2_dir, "_C.py")
    with open(STANDIN_SRC, encoding="utf-8") as f:
        new = f.read()
    old = None
    if os.path.isfile(dst):
        with open(dst, encoding="utf-8") as f:
            old = f.read()
    if old != new:
        with open(dst, "w", encoding="utf-8") as f:
            f.write(new)
        _log(f"installed the _C stand-in at {dst}")


def install_from_wheel(site_packages):
    with tempfile.TemporaryDirectory() as tmp:
        _pip(
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.10",
            "--implementation",
            "cp",
            "-d",
            tmp,
            WHEEL_SPEC,
        )
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if len(wheels) != 1:
            raise RuntimeError(f"expected one wheel for {WHEEL_SPEC} in {tmp}, found {wheels}")
        dst_root = os.path.join(site_packages, "detectron2")
        staging = dst_root + ".partial"
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as zf:
            for name in zf.namelist():
                if not name.startswith("detectron2/") or name.endswith("/"):
                    continue
                base = os.path.basename(name)
                if base.startswith("_C.") and base.endswith(".so"):
                    continue  # compiled for CUDA 12 / CPython 3.10: cannot load here
                out = os.path.join(staging, name[len("detectron2/") :])
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with zf.open(name) as src, open(out, "wb") as f:
                    shutil.copyfileobj(src, f)
        install_standin(staging)
        os.replace(staging, dst_root)
        _log(f"installed detectron2 (pure Python, a59f0563) into {dst_root}")


def main():
    source = os.environ.get("DETECTRON2_SOURCE", "").strip()
    if source:
        _pip("install", "--no-build-isolation", source)
        return
    d2_dir = _existing_detectron2()
    if d2_dir is not None:
        if _is_standin(d2_dir):
            install_standin(d2_dir)
        else:
            _log(f"keeping the importable detectron2 at {d2_dir}")
        return
    install_from_wheel(sysconfig.get_paths()["purelib"])


if __name__ == "__main__":
    main()
