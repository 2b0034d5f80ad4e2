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
