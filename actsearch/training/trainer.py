"""The proxy training job that scores one candidate activation.

airbench-style input path: the whole split sits on the device as uint8, batches are
``randperm`` index slices converted per batch, CIFAR augmentation is batched tensor ops, and
there are no DataLoader workers. The data order and augmentation come from their own seeded
generator, so every activation trained with one seed sees exactly the same batches.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from actsearch import cost
from actsearch.activations import Activation, build_activation, describe, kernels, set_progress
from actsearch.training.config import VAL_FRACTION, TrainConfig
from actsearch.training.data import Dataset, load_task
from actsearch.errors import ConfigError
from actsearch.training.models import build_model

# Called after each epoch with (epoch, validation accuracy %, or test accuracy when the job has no
# validation split); returning True stops the job (pruning).
EpochCallback = Callable[[int, float], "bool | None"]
DEAD_THRESHOLD = 1e-5  # the N-ReLU seed's: mean |activation| below this marks a dead unit
# --compile auto: fuse the activation kernels when a batch pushes at least this many elements
# through activations (conv models). Below it, per-op overhead dominates and eager is as fast.
COMPILE_MIN_ELEMENTS = 1_000_000

_datasets: dict[tuple[str, str | None], Dataset] = {}


def get_dataset(task: str, data_dir: str | None = None) -> Dataset:
    """Load a task once per process; searches train many candidates on it."""
    key = (task, data_dir)
    if key not in _datasets:
        _datasets[key] = load_task(task, data_dir)
    return _datasets[key]


@dataclass
class TrainResult:
    status: str  # ok | diverged | pruned
    reason: str | None
    val_acc: float | None  # % on the validation split after the last epoch run (None: no split)
    val_curve: list[float]  # validation accuracy (%) after each epoch
    test_acc: float  # % after the last epoch run
    test_loss: float
    curve: list[float]  # test accuracy (%) after each epoch
    epoch_to_target: int | None  # first epoch (1-based) reaching the target accuracy
    epoch_to_90: int | None  # the R-ReLU seed's column: first epoch reaching 90%
    dead_ratio: float | None  # None when no evaluation ran
    model_flops: int  # per sample, forward
    activation_flops: int  # per sample, forward, inference
    activation_flops_train: int
    params: int
    time_s: float
    config: dict[str, Any] = field(default_factory=dict)  # the resolved TrainConfig

    def record(self) -> dict[str, Any]:
        """One results.jsonl line (the R-ReLU seed's aggregation script reads activation,
        test_acc, epoch_to_90 and flops)."""
        c = self.config
        rec = {
            "activation": describe(c["activation"]),
            "activation_config": c["activation"],
            "flops": self.model_flops + self.activation_flops,
            "task": c["task"],
            "model": c["model"],
            "budget": c["budget"],
            "seed": c["seed"],
        }
        rec.update({k: v for k, v in asdict(self).items() if k != "config"})
        rec["train_config"] = c
        return rec


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available[name]:
        raise ConfigError(f"--device {name} was asked for but this machine has none; use --device auto or cpu")
    return torch.device(name)


class Batches:
    """Draws normalized (and, for CIFAR, augmented) batches from a uint8 tensor on the device."""

    def __init__(self, data: Dataset, x: torch.Tensor, y: torch.Tensor, device: torch.device):
        self.x, self.y = x.to(device), y.to(device)
        std = torch.tensor(data.std, device=device).view(1, -1, 1, 1)
        mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1)
        self.mul, self.add = data.scale / std, -mean / std

    def __len__(self) -> int:
        return len(self.y)

    def get(self, idx: torch.Tensor) -> torch.Tensor:
        return self.x[idx].float().mul_(self.mul).add_(self.add)


def augment(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random horizontal flip and pad-and-crop, one draw per image, as batched tensor ops."""
    n, _, h, w = x.shape
    dev = x.device
    flip = torch.rand(n, generator=generator).to(dev) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(dev)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(dev)
    rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]
    chans = torch.arange(x.shape[1], device=dev)[None, :, None, None]
    return padded[torch.arange(n, device=dev)[:, None, None, None], chans, rows, cols]


