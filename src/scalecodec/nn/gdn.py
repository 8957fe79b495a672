import torch
from torch import nn
import torch.nn.functional as F


class GDN(nn.Module):
    """Generalized divisive normalization (Balle et al., ICLR 2016).

    beta and gamma are stored reparameterized (as their square roots offset by a
    pedestal) so that they stay positive under unconstrained gradient steps.
    """

    _pedestal = 2.0**-36
    _beta_min = 1e-6

    def __init__(self, channels: int, inverse: bool = False):
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + self._pedestal))
        self.gamma = nn.Parameter(torch.sqrt(0.1 * torch.eye(channels) + self._pedestal))

    def _positive(self, p: torch.Tensor, minimum: float) -> torch.Tensor:
        bound = (minimum + self._pedestal) ** 0.5
        return torch.clamp(p, min=bound) ** 2 - self._pedestal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self._positive(self.beta, self._beta_min)
        gamma = self._positive(self.gamma, 0.0)
        c = gamma.shape[0]
        norm = F.conv2d(x * x, gamma.view(c, c, 1, 1).to(x.dtype), beta.to(x.dtype))
        norm = torch.sqrt(norm)
        return x * norm if self.inverse else x / norm
