"""Exporters by ``MODEL.META_ARCHITECTURE`` (``tools/export_model.py``).

An exporter takes ``(model, cfg, batch)`` (an eval-mode model with its weights) and returns
``({file name: torch.jit.ScriptModule}, metadata dict)``; it checks its graphs against the eager
model before returning them."""

__all__ = ["EXPORTERS", "register_exporter"]

EXPORTERS = {}


def register_exporter(meta_arch):
    def deco(fn):
        if meta_arch in EXPORTERS:
            raise KeyError(f"an exporter for {meta_arch!r} is already registered")
        EXPORTERS[meta_arch] = fn
        return fn

    return deco
