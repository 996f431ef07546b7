"""Training: data (decode, crop, augment), the training loop and its settings (flags generated from the
config's fields), fine-tuning from a workspace, the workspace's samples, the release (model card)."""
