"""asmnet_studio.annotator.gradio_startup: gradio imported without rewriting component stubs or compiling listener
docstrings, with the same docstrings, and still working."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from asmnet_studio.annotator.gradio_startup import render_listener_doc

REPO = Path(__file__).resolve().parents[2]

#: (component, event) whose listener docstrings are compared with and without the patch
DOCS = [("Button", "click"), ("Textbox", "change"), ("Image", "upload"), ("Dropdown", "select"), ("Slider", "release")]
COMPONENT = "import gradio as gr\n\n\nclass NoteBox(gr.Textbox):\n    \"\"\"A custom component.\"\"\"\n"


def _define_component(folder: Path, skip: bool) -> str:
    """Import gradio (after skip_developer_work when ``skip``) and a module defining a component class, in a
    fresh interpreter; build a Blocks with it. Its stdout."""
    (folder / "notebox.py").write_text(COMPONENT)
    code = (("from asmnet_studio.annotator.gradio_startup import skip_developer_work\n"
             "assert skip_developer_work()\n") if skip else "") + (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import gradio as gr, gradio.component_meta as cm\n"
        "from notebox import NoteBox\n"
        "with gr.Blocks() as demo:\n"
        "    box = NoteBox(value='hello')\n"
        "print(cm.create_or_modify_pyi.__module__, box.value)\n"
        "import json; print(json.dumps({c: getattr(getattr(gr, c), e).__doc__ for c, e in DOCS}))\n")
    code = f"DOCS = {DOCS!r}\n" + code
    out = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=REPO, capture_output=True, text=True,
                         timeout=300, env={"GRADIO_ANALYTICS_ENABLED": "False", "PATH": "/usr/bin:/bin",
                                           "HOME": str(folder)})
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_no_stub_is_written_and_components_still_work(tmp_path):
    skipped, plain = tmp_path / "skipped", tmp_path / "plain"
    skipped.mkdir()
    plain.mkdir()
    out = _define_component(skipped, skip=True).splitlines()
    assert out[0].split() == ["asmnet_studio.annotator.gradio_startup", "hello"]
    assert not (skipped / "notebox.pyi").exists()
    # the control: without it gradio writes the stub beside the component's source
    control = _define_component(plain, skip=False).splitlines()
    assert control[0].split()[1] == "hello"
    assert (plain / "notebox.pyi").exists()
    # the listener docstrings are gradio's own, rendered for each component
    docs, plain_docs = json.loads(out[1]), json.loads(control[1])
    assert docs == plain_docs
    assert "Triggered when the Button is clicked" in docs["Button"] and "{{" not in "".join(docs.values())


def test_listener_docs_render_as_jinja_does():
    from jinja2 import Template

    for doc in ("Triggered when the {{ component }} is clicked.\n", "The {{ component }} and {{ component }}",
                "no template\n\n", "", "{% if x %}other syntax{% endif %} {{ component }}\n"):
        assert render_listener_doc(doc, "Slider") == Template(doc).render(component="Slider"), doc


def test_after_gradio_is_imported_it_patches_the_loaded_modules():
    code = ("import gradio.component_meta as cm, gradio.events as ev\n"
            "from asmnet_studio.annotator.gradio_startup import skip_developer_work\n"
            "print(skip_developer_work(), cm.create_or_modify_pyi.__name__, ev.EventListener.set_doc.__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={"GRADIO_ANALYTICS_ENABLED": "False", "PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["True", "_no_stub", "_set_doc"]


def test_headless_matplotlib_spares_gradio_events_the_pyplot_import():
    """gradio wraps every event in ``MatplotlibBackendMananger``; with ``headless_matplotlib`` (and no backend named
    by the environment) entering it no longer imports pyplot; without it, it does (the control)."""
    code = ("import sys\n"
            "if sys.argv[1] == 'headless':\n"
            "    from asmnet_studio.annotator.gradio_startup import headless_matplotlib\n"
            "    headless_matplotlib()\n"
            "from gradio.utils import MatplotlibBackendMananger\n"
            "with MatplotlibBackendMananger():\n"
            "    import matplotlib\n"
            "    print(matplotlib.get_backend().lower(), 'matplotlib.pyplot' in sys.modules)\n")
    env = {"GRADIO_ANALYTICS_ENABLED": "False", "PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    out = {}
    for mode in ("headless", "control"):
        r = subprocess.run([sys.executable, "-c", code, mode], cwd=REPO, capture_output=True, text=True, timeout=300,
                           env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        out[mode] = r.stdout.split()
    assert out["headless"] == ["agg", "False"]
    assert out["control"] == ["agg", "True"]
