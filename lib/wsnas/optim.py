"""The optimisers and learning-rate schedules of a super-net training (`wsnas.train`).

Two RMSProp variants share one loop: `TFRMSProp`, TensorFlow 1's RMSPropOptimizer as NB-101 used
it, and `AuthorsRMSProp`, the authors' own implementation; two cosine schedules, NB-101's per
step and the authors' per epoch.
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer

from wsnas.settings import TrainConfig


class _RMSPropBase(Optimizer):
    """The loop both RMSProp variants share: L2 weight decay, then a per-parameter update rule."""

    DEFAULT_DECAY: float  # of the squared-gradient average, each variant's own

    def __init__(self, params, lr: float, decay: float | None = None, momentum: float = 0.9, eps: float = 1.0,
                 weight_decay: float = 0.0):
        decay = self.DEFAULT_DECAY if decay is None else decay
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

    DEFAULT_DECAY = 0.9

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

    DEFAULT_DECAY = 0.99

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
