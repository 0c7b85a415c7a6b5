"""History of generated images for the discriminator updates (Shrivastava et al. 2017), as
CycleGAN's official ``util/image_pool.py`` (junyanz/pytorch-CycleGAN-and-pix2pix @2a7afba)."""

import random

import torch

__all__ = ["ImagePool"]


class ImagePool:
    """A buffer of up to ``pool_size`` generated images; ``query(images)`` returns a batch of
    the same size, built image by image in batch order:

    - while the buffer holds fewer than ``pool_size`` images, the image is stored and returned;
    - afterwards ``p = rng.uniform(0, 1)``; if ``p > 0.5`` a stored image chosen by
      ``rng.randint(0, pool_size - 1)`` is returned (a copy) and the new image takes its place,
      otherwise the new image is returned.

    Images are detached and stored without a copy (views of the queried batch, as officially);
    ``pool_size == 0`` returns ``images`` itself (not detached).

    ``rng``: anything with ``uniform`` and ``randint`` (a ``random.Random``); by default Python's
    global ``random`` module, which detectron2's ``seed_all_rng`` seeds. The draws are the
    official ones in the official order (one ``uniform`` per image once the buffer is full,
    followed by one ``randint`` when swapping): with the same ``random.seed`` and the same
    sequence of queries, the returned images equal the official pool's.
    """

    def __init__(self, pool_size, rng=None):
        self.pool_size = pool_size
        self.rng = rng  # None: the global ``random`` at each draw (a pool stays picklable)
        self.images = []

    def query(self, images):
        if self.pool_size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif (self.rng or random).uniform(0, 1) > 0.5:
                i = (self.rng or random).randint(0, self.pool_size - 1)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)
