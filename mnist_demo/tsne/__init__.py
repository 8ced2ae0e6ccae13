"""t-SNE: the embedding algorithms, their cache, and the live map during training."""
