"""Lesson 2 (simple-pattern GAN): independently written correct answers and typical mistakes, one entry per exercise.

Format: see tests/catalogue/README.md. Each source replaces the whole solution cell of a student notebook.
"""

LESSON = "02_simple_pattern_gan"

EXERCISES = {
    "generate_real": {
        "test": "test_generate_real",
        "correct": {
            "random.uniform per position": """
import random

def generate_real():
    return torch.tensor([random.uniform(0.8, 1.0), random.uniform(0.0, 0.2),
                         random.uniform(0.8, 1.0), random.uniform(0.0, 0.2)])
""",
            "rand times width plus offsets": """
def generate_real():
    return torch.rand(4) * 0.2 + torch.tensor([0.8, 0.0, 0.8, 0.0])
""",
            "torch.distributions.Uniform": """
def generate_real():
    low = torch.tensor([0.8, 0.0, 0.8, 0.0])
    return torch.distributions.Uniform(low, low + 0.2).sample()
""",
        },
        "mistakes": {
            "the pattern 0101": (
                "0101",
                """
def generate_real():
    low = 0.2 * torch.rand(2)
    high = 0.8 + 0.2 * torch.rand(2)
    return torch.stack([low[0], high[0], low[1], high[1]])
""",
            ),
            "clamped normal noise instead of uniform": (
                "torch.randn",
                """
def generate_real():
    values = torch.tensor([0.9, 0.1, 0.9, 0.1]) + 0.05 * torch.randn(4)
    return torch.stack([values[0].clamp(0.8, 1.0), values[1].clamp(0.0, 0.2),
                        values[2].clamp(0.8, 1.0), values[3].clamp(0.0, 0.2)])
""",
            ),
            "no randomness": (
                "same values every call",
                """
def generate_real():
    return torch.tensor([1.0, 0.0, 1.0, 0.0])
""",
            ),
            "one random number shared by all positions": (
                "correlated",
                """
def generate_real():
    r = torch.rand(1) * 0.2
    return torch.cat([0.8 + r, r, 0.8 + r, r])
""",
            ),
            "an extra batch dimension": (
                "extra dimension",
                """
def generate_real():
    return torch.rand(1, 4) * 0.2 + torch.tensor([[0.8, 0.0, 0.8, 0.0]])
""",
            ),
        },
    },
    "generate_random": {
        "test": "test_generate_random",
        "correct": {
            "uniform_ in place on an empty tensor": """
def generate_random(size):
    return torch.empty(size).uniform_(0.0, 1.0)
""",
            "torch.distributions.Uniform": """
def generate_random(size):
    return torch.distributions.Uniform(0.0, 1.0).sample((size,))
""",
            "random.random per element": """
import random

def generate_random(size):
    return torch.tensor([random.random() for _ in range(size)])
""",
        },
        "mistakes": {
            "normal noise": (
                "torch.randn",
                """
def generate_random(size):
    return torch.randn(size)
""",
            ),
            "size ignored": (
                "ignored",
                """
def generate_random(size):
    return torch.rand(4)
""",
            ),
            "uniform on [-1, 1)": (
                "outside [0, 1)",
                """
def generate_random(size):
    return torch.rand(size) * 2 - 1
""",
            ),
            "the same numbers every call": (
                "same numbers",
                """
def generate_random(size):
    return torch.rand(size, generator=torch.Generator().manual_seed(0))
""",
            ),
            "integers 0 or 1": (
                "floating-point",
                """
def generate_random(size):
    return torch.randint(0, 2, (size,))
""",
            ),
        },
    },
    "train_discriminator": {
        "test": "test_train_discriminator",
        "correct": {
            "zero_grad first, float(loss)": """
def train_discriminator(D, optimizer, inputs, targets, loss_fn):
    optimizer.zero_grad()
    outputs = D(inputs)
    loss = loss_fn(outputs, targets)
    loss.backward()
    optimizer.step()
    return float(loss)
""",
            "D.zero_grad, detach().item()": """
def train_discriminator(D, optimizer, inputs, targets, loss_fn):
    D.zero_grad(set_to_none=False)
    loss = loss_fn(D(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.detach().item()
""",
            "torch.autograd.grad, gradients set by hand": """
def train_discriminator(D, optimizer, inputs, targets, loss_fn):
    params = list(D.parameters())
    loss = loss_fn(D(inputs), targets)
    grads = torch.autograd.grad(loss, params)
    for p, g in zip(params, grads):
        p.grad = g
    optimizer.step()
    return loss.item()
""",
        },
        "mistakes": {
            "no zero_grad": (
                "optimizer.zero_grad()",
                """
def train_discriminator(D, optimizer, inputs, targets, loss_fn):
    loss = loss_fn(D(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.item()
""",
            ),
            "no optimizer step": (
                "optimizer.step()",
                """
def train_discriminator(D, optimizer, inputs, targets, loss_fn):
    optimizer.zero_grad()
    loss = loss_fn(D(inputs), targets)
    loss.backward()
    return loss.item()
""",
            ),
            "gradient ascent": (
                "gradient ascent",
                """
def train_discriminator(D, optimizer, inputs, targets, loss_fn):
    optimizer.zero_grad()
    loss = loss_fn(D(inputs), targets)
    (-loss).backward()
    optimizer.step()
    return loss.item()
""",
            ),
            "returns the loss tensor": (
                "loss.item()",
                """
def train_discriminator(D, optimizer, inputs, targets, loss_fn):
    optimizer.zero_grad()
    loss = loss_fn(D(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss
""",
            ),
            "loss_fn ignored (always MSE)": (
                "loss_fn",
                """
def train_discriminator(D, optimizer, inputs, targets, loss_fn):
    optimizer.zero_grad()
    loss = ((D(inputs) - targets) ** 2).mean()
    loss.backward()
    optimizer.step()
    return loss.item()
""",
            ),
        },
    },
    "train_generator": {
        "test": "test_train_generator",
        "correct": {
            "zero_grad first, float(loss)": """
def train_generator(G, D, optimizer, inputs, targets, loss_fn):
    optimizer.zero_grad()
    fake = G(inputs)
    loss = loss_fn(D(fake), targets)
    loss.backward()
    optimizer.step()
    return float(loss)
""",
            "D frozen during the step": """
def train_generator(G, D, optimizer, inputs, targets, loss_fn):
    for p in D.parameters():
        p.requires_grad_(False)
    G.zero_grad()
    loss = loss_fn(D(G(inputs)), targets)
    loss.backward()
    optimizer.step()
    for p in D.parameters():
        p.requires_grad_(True)
    return loss.item()
""",
            "torch.autograd.grad for G only": """
def train_generator(G, D, optimizer, inputs, targets, loss_fn):
    params = list(G.parameters())
    loss = loss_fn(D(G(inputs)), targets)
    for p, g in zip(params, torch.autograd.grad(loss, params)):
        p.grad = g
    optimizer.step()
    return loss.item()
""",
        },
        "mistakes": {
            "D updated in the generator step": (
                "D's parameters changed",
                """
def train_generator(G, D, optimizer, inputs, targets, loss_fn):
    both = torch.optim.SGD(list(G.parameters()) + list(D.parameters()), lr=optimizer.param_groups[0]["lr"])
    loss = loss_fn(D(G(inputs)), targets)
    both.zero_grad()
    loss.backward()
    both.step()
    return loss.item()
""",
            ),
            "G's output detached": (
                "detach",
                """
def train_generator(G, D, optimizer, inputs, targets, loss_fn):
    optimizer.zero_grad()
    loss = loss_fn(D(G(inputs).detach()), targets)
    loss.backward()
    optimizer.step()
    return loss.item()
""",
            ),
            "no zero_grad": (
                "optimizer.zero_grad()",
                """
def train_generator(G, D, optimizer, inputs, targets, loss_fn):
    loss = loss_fn(D(G(inputs)), targets)
    loss.backward()
    optimizer.step()
    return loss.item()
""",
            ),
            "gradient ascent": (
                "gradient ascent",
                """
def train_generator(G, D, optimizer, inputs, targets, loss_fn):
    optimizer.zero_grad()
    loss = loss_fn(D(G(inputs)), targets)
    (-loss).backward()
    optimizer.step()
    return loss.item()
""",
            ),
            "targets ignored (fake target 0)": (
                "targets",
                """
def train_generator(G, D, optimizer, inputs, targets, loss_fn):
    optimizer.zero_grad()
    output = D(G(inputs))
    loss = loss_fn(output, torch.zeros_like(output))
    loss.backward()
    optimizer.step()
    return loss.item()
""",
            ),
        },
    },
}
