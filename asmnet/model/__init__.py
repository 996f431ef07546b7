"""The model: the network (ASMNet, the MobileNetV2 baseline, the registry), the shape model (``asm.ShapeModel``:
Procrustes, PCA, the one projection), the ASM-assisted loss, checkpoints and their checks, the editor's
shape prior, head-pose geometry, ImageNet trunks. ``asm``, ``shape_prior`` and ``head_pose`` never import torch."""
