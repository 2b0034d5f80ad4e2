"""Lesson 5 (CycleGAN): independently written correct answers and typical mistakes, one entry per exercise.

Format: see tests/catalogue/README.md. Each source replaces the whole solution cell of a student notebook.
The two networks (ResnetBlock, NLayerDiscriminator) must keep the official junyanz state-dict keys in every correct
form, so that the authors' pretrained weights load into them.
While grading, the functions of discriminator_loss, identity_loss, generator_loss and of the two training steps
(generator_step, discriminator_step, which call the loss exercises) run with the other exercises' names bound to
reference versions (``_GRADING_REFERENCES``, grader/answer_cells.py), so each mistake below costs only its own
exercise's points.
"""

LESSON = "05_cyclegan"

EXERCISES = {
    "ResnetBlock": {
        "test": "test_ResnetBlock",
        "correct": {
            "the list built in a loop, keyword arguments": """
class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        layers = []
        for i in range(2):
            layers += [
                nn.ReflectionPad2d(1),
                nn.Conv2d(in_channels=dim, out_channels=dim, kernel_size=3, bias=True),
                nn.InstanceNorm2d(dim, affine=False, track_running_stats=False),
            ]
            if i == 0:
                layers.append(nn.ReLU(inplace=True))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        out = self.conv_block(x)
        return out + x
""",
            "reflect padding inside the convolutions, placeholders keep the positions": """
class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        def conv():
            return nn.Conv2d(dim, dim, 3, padding=1, padding_mode="reflect")
        self.conv_block = nn.Sequential(
            nn.Identity(), conv(), nn.InstanceNorm2d(dim), nn.ReLU(),
            nn.Identity(), conv(), nn.InstanceNorm2d(dim),
        )

    def forward(self, x):
        return torch.add(x, self.conv_block(x))
""",
            "an OrderedDict with the official names and a functional ReLU module": """
from collections import OrderedDict

import torch.nn.functional as F


class _ReLU(nn.Module):
    def forward(self, h):
        return F.relu(h)


class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(OrderedDict([
            ("0", nn.ReflectionPad2d((1, 1, 1, 1))),
            ("1", nn.Conv2d(dim, dim, (3, 3))),
            ("2", nn.InstanceNorm2d(dim)),
            ("3", _ReLU()),
            ("4", nn.ReflectionPad2d(1)),
            ("5", nn.Conv2d(dim, dim, (3, 3))),
            ("6", nn.InstanceNorm2d(dim)),
        ]))

    def forward(self, x):
        return x + self.conv_block(x)
""",
        },
        "mistakes": {
            "zero padding": (
                "zero padding instead of reflection padding",
                """
class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ZeroPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ZeroPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim),
        )

    def forward(self, x):
        return x + self.conv_block(x)
""",
            ),
            "padding inside the convolutions: the keys shift": (
                "a layer added, dropped or moved shifts every number",
                """
class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.Conv2d(dim, dim, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.Conv2d(dim, dim, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(dim),
        )

    def forward(self, x):
        return x + self.conv_block(x)
""",
            ),
            "BatchNorm instead of InstanceNorm": (
                "(running_mean, running_var) come from a BatchNorm2d",
                """
class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.BatchNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.BatchNorm2d(dim),
        )

    def forward(self, x):
        return x + self.conv_block(x)
""",
            ),
            "no skip connection": (
                "no skip connection",
                """
class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim),
        )

    def forward(self, x):
        return self.conv_block(x)
""",
            ),
            "ReLU after the sum": (
                "a ReLU after the sum",
                """
class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim),
        )

    def forward(self, x):
        return torch.relu(x + self.conv_block(x))
""",
            ),
        },
    },
    "NLayerDiscriminator": {
        "test": "test_NLayerDiscriminator",
        "correct": {
            "the official loop over the middle convolutions": """
class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc=3, ndf=64):
        super().__init__()
        layers = [nn.Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        channels = ndf
        for stride in (2, 2, 1):
            layers += [
                nn.Conv2d(channels, 2 * channels, kernel_size=4, stride=stride, padding=1),
                nn.InstanceNorm2d(2 * channels),
                nn.LeakyReLU(0.2, True),
            ]
            channels *= 2
        layers.append(nn.Conv2d(channels, 1, kernel_size=4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)
""",
            "a ModuleList run by hand in forward": """
import torch.nn.functional as F


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc=3, ndf=64):
        super().__init__()
        widths = [input_nc, ndf, ndf * 2, ndf * 4, ndf * 8]
        strides = [2, 2, 2, 1]
        modules = []
        for i in range(4):
            modules.append(nn.Conv2d(widths[i], widths[i + 1], 4, strides[i], 1))
            if i > 0:
                modules.append(nn.InstanceNorm2d(widths[i + 1], affine=False))
            modules.append(nn.LeakyReLU(negative_slope=0.2))
        modules.append(nn.Conv2d(widths[-1], 1, 4, 1, 1))
        self.model = nn.ModuleList(modules)

    def forward(self, x):
        for layer in self.model:
            x = layer(x)
        return x
""",
            "a helper that returns conv, norm, activation": """
def block(c_in, c_out, stride, norm=True):
    layers = [nn.Conv2d(c_in, c_out, 4, stride=stride, padding=1, padding_mode="zeros")]
    if norm:
        layers.append(nn.InstanceNorm2d(c_out, track_running_stats=False))
    return layers + [nn.LeakyReLU(0.2)]


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc=3, ndf=64):
        super().__init__()
        self.model = nn.Sequential(
            *block(input_nc, ndf, 2, norm=False),
            *block(ndf, ndf * 2, 2),
            *block(ndf * 2, ndf * 4, 2),
            *block(ndf * 4, ndf * 8, 1),
            nn.Conv2d(ndf * 8, 1, 4, stride=1, padding=1),
        )

    def forward(self, images):
        return self.model(images)
""",
        },
        "mistakes": {
            "LeakyReLU with PyTorch's default slope": (
                "slope 0.01",
                """
class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc=3, ndf=64):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1), nn.InstanceNorm2d(ndf * 2), nn.LeakyReLU(),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1), nn.InstanceNorm2d(ndf * 4), nn.LeakyReLU(),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 1, 1), nn.InstanceNorm2d(ndf * 8), nn.LeakyReLU(),
            nn.Conv2d(ndf * 8, 1, 4, 1, 1),
        )

    def forward(self, x):
        return self.model(x)
""",
            ),
            "a sigmoid at the end": (
                "a sigmoid at the end",
                """
class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc=3, ndf=64):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1), nn.InstanceNorm2d(ndf * 2), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1), nn.InstanceNorm2d(ndf * 4), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 1, 1), nn.InstanceNorm2d(ndf * 8), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 8, 1, 4, 1, 1), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.model(x)
""",
            ),
            "stride 2 in the fourth convolution": (
                "The 4th convolution has stride 1, not 2",
                """
class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc=3, ndf=64):
        super().__init__()
        layers = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        for mult in (1, 2, 4):
            c = ndf * mult * 2
            layers += [nn.Conv2d(ndf * mult, c, 4, 2, 1), nn.InstanceNorm2d(c), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(ndf * 8, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)
""",
            ),
            "3x3 kernels instead of 4x4": (
                "kernel_size=4",
                """
class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc=3, ndf=64):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, ndf * 2, 3, 2, 1), nn.InstanceNorm2d(ndf * 2), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, ndf * 4, 3, 2, 1), nn.InstanceNorm2d(ndf * 4), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 4, ndf * 8, 3, 1, 1), nn.InstanceNorm2d(ndf * 8), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 8, 1, 3, 1, 1),
        )

    def forward(self, x):
        return self.model(x)
""",
            ),
            "instance normalisation with a learned scale and shift": (
                "affine=False",
                """
class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc=3, ndf=64):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1), nn.InstanceNorm2d(ndf * 2, affine=True), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1), nn.InstanceNorm2d(ndf * 4, affine=True), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 1, 1), nn.InstanceNorm2d(ndf * 8, affine=True), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 8, 1, 4, 1, 1),
        )

    def forward(self, x):
        return self.model(x)
""",
            ),
        },
    },
    "lsgan_loss": {
        "test": "test_lsgan_loss",
        "correct": {
            "F.mse_loss against a full_like target": """
import torch.nn.functional as F

def lsgan_loss(prediction, target_is_real):
    return F.mse_loss(prediction, torch.full_like(prediction, float(target_is_real)))
""",
            "two branches": """
def lsgan_loss(prediction, target_is_real):
    if target_is_real:
        return ((prediction - 1) ** 2).mean()
    return (prediction ** 2).mean()
""",
            "nn.MSELoss with an expanded scalar target": """
def lsgan_loss(prediction, target_is_real):
    target = torch.tensor(1.0 if target_is_real else 0.0, dtype=prediction.dtype).expand_as(prediction)
    return torch.nn.MSELoss()(prediction, target)
""",
        },
        "mistakes": {
            "targets swapped": (
                "targets swapped",
                """
def lsgan_loss(prediction, target_is_real):
    target = 0.0 if target_is_real else 1.0
    return ((prediction - target) ** 2).mean()
""",
            ),
            "sum over the patch map": (
                "a sum instead of a mean",
                """
def lsgan_loss(prediction, target_is_real):
    return ((prediction - float(target_is_real)) ** 2).sum()
""",
            ),
            "absolute error": (
                "absolute error",
                """
def lsgan_loss(prediction, target_is_real):
    return (prediction - float(target_is_real)).abs().mean()
""",
            ),
            "BCE of the original GAN": (
                "binary cross-entropy",
                """
def lsgan_loss(prediction, target_is_real):
    target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
    return torch.nn.functional.binary_cross_entropy_with_logits(prediction, target)
""",
            ),
            "target ignored": (
                "target_is_real ignored",
                """
def lsgan_loss(prediction, target_is_real):
    return torch.mean((prediction - 1) ** 2)
""",
            ),
        },
    },
    "discriminator_loss": {
        "test": "test_discriminator_loss",
        "correct": {
            "calls lsgan_loss": """
def discriminator_loss(d_real, d_fake):
    return 0.5 * (lsgan_loss(d_real, True) + lsgan_loss(d_fake, False))
""",
            "F.mse_loss, halved": """
import torch.nn.functional as F

def discriminator_loss(d_real, d_fake):
    return (F.mse_loss(d_real, torch.ones_like(d_real)) + F.mse_loss(d_fake, torch.zeros_like(d_fake))) / 2
""",
            "mean of the two terms": """
def discriminator_loss(d_real, d_fake):
    return torch.stack([((d_real - 1) ** 2).mean(), d_fake.pow(2).mean()]).mean()
""",
        },
        "mistakes": {
            "no 0.5": (
                "the factor 0.5 is missing",
                """
def discriminator_loss(d_real, d_fake):
    return lsgan_loss(d_real, True) + lsgan_loss(d_fake, False)
""",
            ),
            "targets swapped": (
                "targets swapped",
                """
def discriminator_loss(d_real, d_fake):
    return 0.5 * (lsgan_loss(d_real, False) + lsgan_loss(d_fake, True))
""",
            ),
            "only real images": (
                "only the real term",
                """
def discriminator_loss(d_real, d_fake):
    return 0.5 * lsgan_loss(d_real, True)
""",
            ),
            "BCE": (
                "binary cross-entropy",
                """
import torch.nn.functional as F

def discriminator_loss(d_real, d_fake):
    return 0.5 * (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
""",
            ),
            "fake scores detached": (
                "no gradient reaches",
                """
def discriminator_loss(d_real, d_fake):
    return 0.5 * (lsgan_loss(d_real, True) + lsgan_loss(d_fake.detach(), False))
""",
            ),
        },
    },
    "cycle_consistency_loss": {
        "test": "test_cycle_consistency_loss",
        "correct": {
            "F.l1_loss": """
import torch.nn.functional as F

def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return lambda_cycle * F.l1_loss(reconstructed, real)
""",
            "mean of abs": """
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return torch.mean(torch.abs(real - reconstructed)) * lambda_cycle
""",
            "nn.L1Loss module, sum over numel": """
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    l1 = torch.nn.L1Loss(reduction="sum")(reconstructed, real) / real.numel()
    return lambda_cycle * l1
""",
        },
        "mistakes": {
            "L2": (
                "L2 (squared) error",
                """
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return lambda_cycle * torch.nn.functional.mse_loss(reconstructed, real)
""",
            ),
            "lambda forgotten": (
                "lambda_cycle forgotten",
                """
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return torch.nn.functional.l1_loss(reconstructed, real)
""",
            ),
            "hard-coded 10": (
                "fixed 10",
                """
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return 10.0 * (real - reconstructed).abs().mean()
""",
            ),
            "sum": (
                "a sum instead of a mean",
                """
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return lambda_cycle * (real - reconstructed).abs().sum()
""",
            ),
            "no absolute value": (
                "absolute value forgotten",
                """
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return lambda_cycle * (real - reconstructed).mean()
""",
            ),
        },
    },
    "identity_loss": {
        "test": "test_identity_loss",
        "correct": {
            "F.l1_loss times both weights": """
import torch.nn.functional as F

def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return lambda_identity * lambda_cycle * F.l1_loss(same, real)
""",
            "reuses cycle_consistency_loss": """
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return cycle_consistency_loss(real, same, lambda_cycle=lambda_identity * lambda_cycle)
""",
            "weight first": """
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    weight = lambda_cycle * lambda_identity
    return weight * (same - real).abs().mean()
""",
        },
        "mistakes": {
            "lambda_cycle forgotten": (
                "lambda_cycle forgotten",
                """
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return lambda_identity * (real - same).abs().mean()
""",
            ),
            "lambda_identity forgotten": (
                "lambda_identity forgotten",
                """
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return lambda_cycle * (real - same).abs().mean()
""",
            ),
            "L2": (
                "L2 (squared) error",
                """
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return lambda_identity * lambda_cycle * ((real - same) ** 2).mean()
""",
            ),
            "fixed weights": (
                "fixed 0.5 and 10",
                """
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return 5.0 * (real - same).abs().mean()
""",
            ),
            "weights added": (
                "instead of their product",
                """
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return (lambda_identity + lambda_cycle) * (real - same).abs().mean()
""",
            ),
        },
    },
    "generator_loss": {
        "test": "test_generator_loss",
        "correct": {
            "calls the other exercises": """
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    return (lsgan_loss(d_fake_b, True) + lsgan_loss(d_fake_a, True)
            + cycle_consistency_loss(real_a, cycled_a, lambda_cycle=lambda_cycle)
            + cycle_consistency_loss(real_b, cycled_b, lambda_cycle=lambda_cycle)
            + identity_loss(real_a, same_a, lambda_identity=lambda_identity, lambda_cycle=lambda_cycle)
            + identity_loss(real_b, same_b, lambda_identity=lambda_identity, lambda_cycle=lambda_cycle))
""",
            "written out with F": """
import torch.nn.functional as F

def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    adversarial = F.mse_loss(d_fake_b, torch.ones_like(d_fake_b)) + F.mse_loss(d_fake_a, torch.ones_like(d_fake_a))
    cycle = lambda_cycle * (F.l1_loss(cycled_a, real_a) + F.l1_loss(cycled_b, real_b))
    identity = lambda_identity * lambda_cycle * (F.l1_loss(same_a, real_a) + F.l1_loss(same_b, real_b))
    return adversarial + cycle + identity
""",
            "a list of terms, summed": """
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    terms = [lsgan_loss(d, True) for d in (d_fake_b, d_fake_a)]
    terms += [cycle_consistency_loss(r, c, lambda_cycle) for r, c in ((real_a, cycled_a), (real_b, cycled_b))]
    terms += [identity_loss(r, s, lambda_identity, lambda_cycle) for r, s in ((real_a, same_a), (real_b, same_b))]
    return sum(terms)
""",
        },
        "mistakes": {
            "one direction only": (
                "only the A -> B direction",
                """
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    return (lsgan_loss(d_fake_b, True) + cycle_consistency_loss(real_a, cycled_a, lambda_cycle)
            + identity_loss(real_a, same_a, lambda_identity, lambda_cycle))
""",
            ),
            "adversarial targets swapped": (
                "adversarial targets swapped",
                """
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    return (lsgan_loss(d_fake_b, False) + lsgan_loss(d_fake_a, False)
            + cycle_consistency_loss(real_a, cycled_a, lambda_cycle)
            + cycle_consistency_loss(real_b, cycled_b, lambda_cycle)
            + identity_loss(real_a, same_a, lambda_identity, lambda_cycle)
            + identity_loss(real_b, same_b, lambda_identity, lambda_cycle))
""",
            ),
            "identity forgotten": (
                "identity terms are missing",
                """
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    return (lsgan_loss(d_fake_b, True) + lsgan_loss(d_fake_a, True)
            + cycle_consistency_loss(real_a, cycled_a, lambda_cycle)
            + cycle_consistency_loss(real_b, cycled_b, lambda_cycle))
""",
            ),
            "L2 cycle written inline": (
                "L2 (squared) cycle loss",
                """
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    cycle = lambda_cycle * (((real_a - cycled_a) ** 2).mean() + ((real_b - cycled_b) ** 2).mean())
    return (lsgan_loss(d_fake_b, True) + lsgan_loss(d_fake_a, True) + cycle
            + identity_loss(real_a, same_a, lambda_identity, lambda_cycle)
            + identity_loss(real_b, same_b, lambda_identity, lambda_cycle))
""",
            ),
            "lambdas not passed on": (
                "lambdas not passed on",
                """
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    return (lsgan_loss(d_fake_b, True) + lsgan_loss(d_fake_a, True)
            + cycle_consistency_loss(real_a, cycled_a) + cycle_consistency_loss(real_b, cycled_b)
            + identity_loss(real_a, same_a) + identity_loss(real_b, same_b))
""",
            ),
        },
    },
    "generator_step": {
        "test": "test_generator_step",
        "correct": {
            "official: forward, freeze with a loop, skip identity at weight 0": """
def set_requires_grad(nets, flag):
    for net in nets:
        for p in net.parameters():
            p.requires_grad = flag

def generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle=10.0, lambda_identity=0.5):
    fake_b = G_AB(real_a)
    cycled_a = G_BA(fake_b)
    fake_a = G_BA(real_b)
    cycled_b = G_AB(fake_a)
    if lambda_identity > 0:
        same_a, same_b = G_BA(real_a), G_AB(real_b)
    else:
        same_a, same_b = real_a, real_b
    set_requires_grad([D_A, D_B], False)
    opt_G.zero_grad()
    loss_G = generator_loss(D_B(fake_b), D_A(fake_a), real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                            lambda_cycle=lambda_cycle, lambda_identity=lambda_identity)
    loss_G.backward()
    opt_G.step()
    set_requires_grad([D_A, D_B], True)
    return loss_G, fake_a, fake_b
""",
            "keywords, model.zero_grad, try/finally": """
def generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle=10.0, lambda_identity=0.5):
    for D in (D_A, D_B):
        D.requires_grad_(False)
    try:
        same_b, same_a = G_AB(real_b), G_BA(real_a)
        fake_a = G_BA(real_b)
        fake_b = G_AB(real_a)
        loss = generator_loss(d_fake_b=D_B(fake_b), d_fake_a=D_A(fake_a), real_a=real_a, cycled_a=G_BA(fake_b),
                              real_b=real_b, cycled_b=G_AB(fake_a), same_a=same_a, same_b=same_b,
                              lambda_cycle=lambda_cycle, lambda_identity=lambda_identity)
        G_AB.zero_grad(set_to_none=False)
        G_BA.zero_grad(set_to_none=False)
        loss.backward()
        opt_G.step()
    finally:
        for D in (D_A, D_B):
            D.requires_grad_(True)
    return loss.detach(), fake_a.detach(), fake_b.detach()
""",
            "its own loss terms from the loss exercises": """
def generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle=10.0, lambda_identity=0.5):
    opt_G.zero_grad(set_to_none=True)
    D_A.requires_grad_(False)
    D_B.requires_grad_(False)
    fake_b, fake_a = G_AB(real_a), G_BA(real_b)
    loss = (lsgan_loss(D_B(fake_b), True) + lsgan_loss(D_A(fake_a), True)
            + cycle_consistency_loss(real_a, G_BA(fake_b), lambda_cycle)
            + cycle_consistency_loss(real_b, G_AB(fake_a), lambda_cycle)
            + identity_loss(real_a, G_BA(real_a), lambda_identity, lambda_cycle)
            + identity_loss(real_b, G_AB(real_b), lambda_identity, lambda_cycle))
    loss.backward()
    opt_G.step()
    D_A.requires_grad_(True)
    D_B.requires_grad_(True)
    return loss, fake_a, fake_b
""",
        },
        "mistakes": {
            "discriminators not frozen": (
                "must be frozen during G's step: D's gradients changed",
                """
def generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle=10.0, lambda_identity=0.5):
    fake_b, fake_a = G_AB(real_a), G_BA(real_b)
    loss = generator_loss(D_B(fake_b), D_A(fake_a), real_a, G_BA(fake_b), real_b, G_AB(fake_a), G_BA(real_a),
                          G_AB(real_b), lambda_cycle, lambda_identity)
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss, fake_a, fake_b
""",
            ),
            "discriminators left frozen": (
                "unfrozen afterwards: requires_grad_(True)",
                """
def generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle=10.0, lambda_identity=0.5):
    D_A.requires_grad_(False)
    D_B.requires_grad_(False)
    fake_b, fake_a = G_AB(real_a), G_BA(real_b)
    loss = generator_loss(D_B(fake_b), D_A(fake_a), real_a, G_BA(fake_b), real_b, G_AB(fake_a), G_BA(real_a),
                          G_AB(real_b), lambda_cycle, lambda_identity)
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss, fake_a, fake_b
""",
            ),
            "fakes returned in the wrong order": (
                "in the wrong order",
                """
def generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle=10.0, lambda_identity=0.5):
    D_A.requires_grad_(False)
    D_B.requires_grad_(False)
    fake_b, fake_a = G_AB(real_a), G_BA(real_b)
    loss = generator_loss(D_B(fake_b), D_A(fake_a), real_a, G_BA(fake_b), real_b, G_AB(fake_a), G_BA(real_a),
                          G_AB(real_b), lambda_cycle, lambda_identity)
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    D_A.requires_grad_(True)
    D_B.requires_grad_(True)
    return loss, fake_b, fake_a
""",
            ),
            "cycles through the wrong generator": (
                "cycles through the wrong generator",
                """
def generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle=10.0, lambda_identity=0.5):
    D_A.requires_grad_(False)
    D_B.requires_grad_(False)
    fake_b, fake_a = G_AB(real_a), G_BA(real_b)
    cycled_a, cycled_b = G_AB(fake_b), G_BA(fake_a)
    loss = generator_loss(D_B(fake_b), D_A(fake_a), real_a, cycled_a, real_b, cycled_b, G_BA(real_a), G_AB(real_b),
                          lambda_cycle, lambda_identity)
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    D_A.requires_grad_(True)
    D_B.requires_grad_(True)
    return loss, fake_a, fake_b
""",
            ),
            "stale gradients not cleared": (
                "stale gradients not cleared",
                """
def generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_a, real_b, lambda_cycle=10.0, lambda_identity=0.5):
    D_A.requires_grad_(False)
    D_B.requires_grad_(False)
    fake_b, fake_a = G_AB(real_a), G_BA(real_b)
    loss = generator_loss(D_B(fake_b), D_A(fake_a), real_a, G_BA(fake_b), real_b, G_AB(fake_a), G_BA(real_a),
                          G_AB(real_b), lambda_cycle, lambda_identity)
    loss.backward()
    opt_G.step()
    D_A.requires_grad_(True)
    D_B.requires_grad_(True)
    return loss, fake_a, fake_b
""",
            ),
        },
    },
    "discriminator_step": {
        "test": "test_discriminator_step",
        "correct": {
            "official: one backward per discriminator": """
def discriminator_step(D_A, D_B, opt_D, real_a, real_b, fake_a, fake_b):
    opt_D.zero_grad()
    loss_D_A = discriminator_loss(D_A(real_a), D_A(fake_a.detach()))
    loss_D_A.backward()
    loss_D_B = discriminator_loss(D_B(real_b), D_B(fake_b.detach()))
    loss_D_B.backward()
    opt_D.step()
    return loss_D_A + loss_D_B
""",
            "detached up front, model.zero_grad, B first": """
def discriminator_step(D_A, D_B, opt_D, real_a, real_b, fake_a, fake_b):
    fake_a, fake_b = fake_a.detach(), fake_b.detach()
    loss_b = discriminator_loss(D_B(real_b), D_B(fake_b))
    loss_a = discriminator_loss(D_A(real_a), D_A(fake_a))
    D_A.zero_grad()
    D_B.zero_grad(set_to_none=False)
    (loss_a + loss_b).backward()
    opt_D.step()
    return (loss_a + loss_b).detach()
""",
            "copies made under no_grad, lsgan_loss written out": """
def discriminator_step(D_A, D_B, opt_D, real_a, real_b, fake_a, fake_b):
    with torch.no_grad():
        fakes = {"A": fake_a.clone(), "B": fake_b.clone()}
    loss = 0
    for D, real, fake in ((D_A, real_a, fakes["A"]), (D_B, real_b, fakes["B"])):
        loss = loss + 0.5 * (lsgan_loss(D(real), True) + lsgan_loss(D(fake), False))
    opt_D.zero_grad(set_to_none=False)
    loss.backward()
    opt_D.step()
    return loss
""",
        },
        "mistakes": {
            "fakes not detached": (
                "must not reach the generators",
                """
def discriminator_step(D_A, D_B, opt_D, real_a, real_b, fake_a, fake_b):
    loss = discriminator_loss(D_A(real_a), D_A(fake_a)) + discriminator_loss(D_B(real_b), D_B(fake_b))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss
""",
            ),
            "D_A judged on fake_b": (
                "D_A judged on fake_b",
                """
def discriminator_step(D_A, D_B, opt_D, real_a, real_b, fake_a, fake_b):
    loss = (discriminator_loss(D_A(real_a), D_A(fake_b.detach()))
            + discriminator_loss(D_B(real_b), D_B(fake_a.detach())))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss
""",
            ),
            "only D_A's loss": (
                "only one discriminator's loss",
                """
def discriminator_step(D_A, D_B, opt_D, real_a, real_b, fake_a, fake_b):
    loss = discriminator_loss(D_A(real_a), D_A(fake_a.detach()))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss
""",
            ),
            "stale gradients not cleared": (
                "stale gradients not cleared",
                """
def discriminator_step(D_A, D_B, opt_D, real_a, real_b, fake_a, fake_b):
    loss = (discriminator_loss(D_A(real_a), D_A(fake_a.detach()))
            + discriminator_loss(D_B(real_b), D_B(fake_b.detach())))
    loss.backward()
    opt_D.step()
    return loss
""",
            ),
            "no optimizer step": (
                "opt_D.step() missing",
                """
def discriminator_step(D_A, D_B, opt_D, real_a, real_b, fake_a, fake_b):
    loss = (discriminator_loss(D_A(real_a), D_A(fake_a.detach()))
            + discriminator_loss(D_B(real_b), D_B(fake_b.detach())))
    opt_D.zero_grad()
    loss.backward()
    return loss
""",
            ),
        },
    },
}
