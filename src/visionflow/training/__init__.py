"""Training pieces: the optimizer and loss factory, LR schedules, and the run's callbacks."""
