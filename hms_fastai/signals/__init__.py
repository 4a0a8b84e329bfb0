"""Layer 3, signals: the 8-channel image recipe, EEG mels in torch, the signal cache (built by prepare, read by Store), pictures."""
