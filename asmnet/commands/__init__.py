"""Sub-commands of the ``asmnet`` CLI (see ``asmnet.cli``)."""
