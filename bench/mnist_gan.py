"""MNIST GAN throughput: the course's loop (helpers.training.gan_trainer) against a loop in the style of PyTorch-GAN's
gan.py.

Both train the lesson's networks (MLPGenerator / MLPDiscriminator, Adam 2e-4, BCE) on the same number of images,
in one run, on one device, and the script prints images per second for each and the ratio.

The baseline follows PyTorch-GAN ``implementations/gan/gan.py``: a torchvision dataset that turns every image into
a PIL image and back through ``transforms`` (ToTensor, Normalize), a ``DataLoader`` with ``shuffle=True``, the loss
read with ``.item()`` and a progress line printed every batch (into a buffer here, so terminal speed does not count).
The course's loop keeps the data on the device, draws batches by index and reads its metrics once per log;
on CUDA it is measured twice, eager and with the whole step captured in one CUDA graph (helpers.training.cuda_graphs).

It then trains the course's loop until the samples cover all 10 digits and their digit Fréchet distance drops below
a threshold (see ``--fd-threshold``), and prints the time and steps that took.

    python bench/mnist_gan.py                      # CPU or the best device, batch 64, median of 3 runs each
    python bench/mnist_gan.py --device cuda --images 640000
    python bench/mnist_gan.py --model cgan         # lesson 4's conditional GAN; baseline in PyTorch-GAN cgan.py style

With ``--model cgan`` both loops train lesson 4's CGANGenerator / CGANDiscriminator (labels through an embedding; the
baseline draws the fake labels with NumPy per batch, as ``cgan.py`` does, and feeds the real labels from the
DataLoader), and the quality run stops when the evaluator reads at least ``--accuracy-threshold`` of the samples as
the digit G was asked for, with all 10 digits present.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time

import numpy as np

# The course loop runs the lesson's steps; here the reference steps (helpers/ never holds them).
import reference_steps as ref  # noqa: E402  (bench/ is this script's folder, so it is on sys.path)
import torch
from PIL import Image
from reference_networks import CGANDiscriminator, CGANGenerator, MLPDiscriminator, MLPGenerator  # noqa: E402
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from helpers.data.mnist import load_mnist, mnist_data
from helpers.device import get_device, set_seed
from helpers.evaluation import digit_metrics as metrics
from helpers.training.gan_trainer import GANTrainer

LATENT = 100


class PILDigits(Dataset):
    """Like torchvision's MNIST: uint8 arrays, each item made into a PIL image and transformed."""

    def __init__(self, images_uint8: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.images, self.labels, self.transform = images_uint8, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.transform(Image.fromarray(self.images[index].numpy(), mode="L")), int(self.labels[index])


def label_then_noise(z, labels, embedding):
    """G's input in lesson 4: embedding(labels) then z, (B, 10 + LATENT)."""
    return torch.cat([embedding(labels), z], dim=-1)


def image_then_label(images, labels, embedding):
    """D's input in lesson 4: the flattened image then embedding(labels), (B, 784 + 10)."""
    return torch.cat([images.reshape(len(images), -1), embedding(labels)], dim=-1)


def networks(device, model: str = "gan"):
    if model == "cgan":
        G, D = CGANGenerator(label_then_noise, LATENT).to(device), CGANDiscriminator(image_then_label).to(device)
    else:
        G, D = MLPGenerator(LATENT).to(device), MLPDiscriminator().to(device)
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    return G, D, opt_G, opt_D


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _call(net, x, labels):
    return net(x) if labels is None else net(x, labels)


def baseline(digits, device, batch_size: int, num_images: int, model: str = "gan") -> float:
    """PyTorch-GAN gan.py (or, for model="cgan", cgan.py) style; returns images per second."""
    set_seed(0)
    G, D, opt_G, opt_D = networks(device, model)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
    dataset = PILDigits((digits.images * 255).round().to(torch.uint8), digits.labels, transform)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True)
    adversarial_loss = nn.BCELoss()
    log = io.StringIO()
    seen, epoch = 0, 0
    sync(device)
    start = time.perf_counter()
    while seen < num_images:
        for i, (imgs, labels) in enumerate(loader):
            valid = torch.ones(imgs.size(0), 1, device=device)
            fake = torch.zeros(imgs.size(0), 1, device=device)
            real_imgs = imgs.to(device).reshape(imgs.size(0), -1)
            real_labels = gen_labels = None
            if model == "cgan":  # cgan.py: real labels from the loader, fake ones from NumPy, copied per batch
                real_labels = labels.to(device)
                gen_labels = torch.as_tensor(np.random.randint(0, 10, imgs.size(0)), device=device)
            opt_G.zero_grad()
            z = torch.randn(imgs.shape[0], LATENT, device=device)
            gen_imgs = _call(G, z, gen_labels)
            g_loss = adversarial_loss(_call(D, gen_imgs, gen_labels), valid)
            g_loss.backward()
            opt_G.step()
            opt_D.zero_grad()
            real_loss = adversarial_loss(_call(D, real_imgs, real_labels), valid)
            fake_loss = adversarial_loss(_call(D, gen_imgs.detach(), gen_labels), fake)
            d_loss = (real_loss + fake_loss) / 2
            d_loss.backward()
            opt_D.step()
            print(
                f"[Epoch {epoch}] [Batch {i}/{len(loader)}] [D loss: {d_loss.item():f}] [G loss: {g_loss.item():f}]",
                file=log,
            )
            seen += imgs.size(0)
            if seen >= num_images:
                break
        epoch += 1
    sync(device)
    return seen / (time.perf_counter() - start)


