"""detectron2 as a distribution, and the lock ``make setup`` installs.

After ``make setup``: ``pip show detectron2`` answers, ``pip check`` reports nothing but
panopticapi-lite's own stale requirements (requirements/no-deps.txt), every file of detectron2
matches its RECORD and is listed there (so ``pip uninstall`` removes it whole), and every package
of requirements/lock.txt is installed at its locked version.

vision_plugins/compat/install_detectron2.py in a throwaway venv (the pinned wheel is downloaded
once with ``pip download --require-hashes``, from pip's cache after ``make setup``): the
dist-info it writes, idempotence, repair of a changed stand-in or a damaged file, the upgrade of
a stand-in installed without metadata (before 0.2.0), a foreign detectron2 left alone, the sha256
pin enforced, and ``pip uninstall`` leaving nothing behind.
"""

import base64
import hashlib
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from vision_plugins.compat import install_detectron2 as inst

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REQ = os.path.join(REPO, "requirements")
# panopticapi-lite 0.2.0 declares numpy<2 and scikit-image; its code imports neither.
KNOWN_PIP_CHECK = re.compile(
    r"panopticapi-lite 0\.2\.0 (requires scikit-image, which is not installed\."
    r"|has requirement numpy<2\.0\.0,>=1\.23\.5, but you have numpy \S+\.)"
)


