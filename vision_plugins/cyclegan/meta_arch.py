"""``CycleGAN``: unpaired image-to-image translation with cycle consistency (Zhu et al., ICCV
2017), the official junyanz/pytorch-CycleGAN-and-pix2pix ``cycle_gan_model`` as a detectron2
meta-architecture.

Training, one iteration (``engine.TwoPlayerTrainer``): ``fake_B = G_A(A)``, ``rec_A =
G_B(fake_B)``, ``fake_A = G_B(B)``, ``rec_B = G_A(fake_A)`` once; the G step first, with both
discriminators frozen: GAN(D_A(fake_B), real) + GAN(D_B(fake_A), real) + λ_A‖rec_A − A‖₁ +
λ_B‖rec_B − B‖₁ + λ_B·λ_idt‖G_A(B) − B‖₁ + λ_A·λ_idt‖G_B(A) − A‖₁; then both D steps on
½·[GAN(D(real), real) + GAN(D(pool(fake).detach()), fake)], the image pools queried for D_A's
fakes first, as the official order of Python ``random`` draws. ``A`` is the dict's ``"image"``,
``B`` its ``"image_B"`` (the mapper applies ``INPUT.GAN.DIRECTION``).
"""

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY
from torch.nn import functional as F

from ..gan import (
    ImagePool,
    build_discriminator,
    build_generator,
    gradient_penalty,
    initialize_networks,
)
from ..gan.export import eager_generators
from ..gan.model import TranslationModel

__all__ = ["CycleGAN"]


