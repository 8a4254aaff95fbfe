"""Live progress: a status line on a terminal, nothing when piped or with --json."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys

from hil.progress import Progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_flight_line_shows_time_gap_closing_speed_and_mode():
    out = _Tty()
    p = Progress("hil final-approach", stream=out, interval_s=0.0)
    p.flight(10.0, 40.0, "approach")
    p.flight(20.0, 39.0, "approach")  # closed 1 m in 10 s
    p.flight(30.0, None, "attenuation")
    p.close()
    lines = out.getvalue().split("\r\x1b[2K")
    assert "t 0:20.0" in lines[2] and "gap    39.00 m" in lines[2]
    assert "closing +0.100 m/s" in lines[2] and lines[2].endswith("approach")
    assert "[" + "." * 24 + "]" in lines[1]  # nothing flown yet at the first sample
    assert "ports in contact" in lines[3] and "[" + "#" * 24 + "]" in lines[3]
    assert lines[-1] == ""  # cleared at the end, so the summary starts on a clean line


def test_counted_steps_show_rate_and_time_left():
    out = _Tty()
    p = Progress("monte carlo nominal", stream=out, interval_s=0.0)
    p.step(10, 100, "runs")  # resumed: these do not count towards the rate
    p._start = (p._start[0] - 10.0, 10)  # as if the first call was 10 s ago
    p.step(30, 100, "runs")
    last = out.getvalue().split("\r\x1b[2K")[-1]
    assert "30/100" in last and "(2.00/s, 0:35.0 left)" in last, last


def test_nothing_is_written_to_a_pipe_or_when_disabled():
    pipe = io.StringIO()
    for p in (Progress("x", stream=pipe, interval_s=0.0),
              Progress("x", stream=_Tty(), enabled=False, interval_s=0.0)):
        p.phase("starting")
        p.flight(1.0, 2.0, "approach")
        p.step(1, 2)
        p.close()
        assert p.stream.getvalue() == ""


def _on_a_terminal(argv: list[str], timeout_s: float = 120.0) -> tuple[int, str]:
    """Run ``argv`` with its stdout and stderr on a pseudo-terminal; its exit code and
    everything it wrote."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    try:
        while True:
            r, _, _ = select.select([master], [], [], timeout_s)
            if not r:
                raise AssertionError(f"{argv} wrote nothing for {timeout_s} s")
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        return p.wait(timeout_s), b"".join(chunks).decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


def test_sim_shows_live_progress_on_a_terminal_and_none_when_piped():
    cmd = [sys.executable, "-m", "hil.cli", "sim", "final-approach"]
    code, text = _on_a_terminal(cmd)
    assert code == 0, text
    assert "\r\x1b[2Ksim final-approach [" in text, text
    assert " m  closing " in text and "  final_approach" in text, text
    assert "Docked at" in text  # the end says what happened in words
    piped = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0
    assert "\r" not in piped.stdout + piped.stderr and "\x1b" not in piped.stderr
    assert piped.stderr == ""
    code, text = _on_a_terminal(cmd + ["--json"])
    assert code == 0 and "\x1b" not in text and text.lstrip().startswith("{")
