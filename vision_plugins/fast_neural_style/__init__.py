"""Fast neural style transfer (Johnson et al., ECCV 2016): TransformerNet trained with perceptual
(content + Gram style) losses on a frozen VGG16, as pytorch/examples fast_neural_style."""

from .meta_arch import FastNeuralStyle  # noqa: F401
from .networks import TransformerNet  # noqa: F401
from .spec import SPEC  # noqa: F401
