"""Monte Carlo dispersion campaigns (``flightsw montecarlo``).

A campaign flies one scenario ``runs`` times in SIL lockstep; run ``i`` has the seed
:func:`hil.scenario.dispersions.run_seed` (master seed, ``i``), which draws every dispersion, so
any run can be flown again alone from (scenario, master seed, index): :func:`reproduce`,
or ``flightsw sim SCENARIO --seed SEED``.

Runs go to local worker processes (``workers``) or, given a scheduler address, to a Dask
distributed cluster (``dask.distributed``); the scenario is sent to each worker once. The
coordinator alone writes results: rows are flushed as Parquet parts under ``DIR/parts``
every few seconds, so an interrupted campaign (Ctrl-C, a killed job) keeps what finished;
the same command again computes only the missing runs. At the end all rows go to
``DIR/runs.parquet`` (one row per run, sorted by index: outcome, contact conditions,
propellant, the run's dispersion draws) and the statistics to ``DIR/summary.json``.

Statistics (:func:`summarize`): success (docked with first contact inside the IDSS
envelope) with its Wilson 95 % interval; per contact quantity p50, p99 (and p1 for the
closing speed, which has a lower limit), the worst run, and the margin to the envelope
at p99; propellant and delta-v p50/p99; every failed run with the seed that reproduces it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hil.progress import Progress
from hil.scenario.config import Scenario, load_scenario
from hil.scenario.dispersions import INITIAL, draw, run_seed
from hil.scenario.envelope import IDSS

CONTACT = ("closing_speed_mps", "lateral_speed_mps", "lateral_offset_m",
           "pitch_yaw_misalignment_deg", "roll_misalignment_deg", "pitch_yaw_rate_dps",
           "roll_rate_dps")
"""Contact quantities, each a column of the results and a row of the statistics."""
FLUSH_S = 5.0
"""Longest time finished rows wait in memory before they are written [s]."""
RUN_WALL_BUDGET_S = 300.0
"""A single run still going after this much wall time is stopped (counted, not hung)."""


class CampaignMismatch(ValueError):
    """The output folder holds another campaign (other scenario or master seed)."""


# -- one run ----------------------------------------------------------------------------

def reproduce(sc: Scenario, master_seed: int, index: int, **kwargs: Any) -> Any:
    """Fly run ``index`` of the campaign with ``master_seed`` again, alone; ``kwargs`` go
    to :func:`hil.sil.runner.run` (``out_dir=`` to keep its telemetry for a report)."""
    from hil.sil.runner import run

    return run(sc, run_seed(master_seed, index), **kwargs)


def dispersion_columns(sc: Scenario) -> list[str]:
    """Names of the per-run dispersion columns (``d_`` + quantity) of scenario ``sc``."""
    keys = list(draw(sc, 0).values)
    keys += [f"{k}_{i}" for k in INITIAL if k in sc.dispersions for i in range(3)]
    return ["d_" + k for k in keys]


def run_one(sc: Scenario, master_seed: int, index: int) -> dict[str, Any]:
    """Fly run ``index`` and return its row. A run that raises is a row with outcome
    ``error`` and the exception, not a failed campaign."""
    seed = run_seed(master_seed, index)
    row: dict[str, Any] = {"index": index, "seed": seed}
    t0 = time.perf_counter()
    try:
        r = reproduce(sc, master_seed, index, wall_budget_s=RUN_WALL_BUDGET_S)
    except Exception as e:  # noqa: BLE001 - recorded in the row, with its type
        row.update(outcome="error", success=False, error=f"{type(e).__name__}: {e}",
                   wall_time_s=time.perf_counter() - t0)
        return row
    c = r.contact or {}
    row.update(
        outcome=r.outcome, success=r.success,
        abort_reason=(r.fsw.sequencer.abort_reason or None) if r.fsw else None,
        within_envelope=bool(c.get("within_envelope", False)),
        **{k: float(c[k]) if k in c else math.nan for k in CONTACT},
        propellant_kg=r.propellant_kg, delta_v_mps=r.delta_v_mps, sim_time_s=r.sim_time_s,
        wall_time_s=r.wall_time_s, fdir_events=len(r.fdir_events),
        nav_rejected=int(r.nav.get("n_rejected", 0)),
        nav_reacquired=int(r.nav.get("n_reacquire", 0)),
        safety_violations=len(r.safety_violations),
        **{"d_" + k: v for k, v in (r.world.dispersed if r.world else {}).items()},
    )
    return row


def run_chunk(sc: Scenario, master_seed: int, indices: list[int]) -> list[dict[str, Any]]:
    """Rows of several runs (one task: fewer round trips to the scheduler)."""
    return [run_one(sc, master_seed, i) for i in indices]


# -- local worker processes -------------------------------------------------------------

_WORKER_SC: Scenario | None = None


def _worker_init(sc: Scenario) -> None:
    global _WORKER_SC
    _WORKER_SC = sc
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator handles Ctrl-C


def _worker_chunk(args: tuple[int, list[int]]) -> list[dict[str, Any]]:
    assert _WORKER_SC is not None
    return run_chunk(_WORKER_SC, *args)


class _LocalPool:
    """``workers`` processes (spawned: direct children, joined on close), each given the
    scenario once."""

    def __init__(self, sc: Scenario, workers: int) -> None:
        import multiprocessing as mp

        self.pool = mp.get_context("spawn").Pool(workers, _worker_init, (sc,))

    def results(self, master_seed: int, chunks: list[list[int]]) -> Iterator[list[dict]]:
        yield from self.pool.imap_unordered(_worker_chunk, [(master_seed, c) for c in chunks])

    def close(self, *, interrupted: bool) -> None:
        if interrupted:
            self.pool.terminate()
        else:
            self.pool.close()
        self.pool.join()


class _DaskPool:
    """The runs as tasks on a Dask distributed cluster at ``address``."""

    def __init__(self, sc: Scenario, address: str) -> None:
        from distributed import Client

        self.client = Client(address, timeout="20s")
        self.sc = self.client.scatter(sc, broadcast=True)
        self.futures: list[Any] = []

    def results(self, master_seed: int, chunks: list[list[int]]) -> Iterator[list[dict]]:
        from distributed import as_completed

        self.futures = [self.client.submit(run_chunk, self.sc, master_seed, c, pure=False)
                        for c in chunks]
        for fut in as_completed(self.futures):
            yield fut.result()
            fut.release()

    def close(self, *, interrupted: bool) -> None:
        if interrupted and self.futures:
            self.client.cancel(self.futures)
        self.client.close()


# -- results on disk --------------------------------------------------------------------

def _scenario_digest(sc: Scenario) -> str:
    """Hash of the files that define the campaign's runs (scenario, vehicles, sensors)."""
    h = hashlib.sha256()
    for f in (sc.file, sc.chaser.file, sc.target.file, sc.sensors.file):
        h.update(Path(f).read_bytes())
    return h.hexdigest()


