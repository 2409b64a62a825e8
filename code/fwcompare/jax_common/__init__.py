"""What the two JAX backends (``nnx_impl`` and ``linen_impl``) share, written once.

Device arrays and batch gathering, Flax's initialisers and the PyTorch weight layout, the
loss and the Optax transformation, sharding over devices, Orbax checkpoints, the hand-written
tiny network of "An introduction to JAX" and the plain-JAX MLP of the JAX slides. Nothing
here depends on which Flax API builds the model.
"""
