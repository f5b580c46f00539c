// A small SVG line chart: one line per numeric column over the x column's order. Enough for
// query results of a few thousand rows, with no chart library to ship.
const COLORS = ["#3a84ff", "#2dcb56", "#ff9c01", "#ea3636", "#9b59b6", "#1abc9c"];

export function LineChart({ rows, x, ys, height = 280 }: { rows: Record<string, unknown>[]; x: string; ys: string[]; height?: number }) {
  const width = 900;
  const pad = { l: 60, r: 16, t: 12, b: 36 };
  const points = rows.map((r) => ({ x: r[x], ys: ys.map((y) => Number(r[y])) }));
  const all = points.flatMap((p) => p.ys).filter((v) => Number.isFinite(v));
  if (!points.length || !all.length) return null;
  const lo = Math.min(0, ...all);
  const hi = Math.max(...all);
  const sx = (i: number) => pad.l + (points.length === 1 ? 0 : (i / (points.length - 1)) * (width - pad.l - pad.r));
  const sy = (v: number) => pad.t + (1 - (v - lo) / (hi - lo || 1)) * (height - pad.t - pad.b);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => lo + f * (hi - lo));
  const every = Math.max(1, Math.ceil(points.length / 8));
  return (
    <svg viewBox={`0 0 ${width} ${height}`} style={{ width: "100%", maxWidth: width }} data-testid="line-chart">
      {ticks.map((v) => (
        <g key={v}>
          <line x1={pad.l} x2={width - pad.r} y1={sy(v)} y2={sy(v)} stroke="#eee" />
          <text x={pad.l - 6} y={sy(v) + 4} fontSize={11} textAnchor="end" fill="#63656e">
            {Number(v.toPrecision(4)).toLocaleString()}
          </text>
        </g>
      ))}
      {points.map((p, i) =>
        i % every === 0 ? (
          <text key={i} x={sx(i)} y={height - 14} fontSize={11} textAnchor="middle" fill="#63656e">
            {String(p.x).slice(0, 19)}
          </text>
        ) : null,
      )}
      {ys.map((y, k) => (
        <polyline
          key={y}
          fill="none"
          stroke={COLORS[k % COLORS.length]}
          strokeWidth={2}
          points={points
            .map((p, i) => (Number.isFinite(p.ys[k]) ? `${sx(i)},${sy(p.ys[k])}` : null))
            .filter(Boolean)
            .join(" ")}
        />
      ))}
      {ys.map((y, k) => (
        <text key={y} x={pad.l + 8 + k * 140} y={pad.t + 12} fontSize={12} fill={COLORS[k % COLORS.length]}>
          ■ {y}
        </text>
      ))}
    </svg>
  );
}
