import { useState } from "react";
import { App, Button, Card, Descriptions, Input, Modal, Select, Space, Table, Tabs, Tag, Typography } from "antd";
import { get, post, qs } from "../api";
import { useLoad } from "../hooks";
import { useT } from "../i18n";
import { LoadError, StatusTag } from "./common";

interface Alert {
  id: string;
  alert_name: string;
  bk_biz_id: string;
  status: string;
  severity: number;
  begin_time: number;
  latest_time: number;
  event_count: number;
  is_ack: boolean;
  ack_operator?: string;
  dimensions: { key: string; value: unknown; display_key?: string; display_value?: unknown }[];
  event?: Record<string, unknown>;
}

const SEVERITY: Record<number, [string, string]> = { 1: ["fatal", "red"], 2: ["warning", "orange"], 3: ["remind", "blue"] };
const time = (s?: number) => (s ? new Date(s * 1000).toLocaleString() : "–");

export function Alerts({ alertId }: { alertId?: string }) {
  return alertId ? <AlertDetail id={alertId} /> : <AlertSearch />;
}

function AlertSearch() {
  const t = useT();
  const [filters, setFilters] = useState<{ status?: string[]; severity?: number[]; query?: string; bk_biz_id?: string }>({ status: ["ABNORMAL"] });
  const [page, setPage] = useState({ page: 1, page_size: 50 });
  const search = useLoad(
    () =>
      get<{ total: number; alerts: Alert[] }>(
        `/v3/alert/alerts/${qs({
          status: filters.status?.join(","),
          severity: filters.severity?.join(","),
          query: filters.query,
          bk_biz_id: filters.bk_biz_id,
          page: page.page,
          page_size: page.page_size,
          ordering: "-latest_time",
        })}`,
      ),
    [JSON.stringify(filters), page.page, page.page_size],
    10000,
  );
  return (
    <Card title={t("Alerts")}>
      <Space wrap style={{ marginBottom: 12 }}>
        <Select
          mode="multiple"
          style={{ minWidth: 220 }}
          value={filters.status}
          placeholder={t("Status")}
          onChange={(v) => { setFilters({ ...filters, status: v }); setPage({ ...page, page: 1 }); }}
          options={["ABNORMAL", "RECOVERED", "CLOSED"].map((s) => ({ value: s, label: s }))}
          data-testid="alert-status"
        />
        <Select
          mode="multiple"
          style={{ minWidth: 180 }}
          value={filters.severity}
          placeholder={t("Severity")}
          onChange={(v) => { setFilters({ ...filters, severity: v }); setPage({ ...page, page: 1 }); }}
          options={[1, 2, 3].map((s) => ({ value: s, label: SEVERITY[s][0] }))}
        />
        <Input placeholder={t("Biz")} style={{ width: 90 }} onBlur={(e) => setFilters({ ...filters, bk_biz_id: e.target.value || undefined })} />
        <Input.Search
          placeholder={t("Search")}
          style={{ width: 260 }}
          onSearch={(q) => { setFilters({ ...filters, query: q || undefined }); setPage({ ...page, page: 1 }); }}
          data-testid="alert-query"
        />
      </Space>
      <LoadError error={search.error} />
      <Table<Alert>
        size="small"
        rowKey="id"
        dataSource={search.data?.alerts ?? []}
        loading={search.loading && !search.data}
        pagination={{
          current: page.page,
          pageSize: page.page_size,
          total: search.data?.total ?? 0,
          showTotal: (n) => `${n}`,
          onChange: (p, s) => setPage({ page: p, page_size: s }),
        }}
        columns={[
          { title: "ID", dataIndex: "id", render: (id) => <a href={`#/alerts/${id}`}>{id}</a> },
          { title: t("Name"), dataIndex: "alert_name" },
          { title: t("Severity"), dataIndex: "severity", render: (s) => <Tag color={SEVERITY[s]?.[1]}>{SEVERITY[s]?.[0] ?? s}</Tag> },
          { title: t("Status"), dataIndex: "status", render: (s, a) => <Space><StatusTag status={s} />{a.is_ack && <Tag>ack</Tag>}</Space> },
          { title: t("Biz"), dataIndex: "bk_biz_id" },
          { title: t("Events"), dataIndex: "event_count", align: "right" },
          { title: t("Begin"), dataIndex: "begin_time", render: time },
          { title: t("Latest"), dataIndex: "latest_time", render: time },
        ]}
      />
    </Card>
  );
}

