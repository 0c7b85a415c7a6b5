"""Context managers that change process-wide state for the official code and restore it on exit
(also when the body raises): ``sys.path``, ``sys.modules``, attributes, environment variables,
temporary directories and the registries / dataset catalogs an import registers into."""

import contextlib
import os
import shutil
import sys
import tempfile

__all__ = [
    "attr",
    "catalogs",
    "environ",
    "modules",
    "official_code",
    "path_prepended",
    "temp_dir",
]

_MISSING = object()


@contextlib.contextmanager
def path_prepended(*entries):
    """``entries`` first on ``sys.path``; on exit ``sys.path`` has its previous contents again
    (the same list object; also undoes what the body added or removed)."""
    saved = list(sys.path)
    sys.path[:0] = [str(e) for e in entries]
    try:
        yield
    finally:
        sys.path[:] = saved


def _top(name):
    return name.split(".")[0]


def _file_under(module, dirs):
    path = getattr(module, "__file__", None) or ""
    path = os.path.abspath(path) if path else ""
    return any(path.startswith(d + os.sep) for d in dirs)


@contextlib.contextmanager
def modules(stubs=None, isolate=(), under=()):
    """``sys.modules`` changes, undone on exit.

    - ``stubs``: ``{name: module}`` put into ``sys.modules`` (replacing any entry of that name).
    - ``isolate``: top-level package names (``"models"``, ``"utils"``, ``"test"``...) whose
      entries are hidden on entry, so the body imports its own; on exit the body's entries of
      those names are deleted and the hidden ones put back.
    - ``under``: directories; on exit every entry added by the body whose file lies under one of
      them is deleted (an official package with an unforeseen name).

    Entries added by the body elsewhere (third-party modules imported lazily, e.g. parts of
    torch) stay: deleting them would make a second, incompatible copy on the next import.
    """
    stubs = dict(stubs or {})
    isolate = set(isolate)
    dirs = [os.path.abspath(str(d)) for d in under]
    before = dict(sys.modules)
    for name in [n for n in sys.modules if _top(n) in isolate]:
        del sys.modules[name]
    sys.modules.update(stubs)
    try:
        yield
    finally:
        for name, module in list(sys.modules.items()):
            if name in stubs or _top(name) in isolate or _file_under(module, dirs):
                if before.get(name, _MISSING) is not module:
                    del sys.modules[name]
        for name, module in before.items():
            if name in stubs or _top(name) in isolate:
                sys.modules[name] = module


@contextlib.contextmanager
def attr(obj, name, value):
    """``obj.name = value``; on exit the previous value again, or no attribute if it had none
    (e.g. ``np.int``, removed from numpy 1.24)."""
    own = getattr(obj, "__dict__", None)  # a class attribute set on a subclass: its own
    saved = own.get(name, _MISSING) if own is not None else getattr(obj, name, _MISSING)
    setattr(obj, name, value)
    try:
        yield
    finally:
        if saved is _MISSING:
            with contextlib.suppress(AttributeError):
                delattr(obj, name)
        else:
            setattr(obj, name, saved)


@contextlib.contextmanager
def environ(**values):
    """Environment variables set (``None``: unset) and restored on exit."""
    saved = {k: os.environ.get(k) for k in values}

    def apply(items):
        for k, v in items.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = str(v)

    apply(values)
    try:
        yield
    finally:
        apply(saved)


@contextlib.contextmanager
def temp_dir(prefix="vp_official_"):
    """A new directory, removed with its contents on exit."""
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def catalogs():
    """detectron2's ``DatasetCatalog`` / ``MetadataCatalog`` and the contents of every fvcore
    ``Registry`` of an already imported module restored on exit: an official package that
    registers datasets, heads or architectures at import can be imported again later (its
    registrations would otherwise clash with the earlier ones)."""
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from fvcore.common.registry import Registry

    registries = {}
    for module in list(sys.modules.values()):
        try:
            values = list(vars(module).values())
        except TypeError:  # not a module (a lazy stand-in without __dict__)
            continue
        for value in values:
            if isinstance(value, Registry):
                registries[id(value)] = (value, dict(value._obj_map))
    saved = [(c, dict(c)) for c in (DatasetCatalog, MetadataCatalog)]
    try:
        yield
    finally:
        for registry, contents in registries.values():
            registry._obj_map.clear()
            registry._obj_map.update(contents)
        for catalog, contents in saved:
            catalog.data.clear()
            catalog.data.update(contents)


@contextlib.contextmanager
def official_code(path, isolate=(), stubs=None):
    """The official code at ``path`` importable: ``path`` first on ``sys.path``, ``stubs`` in
    ``sys.modules``, the packages ``isolate`` (top-level names that clash with other code, such
    as ``models`` or ``utils``) imported afresh; everything undone on exit, including every
    module imported from ``path``."""
    with path_prepended(path), modules(stubs, isolate, under=[path]):
        yield
