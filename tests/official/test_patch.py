"""The official runners' patch helpers restore every global they touch (runs without any
official code): ``sys.path``, ``sys.modules`` (new, replaced and hidden entries), attributes,
environment variables, temporary directories, registries and catalogs; also when the body
raises, and for every codebase's import context manager when the checkout is empty."""

import contextlib
import os
import sys
import types

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import ROI_HEADS_REGISTRY

import vision_plugins  # noqa: F401  (registers its datasets before the catalogs are compared)
from tests.official import _patch, opened
from tests.official.centernet_oap import official_centernet_oap
from tests.official.cornernet import official_cornernet
from tests.official.densepose import official_densepose
from tests.official.retinaface import official_retinaface
from tests.official.stacked_hourglass import official_stacked_hourglass
from tests.official.yolact import official_yolact
from tests.official.yolact_edge import official_yolact_edge


class Boom(Exception):
    pass


@contextlib.contextmanager
def body(raises):
    """Runs the ``with`` body; ``raises``: it ends with ``Boom``, which must propagate."""
    if raises:
        with pytest.raises(Boom):
            yield
            raise Boom
    else:
        yield


RAISES = pytest.mark.parametrize("raises", [False, True], ids=["returns", "raises"])


@pytest.fixture
def checkout(tmp_path):
    """A fake checkout: packages ``models`` and ``vp_fake_unforeseen`` (a name nobody isolates)."""
    for pkg, text in (("models", "WHO = 'official'\n"), ("vp_fake_unforeseen", "")):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text(text)
    (tmp_path / "models" / "net.py").write_text("import vp_fake_unforeseen\n")
    return str(tmp_path)


@RAISES
def test_path_prepended_restores_sys_path(tmp_path, raises):
    saved, list_id = list(sys.path), id(sys.path)
    with body(raises), _patch.path_prepended(tmp_path, "/nonexistent"):
        assert sys.path[:2] == [str(tmp_path), "/nonexistent"]
        sys.path.append("/added/by/the/body")
    assert sys.path == saved and id(sys.path) == list_id


@RAISES
def test_official_code_restores_sys_modules(checkout, raises):
    ours = types.ModuleType("models")  # an unrelated module of the same name, imported before
    replaced = types.ModuleType("vp_fake_replaced")
    sys.modules["models"], sys.modules["vp_fake_replaced"] = ours, replaced
    sys.modules["models.ours_only"] = types.ModuleType("models.ours_only")
    saved_path = list(sys.path)
    try:
        stub, stub2 = types.ModuleType("vp_fake_new"), types.ModuleType("vp_fake_replaced")
        stubs = {"vp_fake_new": stub, "vp_fake_replaced": stub2}
        with body(raises), _patch.official_code(checkout, ("models",), stubs):
            assert "models.ours_only" not in sys.modules  # hidden: the official package wins
            import models.net

            assert models.WHO == "official" and sys.modules["models.net"] is models.net
            assert sys.modules["vp_fake_new"] is stub
            assert sys.modules["vp_fake_replaced"] is stub2
            assert "vp_fake_unforeseen" in sys.modules
        assert sys.modules["models"] is ours
        assert "models.ours_only" in sys.modules
        assert "models.net" not in sys.modules
        assert "vp_fake_new" not in sys.modules  # new: deleted
        assert sys.modules["vp_fake_replaced"] is replaced  # replaced: the previous object
        assert "vp_fake_unforeseen" not in sys.modules  # imported from the checkout: deleted
        assert sys.path == saved_path
    finally:
        for name in ("models", "models.ours_only", "vp_fake_replaced"):
            sys.modules.pop(name, None)


