"""Architecture specs: every architecture package declares one, the shared packages import none,
and for every config the evaluation loader and ``Predictor`` give the model the same input."""

import ast
import glob
import os

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.data.detection_utils import read_image
from detectron2.modeling import META_ARCH_REGISTRY, ROI_HEADS_REGISTRY

import vision_plugins
from vision_plugins.checkpoint import CONVERTERS
from vision_plugins.data import build_mapper, prepare_dataset_files
from vision_plugins.data.super_resolution import sr_lr_image
from vision_plugins.data.synthetic import SYNTHETIC_DATASETS
from vision_plugins.engine import Predictor, setup_cfg
from vision_plugins.spec import SPECS, spec_for

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "vision_plugins")
PHOTOS = sorted(glob.glob(os.path.join(REPO, "..", "shared", "real", "photos", "*.jpg")))
CONFIGS = sorted(
    os.path.relpath(p, os.path.join(REPO, "configs"))
    for p in glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True)
    if not os.path.basename(p).startswith("Base-")
)

# Import direction: a module of a layer may import the project's modules of its own layer and of
# the layers below it only. Architecture packages (those with a spec.py) form one layer.
ARCH_PACKAGES = sorted(
    d for d in os.listdir(PACKAGE) if os.path.isfile(os.path.join(PACKAGE, d, "spec.py"))
)
LAYERS = [
    {"spec", "registry", "model_zoo", "compat", "layers", "checkpoint", "export", "config", "gan"},
    {"data", "evaluation"},
    set(ARCH_PACKAGES),
    {"engine", "collect_env"},
]


def _layer(top):
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"vision_plugins.{top} belongs to no layer of this test")


def _imported_tops(path, package_parts):
    """Top-level vision_plugins subpackages / modules imported by the module at ``path``."""
    tree = ast.parse(open(path).read(), path)
    tops = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            else:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "vision_plugins" and len(parts) > 1:
                tops.add(parts[1])
    return tops


def _modules():
    for path in glob.glob(os.path.join(PACKAGE, "**", "*.py"), recursive=True):
        rel = os.path.relpath(path, REPO)[: -len(".py")].split(os.sep)
        package_parts = rel[:-1]  # the package of a module and of an __init__ alike
        if rel == ["vision_plugins", "__init__"]:
            continue  # the package root imports everything to register it
        yield path, rel, package_parts


def test_every_architecture_package_has_a_spec():
    declared = {s.package for s in SPECS.values()}
    assert declared == set(ARCH_PACKAGES)
    for key, spec in SPECS.items():
        assert spec.meta_arch in META_ARCH_REGISTRY, key
        if spec.roi_heads:
            assert spec.roi_heads in ROI_HEADS_REGISTRY, key
        assert os.path.isdir(os.path.join(REPO, "configs", spec.config_dir)), key
        assert os.path.isfile(os.path.join(REPO, "projects", spec.project, "README.md")), key
        for name in spec.converters:
            assert name in CONVERTERS, (key, name)
    # every config selects a declared architecture; the folder is its spec's, except the
    # image-only UPSNet baseline of VPSNet's ablation (on the video set, beside VPSNet's configs)
    for rel in CONFIGS:
        spec = spec_for(setup_cfg(os.path.join("configs", rel)))
        assert spec is not None, rel
        folder = rel.split("/")[0]
        assert folder == spec.config_dir or rel == "VPSNet/upsnet_R_18_FPN_synth_video.yaml", rel


def test_every_converter_is_declared_by_a_spec_or_shared():
    declared = {name for s in SPECS.values() for name in s.converters}
    assert set(CONVERTERS.names()) - declared == {"torchvision_resnet"}


def test_import_direction():
    """layers -> data / evaluation -> architectures -> engine -> tools: no module imports a
    module of a higher layer, and no shared module imports an architecture package."""
    bad = []
    for path, rel, package_parts in _modules():
        own = _layer(rel[1])
        for top in _imported_tops(path, package_parts):
            if top == rel[1]:
                continue
            if _layer(top) > own or (top in ARCH_PACKAGES and rel[1] not in ARCH_PACKAGES):
                bad.append(f"{'/'.join(rel)}.py imports vision_plugins.{top}")
    for path in glob.glob(os.path.join(REPO, "tools", "*.py")):
        for top in _imported_tops(path, ["tools"]):
            if top in ARCH_PACKAGES:
                bad.append(f"tools/{os.path.basename(path)} imports vision_plugins.{top}")
    assert not bad, "\n".join(bad)


def test_import_direction_test_sees_relative_imports(tmp_path):
    """The checker resolves ``from ..x import y`` and ``from .. import x`` (it must be able to
    fail)."""
    src = tmp_path / "m.py"
    src.write_text(
        "from ..yolact.mapper import X\nfrom .. import engine\nimport vision_plugins.data\n"
    )
    assert _imported_tops(str(src), ["vision_plugins", "data"]) == {"yolact", "engine", "data"}


def test_spec_keys_are_unique_and_looked_up_by_roi_heads():
    cfg = setup_cfg("configs/DensePose/densepose_rcnn_R_18_FPN_synth_densepose.yaml")
    assert spec_for(cfg).package == "densepose_uv"
    cfg = setup_cfg("configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml")
    assert spec_for(cfg).package == "mask_rcnn"
    with pytest.raises(AssertionError, match="YOLACT"):
        SPECS.register_as("YOLACT", SPECS.get("YOLACT"))


