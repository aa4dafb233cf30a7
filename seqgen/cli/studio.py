"""`seqgen studio`: a local web page to pick a run, generate, listen and compare runs. Needs
the extra (pip install "seqgen[studio]"); nothing of it is imported until the command runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import typer

from seqgen.errors import SeqgenError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def studio(
    targets: list[Path] = typer.Argument(
        None,
        metavar="RUNS",
        help="Run directories, or folders of runs. [default: runs]",
    ),
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on. The default serves this machine only; 0.0.0.0 serves "
        "anyone who can reach the port (no authentication).",
    ),
    port: int = typer.Option(8765, "--port", help="Port to listen on; 0: a free one."),
    workers: int = typer.Option(1, "--workers", help="Samples generated at the same time."),
    queue: int = typer.Option(32, "--queue", help="Requests waiting or running at most."),
    max_seconds: float = typer.Option(
        60.0, "--max-seconds", help="Wall time of one generation, in seconds."
    ),
    max_length: int = typer.Option(20_000, "--max-length", help="Tokens of one generation."),
) -> None:
    """Start the studio, a local web page: pick a run, generate, listen, compare runs.
    Example: seqgen studio runs"""
    missing = [m for m in ("starlette", "uvicorn", "multipart") if not importlib.util.find_spec(m)]
    if missing:
        raise SeqgenError('the studio needs its extra: pip install "seqgen[studio]"')
    _check(port, workers, queue, max_seconds, max_length)
    if not targets:
        if not Path("runs").is_dir():
            raise SeqgenError("give a run directory or a folder of runs (there is no ./runs)")
        targets = [Path("runs")]
    from seqgen.studio.app import Settings, make_app
    from seqgen.studio.server import serve

    settings = Settings(workers, queue, max_seconds, max_length)
    app = make_app(list(targets), settings)
    if host not in LOOPBACK:
        print(
            f"seqgen: warning: --host {host}: the studio has no authentication; anyone who "
            "can reach this port can run generation on this machine",
            flush=True,
        )
    serve(app, host, port, announce=_announce)


def _announce(url: str) -> None:
    print(f"seqgen studio: {url} (Ctrl-C stops it)", flush=True)


def _check(port: int, workers: int, queue: int, max_seconds: float, max_length: int) -> None:
    if not 0 <= port <= 65535:
        raise SeqgenError(f"--port {port}: give 0 to 65535")
    if not 1 <= workers <= 64:
        raise SeqgenError(f"--workers {workers}: give 1 to 64")
    if queue < 1:
        raise SeqgenError(f"--queue {queue}: must be at least 1")
    if not (max_seconds > 0 and max_seconds < float("inf")):
        raise SeqgenError(f"--max-seconds {max_seconds}: give a positive number")
    if max_length < 1:
        raise SeqgenError(f"--max-length {max_length}: must be at least 1")
