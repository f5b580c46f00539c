import { useEffect, useState } from "react";
import { App as AntApp, Button, ConfigProvider, Layout, Menu, Space, Typography } from "antd";
import enUS from "antd/locale/en_US";
import zhCN from "antd/locale/zh_CN";
import { loadSession, saveSession, setUnauthorizedHandler, type Session } from "./api";
import { LangSwitch, useLang, useT } from "./i18n";
import { useRoute } from "./hooks";
import { SignIn } from "./pages/SignIn";
import { Overview } from "./pages/Overview";
import { RawData } from "./pages/RawData";
import { Cleans } from "./pages/Cleans";
import { Storages } from "./pages/Storages";
import { Flows } from "./pages/Flows";
import { FlowCanvas } from "./pages/FlowCanvas";
import { QueryPage } from "./pages/Query";
import { Pipeline } from "./pages/Pipeline";
import { Alerts } from "./pages/Alerts";

const PAGES = [
  ["overview", "Overview"],
  ["rawdata", "Data access"],
  ["cleans", "Cleans"],
  ["storages", "Storages"],
  ["flows", "DataFlow"],
  ["query", "Query"],
  ["pipeline", "Pipeline tasks"],
  ["alerts", "Alerts"],
] as const;

export function App() {
  const { lang } = useLang();
  const t = useT();
  const [session, setSession] = useState<Session | null>(loadSession);
  const [route, go] = useRoute();
  useEffect(() => {
    setUnauthorizedHandler(() => {
      saveSession(null);
      setSession(null);
    });
  }, []);
  const page = route[0] ?? "overview";
  let body;
  switch (page) {
    case "rawdata": body = <RawData />; break;
    case "cleans": body = <Cleans />; break;
    case "storages": body = <Storages />; break;
    case "flows": body = route[1] ? <FlowCanvas key={route[1]} flowRef={route[1]} /> : <Flows />; break;
    case "query": body = <QueryPage />; break;
    case "pipeline": body = <Pipeline taskId={route[1]} />; break;
    case "alerts": body = <Alerts alertId={route[1]} />; break;
    default: body = <Overview />;
  }
  return (
    <ConfigProvider locale={lang === "zh" ? zhCN : enUS} theme={{ token: { colorPrimary: "#3a84ff", borderRadius: 4 } }}>
      <AntApp>
        {!session ? (
          <SignIn
            onSignedIn={(s) => {
              saveSession(s);
              setSession(s);
            }}
          />
        ) : (
          <Layout style={{ minHeight: "100vh" }}>
            <Layout.Header style={{ display: "flex", alignItems: "center", gap: 24, paddingInline: 20 }}>
              <Typography.Text strong style={{ color: "#fff", fontSize: 17, whiteSpace: "nowrap" }}>
                bkdata
              </Typography.Text>
              <Menu
                theme="dark"
                mode="horizontal"
                selectedKeys={[page]}
                style={{ flex: 1, minWidth: 0 }}
                items={PAGES.map(([k, label]) => ({ key: k, label: <a href={`#/${k}`} data-nav={k}>{t(label)}</a> }))}
              />
              <Space>
                <LangSwitch />
                <Typography.Text style={{ color: "#c4c6cc" }} data-testid="whoami">
                  {session.username}@{session.appCode}
                </Typography.Text>
                <Button
                  size="small"
                  onClick={() => {
                    saveSession(null);
                    setSession(null);
                    go("/overview");
                  }}
                >
                  {t("Sign out")}
                </Button>
              </Space>
            </Layout.Header>
            <Layout.Content style={{ padding: 20 }}>{body}</Layout.Content>
          </Layout>
        )}
      </AntApp>
    </ConfigProvider>
  );
}
