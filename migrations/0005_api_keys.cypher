// API keys (hashed secrets) looked up by their public id on every authenticated request.
CREATE CONSTRAINT api_key_id_unique IF NOT EXISTS FOR (k:ApiKey) REQUIRE k.key_id IS UNIQUE;
