"""ImagePreprocessor: pixel statistics, device, normalisation, grey images and padding."""

import torch

from vision_plugins.layers import ImagePreprocessor


class _Model(ImagePreprocessor):
    def __init__(self):
        super().__init__()
        self.register_pixel_stats([10.0, 20.0, 30.0], [2.0, 4.0, 5.0])


def _inputs():
    g = torch.Generator().manual_seed(0)
    colour = torch.randint(0, 256, (3, 5, 7), generator=g, dtype=torch.uint8)
    grey = torch.randint(0, 256, (1, 6, 3), generator=g, dtype=torch.uint8)
    return [{"image": colour}, {"image": grey}]


def test_buffers_and_device():
    model = _Model()
    assert model.pixel_mean.shape == (3, 1, 1) and model.device == torch.device("cpu")
    assert "pixel_mean" not in model.state_dict()  # non-persistent, as before


def test_normalise_then_pad_with_zeros():
    model, xs = _Model(), _inputs()
    images = model.preprocess_image(xs, size_divisibility=4)
    assert images.tensor.shape == (2, 3, 8, 8) and images.image_sizes == [(5, 7), (6, 3)]
    mean, std = model.pixel_mean, model.pixel_std
    assert torch.equal(images.tensor[0, :, :5, :7], (xs[0]["image"].float() - mean) / std)
    grey = xs[1]["image"].float().expand(3, -1, -1)  # repeated on every channel
    assert torch.equal(images.tensor[1, :, :6, :3], (grey - mean) / std)
    assert (images.tensor[0, :, 5:] == 0).all() and (images.tensor[1, :, :, 3:] == 0).all()


def test_normalise_padding():
    model, xs = _Model(), _inputs()
    images = model.preprocess_image(xs, 4, normalize_padding=True)
    plain = model.preprocess_image(xs, 4)
    assert torch.equal(images.tensor[0, :, :5, :7], plain.tensor[0, :, :5, :7])
    zero_pixel = (-model.pixel_mean / model.pixel_std).expand(3, 3, 1)
    assert torch.equal(images.tensor[0, :, 5:, :1], zero_pixel)
