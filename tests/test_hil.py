"""The multi-process lockstep bench: every unit emulated in its own process, CAN through
the virtual socketcand bus, serial through pseudo-terminals, the flight software with its
production drivers in its own process."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hil.bench.runner import run_hil
from hil.sil.runner import run


def _bench_procs(zombies: bool = True) -> list[tuple[int, int, list[bytes]]]:
    """Live bench processes (``hil.bench.nodes``, ``hil.bench.canbus``) this test session
    started, as (pid, parent pid, argv). Every process the session starts inherits
    ``FLIGHTSW_TEST_SESSION`` (see conftest), also one orphaned by a dead parent; other
    benches on the machine are not counted. A zombie (ended, not yet reaped) counts unless
    ``zombies`` is False: orphans are reaped by init, not by us."""
    marker = f"FLIGHTSW_TEST_SESSION={os.environ['FLIGHTSW_TEST_SESSION']}".encode()
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        argv = _cmdline(p).split(b"\0")
        if b"hil.bench.nodes" not in argv and b"hil.bench.canbus" not in argv:
            continue
        state, ppid = _stat(p)
        try:
            mine = marker in (p / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if state and (zombies or state != "Z") and mine:
            out.append((int(p.name), ppid, argv))
    return out


def _stat(d: Path) -> tuple[str, int]:
    """State letter and parent pid of process directory ``d`` ("", -1 once it is gone)."""
    try:
        state, ppid = (d / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        return state, int(ppid)
    except (OSError, ValueError):
        return "", -1


def _cmdline(d: Path) -> bytes:
    try:
        return (d / "cmdline").read_bytes()
    except OSError:
        return b""


def _running(pid: int) -> bool:
    """``pid`` exists and has not ended (a zombie has ended)."""
    return _stat(Path("/proc") / str(pid))[0] not in ("", "Z")


def bench_processes() -> list[str]:
    """Command lines of the session's live bench processes."""
    return [b" ".join(argv).decode(errors="replace") for _, _, argv in _bench_procs()]


def test_lockstep_bench_docks_like_sil(final_approach, tmp_path):
    import time

    t_before = time.time()
    res = run_hil(final_approach, 0, out_dir=tmp_path)
    t_after = time.time()
    sil = run(final_approach, 0)
    assert res.outcome == "docked" and res.contact["within_envelope"], res.summary()
    # the same plant, models and seeds: equal up to what the wire quantises
    assert res.contact["closing_speed_mps"] == pytest.approx(
        sil.contact["closing_speed_mps"], abs=1e-3)
    assert res.contact["lateral_offset_m"] < 0.01
    assert res.propellant_kg == pytest.approx(sil.propellant_kg, rel=0.05)
    assert res.sim_time_s == pytest.approx(sil.sim_time_s, abs=2.0)
    bus = res.extra["buses"]["can0"]
    assert bus["dropped"] == 0 and bus["parse_errors"] == 0 and bus["frames_in"] > 10 * 9000
    assert res.nav["n_pose"] > 0 and res.nav["n_star_tracker"] > 0
    # what navigation rejects (the pose attitude, with the station off LVLH as dispersed)
    # is what it rejects in SIL: the wire loses nothing that matters
    assert abs(res.nav["n_rejected"] - sil.nav["n_rejected"]) <= 0.01 * sil.nav["n_pose"]
    assert not bench_processes()
    logs = sorted(p.name for p in tmp_path.glob("*.log"))
    assert logs == ["canbus.log", "dock.log", "fsw.log", "imu.log", "lidar.log", "rcs.log",
                    "star_tracker.log"]
    # the bus traffic, in a python-can log format
    import can

    from firmware_bridge.can_icd import database, frame_bits

    counts: dict[str, int] = {}
    log = can.BLFReader(str(tmp_path / "can0.blf"))
    ticks = res.extra["timing"]["ticks"]
    flown_s = ticks * final_approach.fsw.base_period_ns * 1e-9
    # one time base for the header and every frame (SYNC and the others): lockstep, the
    # mission time from the run's start in Unix time, as the bus modelled it (flown far
    # faster than real time, so the log spans more than the run's wall time)
    assert t_before <= log.start_timestamp <= t_after
    assert log.start_timestamp <= log.stop_timestamp <= t_before + flown_s + 1.0
    sync = database().get_message_by_name("SYNC")
    syncs, last_sync, frame_dt = [], 0.0, frame_bits(8) * 1e-6
    for m in log:
        name = database().get_message_by_frame_id(m.arbitration_id).name
        counts[name] = counts.get(name, 0) + 1
        if name == "SYNC":
            assert sync.decode(m.data, decode_choices=False)["Mode"] == 0  # lockstep
            syncs.append(m.timestamp)
            last_sync = m.timestamp
        elif syncs:  # after its tick's SYNC has taken the bus, within the tick
            assert last_sync + frame_dt - 1e-6 <= m.timestamp < last_sync + 0.02, m
    # SYNC at its tick's mission time: 20 ms apart, to the microsecond
    assert np.allclose(np.diff(syncs), 0.02, atol=2e-6, rtol=0)
    assert syncs[-1] - syncs[0] == pytest.approx(flown_s - 0.02, abs=1e-5)
    assert counts["SYNC"] == ticks and counts["IMU_RATE"] == ticks
    # every frame at the cycle time its DBC attribute gives (more for "on change" ones)
    for name, n in counts.items():
        m = database().get_message_by_name(name)
        if name.startswith("LOCKSTEP_DONE"):
            continue  # one per node and phase
        expect = flown_s * 1000.0 / m.cycle_time
        assert n >= expect - 2, (name, n, expect)
        if "on change" not in (m.comment or ""):
            assert n <= expect + 2, (name, n, expect)
    assert counts["RCS_CMD_1"] == counts["RCS_CMD_4"] >= ticks - 1
    assert counts["DOCK_STATUS"] > 0 and counts["HEARTBEAT_IMU"] > 100
    # its telemetry holds the on-times the plant executed: mass is spent in exactly the
    # ticks some thruster fired
    t = np.load(tmp_path / "telemetry.npz")
    fired = np.column_stack([t[c] for c in t.files if c.startswith("thr_t_on_")])
    assert fired.shape[1] == 24 and fired.sum() > 1.0
    assert np.array_equal(np.diff(t["truth_mass_kg"]) != 0.0, fired[1:].sum(axis=1) > 0.0)
    # the folder makes a report: truth as the time master saw it
    from hil.campaigns.report import write_report

    page = write_report(tmp_path).read_text()
    for name in ("trajectory_hill", "range_rate", "errors", "thrusters", "propellant_mode"):
        assert (tmp_path / "report" / f"{name}.png").stat().st_size > 5000
        assert f"({name}.png)" in page
    assert "no flight-software internals" in page and "GO (auto)" in page


