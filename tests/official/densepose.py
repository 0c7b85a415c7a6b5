"""detectron2's DensePose project: import with runtime shims (no benchmark runner)."""

import contextlib
import os
import sys
import types

import numpy as np

from tests.official import _patch

__all__ = ["official_densepose"]


@contextlib.contextmanager
def official_densepose(path, local_files=None):
    """detectron2's DensePose project from ``path`` (``projects/DensePose``) with runtime shims:
    a stand-in ``av`` module (video reading only) and the ``np.int`` / ``np.float`` / ``np.bool``
    aliases some of its modules still use (removed from numpy >= 1.24). Yields the ``densepose``
    package. On exit the shims and the ``densepose`` modules are gone and detectron2's registries
    and dataset catalogs hold what they held before (the package registers into them).

    ``local_files``: ``{file name: local path}`` served by detectron2's
    ``PathManager.get_local_path`` for any URL ending in that name (DensePose's GPS evaluator
    fetches ``SMPL_subdiv.mat``, ``SMPL_SUBDIV_TRANSFORM.mat`` and ``Pdist_matrix.pkl`` from
    dl.fbaipublicfiles.com at evaluation time); any other URL raises instead of downloading.
    Unset: ``PathManager`` is left as it is."""
    av = types.ModuleType("av")
    av.frame = types.SimpleNamespace(Frame=object)
    av.container = types.SimpleNamespace(Container=object)
    stubs = {} if "av" in sys.modules else {"av": av}
    with contextlib.ExitStack() as stack:
        for name, value in (("int", int), ("float", float), ("bool", bool)):
            if not hasattr(np, name):  # np.bool is back in numpy 2
                stack.enter_context(_patch.attr(np, name, value))
        if local_files is not None:
            from detectron2.utils.file_io import PathManager

            def get_local_path(url, **kwargs):
                name = os.path.basename(str(url))
                if name not in local_files:
                    raise FileNotFoundError(f"no local file for {url!r} (no downloads in tests)")
                return local_files[name]

            stack.enter_context(_patch.attr(PathManager, "get_local_path", get_local_path))
        stack.enter_context(_patch.catalogs())
        stack.enter_context(_patch.official_code(path, ("densepose",), stubs))
        import densepose

        yield densepose
