"""Install detectron2 into the current Python environment without compiling anything.

Run as a script with the target environment's interpreter, from a checkout (it imports neither
torch nor vision_plugins, so it works before the package is installed)::

    .venv/bin/python vision_plugins/compat/install_detectron2.py [--site-packages DIR] [--wheel F]

Route (see DESIGN.md §Environment):

1. If ``DETECTRON2_SOURCE`` is set, ``pip install --no-build-isolation $DETECTRON2_SOURCE``
   (the official, compiled build; for GPU users). The stand-in is not installed. pip uninstalls a
   stand-in detectron2 installed here first (its RECORD lists every file).
2. Else, if a detectron2 that this script did not install is importable, keep it.
3. Else, if the detectron2 this script installed is up to date (its dist-info was written for the
   current pins and every file matches its RECORD), do nothing; when only the stand-in changed
   (``d2_C_standin.py`` edited), rewrite ``_C.py`` and RECORD.
4. Else, download the ``sal-detectron2`` wheel pinned by sha256 in
   ``requirements/detectron2-wheel.txt`` (``pip download --require-hashes``; the hash is checked
   again here), copy its ``detectron2/`` tree (upstream detectron2 @ a59f0563) into site-packages
   without the unusable ``_C*.so`` (CUDA 12 / CPython 3.10), install ``detectron2/_C.py`` (the
   pure-PyTorch/pycocotools stand-in for the compiled ops), byte-compile it, and write a
   ``detectron2-<version>.dist-info`` as pip would: METADATA (Name, Version, Requires-Dist from
   ``requirements/detectron2.txt``), the wheel's LICENSE, INSTALLER, REQUESTED, top_level.txt and
   a RECORD with the sha256 and size of every installed file. ``pip show detectron2``,
   ``pip check`` and ``pip uninstall detectron2`` then work as for any distribution.

``--site-packages DIR`` installs into DIR instead of the interpreter's purelib (tests);
``--wheel F`` takes an already downloaded wheel (its sha256 must still be the pinned one).
"""

import argparse
import base64
import compileall
import csv
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
STANDIN_SRC = os.path.join(HERE, "d2_C_standin.py")
STANDIN_MARKER = "VISION_PLUGINS_STANDIN = True"
WHEEL_REQUIREMENT = os.path.join(REPO, "requirements", "detectron2-wheel.txt")
DEPS_REQUIREMENTS = os.path.join(REPO, "requirements", "detectron2.txt")

NAME = "detectron2"
# The wheel's own detectron2.__version__ is "0.7.2"; the local label says that this build is not
# a release of any index: upstream Python files with vision_plugins' stand-in for the C++ ops.
VERSION = "0.7.2+vp.standin"
UPSTREAM_COMMIT = "a59f0563"
INSTALLER = "vision_plugins-install_detectron2"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"


def _log(msg):
    print(f"[install_detectron2] {msg}", flush=True)


def _pip(*args):
    cmd = [sys.executable, "-m", "pip", *args]
    _log(" ".join(cmd))
    subprocess.check_call(cmd)


def read_requirements(path):
    """Requirement lines of a requirements file (comments and blank lines dropped)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def wheel_pin():
    """(name, version, sha256) of the pinned wheel in requirements/detectron2-wheel.txt."""
    (line,) = read_requirements(WHEEL_REQUIREMENT)
    m = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})", line)
    if m is None:
        raise ValueError(f"{WHEEL_REQUIREMENT}: expected 'name==version --hash=sha256:...'")
    return m.groups()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h


def record_hash(path):
    """RECORD's hash field as pip writes it: sha256, urlsafe base64 without padding."""
    digest = file_sha256(path).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def metadata_text(license_file):
    """METADATA of the installed detectron2 (core metadata 2.1)."""
    name, version, sha = wheel_pin()
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {NAME}",
        f"Version: {VERSION}",
        "Summary: Detectron2 is FAIR's next-generation research platform for object detection "
        "and segmentation (upstream Python code; compiled ops replaced by vision_plugins' "
        "pure-PyTorch stand-in).",
        "Home-page: https://github.com/facebookresearch/detectron2",
        "Author: FAIR",
        "License: Apache-2.0",
        "Requires-Python: >=3.7",
    ]
    if license_file:
        lines.append(f"License-File: {license_file}")
    lines += [f"Requires-Dist: {req}" for req in read_requirements(DEPS_REQUIREMENTS)]
    lines += [
        "Description-Content-Type: text/plain",
        "",
        f"detectron2 at upstream commit {UPSTREAM_COMMIT}: the Python files of the wheel",
        f"{name}=={version} (sha256 {sha}),",
        "installed without its compiled _C*.so (CUDA 12 / CPython 3.10). detectron2/_C.py is",
        "vision_plugins/compat/d2_C_standin.py. Installed by",
        "vision_plugins/compat/install_detectron2.py; `DETECTRON2_SOURCE=... make setup`",
        "replaces it with a compiled detectron2.",
        "",
    ]
    return "\n".join(lines)


