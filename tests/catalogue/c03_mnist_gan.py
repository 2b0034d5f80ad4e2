"""Lesson 3 (MNIST GAN): independently written correct answers and typical mistakes, one entry per exercise.

Format: see tests/catalogue/README.md. Each source replaces the whole solution cell of a student notebook.
"""

LESSON = "03_mnist_gan"

EXERCISES = {
    "Generator": {
        "test": "test_Generator",
        "correct": {
            "nn.Sequential inside a class": """
class Generator(nn.Module):
    def __init__(self, latent_dim=100):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 128), nn.LeakyReLU(0.01), nn.Linear(128, 784), nn.Tanh())

    def forward(self, z):
        return self.net(z)
""",
            "two layers and functional activations": """
import torch.nn.functional as F


class Generator(nn.Module):
    def __init__(self, latent_dim=100, hidden=128):
        super().__init__()
        self.fc1 = nn.Linear(latent_dim, hidden)
        self.fc2 = nn.Linear(hidden, 28 * 28)

    def forward(self, z):
        h = F.leaky_relu(self.fc1(z), negative_slope=0.01)
        return torch.tanh(self.fc2(h))
""",
            "a subclass of nn.Sequential": """
class Generator(nn.Sequential):
    def __init__(self, latent_dim=100):
        super().__init__(
            nn.Linear(latent_dim, 128),
            nn.LeakyReLU(negative_slope=0.01),
            nn.Linear(128, 784),
            nn.Tanh(),
        )
""",
        },
        "mistakes": {
            "ReLU instead of LeakyReLU(0.01)": (
                "ReLU instead of LeakyReLU",
                """
class Generator(nn.Module):
    def __init__(self, latent_dim=100):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 128), nn.ReLU(), nn.Linear(128, 784), nn.Tanh())

    def forward(self, z):
        return self.net(z)
""",
            ),
            "latent size hard-coded to 100": (
                "parameter 1",
                """
class Generator(nn.Module):
    def __init__(self, latent_dim=100):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(100, 128), nn.LeakyReLU(0.01), nn.Linear(128, 784), nn.Tanh())

    def forward(self, z):
        return self.net(z)
""",
            ),
            "sigmoid output, pixels in (0, 1)": (
                "sigmoid output instead of tanh",
                """
class Generator(nn.Module):
    def __init__(self, latent_dim=100):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 128), nn.LeakyReLU(0.01), nn.Linear(128, 784), nn.Sigmoid())

    def forward(self, z):
        return self.net(z)
""",
            ),
            "Keras' default LeakyReLU slope 0.3": (
                "slope 0.3",
                """
class Generator(nn.Module):
    def __init__(self, latent_dim=100):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 128), nn.LeakyReLU(0.3), nn.Linear(128, 784), nn.Tanh())

    def forward(self, z):
        return self.net(z)
""",
            ),
            "a wider hidden layer": (
                "(128, 100)",
                """
class Generator(nn.Module):
    def __init__(self, latent_dim=100):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 256), nn.LeakyReLU(0.01), nn.Linear(256, 784), nn.Tanh())

    def forward(self, z):
        return self.net(z)
""",
            ),
        },
    },
    "Discriminator": {
        "test": "test_Discriminator",
        "correct": {
            "nn.Sequential inside a class": """
class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(784, 128), nn.LeakyReLU(0.01), nn.Linear(128, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)
""",
            "flattens any image batch, functional activations": """
import torch.nn.functional as F


class Discriminator(nn.Module):
    def __init__(self, image_size=784, hidden=128):
        super().__init__()
        self.hidden = nn.Linear(image_size, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        x = x.flatten(start_dim=1)
        return torch.sigmoid(self.out(F.leaky_relu(self.hidden(x), 0.01)))
""",
            "a subclass of nn.Sequential": """
class Discriminator(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Linear(28 * 28, 128), nn.LeakyReLU(0.01), nn.Linear(128, 1), nn.Sigmoid())
""",
        },
        "mistakes": {
            "no sigmoid: a logit, not a probability": (
                "[0, 1]",
                """
class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(784, 128), nn.LeakyReLU(0.01), nn.Linear(128, 1))

    def forward(self, x):
        return self.net(x)
""",
            ),
            "ReLU instead of LeakyReLU(0.01)": (
                "ReLU instead of LeakyReLU",
                """
class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)
""",
            ),
            "ten outputs, as a classifier": (
                "(1, 128)",
                """
class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(784, 128), nn.LeakyReLU(0.01), nn.Linear(128, 10), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)
""",
            ),
            "Keras' default LeakyReLU slope 0.3": (
                "slope 0.3",
                """
class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(784, 128), nn.LeakyReLU(0.3), nn.Linear(128, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)
""",
            ),
            "no biases": (
                "bias of size 128",
                """
class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(784, 128, bias=False), nn.LeakyReLU(0.01), nn.Linear(128, 1, bias=False), nn.Sigmoid()
        )

    def forward(self, x):
        return self.net(x)
""",
            ),
        },
    },
    "sample_noise": {
        "test": "test_sample_noise",
        "correct": {
            "torch.normal with a size": """
def sample_noise(batch_size, z_dim, device=None):
    return torch.normal(0.0, 1.0, size=(batch_size, z_dim), device=device)
""",
            "normal_ in place on an empty tensor": """
def sample_noise(batch_size, z_dim, device=None):
    return torch.empty(batch_size, z_dim, device=device).normal_()
""",
            "torch.distributions.Normal, then moved": """
def sample_noise(batch_size, z_dim, device=None):
    z = torch.distributions.Normal(0.0, 1.0).sample((batch_size, z_dim))
    return z if device is None else z.to(device)
""",
        },
        "mistakes": {
            "uniform noise": (
                "torch.randn",
                """
def sample_noise(batch_size, z_dim, device=None):
    return torch.rand(batch_size, z_dim, device=device)
""",
            ),
            "device ignored": (
                "device",
                """
def sample_noise(batch_size, z_dim, device=None):
    return torch.randn(batch_size, z_dim)
""",
            ),
            "dimensions swapped": (
                "swapped",
                """
def sample_noise(batch_size, z_dim, device=None):
    return torch.randn(z_dim, batch_size, device=device)
""",
            ),
            "one z repeated for the whole batch": (
                "every row",
                """
def sample_noise(batch_size, z_dim, device=None):
    return torch.randn(1, z_dim, device=device).repeat(batch_size, 1)
""",
            ),
            "float64 NumPy noise": (
                "float32",
                """
import numpy as np

def sample_noise(batch_size, z_dim, device=None):
    return torch.from_numpy(np.random.randn(batch_size, z_dim)).to(device)
""",
            ),
            "a sum of twelve uniforms minus six (mean 0, std 1, not normal)": (
                "is not standard normal",
                """
def sample_noise(batch_size, z_dim, device=None):
    # the old trick: by the central limit theorem, close to normal (and bounded to [-6, 6])
    return torch.rand(batch_size, z_dim, 12, device=device).sum(dim=-1) - 6
""",
            ),
        },
    },
    "discriminator_loss": {
        "test": "test_discriminator_loss",
        "correct": {
            "F.binary_cross_entropy with target tensors": """
import torch.nn.functional as F

def discriminator_loss(d_real, d_fake):
    return F.binary_cross_entropy(d_real, torch.ones_like(d_real)) + \\
        F.binary_cross_entropy(d_fake, torch.zeros_like(d_fake))
""",
            "nn.BCELoss module": """
bce = torch.nn.BCELoss()

def discriminator_loss(d_real, d_fake):
    real_loss = bce(d_real, torch.ones_like(d_real))
    fake_loss = bce(d_fake, torch.zeros_like(d_fake))
    return real_loss + fake_loss
""",
            "logs with a small epsilon added": """
def discriminator_loss(d_real, d_fake):
    eps = 1e-8
    return -(torch.log(d_real + eps).mean() + torch.log(1 - d_fake + eps).mean())
""",
            # float32 targets: right for D's float32 outputs (the hidden tests must not feed float64)
            "nn.BCELoss() with torch.ones(shape, device=...) targets": """
from torch import nn

def discriminator_loss(d_real, d_fake):
    real_loss = nn.BCELoss()(d_real, torch.ones(d_real.shape, device=d_real.device))
    fake_loss = nn.BCELoss()(d_fake, torch.zeros(d_fake.shape, device=d_fake.device))
    return real_loss + fake_loss
""",
            # the lesson's description of F.binary_cross_entropy: logs clamped at -100 (a NaN gradient at exactly 0)
            "logs clamped at -100 after the log": """
def discriminator_loss(d_real, d_fake):
    real_term = torch.clamp(torch.log(d_real), min=-100).mean()
    fake_term = torch.clamp(torch.log(1 - d_fake), min=-100).mean()
    return -(real_term + fake_term)
""",
        },
        "mistakes": {
            "targets swapped": (
                "right way round",
                """
def discriminator_loss(d_real, d_fake):
    return torch.nn.functional.binary_cross_entropy(d_real, torch.zeros_like(d_real)) + \\
        torch.nn.functional.binary_cross_entropy(d_fake, torch.ones_like(d_fake))
""",
            ),
            "wrong sign": (
                "sign",
                """
def discriminator_loss(d_real, d_fake):
    eps = 1e-7
    return torch.log(d_real.clamp(eps, 1 - eps)).mean() + torch.log((1 - d_fake).clamp(eps, 1 - eps)).mean()
""",
            ),
            "one BCE over both batches concatenated": (
                "one mean over both batches",
                """
def discriminator_loss(d_real, d_fake):
    d_all = torch.cat([d_real.flatten(), d_fake.flatten()])
    targets = torch.cat([torch.ones(d_real.numel()), torch.zeros(d_fake.numel())]).to(d_all)
    return torch.nn.functional.binary_cross_entropy(d_all, targets)
""",
            ),
            "sums instead of means": (
                "sums instead of means",
                """
def discriminator_loss(d_real, d_fake):
    eps = 1e-7
    return -torch.log(d_real.clamp(eps, 1 - eps)).sum() - torch.log((1 - d_fake).clamp(eps, 1 - eps)).sum()
""",
            ),
            "no clamp before log": (
                "clamp",
                """
def discriminator_loss(d_real, d_fake):
    return -torch.log(d_real).mean() - torch.log(1 - d_fake).mean()
""",
            ),
        },
    },
    "generator_loss": {
        "test": "test_generator_loss",
        "correct": {
            "F.binary_cross_entropy for both": """
import torch.nn.functional as F

def generator_loss(d_fake, saturating=False):
    if saturating:
        return -F.binary_cross_entropy(d_fake, torch.zeros_like(d_fake))
    return F.binary_cross_entropy(d_fake, torch.ones_like(d_fake))
""",
            "log1p and clamp_min": """
def generator_loss(d_fake, saturating=False):
    if not saturating:
        return -d_fake.clamp_min(1e-6).log().mean()
    return torch.log1p(-d_fake.clamp_max(1 - 1e-6)).mean()
""",
            "nn.BCELoss with a sign": """
def generator_loss(d_fake, saturating=False):
    bce = torch.nn.BCELoss()
    target = torch.zeros_like(d_fake) if saturating else torch.ones_like(d_fake)
    sign = -1.0 if saturating else 1.0
    return sign * bce(d_fake, target)
""",
            "nn.BCELoss() with torch.ones(shape, device=...) targets": """
from torch import nn

def generator_loss(d_fake, saturating=False):
    if saturating:
        return -nn.BCELoss()(d_fake, torch.zeros(d_fake.shape, device=d_fake.device))
    return nn.BCELoss()(d_fake, torch.ones(d_fake.shape, device=d_fake.device))
""",
            "logs clamped at -100 after the log": """
def generator_loss(d_fake, saturating=False):
    if saturating:
        return torch.clamp(torch.log(1 - d_fake), min=-100).mean()
    return -torch.clamp(torch.log(d_fake), min=-100).mean()
""",
        },
        "mistakes": {
            "saturating ignored": (
                "is the argument ignored?",
                """
def generator_loss(d_fake, saturating=False):
    return torch.nn.functional.binary_cross_entropy(d_fake, torch.ones_like(d_fake))
""",
            ),
            "wrong sign of the non-saturating loss": (
                "sign",
                """
def generator_loss(d_fake, saturating=False):
    d_fake = d_fake.clamp(1e-7, 1 - 1e-7)
    if saturating:
        return torch.log(1 - d_fake).mean()
    return torch.log(d_fake).mean()
""",
            ),
            "D's fake term as G's loss": (
                "fooled",
                """
def generator_loss(d_fake, saturating=False):
    d_fake = d_fake.clamp(1e-7, 1 - 1e-7)
    if saturating:
        return torch.log(1 - d_fake).mean()
    return -torch.log(1 - d_fake).mean()
""",
            ),
            "sum instead of mean": (
                "a sum instead of a mean",
                """
def generator_loss(d_fake, saturating=False):
    d_fake = d_fake.clamp(1e-7, 1 - 1e-7)
    if saturating:
        return torch.log(1 - d_fake).sum()
    return -torch.log(d_fake).sum()
""",
            ),
            "detached from the graph": (
                "detach",
                """
def generator_loss(d_fake, saturating=False):
    d_fake = d_fake.detach().clamp(1e-7, 1 - 1e-7)
    if saturating:
        return torch.log(1 - d_fake).mean()
    return -torch.log(d_fake).mean()
""",
            ),
        },
    },
    "discriminator_step": {
        "test": "test_discriminator_step",
        "correct": {
            "detach, D.zero_grad(), D(fake) judged first": """
def discriminator_step(G, D, opt_D, real, z, d_loss):
    fake = G(z).detach()
    d_fake = D(fake)
    d_real = D(real)
    loss = d_loss(d_real, d_fake)
    D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss
""",
            "torch.no_grad(), zero_grad(set_to_none=False) first, loss.detach() returned": """
def discriminator_step(G, D, opt_D, real, z, d_loss):
    opt_D.zero_grad(set_to_none=False)
    with torch.no_grad():
        fake = G(z)
    loss = d_loss(D(real), D(fake))
    loss.backward()
    opt_D.step()
    return loss.detach()
""",
            "D once on torch.cat([real, fake]), then split": """
def discriminator_step(G, D, opt_D, real, z, d_loss):
    fake = G(z)
    scores = D(torch.cat([real, fake.detach()], dim=0))
    d_real, d_fake = scores[:len(real)], scores[len(real):]
    loss = d_loss(d_real, d_fake)
    opt_D.zero_grad(set_to_none=True)
    loss.backward()
    opt_D.step()
    return loss
""",
        },
        "mistakes": {
            "no detach": (
                ".detach()",
                """
def discriminator_step(G, D, opt_D, real, z, d_loss):
    fake = G(z)
    loss = d_loss(D(real), D(fake))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss
""",
            ),
            "old gradients not cleared": (
                "zero_grad",
                """
def discriminator_step(G, D, opt_D, real, z, d_loss):
    fake = G(z).detach()
    loss = d_loss(D(real), D(fake))
    loss.backward()
    opt_D.step()
    return loss
""",
            ),
            "no optimizer step": (
                "opt_D.step()",
                """
def discriminator_step(G, D, opt_D, real, z, d_loss):
    fake = G(z).detach()
    loss = d_loss(D(real), D(fake))
    opt_D.zero_grad()
    loss.backward()
    return loss
""",
            ),
            "d_loss's arguments swapped": (
                "arguments swapped",
                """
def discriminator_step(G, D, opt_D, real, z, d_loss):
    fake = G(z).detach()
    loss = d_loss(D(fake), D(real))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss
""",
            ),
            "loss.item() returned": (
                "return the loss tensor itself",
                """
def discriminator_step(G, D, opt_D, real, z, d_loss):
    fake = G(z).detach()
    loss = d_loss(D(real), D(fake))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss.item()
""",
            ),
        },
    },
    "generator_step": {
        "test": "test_generator_step",
        "correct": {
            "opt_G.zero_grad() first": """
def generator_step(G, D, opt_G, z, g_loss):
    opt_G.zero_grad()
    loss = g_loss(D(G(z)))
    loss.backward()
    opt_G.step()
    return loss
""",
            "D frozen during the step, G.zero_grad(set_to_none=True)": """
def generator_step(G, D, opt_G, z, g_loss):
    for p in D.parameters():
        p.requires_grad_(False)
    fake = G(z)
    loss = g_loss(D(fake))
    G.zero_grad(set_to_none=True)
    loss.backward()
    opt_G.step()
    for p in D.parameters():
        p.requires_grad_(True)
    return loss
""",
            "zero_grad(set_to_none=False) after the forward pass, loss.detach() returned": """
def generator_step(G, D, opt_G, z, g_loss):
    images = G(z)
    verdict = D(images)
    loss = g_loss(verdict)
    opt_G.zero_grad(set_to_none=False)
    loss.backward()
    opt_G.step()
    return loss.detach()
""",
        },
        "mistakes": {
            "G's output detached": (
                "no gradient reached G",
                """
def generator_step(G, D, opt_G, z, g_loss):
    fake = G(z).detach()
    loss = g_loss(D(fake))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss
""",
            ),
            "old gradients not cleared": (
                "zero_grad",
                """
def generator_step(G, D, opt_G, z, g_loss):
    loss = g_loss(D(G(z)))
    loss.backward()
    opt_G.step()
    return loss
""",
            ),
            "own noise drawn": (
                "use the z you were given",
                """
def generator_step(G, D, opt_G, z, g_loss):
    fresh = torch.randn_like(z)
    loss = g_loss(D(G(fresh)))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss
""",
            ),
            "loss.item() returned": (
                "return the loss tensor itself",
                """
def generator_step(G, D, opt_G, z, g_loss):
    loss = g_loss(D(G(z)))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss.item()
""",
            ),
            "no optimizer step": (
                "opt_G.step()",
                """
def generator_step(G, D, opt_G, z, g_loss):
    loss = g_loss(D(G(z)))
    opt_G.zero_grad()
    loss.backward()
    return loss
""",
            ),
        },
    },
}
