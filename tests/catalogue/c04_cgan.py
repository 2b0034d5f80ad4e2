"""Lesson 4 (CGAN): independently written correct answers and typical mistakes, one entry per exercise.

Format: see tests/catalogue/README.md. Each source replaces the whole solution cell of a student notebook.
"""

LESSON = "04_cgan"

EXERCISES = {
    "generator_input": {
        "test": "test_generator_input",
        "correct": {
            "torch.cat on dim 1 with a tuple": """
def generator_input(noise, labels, embedding):
    return torch.cat((embedding(labels), noise), 1)
""",
            "F.embedding on the table": """
import torch.nn.functional as F

def generator_input(noise, labels, embedding):
    return torch.concat([F.embedding(labels, embedding.weight), noise], dim=-1)
""",
            "one-hot times the table": """
def generator_input(noise, labels, embedding):
    one_hot = torch.nn.functional.one_hot(labels, embedding.num_embeddings).to(embedding.weight.dtype)
    return torch.cat([one_hot @ embedding.weight, noise], dim=-1)
""",
        },
        "mistakes": {
            "noise first": (
                "noise first",
                """
def generator_input(noise, labels, embedding):
    return torch.cat([noise, embedding(labels)], dim=-1)
""",
            ),
            "one-hot labels, no embedding": (
                "one-hot",
                """
def generator_input(noise, labels, embedding):
    return torch.cat([torch.nn.functional.one_hot(labels, 10).float(), noise], dim=-1)
""",
            ),
            "embedding detached": (
                "no gradient reaches the embedding",
                """
def generator_input(noise, labels, embedding):
    return torch.cat([embedding(labels).detach(), noise], dim=-1)
""",
            ),
            "a new embedding every call": (
                "new nn.Embedding",
                """
def generator_input(noise, labels, embedding):
    table = torch.nn.Embedding(10, 10)
    return torch.cat([table(labels), noise], dim=-1)
""",
            ),
            "concatenated on the batch axis": (
                "dim=-1",
                """
def generator_input(noise, labels, embedding):
    return torch.cat([embedding(labels), noise], dim=0)
""",
            ),
        },
    },
    "discriminator_input": {
        "test": "test_discriminator_input",
        "correct": {
            "flatten(1) then cat": """
def discriminator_input(images, labels, embedding):
    return torch.cat((images.flatten(1), embedding(labels)), -1)
""",
            "view with size(0), as in the seed": """
def discriminator_input(images, labels, embedding):
    return torch.cat((images.view(images.size(0), -1), embedding(labels)), -1)
""",
            "nn.Flatten and hstack": """
flatten = torch.nn.Flatten()

def discriminator_input(images, labels, embedding):
    return torch.hstack([flatten(images), embedding(labels)])
""",
        },
        "mistakes": {
            "embedding first": (
                "embedding first",
                """
def discriminator_input(images, labels, embedding):
    return torch.cat([embedding(labels), images.reshape(len(images), -1)], dim=-1)
""",
            ),
            "images not flattened": (
                "Flatten each image",
                """
def discriminator_input(images, labels, embedding):
    return torch.cat([images, embedding(labels)], dim=-1)
""",
            ),
            "784 hard-coded": (
                "hard-coded",
                """
def discriminator_input(images, labels, embedding):
    return torch.cat([images.reshape(-1, 784), embedding(labels)], dim=-1)
""",
            ),
            "images detached": (
                "no gradient reaches the images",
                """
def discriminator_input(images, labels, embedding):
    return torch.cat([images.detach().reshape(len(images), -1), embedding(labels)], dim=-1)
""",
            ),
            "embedding under no_grad": (
                "no gradient reaches the embedding",
                """
def discriminator_input(images, labels, embedding):
    with torch.no_grad():
        label_vectors = embedding(labels)
    return torch.cat([images.reshape(len(images), -1), label_vectors], dim=-1)
""",
            ),
        },
    },
    "sample_labels": {
        "test": "test_sample_labels",
        "correct": {
            "randint with low and high": """
def sample_labels(batch_size, num_classes=10, device=None):
    return torch.randint(0, num_classes, size=(batch_size,), device=device, dtype=torch.long)
""",
            "multinomial over equal weights": """
def sample_labels(batch_size, num_classes=10, device=None):
    weights = torch.ones(num_classes, device=device)
    return torch.multinomial(weights, batch_size, replacement=True)
""",
            "scaled uniform floats, floored": """
def sample_labels(batch_size, num_classes=10, device=None):
    return (torch.rand(batch_size, device=device) * num_classes).floor().long()
""",
        },
        "mistakes": {
            "the last class never drawn": (
                "never draws",
                """
def sample_labels(batch_size, num_classes=10, device=None):
    return torch.randint(0, num_classes - 1, (batch_size,), device=device)
""",
            ),
            "labels 1..num_classes": (
                "labels start at 0",
                """
def sample_labels(batch_size, num_classes=10, device=None):
    return torch.randint(1, num_classes + 1, (batch_size,), device=device)
""",
            ),
            "float labels": (
                "int64",
                """
def sample_labels(batch_size, num_classes=10, device=None):
    return torch.rand(batch_size, device=device) * num_classes
""",
            ),
            "device ignored": (
                "device",
                """
def sample_labels(batch_size, num_classes=10, device=None):
    return torch.randint(num_classes, (batch_size,))
""",
            ),
            "10 hard-coded": (
                "ignore num_classes",
                """
def sample_labels(batch_size, num_classes=10, device=None):
    return torch.randint(10, (batch_size,), device=device)
""",
            ),
        },
    },
    "ConditionalGenerator": {
        "test": "test_ConditionalGenerator",
        "uses": ["generator_input"],
        "correct": {
            "named layers, a block helper, exercise 1's function": """
class ConditionalGenerator(nn.Module):
    def __init__(self, latent_dim=100, num_classes=10):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.first = nn.Linear(latent_dim + num_classes, 128)
        self.hidden = nn.Sequential(self._block(128, 256), self._block(256, 512), self._block(512, 1024))
        self.last = nn.Linear(1024, 28 * 28)

    @staticmethod
    def _block(n_in, n_out):
        return nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out, eps=1e-5, momentum=0.2), nn.LeakyReLU(0.2))

    def forward(self, z, labels):
        h = nn.functional.leaky_relu(self.first(generator_input(z, labels, self.embedding)), 0.2)
        return torch.tanh(self.last(self.hidden(h)))
""",
            "a ModuleList loop, the concatenation written out": """
import torch.nn.functional as F


class ConditionalGenerator(nn.Module):
    def __init__(self, latent_dim=100, num_classes=10):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.first = nn.Linear(num_classes + latent_dim, 128)
        self.blocks = nn.ModuleList(
            nn.ModuleDict({"linear": nn.Linear(n, 2 * n), "norm": nn.BatchNorm1d(2 * n, momentum=1 - 0.8)})
            for n in (128, 256, 512)
        )
        self.out = nn.Linear(1024, 784)

    def forward(self, z, labels):
        x = torch.cat((self.embedding(labels), z), dim=1)
        x = F.leaky_relu(self.first(x), negative_slope=0.2)
        for block in self.blocks:
            x = F.leaky_relu(block["norm"](block["linear"](x)), negative_slope=0.2)
        return torch.tanh(self.out(x))
""",
            "one flat nn.Sequential": """
class ConditionalGenerator(nn.Module):
    def __init__(self, latent_dim=100, num_classes=10):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.net = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 128),
            nn.LeakyReLU(negative_slope=0.2),
            nn.Linear(128, 256),
            nn.BatchNorm1d(256, momentum=0.2),
            nn.LeakyReLU(negative_slope=0.2),
            nn.Linear(256, 512),
            nn.BatchNorm1d(512, momentum=0.2),
            nn.LeakyReLU(negative_slope=0.2),
            nn.Linear(512, 1024),
            nn.BatchNorm1d(1024, momentum=0.2),
            nn.LeakyReLU(negative_slope=0.2),
            nn.Linear(1024, 784),
            nn.Tanh(),
        )

    def forward(self, z, labels):
        return self.net(generator_input(z, labels, self.embedding))
""",
        },
        "mistakes": {
            "BatchNorm1d(n, 0.8), as PyTorch-GAN writes it": (
                "the second positional argument is eps",
                """
class ConditionalGenerator(nn.Module):
    def __init__(self, latent_dim=100, num_classes=10):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.net = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 128), nn.LeakyReLU(0.2),
            nn.Linear(128, 256), nn.BatchNorm1d(256, 0.8), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.BatchNorm1d(512, 0.8), nn.LeakyReLU(0.2),
            nn.Linear(512, 1024), nn.BatchNorm1d(1024, 0.8), nn.LeakyReLU(0.2),
            nn.Linear(1024, 784), nn.Tanh(),
        )

    def forward(self, z, labels):
        return self.net(generator_input(z, labels, self.embedding))
""",
            ),
            "Keras' momentum=0.8 copied as PyTorch's": (
                "moves with momentum 0.80",
                """
class ConditionalGenerator(nn.Module):
    def __init__(self, latent_dim=100, num_classes=10):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.net = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 128), nn.LeakyReLU(0.2),
            nn.Linear(128, 256), nn.BatchNorm1d(256, momentum=0.8), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.BatchNorm1d(512, momentum=0.8), nn.LeakyReLU(0.2),
            nn.Linear(512, 1024), nn.BatchNorm1d(1024, momentum=0.8), nn.LeakyReLU(0.2),
            nn.Linear(1024, 784), nn.Tanh(),
        )

    def forward(self, z, labels):
        return self.net(generator_input(z, labels, self.embedding))
""",
            ),
            "ReLU instead of LeakyReLU(0.2)": (
                "ReLU instead of LeakyReLU(0.2)",
                """
class ConditionalGenerator(nn.Module):
    def __init__(self, latent_dim=100, num_classes=10):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.net = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 128), nn.ReLU(),
            nn.Linear(128, 256), nn.BatchNorm1d(256, momentum=0.2), nn.ReLU(),
            nn.Linear(256, 512), nn.BatchNorm1d(512, momentum=0.2), nn.ReLU(),
            nn.Linear(512, 1024), nn.BatchNorm1d(1024, momentum=0.2), nn.ReLU(),
            nn.Linear(1024, 784), nn.Tanh(),
        )

    def forward(self, z, labels):
        return self.net(generator_input(z, labels, self.embedding))
""",
            ),
            "the label table created after the layers": (
                "parameter 1",
                """
class ConditionalGenerator(nn.Module):
    def __init__(self, latent_dim=100, num_classes=10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 128), nn.LeakyReLU(0.2),
            nn.Linear(128, 256), nn.BatchNorm1d(256, momentum=0.2), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.BatchNorm1d(512, momentum=0.2), nn.LeakyReLU(0.2),
            nn.Linear(512, 1024), nn.BatchNorm1d(1024, momentum=0.2), nn.LeakyReLU(0.2),
            nn.Linear(1024, 784), nn.Tanh(),
        )
        self.embedding = nn.Embedding(num_classes, num_classes)

    def forward(self, z, labels):
        return self.net(generator_input(z, labels, self.embedding))
""",
            ),
            "a sigmoid output, as D has": (
                "a sigmoid output instead of tanh",
                """
class ConditionalGenerator(nn.Module):
    def __init__(self, latent_dim=100, num_classes=10):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.net = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 128), nn.LeakyReLU(0.2),
            nn.Linear(128, 256), nn.BatchNorm1d(256, momentum=0.2), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.BatchNorm1d(512, momentum=0.2), nn.LeakyReLU(0.2),
            nn.Linear(512, 1024), nn.BatchNorm1d(1024, momentum=0.2), nn.LeakyReLU(0.2),
            nn.Linear(1024, 784), nn.Sigmoid(),
        )

    def forward(self, z, labels):
        return self.net(generator_input(z, labels, self.embedding))
""",
            ),
            "eval mode ignored: forward puts the network back in training mode": (
                "in eval mode, on running statistics set by the test",
                """
class ConditionalGenerator(nn.Module):
    def __init__(self, latent_dim=100, num_classes=10):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.net = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 128), nn.LeakyReLU(0.2),
            nn.Linear(128, 256), nn.BatchNorm1d(256, momentum=0.2), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.BatchNorm1d(512, momentum=0.2), nn.LeakyReLU(0.2),
            nn.Linear(512, 1024), nn.BatchNorm1d(1024, momentum=0.2), nn.LeakyReLU(0.2),
            nn.Linear(1024, 784), nn.Tanh(),
        )

    def forward(self, z, labels):
        self.net.train()  # "BatchNorm needs a batch": samples then depend on the batch they are drawn with
        return self.net(generator_input(z, labels, self.embedding))
""",
            ),
        },
    },
    "ConditionalDiscriminator": {
        "test": "test_ConditionalDiscriminator",
        "uses": ["discriminator_input"],
        "correct": {
            "named layers, dropout as a module, exercise 2's function": """
class ConditionalDiscriminator(nn.Module):
    def __init__(self, num_classes=10, dropout=0.4):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.fc1 = nn.Linear(28 * 28 + num_classes, 512)
        self.fc2 = nn.Linear(512, 512)
        self.fc3 = nn.Linear(512, 512)
        self.fc4 = nn.Linear(512, 1)
        self.drop = nn.Dropout(p=dropout)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, images, labels):
        x = self.act(self.fc1(discriminator_input(images, labels, self.embedding)))
        x = self.act(self.drop(self.fc2(x)))
        x = self.act(self.drop(self.fc3(x)))
        return torch.sigmoid(self.fc4(x))
""",
            "functional dropout after the activation, the concatenation written out": """
import torch.nn.functional as F


class ConditionalDiscriminator(nn.Module):
    def __init__(self, num_classes=10, dropout=0.4):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.layers = nn.ModuleList([nn.Linear(784 + num_classes, 512), nn.Linear(512, 512), nn.Linear(512, 512)])
        self.head = nn.Linear(512, 1)
        self.p = dropout

    def forward(self, images, labels):
        x = torch.cat([images.flatten(start_dim=1), self.embedding(labels)], dim=-1)
        for i, layer in enumerate(self.layers):
            x = F.leaky_relu(layer(x), 0.2)
            if i > 0:
                x = F.dropout(x, p=self.p, training=self.training)
        return torch.sigmoid(self.head(x))
""",
            "a subclass of nn.Sequential with a forward of its own": """
class ConditionalDiscriminator(nn.Sequential):
    def __init__(self, num_classes=10, dropout=0.4):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)  # registered first: the first parameter
        for n_in, n_out in [(784 + num_classes, 512), (512, 512), (512, 512)]:
            self.append(nn.Linear(n_in, n_out))
            if n_in == 512:
                self.append(nn.Dropout(dropout))
            self.append(nn.LeakyReLU(0.2))
        self.append(nn.Linear(512, 1))
        self.append(nn.Sigmoid())

    def forward(self, images, labels):
        x = discriminator_input(images, labels, self.embedding)
        for layer in list(self)[1:]:
            x = layer(x)
        return x
""",
        },
        "mistakes": {
            "no dropout": (
                "D is not random in training mode",
                """
class ConditionalDiscriminator(nn.Module):
    def __init__(self, num_classes=10, dropout=0.4):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.net = nn.Sequential(
            nn.Linear(784 + num_classes, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 1), nn.Sigmoid(),
        )

    def forward(self, images, labels):
        return self.net(discriminator_input(images, labels, self.embedding))
""",
            ),
            "no sigmoid (PyTorch-GAN's cgan.py, which trains with MSE)": (
                "must lie in [0, 1]",
                """
class ConditionalDiscriminator(nn.Module):
    def __init__(self, num_classes=10, dropout=0.4):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.net = nn.Sequential(
            nn.Linear(784 + num_classes, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 512), nn.Dropout(dropout), nn.LeakyReLU(0.2),
            nn.Linear(512, 512), nn.Dropout(dropout), nn.LeakyReLU(0.2),
            nn.Linear(512, 1),
        )

    def forward(self, images, labels):
        return self.net(discriminator_input(images, labels, self.embedding))
""",
            ),
            "(B, 1, 28, 28) images not flattened": (
                "failed on an input of shape (64, 1, 28, 28)",
                """
class ConditionalDiscriminator(nn.Module):
    def __init__(self, num_classes=10, dropout=0.4):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.net = nn.Sequential(
            nn.Linear(784 + num_classes, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 512), nn.Dropout(dropout), nn.LeakyReLU(0.2),
            nn.Linear(512, 512), nn.Dropout(dropout), nn.LeakyReLU(0.2),
            nn.Linear(512, 1), nn.Sigmoid(),
        )

    def forward(self, images, labels):
        return self.net(torch.cat([images, self.embedding(labels)], dim=-1))
""",
            ),
            "the label's row before the image": (
                "the label's row before the image",
                """
class ConditionalDiscriminator(nn.Module):
    def __init__(self, num_classes=10, dropout=0.4):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.net = nn.Sequential(
            nn.Linear(784 + num_classes, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 512), nn.Dropout(dropout), nn.LeakyReLU(0.2),
            nn.Linear(512, 512), nn.Dropout(dropout), nn.LeakyReLU(0.2),
            nn.Linear(512, 1), nn.Sigmoid(),
        )

    def forward(self, images, labels):
        return self.net(torch.cat([self.embedding(labels), images.reshape(len(images), -1)], dim=1))
""",
            ),
            "the dropout argument ignored (0.4 written in)": (
                "dropout=0.0) in training mode",
                """
class ConditionalDiscriminator(nn.Module):
    def __init__(self, num_classes=10, dropout=0.4):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, num_classes)
        self.net = nn.Sequential(
            nn.Linear(784 + num_classes, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 512), nn.Dropout(0.4), nn.LeakyReLU(0.2),
            nn.Linear(512, 512), nn.Dropout(0.4), nn.LeakyReLU(0.2),
            nn.Linear(512, 1), nn.Sigmoid(),
        )

    def forward(self, images, labels):
        return self.net(discriminator_input(images, labels, self.embedding))
""",
            ),
        },
    },
    "discriminator_step": {
        "test": "test_discriminator_step",
        "correct": {
            "detach, opt_D.zero_grad() first, the fake pairs judged first": """
def discriminator_step(G, D, opt_D, real, real_labels, z, fake_labels, d_loss):
    opt_D.zero_grad()
    fake_images = G(z, fake_labels).detach()
    on_fakes = D(fake_images, fake_labels)
    on_reals = D(real, real_labels)
    loss = d_loss(on_reals, on_fakes)
    loss.backward()
    opt_D.step()
    return loss
""",
            "torch.no_grad(), D.zero_grad(set_to_none=False), loss.detach() returned": """
def discriminator_step(G, D, opt_D, real, real_labels, z, fake_labels, d_loss):
    with torch.no_grad():
        fake = G(z, fake_labels)
    loss = d_loss(D(real, real_labels), D(fake, fake_labels))
    D.zero_grad(set_to_none=False)
    loss.backward()
    opt_D.step()
    return loss.detach()
""",
            "D once on the concatenated pairs, then split": """
def discriminator_step(G, D, opt_D, real, real_labels, z, fake_labels, d_loss):
    fake = G(z, fake_labels)
    images = torch.cat([real, fake.detach()])
    labels = torch.cat([real_labels, fake_labels])
    d_real, d_fake = torch.split(D(images, labels), [len(real), len(fake)])
    loss = d_loss(d_real, d_fake)
    opt_D.zero_grad(set_to_none=True)
    loss.backward()
    opt_D.step()
    return loss
""",
        },
        "mistakes": {
            "the fake batch judged with real_labels": (
                "judge G(z, fake_labels) with fake_labels",
                """
def discriminator_step(G, D, opt_D, real, real_labels, z, fake_labels, d_loss):
    fake = G(z, fake_labels).detach()
    loss = d_loss(D(real, real_labels), D(fake, real_labels))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss
""",
            ),
            "the real batch judged with fake_labels": (
                "D(real) judged with fake_labels",
                """
def discriminator_step(G, D, opt_D, real, real_labels, z, fake_labels, d_loss):
    fake = G(z, fake_labels).detach()
    loss = d_loss(D(real, fake_labels), D(fake, fake_labels))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss
""",
            ),
            "no detach": (
                ".detach()",
                """
def discriminator_step(G, D, opt_D, real, real_labels, z, fake_labels, d_loss):
    fake = G(z, fake_labels)
    loss = d_loss(D(real, real_labels), D(fake, fake_labels))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss
""",
            ),
            "old gradients not cleared": (
                "zero_grad",
                """
def discriminator_step(G, D, opt_D, real, real_labels, z, fake_labels, d_loss):
    fake = G(z, fake_labels).detach()
    loss = d_loss(D(real, real_labels), D(fake, fake_labels))
    loss.backward()
    opt_D.step()
    return loss
""",
            ),
            "no optimizer step": (
                "opt_D.step()",
                """
def discriminator_step(G, D, opt_D, real, real_labels, z, fake_labels, d_loss):
    fake = G(z, fake_labels).detach()
    loss = d_loss(D(real, real_labels), D(fake, fake_labels))
    opt_D.zero_grad()
    loss.backward()
    return loss
""",
            ),
        },
    },
    "generator_step": {
        "test": "test_generator_step",
        "correct": {
            "opt_G.zero_grad() first": """
def generator_step(G, D, opt_G, z, fake_labels, g_loss):
    opt_G.zero_grad()
    images = G(z, fake_labels)
    loss = g_loss(D(images, fake_labels))
    loss.backward()
    opt_G.step()
    return loss
""",
            "D frozen during the step, G.zero_grad()": """
def generator_step(G, D, opt_G, z, fake_labels, g_loss):
    D.requires_grad_(False)
    loss = g_loss(D(G(z, fake_labels), fake_labels))
    G.zero_grad()
    loss.backward()
    opt_G.step()
    D.requires_grad_(True)
    return loss
""",
            "zero_grad(set_to_none=False) after the forward pass, loss.detach() returned": """
def generator_step(G, D, opt_G, z, fake_labels, g_loss):
    verdict = D(G(z, fake_labels), fake_labels)
    loss = g_loss(verdict)
    opt_G.zero_grad(set_to_none=False)
    loss.backward()
    opt_G.step()
    return loss.detach()
""",
        },
        "mistakes": {
            "own labels drawn": (
                "use the fake_labels you were given",
                """
def generator_step(G, D, opt_G, z, fake_labels, g_loss):
    labels = torch.randint(10, (len(z),), device=z.device)
    loss = g_loss(D(G(z, labels), labels))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss
""",
            ),
            "G's output detached": (
                "no gradient reached G",
                """
def generator_step(G, D, opt_G, z, fake_labels, g_loss):
    fake = G(z, fake_labels).detach()
    loss = g_loss(D(fake, fake_labels))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss
""",
            ),
            "old gradients not cleared": (
                "zero_grad",
                """
def generator_step(G, D, opt_G, z, fake_labels, g_loss):
    loss = g_loss(D(G(z, fake_labels), fake_labels))
    loss.backward()
    opt_G.step()
    return loss
""",
            ),
            "loss.item() returned": (
                "return the loss tensor itself",
                """
def generator_step(G, D, opt_G, z, fake_labels, g_loss):
    loss = g_loss(D(G(z, fake_labels), fake_labels))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss.item()
""",
            ),
            "own noise drawn": (
                "use the z you were given",
                """
def generator_step(G, D, opt_G, z, fake_labels, g_loss):
    noise = torch.randn_like(z)
    loss = g_loss(D(G(noise, fake_labels), fake_labels))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss
""",
            ),
        },
    },
}
