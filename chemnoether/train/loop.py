"""``fit``: the one training entry point every recipe uses.

One process or many (``torchrun``), CPU or CUDA, fresh or resumed: the same call. A run lives in
its directory: ``config.yaml`` (the resolved config), ``metrics.csv``, ``last.pt`` and ``best.pt``.
A resumed run continues bit for bit where the uninterrupted one would be (on CPU), because the
data order is a function of (seed, epoch), and every state, RNGs included, is in the checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from chemnoether._progress import progress_bar
from chemnoether.errors import ConfigError, NonFiniteLossError
from chemnoether.train import batches as batching
from chemnoether.train._payload import ModelIdentity, build_payload, restore_payload
from chemnoether.train._runtime import (
    RESUME_OPTIONS,
    checkpoint_to_resume,
    deterministic_on_cpu,
    process_seed,
    seed_everything,
    stop_on_signals,
)
from chemnoether.train.checkpoint import (
    BEST_NAME,
    LAST_NAME,
    read_checkpoint,
    save_checkpoint,
)
from chemnoether.train.config import CONFIG_NAME, Recipe, TrainConfig, save_recipe
from chemnoether.train.distributed import (
    DistEnv,
    all_sum,
    any_process,
    barrier,
    broadcast_from_main,
    dist_env_from_environ,
    process_group,
    resolve_device,
    wrap_model,
)
from chemnoether.train.loss import LossFn, next_state_loss
from chemnoether.train.metrics_log import METRICS_NAME, MetricsLog
from chemnoether.train.schedule import LRSchedule
from chemnoether.train.state import Callback, FitResult, TrainState

logger = logging.getLogger(__name__)


def fit(
    model: torch.nn.Module,
    train_data: Dataset | Sequence,
    val_data: Dataset | Sequence | None,
    config: TrainConfig | Recipe,
    run_dir: str | os.PathLike,
    *,
    resume: str = "auto",
    loss_fn: LossFn | None = None,
    callbacks: Sequence[Callback] = (),
) -> FitResult:
    """Train ``model`` on ``train_data`` (a dataset of DGL graphs, e.g. ``PairWindows``).

    ``model(batch: GraphTensors)`` returns a prediction with ``.pos`` and ``.vel``; the default
    loss compares them with ``next_pos`` / ``next_vel`` (``loss_fn(prediction, batch)`` replaces
    it). ``config``: a ``TrainConfig``, or a whole ``Recipe`` (then all of it goes to
    ``config.yaml``). ``resume``: ``"auto"`` continues the run in ``run_dir`` if it has
    ``last.pt``, ``"never"`` refuses a non-empty ``run_dir``, ``"must"`` requires ``last.pt``.
    Evaluation on ``val_data`` (may be ``None``: no best model, no early stopping) as the config
    says. The model is trained in place (moved to the device) and left in train mode.

    Raises ``ConfigError`` for bad options before any work, ``NonFiniteLossError`` naming the step
    and the batch when the loss turns NaN / inf (``last.pt`` then keeps the last good state).
    """
    recipe = config if isinstance(config, Recipe) else None
    train_config = recipe.train if recipe is not None else config
    if not isinstance(train_config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig or a Recipe, got {type(config).__name__}")
    train_config = TrainConfig(**train_config.to_dict())  # checked again: fields may have been set since
    _check_inputs(model, train_data, val_data, train_config, resume, loss_fn, callbacks)
    identity = ModelIdentity.of(model, recipe)
    env = dist_env_from_environ()
    device = resolve_device(train_config.device, env)
    with process_group(env, device), deterministic_on_cpu(device), stop_on_signals() as received_signal:
        trainer = _Trainer(model, identity, train_data, val_data, train_config, recipe, Path(run_dir), env, device)
        return trainer.run(resume, loss_fn or next_state_loss(train_config.loss_weights), list(callbacks), received_signal)


class _Trainer:
    """The loop's parts and the loop; built by ``fit`` for one session."""

    def __init__(self, model, identity, train_data, val_data, config, recipe, run_dir, env: DistEnv, device):
        self.module, self.identity = model.to(device), identity
        self.train_data, self.val_data = train_data, val_data
        self.config, self.recipe, self.run_dir = config, recipe, run_dir
        self.env, self.device = env, device
        if config.amp and any(getattr(part, "autocast_safe", True) is False for part in model.modules()):
            raise ConfigError(
                f"train.amp: {type(model).__name__} cannot run under torch.autocast (its e3nn tensor products "
                "and solves need one dtype; benchmarks/speedups.py); set train.amp: false, and for speed "
                "try train.compile"
            )
        self.net = wrap_model(model, env, device, config.find_unused_parameters)
        if config.compile != "off":
            # only the training step: evaluation batches come in other shapes, each a recompile
            self.net = torch.compile(self.net, mode=config.compile)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.steps_per_epoch = batching.steps_per_epoch(len(train_data), config.batch_size, env, config.drop_last)
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"train_data has {len(train_data)} items: not one full batch of train.batch_size="
                f"{config.batch_size} per process with train.drop_last=true"
            )
        epochs_steps = config.epochs * self.steps_per_epoch if config.epochs is not None else math.inf
        self.total_steps = int(min(epochs_steps, config.max_steps if config.max_steps is not None else math.inf))
        self.schedule = LRSchedule(self.optimizer, config, self.total_steps)
        self.amp = config.amp and device.type == "cuda"
        if config.amp and not self.amp:
            logger.info("train.amp is ignored on %s: mixed precision is for CUDA devices", device)
        self.amp_dtype = torch.float16 if config.amp_dtype == "float16" else torch.bfloat16
        # a scaler only for float16: bfloat16 has float32's exponent range, gradients do not underflow
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp and self.amp_dtype == torch.float16)
        self.state = TrainState()
        self.pin = device.type == "cuda"
        self._val_loader = None
        self.lr = self.schedule.lr_at(0)

    # --- session --------------------------------------------------------------------------
    def run(self, resume: str, loss_fn: LossFn, callbacks: list[Callback], received_signal) -> FitResult:
        self.loss_fn, self.callbacks, self.received_signal = loss_fn, callbacks, received_signal
        self.stop_signal = None
        resume_from = self._decide_run_dir(resume)
        if resume_from is not None:
            payload = read_checkpoint(resume_from, map_location="cpu")
            restore_payload(self, payload, resume_from)
            resumed_step = self.state.step
            logger.info("resuming %s from step %d", self.run_dir, resumed_step)
        else:
            seed_everything(process_seed(self.config.seed, self.env.rank))
            resumed_step = None
            if self.env.is_main:  # a best.pt of an attempt that never reached last.pt is not this run's
                (self.run_dir / BEST_NAME).unlink(missing_ok=True)
        if self.env.is_main:
            save_recipe(self._resolved_recipe(), self.run_dir / CONFIG_NAME)
        self.metrics = MetricsLog(self.run_dir, enabled=self.env.is_main, resume_step=resumed_step)
        barrier(self.env)  # no process reads the run directory before rank 0 has set it up
        self.bar = progress_bar(total=self.total_steps, initial=self.state.step, desc="train", unit="step",
                        dynamic_ncols=True, disable=not (self.env.is_main and self.config.progress))
        try:
            return self._train(resumed_step)
        finally:
            self.bar.close()
            self.metrics.close()

    def _decide_run_dir(self, resume: str) -> Path | None:
        # rank 0 decides alone: once it writes config.yaml the others would see a different directory
        decision = None
        if self.env.is_main:
            try:
                decision = ("ok", checkpoint_to_resume(self.run_dir, resume))
            except ConfigError as err:
                decision = ("error", str(err))
        outcome, value = broadcast_from_main(decision, self.env)
        if outcome == "error":
            raise ConfigError(value)
        return value

    def _resolved_recipe(self) -> Recipe:
        if self.recipe is not None:
            return self.recipe
        model = {"kind": self.identity.kind, **(self.identity.config or {})} if self.identity.kind else {}
        return Recipe(model=model, train=self.config)

    # --- loop -----------------------------------------------------------------------------
    def _train(self, resumed_step: int | None) -> FitResult:
        state, config = self.state, self.config
        self.val_loss, self.train_loss = None, None
        self.session_start = time.perf_counter()
        self.elapsed_before = state.elapsed_s
        self.session_graphs, self.session_time = 0, 0.0
        self.interval_graphs, self.interval_time = 0, 0.0
        for callback in self.callbacks:
            callback.on_fit_start(state)
        while state.stop_reason is None:
            if state.step >= self.total_steps:
                state.stop_reason = "completed"
            elif config.early_stopping_patience and state.bad_evals >= config.early_stopping_patience:
                state.stop_reason = "early_stopping"  # a resumed run that had already stopped early
            else:
                self._train_epoch()
        self.module.train()  # evaluations leave it in eval mode
        result = self._result(resumed_step)
        for callback in self.callbacks:
            callback.on_fit_end(result)
        return result

    def _train_epoch(self) -> None:
        state, config = self.state, self.config
        order = batching.epoch_batches(
            len(self.train_data), config.batch_size, seed=config.seed, epoch=state.epoch, env=self.env,
            drop_last=config.drop_last,
        )
        loader = batching.make_loader(
            self.train_data, order[state.batch_in_epoch :], num_workers=config.num_workers, pin_memory=self.pin,
            seed=config.seed + state.epoch,
        )
        tick = time.perf_counter()
        for indices, batch in loader:
            loss = self._train_step(indices, batch)
            now = time.perf_counter()
            self.interval_time += now - tick
            self.session_time += now - tick
            self._after_step(loss)
            if state.stop_reason is not None:
                return
            tick = time.perf_counter()  # evaluation and checkpoints do not count as training time
        state.epoch += 1
        state.batch_in_epoch = 0

    def _train_step(self, indices: list[int], batch) -> float:
        state, config = self.state, self.config
        batch = batch.to(self.device, non_blocking=self.pin)
        self.net.train()
        self.lr = self.schedule.apply(state.step)
        with self._autocast():
            loss = self.loss_fn(self.net(batch), batch)
        value = float(loss.detach())
        if any_process(not math.isfinite(value), self.env, self.device):
            raise self._non_finite(f"training loss is {value}", indices)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if config.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            norm = torch.nn.utils.clip_grad_norm_(self.module.parameters(), config.grad_clip)
            # with a scaler, inf gradients are expected now and then: it skips those steps itself
            if not self.scaler.is_enabled() and not torch.isfinite(norm):
                raise self._non_finite(f"gradient norm is {float(norm)}", indices)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        state.step += 1
        state.batch_in_epoch += 1
        state.loss_sum += value
        state.loss_count += 1
        self.interval_graphs += batch.num_graphs
        self.session_graphs += batch.num_graphs
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{value:.4g}", lr=f"{self.lr:.2e}", refresh=False)
        return value

    def _after_step(self, loss: float) -> None:
        state, config = self.state, self.config
        for callback in self.callbacks:
            callback.on_step_end(state, loss)
        if self.stop_signal is None and (signum := self.received_signal()) is not None:
            self.stop_signal = signum
            state.request_stop("signal")
        if any_process(state.stop_reason is not None, self.env, self.device):
            state.request_stop("callback")  # another process asked; all stop at the same step
        epoch_end = state.batch_in_epoch == self.steps_per_epoch
        if state.step >= self.total_steps:
            state.request_stop("completed")
        evaluated = self.val_data is not None and (
            (config.eval_every is not None and state.step % config.eval_every == 0)
            or (config.eval_every is None and epoch_end)
            or state.step >= self.total_steps
        )
        improved = self._evaluate() if evaluated else False
        if evaluated or state.step % config.log_every == 0 or state.stop_reason is not None:
            self._log_row(self.val_loss if evaluated else None)
        due = (
            (config.checkpoint_every is not None and state.step % config.checkpoint_every == 0)
            or (config.checkpoint_every is None and (evaluated or epoch_end))
            or state.stop_reason is not None
        )
        if due or improved:
            self._save(last=due, best=improved)

    def _evaluate(self) -> bool:
        """Val loss (mean over all val items, weighted by graphs); True when it is a new best."""
        state, config = self.state, self.config
        total, count = 0.0, 0
        self.module.eval()
        with torch.no_grad(), self._autocast():
            for _, batch in self.val_loader:
                batch = batch.to(self.device, non_blocking=self.pin)
                total += float(self.loss_fn(self.module(batch), batch)) * batch.num_graphs
                count += batch.num_graphs
        total, count = all_sum([total, count], self.env, self.device)
        self.val_loss = total / count
        if not math.isfinite(self.val_loss):
            raise self._non_finite(f"validation loss is {self.val_loss}", None)
        self.schedule.observe(self.val_loss)
        # best.pt follows every improvement; patience is only reset by one larger than min_delta
        if self.val_loss < state.best_val_loss - config.early_stopping_min_delta:
            state.bad_evals = 0
        else:
            state.bad_evals += 1
            if config.early_stopping_patience and state.bad_evals >= config.early_stopping_patience:
                state.request_stop("early_stopping")
        improved = self.val_loss < state.best_val_loss
        if improved:
            state.best_val_loss, state.best_step = self.val_loss, state.step
        self.bar.set_postfix(loss=f"{state.loss_sum / max(state.loss_count, 1):.4g}", val=f"{self.val_loss:.4g}")
        for callback in self.callbacks:
            callback.on_eval_end(state, self.val_loss)
        return improved

    @property
    def val_loader(self):
        if self._val_loader is None:  # built on first use: the same order at every evaluation
            order = batching.eval_batches(len(self.val_data), self.config.val_batch_size or self.config.batch_size, self.env)
            self._val_loader = batching.make_loader(
                self.val_data, order, num_workers=self.config.num_workers, pin_memory=self.pin, seed=self.config.seed
            )
        return self._val_loader

    def _log_row(self, val_loss: float | None) -> None:
        state = self.state
        loss_sum, loss_count, graphs = all_sum(
            [state.loss_sum, state.loss_count, self.interval_graphs], self.env, self.device
        )
        self.train_loss = loss_sum / loss_count if loss_count else None
        rate = round(graphs / self.interval_time, 2) if self.interval_time > 0 else None
        self.metrics.write(state.step, state.epoch, self.train_loss, val_loss, self.lr, self._elapsed(), rate)
        state.loss_sum, state.loss_count = 0.0, 0
        self.interval_graphs, self.interval_time = 0, 0.0

    # --- checkpoints and errors -----------------------------------------------------------
    def _save(self, *, last: bool, best: bool) -> None:
        # every process takes part (the payload gathers their RNG states); rank 0 alone writes
        self.state.elapsed_s = self._elapsed()
        for name, tensor in self.module.state_dict().items():
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                raise self._non_finite(f"parameter {name} is not finite", None)
        payload = build_payload(self)
        if self.env.is_main:
            for wanted, name in ((last, LAST_NAME), (best, BEST_NAME)):
                if wanted:
                    save_checkpoint(self.run_dir / name, payload)

    def _non_finite(self, what: str, indices: list[int] | None) -> NonFiniteLossError:
        state = self.state
        where = (
            f"at step {state.step + 1} (epoch {state.epoch}, batch {state.batch_in_epoch + 1} of {self.steps_per_epoch})"
            if indices is not None
            else f"after step {state.step} (epoch {state.epoch})"
        )
        batch_text = ""
        if indices is not None:
            starts = batching.window_starts(self.train_data, indices)
            batch_text = f"; batch items {_short(indices)}" + (f", window start frames {_short(starts)}" if starts else "")
        last = self.run_dir / LAST_NAME
        kept = f"{last} is left as it was" if last.is_file() else "no checkpoint was written yet"
        return NonFiniteLossError(
            f"{what} {where}{batch_text}; training stopped and {kept}. Lower train.lr, set train.grad_clip, "
            "or check these samples"
        )

    def _autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.session_start

    def _result(self, resumed_step: int | None) -> FitResult:
        state = self.state
        best = self.run_dir / BEST_NAME
        last = self.run_dir / LAST_NAME
        return FitResult(
            run_dir=self.run_dir,
            step=state.step,
            epochs_completed=state.epoch + (state.batch_in_epoch >= self.steps_per_epoch),
            stopped=state.stop_reason,
            train_loss=self.train_loss,
            val_loss=self.val_loss,
            best_val_loss=state.best_val_loss if math.isfinite(state.best_val_loss) else None,
            best_step=state.best_step if state.best_step >= 0 else None,
            molecules_per_s=self.session_graphs / self.session_time if self.session_time > 0 else 0.0,
            resumed_from_step=resumed_step,
            last_checkpoint=last if last.is_file() else None,
            best_checkpoint=best if best.is_file() else None,
            metrics_path=self.run_dir / METRICS_NAME,
            stop_signal=self.stop_signal,
        )


def _check_inputs(model, train_data, val_data, config: TrainConfig, resume, loss_fn, callbacks) -> None:
    """Everything that can be checked before a process group, a file or a step."""
    if resume not in RESUME_OPTIONS:
        raise ConfigError(f"resume must be one of {', '.join(map(repr, RESUME_OPTIONS))}, got {resume!r}")
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if data is None and name == "val_data":
            continue
        if not isinstance(data, (Dataset, list, tuple)) or len(data) == 0:
            raise ConfigError(f"{name} must be a non-empty torch Dataset (or list) of graphs, got {_described(data)}")
    if val_data is None and config.early_stopping_patience is not None:
        raise ConfigError("train.early_stopping_patience needs val_data; pass it, or set the patience to null")
    if val_data is None and config.schedule == "plateau":
        raise ConfigError("train.schedule 'plateau' needs val_data; pass it, or use 'cosine' or 'constant'")
    if loss_fn is not None and not callable(loss_fn):
        raise ConfigError(f"loss_fn must be callable as loss_fn(prediction, batch), got {loss_fn!r}")
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise ConfigError(f"callbacks must be chemnoether.train.Callback instances, got {type(callback).__name__}")


def _described(data) -> str:
    try:
        return f"{type(data).__name__} of {len(data)} items"
    except TypeError:
        return type(data).__name__


def _short(values: Sequence[int], limit: int = 8) -> str:
    values = list(values)
    return str(values[:limit])[:-1] + (", ...]" if len(values) > limit else "]")