def _schema(columns: list[str]) -> Any:
    import pyarrow as pa

    types = {"index": pa.int64(), "seed": pa.int64(), "outcome": pa.string(),
             "success": pa.bool_(), "abort_reason": pa.string(), "error": pa.string(),
             "within_envelope": pa.bool_(), "fdir_events": pa.int64(),
             "nav_rejected": pa.int64(), "nav_reacquired": pa.int64(),
             "safety_violations": pa.int64()}
    return pa.schema([(c, types.get(c, pa.float64())) for c in columns])


def result_columns(sc: Scenario) -> list[str]:
    """Every column of a campaign's ``runs.parquet``, in order."""
    return (["index", "seed", "outcome", "success", "abort_reason", "within_envelope",
             *CONTACT, "propellant_kg", "delta_v_mps", "sim_time_s", "wall_time_s",
             "fdir_events", "nav_rejected", "nav_reacquired", "safety_violations", "error"]
            + dispersion_columns(sc))


class ResultStore:
    """A campaign's folder: manifest, Parquet parts while running, ``runs.parquet``."""

    def __init__(self, out: Path, sc: Scenario, master_seed: int) -> None:
        import pyarrow.parquet  # noqa: F401 - now, not at the first flush, while runs wait

        self.out, self.sc = out, sc
        self.columns = result_columns(sc)
        self.schema = _schema(self.columns)
        self.parts = out / "parts"
        manifest = {"scenario": sc.name, "scenario_file": sc.file,
                    "scenario_sha256": _scenario_digest(sc), "master_seed": int(master_seed),
                    "columns": self.columns}
        mf = out / "manifest.json"
        if mf.exists():
            old = json.loads(mf.read_text())
            for k in ("scenario", "scenario_sha256", "master_seed"):
                if old.get(k) != manifest[k]:
                    raise CampaignMismatch(
                        f"{out} holds a campaign with {k} {old.get(k)!r}, not "
                        f"{manifest[k]!r}: use another --out folder (or delete this one)")
        out.mkdir(parents=True, exist_ok=True)
        self.parts.mkdir(exist_ok=True)
        mf.write_text(json.dumps(manifest, indent=2) + "\n")
        self._n_parts = len(list(self.parts.glob("*.parquet")))

    def rows(self) -> list[dict[str, Any]]:
        """Every stored row, one per index (the first stored wins), sorted by index."""
        return load_rows(self.out)

    def write_part(self, rows: list[dict[str, Any]]) -> None:
        """Append finished rows as a new part (written to a temporary name, then renamed,
        so a part on disk is always whole)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not rows:
            return
        table = pa.Table.from_pylist([{c: r.get(c) for c in self.columns} for r in rows],
                                     schema=self.schema)
        name = f"part-{self._n_parts:05d}-{os.getpid()}-{time.time_ns()}.parquet"
        tmp = self.parts / ("." + name + ".tmp")
        pq.write_table(table, tmp)
        tmp.rename(self.parts / name)
        self._n_parts += 1

    def consolidate(self) -> list[dict[str, Any]]:
        """All rows into ``runs.parquet`` (sorted by index); the parts are removed."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = self.rows()
        table = pa.Table.from_pylist([{c: r.get(c) for c in self.columns} for r in rows],
                                     schema=self.schema)
        tmp = self.out / ".runs.parquet.tmp"
        pq.write_table(table, tmp)
        tmp.rename(self.out / "runs.parquet")
        for f in self.parts.glob("*.parquet"):
            f.unlink()
        return rows


