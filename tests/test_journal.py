"""The outbox journal: append, done, compaction, replay and recovery from damage; and the
whole point of it, messages queued while the broker is down surviving a SIGKILL."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mqtt_support import Subscriber, wait_until

from voiced.mqtt.journal import COMPACT_LINES, HEADER, Journal, JournalError

pytestmark = pytest.mark.timeout(120)


def messages(n: int, start: int = 0):
    return [(f"voiced/test/intent/N{i}", json.dumps({"n": i}).encode(), False) for i in range(start, start + n)]


def contents(journal: Journal):
    return [(r.topic, r.payload, r.retain) for r in journal.pending()]


def test_append_done_and_replay_in_order(tmp_path):
    path = tmp_path / "state" / "outbox.jsonl"
    journal = Journal(path, limit=100)
    seqs = journal.append(messages(5)) + journal.append([("voiced/test/raw", b"\xff\x00\x80", True)])
    assert len(set(seqs)) == 6 and seqs == sorted(seqs)
    journal.done([seqs[1], seqs[3]])
    journal.close()

    again = Journal(path, limit=100)
    expected = [messages(5)[i] for i in (0, 2, 4)] + [("voiced/test/raw", b"\xff\x00\x80", True)]
    assert contents(again) == expected
    # New messages continue after the old ones and never reuse their numbers.
    (new,) = again.append(messages(1, start=9))
    assert new > max(seqs)
    again.close()
    assert contents(Journal(path, limit=100))[-1] == messages(1, start=9)[0]


def test_a_message_keeps_its_qos_across_a_restart(tmp_path):
    path = tmp_path / "outbox.jsonl"
    journal = Journal(path, limit=100)
    journal.append([("voiced/test/a", b"0", False, 0), ("voiced/test/b", b"2", False, 2)] + messages(1))
    journal.close()
    again = Journal(path, limit=100)
    assert [r.qos for r in again.pending()] == [0, 2, 1]
    again.close()
    # Only a QoS other than 1 is written, so a journal from before QoS was kept reads as QoS 1.
    assert [json.loads(line).get("qos") for line in path.read_text().splitlines()[1:]] == [0, 2, None]


def test_an_empty_outbox_leaves_only_the_header(tmp_path):
    path = tmp_path / "outbox.jsonl"
    journal = Journal(path, limit=100)
    journal.done(journal.append(messages(3)))
    assert path.read_bytes() == HEADER and len(journal) == 0
    journal.close()


def test_compaction_keeps_the_file_about_as_small_as_the_outbox(tmp_path):
    path = tmp_path / "outbox.jsonl"
    journal = Journal(path, limit=10000)
    seqs = journal.append(messages(1000))
    for seq in seqs[:900]:  # acknowledged one by one, as PUBACKs arrive
        journal.done([seq])
    lines = path.read_bytes().count(b"\n")
    assert lines <= 1 + 100 + 2 * COMPACT_LINES, lines
    journal.close()
    assert contents(Journal(path, limit=10000)) == messages(100, start=900)


def test_a_torn_last_write_is_recovered_up_to_it(tmp_path, caplog):
    path = tmp_path / "outbox.jsonl"
    journal = Journal(path, limit=100)
    journal.append(messages(3))
    journal.close()
    whole = path.read_bytes()
    path.write_bytes(whole[:-9])  # the power went out while the last line was written
    with caplog.at_level(logging.WARNING, logger="voiced.mqtt.journal"):
        recovered = Journal(path, limit=100)
    assert contents(recovered) == messages(2)
    assert str(path) in caplog.text and "damaged" in caplog.text
    # The damage is gone from the file: appending after it gives a clean journal.
    recovered.append(messages(1, start=7))
    recovered.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="voiced.mqtt.journal"):
        assert contents(Journal(path, limit=100)) == messages(2) + messages(1, start=7)
    assert "damaged" not in caplog.text


@pytest.mark.parametrize("garbage", [b"\x00\x00\x00garbage", b'{"seq": "x"}', b'{"done": 5}', b"[1, 2]",
                                     b'{"seq": 99, "topic": "a", "payload_b64": "!!", "retain": false}',
                                     b'{"seq": 98, "topic": "a", "payload": "\\ud800", "retain": false}'])
def test_a_garbage_line_is_skipped_and_the_rest_kept(tmp_path, caplog, garbage):
    path = tmp_path / "outbox.jsonl"
    journal = Journal(path, limit=100)
    journal.append(messages(2))
    journal.close()
    lines = path.read_bytes().split(b"\n")
    lines.insert(2, garbage)  # between the two messages
    path.write_bytes(b"\n".join(lines))
    with caplog.at_level(logging.WARNING, logger="voiced.mqtt.journal"):
        assert contents(Journal(path, limit=100)) == messages(2)
    assert str(path) in caplog.text and "line 3" in caplog.text


def test_only_the_newest_limit_messages_survive_a_restart(tmp_path, caplog):
    path = tmp_path / "outbox.jsonl"
    journal = Journal(path, limit=100)
    journal.append(messages(10))
    journal.close()
    with caplog.at_level(logging.WARNING, logger="voiced.mqtt.journal"):
        assert contents(Journal(path, limit=4)) == messages(4, start=6)
    assert "dropped the oldest 6" in caplog.text


def test_one_journal_per_process(tmp_path):
    path = tmp_path / "outbox.jsonl"
    first = Journal(path, limit=10)
    with pytest.raises(JournalError, match="in use by another voiced"):
        Journal(path, limit=10)
    first.close()
    Journal(path, limit=10).close()


def test_an_unwritable_folder_is_a_journal_error_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(JournalError, match=str(blocker)):
        Journal(blocker / "outbox.jsonl", limit=10)


# --- end to end: the real MqttLink in a process that is killed ------------------------------

SCRIPT = textwrap.dedent("""\
    import json, sys, time
    from dataclasses import replace
    from voiced.config import Config, MqttConfig
    from voiced.mqtt.publisher import open_link

    host, port, state, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    config = Config(site_id="test", mqtt=replace(MqttConfig(), host=host, port=port, reconnect_max_s=1,
                                                 state_dir=state))
    link = open_link(config)
    link.start(wait_s=1)
    if mode == "queue":
        for i in range(4):
            link.publish("voiced/test/intent/Count", json.dumps({"n": i}))
        print("queued", link.pending(), flush=True)
        time.sleep(120)
    else:
        assert link.flush(30), "not delivered"
        print("delivered", flush=True)
        link.close()
