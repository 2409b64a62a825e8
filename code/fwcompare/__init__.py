"""PyTorch and JAX training routines behind "PyTorch and JAX, Side by Side".

Importing this package imports no framework: ``fwcompare.torch_impl`` and
``fwcompare.linen_impl`` are loaded only when a chapter asks for them.
"""

__version__ = "0.1.0"
