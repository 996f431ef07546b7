"""``asmnet remove WS.db IMAGE... [--missing]``: take pictures out of a workspace (e.g. one whose file is gone).

IMAGE is a face id (the queue's ``id`` column) or an image name as the workspace knows it (``Workspace.images``'
``name``, or its path); ``--missing`` adds every picture whose image file no longer exists. A picture is removed
whole: all its faces, their saved versions and predictions, in one transaction
(``Workspace.remove_images``). Nothing is lost: the removed rows are kept in the workspace's ``removed_images``
archive (with the time of removal). The image file itself is never deleted. No torch here.
"""
from __future__ import annotations

import argparse

HELP = "remove pictures (all their faces, versions and predictions, archived) from a workspace"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", metavar="WS.db", help="an existing workspace file")
    parser.add_argument("images", metavar="IMAGE", nargs="*",
                        help="a face id (the queue's id column) or an image name / path in the workspace")
    parser.add_argument("--missing", action="store_true", help="also every picture whose image file is missing")


def resolve(ws, images: list[str], missing: bool) -> list[int]:
    """Face ids for IMAGE arguments (id, name or path) and, with ``missing``, the faces whose file is gone;
    ValueError naming every argument that matches nothing."""
    recs = ws.images()
    by_id = {r.id: r for r in recs}
    ids: list[int] = []
    unknown = []
    for arg in images:
        if arg.isdigit() and int(arg) in by_id:
            ids.append(int(arg))
            continue
        found = [r.id for r in recs if arg in (r.name, str(r.path))]
        if found:
            ids.extend(found)
        else:
            unknown.append(arg)
    if unknown:
        raise ValueError(f"{ws.path}: no image {', '.join(repr(u) for u in unknown)} in the workspace "
                         "(give a face id or an image name as `asmnet export` / the queue shows it)")
    if missing:
        ids.extend(r.id for r in recs if not r.path.is_file())
    return list(dict.fromkeys(ids))


def run(args: argparse.Namespace) -> int:
    from asmnet_studio.datasets.store import Workspace

    if not args.images and not args.missing:
        raise ValueError("name the images to remove (face ids or names), or pass --missing")
    with Workspace(args.workspace, create=False) as ws:
        ids = resolve(ws, args.images, args.missing)
        if not ids:
            print("nothing to remove: every image file is present")
            return 0
        removed = ws.remove_images(ids)
    for r in removed:
        print(f"removed {r.name}: {r.faces} face(s), {r.versions} saved version(s), {r.predictions} prediction(s)"
              f"{'' if r.file_present else ' (file missing)'}")
    print(f"removed {len(removed)} picture(s); their rows are kept in the workspace's removed_images archive; "
          "no image file was deleted")
    return 0