class _NoModel(torch.nn.Module):
    pass


def _dicts_for(cfg):
    """The first evaluation dict of the config's synthetic test set (as the evaluation loader
    gets it), and a real photo as a bare image dict."""
    out = []
    names = [n for n in cfg.DATASETS.TEST if n in SYNTHETIC_DATASETS]
    if names:
        prepare_dataset_files(names[0])
        d = dict(DatasetCatalog.get(names[0])[0])
        if spec_for(cfg).package == "pose_hourglass":
            d.pop("annotations")  # Predictor takes the whole image as the person
        out.append(d)
    if PHOTOS:
        h, w = read_image(PHOTOS[0]).shape[:2]
        out.append({"file_name": PHOTOS[0], "height": h, "width": w, "image_id": 0})
    return out


@pytest.mark.parametrize("rel", CONFIGS)
def test_evaluation_loader_and_predictor_give_the_model_the_same_input(rel):
    cfg = setup_cfg(os.path.join("configs", rel), ["MODEL.DEVICE", "cpu"])
    dicts = _dicts_for(cfg)
    if not PHOTOS:
        assert dicts, f"{rel}: no synthetic test set and ../shared/real/photos is absent"
    mapper = build_mapper(cfg, is_train=False)
    predictor = Predictor(cfg, model=_NoModel())
    for d in dicts:
        mapped = mapper(d)
        extra = {k: d[k] for k in ("video_id", "frame_id") if k in d}
        image = read_image(d["file_name"], format="BGR")
        if d.get("dataset_layout") == "aligned":  # an A|B file: the model's input is one half
            half = image.shape[1] // 2
            a_is_left = cfg.INPUT.GAN.DIRECTION == "AtoB"
            image = image[:, :half] if a_is_left else image[:, half:]
        if d.get("dataset_layout") in ("sr_hr", "sr_paired"):  # an HR file: the input is its LR
            image = sr_lr_image(d, cfg.INPUT.SR.SCALE, "BGR")
        inputs = predictor.preprocess(image, **extra)
        assert mapped["image"].shape == inputs["image"].shape, (rel, d["file_name"])
        assert torch.equal(mapped["image"].float(), inputs["image"]), (rel, d["file_name"])
        assert (mapped["height"], mapped["width"]) == (inputs["height"], inputs["width"])


def test_the_coco_configs_of_native_resolution_models_keep_the_image_size():
    """The bug this test guards: CornerNet / CenterNet COCO configs evaluated with detectron2's
    800-pixel shortest-edge resize while Predictor kept the native size."""
    if not PHOTOS:
        pytest.skip("../shared/real/photos is absent")
    image = read_image(PHOTOS[0])
    d = {"file_name": PHOTOS[0], "height": image.shape[0], "width": image.shape[1], "image_id": 0}
    for rel in (
        "CornerNet/cornernet_hg104_coco.yaml",
        "CornerNet/centernet_triplet_hg104_coco.yaml",
        "CenterNet/centernet_oap_res18_coco.yaml",
    ):
        cfg = setup_cfg(os.path.join("configs", rel))
        assert tuple(build_mapper(cfg, False)(d)["image"].shape[1:]) == image.shape[:2], rel


def test_predictor_preprocess_is_what_it_runs():
    cfg = setup_cfg("configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml")
    seen = []

    class Record(torch.nn.Module):
        def forward(self, batched_inputs):
            seen.extend(batched_inputs)
            return [{}]

    predictor = Predictor(cfg, model=Record())
    image = np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    predictor(image, video_id=3)
    expected = predictor.preprocess(image, video_id=3)
    assert torch.equal(seen[0]["image"], expected["image"]) and seen[0]["video_id"] == 3


def test_package_root_registers_every_spec():
    assert vision_plugins.__version__
    assert {s.package for s in SPECS.values()} >= {"yolact", "mask_rcnn", "upsnet", "vpsnet"}


def test_every_registry_refuses_a_duplicate_name():
    from vision_plugins.data import MAPPER_REGISTRY
    from vision_plugins.evaluation import EVALUATOR_REGISTRY
    from vision_plugins.evaluation.densepose import GEODESICS_PROVIDERS
    from vision_plugins.gan import GAN_DISCRIMINATOR_REGISTRY, GAN_GENERATOR_REGISTRY

    for registry, name in (
        (SPECS, "YOLACT"),
        (CONVERTERS, "yolact"),
        (EVALUATOR_REGISTRY, "coco"),
        (MAPPER_REGISTRY, "YolactDatasetMapper"),
        (GEODESICS_PROVIDERS, "smpl"),
        (GAN_GENERATOR_REGISTRY, "UnetGenerator"),
        (GAN_DISCRIMINATOR_REGISTRY, "PixelDiscriminator"),
    ):
        existing = registry.get(name)
        with pytest.raises(AssertionError, match=name):
            if hasattr(registry, "register_as"):
                registry.register_as(name, existing)
            else:
                registry.register(existing)
        assert registry.get(name) is existing
