import { Alert, Empty, Tag } from "antd";
import { useT } from "../i18n";

const COLORS: Record<string, string> = {
  running: "green",
  started: "green",
  success: "green",
  completed: "green",
  finished: "green",
  ABNORMAL: "red",
  failed: "red",
  failure: "red",
  stopped: "default",
  "no-start": "default",
  RECOVERED: "blue",
  CLOSED: "default",
  starting: "processing",
  stopping: "processing",
  pending: "processing",
  in_progress: "processing",
};

export function StatusTag({ status }: { status?: string | null }) {
  if (!status) return null;
  return <Tag color={COLORS[status] ?? "default"}>{status}</Tag>;
}

export function LoadError({ error }: { error: string | null }) {
  return error ? <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} /> : null;
}

export function Nothing() {
  const t = useT();
  return <Empty description={t("Nothing here yet")} />;
}

export const num = (n?: number | null) => (n === undefined || n === null ? "–" : n.toLocaleString());
