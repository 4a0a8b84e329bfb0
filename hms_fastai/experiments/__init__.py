"""Layer 5, experiments: the log's systems as named configs, how each kind runs, the results table."""
from .. import learn  # noqa: F401  (fastai imported quietly, before any module here imports it)
