// The json_config tree editor: each node a row (indented by depth) with its settings, and beside
// it the value and error `cleans/verify/` answers for the sample record at that node's label.
import { useMemo, useState } from "react";
import { Alert, Button, Card, Form, Input, Modal, Select, Space, Table, Tabs, Tag, Tooltip, Typography } from "antd";
import { post } from "../api";
import { useT } from "../i18n";

export type Node = Record<string, any>;
type Path = (string | number)[];

interface Row {
  node: Node;
  depth: number;
  path: Path;
  /** Set when the node is one of a branch's children: its index there. */
  sibling?: { index: number; count: number };
}

interface Verify {
  result?: unknown[][];
  schema?: string[];
  nodes?: Record<string, unknown>;
  errors?: Record<string, string>;
  error_message?: string;
}

/** The tree's nodes in order, each with where it is. */
function flatten(node: Node | null | undefined, depth: number, path: Path, out: Row[], sibling?: Row["sibling"]) {
  if (!node || typeof node !== "object") return;
  out.push({ node, depth, path, sibling });
  if (node.type === "branch") {
    const kids: Node[] = Array.isArray(node.next) ? node.next : [];
    kids.forEach((k, i) => flatten(k, depth + 1, [...path, "next", i], out, { index: i, count: kids.length }));
  } else if (node.next) {
    flatten(node.next, depth + 1, [...path, "next"], out);
  }
}

function getAt(root: Node, path: Path): any {
  return path.reduce((n: any, k) => (n == null ? n : n[k]), root);
}

function setAt(root: Node, path: Path, value: unknown): Node {
  if (!path.length) return value as Node;
  const copy: any = Array.isArray(root) ? [...root] : { ...root };
  const [k, ...rest] = path;
  copy[k] = setAt(root[k as any], rest, value);
  return copy;
}

function labels(root: Node | null): Set<string> {
  const rows: Row[] = [];
  flatten(root, 0, [], rows);
  return new Set(rows.map((r) => r.node.label).filter(Boolean));
}

function freshLabel(root: Node | null, base: string) {
  const used = labels(root);
  for (let i = 1; ; i++) if (!used.has(`${base}${i}`)) return `${base}${i}`;
}

const NEW_NODE: Record<string, () => Node> = {
  from_json: () => ({ type: "fun", method: "from_json", args: [] }),
  iterate: () => ({ type: "fun", method: "iterate", args: [] }),
  split: () => ({ type: "fun", method: "split", args: ["|"] }),
  regex_extract: () => ({ type: "fun", method: "regex_extract", args: [{ result: "groups", keys: [], regexp: "(?<key>\\w+)" }] }),
  splitkv: () => ({ type: "fun", method: "splitkv", args: ["&", "="] }),
  access_obj: () => ({ type: "access", subtype: "access_obj", key: "data" }),
  access_pos: () => ({ type: "access", subtype: "access_pos", index: 0 }),
  assign_obj: () => ({ type: "assign", subtype: "assign_obj", assign: [{ key: "k", assign_to: "k", type: "string" }] }),
  assign_pos: () => ({ type: "assign", subtype: "assign_pos", assign: [{ index: "0", assign_to: "f0", type: "string" }] }),
  assign_json: () => ({ type: "assign", subtype: "assign_json", assign: [{ key: "__all_keys__", assign_to: "ext", type: "text" }] }),
  branch: () => ({ type: "branch", next: [] }),
};

function kindOf(n: Node) {
  return n.type === "fun" ? n.method : n.type === "branch" ? "branch" : n.subtype ?? n.type;
}

function summary(n: Node) {
  switch (n.type) {
    case "fun":
      return n.args && n.args.length ? JSON.stringify(n.args) : "";
    case "access":
      return n.subtype === "access_pos" ? `[${n.index}]` : n.subtype === "access_multi" ? `${n.keys}` : `.${n.key}`;
    case "assign":
      return Array.isArray(n.assign)
        ? n.assign.map((a: any) => `${a.key ?? a.index}→${a.assign_to}:${a.type ?? "string"}`).join(", ")
        : JSON.stringify(n.assign);
    default:
      return "";
  }
}

const short = (v: unknown) => {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s && s.length > 160 ? s.slice(0, 160) + "…" : s;
};

