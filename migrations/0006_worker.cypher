// `interest-graph worker`: one lease node per lease name, held by at most one worker
// process at a time (taken over once its holder stops renewing it).
CREATE CONSTRAINT worker_lease_name_unique IF NOT EXISTS FOR (l:WorkerLease) REQUIRE l.name IS UNIQUE;
// Refresh runs (incremental or full), requested through the API or started by the schedule.
CREATE CONSTRAINT refresh_run_id_unique IF NOT EXISTS FOR (r:RefreshRun) REQUIRE r.id IS UNIQUE;
// Retention deletes by start time; listings go newest first by request time.
CREATE INDEX refresh_run_started_at IF NOT EXISTS FOR (r:RefreshRun) ON (r.started_at);
CREATE INDEX refresh_run_requested_at IF NOT EXISTS FOR (r:RefreshRun) ON (r.requested_at);
// The worker claims the oldest queued run; /metrics reads runs finished since its last scrape.
CREATE INDEX refresh_run_status IF NOT EXISTS FOR (r:RefreshRun) ON (r.status);
CREATE INDEX refresh_run_finished_at IF NOT EXISTS FOR (r:RefreshRun) ON (r.finished_at);
