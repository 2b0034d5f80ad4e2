"""Typical mistakes, one per graded function, written as a student would write them.

Each entry replaces a solution cell (by grade_id) in an otherwise complete submission;
the matching test cell must then fail with a message naming the mistake.
"""

MISTAKES = {
    "01_backquery": {
        "make_targets": (
            "test_make_targets",
            "one-hot",
            '''
def make_targets(label, num_classes=10):
    targets = torch.zeros(num_classes)
    targets[label] = 1.0
    return targets
''',
        ),
        "inverse_sigmoid": (
            "test_inverse_sigmoid",
            "wrong sign",
            '''
def inverse_sigmoid(y):
    return torch.log((1 - y) / y)
''',
        ),
        "backquery": (
            "test_backquery",
            "[0, 1] instead of [0.01, 0.99]",
            '''
def backquery(model, label):
    def rescale(v):
        v = v - v.min()
        return v / v.max()
    with torch.no_grad():
        hidden = model.output.weight.T @ inverse_sigmoid(make_targets(label))
        hidden = rescale(hidden) * 0.98 + 0.01
        image = rescale(model.hidden.weight.T @ inverse_sigmoid(hidden))
    return image.reshape(28, 28)
''',
        ),
    },
    "02_simple_pattern_gan": {
        "generate_real": (
            "test_generate_real",
            "0101",
            '''
def generate_real():
    low = 0.2 * torch.rand(2)
    high = 0.8 + 0.2 * torch.rand(2)
    return torch.stack([low[0], high[0], low[1], high[1]])
''',
        ),
        "generate_random": (
            "test_generate_random",
            "torch.randn",
            '''
def generate_random(size):
    return torch.randn(size)
''',
        ),
        "train_discriminator": (
            "test_train_discriminator",
            "optimizer.zero_grad()",
            '''
def train_discriminator(D, optimizer, inputs, targets, loss_fn):
    loss = loss_fn(D(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.item()
''',
        ),
        "train_generator": (
            "test_train_generator",
            "D's parameters changed",
            '''
def train_generator(G, D, optimizer, inputs, targets, loss_fn):
    both = torch.optim.SGD(list(G.parameters()) + list(D.parameters()), lr=optimizer.param_groups[0]["lr"])
    loss = loss_fn(D(G(inputs)), targets)
    both.zero_grad()
    loss.backward()
    both.step()
    return loss.item()
''',
        ),
    },
    "03_mnist_gan": {
        "sample_noise": (
            "test_sample_noise",
            "torch.randn",
            '''
def sample_noise(batch_size, z_dim, device=None):
    return torch.rand(batch_size, z_dim, device=device)
''',
        ),
        "discriminator_loss": (
            "test_discriminator_loss",
            "right way round",
            '''
def discriminator_loss(d_real, d_fake):
    return torch.nn.functional.binary_cross_entropy(d_real, torch.zeros_like(d_real)) + \\
        torch.nn.functional.binary_cross_entropy(d_fake, torch.ones_like(d_fake))
''',
        ),
        "generator_loss": (
            "test_generator_loss",
            "is the argument ignored?",
            '''
def generator_loss(d_fake, saturating=False):
    return torch.nn.functional.binary_cross_entropy(d_fake, torch.ones_like(d_fake))
''',
        ),
    },
}
