"""The dashboard's web app (FastAPI): one page, its static files and a JSON API.

Routes (``RUN`` is a run's number, 0-based in the order given on the command line; ``TRIAL`` a
trial id; both integers, so no request can name a file):

    GET /                                   the page (overview, run, trial, compare views)
    GET /static/{app.js|app.css|plotly.min.js}   the page's code; Plotly is the package's own copy
    GET /api/runs                           every run's summary
    GET /api/runs/RUN                       one run's summary (``version`` changes on new trials)
    GET /api/runs/RUN/curve?points=N        best-so-far curve and rewards, <= N points
    GET /api/runs/RUN/trials?offset&limit&sort&order&status   one page of the trials table
    GET /api/runs/RUN/scatter?x=cost_s|params|macs|latency_ms&points=N
    GET /api/runs/RUN/importance            per-decision importance for the reward
    GET /api/runs/RUN/parallel?lines=N      decisions against reward, the best N ok trials
    GET /api/runs/RUN/trials/TRIAL          one trial: arch, metrics, error, log lines
    GET /api/runs/RUN/trials/TRIAL/arch.svg its arch drawn (``nasbeyond.report.draw``)
    GET /api/compare?points=N               every run's best-so-far curve

The sort keys, statuses and scatter axes are ``runs.SORTS``, ``STATUSES`` and ``SCATTER_X``.
A bad parameter is a 422 whose ``detail`` is one line naming it; an unknown run or trial a 404;
a database that cannot be read a 503; never a traceback.
"""

import json
import sqlite3
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

from nasbeyond.dashboard.runs import PARALLEL_LINES, RunSource
from nasbeyond.extras import require
from nasbeyond.trial import finite_json

POLL_MS = 2000  # how often the page asks whether a run changed
_STATIC = {  # the only files served: a fixed table, never a path from the request
    "app.js": "application/javascript",
    "app.css": "text/css",
    "plotly.min.js": "application/javascript",
}
# 'unsafe-eval': Plotly's parcoords (the parallel coordinates) draws with regl, which compiles
# its WebGL commands with Function() (plotly.js issue 897; only Plotly's npm-only strict bundle
# avoids it). No page script, inline script or other origin is allowed; the page never passes
# store text to eval.
_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@cache
def _static(name: str) -> bytes:
    if name == "plotly.min.js":
        offline = require("plotly.offline", "dashboard", "dashboard", "the dashboard's charts")
        return str(offline.get_plotlyjs()).encode()
    return resources.files("nasbeyond.dashboard").joinpath("static", name).read_bytes()


def make_app(runs: list[RunSource], allowed_hosts: list[str] | None = None) -> Any:
    """The ASGI app serving ``runs`` (from ``open_runs``).

    Args:
        runs: the runs, numbered by their ``index``.
        allowed_hosts: Host headers accepted (None: any). ``serve`` passes the loopback names
            when bound to 127.0.0.1, so a web page elsewhere cannot reach the dashboard
            through DNS rebinding.

    Raises:
        ConfigError: fastapi is not installed (the ``dashboard`` extra).
    """
    fastapi = require("fastapi", "dashboard", "dashboard", "the dashboard")
    from fastapi import HTTPException, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.middleware.gzip import GZipMiddleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    class FiniteJSON(JSONResponse):
        """JSON with NaN and infinities as null: an evaluator may store them in a trial's
        metrics, and strict JSON (what browsers parse) has no spelling for them."""

        def render(self, content: Any) -> bytes:
            return json.dumps(
                finite_json(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode()

    app = fastapi.FastAPI(
        title="nasbeyond dashboard",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=FiniteJSON,
    )
    app.add_middleware(GZipMiddleware, minimum_size=4096)  # Plotly's 4.8 MB travel as ~1.4 MB
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        msg = str(first.get("msg", "invalid")).replace("\n", " ")
        return JSONResponse({"detail": f"{where}: {msg}"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(sqlite3.Error)
    async def _db(request: Request, exc: sqlite3.Error) -> Any:
        line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return JSONResponse({"detail": f"store: cannot read the run ({line})"}, status_code=503)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Any:  # never a traceback to the page
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)

    def run_of(run: int) -> RunSource:
        if not 0 <= run < len(runs):
            raise HTTPException(404, f"run: no run {run}; this dashboard serves 0..{len(runs) - 1}")
        return runs[run]

    Points = Annotated[int, Query(ge=2, le=5000)]

    @app.get("/", response_class=HTMLResponse)
    def index() -> Any:
        return HTMLResponse(_static("index.html").decode().replace("{{POLL_MS}}", str(POLL_MS)))

    @app.get("/favicon.ico")
    def favicon() -> Any:
        return Response(status_code=204)

    @app.get("/static/{name}")
    def static(name: str) -> Any:
        if name not in _STATIC:
            raise HTTPException(404, f"static: no file {name!r}")
        return Response(
            _static(name),
            media_type=_STATIC[name],
            headers={"Cache-Control": "max-age=3600"},
        )

    @app.get("/api/runs")
    def all_runs() -> Any:
        return [r.summary() for r in runs]

    @app.get("/api/runs/{run}")
    def summary(run: int) -> Any:
        return run_of(run).summary()

    @app.get("/api/runs/{run}/curve")
    def curve(run: int, points: Points = 1000) -> Any:
        return run_of(run).curve(points)

    @app.get("/api/runs/{run}/trials")
    def trials(
        run: int,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        sort: Literal["id", "reward", "cost_s", "params", "macs", "status"] = "id",
        order: Literal["asc", "desc"] = "desc",
        status: Literal["ok", "failed", "pruned", "running"] | None = None,
    ) -> Any:
        return run_of(run).trials_page(offset, limit, sort, order, status)

    @app.get("/api/runs/{run}/scatter")
    def scatter(
        run: int,
        x: Literal["cost_s", "params", "macs", "latency_ms"] = "cost_s",
        points: Points = 2000,
    ) -> Any:
        return run_of(run).scatter(x, points)

    @app.get("/api/runs/{run}/importance")
    def importance(run: int) -> Any:
        return run_of(run).importance()

    @app.get("/api/runs/{run}/parallel")
    def parallel(run: int, lines: Annotated[int, Query(ge=2, le=5000)] = PARALLEL_LINES) -> Any:
        return run_of(run).parallel(lines)

    @app.get("/api/runs/{run}/trials/{trial}")
    def trial(run: int, trial: int) -> Any:
        source = run_of(run)
        found = source.trial(trial)
        if found is None:
            raise HTTPException(404, f"trial: run {run} ({source.name}) has no trial {trial}")
        return found

    @app.get("/api/runs/{run}/trials/{trial}/arch.svg")
    def arch_svg(run: int, trial: int) -> Any:
        source = run_of(run)
        svg = source.arch_svg(trial)
        if svg is None:
            raise HTTPException(404, f"trial: run {run} has no drawable trial {trial}")
        return Response(svg, media_type="image/svg+xml")

    @app.get("/api/compare")
    def compare(points: Points = 1000) -> Any:
        return [{"id": r.index, "name": r.name, **r.curve(points)} for r in runs]

    return app
