"""Runners of the official implementations, for the optional ``test_official_*`` tests and
``tools/benchmark.py --official PATH``; one module per official codebase:

=====================  ============================================  ============================
module                 official code                                 meta-architectures
=====================  ============================================  ============================
``yolact``             dbolya/yolact                                 YOLACT
``yolact_edge``        haotian-liu/yolact_edge                       (import only, no runner)
``retinaface``         biubug6/Pytorch_Retinaface                    RetinaFace
``centernet_oap``      xingyizhou/CenterNet                          CenterNetOAP
``cornernet``          princeton-vl/CornerNet, Duankaiwen/CenterNet  CornerNet, CenterNetTriplet
``stacked_hourglass``  princeton-vl/pytorch_stacked_hourglass        StackedHourglassPose
``densepose``          detectron2 ``projects/DensePose``             (import only, no runner)
``cyclegan``           junyanz/pytorch-CycleGAN-and-pix2pix          Pix2Pix, CycleGAN
``esrgan``             xinntao/ESRGAN (``RRDBNet_arch.py``)          ESRGAN (RRDBNet)
``basicsr_sr``         XPixelGroup/BasicSR (arch files only)         SuperResolution, SRGAN
``fast_neural_style``  pytorch/examples ``fast_neural_style``        FastNeuralStyle
=====================  ============================================  ============================

Nothing official is vendored: the code is imported from a checkout at ``path``. Every
module with a benchmark runner calls it ``runner``; the architectures' specs name it as
``"tests.official.<module>:runner"`` (``ArchSpec.official_runner``).

Two shapes, both context managers, so that nothing leaks into the process (``sys.path``,
``sys.modules`` entries and stand-ins, ``torch`` / ``numpy`` attributes, temporary directories
are all restored or removed on exit, also when the body raises; see ``_patch``):

- ``with official_<codebase>(path, ...) as ns:`` imports the official modules and yields a
  namespace of what the tests use; the modules stay importable (and the shims alive) inside the
  block only.
- ``with runner(path, cfg, model, image) as run:`` (the benchmark runners, ``<module>.runner``):
  ``path`` is a checkout of the official code, ``cfg`` our config, ``model`` our built model
  (weights loaded) and ``image`` the BGR benchmark image; ``run()`` (no argument) runs the
  official inference procedure on that image with the same weights, as the official test
  script does, and is only valid inside the block.

In tests, a fixture enters the context manager and ``yield`` s inside the ``with``;
:func:`opened` makes a fixture of a runner whose arguments are only known in the test body.
"""

import contextlib

__all__ = ["opened"]


@contextlib.contextmanager
def opened(runner):
    """Yields ``open_runner(path, cfg, model, image) -> run``, which enters ``runner(...)`` and
    keeps it open until this context exits (a function-scoped fixture: the test's end)."""
    with contextlib.ExitStack() as stack:
        yield lambda *args, **kwargs: stack.enter_context(runner(*args, **kwargs))
