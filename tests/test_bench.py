"""The benchmark harness (benchmarks/pbp_bench: ``python benchmarks/run.py``, ``portable-bp bench``) in
its quick mode, on NumPy: it runs, and what it writes has the promised structure. Timings are never
asserted against a limit here: speed is a benchmark measurement, not a test."""

import json
import math
import os
import subprocess
import sys

import pytest

from portable_bp import cli

# the harness is not in the installed package but beside the tests, in the checkout's benchmarks/
BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCHMARKS)
from pbp_bench import harness, timing  # noqa: E402

QUICK = ["bench", "--quick", "--backends", "numpy", "--dtypes", "float64", "--kernels", "matmul,stacked,loop",
         "--peers", "handwritten,notebook-stacked,network.py", "--repeats", "2", "--min-time", "0.001",
         "--warmup", "1"]


def _positive_finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert cli.main(QUICK + ["--out", str(out)]) == 0
    return out, json.loads((out / "bench.json").read_text())


def test_quick_run_writes_json_tables_and_plot(quick_run):
    out, payload = quick_run
    assert set(payload) >= {"machine", "config", "results", "wall_seconds"}
    assert payload["machine"]["versions"]["numpy"]
    assert payload["config"]["quick"] is True
    text = (out / "table.txt").read_text()
    assert "[784,100,10] N=64" in text and "targets" in text
    assert (out / "table.md").read_text().startswith("### portable_bp benchmarks")
    assert (out / "step_vs_batch.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_measurement_is_a_sane_timing(quick_run):
    _, payload = quick_run
    res = payload["results"]
    # one GEMM rate per case, measured beside it
    assert [(g["backend"], g["n"]) for g in res["gemm"]] == [("numpy", 50), ("numpy", 64)]
    assert all(_positive_finite(g["gflops"]) and g["flops"] == 2 * g["gemm_n"] ** 3 for g in res["gemm"])
    timed = [r for r in res["portable_bp"] if "skipped" not in r]
    # 2 cases x 3 kernels x 3 ops, nothing skipped at these sizes
    assert len(timed) == 2 * 3 * 3
    assert {(r["kernel"], r["op"]) for r in timed} == {
        (k, op) for k in ("matmul", "stacked", "loop") for op in ("forward", "backprop", "step")}
    for r in timed:
        assert 0 < r["min_s"] <= r["median_s"] <= r["max_s"], r
        assert r["repeats"] == 2 and r["number"] >= 1
        assert _positive_finite(r["flops"]) and _positive_finite(r["gflops"])
        assert _positive_finite(r["gemm_fraction"])


def test_peer_ratios_are_positive_finite(quick_run):
    _, payload = quick_run
    peers = payload["results"]["peers"]
    assert {p["peer"] for p in peers} == {"handwritten", "notebook-stacked", "network.py"}
    for p in peers:
        assert "skipped" not in p, p
        assert p["reference_backend"] == "numpy"
        assert _positive_finite(p["ratio_vs_reference"])
        assert _positive_finite(p["ratio_vs_same_backend"])
        # the ratio is the peer's time over portable_bp's numpy matmul step on the same case
        pbp = next(r for r in payload["results"]["portable_bp"]
                   if r["sizes"] == p["sizes"] and r["n"] == p["n"] and r["kernel"] == "matmul"
                   and r.get("op") == "step")
        assert p["ratio_vs_reference"] == pytest.approx(p["median_s"] / pbp["median_s"])


def test_targets_measured_where_the_run_has_the_data(quick_run):
    _, payload = quick_run
    targets = payload["results"]["targets"]
    t2 = [t for t in targets if t["target"].startswith("T2")]
    assert {t["case"] for t in t2} == {"[784,100,10] N=64", "[2,3,3,1] N=50"}
    for t in t2:
        assert _positive_finite(t["value"]) and t["met"] in (True, False)
        assert t["met"] == (t["value"] <= t["limit"])
    # no torch peer, no wide network in this run: said so, not invented
    for t in targets:
        if t["target"].startswith(("T3", "T5")):
            assert t["value"] is None and t["met"] is None and t["note"]


def test_skip_rules_are_reported_not_silent():
    cfg = harness.Config(backends=["numpy"], dtypes=["float32"], kernels=list(harness.KERNELS), ops=["step"],
                         peers=[], cases=[])
    wide = harness.Case((784, 1024, 1024, 10), 512)
    assert "stack" in harness.skip_reason(wide, "numpy", "stacked", "float32", cfg)
    assert "per-sample" in harness.skip_reason(wide, "numpy", "loop", "float32", cfg)
    assert harness.skip_reason(wide, "numpy", "matmul", "float32", cfg) is None
    assert "einsum" in harness.skip_reason(wide, "array_api_strict", "einsum", "float32", cfg)
    small = harness.Case((784, 100, 10), 1000)
    assert harness.skip_reason(small, "numpy", "stacked", "float64", cfg) is None


def test_flop_count_follows_the_products_of_backprop():
    case = harness.Case((2, 3, 1), 10)
    # forward: 2 N (3*2 + 1*3); BP4 the same; BP2 only for the second layer: 2 N (1*3)
    assert case.flops("forward") == 2 * 10 * 9
    assert case.flops("step") == 2 * 10 * 9 * 2 + 2 * 10 * 3


def test_sizes_option_parses_and_rejects_bad_text():
    cases = harness.parse_cases("2,3,1:5,7; 4,2:3")
    assert [(c.sizes, c.n) for c in cases] == [((2, 3, 1), 5), ((2, 3, 1), 7), ((4, 2), 3)]
    with pytest.raises(ValueError, match="--sizes"):
        harness.parse_cases("2,3,1")
    assert cli.main(["bench", "--sizes", "2,x:5", "--out", "unused"]) == 1


def test_missing_backend_degrades_gracefully(tmp_path):
    """GPU mode on a machine without one: every backend reported unavailable, still a report."""
    rc = cli.main(["bench", "--device", "gpu", "--backends", "cupy", "--peers", "none", "--quick",
                   "--no-plot", "--out", str(tmp_path)])
    assert rc == 0
    payload = json.loads((tmp_path / "bench.json").read_text())
    if "cupy" in payload["results"]["skipped_backends"]:
        assert payload["results"]["portable_bp"] == []
        assert "cupy" in (tmp_path / "table.txt").read_text()


def test_from_json_recomputes_the_report_without_measuring(quick_run, tmp_path):
    out, payload = quick_run
    assert cli.main(["bench", "--from-json", str(out / "bench.json"), "--no-plot", "--out", str(tmp_path)]) == 0
    again = json.loads((tmp_path / "bench.json").read_text())
    assert again["results"]["targets"] == payload["results"]["targets"]
    assert (tmp_path / "table.txt").read_text() == (out / "table.txt").read_text()
    assert cli.main(["bench", "--from-json", str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 1


def test_busy_rounds_are_dropped_when_enough_quiet_ones_exist(monkeypatch):
    """Rounds during which other processes were busy do not count while 3 quiet ones exist."""
    loads = iter([0.0, 1.5, 0.0, 1.5, 0.0, 1.5, 0.0, 1.5, 0.0])
    monkeypatch.setattr(timing, "others_cpu", lambda since: next(loads))
    calls = []
    out = timing.measure_many([(lambda: calls.append(1), lambda x: x)], repeats=5, min_time=0.0, warmup=1,
                              extra_rounds=4)
    (r,) = out
    # rounds 0..4: loads 0, 1.5, 0, 1.5, 0 -> 3 quiet rounds, 2 dropped; no extra round needed
    assert r["repeats_run"] == 5 and r["busy_repeats_dropped"] == 2 and r["repeats"] == 3 and r["quiet"]

    loads = iter([2.0] * 20)
    monkeypatch.setattr(timing, "others_cpu", lambda since: next(loads))
    (r,) = timing.measure_many([(lambda: None, lambda x: x)], repeats=5, min_time=0.0, warmup=1, extra_rounds=4)
    # never quiet: 4 extra rounds are tried, then the 3 quietest of the 9 are used and flagged
    assert r["repeats_run"] == 9 and r["repeats"] == 3 and not r["quiet"]


def test_portable_bp_bench_passes_everything_to_the_checkouts_harness(capsys):
    """``portable-bp bench`` is a thin entry point: it finds benchmarks/ two levels above src/portable_bp
    and hands the harness every argument, --help included."""
    assert os.path.samefile(cli._bench_folder(), BENCHMARKS)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: portable-bp bench") and "--quick" in out and "--from-json" in out


def test_portable_bp_bench_without_a_checkout_says_where_the_harness_is(monkeypatch, capsys):
    """A wheel install has no benchmarks/: one line saying where the harness lives, exit code 2."""
    monkeypatch.setattr(cli._bench, "_bench_folder", lambda: None)  # where bench looks it up
    assert cli.main(["bench", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "benchmarks/" in err and "git clone" in err and "python benchmarks/run.py" in err


def test_run_py_is_the_same_command():
    done = subprocess.run([sys.executable, os.path.join(BENCHMARKS, "run.py"), "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python benchmarks/run.py") and "--quick" in done.stdout
