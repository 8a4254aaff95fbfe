"""The ground console in a real browser (headless Chromium through ChromeDriver) against a
paced SIL run serving the authenticated link: the vehicle waits at a hold point, the page
says so and offers GO; ABORT asks before it goes; a click on GO sends the vehicle on."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import end_process, start_paced_sil


@pytest.fixture
def console(uplink_key):
    """A paced run (20x) serving the link, and ``flightsw ground`` connected to it: the
    console's URL."""
    run, port = start_paced_sil("nominal-ground", uplink_key, speed=20.0)
    gui = None
    try:
        gui = subprocess.Popen(
            [sys.executable, "-m", "hil.cli", "ground", "--connect", f"127.0.0.1:{port}",
             "--key", str(uplink_key), "--http-port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        url = None
        for line in gui.stderr:
            m = re.search(r"console on (http://127\.0\.0\.1:\d+/)", line)
            if m:
                url = m.group(1)
                break
        assert url, "the console did not say where it is"
        yield url
    finally:
        if gui is not None:
            end_process(gui)
        end_process(run)


def test_the_operator_sees_the_hold_clicks_go_and_the_vehicle_moves_on(browser, console):
    b = browser
    b.get(console)
    wait = WebDriverWait(b, 60)
    # the command panel is the dictionary's: a form per command, arguments with ranges
    wait.until(EC.presence_of_element_located((By.ID, "form-SET_MONITOR")))
    from flightsw.dictionary import COMMANDS
    for name in COMMANDS:
        assert b.find_element(By.ID, f"cmd-{name}")
    label = b.find_element(By.CSS_SELECTOR, "label[for='arg-SET_MONITOR-enabled']").text
    assert "0 … 1" in label
    # the vehicle reaches the 250 m hold point and asks for GO
    wait.until(EC.visibility_of_element_located((By.ID, "hold-point")))
    assert "waiting for GO" in b.find_element(By.ID, "hold-text").text
    assert b.find_element(By.ID, "state").text == "hold"
    # the plots are drawn from the telemetry
    wait.until(lambda d: d.execute_script(
        "return document.querySelectorAll('#plot-range .scatterlayer .trace').length") >= 2)
    # ABORT asks first; cancelled, nothing is sent
    b.find_element(By.ID, "cmd-ABORT").click()
    assert b.find_element(By.ID, "confirm").is_displayed()
    assert "ABORT" in b.find_element(By.ID, "confirm-text").text
    b.find_element(By.ID, "confirm-no").click()
    assert not b.find_element(By.ID, "confirm").is_displayed()
    # GO
    b.find_element(By.ID, "go").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "state"), "approach"))
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#verification tbody"),
                                                "accepted → started → completed"))
    # read in one go: the page rewrites the table as reports come in, and rows found
    # one call earlier may be gone by the next (a stale element)
    sent = b.execute_script("return Array.from(document.querySelectorAll("
                            "'#verification tbody tr')).map(r => r.cells[1].innerText)")
    assert sent == ["GO", "parameter_read"]  # the newest first; the console read the
    # glideslope's parameters at start; the cancelled ABORT never left
    assert not b.find_element(By.ID, "hold-point").is_displayed()
    events = b.find_element(By.ID, "events").text
    assert "hold -> approach: GO (ground)" in events and "ABORT" not in events
    shot = b.get_screenshot_as_png()
    assert len(shot) > 20000
