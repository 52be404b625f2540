"""The JSON API: renders (queue, status, image, events, cancel), uploads, runs (gallery, replay, files),
presets and search. Handlers are plain functions (FastAPI runs them in its thread pool), except the event
stream."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response, StreamingResponse

from pixforge.files import is_regular, printable

from .events import job_events
from .jobs import RenderRequest, render_spec, replay_spec
from .queue import Job
from .runs import describe_run, list_runs, run_folder
from .security import MAX_UPLOAD_BYTES, NotFound, RequestError, TooLarge, store_upload
from .worker import PREVIEW

router = APIRouter(prefix="/api")
#: files the API hands out (images and videos only)
MEDIA = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
         ".gif": "image/gif", ".mp4": "video/mp4"}
NO_STORE = {"Cache-Control": "no-store"}


def _studio(request: Request) -> Any:
    return request.app.state.studio


def _job(request: Request, job_id: str) -> Job:
    job = _studio(request).queue.get(job_id)
    if job is None:
        raise NotFound(f"no render '{printable(job_id)}'")
    return job


def _file(path: Path, download: bool = False) -> FileResponse:
    if path.suffix.lower() not in MEDIA or not is_regular(path):
        raise NotFound(f"no file '{printable(path.name)}'")
    return FileResponse(
        path, media_type=MEDIA[path.suffix.lower()], headers=NO_STORE,
        filename=path.name if download else None, content_disposition_type="attachment" if download else "inline",
    )


def _queue(studio: Any, spec: dict[str, Any]) -> dict[str, Any]:
    from pixforge.outputs import new_run_dir

    run_dir = new_run_dir(studio.roots.runs, stem=spec.get("prompt") or (spec.get("preset") or {}).get("prompt", ""))
    job = studio.queue.add(spec["kind"], spec, run_dir.resolve())
    return {**job.public(), "url": f"/api/renders/{job.id}", "events": f"/api/renders/{job.id}/events"}


# -- health and presets ------------------------------------------------------------------------------


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    """The queue's counts by state and the worker processes."""
    from pixforge.version import __version__

    studio = _studio(request)
    return {
        "version": __version__,
        "jobs": studio.queue.counts(),
        "workers": studio.pool.describe() if studio.pool else [],
        "inputs": studio.roots.inputs is not None,
    }


@router.get("/presets")
def presets(request: Request) -> list[dict[str, str]]:
    """The presets a render may name."""
    from pixforge.resolve import available_presets, preset_description

    found = available_presets(_studio(request).pipeline.registry)
    return [{"name": name, "description": preset_description(path)} for name, path in found.items()]


# -- renders -----------------------------------------------------------------------------------------


@router.post("/renders", status_code=201)
def create_render(request: Request, body: RenderRequest) -> dict[str, Any]:
    """Queue a render; the answer carries its id and where to follow it."""
    studio = _studio(request)
    return _queue(studio, render_spec(studio.pipeline, studio.roots, body))


