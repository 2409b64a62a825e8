"""Data-parallel training in PyTorch with ``DistributedDataParallel`` (DDP).

DDP runs one process per device. Each process holds a full copy of the model, computes the
gradients of ITS share of every global batch (a ``DistributedSampler`` picks the share), and
DDP averages the gradients over the processes during ``backward()`` (an all-reduce), so every
copy takes the same step: the step a single process would take on the whole global batch. On
a CPU the ``gloo`` backend does the all-reduce between local processes.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from fwcompare.config import Config
from fwcompare.torch_impl import checkpoint
from fwcompare.torch_impl.models import model_for
from fwcompare.torch_impl.train import make_optimizer, train_step

__all__ = ["ddp_worker", "train_data_parallel"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ddp_worker(rank: int, world_size: int, port: int, config: Config,
               x: np.ndarray, y: np.ndarray, order: Sequence[np.ndarray],
               result: str) -> None:
    """One DDP process: joins the group, trains on its share of every global batch.

    A ``DistributedSampler`` gives process ``rank`` every ``world_size``-th example of
    the global batches laid end to end, so batch ``k`` of its ``DataLoader`` is its own
    share of global batch ``k``. No shuffling: ``order`` is already shuffled.
    """
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)  # the processes share the machine's cores
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        model = model_for(config)  # the same weights in every process (same seed)
        ddp_model = DistributedDataParallel(model)  # also broadcasts rank 0's weights
        optimizer = make_optimizer(config, ddp_model)
        index = np.concatenate(order)  # the global batches, one after another
        data = TensorDataset(torch.from_numpy(x[index]), torch.from_numpy(y[index]))
        sampler = DistributedSampler(data, world_size, rank, shuffle=False)
        local_batch = len(order[0]) // world_size
        for xb, yb in DataLoader(data, batch_size=local_batch, sampler=sampler):
            train_step(ddp_model, optimizer, xb, yb)  # DDP averages in backward()
        if rank == 0:
            checkpoint.save(result, model)
    finally:
        dist.destroy_process_group()


def train_data_parallel(config: Config, x: np.ndarray, y: np.ndarray, order: Sequence[np.ndarray],
                        devices: int) -> nn.Module:
    """Train ``model_for(config)`` with DDP over ``devices`` CPU processes on the global batches
    ``order`` (each batch must split evenly); returns the trained model (rank 0's copy)."""
    if devices < 1:
        raise ValueError(f"devices={devices!r} must be >= 1")
    for index in order:
        if len(index) % devices:
            raise ValueError(f"global batch of {len(index)} does not split evenly over {devices} devices")
        if len(index) != len(order[0]):  # the workers' DataLoader has one batch size
            raise ValueError(f"global batches of {len(order[0])} and {len(index)}: all must have one size")
    world_size = devices
    with tempfile.TemporaryDirectory() as folder:
        result = str(Path(folder) / "rank0.pt")
        # "spawn" starts fresh interpreters: safe from notebooks and with threads already running.
        mp.start_processes(ddp_worker, args=(world_size, _free_port(), config, x, y, list(order), result),
                           nprocs=world_size, start_method="spawn")
        return checkpoint.load(result, model_for(config))
