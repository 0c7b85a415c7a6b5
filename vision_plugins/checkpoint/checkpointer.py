"""``Checkpointer``: detectron2's ``DetectionCheckpointer`` made safe and strict about the files.

Everything the project loads weights with (``Trainer``, ``Predictor``, ``tools/*``) uses it:

- **no code runs while reading a file**: ``.pkl`` files (detectron2 / Detectron / Caffe2 model
  zoo) are read with :class:`RestrictedUnpickler`, which builds only numpy arrays, dtypes and
  scalars, builtin containers and scalars; any other global (``os.system``, ``builtins.eval``,
  a class ...) is refused with :class:`UnsafeCheckpointError` naming the file and the global.
  Other files go through ``torch.load(weights_only=True)``.
- **a file that is not a checkpoint is named**: a missing file raises ``FileNotFoundError``; a
  text, truncated or damaged file :class:`UnreadableCheckpointError` (instead of
  ``IndexError: pop from empty list`` or ``PytorchStreamReader failed ...``).
- **weights that match (almost) nothing are an error**, not a model trained / evaluated from
  random weights: when less than :attr:`Checkpointer.MIN_LOADED_FRACTION` (10 %) of the model's
  values (parameters and buffers, by number of elements) are loaded from the file,
  :class:`WeightsMismatchError` names the file and the fraction, and, when the file's keys carry
  the ``signature`` of a converter (``checkpoint.register_converter``), the
  ``tools/convert_weights.py`` command that turns the official file into loadable weights. 10 %
  is far below what a legitimate partial load gives (an ImageNet backbone, e.g. detectron2's
  ``R-50.pkl`` or a ``torchvision_resnet`` conversion, is about a third to two thirds of a
  detection model) and far above an accidental match of a few same-named layers.
  detectron2's ``matching_heuristics``, ``__author__`` handling and its warnings about missing /
  unexpected keys of partial loads are unchanged.
- **checkpoints are written atomically**: ``save`` and ``last_checkpoint`` go to a temporary file
  in the same directory, then ``os.replace``: a killed run never leaves a half-written file under
  the final name.
- **resume finds the newest readable checkpoint** (:meth:`Checkpointer.resume_or_load`): the file
  named by ``last_checkpoint``, then ``model_final.pth`` and ``model_<iter>.pth`` of OUTPUT_DIR,
  newest iteration first; damaged ones are skipped with a warning naming them.
"""

import io
import logging
import os
import pickle
import re
import uuid
import zipfile
from collections.abc import Mapping
from urllib.parse import urlparse

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from fvcore.common.checkpoint import _filter_reused_missing_keys

from .registry import CONVERTERS

__all__ = [
    "Checkpointer",
    "CheckpointLoadError",
    "UnreadableCheckpointError",
    "UnsafeCheckpointError",
    "WeightsMismatchError",
    "RestrictedUnpickler",
    "safe_pickle_load",
    "suggest_converters",
    "atomic_write",
]

logger = logging.getLogger(__name__)


class CheckpointLoadError(ValueError):
    """A file cannot be used as the model's weights (the message names the file)."""


class UnreadableCheckpointError(CheckpointLoadError):
    """The file is not a readable checkpoint: text, truncated, damaged, or refused."""


class UnsafeCheckpointError(UnreadableCheckpointError):
    """A pickle in the file asks for a global outside :data:`SAFE_GLOBALS` (it could run code)."""


class WeightsMismatchError(CheckpointLoadError):
    """The file's parameter names match (almost) none of the model's."""


