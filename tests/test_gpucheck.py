"""``python -m fwcompare.gpucheck``: a dry run rehearses the whole check on a CPU and writes a results
file that loads back; without ``--dry-run`` a machine without a GPU is refused loudly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from book_helpers import REPO
from fwcompare import benchmark, datasets, gpucheck

pytestmark = pytest.mark.timeout(600)


def _gpucheck(*arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "code")}
    return subprocess.run([sys.executable, "-m", "fwcompare.gpucheck", *arguments], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def mnist_in_data():
    try:
        datasets.load("mnist", "train", download=False)
    except datasets.DataMissingError as error:
        pytest.skip(f"MNIST is not in data/: {error}")


def test_the_dry_run_writes_results_that_load_back(tmp_path, mnist_in_data):
    done = _gpucheck("--dry-run", "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for name in ("python", "torch", "jax", "jaxlib", "flax", "optax", "grain", "CUDA (PyTorch build)",
                 "cuDNN (PyTorch)", "PyTorch devices", "JAX devices"):
        assert name in out.split("== tests marked gpu")[0], name  # versions come first
    assert "gpu tests:" in out and "max |loss diff| 0.0e+00" in out and "gpucheck passed" in out
    (path,) = tmp_path.glob("*.json")
    results = benchmark.load_results(path)
    assert results.partial == "" and results.environment["gpu check"] == "dry run"
    routines = {m.routine for m in results.measurements}
    assert {"torch-dataloader", "grain-jax", "jax-device"} <= routines
    losses = [m.first_loss for m in results.select("routines", results.workloads()[0])]
    assert max(losses) - min(losses) < 1e-4 * max(losses)
    if gpucheck.missing_gpu() is not None:  # a CPU: the CUDA-graph routines are recorded as skipped
        skipped = {s["routine"] for s in results.skipped}
        assert set(benchmark.GPU_ONLY) <= skipped and not set(benchmark.GPU_ONLY) & routines
        assert all("CUDA" in s["reason"] for s in results.skipped)


@pytest.mark.skipif(gpucheck.missing_gpu() is None, reason="this machine has a GPU")
def test_without_a_gpu_the_check_fails_naming_what_is_missing(tmp_path):
    done = _gpucheck("--out", str(tmp_path))
    assert done.returncode == gpucheck.EXIT_NO_GPU
    assert "gpucheck FAILED: no GPU" in done.stderr
    assert "PyTorch sees no CUDA GPU" in done.stderr and "JAX sees no GPU" in done.stderr
    assert "torch" in done.stdout  # the versions are printed before the refusal
    assert not list(tmp_path.iterdir())


def test_a_bad_budget_is_refused():
    with pytest.raises(SystemExit):
        gpucheck.main(["--budget-s", "0"])


def test_sigterm_leaves_partial_results(tmp_path, mnist_in_data):
    """Stopped once the suite has measured something: exit status 3 and a results file that
    says it is partial and lists what was left out."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "code")}
    check = subprocess.Popen([sys.executable, "-m", "fwcompare.gpucheck", "--dry-run", "--no-tests",
                              "--out", str(tmp_path)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        for line in check.stdout:
            if line.startswith("routines "):  # the first routine measured
                check.send_signal(signal.SIGTERM)
                break
        _, stderr = check.communicate(timeout=600)
    finally:
        check.kill()
    assert check.returncode == gpucheck.EXIT_STOPPED, stderr[-3000:]
    assert "partial results written: stopped: SIGTERM" in stderr
    (path,) = tmp_path.glob("*.json")
    results = benchmark.load_results(path)
    assert results.partial == "stopped: SIGTERM" and results.measurements
    assert any(s["reason"] == "stopped: SIGTERM" for s in results.skipped)


def test_the_full_check_times_the_gpu_line_up_on_every_workload():
    settings = gpucheck.full_settings()
    assert settings.mlp_examples is None and settings.cnn_examples is None  # whole epochs
    assert set(benchmark.GPU_ONLY) | {"jax-scan", "nnx-scan"} <= set(settings.cnn_routines)
    assert set(gpucheck.HOST_LOADERS) <= set(settings.routines)
    assert not set(gpucheck.HOST_LOADERS) & set(settings.cnn_routines)
