"""One report for a diverged training run, whatever the meta-architecture.

detectron2 raises ``FloatingPointError("Loss became infinite or NaN at iteration=N! loss_dict =
...")`` when a loss is not finite. A diverged model can fail earlier, inside its forward:
detectron2's RPN raises a ``FloatingPointError`` without the iteration, and a loss can refuse
non-finite inputs once the weights are non-finite. :func:`diverged` turns those into the same
``FloatingPointError``, naming the iteration and the loss terms of the last logged step.
"""

import torch

__all__ = ["non_finite_parameters", "diverged"]


def non_finite_parameters(model):
    """Names of the parameters of ``model`` holding a NaN or an infinity."""
    with torch.no_grad():
        return [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]


def diverged(model, iteration, storage, error):
    """The ``FloatingPointError`` to raise for ``error`` (raised by the training step at
    ``iteration``) when it reports divergence -- a ``FloatingPointError``, or any error while
    ``model`` has non-finite parameters --, else None (a genuine error, raised as it is)."""
    if isinstance(error, FloatingPointError):
        if f"iteration={iteration}" in str(error):
            return None  # detectron2's own report
        cause = ""
    else:
        bad = non_finite_parameters(model)
        if not bad:
            return None
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        cause = f"the model's parameters {bad[:3]}{more} are not finite; "
    losses = {
        k: v for k, (v, _) in storage.latest().items() if k.startswith("loss") or k == "total_loss"
    }
    return FloatingPointError(
        f"Loss became infinite or NaN at iteration={iteration}! Training diverged: {cause}"
        f"{type(error).__name__}: {error}\nloss_dict of the last logged step = {losses}\n"
        "Lower SOLVER.BASE_LR, raise SOLVER.WARMUP_ITERS or clip gradients "
        "(SOLVER.CLIP_GRADIENTS.ENABLED)."
    )
