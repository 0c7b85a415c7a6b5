"""The export API on a toy heatmap model: both formats round-trip through their backends with the
eager outputs (dynamic H / W), the check against eager catches a wrong graph, a graph ONNX
cannot express refuses ONNX with its reason, and backends on the fly equal backends on files."""

import json

import pytest
import torch
from torch import nn

from vision_plugins.export import (
    Exportable,
    ExportGraph,
    OnnxUnsupported,
    check_against_eager,
    deploy_missing,
    export_model,
)
from vision_plugins.export.backends import BACKENDS, load_backend

needs_deploy = pytest.mark.skipif(deploy_missing() is not None, reason=str(deploy_missing()))


class HeatmapNet(nn.Module):
    """conv + BN + heatmap NMS by max-pool + top-k, the decoding the exporters put in graphs."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 1, 3, padding=1),
        )
        with torch.no_grad():
            self.net[1].running_mean.uniform_(-1, 1)
            self.net[1].running_var.uniform_(0.5, 2)

    def forward(self, images):
        heat = self.net(images).sigmoid()
        heat = heat * (nn.functional.max_pool2d(heat, 3, 1, 1) == heat).to(heat.dtype)
        scores, index = heat.flatten(1).topk(5)
        ys = index // heat.shape[3]
        return scores, ys, index - ys * heat.shape[3]  # not `%`: see the exporters' notes


class Toy(Exportable):
    def __init__(self, onnx_unsupported=None):
        g = torch.Generator().manual_seed(1)
        graph = ExportGraph(
            "model",
            HeatmapNet().eval(),
            (torch.rand(1, 3, 32, 48, generator=g),),
            ["images"],
            ["scores", "ys", "xs"],
            {"images": {2: "height", 3: "width"}},
            onnx_unsupported=onnx_unsupported,
            check_inputs=[(torch.rand(1, 3, 40, 24, generator=g),)],
            atol=1e-5,
        )
        super().__init__([graph], {"input_format": "RGB"})

    def __call__(self, batched_inputs, run):
        out = []
        for x in batched_inputs:
            scores, ys, xs = run("model", x["image"][None])
            out.append({"scores": scores[0], "points": torch.stack([xs[0], ys[0]], 1)})
        return out


def _inputs():
    g = torch.Generator().manual_seed(2)
    return [
        {"image": torch.rand(3, 56, 72, generator=g)},
        {"image": torch.rand(3, 30, 20, generator=g)},
    ]


@pytest.mark.parametrize("kind", BACKENDS)
def test_backends_match_eager_at_other_sizes(kind, tmp_path):
    if kind == "onnxruntime" and deploy_missing():
        pytest.skip(deploy_missing())
    toy = Toy()
    backend = load_backend(kind, toy, None)  # exported on the fly (and checked)
    want = toy(_inputs(), toy.run_eager)
    got = toy(_inputs(), backend.run)
    for a, b in zip(got, want):
        torch.testing.assert_close(a["scores"], b["scores"], rtol=0, atol=1e-5)
        assert torch.equal(a["points"], b["points"])


@needs_deploy
def test_export_writes_files_and_metadata(tmp_path):
    toy = Toy()
    for fmt in ("onnx", "torchscript"):
        files = export_model(toy, fmt, str(tmp_path), extra_meta={"config_file": "x.yaml"})
        assert [f.rsplit("/", 1)[1] for f in files] == [
            "model." + ("onnx" if fmt == "onnx" else "ts")
        ]
        meta = json.loads((tmp_path / "export.json").read_text())
        assert meta["format"] == fmt and meta["input_format"] == "RGB"
        assert meta["graphs"]["model"]["inputs"] == ["images"]
        assert meta["graphs"]["model"]["dynamic_axes"] == {"images": {"2": "height", "3": "width"}}
    kind = {"onnx": "onnxruntime", "torchscript": "torchscript"}
    for fmt in ("onnx", "torchscript"):  # backends on the written files
        export_model(toy, fmt, str(tmp_path / fmt))
        b = load_backend(kind[fmt], toy, str(tmp_path / fmt))
        assert torch.equal(
            toy(_inputs(), b.run)[1]["points"], toy(_inputs(), toy.run_eager)[1]["points"]
        )


def test_check_against_eager_names_graph_and_output():
    toy = Toy()
    graph = toy.graphs[0]

    def wrong(x):
        s, y, xx = graph(x)
        return s + 1e-3, y, xx

    with pytest.raises(RuntimeError, match=r"model: exported output 0 differs .* by 0.001"):
        check_against_eager(wrong, graph, graph.example_inputs, "model", atol=1e-5)


def test_onnx_unsupported_names_the_op(tmp_path):
    toy = Toy(onnx_unsupported="torchvision::deform_conv2d has no ONNX form")
    assert toy.formats == ("torchscript",)
    with pytest.raises(OnnxUnsupported, match="deform_conv2d"):
        export_model(toy, "onnx", str(tmp_path))
    with pytest.raises(RuntimeError, match="deform_conv2d.*torchscript"):
        load_backend("onnxruntime", toy)


@needs_deploy
def test_onnxruntime_session_options(tmp_path):
    """Spinning pool threads took the 2 cores from the Python after the graph and from the next
    model timed (the official CenterNet measured 15 % slower right after ONNX Runtime); memory
    patterns, kept per input shape, took CornerNet on the photo from 13.3 to 20.6 GB."""
    backend = load_backend("onnxruntime", Toy())
    options = backend.graphs["model"].session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.enable_mem_pattern is False
    assert options.enable_cpu_mem_arena is True  # without it: 13 GB too, but 35 % slower


def test_inductor_reads_no_export_directory_and_needs_a_compiler(tmp_path):
    from torch._inductor import config

    with pytest.raises(ValueError, match=f"inductor .*{tmp_path}.*torchscript / onnxruntime"):
        load_backend("inductor", Toy(), str(tmp_path))
    with (
        config.patch({"cpp.cxx": (None, "no-such-cxx")}),
        pytest.raises(
            RuntimeError,
            match=r"backend inductor: no C\+\+ compiler found \(no-such-cxx not on the PATH\)",
        ),
    ):
        load_backend("inductor", Toy())


def test_inductor_checks_against_eager_when_it_loads(monkeypatch):
    """A compiled graph that differs from eager is refused when the backend loads, naming it."""
    from vision_plugins.export import backends

    class Off(backends._CompiledGraph):
        def __call__(self, *tensors):
            scores, ys, xs = super().__call__(*tensors)
            return scores + 1e-3, ys, xs

    monkeypatch.setattr(backends, "_CompiledGraph", Off)
    with pytest.raises(RuntimeError, match=r"model \(inductor\): exported output 0 differs"):
        load_backend("inductor", Toy())


def test_inductor_bypasses_the_fx_graph_cache():
    """A frozen graph is never read from (or written to) Inductor's FX graph cache: its key misses
    the oneDNN weight layout of the CPU that wrote it (a cache carried from an AVX-512 machine to
    an AVX2 one corrupted the heap), so every process compiles its own. The control: a
    compile without weights here does use the cache (so the counters this test reads count)."""
    from torch._dynamo.utils import counters

    counters.clear()
    load_backend("inductor", Toy())
    assert not {k: v for k, v in counters["inductor"].items() if k.startswith("fxgraph_cache")}
    torch.compile(lambda x: x * 3 - 1)(torch.ones(5))
    assert counters["inductor"]["fxgraph_cache_miss"] + counters["inductor"]["fxgraph_cache_hit"]
