"""Training: data, the optimisation loop, and export of shippable weights."""
