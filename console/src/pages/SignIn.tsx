import { useState } from "react";
import { Alert, Button, Card, Form, Input } from "antd";
import { signIn, type Session } from "../api";
import { LangSwitch, useT } from "../i18n";

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const t = useT();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (v: Session) => {
    setBusy(true);
    setError(null);
    try {
      await signIn(v);
      onSignedIn(v);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div style={{ minHeight: "100vh", display: "grid", placeItems: "center", background: "#f0f2f5" }}>
      <Card
        title="bkdata"
        style={{ width: 400 }}
        extra={
          <LangSwitch />
        }
      >
        <Form layout="vertical" onFinish={submit} initialValues={{ username: "admin" }}>
          <Form.Item name="appCode" label={t("App code")} rules={[{ required: true }]}>
            <Input id="app-code" autoComplete="username" />
          </Form.Item>
          <Form.Item name="appSecret" label={t("App secret")} rules={[{ required: true }]}>
            <Input.Password id="app-secret" autoComplete="current-password" />
          </Form.Item>
          <Form.Item name="username" label={t("User")} rules={[{ required: true }]}>
            <Input id="username" />
          </Form.Item>
          {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 16 }} data-testid="signin-error" />}
          <Button type="primary" htmlType="submit" block loading={busy}>
            {t("Sign in")}
          </Button>
        </Form>
      </Card>
    </div>
  );
}
