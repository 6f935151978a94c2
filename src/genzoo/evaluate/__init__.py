"""Numbers about trained models: each function reads a model (and data), never the trainer."""
