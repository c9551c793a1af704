// An erasure leaves a tombstone keyed by a hash of the user id, so API workers can drop the
// list they ranked for that user in advance; the worker's upkeep deletes tombstones after a day.
CREATE CONSTRAINT erasure_key IF NOT EXISTS FOR (e:Erasure) REQUIRE e.key IS UNIQUE;
CREATE INDEX erasure_at IF NOT EXISTS FOR (e:Erasure) ON (e.at);
