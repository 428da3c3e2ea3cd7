"""Train the small CNN that gan_helpers.metrics uses for class coverage and classifier-FID.

    GAN_DATA_DIR=../shared/data python data_scripts/train_classifier.py --dataset mnist

Reads the real training split from GAN_DATA_DIR (torchvision layout), trains a few epochs
with Adam and light random shifts, reports test accuracy, and writes
gan_helpers/weights/<dataset>_classifier.pt (a plain state_dict, loaded with
torch.load(weights_only=True)). Refuses to write weights below --min-accuracy.
"""
import argparse
import time

import torch
import torch.nn.functional as F

from gan_helpers.data import mnist, normalise
from gan_helpers.metrics import MnistClassifier, classifier_path


def load_split(dataset, train):
    images, labels = mnist(dataset, train=train, download=False)
    return normalise(images), labels


def shift(x, rng, max_shift=2):
    """Random translation by up to 2 pixels (pad + crop): cheap augmentation."""
    n = x.shape[0]
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2,), generator=rng).tolist()
    return padded[:, :, dy:dy + 28, dx:dx + 28][:n]


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = sum(int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum())
                  for i in range(0, len(x), 1000))
    return correct / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist"])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-accuracy", type=float, default=0.99)
    args = p.parse_args()

    torch.manual_seed(args.seed)
    rng = torch.Generator().manual_seed(args.seed)
    x, y = load_split(args.dataset, True)
    x_test, y_test = load_split(args.dataset, False)
    model = MnistClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * (len(x) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=rng)
        for i in range(len(x) // args.batch_size):
            idx = order[i * args.batch_size:(i + 1) * args.batch_size]
            loss = F.cross_entropy(model(shift(x[idx], rng)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = accuracy(model, x_test, y_test)
        print(f"epoch {epoch}: last loss {loss.item():.4f}, test accuracy {acc:.4f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    if acc < args.min_accuracy:
        raise SystemExit(f"test accuracy {acc:.4f} < {args.min_accuracy}: weights not written; "
                         f"train longer (--epochs).")
    path = classifier_path(args.dataset)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB), test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
