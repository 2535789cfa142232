"""`mlm push` against a local stand-in for the Hugging Face Hub's and Kaggle's upload APIs.

The stand-in is a threaded HTTP server that answers just the requests huggingface_hub and kagglehub make for an
upload and records every one, so the tests read what arrived (files and bytes, repository settings, messages) and
what did not (anything outside the preset). huggingface_hub reads HF_ENDPOINT when it is imported, so Hub pushes run
in a subprocess. kagglehub has no endpoint setting, only KAGGLE_API_ENVIRONMENT (LOCALHOST: http://localhost), so its
requests reach the server as an HTTP proxy (HTTP_PROXY); it reads both on every call, so Kaggle pushes run in-process.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.cli import UNREACHABLE

HF_TOKEN = "hf_push_test_token"
KAGGLE_USER, KAGGLE_KEY = "mlm-tester", "kaggle-test-key"
SECRET = b"TOP SECRET: not part of any preset"
PRESET_NAMES = {"config.json", "task.json", "preprocessor.json", "tokenizer.json", "metadata.json",
                "model.weights.h5", "task.weights.h5", "assets/tokenizer/vocabulary.txt", "README.md"}
CARD = "---\nlibrary_name: \"keras-hub\"\npipeline_tag: \"fill-mask\"\n---\n\n# my-bert\n\nA tiny test model.\n"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class FakeHubs:
    """The upload endpoints of the Hugging Face Hub and Kaggle on one local port, recording every request.

    `fail(prefix, status, body)` answers every route whose name starts with `prefix` with that error.
    """

    def __init__(self):
        self.requests: list[Recorded] = []
        self.blobs: dict[str, dict] = {}  # Kaggle upload token -> {"name", "data"}
        self.failures: list[tuple[str, int, dict]] = []
        self.kaggle_model_exists = True
        self.kaggle_instance_exists = True
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        hubs = self

        class Handler(_Handler):
            owner = hubs

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def fail(self, prefix: str, status: int, body: dict) -> None:
        self.failures.append((prefix, status, body))

    def record(self, request: Recorded) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(request)
            route = _route(request)
            for prefix, status, body in self.failures:
                if route.startswith(prefix):
                    return status, body
            return self._answer(route, request)

    def _answer(self, route: str, request: Recorded) -> tuple[int, dict]:
        if route == "hf-create":
            payload = request.json()
            return 200, {"url": f"{self.url}/{payload['organization']}/{payload['name']}"}
        if route == "hf-validate-yaml":
            return 200, {"errors": [], "warnings": []}
        if route == "hf-preupload":
            return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                   for f in request.json()["files"]]}
        if route == "hf-commit":
            repo_id = request.path.removeprefix("/api/models/").split("/commit/")[0]
            oid = "1" * 40
            return 200, {"commitUrl": f"{self.url}/{repo_id}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None}
        if route == "kaggle-GetModel":
            return (200, {"id": 7}) if self.kaggle_model_exists else (404, {"code": 404, "message": "Not found"})
        if route == "kaggle-CreateModel":
            return 200, {"id": 7, "ref": "model"}
        if route == "kaggle-StartBlobUpload":
            token = f"blob-{next(self._tokens)}"
            self.blobs[token] = {"name": request.json()["name"], "data": None}
            return 200, {"token": token, "createUrl": f"{self.url}/upload/{token}"}
        if route == "kaggle-blob":
            self.blobs[request.path.rsplit("/", 1)[1]]["data"] = request.body
            return 200, {}
        if route == "kaggle-CreateModelInstance" and self.kaggle_instance_exists:
            return 200, {"error": "Instance already exists", "errorCode": 409}
        if route in ("kaggle-CreateModelInstance", "kaggle-CreateModelInstanceVersion"):
            return 200, {"id": 8, "url": "/models/variation/1"}
        return 404, {"error": f"the test server does not know {request.method} {request.path}"}

    def routes(self) -> list[str]:
        return [_route(request) for request in self.requests]

    def only(self, route: str) -> Recorded:
        found = [request for request in self.requests if _route(request) == route]
        assert len(found) == 1, self.routes()
        return found[0]

    def hf_commit(self) -> tuple[dict, dict[str, bytes]]:
        """The commit's header and its files (path -> bytes)."""
        lines = [json.loads(line) for line in self.only("hf-commit").body.splitlines() if line.strip()]
        header = next(item["value"] for item in lines if item["key"] == "header")
        files = {item["value"]["path"]: base64.b64decode(item["value"]["content"])
                 for item in lines if item["key"] == "file"}
        assert all(item["key"] in ("header", "file") for item in lines), lines
        return header, files

    def kaggle_files(self, request: Recorded) -> dict[str, bytes]:
        """The files a CreateModelInstance(Version) request names, by path, with the bytes uploaded for them."""
        body = request.json()["body"]
        files: dict[str, bytes] = {}

        def walk(folder: dict, prefix: str) -> None:
            for entry in folder.get("files", []):
                blob = self.blobs[entry["token"]]
                files[prefix + blob["name"]] = blob["data"]
            for child in folder.get("directories", []):
                walk(child, f"{prefix}{child['name']}/")

        walk(body, "")
        return files