def _pip(*args, python=None):
    cmd = [sys.executable, "-m", "pip", *(["--python", python] if python else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True)


def _lock():
    """{canonical name: version} of requirements/lock.txt."""
    pins = {}
    with open(os.path.join(REQ, "lock.txt"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
            if m:
                pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def _hash_ok(path, record_hash):
    algo, _, want = record_hash.partition("=")
    with open(path, "rb") as f:
        got = base64.urlsafe_b64encode(hashlib.new(algo, f.read()).digest()).rstrip(b"=")
    return got.decode() == want


# ---------------------------------------------------------------- the environment of make setup


def test_pip_show_detectron2():
    proc = _pip("show", "-v", "detectron2")
    assert proc.returncode == 0, proc.stderr
    fields = dict(ln.split(": ", 1) for ln in proc.stdout.splitlines() if ": " in ln)
    assert fields["Name"] == "detectron2"
    assert fields["Version"] == md.version("detectron2")
    assert "fvcore" in fields["Requires"] and "pycocotools" in fields["Requires"]
    from detectron2 import _C

    if getattr(_C, "VISION_PLUGINS_STANDIN", False):  # not a DETECTRON2_SOURCE build
        assert fields["Version"] == inst.VERSION
        assert fields["Installer"] == inst.INSTALLER
        assert fields["License"] == "Apache-2.0"


def test_pip_check_reports_only_panopticapi_lite():
    proc = _pip("check")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert all(KNOWN_PIP_CHECK.fullmatch(ln) for ln in lines), proc.stdout
    assert "detectron2" not in proc.stdout + proc.stderr


def test_detectron2_files_match_their_record():
    dist = md.distribution("detectron2")
    files = dist.files
    assert files, "detectron2 has no RECORD"
    listed = set()
    for f in files:
        path = os.path.realpath(f.locate())
        listed.add(path)
        if f.hash is not None:
            assert os.path.isfile(path), f
            assert os.path.getsize(path) == f.size, f
            assert _hash_ok(path, f"{f.hash.mode}={f.hash.value}"), f
    import detectron2

    pkg = os.path.realpath(os.path.dirname(detectron2.__file__))
    site = os.path.realpath(str(dist.locate_file("")))
    if not pkg.startswith(site + os.sep):
        pytest.skip(f"editable detectron2 at {pkg}: RECORD lists only its finder")
    unlisted = [
        os.path.join(d, n)
        for d, _, names in os.walk(pkg)
        for n in names
        if os.path.basename(d) != "__pycache__" and os.path.join(d, n) not in listed
    ]
    assert not unlisted, f"files pip uninstall would leave behind: {unlisted[:5]}"


def test_environment_has_the_locked_versions():
    wrong = {}
    for name, version in _lock().items():
        try:
            have = md.version(name)
        except md.PackageNotFoundError:
            have = None
        if have != version:
            wrong[name] = (version, have)
    assert not wrong, f"(locked, installed); run `make setup`: {wrong}"


def test_lock_satisfies_its_inputs():
    """requirements/lock.txt is up to date with the files it is made from (else `make lock`)."""
    pins = _lock()
    inputs = ["runtime.txt", "dev.txt", "detectron2.txt", "deploy.txt", "constraints.txt"]
    for fname in inputs:
        for line in inst.read_requirements(os.path.join(REQ, fname)):
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate():
                continue
            name = canonicalize_name(req.name)
            assert name in pins, f"{fname}: {line} is not in lock.txt; run `make lock`"
            assert req.specifier.contains(pins[name], prereleases=True), (fname, line, pins[name])
    for name in ("torch", "torchvision", "opencv-python-headless", "setuptools"):
        assert name in pins
    assert "opencv-python" not in pins  # the GUI build: README, "OpenCV"
    with open(os.path.join(REQ, "lock.txt"), encoding="utf-8") as f:
        text = f.read()
    assert "make lock" in text.split("\n\n")[0]  # the refresh command, in the header
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 6)[-1])
    assert all("--hash=sha256:" in b for b in blocks if re.match(r"[A-Za-z0-9]", b)), "no hash"


def test_wheel_pin_is_exact():
    name, version, sha = inst.wheel_pin()
    assert (name, version) == ("sal-detectron2", "0.7.2") and len(sha) == 64


# ------------------------------------------------------ install_detectron2.py in a throwaway venv


@pytest.fixture(scope="module")
def pinned_wheel(tmp_path_factory):
    return inst.download_wheel(str(tmp_path_factory.mktemp("wheel")))


@pytest.fixture
def venv(tmp_path):
    env = str(tmp_path / "env")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", env], check=True)
    python = os.path.join(env, "bin", "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    return python, site


def _install(site, wheel):
    inst.main(["--site-packages", site, "--wheel", wheel])


def _mtimes(root):
    return {
        os.path.join(d, n): os.stat(os.path.join(d, n)).st_mtime_ns
        for d, _, names in os.walk(root)
        for n in names
    }


def test_installer_writes_a_distribution(venv, pinned_wheel):
    python, site = venv
    _install(site, pinned_wheel)
    assert sorted(os.listdir(site)) == ["detectron2", inst.DIST_INFO]
    info = os.path.join(site, inst.DIST_INFO)
    assert sorted(os.listdir(info)) == [
        "INSTALLER", "LICENSE", "METADATA", "RECORD", "REQUESTED", "top_level.txt",
    ]  # fmt: skip
    assert inst.state(site) == "current"
    assert inst.verify_record(site, inst.DIST_INFO) == []
    # RECORD: every file once, sha256 as pip writes it (urlsafe base64, no padding) and size
    rows = inst.read_record(site, inst.DIST_INFO)
    on_disk = sorted(
        os.path.relpath(os.path.join(d, n), site)
        for top in ("detectron2", inst.DIST_INFO)
        for d, _, names in os.walk(os.path.join(site, top))
        for n in names
    )
    assert sorted(r[0] for r in rows) == on_disk
    for path, hash_field, size in rows:
        if "__pycache__" in path or path.endswith("/RECORD"):
            assert (hash_field, size) == ("", "")
        else:
            assert re.fullmatch(r"sha256=[A-Za-z0-9_-]{43}", hash_field) and size.isdigit()
    assert not [p for p in on_disk if p.endswith(".so")]  # the wheel's CUDA 12 / cp310 _C
    with open(os.path.join(site, "detectron2", "_C.py"), encoding="utf-8") as f:
        assert inst.STANDIN_MARKER in f.read()
    # pip's view
    show = _pip("show", "detectron2", python=python)
    assert show.returncode == 0, show.stderr
    assert f"Version: {inst.VERSION}" in show.stdout and f"Location: {site}" in show.stdout
    with open(os.path.join(info, "METADATA"), encoding="utf-8") as f:
        requires = [ln[15:] for ln in f.read().splitlines() if ln.startswith("Requires-Dist: ")]
    assert requires == inst.read_requirements(os.path.join(REQ, "detectron2.txt"))
    # pip uninstall removes everything it installed, byte-code included
    out = _pip("uninstall", "-y", "detectron2", python=python)
    assert out.returncode == 0, out.stderr
    assert os.listdir(site) == []


def test_installer_is_idempotent_and_repairs(venv, pinned_wheel, capsys):
    _, site = venv
    _install(site, pinned_wheel)
    before = _mtimes(site)
    capsys.readouterr()
    _install(site, pinned_wheel)
    assert "is up to date" in capsys.readouterr().out
    assert _mtimes(site) == before  # nothing rewritten
    # the stand-in changed (d2_C_standin.py edited): _C.py and RECORD rewritten, nothing else
    c_py = os.path.join(site, "detectron2", "_C.py")
    with open(c_py, "a", encoding="utf-8") as f:
        f.write("# an older stand-in\n")
    assert inst.state(site) == "standin-changed"
    _install(site, pinned_wheel)
    assert inst.state(site) == "current"
    after = _mtimes(site)
    changed = sorted(os.path.relpath(p, site) for p in after if after[p] != before.get(p))
    assert changed == sorted(
        [
            "detectron2/__pycache__/_C.cpython-%d%d.pyc" % sys.version_info[:2],
            "detectron2/_C.py",
            f"{inst.DIST_INFO}/RECORD",
        ]
    )
    # any other file damaged: reinstalled from the wheel
    victim = os.path.join(site, "detectron2", "config", "defaults.py")
    with open(victim, "a", encoding="utf-8") as f:
        f.write("BROKEN = True\n")
    assert inst.state(site) == "stale"
    _install(site, pinned_wheel)
    assert inst.state(site) == "current" and inst.verify_record(site, inst.DIST_INFO) == []


def test_installer_upgrades_a_standin_without_metadata(venv, pinned_wheel):
    """A stand-in detectron2 installed before 0.2.0 (no dist-info) gets one."""
    _, site = venv
    _install(site, pinned_wheel)
    shutil.rmtree(os.path.join(site, inst.DIST_INFO))
    assert inst.state(site) == "stale"
    _install(site, pinned_wheel)
    assert inst.state(site) == "current"


def test_installer_keeps_a_foreign_detectron2(venv, pinned_wheel, capsys):
    _, site = venv
    os.makedirs(os.path.join(site, "detectron2"))
    with open(os.path.join(site, "detectron2", "__init__.py"), "w") as f:
        f.write('__version__ = "0.6"\n')
    assert inst.state(site) == "foreign"
    _install(site, pinned_wheel)
    assert "keeping the importable detectron2" in capsys.readouterr().out
    assert os.listdir(site) == ["detectron2"]
    assert os.listdir(os.path.join(site, "detectron2")) == ["__init__.py"]


def test_installer_refuses_a_wheel_with_another_hash(venv, tmp_path):
    _, site = venv
    fake = str(tmp_path / "sal_detectron2-0.7.2-cp310-none-any.whl")
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("detectron2/__init__.py", "")
    with pytest.raises(RuntimeError, match="sha256"):
        _install(site, fake)
    assert os.listdir(site) == []
