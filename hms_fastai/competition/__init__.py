"""Layer 2, competition files: read and validate them, the eeg-level table and folds, the metric, submissions, synthetic data."""
