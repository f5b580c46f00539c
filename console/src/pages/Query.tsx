import { useState } from "react";
import { Alert, Button, Card, Col, Input, List, Row, Select, Space, Table, Tabs, Typography } from "antd";
import { get, post } from "../api";
import { useLoad } from "../hooks";
import { useT } from "../i18n";
import { LineChart } from "./LineChart";

interface Answer {
  list: Record<string, unknown>[];
  select_fields_order: string[];
  total_records?: number;
  timetaken?: number;
  device?: string;
}

export function QueryPage() {
  const t = useT();
  const tables = useLoad(() => get<any[]>("/v3/meta/result_tables/"), []);
  const [sql, setSql] = useState("");
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [x, setX] = useState<string | undefined>();
  const [ys, setYs] = useState<string[]>([]);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      const a = await post<Answer>("/v3/dataquery/query/", { sql });
      setAnswer(a);
      const cols = a.select_fields_order;
      const numeric = cols.filter((c) => a.list.some((r) => typeof r[c] === "number"));
      setX(cols.find((c) => !numeric.includes(c)) ?? cols[0]);
      setYs(numeric.slice(0, 3));
    } catch (e) {
      setAnswer(null);
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const cols = answer?.select_fields_order ?? [];
  return (
    <Row gutter={16}>
      <Col span={5}>
        <Card size="small" title={t("Readable result tables")} styles={{ body: { maxHeight: "75vh", overflow: "auto" } }}>
          <List
            size="small"
            dataSource={tables.data ?? []}
            renderItem={(r) => (
              <List.Item style={{ cursor: "pointer" }} onClick={() => setSql(`SELECT * FROM ${r.result_table_id} LIMIT 100`)}>
                <Typography.Text style={{ fontSize: 12 }}>{r.result_table_id}</Typography.Text>
              </List.Item>
            )}
          />
        </Card>
      </Col>
      <Col span={19}>
        <Card size="small" title={t("Query")}>
          <Input.TextArea
            rows={4}
            value={sql}
            onChange={(e) => setSql(e.target.value)}
            style={{ fontFamily: "monospace" }}
            data-testid="query-sql"
            placeholder="SELECT ip, max(cpu_usage_pct) FROM 591_system_proc GROUP BY ip"
          />
          <Space style={{ marginTop: 8 }}>
            <Button type="primary" onClick={run} loading={busy} disabled={!sql.trim()} data-testid="query-run">
              {t("Run")}
            </Button>
            {answer && (
              <Typography.Text type="secondary" data-testid="query-count">
                {answer.list.length} {t("Rows")}
                {answer.device ? ` · ${answer.device}` : ""}
                {answer.timetaken !== undefined ? ` · ${answer.timetaken}s` : ""}
              </Typography.Text>
            )}
          </Space>
          {error && <Alert style={{ marginTop: 8 }} type="error" showIcon message={error} data-testid="query-error" />}
        </Card>
        {answer && (
          <Card size="small" style={{ marginTop: 12 }}>
            <Tabs
              items={[
                {
                  key: "table",
                  label: t("Table"),
                  children: (
                    <Table
                      size="small"
                      rowKey={(_, i) => String(i)}
                      dataSource={answer.list}
                      scroll={{ x: true }}
                      data-testid="query-table"
                      columns={cols.map((c) => ({ title: c, dataIndex: c, render: (v: unknown) => (typeof v === "object" ? JSON.stringify(v) : String(v ?? "")) }))}
                    />
                  ),
                },
                {
                  key: "chart",
                  label: t("Chart"),
                  children: (
                    <>
                      <Space style={{ marginBottom: 8 }}>
                        {t("X axis")}
                        <Select value={x} onChange={setX} style={{ width: 160 }} options={cols.map((c) => ({ value: c, label: c }))} />
                        {t("Y axis")}
                        <Select mode="multiple" value={ys} onChange={setYs} style={{ minWidth: 260 }} options={cols.map((c) => ({ value: c, label: c }))} />
                      </Space>
                      {x && <LineChart rows={answer.list} x={x} ys={ys} />}
                    </>
                  ),
                },
              ]}
            />
          </Card>
        )}
      </Col>
    </Row>
  );
}