# -- statistics -------------------------------------------------------------------------

def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float,
                                                                                     float]:
    """Wilson score interval of a binomial proportion (95 % for the default ``z``)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # at 0 or n successes one bound is exactly 0 or 1 (rounding would leave it just inside)
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


def _limits() -> dict[str, tuple[float, float]]:
    e = IDSS
    return {"closing_speed_mps": e.closing_speed_mps,
            "lateral_speed_mps": (0.0, e.lateral_speed_mps),
            "lateral_offset_m": (0.0, e.lateral_offset_m),
            "pitch_yaw_misalignment_deg": (0.0, e.pitch_yaw_misalignment_deg),
            "roll_misalignment_deg": (0.0, e.roll_misalignment_deg),
            "pitch_yaw_rate_dps": (0.0, e.pitch_yaw_rate_dps),
            "roll_rate_dps": (0.0, e.roll_rate_dps)}


def _violations(row: dict[str, Any]) -> list[str]:
    out = []
    for k, (lo, hi) in _limits().items():
        v = row.get(k)
        if v is None or not math.isfinite(v):
            continue
        if v > hi:
            out.append(f"{k} {v:.4g} > {hi:g}")
        elif k == "closing_speed_mps" and v < lo:
            out.append(f"{k} {v:.4g} < {lo:g}")
    return out


def summarize(rows: list[dict[str, Any]], *, scenario: str, master_seed: int,
              requested: int | None = None) -> dict[str, Any]:
    """The ``flightsw montecarlo --json`` object of a campaign's rows."""
    n = len(rows)
    ok = sum(bool(r["success"]) for r in rows)
    lo, hi = wilson_interval(ok, n)
    outcomes: dict[str, int] = {}
    for r in rows:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    contact: dict[str, Any] = {}
    for k, (lim_lo, lim_hi) in _limits().items():
        v = np.array([r[k] for r in rows if r.get(k) is not None and math.isfinite(r[k])])
        if v.size == 0:
            contact[k] = {"n": 0}
            continue
        p1, p50, p99 = (float(x) for x in np.percentile(v, [1, 50, 99]))
        s: dict[str, Any] = {"n": int(v.size), "p50": p50, "p99": p99,
                             "max": float(v.max()), "limit": lim_hi,
                             "margin_p99": lim_hi - p99}
        if k == "closing_speed_mps":
            s.update(p1=p1, min=float(v.min()), limit=[lim_lo, lim_hi],
                     margin_p99=min(p1 - lim_lo, lim_hi - p99))
        s["margin_p99_frac"] = s["margin_p99"] / (lim_hi - lim_lo if k == "closing_speed_mps"
                                                  else lim_hi)
        contact[k] = s

    def pct(key: str) -> dict[str, float]:
        v = np.array([r[key] for r in rows if r.get(key) is not None
                      and math.isfinite(r[key])])
        if v.size == 0:
            return {}
        p50, p99 = np.percentile(v, [50, 99])
        return {"p50": float(p50), "p99": float(p99), "max": float(v.max())}

    failed = []
    drivers = _drivers(rows)
    for r in rows:
        if r["success"]:
            continue
        why = r.get("error") or "; ".join(_violations(r)) or (
            f"{r['outcome']}" + (f" ({r['abort_reason']})" if r.get("abort_reason") else ""))
        failed.append({"index": int(r["index"]), "seed": int(r["seed"]),
                       "outcome": r["outcome"], "abort_reason": r.get("abort_reason"),
                       "why": why,
                       "reproduce": f"flightsw sim {scenario} --seed {int(r['seed'])}"})
    return {
        "scenario": scenario, "master_seed": int(master_seed),
        "requested": requested if requested is not None else n, "runs": n,
        "successes": ok, "success_rate": ok / n if n else math.nan,
        "success_ci95": [lo, hi], "ci_method": "Wilson score",
        "outcomes": outcomes, "contact": contact,
        "propellant_kg": pct("propellant_kg"), "delta_v_mps": pct("delta_v_mps"),
        "sim_time_s": pct("sim_time_s"), "run_wall_time_s": pct("wall_time_s"),
        "drivers": drivers, "failed": failed,
    }


