// Two embedding slots (graphdb/slots.py): a version is written into the slot the served one
// does not use, then one small transaction flips the (:ModelVersion {active}) pointer, so no
// transaction grows with the number of vectors. Each slot has its own vector indexes
// (migration 0009's settings) and a range index on its version stamp, which finds the
// values a write-back clears from the slot it reuses.
CREATE VECTOR INDEX user_embedding_a IF NOT EXISTS
FOR (n:User) ON n.embedding_a
OPTIONS {indexConfig: {
  `vector.dimensions`: 64, `vector.similarity_function`: 'cosine',
  `vector.quantization.enabled`: false, `vector.hnsw.m`: 16, `vector.hnsw.ef_construction`: 64
}};
CREATE VECTOR INDEX item_embedding_a IF NOT EXISTS
FOR (n:Item) ON n.embedding_a
OPTIONS {indexConfig: {
  `vector.dimensions`: 64, `vector.similarity_function`: 'cosine',
  `vector.quantization.enabled`: false, `vector.hnsw.m`: 16, `vector.hnsw.ef_construction`: 64
}};
CREATE VECTOR INDEX user_embedding_b IF NOT EXISTS
FOR (n:User) ON n.embedding_b
OPTIONS {indexConfig: {
  `vector.dimensions`: 64, `vector.similarity_function`: 'cosine',
  `vector.quantization.enabled`: false, `vector.hnsw.m`: 16, `vector.hnsw.ef_construction`: 64
}};
CREATE VECTOR INDEX item_embedding_b IF NOT EXISTS
FOR (n:Item) ON n.embedding_b
OPTIONS {indexConfig: {
  `vector.dimensions`: 64, `vector.similarity_function`: 'cosine',
  `vector.quantization.enabled`: false, `vector.hnsw.m`: 16, `vector.hnsw.ef_construction`: 64
}};
CREATE INDEX user_embedding_version_a IF NOT EXISTS FOR (n:User) ON (n.embedding_version_a);
CREATE INDEX item_embedding_version_a IF NOT EXISTS FOR (n:Item) ON (n.embedding_version_a);
CREATE INDEX user_embedding_version_b IF NOT EXISTS FOR (n:User) ON (n.embedding_version_b);
CREATE INDEX item_embedding_version_b IF NOT EXISTS FOR (n:Item) ON (n.embedding_version_b);
CALL db.awaitIndexes(300);
// The served version's vectors move from `embedding` into slot a, in batches (an auto-commit
// statement, graphdb/migrations.py), before the pointer names the slot: until then readers
// of the new code find no slot and serve no vectors, never another version's.
:auto MATCH (m:ModelVersion {active: true})
MATCH (n:User) WHERE n.embedding_version = m.version AND n.embedding IS NOT NULL
CALL (n, m) {
  CALL db.create.setNodeVectorProperty(n, 'embedding_a', n.embedding)
  SET n.embedding_version_a = m.version,
      n.embedding_updated_at_a = coalesce(n.embedding_updated_at, datetime())
} IN TRANSACTIONS OF 5000 ROWS;
:auto MATCH (m:ModelVersion {active: true})
MATCH (n:Item) WHERE n.embedding_version = m.version AND n.embedding IS NOT NULL
CALL (n, m) {
  CALL db.create.setNodeVectorProperty(n, 'embedding_a', n.embedding)
  SET n.embedding_version_a = m.version,
      n.embedding_updated_at_a = coalesce(n.embedding_updated_at, datetime())
} IN TRANSACTIONS OF 5000 ROWS;
MATCH (m:ModelVersion {active: true}) WHERE m.slot IS NULL
SET m.slot = 'a';
// The old single-slot layout goes: its indexes, then its properties (the staging ones too).
DROP INDEX user_embedding IF EXISTS;
DROP INDEX item_embedding IF EXISTS;
DROP INDEX user_staged_version IF EXISTS;
DROP INDEX item_staged_version IF EXISTS;
:auto MATCH (n:User)
WHERE n.embedding IS NOT NULL OR n.embedding_version IS NOT NULL OR n.staged_version IS NOT NULL
   OR n.embedding_staged IS NOT NULL OR n.embedding_updated_at IS NOT NULL
CALL (n) {
  REMOVE n.embedding, n.embedding_version, n.embedding_updated_at, n.embedding_staged,
         n.staged_version
} IN TRANSACTIONS OF 5000 ROWS;
:auto MATCH (n:Item)
WHERE n.embedding IS NOT NULL OR n.embedding_version IS NOT NULL OR n.staged_version IS NOT NULL
   OR n.embedding_staged IS NOT NULL OR n.embedding_updated_at IS NOT NULL
CALL (n) {
  REMOVE n.embedding, n.embedding_version, n.embedding_updated_at, n.embedding_staged,
         n.staged_version
} IN TRANSACTIONS OF 5000 ROWS;
