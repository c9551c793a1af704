// Key-phrase tags: (:Item)-[:HAS_TAG]->(:Tag) and (:User)-[:INTERESTED_IN]->(:Tag), written by
// `interest-graph tags` and the worker. The tag's normalised phrase is its key.
CREATE CONSTRAINT tag_id_unique IF NOT EXISTS FOR (t:Tag) REQUIRE t.tag_id IS UNIQUE;
