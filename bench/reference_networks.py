"""Reference networks of lessons 3 and 4, for the benchmarks and the tests.

``helpers/`` never holds an exercise's answer: lesson 3's students write the *GANs in Action* MLP generator and
discriminator themselves (``Generator``, ``Discriminator``), lesson 4's the conditional ones
(``ConditionalGenerator``, ``ConditionalDiscriminator``). The benchmark scripts (``bench/``) and the unit tests pass
these instead. This folder is a developer tool: it is not part of the student bundle.
"""

from __future__ import annotations

import torch
from torch import nn


class MLPGenerator(nn.Module):
    """*GANs in Action* ch. 3 generator: z (latent_dim) → hidden, LeakyReLU(0.01) → 784, tanh.

    Input (N, latent_dim) standard-normal noise; output (N, 784) in [-1, 1] (a flattened 28×28 image).
    """

    def __init__(self, latent_dim: int = 100, hidden: int = 128, image_size: int = 784):
        super().__init__()
        self.latent_dim = latent_dim
        self.model = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, image_size), nn.Tanh()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


class MLPDiscriminator(nn.Module):
    """*GANs in Action* ch. 3 discriminator: 784 → hidden, LeakyReLU(0.01) → 1, sigmoid.

    Input (N, 784) or (N, 1, 28, 28) in [-1, 1]; output (N, 1), the probability that each image is real.
    """

    def __init__(self, hidden: int = 128, image_size: int = 784):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(image_size, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, 1), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(x.shape[0], -1))


# -- lesson 4: the conditional GAN ------------------------------------------------------------------------------------


def _check_combined(combined, expected_width: int, batch_size: int, function, net: str) -> torch.Tensor:
    """The output of a CGAN's combining function, checked: (batch_size, expected_width), floating point."""
    name = getattr(function, "__name__", repr(function))
    if not isinstance(combined, torch.Tensor):
        raise TypeError(
            f"{net}: {name} returned {type(combined).__name__}, not a tensor. It must return the "
            f"concatenated (batch, {expected_width}) tensor (did you forget `return`?)."
        )
    if tuple(combined.shape) != (batch_size, expected_width):
        raise ValueError(
            f"{net}: {name} returned shape {tuple(combined.shape)}, but the first layer expects "
            f"({batch_size}, {expected_width}): one row per example, the pieces concatenated on the "
            f"last axis (torch.cat(..., dim=-1))."
        )
    if not combined.is_floating_point():
        raise TypeError(
            f"{net}: {name} returned dtype {combined.dtype}; the first layer needs floating point "
            f"values (concatenate the embedding vectors, not the integer labels)."
        )
    return combined


def _require_function(function, net: str, expected: str) -> None:
    if function is None or not callable(function):
        raise TypeError(
            f"{net} needs the function that builds its input as first argument, e.g. "
            f"{net}({expected}, ...); got {function!r}."
        )


class CGANGenerator(nn.Module):
    """Conditional generator (CGAN, the MLP of the lesson's reference blog, seed 001): [label embedding, z] → 784
    pixels, tanh.

    ``combine(z, labels, self.embedding)`` builds the (B, num_classes + latent_dim) input; it is passed in
    (the lesson's exercise), so this class does not decide the order of the concatenation.
    Layers: → 128, LeakyReLU(0.2) → 256 → 512 → 1024, each Linear → BatchNorm1d → LeakyReLU(0.2) → 784, tanh.
    BatchNorm1d uses ``momentum=0.2``, the course's choice (the blog keeps PyTorch's default 0.1): PyTorch's momentum
    is the weight of the *new* batch statistics, so 0.2 is Keras' ``momentum=0.8``; PyTorch-GAN's ``cgan.py`` writes
    ``BatchNorm1d(n, 0.8)``, which sets eps, the second positional argument, to 0.8 instead.

    Args:
        combine: ``combine(z, labels, embedding) -> (B, num_classes + latent_dim)`` float tensor.
        latent_dim: length of z. num_classes: number of labels (size of the embedding table and of each embedding).
        image_size: pixels per image (784 = 28 × 28).

    Input: z (B, latent_dim) float, labels (B,) int64 in [0, num_classes), same device.
    Output: (B, image_size) in [-1, 1] (flattened images), on that device.
    """

    def __init__(self, combine, latent_dim: int = 100, num_classes: int = 10, image_size: int = 784):
        super().__init__()
        _require_function(combine, "CGANGenerator", "generator_input")
        if latent_dim < 1 or num_classes < 1 or image_size < 1:
            raise ValueError(
                f"latent_dim, num_classes and image_size must be at least 1, "
                f"got {latent_dim}, {num_classes}, {image_size}"
            )
        self.combine = combine
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.embedding = nn.Embedding(num_classes, num_classes)

        def block(n_in: int, n_out: int) -> list[nn.Module]:
            return [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out, momentum=0.2), nn.LeakyReLU(0.2)]

        self.model = nn.Sequential(
            nn.Linear(num_classes + latent_dim, 128),
            nn.LeakyReLU(0.2),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, image_size),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        combined = self.combine(z, labels, self.embedding)
        width = self.num_classes + self.latent_dim
        return self.model(_check_combined(combined, width, len(z), self.combine, "CGANGenerator"))


