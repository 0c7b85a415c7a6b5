"""ImagePool against hand-traced sequences: scripted draws (exact order and arguments of the
official calls) and Python's seeded global ``random``."""

import random

import torch

from vision_plugins.gan import ImagePool


class _Scripted:
    """A ``random`` stand-in returning scripted values and recording every call."""

    def __init__(self, uniforms, randints):
        self.uniforms, self.randints, self.calls = list(uniforms), list(randints), []

    def uniform(self, a, b):
        self.calls.append(("uniform", a, b))
        return self.uniforms.pop(0)

    def randint(self, a, b):
        self.calls.append(("randint", a, b))
        return self.randints.pop(0)


def _batch(*values):
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1, 1)


def _values(images):
    return images.flatten().tolist()


def test_scripted_sequence():
    rng = _Scripted(uniforms=[0.7, 0.3, 0.9, 0.6, 0.5], randints=[1, 0, 0])
    pool = ImagePool(2, rng=rng)
    assert _values(pool.query(_batch(0, 1))) == [0, 1]  # filling: no draw
    assert rng.calls == []
    assert _values(pool.query(_batch(2))) == [1]  # 0.7 > 0.5: slot 1 (image 1) out, 2 in
    assert _values(pool.query(_batch(3))) == [3]  # 0.3: the new image, pool unchanged
    # 0.9: slot 0 (image 0) out, 4 in; 0.6: slot 0 again -> the image 4 stored just before
    assert _values(pool.query(_batch(4, 5))) == [0, 4]
    assert _values(pool.query(_batch(6))) == [6]  # p = 0.5 is not > 0.5
    assert [v.item() for v in pool.images] == [5, 2]
    assert rng.calls == [
        ("uniform", 0, 1),
        ("randint", 0, 1),
        ("uniform", 0, 1),
        ("uniform", 0, 1),
        ("randint", 0, 1),
        ("uniform", 0, 1),
        ("randint", 0, 1),
        ("uniform", 0, 1),
    ]


def test_global_random_by_default():
    """Default rng: Python's global ``random``, drawn as traced by hand from the same seed."""
    random.seed(123)
    pool = ImagePool(3)
    got = [_values(pool.query(_batch(*range(i, i + 2)))) for i in range(0, 20, 2)]
    random.seed(123)
    stored, want = [], []
    for i in range(0, 20, 2):
        out = []
        for v in range(i, i + 2):
            if len(stored) < 3:
                stored.append(v)
                out.append(v)
            elif random.uniform(0, 1) > 0.5:
                j = random.randint(0, 2)
                out.append(stored[j])
                stored[j] = v
            else:
                out.append(v)
        want.append(out)
    assert got == want
    assert any(a != b for a, b in zip(sum(got, []), range(20)))  # some images were swapped


def test_detached_copies_and_zero_size():
    x = torch.zeros(1, 3, 2, 2, requires_grad=True)
    y = x * 2
    assert ImagePool(0).query(y) is y  # no pool: the input itself
    pool = ImagePool(1, rng=_Scripted([0.9], [0]))
    first = pool.query(y)
    assert not first.requires_grad and first.shape == (1, 3, 2, 2)
    swapped = pool.query(y + 1)
    assert torch.equal(swapped, torch.zeros(1, 3, 2, 2))
    swapped += 5  # a returned stored image is a copy: the pool is unaffected
    assert torch.equal(pool.images[0], torch.ones(1, 3, 2, 2))


def test_a_pool_on_the_global_random_can_be_copied_and_pickled():
    """(A model holding pools is deep-copied by EMA / SWA tools and pickled by torch.save.)"""
    import copy
    import pickle

    pool = ImagePool(2)
    pool.query(torch.zeros(1, 3, 4, 4))
    assert len(copy.deepcopy(pool).images) == 1
    assert len(pickle.loads(pickle.dumps(pool)).images) == 1