def _ranks(v: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 with ties given their mean rank."""
    order = np.argsort(v, kind="mergesort")
    r = np.empty(v.size)
    r[order] = np.arange(v.size, dtype=float)
    _, inv, counts = np.unique(v, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=r)
    return (sums / counts)[inv]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two samples (nan when either is constant)."""
    rx, ry = _ranks(np.asarray(x, float)), _ranks(np.asarray(y, float))
    sx, sy = rx.std(), ry.std()
    if sx == 0 or sy == 0:
        return math.nan
    return float(np.mean((rx - rx.mean()) * (ry - ry.mean())) / (sx * sy))


def _drivers(rows: list[dict[str, Any]], top: int = 3) -> dict[str, list[dict[str, Any]]]:
    """For each contact quantity and propellant, the dispersions whose draws (or their
    magnitudes, ``|name|``) rank-correlate most strongly with it over the runs that made
    contact (Spearman; |rho| >= 0.2 and at least 20 runs): where to look first when a
    margin is thin."""
    out: dict[str, list[dict[str, Any]]] = {}
    ok = [r for r in rows if r.get("closing_speed_mps") is not None
          and math.isfinite(r["closing_speed_mps"])]
    if len(ok) < 20:
        return out
    keys = [k for k in ok[0] if k.startswith("d_")]
    for q in (*CONTACT, "propellant_kg"):
        y = np.array([r[q] for r in ok], float)
        found: list[dict[str, Any]] = []
        for k in keys:
            x = np.array([r[k] if r.get(k) is not None else math.nan for r in ok], float)
            if not np.all(np.isfinite(x)):
                continue
            # a quantity may grow with a draw's size whatever its sign (a misalignment
            # with an attitude error): test the draw and its magnitude
            for name, xx in ((k[2:], x), (f"|{k[2:]}|", np.abs(x))):
                rho = spearman(xx, y)
                if math.isfinite(rho) and abs(rho) >= 0.2:
                    found.append({"dispersion": name, "spearman": rho})
        found.sort(key=lambda d: -abs(d["spearman"]))
        out[q] = found[:top]
    return out


# -- the campaign -----------------------------------------------------------------------

def run_montecarlo(scenario: str | Path | Scenario, runs: int, out_dir: str | Path, *,
                   master_seed: int | None = None, workers: int | None = None,
                   scheduler: str | None = None, chunk: int | None = None,
                   progress: bool | None = None, flush_s: float = FLUSH_S,
                   on_rows: Callable[[list[dict[str, Any]]], None] | None = None,
                   ) -> dict[str, Any]:
    """Run (or resume) a campaign of ``runs`` runs into ``out_dir``; returns the summary.

    Parameters
    ----------
    scenario : name, path or Scenario
    runs : int
        Runs in the campaign (indices 0 .. runs-1).
    out_dir : path
        The campaign's folder; rows already there are not computed again.
    master_seed : int, optional
        Default: the scenario's seed.
    workers : int, optional
        Local worker processes (default: the CPU count); ignored with ``scheduler``.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:port``).
    chunk : int, optional
        Runs per task (default: enough tasks for about eight per worker, at most 16 runs).
    progress : bool, optional
        Progress bar on stderr (default: when stderr is a terminal).
    flush_s : float
        Longest time finished rows wait before they are written [s] (what an abrupt
        kill can lose).
    on_rows : callable, optional
        Called with each batch of finished rows (after they are on disk).
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    master = sc.seed if master_seed is None else int(master_seed)
    out = Path(out_dir)
    store = ResultStore(out, sc, master)
    done = {int(r["index"]) for r in store.rows()}
    todo = [i for i in range(runs) if i not in done]
    n_workers = 1 if scheduler else max(1, workers or os.cpu_count() or 1)
    if chunk is None:
        chunk = max(1, min(16, len(todo) // (8 * n_workers) or 1))
    chunks = [todo[k:k + chunk] for k in range(0, len(todo), chunk)]
    bar = Progress(f"monte carlo {sc.name}", enabled=progress)
    n_done, n_bad = runs - len(todo), 0
    pending: list[dict[str, Any]] = []
    last_flush = time.monotonic()
    interrupted = False
    t0 = time.perf_counter()
    pool: Any = None
    try:
        if chunks:
            pool = _DaskPool(sc, scheduler) if scheduler else _LocalPool(sc, n_workers)
            for rows in pool.results(master, chunks):
                pending += rows
                n_done += len(rows)
                n_bad += sum(not r["success"] for r in rows)
                bar.step(n_done, runs, f"runs, {n_bad} not docked within the envelope")
                if time.monotonic() - last_flush >= flush_s:
                    store.write_part(pending)
                    if on_rows:
                        on_rows(pending)
                    pending, last_flush = [], time.monotonic()
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        store.write_part(pending)  # what finished is kept, interrupted or not
        if on_rows and pending:
            on_rows(pending)
        if pool is not None:
            pool.close(interrupted=interrupted)
        bar.close()
    wall = time.perf_counter() - t0
    rows = [r for r in store.consolidate() if int(r["index"]) < runs]
    summary = summarize(rows, scenario=sc.name, master_seed=master, requested=runs)
    summary["campaign"] = {
        "computed_now": len(todo), "resumed_from": runs - len(todo), "wall_time_s": wall,
        "workers": n_workers if not scheduler else None, "scheduler": scheduler,
        "runs_per_s": len(todo) / wall if wall > 0 and todo else None,
        "out": str(out),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def load_rows(out_dir: str | Path) -> list[dict[str, Any]]:
    """A campaign folder's rows (``runs.parquet`` and any parts), sorted by index."""
    import pyarrow.parquet as pq

    out = Path(out_dir)
    files: Iterable[Path] = ([out / "runs.parquet"] if (out / "runs.parquet").exists()
                             else []) + sorted((out / "parts").glob("*.parquet"))
    seen: dict[int, dict[str, Any]] = {}
    for f in files:
        for r in pq.read_table(f).to_pylist():
            seen.setdefault(int(r["index"]), r)
    return [seen[i] for i in sorted(seen)]
