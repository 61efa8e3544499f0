"""Image generation: sampling from a trained generator, grids, the training monitor, quality
metrics against real images, report, export and serving helpers (the `gan` task)."""
