"""Fixtures shared by the annotator tests."""
from __future__ import annotations

import pytest

from asmnet_studio.annotator import session
from asmnet_studio.datasets.store import Workspace
from tests.annotator import synthetic


@pytest.fixture
def svc(tmp_path):
    store = Workspace(tmp_path / "ws.db")
    model = synthetic.shape_model()
    s = session.Services(store=store, predictor=synthetic.FakePredictor(model), shape_model=model,
                         author="tester", upload_dir=tmp_path / "uploads")
    yield s
    store.close()
