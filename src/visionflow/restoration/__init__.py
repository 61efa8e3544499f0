"""Image restoration (denoise, superres, inpaint): data, degradations, losses, baselines,
evaluation and whole-image inference. The tasks themselves are in `visionflow.tasks.restoration`."""
