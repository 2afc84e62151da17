// The equity curve (uPlot). Exposes its point count and last value as data attributes for tests.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { EquityPoint } from "./types";

export function EquityChart({ points }: { points: EquityPoint[] }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = host.current;
    if (!element) return undefined;
    const options: uPlot.Options = {
      width: element.clientWidth || 800,
      height: 260,
      scales: { x: { time: true } },
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      axes: [{ stroke: "#5b6472" }, { stroke: "#5b6472", size: 80 }],
      series: [{}, { label: "Equity", stroke: "#1f6feb", width: 2, fill: "rgba(31,111,235,0.08)" }],
    };
    plot.current = new uPlot(options, [[], []], element);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: element.clientWidth, height: 260 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    // Display only: the chart plots doubles; every number shown as text stays an exact decimal.
    plot.current?.setData([points.map((p) => p.ts / 1000), points.map((p) => Number(p.equity))]);
  }, [points]);

  const last = points[points.length - 1];
  return (
    <figure class="chart">
      <div
        ref={host}
        role="img"
        aria-label={`Equity curve, ${points.length} points, last ${last?.equity ?? "none"}`}
        data-testid="equity-chart"
        data-points={points.length}
        data-last={last?.equity ?? ""}
        data-last-ts={last?.ts ?? ""}
      />
      {points.length === 0 && <figcaption class="state empty">No equity history yet.</figcaption>}
    </figure>
  );
}
