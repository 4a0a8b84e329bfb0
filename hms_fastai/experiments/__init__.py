"""Layer 5, experiments: the log's systems as named configs, how each kind runs, the results table."""