def course_trainer(data, device, batch_size, amp_dtype=None, cuda_graph=None, model="gan"):
    set_seed(0)
    G, D, opt_G, opt_D = networks(device, model)
    if model == "cgan":
        steps = dict(
            discriminator_step=ref.conditional_discriminator_step,
            generator_step=ref.conditional_generator_step,
            num_classes=10,
            sample_labels=ref.sample_labels,
        )
    else:
        steps = dict(discriminator_step=ref.discriminator_step, generator_step=ref.generator_step)
    return GANTrainer(
        G,
        D,
        opt_G,
        opt_D,
        **steps,
        d_loss=ref.bce_d,
        g_loss=ref.bce_g,
        data=data,
        latent_dim=LATENT,
        batch_size=batch_size,
        sample_noise=ref.sample_noise,
        log_every=100,
        amp_dtype=amp_dtype,
        cuda_graph=cuda_graph,
    )


def course(
    data, device, batch_size: int, num_images: int, amp_dtype=None, cuda_graph=None, model="gan"
) -> tuple[float, str]:
    """Images per second of the course loop, and how its steps ran (eager or CUDA graph)."""
    trainer = course_trainer(data, device, batch_size, amp_dtype, cuda_graph, model)
    steps = -(-num_images // batch_size)
    trainer.train(10, progress=False)  # warm-up (allocations, graph capture), not timed
    sync(device)
    start = time.perf_counter()
    trainer.train(steps, progress=False)
    sync(device)
    return steps * batch_size / (time.perf_counter() - start), trainer.graph_status


def time_to_quality(data, device, batch_size: int, fd_threshold: float, max_steps: int, every: int = 250):
    """Steps and seconds until all 10 digits appear, and until they also reach a digit FD below ``fd_threshold``."""
    trainer = course_trainer(data, device, batch_size)
    reference = data.images[torch.randperm(len(data), device=device)[:1000]]
    first_all_modes = None
    elapsed = 0.0
    while trainer.step < max_steps:
        start = time.perf_counter()
        trainer.train(every, progress=False)
        sync(device)
        elapsed += time.perf_counter() - start
        with torch.no_grad():
            samples = trainer.G(torch.randn(1000, LATENT, device=device))
        coverage = metrics.mode_coverage(samples)
        distance = metrics.digit_frechet_distance(samples, reference)
        if coverage.covered == 10 and first_all_modes is None:
            first_all_modes = (trainer.step, elapsed)
        if coverage.covered == 10 and distance < fd_threshold:
            return first_all_modes, (trainer.step, elapsed, distance)
    return first_all_modes, None


def time_to_label_accuracy(data, device, batch_size: int, threshold: float, max_steps: int, every: int = 250):
    """CGAN: steps and seconds until the evaluator reads ``threshold`` of 1,000 samples (100 per asked digit, G in
    eval mode) as the digit asked for, with all 10 digits present; returns (step, seconds, accuracy) or the last try."""
    trainer = course_trainer(data, device, batch_size, model="cgan")
    labels = torch.arange(10, device=device).repeat_interleave(100)
    z = torch.randn(1000, LATENT, generator=torch.Generator().manual_seed(2)).to(device)
    elapsed, accuracy = 0.0, 0.0
    while trainer.step < max_steps:
        start = time.perf_counter()
        trainer.train(every, progress=False)
        sync(device)
        elapsed += time.perf_counter() - start
        samples = trainer.samples(z, labels)
        accuracy = metrics.label_accuracy(samples, labels)
        if accuracy >= threshold and metrics.mode_coverage(samples).covered == 10:
            return True, (trainer.step, elapsed, accuracy)
    return False, (trainer.step, elapsed, accuracy)


def _spread(rates: list[float]) -> str:
    return f"{min(rates):,.0f}–{max(rates):,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--images", type=int, default=64 * 1500, help="images per measured run")
    parser.add_argument(
        "--fd-threshold",
        type=float,
        default=500.0,
        help="digit Fréchet distance that counts as 'recognisable digits' (default 500)",
    )
    parser.add_argument("--max-steps", type=int, default=20_000)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="interleaved measured runs of every loop; the median is reported (default 3)",
    )
    parser.add_argument("--bf16", action="store_true", help="also measure the course loop under bf16 autocast")
    parser.add_argument(
        "--model",
        choices=["gan", "cgan"],
        default="gan",
        help="gan: lesson 3's MLP GAN; cgan: lesson 4's conditional GAN",
    )
    parser.add_argument(
        "--accuracy-threshold",
        type=float,
        default=0.9,
        help="cgan: label accuracy that counts as 'G writes the digit asked for' (default 0.9)",
    )
    args = parser.parse_args()
    device = get_device(args.device, verbose=True)
    with contextlib.redirect_stdout(io.StringIO()):
        digits = load_mnist(offline=True)
    print(
        f"model: {args.model}; data: {digits.source}; {torch.get_num_threads()} CPU threads; "
        f"batch {args.batch_size}; {args.images:,} images per run"
    )
    data = mnist_data(digits, device)
    rows = [("helpers.training.gan_trainer.GANTrainer, eager (reference steps)", dict(cuda_graph=False))]
    if device.type == "cuda":
        rows.append(("helpers.training.gan_trainer.GANTrainer, whole step in a CUDA graph", dict(cuda_graph=True)))
    if args.bf16:
        rows += [(f"{name}, bf16 autocast", dict(kw, amp_dtype=torch.bfloat16)) for name, kw in list(rows)]
    # Interleaved rounds (baseline, then every course row, repeated): a burst of load on a shared machine then hits
    # every loop alike, and the median of the rounds is what is compared.
    slow_rates, rates, statuses = [], [[] for _ in rows], [""] * len(rows)
    for _ in range(args.repeats):
        slow_rates.append(baseline(digits, device, args.batch_size, args.images, args.model))
        for k, (_name, kwargs) in enumerate(rows):
            rate, statuses[k] = course(data, device, args.batch_size, args.images, model=args.model, **kwargs)
            rates[k].append(rate)
    slow = statistics.median(slow_rates)
    print(f"{'loop':<56}{'images/s':>12}{'vs baseline':>13}   (median of {args.repeats} interleaved runs; range)")
    print(
        f"{f'PyTorch-GAN {args.model}.py style (DataLoader, .item())':<56}{slow:>12,.0f}{'1.0x':>13}   "
        f"[{_spread(slow_rates)}]"
    )
    best = 0.0
    for (name, _), runs, status in zip(rows, rates, statuses):
        rate = statistics.median(runs)
        best = max(best, rate)
        print(f"{name:<56}{rate:>12,.0f}{rate / slow:>12.1f}x   [{_spread(runs)}; {status}]")
    print(f"speed-up (best course loop vs baseline): {best / slow:.1f}x")
    if args.model == "cgan":
        reached, (step, seconds, accuracy) = time_to_label_accuracy(
            data, device, args.batch_size, args.accuracy_threshold, args.max_steps
        )
        verdict = "reached" if reached else "NOT reached"
        print(
            f"label accuracy >= {args.accuracy_threshold:.0%} with 10/10 digits {verdict}: {accuracy:.1%} after "
            f"{step:,} steps, {seconds:.1f} s of training"
        )
        return
    modes, quality = time_to_quality(data, device, args.batch_size, args.fd_threshold, args.max_steps)
    if modes:
        print(f"10/10 digits covered after {modes[0]:,} steps, {modes[1]:.1f} s of training")
    else:
        print(f"10/10 digits not reached in {args.max_steps:,} steps")
    if quality:
        print(
            f"10/10 digits and digit FD < {args.fd_threshold:g} after {quality[0]:,} steps, {quality[1]:.1f} s "
            f"(FD {quality[2]:.0f})"
        )
    else:
        print(f"digit FD < {args.fd_threshold:g} with 10/10 digits not reached in {args.max_steps:,} steps")


if __name__ == "__main__":
    main()