# (module, name) that a weights pickle may reference: numpy arrays / dtypes / scalars (numpy 1 and
# 2 module names, all pickle protocols), the builtin containers and scalars, and
# ``_codecs.encode`` (protocol-2 pickles of bytes written by Python 3). Nothing here runs code.
SAFE_GLOBALS = frozenset(
    [
        (core, name)
        for core in ("numpy.core", "numpy._core")
        for name in ("multiarray._reconstruct", "multiarray.scalar", "numeric._frombuffer")
    ]
    + [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")]
    + [("collections", "OrderedDict")]
    + [
        ("builtins", name)
        for name in (
            "dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "bool", "str",
            "bytes", "bytearray", "slice", "range",
        )
    ]  # fmt: skip
)
_PY2_MODULES = {"__builtin__": "builtins"}  # Python 2 pickles (detectron / Caffe2 model zoo)


def _split_global(module, name):
    """``("numpy._core.multiarray", "_reconstruct")`` -> ``("numpy._core",
    "multiarray._reconstruct")`` so SAFE_GLOBALS can list submodule members compactly."""
    module = _PY2_MODULES.get(module, module)
    for core in ("numpy.core.", "numpy._core."):
        if module.startswith(core):
            return core[:-1], f"{module[len(core):]}.{name}"
    return module, name


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only what weights files contain (:data:`SAFE_GLOBALS`); any
    other global raises :class:`UnsafeCheckpointError` naming it."""

    def find_class(self, module, name):
        if _split_global(module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise UnsafeCheckpointError(f"forbidden global '{module}.{name}'")

    def persistent_load(self, pid):
        raise _TorchPickle()


class _TorchPickle(Exception):
    """A pickle written by ``torch.save`` (persistent ids for storages)."""


# legacy (non-zip) torch.save files start with this pickled number
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def safe_pickle_load(path):
    """Unpickle ``path`` with :class:`RestrictedUnpickler` (``encoding="latin1"`` for Python 2
    files, as detectron2 does). Files written by ``torch.save`` (named ``.pkl`` by some projects,
    e.g. CornerNet) are read with ``torch.load(weights_only=True)`` instead."""
    obj, written_by_torch = _read_pickle(path)
    return _torch_load(path) if written_by_torch else obj


def _read_pickle(path):
    """(object, False), or (None, True) for a file written by ``torch.save``."""
    if zipfile.is_zipfile(path):
        return None, True
    with open(path, "rb") as f:
        data = f.read()
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except UnsafeCheckpointError as e:
        raise UnsafeCheckpointError(
            f"{path}: refused to load: the pickle asks for a {e} (it could run code when "
            "loaded); a weights .pkl may hold only numpy arrays, builtin containers and scalars"
        ) from None
    except _TorchPickle:
        return None, True
    except Exception as e:  # truncated, not a pickle, text ...
        raise UnreadableCheckpointError(
            f"{path}: not a checkpoint{_text_hint(path)}: cannot be read as a pickle "
            f"({type(e).__name__}: {_first_line(str(e))})"
        ) from None
    if isinstance(obj, int) and obj == _TORCH_LEGACY_MAGIC:
        return None, True
    return obj, False


def _text_hint(path):
    try:
        with open(path, "rb") as f:
            head = f.read(512)
        head.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    if b"\0" in head:
        return ""
    return " (it is a text file)" if head else " (it is empty)"


def _torch_load(path):
    try:
        return torch.load(path, map_location=torch.device("cpu"), weights_only=True)
    except Exception as e:  # zip errors (damaged / truncated), EOFError, IndexError (text) ...
        text = str(e)
        m = re.search(r"GLOBAL ([\w.]+)", text)
        hint = _text_hint(path)
        if m and not hint:
            raise UnsafeCheckpointError(
                f"{path}: refused to load: it holds the forbidden global '{m.group(1)}' (it could "
                "run code when loaded; torch.load(weights_only=True) reads only tensors, numpy "
                "arrays, builtin containers and scalars)"
            ) from None
        if "weights only load failed" in text.lower():  # skip torch's paragraph about the default
            reason = text.split("\n\n")[1] if text.count("\n\n") >= 2 else text
        else:
            reason = text
        raise UnreadableCheckpointError(
            f"{path}: not a checkpoint{hint or ', or a damaged one'}: torch.load failed with "
            f"{type(e).__name__}: {_first_line(reason)}"
        ) from None


def _first_line(text):
    text = text.strip()
    return text.splitlines()[0] if text else "(no message)"


def atomic_write(path, write, mode="wb"):
    """Write ``path`` through ``write(f)`` on a temporary file in the same directory, fsync'ed,
    then ``os.replace`` it onto ``path``: readers see the old file or the complete new one."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable (best effort: not every filesystem allows it)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def _state_dict_keys(obj):
    """Parameter names of a loaded file's ``model`` entry, unwrapped from the containers
    official files use (``state_dict`` / ``model`` / ``net``) and without ``module.``."""
    for _ in range(3):
        if not isinstance(obj, Mapping):
            return []
        inner = next(
            (obj[k] for k in ("state_dict", "model", "net") if isinstance(obj.get(k), Mapping)),
            None,
        )
        if inner is None:
            break
        obj = inner
    return [
        k[len("module.") :] if k.startswith("module.") else k for k in obj if isinstance(k, str)
    ]


def suggest_converters(keys):
    """Names of the converters whose ``signature`` (key prefixes of the official file) all occur
    in ``keys``; the most specific ones (longest signature) when several match."""
    matches = []
    for name, conv in CONVERTERS.items():
        signature = getattr(conv, "signature", ())
        if signature and all(any(k.startswith(p) for k in keys) for p in signature):
            matches.append((len(signature), name))
    if not matches:
        return []
    best = max(n for n, _ in matches)
    return sorted(name for n, name in matches if n == best)


def _convert_hint(path, keys):
    names = suggest_converters(keys)
    if not names:
        return ""
    stem = os.path.splitext(path)[0]
    commands = " or ".join(
        f"`python tools/convert_weights.py --arch {n} --src {path} --dst {stem}_{n}.pth`"
        for n in names
    )
    what = "an official checkpoint" if len(names) == 1 else "an official checkpoint of one of"
    return (
        f". The keys look like {what} {', '.join(repr(n) for n in names)}: convert it with "
        f"{commands} and set MODEL.WEIGHTS to the converted file"
    )


def _checkpoint_iteration(name):
    m = re.fullmatch(r"model_(\d+)\.pth", name)
    return int(m.group(1)) if m else None


class Checkpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` (same arguments) that refuses unsafe, unreadable and
    non-matching files, writes atomically and resumes from the newest readable checkpoint (see
    the module docstring). After :meth:`resume_or_load`, ``resumed_from`` is the checkpoint
    resumed from (None: nothing resumed)."""

    # below this fraction of the model's values (elements of its parameters and buffers) found
    # in a file, loading fails (see the module docstring for why 10 %)
    MIN_LOADED_FRACTION = 0.10
    # buffers every detectron2 meta-architecture sets from the config (not expected in files)
    IGNORED_KEYS = ("pixel_mean", "pixel_std")

    def __init__(self, model, save_dir="", *, save_to_disk=None, **checkpointables):
        super().__init__(model, save_dir, save_to_disk=save_to_disk, **checkpointables)
        self.resumed_from = None
        self._loading = None

    # ----------------------------------------------------------------------------- loading
    def load(self, path, *args, **kwargs):
        if path:
            local = urlparse(path)._replace(query="").geturl()
            if "://" not in local and not os.path.isfile(local):
                if os.path.isdir(local):
                    raise IsADirectoryError(f"checkpoint {local}: a directory, not a file")
                raise FileNotFoundError(f"checkpoint file {local}: not found")
        try:
            return super().load(path, *args, **kwargs)
        finally:  # detectron2 resets it only on success; the next load asserts it is None
            self._parsed_url_during_load = None
            self._loading = None

    def _load_file(self, filename):
        self._loading = filename
        if filename.endswith(".pkl"):
            data, written_by_torch = _read_pickle(filename)
            if written_by_torch:  # a torch.save file named .pkl: read as a .pth (exact names)
                loaded = self._torch_load(filename)
                return loaded if "model" in loaded else {"model": loaded}
            if not isinstance(data, Mapping):
                raise UnreadableCheckpointError(
                    f"{filename}: not a checkpoint: the pickle holds a {type(data).__name__}, "
                    "not a dict of weights"
                )
            if "model" in data and "__author__" in data:
                self.logger.info("Reading a file from '{}'".format(data["__author__"]))
                return data
            # detectron2's rule: a Caffe2 / Detectron1 model zoo file
            if "blobs" in data:
                data = data["blobs"]
            data = {k: v for k, v in data.items() if not str(k).endswith("_momentum")}
            return {"model": data, "__author__": "Caffe2", "matching_heuristics": True}
        if filename.endswith(".pyth"):  # detectron2's pycls rule, through the checks below
            data = self._torch_load(filename)
            if "model_state" not in data:
                raise UnreadableCheckpointError(
                    f"{filename}: not a pycls checkpoint: no 'model_state' entry"
                )
            model_state = {
                k: v
                for k, v in data["model_state"].items()
                if not k.endswith("num_batches_tracked")
            }
            return {"model": model_state, "__author__": "pycls", "matching_heuristics": True}
        return super()._load_file(filename)

    def _torch_load(self, f):
        loaded = _torch_load(f)
        if not isinstance(loaded, Mapping):
            raise UnreadableCheckpointError(
                f"{f}: not a checkpoint: it holds a {type(loaded).__name__}, not a dict of weights"
            )
        return loaded

    def _load_model(self, checkpoint):
        path = self._loading or "the checkpoint"
        state = checkpoint.get("model")
        keys = _state_dict_keys(state)
        bad = (
            [k for k, v in state.items() if not isinstance(v, (torch.Tensor, np.ndarray))]
            if isinstance(state, Mapping)
            else None
        )
        if bad is None or bad:
            found = f"{type(state).__name__}" if bad is None else f"non-tensor entries {bad[:5]}"
            raise WeightsMismatchError(
                f"{path}: not a detectron2 checkpoint: its weights are not a flat dict of "
                f"tensors (found {found}){_convert_hint(path, keys)}"
            )
        incompatible = super()._load_model(checkpoint)
        self._check_loaded(path, keys, incompatible)
        return incompatible

    def _check_loaded(self, path, file_keys, incompatible):
        model_state = self.model.state_dict()
        sizes = {}
        for k, v in model_state.items():
            if k in self.IGNORED_KEYS or k.endswith("num_batches_tracked"):
                continue  # BatchNorm creates num_batches_tracked when a file lacks it
            try:
                sizes[k] = v.numel()
            except (RuntimeError, ValueError):  # uninitialized (lazy) parameters
                continue
        total = sum(sizes.values())
        if not total:
            return
        missing = set(_filter_reused_missing_keys(self.model, incompatible.missing_keys))
        missing |= {k for k, _, _ in incompatible.incorrect_shapes}
        loaded = sum(n for k, n in sizes.items() if k not in missing)
        fraction = loaded / total
        loaded_keys = sum(1 for k in sizes if k not in missing)
        hint = _convert_hint(path, file_keys)
        summary = (
            f"{100 * fraction:.1f}% of the model's values ({loaded} of {total} elements, "
            f"{loaded_keys} of {len(sizes)} tensors) were found in {path}"
        )
        if fraction < self.MIN_LOADED_FRACTION:
            sample = ", ".join(repr(k) for k in file_keys[:3])
            raise WeightsMismatchError(
                f"{summary}: below the {100 * self.MIN_LOADED_FRACTION:.0f}% minimum, the file's "
                f"parameter names ({sample}{' ...' if len(file_keys) > 3 else ''}) do not match "
                f"this model's ({', '.join(repr(k) for k in list(sizes)[:3])} ...){hint}"
            )
        if fraction < 1:
            self.logger.info(summary)
            if hint:
                self.logger.warning(f"{path}: partial load{hint}")

    # ----------------------------------------------------------------------------- saving
    def save(self, name, **kwargs):
        if not self.save_dir or not self.save_to_disk:
            return
        if "://" in self.save_dir:  # not a local directory: the path manager's way
            return super().save(name, **kwargs)
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        assert os.path.basename(save_file) == basename, basename
        self.logger.info(f"Saving checkpoint to {save_file}")
        atomic_write(save_file, lambda f: torch.save(data, f))
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename):
        if "://" in self.save_dir:
            return super().tag_last_checkpoint(last_filename_basename)
        atomic_write(
            os.path.join(self.save_dir, "last_checkpoint"),
            lambda f: f.write(last_filename_basename),
            mode="w",
        )

    # ----------------------------------------------------------------------------- resuming
    def get_checkpoint_file(self):
        """The file named by ``last_checkpoint``; "" when it is missing or empty."""
        try:
            with self.path_manager.open(os.path.join(self.save_dir, "last_checkpoint")) as f:
                last = f.read().strip()
        except OSError:
            return ""
        return os.path.join(self.save_dir, last) if last else ""

    def resume_candidates(self):
        """Checkpoints of ``save_dir`` to resume from, newest first: the file named by
        ``last_checkpoint``, then ``model_final.pth`` and ``model_<iter>.pth`` by iteration
        (``model_final.pth`` at the iteration stored in it)."""
        if not self.save_dir or "://" in self.save_dir or not os.path.isdir(self.save_dir):
            return []
        ranked = []
        for name in os.listdir(self.save_dir):
            path = os.path.join(self.save_dir, name)
            if not os.path.isfile(path):
                continue
            if name == "model_final.pth":
                ranked.append((self._stored_iteration(path), 1, path))
            elif _checkpoint_iteration(name) is not None:
                ranked.append((_checkpoint_iteration(name), 0, path))
        ordered = [p for _, _, p in sorted(ranked, reverse=True)]
        last = self.get_checkpoint_file()
        if last and os.path.isfile(last):
            ordered = [last] + [p for p in ordered if os.path.abspath(p) != os.path.abspath(last)]
        return ordered

    @staticmethod
    def _stored_iteration(path):
        """The ``iteration`` saved in ``path`` (memory-mapped: no tensor is read); infinity
        when it cannot be read (it is then tried first, and reported if damaged)."""
        try:
            it = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("iteration")
            return float("inf") if it is None else int(it)
        except Exception:
            return float("inf")

    def has_checkpoint(self):
        """Whether ``save_dir`` holds a checkpoint to resume from (see :meth:`resume_candidates`;
        detectron2's only looks for a ``last_checkpoint`` file, even an empty one)."""
        return bool(self.resume_candidates())

    def resume_or_load(self, path, *, resume=True):
        """With ``resume``, load everything from the newest readable checkpoint of ``save_dir``
        (damaged ones are skipped with a warning; all damaged: :class:`UnreadableCheckpointError`
        naming them); without, or with no checkpoint there, only the model from ``path``."""
        self.resumed_from = None
        if resume:
            damaged = []
            for candidate in self.resume_candidates():
                try:
                    ret = self.load(candidate)
                except UnreadableCheckpointError as e:
                    self.logger.warning(f"cannot resume from {candidate}, skipped: {e}")
                    damaged.append(candidate)
                    continue
                if damaged:
                    self.logger.warning(
                        f"resumed from {candidate} instead of the newer damaged checkpoint(s) "
                        f"{damaged}"
                    )
                self.resumed_from = candidate
                return ret
            if damaged:
                raise UnreadableCheckpointError(
                    f"--resume: every checkpoint in {self.save_dir} is damaged ({damaged}); "
                    "remove them to start over from MODEL.WEIGHTS"
                )
        return self.load(path, checkpointables=[])
