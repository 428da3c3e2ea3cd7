"""Describing networks before training them: per-layer summaries, parameters and FLOPs, and a
table comparing architectures (built, not trained)."""
import torch
from torch import nn

from .config import RunConfig
from .models import build_models, upsampling_layers


def _flops(module, inp, out):
    """Multiply-adds x 2 for the layers that dominate the cost."""
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return 2 * module.in_channels // module.groups * k * out[0].numel()
    if isinstance(module, nn.ConvTranspose2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return 2 * module.out_channels * k * inp[0][0].numel()
    if isinstance(module, nn.Linear):
        return 2 * module.in_features * module.out_features
    return 0


def summary(model, input_shape):
    """Per-layer rows (name, layer, output shape, params, FLOPs per sample) from one forward pass."""
    rows, hooks = [], []
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]

    def hook(name):
        def record(module, inp, out):
            params = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(dict(name=name, layer=type(module).__name__,
                             output=tuple(out.shape[1:]), params=params,
                             flops=_flops(module, inp, out)))
        return record

    for name, m in leaves:
        hooks.append(m.register_forward_hook(hook(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            # a packed D (PacGAN) takes its samples in groups of `pack`
            batch = getattr(model, "pack", 1)
            model(torch.zeros(batch, *input_shape, device=next(model.parameters()).device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return rows


def format_summary(title, rows):
    lines = [title, f"{'layer':<34}{'output shape':<20}{'params':>12}{'MFLOPs':>10}"]
    for r in rows:
        lines.append(f"{r['name'] + ' ' + r['layer']:<34}{str(r['output']):<20}"
                     f"{r['params']:>12,}{r['flops'] / 1e6:>10.2f}")
    total_p, total_f = sum(r["params"] for r in rows), sum(r["flops"] for r in rows)
    lines.append(f"{'total':<54}{total_p:>12,}{total_f / 1e6:>10.2f}")
    return "\n".join(lines)


def describe_models(cfg, g, d):
    """Both networks' summaries as one printable text."""
    g_rows = summary(g, (g.noise_dim,))
    d_in = (2,) if cfg.is_points else (cfg.channels, cfg.image_size, cfg.image_size)
    d_rows = summary(d, d_in)
    return (format_summary(f"Generator: noise ({g.noise_dim},) -> {g_rows[-1]['output']}", g_rows)
            + "\n\n" + format_summary(f"Discriminator: {d_in} -> score", d_rows))


def architecture_table(variants, **base):
    """{name: config overrides} -> a markdown table of each variant's parameters and MFLOPs per
    image for G and D, built but not trained: compare the cost of architectures before
    spending any time on them. `base` holds values every variant shares (e.g. image_size)."""
    lines = ["| variant | G params | D params | G MFLOPs/image | D MFLOPs/image | G layers |",
             "|---|---|---|---|---|---|"]
    names = set(RunConfig.field_names())
    for name, overrides in variants.items():
        values = {k: v for k, v in {**base, **overrides}.items() if k in names}
        cfg = RunConfig(**values).validate()
        g, d = build_models(cfg)
        g_rows = summary(g, (cfg.noise_dim,))
        d_rows = summary(d, (cfg.channels, cfg.image_size, cfg.image_size))
        convs = sum(r["layer"] in ("Conv2d", "ConvTranspose2d", "Linear") for r in g_rows)
        lines.append(f"| {name} | {sum(r['params'] for r in g_rows):,} | "
                     f"{sum(r['params'] for r in d_rows):,} | "
                     f"{sum(r['flops'] for r in g_rows) / 1e6:.1f} | "
                     f"{sum(r['flops'] for r in d_rows) / 1e6:.1f} | {convs} |")
    return "\n".join(lines)


def overlap_pattern(kernel, stride, upsample="transposed", size=None):
    """How often each output pixel is written when a constant image is upsampled by one layer
    with all-one weights: flat for upsample + conv and for kernels divisible by the stride, a
    checkerboard for a transposed conv whose kernel the stride does not divide."""
    size = size or 2 * kernel + 2
    x = torch.ones(1, 1, size, size)
    layer = nn.Sequential(*upsampling_layers(1, 1, kernel, stride, upsample, bias=False))
    for m in layer.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.ones_(m.weight)
    with torch.no_grad():
        out = layer(x)[0, 0]
    return out[kernel:-kernel, kernel:-kernel]  # the inside: borders see fewer inputs anyway
