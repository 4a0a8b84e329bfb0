"""hms_fastai: fastai experiments for the HMS Harmful Brain Activity Classification competition."""
import warnings

# fastai 2.8 calls torch.jit.script at import, which torch 2.15 deprecates: a warning users can do nothing about.
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated', category=FutureWarning)
from .constants import *
from .errors import HMSDataError
from .io import *
from .meta import *
from .score import *
from .submission import *
from .baselines import *
from .synth import *
from .image import *
from .eegspec import *
from .store import *
from .plots import *
from .check import *
from .metrics import *
from .data import *
from .augment import *
from .learner import *
from .recipes import *
from .infer import *
from .compare import *
from .tabular import *
from .naive import *
from .experiments import *
