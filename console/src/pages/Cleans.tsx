import { useState } from "react";
import { App, Button, Card, Drawer, Form, Input, InputNumber, Space, Table, Typography } from "antd";
import { bk, get, post, qs } from "../api";
import { useLoad } from "../hooks";
import { useT } from "../i18n";
import { LoadError, num, StatusTag } from "./common";
import { ConfigTabs, type Node } from "./CleanEditor";

interface Clean {
  processing_id: string;
  result_table_id: string;
  raw_data_id: number;
  bk_biz_id: number;
  clean_config_name: string;
  json_config: string;
  status: string;
  status_message: string;
  records_in: number;
  rows_out: number;
  errors_total: number;
  result_table?: { fields?: { field_name: string; field_type: string }[] };
}

const DEFAULT_CONF = { time_field_name: "localTime", output_field_name: "timestamp", time_format: "yyyy-MM-dd HH:mm:ss", timestamp_len: 0, timezone: 8 };

export function Cleans() {
  const t = useT();
  const { message } = App.useApp();
  const list = useLoad(() => get<Clean[]>("/v3/databus/cleans/"), [], 5000);
  const [open, setOpen] = useState<Clean | "new" | null>(null);
  const act = async (c: Clean, what: "start" | "stop") => {
    try {
      await post(`/v3/databus/cleans/${c.processing_id}/${what}/`);
      list.reload();
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  return (
    <Card
      title={t("Cleans")}
      extra={
        <Button type="primary" onClick={() => setOpen("new")} data-testid="new-clean">
          {t("New clean")}
        </Button>
      }
    >
      <LoadError error={list.error} />
      <Table<Clean>
        rowKey="processing_id"
        size="small"
        dataSource={list.data ?? []}
        loading={list.loading && !list.data}
        columns={[
          { title: "processing_id", dataIndex: "processing_id", render: (p, c) => <a href="#/cleans" onClick={(e) => { e.preventDefault(); setOpen(c); }}>{p}</a> },
          { title: t("Raw data"), dataIndex: "raw_data_id", width: 90 },
          { title: t("Rows in"), dataIndex: "records_in", render: num, align: "right" },
          { title: t("Rows out"), dataIndex: "rows_out", render: num, align: "right" },
          { title: t("Bad"), dataIndex: "errors_total", render: num, align: "right" },
          {
            title: t("Status"),
            dataIndex: "status",
            render: (s, c) => (
              <Space direction="vertical" size={0}>
                <StatusTag status={s} />
                {c.status_message && <Typography.Text type="secondary" style={{ fontSize: 12 }}>{c.status_message}</Typography.Text>}
              </Space>
            ),
          },
          {
            title: t("Actions"),
            render: (_, c) => (
              <Space>
                {c.status === "started" ? (
                  <Button size="small" onClick={() => act(c, "stop")}>{t("Stop")}</Button>
                ) : (
                  <Button size="small" onClick={() => act(c, "start")} data-testid={`start-${c.processing_id}`}>{t("Start")}</Button>
                )}
              </Space>
            ),
          },
        ]}
      />
      <Drawer open={!!open} width="80%" onClose={() => setOpen(null)} title={open === "new" ? t("New clean") : open?.processing_id} destroyOnHidden>
        {open && <CleanDetail clean={open === "new" ? null : open} onSaved={() => { setOpen(null); list.reload(); }} />}
      </Drawer>
    </Card>
  );
}

function CleanDetail({ clean, onSaved }: { clean: Clean | null; onSaved: () => void }) {
  const t = useT();
  const { message } = App.useApp();
  const parsed = clean ? safeParse(clean.json_config) : null;
  const [tree, setTree] = useState<Node | null>(parsed?.extract ?? null);
  const [conf, setConf] = useState<Node>(parsed?.conf ?? DEFAULT_CONF);
  const [form] = Form.useForm();
  const errors = useLoad(
    () => (clean ? get<any[]>(`/v3/databus/cleans/list_errors/${qs({ processing_id: clean.processing_id, limit: 20 })}`) : Promise.resolve([])),
    [clean?.processing_id],
    clean ? 5000 : 0,
  );
  const create = async () => {
    const v = await form.validateFields();
    try {
      const fields = (v.fields as string)
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean)
        .map((l, i) => {
          const [field_name, field_type = "string"] = l.split(/[:\s]+/);
          return { field_name, field_type, field_alias: field_name, is_dimension: false, field_index: i + 1 };
        });
      await post("/v3/databus/cleans/", {
        raw_data_id: v.raw_data_id,
        bk_biz_id: v.bk_biz_id,
        result_table_name: v.result_table_name,
        clean_config_name: v.result_table_name,
        json_config: JSON.stringify({ extract: tree, conf }),
        fields,
      });
      message.success(t("Changes saved"));
      onSaved();
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  const save = async () => {
    if (!clean) return;
    try {
      // The fields stay as they are; the result table's name cannot change.
      await bk("PUT", `/v3/databus/cleans/${clean.processing_id}/`, { json_config: JSON.stringify({ extract: tree, conf }) });
      message.success(t("Changes saved"));
      onSaved();
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      {clean && (
        <Space>
          <Button type="primary" onClick={save} data-testid="clean-save">
            {t("Save")}
          </Button>
        </Space>
      )}
      {!clean && (
        <Form form={form} layout="inline" style={{ rowGap: 8 }}>
          <Form.Item name="raw_data_id" label={t("Raw data")} rules={[{ required: true }]}>
            <InputNumber min={1} />
          </Form.Item>
          <Form.Item name="bk_biz_id" label={t("Biz")} rules={[{ required: true }]}>
            <InputNumber min={1} />
          </Form.Item>
          <Form.Item name="result_table_name" label={t("Result table")} rules={[{ required: true }]}>
            <Input />
          </Form.Item>
          <Form.Item name="fields" label={t("Fields")} rules={[{ required: true }]} tooltip="name:type, one a line">
            <Input.TextArea rows={2} style={{ width: 240 }} />
          </Form.Item>
          <Button type="primary" onClick={create}>
            {t("Create")}
          </Button>
        </Form>
      )}
      <ConfigTabs tree={tree} conf={conf} onChange={(tr, c) => { setTree(tr); setConf(c); }} />
      {clean && (
        <Card size="small" title={t("Recent bad records")}>
          <Table
            size="small"
            rowKey={(_, i) => String(i)}
            dataSource={errors.data ?? []}
            columns={[
              { title: "time", dataIndex: "created_at", width: 170 },
              { title: t("Node"), dataIndex: "node_label", width: 90 },
              { title: t("Error"), dataIndex: "error_name", render: (n, r: any) => <Typography.Text type="danger">{n}: {r.error_message}</Typography.Text> },
              { title: t("Raw data"), dataIndex: "raw_record", render: (m) => <Typography.Text code style={{ fontSize: 12 }}>{String(m ?? "").slice(0, 200)}</Typography.Text> },
            ]}
          />
        </Card>
      )}
    </Space>
  );
}

function safeParse(s: string): { extract?: Node; conf?: Node } | null {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}
