"""Super-resolution meta-architectures, BasicSR's training semantics (basicsr 1.4.2
``models/{sr,srgan,esrgan}_model.py``) on :class:`~vision_plugins.gan.model.TranslationModel`.

Inputs: detectron2 dicts with ``"image"`` = the low-resolution image and ``"target"`` = the
high-resolution one (``scale`` times larger), float (3, H, W) 0..255 RGB (the SR mapper's
output). The networks work on ``x / 255`` (BasicSR's ``img2tensor`` / 255; no [-1, 1] shift).
Evaluation returns ``{"image": clamp(netG(x / 255), 0, 1) * 255}`` per input -- (3, s·h, s·w)
float 0..255; BasicSR's ``tensor2img`` then rounds to uint8 (the evaluator does).

- :class:`SuperResolution`: the generator alone on the pixel loss (``MODEL.GAN.LOSS.PIXEL`` l1 /
  mse × ``PIXEL_WEIGHT``) plus, optionally, the perceptual loss (``PERCEPTUAL_WEIGHT`` ×
  ``MODEL.PERCEPTUAL``): SRResNet / MSRResNet / RRDB-PSNR training; one optimizer.
- :class:`SRGAN`: + a discriminator, vanilla GAN (``MODEL.GAN.LOSS.MODE`` vanilla | lsgan);
  one iteration = G step (D frozen): pix + percep + GAN_WEIGHT·BCE(D(G(x)), real); then D step:
  BCE(D(y), real) + BCE(D(G(x).detach()), fake) (no ½).
- :class:`ESRGAN`: relativistic average GAN (``MODE`` ragan): G step with
  GAN_WEIGHT·½[BCE(D(y) − mean D(G(x)), fake) + BCE(D(G(x)) − mean D(y), real)] (D(y) without
  gradient); D step ½·BCE(D(y) − mean D(G(x)), real) + ½·BCE(D(G(x)) − mean D(y), fake), each
  with the other side's logits detached -- five discriminator calls in BasicSR's order.

Loss terms logged: ``loss_g_pix``, ``loss_g_percep`` (``loss_g_style``), ``loss_g_gan``,
``loss_d_real``, ``loss_d_fake``; the mean discriminator logits of the D step are kept as
``out_d_real`` / ``out_d_fake`` in the iteration's cache. Not reproduced: BasicSR's EMA copy of
the generator (``ema_decay``) and ``net_d_init_iters`` / ``net_d_iters``.
"""

import os

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY
from torch.nn import functional as F

from ..gan import build_discriminator, build_generator, initialize_networks
from ..gan.export import eager_generators
from ..gan.model import TranslationModel
from ..gan.perceptual import PerceptualLoss

__all__ = ["SuperResolution", "SRGAN", "ESRGAN", "PIXEL_LOSSES", "load_pretrained_generator"]

PIXEL_LOSSES = {"l1": F.l1_loss, "mse": F.mse_loss}


def _pixel_criterion(name):
    if name not in PIXEL_LOSSES:
        raise ValueError(
            f"MODEL.GAN.LOSS.PIXEL={name!r}: expected one of {', '.join(PIXEL_LOSSES)}"
        )
    return PIXEL_LOSSES[name]


