"""Benchmark: the naive student loop vs gan_helpers' training path, side by side, one process.

    python benchmarks/bench.py [--device cpu|cuda] [--steps N] [--batch B] [--preset NAME]
                             [--repeats R] [--compile] [--json PATH]

(a) naive: the same models and Adam fed by a torchvision DataLoader over datasets.MNIST
    with ToTensor() + Normalize per sample, fp32, loss.item() every step;
(b) gan_helpers: train.prepare + train.train_epoch, whose d_step and g_step are exactly
    what train() runs, with the speed switches all automatic, then each one flipped.
Images per second are medians over repeats after warm-up steps, with the device synchronised
before every clock read; ratios are against (a) in the same run.
"""
import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from gan_helpers.config import RunConfig
from gan_helpers.data import load_dataset, torchvision_mnist
from gan_helpers.models import build_models
from gan_helpers.train import prepare, train_epoch

EPOCH_IMAGES = 60_000


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def naive_loop(cfg, device, steps, warmup):
    """What a tutorial-copied loop does: per-sample transforms, fp32, a host sync per step."""
    from torch.utils.data import DataLoader
    from torchvision import transforms
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    ds = torchvision_mnist("mnist", train=True, transform=tf, download=False)
    loader = DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True)
    g, d = (m.to(device) for m in build_models(cfg))
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr_g, betas=cfg.betas_g)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr_d, betas=cfg.betas_d)

    def step(real):
        real = real.to(device)
        z = torch.randn(real.shape[0], cfg.noise_dim, device=device)
        fake = g(z)
        real_out, fake_out = d(real), d(fake.detach())
        d_loss = (F.binary_cross_entropy_with_logits(real_out, torch.ones_like(real_out))
                  + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out)))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        out = d(fake)
        g_loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        return d_loss.item(), g_loss.item()

    def timed(n):  # noqa: E306
        it = iter(loader)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(n):
            step(next(it)[0])
        _sync(device)
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    timed(warmup)
    return (lambda: steps * cfg.batch_size / timed(steps)), time.perf_counter() - t0


def fast_path(cfg, data, steps, warmup):
    """train.prepare + train.train_epoch, warmed up: returns (a timer giving images/s, the
    setup + warm-up seconds, which include torch.compile's compile time)."""
    t0 = time.perf_counter()
    gan, data = prepare(cfg, data)
    torch.cat(train_epoch(cfg, gan, data, max_steps=warmup)).tolist()
    _sync(gan.device)
    warm = time.perf_counter() - t0

    def rate():
        _sync(gan.device)
        start = time.perf_counter()
        torch.cat(train_epoch(cfg, gan, data, max_steps=steps)).tolist()  # the one host sync, as in train()
        _sync(gan.device)
        return steps * cfg.batch_size / (time.perf_counter() - start)
    return rate, warm


def variants(device, with_compile):
    """(name, config changes): all automatic, then each switch flipped from its default."""
    cuda = device.type == "cuda"
    out = [("gan_helpers, automatic", {}),
           ("  channels_last " + ("off" if cuda else "on"), {"channels_last": not cuda}),
           ("  fused Adam " + ("off" if cuda else "on"), {"fused_optimizer": not cuda}),
           ("  precision fp32", {"precision": "fp32"}),
           ("  precision bf16 (autocast)", {"precision": "bf16"})]
    if cuda:
        out.append(("  cudnn benchmark off", {"cudnn_benchmark": False}))
    if with_compile:
        out.append(("  torch.compile on", {"compile": True}))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=None, help="timed steps per repeat")
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--preset", default="tf_tutorial")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compile", action="store_true", help="also time torch.compile (slow to build)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    steps = args.steps or (100 if cuda else 8)
    warmup = args.warmup or (20 if cuda else 2)
    cfg = RunConfig(preset=args.preset, batch_size=args.batch, device=args.device).validate()
    data = load_dataset(cfg)
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    print(f"Benchmark on {name}, torch {torch.__version__}: preset {args.preset}, batch "
          f"{args.batch}, {steps} timed steps x {args.repeats} repeats after {warmup} warm-up steps.")

    timers = [("naive loop (DataLoader + ToTensor/Normalize, fp32, .item())",
               *naive_loop(cfg, device, steps, warmup))]
    for label, changes in variants(device, args.compile or cuda):
        timers.append((label, *fast_path(cfg.replace(**changes).validate(), data, steps, warmup)))
    rates = {label: [] for label, _, _ in timers}
    for _ in range(args.repeats):  # interleaved, so a load change on the machine hits all alike
        for label, rate, _ in timers:
            rates[label].append(rate())
    naive = statistics.median(rates[timers[0][0]])
    rows = [{"name": label, "images_per_s": statistics.median(rates[label]),
             "all_images_per_s": rates[label], "warmup_s": warm} for label, _, warm in timers]
    for r in rows:
        r["s_per_epoch"] = EPOCH_IMAGES / r["images_per_s"]
        r["vs_naive"] = r["images_per_s"] / naive

    print(f"\n| variant | images/s | s per 60k epoch | vs naive | setup + warm-up s |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        warm = f"{r['warmup_s']:.1f}"
        print(f"| {r['name']} | {r['images_per_s']:,.0f} | {r['s_per_epoch']:.2f} | "
              f"{r['vs_naive']:.2f}x | {warm} |")
    result = {"device": name, "torch": torch.__version__, "preset": args.preset,
              "batch": args.batch, "steps": steps, "warmup": warmup, "repeats": args.repeats,
              "date": time.strftime("%Y-%m-%d"), "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
