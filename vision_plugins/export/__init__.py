"""Export of models to TorchScript and ONNX, and the backends that run the exported graphs.

An architecture declares ``exporter=`` in its spec: ``exporter(model, cfg) -> Exportable`` (model
in eval mode, weights loaded). The :class:`Exportable` is the whole inference of the model split
in two:

- ``graphs``: one or more :class:`ExportGraph`, each an ``nn.Module`` mapping tensors to a tuple
  of tensors, holding the network **and every decoding step ONNX can express** (normalisation,
  heatmap NMS by max-pool, top-k, box / landmark decoding, ...). These are what is exported.
  Except decisions whose outcome changes a whole set of outputs when another runtime rounds a
  near-tie otherwise, which no tolerance can check (YOLACT's confidence filter and Fast NMS,
  CornerNet's peaks and corner matching): those stay in the Python part, in the function the
  eager model calls.
- ``__call__(batched_inputs, run) -> list[dict]``: the Python around the graphs: preprocess the
  detectron2 input dicts (the ones ``Predictor`` / the evaluation loader make), call
  ``run(graph_name, *tensors) -> tuple of tensors`` (any backend), then the architecture's **one**
  post-processing function, the very function its eager ``forward`` calls (never two copies).

So ``exportable(inputs, exportable.run_eager)`` equals ``model(inputs)``, and a backend only
provides another ``run``::

    from vision_plugins.export import export_model
    from vision_plugins.export.backends import load_backend
    exportable = spec.exporter(model, cfg)
    export_model(exportable, "onnx", "out/")            # out/model.onnx + out/export.json
    backend = load_backend("onnxruntime", exportable, "out/")   # or exported=None: on the fly
    outputs = exportable(batched_inputs, backend.run)

Formats: ``torchscript`` (``torch.jit.trace``; ``<name>.ts``) for every graph; ``onnx``
(``torch.onnx.export(dynamo=True)``, or the TorchScript-based exporter for graphs with
``onnx_dynamo=False``; opset :data:`OPSET`; ``<name>.onnx``) unless a graph sets
``onnx_unsupported`` (a reason naming the op), in which case ONNX export raises
:class:`OnnxUnsupported` with that reason. ``dynamic_axes`` (``{input_name: {axis: label}}``)
marks the inputs whose sizes vary (e.g. H and W for models tested at the image's own size); the
other sizes are fixed to those of ``example_inputs``. Every exported file is checked against the
eager module on ``check_inputs`` (default: ``example_inputs``) before ``export_model`` returns
(ONNX in ONNX Runtime), within the graph's ``rtol`` / ``atol`` (one value or one per output;
integer outputs equal; ``ranked=True`` for top-K outputs: rows paired, since another runtime may
order equal scores differently; ``rtol_of_max=True``: rtol of each output's largest magnitude, not
of each element); a mismatch raises naming the graph and output. ONNX needs the
``deploy`` extra (``pip install .[deploy]``: onnx, onnxruntime, onnxscript).

Backends (:mod:`vision_plugins.export.backends`): ``eager`` (the graphs' modules),
``torchscript``, ``onnxruntime``.

Writing a graph module (verified with torch 2.14.1 / onnxscript 0.7 / onnxruntime 1.32):
``torch.onnx.export(dynamo=True)`` traces with symbolic H / W, so use tensor ops on shapes, and
write ``a - (a // b) * b`` instead of ``a % b`` when ``b`` is a symbolic size (onnxscript cannot
convert that ``%``); data-dependent shapes (``nonzero``, NMS) belong in the Python part.
``torchvision.ops.deform_conv2d`` exports as ONNX ``DeformConv`` (opset 19) and runs in ONNX
Runtime on CPU.
"""

import json
import os
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

__all__ = [
    "ExportGraph",
    "Exportable",
    "OnnxUnsupported",
    "FORMATS",
    "OPSET",
    "check_against_eager",
    "check_graph",
    "export_graph",
    "export_model",
    "deploy_missing",
]

FORMATS = ("torchscript", "onnx")
SUFFIX = {"torchscript": ".ts", "onnx": ".onnx"}
OPSET = 19  # 19: the first opset with DeformConv (ONNX Runtime >= 1.16 runs it on CPU)


class OnnxUnsupported(RuntimeError):
    """ONNX cannot express a graph of this model (the message names the op); use TorchScript."""


