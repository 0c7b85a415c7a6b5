"""``pip install .`` beside an existing detectron2 (README, "Installing into an existing detectron2
environment"), and what the wheel ships.

The "existing environment" is a throwaway venv that sees every distribution of the test
interpreter's site-packages (torch, torchvision, the detectron2 of ``make setup``, the lock's
packages) through a ``.pth`` line pointing at a folder of symlinks, without vision_plugins itself
and without pip. pip treats those distributions as installed (they are on the venv's
``sys.path``) and outside the venv (it never touches them). The install runs with ``--no-index``
and ``--no-build-isolation``: it fails if vision_plugins asks for anything that environment does
not already satisfy (another torch, a detectron2, an unpinned new dependency), and it needs no
network. The installed copy is then imported from outside the checkout, module by module, and
its shipped configs are loaded, so a module left out of the package, an import of ``tests`` or
``tools``, or a config missing from the package data fails here.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What setup.py reads; copied so that the build never writes into (or reads stale files of) the
# checkout's build/ folder.
SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "LICENSE", "NOTICE", "README.md")
SOURCE_DIRS = ("vision_plugins", "configs", "requirements")
# never required by vision_plugins: the user's own builds, and panopticapi-lite (its numpy<2)
FOREIGN = re.compile(
    r"(torch|torchvision|detectron2|opencv(-contrib)?-python(-headless)?|panopticapi.*)"
)


def _run(cmd, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)
    assert proc.returncode == 0, f"{cmd}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    return proc.stdout


def _copy_sources(dst):
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        shutil.copy2(os.path.join(REPO, name), dst)
    for name in SOURCE_DIRS:
        shutil.copytree(os.path.join(REPO, name), os.path.join(dst, name), ignore=ignore)
    return dst


def _repo_configs():
    root = os.path.join(REPO, "configs")
    return sorted(
        os.path.relpath(p, root).replace(os.sep, "/")
        for p in glob.glob(os.path.join(root, "**", "*.yaml"), recursive=True)
    )


def _requirement_names(lines):
    return sorted(re.match(r"[A-Za-z0-9_.-]+", ln).group(0).lower() for ln in lines)


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory):
    return _copy_sources(str(tmp_path_factory.mktemp("src")))


@pytest.fixture(scope="module")
def wheel(source_copy, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("wheel"))
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["--no-index", "-w", out, source_copy]
    )
    (path,) = glob.glob(os.path.join(out, "vision_plugins-*.whl"))
    return path


def _metadata(zf):
    (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
    return zf.read(name).decode("utf-8")


def test_wheel_ships_the_package_configs_and_licences_only(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = _metadata(zf)
    dist_info = [n.split("/")[0] for n in names if ".dist-info/" in n][0]
    # only the package and its metadata: no tests/, tools/, top-level configs/
    assert {n.split("/")[0] for n in names} == {"vision_plugins", dist_info}
    # every module of the checkout
    modules = sorted(
        os.path.relpath(p, REPO).replace(os.sep, "/")
        for p in glob.glob(os.path.join(REPO, "vision_plugins", "**", "*.py"), recursive=True)
    )
    assert sorted(n for n in names if n.endswith(".py")) == modules
    # every config, as package data of vision_plugins.model_zoo.configs
    prefix = "vision_plugins/model_zoo/configs/"
    shipped = sorted(n[len(prefix) :] for n in names if n.startswith(prefix))
    assert shipped == _repo_configs()
    # licence: SPDX id and both files
    assert "\nLicense: Apache-2.0\n" in meta or "\nLicense-Expression: Apache-2.0\n" in meta
    for lic in ("LICENSE", "NOTICE"):
        assert f"\nLicense-File: {lic}\n" in meta
        assert any(n.startswith(dist_info) and n.endswith("/" + lic) for n in names), lic
    # no console scripts (tools/ run from a checkout); if some appear, their modules must ship
    for entry_points in (n for n in names if n.endswith("entry_points.txt")):
        with zipfile.ZipFile(wheel) as zf:
            for target in re.findall(r"=\s*([\w.]+):", zf.read(entry_points).decode()):
                assert target.replace(".", "/") + ".py" in names or (
                    target.replace(".", "/") + "/__init__.py" in names
                ), target


def test_wheel_requirements_are_vision_plugins_own(wheel):
    with zipfile.ZipFile(wheel) as zf:
        meta = _metadata(zf)
    requires = [ln.split(": ", 1)[1] for ln in meta.splitlines() if ln.startswith("Requires-Dist:")]
    base = [r for r in requires if "extra ==" not in r]
    assert not [n for n in _requirement_names(base) if FOREIGN.fullmatch(n)], base
    with open(os.path.join(REPO, "requirements", "runtime.txt"), encoding="utf-8") as f:
        runtime = [ln.split("#", 1)[0].strip() for ln in f]
    assert _requirement_names(base) == _requirement_names([r for r in runtime if r])
    extras = {ln.split(": ", 1)[1] for ln in meta.splitlines() if ln.startswith("Provides-Extra:")}
    assert extras == {"deploy", "dev", "opencv"}
    assert 'opencv-python-headless; extra == "opencv"' in requires
    deploy = [r.split(";")[0] for r in requires if 'extra == "deploy"' in r]
    assert {"onnx", "onnxruntime", "onnxscript"} <= set(_requirement_names(deploy)), deploy


def _existing_environment(tmp):
    """A throwaway venv whose sys.path also has the test interpreter's distributions (symlinks),
    except vision_plugins and pip. Returns (python, the venv's own site-packages)."""
    purelib = sysconfig.get_paths()["purelib"]
    shared = os.path.join(tmp, "existing")
    os.makedirs(shared)
    skip = re.compile(r"^(vision_plugins|__editable__|pip(-|$)|__pycache__)")
    for name in os.listdir(purelib):
        if skip.match(name) or name.endswith(".pth"):
            continue
        os.symlink(os.path.join(purelib, name), os.path.join(shared, name))
    env = os.path.join(tmp, "env")
    _run([sys.executable, "-m", "venv", "--without-pip", env])
    python = os.path.join(env, "bin", "python")
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    site = site.strip()
    with open(os.path.join(site, "existing_environment.pth"), "w", encoding="utf-8") as f:
        f.write(shared + "\n")
    return python, site


CHECK_INSTALLED = r"""
import importlib, os, pkgutil, sys
import detectron2, torch, vision_plugins
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from vision_plugins import add_vision_plugins_config
from vision_plugins.model_zoo import get_config_file, list_config_files

site = sys.argv[1]
assert vision_plugins.__file__.startswith(site), vision_plugins.__file__
assert not detectron2.__file__.startswith(site), detectron2.__file__
skip = {"vision_plugins.compat.d2_C_standin"}  # installed as detectron2/_C.py; imported there
for mod in pkgutil.walk_packages(vision_plugins.__path__, "vision_plugins."):
    if mod.name not in skip:
        importlib.import_module(mod.name)
for name in list_config_files():
    print("config", name)
cfg = get_cfg()
add_vision_plugins_config(cfg)
cfg.merge_from_file(get_config_file("Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml"))
cfg.MODEL.DEVICE = "cpu"
build_model(cfg)
print("ok", vision_plugins.__version__)
"""


def test_pip_install_beside_an_existing_detectron2(source_copy, tmp_path):
    tmp = str(tmp_path)
    python, site = _existing_environment(tmp)
    before = set(os.listdir(site))
    # the README's `pip install .`; --no-index: everything it needs must already be there
    _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index"]
        + ["--no-build-isolation", source_copy]
    )
    added = sorted(set(os.listdir(site)) - before)
    assert [a for a in added if a != "__pycache__"] == [
        "vision_plugins",
        f"vision_plugins-{_version()}.dist-info",
    ], added  # nothing but vision_plugins: torch, detectron2 and the rest are the user's
    out = _run([python, "-c", CHECK_INSTALLED, site], cwd=tmp)  # cwd: not the checkout
    assert f"ok {_version()}" in out
    assert sorted(ln[len("config ") :] for ln in out.splitlines() if ln.startswith("config ")) == (
        _repo_configs()
    )
    # pip's view of that environment: vision_plugins' requirements hold; the only complaints
    # are panopticapi-lite's own stale ones (tests/compat/test_distribution.py)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "check"], capture_output=True, text=True
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert all(ln.startswith("panopticapi-lite ") for ln in lines), proc.stdout


def _version():
    with open(os.path.join(REPO, "vision_plugins", "__init__.py"), encoding="utf-8") as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)
