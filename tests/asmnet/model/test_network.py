"""Network: ASMNet layout, parameter count, registry."""
from __future__ import annotations

import pytest
import torch

from asmnet.model.network import count_parameters, create_model, list_models

pytestmark = pytest.mark.usefixtures("one_thread")


def test_asmnet_parameter_count_and_taps():
    m = create_model("asmnet")
    # MobileNetV2 (width 1.0) cut after block 15 + 536 -> 136 landmark head + 536 -> 3 pose head
    assert count_parameters(m) == 1_412_435
    assert m.embed_dim == 24 + 32 + 64 + 96 + 160 + 160 == 536
    assert len(m.features) == 17  # features[0..16]


def test_baseline_is_the_full_mobilenetv2():
    m = create_model("mobilenetv2")
    assert m.embed_dim == 1280 and len(m.features) == 19
    assert 2.3e6 < count_parameters(m) < 2.5e6


@pytest.mark.parametrize("size", [64, 96])
def test_tiny_forward_shapes(size):
    m = create_model("asmnet_tiny", num_points=68).eval()
    pts, pose = m(torch.rand(2, 3, size, size))
    assert pts.shape == (2, 68, 2) and pose.shape == (2, 3)


def test_registry_lists_variants_and_rejects_unknown_names():
    assert {"asmnet", "asmnet_tiny", "mobilenetv2"} <= set(list_models())
    with pytest.raises(ValueError, match="asmnet_tiny"):
        create_model("resnet50")
