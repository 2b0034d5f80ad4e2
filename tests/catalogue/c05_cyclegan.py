"""Lesson 5 (CycleGAN): independently written correct answers and typical mistakes, one entry per exercise.

Format: see tests/catalogue/README.md. Each source replaces the whole solution cell of a student notebook.
The test cells of discriminator_loss, identity_loss and generator_loss bind the other exercises' names to reference
versions (``graded_alone``), so each mistake below costs only its own exercise's points.
"""

LESSON = "05_cyclegan"

EXERCISES = {
    "lsgan_loss": {
        "test": "test_lsgan_loss",
        "correct": {
            "F.mse_loss against a full_like target": '''
import torch.nn.functional as F

def lsgan_loss(prediction, target_is_real):
    return F.mse_loss(prediction, torch.full_like(prediction, float(target_is_real)))
''',
            "two branches": '''
def lsgan_loss(prediction, target_is_real):
    if target_is_real:
        return ((prediction - 1) ** 2).mean()
    return (prediction ** 2).mean()
''',
            "nn.MSELoss with an expanded scalar target": '''
def lsgan_loss(prediction, target_is_real):
    target = torch.tensor(1.0 if target_is_real else 0.0, dtype=prediction.dtype).expand_as(prediction)
    return torch.nn.MSELoss()(prediction, target)
''',
        },
        "mistakes": {
            "targets swapped": ("targets swapped", '''
def lsgan_loss(prediction, target_is_real):
    target = 0.0 if target_is_real else 1.0
    return ((prediction - target) ** 2).mean()
'''),
            "sum over the patch map": ("a sum instead of a mean", '''
def lsgan_loss(prediction, target_is_real):
    return ((prediction - float(target_is_real)) ** 2).sum()
'''),
            "absolute error": ("absolute error", '''
def lsgan_loss(prediction, target_is_real):
    return (prediction - float(target_is_real)).abs().mean()
'''),
            "BCE of the original GAN": ("binary cross-entropy", '''
def lsgan_loss(prediction, target_is_real):
    target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
    return torch.nn.functional.binary_cross_entropy_with_logits(prediction, target)
'''),
            "target ignored": ("target_is_real ignored", '''
def lsgan_loss(prediction, target_is_real):
    return torch.mean((prediction - 1) ** 2)
'''),
        },
    },
    "discriminator_loss": {
        "test": "test_discriminator_loss",
        "correct": {
            "calls lsgan_loss": '''
def discriminator_loss(d_real, d_fake):
    return 0.5 * (lsgan_loss(d_real, True) + lsgan_loss(d_fake, False))
''',
            "F.mse_loss, halved": '''
import torch.nn.functional as F

def discriminator_loss(d_real, d_fake):
    return (F.mse_loss(d_real, torch.ones_like(d_real)) + F.mse_loss(d_fake, torch.zeros_like(d_fake))) / 2
''',
            "mean of the two terms": '''
def discriminator_loss(d_real, d_fake):
    return torch.stack([((d_real - 1) ** 2).mean(), d_fake.pow(2).mean()]).mean()
''',
        },
        "mistakes": {
            "no 0.5": ("the factor 0.5 is missing", '''
def discriminator_loss(d_real, d_fake):
    return lsgan_loss(d_real, True) + lsgan_loss(d_fake, False)
'''),
            "targets swapped": ("targets swapped", '''
def discriminator_loss(d_real, d_fake):
    return 0.5 * (lsgan_loss(d_real, False) + lsgan_loss(d_fake, True))
'''),
            "only real images": ("only the real term", '''
def discriminator_loss(d_real, d_fake):
    return 0.5 * lsgan_loss(d_real, True)
'''),
            "BCE": ("binary cross-entropy", '''
import torch.nn.functional as F

def discriminator_loss(d_real, d_fake):
    return 0.5 * (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
'''),
            "fake scores detached": ("no gradient reaches", '''
def discriminator_loss(d_real, d_fake):
    return 0.5 * (lsgan_loss(d_real, True) + lsgan_loss(d_fake.detach(), False))
'''),
        },
    },
    "cycle_consistency_loss": {
        "test": "test_cycle_consistency_loss",
        "correct": {
            "F.l1_loss": '''
import torch.nn.functional as F

def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return lambda_cycle * F.l1_loss(reconstructed, real)
''',
            "mean of abs": '''
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return torch.mean(torch.abs(real - reconstructed)) * lambda_cycle
''',
            "nn.L1Loss module, sum over numel": '''
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    l1 = torch.nn.L1Loss(reduction="sum")(reconstructed, real) / real.numel()
    return lambda_cycle * l1
''',
        },
        "mistakes": {
            "L2": ("L2 (squared) error", '''
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return lambda_cycle * torch.nn.functional.mse_loss(reconstructed, real)
'''),
            "lambda forgotten": ("lambda_cycle forgotten", '''
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return torch.nn.functional.l1_loss(reconstructed, real)
'''),
            "hard-coded 10": ("fixed 10", '''
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return 10.0 * (real - reconstructed).abs().mean()
'''),
            "sum": ("a sum instead of a mean", '''
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return lambda_cycle * (real - reconstructed).abs().sum()
'''),
            "no absolute value": ("absolute value forgotten", '''
def cycle_consistency_loss(real, reconstructed, lambda_cycle=10.0):
    return lambda_cycle * (real - reconstructed).mean()
'''),
        },
    },
    "identity_loss": {
        "test": "test_identity_loss",
        "correct": {
            "F.l1_loss times both weights": '''
import torch.nn.functional as F

def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return lambda_identity * lambda_cycle * F.l1_loss(same, real)
''',
            "reuses cycle_consistency_loss": '''
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return cycle_consistency_loss(real, same, lambda_cycle=lambda_identity * lambda_cycle)
''',
            "weight first": '''
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    weight = lambda_cycle * lambda_identity
    return weight * (same - real).abs().mean()
''',
        },
        "mistakes": {
            "lambda_cycle forgotten": ("lambda_cycle forgotten", '''
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return lambda_identity * (real - same).abs().mean()
'''),
            "lambda_identity forgotten": ("lambda_identity forgotten", '''
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return lambda_cycle * (real - same).abs().mean()
'''),
            "L2": ("L2 (squared) error", '''
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return lambda_identity * lambda_cycle * ((real - same) ** 2).mean()
'''),
            "fixed weights": ("fixed 0.5 and 10", '''
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return 5.0 * (real - same).abs().mean()
'''),
            "weights added": ("instead of their product", '''
def identity_loss(real, same, lambda_identity=0.5, lambda_cycle=10.0):
    return (lambda_identity + lambda_cycle) * (real - same).abs().mean()
'''),
        },
    },
    "generator_loss": {
        "test": "test_generator_loss",
        "correct": {
            "calls the other exercises": '''
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    return (lsgan_loss(d_fake_b, True) + lsgan_loss(d_fake_a, True)
            + cycle_consistency_loss(real_a, cycled_a, lambda_cycle=lambda_cycle)
            + cycle_consistency_loss(real_b, cycled_b, lambda_cycle=lambda_cycle)
            + identity_loss(real_a, same_a, lambda_identity=lambda_identity, lambda_cycle=lambda_cycle)
            + identity_loss(real_b, same_b, lambda_identity=lambda_identity, lambda_cycle=lambda_cycle))
''',
            "written out with F": '''
import torch.nn.functional as F

def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    adversarial = F.mse_loss(d_fake_b, torch.ones_like(d_fake_b)) + F.mse_loss(d_fake_a, torch.ones_like(d_fake_a))
    cycle = lambda_cycle * (F.l1_loss(cycled_a, real_a) + F.l1_loss(cycled_b, real_b))
    identity = lambda_identity * lambda_cycle * (F.l1_loss(same_a, real_a) + F.l1_loss(same_b, real_b))
    return adversarial + cycle + identity
''',
            "a list of terms, summed": '''
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    terms = [lsgan_loss(d, True) for d in (d_fake_b, d_fake_a)]
    terms += [cycle_consistency_loss(r, c, lambda_cycle) for r, c in ((real_a, cycled_a), (real_b, cycled_b))]
    terms += [identity_loss(r, s, lambda_identity, lambda_cycle) for r, s in ((real_a, same_a), (real_b, same_b))]
    return sum(terms)
''',
        },
        "mistakes": {
            "one direction only": ("only the A -> B direction", '''
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    return (lsgan_loss(d_fake_b, True) + cycle_consistency_loss(real_a, cycled_a, lambda_cycle)
            + identity_loss(real_a, same_a, lambda_identity, lambda_cycle))
'''),
            "adversarial targets swapped": ("adversarial targets swapped", '''
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    return (lsgan_loss(d_fake_b, False) + lsgan_loss(d_fake_a, False)
            + cycle_consistency_loss(real_a, cycled_a, lambda_cycle) + cycle_consistency_loss(real_b, cycled_b, lambda_cycle)
            + identity_loss(real_a, same_a, lambda_identity, lambda_cycle)
            + identity_loss(real_b, same_b, lambda_identity, lambda_cycle))
'''),
            "identity forgotten": ("identity terms are missing", '''
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    return (lsgan_loss(d_fake_b, True) + lsgan_loss(d_fake_a, True)
            + cycle_consistency_loss(real_a, cycled_a, lambda_cycle) + cycle_consistency_loss(real_b, cycled_b, lambda_cycle))
'''),
            "L2 cycle written inline": ("L2 (squared) cycle loss", '''
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    cycle = lambda_cycle * (((real_a - cycled_a) ** 2).mean() + ((real_b - cycled_b) ** 2).mean())
    return (lsgan_loss(d_fake_b, True) + lsgan_loss(d_fake_a, True) + cycle
            + identity_loss(real_a, same_a, lambda_identity, lambda_cycle)
            + identity_loss(real_b, same_b, lambda_identity, lambda_cycle))
'''),
            "lambdas not passed on": ("lambdas not passed on", '''
def generator_loss(d_fake_b, d_fake_a, real_a, cycled_a, real_b, cycled_b, same_a, same_b,
                   lambda_cycle=10.0, lambda_identity=0.5):
    return (lsgan_loss(d_fake_b, True) + lsgan_loss(d_fake_a, True)
            + cycle_consistency_loss(real_a, cycled_a) + cycle_consistency_loss(real_b, cycled_b)
            + identity_loss(real_a, same_a) + identity_loss(real_b, same_b))
'''),
        },
    },
}
