"""Models for game clients: the production pipeline exported to ONNX, verified, and served for download."""
