"""``Pix2Pix``: conditional GAN on paired images (Isola et al., CVPR 2017), the official
junyanz/pytorch-CycleGAN-and-pix2pix ``pix2pix_model`` as a detectron2 meta-architecture.

Training, one iteration (``engine.TwoPlayerTrainer``): ``fake_B = G(A)`` once; the D step on
½·[GAN(D(A ⊕ fake_B.detach()), fake) + GAN(D(A ⊕ B), real)]; then the G step against the
*updated* D (frozen): GAN(D(A ⊕ fake_B), real) + λ_L1·‖fake_B − B‖₁. ``A`` is the dict's
``"image"``, ``B`` its ``"target"`` (the mapper applies ``INPUT.GAN.DIRECTION``).
"""

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from ..gan import (
    build_discriminator,
    build_generator,
    gradient_penalty,
    initialize_networks,
)
from ..gan.export import eager_generators
from ..gan.model import TranslationModel

__all__ = ["Pix2Pix"]


@META_ARCH_REGISTRY.register()
class Pix2Pix(TranslationModel):
    """Networks ``netG`` (A -> B) and ``netD`` (conditional PatchGAN on A ⊕ B); checkpoint keys
    ``netG.*`` / ``netD.*`` are the official ``latest_net_G.pth`` / ``latest_net_D.pth`` keys
    with that prefix (``tools/convert_weights.py --arch pix2pix``).

    Loss terms: ``loss_D_fake`` and ``loss_D_real`` (each ½·GAN term: their sum is the official
    ``loss_D``), plus ``loss_D_gp`` with ``wgangp`` and ``MODEL.GAN.LOSS.GP_LAMBDA`` > 0;
    ``loss_G_GAN`` (×GAN_WEIGHT) and ``loss_G_L1`` (×LAMBDA_L1)."""

    players = {"G": ("netG",), "D": ("netD",)}
    step_order = ("D", "G")
    visual_names = ("real_A", "fake_B", "real_B")

    @configurable
    def __init__(
        self,
        *,
        netG,
        netD,
        gan_mode="vanilla",
        gan_weight=1.0,
        lambda_l1=100.0,
        gp_lambda=0.0,
        input_nc=3,
        output_nc=3,
        test_train_mode=True,
    ):
        super().__init__(
            input_nc=input_nc,
            output_nc=output_nc,
            test_train_mode=test_train_mode,
            gan_mode=gan_mode,
            gan_weight=gan_weight,
            gp_lambda=gp_lambda,
        )
        self.netG = netG
        self.netD = netD
        self.lambda_l1 = lambda_l1

    @classmethod
    def from_config(cls, cfg):
        g = cfg.MODEL.GAN
        # built first, then initialised in the official order: the official weights for a seed
        netG, netD = initialize_networks(
            cfg,
            build_generator(cfg, initialize=False),
            build_discriminator(cfg, g.INPUT_NC + g.OUTPUT_NC, initialize=False),
        )
        return {
            "netG": netG,
            "netD": netD,
            "lambda_l1": g.LOSS.LAMBDA_L1,
            **cls.shared_config(cfg),
        }

    def generate(self, batched_inputs):
        real_A = self.normalize(batched_inputs, "image", self.input_nc)
        real_B = self.normalize(batched_inputs, "target", self.output_nc)
        return {"real_A": real_A, "real_B": real_B, "fake_B": self.netG(real_A)}

    def player_losses(self, player):
        real_A, real_B, fake_B = (self._cache[k] for k in ("real_A", "real_B", "fake_B"))
        if player == "D":
            self.set_requires_grad("D", True)
            fake_AB = torch.cat([real_A, fake_B], 1).detach()
            real_AB = torch.cat([real_A, real_B], 1)
            losses = {
                "loss_D_fake": 0.5 * self.criterion_gan(self.netD(fake_AB), False),
                "loss_D_real": 0.5 * self.criterion_gan(self.netD(real_AB), True),
            }
            if self.gan_mode == "wgangp" and self.gp_lambda > 0:
                gp, _ = gradient_penalty(self.netD, real_AB, fake_AB, lambda_gp=self.gp_lambda)
                losses["loss_D_gp"] = gp
            return losses
        self.set_requires_grad("D", False)
        pred_fake = self.netD(torch.cat([real_A, fake_B], 1))
        return {
            "loss_G_GAN": self.gan_weight * self.criterion_gan(pred_fake, True),
            "loss_G_L1": self.lambda_l1 * torch.nn.functional.l1_loss(fake_B, real_B),
        }

    def translate(self, batched_inputs, run=None):
        """``[{"image": B pixels}]``; ``run(net_name, images) -> (pixels,)`` runs a generator:
        the model's own (:func:`~vision_plugins.gan.export.eager_generators`) or an exported
        graph (``vision_plugins/pix2pix/export.py``)."""
        run = run or eager_generators(self)
        (fake_B,) = run("netG", self.normalize(batched_inputs, "image", self.input_nc))
        return [{"image": y} for y in fake_B]
