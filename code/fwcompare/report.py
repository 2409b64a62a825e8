"""What a build ran on: the machine, the device each framework computes on, library versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata

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
    }
    info.update({name: _version(name) for name in LIBRARIES})
    return info


def environment_markdown(info: dict[str, str] | None = None) -> str:
    """``environment()`` as a two-column Markdown table."""
    info = environment() if info is None else info
    rows = "\n".join(f"| {key} | {value} |" for key, value in info.items())
    return f"| | this build |\n|---|---|\n{rows}\n"
