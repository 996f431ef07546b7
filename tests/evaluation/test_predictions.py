"""Reading other tools' predictions (flat CSV, .pts folder) and matching them to ground-truth samples."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.sample import Sample
from asmnet_studio.evaluation.predictions import (match_predictions, read_predictions, read_predictions_csv,
                                    write_predictions_csv)


def samples(names, k=3):
    return [Sample(image=n, points=np.full((k, 2), float(i), dtype=np.float32)) for i, n in enumerate(names)]


def test_csv_round_trip_with_pose(tmp_path):
    pts = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2) + 0.25
    pose = np.array([[1.0, 2.0, 3.0], [-4.0, 5.5, 6.0]])
    path = write_predictions_csv(tmp_path / "p.csv", ["d/a.jpg", "d/b.jpg"], pts, pose)
    assert path.read_text().splitlines()[0] == "image,x0,y0,x1,y1,x2,y2,yaw,pitch,roll"
    recs = read_predictions(path)
    assert [r.image for r in recs] == ["d/a.jpg", "d/b.jpg"]
    np.testing.assert_array_equal(np.stack([r.points for r in recs]), pts)
    np.testing.assert_array_equal(np.stack([r.pose for r in recs]), pose)
    assert recs[1].where.endswith("p.csv, line 3")


@pytest.mark.parametrize("text, match", [
    ("img,x0,y0\na,1,2\n", "line 1.*first column must be 'image'"),
    ("image,x0,y0,x1\na,1,2,3\n", "line 1.*pairs"),
    ("image,x0,x1\na,1,2\n", "line 1.*column 3 is 'x1', expected 'y0'"),
    ("image,x0,y0\na,1,2\nb,1\n", "line 3.*expected 3 columns"),
    ("image,x0,y0\na,1,oops\n", "line 2.*not a number: 'oops'"),
    ("image,x0,y0\na,1,nan\n", "line 2, point 0.*non-finite"),
    ("", "empty"),
])
def test_csv_errors_name_file_and_line(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(FormatError, match=match):
        read_predictions_csv(p)


def test_match_by_path_without_extension_and_stem(tmp_path):
    gt = samples(["AFLW/x1.jpg", "AFLW/x2.jpg", "AFLW/x3.jpg"])
    p = tmp_path / "p.csv"
    p.write_text("image,x0,y0,x1,y1,x2,y2\n"
                 "x3.png,3,3,3,3,3,3\n"          # by stem
                 "AFLW/x1.jpg,1,1,1,1,1,1\n"     # by relative path
                 "./AFLW/x2,2,2,2,2,2,2\n"       # without extension
                 "other/y.jpg,0,0,0,0,0,0\n")    # matches nothing (another split): reported as unused
    m = match_predictions(read_predictions(p), gt)
    assert list(m.indices) == [0, 1, 2]
    np.testing.assert_array_equal(m.points[:, 0, 0], [1, 2, 3])
    assert m.pose is None and m.missing == [] and len(m.unused) == 1


def test_ambiguous_stem_does_not_match(tmp_path):
    gt = samples(["a/x.jpg", "b/x.jpg"])
    p = tmp_path / "p.csv"
    p.write_text("image,x0,y0,x1,y1,x2,y2\nx.jpg,1,1,1,1,1,1\n")
    with pytest.raises(ValueError, match="no prediction matches"):
        match_predictions(read_predictions(p), gt)


def test_missing_predictions_error_and_intersection(tmp_path):
    gt = samples([f"img{i}.jpg" for i in range(8)])
    p = tmp_path / "p.csv"
    p.write_text("image,x0,y0,x1,y1,x2,y2\nimg0.jpg,0,0,0,0,0,0\nimg5.jpg,5,5,5,5,5,5\n")
    with pytest.raises(ValueError, match=r"6 of 8 .*img1.jpg, img2.jpg, img3.jpg, img4.jpg, img6.jpg.*--intersection"):
        match_predictions(read_predictions(p), gt)
    m = match_predictions(read_predictions(p), gt, intersection=True)
    assert list(m.indices) == [0, 5] and len(m.missing) == 6


def test_duplicate_and_wrong_point_count(tmp_path):
    gt = samples(["a.jpg"])
    p = tmp_path / "p.csv"
    p.write_text("image,x0,y0,x1,y1,x2,y2\na.jpg,0,0,0,0,0,0\na,1,1,1,1,1,1\n")
    with pytest.raises(ValueError, match="two predictions for a.jpg.*line 2.*line 3"):
        match_predictions(read_predictions(p), gt)
    p.write_text("image,x0,y0\na.jpg,0,0\n")
    with pytest.raises(FormatError, match="line 2.*1 points.*has 3"):
        match_predictions(read_predictions(p), gt)


def test_pts_folder_is_one_based(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.pts").write_text("version: 1\nn_points: 3\n{\n1 1\n2.5 3\n11 21\n}\n")
    recs = read_predictions(tmp_path)
    assert recs[0].image == "sub/a.pts"
    # on disk 1-based -> in memory (0, 0), (1.5, 2), (10, 20)
    np.testing.assert_allclose(recs[0].points, [[0, 0], [1.5, 2], [10, 20]])
    m = match_predictions(recs, samples(["sub/a.jpg"]))
    assert list(m.indices) == [0]


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        read_predictions("/nonexistent/nowhere.csv")


def test_several_faces_need_a_face_column(tmp_path):
    gt = [Sample(image="g.jpg", points=np.full((3, 2), float(f), np.float32), face=f) for f in range(2)]
    pts = np.stack([np.full((3, 2), 1.0), np.full((3, 2), 0.0)])
    path = write_predictions_csv(tmp_path / "p.csv", ["g.jpg", "g.jpg"], pts, faces=[1, 0])
    assert path.read_text().startswith("image,face,x0,y0")
    m = match_predictions(read_predictions(path), gt)
    np.testing.assert_array_equal(m.points[:, 0, 0], [0.0, 1.0])  # face 0 then face 1
    path = write_predictions_csv(tmp_path / "q.csv", ["g.jpg", "g.jpg"], pts)
    with pytest.raises(ValueError, match="several faces: add a 'face' column"):
        match_predictions(read_predictions(path), gt)
