"""Running a local Neo4j server: fetching the distribution, starting and stopping it, offline
backups and the ``neo4j-admin`` bulk import. Data access lives one level up."""
