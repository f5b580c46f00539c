import { useState } from "react";
import { App, Button, Card, Col, Form, Input, InputNumber, List, Modal, Row, Space, Table, Typography } from "antd";
import { get, post, bk, qs } from "../api";
import { useLoad } from "../hooks";
import { useT } from "../i18n";
import { LoadError, num, StatusTag } from "./common";

interface Raw {
  raw_data_id: number;
  raw_data_name: string;
  bk_biz_id: number;
  description: string;
  records_ingested: number;
  last_ingest_at?: string;
  status: string;
  topic: string;
}

export function RawData() {
  const t = useT();
  const { message } = App.useApp();
  const list = useLoad(() => get<Raw[]>("/v3/access/rawdata/"), [], 5000);
  const [creating, setCreating] = useState(false);
  const [picked, setPicked] = useState<Raw | null>(null);
  const [form] = Form.useForm();
  const create = async () => {
    const v = await form.validateFields();
    try {
      const made = await post<Raw>("/v3/access/rawdata/", {
        bk_biz_id: v.bk_biz_id,
        raw_data_name: v.raw_data_name,
        description: v.description ?? "",
        storage_partitions: v.storage_partitions ?? 1,
      });
      setCreating(false);
      form.resetFields();
      message.success(`raw data ${made.raw_data_id}`);
      list.reload();
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  return (
    <Row gutter={16}>
      <Col span={picked ? 12 : 24}>
        <Card
          title={t("Raw data")}
          extra={
            <Button type="primary" onClick={() => setCreating(true)} data-testid="new-rawdata">
              {t("New raw data")}
            </Button>
          }
        >
          <LoadError error={list.error} />
          <Table<Raw>
            rowKey="raw_data_id"
            size="small"
            dataSource={list.data ?? []}
            loading={list.loading && !list.data}
            onRow={(r) => ({ onClick: () => setPicked(r), style: { cursor: "pointer" } })}
            columns={[
              { title: "ID", dataIndex: "raw_data_id", width: 70 },
              { title: t("Name"), dataIndex: "raw_data_name" },
              { title: t("Biz"), dataIndex: "bk_biz_id", width: 70 },
              { title: t("Accepted"), dataIndex: "records_ingested", render: num, align: "right" },
              { title: t("Status"), dataIndex: "status", render: (s) => <StatusTag status={s} /> },
            ]}
          />
        </Card>
      </Col>
      {picked && (
        <Col span={12}>
          <RawDetail raw={picked} onIngested={list.reload} />
        </Col>
      )}
      <Modal open={creating} title={t("New raw data")} onOk={create} onCancel={() => setCreating(false)} okText={t("Create")}>
        <Form form={form} layout="vertical">
          <Form.Item name="bk_biz_id" label={t("Biz")} rules={[{ required: true }]}>
            <InputNumber min={1} style={{ width: "100%" }} />
          </Form.Item>
          <Form.Item name="raw_data_name" label={t("Name")} rules={[{ required: true, pattern: /^[a-zA-Z][a-zA-Z0-9_]*$/ }]}>
            <Input />
          </Form.Item>
          <Form.Item name="description" label={t("Description")}>
            <Input />
          </Form.Item>
          <Form.Item name="storage_partitions" label={t("Partitions")}>
            <InputNumber min={1} max={64} placeholder="1" style={{ width: "100%" }} />
          </Form.Item>
        </Form>
      </Modal>
    </Row>
  );
}

function RawDetail({ raw, onIngested }: { raw: Raw; onIngested: () => void }) {
  const t = useT();
  const [text, setText] = useState("");
  const [result, setResult] = useState<string | null>(null);
  const tail = useLoad(
    () => get<{ value: string }[]>(`/v3/databus/rawdatas/${raw.raw_data_id}/tail/${qs({ limit: 20 })}`),
    [raw.raw_data_id],
    3000,
  );
  const ingest = async () => {
    try {
      const r = await bk("POST", `/v3/databus/rawdatas/${raw.raw_data_id}/ingest/`, text);
      setResult(`${t("Accepted")}: ${r.records}`);
      onIngested();
      tail.reload();
    } catch (e) {
      setResult((e as Error).message);
    }
  };
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Card title={`${raw.raw_data_name} (${raw.raw_data_id}) — ${t("Ingest sample records")}`} size="small">
        <Input.TextArea
          rows={6}
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder={t("One record a line (JSON), or a JSON array")}
          data-testid="ingest-text"
          style={{ fontFamily: "monospace" }}
        />
        <Space style={{ marginTop: 8 }}>
          <Button type="primary" onClick={ingest} disabled={!text.trim()} data-testid="ingest">
            {t("Ingest")}
          </Button>
          {result && <Typography.Text data-testid="ingest-result">{result}</Typography.Text>}
        </Space>
      </Card>
      <Card title={t("Live tail")} size="small">
        <LoadError error={tail.error} />
        <List
          size="small"
          dataSource={tail.data ?? []}
          renderItem={(r) => (
            <List.Item>
              <Typography.Text code style={{ fontSize: 12, wordBreak: "break-all" }}>
                {r.value}
              </Typography.Text>
            </List.Item>
          )}
        />
      </Card>
    </Space>
  );
}
