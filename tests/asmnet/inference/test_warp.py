"""The one crop function and the one decoder: anti-aliased, geometrically exact, the same for training and
inference (EXIF orientation and alpha handled alike)."""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from asmnet.inference.crop import apply_affine, box_to_crop_matrix, square_box
from asmnet.training.data import read_rgb
from asmnet.inference.warp import crop_face
from asmnet_studio.datasets.images import load_image


def _stripes(size: int = 1024) -> np.ndarray:
    img = np.zeros((size, size, 3), np.uint8)
    img[:, ::2] = 255  # one-pixel vertical lines: pure aliasing bait
    return img


def test_shrinking_is_anti_aliased():
    img = _stripes()
    m = box_to_crop_matrix(np.array([100.0, 100.0, 900.0, 900.0]), 128, angle_deg=7.0)
    ours = crop_face(img, m, 128)
    plain = cv2.warpAffine(img, m, (128, 128), flags=cv2.INTER_AREA)  # INTER_AREA is bilinear here
    assert abs(float(ours.mean()) - 127.5) < 3 and float(ours.std()) < 6
    assert float(plain.std()) > 40  # what the old crop did: aliasing


def test_a_point_lands_where_the_matrix_says():
    rng = np.random.default_rng(0)
    img = np.zeros((900, 1200, 3), np.uint8)
    for angle, box in ((0.0, [300.0, 200.0, 800.0, 700.0]), (23.0, [-50.0, 100.0, 650.0, 800.0]),
                       (-11.0, [500.0, 300.0, 560.0, 360.0])):  # shrink, partly outside, enlarge
        p = rng.uniform([box[0] + 0.3 * (box[2] - box[0]), box[1] + 0.3 * (box[3] - box[1])],
                        [box[0] + 0.7 * (box[2] - box[0]), box[1] + 0.7 * (box[3] - box[1])])
        img[:] = 0
        r = max(3, int((box[2] - box[0]) / 40))
        cv2.circle(img, (int(round(p[0] * 16)), int(round(p[1] * 16))), r * 16, (255, 255, 255), -1,
                   lineType=cv2.LINE_AA, shift=4)
        m = box_to_crop_matrix(np.array(box), 96, angle)
        crop = crop_face(img, m, 96)[..., 0].astype(np.float64)
        ys, xs = np.mgrid[:96, :96]
        centroid = np.array([(crop * xs).sum(), (crop * ys).sum()]) / crop.sum()
        np.testing.assert_allclose(centroid, apply_affine(m, p[None])[0], atol=0.35)


def test_crop_outside_the_image_is_black():
    img = np.full((50, 50, 3), 200, np.uint8)
    m = box_to_crop_matrix(np.array([1000.0, 1000.0, 1400.0, 1400.0]), 64)
    assert not crop_face(img, m, 64).any()


def _exif_rotated_jpeg(path, orientation: int = 6):
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:10, :20] = (255, 0, 0)  # a red block in the stored top-left corner
    im = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes(), quality=95)


def test_training_and_inference_decode_alike(tmp_path):
    jpg = tmp_path / "phone.jpg"
    _exif_rotated_jpeg(jpg)
    png = tmp_path / "alpha.png"
    rgba = np.zeros((30, 30, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:15, :, 3] = 255  # bottom half transparent
    Image.fromarray(rgba, "RGBA").save(png)
    for f in (jpg, png):
        np.testing.assert_array_equal(read_rgb(f), load_image(f))
    # the stored pixel grid: 60 x 40 with the red block top-left, not turned by the EXIF tag
    img = read_rgb(jpg)
    assert img.shape == (40, 60, 3) and img[2, 2, 0] > 200 and img[2, 2, 1] < 60
    # alpha composited on white in both paths
    assert read_rgb(png)[25, 5].tolist() == [255, 255, 255] and read_rgb(png)[5, 5].tolist() == [255, 0, 0]


def test_training_crop_matches_the_predictor_crop(aflw_dir):
    """The plain training crop (decoded cache, then crop) and the predictor's one-step crop of the same face
    are the same picture up to one extra bilinear resample."""
    from asmnet.inference.crop import crop_box_from_points
    from asmnet.training.data import cache_size_for, decode_faces, make_batch
    from asmnet_studio.datasets.formats import read_dataset

    ds = read_dataset(aflw_dir, "aflw2000", split="train")
    ds.samples = ds.samples[:6]
    faces = decode_faces(ds, cache_size_for(128))
    batch = make_batch(faces, np.arange(6), 128)
    for i, s in enumerate(ds.samples):
        img = load_image(aflw_dir / s.image)
        direct = crop_face(img, box_to_crop_matrix(crop_box_from_points(s.points), 128), 128)
        diff = np.abs(direct.astype(np.float64) - batch["images"][i])
        assert diff.mean() < 4.0, (s.image, diff.mean())


def test_a_shrink_by_two_or_more_averages_whole_blocks():
    """At exactly 1/3 scale with pixel-aligned blocks the crop is the mean of each 3 x 3 block (the integer area
    factor; the warp that follows moves nothing)."""
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    m = np.array([[1 / 3, 0.0, -1 / 3], [0.0, 1 / 3, -1 / 3]])  # crop pixel c <- centre 3c + 1 of block [3c, 3c + 3)
    crop = crop_face(img, m, 32).astype(np.float64)
    blocks = img.reshape(32, 3, 32, 3, 3).mean(axis=(1, 3))
    assert np.abs(crop - blocks).max() <= 1.0


def test_integer_area_factor_stays_close_to_the_exact_one_on_a_real_face(aflw_dir):
    """The crop of a real face (scale ~0.45: a 2x block average, then a 0.9x bilinear warp) differs from the exact
    area average of the same region by a few grey levels on average."""
    from asmnet.inference.crop import landmark_box, square_box
    from asmnet.inference.warp import _compose
    from asmnet_studio.datasets.formats import read_dataset

    def crop_matrix(sample):
        return box_to_crop_matrix(square_box(landmark_box(sample.points), 1.3), 128)

    def scale_of(m):
        return float(np.sqrt(abs(np.linalg.det(m[:, :2]))))

    s = next(x for x in read_dataset(aflw_dir, "aflw2000", split="test").samples if scale_of(crop_matrix(x)) < 0.5)
    img = load_image(aflw_dir / s.image)
    m = crop_matrix(s)
    scale = scale_of(m)
    # the exact area average of the whole image to the crop's scale, then the same bilinear warp
    sw, sh = int(round(img.shape[1] * scale)), int(round(img.shape[0] * scale))
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    fx, fy = sw / img.shape[1], sh / img.shape[0]
    to_image = np.array([[1 / fx, 0, 0.5 / fx - 0.5], [0, 1 / fy, 0.5 / fy - 0.5]])
    exact = cv2.warpAffine(small, _compose(m, to_image), (128, 128), flags=cv2.INTER_LINEAR)
    diff = np.abs(crop_face(img, m, 128).astype(np.float64) - exact)
    assert diff.mean() < 4.0, diff.mean()
