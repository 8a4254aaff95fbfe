"""``flightsw`` command line: list scenarios, fly one, benchmark the kernels.

Exit codes: 0 docked within the IDSS envelope; 1 any other outcome of the flight; 2 usage
or configuration error; 3 the bench failed (a bench process ended or hung: the error names
it and shows the last lines of its output), so the flight says nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flightsw.config import ConfigError
from hil import interrupts

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_BENCH = 0, 1, 2, 3


def _cmd_dictionary(args: argparse.Namespace) -> int:
    from flightsw import dictionary

    print(dictionary.as_xtce() if args.xtce else json.dumps(dictionary.as_json(), indent=1))
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    from firmware_bridge.sdls import new_association, write_key_file

    path = Path(args.path).expanduser().resolve()
    inside = next((d for d in (path, *path.parents) if (d / ".git").exists()), None)
    if inside is not None and not args.force:
        print(f"flightsw: error: {path} is inside the git work tree {inside}: keys live "
              f"outside any repository (or --force)", file=sys.stderr)
        return EXIT_USAGE
    try:
        write_key_file(path, new_association(args.spi), force=args.force)
    except (FileExistsError, ValueError) as e:
        print(f"flightsw: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(path)
    return EXIT_OK


def _cmd_ground(args: argparse.Namespace) -> int:
    from hil.ground.client import GroundClient
    from hil.ground.console import Console, serve

    host, _, port = args.connect.rpartition(":")
    if not host or not port.isdigit():
        return _error("error", ValueError(f"--connect HOST:PORT, not {args.connect!r}"),
                      EXIT_USAGE)
    import aiohttp  # noqa: F401  (the optional extra, named if missing)
    import plotly  # noqa: F401

    try:
        client = GroundClient.connect(host, int(port), args.key, timeout_s=args.timeout)
    except ValueError as e:  # the key file
        return _error("error", e, EXIT_USAGE)
    console = Console(client)
    try:
        try:
            console.read_parameters(timeout_s=args.timeout)
        except (TimeoutError, ConnectionError) as e:
            print(f"flightsw: warning: no glideslope parameters from the vehicle ({e})",
                  file=sys.stderr)

        def ready(url: str) -> None:
            print(f"flightsw: console on {url}", file=sys.stderr, flush=True)
        console.start_keepalive()
        serve(console, args.http_port, on_ready=ready)
    except KeyboardInterrupt:
        pass
    finally:
        console.stop()
        client.close()
    return EXIT_OK


def _cmd_scenarios(args: argparse.Namespace) -> int:
    from hil.scenario.config import copy_scenario, load_scenario, shipped_scenarios

    if args.copy:
        name, dest = args.copy
        written = copy_scenario(name, dest)
        if args.json:
            print(json.dumps([str(f) for f in written]))
        else:
            print(f"wrote {written[0]} (with its vehicle and sensor files beside it); "
                  f"edit it, then: flightsw sim {written[0]}")
            for f in written[1:]:
                print(f"  {f}")
        return EXIT_OK
    rows = []
    for name, path in shipped_scenarios().items():
        try:
            desc = load_scenario(path).description
        except ConfigError as e:  # a broken shipped file is still listed, with its error
            desc = f"(invalid: {e})"
        rows.append({"name": name, "description": desc, "file": str(path)})
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(f"{r['name']:<16} {r['description']}")
    return EXIT_OK


def verdict(res) -> str:
    """What happened in a run, in one sentence a person would say."""
    from hil.scenario.envelope import IDSS
    ev = res.all_events()

    def first(to: tuple[str, ...]) -> dict | None:
        return next((e for e in ev if e["source"] == "sequencer" and e["to"] in to), None)

    c = res.contact
    used = f"{res.propellant_kg:.1f} kg of propellant ({res.delta_v_mps:.2f} m/s)"
    if res.outcome == "docked":
        mated = first(("mated",))
        when = f" at {mated['t_s'] / 60:.1f} min" if mated else ""
        env = "within" if c and c["within_envelope"] else "OUTSIDE"
        how = (f" contact {env} the IDSS envelope (closing {c['closing_speed_mps']:.3f} m/s, "
               f"{1e3 * c['lateral_offset_m']:.0f} mm off axis, "
               f"{c['pitch_yaw_misalignment_deg']:.2f} deg misaligned);" if c else "")
        return f"Docked{when}:{how} hard capture and mated; {used}."
    if res.outcome == "aborted":
        ab = first(("retreat", "cam"))
        kind = ("a collision-avoidance manoeuvre" if ab and ab["to"] == "cam"
                else "a retreat along the docking axis")
        why = f" ({ab['reason']})" if ab else ""
        when = f" at {ab['t_s'] / 60:.1f} min" if ab else ""
        return (f"Aborted{when}{why}: the flight software flew {kind} and stayed clear of "
                f"the station; {used}.")
    if res.outcome == "collision":
        bad = ", ".join(k for k, ok in IDSS.checks(c).items() if not ok[1]) if c else ""
        return ("Collision: the ports touched outside the IDSS envelope"
                + (f" ({bad})" if bad else "") + f"; {used}.")
    return (f"No docking within the scenario's {res.sim_time_s / 60:.0f} min: the flight "
            f"software was still in '{_last_mode(ev)}' when time ran out; {used}.")


def _last_mode(ev: list[dict]) -> str:
    seq = [e for e in ev if e["source"] == "sequencer"]
    return seq[-1]["to"] if seq else "approach"


def _human(res, sc) -> str:
    from hil.scenario.envelope import IDSS

    lines = [f"scenario {res.scenario} (seed {res.seed}): {res.outcome.upper()}",
             verdict(res)]
    c = res.contact
    if c:
        limits = IDSS.checks(c)
        lines.append("contact (truth, docking-port frame)       value      IDSS limit")
        for k, (lim, ok) in limits.items():
            lines.append(f"  {k:<36} {c[k]:10.4f}   {lim:<10} {'ok' if ok else 'OUTSIDE'}")
        lines.append(f"  within envelope: {'yes' if c['within_envelope'] else 'NO'}")
    else:
        lines.append("no contact")
    lines.append(f"delta-v {res.delta_v_mps:.3f} m/s, propellant {res.propellant_kg:.2f} kg")
    lines.append(f"mission time {res.sim_time_s / 60:.1f} min flown in {res.wall_time_s:.2f} s "
                 f"of wall time ({res.realtime_factor:.0f}x real time"
                 + (", bench start-up included)" if "timing" in res.extra else ")"))
    rg = ", ".join(f"{name} {g['exec_mean_ns'] / 1e3:.1f}/{g['exec_max_ns'] / 1e3:.0f} us "
                   f"({g['slips']:.0f} slips)" for name, g in res.rate_groups.items())
    if rg:
        lines.append(f"rate groups, CPU per cycle mean/max (a slip is a cycle that ran past "
                     f"its period): {rg}")
    nv = res.nav
    rf = f"{nv['n_rf']:.0f} RF-ranging, " if nv.get("n_rf") else ""
    lines.append(f"navigation: {nv.get('n_lidar', 0):.0f} lidar, {nv.get('n_pose', 0):.0f} pose, "
                 f"{rf}{nv.get('n_star_tracker', 0):.0f} star-tracker measurements used; "
                 f"{nv.get('n_rejected', 0):.0f} refused by the innovation gate (too far "
                 f"from the prediction for their noise)"
                 + (f", {nv['n_reacquire']:.0f} re-acquisitions" if "n_reacquire" in nv else ""))
    lines.append("sequence and fault management:")
    for e in res.all_events():
        if e["source"] == "sequencer" and e["from"] == e["to"]:  # a command, a GO withheld
            lines.append(f"  {e['t_s']:8.1f} s  {e['to']:>15}: {e['reason']}")
        elif e["source"] == "sequencer":
            lines.append(f"  {e['t_s']:8.1f} s  {e['from']:>15} -> {e['to']:<15} "
                         f"{e['reason']}")
        elif e["source"] == "plant":
            lines.append(f"  {e['t_s']:8.1f} s  {'VEHICLE':>15}: {e['event']} ({e['reason']})")
        else:
            lines.append(f"  {e['t_s']:8.1f} s  {'FDIR ' + e['monitor']:>15}: {e['action']} "
                         f"({e['reason']})")
    v = res.safety_violations
    lines.append("safety: " + ("no invariant broken" if not v else f"{len(v)} VIOLATION(S)"))
    a = res.after_abort
    if a:
        lines.append(f"  after the abort at {a['t_s']:.1f} s, {a['distance_m']:.1f} m from the "
                     f"station: closest {a['closest_m']:.1f} m over {a['watched_s']:.0f} s "
                     f"(may not come inside {a['safe_distance_m']:.1f} m)")
    lines += [f"  {x['t_s']:8.1f} s  {x['invariant']}: {x['detail']}" for x in v]
    return "\n".join(lines)


def _cmd_sim(args: argparse.Namespace) -> int:
    from hil.scenario.config import load_scenario
    from hil.sil.runner import run

    sc = load_scenario(args.scenario)
    serve = None
    if args.ground_port is not None:
        from hil.ground.serve import tcp_ground

        if args.key is None:
            return _error("error", ValueError("--ground-port needs --key (flightsw keygen "
                                              "writes one)"), EXIT_USAGE)

        def ready(g) -> None:
            # the one line a client waits for, on stderr (stdout may carry --json)
            print(f"flightsw: ground link on {g.host}:{g.port}", file=sys.stderr, flush=True)
        serve = tcp_ground(args.key, port=args.ground_port, on_ready=ready)
    speed = 1.0 if args.speed is None else args.speed
    if not speed > 0:
        return _error("error", ValueError(f"--speed must be positive, got {speed}"),
                      EXIT_USAGE)
    with _progress(args, f"sim {sc.name}") as show:
        res = run(sc, args.seed, out_dir=args.out, twin=args.twin,
                  realtime=args.realtime or args.speed is not None,
                  progress=show, csv=args.csv, serve_ground=serve, speed=speed)
    if args.json:
        sys.stdout.write(json.dumps(res.summary()) + "\n")
    else:
        print(_human(res, sc))
        if args.out:
            print(f"telemetry written to {Path(args.out).resolve()} (flightsw report "
                  f"{args.out} draws it)")
    return EXIT_OK if res.success else EXIT_FAIL


def _progress(args: argparse.Namespace, label: str):
    """The live status line of a command: on a terminal, never with ``--json``."""
    from hil.progress import Progress

    return Progress(label, enabled=False if getattr(args, "json", False) else None)


def _error(kind: str, e: Exception, code: int) -> int:
    """One line on stderr (never a traceback); returns the exit code."""
    print(f"flightsw: {kind}: {e}", file=sys.stderr)
    return code


def _cmd_hil(args: argparse.Namespace) -> int:
    from hil.bench.benchfile import DeviceMissing, load_bench, resolve_bench
    from hil.bench.runner import NodeFailure, run_hil
    from hil.scenario.config import load_scenario

    sc = load_scenario(args.scenario)
    if args.speed is not None and not args.realtime:
        print("flightsw: error: --speed needs --realtime", file=sys.stderr)
        return EXIT_USAGE
    speed = 1.0 if args.speed is None else args.speed
    if not speed > 0:
        print("flightsw: error: --speed must be positive", file=sys.stderr)
        return EXIT_USAGE
    try:
        bench = resolve_bench(load_bench(args.bench, sc.units))
        ground_port, key = args.ground_port, args.key
        if ground_port is None and bench.ground is not None:  # the bench file's [ground]
            ground_port, key = bench.ground.port, bench.ground.key_file
        if ground_port is not None:
            if key is None:
                return _error("error", ValueError("--ground-port needs --key (flightsw "
                                                  "keygen writes one)"), EXIT_USAGE)
            if ground_port == 0:
                from hil.ground.serve import free_port

                ground_port = free_port()
            print(f"flightsw: ground link on 127.0.0.1:{ground_port}", file=sys.stderr,
                  flush=True)
        with _progress(args, f"hil {sc.name}") as show:
            res = run_hil(sc, args.seed, bench=bench, realtime=args.realtime, speed=speed,
                          out_dir=args.out, bus_timing=not args.no_bus_timing,
                          startup_timeout_s=args.startup_timeout,
                          node_timeout_s=args.node_timeout, progress=show, csv=args.csv,
                          ground_port=ground_port, ground_key=key)
    except DeviceMissing as e:
        return _error("bench error", e, EXIT_USAGE)
    except ValueError as e:
        return _error("error", e, EXIT_USAGE)
    except (NodeFailure, ConnectionError) as e:
        return _error("bench failure", e, EXIT_BENCH)
    except KeyboardInterrupt as e:
        print("flightsw: interrupted; every bench process has been stopped", file=sys.stderr)
        return interrupts.exit_code(e)
    if args.json:
        sys.stdout.write(json.dumps(res.summary()) + "\n")
    else:
        print(_human(res, sc))
        t = res.extra["timing"]
        b = res.extra["buses"]["can0"]
        bn = res.extra["bench"]
        units = (f"emulated {', '.join(bn['emulated']) or '-'}; real {', '.join(bn['real'])}"
                 if bn["real"] else "every unit emulated in its own process")
        if t["mode"] == "paced":
            mode = (f"wall-paced at {t['speed']:g}x real time: {t['fsw_cycles']} control "
                    f"cycles on the flight computer's clock, {t['overruns']} overran their "
                    f"period; a cycle started {t['lateness_p99_ms']:.2f} ms after its "
                    f"deadline at worst in 99 of 100")
        else:
            tick_ms = 1e3 / sc.fsw.base_rate_hz
            mode = (f"lockstep: {t['ticks']} ticks of {tick_ms:g} ms mission time, each "
                    f"waiting for every unit; {t['wall_ms_per_tick']:.1f} ms of wall time per tick "
                    f"({t['realtime_factor']:.1f}x real time) after a {t['startup_s']:.1f} s "
                    f"start-up")
        by = sorted(t["cpu_ms_per_tick_by_process"].items(), key=lambda kv: -kv[1])
        mode += (f"\n  CPU {t['cpu_ms_per_tick']:.2f} ms per tick: "
                 + ", ".join(f"{n} {ms:.2f}" for n, ms in by))
        print(f"bench {bn['name']}: {units}\n  {mode}\n  CAN {b['frames_in']} frames put on "
              f"the bus, {b['frames_out']} delivered to its clients, {b['dropped']} dropped")
    return EXIT_OK if res.success else EXIT_FAIL


def _cmd_run(args: argparse.Namespace) -> int:
    from firmware_bridge.ports import PortError
    from flightnode.deploy import run_flight
    from flightnode.node import handover_from_file
    from hil.bench.benchfile import load_bench
    from hil.scenario.config import a_priori, flight_software, load_scenario

    sc = load_scenario(args.scenario)
    bench = load_bench(args.bench, sc.units)
    g = bench.ground
    port, key, host = args.ground_port, args.key, args.ground_host
    if port is None and g is not None:  # the bench file's [ground]
        port, key, host = g.port, g.key_file, g.host
    try:
        handover = handover_from_file(args.handover) if args.handover else a_priori(sc)
        report = run_flight(flight_software(sc), bench, handover, speed=args.speed,
                            duration_s=args.duration, quiet=args.json,
                            ground_port=port, ground_key=key, ground_host=host)
    except PortError as e:
        return _error("bench error", e, EXIT_USAGE)
    except ValueError as e:
        return _error("error", e, EXIT_USAGE)
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        t = report["timing"]
        print(f"flight software stopped ({report['stopped_by']}) after {t['ticks']} control "
              f"cycles: {t['overruns']} overran their period; a cycle started "
              f"{t['lateness_p99_ms']:.2f} ms after its deadline at worst in 99 of 100; "
              f"state {report['state']}")
        for u, d in report["devices"].items():
            print(f"  {u:<13} {d['rx_frames']:7d} frames in, {d['decode_errors']} bad, "
                  f"{d['stale_events']} stale events{' (stale now)' if d['stale'] else ''}")
    return EXIT_OK


def _cmd_campaign(args: argparse.Namespace) -> int:
    from hil.campaigns.campaign import run_campaign

    def progress(row: dict) -> None:
        if not args.json:
            mark = "PASS" if row["pass"] else "FAIL"
            print(f"{mark}  {row['name']:<34} expected {row['expected']:<8} got "
                  f"{row['outcome']:<9} {row['why']}", flush=True)

    orbit_of = None
    if args.orbit_of:
        from hil.scenario.config import load_scenario

        orbit_of = load_scenario(args.orbit_of)
    res = run_campaign(args.paths, bench=args.bench, progress=progress,
                       show=False if args.json else None, orbit_of=orbit_of)
    if args.json:
        keep = ("name", "expected", "outcome", "pass", "safety_violations", "after_abort",
                "events", "abort_reason", "mode", "why", "contact", "propellant_kg",
                "delta_v_mps", "sim_time_s")
        out = {"scenarios": [{k: r[k] for k in keep} for r in res["scenarios"]],
               "passed": res["passed"], "total": res["total"]}
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        print(f"{res['passed']}/{res['total']} scenarios passed")
    return EXIT_OK if res["passed"] == res["total"] else EXIT_FAIL


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.clock:
        from hil.perf.benchmark import clock_probe

        c = clock_probe(seconds=5.0 if args.quick else 20.0)
        if args.json:
            sys.stdout.write(json.dumps({"clock": c}) + "\n")
        else:
            print(f"empty deadline loop, {c['wall_period_ms']:.1f} ms period ({c['speed']:g}x "
                  f"real time at 50 Hz), {c['priority']} priority, {c['ticks']} ticks:\n"
                  f"  lateness p50 {c['lateness_p50_ms']:.3f} ms, p99 "
                  f"{c['lateness_p99_ms']:.3f} ms, max {c['lateness_max_ms']:.2f} ms; "
                  f"{c['overruns']} ticks missed their period")
        return EXIT_OK
    if args.basilisk:
        from hil.perf.basilisk import compare, report

        r = compare(args.pairs, scenario=args.scenario)
        sys.stdout.write(json.dumps({"basilisk": r}) + "\n" if args.json else report(r) + "\n")
        return EXIT_OK
    if args.hil:
        from hil.perf.hil import human, run_hil_bench

        r = run_hil_bench(quick=args.quick)
        sys.stdout.write(json.dumps({"hil": r}) + "\n" if args.json else human(r) + "\n")
        return EXIT_OK
    if args.bus:
        from hil.perf.bus import run_bus_bench

        bus = run_bus_bench(quick=args.quick)
        if args.json:
            sys.stdout.write(json.dumps({"bus": bus}) + "\n")
        else:
            off, on, rt = bus["timing_off"], bus["timing_on"], bus["round_trip"]
            print(f"virtual CAN bus between processes (socketcand on 127.0.0.1):\n"
                  f"  timing model off: {off['frames_per_s']:8.0f} frames/s, "
                  f"{off['lost']} of {off['frames_sent']} lost\n"
                  f"  timing model on:  {on['frames_per_s']:8.0f} frames/s = "
                  f"{100 * on['fraction_of_capacity']:.1f}% of the modelled 1 Mbit/s bus, "
                  f"{on['lost']} lost\n"
                  f"  round trip: p50 {rt['rtt_p50_ms']:.2f} ms, p99 {rt['rtt_p99_ms']:.2f} ms "
                  f"({rt['answered']}/{rt['pings']} pings)")
        return EXIT_OK
    from hil.perf.benchmark import KERNEL_PARTS, run_bench

    result = run_bench(args.scenario, quick=args.quick)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        print(f"kernel speed-up over its numpy twin ({result['kernel_timing']}):")
        for name, k in result["kernels"].items():
            print(f"  {name:<12} kernel {k['kernel_us']:8.2f} us   twin {k['twin_us']:9.1f} us"
                  f"   speed-up {k['speedup']:7.0f}x")
        print(f"closed loop on {result['scenario']}: {result['closed_loop_realtime_factor']:.0f}x "
              f"real time at {result['base_rate_hz']:g} Hz "
              f"({result['closed_loop_us_per_cycle']:.1f} us of wall time per cycle, "
              f"outcome {result['closed_loop_outcome']}; median of "
              f"{result['closed_loop_runs']} runs)\n"
              f"  real time factor = mission time / wall time of the whole SIL loop (flight "
              f"software, plant, sensors, docking and safety monitors) on one core: the "
              f"figure flightsw sim prints for one run, which varies with the machine's load"
              + f"\n  writing its per-tick telemetry (--out) costs "
                f"{100 * result['telemetry_cost_frac']:.0f}% more CPU time")
        cy = result["cycle"]
        print(f"where a cycle of {cy['scenario']} goes, CPU us per {result['base_rate_hz']:g} Hz "
              f"cycle by name (each part timed on every call, the timers' cost taken off; "
              f"a part at a lower rate counted per base cycle):")
        for name, us in sorted(cy["cpu_us_per_cycle"].items(), key=lambda kv: -kv[1]):
            print(f"  {name:<24} {us:6.2f} us")
        print(f"  the loop untimed: {result['closed_loop_cpu_us_per_cycle']:.2f} us of CPU per "
              f"cycle = {result['closed_loop_realtime_factor_cpu']:.0f}x real time by CPU "
              f"time ({result['closed_loop_realtime_factor']:.0f}x by wall time); its floor, "
              f"the kernels alone ({', '.join(KERNEL_PARTS)}): "
              f"{result['kernel_floor_us_per_cycle']:.2f} us, the loop "
              f"{result['closed_loop_over_floor']:.2f}x it")
        ob = result["orbit"]
        print(f"three-body orbit: the closed loop in the NRHO (nrho-nominal) at "
              f"{ob['nrho_cpu_realtime_factor']:.0f}x real time by CPU time, "
              f"{100 * ob['nrho_over_llo']:.0f}% of the low lunar orbit's "
              f"{ob['llo_cpu_realtime_factor']:.0f}x (nominal; median of {ob['pairs']} "
              f"interleaved pairs)")
        for name, m in ob["models"].items():
            print(f"  orbit model {name:<9} free-drift step: kernel {m['kernel_us_per_step']:.3f} "
                  f"us, twin {m['twin_us_per_step']:.1f} us, speed-up {m['speedup']:.0f}x")
        tm = result["tmtc"]
        nav = tm["housekeeping_sets"]["nav"]
        print(f"ground link on {tm['scenario']} ({tm['mission_s']:g} s flown, "
              f"{tm['commands']} commands): TM/TC handling {tm['tmtc_us_per_cycle']:.2f} us "
              f"per cycle = {100 * tm['tmtc_frac_of_fsw_cycle']:.1f}% of the flight "
              f"software's {tm['fsw_us_per_cycle']:.1f} us, "
              f"{100 * tm['tmtc_frac_of_closed_loop']:.1f}% of the closed loop's (median of "
              f"{tm['runs']} runs; dispatcher {tm['parts_us_per_cycle']['commanding']:.2f}, "
              + ", ".join(f"{k} {v:.2f}" for k, v in tm["parts_us_per_cycle"].items()
                          if k != "commanding")
              + f" us; {tm['packets_down_per_s']:.1f} packets/s down)\n"
              f"  the nav housekeeping set at 1 Hz: {nav['bits_per_s_at_1hz']} bit/s = "
              f"{100 * nav['fraction_of_downlink']:.2f}% of the {tm['downlink_bps']:g} bit/s "
              f"downlink; the whole downlink used {tm['downlink_used_bits_per_s']:.0f} bit/s\n"
              f"  telemetry packet kernel {tm['packer']['kernel_us']:.2f} us per nav packet, "
              f"{tm['packer']['speedup']:.1f}x its spacepackets twin "
              f"({tm['packer']['twin_us']:.2f} us); telecommand parser "
              f"{tm['parser']['kernel_us']:.2f} us per parameter load, "
              f"{tm['parser']['speedup']:.1f}x its twin ({tm['parser']['twin_us']:.2f} us)")
    return EXIT_OK


def _mc_human(s: dict) -> str:
    lo, hi = s["success_ci95"]
    c = s["campaign"]
    lines = [f"monte carlo {s['scenario']} (master seed {s['master_seed']}): "
             f"{s['successes']}/{s['runs']} docked within the IDSS envelope = "
             f"{100 * s['success_rate']:.2f}% (95% CI {100 * lo:.2f}-{100 * hi:.2f}%)",
             "contact quantity                  p50        p99      limit   margin at p99"]
    for k, v in s["contact"].items():
        if not v.get("n"):
            continue
        lim = v["limit"]
        lim_s = f"{lim[0]:g}-{lim[1]:g}" if isinstance(lim, list) else f"{lim:g}"
        lines.append(f"  {k:<28} {v['p50']:9.4g}  {v['p99']:9.4g}  {lim_s:>9}   "
                     f"{v['margin_p99']:.4g} ({100 * v['margin_p99_frac']:.0f}%)")
    p = s["propellant_kg"]
    if p:
        lines.append(f"propellant p50 {p['p50']:.2f} kg, p99 {p['p99']:.2f} kg")
    lines.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in s["outcomes"].items()))
    for f in s["failed"][:20]:
        lines.append(f"  FAILED run {f['index']} (seed {f['seed']}): {f['why']}  "
                     f"-> {f['reproduce']}")
    if len(s["failed"]) > 20:
        lines.append(f"  ... and {len(s['failed']) - 20} more (summary.json lists them all)")
    rps = c["runs_per_s"]
    where = f"scheduler {c['scheduler']}" if c["scheduler"] else f"{c['workers']} worker(s)"
    lines.append(f"{c['computed_now']} run(s) computed now on {where} in {c['wall_time_s']:.1f} s"
                 + (f" ({rps:.2f} runs/s)" if rps else "")
                 + (f"; {c['resumed_from']} kept from before" if c["resumed_from"] else "")
                 + f"; results in {c['out']}")
    return "\n".join(lines)


def _cmd_montecarlo(args: argparse.Namespace) -> int:
    from hil.campaigns.montecarlo import CampaignMismatch, run_montecarlo
    from hil.scenario.config import load_scenario

    if args.runs < 1:
        print("flightsw: error: --runs must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    if args.workers is not None and args.workers < 1:
        print("flightsw: error: --workers must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    sc = load_scenario(args.scenario)
    master = sc.seed if args.seed is None else args.seed
    out = Path(args.out or f"montecarlo-{sc.name}-seed{master}")
    try:
        s = run_montecarlo(sc, args.runs, out, master_seed=master, workers=args.workers,
                           scheduler=args.scheduler, flush_s=args.flush_s)
    except CampaignMismatch as e:
        print(f"flightsw: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        print(f"flightsw: interrupted; finished runs are kept in {out}: the same command "
              f"resumes", file=sys.stderr)
        return interrupts.exit_code(e)
    if args.json:
        sys.stdout.write(json.dumps(s) + "\n")
    else:
        print(_mc_human(s))
    return EXIT_OK if s["successes"] == s["runs"] else EXIT_FAIL


def _cmd_report(args: argparse.Namespace) -> int:
    from hil.campaigns.report import ReportError, write_report

    try:
        with _progress(args, f"report {args.dir}") as show:
            path = write_report(args.dir, args.output, show=show)
    except ReportError as e:
        print(f"flightsw: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(path)
    return EXIT_OK


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flightsw")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flightsw", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"flightsw {_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scenarios", help="list the shipped scenarios, or copy one to start "
                                         "your own")
    s.add_argument("--json", action="store_true", help="print a JSON list")
    s.add_argument("--copy", nargs=2, metavar=("NAME", "DIR"),
                   help="write scenario NAME (shipped, a campaign scenario such as "
                        "s01-imu-dropout, or a file) into DIR with its vehicle and sensor "
                        "files, ready to edit and fly; nothing is overwritten")
    s.set_defaults(func=_cmd_scenarios)
    s = sub.add_parser("dictionary", help="the ground link's dictionary (commands, "
                                          "parameters, telemetry, events) as JSON, or XTCE")
    s.add_argument("--xtce", action="store_true",
                   help="print XTCE (CCSDS 660.0) for Yamcs or OpenC3 instead of JSON")
    s.set_defaults(func=_cmd_dictionary)
    s = sub.add_parser("ground", help="the ground console: a web page on 127.0.0.1 to watch "
                                      "and command a vehicle over its ground link")
    s.add_argument("--connect", required=True, metavar="HOST:PORT",
                   help="the flight side's ground link (flightsw sim/hil/run --ground-port)")
    s.add_argument("--key", metavar="FILE",
                   help="the uplink's key file (flightsw keygen); without it the "
                        "telecommands go unauthenticated (a lab link only)")
    s.add_argument("--http-port", type=int, default=8642, metavar="PORT",
                   help="the console's port on 127.0.0.1 (default 8642; 0: a free one)")
    s.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="how long to wait for the link [s] (default 30)")
    s.set_defaults(func=_cmd_ground)
    s = sub.add_parser("keygen", help="write a new uplink key file (HMAC-SHA-256, readable by "
                                      "its owner only) for the authenticated uplink")
    s.add_argument("path", help="the key file to write (outside any repository)")
    s.add_argument("--spi", type=int, default=1,
                   help="its security parameter index, 1 to 65534 (default 1)")
    s.add_argument("--force", action="store_true",
                   help="write over an existing file, or inside a git work tree")
    s.set_defaults(func=_cmd_keygen)
    s = sub.add_parser("sim", help="fly a scenario in closed loop (SIL, lockstep)")
    s.add_argument("scenario", nargs="?", default="nominal",
                   help="shipped scenario name or path to a scenario file (default: nominal)")
    s.add_argument("--seed", type=int, default=None, help="random seed (default: scenario's)")
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    s.add_argument("--out", metavar="DIR",
                   help="write per-tick telemetry (telemetry.npz: one float64 array per "
                        "column), summary, events and geometry to DIR")
    s.add_argument("--csv", action="store_true",
                   help="with --out, write telemetry.csv too (larger and slower)")
    s.add_argument("--twin", action="store_true",
                   help="fly the numpy reference twins instead of the Cython kernels (slow)")
    s.add_argument("--realtime", action="store_true",
                   help="pace the loop on the wall clock (1x real time) instead of lockstep")
    s.add_argument("--speed", type=float, default=None, metavar="X",
                   help="pace the loop on the wall clock at X times real time")
    s.add_argument("--ground-port", type=int, default=None, metavar="PORT",
                   help="serve the ground link on TCP 127.0.0.1:PORT (0: any free port, "
                        "printed on stderr) instead of the scenario's link model, for "
                        "flightsw ground or a GroundClient; with --key")
    s.add_argument("--key", metavar="FILE",
                   help="the uplink's key file (flightsw keygen): telecommands must be "
                        "authenticated with it")
    s.set_defaults(func=_cmd_sim)
    s = sub.add_parser("hil", help="fly a scenario over the multi-process emulated bench "
                                   "(CAN and serial, lockstep)")
    s.add_argument("scenario", nargs="?", default="nominal",
                   help="shipped scenario name or path to a scenario file (default: nominal)")
    s.add_argument("--seed", type=int, default=None, help="random seed (default: scenario's)")
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    s.add_argument("--out", metavar="DIR",
                   help="write each process's log, the CAN traffic (can0.blf, read by "
                        "can.LogReader and python -m can.player) and truth telemetry "
                        "(telemetry.npz) to DIR")
    s.add_argument("--csv", action="store_true",
                   help="with --out, write telemetry.csv too (larger and slower)")
    s.add_argument("--bench", metavar="BENCH",
                   help="bench file (path or shipped name): which units are real, on which "
                        "bus or port (default: the shipped all-emulated bench)")
    s.add_argument("--realtime", action="store_true",
                   help="wall-paced on absolute deadlines instead of lockstep")
    s.add_argument("--speed", type=float, default=None, metavar="X",
                   help="with --realtime: run X times faster than real time (default 1)")
    s.add_argument("--no-bus-timing", action="store_true",
                   help="relay CAN frames at once instead of modelling the 1 Mbit/s bus")
    s.add_argument("--startup-timeout", type=float, default=300.0, metavar="S",
                   help="wall seconds for every bench process to join (default 300: a "
                        "loaded machine can be slow, which is not a failure)")
    s.add_argument("--node-timeout", type=float, default=None, metavar="S",
                   help="lockstep: fail the bench when a node has not answered a tick in S "
                        "wall seconds (default: wait as long as its process lives)")
    s.add_argument("--ground-port", type=int, default=None, metavar="PORT",
                   help="serve the ground link from the flight node on TCP 127.0.0.1:PORT "
                        "(0: a free port, printed on stderr) instead of the scenario's link "
                        "model and script, for flightsw ground or a GroundClient; with --key")
    s.add_argument("--key", metavar="FILE",
                   help="the uplink's key file (flightsw keygen)")
    s.set_defaults(func=_cmd_hil)
    s = sub.add_parser("run", help="the flight software alone against a bench's buses "
                                   "(embedded deployment; stops on SIGINT/SIGTERM)")
    s.add_argument("--bench", required=True, metavar="BENCH",
                   help="bench file: every unit real, on its bus or port")
    s.add_argument("scenario", nargs="?", default="nominal",
                   help="scenario giving the vehicles, flight-software parameters and the "
                        "a-priori state (default: nominal)")
    s.add_argument("--handover", metavar="FILE",
                   help="navigation hand-over (TOML: r_CT_H_m, v_CT_H_mps, q_BN, "
                        "gyro_bias_B_rps, mass_kg); default: the scenario's initial state")
    s.add_argument("--speed", type=float, default=1.0, metavar="X",
                   help="clock rate, mission time per wall time (default 1)")
    s.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop after S seconds of mission time (default: run until stopped)")
    s.add_argument("--json", action="store_true",
                   help="print one JSON object (ports, units, timing) on stdout at the end")
    s.add_argument("--ground-port", type=int, default=None, metavar="PORT",
                   help="serve the ground link (CCSDS/PUS on TCP) on PORT; with --key")
    s.add_argument("--ground-host", default="127.0.0.1", metavar="ADDR",
                   help="address the ground link listens on (default 127.0.0.1)")
    s.add_argument("--key", metavar="FILE",
                   help="the uplink's key file (flightsw keygen)")
    s.set_defaults(func=_cmd_run)
    s = sub.add_parser("campaign", help="run fault scenarios and check each outcome against "
                                        "its expectation")
    s.add_argument("paths", nargs="*", help="scenario files with [[faults]] and [expect] "
                                            "(default: the shipped campaign)")
    s.add_argument("--bench", action="store_true",
                   help="run each on the emulated multi-process bench instead of SIL")
    s.add_argument("--orbit-of", metavar="SCENARIO",
                   help="fly each in this scenario's orbit (e.g. nrho-nominal: the campaign "
                        "in the NRHO; SIL)")
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    s.set_defaults(func=_cmd_campaign)
    s = sub.add_parser("montecarlo", help="dispersed Monte Carlo campaign (SIL), local "
                                          "workers or a Dask cluster; resumable")
    s.add_argument("scenario", nargs="?", default="nominal",
                   help="shipped scenario name or path to a scenario file (default: nominal)")
    s.add_argument("--runs", type=int, required=True, metavar="N", help="runs in the campaign")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, default=None, metavar="K",
                   help="local worker processes (default: one per CPU)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="send the runs to a Dask distributed scheduler (tcp://host:port)")
    s.add_argument("--seed", type=int, default=None,
                   help="master seed (default: the scenario's); run i's seed derives from it")
    s.add_argument("--out", metavar="DIR",
                   help="campaign folder: runs.parquet, summary.json (default: "
                        "montecarlo-SCENARIO-seedM); finished runs there are not run again")
    s.add_argument("--flush-s", type=float, default=5.0, metavar="S",
                   help="write finished runs at least every S seconds (default 5): what a "
                        "killed campaign can lose")
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    s.set_defaults(func=_cmd_montecarlo)
    s = sub.add_parser("report", help="self-contained HTML report (with PNGs) of a run's "
                                      "--out folder or a Monte Carlo folder")
    s.add_argument("dir", help="folder written by sim/hil --out or by montecarlo")
    s.add_argument("--output", metavar="DIR",
                   help="where to write report.html and the PNGs (default: DIR/report)")
    s.set_defaults(func=_cmd_report)
    s = sub.add_parser("bench", help="kernel speed-ups and closed-loop real-time factor")
    s.add_argument("--scenario", default="nominal")
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    s.add_argument("--quick", action="store_true", help="fewer repeats (for smoke tests)")
    s.add_argument("--bus", action="store_true",
                   help="benchmark the virtual CAN bus between processes instead")
    s.add_argument("--hil", action="store_true",
                   help="benchmark the lockstep multi-process bench instead (final-approach, "
                        "3 runs: wall and CPU per tick, by process, against the bus's "
                        "occupancy)")
    s.add_argument("--clock", action="store_true",
                   help="measure how punctual this machine keeps a deadline loop (the floor "
                        "under wall-paced benches) instead")
    s.add_argument("--basilisk", action="store_true",
                   help="side by side with Basilisk instead (the optional extra 'basilisk'): "
                        "the scenario's window, dynamics alone and a closed loop, pinned to "
                        "one CPU, interleaved pairs, CPU time")
    s.add_argument("--pairs", type=int, default=5, metavar="N",
                   help="interleaved pairs of runs for --basilisk (default 5)")
    s.set_defaults(func=_cmd_bench)
    return p


EXTRAS = {"matplotlib": "analysis", "pyarrow": "analysis", "dask": "analysis",
          "distributed": "analysis", "aiohttp": "ground", "plotly": "ground",
          "Basilisk": "basilisk"}
"""Optional dependencies and the extra that installs each."""


def main(argv: list[str] | None = None) -> int:
    import signal

    args = build_parser().parse_args(argv)
    import logging

    # warnings reach the terminal once, through logging, in the CLI's own voice
    logging.basicConfig(level=logging.WARNING, format="flightsw: warning: %(message)s")
    if args.func is not _cmd_run:  # the embedded run handles SIGTERM itself
        interrupts.install()
    from hil.scenario.config import SEED_MAX

    if getattr(args, "seed", None) is not None and not 0 <= args.seed <= SEED_MAX:
        print(f"flightsw: error: --seed must be in [0, {SEED_MAX}] (48 bits)", file=sys.stderr)
        return EXIT_USAGE
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not after main has returned
        return code
    except KeyboardInterrupt as e:  # a command without clean-up of its own to report
        print("flightsw: interrupted", file=sys.stderr)
        return interrupts.exit_code(e)
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top not in EXTRAS:
            raise
        print(f"flightsw: {args.command} needs the optional package {top!r}: "
              f"pip install 'flightsw[{EXTRAS[top]}]'", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as e:
        print(f"flightsw: configuration error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as shell tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as e:
        print(f"flightsw: error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
