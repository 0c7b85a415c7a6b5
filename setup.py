"""vision_plugins: classic instance, panoptic, landmark and keypoint architectures as detectron2
plugins. Pure Python: no torch import and no extensions at build time.

``install_requires`` (requirements/runtime.txt) names vision_plugins' own dependencies only: never
torch, torchvision or detectron2 (the user's own, which pip must not replace; ``make setup``
installs them), nor OpenCV or panopticapi (see the README, "Installing into an existing detectron2
environment"). Extras: ``[dev]`` (tests and linters), ``[opencv]`` (the headless OpenCV build, for
an environment without ``cv2``), ``[deploy]`` (onnx, onnxruntime, onnxscript: ONNX export and the
ONNX Runtime backend, requirements/deploy.txt)."""

import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _version():
    with open(os.path.join(HERE, "vision_plugins", "__init__.py"), encoding="utf-8") as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


def _requirements(name):
    """Requirement lines of requirements/<name> (comments dropped)."""
    with open(os.path.join(HERE, "requirements", name), encoding="utf-8") as f:
        lines = (ln.split("#", 1)[0].strip() for ln in f)
        return [ln for ln in lines if ln]


def _config_files():
    """configs/ ships inside the package as vision_plugins/model_zoo/configs (package data)."""
    out = []
    root = os.path.join(HERE, "configs")
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith(".yaml"):
                out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return out


setup(
    name="vision_plugins",
    version=_version(),
    description="Classic instance/panoptic/landmark/keypoint architectures as detectron2 plugins",
    license="Apache-2.0",
    license_files=["LICENSE", "NOTICE"],
    classifiers=[
        "Development Status :: 4 - Beta",
        "Intended Audience :: Science/Research",
        "Intended Audience :: Developers",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
    python_requires=">=3.10",
    packages=find_packages(exclude=("tests", "tests.*", "tools", "configs", "projects"))
    + ["vision_plugins.model_zoo.configs"],
    package_dir={"vision_plugins": "vision_plugins", "vision_plugins.model_zoo.configs": "configs"},
    package_data={"vision_plugins.model_zoo.configs": _config_files()},
    install_requires=_requirements("runtime.txt"),
    extras_require={
        "dev": _requirements("dev.txt"),
        "opencv": ["opencv-python-headless"],
        "deploy": _requirements("deploy.txt"),
    },
)
