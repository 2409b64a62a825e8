"""JAX / Flax / Optax side of the book (mirrored by ``fwcompare.torch_impl``)."""
