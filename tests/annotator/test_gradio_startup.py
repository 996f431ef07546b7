"""asmnet_studio.annotator.gradio_startup: gradio imported without rewriting component stubs, and still working."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

COMPONENT = "import gradio as gr\n\n\nclass NoteBox(gr.Textbox):\n    \"\"\"A custom component.\"\"\"\n"


def _define_component(folder: Path, skip: bool) -> str:
    """Import gradio (after skip_stub_regeneration when ``skip``) and a module defining a component class, in a
    fresh interpreter; build a Blocks with it. Its stdout."""
    (folder / "notebox.py").write_text(COMPONENT)
    code = (("from asmnet_studio.annotator.gradio_startup import skip_stub_regeneration\n"
             "assert skip_stub_regeneration()\n") if skip else "") + (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import gradio as gr, gradio.component_meta as cm\n"
        "from notebox import NoteBox\n"
        "with gr.Blocks() as demo:\n"
        "    box = NoteBox(value='hello')\n"
        "print(cm.create_or_modify_pyi.__module__, box.value)\n")
    out = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=REPO, capture_output=True, text=True,
                         timeout=300, env={"GRADIO_ANALYTICS_ENABLED": "False", "PATH": "/usr/bin:/bin",
                                           "HOME": str(folder)})
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_no_stub_is_written_and_components_still_work(tmp_path):
    skipped, plain = tmp_path / "skipped", tmp_path / "plain"
    skipped.mkdir()
    plain.mkdir()
    out = _define_component(skipped, skip=True)
    assert out.split() == ["asmnet_studio.annotator.gradio_startup", "hello"]
    assert not (skipped / "notebox.pyi").exists()
    # the control: without it gradio writes the stub beside the component's source
    assert _define_component(plain, skip=False).split()[1] == "hello"
    assert (plain / "notebox.pyi").exists()


def test_after_gradio_is_imported_it_patches_the_loaded_module():
    code = ("import gradio.component_meta as cm\n"
            "from asmnet_studio.annotator.gradio_startup import skip_stub_regeneration\n"
            "print(skip_stub_regeneration(), cm.create_or_modify_pyi.__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={"GRADIO_ANALYTICS_ENABLED": "False", "PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["True", "_no_stub"]
