"""``add_gan_config``: the ``MODEL.GAN``, ``SOLVER.GAN`` and ``INPUT.GAN`` keys shared by the
image-to-image GANs. Defaults are the official pix2pix ones (junyanz/pytorch-CycleGAN-and-pix2pix
@2a7afba ``options/*`` with ``--model pix2pix``); the CycleGAN configs override the differences
(``ResnetGenerator``, ``NORM instance``, no dropout, ``lsgan``, pool 50)."""

from detectron2.config import CfgNode as CN

__all__ = ["add_gan_config"]


def add_gan_config(cfg):
    """Add the GAN keys to ``cfg`` (in place; new nodes only, no detectron2 default changes).
    Idempotent: a cfg that has ``MODEL.GAN`` keeps it (other adders extend these nodes)."""
    if "GAN" in cfg.MODEL:
        return cfg
    g = cfg.MODEL.GAN = CN()
    # Generator: a vision_plugins.gan.GAN_GENERATOR_REGISTRY name. Official --netG: unet_256 =
    # UnetGenerator with NUM_DOWNS 8 (unet_128: 7); resnet_9blocks / resnet_6blocks =
    # ResnetGenerator with N_BLOCKS 9 / 6 (see vision_plugins.gan.OFFICIAL_NET_NAMES).
    g.GENERATOR = "UnetGenerator"
    # Channels of the input and output images (--input_nc / --output_nc).
    g.INPUT_NC = 3
    g.OUTPUT_NC = 3
    # Filters of the generator's first/last conv layer (--ngf).
    g.NGF = 64
    # UnetGenerator: number of stride-2 levels; input sides must be multiples of 2**NUM_DOWNS.
    g.NUM_DOWNS = 8
    # ResnetGenerator: number of residual blocks.
    g.N_BLOCKS = 9
    # Normalisation of generator and discriminator (--norm): batch | instance | syncbatch | none.
    # Convolutions before a norm layer have a bias only with instance.
    g.NORM = "batch"
    # Dropout(0.5) in the generator (official: on unless --no_dropout; CycleGAN sets it off).
    g.USE_DROPOUT = True
    # Weight init applied by build_generator / build_discriminator (--init_type, --init_gain):
    # normal | xavier | kaiming | orthogonal (see vision_plugins.gan.init_weights); "none"
    # keeps each network's own initialisation.
    g.INIT_TYPE = "normal"
    g.INIT_GAIN = 0.02
    # Inference as the official test.py without --eval: the generator stays in train mode
    # (dropout on, BatchNorm normalising with the test batch's statistics; pix2pix paper §3.3).
    # False: eval mode (official --eval).
    g.TEST_TRAIN_MODE = True

    d = g.D = CN()
    # Discriminator: a GAN_DISCRIMINATOR_REGISTRY name. Official --netD: basic =
    # NLayerDiscriminator with N_LAYERS 3 (70x70 PatchGAN); n_layers = NLayerDiscriminator with
    # --n_layers_D; pixel = PixelDiscriminator.
    d.NAME = "NLayerDiscriminator"
    # Filters of the discriminator's first conv layer (--ndf).
    d.NDF = 64
    # NLayerDiscriminator: number of downsampling conv layers (--n_layers_D).
    d.N_LAYERS = 3

    loss = g.LOSS = CN()
    # Adversarial objective (--gan_mode): vanilla (BCE with logits) | lsgan (MSE) | wgangp.
    loss.MODE = "vanilla"
    # Weight of the adversarial terms of the generator loss.
    loss.GAN_WEIGHT = 1.0
    # pix2pix: weight of L1(G(A), B) (--lambda_L1).
    loss.LAMBDA_L1 = 100.0
    # CycleGAN: weights of the cycle losses A->B->A and B->A->B (--lambda_A, --lambda_B).
    loss.LAMBDA_A = 10.0
    loss.LAMBDA_B = 10.0
    # CycleGAN: identity loss weight relative to the cycle weights: L1(G_A(B), B) is weighted by
    # LAMBDA_B * LAMBDA_IDT and L1(G_B(A), A) by LAMBDA_A * LAMBDA_IDT (--lambda_identity).
    loss.LAMBDA_IDT = 0.5
    # Generated images kept to train the discriminators (--pool_size; 0: no pool, the current
    # fakes; the official CycleGAN uses 50). See vision_plugins.gan.ImagePool.
    loss.POOL_SIZE = 0
    # wgangp: weight of the gradient penalty (vision_plugins.gan.gradient_penalty) added to the
    # discriminator loss. 0 (official: --gan_mode wgangp never applies the penalty its
    # cal_gradient_penalty computes); 10 is the WGAN-GP paper's value.
    loss.GP_LAMBDA = 0.0

    s = cfg.SOLVER.GAN = CN()
    # Adam learning rates of the generator(s) and discriminator(s) (--lr for both) and betas
    # (--beta1, 0.999).
    s.BASE_LR_G = 2e-4
    s.BASE_LR_D = 2e-4
    s.BETAS = (0.5, 0.999)
    # Learning-rate policy (--lr_policy): per epoch linear (constant for N_EPOCHS, then linear
    # decay to 0 over N_EPOCHS_DECAY) | step (x0.1 every LR_DECAY_ITERS epochs) | cosine
    # (over N_EPOCHS); or per iteration multistep (x GAMMA at each iteration of STEPS, BasicSR's
    # MultiStepLR).
    s.LR_POLICY = "linear"
    s.N_EPOCHS = 100
    s.N_EPOCHS_DECAY = 100
    # Epoch number the schedule starts from (--epoch_count, e.g. when resuming the official way).
    s.EPOCH_COUNT = 1
    # step policy: epochs between decays (--lr_decay_iters; counted in epochs officially too).
    s.LR_DECAY_ITERS = 50
    # multistep policy: the iterations at which the learning rates are multiplied by GAMMA.
    s.STEPS = ()
    s.GAMMA = 0.5
    # Adam's weight decay (L2 added to the gradients, torch.optim.Adam's weight_decay).
    s.WEIGHT_DECAY = 0.0
    # Iterations per epoch; 0: len(training set) / SOLVER.IMS_PER_BATCH.
    s.ITERS_PER_EPOCH = 0
    # Every IMAGE_PERIOD iterations (and after the last), the current training batch's images
    # (input | output | target ...) as a grid in TensorBoard and OUTPUT_DIR/images/. 0: never.
    s.IMAGE_PERIOD = 500

    i = cfg.INPUT.GAN = CN()
    # Training transform (--preprocess): resize_and_crop | crop | scale_width |
    # scale_width_and_crop | none; bicubic resize to LOAD_SIZE, random crop to CROP_SIZE. At test
    # time images are resized to CROP_SIZE x CROP_SIZE (official test: load_size = crop_size).
    i.LOAD_SIZE = 286
    i.CROP_SIZE = 256
    i.PREPROCESS = "resize_and_crop"
    # No random horizontal flip in training (--no_flip).
    i.NO_FLIP = False
    # AtoB | BtoA (--direction): BtoA swaps the halves of aligned images / the two domains.
    i.DIRECTION = "AtoB"
    # --serial_batches: no shuffling, and unaligned data pairs A_i with B_(i % |B|) instead of a
    # random B.
    i.SERIAL_BATCHES = False
    return cfg
