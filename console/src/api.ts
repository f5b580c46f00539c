// Every call the console makes goes through here, to the documented API (openapi.json), signed
// with the app code, secret and user of the session: nothing is kept beyond the browser tab.

export interface Session {
  appCode: string;
  appSecret: string;
  username: string;
}

const KEY = "bkdata.session";

export function loadSession(): Session | null {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as Session;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null) {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

/** An answer with `result: false` (BKData) or `success: false` (the pipeline API). */
export class ApiError extends Error {
  code: string;
  errors: unknown;
  status: number;
  constructor(message: string, code: string, errors: unknown, status: number) {
    super(message);
    this.code = code;
    this.errors = errors;
    this.status = status;
  }
}

function authHeader(s: Session | null): Record<string, string> {
  if (!s) return {};
  return {
    "X-Bkapi-Authorization": JSON.stringify({
      bk_app_code: s.appCode,
      bk_app_secret: s.appSecret,
      bk_username: s.username,
    }),
  };
}

let onUnauthorized: () => void = () => {};
/** Called when the server refuses the session's credentials (401). */
export function setUnauthorizedHandler(f: () => void) {
  onUnauthorized = f;
}

async function send(method: string, path: string, body?: unknown, session = loadSession()) {
  const headers: Record<string, string> = { ...authHeader(session) };
  let payload: BodyInit | undefined;
  if (typeof body === "string") {
    payload = body;
    headers["Content-Type"] = "text/plain";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const res = await fetch(path, { method, headers, body: payload });
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(`${res.status}: ${text.slice(0, 200)}`, String(res.status), null, res.status);
  }
  if (res.status === 401) onUnauthorized();
  return { res, json };
}

/** A BKData call (`/v3/…`): answers `data` or throws the envelope's message. */
export async function bk<T = any>(method: string, path: string, body?: unknown, session?: Session): Promise<T> {
  const { res, json } = await send(method, path, body, session ?? loadSession());
  if (!json || json.result !== true) {
    throw new ApiError(
      json?.message ?? `HTTP ${res.status}`,
      String(json?.code ?? res.status),
      json?.errors ?? null,
      res.status,
    );
  }
  return json.data as T;
}

export const get = <T = any>(path: string) => bk<T>("GET", path);
export const post = <T = any>(path: string, body: unknown = {}) => bk<T>("POST", path, body);

/** A data pipeline call (`/api/v0/data_pipeline/…`): its own envelope (`{success, code, message, data}`). */
export async function pipe<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const { res, json } = await send(method, `/api/v0/data_pipeline${path}`, body);
  if (!res.ok || json?.success === false) {
    throw new ApiError(
      json?.message ?? `HTTP ${res.status}`,
      String(json?.code ?? res.status),
      json?.details ?? null,
      res.status,
    );
  }
  return json.data as T;
}

/** Fetch a file with the session's credentials and hand it to the browser as a download. */
export async function download(path: string, name: string) {
  const res = await fetch(path, { headers: authHeader(loadSession()) });
  if (!res.ok) {
    const text = await res.text();
    let msg = text;
    try {
      msg = JSON.parse(text).message ?? text;
    } catch {
      /* not JSON */
    }
    throw new ApiError(msg, String(res.status), null, res.status);
  }
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Check credentials against the server (the app's projects are the cheapest signed call). */
export async function signIn(s: Session) {
  return bk("GET", "/v3/meta/projects/", undefined, s);
}

export const qs = (params: Record<string, string | number | undefined | null>) => {
  const p = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return p.length ? "?" + p.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join("&") : "";
};
