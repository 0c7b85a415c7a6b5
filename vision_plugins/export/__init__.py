"""Shared export helpers. Each architecture declares its exporter in its spec
(``ArchSpec.exporter``, used by ``tools/export_model.py``)."""

import torch

__all__ = ["check_against_eager"]


@torch.no_grad()
def check_against_eager(traced, eager, inputs, name, rtol=1e-4, atol=1e-4):
    """Raise ``RuntimeError`` naming the graph and output when an exported graph's outputs differ
    from the eager module's on ``inputs`` (a tuple of tensors)."""
    for i, (a, b) in enumerate(zip(traced(*inputs), eager(*inputs))):
        if not torch.allclose(a, b, rtol=rtol, atol=atol):
            raise RuntimeError(
                f"{name}: exported output {i} differs from the eager model by "
                f"{(a - b).abs().max().item():.3g}"
            )
