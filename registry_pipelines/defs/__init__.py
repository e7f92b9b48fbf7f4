"""The code location's defs folder: one sub-folder per model, each a ``defs.yaml`` declaring its ``ModelLifecycle``."""