def _children(name: str) -> list[int]:
    """Pids of this process's bench children running unit ``name``."""
    return [pid for pid, ppid, argv in _bench_procs()
            if ppid == os.getpid() and b"--kind" in argv and name.encode() in argv]


def _result(res) -> dict:
    """A run's JSON without what the wall clock decides (how long things took)."""
    s = res.summary()
    for k in ("wall_time_s", "realtime_factor", "rate_groups"):
        s.pop(k, None)
    s["timing"] = {k: v for k, v in s["timing"].items()
                   if k not in ("wall_ms_per_tick", "realtime_factor", "startup_s",
                                "cpu_ms_per_tick", "cpu_ms_per_tick_by_process")}
    return s


def test_lockstep_is_repeatable_bit_for_bit_with_a_unit_stopped(final_approach):
    """Two lockstep runs with one seed give the same JSON, bus and link counters
    included, although in the second the lidar's process is stopped (SIGSTOP) for three
    seconds, longer than any lockstep bound the bench used to have: slowness only makes
    the run slower."""
    import signal
    import threading
    import time

    short = dataclasses.replace(final_approach, time_limit_s=8.0)
    a = run_hil(short, 7)
    stopped: list[float] = []

    def stop_the_lidar() -> None:
        end = time.monotonic() + 120
        while not (pids := _children("lidar")) and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(1.5)  # into the run (or still starting: either must not matter)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        time.sleep(3.0)
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        stopped.append(time.monotonic() - t0)

    th = threading.Thread(target=stop_the_lidar)
    th.start()
    b = run_hil(short, 7)
    th.join()
    assert stopped and stopped[0] >= 3.0
    assert b.wall_time_s > 3.0
    ra, rb = _result(a), _result(b)
    assert ra["buses"]["can0"]["frames_in"] > 8 * 50 * 10  # the counters are there
    assert ra["devices"]["lidar"]["rx_frames"] > 0
    assert json.dumps(ra, sort_keys=True) == json.dumps(rb, sort_keys=True)
    assert a.propellant_kg > 0  # it flew
    assert not bench_processes()


