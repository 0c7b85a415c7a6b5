"""junyanz/pytorch-CycleGAN-and-pix2pix: import, options from our config, the official models
(``Pix2PixModel``, ``CycleGANModel``, ``TestModel``) and the benchmark runner (``test.py``'s
per-image work with our generator weights)."""

import argparse
import contextlib
import importlib.util
import io
import math
import os
import re
import types

import torch

from tests.official import _patch

__all__ = [
    "official_cyclegan",
    "official_argv",
    "official_options",
    "official_model",
    "runner",
]

TOP_LEVEL = ("models", "options", "util", "data")


def _missing(name):
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


def _stubs():
    """Stand-ins for the optional logging / HTML packages the official ``util`` imports at
    module level (``wandb`` in ``util/visualizer.py``, ``dominate`` in ``util/html.py``,
    ``visdom`` in older trees), only when not installed; none is called here."""

    def unavailable(*args, **kwargs):
        raise RuntimeError("stand-in module: not available here")

    stubs = {}
    if _missing("wandb"):
        stubs["wandb"] = types.SimpleNamespace(
            __name__="wandb", run=None, init=unavailable, Image=unavailable, log=unavailable
        )
    if _missing("dominate"):
        tags = types.ModuleType("dominate.tags")
        for name in ("meta", "h3", "table", "tr", "td", "p", "a", "img", "br"):
            setattr(tags, name, unavailable)
        dominate = types.ModuleType("dominate")
        dominate.document, dominate.tags = unavailable, tags
        stubs.update({"dominate": dominate, "dominate.tags": tags})
    if _missing("visdom"):
        stubs["visdom"] = types.SimpleNamespace(__name__="visdom", Visdom=unavailable)
    return stubs


@contextlib.contextmanager
def _cudnn_benchmark_restored():
    """``BaseModel.__init__`` sets ``torch.backends.cudnn.benchmark = True`` process-wide."""
    saved = torch.backends.cudnn.benchmark
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved


def _sized_define_G(networks):
    """The official ``define_G`` knowing, besides its own names, ``unet_<2**n>`` for any ``n``
    (``UnetGenerator`` with ``num_downs=n``; ``unet_128`` / ``unet_256`` are the official
    entries) and ``resnet_<n>blocks`` for any ``n`` -- the official classes with the official
    arguments; only the name lookup is extended (for the small networks of the tests)."""
    official = networks.define_G

    def define_G(input_nc, output_nc, ngf, netG, norm="batch", use_dropout=False, *args, **kw):
        unet = re.fullmatch(r"unet_(\d+)", netG)
        resnet = re.fullmatch(r"resnet_(\d+)blocks", netG)
        if netG in ("unet_128", "unet_256", "resnet_6blocks", "resnet_9blocks"):
            return official(input_nc, output_nc, ngf, netG, norm, use_dropout, *args, **kw)
        norm_layer = networks.get_norm_layer(norm_type=norm)
        if unet:
            num_downs = int(math.log2(int(unet.group(1))))
            assert 2**num_downs == int(unet.group(1)), netG
            return networks.UnetGenerator(
                input_nc, output_nc, num_downs, ngf, norm_layer=norm_layer, use_dropout=use_dropout
            )
        if resnet:
            return networks.ResnetGenerator(
                input_nc, output_nc, ngf, norm_layer=norm_layer, use_dropout=use_dropout,
                n_blocks=int(resnet.group(1)),
            )  # fmt: skip
        return official(input_nc, output_nc, ngf, netG, norm, use_dropout, *args, **kw)

    return define_G


