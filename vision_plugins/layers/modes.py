"""Context managers that run a module in another mode and leave no trace."""

import contextlib

import torch

__all__ = ["buffers_restored", "training_mode"]


@contextlib.contextmanager
def buffers_restored(model):
    """Every buffer of ``model`` (BatchNorm running mean / var / batch counts, ...) back to its
    value on entry when the block ends."""
    saved = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        yield model
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


@contextlib.contextmanager
def training_mode(model):
    """``model.train()`` inside the block; each module's own mode restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.train()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode
