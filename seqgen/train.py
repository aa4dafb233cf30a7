"""The training loop: stateful truncated backpropagation through time over B contiguous streams.

The training tokens are cut into B equal streams that advance side by side; each step takes
the next T tokens of every stream, and the LSTM state flows from one step to the next (it is
detached, so gradients stop at the step boundary)::

    tokens:  |---- stream 0 ----|---- stream 1 ----| ... |---- stream B-1 ----|
    step k:   [kT, kT+T) of every stream  ->  batch (B, T), targets shifted by one

After an end-of-document token the state of that stream is zeroed, so documents never leak
into one another. An epoch ends when the streams run out; the state restarts from zero.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqgen import checkpoint
from seqgen.doccache import CacheWeights
from seqgen.data import Dataset
from seqgen.errors import SeqgenError
from seqgen.evaluate import LN2, cached_logprobs, fit_cache, target_logprobs
from seqgen.model import LSTMLanguageModel, ModelConfig


@dataclass
class TrainConfig:
    batch_size: int = 32  # B parallel streams
    seq_len: int = 128  # T steps of backpropagation through time
    lr: float = 3e-3
    optimizer: str = "adamw"  # adamw | rmsprop | sgd
    weight_decay: float = 0.01
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05  # cosine decays to this fraction of lr
    clip: float = 1.0  # max gradient norm
    max_steps: int | None = None  # the plan: whichever of these three ends first
    epochs: float | None = None
    max_time: float | None = None  # seconds of training, validation excluded
    eval_every: int | None = None  # steps; default: about 10 validations per run
    patience: int | None = 5  # validations without improvement before stopping
    precision: str = "auto"  # auto | fp32 | bf16
    device: str = "auto"  # auto | cpu | cuda | mps
    seed: int = 1337
    sample_length: int = 200  # tokens of the sample shown at each validation
    val_tokens: int | None = 500_000  # periodic validation reads at most this many (eval: all)
    cache: bool = False  # fit the document cache (seqgen.doccache) on validation at each one
    threads: int | None = None


@dataclass
class RunInfo:
    """What the run needs to find its data again on --resume."""

    domain: str
    corpus: str
    settings: dict[str, Any]
    plugin: str
    plugin_version: str


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SeqgenError("--device cuda: no CUDA device is available")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise SeqgenError("--device mps: no Apple GPU is available")
    return torch.device(name)


def bf16_supported(device: torch.device) -> bool:
    """bf16 LSTM kernels exist on CUDA (Ampere+) and on CPUs with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
                return False
            lstm = torch.nn.LSTM(8, 8, batch_first=True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                lstm(torch.zeros(1, 2, 8))
            return True
        except Exception:
            return False
    return False


def pick_precision(name: str, device: torch.device) -> str:
    if name == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    if name == "bf16" and not bf16_supported(device):
        raise SeqgenError(
            f"--precision bf16: this {device.type.upper()} has no bf16 LSTM kernels "
            "(needs AVX512-BF16/AMX or a CUDA GPU); use --precision fp32"
        )
    if name not in ("fp32", "bf16"):
        raise SeqgenError(f"--precision {name}: choose auto, fp32 or bf16")
    return name


def make_optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adamw":
        params = list(params)
        kwargs = {"lr": lr, "weight_decay": weight_decay, "betas": (0.9, 0.99)}
        try:  # the fused kernel: 8x faster than the default on a 33k x 200 embedding (CPU)
            return torch.optim.AdamW(params, fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):  # an older torch or another device
            return torch.optim.AdamW(params, **kwargs)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.95, weight_decay=0.0)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=0.0)
    raise SeqgenError(f"--optimizer {name}: choose adamw, rmsprop or sgd")


def clip_gradients(params, max_norm: float) -> torch.Tensor:
    """``clip_grad_norm_`` that also takes sparse gradients: scales all gradients together so
    their joint L2 norm is at most ``max_norm``; returns the norm before clipping."""
    params = [p for p in params if p.grad is not None]
    if not any(p.grad.is_sparse for p in params):
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    grads = []
    for p in params:
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()  # repeated rows summed, so the norm is the true one
            grads.append(p.grad.values())  # a view: scaling it scales the gradient
        else:
            grads.append(p.grad)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale)
    return norm


