"""The console server's API against a paced run: what the page reads, and every bad
request answered with a clear error, never a crash."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from hil.ground.client import GroundClient
from hil.ground.console import Console, serve
from tests.conftest import end_process, start_paced_sil


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from firmware_bridge.sdls import new_association, write_key_file

    uplink_key = write_key_file(tmp_path_factory.mktemp("keys") / "uplink.key",
                                new_association(1))
    run, port = start_paced_sil("nominal-ground", uplink_key, speed=20.0)
    client = GroundClient.connect("127.0.0.1", port, uplink_key)
    console = Console(client)
    stop = threading.Event()
    ready: list[str] = []
    th = threading.Thread(target=serve, args=(console, 0, ready.append, stop), daemon=True)
    th.start()
    try:
        console.read_parameters()
        for _ in range(100):
            if ready:
                break
            threading.Event().wait(0.05)
        yield ready[0], console
    finally:
        stop.set()
        th.join(timeout=10)
        client.close()
        end_process(run)


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, json.loads(r.read())


def _post(url, body: bytes):
    req = urllib.request.Request(url + "api/command", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_snapshot_and_the_dictionary(api):
    url, console = api
    console.client.wait_event("waiting for GO", timeout_s=60)
    status, s = _get(url + "api/snapshot?since=0&events=0")
    assert status == 200 and s["state"] == "hold" and s["waiting"] is True
    assert s["n"] == len(s["samples"]) > 0 and len(s["samples"][0]) == 8
    assert s["params"]["guidance.v_max_mps"] == 0.25
    status, later = _get(url + f"api/snapshot?since={s['n']}&events={s['n_events']}")
    assert all(e not in later["events"] for e in s["events"])
    status, d = _get(url + "api/dictionary")
    assert {c["name"] for c in d["commands"]} >= {"GO", "ABORT"}


@pytest.mark.parametrize("body, words", [
    (b"{not json", "Expecting"),
    (b"[1, 2]", "a JSON object"),
    (b'{"name": "WARP"}', "no command 'WARP'"),
    (b'{"name": "SET_GO_POLICY", "args": {"policy": "sometimes"}}', "policy must be one of"),
    (b'{"name": "SET_MONITOR", "args": {"monitor": "imu", "enabled": "x"}}', "number"),
    (b'{"name": "GO", "args": [1]}', "args must be an object"),
    (b'{"service": "teleport"}', "no service"),
])
def test_a_bad_command_request_is_a_clear_400(api, body, words):
    url, console = api
    status, out = _post(url, body)
    assert status == 400 and words in out["error"], out
    assert console.client.state not in ("retreat", "cam")


def test_bad_queries_and_unknown_files(api):
    url, _ = api
    with pytest.raises(urllib.error.HTTPError) as e:
        _get(url + "api/snapshot?since=x")
    assert e.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url + "static/../../etc/passwd", timeout=5)
    assert e.value.code == 404
    status, out = _post(url, b'{"name": "GO"}')
    assert status == 200 and isinstance(out["seq"], int)