export function CleanEditor({
  tree,
  conf,
  onChange,
}: {
  tree: Node | null;
  conf: Node;
  onChange: (tree: Node | null, conf: Node) => void;
}) {
  const t = useT();
  const [sample, setSample] = useState("");
  const [verify, setVerify] = useState<Verify | null>(null);
  const [verifyError, setVerifyError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Row | null>(null);
  const rows = useMemo(() => {
    const out: Row[] = [];
    flatten(tree, 0, [], out);
    return out;
  }, [tree]);

  const run = async () => {
    setVerifyError(null);
    try {
      const v = await post<Verify>("/v3/databus/cleans/verify/", {
        conf: JSON.stringify({ extract: tree, conf }),
        msg: sample,
        debug_by_step: true,
      });
      setVerify(v);
    } catch (e) {
      setVerify(null);
      setVerifyError((e as Error).message);
    }
  };

  const insert = (row: Row | null, kind: string) => {
    const n = { ...NEW_NODE[kind](), label: freshLabel(tree, kind.replace(/_.*/, "")) };
    if (!row || !tree) {
      onChange({ ...n, next: tree ?? null }, conf);
      return;
    }
    if (row.node.type === "branch") {
      onChange(setAt(tree, [...row.path, "next"], [...(row.node.next ?? []), n]), conf);
    } else {
      onChange(setAt(tree, row.path, { ...row.node, next: { ...n, next: row.node.next ?? null } }), conf);
    }
  };

  const remove = (row: Row) => {
    if (!tree) return;
    const next = row.node.type === "branch" ? null : row.node.next ?? null;
    if (row.sibling) {
      const parentPath = row.path.slice(0, -1);
      const list: Node[] = [...getAt(tree, parentPath)];
      if (next) list[row.sibling.index] = next;
      else list.splice(row.sibling.index, 1);
      onChange(setAt(tree, parentPath, list), conf);
    } else {
      onChange(row.path.length ? setAt(tree, row.path, next) : next, conf);
    }
  };

  const move = (row: Row, by: number) => {
    if (!tree || !row.sibling) return;
    const parentPath = row.path.slice(0, -1);
    const list: Node[] = [...getAt(tree, parentPath)];
    const j = row.sibling.index + by;
    [list[row.sibling.index], list[j]] = [list[j], list[row.sibling.index]];
    onChange(setAt(tree, parentPath, list), conf);
  };

  const addMenu = (row: Row | null) => (
    <Select<string>
      size="small"
      placeholder={t("Add step")}
      style={{ width: 130 }}
      value={null as unknown as string}
      options={Object.keys(NEW_NODE).map((k) => ({ value: k, label: k }))}
      onChange={(k) => k && insert(row, k)}
      data-testid={`add-after-${row?.node.label ?? "root"}`}
    />
  );

  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Card size="small" title={t("Sample record")}>
        <Input.TextArea
          rows={3}
          value={sample}
          onChange={(e) => setSample(e.target.value)}
          style={{ fontFamily: "monospace" }}
          data-testid="clean-sample"
        />
        <Space style={{ marginTop: 8 }}>
          <Button type="primary" onClick={run} data-testid="clean-debug">
            {t("Debug")}
          </Button>
          {!tree && addMenu(null)}
        </Space>
        {verifyError && <Alert style={{ marginTop: 8 }} type="error" showIcon message={verifyError} data-testid="verify-error" />}
        {verify?.error_message && (
          <Alert style={{ marginTop: 8 }} type="warning" showIcon message={verify.error_message} />
        )}
      </Card>
      <Table<Row>
        size="small"
        pagination={false}
        rowKey={(r) => r.path.join(".") || "root"}
        dataSource={rows}
        onRow={(r) => ({ "data-label": r.node.label } as any)}
        columns={[
          {
            title: t("Node"),
            width: "38%",
            render: (_, r) => (
              <div style={{ paddingLeft: r.depth * 18 }}>
                <Tag color="blue">{kindOf(r.node)}</Tag>
                <Typography.Text strong>{r.node.label}</Typography.Text>{" "}
                <Typography.Text type="secondary" style={{ fontSize: 12 }}>
                  {summary(r.node)}
                </Typography.Text>
              </div>
            ),
          },
          {
            title: `${t("Value")} / ${t("Error")}`,
            render: (_, r) => {
              const err = verify?.errors?.[r.node.label];
              if (err)
                return (
                  <Typography.Text type="danger" data-testid={`node-error-${r.node.label}`}>
                    {err}
                  </Typography.Text>
                );
              const v = verify?.nodes?.[r.node.label];
              return v === undefined ? null : (
                <Typography.Text code style={{ fontSize: 12 }} data-testid={`node-value-${r.node.label}`}>
                  {short(v)}
                </Typography.Text>
              );
            },
          },
          {
            title: t("Actions"),
            width: 300,
            render: (_, r) => (
              <Space size={4}>
                <Button size="small" onClick={() => setEditing(r)} data-testid={`edit-${r.node.label}`}>
                  ✎
                </Button>
                {addMenu(r)}
                {r.sibling && (
                  <>
                    <Tooltip title={t("Move up")}>
                      <Button size="small" disabled={r.sibling.index === 0} onClick={() => move(r, -1)}>
                        ↑
                      </Button>
                    </Tooltip>
                    <Tooltip title={t("Move down")}>
                      <Button size="small" disabled={r.sibling.index === r.sibling.count - 1} onClick={() => move(r, 1)}>
                        ↓
                      </Button>
                    </Tooltip>
                  </>
                )}
                <Button size="small" danger onClick={() => remove(r)}>
                  {t("Remove")}
                </Button>
              </Space>
            ),
          },
        ]}
      />
      {verify?.schema && verify.result && (
        <Card size="small" title={t("Rows")}>
          <Table
            size="small"
            pagination={false}
            rowKey={(_, i) => String(i)}
            dataSource={verify.result.map((r) => Object.fromEntries(r.map((v, i) => [String(i), v])))}
            columns={verify.schema.map((s, i) => ({ title: s, dataIndex: String(i), render: (v: unknown) => short(v) }))}
            scroll={{ x: true }}
          />
        </Card>
      )}
      <NodeForm
        row={editing}
        onCancel={() => setEditing(null)}
        onSave={(n) => {
          if (editing && tree) onChange(editing.path.length ? setAt(tree, editing.path, n) : n, conf);
          setEditing(null);
        }}
      />
    </Space>
  );
}

