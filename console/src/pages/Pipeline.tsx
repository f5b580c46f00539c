// Seed 002's data pipeline tasks: create, execute (complete or one step), step status, live
// logs, the task folder (list, download, archive), and the monitor and stats pages.
import { useState } from "react";
import { App, Button, Card, Col, Descriptions, Form, Input, Modal, Row, Select, Space, Steps, Switch, Table, Tabs, Typography } from "antd";
import { download, pipe, qs } from "../api";
import { useLoad } from "../hooks";
import { useT } from "../i18n";
import { LoadError, StatusTag } from "./common";

const STEPS = ["ddl_generation", "qa_generation", "sql_validation", "training_load"];

export function Pipeline({ taskId }: { taskId?: string }) {
  return taskId ? <TaskDetail taskId={taskId} /> : <TaskList />;
}

function TaskList() {
  const t = useT();
  const { message } = App.useApp();
  const tasks = useLoad(() => pipe<{ tasks: any[]; total: number }>("GET", `/tasks${qs({ limit: 100 })}`), [], 5000);
  const dbs = useLoad(() => pipe<any>("GET", "/databases"), []);
  const [creating, setCreating] = useState(false);
  const [form] = Form.useForm();
  const create = async () => {
    const v = await form.validateFields();
    try {
      const made = await pipe<{ task_id: string }>("POST", "/tasks", v);
      setCreating(false);
      window.location.hash = `/pipeline/${made.task_id}`;
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  const dbList: any[] = Array.isArray(dbs.data) ? dbs.data : dbs.data?.databases ?? [];
  return (
    <Tabs
      items={[
        {
          key: "tasks",
          label: t("Tasks"),
          children: (
            <Card
              title={t("Pipeline tasks")}
              extra={
                <Button type="primary" onClick={() => setCreating(true)} data-testid="new-task">
                  {t("New task")}
                </Button>
              }
            >
              <LoadError error={tasks.error} />
              <Table
                size="small"
                rowKey="task_id"
                dataSource={tasks.data?.tasks ?? []}
                loading={tasks.loading && !tasks.data}
                columns={[
                  { title: "task_id", dataIndex: "task_id", render: (id) => <a href={`#/pipeline/${id}`}>{id}</a> },
                  { title: "business_context", dataIndex: "business_context" },
                  { title: "db_name", dataIndex: "db_name" },
                  { title: t("Status"), dataIndex: "status", render: (s) => <StatusTag status={s} /> },
                  { title: "created", dataIndex: "created_at" },
                ]}
              />
              <Modal open={creating} title={t("New task")} onOk={create} onCancel={() => setCreating(false)} okText={t("Create")}>
                <Form
                  form={form}
                  layout="vertical"
                  initialValues={{ table_list_file: "tables.txt", enable_sql_validation: true, enable_llm_repair: true, modify_original_file: true, enable_training_data_load: true }}
                >
                  <Form.Item name="table_list_file" label="table_list_file" rules={[{ required: true }]}>
                    <Input data-testid="task-table-list" />
                  </Form.Item>
                  <Form.Item name="business_context" label="business_context" rules={[{ required: true }]}>
                    <Input data-testid="task-context" />
                  </Form.Item>
                  <Form.Item name="db_name" label="db_name">
                    <Select allowClear options={dbList.map((d) => ({ value: d.db_name ?? d.name, label: d.db_name ?? d.name }))} data-testid="task-db" />
                  </Form.Item>
                  <Space wrap>
                    {["enable_sql_validation", "enable_llm_repair", "modify_original_file", "enable_training_data_load"].map((k) => (
                      <Form.Item key={k} name={k} label={k} valuePropName="checked">
                        <Switch size="small" />
                      </Form.Item>
                    ))}
                  </Space>
                </Form>
              </Modal>
            </Card>
          ),
        },
        { key: "monitor", label: t("Monitor"), children: <MonitorPage /> },
        { key: "stats", label: t("Stats"), children: <StatsPage /> },
      ]}
    />
  );
}

function TaskDetail({ taskId }: { taskId: string }) {
  const t = useT();
  const { message } = App.useApp();
  const status = useLoad(() => pipe<any>("GET", `/tasks/${taskId}`), [taskId], 2000);
  const logs = useLoad(() => pipe<{ logs: any[] }>("GET", `/tasks/${taskId}/logs${qs({ limit: 200 })}`), [taskId], 2000);
  const files = useLoad(() => pipe<{ files: any[]; total_size: number }>("GET", `/tasks/${taskId}/files`), [taskId], 4000);
  const [step, setStep] = useState<string>(STEPS[0]);
  const execute = async (mode: "complete" | "step") => {
    try {
      await pipe("POST", `/tasks/${taskId}/execute`, mode === "complete" ? { execution_mode: "complete" } : { execution_mode: "step", step_name: step });
      status.reload();
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  const archive = async () => {
    try {
      const a = await pipe<{ archive_name: string }>("POST", `/tasks/${taskId}/files/archive`, { archive_format: "zip" });
      message.success(a.archive_name);
      files.reload();
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  const s = status.data;
  const stepIndex = (name: string) => s?.step_status?.[name];
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Card
        size="small"
        title={
          <Space>
            <a href="#/pipeline">{t("Pipeline tasks")}</a> / {taskId} {s && <StatusTag status={s.status} />}
          </Space>
        }
        extra={
          <Space>
            <Button type="primary" onClick={() => execute("complete")} data-testid="execute-complete">
              {t("Execute")}
            </Button>
            <Select value={step} onChange={setStep} style={{ width: 170 }} options={STEPS.map((x) => ({ value: x, label: x }))} />
            <Button onClick={() => execute("step")} data-testid="execute-step">
              {t("Execute one step")}
            </Button>
            <Button
              onClick={async () => {
                try {
                  await pipe("POST", `/tasks/${taskId}/cancel`);
                } catch (e) {
                  message.error((e as Error).message);
                }
              }}
            >
              {t("Cancel")}
            </Button>
          </Space>
        }
      >
        <LoadError error={status.error} />
        <Steps
          size="small"
          items={STEPS.map((name) => {
            const st = stepIndex(name);
            return {
              title: name,
              description: <span data-testid={`step-${name}`}>{st ?? "pending"}</span>,
              status: st === "completed" ? "finish" : st === "failed" ? "error" : st === "in_progress" ? "process" : "wait",
            };
          })}
        />
        {s?.error_message && <Typography.Text type="danger">{s.error_message}</Typography.Text>}
      </Card>
      <Row gutter={16}>
        <Col span={14}>
          <Card size="small" title={t("Logs")} styles={{ body: { maxHeight: 420, overflow: "auto" } }}>
            <div data-testid="task-logs" style={{ fontFamily: "monospace", fontSize: 12 }}>
              {(logs.data?.logs ?? []).map((l) => (
                <div key={l.id} style={{ color: l.level === "ERROR" ? "#ea3636" : undefined }}>
                  <span style={{ color: "#979ba5" }}>{l.timestamp}</span> [{l.step_name ?? "-"}] {l.message}
                </div>
              ))}
            </div>
          </Card>
        </Col>
        <Col span={10}>
          <Card size="small" title={t("Files")} extra={<Button size="small" onClick={archive}>{t("Archive")}</Button>}>
            <Table
              size="small"
              rowKey="file_name"
              pagination={false}
              dataSource={files.data?.files ?? []}
              data-testid="task-files"
              columns={[
                {
                  title: t("Name"),
                  dataIndex: "file_name",
                  render: (f) => (
                    <a
                      data-testid={`file-${f}`}
                      onClick={() =>
                        download(`/api/v0/data_pipeline/tasks/${taskId}/files/download/${encodeURIComponent(f)}`, f).catch((e) => message.error(e.message))
                      }
                    >
                      {f}
                    </a>
                  ),
                },
                { title: "size", dataIndex: "file_size", align: "right" },
              ]}
            />
          </Card>
        </Col>
      </Row>
    </Space>
  );
}

function MonitorPage() {
  const status = useLoad(() => pipe<any>("GET", "/monitor/status"), [], 5000);
  const anomalies = useLoad(() => pipe<any>("GET", "/monitor/anomalies"), [], 10000);
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <LoadError error={status.error} />
      <Card size="small" title="/monitor/status">
        <Flat value={status.data} />
      </Card>
      <Card size="small" title="/monitor/anomalies">
        <Flat value={anomalies.data} />
      </Card>
    </Space>
  );
}

function StatsPage() {
  const stats = useLoad(() => pipe<any>("GET", "/stats"), [], 10000);
  return (
    <Card size="small" title="/stats">
      <LoadError error={stats.error} />
      <Flat value={stats.data} />
    </Card>
  );
}

/** An object's scalar fields as a description list; nested ones as JSON. */
function Flat({ value }: { value: any }) {
  if (!value || typeof value !== "object") return null;
  return (
    <Descriptions size="small" column={2} bordered>
      {Object.entries(value).map(([k, v]) => (
        <Descriptions.Item key={k} label={k}>
          {typeof v === "object" ? <Typography.Text code style={{ fontSize: 12 }}>{JSON.stringify(v).slice(0, 400)}</Typography.Text> : String(v)}
        </Descriptions.Item>
      ))}
    </Descriptions>
  );
}
