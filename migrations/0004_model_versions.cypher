// Trained model versions; exactly one carries active = true once a write-back completed.
CREATE CONSTRAINT model_version_unique IF NOT EXISTS FOR (m:ModelVersion) REQUIRE m.version IS UNIQUE;
// Staged embeddings of a version being written are found by this property at the switch.
CREATE INDEX user_staged_version IF NOT EXISTS FOR (u:User) ON (u.staged_version);
CREATE INDEX item_staged_version IF NOT EXISTS FOR (i:Item) ON (i.staged_version);
