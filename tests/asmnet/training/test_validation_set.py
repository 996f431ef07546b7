"""A checkpoint's validation faces by name (asmnet.training.validation_set): the card's names win over the file
beside the checkpoint, which wins over drawing the set again; the shipped asmnet68.validation.txt is the set the
shipped model was chosen on (the bucket rule of git 704564a), disjoint from its training faces."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from asmnet.inference.predictor import DEFAULT_CHECKPOINT
from asmnet.training.data import FaceArrays, split_validation
from asmnet.training.validation_set import (checkpoint_split, read_names, recorded_names, training_poses,
                                            validation_file, write_names)

SHIPPED_FILE = validation_file(DEFAULT_CHECKPOINT)


def _names_and_poses(n: int = 40):
    yaw = np.linspace(-85, 85, n)
    return [f"img{i:03d}.jpg" for i in range(n)], np.stack([yaw, 0 * yaw, 0 * yaw], 1).astype(np.float32)


def test_the_card_wins_over_the_file_which_wins_over_a_new_draw(tmp_path):
    names, pose = _names_and_poses()
    ckpt = tmp_path / "m.pt"
    tr, val, source = checkpoint_split(names, pose, ckpt, {}, 0.1, 0)
    assert "drawn again" in source
    n = len(names)
    stub = FaceArrays(np.zeros((n, 1, 1, 3), np.uint8), np.zeros((n, 1, 2), np.float32), pose, np.ones(n, bool),
                      names, "")
    np.testing.assert_array_equal(val, split_validation(stub, 0.1, 0)[1])
    assert validation_file(ckpt).name == "m.validation.txt"
    write_names(validation_file(ckpt), ["img007.jpg", "img003.jpg"], "two faces\nsecond comment line")
    tr, val, source = checkpoint_split(names, pose, ckpt, {}, 0.1, 0)
    assert val.tolist() == [3, 7] and source == str(validation_file(ckpt))
    assert len(tr) == n - 2 and not set(tr) & set(val)
    tr, val, source = checkpoint_split(names, pose, ckpt, {"validation_names": ["img001.jpg"]}, 0.1, 0)
    assert val.tolist() == [1] and "card" in source
    assert recorded_names(None, {}) is None


def test_recorded_names_missing_from_the_data_or_repeated_are_errors_naming_them(tmp_path):
    names, pose = _names_and_poses()
    with pytest.raises(ValueError, match="1 of its 2 validation faces are not in the data.*gone.jpg"):
        checkpoint_split(names, pose, None, {"validation_names": ["img001.jpg", "gone.jpg"]}, 0.1, 0)
    bad = tmp_path / "m.validation.txt"
    bad.write_text("# header\nimg001.jpg\n\nimg001.jpg\n")
    with pytest.raises(ValueError, match=r"m.validation.txt:4: 'img001.jpg' is listed twice \(first on line 2\)"):
        read_names(bad)
    bad.write_text("# only a comment\n")
    with pytest.raises(ValueError, match="lists no validation face"):
        read_names(bad)


def test_training_poses_count_unusable_poses_as_frontal():
    samples = [SimpleNamespace(pose=np.array([45.0, 0, 0])), SimpleNamespace(pose=None),
               SimpleNamespace(pose=np.array([-351.0, 10, 5])), SimpleNamespace(pose=np.array([20.0, 120, 0]))]
    np.testing.assert_array_equal(training_poses(samples)[:, 0], [45, 0, 0, 0])


# ---------------------------------------------------------------------------- the shipped model's set
def _old_rule_split(yaw: np.ndarray, fraction: float = 0.1, seed: int = 0) -> np.ndarray:
    """The validation draw of the run that made asmnet68.pt (``split_validation`` and ``yaw_bucket`` of
    ``git show 704564a:asmnet/data.py``: |yaw| not wrapped, buckets [0, 30], (30, 60], beyond), written out here
    so that the check does not depend on today's rule."""
    bucket = np.clip(np.searchsorted(np.array([30.0, 60.0]), np.abs(yaw.astype(np.float64)), side="left"), 0, 2)
    rng = np.random.default_rng(seed)
    idx = np.arange(len(yaw))
    val: list[int] = []
    for b in np.unique(bucket):
        members = idx[bucket == b]
        members = members[rng.permutation(len(members))]
        val.extend(members[: int(round(fraction * len(members)))].tolist())
    return np.array(sorted(val), dtype=np.int64)


@pytest.mark.data
def test_the_shipped_validation_file_is_the_set_the_shipped_model_was_chosen_on(aflw_dir):
    from asmnet.model.checkpoint import load_checkpoint
    from asmnet.model.editor_model import validation_indices
    from asmnet_studio.datasets.formats import read_dataset
    from asmnet_studio.evaluation.pose import yaw_bucket

    card = load_checkpoint(DEFAULT_CHECKPOINT)["card"]
    tc = card["train_config"]
    samples = read_dataset(aflw_dir, tc["format"], split=tc["split"]).samples
    names = [s.image for s in samples]
    # training drew from decoded faces, whose unusable poses are 0 (asmnet.training.data.decode_faces)
    old_val = _old_rule_split(training_poses(samples)[:, 0], tc["val_fraction"], tc["seed"])
    old_train = np.setdiff1d(np.arange(len(samples)), old_val)
    shipped = read_names(SHIPPED_FILE)
    assert len(shipped) == card["dataset"]["val_faces"] == 120
    assert not set(shipped) & {names[i] for i in old_train}
    assert set(shipped) == {names[i] for i in old_val}
    # the card's per-bucket validation counts agree (raw ground-truth yaw, as the release counted them)
    raw_yaw = np.array([samples[names.index(n)].pose[0] for n in shipped])
    labels = yaw_bucket(raw_yaw)
    flip = card["validation"]["flip"]
    assert [int((labels == b).sum()) for b in ("0-30", "30-60", "60-90")] == \
        [flip["faces_0_30"], flip["faces_30_60"], flip["faces_60_90"]]
    # what the runtime check and the release now use for the shipped checkpoint
    _, val, source = checkpoint_split(names, training_poses(samples), DEFAULT_CHECKPOINT, card,
                                      tc["val_fraction"], tc["seed"])
    assert source == str(SHIPPED_FILE) and {names[i] for i in val} == set(shipped)
    # the editor shape model held out the same faces
    assert {names[i] for i in validation_indices(samples, card)} == set(shipped)
