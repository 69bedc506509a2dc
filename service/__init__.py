"""The brainxai HTTP service: FastAPI over the shipped TorchScript artifact."""
