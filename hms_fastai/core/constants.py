"""Names and numbers of the HMS competition data, in the order the files and the submission use."""

__all__ = ['TARGETS', 'CLASSES', 'EEG_COLUMNS', 'REGIONS', 'CHAINS', 'PARTS', 'HALVES', 'CHANNELS', 'part_of', 'MONTAGE', 'BIPOLAR',
           'SIGNAL_CHANNELS', 'EEG_RATE', 'EEG_WINDOW', 'SPEC_STEP', 'SPEC_WINDOW', 'SPEC_FREQS', 'SPEC_COLUMNS', 'IMAGE_SHAPE',
           'WINDOWS', 'TARGET_LEVELS', 'TEST_WINDOWS', 'DEFAULT_TEST_WINDOWS', 'TEST_STRIDE']

TARGETS = ['seizure_vote', 'lpd_vote', 'gpd_vote', 'lrda_vote', 'grda_vote', 'other_vote']
CLASSES = ['Seizure', 'LPD', 'GPD', 'LRDA', 'GRDA', 'Other']
EEG_COLUMNS = ['Fp1', 'F3', 'C3', 'P3', 'F7', 'T3', 'T5', 'O1', 'Fz', 'Cz', 'Pz',
               'Fp2', 'F4', 'C4', 'P4', 'F8', 'T4', 'T6', 'O2', 'EKG']
REGIONS = ['LL', 'RL', 'LP', 'RP']
CHAINS = {'LL': ['Fp1', 'F7', 'T3', 'T5', 'O1'], 'RL': ['Fp2', 'F8', 'T4', 'T6', 'O2'],
          'LP': ['Fp1', 'F3', 'C3', 'P3', 'O1'], 'RP': ['Fp2', 'F4', 'C4', 'P4', 'O2']}
PARTS = ('spec', 'eeg')             # the image's two halves, each a part of the signal store: Kaggle spectrogram, EEG mels
HALVES = {part: [f'{part}_{r}' for r in REGIONS] for part in PARTS}   # each half's channel names
CHANNELS = [c for half in HALVES.values() for c in half]              # the 8-channel image, in this order
MONTAGE = {r: list(zip(CHAINS[r][:-1], CHAINS[r][1:])) for r in REGIONS}   # each chain's bipolar pairs (the double banana)
BIPOLAR = [pair for r in REGIONS for pair in MONTAGE[r]]             # the 16 differences, 4 per chain
SIGNAL_CHANNELS = [f'{a}-{b}' for a, b in BIPOLAR]                                 # their names, as raw-EEG input channels

EEG_RATE = 200                      # Hz
EEG_WINDOW = 50 * EEG_RATE          # samples in one 50 s window
SPEC_STEP = 2                       # seconds between spectrogram rows
SPEC_WINDOW = 300                   # spectrogram rows in one 600 s window
SPEC_FREQS = ['0.59', '0.78', '0.98', '1.17', '1.37', '1.56', '1.76', '1.95', '2.15', '2.34', '2.54',
              '2.73', '2.93', '3.13', '3.32', '3.52', '3.71', '3.91', '4.1', '4.3', '4.49', '4.69',
              '4.88', '5.08', '5.27', '5.47', '5.66', '5.86', '6.05', '6.25', '6.45', '6.64', '6.84',
              '7.03', '7.23', '7.42', '7.62', '7.81', '8.01', '8.2', '8.4', '8.59', '8.79', '8.98',
              '9.18', '9.38', '9.57', '9.77', '9.96', '10.16', '10.35', '10.55', '10.74', '10.94',
              '11.13', '11.33', '11.52', '11.72', '11.91', '12.11', '12.3', '12.5', '12.7', '12.89',
              '13.09', '13.28', '13.48', '13.67', '13.87', '14.06', '14.26', '14.45', '14.65',
              '14.84', '15.04', '15.23', '15.43', '15.63', '15.82', '16.02', '16.21', '16.41',
              '16.6', '16.8', '16.99', '17.19', '17.38', '17.58', '17.77', '17.97', '18.16', '18.36',
              '18.55', '18.75', '18.95', '19.14', '19.34', '19.53', '19.73', '19.92']
SPEC_COLUMNS = [f'{r}_{f}' for r in REGIONS for f in SPEC_FREQS]
IMAGE_SHAPE = (128, 256)
WINDOWS = ('centre', 'random')      # a training item's label window: the seed's (mean of min and max offsets), or one drawn
TARGET_LEVELS = ('eeg', 'window')   # a training item's targets: its eeg's votes (all rows summed), or its window's own
TEST_WINDOWS = ('centre', 'all')    # a test eeg without offsets: its EEG's middle 50 s, or the mean over its 50 s windows
DEFAULT_TEST_WINDOWS = 'all'        # measured on synthetic per-window truth (README's figures)
TEST_STRIDE = 10                    # seconds between the starts of those windows (a label's central 10 s)


def part_of(channel: str) -> str:
    """The store part ('spec' or 'eeg') an image channel comes from."""
    part = next((p for p, names in HALVES.items() if channel in names), None)
    if part is None: raise ValueError(f'unknown channel {channel!r}; known: {CHANNELS}')
    return part
