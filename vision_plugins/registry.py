"""detectron2's ``Registry`` (duplicates raise) with registration under a given name."""

from detectron2.utils.registry import Registry as _Registry

__all__ = ["Registry"]


class Registry(_Registry):
    """``register_as(name)`` registers an object under ``name`` instead of its ``__name__``
    (names such as evaluator types or converter names); a name registered twice raises."""

    def register_as(self, name, obj=None):
        if obj is None:

            def deco(fn):
                self._do_register(name, fn)
                return fn

            return deco
        self._do_register(name, obj)
        return obj

    def names(self):
        return sorted(name for name, _ in self)
