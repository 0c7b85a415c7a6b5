"""The image-to-image networks of pix2pix and CycleGAN and their weight initialisation
(junyanz/pytorch-CycleGAN-and-pix2pix @2a7afba, ``models/networks.py``).

Every network is built from the same layers, in the same order and under the same attribute
paths as the official one, so ``state_dict()`` has exactly the keys of an official checkpoint
(``latest_net_G.pth`` / ``latest_net_D.pth``): official weights load with ``strict=True`` and a
converter only strips the model prefix. Constructing a network consumes torch's random generator
in the official module order, and :func:`init_weights` visits modules in the official order too,
so under the same ``torch.manual_seed`` both give bit-identical initial weights.

Normalisation (``norm``, the official ``--norm``):

- ``"batch"``: ``BatchNorm2d`` with affine parameters and running statistics;
- ``"instance"``: ``InstanceNorm2d(affine=False, track_running_stats=False)`` -- no parameters and
  no buffers in the state dict;
- ``"syncbatch"``: ``SyncBatchNorm`` (same keys as ``"batch"``);
- ``"none"``: identity.

Convolutions followed by a normalisation layer have a bias only with ``"instance"`` (the
official rule: the bias is dropped for batch, syncbatch *and* none). The first and last
convolutions of each network keep the official fixed choice stated in each class.
"""

import torch
from detectron2.config import configurable
from torch import nn
from torch.nn import init

__all__ = [
    "NORM_TYPES",
    "INIT_TYPES",
    "PADDING_TYPES",
    "get_norm_layer",
    "init_weights",
    "UnetGenerator",
    "UnetSkipConnectionBlock",
    "ResnetGenerator",
    "ResnetBlock",
    "NLayerDiscriminator",
    "PixelDiscriminator",
]

NORM_TYPES = ("batch", "instance", "syncbatch", "none")
INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")
PADDING_TYPES = ("reflect", "replicate", "zero")


def get_norm_layer(norm):
    """``channels -> nn.Module`` for the normalisation named ``norm`` (one of ``NORM_TYPES``,
    as the official ``get_norm_layer``)."""
    if norm == "batch":
        return lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True)
    if norm == "syncbatch":
        return lambda c: nn.SyncBatchNorm(c, affine=True, track_running_stats=True)
    if norm == "instance":
        return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda c: nn.Identity()
    raise ValueError(f"unknown normalisation {norm!r}; expected one of {NORM_TYPES}")


def _uses_bias(norm):
    """Whether a convolution followed by ``norm`` has a bias: only before InstanceNorm, which
    has no affine parameters (the official ``use_bias``)."""
    return norm == "instance"


def init_weights(net, init_type="normal", gain=0.02):
    """Initialise ``net`` in place as the official ``init_weights`` (run by ``BaseModel.setup``)
    and return it. Modules are matched by class name, as officially, and visited in
    ``net.apply`` order (children before parents, in registration order):

    - a module whose class name contains ``Conv`` or ``Linear`` (so ``ConvTranspose2d`` too):
      weight ~ N(0, gain) (``normal``), ``xavier_normal_(gain)``, ``kaiming_normal_(a=0,
      fan_in)`` (gain unused) or ``orthogonal_(gain)``; bias = 0;
    - a module whose class name contains ``BatchNorm2d``: weight ~ N(1, gain), bias = 0
      (``SyncBatchNorm`` does not match and keeps PyTorch's defaults, as officially).

    Modules without such a weight (affine-free norms, activations, paddings) are left alone.
    """
    if init_type not in INIT_TYPES:
        raise ValueError(f"unknown init_type {init_type!r}; expected one of {INIT_TYPES}")

    def visit(m):
        name = type(m).__name__
        weight = getattr(m, "weight", None)
        if weight is None:
            return
        if "Conv" in name or "Linear" in name:
            if init_type == "normal":
                init.normal_(weight.data, 0.0, gain)
            elif init_type == "xavier":
                init.xavier_normal_(weight.data, gain=gain)
            elif init_type == "kaiming":
                init.kaiming_normal_(weight.data, a=0, mode="fan_in")
            else:
                init.orthogonal_(weight.data, gain=gain)
            if getattr(m, "bias", None) is not None:
                init.constant_(m.bias.data, 0.0)
        elif "BatchNorm2d" in name:
            init.normal_(weight.data, 1.0, gain)
            init.constant_(m.bias.data, 0.0)

    net.apply(visit)
    return net


