"""Datasets as JAX arrays on the device: the same for both Flax APIs (``fwcompare.jax_common.data``)."""

from fwcompare.jax_common.data import default_device, iterate_batches, take, to_device

__all__ = ["default_device", "iterate_batches", "take", "to_device"]
