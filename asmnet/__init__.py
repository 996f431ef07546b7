"""The ASMNet model, in rooms: ``model`` (network, shape model, loss, checkpoints), ``training``, ``inference``
(crop, detect, predictor and runtimes, the pre-label pipeline), ``cli`` (the ``asmnet`` command) and
``weights`` (the shipped files). A map of the rooms and of a drag and a pre-label through them: docs/MAP.md.
"""
