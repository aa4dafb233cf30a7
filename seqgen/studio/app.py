"""The studio's routes: the page, and the HTTP API the page and scripts share.

GET  /api/runs                     the runs, summed up (domain, size, best figures, curves)
GET  /api/runs/{id}                one run
POST /api/generate                 a form or JSON: start a sample; 202 {"id": ...}
GET  /api/jobs/{id}[?wait=S]       its state and, once finished, its text and files
GET  /api/jobs/{id}/events         Server-Sent Events: "text" chunks as sampled, then "done"
POST /api/jobs/{id}/cancel         stop it (a sample stops at its next token)
GET  /api/jobs/{id}/files/{name}   a file of the finished sample (.mid, .wav, .png, ...)

Every error is JSON {"error": "one line"}: 400 for a bad request, 404 for an unknown run or
request, 503 when the queue is full."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from functools import wraps
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from seqgen.errors import SeqgenError
from seqgen.studio import render
from seqgen.studio.jobs import Jobs, Models, QueueFull
from seqgen.studio.options import decode_options, parse
from seqgen.studio.prime import prime_ids, read_form
from seqgen.studio.runs import Catalog

STATIC = Path(__file__).parent / "static"
MAX_WAIT = 600.0  # seconds GET /api/jobs/{id}?wait= holds a request


@dataclass
class Settings:
    workers: int = 1
    queue: int = 32
    max_seconds: float = 60.0  # wall time of one generation
    max_length: int = 20_000  # tokens of one generation
    models: int = 2  # models kept loaded


class _NotFound(SeqgenError):
    pass


def _api(handler):
    """A route whose SeqgenError is a 400 (404, 503) with one line, and whose bug is a 500
    with one line: never a traceback, and the server keeps serving."""

    @wraps(handler)
    async def route(request: Request) -> Response:
        try:
            return await handler(request)
        except QueueFull as e:
            return JSONResponse({"error": str(e)}, status_code=503)
        except _NotFound as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        except (SeqgenError, OSError) as e:
            return JSONResponse({"error": render.one_line(e)}, status_code=400)
        except Exception as e:
            line = f"unexpected {render.one_line(e)} (a bug; the server logs nothing more)"
            return JSONResponse({"error": line}, status_code=500)

    return route


def make_app(targets: list[Path], settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    catalog = Catalog(targets)
    folder = Path(tempfile.mkdtemp(prefix="seqgen-studio-"))  # private: mode 0700
    models = Models(settings.models)
    jobs = Jobs(models, folder, settings.workers, settings.queue, settings.max_seconds)
    state = _State(catalog, models, jobs, settings, folder)
    app = Starlette(routes=state.routes(), lifespan=state.lifespan)
    app.state.studio = state
    return app


class _State:
    def __init__(self, catalog: Catalog, models: Models, jobs: Jobs, settings: Settings, folder):
        self.catalog, self.models, self.jobs = catalog, models, jobs
        self.settings, self.folder = settings, folder

    def close(self) -> None:
        self.jobs.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        try:
            yield
        finally:
            self.close()

    def routes(self) -> list:
        return [
            Route("/", self.index),
            Route("/api/health", _api(self.health)),
            Route("/api/runs", _api(self.runs)),
            Route("/api/runs/{run}", _api(self.run)),
            Route("/api/generate", _api(self.generate), methods=["POST"]),
            Route("/api/jobs/{job}", _api(self.job)),
            Route("/api/jobs/{job}/events", _api(self.events)),
            Route("/api/jobs/{job}/cancel", _api(self.cancel), methods=["POST"]),
            Route("/api/jobs/{job}/files/{name}", _api(self.file)),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "active": self.jobs.active(), "queue": self.jobs.limit})

    async def runs(self, request: Request) -> Response:
        await run_in_threadpool(self.catalog.rescan)
        runs = await run_in_threadpool(self.catalog.summaries)
        return JSONResponse({"runs": runs, "limits": self._limits()})

    def _limits(self) -> dict:
        s = self.settings
        return {"max_length": s.max_length, "max_seconds": s.max_seconds, "queue": s.queue}

    async def run(self, request: Request) -> Response:
        run_id = request.path_params["run"]
        if run_id not in self.catalog.runs:
            raise _NotFound(f"no run {run_id!r}")
        return JSONResponse(await run_in_threadpool(self.catalog.summary, run_id))

    async def generate(self, request: Request) -> Response:
        raw, upload = await read_form(request)
        fields = parse(raw)
        if fields["run"] not in self.catalog.runs:
            raise _NotFound(f"no run {fields['run']!r}")
        self.jobs.check_room()  # before any model is loaded
        job = await run_in_threadpool(self._start, fields, upload)
        return JSONResponse({"id": job.id, "state": job.state}, status_code=202)

    def _start(self, fields: dict, upload):
        model = self.models.get(self.catalog.path(fields["run"]))
        options = decode_options(fields, model.tokenizer, self.settings.max_length)
        if "labels" in fields:  # one line naming what the run knows, before anything runs
            model.labels.ids(fields["labels"], flag="control")
            options["labels"] = fields["labels"]
        elif options["guidance"]:
            raise SeqgenError("guidance steers toward a control label: pick one")
        ids = prime_ids(model, fields.get("prime"), upload, self.folder)
        return self.jobs.submit(fields["run"], model, ids, options)

    def _job(self, request: Request):
        try:
            return self.jobs.get(request.path_params["job"])
        except SeqgenError as e:
            raise _NotFound(str(e)) from None

    async def job(self, request: Request) -> Response:
        job = self._job(request)
        try:
            wait = min(float(request.query_params.get("wait", 0)), MAX_WAIT)
        except ValueError:
            raise SeqgenError("wait: give a number of seconds") from None
        if wait > 0:
            await run_in_threadpool(job.finished.wait, wait)
        return JSONResponse(job.to_dict())

    async def cancel(self, request: Request) -> Response:
        job = self.jobs.cancel(self._job(request).id)
        return JSONResponse(job.to_dict())

    async def events(self, request: Request) -> Response:
        job = self._job(request)
        return StreamingResponse(
            _sse(job), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    async def file(self, request: Request) -> Response:
        job, name = self._job(request), request.path_params["name"]
        files = {f["name"]: f for f in (job.result or {}).get("files", []) if "error" not in f}
        if name not in files:
            raise _NotFound(f"request {job.id} has no file {name!r}")
        return FileResponse(job.folder / name, media_type=files[name]["type"], filename=name)


async def _sse(job):
    """The job's text as it grows, then its final state; a comment line keeps it alive."""
    sent, idle = 0, 0.0
    while True:
        done = job.finished.is_set()
        chunks = job.chunks[sent:]
        if chunks:
            sent += len(chunks)
            idle = 0.0
            yield _event("text", {"text": "".join(chunks), "tokens": job.tokens})
        if done:
            yield _event("done", job.to_dict())
            return
        await asyncio.sleep(0.05)
        idle += 0.05
        if idle >= 10:
            idle = 0.0
            yield ": still working\n\n"


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
