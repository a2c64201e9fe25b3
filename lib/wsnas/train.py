"""Super-net training: one sampled cell per mini-batch (or AVG-k), the RMSProp variants and schedules
of `wsnas.optim`, a checksummed checkpoint every epoch with exact resume, divergence detection.

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
from tqdm import tqdm  # plain bars: tqdm.auto warns in notebooks without ipywidgets

from . import runs
from .data import (
    CifarSplit,
    batches_per_epoch,
    epoch_batches,
    keep_freed_memory,
    load_cifar10,
    memory_format,
    precision_context,
    training_precision,
)
from .datafiles import atomic_path
from .optim import make_optimizer, scheduled_learning_rate
from .profiles import SETTINGS, ProfileError, load_profile
from .reference import CHANCE_ACCURACY
from .space import SPACES, UnknownSpaceError, cell_at, sample_cells
from .supernet import SuperNet

VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {"sampler": "uniform", "avg_k": 1, "single_kernel": False},
    "single_k": {"sampler": "uniform", "avg_k": 1, "single_kernel": True},
    "pro_rata": {"sampler": "pro_rata", "avg_k": 1, "single_kernel": False},
    "avg3": {"sampler": "uniform", "avg_k": 3, "single_kernel": False},
    "single_k+pro_rata": {"sampler": "pro_rata", "avg_k": 1, "single_kernel": True},
}
CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_MAGIC = b"WSNAS-CHECKPOINT-1\n"
TIMING_COLUMNS = ("seconds", "images_per_second")  # wall-clock columns: the only ones a resume may change


class CheckpointError(RuntimeError):
    """A checkpoint is truncated, corrupt, or belongs to another configuration."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a super-net training (the device aside)."""

    # the run's identity
    space: str
    variant: str
    seed: int
    profile: str
    # the variant's settings (VARIANTS)
    sampler: str  # uniform | pro_rata
    avg_k: int
    single_kernel: bool
    # the profile's settings (wsnas.profiles.SETTINGS)
    epochs: int
    batch_size: int
    learning_rate: float
    momentum: float
    rms_decay: float
    rms_eps: float
    weight_decay: float
    optimizer: str  # tf_rmsprop | authors_rmsprop
    lr_schedule: str  # cosine_per_step (NB-101) | cosine_per_epoch (the authors' code)
    memory_format: str  # contiguous | channels_last
    precision: str  # fp32 | bf16 (autocast) | auto (data.training_precision, data.validation_precision)
    divergence_patience: int  # epochs at chance accuracy that stop the run; 0: never
    stem_channels: int
    num_stacks: int
    cells_per_stack: int
    bn_momentum: float
    second_bn_momentum: float  # 0: no second set of running statistics
    bn_eps: float
    data_source: str
    data_root: str
    train_subset: int  # 0: the whole training split
    allow_lossy: bool
    # not from a profile
    chance_margin: float = 0.01  # "at chance" = epoch training accuracy below CHANCE_ACCURACY + this
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
        if not values["second_bn_momentum"]:  # runs from before the setting existed keep their identity
            values.pop("second_bn_momentum")
        return values


def config_for(profile: str = "demo", space: str = "A4", variant: str = "baseline", seed: int = 0, *,
               device: str = "cpu", **overrides: Any) -> TrainConfig:
    """The TrainConfig of the run (profile, space, variant, seed) on `device`, with `overrides` applied.

    `overrides` are profile settings (checked as the profile's own) or TrainConfig fields; the
    variant sets sampler, avg_k and single_kernel unless those are overridden too.
    """
    if variant not in VARIANTS:
        raise ProfileError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}")
    config_fields = {field.name for field in fields(TrainConfig)}
    unknown = set(overrides) - config_fields - set(SETTINGS)
    if unknown:
        raise ProfileError(f"unknown settings {sorted(unknown)}; known: {sorted(config_fields | set(SETTINGS))}")
    settings = load_profile(profile, **{key: value for key, value in overrides.items() if key in SETTINGS})
    values = {key: value for key, value in settings.items() if key in config_fields}
    values.update(VARIANTS[variant])
    # evaluation settings (num_eval_cells, ...) are profile settings but not training fields
    values.update({key: value for key, value in overrides.items() if key in config_fields})
    values.update(space=space, variant=variant, seed=seed, profile=profile, device=device)
    return TrainConfig(**values)


# --------------------------------------------------------------------------------------------
# Building blocks


def build_supernet(config: TrainConfig) -> torch.nn.Module:
    """A freshly initialised super-net for `config`, seeded by `config.seed`, on `config.device`."""
    torch.manual_seed(config.seed)
    supernet = SuperNet(config.space, single_kernel=config.single_kernel, stem_channels=config.stem_channels,
                        num_stacks=config.num_stacks, cells_per_stack=config.cells_per_stack, num_labels=10,
                        bn_momentum=config.bn_momentum, bn_eps=config.bn_eps,
                        second_bn_momentum=config.second_bn_momentum or None)
    return supernet.to(config.device, memory_format=memory_format(config.memory_format))


def training_cells(config: TrainConfig, total_steps: int) -> np.ndarray:
    """Table indices of the cells of every step, shape (total_steps, avg_k), drawn from the seed."""
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