def _generator_io(cfg, input_nc, output_nc):
    g = cfg.MODEL.GAN
    return {
        "input_nc": g.INPUT_NC if input_nc is None else input_nc,
        "output_nc": g.OUTPUT_NC if output_nc is None else output_nc,
    }


class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: ``down -> submodule -> up``, with the level's input concatenated
    to the result on the channel axis (except at the outermost level). Layers in ``self.model``
    (official order, hence the official key indices):

    - outermost: ``Conv4x4 s2 (input_nc -> inner_nc), submodule, ReLU, ConvT4x4 s2 (2*inner_nc ->
      outer_nc, bias), Tanh``;
    - innermost: ``LeakyReLU(0.2), Conv4x4 s2, ReLU, ConvT4x4 s2 (inner_nc -> outer_nc), norm``;
    - otherwise: ``LeakyReLU(0.2), Conv4x4 s2, norm, submodule, ReLU, ConvT4x4 s2 (2*inner_nc ->
      outer_nc), norm`` and, with ``use_dropout``, ``Dropout(0.5)``.

    The activations are in place, as officially. The first one therefore overwrites the block's
    input before it is concatenated: the skip connection carries LeakyReLU(x), not x -- an
    official quirk that the released weights were trained with, kept here.
    """

    def __init__(
        self,
        outer_nc,
        inner_nc,
        input_nc=None,
        submodule=None,
        outermost=False,
        innermost=False,
        norm="batch",
        use_dropout=False,
    ):
        super().__init__()
        self.outermost = outermost
        norm_layer, bias = get_norm_layer(norm), _uses_bias(norm)
        down_conv = nn.Conv2d(
            outer_nc if input_nc is None else input_nc,
            inner_nc,
            kernel_size=4,
            stride=2,
            padding=1,
            bias=bias,
        )
        if outermost:
            up_conv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [down_conv, submodule, nn.ReLU(True), up_conv, nn.Tanh()]
        elif innermost:
            up_conv = nn.ConvTranspose2d(
                inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias
            )
            layers = [
                nn.LeakyReLU(0.2, True),
                down_conv,
                nn.ReLU(True),
                up_conv,
                norm_layer(outer_nc),
            ]
        else:
            up_conv = nn.ConvTranspose2d(
                inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias
            )
            layers = [nn.LeakyReLU(0.2, True), down_conv, norm_layer(inner_nc), submodule]
            layers += [nn.ReLU(True), up_conv, norm_layer(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        y = self.model(x)  # modifies x in place (first LeakyReLU), see the class docstring
        return torch.cat([x, y], 1)


class UnetGenerator(nn.Module):
    """The pix2pix U-Net (official ``UnetGenerator``; ``--netG unet_256``: ``num_downs=8``,
    ``unet_128``: 7). ``num_downs`` stride-2 levels, so the input sides must be multiples of
    2**num_downs; the down-convolutions output ngf, 2ngf, 4ngf, then 8ngf at the
    ``num_downs - 3`` deepest levels. With ``use_dropout`` the ``num_downs - 5`` levels between
    the innermost one and the 4ngf -> 8ngf one end with ``Dropout(0.5)`` (3 in unet_256). A
    ``num_downs`` below 5 builds the 5-level network, as officially. Output in [-1, 1]
    (Tanh). Keys: ``model.model.0`` (outermost conv), ``model.model.1.model.1`` (next level's
    conv), ``model.model.1.model.3.model.1`` ... (nested ``model`` Sequentials).
    """

    @configurable
    def __init__(self, input_nc, output_nc, num_downs, ngf=64, norm="batch", use_dropout=False):
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(
                ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout
            )
        for mult in (4, 2, 1):
            block = UnetSkipConnectionBlock(ngf * mult, ngf * mult * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(
            output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm
        )

    @classmethod
    def from_config(cls, cfg, input_nc=None, output_nc=None):
        """``MODEL.GAN.{INPUT_NC, OUTPUT_NC}`` (unless given), ``NUM_DOWNS``, ``NGF``, ``NORM``,
        ``USE_DROPOUT``."""
        g = cfg.MODEL.GAN
        return {
            **_generator_io(cfg, input_nc, output_nc),
            "num_downs": g.NUM_DOWNS,
            "ngf": g.NGF,
            "norm": g.NORM,
            "use_dropout": g.USE_DROPOUT,
        }

    def forward(self, x):
        return self.model(x)


def _padded_conv3x3(dim, padding_type, bias):
    """``[pad layer], Conv3x3`` keeping the size: a reflection/replication pad layer, or the
    convolution's own zero padding."""
    if padding_type not in PADDING_TYPES:
        raise ValueError(f"unknown padding_type {padding_type!r}; expected one of {PADDING_TYPES}")
    if padding_type == "zero":
        return [nn.Conv2d(dim, dim, kernel_size=3, padding=1, bias=bias)]
    pad = nn.ReflectionPad2d(1) if padding_type == "reflect" else nn.ReplicationPad2d(1)
    return [pad, nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=bias)]