class CGANDiscriminator(nn.Module):
    """Conditional discriminator: [flattened image, label embedding] → 512 → 512 → 512 → 1, sigmoid.

    ``combine(images, labels, self.embedding)`` builds the (B, image_size + num_classes) input (the lesson's
    exercise). Layers: → 512, LeakyReLU(0.2) → 512, Dropout(0.4), LeakyReLU(0.2) → 512, Dropout(0.4),
    LeakyReLU(0.2) → 1, sigmoid. D has its own embedding table, separate from G's.

    Input: images (B, 784) or (B, 1, 28, 28) in [-1, 1], labels (B,) int64, same device.
    Output: (B, 1) probabilities that each (image, label) pair is real.
    """

    def __init__(self, combine, num_classes: int = 10, image_size: int = 784, dropout: float = 0.4):
        super().__init__()
        _require_function(combine, "CGANDiscriminator", "discriminator_input")
        if num_classes < 1 or image_size < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"num_classes and image_size must be at least 1 and dropout in [0, 1), "
                f"got {num_classes}, {image_size}, {dropout}"
            )
        self.combine = combine
        self.num_classes, self.image_size = num_classes, image_size
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.model = nn.Sequential(
            nn.Linear(image_size + num_classes, 512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 512),
            nn.Dropout(dropout),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 512),
            nn.Dropout(dropout),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 1),
            nn.Sigmoid(),
        )

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        combined = self.combine(images, labels, self.embedding)
        width = self.image_size + self.num_classes
        return self.model(_check_combined(combined, width, len(images), self.combine, "CGANDiscriminator"))


# -- lesson 5: CycleGAN's residual block and 70x70 PatchGAN (the official junyanz layouts) --------------------------


def _instance_norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """The official residual block (junyanz ``ResnetBlock`` with reflection padding, InstanceNorm, no dropout):
    x + [pad, conv3x3, IN, ReLU, pad, conv3x3, IN](x); shape (N, dim, H, W) kept. Keys ``conv_block.1`` and
    ``conv_block.5`` (weight and bias), as in the authors' pretrained generators. Lesson 5's students write it; pass
    it as ``ResnetGenerator(block=ResnetBlock, ...)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=True),
            _instance_norm(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=True),
            _instance_norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class NLayerDiscriminator(nn.Module):
    """The official PatchGAN discriminator (``n_layers=3``: each output sees a 70x70 patch). Lesson 5's students write
    it (for ``n_layers=3``).

    Input (N, input_nc, H, W); output raw scores (N, 1, H/8 - 2, W/8 - 2), e.g. (N, 1, 30, 30) for 256x256 and
    (N, 1, 6, 6) for 64x64 (no sigmoid: the least-squares GAN loss compares scores with 1 and 0). Weights as PyTorch
    initialises them: the lesson (and :func:`helpers.models.cyclegan.init_weights`) sets the official N(0, 0.02).
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            previous, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * previous, ndf * mult, 4, stride=2, padding=1, bias=True),
                _instance_norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        previous, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * previous, ndf * mult, 4, stride=1, padding=1, bias=True),
            _instance_norm(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
