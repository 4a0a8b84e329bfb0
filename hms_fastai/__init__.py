"""hms_fastai: fastai experiments for the HMS Harmful Brain Activity Classification competition.

A light face: `import hms_fastai as h` loads nothing heavy; `h.name` imports the module that defines `name` on first use.
`from hms_fastai.all import *` imports everything at once. The layers, each importing only those above it in this list:
core → competition → signals → learn → experiments, with the faces (cli, demo, all) on top.
"""
import importlib

from .core.version import __version__

_NAMES = {   # module → the public names it defines (its __all__; a test keeps the two equal)
    'core.constants': ['TARGETS', 'CLASSES', 'EEG_COLUMNS', 'REGIONS', 'CHAINS', 'CHANNELS', 'BIPOLAR',
                       'SIGNAL_CHANNELS', 'EEG_RATE', 'EEG_WINDOW', 'SPEC_STEP', 'SPEC_WINDOW', 'SPEC_FREQS',
                       'SPEC_COLUMNS', 'IMAGE_SHAPE'],
    'core.defaults': ['SEED', 'N_FOLDS', 'BS', 'LR', 'EPOCHS', 'EPOCHS2', 'ARCH', 'RAW_ARCH'],
    'core.errors': ['HMSDataError', 'show_ids', 'check_unique_ids', 'check_same_ids'],
    'core.atomic': ['atomic_path', 'sweep_temp', 'folder_lock', 'file_hash'],
    'core.version': ['__version__'],
    'competition.io': ['parquet_file', 'read_eeg', 'read_spectrogram', 'read_csv', 'load_competition', 'Competition',
                       'TRAIN_COLUMNS', 'TEST_COLUMNS', 'OFFSET_COLUMNS'],
    'competition.meta': ['eeg_table', 'add_folds', 'pseudo_label', 'EXPERT_VOTES'],
    'competition.score': ['kaggle_score', 'score_layout', 'kl_rows', 'target_table', 'target_frame', 'normalise_rows',
                          'check_probabilities', 'oof_scores', 'EPSILON'],
    'competition.submission': ['write_submission'],
    'competition.baselines': ['uniform_probs', 'prior_probs'],
    'competition.check': ['check_competition', 'CHECK_SPLITS'],
    'competition.synth': ['make_synthetic'],
    'competition.blend': ['Blend', 'blend_kl', 'fit_weights', 'fit_blend', 'write_blend', 'read_blend'],
    'competition.compare': ['compare_submissions', 'SubmissionComparison'],
    'signals.image': ['SPEC_LOG_RANGE', 'spec_log', 'spec_row', 'spec_window', 'spec_images', 'spec_image',
                      'assemble', 'image_channels', 'channel_index'],
    'signals.eegspec': ['mel_filters', 'bipolar', 'bipolar_mels', 'eeg_mels', 'eeg_image'],
    'signals.store': ['Store', 'FORMAT', 'PARTS', 'WINDOWS', 'CACHE_COLUMNS'],
    'signals.prepare': ['prepare'],
    'signals.plots': ['show_image', 'plot_eeg'],
    'learn.metrics': ['KLDivLossFlat', 'KLMetric', 'kl_metrics'],
    'learn.data': ['FORMS', 'HMSTensorImage', 'EEGSignal', 'Votes', 'EEGRef', 'HMSImage', 'InputAssembly',
                   'AssembleImages', 'HMSDataLoader', 'VoteTarget', 'WeightedVotes', 'VOTE_SCALE', 'HMSImageBlock',
                   'VoteBlock', 'dl_channels', 'dl_parts', 'check_fold_table', 'fold_dls', 'default_windows',
                   'place_store', 'hms_dls', 'hms_test_dl', 'vote_title'],
    'learn.augment': ['flip_perm', 'flip_channels', 'FlipInputs', 'HemisphereFlip', 'stripe_mask', 'TimeMask',
                      'FreqMask', 'SoftMixUp', 'hms_augs'],
    'learn.learner': ['HMSLearner', 'HEAD_ARGS', 'check_weights', 'hms_learner', 'timm_body'],
    'learn.recipes': ['KeepBestModel', 'fit_best', 'KINDS', 'train_fold', 'oof_preds', 'TrainedFolds', 'check_run',
                      'train_folds'],
    'learn.runs': ['MANIFEST', 'RunFolder', 'run_exports'],
    'learn.exports': ['SPEC_FORMAT', 'export_learner', 'load_exported', 'load_learners'],
    'learn.raw': ['BAND', 'CLIP_UV', 'SIGNAL_RATE', 'RAW_ARCHS', 'band_pass', 'PrepareSignals', 'EEGSignalBlock',
                  'hms_raw_dls', 'raw_model', 'hms_raw_learner'],
    'learn.distributed': ['ShardedDL', 'ShardTraining', 'shard', 'unshard'],
    'learn.launch': ['train_folds_distributed'],
    'learn.infer': ['predict', 'submit'],
    'experiments.configs': ['ExperimentConfig', 'ImageConfig', 'RawConfig', 'EnsembleConfig', 'BlendConfig',
                            'PseudoConfig', 'TabularConfig', 'NaiveConfig', 'SPEC_CHANNELS', 'CONFIGS', 'REFERENCES'],
    'experiments.results': ['Result', 'record_result', 'results_markdown', 'write_results', 'RESULT_COLUMNS'],
    'experiments.tabular': ['FEATURE_WINDOWS', 'spec_feature_names', 'window_features', 'store_crops',
                            'spec_features', 'tabular_fold', 'catboost_fold', 'tabular_cv'],
    'experiments.naive': ['VOCAB', 'MISTAKES', 'naive_dls', 'naive_learner', 'train_naive_fold', 'naive_probs',
                          'naive_frame'],
    'experiments.runners': ['run_config', 'run_experiments'],
    'demo': ['run_demo', 'score_table'],
    'wheelhouse': ['PROVIDED', 'installed_closure', 'dependency_pins', 'build_wheelhouse'],
}
_MODULE_OF = {name: module for module, names in _NAMES.items() for name in names}
LAYERS = ['core', 'competition', 'signals', 'learn', 'experiments']
__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    """Import a public name's module on first use (a layer, e.g. `h.learn`, likewise) and keep the name here."""
    if name in LAYERS: return importlib.import_module(f'.{name}', __name__)
    if name not in _MODULE_OF: raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(f'.{_MODULE_OF[name]}', __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
