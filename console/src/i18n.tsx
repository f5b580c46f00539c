// Chinese and English. Texts are written in English and looked up in the Chinese table; the
// choice is remembered in localStorage (it is not a secret, unlike the session).
import { createContext, useContext, useState, type ReactNode } from "react";
import { Segmented } from "antd";

export type Lang = "en" | "zh";

const zh: Record<string, string> = {
  "Sign in": "登录",
  "Sign out": "退出",
  "App code": "应用 ID (bk_app_code)",
  "App secret": "应用密钥 (bk_app_secret)",
  "User": "用户名 (bk_username)",
  "Signed in as": "当前用户",
  "Overview": "总览",
  "Data access": "数据接入",
  "Cleans": "数据清洗",
  "Storages": "数据入库",
  "DataFlow": "数据开发",
  "Query": "数据查询",
  "Pipeline tasks": "流水线任务",
  "Alerts": "告警",
  "Workers": "工作进程",
  "Worker": "工作进程",
  "Host": "主机",
  "Started": "启动时间",
  "Last seen": "最近心跳",
  "Jobs": "任务",
  "alive": "在线",
  "gone": "离线",
  "Running jobs": "运行中的任务",
  "Failures": "失败",
  "Throughput and lag": "吞吐与延迟",
  "Refresh": "刷新",
  "Create": "创建",
  "Cancel": "取消",
  "Save": "保存",
  "Delete": "删除",
  "Start": "启动",
  "Stop": "停止",
  "Restart": "重启",
  "Status": "状态",
  "Name": "名称",
  "Biz": "业务",
  "Description": "描述",
  "Actions": "操作",
  "Raw data": "原始数据",
  "New raw data": "新建原始数据",
  "Ingest sample records": "写入样例数据",
  "One record a line (JSON), or a JSON array": "每行一条 JSON 记录，或一个 JSON 数组",
  "Ingest": "写入",
  "Accepted": "已接收",
  "Live tail": "最近数据",
  "Partitions": "分区",
  "Result table": "结果表",
  "Rows in": "输入条数",
  "Rows out": "输出条数",
  "Bad": "错误条数",
  "Late": "迟到",
  "Windows": "窗口",
  "Lag": "延迟",
  "Rows written": "写入条数",
  "Dead letters": "死信",
  "Recent bad records": "最近的错误数据",
  "Clean editor": "清洗配置",
  "Sample record": "样例数据",
  "Debug": "调试",
  "Add step": "添加步骤",
  "Remove": "移除",
  "Move up": "上移",
  "Move down": "下移",
  "Value": "值",
  "Error": "错误",
  "Fields": "字段",
  "New clean": "新建清洗",
  "Time field": "时间字段",
  "Time format": "时间格式",
  "The config as JSON": "JSON 配置",
  "Bindings": "入库配置",
  "Storage": "存储",
  "Cluster": "集群",
  "Flows": "任务列表",
  "New flow": "新建任务",
  "Project": "项目",
  "Open": "打开",
  "Export": "导出",
  "Import": "导入",
  "Palette": "节点",
  "Drag a node onto the canvas": "拖动节点到画布",
  "Node settings": "节点配置",
  "Deploy log": "部署日志",
  "Consuming mode": "消费模式",
  "from the tail (new data only)": "从尾部（只处理新数据）",
  "from the head (all data kept)": "从头部（全部数据）",
  "continue where it stopped": "从上次停止处继续",
  "Changes saved": "已保存",
  "Run": "执行",
  "Rows": "条数",
  "Chart": "图表",
  "Table": "表格",
  "X axis": "横轴",
  "Y axis": "纵轴",
  "Readable result tables": "可查询的结果表",
  "Tasks": "任务",
  "New task": "新建任务",
  "Execute": "执行",
  "Execute one step": "执行单步",
  "Steps": "步骤",
  "Logs": "日志",
  "Files": "文件",
  "Download": "下载",
  "Archive": "归档",
  "Monitor": "监控",
  "Stats": "统计",
  "Severity": "级别",
  "Acknowledge": "确认",
  "Close": "关闭",
  "Events": "事件",
  "Search": "搜索",
  "Detail": "详情",
  "Begin": "开始时间",
  "Latest": "最近时间",
  "Language": "语言",
  "Nothing here yet": "暂无数据",
  "Back": "返回",
  "Node": "节点",
  "Type": "类型",
  "Waiting for the first figures": "等待首批数据",
};

const Ctx = createContext<{ lang: Lang; setLang: (l: Lang) => void }>({ lang: "en", setLang: () => {} });

export function LangProvider({ children }: { children: ReactNode }) {
  const [lang, set] = useState<Lang>((localStorage.getItem("bkdata.lang") as Lang) || (navigator.language.startsWith("zh") ? "zh" : "en"));
  const setLang = (l: Lang) => {
    localStorage.setItem("bkdata.lang", l);
    set(l);
  };
  return <Ctx.Provider value={{ lang, setLang }}>{children}</Ctx.Provider>;
}

export function useLang() {
  return useContext(Ctx);
}

/** `t("Sign in")`: the text in the chosen language (English when no translation exists). */
export function useT() {
  const { lang } = useContext(Ctx);
  return (s: string) => (lang === "zh" ? zh[s] ?? s : s);
}

/** The EN / 中文 switch (sign-in page and header). */
export function LangSwitch() {
  const { lang, setLang } = useLang();
  return (
    <Segmented
      size="small"
      value={lang}
      onChange={(v) => setLang(v as Lang)}
      options={[
        { label: "EN", value: "en" },
        { label: "中文", value: "zh" },
      ]}
    />
  );
}
