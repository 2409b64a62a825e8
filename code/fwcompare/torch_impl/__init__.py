"""PyTorch side of the book: models, data, train, evaluate (mirrored by ``fwcompare.linen_impl``)."""
