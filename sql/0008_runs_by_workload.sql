-- Like with like: an answer with no source named covers the measured sources when they hold
-- runs, else the simulated one. Which workloads hold runs is one probe per workload.
CREATE INDEX runs_workload_idx ON runs (workload_id, status);
