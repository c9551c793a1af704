// Each API worker polls for keys revoked since its last look (twice a second), so a revocation
// reaches every worker's key cache within a second; the index keeps that poll one range seek.
CREATE INDEX api_key_revoked_at IF NOT EXISTS FOR (k:ApiKey) ON (k.revoked_at);
