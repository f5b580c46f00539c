import { useState } from "react";
import { App, Button, Card, Descriptions, Drawer, Space, Table, Typography } from "antd";
import { bk, get, post, qs } from "../api";
import { useLoad } from "../hooks";
import { useT } from "../i18n";
import { LoadError, num, StatusTag } from "./common";

interface Binding {
  result_table_id: string;
  storage_type: string;
  storage_cluster: string;
  physical_table_name: string;
  expires: string;
  status: string;
  status_message?: string;
  bk_biz_id: number;
}

interface StorageTask {
  status: string;
  status_message?: string;
  lag?: number;
  rows_written?: number;
  batches?: number;
  dead_letters?: number;
  records_in?: number;
  rows_out?: number;
  errors_total?: number;
  last_write_at?: string;
}

export function Storages() {
  const t = useT();
  const list = useLoad(() => get<Binding[]>("/v3/databus/data_storages/"), [], 5000);
  const [rt, setRt] = useState<string | null>(null);
  return (
    <Card title={t("Bindings")}>
      <LoadError error={list.error} />
      <Table<Binding>
        size="small"
        rowKey={(b) => `${b.result_table_id}/${b.storage_type}`}
        dataSource={list.data ?? []}
        loading={list.loading && !list.data}
        columns={[
          { title: t("Result table"), dataIndex: "result_table_id", render: (r) => <a href="#/storages" onClick={(e) => { e.preventDefault(); setRt(r); }}>{r}</a> },
          { title: t("Storage"), dataIndex: "storage_type" },
          { title: t("Cluster"), dataIndex: "storage_cluster" },
          { title: "table", dataIndex: "physical_table_name" },
          { title: "expires", dataIndex: "expires" },
          { title: t("Status"), dataIndex: "status", render: (s) => <StatusTag status={s} /> },
        ]}
      />
      <Drawer open={!!rt} width={760} onClose={() => setRt(null)} title={rt} destroyOnHidden>
        {rt && <Tasks rt={rt} onChanged={list.reload} />}
      </Drawer>
    </Card>
  );
}

function Tasks({ rt, onChanged }: { rt: string; onChanged: () => void }) {
  const t = useT();
  const { message } = App.useApp();
  const state = useLoad(() => get<{ status: string; storages: Record<string, StorageTask> }>(`/v3/databus/tasks/${rt}/`), [rt], 3000);
  const dead = useLoad(() => get<any[]>(`/v3/databus/tasks/${rt}/dead_letters/${qs({ limit: 50 })}`), [rt], 10000);
  const act = async (storage: string, start: boolean) => {
    try {
      if (start) await post("/v3/databus/tasks/", { result_table_id: rt, storages: [storage] });
      else await bk("DELETE", `/v3/databus/tasks/${rt}/${qs({ storages: storage })}`);
      state.reload();
      onChanged();
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <LoadError error={state.error} />
      {Object.entries(state.data?.storages ?? {}).map(([name, s]) => (
        <Card
          key={name}
          size="small"
          title={
            <Space>
              {name} <StatusTag status={s.status} />
            </Space>
          }
          extra={
            name === "kafka" ? null : s.status === "running" ? (
              <Button size="small" onClick={() => act(name, false)}>{t("Stop")}</Button>
            ) : (
              <Button size="small" onClick={() => act(name, true)}>{t("Start")}</Button>
            )
          }
        >
          <Descriptions size="small" column={3}>
            {name === "kafka" ? (
              <>
                <Descriptions.Item label={t("Rows in")}>{num(s.records_in)}</Descriptions.Item>
                <Descriptions.Item label={t("Rows out")}>{num(s.rows_out)}</Descriptions.Item>
                <Descriptions.Item label={t("Bad")}>{num(s.errors_total)}</Descriptions.Item>
              </>
            ) : (
              <>
                <Descriptions.Item label={t("Rows written")}>
                  <span data-testid={`rows-written-${name}`}>{num(s.rows_written)}</span>
                </Descriptions.Item>
                <Descriptions.Item label="batches">{num(s.batches)}</Descriptions.Item>
                <Descriptions.Item label={t("Dead letters")}>{num(s.dead_letters)}</Descriptions.Item>
              </>
            )}
            <Descriptions.Item label={t("Lag")}>{num(s.lag)}</Descriptions.Item>
            {s.last_write_at && <Descriptions.Item label="last write">{s.last_write_at}</Descriptions.Item>}
          </Descriptions>
          {s.status_message && <Typography.Text type="secondary">{s.status_message}</Typography.Text>}
        </Card>
      ))}
      <Card size="small" title={t("Dead letters")}>
        <Table
          size="small"
          rowKey={(_, i) => String(i)}
          dataSource={dead.data ?? []}
          columns={[
            { title: t("Storage"), dataIndex: "storage_type", width: 100 },
            { title: t("Error"), dataIndex: "error" },
            { title: "document", dataIndex: "document", render: (r) => <Typography.Text code style={{ fontSize: 12 }}>{JSON.stringify(r).slice(0, 160)}</Typography.Text> },
          ]}
        />
      </Card>
    </Space>
  );
}