def _route(request: Recorded) -> str:
    """A short name for what the request asks for."""
    path = request.path
    if path == "/api/repos/create":
        return "hf-create"
    if path == "/api/validate-yaml":
        return "hf-validate-yaml"
    if path.startswith("/api/models/"):
        return "hf-preupload" if "/preupload/" in path else "hf-commit" if "/commit/" in path else "hf-repo-info"
    if path.startswith("/api/v1/"):
        return "kaggle-" + path.rsplit("/", 1)[1]
    if path.startswith("/upload/"):
        return "kaggle-blob"
    return f"unknown {request.method} {path}"


class _Handler(BaseHTTPRequestHandler):
    owner: FakeHubs

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_GET

    def _serve(self) -> None:
        body = self._read_body()
        path = urlsplit(self.path).path  # absolute when the client treats the server as its proxy
        request = Recorded(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body)
        status, payload = self.owner.record(request)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


@pytest.fixture()
def hubs():
    server = FakeHubs()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture()
def run_dir(tiny_preset, tmp_path) -> Path:
    """A finished run directory: the preset with its card beside run files, a secret next to it and a link to it."""
    run = tmp_path / "my-bert"
    shutil.copytree(tiny_preset, run)
    (run / "README.md").write_text(CARD, encoding="utf-8")
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 4.2}\n')
    (run / "train_config.json").write_text('{"preset": "bert_tiny_en_uncased"}')
    (run / "training.png").write_bytes(b"\x89PNG not really")
    checkpoint = run / "checkpoints" / "step-00000001"
    checkpoint.mkdir(parents=True)
    (checkpoint / "optimizer.weights.h5").write_bytes(b"optimizer state")
    (checkpoint / "state.json").write_text('{"step": 1}')
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (run / "notes.txt").symlink_to("../secret.txt")
    (run / "outside").symlink_to(tmp_path)
    return run


def preset_bytes(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in PRESET_NAMES}