def _make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer with its fused kernel (one kernel per step, not several per tensor),
    falling back to the default implementation where a device has none."""
    kinds = {
        "adam": (torch.optim.Adam, {}),
        "adamw": (torch.optim.AdamW, {}),
        "sgd": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    }
    cls, extra = kinds[cfg.optimizer]
    kwargs = dict(lr=cfg.lr, weight_decay=cfg.weight_decay, **extra)
    try:
        return cls(model.parameters(), fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return cls(model.parameters(), **kwargs)


class DeadUnitMeter:
    """Mean |activation| per hidden unit over an evaluation pass (features, channels or the
    embedding dimension), via forward hooks on every actsearch activation."""

    def __init__(self, model: nn.Module):
        self.sums: dict[int, torch.Tensor] = {}
        self.counts: dict[int, int] = {}
        self.handles = [
            m.register_forward_hook(self._hook(i))
            for i, m in enumerate(m for m in model.modules() if isinstance(m, Activation))
        ]

    def _hook(self, key: int):
        def hook(module, inputs, out):
            unit_dim = 2 if out.dim() == 3 else 1  # (B, N, D) tokens; (B, F) or (B, C, H, W)
            other = [d for d in range(out.dim()) if d != unit_dim]
            self.sums[key] = self.sums.get(key, 0) + out.detach().abs().sum(dim=other, dtype=torch.float32)
            self.counts[key] = self.counts.get(key, 0) + out.numel() // out.shape[unit_dim]

        return hook

    def ratio(self) -> float:
        for h in self.handles:
            h.remove()
        dead = total = 0
        for key, s in self.sums.items():
            mean = s / self.counts[key]
            dead += int((mean < DEAD_THRESHOLD).sum())
            total += mean.numel()
        return dead / total if total else 0.0


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast, or nothing: even a disabled autocast context costs time on every step."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


@torch.no_grad()
def evaluate(model: nn.Module, batches: Batches, amp: bool, device: torch.device, dead: bool = False):
    """(accuracy %, mean loss, dead ratio or None) on a whole split, in eval mode."""
    model.eval()
    meter = DeadUnitMeter(model) if dead else None
    correct, loss_sum = 0, 0.0
    n = len(batches)
    for start in range(0, n, 1024):
        idx = torch.arange(start, min(start + 1024, n), device=batches.y.device)
        with autocast(device, amp):
            logits = model(batches.get(idx))
        y = batches.y[idx]
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").item()
        correct += int((logits.argmax(1) == y).sum())
    return 100.0 * correct / n, loss_sum / n, (meter.ratio() if meter else None)


def job_model(cfg: TrainConfig, data: Dataset) -> nn.Module:
    """The model a job under the resolved ``cfg`` trains: one place, so that what is costed
    before training (``model_costs``) is what ``train`` trains."""
    return build_model(cfg.model, data.input_shape, data.num_classes, lambda: build_activation(cfg.activation),
                       cfg.width, depth=cfg.depth, norm=cfg.norm)


def model_costs(config: TrainConfig) -> cost.ModelCost:
    """FLOPs and parameters of the model a job would train, without training it."""
    cfg = config.resolved()
    data = get_dataset(cfg.task, cfg.data_dir)
    model = job_model(cfg, data)
    example = Batches(data, data.train_x[:2], data.train_y[:2], torch.device("cpu")).get(torch.arange(2))
    return cost.measure(model, example, cfg.activation)


def validation_split(labels: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(validation indices, the rest) of a training split: stratified by class, drawn with a
    fixed seed, so every candidate and seed is chosen on the same images and never trains on
    them. At most VAL_FRACTION of the split."""
    n = len(labels)
    size = min(size, int(n * VAL_FRACTION))
    if size <= 0:
        return torch.empty(0, dtype=torch.long), torch.arange(n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    shuffled = labels[perm]
    picked = []
    for c in torch.unique(labels).tolist():
        members = perm[shuffled == c]
        picked.append(members[: round(size * len(members) / n)])
    val = torch.cat(picked).sort().values
    keep = torch.ones(n, dtype=torch.bool)
    keep[val] = False
    return val, torch.nonzero(keep).flatten()


def train(
    config: TrainConfig,
    dataset: Dataset | None = None,
    callback: EpochCallback | None = None,
) -> TrainResult:
    """Train one candidate under ``config`` and score it. Never raises for a diverging run."""
    cfg = config.resolved()
    data = dataset if dataset is not None else get_dataset(cfg.task, cfg.data_dir)
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    started = time.perf_counter()

    torch.manual_seed(cfg.seed)  # model init and activation noise
    order = torch.Generator().manual_seed(cfg.seed)  # data order and augmentation only
    val_idx, pool = validation_split(data.train_y, cfg.val_subset)
    subset = pool[torch.randperm(len(pool), generator=order)[: cfg.train_subset or len(pool)]].sort().values
    train_b = Batches(data, data.train_x[subset], data.train_y[subset], device)
    val_b = Batches(data, data.train_x[val_idx], data.train_y[val_idx], device) if len(val_idx) else None
    n_test = len(data.test_y)
    # The same test images for every candidate and seed, so their scores compare.
    test_idx = torch.randperm(n_test, generator=torch.Generator().manual_seed(0))[: cfg.test_subset or n_test]
    test_idx = test_idx.sort().values
    test_b = Batches(data, data.test_x[test_idx], data.test_y[test_idx], device)

    model = job_model(cfg, data).to(device)
    costs = cost.measure(model, train_b.get(torch.arange(2, device=device)), cfg.activation)
    if cfg.compile is None:
        cfg = replace(cfg, compile=costs.activation_elements * cfg.batch_size >= COMPILE_MIN_ELEMENTS)
    kernels.set_compile(model, cfg.compile)  # per module: later activations keep their own mode
    optimizer = _make_optimizer(cfg, model)
    steps_per_epoch = math.ceil(len(train_b) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs

    curve: list[float] = []
    val_curve: list[float] = []
    status, reason, dead_ratio = "ok", None, None
    test_loss = float("nan")
    step = 0
    for epoch in range(cfg.epochs):
        set_progress(model, epoch / cfg.epochs)
        model.train()
        perm = torch.randperm(len(train_b), generator=order).to(device)
        loss_sum = torch.zeros((), device=device)
        for i in range(steps_per_epoch):
            idx = perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            xb = train_b.get(idx)
            if data.augment:
                xb = augment(xb, order)
            if cfg.lr_schedule == "cosine":
                for group in optimizer.param_groups:
                    group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            with autocast(device, cfg.amp):
                loss = F.cross_entropy(model(xb).float(), train_b.y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            step += 1
        # One host sync per epoch: a NaN or inf anywhere in the epoch shows in the sum.
        if not math.isfinite(loss_sum.item()):
            status, reason = "diverged", f"training loss became {loss_sum.item()} in epoch {epoch + 1}"
            break
        last = epoch == cfg.epochs - 1
        # Dead units are measured on the final evaluation only (they cost a reduction per site).
        acc, test_loss, dead_ratio = evaluate(model, test_b, cfg.amp, device, dead=last)
        curve.append(acc)
        if val_b is not None:
            val_curve.append(evaluate(model, val_b, cfg.amp, device)[0])
        if callback is not None and callback(epoch + 1, val_curve[-1] if val_b is not None else acc) and not last:
            status, reason = "pruned", f"stopped after epoch {epoch + 1} of {cfg.epochs}"
            break

    def first_reaching(target: float) -> int | None:
        return next((e + 1 for e, a in enumerate(curve) if a >= target), None)

    return TrainResult(
        status=status,
        reason=reason,
        val_acc=val_curve[-1] if val_curve else None,
        val_curve=val_curve,
        test_acc=curve[-1] if curve else 0.0,
        test_loss=test_loss if math.isfinite(test_loss) else None,  # type: ignore[arg-type]
        curve=curve,
        epoch_to_target=first_reaching(cfg.target),
        epoch_to_90=first_reaching(90.0),
        dead_ratio=dead_ratio,
        model_flops=costs.model_flops,
        activation_flops=costs.activation_flops,
        activation_flops_train=costs.activation_flops_train,
        params=costs.params,
        time_s=time.perf_counter() - started,
        config=cfg.to_dict(),
    )
