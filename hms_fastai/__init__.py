"""hms_fastai: fastai experiments for the HMS Harmful Brain Activity Classification competition."""
from .constants import *
from .errors import HMSDataError
