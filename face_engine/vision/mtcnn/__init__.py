"""MTCNN: the nets, box arithmetic, patch cutting and the cascade that uses them."""
