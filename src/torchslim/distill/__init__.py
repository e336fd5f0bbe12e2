"""Knowledge distillation: a loss for any fine-tuning, and ``distill.kd`` as a method."""
