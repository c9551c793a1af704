// Rebuild the GNN embedding vector indexes unquantized, with a cheaper HNSW build.
// Neo4j 5.26 quantizes vector indexes by default. On trained Gowalla embeddings the
// quantized index's similar-items query found 94.2 % of the true 20 nearest items; this
// one finds 99.1 %, at the same write-back cost (docs/benchmarks.md, "Embedding
// write-back"). On vectors whose spread falls fast across dimensions, the quantized index
// found fewer than two thirds (tests/graph/test_embeddings.py). ef_construction 64 (the
// default is 100) builds the graph faster for a little recall, which the query wins back by
// asking for more candidates. Dropping an index loses no data: the vectors stay on the
// nodes and the new index is populated from them.
DROP INDEX user_embedding IF EXISTS;
CREATE VECTOR INDEX user_embedding IF NOT EXISTS
FOR (u:User) ON u.embedding
OPTIONS {indexConfig: {
  `vector.dimensions`: 64, `vector.similarity_function`: 'cosine',
  `vector.quantization.enabled`: false, `vector.hnsw.m`: 16, `vector.hnsw.ef_construction`: 64
}};
DROP INDEX item_embedding IF EXISTS;
CREATE VECTOR INDEX item_embedding IF NOT EXISTS
FOR (i:Item) ON i.embedding
OPTIONS {indexConfig: {
  `vector.dimensions`: 64, `vector.similarity_function`: 'cosine',
  `vector.quantization.enabled`: false, `vector.hnsw.m`: 16, `vector.hnsw.ef_construction`: 64
}};
