"""The scheduler worker process: incremental refresh, the live graph, tagging and the text
index, each job under a lease in Neo4j."""