@contextlib.contextmanager
def official_cyclegan(path):
    """The official modules from the checkout at ``path``: ``models.networks``,
    ``models.pix2pix_model``, ``models.cycle_gan_model``, ``models.test_model``, ``options``,
    ``util`` (``util.util``, ``util.image_pool``, ``util.html``, ``util.visualizer``; stand-ins
    for ``wandb`` / ``dominate`` / ``visdom`` when they are not installed) and
    ``data.base_dataset``. Yields a namespace; everything (``sys.modules``, ``sys.path``, the
    stand-ins, the cuDNN flag the models set) is undone on exit.

    ``networks.define_G`` accepts ``unet_<2**n>`` / ``resnet_<n>blocks`` for any size inside the
    block (see :func:`_sized_define_G`)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(_patch.official_code(path, TOP_LEVEL, stubs=_stubs()))
        stack.enter_context(_cudnn_benchmark_restored())
        import models
        import util.html  # noqa: F401  (imported as test.py / train.py do)
        import util.visualizer  # noqa: F401
        from data import base_dataset
        from models import cycle_gan_model, networks, pix2pix_model, test_model
        from options.test_options import TestOptions
        from options.train_options import TrainOptions
        from util import util
        from util.image_pool import ImagePool

        stack.enter_context(_patch.attr(networks, "define_G", _sized_define_G(networks)))
        yield types.SimpleNamespace(
            models=models, networks=networks, Pix2PixModel=pix2pix_model.Pix2PixModel,
            CycleGANModel=cycle_gan_model.CycleGANModel, TestModel=test_model.TestModel,
            TrainOptions=TrainOptions, TestOptions=TestOptions, util=util, ImagePool=ImagePool,
            get_transform=base_dataset.get_transform, get_params=base_dataset.get_params,
            path=os.path.abspath(path),
        )  # fmt: skip


def _net_g_name(g):
    if g.GENERATOR == "UnetGenerator":
        return f"unet_{2 ** g.NUM_DOWNS}"
    if g.GENERATOR == "ResnetGenerator":
        return f"resnet_{g.N_BLOCKS}blocks"
    raise ValueError(f"MODEL.GAN.GENERATOR={g.GENERATOR!r} has no official --netG")


def _net_d_name(d):
    if d.NAME == "NLayerDiscriminator":
        return "basic" if d.N_LAYERS == 3 else "n_layers"
    if d.NAME == "PixelDiscriminator":
        return "pixel"
    raise ValueError(f"MODEL.GAN.D.NAME={d.NAME!r} has no official --netD")


def official_argv(cfg, model, train):
    """The official command-line options equal to our config (``--model model``; the training
    options with ``train``). Raises ``ValueError`` for settings the official code lacks."""
    g, s, i = cfg.MODEL.GAN, cfg.SOLVER.GAN, cfg.INPUT.GAN
    argv = ["--dataroot", "unused", "--model", model, "--netG", _net_g_name(g)]
    argv += ["--netD", _net_d_name(g.D), "--n_layers_D", str(g.D.N_LAYERS)]
    argv += ["--ngf", str(g.NGF), "--ndf", str(g.D.NDF), "--norm", g.NORM]
    argv += ["--init_type", g.INIT_TYPE, "--init_gain", repr(g.INIT_GAIN)]
    argv += ["--input_nc", str(g.INPUT_NC), "--output_nc", str(g.OUTPUT_NC)]
    argv += ["--direction", i.DIRECTION, "--preprocess", i.PREPROCESS]
    argv += ["--load_size", str(i.LOAD_SIZE), "--crop_size", str(i.CROP_SIZE)]
    argv += [] if g.USE_DROPOUT else ["--no_dropout"]
    argv += ["--no_flip"] if i.NO_FLIP else []
    argv += ["--serial_batches"] if i.SERIAL_BATCHES else []
    if not train:
        return argv
    if s.BASE_LR_G != s.BASE_LR_D or s.BETAS[1] != 0.999:
        raise ValueError("the official code has one --lr for G and D and beta2 0.999")
    if g.LOSS.GAN_WEIGHT != 1.0 or g.LOSS.GP_LAMBDA != 0.0:
        raise ValueError("the official code has no GAN weight and applies no gradient penalty")
    argv += ["--gan_mode", g.LOSS.MODE, "--pool_size", str(g.LOSS.POOL_SIZE)]
    argv += ["--lr", repr(s.BASE_LR_G), "--beta1", repr(s.BETAS[0])]
    argv += ["--lr_policy", s.LR_POLICY, "--lr_decay_iters", str(s.LR_DECAY_ITERS)]
    argv += ["--n_epochs", str(s.N_EPOCHS), "--n_epochs_decay", str(s.N_EPOCHS_DECAY)]
    argv += ["--epoch_count", str(s.EPOCH_COUNT)]
    if model == "pix2pix":
        argv += ["--lambda_L1", repr(g.LOSS.LAMBDA_L1)]
    elif model == "cycle_gan":
        argv += ["--lambda_A", repr(g.LOSS.LAMBDA_A), "--lambda_B", repr(g.LOSS.LAMBDA_B)]
        argv += ["--lambda_identity", repr(g.LOSS.LAMBDA_IDT)]
    return argv


def official_options(ns, cfg, model, train, extra=()):
    """The official option namespace for our config (:func:`official_argv` + ``extra``):
    ``TrainOptions`` / ``TestOptions`` parsers with the model's and the dataset mode's option
    setters, as ``BaseOptions.gather_options`` builds them (from the list, not ``sys.argv``;
    nothing printed or written); ``isTrain`` and ``device`` (CPU) set as ``parse()`` /
    ``train.py`` / ``test.py`` do.

    ``no_dropout`` is set from ``MODEL.GAN.USE_DROPOUT`` after parsing: ``--model cycle_gan``
    defaults it to True and the store-true flag cannot turn it off from the command line."""
    from data import get_option_setter as dataset_option_setter

    argv = official_argv(cfg, model, train) + list(extra)
    options = (ns.TrainOptions if train else ns.TestOptions)()
    parser = options.initialize(argparse.ArgumentParser())
    opt, _ = parser.parse_known_args(argv)
    parser = ns.models.get_option_setter(opt.model)(parser, options.isTrain)
    opt, _ = parser.parse_known_args(argv)
    parser = dataset_option_setter(opt.dataset_mode)(parser, options.isTrain)
    opt = parser.parse_args(argv)
    opt.isTrain = options.isTrain
    opt.no_dropout = not cfg.MODEL.GAN.USE_DROPOUT
    opt.device = torch.device("cpu")
    return opt


def official_model(ns, opt):
    """``create_model(opt)`` then ``setup(opt)`` (networks built, then initialised in
    ``model_names`` order -- or loaded for testing -- and the schedulers made), printing
    discarded."""
    with contextlib.redirect_stdout(io.StringIO()):
        model = ns.models.create_model(opt)
        model.setup(opt)
    return model


@contextlib.contextmanager
def runner(path, cfg, model, image):
    """``test.py``'s per-image work for our model's generator, with our weights: ``netG.*``
    (Pix2Pix) / ``netG_A.*`` (CycleGAN) saved as ``latest_net_G.pth`` in a temporary
    checkpoints folder and loaded by the official ``setup`` of ``--model pix2pix`` / ``--model
    test`` (CycleGAN one direction, as its README's single-direction test), with test.py's fixed
    options (batch 1, serial, no flip; ``load_size = crop_size = INPUT.GAN.CROP_SIZE``,
    ``--preprocess INPUT.GAN.PREPROCESS``), ``--eval`` only when ``MODEL.GAN.TEST_TRAIN_MODE``
    is False (the official default keeps the generator in training mode: dropout on, BatchNorm
    on the test image's statistics).

    ``run()``: the PIL image of the BGR array (RGB), the dataset's transform (``get_params`` +
    ``get_transform`` per image for the aligned pix2pix data, the single dataset's
    ``get_transform`` for ``--model test``), the batch of one, ``set_input``, ``test()``
    (``no_grad`` forward) and ``tensor2im`` of the output -> H×W×3 uint8 RGB. The image is the
    generator's input side (``--direction AtoB``; for BtoA configs the data would swap the
    halves, the per-image work is the same)."""
    from PIL import Image

    with official_cyclegan(path) as ns, _patch.temp_dir() as checkpoints:
        g = cfg.MODEL.GAN
        cycle = cfg.MODEL.META_ARCHITECTURE == "CycleGAN"
        prefix = "netG_A." if cycle else "netG."
        state = {k[len(prefix) :]: v for k, v in model.state_dict().items() if k.startswith(prefix)}
        name = "vp_benchmark"
        os.makedirs(os.path.join(checkpoints, name))
        torch.save(state, os.path.join(checkpoints, name, "latest_net_G.pth"))
        argv = ["--checkpoints_dir", checkpoints, "--name", name, "--direction", "AtoB"]
        argv += ["--load_size", str(cfg.INPUT.GAN.CROP_SIZE)]
        argv += [] if g.TEST_TRAIN_MODE else ["--eval"]
        opt = official_options(ns, cfg, "test" if cycle else "pix2pix", False, argv)
        # test.py's hard-coded settings
        opt.num_threads, opt.batch_size, opt.serial_batches, opt.no_flip = 0, 1, True, True
        opt.device = torch.device(cfg.MODEL.DEVICE)
        net_model = official_model(ns, opt)
        if opt.eval:
            net_model.eval()
        grayscale = g.INPUT_NC == 1
        single_transform = ns.get_transform(opt, grayscale=grayscale) if cycle else None
        rgb = image[:, :, ::-1]

        def run():
            pil = Image.fromarray(rgb)
            if cycle:  # data/single_dataset.py
                a = single_transform(pil)
                net_model.set_input({"A": a.unsqueeze(0), "A_paths": ["image"]})
            else:  # data/aligned_dataset.py (the generator's input half)
                params = ns.get_params(opt, pil.size)
                a = ns.get_transform(opt, params, grayscale=grayscale)(pil).unsqueeze(0)
                net_model.set_input({"A": a, "B": a, "A_paths": ["image"], "B_paths": ["image"]})
            net_model.test()
            return ns.util.tensor2im(net_model.fake if cycle else net_model.fake_B)

        yield run
