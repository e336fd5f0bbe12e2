"""Image generation as a task: a generator trained adversarially, compressed by the registered methods
(fine-tuned by distilling from the original generator on the same latents), scored by FID and KID in a
named classifier's feature space."""
