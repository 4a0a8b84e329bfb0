"""Layer 1, core: names and numbers of the competition, training defaults, the user-error type, atomic writes (no heavy imports)."""