/** A node's own settings (its `next` is kept): per type, with JSON for lists. */
function NodeForm({ row, onCancel, onSave }: { row: Row | null; onCancel: () => void; onSave: (n: Node) => void }) {
  const t = useT();
  const [form] = Form.useForm();
  const [error, setError] = useState<string | null>(null);
  const n = row?.node;
  const save = () => {
    const v = form.getFieldsValue();
    try {
      const out: Node = { ...n, label: v.label };
      if (n?.type === "fun") {
        out.args = v.args ? JSON.parse(v.args) : [];
        out.method = v.method;
      }
      if (n?.type === "access") {
        if (n.subtype === "access_pos") out.index = Number(v.index);
        else if (n.subtype === "access_multi") {
          out.keys = v.keys;
          out.separator = v.separator;
        } else out.key = v.key;
      }
      if (n?.type === "assign") out.assign = JSON.parse(v.assign);
      setError(null);
      onSave(out);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Modal open={!!row} title={n ? `${kindOf(n)} · ${n.label}` : ""} onCancel={onCancel} onOk={save} okText={t("Save")} destroyOnHidden>
      {n && (
        <Form
          form={form}
          layout="vertical"
          initialValues={{
            label: n.label,
            method: n.method,
            args: n.args !== undefined ? JSON.stringify(n.args) : "[]",
            key: n.key,
            index: n.index,
            keys: n.keys,
            separator: n.separator,
            assign: n.assign !== undefined ? JSON.stringify(n.assign, null, 1) : "[]",
          }}
        >
          <Form.Item name="label" label="label">
            <Input data-testid="node-label" />
          </Form.Item>
          {n.type === "fun" && (
            <>
              <Form.Item name="method" label="method">
                <Select
                  options={["from_json", "from_json_list", "iterate", "split", "csvline", "regex_extract", "splitkv", "from_url", "replace", "items", "zip", "pop", "to_string"].map((m) => ({ value: m, label: m }))}
                />
              </Form.Item>
              <Form.Item name="args" label="args (JSON)">
                <Input.TextArea rows={3} style={{ fontFamily: "monospace" }} data-testid="node-args" />
              </Form.Item>
            </>
          )}
          {n.type === "access" && n.subtype === "access_obj" && (
            <Form.Item name="key" label="key">
              <Input data-testid="node-key" />
            </Form.Item>
          )}
          {n.type === "access" && n.subtype === "access_pos" && (
            <Form.Item name="index" label="index">
              <Input />
            </Form.Item>
          )}
          {n.type === "access" && n.subtype === "access_multi" && (
            <>
              <Form.Item name="keys" label="keys">
                <Input />
              </Form.Item>
              <Form.Item name="separator" label="separator">
                <Input />
              </Form.Item>
            </>
          )}
          {n.type === "assign" && (
            <Form.Item name="assign" label="assign (JSON)">
              <Input.TextArea rows={6} style={{ fontFamily: "monospace" }} data-testid="node-assign" />
            </Form.Item>
          )}
        </Form>
      )}
      {error && <Alert type="error" showIcon message={error} />}
    </Modal>
  );
}

/** bklog's four ETL types as a form: the server builds the tree bklog would send. */
export function EtlForm({ onBuilt }: { onBuilt: (tree: Node, conf: Node, fields: Node[]) => void }) {
  const t = useT();
  const [form] = Form.useForm();
  const [error, setError] = useState<string | null>(null);
  const etl = Form.useWatch("etl_config", form);
  const build = async () => {
    const v = form.getFieldsValue();
    try {
      const fields = (v.fields ?? "")
        .split("\n")
        .map((l: string) => l.trim())
        .filter(Boolean)
        .map((l: string, i: number) => {
          const [field_name, field_type = "string"] = l.split(/[:\s]+/);
          return { field_name, field_type, field_index: i + 1 };
        });
      const r = await post<{ json_config: string; fields: Node[] }>("/v3/databus/cleans/etl_template/", {
        etl_config: v.etl_config,
        etl_params: { separator: v.separator, separator_regexp: v.separator_regexp },
        fields,
      });
      const cfg = JSON.parse(r.json_config);
      setError(null);
      onBuilt(cfg.extract, cfg.conf ?? {}, r.fields);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Form form={form} layout="inline" initialValues={{ etl_config: "bk_log_json" }} style={{ rowGap: 8 }}>
      <Form.Item name="etl_config" label={t("Type")}>
        <Select
          style={{ width: 170 }}
          options={["bk_log_text", "bk_log_json", "bk_log_delimiter", "bk_log_regexp"].map((x) => ({ value: x, label: x }))}
        />
      </Form.Item>
      {etl === "bk_log_delimiter" && (
        <Form.Item name="separator" label="separator">
          <Input style={{ width: 60 }} />
        </Form.Item>
      )}
      {etl === "bk_log_regexp" && (
        <Form.Item name="separator_regexp" label="regexp">
          <Input style={{ width: 260 }} />
        </Form.Item>
      )}
      {etl !== "bk_log_text" && (
        <Form.Item name="fields" label={t("Fields")} tooltip="name:type, one a line">
          <Input.TextArea rows={2} style={{ width: 220 }} placeholder={"level:string\ncost:long"} />
        </Form.Item>
      )}
      <Button onClick={build}>{t("Create")}</Button>
      {error && <Alert type="error" message={error} />}
    </Form>
  );
}

export function ConfigTabs({ tree, conf, onChange }: { tree: Node | null; conf: Node; onChange: (tree: Node | null, conf: Node) => void }) {
  const t = useT();
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  return (
    <Tabs
      items={[
        { key: "tree", label: t("Clean editor"), children: <CleanEditor tree={tree} conf={conf} onChange={onChange} /> },
        { key: "bklog", label: "bklog", children: <EtlForm onBuilt={(tr, c) => onChange(tr, c)} /> },
        {
          key: "json",
          label: t("The config as JSON"),
          children: (
            <>
              <Input.TextArea
                rows={16}
                style={{ fontFamily: "monospace" }}
                value={text ?? JSON.stringify({ extract: tree, conf }, null, 2)}
                onChange={(e) => setText(e.target.value)}
              />
              <Button
                style={{ marginTop: 8 }}
                onClick={() => {
                  try {
                    const v = JSON.parse(text ?? "{}");
                    onChange(v.extract ?? null, v.conf ?? {});
                    setText(null);
                    setError(null);
                  } catch (e) {
                    setError((e as Error).message);
                  }
                }}
              >
                {t("Save")}
              </Button>
              {error && <Alert type="error" message={error} />}
            </>
          ),
        },
      ]}
    />
  );
}
