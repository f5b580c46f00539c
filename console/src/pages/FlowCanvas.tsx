// The DataFlow canvas: nodes at their frontend_info positions, a palette to drag new ones from,
// links drawn between handles, each node's settings in a drawer, and the running flow's
// counters on the nodes. The flow is saved whole (flows/create/ or flows/{id}/create/), as
// BKData's canvas saves it; errors of the graph check are shown on the node they name.
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import {
  addEdge,
  Background,
  Controls,
  Handle,
  Position,
  ReactFlow,
  ReactFlowProvider,
  useEdgesState,
  useNodesState,
  useReactFlow,
  type Connection,
  type Edge,
  type Node as RFNode,
  type NodeProps,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { Alert, App, Button, Card, Drawer, Form, Input, InputNumber, List, Select, Space, Tag, Typography } from "antd";
import { ApiError, get, post } from "../api";
import { useLoad } from "../hooks";
import { useT } from "../i18n";
import { num, StatusTag } from "./common";
import type { Flow, Project } from "./Flows";

/** A node in create format (client-local `id`; `from_nodes` by those ids). */
type Spec = Record<string, any> & { id: number; node_type: string; name: string };

interface Runtime {
  rows_in: number;
  rows_out: number;
  late_rows: number;
  bad_rows: number;
  windows: number;
  emitted_to?: number;
  input_position?: number;
}

interface NodeData extends Record<string, unknown> {
  spec: Spec;
  runtime?: Runtime | null;
  status?: string;
  statusMessage?: string;
  error?: string;
}

const PALETTE: { type: string; group: string }[] = [
  { type: "stream_source", group: "source" },
  { type: "realtime", group: "processing" },
  { type: "tspider_storage", group: "storage" },
  { type: "mysql_storage", group: "storage" },
  { type: "postgresql_storage", group: "storage" },
  { type: "redis_storage", group: "storage" },
  { type: "elastic_storage", group: "storage" },
  { type: "queue_storage", group: "storage" },
  { type: "alert_storage", group: "storage" },
];
const CLUSTER_TYPE: Record<string, string> = {
  tspider_storage: "tspider",
  mysql_storage: "mysql",
  postgresql_storage: "postgresql",
  redis_storage: "redis",
  elastic_storage: "es",
  queue_storage: "queue",
};
const GROUP_COLOR: Record<string, string> = { source: "#2dcb56", processing: "#3a84ff", storage: "#ff9c01" };
const groupOf = (type: string) => PALETTE.find((p) => p.type === type)?.group ?? "storage";

/** The result table a node makes (a source: the one it reads). */
function outputOf(s: Spec): string {
  if (s.node_type === "realtime") return s.table_name ? `${s.bk_biz_id}_${s.table_name}` : "";
  return s.result_table_id ?? "";
}

function FlowNodeView({ data, selected }: NodeProps<RFNode<NodeData>>) {
  const t = useT();
  const { spec, runtime, status, error, statusMessage } = data;
  const group = groupOf(spec.node_type);
  return (
    <div
      data-testid={`node-${spec.name}`}
      data-node-type={spec.node_type}
      style={{
        width: 210,
        background: "#fff",
        border: `2px solid ${error ? "#ea3636" : selected ? "#1768ef" : GROUP_COLOR[group]}`,
        borderRadius: 6,
        padding: "6px 10px",
        fontSize: 12,
        boxShadow: "0 1px 4px rgba(0,0,0,.12)",
      }}
    >
      {group !== "source" && <Handle type="target" position={Position.Left} id="in" data-testid={`in-${spec.name}`} />}
      <div style={{ display: "flex", justifyContent: "space-between", gap: 4 }}>
        <strong style={{ overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" }}>{spec.name}</strong>
        {status && <StatusTag status={status} />}
      </div>
      <div style={{ color: "#979ba5" }}>{spec.node_type}</div>
      {runtime && (
        <div data-testid={`counters-${spec.name}`} style={{ marginTop: 4, lineHeight: 1.5 }}>
          {t("Rows in")} <b data-testid={`rows-in-${spec.name}`}>{num(runtime.rows_in)}</b> · {t("Rows out")}{" "}
          <b data-testid={`rows-out-${spec.name}`}>{num(runtime.rows_out)}</b>
          <br />
          {t("Windows")} <b>{num(runtime.windows)}</b> · {t("Late")} <b>{num(runtime.late_rows)}</b>
          {runtime.bad_rows > 0 && <> · {t("Bad")} <b>{num(runtime.bad_rows)}</b></>}
        </div>
      )}
      {statusMessage && status === "failure" && <div style={{ color: "#ea3636" }}>{statusMessage}</div>}
      {error && (
        <div style={{ color: "#ea3636", marginTop: 4 }} data-testid={`node-error-${spec.name}`}>
          {error}
        </div>
      )}
      {group !== "storage" && <Handle type="source" position={Position.Right} id="out" data-testid={`out-${spec.name}`} />}
    </div>
  );
}

const nodeTypes = { bk: FlowNodeView };

export function FlowCanvas({ flowRef }: { flowRef: string }) {
  return (
    <ReactFlowProvider>
      <Canvas flowRef={flowRef} />
    </ReactFlowProvider>
  );
}

function parseRef(ref: string) {
  const [id, query] = ref.split("?");
  const p = new URLSearchParams(query ?? "");
  return { flowId: id === "new" ? null : Number(id), project: Number(p.get("project")) || null, name: p.get("name") ?? "" };
}

function Canvas({ flowRef }: { flowRef: string }) {
  const t = useT();
  const { message } = App.useApp();
  const { flowId, project: newProject, name: newName } = parseRef(flowRef);
  const rf = useReactFlow();
  const wrapper = useRef<HTMLDivElement>(null);
  const [nodes, setNodes, onNodesChange] = useNodesState<RFNode<NodeData>>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>([]);
  const [editing, setEditing] = useState<number | null>(null);
  const [flow, setFlow] = useState<Flow | null>(null);
  const [dirty, setDirty] = useState(false);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [mode, setMode] = useState("continue");
  const [showLog, setShowLog] = useState(false);
  const projects = useLoad(() => get<Project[]>("/v3/meta/projects/"), []);
  const projectId = flow?.project_id ?? newProject;
  const bizId = projects.data?.find((p) => p.project_id === projectId)?.bk_biz_id ?? 0;

  // Load the flow's nodes (export: create format) and lay them out.
  const load = useCallback(async () => {
    if (flowId === null) return;
    const [f, exp, graph] = await Promise.all([
      get<Flow>(`/v3/dataflow/flow/flows/${flowId}/`),
      get<{ nodes: Spec[] }>(`/v3/dataflow/flow/flows/${flowId}/export/`),
      get<{ nodes: any[] }>(`/v3/dataflow/flow/flows/${flowId}/graph/`),
    ]);
    setFlow(f);
    const byId = new Map(graph.nodes.map((g) => [g.node_id, g]));
    setNodes(
      exp.nodes.map((s, i) => {
        const g = byId.get(s.id);
        return {
          id: String(s.id),
          type: "bk",
          position: { x: s.frontend_info?.x ?? 40 + i * 260, y: s.frontend_info?.y ?? 60 },
          data: { spec: s, runtime: g?.runtime, status: g?.status, statusMessage: g?.status_message },
        };
      }),
    );
    setEdges(
      exp.nodes.flatMap((s) =>
        (s.from_nodes ?? []).map((f: any) => ({ id: `${f.id}-${s.id}`, source: String(f.id), target: String(s.id) })),
      ),
    );
    setDirty(false);
  }, [flowId, setNodes, setEdges]);
  useEffect(() => {
    load().catch((e) => message.error(e.message));
  }, [load, message]);

  // While the flow runs: its status and the nodes' counters, twice a second at most.
  useEffect(() => {
    if (flowId === null) return;
    const tick = async () => {
      try {
        const [f, graph] = await Promise.all([
          get<Flow>(`/v3/dataflow/flow/flows/${flowId}/`),
          get<{ nodes: any[] }>(`/v3/dataflow/flow/flows/${flowId}/graph/`),
        ]);
        setFlow(f);
        const byId = new Map(graph.nodes.map((g) => [String(g.node_id), g]));
        setNodes((ns) =>
          ns.map((n) => {
            const g = byId.get(n.id);
            return g ? { ...n, data: { ...n.data, runtime: g.runtime, status: g.status, statusMessage: g.status_message } } : n;
          }),
        );
      } catch {
        /* the next tick tries again */
      }
    };
    const timer = setInterval(tick, 2000);
    return () => clearInterval(timer);
  }, [flowId, setNodes]);

  const onConnect = useCallback(
    (c: Connection) => {
      setEdges((es) => addEdge({ ...c, id: `${c.source}-${c.target}` }, es));
      setDirty(true);
    },
    [setEdges],
  );

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    const type = e.dataTransfer.getData("application/bkdata-node");
    if (!type) return;
    const position = rf.screenToFlowPosition({ x: e.clientX, y: e.clientY });
    const id = Math.max(0, ...nodes.map((n) => Number(n.id))) + 1;
    const spec: Spec = { id, node_type: type, name: `${type}_${id}`, bk_biz_id: bizId, from_nodes: [] };
    if (type === "realtime") Object.assign(spec, { window_type: "none", sql: "", table_name: "", output_name: "" });
    if (CLUSTER_TYPE[type]) Object.assign(spec, { expires: 3 });
    setNodes((ns) => [...ns, { id: String(id), type: "bk", position, data: { spec } }]);
    setDirty(true);
    setEditing(id);
  };

  /** The nodes in create format, links and positions from the canvas. */
  const specs = (): Spec[] => {
    const byId = new Map(nodes.map((n) => [n.id, n.data.spec]));
    return nodes.map((n) => {
      const from = edges
        .filter((e) => e.target === n.id)
        .map((e) => ({ id: Number(e.source), from_result_table_ids: [outputOf(byId.get(e.source)!)] }));
      const s: Spec = { ...n.data.spec, from_nodes: from, frontend_info: { x: Math.round(n.position.x), y: Math.round(n.position.y) } };
      if (CLUSTER_TYPE[s.node_type] || s.node_type === "alert_storage") s.result_table_id = from[0]?.from_result_table_ids[0] ?? "";
      return s;
    });
  };

  const save = async () => {
    setSaveError(null);
    setNodes((ns) => ns.map((n) => ({ ...n, data: { ...n.data, error: undefined } })));
    try {
      if (flowId === null) {
        const made = await post<{ flow_id: number }>("/v3/dataflow/flow/flows/create/", {
          project_id: newProject,
          flow_name: newName,
          nodes: specs(),
        });
        message.success(t("Changes saved"));
        window.location.hash = `/flows/${made.flow_id}`;
        return;
      }
      await post(`/v3/dataflow/flow/flows/${flowId}/create/`, { nodes: specs() });
      message.success(t("Changes saved"));
      await load();
    } catch (e) {
      const err = e as ApiError;
      setSaveError(err.message);
      const perNode = (err.errors as any)?.nodes as Record<string, Record<string, string[]>> | undefined;
      if (perNode)
        setNodes((ns) =>
          ns.map((n) => {
            const fields = perNode[n.id];
            return fields ? { ...n, data: { ...n.data, error: Object.entries(fields).map(([f, m]) => `${f}: ${m.join("; ")}`).join(" · ") } } : n;
          }),
        );
    }
  };

  const act = async (what: "start" | "stop" | "restart") => {
    try {
      await post(`/v3/dataflow/flow/flows/${flowId}/${what}/`, what === "stop" ? {} : { consuming_mode: mode });
      setShowLog(true);
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  const exportFlow = async () => {
    const body = await get(`/v3/dataflow/flow/flows/${flowId}/export/`);
    const url = URL.createObjectURL(new Blob([JSON.stringify(body, null, 2)], { type: "application/json" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `flow_${flowId}.json`;
    a.click();
    URL.revokeObjectURL(url);
  };

  const editingNode = nodes.find((n) => Number(n.id) === editing);
  const upstream = useMemo(
    () =>
      edges
        .filter((e) => Number(e.target) === editing)
        .map((e) => nodes.find((n) => n.id === e.source)?.data.spec)
        .filter((s): s is Spec => !!s),
    [edges, nodes, editing],
  );
  const running = flow?.status === "running" || flow?.status === "starting";
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Card
        size="small"
        title={
          <Space>
            <a href="#/flows">{t("Flows")}</a> / <span data-testid="flow-title">{flow?.flow_name ?? newName}</span>
            {flow && <StatusTag status={flow.status} />}
            {dirty && <Tag color="orange">*</Tag>}
          </Space>
        }
        extra={
          <Space wrap>
            <Button type="primary" onClick={save} disabled={running} data-testid="save-flow">
              {t("Save")}
            </Button>
            {flowId !== null && (
              <>
                <Select
                  size="middle"
                  value={mode}
                  onChange={setMode}
                  style={{ width: 230 }}
                  data-testid="consuming-mode"
                  options={[
                    { value: "continue", label: t("continue where it stopped") },
                    { value: "from_tail", label: t("from the tail (new data only)") },
                    { value: "from_head", label: t("from the head (all data kept)") },
                  ]}
                />
                <Button onClick={() => act("start")} disabled={running || dirty} data-testid="start-flow">
                  {t("Start")}
                </Button>
                <Button onClick={() => act("restart")} disabled={!running || dirty}>
                  {t("Restart")}
                </Button>
                <Button onClick={() => act("stop")} disabled={!running} data-testid="stop-flow">
                  {t("Stop")}
                </Button>
                <Button onClick={() => setShowLog(true)}>{t("Deploy log")}</Button>
                <Button onClick={exportFlow}>{t("Export")}</Button>
              </>
            )}
          </Space>
        }
      >
        {saveError && <Alert type="error" showIcon message={saveError} style={{ marginBottom: 8 }} data-testid="save-error" />}
        <div style={{ display: "flex", gap: 12, height: "calc(100vh - 220px)", minHeight: 420 }}>
          <div style={{ width: 170 }}>
            <Typography.Text type="secondary" style={{ fontSize: 12 }}>
              {t("Drag a node onto the canvas")}
            </Typography.Text>
            {PALETTE.map((p) => (
              <div
                key={p.type}
                draggable={!running}
                data-testid={`palette-${p.type}`}
                onDragStart={(e) => {
                  e.dataTransfer.setData("application/bkdata-node", p.type);
                  e.dataTransfer.effectAllowed = "move";
                }}
                style={{
                  margin: "6px 0",
                  padding: "4px 8px",
                  border: `1px solid ${GROUP_COLOR[p.group]}`,
                  borderLeftWidth: 4,
                  borderRadius: 4,
                  cursor: "grab",
                  fontSize: 12,
                  background: "#fff",
                }}
              >
                {p.type}
              </div>
            ))}
          </div>
          <div ref={wrapper} style={{ flex: 1, border: "1px solid #dcdee5", borderRadius: 4 }} data-testid="canvas">
            <ReactFlow
              nodes={nodes}
              edges={edges}
              nodeTypes={nodeTypes}
              onNodesChange={(c) => {
                onNodesChange(c);
                if (c.some((x) => x.type === "position" && !x.dragging)) setDirty(true);
                if (c.some((x) => x.type === "remove")) setDirty(true);
              }}
              onEdgesChange={(c) => {
                onEdgesChange(c);
                if (c.some((x) => x.type === "remove")) setDirty(true);
              }}
              onConnect={onConnect}
              onDrop={onDrop}
              onDragOver={(e) => {
                e.preventDefault();
                e.dataTransfer.dropEffect = "move";
              }}
              onNodeDoubleClick={(_, n) => setEditing(Number(n.id))}
              onNodeClick={(_, n) => setEditing(Number(n.id))}
              nodesDraggable={!running}
              nodesConnectable={!running}
              // Fit a saved flow once its nodes are in; a new one keeps the user's drop points
              // (React Flow fits when the first nodes appear, which would move the first drop).
              fitView={flowId !== null}
              fitViewOptions={{ maxZoom: 1 }}
              deleteKeyCode={running ? null : ["Delete", "Backspace"]}
            >
              <Background />
              <Controls />
            </ReactFlow>
          </div>
        </div>
      </Card>
      <NodeDrawer
        node={editingNode?.data.spec ?? null}
        readOnly={running}
        upstream={upstream}
        onClose={() => setEditing(null)}
        onSave={(s) => {
          setNodes((ns) => ns.map((n) => (Number(n.id) === s.id ? { ...n, data: { ...n.data, spec: s, error: undefined } } : n)));
          setDirty(true);
          setEditing(null);
        }}
      />
      {flowId !== null && <DeployLog flowId={flowId} open={showLog} onClose={() => setShowLog(false)} />}
    </Space>
  );
}

function NodeDrawer({
  node,
  upstream,
  readOnly,
  onClose,
  onSave,
}: {
  node: Spec | null;
  upstream: Spec[];
  readOnly: boolean;
  onClose: () => void;
  onSave: (s: Spec) => void;
}) {
  const t = useT();
  const [form] = Form.useForm();
  const tables = useLoad(() => get<any[]>("/v3/meta/result_tables/"), []);
  const clusterType = node ? CLUSTER_TYPE[node.node_type] : undefined;
  const clusters = useLoad(
    () => (clusterType ? get<any[]>(`/v3/storekit/clusters/${clusterType}/`) : Promise.resolve([])),
    [clusterType],
  );
  const windowType = Form.useWatch("window_type", form);
  useEffect(() => {
    if (node) {
      form.resetFields();
      form.setFieldsValue(node);
    }
  }, [node, form]);
  if (!node) return null;
  const numbers = ["count_freq", "waiting_time", "window_time", "expires", "bk_biz_id"];
  const submit = () => {
    const v = form.getFieldsValue();
    for (const k of numbers) if (v[k] === null || v[k] === "") delete v[k];
    onSave({ ...node, ...v });
  };
  return (
    <Drawer
      open
      width={560}
      title={`${t("Node settings")} · ${node.node_type}`}
      onClose={onClose}
      extra={
        !readOnly && (
          <Button type="primary" onClick={submit} data-testid="node-save">
            {t("Save")}
          </Button>
        )
      }
    >
      <Form form={form} layout="vertical" disabled={readOnly}>
        <Form.Item name="name" label={t("Name")} rules={[{ required: true }]}>
          <Input data-testid="node-name" />
        </Form.Item>
        <Form.Item name="bk_biz_id" label={t("Biz")}>
          <InputNumber min={1} style={{ width: "100%" }} />
        </Form.Item>
        {node.node_type === "stream_source" && (
          <Form.Item name="result_table_id" label={t("Result table")} rules={[{ required: true }]}>
            <Select
              showSearch
              data-testid="node-rt"
              options={(tables.data ?? []).map((r) => ({ value: r.result_table_id, label: r.result_table_id }))}
            />
          </Form.Item>
        )}
        {node.node_type === "realtime" && (
          <>
            <Form.Item name="table_name" label="table_name" rules={[{ required: true, pattern: /^[a-zA-Z][a-zA-Z0-9]*(_[a-zA-Z0-9]+)*$/ }]}>
              <Input data-testid="node-table-name" />
            </Form.Item>
            <Form.Item name="output_name" label="output_name">
              <Input data-testid="node-output-name" />
            </Form.Item>
            <Form.Item name="sql" label="SQL" extra={upstream.map((u) => outputOf(u)).filter(Boolean).join(", ")}>
              <Input.TextArea rows={6} style={{ fontFamily: "monospace" }} data-testid="node-sql" />
            </Form.Item>
            <Form.Item name="window_type" label="window_type">
              <Select
                data-testid="node-window-type"
                options={["none", "scroll", "slide", "accumulate"].map((w) => ({ value: w, label: w }))}
              />
            </Form.Item>
            {windowType && windowType !== "none" && (
              <Space>
                <Form.Item name="count_freq" label="count_freq (s)">
                  <InputNumber min={1} data-testid="node-count-freq" />
                </Form.Item>
                <Form.Item name="waiting_time" label="waiting_time (s)">
                  <InputNumber min={0} data-testid="node-waiting-time" />
                </Form.Item>
                {windowType !== "scroll" && (
                  <Form.Item name="window_time" label="window_time (min)">
                    <InputNumber min={1} />
                  </Form.Item>
                )}
              </Space>
            )}
          </>
        )}
        {clusterType && (
          <>
            <Form.Item name="cluster" label={t("Cluster")} rules={[{ required: true }]}>
              <Select
                data-testid="node-cluster"
                options={(clusters.data ?? []).map((c) => ({ value: c.cluster_name, label: c.cluster_name }))}
              />
            </Form.Item>
            <Form.Item name="expires" label="expires (days)">
              <InputNumber min={1} style={{ width: "100%" }} />
            </Form.Item>
            <Typography.Text type="secondary">
              {t("Result table")}: {upstream.map(outputOf).join(", ") || "–"}
            </Typography.Text>
          </>
        )}
      </Form>
    </Drawer>
  );
}

function DeployLog({ flowId, open, onClose }: { flowId: number; open: boolean; onClose: () => void }) {
  const t = useT();
  const latest = useLoad(
    () => (open ? get<any>(`/v3/dataflow/flow/flows/${flowId}/latest_deploy_data/`) : Promise.resolve(null)),
    [flowId, open],
    open ? 1500 : 0,
  );
  return (
    <Drawer open={open} onClose={onClose} width={620} title={`${t("Deploy log")} ${latest.data ? `· ${latest.data.action} · ${latest.data.status}` : ""}`}>
      <List
        size="small"
        dataSource={latest.data?.logs ?? []}
        data-testid="deploy-log"
        renderItem={(l: any) => (
          <List.Item>
            <Typography.Text type={l.level === "ERROR" ? "danger" : undefined} style={{ fontSize: 12 }}>
              <span style={{ color: "#979ba5" }}>{l.time}</span> {l.message}
            </Typography.Text>
          </List.Item>
        )}
      />
    </Drawer>
  );
}
