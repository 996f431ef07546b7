"""Command-line flags generated from a settings dataclass, so that a new setting is written once.

Declare each field with :func:`setting` (default + help text + optional CLI details)::

    @dataclass
    class Cfg:
        lr: float = setting(2e-3, "peak learning rate")
        split: str | None = setting("train", "split to train on ('all' for every sample)", none_words=("all", ""))
        resume: bool = setting(False, "continue from the last checkpoint")

    add_flags(parser, Cfg)          # --lr FLOAT, --split, --resume
    cfg = from_flags(Cfg, args)     # Cfg(lr=..., split=None for 'all', resume=...)

Rules (derived from the field, never written twice):

* flag name: the field name with ``_`` -> ``-`` (``input_size`` -> ``--input-size``); argparse ``dest`` = field name;
* type: the annotation's (``int | None`` -> ``int``); choices: ``choices=``; default: the field's default;
* ``bool`` fields: default False -> ``--name`` sets True; default True -> ``--no-name`` sets False;
* ``none_words``: these words (case-insensitive) on the command line mean ``None``;
* ``off_flag="no-x"``: an extra switch that sets a number field to 0 (``--no-flip`` = ``--flip 0``);
* a field whose type is itself a dataclass (e.g. ``augment: AugmentConfig``) contributes its own fields'
  flags, without a prefix.
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Iterator

_META = "asmnet_flag"


def setting(default: Any = dataclasses.MISSING, help: str = "", *, default_factory: Any = dataclasses.MISSING,
            choices: tuple | None = None, none_words: tuple[str, ...] = (), metavar: str | None = None,
            off_flag: str | None = None) -> Any:
    """A dataclass field carrying its command-line help (``help`` must not be empty) and CLI details."""
    if not help:
        raise ValueError("every setting needs its help text")
    meta = {_META: {"help": help, "choices": choices, "none_words": tuple(none_words), "metavar": metavar,
                    "off_flag": off_flag}}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _plain_type(tp: Any) -> Any:
    """``int | None`` / ``Optional[int]`` -> ``int``; anything else unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def iter_settings(cls: type) -> Iterator[tuple[dataclasses.Field, Any, dict[str, Any]]]:
    """(field, plain type, CLI metadata) for every leaf setting of dataclass ``cls`` (nested dataclasses
    flattened). ValueError names a field declared without :func:`setting`."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = _plain_type(hints[f.name])
        if dataclasses.is_dataclass(tp):
            yield from iter_settings(tp)
            continue
        if _META not in f.metadata:
            raise ValueError(f"{cls.__name__}.{f.name} has no help text "
                             "(declare it with asmnet.training.config_flags.setting)")
        yield f, tp, f.metadata[_META]


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def _parse_with_none(tp: Any, words: tuple[str, ...]):
    def parse(text: str):
        return None if text.lower() in words else tp(text)

    parse.__name__ = tp.__name__  # argparse names the type in its error message
    return parse


def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type) -> None:
    """Add one flag per setting of dataclass ``cls`` (see the module docstring for the rules)."""
    for f, tp, meta in iter_settings(cls):
        flag = "--" + f.name.replace("_", "-")
        default = _default(f)
        text = meta["help"].replace("%", "%%")  # argparse %-formats help strings
        if tp is bool:
            if default:
                parser.add_argument("--no-" + flag[2:], dest=f.name, action="store_false",
                                    help=f"turn off (on by default): {text}")
            else:
                parser.add_argument(flag, dest=f.name, action="store_true", help=text)
            continue
        words = tuple(w.lower() for w in meta["none_words"])
        shown = "" if default is None or default == "" else f" (default: {default})".replace("%", "%%")
        parser.add_argument(flag, dest=f.name, default=default, choices=meta["choices"], metavar=meta["metavar"],
                            type=_parse_with_none(tp, words) if words else tp, help=text + shown)
        if meta["off_flag"]:
            parser.add_argument("--" + meta["off_flag"], dest=f.name, action="store_const", const=tp(0),
                                help=f"same as {flag} 0")


def from_flags(cls: type, args: argparse.Namespace) -> Any:
    """Build ``cls`` (nested dataclasses too) from the values :func:`add_flags` parsed into ``args``."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        tp = _plain_type(hints[f.name])
        values[f.name] = from_flags(tp, args) if dataclasses.is_dataclass(tp) else getattr(args, f.name)
    return cls(**values)
