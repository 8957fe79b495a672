"""The exact fixed-point decoder: numpy only, the same bytes on every machine (torch_backend runs it on a GPU)."""