function AlertDetail({ id }: { id: string }) {
  const t = useT();
  const { message } = App.useApp();
  const alert = useLoad(() => get<Alert>(`/v3/alert/alerts/${id}/`), [id], 5000);
  const events = useLoad(() => get<any[]>(`/v3/alert/alerts/${id}/events/${qs({ limit: 200 })}`), [id], 10000);
  const logs = useLoad(() => get<any>(`/v3/alert/alerts/${id}/logs/`), [id], 5000);
  const [acting, setActing] = useState<"ack" | "close" | null>(null);
  const [note, setNote] = useState("");
  const act = async () => {
    try {
      await post(`/v3/alert/alerts/${id}/${acting}/`, { message: note });
      setActing(null);
      setNote("");
      alert.reload();
      logs.reload();
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  const a = alert.data;
  const logList: any[] = Array.isArray(logs.data) ? logs.data : logs.data?.logs ?? [];
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Card
        size="small"
        title={
          <Space>
            <a href="#/alerts">{t("Alerts")}</a> / {id} {a && <StatusTag status={a.status} />}
            {a?.is_ack && <Tag data-testid="alert-acked">ack · {a.ack_operator}</Tag>}
          </Space>
        }
        extra={
          a && (
            <Space>
              <Button onClick={() => setActing("ack")} disabled={a.is_ack || a.status !== "ABNORMAL"} data-testid="alert-ack">
                {t("Acknowledge")}
              </Button>
              <Button danger onClick={() => setActing("close")} disabled={a.status !== "ABNORMAL"} data-testid="alert-close">
                {t("Close")}
              </Button>
            </Space>
          )
        }
      >
        <LoadError error={alert.error} />
        {a && (
          <Descriptions size="small" column={3}>
            <Descriptions.Item label={t("Name")}>{a.alert_name}</Descriptions.Item>
            <Descriptions.Item label={t("Severity")}>{SEVERITY[a.severity]?.[0]}</Descriptions.Item>
            <Descriptions.Item label={t("Biz")}>{a.bk_biz_id}</Descriptions.Item>
            <Descriptions.Item label={t("Begin")}>{time(a.begin_time)}</Descriptions.Item>
            <Descriptions.Item label={t("Latest")}>{time(a.latest_time)}</Descriptions.Item>
            <Descriptions.Item label={t("Events")}>{a.event_count}</Descriptions.Item>
            <Descriptions.Item label="dimensions" span={3}>
              {(a.dimensions ?? []).map((d) => (
                <Tag key={d.key}>
                  {d.display_key ?? d.key}={String(d.display_value ?? d.value)}
                </Tag>
              ))}
            </Descriptions.Item>
          </Descriptions>
        )}
      </Card>
      <Card size="small">
        <Tabs
          items={[
            {
              key: "events",
              label: t("Events"),
              children: (
                <Table
                  size="small"
                  rowKey={(e: any, i) => e.event_id ?? String(i)}
                  dataSource={events.data ?? []}
                  columns={[
                    { title: "event_id", dataIndex: "event_id" },
                    { title: "time", dataIndex: "time", render: (v) => (typeof v === "number" ? time(v) : v) },
                    { title: t("Status"), dataIndex: "status" },
                    { title: "description", dataIndex: "description" },
                  ]}
                />
              ),
            },
            {
              key: "logs",
              label: t("Logs"),
              children: (
                <Table
                  size="small"
                  rowKey={(_, i) => String(i)}
                  dataSource={logList}
                  data-testid="alert-logs"
                  columns={[
                    { title: "time", dataIndex: "time", render: (v) => (typeof v === "number" ? time(v) : v) },
                    { title: "op_type", dataIndex: "op_type" },
                    { title: "operator", dataIndex: "operator" },
                    { title: "description", dataIndex: "description", render: (d) => <Typography.Text>{String(d ?? "")}</Typography.Text> },
                  ]}
                />
              ),
            },
          ]}
        />
      </Card>
      <Modal open={!!acting} title={acting === "ack" ? t("Acknowledge") : t("Close")} onOk={act} onCancel={() => setActing(null)}>
        <Input.TextArea rows={3} value={note} onChange={(e) => setNote(e.target.value)} data-testid="alert-note" />
      </Modal>
    </Space>
  );
}