def hf_env(hubs: FakeHubs) -> dict[str, str]:
    """huggingface_hub (in a subprocess) talks to the test server, with a token from the environment."""
    return {"HF_ENDPOINT": hubs.url, "HF_TOKEN": HF_TOKEN, "HF_HUB_DISABLE_TELEMETRY": "1",
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def kaggle_env(hubs: FakeHubs, home: Path) -> dict[str, str]:
    """kagglehub's requests to http://localhost go through the test server as their proxy; credentials from env."""
    home.mkdir(exist_ok=True)
    return {"KAGGLE_API_ENVIRONMENT": "LOCALHOST", "HTTP_PROXY": hubs.url, "http_proxy": hubs.url, "NO_PROXY": "",
            "no_proxy": "", "KAGGLE_USERNAME": KAGGLE_USER, "KAGGLE_KEY": KAGGLE_KEY, "KAGGLE_API_TOKEN": "",
            "HOME": str(home)}


def one_error_line(result, code: int, *expect: str) -> str:
    """Exit `code`, exactly one `error:` line on stderr naming each of `expect`, no traceback, nothing on stdout."""
    assert result.code == code, (result.code, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for text in expect:
        assert text in errors[0], errors[0]
    assert "Traceback" not in result.stderr and result.stdout == "", (result.stdout, result.stderr)
    return errors[0]


def assert_no_secret(hubs: FakeHubs) -> None:
    encoded = base64.b64encode(SECRET)
    for request in hubs.requests:
        assert SECRET not in request.body and encoded not in request.body, request.path


def test_push_run_directory_to_the_hub(mlm, hubs, run_dir):
    """Exactly the preset's files, bytes unchanged, in one commit with the message; the repository made private."""
    result = mlm("push", str(run_dir), "hf://mlm-tests/tiny-bert", "--private", "--message", "first push",
                 env=hf_env(hubs))
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == f"{hubs.url}/mlm-tests/tiny-bert"
    assert hubs.routes() == ["hf-create", "hf-validate-yaml", "hf-preupload", "hf-commit"]
    assert hubs.only("hf-create").json() == {"name": "tiny-bert", "organization": "mlm-tests", "visibility": "private",
                                             "type": "model"}
    assert all(request.headers["authorization"] == f"Bearer {HF_TOKEN}" for request in hubs.requests)
    header, files = hubs.hf_commit()
    assert header["summary"] == "first push"
    assert files == preset_bytes(run_dir)
    assert {f["path"] for f in hubs.only("hf-preupload").json()["files"]} == PRESET_NAMES
    assert_no_secret(hubs)
    left_out = next(line for line in result.stderr.splitlines() if "not uploaded" in line)
    for name in ("checkpoints/", "metrics.jsonl", "train_config.json", "training.png", "notes.txt", "outside"):
        assert name in left_out


@pytest.mark.run_once  # the exporter is checked on both backends by the export tests; this is the upload of its files
def test_push_transformers_format_to_the_hub(mlm, hubs, run_dir):
    result = mlm("push", str(run_dir), "hf://mlm-tests/tiny-bert-hf", "--format", "hf", "--json", env=hf_env(hubs))
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["url"] == f"{hubs.url}/mlm-tests/tiny-bert-hf"
    create = hubs.only("hf-create").json()
    assert "visibility" not in create  # without --private the Hub's default applies
    header, files = hubs.hf_commit()
    assert header["summary"].startswith("Upload my-bert with mlm")
    assert {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "README.md"} <= set(files)
    assert not any(name.endswith(".h5") or name.startswith("assets/") for name in files)
    assert json.loads(files["config.json"])["architectures"] == ["BertForMaskedLM"]
    header_size = int.from_bytes(files["model.safetensors"][:8], "little")
    tensors = json.loads(files["model.safetensors"][8:8 + header_size])
    assert any(name.startswith("bert.embeddings.") for name in tensors)
    assert files["vocab.txt"] == (run_dir / "assets" / "tokenizer" / "vocabulary.txt").read_bytes()
    assert files["README.md"].startswith(CARD.rstrip().encode())  # the run's card, plus how it was exported
    assert_no_secret(hubs)


@pytest.mark.run_once  # the upload is backend-free; the preset check is the one test_push_run_directory_to_the_hub runs
def test_push_to_kaggle(mlm_in_process, hubs, run_dir, tmp_path):
    """An existing variation gets a new version holding exactly the preset's files, with the message as its notes."""
    result = mlm_in_process("push", str(run_dir), "kaggle://mlm-tester/tiny-bert/keras/tiny", "-m", "more steps",
                            env=kaggle_env(hubs, tmp_path / "home"))
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "http://localhost/models/mlm-tester/tiny-bert/keras/tiny"
    routes = hubs.routes()
    assert routes[0] == "kaggle-GetModel" and routes[-2:] == ["kaggle-CreateModelInstance",
                                                             "kaggle-CreateModelInstanceVersion"]
    assert routes.count("kaggle-StartBlobUpload") == routes.count("kaggle-blob") == len(PRESET_NAMES)
    version = hubs.only("kaggle-CreateModelInstanceVersion")
    assert version.json()["body"]["versionNotes"] == "more steps"
    assert hubs.kaggle_files(version) == preset_bytes(run_dir)
    basic = "Basic " + base64.b64encode(f"{KAGGLE_USER}:{KAGGLE_KEY}".encode()).decode()
    api_calls = [request for request in hubs.requests if request.path.startswith("/api/")]
    assert all(request.headers["authorization"] == basic for request in api_calls)
    assert_no_secret(hubs)


@pytest.mark.run_once
def test_push_creates_a_missing_kaggle_model(mlm_in_process, hubs, tiny_preset, tmp_path):
    hubs.kaggle_model_exists = hubs.kaggle_instance_exists = False
    result = mlm_in_process("push", str(tiny_preset), "kaggle://mlm-tester/new-bert/keras/tiny",
                            env=kaggle_env(hubs, tmp_path / "home"))
    assert result.code == 0, result.stderr
    routes = hubs.routes()
    assert routes[:2] == ["kaggle-GetModel", "kaggle-CreateModel"] and routes[-1] == "kaggle-CreateModelInstance"
    instance = hubs.only("kaggle-CreateModelInstance").json()
    assert instance["body"]["instanceSlug"] == "tiny"
    assert set(hubs.kaggle_files(hubs.only("kaggle-CreateModelInstance"))) == PRESET_NAMES - {"README.md"}


@pytest.mark.run_once
def test_push_a_transformers_export_as_it_is(mlm_in_process, hubs, tiny_preset, tmp_path):
    """A directory `mlm export --format hf` wrote is pushed in its own format, all of its files and only those."""
    exported = tmp_path / "my-bert-hf"
    assert mlm_in_process("export", "--preset", str(tiny_preset), "--format", "hf", "--output", str(exported)).code == 0
    result = mlm_in_process("push", str(exported), "kaggle://mlm-tester/tiny-bert/transformers/tiny", "--json",
                            env=kaggle_env(hubs, tmp_path / "home"))
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["format"] == "hf"
    pushed = hubs.kaggle_files(hubs.only("kaggle-CreateModelInstanceVersion"))
    assert pushed == {path.name: path.read_bytes() for path in exported.iterdir()}


@pytest.mark.run_once
@pytest.mark.parametrize("route, status, body, expect", [
    ("hf-", 401, {"error": "Invalid credentials in Authorization header"}, ["HTTP 401", "HF_TOKEN"]),
    ("hf-commit", 409, {"error": "A commit has happened since. Please refresh and try again."},
     ["HTTP 409", "conflict"]),
])
def test_hub_refusals_are_one_error_line(mlm, hubs, run_dir, route, status, body, expect):
    hubs.fail(route, status, body)
    result = mlm("push", str(run_dir), "hf://mlm-tests/tiny-bert", env=hf_env(hubs))
    one_error_line(result, 1, "hf://mlm-tests/tiny-bert", *expect)
    assert ("hf-commit" in hubs.routes()) == (route == "hf-commit")  # a refused token stops at the repository


@pytest.mark.run_once
def test_unreachable_hub_is_one_error_line(mlm, run_dir):
    result = mlm("push", str(run_dir), "hf://mlm-tests/tiny-bert", env={"HF_ENDPOINT": UNREACHABLE,
                                                                          "HF_TOKEN": HF_TOKEN})
    one_error_line(result, 1, "cannot reach the Hugging Face Hub", "HF_ENDPOINT")


@pytest.mark.run_once
def test_kaggle_failures_are_one_error_line(mlm_in_process, hubs, tiny_preset, tmp_path):
    target = "kaggle://mlm-tester/tiny-bert/keras/tiny"
    env = kaggle_env(hubs, tmp_path / "home")
    hubs.fail("kaggle-", 401, {"code": 401, "message": "Unauthenticated"})
    one_error_line(mlm_in_process("push", str(tiny_preset), target, env=env), 1, "HTTP 401", "KAGGLE_KEY")
    hubs.failures = [("kaggle-CreateModel", 200, {"error": "The model slug is taken", "errorCode": 409})]
    hubs.kaggle_model_exists = False
    one_error_line(mlm_in_process("push", str(tiny_preset), target, env=env), 1, "HTTP 409", "conflict")
    refused = mlm_in_process("push", str(tiny_preset), target, env={**env, "HTTP_PROXY": UNREACHABLE,
                                                                      "http_proxy": UNREACHABLE})
    one_error_line(refused, 1, "cannot reach Kaggle")


@pytest.mark.run_once
@pytest.mark.parametrize("handle, expect", [
    ("hf://", "hf://owner/repo"),
    ("hf://a/b/c", "hf://owner/repo"),
    ("hf://mlm-tests/bad--name", "not a valid"),
    ("hf://mlm-tests/tiny-bert@dev", "main branch"),
    ("kaggle://mlm-tester/tiny-bert/keras", "kaggle://owner/model/framework/variation"),
    ("kaggle://mlm-tester/tiny-bert/keras/tiny/3", "drop the version"),
    ("kaggle://mlm-tester/tiny-bert/pytorch/tiny", "kaggle://mlm-tester/tiny-bert/keras/tiny"),
    ("s3://bucket/model", "hf://owner/repo or kaggle://"),
    ("mlm-tests/tiny-bert", "hf://owner/repo or kaggle://"),
])
def test_bad_handles_exit_2(mlm_in_process, tiny_preset, tmp_path, handle, expect):
    env = {**kaggle_env_without_server(tmp_path), "HF_TOKEN": HF_TOKEN}
    one_error_line(mlm_in_process("push", str(tiny_preset), handle, env=env), 2, expect)


def kaggle_env_without_server(tmp_path: Path) -> dict[str, str]:
    return {"KAGGLE_USERNAME": KAGGLE_USER, "KAGGLE_KEY": KAGGLE_KEY, "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
            "HTTP_PROXY": UNREACHABLE, "http_proxy": UNREACHABLE, "HOME": str(tmp_path)}


@pytest.mark.run_once
def test_bad_presets_exit_2(mlm_in_process, tiny_preset, tmp_path):
    """Missing, unfinished, incomplete or link-escaping presets are refused before anything is sent."""

    def push(path: Path):
        return mlm_in_process("push", str(path), "hf://mlm-tests/tiny-bert", env={"HF_TOKEN": HF_TOKEN})

    one_error_line(push(tmp_path / "nope"), 2, "does not exist")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "train_config.json").write_text("{}")
    one_error_line(push(unfinished), 2, "training run", "--resume")
    for missing in ("model.weights.h5", "task.weights.h5", "assets/tokenizer/vocabulary.txt"):
        broken = tmp_path / f"without-{Path(missing).name}"
        shutil.copytree(tiny_preset, broken)
        (broken / missing).unlink()
        one_error_line(push(broken), 2, missing.rsplit("/", 1)[-1])
    (tmp_path / "secret.txt").write_bytes(SECRET)
    escaping = tmp_path / "escaping"
    shutil.copytree(tiny_preset, escaping)
    (escaping / "assets" / "tokenizer" / "extra.txt").symlink_to(tmp_path / "secret.txt")
    one_error_line(push(escaping), 2, "extra.txt", "outside the preset directory")


@pytest.mark.run_once  # locking is the same on every backend
def test_push_waits_for_no_writer_and_leaves_no_lock_file(mlm, hubs, run_dir, tiny_preset):
    """While mlm train (or export, pull) holds a run's lock, pushing the run or one of its checkpoints is one error
    line; once it is free the push goes through and leaves no lock file beside the run."""
    from mlm_cli.workflows.run_lock import lock_path, output_lock

    checkpoint = run_dir / "checkpoints" / "step-00000002"
    shutil.copytree(tiny_preset, checkpoint)
    with output_lock(run_dir, "mlm train"):
        for preset in (run_dir, checkpoint):
            one_error_line(mlm("push", str(preset), "hf://mlm-tests/tiny-bert", env=hf_env(hubs)), 2,
                           "being written by another mlm process", "mlm train")
    assert hubs.requests == []
    result = mlm("push", str(checkpoint), "hf://mlm-tests/tiny-bert", env=hf_env(hubs))
    assert result.code == 0, result.stderr
    assert not lock_path(run_dir).exists() and not lock_path(checkpoint).exists()
