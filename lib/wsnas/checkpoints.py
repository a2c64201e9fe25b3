"""Checkpoints of a super-net training: a checksummed file per run (and per kept epoch), written atomically,
refused when truncated, corrupt or written for other parameters; `load_trained_supernet` for evaluation.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch

from .datafiles import atomic_path
from .settings import TrainConfig
from .supernet import build_supernet

CHECKPOINT_FILE = "checkpoint.pt"

CHECKPOINT_MAGIC = b"WSNAS-CHECKPOINT-1\n"



class CheckpointError(RuntimeError):
    """A checkpoint is truncated, corrupt, or belongs to another configuration."""



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

