"""Generation requests: a bounded queue served by a few worker threads. Each job streams its
text as it is sampled, stops at its wall-time limit or when cancelled, and leaves its files in
its own folder of the studio's private temporary directory. Loaded models are cached (LRU)."""

from __future__ import annotations

import itertools
import queue
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from seqgen.errors import SeqgenError
from seqgen.studio import render

FINISHED = ("done", "cancelled", "timed out", "failed")


class QueueFull(SeqgenError):
    """Every slot of the queue is taken (HTTP 503)."""


class _Stop(Exception):
    """Raised from the token callback to end a decode early (cancel or wall time)."""

    def __init__(self, state: str):
        self.state = state


class Models:
    """The last ``size`` models loaded, by run directory."""

    def __init__(self, size: int = 2):
        self.size, self._models, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, path: Path):
        from seqgen import api

        with self._lock:  # one load at a time: a model is loaded once however many ask
            model = self._models.pop(path, None) or api.load(path)
            self._models[path] = model
            while len(self._models) > self.size:
                self._models.popitem(last=False)
            return model


class Job:
    def __init__(self, job_id: str, run: str, model, prime: list[int], options: dict, folder):
        self.id, self.run, self.model, self.prime = job_id, run, model, prime
        self.options, self.folder = options, folder
        self.state, self.error = "queued", None
        self.chunks: list[str] = []  # streamed text, in order
        self.tokens = 0
        self.result: dict[str, Any] | None = None
        self.cancelled = threading.Event()
        self.finished = threading.Event()
        self.created, self.started, self.ended = time.time(), None, None

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "run": self.run, "state": self.state, "tokens": self.tokens}
        if self.error:
            out["error"] = self.error
        if self.result is not None:
            out.update(self.result)
        if self.started:
            out["seconds"] = round((self.ended or time.time()) - self.started, 3)
        return out


class Jobs:
    """The queue (at most ``limit`` jobs waiting or running) and its ``workers`` threads."""

    def __init__(self, models: Models, folder: Path, workers: int = 1, limit: int = 32,
                 max_seconds: float = 60.0, keep: int = 64):  # fmt: skip
        self.models, self.folder, self.limit = models, folder, limit
        self.max_seconds, self.keep = max_seconds, keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._count = itertools.count(1)
        self._threads = [
            threading.Thread(target=self._work, name=f"seqgen-studio-{k}", daemon=True)
            for k in range(workers)
        ]
        for t in self._threads:
            t.start()

    def active(self) -> int:
        return sum(j.state not in FINISHED for j in list(self._jobs.values()))

    def check_room(self) -> None:
        """QueueFull when ``limit`` jobs are waiting or running."""
        if self.active() >= self.limit:
            raise QueueFull(
                f"the studio is busy: {self.limit} requests are waiting or running; "
                "try again shortly"
            )

    def submit(self, run: str, model, prime: list[int], options: dict) -> Job:
        with self._lock:
            self.check_room()
            job_id = f"{next(self._count)}-{secrets.token_hex(4)}"
            folder = self.folder / job_id
            folder.mkdir(mode=0o700)
            job = Job(job_id, run, model, prime, options, folder)
            self._jobs[job_id] = job
            self._forget_old()
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise SeqgenError(f"no request {job_id!r} (finished requests are kept a while)")
        return job

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        job.cancelled.set()
        return job

    def close(self) -> None:
        for job in list(self._jobs.values()):
            job.cancelled.set()
        for _ in self._threads:
            self._queue.put(None)

    def _forget_old(self) -> None:
        """Keep the last ``keep`` finished jobs (and their files)."""
        done = [j for j in self._jobs.values() if j.state in FINISHED]
        for job in done[: max(0, len(done) - self.keep)]:
            del self._jobs[job.id]
            shutil.rmtree(job.folder, ignore_errors=True)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self._run(job)
            except Exception as e:  # never lose a job: it ends, with its one-line reason
                job.state, job.error = "failed", render.one_line(e)
            finally:
                job.model, job.ended = None, time.time()
                job.finished.set()

    def _run(self, job: Job) -> None:
        from seqgen.cli.generate import _Printer

        if job.cancelled.is_set():
            job.state = "cancelled"
            return
        job.state, job.started = "running", time.time()
        deadline = job.started + self.max_seconds
        model, ids = job.model, []
        printer = _Printer(model.tokenizer, job.chunks.append)

        def on_token(i: int, t: int) -> None:
            ids.append(int(t))
            job.tokens = len(ids)
            printer(i, t)
            if job.cancelled.is_set():
                raise _Stop("cancelled")
            if time.time() > deadline:
                raise _Stop("timed out")

        state = "done"
        try:
            samples = model.generate_ids(job.prime, on_token=on_token, **job.options)
            ids = samples[0]  # the sample as decoded: closed by the constraint if cut short
        except _Stop as stop:
            state = stop.state
        printer.flush(end="")
        self._finish(job, ids, state)

    def _finish(self, job: Job, ids: list[int], state: str) -> None:
        tok = job.model.tokenizer
        whole = job.prime + ids
        job.tokens = len(ids)
        job.result = {**render.describe(tok, whole), "files": render.render(tok, whole, job.folder)}
        if state == "timed out":
            job.error = f"stopped after the studio's limit of {self.max_seconds:g} seconds"
        job.state = state
