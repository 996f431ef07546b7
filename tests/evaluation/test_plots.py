"""Figures are drawn from Reports: data, orientation, legends, and the self-contained HTML page."""
from __future__ import annotations

import re

import numpy as np
import pytest

from asmnet_studio.datasets.schemas import IBUG68
from asmnet_studio.evaluation import plots
from asmnet_studio.evaluation.html import report_figures, report_html, thumbnail_data_uri
from asmnet_studio.evaluation.report import evaluate
from tests.evaluation.test_report import three_faces


@pytest.fixture
def report():
    pred, gt = three_faces()
    gp = np.array([[10.0, 0, 0], [-45.0, 5, 0], [80.0, 0, 0]])
    return evaluate(pred, gt, schema=IBUG68, normaliser="interocular", gt_pose=gp, pred_pose=gp + 1.0,
                    names=["a.jpg", "b.jpg", "c.jpg"])


@pytest.fixture
def report_no_pose():
    pred, gt = three_faces()
    return evaluate(pred, gt, schema=IBUG68, normaliser="box")


def test_landmark_figure_on_mean_face(report):
    fig = plots.landmark_nme_figure(report)
    pts = fig.data[-1]
    np.testing.assert_allclose(pts.x, report.mean_shape[:, 0])
    np.testing.assert_allclose(pts.marker.color, report.landmark_nme)
    assert pts.customdata[36][1] == "right_eye_outer"
    assert fig.layout.yaxis.autorange == "reversed"  # image orientation, y down
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        plots.landmark_nme_figure(report, np.zeros((5, 2)))


def test_region_figure_one_trace_per_region(report):
    fig = plots.region_nme_figure(report)
    assert [t.name for t in fig.data] == list(IBUG68.groups)
    assert sum(len(t.y) for t in fig.data) == 68


def test_ced_overlay_with_fr_auc_in_legend(report, report_no_pose):
    fig = plots.ced_figure({"model A": report, "model B": report_no_pose})
    assert len(fig.data) == 2
    # report: FR@10 = 66.67 %, AUC@10 = 16.67 (see test_report.test_summary_by_hand)
    assert fig.data[0].name == "model A (FR@10% 66.67%, AUC@10% 16.67)"
    assert fig.data[1].name.startswith("model B (FR@10% ")
    t, c = report.ced(max_threshold=15.0)
    np.testing.assert_allclose(fig.data[0].y, c)
    fr = plots.failure_rate_figure(report)
    np.testing.assert_allclose(np.asarray(fr.data[0].y) + plots.ced_figure(report).data[0].y, 100.0)
    with pytest.raises(ValueError, match="Report"):
        plots.ced_figure({"x": 3})


def test_pose_figures(report, report_no_pose):
    assert len(plots.pose_error_figure(report).data) == 3
    assert len(plots.pose_scatter_figure(report).data) == 6
    assert [t.name.split(" ")[0] for t in plots.pose_ced_figure(report).data] == ["yaw", "pitch", "roll", "geodesic"]
    fig = plots.nme_vs_yaw_figure(report)
    np.testing.assert_allclose(fig.data[0].x, [10, 45, 80])
    for f in (plots.pose_error_figure, plots.pose_scatter_figure, plots.pose_ced_figure, plots.nme_vs_yaw_figure):
        with pytest.raises(ValueError, match="pose"):
            f(report_no_pose)


def test_worst_faces(report):
    w = plots.worst_faces(report, 2)
    assert list(w.columns[:3]) == ["rank", "image", "nme"]
    assert list(w["image"]) == ["c.jpg", "b.jpg"] and list(w["rank"]) == [1, 2]


def test_html_is_self_contained(report, report_no_pose):
    page = report_html(report, title="t")
    assert page.count("<script") >= len(report_figures(report))
    assert not re.search(r"<script[^>]*\bsrc=", page)  # plotly.js is inline, no CDN / external script
    assert "Plotly.newPlot" in page
    assert len(report_figures(report)) == 8
    assert len(report_figures(report_no_pose)) == 4


def test_plots_module_has_no_metric_logic():
    import inspect

    src = inspect.getsource(plots)
    for word in ("asmnet_studio.evaluation.metrics", "np.mean", ".mean(", "np.linalg", "searchsorted"):
        assert word not in src


def test_worst_face_thumbnails_in_html(report):
    import base64
    import io

    from PIL import Image

    image = np.zeros((40, 60, 3), np.uint8)
    gt = np.array([[10.0, 10.0], [30.0, 20.0]])
    uri = thumbnail_data_uri(image, gt + 1.0, gt, size=64)
    assert uri.startswith("data:image/jpeg;base64,")
    im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert im.size == (64, 64)
    im = np.asarray(im)
    assert im[..., 1].max() > 100 and im[..., 0].max() > 100  # green GT and red prediction dots drawn
    page = report_html(report, thumbnails={"c.jpg": uri})
    assert page.count('<figure class="thumb">') == 1 and "#1 c.jpg" in page
