"""How good is a translation? A domain classifier (A, B or neither) and the cycle reconstruction error.

:class:`DomainClassifier` is a small CNN trained in seconds (:func:`train_domain_classifier`) on real crops of both
domains and on images that are neither (noise, scrambled, noise-covered); :func:`domain_share` is the share of
translated images it puts in the target domain, :func:`cycle_error` how much a round trip A -> B -> A loses.
Images are float tensors (N, 3, H, W) in [-1, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from helpers.training.loop import check_num_steps

DOMAINS = ("A", "B", "neither")


class DomainClassifier(nn.Module):
    """A small CNN: images (N, 3, H, W) in [-1, 1] -> logits (N, 3) of the classes :data:`DOMAINS`: a photo of
    domain A, of domain B, or neither (noise, scrambled or noise-covered images: what an untrained generator makes).
    Any H, W >= 16."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * width, len(DOMAINS)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def not_a_photo(real: torch.Tensor) -> torch.Tensor:
    """Images that belong to neither domain, made from real crops (N, 3, H, W) in [-1, 1], on their device: a third
    smooth or speckled colour noise, a third buried under Gaussian noise, a third scrambled in 8×8 tiles."""
    n, c, h, w = real.shape
    k = n // 3
    scale = int(torch.randint(1, 5, ()).item())  # colour blobs of 2, 4, 8 or 16 pixels
    coarse = torch.rand(k, c, max(1, h // (2**scale)), max(1, w // (2**scale)), device=real.device) * 2 - 1
    blobs = nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    noisy = (real[k : 2 * k] + torch.randn_like(real[k : 2 * k]) * (0.5 + torch.rand((), device=real.device))).clamp(
        -1, 1
    )
    rest = real[2 * k :]
    tile = 8 if h % 8 == 0 and w % 8 == 0 else 1
    tiles = rest.unfold(2, tile, tile).unfold(3, tile, tile)  # (m, c, h/t, w/t, t, t)
    m, _, th, tw = tiles.shape[:4]
    order = torch.argsort(torch.rand(m, th * tw, device=real.device), dim=1)
    flat = tiles.reshape(m, c, th * tw, tile, tile)
    flat = torch.gather(flat, 2, order[:, None, :, None, None].expand_as(flat))
    scrambled = flat.reshape(m, c, th, tw, tile, tile).permute(0, 1, 2, 4, 3, 5).reshape(m, c, h, w)
    return torch.cat([blobs, noisy, scrambled])


def train_domain_classifier(
    data, crop_size: int, *, num_steps: int = 300, batch_size: int = 32, lr: float = 2e-3
) -> DomainClassifier:
    """Train a :class:`DomainClassifier` on real crops of A and B from ``data`` and on :func:`not_a_photo` images
    (A -> 0, B -> 1, neither -> 2); returns it in eval mode, on the data's device. Seconds on a CPU at 64x64."""
    check_num_steps(num_steps)
    a, _ = data.sample(1, crop_size)
    net = DomainClassifier().to(a.device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    targets = torch.arange(len(DOMAINS), device=a.device).repeat_interleave(batch_size)
    for _ in range(num_steps):
        real_a, real_b = data.sample(batch_size, crop_size)
        neither = not_a_photo(torch.cat([real_a, real_b])[torch.randperm(2 * batch_size, device=a.device)[:batch_size]])
        loss = nn.functional.cross_entropy(net(torch.cat([real_a, real_b, neither])), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def domain_share(classifier: nn.Module, images: torch.Tensor, domain: str) -> float:
    """Share (0..1) of ``images`` (N, 3, H, W) in [-1, 1] that ``classifier`` assigns to ``domain``
    ("A", "B" or "neither"), the class of the largest logit."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
    return float((classifier(images).argmax(dim=1) == DOMAINS.index(domain)).float().mean())


@torch.no_grad()
def cycle_error(G_forward: nn.Module, G_back: nn.Module, images: torch.Tensor) -> float:
    """Mean absolute difference between ``images`` and ``G_back(G_forward(images))`` (pixels in [-1, 1]; 0 is
    perfect). Both generators are run in eval mode."""
    modes = G_forward.training, G_back.training
    G_forward.eval(), G_back.eval()
    try:
        return float((G_back(G_forward(images)) - images).abs().mean())
    finally:
        G_forward.train(modes[0]), G_back.train(modes[1])
