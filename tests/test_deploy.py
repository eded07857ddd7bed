"""deploy/install.sh and uninstall.sh in a throwaway root, offline, and the example config."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voiced.config import Config, load_config

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "deploy" / "install.sh"
UNINSTALL = REPO / "deploy" / "uninstall.sh"

pytestmark = pytest.mark.timeout(300)


def run(script: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", str(script), *args], capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def tree(root: Path) -> set:
    """Installed paths, without the byte-code and pip metadata that change on every install."""
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if "__pycache__" not in p.parts and ".dist-info" not in str(p)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """This checkout as a wheel, so the venv step runs with no network (pip --no-index)."""
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src")  # build from a copy: setuptools writes build/ next to the sources
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "voiced", src / "voiced", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(src)], check=True, capture_output=True)
    (found,) = out.glob("voiced-*.whl")
    return found


@pytest.mark.slow
def test_install_is_complete_idempotent_and_uninstalls(tmp_path, wheel):
    root = tmp_path / "root"
    model = tmp_path / "moonshine-v2-small"
    model.mkdir()
    (model / "tokenizer.json").write_text("{}")
    env = {"VOICED_PACKAGE": str(wheel), "VOICED_PIP_ARGS": "--no-index --no-deps"}
    args = ("--root", str(root), "--skip-system", "--models", str(model))
    run(INSTALL, *args, env=env)

    venv_python = root / "opt/voiced/venv/bin/python"
    version = subprocess.run([str(venv_python), "-c", "import voiced; print(voiced.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version and (root / "opt/voiced/venv/bin/voiced").exists()
    unit = root / "etc/systemd/system/voiced.service"
    assert unit.read_text() == (REPO / "systemd/voiced.service").read_text()
    config = root / "etc/voiced/voiced.yaml"
    assert config.read_text() == (REPO / "config/voiced.yaml").read_text()
    if (REPO / "config/commands.yaml").exists():
        assert (root / "etc/voiced/commands.yaml").exists()
    assert (root / "var/cache/voiced/models/moonshine-v2-small/tokenizer.json").exists()
    assert (root / "var/lib/voiced").is_dir()
    check_installed_commands(root, tmp_path)

    # A second run changes nothing and keeps the user's edits.
    config.write_text("site_id: kitchen\n")
    before = tree(root)
    run(INSTALL, *args, env=env)
    assert tree(root) == before
    assert config.read_text() == "site_id: kitchen\n"

    run(UNINSTALL, "--root", str(root), "--skip-system")
    assert not (root / "opt/voiced").exists() and not unit.exists()
    assert not (root / "usr/local/bin/voiced").is_symlink()
    assert not (root / "var/cache/voiced").exists()
    assert config.read_text() == "site_id: kitchen\n"  # configuration survives a plain uninstall
    run(UNINSTALL, "--root", str(root), "--skip-system", "--purge")
    assert not (root / "etc/voiced").exists() and not (root / "var/lib/voiced").exists()


def check_installed_commands(root: Path, workdir: Path) -> None:
    """The `voiced` on PATH works with no arguments, away from any checkout."""
    voiced = root / "usr/local/bin/voiced"
    assert voiced.is_symlink() and os.access(voiced, os.X_OK)
    # The wheel was installed without its dependencies (offline): borrow this venv's.
    site = next((root / "opt/voiced/venv/lib").glob("python*/site-packages"))
    (site / "test_dependencies.pth").write_text(
        "\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("VOICED_CONFIG", "PYTHONPATH")}
    checked = subprocess.run([str(voiced), "check-config"], capture_output=True, text=True, cwd=workdir, env=env)
    assert checked.returncode == 0, checked.stderr
    assert f"grammar {root / 'opt/voiced/config/commands.yaml'}:" in checked.stdout, checked.stdout
    matched = subprocess.run([str(voiced), "match", "turn on the kitchen light"], capture_output=True, text=True,
                             cwd=workdir, env=env)
    assert matched.returncode == 0, matched.stderr
    assert '"intent": "LightOn"' in matched.stdout
    (site / "test_dependencies.pth").unlink()


def test_install_help_prints_usage_only():
    out = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("Install voiced as a systemd service")
    assert "--models DIR" in out.stdout and "set -euo" not in out.stdout and "#" not in out.stdout


def test_install_rejects_unknown_options(tmp_path):
    result = subprocess.run(["bash", str(INSTALL), "--root", str(tmp_path), "--skip-system", "--bogus"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "unknown option --bogus" in result.stderr
    assert not (tmp_path / "opt").exists()


def test_scripts_parse():
    for script in (INSTALL, UNINSTALL, *(REPO / "deploy").glob("*.sh")):
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_example_config_shows_every_setting_at_its_default():
    """The example is the documentation users read first: every key, with the real default."""
    import dataclasses

    path = REPO / "config" / "voiced.yaml"
    assert load_config(path) == Config()  # source_path does not take part in ==
    text = path.read_text()
    for section in dataclasses.fields(Config):
        value = getattr(Config(), section.name)
        if section.metadata.get("internal") or not dataclasses.is_dataclass(value):
            continue
        assert f"\n{section.name}:" in text, f"example config lacks section {section.name}"
        for key in dataclasses.fields(value):
            assert re.search(rf"^\s*(# )?{key.name}:", text, re.M), f"example config lacks {section.name}.{key.name}"


# --- voiced models pull / list ------------------------------------------------------------

import hashlib  # noqa: E402
import http.server  # noqa: E402
import threading  # noqa: E402

from voiced.cli import main as cli_main  # noqa: E402
from voiced.commands.models import KNOWN_MODELS  # noqa: E402


class _HubHandler(http.server.BaseHTTPRequestHandler):
    """Serves `files` the way huggingface.co serves /<repo>/resolve/<rev>/<name> to huggingface_hub:
    HEAD with ETag, X-Repo-Commit and Content-Length (plus X-Linked-Etag/-Size for LFS files),
    GET with Range. The first GET of each file in `cut` stops after that many bytes."""

    protocol_version = "HTTP/1.1"
    files: dict = {}
    checksums: dict = {}
    cut: dict = {}
    ranges: list = []
    gets: list = []

    def _lookup(self):
        name = self.path.rsplit("/", 1)[-1]
        return name, self.files.get(name)

    def _missing(self):
        self.send_response(404)
        self.send_header("X-Error-Code", "EntryNotFound")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):  # noqa: N802 - http.server naming
        name, data = self._lookup()
        if data is None:
            self._missing()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567")
        self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')  # the git blob id, as for any file
        self.send_header("X-Linked-Etag", f'"{self.checksums.get(name, hashlib.sha256(data).hexdigest())}"')
        self.send_header("X-Linked-Size", str(len(data)))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()

    def do_GET(self):  # noqa: N802
        name, data = self._lookup()
        if data is None:
            self._missing()
            return
        self.gets.append(name)
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.ranges.append((name, start))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        stop = self.cut.pop(name, None)
        if stop is not None:  # the connection drops mid-file
            self.wfile.write(data[start:stop])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(monkeypatch, tmp_path):
    files = {name: os.urandom(300_000) for name in KNOWN_MODELS["moonshine-v2-small"][1]}
    handler = type("Handler", (_HubHandler,), {"files": files, "checksums": {}, "cut": {}, "ranges": [], "gets": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("VOICED_CACHE_DIR", str(tmp_path / "cache"))
    yield handler
    server.shutdown()
    thread.join(5)


def test_pull_fetches_checks_sums_and_skips_a_missing_optional_file(hub, tmp_path, capsys):
    assert cli_main(["models", "pull"]) == 0
    target = tmp_path / "cache" / "models" / "moonshine-v2-small"
    for name, data in hub.files.items():
        assert (target / name).read_bytes() == data
    assert not (target / "config.json").exists()  # optional and absent upstream
    out = capsys.readouterr().out
    assert out.count("sha256 ok") == len(hub.files) and f"model ready in {target}" in out
    # Run again: nothing is fetched; --force fetches everything again.
    hub.gets.clear()
    assert cli_main(["models", "pull"]) == 0
    assert hub.gets == [] and capsys.readouterr().out.count(": cached") == len(hub.files)
    assert cli_main(["models", "pull", "--force"]) == 0
    assert sorted(hub.gets) == sorted(hub.files)


def test_pull_resumes_a_dropped_download(hub, tmp_path):
    from huggingface_hub.constants import DOWNLOAD_CHUNK_SIZE

    # huggingface_hub writes whole chunks (10 MiB), so the drop comes after the first one.
    hub.files["encoder_model_int8.onnx"] = os.urandom(DOWNLOAD_CHUNK_SIZE + 200_000)
    hub.cut["encoder_model_int8.onnx"] = DOWNLOAD_CHUNK_SIZE + 100_000
    assert cli_main(["models", "pull"]) == 0
    assert hub.ranges == [("encoder_model_int8.onnx", DOWNLOAD_CHUNK_SIZE)]  # continued where it stopped
    target = tmp_path / "cache" / "models" / "moonshine-v2-small"
    assert (target / "encoder_model_int8.onnx").read_bytes() == hub.files["encoder_model_int8.onnx"]


def test_pull_rejects_a_corrupt_download(hub, tmp_path, capsys):
    hub.checksums["tokenizer.json"] = "0" * 64
    assert cli_main(["models", "pull"]) == 1
    err = capsys.readouterr().err
    assert "checksum mismatch for tokenizer.json" in err and err.count("\n") == 1
    target = tmp_path / "cache" / "models" / "moonshine-v2-small"
    assert not (target / "tokenizer.json").exists()


def test_pull_names_a_missing_required_file(hub, tmp_path, capsys):
    del hub.files["tokenizer.json"]
    assert cli_main(["models", "pull", "--revision", "v2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "Mer0vin8ian/moonshine-streaming-small-onnx has no tokenizer.json at revision v2" in err
    assert "--repo" in err


def test_pull_offline_says_so_in_one_line(monkeypatch, tmp_path, capsys):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("VOICED_CACHE_DIR", str(tmp_path / "cache"))
    assert cli_main(["models", "pull"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "cannot download Mer0vin8ian/moonshine-streaming-small-onnx/encoder_model_int8.onnx" in err
    assert "online" in err and "--from DIR" in err


def test_pull_from_a_local_directory_works_offline(monkeypatch, tmp_path, capsys):
    from voiced.asr.models import find_dev_model

    dev = find_dev_model()
    assert dev is not None, "development model (moonshine-cpp + useful-moonshine-onnx wheels) not installed"
    source = tmp_path / "base-en"
    source.mkdir()
    for path in (dev.encoder, dev.decoder, dev.tokenizer):
        (source / path.name).symlink_to(path)
    monkeypatch.setenv("VOICED_CACHE_DIR", str(tmp_path / "cache"))
    assert cli_main(["models", "pull", "base-en", "--from", str(source)]) == 0
    copied = tmp_path / "cache" / "models" / "base-en"
    assert (copied / "tokenizer.json").read_bytes() == dev.tokenizer.read_bytes()
    assert cli_main(["models", "list"]) == 0
    assert "base-en" in capsys.readouterr().out
    # Not a model: refused with the reason, nothing copied.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_main(["models", "pull", "junk", "--from", str(empty)]) == 1
    assert not (tmp_path / "cache" / "models" / "junk").exists()
