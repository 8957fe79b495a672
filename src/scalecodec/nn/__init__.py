"""Network math as torch.nn modules; shared by training and inference."""
