"""Layer 4, fastai learning: DataBlock, augmentation, the KL learner, training recipes, offline inference."""
import warnings

with warnings.catch_warnings():   # fastai 2.8 calls torch.jit.script at import, deprecated by torch 2.15: nothing a user can act on
    warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated', category=FutureWarning)
    import fastai.torch_basics  # noqa: F401

from . import image, signal  # noqa: E402,F401  (the built-in kinds register themselves)