@RAISES
def test_attr_restores_existing_and_missing_attributes(raises):
    current_device, cuda = torch.cuda.current_device, torch.Tensor.cuda
    assert not hasattr(np, "int")
    with body(raises), contextlib.ExitStack() as stack:
        stack.enter_context(_patch.attr(torch.cuda, "current_device", lambda: 0))
        stack.enter_context(_patch.attr(np, "int", int))
        stack.enter_context(_patch.attr(torch.Tensor, "cuda", lambda self: self))
        assert torch.cuda.current_device() == 0 and np.int is int
        assert torch.ones(1).cuda() is not None
    assert torch.cuda.current_device is current_device
    assert not hasattr(np, "int")
    assert "cuda" not in vars(torch.Tensor) and torch.Tensor.cuda is cuda


@RAISES
def test_environ_restores_variables(monkeypatch, raises):
    monkeypatch.setenv("VP_FAKE_SET", "before")
    monkeypatch.delenv("VP_FAKE_UNSET", raising=False)
    with body(raises), _patch.environ(VP_FAKE_SET="inside", VP_FAKE_UNSET="new"):
        assert os.environ["VP_FAKE_SET"] == "inside" and os.environ["VP_FAKE_UNSET"] == "new"
    assert os.environ["VP_FAKE_SET"] == "before" and "VP_FAKE_UNSET" not in os.environ


@RAISES
def test_temp_dir_is_removed(raises):
    with body(raises), _patch.temp_dir() as path:
        assert os.path.isdir(path)
        with open(os.path.join(path, "image.png"), "wb") as f:
            f.write(b"x")
        seen = path
    assert not os.path.exists(seen)


@RAISES
def test_catalogs_restores_registries_and_catalogs(raises):
    datasets, heads = sorted(DatasetCatalog), sorted(ROI_HEADS_REGISTRY._obj_map)
    with body(raises), _patch.catalogs():
        DatasetCatalog.register("vp_fake_official_dataset", list)
        MetadataCatalog.get("vp_fake_official_dataset").set(thing_classes=["a"])
        ROI_HEADS_REGISTRY.register(type("VpFakeOfficialHeads", (), {}))
    assert sorted(DatasetCatalog) == datasets
    assert "vp_fake_official_dataset" not in MetadataCatalog.list()
    assert sorted(ROI_HEADS_REGISTRY._obj_map) == heads


@RAISES
def test_opened_keeps_the_runner_open_until_exit(raises):
    events = []

    @contextlib.contextmanager
    def runner(path, cfg, model, image):
        events.append("enter")
        try:
            yield lambda: (path, cfg, model, image)
        finally:
            events.append("exit")

    with body(raises), opened(runner) as open_runner:
        assert open_runner(1, 2, 3, 4)() == (1, 2, 3, 4)
        assert events == ["enter"]
    assert events == ["enter", "exit"]


OFFICIAL_NAMES = {"yolact", "data", "layers", "utils", "backbone", "dcn_v2", "pyximport",
                  "yolact_edge", "models", "task", "config", "db", "nnet", "sample", "test",
                  "external", "top_pool", "bottom_pool", "left_pool", "right_pool", "densepose",
                  "av"}  # fmt: skip


@pytest.mark.parametrize(
    "enter",
    [lambda p: official_yolact(p, "yolact_base_config"),
     lambda p: official_yolact_edge(p, "yolact_edge_config"),
     official_retinaface, official_centernet_oap, official_stacked_hourglass,
     lambda p: official_cornernet(p, "models.CornerNet"), official_densepose],
    ids=["yolact", "yolact_edge", "retinaface", "centernet_oap", "stacked_hourglass",
         "cornernet", "densepose"],
)  # fmt: skip
def test_an_empty_checkout_fails_to_import_and_leaks_nothing(tmp_path, enter):
    path, modules = list(sys.path), set(sys.modules)
    current_device = torch.cuda.current_device
    datasets = sorted(DatasetCatalog)
    with pytest.raises(ImportError):
        with enter(str(tmp_path)):
            pass
    assert sys.path == path
    new = {n.split(".")[0] for n in set(sys.modules) - modules}  # (lazy imports of ours aside)
    assert not new & OFFICIAL_NAMES
    assert torch.cuda.current_device is current_device
    assert not hasattr(np, "int") and not hasattr(np, "float")
    assert sorted(DatasetCatalog) == datasets