class ResnetBlock(nn.Module):
    """Residual block ``x + conv_block(x)`` with ``conv_block`` = ``[pad], Conv3x3, norm, ReLU,
    [Dropout(0.5)], [pad], Conv3x3, norm`` (official ``ResnetBlock``). With reflect padding the
    convolutions are ``conv_block.1`` and ``conv_block.5``, or ``.1`` and ``.6`` with dropout
    (the official index shift, which tells a checkpoint's dropout setting from its keys)."""

    def __init__(self, dim, padding_type="reflect", norm="batch", use_dropout=False):
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), _uses_bias(norm)
        layers = _padded_conv3x3(dim, padding_type, bias) + [norm_layer(dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += _padded_conv3x3(dim, padding_type, bias) + [norm_layer(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """The CycleGAN generator (official ``ResnetGenerator``; ``--netG resnet_9blocks`` /
    ``resnet_6blocks``): ``ReflectionPad(3), Conv7x7 (input_nc -> ngf), norm, ReLU``; two
    ``Conv3x3 s2, norm, ReLU`` (ngf -> 2ngf -> 4ngf); ``n_blocks`` :class:`ResnetBlock` (4ngf);
    two ``ConvT3x3 s2 (padding 1, output_padding 1), norm, ReLU`` (4ngf -> 2ngf -> ngf);
    ``ReflectionPad(3), Conv7x7 (ngf -> output_nc, always with bias), Tanh``, all in one
    ``model`` Sequential (keys ``model.1``, ``model.4``, ``model.7``, ``model.10.conv_block.1``
    ... for 9 blocks). ``padding_type`` applies inside the residual blocks only (the 7x7
    convolutions always use reflection, as officially); the official options never change it.
    Input sides should be multiples of 4.
    """

    @configurable
    def __init__(
        self,
        input_nc,
        output_nc,
        ngf=64,
        norm="batch",
        use_dropout=False,
        n_blocks=6,
        padding_type="reflect",
    ):
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
        norm_layer, bias = get_norm_layer(norm), _uses_bias(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, kernel_size=7, bias=bias)]
        layers += [norm_layer(ngf), nn.ReLU(True)]
        for c in (ngf, ngf * 2):
            layers += [
                nn.Conv2d(c, c * 2, kernel_size=3, stride=2, padding=1, bias=bias),
                norm_layer(c * 2),
                nn.ReLU(True),
            ]
        for _ in range(n_blocks):
            layers.append(ResnetBlock(ngf * 4, padding_type, norm, use_dropout))
        for c in (ngf * 4, ngf * 2):
            layers += [
                nn.ConvTranspose2d(
                    c, c // 2, kernel_size=3, stride=2, padding=1, output_padding=1, bias=bias
                ),
                norm_layer(c // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    @classmethod
    def from_config(cls, cfg, input_nc=None, output_nc=None):
        """``MODEL.GAN.{INPUT_NC, OUTPUT_NC}`` (unless given), ``NGF``, ``NORM``,
        ``USE_DROPOUT``, ``N_BLOCKS``; reflection padding."""
        g = cfg.MODEL.GAN
        return {
            **_generator_io(cfg, input_nc, output_nc),
            "ngf": g.NGF,
            "norm": g.NORM,
            "use_dropout": g.USE_DROPOUT,
            "n_blocks": g.N_BLOCKS,
        }

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """The PatchGAN discriminator (official ``NLayerDiscriminator``; ``--netD basic`` =
    ``n_layers=3``, the 70x70 PatchGAN; ``--netD n_layers`` with ``--n_layers_D``): 4x4
    convolutions with padding 1 -- ``Conv s2 (input_nc -> ndf, bias), LeakyReLU(0.2)``; for
    n = 1 .. n_layers-1: ``Conv s2 (-> ndf*min(2**n, 8)), norm, LeakyReLU(0.2)``; ``Conv s1 (->
    ndf*min(2**n_layers, 8)), norm, LeakyReLU(0.2)``; ``Conv s1 (-> 1, bias)`` -- in one ``model``
    Sequential (keys ``model.0``, ``model.2``, ``model.3`` ... ``model.11`` for n_layers 3).
    Returns raw logits (no sigmoid): 30x30 for a 256x256 input with n_layers 3.
    """

    @configurable
    def __init__(self, input_nc, ndf=64, n_layers=3, norm="batch"):
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), _uses_bias(norm)
        layers = [
            nn.Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        c = ndf
        # stride-2 levels n = 1 .. n_layers-1, then the stride-1 level n = n_layers
        for n, stride in [(n, 2) for n in range(1, n_layers)] + [(n_layers, 1)]:
            c_out = ndf * min(2**n, 8)
            layers += [
                nn.Conv2d(c, c_out, kernel_size=4, stride=stride, padding=1, bias=bias),
                norm_layer(c_out),
                nn.LeakyReLU(0.2, True),
            ]
            c = c_out
        layers.append(nn.Conv2d(c, 1, kernel_size=4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    @classmethod
    def from_config(cls, cfg, input_nc):
        """``input_nc`` is the caller's (pix2pix: INPUT_NC + OUTPUT_NC, the conditional pair;
        CycleGAN: the judged domain's channels); ``MODEL.GAN.D.{NDF, N_LAYERS}``,
        ``MODEL.GAN.NORM``."""
        d = cfg.MODEL.GAN.D
        return {
            "input_nc": input_nc,
            "ndf": d.NDF,
            "n_layers": d.N_LAYERS,
            "norm": cfg.MODEL.GAN.NORM,
        }

    def forward(self, x):
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """The 1x1 PixelGAN discriminator (official ``PixelDiscriminator``, ``--netD pixel``):
    ``Conv1x1 (input_nc -> ndf, bias), LeakyReLU(0.2), Conv1x1 (-> 2ndf), norm, LeakyReLU(0.2),
    Conv1x1 (-> 1)`` in the ``net`` Sequential (keys ``net.0``, ``net.2``, ``net.3``, ``net.5``).
    As officially, the last convolution has a bias only with instance norm. One logit per pixel.
    """

    @configurable
    def __init__(self, input_nc, ndf=64, norm="batch"):
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), _uses_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, kernel_size=1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, bias=bias),
            norm_layer(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, kernel_size=1, bias=bias),
        )

    @classmethod
    def from_config(cls, cfg, input_nc):
        """``input_nc`` as for :class:`NLayerDiscriminator`; ``MODEL.GAN.D.NDF``,
        ``MODEL.GAN.NORM``."""
        return {"input_nc": input_nc, "ndf": cfg.MODEL.GAN.D.NDF, "norm": cfg.MODEL.GAN.NORM}

    def forward(self, x):
        return self.net(x)