@META_ARCH_REGISTRY.register()
class CycleGAN(TranslationModel):
    """Networks ``netG_A`` (A -> B), ``netG_B`` (B -> A), ``netD_A`` (judges domain B),
    ``netD_B`` (judges domain A); checkpoint keys are the official ``*_net_G_A.pth`` … keys with
    these prefixes (``tools/convert_weights.py --arch cyclegan``).

    Evaluation: ``{"image": G_A(image)}``, plus ``"image_B2A": G_B(image_B)`` when the input has
    ``"image_B"``. Loss terms as the official names: ``loss_G_A``, ``loss_G_B``,
    ``loss_cycle_A``, ``loss_cycle_B``, ``loss_idt_A``, ``loss_idt_B`` (weighted) and
    ``loss_D_A``, ``loss_D_B`` (+ ``loss_D_{A,B}_gp`` with ``wgangp`` and GP_LAMBDA > 0)."""

    players = {"G": ("netG_A", "netG_B"), "D": ("netD_A", "netD_B")}
    step_order = ("G", "D")
    visual_names = ("real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B")

    @configurable
    def __init__(
        self,
        *,
        netG_A,
        netG_B,
        netD_A,
        netD_B,
        gan_mode="lsgan",
        gan_weight=1.0,
        lambda_A=10.0,
        lambda_B=10.0,
        lambda_idt=0.5,
        pool_size=50,
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
        if lambda_idt > 0 and input_nc != output_nc:
            raise ValueError(
                f"MODEL.GAN.LOSS.LAMBDA_IDT={lambda_idt} needs MODEL.GAN.INPUT_NC == OUTPUT_NC "
                f"(got {input_nc} and {output_nc}): the identity loss feeds B to G_A"
            )
        self.netG_A, self.netG_B, self.netD_A, self.netD_B = netG_A, netG_B, netD_A, netD_B
        self.lambda_A, self.lambda_B, self.lambda_idt = lambda_A, lambda_B, lambda_idt
        self.fake_A_pool = ImagePool(pool_size)
        self.fake_B_pool = ImagePool(pool_size)

    @classmethod
    def from_config(cls, cfg):
        g = cfg.MODEL.GAN
        # built first, then initialised in the official order: the official weights for a seed
        nets = initialize_networks(
            cfg,
            build_generator(cfg, g.INPUT_NC, g.OUTPUT_NC, initialize=False),
            build_generator(cfg, g.OUTPUT_NC, g.INPUT_NC, initialize=False),
            build_discriminator(cfg, g.OUTPUT_NC, initialize=False),
            build_discriminator(cfg, g.INPUT_NC, initialize=False),
        )
        return {
            **dict(zip(("netG_A", "netG_B", "netD_A", "netD_B"), nets)),
            "lambda_A": g.LOSS.LAMBDA_A,
            "lambda_B": g.LOSS.LAMBDA_B,
            "lambda_idt": g.LOSS.LAMBDA_IDT,
            "pool_size": g.LOSS.POOL_SIZE,
            **cls.shared_config(cfg),
        }

    def generate(self, batched_inputs):
        real_A = self.normalize(batched_inputs, "image", self.input_nc)
        real_B = self.normalize(batched_inputs, "image_B", self.output_nc)
        # the official order of the four passes: it fixes the dropout draws (USE_DROPOUT) and
        # the order in which each generator's gradients are summed
        fake_B = self.netG_A(real_A)
        rec_A = self.netG_B(fake_B)
        fake_A = self.netG_B(real_B)
        rec_B = self.netG_A(fake_A)
        return {
            "real_A": real_A,
            "real_B": real_B,
            "fake_B": fake_B,
            "rec_A": rec_A,
            "fake_A": fake_A,
            "rec_B": rec_B,
        }

    def player_losses(self, player):
        c = self._cache
        if player == "G":
            self.set_requires_grad("D", False)
            losses = {}
            if self.lambda_idt > 0:
                idt_A = self.netG_A(c["real_B"])
                idt_B = self.netG_B(c["real_A"])
                c.update(idt_A=idt_A, idt_B=idt_B)
                weight_A = self.lambda_B * self.lambda_idt
                weight_B = self.lambda_A * self.lambda_idt
                losses["loss_idt_A"] = weight_A * F.l1_loss(idt_A, c["real_B"])
                losses["loss_idt_B"] = weight_B * F.l1_loss(idt_B, c["real_A"])
            losses["loss_G_A"] = self.gan_weight * self.criterion_gan(
                self.netD_A(c["fake_B"]), True
            )
            losses["loss_G_B"] = self.gan_weight * self.criterion_gan(
                self.netD_B(c["fake_A"]), True
            )
            losses["loss_cycle_A"] = self.lambda_A * F.l1_loss(c["rec_A"], c["real_A"])
            losses["loss_cycle_B"] = self.lambda_B * F.l1_loss(c["rec_B"], c["real_B"])
            return losses
        self.set_requires_grad("D", True)
        fake_B = self.fake_B_pool.query(c["fake_B"])
        losses = self._discriminator_loss("A", self.netD_A, c["real_B"], fake_B)
        fake_A = self.fake_A_pool.query(c["fake_A"])
        losses.update(self._discriminator_loss("B", self.netD_B, c["real_A"], fake_A))
        return losses

    def _discriminator_loss(self, name, netD, real, fake):
        fake = fake.detach()
        loss_real = self.criterion_gan(netD(real), True)
        loss_fake = self.criterion_gan(netD(fake), False)
        losses = {f"loss_D_{name}": 0.5 * (loss_real + loss_fake)}
        if self.gan_mode == "wgangp" and self.gp_lambda > 0:
            losses[f"loss_D_{name}_gp"] = gradient_penalty(
                netD, real, fake, lambda_gp=self.gp_lambda
            )[0]
        return losses

    def translate(self, batched_inputs, run=None):
        """``[{"image": A->B pixels, "image_B2A": B->A pixels (inputs with "image_B")}]``;
        ``run(net_name, images) -> (pixels,)`` runs a generator: the model's own
        (:func:`~vision_plugins.gan.export.eager_generators`) or an exported graph
        (``vision_plugins/cyclegan/export.py``)."""
        run = run or eager_generators(self)
        (fake_B,) = run("netG_A", self.normalize(batched_inputs, "image", self.input_nc))
        outputs = [{"image": y} for y in fake_B]
        if all("image_B" in d for d in batched_inputs):
            (fake_A,) = run("netG_B", self.normalize(batched_inputs, "image_B", self.output_nc))
            for out, y in zip(outputs, fake_A):
                out["image_B2A"] = y
        return outputs
