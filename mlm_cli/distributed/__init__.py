"""Training on many devices and hosts with Keras's distribution API (jax backend only)."""
