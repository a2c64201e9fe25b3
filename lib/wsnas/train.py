"""Super-net training: one sampled cell per mini-batch (or AVG-k), TF-style RMSProp, per-step cosine
schedule, a checksummed checkpoint every epoch with exact resume, divergence detection.

The loop reads top to bottom in `train_supernet`; data stay on the device as uint8 tensors
(`wsnas.data`), the cells of every step are drawn up front from the seed.
"""

from __future__ import annotations

import hashlib
import io
import math
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.optim import Optimizer
from tqdm import tqdm  # plain bars: tqdm.auto warns in notebooks without ipywidgets

from . import runs
from .datafiles import atomic_path
from .data import CifarSplit, TrainingBatches, balanced_subset, batches_per_epoch, epoch_batches, load_cifar10, memory_format
from .profiles import ProfileError, load_profile
from .space import SPACES, UnknownSpaceError

VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {"sampler": "uniform", "avg_k": 1, "single_kernel": False},
    "single_k": {"sampler": "uniform", "avg_k": 1, "single_kernel": True},
    "pro_rata": {"sampler": "pro_rata", "avg_k": 1, "single_kernel": False},
    "avg3": {"sampler": "uniform", "avg_k": 3, "single_kernel": False},
    "single_k+pro_rata": {"sampler": "pro_rata", "avg_k": 1, "single_kernel": True},
}
CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_MAGIC = b"WSNAS-CHECKPOINT-1\n"
CHANCE_ACCURACY = 0.1
TIMING_COLUMNS = ("seconds", "images_per_second")  # wall-clock columns: the only ones a resume may change


class CheckpointError(RuntimeError):
    """A checkpoint is truncated, corrupt, or belongs to another configuration."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a super-net training (the device aside)."""

    space: str = "A4"
    variant: str = "baseline"
    seed: int = 0
    profile: str = "demo"
    sampler: str = "uniform"  # uniform | pro_rata
    avg_k: int = 1
    single_kernel: bool = False
    epochs: int = 6
    batch_size: int = 256
    learning_rate: float = 0.2
    momentum: float = 0.9
    rms_decay: float = 0.9
    rms_eps: float = 1.0
    weight_decay: float = 1e-4
    optimizer: str = "tf_rmsprop"  # tf_rmsprop | authors_rmsprop
    lr_schedule: str = "cosine_per_step"  # cosine_per_step (NB-101) | cosine_per_epoch (the authors' code)
    memory_format: str = "contiguous"  # contiguous | channels_last
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    divergence_patience: int = 0  # epochs at chance accuracy that stop the run; 0: never
    chance_margin: float = 0.01  # "at chance" = epoch training accuracy below 0.1 + this
    stem_channels: int = 16
    num_stacks: int = 3
    cells_per_stack: int = 3
    bn_momentum: float = 0.003
    bn_eps: float = 1e-5
    data_source: str = "auto"
    data_root: str = ""
    train_subset: int = 0  # 0: the whole training split
    allow_lossy: bool = True
    device: str = "cpu"
    keep_checkpoints: tuple[int, ...] = ()  # epochs whose checkpoint is kept as checkpoint_epoch<k>.pt

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise UnknownSpaceError(self.space)
        if self.sampler not in ("uniform", "pro_rata"):
            raise ValueError(f"sampler must be 'uniform' or 'pro_rata', got {self.sampler!r}")
        if self.avg_k < 1:
            raise ValueError(f"avg_k must be at least 1, got {self.avg_k!r}")
        if self.optimizer not in ("tf_rmsprop", "authors_rmsprop"):
            raise ValueError(f"optimizer must be 'tf_rmsprop' or 'authors_rmsprop', got {self.optimizer!r}")
        object.__setattr__(self, "keep_checkpoints", tuple(int(epoch) for epoch in self.keep_checkpoints))

    def params(self) -> dict[str, Any]:
        """The parameters that identify the run (everything but the device and the kept checkpoints)."""
        values = asdict(self)
        values.pop("device")
        values.pop("keep_checkpoints")
        return values


