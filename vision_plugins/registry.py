"""detectron2's ``Registry`` (a name registered twice raises), read like the dicts it replaces."""

from detectron2.utils.registry import Registry as _Registry

__all__ = ["Registry"]


class Registry(_Registry):
    """detectron2's ``Registry`` plus ``register_as(name)`` (registration under a given name, e.g.
    an evaluator type or a converter name, instead of ``__name__``) and a read-only mapping view:
    iterating gives the names (as the project's former dict registries did), ``reg[name]``,
    ``items()``, ``values()``, ``names()`` (sorted)."""

    def register_as(self, name, obj=None):
        if obj is None:

            def deco(fn):
                self._do_register(name, fn)
                return fn

            return deco
        self._do_register(name, obj)
        return obj

    def __getitem__(self, name):
        return self.get(name)

    def __iter__(self):
        return iter(list(self._obj_map))

    def items(self):
        return list(self._obj_map.items())

    def values(self):
        return list(self._obj_map.values())

    def names(self):
        """The registered names, sorted."""
        return sorted(self._obj_map)
