"""JAX / Flax / Optax side of the book: models, data, train, evaluate (mirrored by ``fwcompare.torch_impl``)."""
