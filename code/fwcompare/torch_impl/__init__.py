"""PyTorch side of the book: models, data, train, evaluate (mirrored by ``fwcompare.jax_impl``)."""
