"""The Python API: the same functions the CLI calls.

import seqgen
run = seqgen.train("char", "input.txt", out="runs/x", max_time=60)
model = seqgen.load("runs/x")
print(model.generate(prime="ROMEO:", length=200, temperature=0.8, seed=1)[0])
print(model.generate(prime="ROMEO:", length=40, beam=5)[0])
print(model.score()["bits_per_unit"])
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seqgen import checkpoint, registry
from seqgen.checkpoint import Checkpoint
from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    from seqgen.distributed import World


def train(
    domain: str,
    corpus: str | Path | None = None,
    out: str | Path | None = None,
    *,
    options: dict[str, str] | None = None,
    arch: str = "lstm",
    stop_after: int | None = None,
    quiet: bool = True,
    labels_from_folders: str | None = None,
    label_file: str | Path | None = None,
    domain_labels: bool = False,
    section_labels: bool = False,
    **settings: Any,
):
    """Train a new run and return it (a :class:`seqgen.run.Run`; its ``dir`` holds the
    checkpoints). ``settings`` are the CLI's training and model options by their Python names
    (``max_time=60``, ``hidden_size=256``, ``adaptive_cutoffs=[2000, 10000]``, ...). The
    ``label`` arguments are ``--labels-from-folders``, ``--labels``, ``--domain-labels`` and
    ``--section-labels``."""
    from seqgen import run
    from seqgen.labels import LabelSpec

    file = str(label_file) if label_file is not None else None
    labels = LabelSpec(labels_from_folders, file, domain_labels, section_labels)

    names = run.train_options()
    train_opts = {k: v for k, v in settings.items() if k in names}
    model_opts = {k: v for k, v in settings.items() if k not in names}
    job = run.start(
        domain, corpus, out, options=options, arch=arch, model=model_opts, train=train_opts,
        quiet=quiet, note=(lambda _: None) if quiet else run.stderr_note, labels=labels,
    )  # fmt: skip
    job.summary = job.train(stop_after=stop_after)
    return job


def load(target: str | Path) -> Model:
    """A trained model from a run directory (its best checkpoint) or a checkpoint file."""
    return Model(checkpoint.load(target))


class Model:
    """A trained model with its tokenizer: generate from it, score text with it."""

    def __init__(self, ckpt: Checkpoint):
        self.checkpoint = ckpt
        self.model, self.tokenizer = checkpoint.build(ckpt)
        self.labels = checkpoint.label_table(ckpt, self.tokenizer)

    def encode(self, prime: str | None = None, prime_file: str | Path | None = None) -> list[int]:
        """Ids of a priming file (the domain's format) followed by a priming text."""
        from seqgen.cli.common import read_prime_file

        ids = read_prime_file(self.tokenizer, Path(prime_file)) if prime_file else []
        if prime:
            ids.extend(self.tokenizer.encode_prime(prime))
        return ids

    def generate_ids(
        self, prime_ids=(), cache: bool = True, on_token=None, labels=None, **options: Any
    ):
        """New ids of each sample after ``prime_ids``; ``options`` are the fields of
        :class:`seqgen.decode.DecodeConfig` (length, temperature, top_k, top_p, greedy, beam,
        length_penalty, num_samples, seed, until=("bars", 16), ...). ``labels`` ({"key":
        "G-minor"}) asks for the control labels the run was trained with; none: the model's
        own mix."""
        from seqgen.decode import DecodeConfig, decode

        options["controls"] = self.labels.slots(dict(labels or {}), flag="labels")
        if self.checkpoint.run.labels.get("sections"):
            options["inline"] = self.labels.inline(dict(labels or {}), flag="labels")
        if options.get("guidance"):
            if not labels:
                raise SeqgenError("--guidance steers toward a --label: give one")
            options["free"] = self.labels.slots({})
        cfg = DecodeConfig(**options, cache=self.checkpoint.cache if cache else None)
        return decode(self.model, self.tokenizer, cfg, prime=list(prime_ids), on_token=on_token)

    def generate(
        self, prime: str | None = None, prime_file: str | Path | None = None, **options: Any
    ) -> list[str]:
        """Samples as text (prime included), one per ``num_samples``."""
        ids = self.encode(prime, prime_file)
        samples = self.generate_ids(ids, **options)
        return [self.tokenizer.to_text(ids + s) for s in samples]

    def score(
        self,
        corpus: str | Path | None = None,
        split: str = "valid",
        streams: int = 64,
        cache: bool = True,
        world: World | None = None,
        precision: str = "auto",
    ) -> dict[str, Any]:
        """Held-out loss of ``split`` of the run's corpus (or of ``corpus``, whole if it has
        no splits of its own): nats and bits per token and per unit, as `seqgen eval` prints.
        With a ``world`` of several processes each scores its share and the sums are
        exchanged, so every rank returns the single-process figure. ``precision`` "auto" is
        bf16 where this CPU has bf16 kernels (as training picks it), else fp32."""
        import torch

        from seqgen.distributed import SINGLE
        from seqgen.evaluate import Score, cached_logprobs, target_logprobs
        from seqgen.hardware import pick_precision
        from seqgen.labels import without_controls

        precision = pick_precision(precision, torch.device("cpu"))  # scored where it was built

        world = world or SINGLE
        data, name = world.first(lambda: self._data(corpus))
        if "all" in data.splits:
            split = "all"
        t0 = time.perf_counter()
        tok, ids = self.tokenizer, data.tokens(split)
        plain = without_controls(tok, ids)
        share = (world.rank, world.size)
        logp = target_logprobs(
            self.model, ids, tok.eod_id, streams=streams, share=share, precision=precision
        )
        world.sum_(logp)
        units, counts = data.units(split), tok.eval_units(plain)
        lstm = Score(-float(logp.sum(dtype=np.float64)), len(logp), units, tok.unit, counts)
        weights = self.checkpoint.cache if cache else None
        score = lstm
        if weights is not None:
            mixed = cached_logprobs(logp, ids, tok.eod_id, weights)
            score = Score(-float(mixed.sum()), len(logp), units, tok.unit, counts)
        report = {
            "checkpoint": self.checkpoint.path,
            "corpus": name,
            "split": split,
            **score.report(),
            "cache": weights is not None,
            "precision": precision,
            **tok.eval_extras(plain),  # domain figures, e.g. the <unk> rate of the word domain
            "seconds": round(time.perf_counter() - t0, 2),
        }
        if weights is not None:
            report["without_cache"] = {k: v for k, v in lstm.report().items() if "_per_" in k}
        if data.labels.size:
            report["without_controls"] = _without_controls(logp, ids, tok, units)
        return report

    def _data(self, corpus: str | Path | None):
        from seqgen.corpus import resolve
        from seqgen.data import prepare

        tok, run = self.tokenizer, self.checkpoint.run
        name = str(corpus) if corpus is not None else run.corpus
        spec = resolve(name, type(tok).file_patterns, registry.load())
        if corpus is None and run.fingerprint and spec.fingerprint != run.fingerprint:
            raise SeqgenError(
                f"corpus {name} has changed since the run was trained; give --corpus {name} "
                "to score its new content"
            )
        if corpus is None:  # the run's own corpus: usually still in the token store, as trained
            from seqgen.labels import LabelSpec

            data = prepare(
                type(tok), spec, settings=run.settings, labels=LabelSpec.from_dict(run.labels)
            )
            if data.tokenizer.get_state() == tok.get_state():
                return data, name
        return prepare(type(tok), spec, tokenizer=tok, split=corpus is None), name


def _without_controls(logp: np.ndarray, ids: np.ndarray, tok, units: int) -> dict[str, float]:
    """Loss per token and per unit of a labelled split over the tokenizer's own tokens only,
    the control ids' own predictions left out: what training with labels costs the data
    (each token's probability is still the model's, control ids' share included)."""
    from seqgen.evaluate import Score

    mine = logp[np.asarray(ids) < tok.vocab_size]
    score = Score(-float(mine.sum(dtype=np.float64)), len(mine), units, tok.unit)
    return {k: v for k, v in score.report().items() if "_per_" in k}
