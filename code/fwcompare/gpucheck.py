"""One command that checks the project on a GPU: ``python -m fwcompare.gpucheck`` (``make gpu-check``).

In order, printing as it goes:

1. the versions that matter (Python, the frameworks, Grain, CUDA and cuDNN) and the devices
   each framework sees;
2. a hard stop (exit status 2, a message naming what is missing) unless *both* PyTorch and
   JAX see a GPU;
3. the tests marked ``gpu`` (``pytest -m gpu``): the three backends' logits, loss and
   gradients on the device, float32 and TF32, device-resident data, the CUDA-graph routines;
4. the benchmark suite at full size (``benchsuite.run_suite``), every routine's first-epoch
   loss checked against the others', and the results file ``<device>.json`` written (with its
   figures) into ``--out``.

Everything shares one time budget (``--budget-s``, 480 s: the check must end within 8 minutes
on a current data-centre GPU), divided into sections (``benchsuite.SECTION_SHARES``); what
would not fit is skipped and recorded in the results file. The file is rewritten after every
measurement, and SIGINT or SIGTERM ends the run with the partial results written.

``--dry-run`` rehearses all of it on a CPU at tiny sizes (no GPU required, about a minute):
the CUDA-only routines are then recorded as skipped, and the whole-epoch graph routine's
steps are run once eagerly instead, checked against the eager loop. No network is used: the
data must be in ``data/`` already.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = Path("_build/gpu-check")
PACKAGES = ("torch", "jax", "jaxlib", "flax", "optax", "grain", "numpy")
# How far apart the routines' first-epoch mean losses may be (relative): the same arithmetic
# in another order agrees to float32 rounding; TF32 rounds inputs to 10 bits of mantissa.
LOSS_RTOL = {"float32": 1e-4, "tf32": 1e-2}
EXIT_NO_GPU, EXIT_FAILED, EXIT_STOPPED = 2, 1, 3


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """Versions and devices, in the order ``main`` prints them."""
    import jax
    import torch

    info = {"python": platform.python_version()}
    info.update({name: _version(name) for name in PACKAGES})
    plugins = sorted(d.metadata["Name"] for d in metadata.distributions()
                     if (d.metadata["Name"] or "").lower().startswith(("jax-cuda", "jax_cuda")))
    info["JAX CUDA plugin"] = ", ".join(f"{name} {_version(name)}" for name in plugins) or "none"
    info["CUDA (PyTorch build)"] = torch.version.cuda or "none"
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    info["cuDNN (PyTorch)"] = str(cudnn) if cudnn else "none"
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    info["PyTorch devices"] = ", ".join(gpus) if torch.cuda.is_available() else "cpu only"
    info["JAX backend"] = jax.default_backend()
    info["JAX devices"] = ", ".join(f"{d.platform}:{d.device_kind}" for d in jax.devices())
    return info


def missing_gpu() -> str | None:
    """What keeps this machine from a GPU check (``None`` when both frameworks see a GPU)."""
    import jax
    import torch

    problems = []
    if not torch.cuda.is_available():
        problems.append("PyTorch sees no CUDA GPU (torch.cuda.is_available() is False"
                        f"; CUDA build: {torch.version.cuda or 'none'})")
    if jax.default_backend() != "gpu":
        problems.append(f"JAX sees no GPU (default backend {jax.default_backend()!r}; "
                        "is jax[cuda13] installed? see requirements-gpu.txt)")
    return "; ".join(problems) or None


def run_gpu_tests(timeout_s: float, dry_run: bool) -> tuple[bool, str]:
    """``pytest -m gpu`` on the GPU test module; ``(passed, one-line summary)``."""
    tests = REPO / "tests" / "test_gpu.py"
    if not tests.is_file():
        return True, f"skipped: {tests} not found (an installed package carries no tests)"
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider",
               str(tests)]
    # This process's JAX has taken its share of the GPU's memory already (it preallocates 75 %
    # by default): the tests' JAX allocates as it goes instead, in what is left.
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    try:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=max(timeout_s, 1))
    except subprocess.TimeoutExpired:
        return False, f"stopped: the gpu tests ran past their {timeout_s:.0f} s share of the budget"
    print(done.stdout[-4000:], done.stderr[-2000:], sep="", flush=True)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else f"pytest exit status {done.returncode}"
    # Exit status 5: nothing collected ran; in a dry run on a CPU every gpu test is skipped.
    return done.returncode == 0 or (dry_run and done.returncode == 5), summary


def dry_settings():
    """Tiny sizes for ``--dry-run``: every part of the suite once, in well under a minute."""
    from fwcompare import benchsuite

    # On a CPU the CUDA-graph routines are recorded as skipped at no cost; a dry run on a GPU
    # runs them, the CNN's (Adam) included.
    routines = ("torch-dataloader", "torch-device", "torch-cudagraphs", "torch-graph-epoch",
                "jax-dataloader", "grain-jax", "jax-device")
    return benchsuite.BenchSettings(
        routines=routines, mlp_examples=256, cnn_batch_sizes=(64,), cnn_examples=64,
        cnn_routines=("torch-graph-epoch",), batch_sweep=(64,), width_sweep=(64,),
        sweep_routines=("jax-device",), sweep_examples=256, matmul_sizes=(128,),
        overhead_hidden=((32,),), overhead_steps=5)


# Routines that read batches on the host: their cost per example does not depend on the model,
# so the check compares them on the MLP only and keeps the CNN's time for the GPU line-up.
HOST_LOADERS = ("torch-dataloader", "jax-dataloader", "grain-jax")


def full_settings():
    """The GPU suite at full size (``benchsuite.settings_for("full", accelerator=True)``), the
    host loaders measured on the MLP only."""
    from fwcompare import benchsuite

    settings = benchsuite.settings_for("full", accelerator=True)
    return dataclasses.replace(settings, cnn_routines=tuple(
        routine for routine in settings.cnn_routines if routine not in HOST_LOADERS))


def loss_disagreements(results, rtol: float) -> list[str]:
    """Workloads whose routines' first-epoch mean losses are not all equal within ``rtol``."""
    problems = []
    for workload in results.workloads():
        rows = results.select("routines", workload)
        losses = np.array([m.first_loss for m in rows])
        spread = float(np.max(np.abs(losses - losses[0])) / abs(losses[0]))
        if spread > rtol:
            worst = rows[int(np.argmax(np.abs(losses - losses[0])))]
            problems.append(f"{workload}: first-epoch losses differ by {spread:.1e} (relative) > {rtol:.0e}; "
                            f"{rows[0].routine} {losses[0]:.6f}, {worst.routine} {worst.first_loss:.6f}")
    return problems


