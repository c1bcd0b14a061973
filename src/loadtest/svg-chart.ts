export interface ChartSeries {
  name: string;
  color: string;
  kind: 'line' | 'dots';
  points: ReadonlyArray<readonly [number, number]>;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  width?: number;
  height?: number;
}

const MARGIN = { top: 28, right: 16, bottom: 40, left: 64 };

/** A self-contained SVG chart: the report must open offline, so no chart library. */
export function svgChart(options: ChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 260;
  const all = options.series.flatMap((series) => series.points);
  const maxX = niceMax(Math.max(0, ...all.map(([x]) => x)));
  const maxY = niceMax(Math.max(0, ...all.map(([, y]) => y)));
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + (x / maxX) * plotW;
  const sy = (y: number) => MARGIN.top + plotH - (y / maxY) * plotH;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(options.title)}">`,
    `<text x="${MARGIN.left}" y="18" class="chart-title">${escapeXml(options.title)}</text>`,
    ...axes(maxX, maxY, sx, sy, plotW, plotH),
    `<text x="${MARGIN.left + plotW / 2}" y="${height - 6}" text-anchor="middle" class="axis-label">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(14 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" class="axis-label">${escapeXml(options.yLabel)}</text>`,
    ...options.series.map((series) => drawSeries(series, sx, sy)),
    ...legend(options.series, width),
    '</svg>',
  ];
  return parts.join('\n');
}

function axes(
  maxX: number,
  maxY: number,
  sx: (x: number) => number,
  sy: (y: number) => number,
  plotW: number,
  plotH: number,
): string[] {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const bottom = MARGIN.top + plotH;
  return [
    ...ticks.map((t) => {
      const y = sy(t * maxY);
      return `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y}" y2="${y}" class="grid"/><text x="${MARGIN.left - 6}" y="${y + 4}" text-anchor="end" class="tick">${formatTick(t * maxY)}</text>`;
    }),
    ...ticks.map((t) => {
      const x = sx(t * maxX);
      return `<text x="${x}" y="${bottom + 16}" text-anchor="middle" class="tick">${formatTick(t * maxX)}</text>`;
    }),
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${bottom}" class="axis"/>`,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${bottom}" y2="${bottom}" class="axis"/>`,
  ];
}

function drawSeries(series: ChartSeries, sx: (x: number) => number, sy: (y: number) => number): string {
  if (series.kind === 'dots') {
    const dots = series.points.map(([x, y]) => `<circle cx="${round(sx(x))}" cy="${round(sy(y))}" r="2"/>`);
    return `<g fill="${series.color}" fill-opacity="0.6" class="series" data-series="${escapeXml(series.name)}">${dots.join('')}</g>`;
  }
  const path = series.points.map(([x, y]) => `${round(sx(x))},${round(sy(y))}`).join(' ');
  return `<polyline points="${path}" fill="none" stroke="${series.color}" stroke-width="2" class="series" data-series="${escapeXml(series.name)}"/>`;
}

function legend(series: readonly ChartSeries[], width: number): string[] {
  return series.map((item, index) => {
    const x = width - MARGIN.right - 150 * (series.length - index);
    return `<rect x="${x}" y="8" width="12" height="12" fill="${item.color}"/><text x="${x + 16}" y="18" class="legend">${escapeXml(item.name)}</text>`;
  });
}

/** Rounds an axis maximum up to 1, 2 or 5 times a power of ten, so ticks read cleanly. */
function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 5, 10].find((factor) => factor * power >= value) ?? 10;
  return step * power;
}

function formatTick(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 1) return Number(value.toFixed(1)).toString();
  return Number(value.toPrecision(2)).toString();
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