def _check_same_precision(path: Path, saved: str, here: str, config: TrainConfig, allow_switch: bool) -> bool:
    """Whether the resumed run switches precision; a switch not asked for is refused (`auto` resolves per machine)."""
    if saved == here:
        return False
    if allow_switch:
        return True
    raise CheckpointError(
        f"{path} trained in {saved}, but precision={config.precision!r} means {here} on {config.device} here; "
        f"resume it on a machine where it means {saved}, or continue it in {here} on purpose "
        f"(allow_precision_switch=True, `wsnas study --allow-precision-switch`: the switch is logged), "
        "or delete the run directory to start again")


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
    trained_in: str = ""  # the precision the steps ran in (`auto` resolved); "" for runs older than that record

    @property
    def diverged(self) -> bool:
        return self.state == "diverged"


def train_supernet(config: TrainConfig, run_dir: Path, *, resume: bool = True, progress: bool = True,
                   stop_after_epochs: int | None = None, allow_precision_switch: bool = False) -> TrainResult:
    """Train (or resume, or reuse the finished) super-net of `config` in `run_dir`.

    `resume=False` discards an existing checkpoint and starts again. `stop_after_epochs` stops
    cleanly after that many epochs in total, as a kill after a checkpoint would (for tests).
    `allow_precision_switch` lets a run continue in the precision `auto` means here when it trained in
    another (e.g. fp32 on a CPU without native bf16); each epoch's log row says what it trained in, and
    `precision_switches` in status.json and the checkpoint records the epoch of every switch.
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

    keep_freed_memory()
    split = load_training_data(config)
    steps_per_epoch = batches_per_epoch(len(split.train_labels), config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    supernet = build_supernet(config)
    optimizer = make_optimizer(config, supernet.parameters())
    cells = training_cells(config, total_steps)
    generator = torch.Generator().manual_seed(config.seed)
    step, epoch, step_logs, epoch_logs, chance_epochs, switches = 0, 0, [], [], 0, []
    trained_in = training_precision(config.precision, config.device)
    if resume and checkpoint_path.exists():
        saved = load_checkpoint(checkpoint_path)
        if saved["params"] != config.params():
            raise CheckpointError(f"{checkpoint_path} was written for other parameters; delete it to start again")
        saved_precision = saved.get("trained_in", config.precision)
        switches = list(saved.get("precision_switches", []))
        if _check_same_precision(checkpoint_path, saved_precision, trained_in, config, allow_precision_switch):
            switches.append({"epoch": saved["epoch"], "step": saved["step"], "from": saved_precision, "to": trained_in})
        supernet.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        _restore_rng_states(saved["rng"], generator)
        step, epoch, chance_epochs = saved["step"], saved["epoch"], saved["chance_epochs"]
        step_logs, epoch_logs = saved["step_logs"], saved["epoch_logs"]
    status_fields = {"total_steps": total_steps, "trained_in": trained_in, "data": split.description,
                     **({"precision_switches": switches} if switches else {})}
    runs.set_status(run_dir, "running", epoch=epoch, step=step, **status_fields)

    precision = precision_context(config.device, trained_in)
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
                           "seconds": seconds, "images_per_second": len(split.train_labels) / seconds,
                           "trained_in": trained_in})
        epoch += 1
        chance_epochs = chance_epochs + 1 if accuracy < CHANCE_ACCURACY + config.chance_margin else 0
        if config.divergence_patience and chance_epochs >= config.divergence_patience:
            state, reason = "diverged", f"training accuracy at chance for {chance_epochs} epochs (epoch {epoch})"
        save_checkpoint(checkpoint_path, {
            "params": config.params(), "trained_in": trained_in, "model": supernet.state_dict(),
            "optimizer": optimizer.state_dict(), "rng": _rng_states(generator), "step": step, "epoch": epoch, "chance_epochs": chance_epochs,
            "step_logs": step_logs, "epoch_logs": epoch_logs, "precision_switches": switches})
        if epoch in config.keep_checkpoints:  # a mid-run snapshot, e.g. to compare with a shorter run
            shutil.copyfile(checkpoint_path, kept_checkpoint_path(run_dir, epoch))
        _write_logs(run_dir, step_logs, epoch_logs)
        if state == "running":
            runs.set_status(run_dir, "running", epoch=epoch, step=step, **status_fields)
        if stop_after_epochs is not None and epoch >= stop_after_epochs and epoch < config.epochs:
            bar.close()
            return _result(run_dir, runs.get_status(run_dir))
    bar.close()
    if state == "running":
        state = "done"
    if state == "diverged" and reason.startswith("non-finite"):
        _write_logs(run_dir, step_logs, epoch_logs)
    runs.set_status(run_dir, state, epoch=epoch, step=step, reason=reason, **status_fields)
    return _result(run_dir, runs.get_status(run_dir))


def _write_logs(run_dir: Path, step_logs: list[dict], epoch_logs: list[dict]) -> None:
    runs.write_table(run_dir, "train_steps", pd.DataFrame(step_logs))
    runs.write_table(run_dir, "train_epochs", pd.DataFrame(epoch_logs))


def _result(run_dir: Path, status: dict[str, Any]) -> TrainResult:
    return TrainResult(state=status["state"], run_dir=run_dir, checkpoint_path=run_dir / CHECKPOINT_FILE,
                       step_logs=runs.read_table(run_dir, "train_steps"), epoch_logs=runs.read_table(run_dir, "train_epochs"),
                       reason=status.get("reason", ""), trained_in=status.get("trained_in", ""))


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
