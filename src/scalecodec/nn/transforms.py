"""The four transforms of a mean-scale hyperprior codec (Minnen et al., 2018)."""

from torch import nn

from .gdn import GDN


def conv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def deconv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=k // 2, output_padding=stride - 1)


class Analysis(nn.Sequential):
    """Image (C, H, W) -> latent y (M, H/16, W/16); C is 3, or more for side inputs."""

    def __init__(self, n: int, m: int, channels: int = 3):
        super().__init__(
            conv(channels, n), GDN(n), conv(n, n), GDN(n), conv(n, n), GDN(n), conv(n, m)
        )


class Synthesis(nn.Sequential):
    """Latent y_hat (M, h, w) -> image (3, 16h, 16w)."""

    def __init__(self, n: int, m: int):
        super().__init__(
            deconv(m, n), GDN(n, inverse=True), deconv(n, n), GDN(n, inverse=True),
            deconv(n, n), GDN(n, inverse=True), deconv(n, 3),
        )


class HyperAnalysis(nn.Sequential):
    """Latent y (M, h, w) -> hyper-latent z (N, h/4, w/4)."""

    def __init__(self, n: int, m: int):
        super().__init__(
            conv(m, n, 3, 1), nn.LeakyReLU(inplace=True),
            conv(n, n), nn.LeakyReLU(inplace=True),
            conv(n, n),
        )


class HyperSynthesis(nn.Sequential):
    """Hyper-latent z_hat -> (means, scales) of y, 2M channels.

    Only convolutions and ReLU: the decoder runs this network in exact
    fixed-point arithmetic (see scalecodec.exact.prior), which needs a
    piecewise-linear activation.
    """

    def __init__(self, n: int, m: int):
        mid = m * 3 // 2
        super().__init__(
            deconv(n, m), nn.ReLU(inplace=True),
            deconv(m, mid), nn.ReLU(inplace=True),
            conv(mid, 2 * m, 3, 1),
        )
