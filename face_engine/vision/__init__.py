"""Vision: images in, faces and embeddings out (detection, alignment, embedding, weights)."""