def _stop_on_sigterm(signum, frame):
    """The first SIGTERM stops the run with its partial results; a second one ends the process
    at once (the results file of the last measurement is on disk already)."""
    from fwcompare.benchsuite import SuiteStopped

    signal.signal(signum, signal.SIG_DFL)
    raise SuiteStopped(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fwcompare.gpucheck", description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="rehearse on any machine (a CPU too) at tiny sizes; no GPU needed")
    parser.add_argument("--budget-s", type=float, default=480.0,
                        help="seconds for the whole check; what would not fit is skipped (default 480)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the results file and figures (default {DEFAULT_OUT})")
    parser.add_argument("--precision", choices=("float32", "tf32"), default="float32",
                        help="float32 matrix products in full float32 (default) or in TF32")
    parser.add_argument("--no-tests", action="store_true", help="leave out the pytest -m gpu run")
    args = parser.parse_args(argv)
    if args.budget_s <= 0:
        parser.error(f"--budget-s {args.budget_s} must be > 0")

    started = time.monotonic()
    print("== versions", flush=True)
    for name, value in versions().items():
        print(f"{name:22s} {value}", flush=True)
    problem = missing_gpu()
    if problem and not args.dry_run:
        print(f"\ngpucheck FAILED: no GPU to check. {problem}.\n"
              "Run on a machine with an NVIDIA GPU and the packages of requirements-gpu.txt, "
              "or pass --dry-run to rehearse on this one.", file=sys.stderr, flush=True)
        return EXIT_NO_GPU

    from fwcompare import benchsuite, datasets
    from fwcompare.benchmark import device_slug, save_results

    try:  # no network here: the data must be in data/ already
        datasets.load("mnist", "train", download=False)
    except datasets.DataMissingError as error:
        print(f"\ngpucheck FAILED: MNIST is not in {datasets.data_root()}: {error}\n"
              "Fetch it first on a machine with a network (e.g. make book-smoke).", file=sys.stderr)
        return EXIT_FAILED

    budget = benchsuite.SuiteBudget(args.budget_s)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # SIGINT already raises KeyboardInterrupt
    failures: list[str] = []
    tests_summary = "not run (--no-tests)"
    try:
        if not args.no_tests:
            print("\n== tests marked gpu", flush=True)
            passed, tests_summary = run_gpu_tests(budget.left("gpu-tests"), args.dry_run)
            print(f"gpu tests: {tests_summary}", flush=True)
            if not passed:
                failures.append(f"gpu tests: {tests_summary}")
        if args.dry_run:
            print("\n== CPU rehearsal of the whole-epoch CUDA graph (its steps run eagerly)", flush=True)
            settings = dry_settings()
            images, labels, _ = benchsuite.training_set(256)
            cfg = dataclasses.replace(benchsuite.MLP_WORKLOAD, hidden=(32,), batch_size=64)
            workload = benchsuite.Workload("rehearsal MLP", cfg, images, labels)
            graph_losses, eager_losses = benchsuite.rehearse_graph_epoch(workload)
            difference = float(np.max(np.abs(graph_losses - eager_losses)))
            print(f"torch-graph-epoch steps vs torch-device, 2 epochs: max |loss diff| {difference:.1e}",
                  flush=True)
            if difference > 1e-6:
                failures.append(f"the graph epoch's steps differ from the eager loop by {difference:.1e}")
        else:
            settings = full_settings()
        settings = dataclasses.replace(settings, precision=args.precision)
    except (benchsuite.SuiteStopped, KeyboardInterrupt) as stop:
        print(f"\ngpucheck stopped before the suite ({stop or type(stop).__name__})", file=sys.stderr)
        return EXIT_STOPPED

    left = budget.left("time-to-accuracy")
    print(f"\n== benchmark suite ({args.precision}; {left:.0f} s of the budget left)", flush=True)
    environment_extra = {"gpu tests": tests_summary, "gpu check": "dry run" if args.dry_run else "full"}
    results_path: list[Path] = []

    def checkpoint(results):
        results = dataclasses.replace(results, environment={**results.environment, **environment_extra})
        path = args.out / f"{device_slug(results.device)}.json"
        results_path[:] = [save_results(results, path)]

    try:
        results = benchsuite.run_suite(settings, log=lambda line: print(line, flush=True),
                                       budget=budget, checkpoint=checkpoint)
    except (benchsuite.SuiteStopped, KeyboardInterrupt) as stop:  # while measuring the limits
        print(f"\ngpucheck stopped before any measurement ({stop or type(stop).__name__})",
              file=sys.stderr)
        return EXIT_STOPPED
    checkpoint(results)
    print(f"\nwrote {results_path[0]}", flush=True)
    if results.measurements and not results.partial:
        try:
            for path in benchsuite.write_outputs(results, args.out)[1:]:  # the figures
                print(f"wrote {path}", flush=True)
        except ValueError as error:  # a group left out entirely by the budget
            print(f"figures left out: {error}", flush=True)
        checkpoint(results)  # write_outputs wrote the JSON without the check's environment notes
    for skip in results.skipped:
        print(f"skipped: {skip['section']} / {skip['workload']} / {skip['routine']}: {skip['reason']}")
    failures += [f"{skip['workload']} / {skip['routine']}: {skip['reason']}" for skip in results.skipped
                 if skip["reason"].startswith(benchsuite.ERROR_PREFIX)]
    failures += loss_disagreements(results, LOSS_RTOL[args.precision])
    print(f"\n{len(results.measurements)} measurements, {len(results.skipped)} skipped, "
          f"{time.monotonic() - started:.0f} s in all", flush=True)
    if results.partial:
        print(f"gpucheck STOPPED, partial results written: {results.partial}", file=sys.stderr)
        return EXIT_STOPPED
    if failures:
        print("gpucheck FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return EXIT_FAILED
    print("gpucheck passed" + (" (dry run: no GPU was checked)" if args.dry_run else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
