import { useState } from "react";
import { App, Button, Card, Form, Input, Modal, Select, Space, Table, Upload } from "antd";
import { get, post } from "../api";
import { useLoad } from "../hooks";
import { useT } from "../i18n";
import { LoadError, StatusTag } from "./common";

export interface Flow {
  flow_id: number;
  flow_name: string;
  project_id: number;
  status: string;
  updated_at?: string;
  created_by: string;
}

export interface Project {
  project_id: number;
  project_name: string;
  bk_biz_id?: number;
}

export function Flows() {
  const t = useT();
  const { message } = App.useApp();
  const flows = useLoad(() => get<Flow[]>("/v3/dataflow/flow/flows/"), [], 5000);
  const projects = useLoad(() => get<Project[]>("/v3/meta/projects/"), []);
  const [creating, setCreating] = useState(false);
  const [form] = Form.useForm();
  const newFlow = async () => {
    const v = await form.validateFields();
    setCreating(false);
    window.location.hash = `/flows/new?project=${v.project_id}&name=${encodeURIComponent(v.flow_name)}`;
  };
  const importFlow = async (file: File) => {
    try {
      const body = JSON.parse(await file.text());
      const made = await post<{ flow_id: number }>("/v3/dataflow/flow/flows/create/", body);
      message.success(`flow ${made.flow_id}`);
      flows.reload();
    } catch (e) {
      message.error((e as Error).message);
    }
    return false;
  };
  return (
    <Card
      title={t("Flows")}
      extra={
        <Space>
          <Upload accept=".json" showUploadList={false} beforeUpload={importFlow}>
            <Button data-testid="import-flow">{t("Import")}</Button>
          </Upload>
          <Button type="primary" onClick={() => setCreating(true)} data-testid="new-flow">
            {t("New flow")}
          </Button>
        </Space>
      }
    >
      <LoadError error={flows.error} />
      <Table<Flow>
        size="small"
        rowKey="flow_id"
        dataSource={flows.data ?? []}
        loading={flows.loading && !flows.data}
        pagination={{ pageSize: 20 }}
        columns={[
          { title: "ID", dataIndex: "flow_id", width: 70 },
          { title: t("Name"), dataIndex: "flow_name", render: (n, f) => <a href={`#/flows/${f.flow_id}`}>{n}</a> },
          {
            title: t("Project"),
            dataIndex: "project_id",
            render: (p) => projects.data?.find((x) => x.project_id === p)?.project_name ?? p,
          },
          { title: t("Status"), dataIndex: "status", render: (s) => <StatusTag status={s} /> },
          { title: "updated", dataIndex: "updated_at" },
        ]}
      />
      <Modal open={creating} title={t("New flow")} onOk={newFlow} onCancel={() => setCreating(false)} okText={t("Open")}>
        <Form form={form} layout="vertical">
          <Form.Item name="project_id" label={t("Project")} rules={[{ required: true }]}>
            <Select
              data-testid="flow-project"
              options={(projects.data ?? []).map((p) => ({ value: p.project_id, label: `${p.project_name} (${p.project_id})` }))}
            />
          </Form.Item>
          <Form.Item name="flow_name" label={t("Name")} rules={[{ required: true }]}>
            <Input data-testid="flow-name" />
          </Form.Item>
        </Form>
      </Modal>
    </Card>
  );
}
