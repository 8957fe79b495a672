"""LIFF: a local implicit filter function that predicts a layer from the one below.

After COMPASS (Park et al., ICCV 2023), lightened for CPUs. Features are
computed once at the lower layer's resolution. Each target pixel then finds
its nearest source pixel and hands an MLP that pixel's feature, its relative
position to it (the local grid) and the scale token; the MLP returns a
filter over the 3x3 neighbourhood of a few "tap" channels (the reconstructed
RGB plus learned ones) and the filter's dot product is the pixel's
correction to a bicubic upsampling. COMPASS filters 3x3 neighbourhoods of
64 features through a 580-256-256-256-256-1728 MLP (~0.3 TMAC per Kodak
layer); here 8 tap channels and a 36-64-64-219 MLP (~8 GMAC), so a layer
predicts in 0.6-0.7 s on two cores (measured, 768x512 from 320x213).
"""

import torch
import torch.nn.functional as F
from torch import nn

QUERY_CHUNK = 65536  # target pixels per MLP pass: bounds memory at any size


def nearest_source(src: int, dst: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """For each of dst pixel centres on a centred grid: the nearest of src
    pixels, and the offset to it in source pixels (in [-0.5, 0.5])."""
    pos = (torch.arange(dst, device=device, dtype=torch.float32) + 0.5) * (src / dst) - 0.5
    index = pos.round().clamp(0, src - 1)
    return index.long(), pos - index


class LocalImplicitFilter(nn.Module):
    # Plain conv/ReLU chains and 1x1 convolutions as the MLP: the forms the
    # decoder's exact fixed-point layers (scalecodec.exact.fixedpoint) evaluate.
    def __init__(self, features: int = 32, depth: int = 4, taps: int = 8, hidden: int = 64):
        super().__init__()
        self.taps = taps
        layers = []
        for i in range(depth):
            layers += [nn.Conv2d(3 if i == 0 else features, features, 3, padding=1), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.to_taps = nn.Conv2d(features, taps - 3, 3, padding=1)
        self.mlp = nn.Sequential(
            nn.Conv2d(features + 4, hidden, 1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 3 * 9 * taps + 3, 1),
        )
        # Start as plain bicubic: the filter (and so the correction) is zero.
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def queries(self, feats: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """For every target pixel (raster order): its nearest source pixel's
        flat index, and the query (relative position dy, dx and the scale
        token hs/ht, ws/wt), (Q, 4)."""
        hs, ws = feats.shape[-2:]
        ht, wt = size
        iy, dy = nearest_source(hs, ht, feats.device)
        ix, dx = nearest_source(ws, wt, feats.device)
        index = (iy[:, None] * ws + ix[None, :]).flatten()
        grid = torch.stack(torch.broadcast_tensors(dy[:, None], dx[None, :]), -1).flatten(0, 1)
        token = feats.new_tensor([hs / ht, ws / wt]).expand(grid.shape[0], 2)
        return index, torch.cat([grid, token], 1)

    def forward(self, lower: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """lower (B, 3, h, w) in [0, 1] -> prediction (B, 3, H, W)."""
        b = lower.shape[0]
        ht, wt = size
        feats = self.features(lower)
        taps = torch.cat([lower, self.to_taps(feats)], 1)
        # Replicate, not zero, padding: an image edge is not black.
        neighbourhoods = F.unfold(F.pad(taps, (1, 1, 1, 1), mode="replicate"), 3)  # (B, 9T, hs*ws)
        index, query = self.queries(feats, size)
        flat = feats.flatten(2)
        out = []
        for start in range(0, index.numel(), QUERY_CHUNK):
            sel = index[start:start + QUERY_CHUNK]
            q = torch.cat([flat[:, :, sel], query[start:start + QUERY_CHUNK].T.expand(b, -1, -1)], 1)
            params = self.mlp(q.unsqueeze(-1)).squeeze(-1).transpose(1, 2)  # (B, n, 3*9T + 3)
            width = 9 * self.taps
            filters = params[..., : 3 * width].unflatten(-1, (3, width))
            hood = neighbourhoods[:, :, sel].transpose(1, 2)  # (B, n, 9T)
            out.append((filters @ hood.unsqueeze(-1)).squeeze(-1) + params[..., 3 * width:])
        correction = torch.cat(out, 1).transpose(1, 2).reshape(b, 3, ht, wt)
        base = F.interpolate(lower, size=(ht, wt), mode="bicubic", align_corners=False)
        return base + correction
