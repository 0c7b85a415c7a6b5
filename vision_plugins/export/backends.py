"""Backends that run an :class:`~vision_plugins.export.Exportable`'s graphs: ``eager`` (the
modules themselves), ``torchscript`` (``<name>.ts`` via ``torch.jit.load``) and ``onnxruntime``
(``<name>.onnx`` in an ONNX Runtime ``InferenceSession``, CPU provider, full graph optimisation).

``load_backend(kind, exportable, exported=None)``: ``exported`` is a directory written by
``export_model`` / ``tools/export_model.py`` (its files are used as they are), or None: the graphs
are exported on the fly into a temporary directory (checked against eager). The backend's
``run(graph_name, *tensors) -> tuple of tensors`` is what ``Exportable.__call__`` takes.
"""

import os
import tempfile
import warnings

import numpy as np
import torch

from . import SUFFIX, Exportable, deploy_missing, export_model

__all__ = ["BACKENDS", "Backend", "load_backend", "load_graph", "ExportedModel"]

BACKENDS = ("eager", "torchscript", "onnxruntime")
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
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, *tensors):
        feeds = {
            n: t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)
            for n, t in zip(self.input_names, tensors)
        }
        return tuple(torch.from_numpy(np.asarray(o)) for o in self.session.run(None, feeds))


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
