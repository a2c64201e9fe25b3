"""Super-net training: one sampled cell per mini-batch (or AVG-k), the RMSProp variants and schedules
of `wsnas.optim`, a checksummed checkpoint every epoch with exact resume, divergence detection.

The loop reads top to bottom in `train_supernet`; data stay on the device as uint8 tensors
(`wsnas.data`), the cells of every step are drawn up front from the seed.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm  # plain bars: tqdm.auto warns in notebooks without ipywidgets

from . import runs
from .checkpoints import CHECKPOINT_FILE, CheckpointError, kept_checkpoint_path, load_checkpoint, save_checkpoint
from .data import (
    batches_per_epoch,
    epoch_batches,
    keep_freed_memory,
    load_training_data,
    precision_context,
    training_precision,
)
from .optim import make_optimizer, scheduled_learning_rate
from .reference import CHANCE_ACCURACY
from .settings import TrainConfig
from .space import cell_at, sample_cells
from .supernet import build_supernet

TIMING_COLUMNS = ("seconds", "images_per_second")  # wall-clock columns: the only ones a resume may change


# --------------------------------------------------------------------------------------------
# Building blocks


def training_cells(config: TrainConfig, total_steps: int) -> np.ndarray:
    """Table indices of the cells of every step, shape (total_steps, avg_k), drawn from the seed."""
    indices = sample_cells(config.space, total_steps * config.avg_k, seed=config.seed, method=config.sampler)
    return np.asarray(indices).reshape(total_steps, config.avg_k)


# --------------------------------------------------------------------------------------------
# Checkpoints


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


