"""Model side of the Interest Graph Service: embeddings, training, evaluation, registry.

``ml.data`` (numpy only) is the exchange format with the graph side; the rest uses torch.
Only torch / torch_geometric / numpy / scipy are imported here, never the database or web layers.
"""