def _read(path, mode="r"):
    with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
        return f.read()


def _write(path, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode, **({} if mode == "wb" else {"encoding": "utf-8", "newline": "\n"})) as f:
        f.write(data)


def _is_standin(d2_dir):
    path = os.path.join(d2_dir, "_C.py")
    return os.path.isfile(path) and STANDIN_MARKER in _read(path)


def _dist_infos(site):
    return sorted(
        d for d in os.listdir(site) if d.startswith(NAME + "-") and d.endswith(".dist-info")
    )


def read_record(site, dist_info):
    """[(relative path, hash field, size field)] of a dist-info's RECORD."""
    with open(os.path.join(site, dist_info, "RECORD"), newline="", encoding="utf-8") as f:
        return [tuple(row) for row in csv.reader(f) if row]


def verify_record(site, dist_info):
    """Relative paths whose file is missing or differs from its RECORD hash / size."""
    bad = []
    for path, hash_field, size in read_record(site, dist_info):
        full = os.path.join(site, path)
        if not hash_field:
            continue  # RECORD itself and byte-code, as pip writes them
        if not os.path.isfile(full):
            bad.append(path)
        elif str(os.path.getsize(full)) != size or record_hash(full) != hash_field:
            bad.append(path)
    return bad


def write_record(site, dist_info):
    """RECORD of every file under detectron2/ and the dist-info, as pip writes it: sha256 and
    size, except for byte-code (``__pycache__``) and RECORD itself."""
    rows = []
    for top in (NAME, dist_info):
        for dirpath, dirnames, files in os.walk(os.path.join(site, top)):
            dirnames.sort()
            for fname in sorted(files):
                full = os.path.join(dirpath, fname)
                rel = os.path.relpath(full, site).replace(os.sep, "/")
                if rel == f"{dist_info}/RECORD":
                    continue
                if os.path.basename(dirpath) == "__pycache__":
                    rows.append((rel, "", ""))
                else:
                    rows.append((rel, record_hash(full), str(os.path.getsize(full))))
    rows.append((f"{dist_info}/RECORD", "", ""))
    tmp = os.path.join(site, dist_info, "RECORD.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    os.replace(tmp, os.path.join(site, dist_info, "RECORD"))


def _compile(path):
    compileall.compile_file(path, force=True, quiet=2)


def state(site):
    """'absent', 'foreign' (a detectron2 not installed here), 'current', 'standin-changed' or
    'stale' (no or outdated dist-info, or files that differ from RECORD)."""
    d2_dir = os.path.join(site, NAME)
    if not os.path.isdir(d2_dir):
        return "absent"
    if not _is_standin(d2_dir):
        return "foreign"
    if _dist_infos(site) != [DIST_INFO]:
        return "stale"
    info = os.path.join(site, DIST_INFO)
    try:
        if _read(os.path.join(info, "INSTALLER")).strip() != INSTALLER:
            return "stale"
        license_file = "LICENSE" if os.path.isfile(os.path.join(info, "LICENSE")) else None
        if _read(os.path.join(info, "METADATA")) != metadata_text(license_file):
            return "stale"  # another wheel pin or other requirements
        bad = verify_record(site, DIST_INFO)
    except OSError:
        return "stale"
    if any(p != f"{NAME}/_C.py" for p in bad):
        return "stale"
    if bad or _read(os.path.join(d2_dir, "_C.py")) != _read(STANDIN_SRC):
        return "standin-changed"
    return "current"


def install_standin(d2_dir):
    dst = os.path.join(d2_dir, "_C.py")
    _write(dst, _read(STANDIN_SRC))
    _compile(dst)
    _log(f"installed the _C stand-in at {dst}")


def download_wheel(dst_dir):
    _pip(
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.10",
        "--implementation",
        "cp",
        "--require-hashes",
        "-r",
        WHEEL_REQUIREMENT,
        "-d",
        dst_dir,
    )
    wheels = [f for f in os.listdir(dst_dir) if f.endswith(".whl")]
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel in {dst_dir}, found {wheels}")
    return os.path.join(dst_dir, wheels[0])


def install_from_wheel(site, wheel=None):
    name, version, sha = wheel_pin()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = wheel or download_wheel(tmp)
        got = file_sha256(wheel).hexdigest()
        if got != sha:
            raise RuntimeError(f"{wheel}: sha256 {got}, but {WHEEL_REQUIREMENT} pins {sha}")
        d2_root = os.path.join(site, NAME)
        staging = d2_root + ".partial"
        info_staging = os.path.join(site, DIST_INFO + ".partial")
        for d in (staging, info_staging):
            shutil.rmtree(d, ignore_errors=True)
        os.makedirs(info_staging)
        license_file = None
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                if member.endswith(".dist-info/LICENSE"):
                    _write(os.path.join(info_staging, "LICENSE"), zf.read(member))
                    license_file = "LICENSE"
                if not member.startswith(NAME + "/") or member.endswith("/"):
                    continue
                base = os.path.basename(member)
                if base.startswith("_C.") and base.endswith(".so"):
                    continue  # compiled for CUDA 12 / CPython 3.10: cannot load here
                out = os.path.join(staging, member[len(NAME) + 1 :])
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with zf.open(member) as src, open(out, "wb") as f:
                    shutil.copyfileobj(src, f)
    _write(os.path.join(staging, "_C.py"), _read(STANDIN_SRC))
    _write(os.path.join(info_staging, "METADATA"), metadata_text(license_file))
    _write(os.path.join(info_staging, "INSTALLER"), INSTALLER + "\n")
    _write(os.path.join(info_staging, "REQUESTED"), "")
    _write(os.path.join(info_staging, "top_level.txt"), NAME + "\n")
    # Replace the previous installation (a stand-in detectron2: state() checked it) and every
    # detectron2 dist-info beside it (they described the files being replaced).
    shutil.rmtree(d2_root, ignore_errors=True)
    for old in _dist_infos(site):
        shutil.rmtree(os.path.join(site, old))
    os.replace(staging, d2_root)
    os.replace(info_staging, os.path.join(site, DIST_INFO))
    compileall.compile_dir(d2_root, quiet=2, force=True)
    write_record(site, DIST_INFO)
    _log(f"installed {NAME} {VERSION} (upstream {UPSTREAM_COMMIT}, from {name}=={version}) "
         f"into {d2_root}")  # fmt: skip


def _default_site():
    """The directory of an importable detectron2 (never imported), else purelib."""
    spec = importlib.util.find_spec(NAME)
    if spec is not None and spec.submodule_search_locations:
        return os.path.dirname(list(spec.submodule_search_locations)[0])
    return sysconfig.get_paths()["purelib"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site-packages", help="install into this directory (default: purelib)")
    parser.add_argument("--wheel", help="the pinned wheel, already downloaded")
    args = parser.parse_args(argv)
    source = os.environ.get("DETECTRON2_SOURCE", "").strip()
    if source:
        _pip("install", "--no-build-isolation", source)
        return
    site = args.site_packages or _default_site()
    current = state(site)
    if current == "foreign":
        _log(f"keeping the importable detectron2 at {os.path.join(site, NAME)}")
    elif current == "current":
        _log(f"{NAME} {VERSION} is up to date in {site}")
    elif current == "standin-changed":
        install_standin(os.path.join(site, NAME))
        write_record(site, DIST_INFO)
    else:
        install_from_wheel(site, args.wheel)


if __name__ == "__main__":
    main()
