"""add_gan_config, the registries and their builders."""

import inspect

import pytest
import torch
from detectron2.config import get_cfg
from torch import nn

from vision_plugins.gan import (
    GAN_DISCRIMINATOR_REGISTRY,
    GAN_GENERATOR_REGISTRY,
    OFFICIAL_NET_NAMES,
    NLayerDiscriminator,
    PixelDiscriminator,
    ResnetGenerator,
    UnetGenerator,
    add_gan_config,
    build_discriminator,
    build_generator,
)

GENERATORS = ["UnetGenerator", "ResnetGenerator"]
DISCRIMINATORS = ["NLayerDiscriminator", "PixelDiscriminator"]


def _flat(node, prefix=""):
    out = {}
    for k, v in node.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _cfg(**overrides):
    cfg = get_cfg()
    add_gan_config(cfg)
    cfg.merge_from_list(
        [
            "MODEL.GAN.NGF",
            4,
            "MODEL.GAN.NUM_DOWNS",
            5,
            "MODEL.GAN.N_BLOCKS",
            2,
            "MODEL.GAN.D.NDF",
            4,
        ]
        + [x for kv in overrides.items() for x in kv]
    )
    return cfg


def test_config_keys_and_detectron2_defaults_unchanged():
    base = _flat(get_cfg())
    cfg = get_cfg()
    add_gan_config(cfg)
    flat = _flat(cfg)
    assert {k: flat[k] for k in base} == base
    again = cfg.clone()
    again.MODEL.GAN.NGF = 8
    add_gan_config(again)  # idempotent: other adders extend MODEL.GAN, nothing is reset
    assert again.MODEL.GAN.NGF == 8
    added = {k: v for k, v in flat.items() if k not in base}
    assert added == {
        "MODEL.GAN.GENERATOR": "UnetGenerator",
        "MODEL.GAN.INPUT_NC": 3,
        "MODEL.GAN.OUTPUT_NC": 3,
        "MODEL.GAN.NGF": 64,
        "MODEL.GAN.NUM_DOWNS": 8,
        "MODEL.GAN.N_BLOCKS": 9,
        "MODEL.GAN.NORM": "batch",
        "MODEL.GAN.USE_DROPOUT": True,
        "MODEL.GAN.INIT_TYPE": "normal",
        "MODEL.GAN.INIT_GAIN": 0.02,
        "MODEL.GAN.TEST_TRAIN_MODE": True,
        "MODEL.GAN.D.NAME": "NLayerDiscriminator",
        "MODEL.GAN.D.NDF": 64,
        "MODEL.GAN.D.N_LAYERS": 3,
        "MODEL.GAN.LOSS.MODE": "vanilla",
        "MODEL.GAN.LOSS.GAN_WEIGHT": 1.0,
        "MODEL.GAN.LOSS.LAMBDA_L1": 100.0,
        "MODEL.GAN.LOSS.LAMBDA_A": 10.0,
        "MODEL.GAN.LOSS.LAMBDA_B": 10.0,
        "MODEL.GAN.LOSS.LAMBDA_IDT": 0.5,
        "MODEL.GAN.LOSS.POOL_SIZE": 0,
        "MODEL.GAN.LOSS.GP_LAMBDA": 0.0,
        "SOLVER.GAN.BASE_LR_G": 2e-4,
        "SOLVER.GAN.BASE_LR_D": 2e-4,
        "SOLVER.GAN.BETAS": (0.5, 0.999),
        "SOLVER.GAN.LR_POLICY": "linear",
        "SOLVER.GAN.N_EPOCHS": 100,
        "SOLVER.GAN.N_EPOCHS_DECAY": 100,
        "SOLVER.GAN.EPOCH_COUNT": 1,
        "SOLVER.GAN.LR_DECAY_ITERS": 50,
        "SOLVER.GAN.STEPS": (),
        "SOLVER.GAN.GAMMA": 0.5,
        "SOLVER.GAN.WEIGHT_DECAY": 0.0,
        "SOLVER.GAN.ITERS_PER_EPOCH": 0,
        "SOLVER.GAN.IMAGE_PERIOD": 500,
        "INPUT.GAN.LOAD_SIZE": 286,
        "INPUT.GAN.CROP_SIZE": 256,
        "INPUT.GAN.PREPROCESS": "resize_and_crop",
        "INPUT.GAN.NO_FLIP": False,
        "INPUT.GAN.DIRECTION": "AtoB",
        "INPUT.GAN.SERIAL_BATCHES": False,
    }
    # survives a YAML round trip (tuples included)
    again = get_cfg()
    add_gan_config(again)
    again.merge_from_other_cfg(type(cfg).load_cfg(cfg.dump()))
    assert {k: v for k, v in _flat(again).items() if k in added} == added


