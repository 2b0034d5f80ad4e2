"""CycleGAN step throughput: the course's loop (helpers.training.cycle_trainer) against a loop in the style of
PyTorch-GAN's cyclegan.py.

Both train the same networks (the official ResnetGenerator of helpers.models.cyclegan built with the reference
residual block, and the reference 70x70 PatchGAN, both from bench/reference_networks.py; Adam 2e-4,
beta1 0.5, LSGAN + L1 cycle (10) + L1 identity (5), image pools of 50) on the same images, in one run, on one device,
and the script prints steps per second for each and the ratio.

The baseline follows PyTorch-GAN ``implementations/cyclegan/cyclegan.py``: a dataset that opens each image file with
PIL and applies per-sample transforms (Resize 1.12x bicubic, RandomCrop, RandomHorizontalFlip, ToTensor, Normalize), a
``DataLoader`` with ``shuffle=True``, target tensors built from NumPy every step, a Python-list ReplayBuffer, three
optimizers (G, D_A, D_B), every loss read with ``.item()`` and a progress line printed every batch (into a buffer, so
terminal speed does not count). The course's loop keeps the resized images on the device, crops and flips there,
sums the losses on the device and reads them once per log.

Images: the horse2zebra folder when it is in the data folder, else the procedural stand-in (both drawn from files).

    python bench/cyclegan.py                          # CPU default: 64x64 crops, ngf 32, 3 residual blocks
    python bench/cyclegan.py --size 256 --batch 1 --ngf 64 --n-blocks 9 --device cuda   # the official setting
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import os
import random
import time

import numpy as np

# The course loop runs the lesson's steps and networks; here the reference ones (helpers/ never holds them).
import reference_steps as ref  # noqa: E402  (bench/ is this script's folder, so it is on sys.path)
import torch
from PIL import Image
from reference_networks import NLayerDiscriminator, ResnetBlock
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from helpers.data.horse2zebra import FOLDER, STANDIN_FOLDER, load_horse2zebra
from helpers.data.mnist import data_root
from helpers.device import get_device, set_seed
from helpers.models.cyclegan import ResnetGenerator, init_weights
from helpers.training.cycle_trainer import CycleGANTrainer


def networks(args, device):
    set_seed(0)
    nets = [ResnetGenerator(block=ResnetBlock, ngf=args.ngf, n_blocks=args.n_blocks).to(device) for _ in range(2)]
    nets += [init_weights(NLayerDiscriminator(ndf=args.ngf)).to(device) for _ in range(2)]
    return nets


# -- the baseline: PyTorch-GAN cyclegan.py style ------------------------------------------------------------


class ImageDataset(Dataset):
    """As PyTorch-GAN's datasets.py: unaligned A/B files, opened and transformed per item."""

    def __init__(self, root, transform, split="train"):
        self.transform = transforms.Compose(transform)
        self.files_A = sorted(glob.glob(os.path.join(root, f"{split}A") + "/*.*"))
        self.files_B = sorted(glob.glob(os.path.join(root, f"{split}B") + "/*.*"))

    def __getitem__(self, index):
        item_A = self.transform(Image.open(self.files_A[index % len(self.files_A)]).convert("RGB"))
        item_B = self.transform(Image.open(self.files_B[random.randint(0, len(self.files_B) - 1)]).convert("RGB"))
        return {"A": item_A, "B": item_B}

    def __len__(self):
        return max(len(self.files_A), len(self.files_B))


class ReplayBuffer:
    """As PyTorch-GAN's models.py: a Python list of single images."""

    def __init__(self, max_size=50):
        self.max_size, self.data = max_size, []

    def push_and_pop(self, data):
        to_return = []
        for element in data.data:
            element = torch.unsqueeze(element, 0)
            if len(self.data) < self.max_size:
                self.data.append(element)
                to_return.append(element)
            elif random.uniform(0, 1) > 0.5:
                i = random.randint(0, self.max_size - 1)
                to_return.append(self.data[i].clone())
                self.data[i] = element
            else:
                to_return.append(element)
        return torch.cat(to_return)


