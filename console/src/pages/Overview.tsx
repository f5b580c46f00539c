// Workers and their jobs, and the caller's cleans, shippers and flows with their counters, lag
// and failures: one call (`GET /v3/platform/overview/`) so the page stays quick with many objects.
import { Card, Col, Row, Space, Statistic, Table, Tag, Typography } from "antd";
import { get } from "../api";
import { useLoad } from "../hooks";
import { useT } from "../i18n";
import { LoadError, num, StatusTag } from "./common";

interface Overview {
  workers: { worker_id: string; hostname: string; pid: number; started_at: string; last_seen_at: string; alive: boolean; jobs: Record<string, number> }[];
  cleans: { processing_id: string; result_table_id: string; status: string; status_message: string; records_in: number; rows_out: number; errors_total: number; lag?: number | null }[];
  shippers: { result_table_id: string; storage_type: string; status: string; status_message: string; rows_written: number; dead_letters: number; lag?: number | null }[];
  flows: { flow_id: number; flow_name: string; status: string; rows_in: number; rows_out: number; late_rows: number; windows: number; failed_nodes: string[] }[];
  failures: { kind: string; id: string; message: string; at?: string }[];
}

export function Overview() {
  const t = useT();
  const o = useLoad(() => get<Overview>("/v3/platform/overview/"), [], 3000);
  const d = o.data;
  const alive = d?.workers.filter((w) => w.alive) ?? [];
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <LoadError error={o.error} />
      <Row gutter={16}>
        <Col span={6}><Card size="small"><Statistic title={t("Workers")} value={alive.length} suffix={`/ ${d?.workers.length ?? 0}`} /></Card></Col>
        <Col span={6}><Card size="small"><Statistic title={t("Cleans")} value={d?.cleans.length ?? 0} /></Card></Col>
        <Col span={6}><Card size="small"><Statistic title={t("DataFlow")} value={d?.flows.length ?? 0} /></Card></Col>
        <Col span={6}><Card size="small"><Statistic title={t("Failures")} value={d?.failures.length ?? 0} valueStyle={{ color: d?.failures.length ? "#ea3636" : undefined }} /></Card></Col>
      </Row>
      <Card size="small" title={t("Workers")}>
        <Table
          size="small"
          rowKey="worker_id"
          pagination={false}
          dataSource={d?.workers ?? []}
          columns={[
            { title: t("Worker"), dataIndex: "worker_id" },
            { title: t("Host"), dataIndex: "hostname", render: (h, w) => `${h} (pid ${w.pid})` },
            { title: t("Status"), dataIndex: "alive", render: (a) => <Tag color={a ? "green" : "default"}>{a ? t("alive") : t("gone")}</Tag> },
            { title: t("Last seen"), dataIndex: "last_seen_at" },
            {
              title: t("Running jobs"),
              dataIndex: "jobs",
              render: (j: Record<string, number>) => Object.entries(j).map(([k, n]) => <Tag key={k}>{k} × {n}</Tag>),
            },
          ]}
        />
      </Card>
      {!!d?.failures.length && (
        <Card size="small" title={t("Failures")}>
          <Table
            size="small"
            rowKey={(f) => `${f.kind}/${f.id}`}
            pagination={false}
            dataSource={d.failures}
            columns={[
              { title: t("Type"), dataIndex: "kind", width: 100 },
              { title: "ID", dataIndex: "id", width: 220 },
              { title: t("Error"), dataIndex: "message", render: (m) => <Typography.Text type="danger">{m}</Typography.Text> },
              { title: "at", dataIndex: "at", width: 180 },
            ]}
          />
        </Card>
      )}
      <Card size="small" title={`${t("Throughput and lag")} · ${t("Cleans")}`}>
        <Table
          size="small"
          rowKey="processing_id"
          dataSource={d?.cleans ?? []}
          columns={[
            { title: "processing_id", dataIndex: "processing_id" },
            { title: t("Status"), dataIndex: "status", render: (s) => <StatusTag status={s} /> },
            { title: t("Rows in"), dataIndex: "records_in", align: "right", render: num },
            { title: t("Rows out"), dataIndex: "rows_out", align: "right", render: num },
            { title: t("Bad"), dataIndex: "errors_total", align: "right", render: num },
            { title: t("Lag"), dataIndex: "lag", align: "right", render: num },
          ]}
        />
      </Card>
      <Card size="small" title={`${t("Throughput and lag")} · ${t("Storages")}`}>
        <Table
          size="small"
          rowKey={(s) => `${s.result_table_id}/${s.storage_type}`}
          dataSource={d?.shippers ?? []}
          columns={[
            { title: t("Result table"), dataIndex: "result_table_id" },
            { title: t("Storage"), dataIndex: "storage_type" },
            { title: t("Status"), dataIndex: "status", render: (s) => <StatusTag status={s} /> },
            { title: t("Rows written"), dataIndex: "rows_written", align: "right", render: num },
            { title: t("Dead letters"), dataIndex: "dead_letters", align: "right", render: num },
            { title: t("Lag"), dataIndex: "lag", align: "right", render: num },
          ]}
        />
      </Card>
      <Card size="small" title={`${t("Throughput and lag")} · ${t("DataFlow")}`}>
        <Table
          size="small"
          rowKey="flow_id"
          dataSource={d?.flows ?? []}
          columns={[
            { title: t("Name"), dataIndex: "flow_name", render: (n, f) => <a href={`#/flows/${f.flow_id}`}>{n}</a> },
            { title: t("Status"), dataIndex: "status", render: (s) => <StatusTag status={s} /> },
            { title: t("Rows in"), dataIndex: "rows_in", align: "right", render: num },
            { title: t("Rows out"), dataIndex: "rows_out", align: "right", render: num },
            { title: t("Late"), dataIndex: "late_rows", align: "right", render: num },
            { title: t("Windows"), dataIndex: "windows", align: "right", render: num },
          ]}
        />
      </Card>
    </Space>
  );
}
