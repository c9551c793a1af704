"""Training orchestration: read a snapshot, train, evaluate, register and write back a version."""
