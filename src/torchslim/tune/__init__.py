"""Methods that only train: the fair reference of a compression run (its baseline fine-tuned as long)."""
