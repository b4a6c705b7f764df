// Type-checks the chart's Grafana dashboards against Grafana's own `Dashboard` schema
// (@grafana/schema). Run by tests/it/deploy.rs with `tsc -p tests/grafana`.
import type { Dashboard } from "@grafana/schema";
import rankings from "../../charts/llmrank/dashboards/llm-rankings.json";
import service from "../../charts/llmrank/dashboards/llmrank-service.json";

export const dashboards: Dashboard[] = [rankings, service];