@dataclass
class ExportGraph:
    """One exported graph of a model (see the module docstring)."""

    name: str  # file stem: "model", "keyframe", ...
    module: nn.Module  # tensors -> tuple of tensors
    example_inputs: Tuple[torch.Tensor, ...]
    input_names: List[str]
    output_names: List[str]
    dynamic_axes: Optional[Dict[str, Dict[int, str]]] = None
    onnx_unsupported: Optional[str] = None
    check_inputs: Optional[List[Tuple[torch.Tensor, ...]]] = None  # default: [example_inputs]
    rtol: Union[float, Sequence[float]] = 1e-4  # one value, or one per output
    atol: Union[float, Sequence[float]] = 1e-4
    # outputs are ranked rows along dim 1 (top-K results, batch first; output 0: the score they
    # are ranked by): compared as sets of rows, since candidates with equal scores may be ranked
    # in another order, and tied candidates at the K-th score kept instead, by another runtime
    ranked: bool = False
    # rtol relative to the output's largest |eager value| (not each element's): for networks whose
    # rounding grows with the scale of their activations, so that an output of 1e5 may differ by
    # 0.3 where it crosses zero (deep random networks out of their calibration range)
    rtol_of_max: bool = False
    # torch.onnx.export(dynamo=True) (torch.export; needed for DeformConv and robust with
    # symbolic sizes), or False: the TorchScript-based exporter, ~10x faster to export a graph
    # of many small modules (the hourglasses) and enough for fixed-size graphs
    onnx_dynamo: bool = True

    def __call__(self, *tensors):
        with torch.no_grad():
            out = self.module(*tensors)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)


class Exportable:
    """What ``spec.exporter(model, cfg)`` returns. Subclasses set ``graphs`` (and ``meta``: what a
    deployment needs to know, written to ``export.json``) and implement ``__call__``."""

    graphs: List[ExportGraph] = []
    meta: Dict = {}

    def __init__(self, graphs=None, meta=None):
        if graphs is not None:
            self.graphs = list(graphs)
        if meta is not None:
            self.meta = dict(meta)

    def graph(self, name) -> ExportGraph:
        for g in self.graphs:
            if g.name == name:
                return g
        raise KeyError(f"no graph {name!r}; graphs: {[g.name for g in self.graphs]}")

    def run_eager(self, name, *tensors):
        """``run`` of the eager backend: the graph's module itself."""
        return self.graph(name)(*tensors)

    @property
    def formats(self):
        """The formats every graph can be exported to."""
        if any(g.onnx_unsupported for g in self.graphs):
            return ("torchscript",)
        return FORMATS

    def __call__(self, batched_inputs, run) -> List[dict]:
        raise NotImplementedError


