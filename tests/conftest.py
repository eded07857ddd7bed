"""Shared test fixtures: the real speech corpus and the real models that exist offline."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _speech_dir() -> Path:
    return Path(os.environ.get("VOICED_SPEECH_DIR", REPO.parent / "shared" / "speech"))


@pytest.fixture(scope="session")
def speech_dir() -> Path:
    """../shared/speech: real human speech with transcripts (see its README)."""
    path = _speech_dir()
    if not (path / "manifest.tsv").exists():
        pytest.fail(f"speech corpus not found at {path}; set VOICED_SPEECH_DIR")
    return path


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


# --- a real mosquitto on loopback --------------------------------------------------------

import getpass  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    """A mosquitto process with its own config file in a temporary folder; stop() and start() at will."""

    def __init__(self, workdir: Path, *, persistence: bool = False, users: dict | None = None,
                 tls: dict | None = None):
        self.host = "127.0.0.1"
        self.port = free_port()
        self.workdir = workdir
        self.log = workdir / "mosquitto.log"
        lines = [f"listener {self.port} 127.0.0.1", f"user {getpass.getuser()}",
                 f"log_dest file {self.log}", "log_type all"]
        if users:
            passwd = workdir / "passwd"
            passwd.write_text("")
            for name, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwd), name, password], check=True,
                               capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if tls:
            lines += [f"cafile {tls['ca']}", f"certfile {tls['cert']}", f"keyfile {tls['key']}"]
        if persistence:
            lines += ["persistence true", f"persistence_location {workdir}/"]
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Broker":
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()} "
                                   f"{self.log.read_text() if self.log.exists() else ''}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: mosquitto saves its persistence file on the way out
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def make_tls_files(folder: Path) -> dict:
    """A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=voiced test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
        "-out", "server.csr")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")
    return {"ca": folder / "ca.crt", "cert": folder / "server.crt", "key": folder / "server.key"}


@pytest.fixture
def mosquitto_factory(tmp_path_factory):
    """Start brokers: factory(persistence=, users={name: password}, tls=make_tls_files(dir)).
    Each is stopped at the end of the test."""
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed (apt install mosquitto)")
    brokers = []

    def factory(**kwargs) -> Broker:
        broker = Broker(tmp_path_factory.mktemp("mosquitto"), **kwargs)
        brokers.append(broker)
        return broker.start()

    yield factory
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory) -> Broker:
    """A plain anonymous broker on a free loopback port."""
    return mosquitto_factory()


# --- speech models ----------------------------------------------------------------------

TINY_TWIN = FIXTURES / "models" / "moonshine-v2-tiny-test"


@pytest.fixture(scope="session")
def base_en_model():
    """ModelFiles of the real Moonshine base-en (v1) from the moonshine-cpp wheel."""
    from voiced.asr.models import find_dev_model

    files = find_dev_model()
    if files is None:
        pytest.fail("moonshine-cpp / useful-moonshine-onnx are not installed (pip install -e .[test])")
    return files


@pytest.fixture(scope="session")
def base_en_transcriber(base_en_model):
    """One warmed base-en Transcriber shared by every test (loading takes seconds)."""
    from voiced.asr.transcriber import Transcriber

    return Transcriber(base_en_model)


@pytest.fixture(scope="session")
def tiny_twin_model():
    """ModelFiles of the random-weight v2 twin committed under tests/fixtures/models."""
    from voiced.asr.models import load_model_dir

    return load_model_dir(TINY_TWIN, "test fixture")
