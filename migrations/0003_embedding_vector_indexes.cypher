// Vector indexes for the GNN embeddings written back by `interest-graph train`.
// 64 dimensions matches the default model; a model of another size needs a new migration.
CREATE VECTOR INDEX user_embedding IF NOT EXISTS
FOR (u:User) ON u.embedding
OPTIONS {indexConfig: {`vector.dimensions`: 64, `vector.similarity_function`: 'cosine'}};
CREATE VECTOR INDEX item_embedding IF NOT EXISTS
FOR (i:Item) ON i.embedding
OPTIONS {indexConfig: {`vector.dimensions`: 64, `vector.similarity_function`: 'cosine'}};
