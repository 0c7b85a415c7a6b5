"""VPSNet's fuse module: warp, correlation, flow scaling, gather / scatter, TCEA shapes."""

import pytest
import torch

from vision_plugins.vpsnet.fuse import (
    FuseModule,
    TCEAFusion,
    correlation,
    gather_levels,
    scatter_levels,
    warp,
)


def _smooth(h=24, w=32, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, c, h // 4, w // 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")


def test_zero_flow_is_the_identity_warp():
    x = torch.rand(2, 5, 13, 17)
    assert torch.allclose(warp(x, torch.zeros(2, 2, 13, 17)), x, atol=1e-6)


def test_integer_translation_aligns_exactly():
    x = torch.rand(1, 4, 20, 30)
    ref = torch.roll(x, shifts=(-2, 3), dims=(2, 3))  # ref[y, x] = x[y + 2, x - 3]
    flow = torch.zeros(1, 2, 20, 30)
    flow[:, 0], flow[:, 1] = 3.0, -2.0  # target pixel (x, y) is at (x + 3, y - 2) in ref
    out = warp(ref, flow)
    assert torch.allclose(out[..., 2:, :-3], x[..., 2:, :-3], atol=1e-6)
    assert out[..., :, -3:].abs().max() < 1e-5  # sampled outside the reference: zeros


def test_subpixel_translation_of_a_linear_map_is_exact():
    # bilinear sampling reproduces an affine function exactly: the tolerance is float error
    ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(20.0), indexing="ij")
    target = (0.3 * xs - 0.7 * ys + 2)[None, None]
    ref = (0.3 * (xs - 1.25) - 0.7 * (ys + 0.5) + 2)[None, None]  # content moved by (1.25, -0.5)
    flow = torch.tensor([1.25, -0.5])[None, :, None, None].expand(1, 2, 16, 20)
    out = warp(ref, flow)
    assert torch.allclose(out[..., 1:-1, 1:-2], target[..., 1:-1, 1:-2], atol=1e-5)


def test_correlation_equals_a_naive_loop():
    a, b = torch.rand(2, 6, 7, 9), torch.rand(2, 6, 7, 9)
    d = 2
    out = correlation(a, b, d)
    assert out.shape == (2, 25, 7, 9)
    naive = torch.zeros_like(out)
    for n in range(2):
        for k, (dy, dx) in enumerate(
            (dy, dx) for dy in range(-d, d + 1) for dx in range(-d, d + 1)
        ):
            for y in range(7):
                for x in range(9):
                    if 0 <= y + dy < 7 and 0 <= x + dx < 9:
                        naive[n, k, y, x] = (a[n, :, y, x] * b[n, :, y + dy, x + dx]).mean()
    assert torch.allclose(out, naive, atol=1e-6)


def test_official_81_channel_correlation():
    assert correlation(torch.rand(1, 8, 5, 5), torch.rand(1, 8, 5, 5), 4).shape[1] == 81


def test_gather_and_scatter_levels():
    p2, p3 = torch.rand(1, 2, 8, 8), torch.rand(1, 2, 4, 4)
    g = gather_levels([p2, p3], 0)
    up = p3.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # nearest x2
    assert torch.allclose(g, (p2 + up) / 2)
    g1 = gather_levels([p2, p3], 1)  # finer levels by max pooling
    assert torch.allclose(g1, (torch.nn.functional.max_pool2d(p2, 2) + p3) / 2)
    fused = torch.rand(1, 2, 8, 8)
    out = scatter_levels(fused, [p2, p3])
    assert torch.allclose(out[0], p2 + fused)
    assert torch.allclose(out[1], p3 + torch.nn.functional.max_pool2d(fused, 2))


def test_align_scales_the_input_flow_to_the_gather():
    # a 12-px input translation is 3 px at the 1/4 gather; the residual net starts at zero
    fuse = FuseModule(channels=3)
    target = _smooth()
    ref = torch.roll(target, shifts=(0, 3), dims=(2, 3))  # ref[x] = target[x - 3]
    flow = torch.zeros(1, 2, 96, 128)
    flow[:, 0] = 12.0
    aligned = fuse.align(target, ref, flow)
    assert torch.allclose(aligned[..., :-3], target[..., :-3], atol=1e-5)
    unaligned = fuse.align(target, ref, torch.zeros_like(flow))
    assert not torch.allclose(unaligned[..., :-3], target[..., :-3], atol=1e-2)


def test_tcea_and_fuse_shapes_and_gradients():
    tcea = TCEAFusion(4)
    out = tcea([torch.rand(1, 4, 13, 18), torch.rand(1, 4, 13, 18)])
    assert out.shape == (1, 4, 13, 18)
    fuse = FuseModule(channels=4)
    feats = {
        f"p{i}": torch.rand(1, 4, 32 >> (i - 2), 48 >> (i - 2), requires_grad=True)
        for i in (2, 3, 4)
    }
    refs = {k: torch.rand_like(v) for k, v in feats.items()}
    out = fuse(feats, refs, torch.zeros(1, 2, 128, 192))
    assert {k: v.shape for k, v in out.items()} == {k: v.shape for k, v in feats.items()}
    sum(v.sum() for v in out.values()).backward()
    assert all(p.grad is not None for n, p in fuse.named_parameters() if "flow_residual" not in n)


@pytest.mark.parametrize("shift", [0.5, 1.5])
def test_warp_has_no_half_pixel_offset(shift):
    # sampling at x + shift interpolates the two neighbours (the official warp is off by up to
    # half a pixel here)
    x = torch.tensor([[[[0.0, 10.0, 20.0, 30.0]]]])
    flow = torch.zeros(1, 2, 1, 4)
    flow[:, 0] = shift
    out = warp(x, flow)
    assert torch.allclose(out[0, 0, 0, :2], torch.tensor([0.0, 10.0]) + 10 * shift)


def test_a_new_fuse_module_leaves_the_features_unchanged():
    # zero-initialised refine conv: fine-tuning from an image model starts from its features
    fuse = FuseModule(channels=4)
    feats = {"p2": torch.rand(1, 4, 32, 48), "p3": torch.rand(1, 4, 16, 24)}
    refs = {k: torch.rand_like(v) for k, v in feats.items()}
    out = fuse(feats, refs, torch.rand(1, 2, 128, 192))
    assert all(torch.equal(out[k], feats[k]) for k in feats)
