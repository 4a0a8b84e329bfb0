"""The one default of each training concept, shared by the Python API, the CLI, the configs, the demo and the notebooks."""

__all__ = ['SEED', 'N_FOLDS', 'BS', 'LR', 'EPOCHS', 'EPOCHS2', 'ARCH', 'RAW_ARCH']

SEED = 0            # synthetic data, fold assignment and training
N_FOLDS = 5         # patient-grouped folds
BS = 32             # batch size
LR = 5e-3           # one-cycle peak learning rate for bodies trained from scratch (pretrained: pass ~1e-3)
EPOCHS = 8          # stage 1: all training rows
EPOCHS2 = 4         # stage 2: expert training rows at LR/10 (0: one stage)
ARCH = 'resnet34d'  # timm body
RAW_ARCH = 'xresnet1d18'   # raw-EEG body (learn.raw.RAW_ARCHS)