def deploy_missing():
    """None when the ``deploy`` extra (onnx, onnxruntime, onnxscript) imports, else a message
    naming what is missing and how to install it."""
    missing = []
    for name in ("onnx", "onnxruntime", "onnxscript"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if not missing:
        return None
    return (
        f"{', '.join(missing)} not installed: pip install 'vision_plugins[deploy]' (or make setup)"
    )


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


@torch.no_grad()
def check_against_eager(traced, eager, inputs, name, rtol=1e-4, atol=1e-4, ranked=False,
                        rtol_of_max=False):  # fmt: skip
    """Raise ``RuntimeError`` naming the graph and output when an exported graph's outputs
    (``traced(*inputs)``, tensors or numpy arrays) differ from the eager module's on ``inputs``
    (a tuple of tensors). ``rtol`` / ``atol``: one value or one per output; integer outputs must
    be equal. ``ranked``, ``rtol_of_max``: see ``ExportGraph``."""
    got, want = _as_tuple(traced(*inputs)), _as_tuple(eager(*inputs))
    if len(got) != len(want):
        raise RuntimeError(f"{name}: exported graph gives {len(got)} outputs, eager {len(want)}")
    got = [torch.as_tensor(a) for a in got]
    if ranked:
        got, want = _rank_like(got, want, rtol, atol, name)
    for i, (a, b) in enumerate(zip(got, want)):
        a = torch.as_tensor(a)
        rt = rtol[i] if isinstance(rtol, (tuple, list)) else rtol
        at = atol[i] if isinstance(atol, (tuple, list)) else atol
        if a.shape != b.shape:
            raise RuntimeError(
                f"{name}: exported output {i} has shape {tuple(a.shape)}, eager {tuple(b.shape)}"
            )
        if not a.dtype.is_floating_point:
            if not torch.equal(a.to(b.dtype), b):
                raise RuntimeError(f"{name}: exported output {i} (integer) differs from eager")
        elif rtol_of_max and b.numel() and not (a - b).abs().max() <= at + rt * b.abs().max():
            raise RuntimeError(
                f"{name}: exported output {i} differs from the eager model by "
                f"{(a - b).abs().max().item():.3g} (largest |value| "
                f"{b.abs().max().item():.3g}, rtol={rt} of it, atol={at})"
            )
        elif not rtol_of_max and not torch.allclose(a, b, rtol=rt, atol=at):
            raise RuntimeError(
                f"{name}: exported output {i} differs from the eager model by "
                f"{(a - b).abs().max().item():.3g} (rtol={rt}, atol={at})"
            )


def _rank_like(got, want, rtol, atol, name):
    """Pair the rows (dim 1) of ``got`` with ``want``'s, per batch element: each eager row with
    the exported row closest in the outputs' tolerance units, one-to-one. Rows whose score
    (output 0) ties with the K-th score (within its atol) are at the cut: another runtime may
    keep another of the tied candidates, so they may stay unpaired. Returns the paired rows of
    both, flattened over the batch."""
    n, k = want[0].shape[:2]
    cost = torch.zeros(n, k, k, dtype=torch.float64)
    for i, (a, b) in enumerate(zip(got, want)):
        rt = rtol[i] if isinstance(rtol, (tuple, list)) else rtol
        at = atol[i] if isinstance(atol, (tuple, list)) else atol
        a, b = a.double().reshape(n, k, -1), b.double().reshape(n, k, -1)
        scale = at + rt * b.abs()[:, :, None] + 1e-12  # (n, k_want, 1, c)
        cost = torch.maximum(cost, ((a[:, None] - b[:, :, None]).abs() / scale).amax(-1))
    at0 = atol[0] if isinstance(atol, (tuple, list)) else atol
    pairs_got, pairs_want = [], []
    for j in range(n):
        best, order = cost[j].min(1)  # (k_want,)
        cut = (want[0][j] - want[0][j, -1]).abs() <= at0
        paired = best <= 1
        if not bool((paired | cut).all()) or len(set(order[paired].tolist())) != int(paired.sum()):
            raise RuntimeError(f"{name}: exported top-K rows do not pair one-to-one with eager's")
        rows = torch.nonzero(paired).squeeze(1)
        pairs_want.append((j, rows))
        pairs_got.append((j, order[rows]))
    return [torch.cat([a[j, r] for j, r in pairs_got]) for a in got], [
        torch.cat([b[j, r] for j, r in pairs_want]) for b in want
    ]


def _dynamic_shapes(graph):
    """``dynamic_axes`` as ``torch.export`` dynamic shapes (one Dim per label, AUTO bounds)."""
    if not graph.dynamic_axes:
        return None
    return tuple(
        {axis: torch.export.Dim.AUTO for axis in graph.dynamic_axes.get(n, {})} or None
        for n in graph.input_names
    )


def _export_onnx(graph, path):
    if graph.onnx_unsupported:
        raise OnnxUnsupported(f"{graph.name}: cannot export to ONNX: {graph.onnx_unsupported}")
    missing = deploy_missing()
    if missing:
        raise RuntimeError(f"ONNX export needs the deploy extra: {missing}")
    if not graph.onnx_dynamo:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation warning
            torch.onnx.export(
                graph.module,
                tuple(graph.example_inputs),
                path,
                input_names=list(graph.input_names),
                output_names=list(graph.output_names),
                dynamic_axes=graph.dynamic_axes,
                opset_version=OPSET,
                dynamo=False,
            )
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            graph.module,
            tuple(graph.example_inputs),
            dynamic_shapes=_dynamic_shapes(graph),
            input_names=list(graph.input_names),
            output_names=list(graph.output_names),
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    program.save(path, external_data=False)


def _export_torchscript(graph, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer / deprecation warnings
        traced = torch.jit.trace(graph.module, tuple(graph.example_inputs), check_trace=False)
        traced = torch.jit.freeze(traced.eval())  # weights as constants (BN folds into convs)
        traced.save(path)


@torch.no_grad()
def export_graph(graph: ExportGraph, fmt: str, path: str, check: bool = True):
    """Write ``graph`` to ``path`` in ``fmt`` and (``check``) compare the written file, loaded
    back (ONNX: in ONNX Runtime), with the eager module on ``graph.check_inputs``."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: one of {FORMATS}")
    graph.module.eval()
    (_export_onnx if fmt == "onnx" else _export_torchscript)(graph, path)
    if check:
        from .backends import load_graph

        check_graph(load_graph(fmt, path), graph, fmt)
    return path


def check_graph(run, graph: ExportGraph, runtime: str):
    """``check_against_eager`` of ``run`` (a graph in another runtime, named ``runtime`` in the
    error) on each of ``graph.check_inputs`` (default: its example), with the graph's
    tolerances."""
    for inputs in graph.check_inputs or [graph.example_inputs]:
        check_against_eager(run, graph, tuple(inputs), f"{graph.name} ({runtime})", graph.rtol,
                            graph.atol, graph.ranked, graph.rtol_of_max)  # fmt: skip


def export_model(exportable: Exportable, fmt: str, output_dir: str, check=True, extra_meta=None):
    """Export every graph of ``exportable`` to ``output_dir/<name><suffix>`` and write
    ``export.json`` (format, graphs with input / output names, the exportable's ``meta``).
    Returns the list of written graph files."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: one of {FORMATS}")
    os.makedirs(output_dir, exist_ok=True)
    files = []
    for graph in exportable.graphs:
        path = os.path.join(output_dir, graph.name + SUFFIX[fmt])
        files.append(export_graph(graph, fmt, path, check=check))
    meta = {
        **(extra_meta or {}),
        "format": fmt,
        "graphs": {
            g.name: {
                "file": g.name + SUFFIX[fmt],
                "inputs": list(g.input_names),
                "outputs": list(g.output_names),
                "dynamic_axes": {k: {str(a): v for a, v in d.items()} for k, d in
                                 (g.dynamic_axes or {}).items()},  # fmt: skip
                "tolerance": {"rtol": g.rtol, "atol": g.atol, "rtol_of_max": g.rtol_of_max},
            }
            for g in exportable.graphs
        },
        **exportable.meta,
    }
    with open(os.path.join(output_dir, "export.json"), "w") as f:
        json.dump(meta, f, indent=2)
    return files
