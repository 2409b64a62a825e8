"""Flax NNX side of the book: modules that own their weights and are updated in place, as in
PyTorch (mirrored by ``fwcompare.torch_impl`` and ``fwcompare.linen_impl``). The JAX code readers
should copy."""