def load_pretrained_generator(netG, path):
    """BasicSR's ``path.pretrain_network_g`` (``MODEL.GAN.PRETRAIN_G``): initialise ``netG``
    from the generator of a checkpoint -- one of ours (``model_final.pth``, a converted file:
    its ``netG.*`` keys) or a bare generator state dict -- strictly (every key, every shape).
    A GAN starts from its PSNR-trained generator this way; ``MODEL.WEIGHTS`` would refuse a file
    that covers under 10 % of the model (a small generator beside a large discriminator)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MODEL.GAN.PRETRAIN_G={path!r}: no such file")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("model", state) if isinstance(state, dict) else state
    if any(k.startswith("netG.") for k in state):
        state = {k[len("netG.") :]: v for k, v in state.items() if k.startswith("netG.")}
    try:
        netG.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(
            f"MODEL.GAN.PRETRAIN_G={path!r} does not fit MODEL.GAN.GENERATOR: {e}"
        ) from None
    return netG


@META_ARCH_REGISTRY.register()
class SuperResolution(TranslationModel):
    """The generator ``netG`` (MODEL.GAN.GENERATOR: ``SRResNet``, ``MSRResNet``, ``RRDBNet``)
    trained on pixel (+ perceptual) losses; see the module docstring. Checkpoint keys
    ``netG.*`` (``tools/convert_weights.py --arch msrresnet`` / ``esrgan``)."""

    players = {"G": ("netG",)}
    step_order = ("G",)
    visual_names = ("lq_up", "output", "gt")

    @configurable
    def __init__(
        self,
        *,
        netG,
        pixel_loss="l1",
        pixel_weight=1.0,
        perceptual=None,
        perceptual_weight=0.0,
        gan_mode="vanilla",
        gan_weight=1.0,
        input_nc=3,
        output_nc=3,
        test_train_mode=False,
    ):
        super().__init__(
            input_nc=input_nc,
            output_nc=output_nc,
            test_train_mode=test_train_mode,
            gan_mode=gan_mode,
            gan_weight=gan_weight,
            gp_lambda=0.0,
        )
        self.netG = netG
        self.pixel_loss = pixel_loss
        self.pixel_criterion = _pixel_criterion(pixel_loss)
        self.pixel_weight = pixel_weight
        self.perceptual_weight = perceptual_weight
        if perceptual_weight and perceptual is None:
            raise ValueError("MODEL.GAN.LOSS.PERCEPTUAL_WEIGHT > 0 needs a PerceptualLoss")
        self.perceptual = perceptual if perceptual_weight else None

    @classmethod
    def _base_config(cls, cfg):
        loss = cfg.MODEL.GAN.LOSS
        perceptual = None
        if loss.PERCEPTUAL_WEIGHT:
            perceptual = PerceptualLoss(cfg, input_range=1.0)
        args = {
            "pixel_loss": loss.PIXEL,
            "pixel_weight": loss.PIXEL_WEIGHT,
            "perceptual": perceptual,
            "perceptual_weight": loss.PERCEPTUAL_WEIGHT,
            **cls.shared_config(cfg),
        }
        args.pop("gp_lambda")
        if args["gan_mode"] == "ragan":  # relativistic average GAN: BCE on relativistic logits
            args["gan_mode"] = "vanilla"
        return args

    @classmethod
    def from_config(cls, cfg):
        (netG,) = initialize_networks(cfg, build_generator(cfg, initialize=False))
        if cfg.MODEL.GAN.PRETRAIN_G:
            load_pretrained_generator(netG, cfg.MODEL.GAN.PRETRAIN_G)
        return {"netG": netG, **cls._base_config(cfg)}

    # --- images ---------------------------------------------------------------------------

    def normalize(self, batched_inputs, key, channels):
        """The batch's ``key`` images as network input: (N, C, H, W) in [0, 1] (``x / 255``)."""
        images = []
        for d in batched_inputs:
            if key not in d:
                raise KeyError(
                    f"{type(self).__name__}: input dict without {key!r} "
                    f"(file {d.get('file_name', '?')}); keys: {sorted(d)} -- the SR mapper "
                    "gives 'image' (low resolution) and 'target' (high resolution)"
                )
            images.append(d[key].to(self.device, torch.float32))
        x = torch.stack(images)
        if x.shape[1] != channels:
            raise ValueError(
                f"{type(self).__name__}: {key!r} has {x.shape[1]} channels, the network takes "
                f"{channels} (MODEL.GAN.INPUT_NC / OUTPUT_NC)"
            )
        return x / 255

    @staticmethod
    def to_pixels(y):
        """Output in [0, 1] -> clamped 0..255 values (BasicSR ``tensor2img`` before rounding)."""
        return (y.clamp(0, 1) * 255).contiguous()

    def visuals(self):
        """LR (nearest-enlarged) | output | HR of the last training batch, in [-1, 1] as the
        image-grid hook takes them."""
        c = self._cache
        if not c:
            return {}
        lq_up = F.interpolate(c["lq"], size=c["gt"].shape[-2:], mode="nearest")
        images = {"lq_up": lq_up, "output": c["output"].clamp(0, 1), "gt": c["gt"]}
        return {k: (v.detach() * 2 - 1) for k, v in images.items()}

    # --- training -------------------------------------------------------------------------

    def generate(self, batched_inputs):
        lq = self.normalize(batched_inputs, "image", self.input_nc)
        gt = self.normalize(batched_inputs, "target", self.output_nc)
        return {"lq": lq, "gt": gt, "output": self.netG(lq)}

    def content_losses(self, output, gt):
        """Pixel and perceptual terms of the generator loss (BasicSR's order)."""
        losses = {}
        if self.pixel_weight:
            losses["loss_g_pix"] = self.pixel_weight * self.pixel_criterion(output, gt)
        if self.perceptual is not None:
            terms = self.perceptual(output, gt)
            if "content" in terms:
                losses["loss_g_percep"] = self.perceptual_weight * terms["content"]
            if "style" in terms:
                losses["loss_g_style"] = self.perceptual_weight * terms["style"]
        return losses

    def player_losses(self, player):
        c = self._cache
        return self.content_losses(c["output"], c["gt"])

    def translate(self, batched_inputs, run=None):
        """``[{"image": SR pixels}]``; ``run(net_name, images) -> (pixels,)`` runs the generator:
        the model's own (:func:`~vision_plugins.gan.export.eager_generators`) or an exported
        graph (``export.py``)."""
        run = run or eager_generators(self)
        (output,) = run("netG", self.normalize(batched_inputs, "image", self.input_nc))
        return [{"image": y} for y in output]