def baseline(args, folder, device, steps):
    G_AB, G_BA, D_A, D_B = networks(args, device)
    criterion_GAN, criterion_cycle, criterion_identity = torch.nn.MSELoss(), torch.nn.L1Loss(), torch.nn.L1Loss()
    optimizer_G = torch.optim.Adam([*G_AB.parameters(), *G_BA.parameters()], lr=2e-4, betas=(0.5, 0.999))
    optimizer_D_A = torch.optim.Adam(D_A.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D_B = torch.optim.Adam(D_B.parameters(), lr=2e-4, betas=(0.5, 0.999))
    fake_A_buffer, fake_B_buffer = ReplayBuffer(), ReplayBuffer()
    transforms_ = [
        transforms.Resize(int(args.size * 1.12), transforms.InterpolationMode.BICUBIC),
        transforms.RandomCrop((args.size, args.size)),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ]
    loader = DataLoader(
        ImageDataset(folder, transforms_), batch_size=args.batch, shuffle=True, num_workers=args.workers
    )
    log = io.StringIO()
    done, start = 0, None
    while done < steps + args.warmup:
        for i, batch in enumerate(loader):
            if done == args.warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
            real_A, real_B = batch["A"].to(device), batch["B"].to(device)
            shape = (real_A.size(0), 1, args.size // 8 - 2, args.size // 8 - 2)  # D's output_shape
            valid = torch.from_numpy(np.ones(shape, dtype=np.float32)).to(device)
            fake = torch.from_numpy(np.zeros(shape, dtype=np.float32)).to(device)

            G_AB.train(), G_BA.train()
            optimizer_G.zero_grad()
            loss_identity = (criterion_identity(G_BA(real_A), real_A) + criterion_identity(G_AB(real_B), real_B)) / 2
            fake_B, fake_A = G_AB(real_A), G_BA(real_B)
            loss_GAN = (criterion_GAN(D_B(fake_B), valid) + criterion_GAN(D_A(fake_A), valid)) / 2
            loss_cycle = (criterion_cycle(G_BA(fake_B), real_A) + criterion_cycle(G_AB(fake_A), real_B)) / 2
            loss_G = loss_GAN + 10.0 * loss_cycle + 5.0 * loss_identity
            loss_G.backward()
            optimizer_G.step()

            optimizer_D_A.zero_grad()
            fake_A_ = fake_A_buffer.push_and_pop(fake_A)
            loss_D_A = (criterion_GAN(D_A(real_A), valid) + criterion_GAN(D_A(fake_A_.detach()), fake)) / 2
            loss_D_A.backward()
            optimizer_D_A.step()
            optimizer_D_B.zero_grad()
            fake_B_ = fake_B_buffer.push_and_pop(fake_B)
            loss_D_B = (criterion_GAN(D_B(real_B), valid) + criterion_GAN(D_B(fake_B_.detach()), fake)) / 2
            loss_D_B.backward()
            optimizer_D_B.step()
            loss_D = (loss_D_A + loss_D_B) / 2
            print(
                f"[Batch {i}/{len(loader)}] [D loss: {loss_D.item():f}] [G loss: {loss_G.item():f}, adv: "
                f"{loss_GAN.item():f}, cycle: {loss_cycle.item():f}, identity: {loss_identity.item():f}]",
                file=log,
            )
            done += 1
            if done == steps + args.warmup:
                break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps / (time.perf_counter() - start)


# -- the course's loop ----------------------------------------------------------------------------------------


def course_trainer(args, data, device, lr=2e-4, log_every=100, amp_dtype=None):
    """Lesson 5's trainer on the reference steps: ``networks(args)``, one Adam for both G and one for both D.

    ``args`` needs ``ngf``, ``n_blocks``, ``batch`` and ``size`` (the crop); bench/cpu_threads.py builds it too.
    """
    G_AB, G_BA, D_A, D_B = networks(args, device)
    opt_G = torch.optim.Adam([*G_AB.parameters(), *G_BA.parameters()], lr=lr, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam([*D_A.parameters(), *D_B.parameters()], lr=lr, betas=(0.5, 0.999))
    return CycleGANTrainer(
        G_AB,
        G_BA,
        D_A,
        D_B,
        opt_G,
        opt_D,
        generator_step=ref.cycle_generator_step,
        discriminator_step=ref.cycle_discriminator_step,
        losses=ref.LOSSES,
        data=data,
        batch_size=args.batch,
        crop_size=args.size,
        log_every=log_every,
        amp_dtype=amp_dtype,
    )


def course(args, data, device, steps, amp_dtype=None):
    trainer = course_trainer(args, data, device, amp_dtype=amp_dtype)
    trainer.train(args.warmup, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    trainer.train(steps, progress=False)  # ends with a host read of the metrics: a sync
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--size", type=int, default=64, help="crop size (official: 256)")
    parser.add_argument("--batch", type=int, default=1, help="batch size (official: 1)")
    parser.add_argument("--ngf", type=int, default=32, help="generator/discriminator width (official: 64)")
    parser.add_argument("--n-blocks", type=int, default=3, help="residual blocks (official: 9 at 256x256)")
    parser.add_argument("--steps", type=int, default=40, help="measured steps per loop")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the baseline")
    parser.add_argument("--bf16", action="store_true", help="also measure the course loop under bf16 autocast")
    args = parser.parse_args()
    device = get_device(args.device)
    load_size = round(args.size * 286 / 256)
    data = load_horse2zebra(load_size=load_size, offline=True, device=device, verbose=False)
    folder = data_root() / (FOLDER if (data_root() / FOLDER).is_dir() else STANDIN_FOLDER)
    print(
        f"data: {data.source}; device {device}; {torch.get_num_threads()} CPU threads; crop {args.size}, batch "
        f"{args.batch}, ngf {args.ngf}, {args.n_blocks} residual blocks; {args.steps} steps per loop"
    )
    rows = [
        ("PyTorch-GAN cyclegan.py style (DataLoader over files, .item())", baseline(args, folder, device, args.steps))
    ]
    rows.append(
        ("helpers.training.cycle_trainer.CycleGANTrainer (reference steps)", course(args, data, device, args.steps))
    )
    if args.bf16:
        rows.append(
            (
                "helpers.training.cycle_trainer.CycleGANTrainer, bf16 autocast",
                course(args, data, device, args.steps, amp_dtype=torch.bfloat16),
            )
        )
    slow = rows[0][1]
    print(f"{'loop':<66}{'steps/s':>9}{'vs baseline':>13}")
    for name, rate in rows:
        print(f"{name:<66}{rate:>9.2f}{rate / slow:>12.2f}x")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
