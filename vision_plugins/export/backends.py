"""Backends that run an :class:`~vision_plugins.export.Exportable`'s graphs: ``eager`` (the
modules themselves), ``torchscript`` (``<name>.ts`` via ``torch.jit.load``), ``onnxruntime``
(``<name>.onnx`` in an ONNX Runtime ``InferenceSession``, CPU provider, full graph optimisation)
and ``inductor`` (the modules compiled in-process by ``torch.compile`` with Inductor's
``freezing``: weights as constants, BatchNorm folded, convolution weights pre-packed, pointwise
ops fused into the convolutions; needs a C++ compiler on CPU).

``load_backend(kind, exportable, exported=None)``: ``exported`` is a directory written by
``export_model`` / ``tools/export_model.py`` (its files are used as they are), or None: the graphs
are exported on the fly into a temporary directory (checked against eager). ``inductor`` has no
file: it compiles when it loads and checks each graph against eager on the graph's check inputs;
the weights are compiled in as constants (load them before), and kernels are specialised to the
input size, so a first call at another size compiles again (seconds to minutes), and past
``torch._dynamo.config.recompile_limit`` sizes (8) a graph runs eagerly: for inputs of one or a
few sizes (fixed-size models, a camera); ONNX Runtime for many sizes. The backend's
``run(graph_name, *tensors) -> tuple of tensors`` is what ``Exportable.__call__`` takes.
"""

import os
import shutil
import tempfile
import warnings

import numpy as np
import torch

from . import SUFFIX, Exportable, check_graph, deploy_missing, export_model

__all__ = [
    "BACKENDS", "Backend", "load_backend", "load_graph", "ExportedModel", "inductor_missing"
]  # fmt: skip

BACKENDS = ("eager", "torchscript", "onnxruntime", "inductor")
_FORMAT = {"torchscript": "torchscript", "onnxruntime": "onnx"}


class _TorchScriptGraph:
    def __init__(self, path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation warning
            self.module = torch.jit.load(path, map_location="cpu").eval()

    @torch.no_grad()
    def __call__(self, *tensors):
        out = self.module(*tensors)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)


class _OnnxRuntimeGraph:
    def __init__(self, path, threads=None):
        missing = deploy_missing()
        if missing:
            raise RuntimeError(f"backend onnxruntime: {missing}")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = threads or torch.get_num_threads()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # no spin-waiting of the idle pool threads after a run: they would take the cores from
        # the Python around the graphs (and from whatever runs next: measured +15 % on the
        # official CenterNet timed right after ONNX Runtime on 2 cores)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # no memory patterns: one is planned and kept per input shape, on top of the arena;
        # CornerNet on the 600x848 photo grew to 20.6 GB after two runs with them, 13.3 GB
        # without, at the same latency
        options.enable_mem_pattern = False
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, *tensors):
        feeds = {
            n: t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)
            for n, t in zip(self.input_names, tensors)
        }
        return tuple(torch.from_numpy(np.asarray(o)) for o in self.session.run(None, feeds))


def inductor_missing():
    """None when Inductor can compile for the CPU here (a C++ compiler it would call is on the
    PATH), else a message saying what is missing."""
    from torch._inductor import config

    compilers = [c for c in config.cpp.cxx if c]
    if any(shutil.which(c) for c in compilers):
        return None
    return (
        f"no C++ compiler found ({', '.join(compilers)} not on the PATH): Inductor compiles its "
        "CPU kernels with one (Debian: apt install g++; or set CXX)"
    )


class _CompiledGraph:
    """``torch.compile`` of a graph's module (Inductor, ``freezing``), compiled at the first call
    of each input size."""

    def __init__(self, graph):
        # no FX graph cache: its key (torch 2.14) misses what a frozen graph depends on besides
        # the code: the convolution weights pre-packed in oneDNN's blocked layout for this CPU's
        # vector unit, and the thread count. An entry written on an AVX-512 machine (or under
        # ONEDNN_MAX_CPU_ISA) and read on an AVX2 one corrupts the heap (NaN outputs, then
        # "double free or corruption"; seen with a cache dir carried between machines). The
        # C++ kernels stay cached: their key is their source and compiler flags.
        options = {"freezing": True, "fx_graph_cache": False}
        self.module = torch.compile(graph.module, dynamic=False, options=options)

    @torch.no_grad()
    def __call__(self, *tensors):
        out = self.module(*tensors)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def load_graph(fmt, path, threads=None):
    """A callable ``(*tensors) -> tuple of tensors`` running the exported file ``path``
    (``fmt``: "torchscript" or "onnx")."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"exported graph {path!r} not found")
    return _TorchScriptGraph(path) if fmt == "torchscript" else _OnnxRuntimeGraph(path, threads)


class Backend:
    """``run(graph_name, *tensors) -> tuple of tensors`` on one kind of backend."""

    def __init__(self, kind, exportable: Exportable, exported=None, threads=None):
        if kind not in BACKENDS:
            raise ValueError(f"backend {kind!r}: one of {BACKENDS}")
        self.kind, self.exportable, self.directory = kind, exportable, exported
        self._tmp = None
        if kind == "eager":
            self.graphs = {g.name: g for g in exportable.graphs}
            return
        if kind == "inductor":
            self._compile(exportable, exported)
            return
        fmt = _FORMAT[kind]
        if fmt not in exportable.formats:
            reasons = [f"{g.name}: {g.onnx_unsupported}" for g in exportable.graphs]
            raise RuntimeError(
                f"backend {kind}: this model cannot be exported to {fmt} ({'; '.join(reasons)}); "
                "use --backend torchscript"
            )
        if exported is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="vp_export_")
            exported = self._tmp.name
            export_model(exportable, fmt, exported)
        self.directory = exported
        self.graphs = {
            g.name: load_graph(fmt, os.path.join(exported, g.name + SUFFIX[fmt]), threads)
            for g in exportable.graphs
        }

    def _compile(self, exportable, exported):
        if exported is not None:
            raise ValueError(
                f"backend inductor compiles in this process and reads no export directory "
                f"(got {exported!r}); exported files run with torchscript / onnxruntime"
            )
        missing = inductor_missing()
        if missing:
            raise RuntimeError(f"backend inductor: {missing}")
        self.graphs = {}
        for g in exportable.graphs:
            g.module.eval()
            self.graphs[g.name] = _CompiledGraph(g)
            check_graph(self.graphs[g.name], g, "inductor")

    def run(self, name, *tensors):
        return self.graphs[name](*tensors)


def load_backend(kind, exportable, exported=None, threads=None) -> Backend:
    return Backend(kind, exportable, exported, threads)


class ExportedModel:
    """A model-like callable: ``model(batched_inputs) -> list[dict]`` through ``backend``."""

    def __init__(self, exportable: Exportable, backend: Backend):
        self.exportable, self.backend = exportable, backend

    def __call__(self, batched_inputs):
        with torch.no_grad():
            return self.exportable(batched_inputs, self.backend.run)

    def eval(self):
        return self