def config_for(profile: str = "demo", **overrides: Any) -> TrainConfig:
    """The TrainConfig of `profile`, with `overrides` (profile settings or TrainConfig fields) applied.

    `variant` sets sampler, avg_k and single_kernel unless those are overridden too.
    """
    config_fields = {field.name for field in fields(TrainConfig)}
    profile_keys = set(load_profile(profile))
    unknown = set(overrides) - config_fields - profile_keys
    if unknown:
        raise ProfileError(f"unknown settings {sorted(unknown)}; known: {sorted(config_fields | profile_keys)}")
    variant = overrides.get("variant", "baseline")
    if variant not in VARIANTS:
        raise ProfileError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}")
    settings = load_profile(profile, **{key: value for key, value in overrides.items() if key in profile_keys})
    values = {key: value for key, value in settings.items() if key in config_fields}
    values.update(VARIANTS[variant])
    # evaluation settings (num_eval_cells, ...) are profile keys but not training fields
    values.update({key: value for key, value in overrides.items() if key in config_fields})
    values["profile"] = profile
    return TrainConfig(**values)


# --------------------------------------------------------------------------------------------
# Optimisers


class _RMSPropBase(Optimizer):
    """The loop both RMSProp variants share: L2 weight decay, then a per-parameter update rule."""

    def __init__(self, params, lr: float, decay: float, momentum: float, eps: float, weight_decay: float):
        super().__init__(params, {"lr": lr, "decay": decay, "momentum": momentum, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:  # not used by this step's cell
                    continue
                grad = param.grad.add(param, alpha=group["weight_decay"]) if group["weight_decay"] else param.grad
                self._update(param, grad, self.state[param], group)

    def _update(self, param: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError


class TFRMSProp(_RMSPropBase):
    """RMSProp as TensorFlow 1's RMSPropOptimizer (NB-101's optimiser).

    ms = decay·ms + (1−decay)·g²; mom = momentum·mom + lr·g/sqrt(ms + eps); p −= mom, with ms
    starting at ONE (TF initialises the `rms` slot with ones) and mom at zero. Weight decay is an L2
    term: g = grad + weight_decay·p, as NB-101's `weight_decay · Σ tf.nn.l2_loss(v)` gives.
    """

    def __init__(self, params, lr: float, decay: float = 0.9, momentum: float = 0.9, eps: float = 1.0,
                 weight_decay: float = 0.0):
        super().__init__(params, lr, decay, momentum, eps, weight_decay)

    def _update(self, param: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        if not state:
            state["ms"] = torch.ones_like(param)
            state["mom"] = torch.zeros_like(param)
        state["ms"].mul_(group["decay"]).addcmul_(grad, grad, value=1 - group["decay"])
        denominator = state["ms"].add(group["eps"]).sqrt_()
        state["mom"].mul_(group["momentum"]).addcdiv_(grad, denominator, value=group["lr"])
        param.sub_(state["mom"])


class AuthorsRMSProp(_RMSPropBase):
    """The authors' `TFRMSprop` (utils.py of their repository), kept for comparison.

    square_avg starts at zero with decay 0.99, and eps is added INTO square_avg in place at every
    step (`square_avg.add_(eps)`), so the denominator grows by eps per step until the decay balances
    it (about tenfold over the first few hundred steps with eps = 1); lr multiplies the momentum
    buffer instead of entering it. Weight decay as in TFRMSProp.
    """

    def __init__(self, params, lr: float, decay: float = 0.99, momentum: float = 0.9, eps: float = 1.0,
                 weight_decay: float = 0.0):
        super().__init__(params, lr, decay, momentum, eps, weight_decay)

    def _update(self, param: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        if not state:
            state["square_avg"] = torch.zeros_like(param)
            state["momentum_buffer"] = torch.zeros_like(param)
        square_avg = state["square_avg"]
        square_avg.mul_(group["decay"]).addcmul_(grad, grad, value=1 - group["decay"])
        denominator = square_avg.add_(group["eps"]).sqrt()  # the in-place add is the authors'
        state["momentum_buffer"].mul_(group["momentum"]).addcdiv_(grad, denominator)
        param.add_(state["momentum_buffer"], alpha=-group["lr"])


def make_optimizer(config: TrainConfig, parameters) -> Optimizer:
    if config.optimizer == "tf_rmsprop":
        return TFRMSProp(parameters, lr=config.learning_rate, decay=config.rms_decay, momentum=config.momentum,
                         eps=config.rms_eps, weight_decay=config.weight_decay)
    # The authors' code uses torch's RMSprop default decay 0.99, whatever rms_decay says.
    return AuthorsRMSProp(parameters, lr=config.learning_rate, decay=0.99, momentum=config.momentum,
                          eps=config.rms_eps, weight_decay=config.weight_decay)


def cosine_learning_rate(step: int, total_steps: int, base: float) -> float:
    """NB-101's COSINE_BY_STEP: base·(1 + cos(π·step/total))/2, reaching 0 after the last step."""
    return 0.5 * base * (1.0 + math.cos(math.pi * step / total_steps))


def scheduled_learning_rate(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate of `step`: cosine per step (NB-101), or per epoch as the authors' code steps
    torch's CosineAnnealingLR(T_max=epochs) once after each epoch (constant within an epoch)."""
    if config.lr_schedule == "cosine_per_epoch":
        return cosine_learning_rate(step // steps_per_epoch, config.epochs, config.learning_rate)
    return cosine_learning_rate(step, steps_per_epoch * config.epochs, config.learning_rate)


# --------------------------------------------------------------------------------------------
# Building blocks


def build_supernet(config: TrainConfig) -> torch.nn.Module:
    """A freshly initialised super-net for `config`, seeded by `config.seed`, on `config.device`."""
    from .supernet import SuperNet

    torch.manual_seed(config.seed)
    supernet = SuperNet(config.space, single_kernel=config.single_kernel, stem_channels=config.stem_channels,
                        num_stacks=config.num_stacks, cells_per_stack=config.cells_per_stack, num_labels=10,
                        bn_momentum=config.bn_momentum, bn_eps=config.bn_eps)
    return supernet.to(config.device, memory_format=memory_format(config.memory_format))


def autocast(config: TrainConfig) -> torch.autocast:
    """bf16 autocast on the run's device when `precision` is bf16 (a no-op context for fp32)."""
    device_type = torch.device(config.device).type
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=config.precision == "bf16")


def training_cells(config: TrainConfig, total_steps: int) -> np.ndarray:
    """Table indices of the cells of every step, shape (total_steps, avg_k), drawn from the seed."""
    from .space import sample_cells

    indices = sample_cells(config.space, total_steps * config.avg_k, seed=config.seed, method=config.sampler)
    return np.asarray(indices).reshape(total_steps, config.avg_k)


def load_training_data(config: TrainConfig) -> CifarSplit:
    return load_cifar10(config.data_source, root=config.data_root or None, device=config.device,
                        train_subset=config.train_subset or None, subset_seed=config.seed,
                        allow_lossy=config.allow_lossy)


# --------------------------------------------------------------------------------------------
# Checkpoints


def kept_checkpoint_path(run_dir: Path, epoch: int) -> Path:
    """Where the checkpoint of epoch `epoch` is kept (see TrainConfig.keep_checkpoints)."""
    return Path(run_dir) / f"checkpoint_epoch{epoch}.pt"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """torch.save `payload` behind a magic line and its sha256, written atomically (temp, fsync, rename)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    header = CHECKPOINT_MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n"
    with atomic_path(path) as temporary:
        temporary.write_bytes(header + body)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The payload of a checkpoint, after checking its sha256; a damaged file raises CheckpointError."""
    raw = Path(path).read_bytes()
    digest_end = len(CHECKPOINT_MAGIC) + 65
    if not raw.startswith(CHECKPOINT_MAGIC) or len(raw) < digest_end:
        raise CheckpointError(f"{path} is not a wsnas checkpoint (bad header); delete it to restart the run")
    expected = raw[len(CHECKPOINT_MAGIC) : digest_end - 1].decode(errors="replace")
    body = raw[digest_end:]
    actual = hashlib.sha256(body).hexdigest()
    if actual != expected:
        raise CheckpointError(
            f"{path} is truncated or corrupt (sha256 {actual}, header says {expected}); "
            "it will not be used: delete it (and its run directory) to restart the run"
        )
    return torch.load(io.BytesIO(body), weights_only=True, map_location="cpu")


def _rng_states(generator: torch.Generator) -> dict[str, Any]:
    numpy_state = np.random.get_state(legacy=False)
    states = {
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
        "numpy_key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
        "numpy_pos": int(numpy_state["state"]["pos"]),
        "numpy_gauss": (int(numpy_state["has_gauss"]), float(numpy_state["gauss"])),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_rng_states(states: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    generator.set_state(states["generator"])
    has_gauss, gauss = states["numpy_gauss"]
    np.random.set_state({"bit_generator": "MT19937", "has_gauss": has_gauss, "gauss": gauss,
                         "state": {"key": states["numpy_key"].numpy().astype(np.uint32), "pos": states["numpy_pos"]}})
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


# --------------------------------------------------------------------------------------------
# The loop


@dataclass
class TrainResult:
    state: str  # done | diverged
    run_dir: Path
    checkpoint_path: Path
    step_logs: pd.DataFrame
    epoch_logs: pd.DataFrame
    reason: str = ""

    @property
    def diverged(self) -> bool:
        return self.state == "diverged"


def train_supernet(config: TrainConfig, run_dir: Path, *, resume: bool = True, progress: bool = True,
                   stop_after_epochs: int | None = None) -> TrainResult:
    """Train (or resume, or reuse the finished) super-net of `config` in `run_dir`.

    `resume=False` discards an existing checkpoint and starts again. `stop_after_epochs` stops
    cleanly after that many epochs in total, as a kill after a checkpoint would (for tests).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / CHECKPOINT_FILE
    status = runs.get_status(run_dir)
    if resume and status is not None and status["state"] in ("done", "diverged"):
        if status["state"] == "done" or checkpoint_path.exists():  # a run may diverge before its first checkpoint
            load_checkpoint(checkpoint_path)  # a finished run is reused only if its checkpoint is intact
        return _result(run_dir, status)
    if not resume:
        for stale in (checkpoint_path, run_dir / "evaluations.parquet"):
            stale.unlink(missing_ok=True)

    split = load_training_data(config)
    steps_per_epoch = batches_per_epoch(len(split.train_labels), config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    supernet = build_supernet(config)
    optimizer = make_optimizer(config, supernet.parameters())
    cells = training_cells(config, total_steps)
    from .space import cell_at

    generator = torch.Generator().manual_seed(config.seed)
    step, epoch, step_logs, epoch_logs, chance_epochs = 0, 0, [], [], 0
    if resume and checkpoint_path.exists():
        saved = load_checkpoint(checkpoint_path)
        if saved["params"] != config.params():
            raise CheckpointError(f"{checkpoint_path} was written for other parameters; delete it to start again")
        supernet.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        _restore_rng_states(saved["rng"], generator)
        step, epoch, chance_epochs = saved["step"], saved["epoch"], saved["chance_epochs"]
        step_logs, epoch_logs = saved["step_logs"], saved["epoch_logs"]
    runs.set_status(run_dir, "running", epoch=epoch, step=step, total_steps=total_steps, data=split.description)

    precision = autocast(config)
    bar = tqdm(total=total_steps, initial=step, disable=not progress, desc=f"{config.space} {config.variant}", unit="step")
    supernet.train()
    state, reason = "running", ""
    while epoch < config.epochs and state == "running":
        epoch_start = time.perf_counter()
        first_step = len(step_logs)
        for images, labels in epoch_batches(split, config.batch_size, generator, config.memory_format):
            step_start = time.perf_counter()
            learning_rate = scheduled_learning_rate(config, step, steps_per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate
            optimizer.zero_grad(set_to_none=True)
            loss_sum, correct = 0.0, 0
            for index in cells[step]:  # AVG-k: k cells on the same batch, mean loss, one step
                with precision:
                    logits = supernet(images, cell_at(int(index)))
                loss = F.cross_entropy(logits.float(), labels)
                (loss / config.avg_k).backward()
                loss_sum += loss.item()
                correct += int((logits.argmax(1) == labels).sum())
            loss_value = loss_sum / config.avg_k
            if not math.isfinite(loss_value):
                state, reason = "diverged", f"non-finite loss {loss_value} at step {step}"
                break
            optimizer.step()
            seconds = time.perf_counter() - step_start
            step_logs.append({"step": step, "epoch": epoch, "loss": loss_value,
                              "accuracy": correct / (len(labels) * config.avg_k), "learning_rate": learning_rate,
                              "seconds": seconds, "images_per_second": len(labels) / seconds})
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{learning_rate:.3g}", refresh=False)
        if state != "running":
            break
        this_epoch = step_logs[first_step:]
        seconds = time.perf_counter() - epoch_start
        accuracy = float(np.mean([row["accuracy"] for row in this_epoch]))
        epoch_logs.append({"epoch": epoch, "steps": len(this_epoch), "loss": float(np.mean([row["loss"] for row in this_epoch])),
                           "accuracy": accuracy, "learning_rate": this_epoch[-1]["learning_rate"],
                           "seconds": seconds, "images_per_second": len(split.train_labels) / seconds})
        epoch += 1
        chance_epochs = chance_epochs + 1 if accuracy < CHANCE_ACCURACY + config.chance_margin else 0
        if config.divergence_patience and chance_epochs >= config.divergence_patience:
            state, reason = "diverged", f"training accuracy at chance for {chance_epochs} epochs (epoch {epoch})"
        save_checkpoint(checkpoint_path, {
            "params": config.params(), "model": supernet.state_dict(), "optimizer": optimizer.state_dict(),
            "rng": _rng_states(generator), "step": step, "epoch": epoch, "chance_epochs": chance_epochs,
            "step_logs": step_logs, "epoch_logs": epoch_logs})
        if epoch in config.keep_checkpoints:  # a mid-run snapshot, e.g. to compare with a shorter run
            shutil.copyfile(checkpoint_path, kept_checkpoint_path(run_dir, epoch))
        _write_logs(run_dir, step_logs, epoch_logs)
        if state == "running":
            runs.set_status(run_dir, "running", epoch=epoch, step=step, total_steps=total_steps, data=split.description)
        if stop_after_epochs is not None and epoch >= stop_after_epochs and epoch < config.epochs:
            bar.close()
            return _result(run_dir, runs.get_status(run_dir))
    bar.close()
    if state == "running":
        state = "done"
    if state == "diverged" and reason.startswith("non-finite"):
        _write_logs(run_dir, step_logs, epoch_logs)
    runs.set_status(run_dir, state, epoch=epoch, step=step, total_steps=total_steps, reason=reason, data=split.description)
    return _result(run_dir, runs.get_status(run_dir))


def _write_logs(run_dir: Path, step_logs: list[dict], epoch_logs: list[dict]) -> None:
    runs.write_table(run_dir, "train_steps", pd.DataFrame(step_logs))
    runs.write_table(run_dir, "train_epochs", pd.DataFrame(epoch_logs))


def _result(run_dir: Path, status: dict[str, Any]) -> TrainResult:
    return TrainResult(state=status["state"], run_dir=run_dir, checkpoint_path=run_dir / CHECKPOINT_FILE,
                       step_logs=runs.read_table(run_dir, "train_steps"), epoch_logs=runs.read_table(run_dir, "train_epochs"),
                       reason=status.get("reason", ""))


def load_trained_supernet(config: TrainConfig, run_dir: Path, epoch: int | None = None) -> torch.nn.Module:
    """The super-net of `config` with the weights of the checkpoint in `run_dir` (or of a kept epoch), in eval mode."""
    path = Path(run_dir) / CHECKPOINT_FILE if epoch is None else kept_checkpoint_path(run_dir, epoch)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist: train the run (with keep_checkpoints including {epoch}) first")
    saved = load_checkpoint(path)
    if saved["params"] != config.params():
        raise CheckpointError(f"the checkpoint in {run_dir} was written for other parameters")
    supernet = build_supernet(config)
    supernet.load_state_dict(saved["model"])
    return supernet.eval()


# --------------------------------------------------------------------------------------------
# Evaluation of a finished run (the profile's evaluation settings, wsnas.evaluate's functions)

EVALUATION_SETTINGS = ("num_eval_cells", "bn_batch_size", "eval_batch_size", "num_bn_batches", "bn_statistics", "valid_subset",
                       "eval_seed", "eval_sample")


def evaluation_settings(profile: str = "demo", **overrides: Any) -> dict[str, Any]:
    """The evaluation settings of `profile` (overrides that are not evaluation settings are ignored)."""
    settings = load_profile(profile, **{key: value for key, value in overrides.items() if key in EVALUATION_SETTINGS})
    return {key: settings[key] for key in EVALUATION_SETTINGS}


def evaluations_name(epoch: int | None = None) -> str:
    """The run table holding the evaluations of the final checkpoint, or of a kept mid-run epoch."""
    return "evaluations" if epoch is None else f"evaluations_epoch{epoch}"


def evaluate_run(config: TrainConfig, run_dir: Path, settings: dict[str, Any], nb101=None,
                 progress: bool = True, epoch: int | None = None) -> pd.DataFrame:
    """NO-FT and BNS-FT proxy accuracy of the run's evaluation cells, joined to NB-101; cached in the run.

    One row per (cell, mode): hash, mode, proxy_accuracy, weight (of `evaluation_cells`),
    nb101_validation_accuracy (mean of the 3 repeats), nb101_test_accuracy, trainable_parameters.
    `epoch` evaluates a kept mid-run checkpoint instead of the final one.
    """
    from .evaluate import MODES, evaluation_cells, proxy_accuracy
    from .nb101 import NB101

    run_dir = Path(run_dir)
    stored = runs.read_table(run_dir, evaluations_name(epoch))
    if stored is not None:
        return stored
    nb101 = nb101 if nb101 is not None else NB101.load()
    supernet = load_trained_supernet(config, run_dir, epoch)
    split = load_training_data(config)
    valid = slice(None)
    if settings["valid_subset"]:  # class-balanced: the embedded validation arrays are ordered by class
        valid = torch.from_numpy(balanced_subset(split.valid_labels.cpu().numpy(), settings["valid_subset"], settings["eval_seed"]))
    # per_supernet: each super-net ranks its own sample of cells, as in the paper; shared: all rank the same
    sample_seed = [settings["eval_seed"], config.seed] if settings["eval_sample"] == "per_supernet" else settings["eval_seed"]
    cells, weights = evaluation_cells(config.space, settings["num_eval_cells"], sample_seed, nb101)
    tables = []
    for mode in MODES:
        batches = TrainingBatches(split, settings["bn_batch_size"], seed=settings["eval_seed"], layout=config.memory_format)
        table = proxy_accuracy(supernet, cells, split.valid_images[valid], split.valid_labels[valid], mode=mode,
                               train_batches=batches, num_bn_batches=settings["num_bn_batches"],
                               bn_statistics=settings["bn_statistics"], batch_size=settings["eval_batch_size"],
                               progress=progress, layout=config.memory_format, precision=config.precision)
        tables.append(table.assign(weight=weights))
    evaluations = pd.concat(tables, ignore_index=True)
    truth = nb101.metrics(evaluations["hash"].unique())
    evaluations["nb101_validation_accuracy"] = evaluations["hash"].map(truth["mean_validation_accuracy"])
    evaluations["nb101_test_accuracy"] = evaluations["hash"].map(truth["mean_test_accuracy"])
    evaluations["trainable_parameters"] = evaluations["hash"].map(truth["trainable_parameters"]).astype("int64")
    runs.write_table(run_dir, evaluations_name(epoch), evaluations)
    return evaluations


def correlations(evaluations: pd.DataFrame) -> pd.DataFrame:
    """Spearman (the paper's statistic) and Kendall tau of proxy vs NB-101 validation accuracy, per mode.

    `spearman_weighted` re-weights the sample by `weight` (see `evaluation_cells`), estimating the
    Spearman of a uniform sample of the whole space where the known cells are not uniform (A0 and its halves).
    """
    from scipy import stats

    from .evaluate import weighted_spearman

    rows = {}
    for mode, group in evaluations.groupby("mode", sort=False):
        spearman = stats.spearmanr(group["proxy_accuracy"], group["nb101_validation_accuracy"])
        kendall = stats.kendalltau(group["proxy_accuracy"], group["nb101_validation_accuracy"])
        rows[mode] = {"cells": len(group), "spearman": spearman.statistic, "spearman_p": spearman.pvalue,
                      "spearman_weighted": weighted_spearman(group["proxy_accuracy"], group["nb101_validation_accuracy"],
                                                             group["weight"]),
                      "kendall": kendall.statistic, "kendall_p": kendall.pvalue}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("mode")


@dataclass
class RunOutcome:
    """What one training chapter produces: the run's settings, its training and its evaluations."""

    config: TrainConfig
    settings: dict[str, Any]
    run_dir: Path
    result: TrainResult
    evaluations: pd.DataFrame | None  # None when the super-net diverged


def train_and_evaluate(profile: str, space: str, variant: str, seed: int, *, device: str = "cpu",
                       results_root: str | Path | None = None, overrides: dict[str, Any] | None = None,
                       progress: bool = True) -> RunOutcome:
    """Train (or resume, or reuse) one super-net and evaluate it NO-FT and BNS-FT, in its run directory."""
    overrides = dict(overrides or {})
    config = config_for(profile, space=space, variant=variant, seed=seed, device=device, **overrides)
    settings = evaluation_settings(profile, **overrides)
    run_dir = runs.open_run("training", {**config.params(), **settings}, overrides=overrides,
                            root=runs.resolve_root(results_root))
    result = train_supernet(config, run_dir, progress=progress)
    evaluations = None if result.diverged else evaluate_run(config, run_dir, settings, progress=progress)
    return RunOutcome(config, settings, run_dir, result, evaluations)