""")


def run_script(broker, state: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, broker.host, str(broker.port), str(state), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_messages_queued_while_the_broker_is_down_survive_sigkill(mosquitto_factory, tmp_path):
    broker = mosquitto_factory()
    broker.stop()
    state = tmp_path / "state"
    proc = run_script(broker, state, "queue")
    try:
        assert proc.stdout.readline().strip() == "queued 4", proc.stderr.read() if proc.poll() else ""
    finally:
        proc.kill()  # SIGKILL: no shutdown code runs at all
        proc.wait(10)
    journal_file = state / "outbox-test.jsonl"
    assert journal_file.read_bytes().count(b'"topic"') == 4

    broker.start()
    sub = Subscriber(broker, ["voiced/test/#"])
    proc = run_script(broker, state, "resend")
    try:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "delivered" in out, err
        expected = [json.dumps({"n": i}) for i in range(4)]
        assert wait_until(lambda: "offline" in sub.payloads("voiced/test/status"), 10)  # sent after them
        assert sub.payloads("voiced/test/intent/Count") == expected  # in order, exactly once
        assert journal_file.read_bytes() == HEADER
    finally:
        proc.kill()
        sub.close()


FULL_DISK_SCRIPT = textwrap.dedent("""\
    import json, resource, signal, sys
    from dataclasses import replace
    from voiced.config import Config, MqttConfig
    from voiced.mqtt.publisher import open_link

    host, port, state = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    config = Config(site_id="test", mqtt=replace(MqttConfig(), host=host, port=port, reconnect_max_s=1,
                                                 state_dir=state))
    link = open_link(config)
    # From here on no file of this process may grow past 400 bytes: the journal fills up.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (400, 400))
    link.start(wait_s=1)
    for i in range(10):
        link.publish("voiced/test/intent/Count", json.dumps({"n": i}))
    print("queued", link.pending(), flush=True)
    sys.stdin.readline()  # the broker is up now
    assert link.flush(30), "not delivered"
    link.close()
    print("delivered", flush=True)
""")


def test_a_journal_that_cannot_be_written_keeps_messages_in_memory(mosquitto_factory, tmp_path):
    broker = mosquitto_factory()
    broker.stop()
    proc = subprocess.Popen([sys.executable, "-c", FULL_DISK_SCRIPT, broker.host, str(broker.port),
                             str(tmp_path / "state")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "queued 10", proc.stderr.read() if proc.poll() else ""
        broker.start()
        sub = Subscriber(broker, ["voiced/test/#"])
        out, err = proc.communicate("go\n", timeout=60)
        assert proc.returncode == 0 and "delivered" in out, err
        assert wait_until(lambda: "offline" in sub.payloads("voiced/test/status"), 10)
        assert sub.payloads("voiced/test/intent/Count") == [json.dumps({"n": i}) for i in range(10)]
        assert err.count("cannot write the outbox journal") == 1, err
        sub.close()
    finally:
        proc.kill()
