"""Corner / cascade / centre pooling modules against a brute-force reference built from explicit
loops (the official op definitions), in eval mode with random BatchNorm statistics."""

import torch

from tests.layers.test_center_heatmaps import _brute as _pool  # brute-force directional max
from vision_plugins.layers.corner_pool import CenterPoolModule, CornerPoolModule, KPHead


def _randomise(module):
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.5, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.normal_(0, 0.5, generator=g)
    return module.eval()


def _tail(m, x, pooled):
    out = torch.relu(m.p_bn1(m.p_conv1(pooled)) + m.bn1(m.conv1(x)))
    return torch.relu(m.conv2.bn(m.conv2.conv(out)))


def _cbr(block, x):
    return torch.relu(block.bn(block.conv(x)))


def test_corner_pool_module_tl_br_vs_brute_force():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 5, 6)
    for corner, (d1, d2) in {"tl": ("top", "left"), "br": ("bottom", "right")}.items():
        m = _randomise(CornerPoolModule(8, corner, mid=4))
        ref = _tail(m, x, _pool(_cbr(m.p1_conv1, x), d1) + _pool(_cbr(m.p2_conv1, x), d2))
        with torch.no_grad():
            torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)  # folded BN path
        torch.testing.assert_close(m(x), ref, rtol=1e-6, atol=1e-6)  # autograd path


def test_cascade_corner_pool_vs_brute_force():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 6, 5)
    m = _randomise(CornerPoolModule(8, "tl", cascade=True, mid=4))
    a = _pool(m.P1_look_conv(_cbr(m.p1_conv1, x) + _pool(_cbr(m.look_conv1, x), "left")), "top")
    b = _pool(m.P2_look_conv(_cbr(m.p2_conv1, x) + _pool(_cbr(m.look_conv2, x), "top")), "left")
    torch.testing.assert_close(m(x), _tail(m, x, a + b), rtol=1e-6, atol=1e-6)
    # the official key layout (Duankaiwen/CenterNet tl_cnvs.i.*)
    assert {
        "look_conv1.conv.weight",
        "P1_look_conv.weight",
        "p_bn1.running_var",
        "conv2.bn.weight",
    } <= set(m.state_dict())


def test_center_pool_is_column_plus_row_maximum():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 5, 7)
    m = _randomise(CenterPoolModule(8, mid=4))
    a = _cbr(m.p1_conv1, x).amax(2, keepdim=True).expand(-1, -1, 5, -1)
    b = _cbr(m.p2_conv1, x).amax(3, keepdim=True).expand(-1, -1, -1, 7)
    torch.testing.assert_close(m(x), _tail(m, x, a + b), rtol=1e-6, atol=1e-6)


def test_pool_modules_gradcheck():
    torch.manual_seed(0)
    m = CornerPoolModule(3, "br", cascade=True, mid=2).double().train()
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
    c = CenterPoolModule(3, mid=2).double().eval()
    assert torch.autograd.gradcheck(c, (x,))


def test_kp_head_layout_and_bias():
    head = KPHead(8, 16, 80, bias=-2.19)
    assert set(head.state_dict()) == {"0.conv.weight", "0.conv.bias", "1.weight", "1.bias"}
    assert torch.all(head[1].bias == -2.19)
