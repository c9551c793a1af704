// Item text vectors (all-MiniLM-L6-v2, 384 dimensions, unit length) for semantic search:
// written by `interest-graph embed-text` and the worker, queried by GET /api/v1/items/search.
CREATE VECTOR INDEX item_text_embedding IF NOT EXISTS
FOR (i:Item) ON i.text_embedding
OPTIONS {indexConfig: {`vector.dimensions`: 384, `vector.similarity_function`: 'cosine'}};