@META_ARCH_REGISTRY.register()
class SRGAN(SuperResolution):
    """:class:`SuperResolution` + discriminator ``netD`` (``SRGANDiscriminator`` /
    ``VGGStyleDiscriminator``), vanilla GAN, G step then D step (BasicSR ``SRGANModel``); see
    the module docstring. Checkpoint keys ``netG.*``, ``netD.*``."""

    players = {"G": ("netG",), "D": ("netD",)}
    step_order = ("G", "D")

    @configurable
    def __init__(self, *, netD, **kwargs):
        super().__init__(**kwargs)
        self.netD = netD

    @classmethod
    def from_config(cls, cfg):
        g = cfg.MODEL.GAN
        if g.LOSS.MODE == "ragan" and cls is SRGAN:
            raise ValueError(
                "MODEL.GAN.LOSS.MODE='ragan' (relativistic average GAN) is ESRGAN's: set "
                "MODEL.META_ARCHITECTURE 'ESRGAN', or MODE vanilla / lsgan for SRGAN"
            )
        netG, netD = initialize_networks(
            cfg,
            build_generator(cfg, initialize=False),
            build_discriminator(cfg, g.OUTPUT_NC, initialize=False),
        )
        if g.PRETRAIN_G:
            load_pretrained_generator(netG, g.PRETRAIN_G)
        return {"netG": netG, "netD": netD, **cls._base_config(cfg)}

    def generator_gan_loss(self, output, gt):
        return self.gan_weight * self.criterion_gan(self.netD(output), True)

    def discriminator_losses(self, output, gt):
        c = self._cache
        real_pred = self.netD(gt)
        c["out_d_real"] = real_pred.detach().mean()
        fake_pred = self.netD(output.detach())
        c["out_d_fake"] = fake_pred.detach().mean()
        return {
            "loss_d_real": self.criterion_gan(real_pred, True),
            "loss_d_fake": self.criterion_gan(fake_pred, False),
        }

    def player_losses(self, player):
        c = self._cache
        if player == "G":
            self.set_requires_grad("D", False)
            losses = self.content_losses(c["output"], c["gt"])
            losses["loss_g_gan"] = self.generator_gan_loss(c["output"], c["gt"])
            return losses
        self.set_requires_grad("D", True)
        return self.discriminator_losses(c["output"], c["gt"])


@META_ARCH_REGISTRY.register()
class ESRGAN(SRGAN):
    """:class:`SRGAN` with the relativistic average GAN of ESRGAN (BasicSR ``ESRGANModel``);
    ``MODEL.GAN.LOSS.MODE`` ``ragan`` (BCE on the relativistic logits, as BasicSR's
    ``gan_type: vanilla`` inside ESRGANModel) or ``lsgan`` (MSE on them). See the module
    docstring for the terms."""

    @classmethod
    def from_config(cls, cfg):
        args = super().from_config(cfg)
        if args["gan_mode"] not in ("vanilla", "lsgan"):
            raise ValueError(
                f"MODEL.GAN.LOSS.MODE={args['gan_mode']!r}: ESRGAN takes ragan (BCE), vanilla "
                "(the same) or lsgan"
            )
        return args

    def generator_gan_loss(self, output, gt):
        real_pred = self.netD(gt).detach()
        fake_pred = self.netD(output)
        loss_real = self.criterion_gan(real_pred - fake_pred.mean(), False)
        loss_fake = self.criterion_gan(fake_pred - real_pred.mean(), True)
        return self.gan_weight * (loss_real + loss_fake) / 2

    def discriminator_losses(self, output, gt):
        c = self._cache
        fake_pred = self.netD(output.detach()).detach()
        real_pred = self.netD(gt)
        loss_real = self.criterion_gan(real_pred - fake_pred.mean(), True) * 0.5
        fake_pred = self.netD(output.detach())
        loss_fake = self.criterion_gan(fake_pred - real_pred.detach().mean(), False) * 0.5
        c["out_d_real"] = real_pred.detach().mean()
        c["out_d_fake"] = fake_pred.detach().mean()
        return {"loss_d_real": loss_real, "loss_d_fake": loss_fake}
