"""pixforge serve: the JSON API against a real uvicorn server on 127.0.0.1, its worker processes and queue."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys

import pytest
from PIL import Image

from studiokit import Server

LONG = 5000  # steps of a render that is always cancelled or killed before it ends


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """An input folder: world images with an index made by `pixforge index`, and a file that is no image."""
    from pixforge_search import build_index
    from pixforge_zoo import world

    folder = tmp_path_factory.mktemp("inputs")
    world.write_samples(folder / "shapes", 12, seed=3)
    build_index(folder / "shapes")
    (folder / "notes.png").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, inputs):
    runs = tmp_path_factory.mktemp("studio") / "runs"
    started = Server(runs, workers=1, inputs=inputs, token="s3cret")
    try:
        yield started.wait_ready()
    finally:
        assert started.stop() == 0, started.log.read_text()


def png(width: int, height: int, colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(name: str, data: bytes, content_type: str = "image/png") -> tuple[bytes, dict[str, str]]:
    boundary = "pixforgeboundary7"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_file_names_in_requests_stay_inside_the_runs_and_input_folders(tmp_path) -> None:
    from pixforge_studio.security import Forbidden, Roots, check_override, check_value

    runs, inputs, outside = tmp_path / "runs", tmp_path / "inputs", tmp_path / "outside"
    for folder in (runs, inputs, outside):
        folder.mkdir()
    (outside / "secret.png").write_bytes(b"x")
    (inputs / "escape.png").symlink_to(outside / "secret.png")
    roots = Roots(runs.resolve(), inputs.resolve())
    allowed = ["init_image=pic.png", f"init_image={runs}/a.png", "prompts.images=a.png:0.5|b.png:-1",
               "perceptors.0.settings.model=hf-hub:chs20/fare2-clip", "prompts.noise=['12:0.3']",
               "prompt=/etc/passwd is only words here", "prompts.regions=['left=a red/blue circle']"]
    for override in allowed:
        check_override(roots, override)
    refused = ["init_image=escape.png", f"init_image={outside}/secret.png", "init_image=../outside/secret.png",
               "prompts.images=a.png|  ../outside/secret.png:2", "perceptors.0.settings.pretrained=local-dir:/etc",
               f"prompts.regions=['{outside}/mask.png=a red circle']", "generator.settings={checkpoint: ~/x.ckpt}"]
    for override in refused:
        with pytest.raises(Forbidden):
            check_override(roots, override)
    with pytest.raises(Forbidden, match="--trust-checkpoint"):
        check_value(roots, {"generator": {"settings": {"trust_checkpoint": True}}}, "the run's settings")


def test_a_render_streams_progress_and_ends_with_its_image_in_the_gallery(server) -> None:
    job = server.render("a red circle on a blue background", seed=3, steps=40)  # enough to see it move
    assert job["status"] == "queued" and job["events"] == f"/api/renders/{job['id']}/events"
    events = server.events(job["id"])
    steps = [data["step"] for name, data in events if name == "progress" and data["status"] != "queued"]
    # the default preset's layout (its 30 steps, fewer than the render's 40) runs first, in the same count
    assert steps[-1] == 70 and steps == sorted(steps) and len(set(steps) - {0}) >= 2, steps
    assert any(name == "preview" for name, _ in events)
    assert events[-1][0] == "end" and events[-1][1]["status"] == "completed"
    done = server.call("GET", f"/api/renders/{job['id']}").json()
    assert (done["step"], done["total"], len(done["history"])) == (70, 70, 70)
    assert set(done["losses"]) >= {"clip_prompt"} and done["rate"] > 0
    image = server.call("GET", f"/api/renders/{job['id']}/image")
    assert image.status == 200 and Image.open(io.BytesIO(image.body)).size == (32, 32)

    runs = {run["name"]: run for run in server.call("GET", "/api/runs").json()}
    run = runs[done["run"]]
    assert (run["prompt"], run["seed"], run["preset"], run["status"]) == (
        "a red circle on a blue background", 3, "default", "completed")
    thumbnail = server.call("GET", run["thumbnail"])
    assert thumbnail.status == 200 and thumbnail.headers["content-type"] == "image/png"
    detail = server.call("GET", f"/api/runs/{run['name']}").json()
    assert detail["settings"]["steps"] == 40 and detail["run"]["status"] == "completed"
    download = server.call("GET", run["image"] + "?download=1")
    assert "attachment" in download.headers["content-disposition"] and download.body == (
        server.runs / run["name"] / "final.png").read_bytes()

    replay = server.call("POST", f"/api/runs/{run['name']}/replay")
    assert replay.status == 201, replay.body
    again = server.finished(replay.json()["id"])
    assert again["status"] == "completed" and again["prompt"] == "a red circle on a blue background"
    assert done["models_loaded"] > 0 and again["models_loaded"] == 0  # the worker kept its models
    assert again["worker"] == done["worker"]
    original = Image.open(server.runs / run["name"] / "final.png")
    replayed = Image.open(server.runs / again["run"] / "final.png")
    assert original.tobytes() == replayed.tobytes()  # same settings and seed: the same pixels


def test_cancel_keeps_the_current_image_and_a_queued_job_never_runs(server) -> None:
    long = server.render("a green ring", seed=1, steps=LONG)
    waiting = server.render("a blue square", seed=1, steps=3)
    server.wait(long["id"], lambda job: job["step"] >= 2)
    assert server.call("DELETE", f"/api/renders/{waiting['id']}").json()["status"] == "cancelled"
    assert server.call("DELETE", f"/api/renders/{long['id']}").status == 200
    stopped = server.finished(long["id"])
    assert stopped["status"] == "cancelled" and 2 <= stopped["step"] < LONG
    assert (server.runs / stopped["run"] / "final.png").is_file()
    assert server.call("GET", f"/api/renders/{long['id']}/image").status == 200
    never = server.call("GET", f"/api/renders/{waiting['id']}").json()
    assert never["status"] == "cancelled" and never["started"] is None and never["step"] == 0


def test_an_animation_goes_through_the_same_queue(server) -> None:
    job = server.render("a red circle", seed=0, steps=3, animation={"frames": 3, "steps_per_frame": 2, "zoom": 1.05})
    assert job["kind"] == "animation"
    done = server.finished(job["id"])
    assert (done["status"], done["step"], done["total"]) == ("completed", 10, 10), done  # layout 3, frames 3 + 2 + 2
    run = server.call("GET", f"/api/runs/{done['run']}").json()
    assert run["video"].endswith("/video.mp4") and run["settings"]["animation"]["frames"] == 3
    video = server.call("GET", run["video"] + "?download=1")
    assert video.status == 200 and video.headers["content-type"] == "video/mp4" and len(video.body) > 1000
    refused = server.call("POST", "/api/renders", {"prompt": "x", "candidates": 2, "animation": {"frames": 2}})
    assert refused.status == 400 and "candidates" in refused.json()["error"]


def test_bad_requests_get_a_4xx_with_one_clear_line(server) -> None:
    cases = [
        ({"prompt": "x", "colour": 1}, 422, "colour"),
        ({"prompt": "x", "steps": 0}, 422, "steps"),
        ({"prompt": ""}, 422, "prompt"),
        ({"prompt": "x", "preset": "/etc/passwd.yaml"}, 400, "preset '/etc/passwd.yaml' is not one this server has"),
        ({"prompt": "x", "preset": "defualt"}, 400, "did you mean 'default'"),
        ({"prompt": "x", "overrides": ["cutouts.cont=4"]}, 400, "cont"),
        ({"prompt": "x", "overrides": ["steps=999999"]}, 400, "over this server's limit"),
        ({"prompt": "x", "size": "4096x4096"}, 400, "over this server's limit"),
        ({"prompt": "x", "overrides": ["generator.settings.trust_checkpoint=true"]}, 403, "--trust-checkpoint"),
        ({"prompt": "x", "overrides": ["init_image=/etc/hostname"]}, 403, "outside"),
        ({"prompt": "x", "overrides": ["init_image=../../x.png"]}, 403, "outside"),
        ({"prompt": "x", "overrides": ["prompts.images=['/etc/hostname:0.5']"]}, 403, "outside"),
        ({"prompt": "x", "overrides": ["prompts.images=a.png| /etc/hostname"]}, 403, "outside"),
        ({"prompt": "x", "overrides": ["prompts.images+=~/x.png"]}, 403, "outside"),
        ({"prompt": "x", "overrides": ["perceptors.0.settings.pretrained=local-dir:/etc"]}, 403, "outside"),
        ({"prompt": "x", "overrides": ["generator={name: vqgan, settings: {checkpoint: ~/model.ckpt}}"]}, 403, "outside"),
        ({"prompt": "x", "init_image": "missing.png"}, 400, "no such file"),
        ({"prompt": "x", "animation": {"frames": 1000, "steps_per_frame": 100}}, 400, "steps in all"),
        ({"prompt": "x", "animation": {"framez": 2}}, 400, "framez"),
    ]
    for body, status, words in cases:
        answer = server.call("POST", "/api/renders", body)
        message = answer.json()["error"]
        assert (answer.status, words in message) == (status, True), (body, answer.status, message)
        assert "Traceback" not in message and "\n" not in message
    assert server.call("POST", "/api/renders", data=b"{not json", headers={"Content-Type": "application/json"}).status == 422
    assert server.call("GET", "/api/renders/nope").json() == {"error": "no render 'nope'"}
    cross = server.call("POST", "/api/renders", {"prompt": "x"}, headers={"Origin": "http://evil.example"})
    assert cross.status == 403 and "cross-site" in cross.json()["error"]
    own = server.call("POST", "/api/renders", {"prompt": "x", "steps": 0}, headers={"Origin": server.url})
    assert own.status == 422  # its own page's origin passes the guard
    assert server.call("GET", "/api/runs/../../etc").status == 404
    assert server.call("GET", "/api/files/inputs/../../../etc/hostname").status == 404
    assert server.call("GET", "/api/files/elsewhere/x.png").status == 404
    assert server.call("GET", "/api/renders?limit=0").status == 422


def test_uploads_are_checked_and_an_init_image_renders(server) -> None:
    body, headers = multipart("red.png", png(40, 24))
    stored = server.call("POST", "/api/uploads", data=body, headers=headers)
    assert stored.status == 201, stored.body
    path = stored.json()["path"]
    assert path.startswith(str(server.runs.resolve())) and Image.open(path).size == (40, 24)
    job = server.render("a red square", seed=0, steps=3, init_image=path)
    assert server.finished(job["id"])["status"] == "completed"

    for data, status, words in [
        (b"GIF89a not really", 400, "cannot be read as an image"),
        (b"", 400, "empty"),
        (png(5000, 4000, "black"), 413, "pixels"),
    ]:
        body, headers = multipart("x.png", data)
        answer = server.call("POST", "/api/uploads", data=body, headers=headers)
        assert (answer.status, words in answer.json()["error"]) == (status, True), answer.body
    _, headers = multipart("x.png", b"")
    huge = server.announce("/api/uploads", 17 * 1024 * 1024, headers)
    assert huge.status == 413 and "over the limit" in huge.json()["error"]
    assert server.announce("/api/renders", 2 * 1024 * 1024, {"Content-Type": "application/json"}).status == 413


def test_a_failing_render_fails_its_job_and_a_killed_worker_is_replaced(server) -> None:
    broken = server.render("a red circle", steps=3, init_image="notes.png")
    failed = server.finished(broken["id"])
    assert failed["status"] == "failed" and "notes.png" in failed["error"], failed

    long = server.render("a yellow star", seed=2, steps=LONG)
    server.wait(long["id"], lambda job: job["step"] >= 1)
    pid = server.call("GET", "/api/health").json()["workers"][0]["pid"]
    os.kill(pid, signal.SIGKILL)  # a worker of the server this test started
    died = server.finished(long["id"])
    assert died["status"] == "failed" and "exit code -9" in died["error"], died
    after = server.render("a white cross", seed=0, steps=3)
    assert server.finished(after["id"])["status"] == "completed"
    workers = server.call("GET", "/api/health").json()["workers"]
    assert workers[0]["pid"] != pid and workers[0]["restarts"] == 1


def test_search_an_index_from_the_input_folder(server) -> None:
    found = server.call("GET", "/api/search?q=a%20purple%20star&index=shapes&k=5")
    assert found.status == 200, found.body
    results = found.json()["results"]
    assert [hit["rank"] for hit in results] == [1, 2, 3, 4, 5]
    assert results[0]["score"] >= results[-1]["score"]
    image = server.call("GET", results[0]["url"])
    assert image.status == 200 and image.headers["content-type"] == "image/png"
    assert server.call("GET", results[0]["thumbnail"]).status == 200
    assert server.call("GET", "/api/search?q=x&index=/etc").status == 403
    missing = server.call("GET", "/api/search?q=x&index=nowhere")
    assert missing.status == 400 and "nowhere" in missing.json()["error"]


def test_presets_page_and_openapi(server) -> None:
    names = [preset["name"] for preset in server.call("GET", "/api/presets").json()]
    assert "default" in names and "draft" in names
    page = server.call("GET", "/")
    assert page.status == 200 and b"/static/app.js" in page.body
    assert server.call("GET", "/static/app.js").status == 200
    paths = server.call("GET", "/openapi.json").json()["paths"]
    assert {"/api/renders", "/api/renders/{job_id}/events", "/api/runs", "/api/search"} <= set(paths)
    assert server.call("GET", "/docs").status == 200


def test_a_token_guards_the_api_and_other_hosts_need_one(server, tmp_path) -> None:
    assert server.token  # the module's server was started with --token (on 127.0.0.1, where it is optional)
    assert server.call("GET", "/api/runs", token=False).status == 401
    assert "Bearer" in server.call("GET", "/api/renders/x/events", token=False).json()["error"]
    assert server.call("GET", "/api/runs", headers={"Authorization": "Bearer wrong"}, token=False).status == 401
    assert server.call("GET", f"/api/runs?token={server.token}", token=False).status == 200
    assert server.call("GET", "/", token=False).status == 200  # the page holds no data; it asks with the token
    refused = subprocess.run([sys.executable, "-m", "pixforge.cli", "serve", "--host", "0.0.0.0", "--runs",
                              str(tmp_path / "r")], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "--token" in refused.stderr and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_after_a_restart_queued_jobs_still_run(tmp_path) -> None:
    runs = tmp_path / "runs"
    first = Server(runs, workers=1).wait_ready()
    try:
        assert first.call("GET", "/api/runs", headers={"Host": "evil.example:80"}).status == 403  # no token: own names only
        assert first.call("GET", "/api/runs", headers={"Host": f"localhost:{first.port}"}).status == 200
        running = first.render("a pink ring", seed=0, steps=LONG)
        queued = first.render("a red circle", seed=0, steps=3)
        first.wait(running["id"], lambda job: job["step"] >= 1)
        second = subprocess.run([sys.executable, "-m", "pixforge.cli", "serve", "--port", "0", "--runs", str(runs),
                                 "--workers", "0"], capture_output=True, text=True, timeout=90)
        assert second.returncode == 1 and "another pixforge serve" in second.stderr, second.stderr
    finally:
        assert first.stop() == 0
    from pixforge_studio.queue import JobQueue

    queue = JobQueue(runs / ".studio" / "queue.sqlite")
    assert queue.get(queued["id"]).state == "queued"
    stopped = queue.get(running["id"])
    assert stopped.state == "failed" and "server stopped" in stopped.error
    assert (runs / running["run"] / "final.png").is_file()  # stopped like Ctrl-C: the image is kept

    again = Server(runs, workers=1).wait_ready()
    try:
        assert again.finished(queued["id"])["status"] == "completed"
    finally:
        assert again.stop() == 0
