"""A live dashboard over run directories: ``nasbeyond dashboard RUN_DIR [RUN_DIR ...]``.

A FastAPI app served by uvicorn (the ``dashboard`` extra: fastapi, uvicorn, plotly) that reads
each run's SQLite store read-only while a search writes it, and a page that polls it: runs
compared (best-so-far curves overlaid), one run's curves, reward against cost with the Pareto
front, the trials table (sorted and paginated in SQL), and a trial's arch drawing, metrics,
error and log lines. Charts are Plotly's, served from the installed package (no CDN).

Example:
    >>> from nasbeyond.dashboard import serve
    >>> serve(["runs/demo"], port=8050)  # doctest: +SKIP
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nasbeyond.dashboard.runs import RunSource, open_runs
from nasbeyond.exceptions import ConfigError
from nasbeyond.extras import require

__all__ = ["DEFAULT_PORT", "RunSource", "listen", "open_runs", "serve"]

DEFAULT_PORT = 8050


def _address(host: str, port: int) -> tuple[Any, ...]:
    """(family, type, proto, canonname, sockaddr) of ``host``:``port``; ConfigError if the port
    is outside 0..65535 or the host does not resolve."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"port: {port}; allowed: 0..65535 (0: any free port)")
    try:
        return tuple(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0])
    except (socket.gaierror, UnicodeError) as e:
        raise ConfigError(f"host: {host!r} does not resolve ({e})") from None


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (port 0: any free port).

    Raises:
        ConfigError: a port outside 0..65535, a host that does not resolve, or an address
            already in use or not allowed.
    """
    family, kind, proto, _, address = _address(host, port)
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise ConfigError(
            f"port: cannot listen on {host}:{port} ({e.strerror}); choose another with --port"
        ) from None
    return sock


def serve(
    run_dirs: Sequence[str | Path],
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    on_ready: Callable[[str], None] | None = None,
    check: bool = False,
) -> None:
    """Serve the dashboard for ``run_dirs`` until interrupted (Ctrl-C).

    Args:
        run_dirs: run directories (each holding nasbeyond.db); a search may be writing them.
        host: the address to bind; 127.0.0.1 (this machine only) unless told otherwise.
        port: the TCP port; 0 picks a free one.
        on_ready: called with the page's URL once listening (default: print it to stderr).
        check: only validate (extra, runs, host, port; the app is built, nothing is bound)
            and print one line saying what would be served.

    Raises:
        ConfigError: a missing ``dashboard`` extra, a bad run directory, host or port.
    """
    uvicorn = require("uvicorn", "dashboard", "dashboard", "the dashboard")
    require("plotly", "dashboard", "dashboard", "the dashboard's charts")
    from nasbeyond.dashboard.app import make_app

    runs = open_runs(run_dirs)
    if check:
        _address(host, port)
        make_app(runs)
        names = ", ".join(f"{r.index}: {r.name} ({r.summary()['trials']} trials)" for r in runs)
        print(f"ok: would serve {names} on {host}:{port}")
        return
    sock = listen(host, port)
    bound = sock.getsockname()[1]
    allowed = ["127.0.0.1", "localhost"] if host in ("127.0.0.1", "localhost") else None
    app = make_app(runs, allowed_hosts=allowed)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"
    if on_ready is None:
        names = ", ".join(f"{r.index}: {r.name}" for r in runs)
        print(f"dashboard: {url}  (runs {names}; Ctrl-C stops it)", file=sys.stderr, flush=True)
        if host not in ("127.0.0.1", "localhost", "::1"):
            print(
                f"dashboard: listening on {host}, not only this machine: whoever reaches this "
                "port can read these runs (there is no login)",
                file=sys.stderr,
                flush=True,
            )
    else:
        on_ready(url)
    # Building a run's space imports torch (seconds): done beside the server, not on the first
    # request that describes or draws an arch.
    threading.Thread(target=lambda: [r.space() for r in runs], daemon=True).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
