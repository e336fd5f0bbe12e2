"""torchslim: compress PyTorch models and prove what each compression gained."""
