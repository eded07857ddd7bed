"""sd_notify over a real unix datagram socket, as systemd would listen."""
from __future__ import annotations

import os
import socket
import uuid

import pytest

from voiced.runtime.notify import Notifier, watchdog_interval_s


@pytest.fixture
def listener(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, str(path)
    sock.close()


def test_ready_status_watchdog_stopping_arrive_as_datagrams(listener):
    sock, path = listener
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("listening")
    assert sock.recv(4096) == b"READY=1\nSTATUS=listening"
    assert notifier.status("loading model")
    assert sock.recv(4096) == b"STATUS=loading model"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_abstract_socket_name():
    name = f"voiced-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_without_systemd_every_call_is_a_quiet_no_op():
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.ready() is False


def test_a_vanished_socket_is_logged_not_raised(tmp_path, caplog):
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.status("x") is False
    assert "sd_notify" in caplog.text


def test_watchdog_interval_is_half_the_timeout():
    assert watchdog_interval_s({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}) == 10.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({}) is None


def test_a_listener_that_stops_reading_never_blocks_the_sender(listener):
    sock, path = listener
    notifier = Notifier({"NOTIFY_SOCKET": path})
    results = [notifier.watchdog() for _ in range(500)]  # far beyond the socket's queue
    assert results[0] and not all(results)
    assert sock.recv(4096) == b"WATCHDOG=1"