def test_registered_names_are_the_class_names():
    for reg, names in [
        (GAN_GENERATOR_REGISTRY, GENERATORS),
        (GAN_DISCRIMINATOR_REGISTRY, DISCRIMINATORS),
    ]:
        assert set(names) <= set(reg.names())
        assert all(reg.get(n).__name__ == n for n in names)
    for official, (name, kwargs) in OFFICIAL_NET_NAMES.items():
        reg = GAN_DISCRIMINATOR_REGISTRY if name in DISCRIMINATORS else GAN_GENERATOR_REGISTRY
        assert set(kwargs) <= set(inspect.signature(reg.get(name).__init__).parameters), official
    assert {n for n, _ in OFFICIAL_NET_NAMES.values()} == set(GENERATORS + DISCRIMINATORS)


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("name", GENERATORS)
def test_build_every_generator_from_cfg(name, norm):
    cfg = _cfg(**{"MODEL.GAN.GENERATOR": name, "MODEL.GAN.NORM": norm, "MODEL.GAN.INPUT_NC": 2})
    torch.manual_seed(0)
    G = build_generator(cfg, output_nc=1)
    assert type(G).__name__ == name
    assert G(torch.randn(2, 2, 32, 32)).shape == (2, 1, 32, 32)
    # explicit arguments give the same network (same keys, same parameters under the same seed)
    explicit = {
        "UnetGenerator": lambda: UnetGenerator(2, 1, 5, 4, norm, True),
        "ResnetGenerator": lambda: ResnetGenerator(2, 1, 4, norm, True, 2),
    }[name]
    torch.manual_seed(0)
    ref = explicit()
    assert list(ref.state_dict()) == list(G.state_dict())
    assert sum(isinstance(m, nn.Dropout) for m in G.modules()) == (
        0 if name == "UnetGenerator" else 2
    )
    # builders apply init_weights: N(0, INIT_GAIN) conv weights, unlike PyTorch's default init
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.Conv2d)])
    assert abs(w.std().item() - 0.02) < 0.002


@pytest.mark.parametrize("name", DISCRIMINATORS)
def test_build_every_discriminator_from_cfg(name):
    cfg = _cfg(**{"MODEL.GAN.D.NAME": name, "MODEL.GAN.D.N_LAYERS": 2, "MODEL.GAN.D.NDF": 16})
    cfg.MODEL.GAN.INIT_GAIN = 0.1
    torch.manual_seed(0)
    D = build_discriminator(cfg, input_nc=5)
    assert type(D).__name__ == name
    out = D(torch.randn(1, 5, 32, 32))
    assert (
        out.shape
        == {"NLayerDiscriminator": (1, 1, 6, 6), "PixelDiscriminator": (1, 1, 32, 32)}[name]
    )
    w = torch.cat([m.weight.flatten() for m in D.modules() if isinstance(m, nn.Conv2d)])
    assert abs(w.std().item() - 0.1) < 0.01
    direct = {"NLayerDiscriminator": NLayerDiscriminator, "PixelDiscriminator": PixelDiscriminator}
    assert list(direct[name](cfg, input_nc=5).state_dict()) == list(D.state_dict())


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_build_overrides_channels_and_keeps_own_init():
    cfg = _cfg(**{"MODEL.GAN.INIT_TYPE": "none", "MODEL.GAN.GENERATOR": "ResnetGenerator"})
    G = build_generator(cfg)
    assert G.model[1].in_channels == 3 and G.model[-2].out_channels == 3
    G = build_generator(cfg, input_nc=1, output_nc=2)
    assert G.model[1].in_channels == 1 and G.model[-2].out_channels == 2
    torch.manual_seed(1)
    ref = ResnetGenerator(3, 3, 4, "batch", True, 2)
    torch.manual_seed(1)
    assert _same_state(build_generator(cfg), ref)  # "none": PyTorch's default init, untouched
    # initialize=False: for initialising later, in the official order (BaseModel.setup)
    cfg.MODEL.GAN.INIT_TYPE = "normal"
    torch.manual_seed(1)
    assert _same_state(build_generator(cfg, initialize=False), ref)
    torch.manual_seed(1)
    D = build_discriminator(cfg, 3, initialize=False)
    torch.manual_seed(1)
    assert _same_state(D, NLayerDiscriminator(3, 4, 3, "batch"))


def test_unknown_names_list_the_registered_ones():
    with pytest.raises(
        KeyError, match="MODEL.GAN.GENERATOR='unet_256'.*ResnetGenerator.*UnetGenerator"
    ):
        build_generator(_cfg(**{"MODEL.GAN.GENERATOR": "unet_256"}))
    with pytest.raises(KeyError, match="MODEL.GAN.D.NAME='basic'.*NLayerDiscriminator"):
        build_discriminator(_cfg(**{"MODEL.GAN.D.NAME": "basic"}), 6)
    with pytest.raises(ValueError, match="init_type"):
        build_generator(_cfg(**{"MODEL.GAN.INIT_TYPE": "uniform"}))
