"""The installed torch/torchvision pair works: torchvision.ops imports and timm builds an 8-channel ResNet34d."""
import torch


def test_torchvision_ops_imports():
    import torchvision.ops
    boxes = torch.tensor([[0., 0., 2., 2.], [1., 1., 3., 3.]])
    assert torchvision.ops.box_iou(boxes, boxes).shape == (2, 2)


def test_timm_resnet34d_eight_channels():
    import timm
    m = timm.create_model('resnet34d', pretrained=False, in_chans=8, num_classes=6).eval()
    with torch.no_grad(): out = m(torch.randn(2, 8, 128, 256))
    assert out.shape == (2, 6)


def test_package_exports_constants():
    import hms_fastai as h
    assert h.TARGETS[0] == 'seizure_vote' and h.TARGETS[-1] == 'other_vote' and len(h.TARGETS) == 6
    assert h.CHANNELS == ['spec_LL', 'spec_RL', 'spec_LP', 'spec_RP', 'eeg_LL', 'eeg_RL', 'eeg_LP', 'eeg_RP']
    assert len(h.EEG_COLUMNS) == 20 and h.REGIONS == ['LL', 'RL', 'LP', 'RP']
    assert h.CHAINS['LL'] == ['Fp1', 'F7', 'T3', 'T5', 'O1']