def test_a_bench_process_that_fails_is_named_with_its_output(tmp_path):
    """A unit that fails at start-up (here: its interpreter exits at once, as when it
    cannot import the package) ends the run with exit code 3 and an error that names it
    and shows what it printed; every other process is ended."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        "if 'hil.bench.nodes' in sys.orig_argv and 'lidar' in sys.orig_argv:\n"
        "    print('lidar unit: cannot start (planted failure)', file=sys.stderr)\n"
        "    sys.stderr.flush()\n"
        "    import os; os._exit(7)\n")
    env = dict(os.environ, PYTHONPATH=str(site))
    p = subprocess.run([sys.executable, "-m", "hil.cli", "hil", "final-approach"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 3, p.stderr
    assert "bench failure: start-up: bench process 'lidar' exited with code 7" in p.stderr
    assert "| lidar unit: cannot start (planted failure)" in p.stderr
    assert "Traceback" not in p.stderr
    assert not bench_processes()


def test_a_paced_run_whose_time_master_dies_ends_every_process():
    """Wall-paced, the time master (the ``flightsw hil`` process) is killed: the bus,
    the units and the flight software all notice and end, and the flight software leaves
    no end-of-run report behind for a reader that is gone."""
    import time

    before = set(Path("/dev/shm").glob("psm_*"))

    p = subprocess.Popen([sys.executable, "-m", "hil.cli", "hil", "final-approach",
                          "--realtime"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        def kids() -> list[int]:
            return [pid for pid, ppid, _ in _bench_procs() if ppid == p.pid]

        end = time.monotonic() + 120
        while len(kids()) < 7 and time.monotonic() < end:  # bus, 5 units, flight software
            time.sleep(0.1)
        pids = kids()
        assert len(pids) == 7, pids
        # the master's resource tracker unlinks the shared block once the master is gone:
        # it is one of the processes that must end, before the block is looked for
        tracker = [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit()
                   and _stat(d)[1] == p.pid and b"resource_tracker" in _cmdline(d)]
        assert len(tracker) == 1, tracker  # the block is registered with it
        time.sleep(3.0)  # flying
        p.kill()
        p.wait(10)
        end = time.monotonic() + 30

        def still() -> list[int]:
            return ([pid for pid, _, _ in _bench_procs(zombies=False) if pid in pids]
                    + [pid for pid in tracker if _running(pid)])
        alive = still()
        while alive and time.monotonic() < end:
            time.sleep(0.1)
            alive = still()
        assert not alive, alive
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        p.stderr.close()
    assert not bench_processes()
    assert not set(Path("/dev/shm").glob("psm_*")) - before  # the shared block too


def test_cli_json_has_buses_and_timing(tmp_path):
    from hil.scenario.config import DATA

    src = (DATA / "scenarios" / "final-approach.toml").read_text()
    f = tmp_path / "short.toml"
    f.write_text(src.replace("time_limit_s = 1200.0", "time_limit_s = 3.0"))
    p = subprocess.run([sys.executable, "-m", "hil.cli", "hil", str(f), "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr  # a 3 s run ends in a timeout
    obj = json.loads(p.stdout)
    assert obj["outcome"] == "timeout"
    assert {"buses", "timing"} <= set(obj)
    t = obj["timing"]
    # lockstep has no deadlines: no lateness or overrun figures that would mean nothing
    assert t["mode"] == "lockstep" and not {"lateness_p99_ms", "overruns"} & set(t)
    assert 20.0 / t["wall_ms_per_tick"] == pytest.approx(t["realtime_factor"])  # 50 Hz
    assert 0 < t["startup_s"] < obj["wall_time_s"]
    assert obj["buses"]["can0"]["dropped"] == 0
    assert not bench_processes()


def test_a_killed_unit_is_noticed_and_the_approach_aborts(final_approach, tmp_path):
    """The IMU process dies at tick 100: its driver goes stale within three control
    cycles, fault management isolates the IMU and the sequencer retreats, and the run
    ends; nothing hangs and no process is left behind. Its bus log replays with python-can's
    stock player, default options, in about its recorded duration, and converts to ASC
    with its times kept."""
    import time

    import can

    res = run_hil(final_approach, 0, kill_at={"imu": 100}, stop_on_abort=True,
                  out_dir=tmp_path)
    assert res.outcome == "aborted" and res.extra["abort_reason"] == "sensor_failed"
    assert [(e["monitor"], e["reason"]) for e in res.fdir_events] == [("imu", "stale")]
    imu = res.extra["devices"]["imu"]
    assert imu["stale_events"] == 1 and 100 < imu["first_stale_tick"] <= 103
    others = {k: v for k, v in res.extra["devices"].items() if k != "imu"}
    assert all(v["stale_events"] == 0 for v in others.values()), others
    assert res.contact is None
    assert not bench_processes()
    blf = str(tmp_path / "can0.blf")
    stamps = [m.timestamp for m in can.BLFReader(blf)]
    recorded = stamps[-1] - stamps[0]
    assert len(stamps) > 1000 and recorded > 0.5
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "can.player", "-i", "virtual", "-c", "replay",
                        blf], capture_output=True, text=True, timeout=120)
    took = time.perf_counter() - t0
    assert p.returncode == 0, p.stderr
    assert recorded <= took <= recorded + 10.0  # +10 s: starting Python, loading python-can
    asc = str(tmp_path / "can0.asc")
    p = subprocess.run([sys.executable, "-m", "can.logconvert", blf, asc],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    converted = [m.timestamp for m in can.ASCReader(asc)]
    assert len(converted) == len(stamps)
    assert np.allclose(np.array(converted) - converted[0], np.array(stamps) - stamps[0],
                       atol=2e-6, rtol=0)


def test_wall_paced_bench_docks_on_its_deadlines(final_approach, tmp_path):
    """Wall-paced at five times real time: the flight software runs on its own deadline
    clock, cycle for cycle with the time master, and the vehicle docks. (Lateness and
    overruns depend on the machine; they are reported, measured in the closing notes.) A
    paced bench's wall-clock margins shrink with its speed: at 10x a unit is stale after
    6 ms of wall time, which a machine shared with three CPU-bound processes does not
    always give; at 5x it docks with no unit ever stale."""
    from flightsw.executive import scheduling

    before = scheduling()
    res = run_hil(final_approach, 0, realtime=True, speed=5.0, out_dir=tmp_path)
    # the time master's real-time priority is given back: processes this one starts later
    # (other tests' benches) must not inherit SCHED_FIFO and starve the machine
    assert scheduling() == before
    s = res.summary()
    why = {k: s[k] for k in ("outcome", "abort_reason", "timing", "devices") if k in s}
    why["fdir"] = [e for e in s["events"] if e["source"] == "fdir"]
    assert res.outcome == "docked" and res.contact["within_envelope"], why
    t = res.extra["timing"]
    assert t["mode"] == "paced" and t["speed"] == 5.0
    assert abs(t["fsw_cycles"] - t["ticks"]) <= 2
    assert 0.0 <= t["lateness_p99_ms"] <= t["lateness_max_ms"]
    assert 0 <= t["overruns"] < t["fsw_cycles"]
    # five times real time: the mission's 200 s took about 40 s of wall time
    assert res.wall_time_s > 0.9 * res.sim_time_s / 5.0
    assert res.extra["buses"]["can0"]["dropped"] == 0
    assert res.extra["devices"]["lidar"]["rx_frames"] > 900
    import can

    from firmware_bridge.can_icd import database

    sync = database().get_message_by_name("SYNC")
    modes = {sync.decode(m.data, decode_choices=False)["Mode"]
             for m in can.BLFReader(str(tmp_path / "can0.blf"))
             if m.arbitration_id == sync.frame_id}
    assert modes == {1}  # wall-paced
    assert not bench_processes()


def test_lockstep_needs_every_unit_emulated(final_approach):
    import dataclasses as dc

    from hil.bench.benchfile import load_bench

    b = load_bench()
    devices = dict(b.devices)
    devices["lidar"] = dc.replace(devices["lidar"], mode="real", port="/dev/ttyUSB9")
    with pytest.raises(ValueError, match="real units.*lidar.*--realtime"):
        run_hil(final_approach, 0, bench=dc.replace(b, devices=devices))
    assert not bench_processes()


def test_cli_names_a_missing_unit(tmp_path):
    from firmware_bridge.units import UNIT_NAMES as UNITS

    text = "\n".join(f'[devices.{u}]\nmode = "emulated"\n' for u in UNITS)
    f = tmp_path / "b.toml"
    f.write_text(text.replace('[devices.imu]\nmode = "emulated"', '[devices.imu]\n'
                              'mode = "real"\ndetect_s = 0.2\ncan = { interface = '
                              '"socketcand", host = "127.0.0.1", port = 1, channel = "can0" }'))
    p = subprocess.run([sys.executable, "-m", "hil.cli", "hil", "final-approach", "--bench",
                        str(f), "--realtime"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "device 'imu' is missing" in p.stderr, p.stderr
    assert p.stdout == ""
    assert not bench_processes()


@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_and_sigterm_stop_the_bench_cleanly(sig, code):
    """Ctrl-C or SIGTERM during ``flightsw hil``: one line, exit 128 + the signal, every
    bench process ended, nothing left in /dev/shm."""
    import signal
    import time

    before = set(Path("/dev/shm").glob("psm_*"))
    p = subprocess.Popen([sys.executable, "-m", "hil.cli", "hil", "final-approach"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 120
        while len(bench_processes()) < 7 and time.monotonic() < end:  # bus, units, fsw
            time.sleep(0.1)
        assert p.poll() is None, "the run ended before the signal"
        time.sleep(2.0)  # flying
        p.send_signal(getattr(signal, sig))
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == code, err
    assert "Traceback" not in err and err.strip().count("\n") == 0, err
    assert "interrupted" in err
    time.sleep(0.5)
    assert not bench_processes()
    assert set(Path("/dev/shm").glob("psm_*")) <= before


def cli(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hil.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_a_vehicle_with_more_thrusters_than_the_can_interface_carries_is_refused(tmp_path):
    """28 thrusters on a bus whose RCS frames carry 24: ``flightsw hil`` refuses it with
    exit 2 before any bench process starts (before, thrusters 25 and up never fired);
    the same scenario still flies in SIL, which has no CAN."""
    d = tmp_path / "s"
    assert cli("scenarios", "--copy", "final-approach", str(d), timeout=60).returncode == 0
    v = d / "vehicles" / "crew_vehicle.toml"
    src = v.read_text()
    first = src.index("[[thrusters]]")
    block = src[first:src.index("[[thrusters]]", first + 1)]
    extra = "".join(block.replace('name = "', f'name = "X{k}-', 1) for k in range(4))
    v.write_text(src + "\n" + extra)
    p = cli("hil", str(d / "final-approach.toml"), timeout=120)
    assert p.returncode == 2, p.stderr
    assert "28 thrusters" in p.stderr and "carries 24" in p.stderr, p.stderr
    assert not bench_processes()
    s = cli("sim", str(d / "final-approach.toml"), "--json", timeout=300)
    assert s.returncode in (0, 1) and json.loads(s.stdout)["outcome"], s.stderr


def test_redundant_can_switches_to_bus_b_on_the_bench_and_repeats_bit_for_bit(tmp_path):
    """Bus A goes silent (the bench's bus A drops every unit's frame): the flight software
    switches to bus B within 0.1 s, its heartbeat on B turns every unit over, and the
    flight goes on with no unit lost; as in SIL, at the same tick; and a second lockstep
    run with the seed is the same, although each node reads two buses."""
    from hil.scenario.config import DATA, load_scenario
    from hil.sil.runner import run as sil

    text = (Path(str(DATA / "campaign" / "s28-can-a-silent-redundant.toml"))).read_text()
    text = text.replace("at_s = 60.0", "at_s = 5.0").replace("time_limit_s = 1200.0",
                                                               "time_limit_s = 9.0")
    f = tmp_path / "s28-short.toml"
    f.write_text(text)
    sc = load_scenario(f)
    a = run_hil(sc, 3)
    can = [e for e in a.fdir_events if e["monitor"] == "can"]
    assert [e["action"] for e in can] == ["switched to bus B"], a.fdir_events
    assert 5.0 < can[0]["t_s"] <= 5.12
    assert a.extra["can"] == {"active": "B", "switches": 1}
    assert a.extra["buses"]["can1"]["frames_in"] > 100 and a.extra["buses"]["can0"]["dropped"]
    assert not [e for e in a.fdir_events if e["monitor"] != "can"]
    assert all(d["stale_events"] <= 1 for d in a.extra["devices"].values())
    s = sil(sc, 3)
    assert [e["t_s"] for e in s.fdir_events] == pytest.approx([can[0]["t_s"]], abs=1e-9)
    b = run_hil(sc, 3)
    ra, rb = _result(a), _result(b)
    for k in ra["buses"]:
        assert ra["buses"][k] == rb["buses"][k], k
    assert ra == rb
    assert not bench_processes()