class Trainer:
    def __init__(
        self,
        run_dir: Path,
        data: Dataset,
        model_cfg: ModelConfig,
        cfg: TrainConfig,
        info: RunInfo,
        resume: dict | None = None,
        stop_after: int | None = None,
        quiet: bool = False,
    ):
        self.run_dir, self.data, self.cfg, self.info = run_dir, data, cfg, info
        self.stop_after, self.quiet = stop_after, quiet
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = pick_device(cfg.device)
        self.precision = pick_precision(cfg.precision, self.device)
        torch.manual_seed(cfg.seed)
        self.model_cfg = model_cfg
        self.model = LSTMLanguageModel(model_cfg)
        self._init_embeddings(data.tokenizer, vectors=resume is None)
        self.model.to(self.device)
        # Plain SGD updates only the embedding rows a batch used; a dense gradient would zero,
        # clip and step the whole (vocab x embedding) matrix every step: on WikiText-2 (33k
        # words) that makes a step 1.15x slower (bench/embedding_grad.py). A tied embedding
        # gets the head's dense gradient anyway.
        embed = self.model.embed.weight
        self.model.embed.sparse = (
            cfg.optimizer == "sgd" and embed.requires_grad and not model_cfg.tie_weights
        )
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = make_optimizer(cfg.optimizer, params, cfg.lr, cfg.weight_decay)
        self.train_ids = data.tokens("train")
        if resume is None:
            counts = np.bincount(self.train_ids, minlength=model_cfg.vocab_size)
            if self.model.adaptive is not None:
                self.model.set_frequency_order(counts)
            else:
                self.model.init_output_bias(counts)
        self._layout()
        self.step, self.train_time, self.best_val, self.evals_since_best = 0, 0.0, math.inf, 0
        self.state = None
        self.cache: CacheWeights | None = None  # fitted at each validation with cfg.cache
        if resume is not None:
            self._restore(resume)

    def _init_embeddings(self, tok, vectors: bool) -> None:
        vectors = tok.pretrained_embeddings(self.model_cfg.embedding_size) if vectors else None
        if vectors is not None:
            weight = self.model.embed.weight
            given = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
            if given.shape != weight.shape:
                raise SeqgenError(
                    f"pretrained embeddings have shape {tuple(given.shape)}, "
                    f"the model needs {tuple(weight.shape)} (--embedding-size)"
                )
            rows = ~torch.isnan(given).any(1)
            with torch.no_grad():
                weight[rows] = given[rows]
        if tok.freeze_embeddings:
            self.model.embed.weight.requires_grad_(False)

    # --- data layout ---------------------------------------------------------------------
    def _layout(self) -> None:
        n = len(self.train_ids) - 1
        B, T = self.cfg.batch_size, self.cfg.seq_len
        if n < 2:
            raise SeqgenError("the training split is too small to train on (under 3 tokens)")
        if n // B < T + 1:  # a small corpus: fewer streams, then shorter windows
            B = max(1, min(B, n // (T + 1)))
            T = min(T, n // B - 1)
            self.note(f"corpus is small: using --batch-size {B} --seq-len {T}")
        self.B, self.T = B, T
        self.stream_len = n // B
        self.steps_per_epoch = max(1, (self.stream_len - 1) // T)
        self.starts = np.arange(B, dtype=np.int64)[:, None] * self.stream_len
        self.window = np.arange(T + 1, dtype=np.int64)[None, :]
        limits = []
        if self.cfg.max_steps:
            limits.append(self.cfg.max_steps)
        if self.cfg.epochs:
            limits.append(math.ceil(self.cfg.epochs * self.steps_per_epoch))
        self.total_steps = min(limits) if limits else None

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        offset = (step % self.steps_per_epoch) * self.T
        chunk = self.train_ids[self.starts + offset + self.window].astype(np.int64)
        chunk = torch.from_numpy(chunk).to(self.device, non_blocking=True)
        return chunk[:, :-1], chunk[:, 1:]

    # --- schedule ------------------------------------------------------------------------
    def progress(self) -> float:
        """Fraction of the planned run done, by steps or by time, whichever is further."""
        p = 0.0
        if self.total_steps:
            p = self.step / self.total_steps
        if self.cfg.max_time:
            p = max(p, self.train_time / self.cfg.max_time)
        return min(p, 1.0)

    def lr_now(self) -> float:
        cfg = self.cfg
        warmup = cfg.warmup_steps
        if self.total_steps:  # a short run must not spend itself warming up
            warmup = min(warmup, max(1, self.total_steps // 10))
        warm = min(1.0, (self.step + 1) / max(1, warmup))
        if not (self.total_steps or cfg.max_time):
            return cfg.lr * warm
        cos = 0.5 * (1 + math.cos(math.pi * self.progress()))
        return cfg.lr * warm * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos)

    def finished(self) -> bool:
        if self.total_steps is not None and self.step >= self.total_steps:
            return True
        return bool(self.cfg.max_time and self.train_time >= self.cfg.max_time)

    def eval_due(self, last_eval_time: float) -> bool:
        cfg = self.cfg
        if cfg.eval_every:
            return self.step % cfg.eval_every == 0
        if self.total_steps:
            return self.step % max(1, self.total_steps // 10) == 0
        if cfg.max_time:
            return self.train_time - last_eval_time >= cfg.max_time / 10
        return self.step % max(1, self.steps_per_epoch // 2) == 0

    # --- the loop ------------------------------------------------------------------------
    def train_step(self) -> float:
        x, y = self.batch(self.step)
        if self.step % self.steps_per_epoch == 0:
            self.state = None  # a new epoch: streams start over
        lr = self.lr_now()
        for group in self.opt.param_groups:
            group["lr"] = lr
        reset = x == self.data.tokenizer.eod_id
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
            loss, state = self.model.loss(x, y, self.state, reset)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.clip:
            clip_gradients(self.model.parameters(), self.cfg.clip)
        self.opt.step()
        self.state = (state[0].detach().float(), state[1].detach().float())
        self.step += 1
        return float(loss.detach())

    def validate(self) -> dict:
        ids = self.data.tokens("valid") if "valid" in self.data.splits else None
        row: dict[str, Any] = {"step": self.step, "time": round(self.train_time, 2)}
        if ids is not None and len(ids) > 1:
            tok = self.data.tokenizer
            units = self.data.units("valid")
            if self.cfg.val_tokens and len(ids) > self.cfg.val_tokens:  # a large split: a prefix
                ids = np.asarray(ids[: self.cfg.val_tokens])
                units = tok.count_units(ids)
                row["val_prefix_tokens"] = len(ids)
            logp = target_logprobs(self.model, ids, tok.eod_id, device=self.device)
            nll, n = -float(logp.sum(dtype=np.float64)), len(logp)
            units = max(1, units)
            row.update(
                val_nats_per_token=nll / n,
                val_bits_per_token=nll / n / LN2,
                val_nats_per_unit=nll / units,
                val_bits_per_unit=nll / units / LN2,
                unit=self.data.tokenizer.unit,
            )
            if self.cfg.cache:  # fitted on this split, so this figure is optimistic: eval's is not
                self.cache = fit_cache(logp, ids, tok.eod_id)
                mixed = -float(cached_logprobs(logp, ids, tok.eod_id, self.cache).sum())
                row.update(
                    val_cache_nats_per_unit=mixed / units,
                    val_cache_bits_per_unit=mixed / units / LN2,
                )
        return row

    def run(self) -> dict:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        metrics = open(self.run_dir / "metrics.jsonl", "a")
        tokens_per_step = self.B * self.T
        start_step, last_eval, session_steps = self.step, self.train_time, 0
        interrupted, stopped_early, row = False, False, {}
        from seqgen.progress import TrainProgress

        bar = TrainProgress(self.total_steps, self.cfg.max_time, disable=self.quiet)
        old_handler = signal.getsignal(signal.SIGINT)
        try:
            with bar:
                bar.update(self.step, self.train_time, None, 0.0)
                loss_sum, loss_n, window_t = 0.0, 0, 0.0
                while not self.finished():
                    t0 = time.perf_counter()
                    loss = self.train_step()
                    dt = time.perf_counter() - t0
                    self.train_time += dt
                    window_t += dt
                    loss_sum, loss_n = loss_sum + loss, loss_n + 1
                    session_steps += 1
                    if not math.isfinite(loss):
                        raise SeqgenError(
                            f"training diverged at step {self.step} (loss {loss}); try a lower --lr"
                        )
                    if self.step % 10 == 0 or self.finished():
                        tps = loss_n * tokens_per_step / max(window_t, 1e-9)
                        bar.update(self.step, self.train_time, loss_sum / loss_n, tps)
                        self._log(
                            metrics,
                            {
                                "step": self.step,
                                "time": round(self.train_time, 2),
                                "train_loss": loss_sum / loss_n,
                                "lr": self.lr_now(),
                                "tokens_per_s": round(tps),
                            },
                        )
                        loss_sum, loss_n, window_t = 0.0, 0, 0.0
                    stop_now = self.stop_after is not None and session_steps >= self.stop_after
                    if self.eval_due(last_eval) or self.finished() or stop_now:
                        last_eval = self.train_time
                        row = self._validate_and_save(metrics, bar)
                        if self.cfg.patience and self.evals_since_best >= self.cfg.patience:
                            stopped_early = True
                            break
                    if stop_now:
                        break
        except KeyboardInterrupt:
            interrupted = True
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the save
            self.save(checkpoint.LATEST)
        finally:
            signal.signal(signal.SIGINT, old_handler)
            metrics.close()
        self._plot(force=True)
        if self.step == start_step and not interrupted:
            self.save(checkpoint.LATEST)
        return {
            "step": self.step,
            "train_time": self.train_time,
            "best_val_nats_per_token": self.best_val,
            "interrupted": interrupted,
            "stopped_early": stopped_early,
            "last": row,
        }

    def _validate_and_save(self, metrics, bar) -> dict:
        row = self.validate()
        improved = "val_nats_per_token" in row and row["val_nats_per_token"] < self.best_val
        if improved:
            self.best_val, self.evals_since_best = row["val_nats_per_token"], 0
        elif "val_nats_per_token" in row:
            self.evals_since_best += 1
        sample = self._sample()
        self._log(metrics, row)
        self.save(checkpoint.LATEST)
        if improved or "val_nats_per_token" not in row:
            self.save(checkpoint.BEST)
        from seqgen.plot import loss_curve

        loss_curve(
            self.run_dir / "metrics.jsonl", self.run_dir / "loss.png", self.data.tokenizer.unit
        )
        bar.report(row, sample)
        return row

    def _plot(self, force: bool) -> None:
        """Redraw loss.png; at most every 20 s while training (matplotlib is not free)."""
        now = time.perf_counter()
        if not force and now - getattr(self, "_plotted", -1e9) < 20:
            return
        from seqgen.plot import loss_curve

        unit = self.data.tokenizer.unit
        loss_curve(self.run_dir / "metrics.jsonl", self.run_dir / "loss.png", unit)
        self._plotted = now

    def _sample(self) -> str:
        if not self.cfg.sample_length or self.device.type != "cpu":
            return ""  # the sampler steps on the CPU; a GPU run shows no sample
        from seqgen.sample import SampleConfig, generate

        cfg = SampleConfig(
            length=self.cfg.sample_length, temperature=0.8, seed=self.step, cache=self.cache
        )
        was = self.model.training
        ids = generate(self.model, self.data.tokenizer, cfg)[0]
        self.model.train(was)
        try:
            return self.data.tokenizer.to_text(ids)
        except Exception:
            return ""

    def _log(self, f, row: dict) -> None:
        f.write(json.dumps(row) + "\n")
        f.flush()

    # --- checkpoints ---------------------------------------------------------------------
    def save(self, name: str) -> None:
        state = None
        if self.state is not None:
            state = (self.state[0].cpu(), self.state[1].cpu())
        tok = self.data.tokenizer
        checkpoint.save(
            self.run_dir / name,
            {
                "model": {k: v.cpu() for k, v in self.model.state_dict().items()},
                "model_config": self.model_cfg.to_dict(),
                "train_config": asdict(self.cfg),
                "optimizer": self.opt.state_dict(),
                "step": self.step,
                "train_time": self.train_time,
                "best_val": self.best_val,
                "evals_since_best": self.evals_since_best,
                "stream_state": state,
                "cache": self.cache.to_dict() if self.cache is not None else None,
                "rng": {
                    "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                },
                "run": asdict(self.info),
                "data": {"splits": self.data.meta["splits"], "unit": tok.unit},
                "tokenizer": {
                    "domain": tok.name,
                    "plugin": self.info.plugin,
                    "plugin_version": self.info.plugin_version,
                    "state": tok.get_state(),
                },
            },
        )

    def _restore(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.step = int(ckpt["step"])
        self.train_time = float(ckpt["train_time"])
        self.best_val = float(ckpt["best_val"])
        self.evals_since_best = int(ckpt.get("evals_since_best", 0))
        if ckpt.get("cache") is not None:
            self.cache = CacheWeights.from_dict(ckpt["cache"])
        if ckpt.get("stream_state") is not None:
            h, c = ckpt["stream_state"]
            self.state = (h.to(self.device), c.to(self.device))
        torch.set_rng_state(ckpt["rng"]["torch"])
        if ckpt["rng"].get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])

    def note(self, msg: str) -> None:
        print(f"seqgen: {msg}", file=sys.stderr)