@router.get("/renders")
def list_renders(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """The newest jobs first."""
    return [job.public() for job in _studio(request).queue.list(limit)]


@router.get("/renders/{job_id}")
def get_render(request: Request, job_id: str) -> dict[str, Any]:
    """Status (queued, running, completed, failed, cancelled), step, total, losses."""
    return _job(request, job_id).public()


@router.get("/renders/{job_id}/image")
def render_image(request: Request, job_id: str) -> FileResponse:
    """The latest preview while the render runs, its final image once it has ended."""
    job = _job(request, job_id)
    run_dir = Path(job.run_dir)
    for name in ("final.png", PREVIEW) if job.state != "running" else (PREVIEW,):
        if (run_dir / name).is_file():
            return _file(run_dir / name)
    raise NotFound(f"render '{job_id}' has no image yet ({job.state})")


@router.get("/renders/{job_id}/events")
async def render_events(request: Request, job_id: str) -> StreamingResponse:
    """Server-sent events: progress, preview, end."""
    job = await _async_job(request, job_id)
    return StreamingResponse(
        job_events(_studio(request).queue, job.id, request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _async_job(request: Request, job_id: str) -> Job:
    import asyncio

    return await asyncio.to_thread(_job, request, job_id)


@router.delete("/renders/{job_id}")
def cancel_render(request: Request, job_id: str) -> dict[str, Any]:
    """Cancel: a queued render never runs; a running one stops at its next step and keeps its image."""
    _job(request, job_id)
    job = _studio(request).queue.cancel(job_id)
    assert job is not None
    return job.public()


# -- uploads -----------------------------------------------------------------------------------------


@router.post("/uploads", status_code=201)
def upload(request: Request, file: Annotated[UploadFile, File(description="An image (PNG, JPEG, WebP, GIF, BMP)")]) -> dict[str, Any]:
    """Keep an uploaded image (checked and re-encoded as PNG) for a render's init_image."""
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise TooLarge(f"upload is over the limit of {MAX_UPLOAD_BYTES:,} bytes")
    studio = _studio(request)
    path = store_upload(data, studio.uploads)
    return {"path": str(path), "name": path.name}


# -- runs --------------------------------------------------------------------------------------------


@router.get("/runs")
def runs(request: Request) -> list[dict[str, Any]]:
    """Every run folder under the runs folder: prompt, seed, preset, status, thumbnail, image, video."""
    studio = _studio(request)
    return list_runs(studio.roots, studio.queue.by_run_dir())


@router.get("/runs/{name:path}/thumbnail.png")
def run_thumbnail(request: Request, name: str) -> Response:
    studio = _studio(request)
    data = studio.thumbnails.get(run_folder(studio.roots, name) / "final.png")
    return Response(data, media_type="image/png", headers=NO_STORE)


@router.get("/runs/{name:path}/final.png")
def run_image(request: Request, name: str, download: bool = False) -> FileResponse:
    return _file(run_folder(_studio(request).roots, name) / "final.png", download)


@router.get("/runs/{name:path}/video.{fmt}")
def run_video(request: Request, name: str, fmt: str, download: bool = False) -> FileResponse:
    if fmt not in ("mp4", "gif"):
        raise NotFound(f"no video.{printable(fmt)}: videos are video.mp4 or video.gif")
    return _file(run_folder(_studio(request).roots, name) / f"video.{fmt}", download)


@router.post("/runs/{name:path}/replay", status_code=201)
def replay(request: Request, name: str) -> dict[str, Any]:
    """Render a run again from the settings stored in its final.png."""
    studio = _studio(request)
    return _queue(studio, replay_spec(studio.pipeline, studio.roots, run_folder(studio.roots, name)))


@router.get("/runs/{name:path}")
def run_detail(request: Request, name: str) -> dict[str, Any]:
    """One run with its full settings and how it ended."""
    studio = _studio(request)
    path = run_folder(studio.roots, name)
    return describe_run(studio.roots, path, studio.queue.by_run_dir().get(str(path)), detail=True)


# -- files and search --------------------------------------------------------------------------------


@router.get("/files/{root}/{path:path}")
def files(request: Request, root: str, path: str, thumb: bool = False) -> Response:
    """An image or video inside the runs folder (``runs``) or the input folder (``inputs``)."""
    roots = _studio(request).roots
    folder = {"runs": roots.runs, "inputs": roots.inputs}.get(root)
    if folder is None:
        raise NotFound(f"no folder '{printable(root)}': files are under runs/" + (" or inputs/" if roots.inputs else ""))
    target = (folder / path).resolve()
    if not (target == folder or target.is_relative_to(folder)):
        raise NotFound(f"no file '{printable(path)}' in {root}")
    if thumb:
        return Response(_studio(request).thumbnails.get(target), media_type="image/png", headers=NO_STORE)
    return _file(target)


def _file_url(roots: Any, path: Path) -> str | None:
    from urllib.parse import quote

    resolved = path.resolve()
    for name, folder in (("inputs", roots.inputs), ("runs", roots.runs)):
        if folder is not None and resolved.is_relative_to(folder):
            return f"/api/files/{name}/{quote(resolved.relative_to(folder).as_posix())}"
    return None


@router.get("/search")
def search(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=500, description="The text to search for.")],
    index: Annotated[str, Query(max_length=1000, description="An index (or a folder holding one), relative to the input folder.")] = ".",
    k: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    """Search an index made by ``pixforge index`` by text, with the index's own model."""
    from pixforge_search import Searcher

    studio = _studio(request)
    folder = studio.roots.confine(index, "index")
    with studio.search_lock:
        result = Searcher(folder, pipeline=studio.pipeline).text(q, k)
    hits = []
    for hit in result.hits:
        url = _file_url(studio.roots, hit.path)
        if url is None:
            raise RequestError(f"index '{printable(index)}' lists images outside the allowed folders")
        hits.append({"rank": hit.rank, "name": hit.path.name, "score": round(hit.score, 6), "url": url,
                     "thumbnail": f"{url}?thumb=1"})
    return {"query": q, "index": index, "model": result.model, "backend": result.backend, "results": hits}
