"""What a build ran on: the machine, the device each framework computes on, library versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from fwcompare import config

LIBRARIES = ("torch", "torchvision", "jax", "jaxlib", "flax", "optax", "numpy")


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def torch_device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"


def jax_device() -> str:
    import jax

    device = jax.devices()[0]
    return f"{device.platform} ({device.device_kind})"


def devices() -> str:
    """One line naming the device each framework computes on, e.g. ``PyTorch cpu · JAX cpu (cpu)``."""
    return f"PyTorch {torch_device()} · JAX {jax_device()}"


def gpu_driver() -> str:
    """The NVIDIA driver version as ``nvidia-smi`` reports it, or why there is none."""
    if shutil.which("nvidia-smi") is None:
        return "none (no nvidia-smi: no NVIDIA GPU)"
    result = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                            capture_output=True, text=True, check=False, timeout=30)
    lines = result.stdout.split()
    return lines[0] if result.returncode == 0 and lines else f"unknown (nvidia-smi exit {result.returncode})"


def git_commit(repository: str | os.PathLike) -> str:
    """The checked-out commit of ``repository`` (``$GITHUB_SHA`` in CI), or ``unknown`` outside git."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        result = subprocess.run(["git", "-C", str(Path(repository)), "rev-parse", "HEAD"],
                                capture_output=True, text=True, check=False, timeout=30)
    except OSError:  # no git program
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def build_date() -> str:
    """Now in UTC, or ``$SOURCE_DATE_EPOCH`` when set (reproducible builds), as ``YYYY-MM-DD HH:MM UTC``."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def environment() -> dict[str, str]:
    """Profile, machine, devices each framework uses, threads and library versions."""
    import torch

    info = {
        "build profile": config.build_profile(),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs",
        "PyTorch device": torch_device(),
        "JAX device": jax_device(),
        "PyTorch CPU threads": str(torch.get_num_threads()),
        "GPU driver": gpu_driver(),
        "CUDA (PyTorch build)": torch.version.cuda or "none",
    }
    info.update({name: _version(name) for name in LIBRARIES})
    return info


def environment_markdown(info: dict[str, str] | None = None) -> str:
    """``environment()`` as a two-column Markdown table."""
    info = environment() if info is None else info
    rows = "\n".join(f"| {key} | {value} |" for key, value in info.items())
    return f"| | this build |\n|---|---|\n{rows}\n"
