// The trend chart: several registers on one time axis, a y axis per unit, drawn by uPlot.
// A missing stretch of data is a null in the series, so the line stops there instead of
// bridging it; readings of bad or uncertain quality are marked; bucketed series get their
// min–max band, one step per bucket, so that even a single bucket shows. What was drawn is
// counted on the container's data attributes (series, segments, band steps, marks), for
// whoever needs to check the picture without reading pixels.
"use strict";

const Trend = (() => {
  const COLOURS = ["#2463eb", "#d9480f", "#2b8a3e", "#9c36b5", "#0b7285", "#c2255c", "#5c940d", "#e67700"];
  const BAD = "#c62828";
  const UNCERTAIN = "#b26a00";

  function fmt(v) {
    if (v == null || Number.isNaN(v)) return "—";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e12 || a < 1e-3)) return v.toExponential(3);
    return Number(v.toFixed(3)).toString();
  }

  // Axis labels with as many decimals as the tick spacing needs (a counter near 4e9 that
  // moves by a few units still gets distinct labels).
  function tickLabels(ticks) {
    if (!ticks.length) return [];
    const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : Math.abs(ticks[0]) || 1;
    const big = ticks.some((t) => Math.abs(t) >= 1e12);
    const decimals = Math.max(0, Math.min(6, Math.ceil(-Math.log10(step || 1))));
    return ticks.map((t) => (big ? t.toExponential(3) : t.toFixed(decimals)));
  }

  function shorten(text, max) {
    return text.length > max ? `${text.slice(0, max - 1)}…` : text;
  }

  // One x array for every series: the union of their times. A series has `undefined`
  // where another series has a point (uPlot steps over those) and `null` where its own
  // data is missing (uPlot breaks the line there).
  function align(series) {
    const times = new Set();
    for (const s of series) for (const p of s.points) times.add(p.t);
    const xs = [...times].sort((a, b) => a - b);
    const at = new Map(xs.map((t, i) => [t, i]));
    const ys = series.map((s) => {
      const y = new Array(xs.length).fill(undefined);
      const lo = new Array(xs.length).fill(undefined);
      const hi = new Array(xs.length).fill(undefined);
      const q = new Array(xs.length).fill(undefined);
      for (const p of s.points) {
        const i = at.get(p.t);
        y[i] = p.v == null ? null : p.v;
        lo[i] = p.lo;
        hi[i] = p.hi;
        q[i] = p.q;
      }
      return { y, lo, hi, q };
    });
    return { xs, ys };
  }

  // Runs of values a line is drawn through (defined and not null).
  function segments(y) {
    let runs = 0, open = false, points = 0;
    for (const v of y) {
      if (v === undefined) continue;
      if (v === null) { open = false; continue; }
      points++;
      if (!open) { runs++; open = true; }
    }
    return { runs, points };
  }

  class Chart {
    // `onZoom(startMs, endMs)` is called when the user drags across the plot;
    // `onZoomOut()` on a double click.
    constructor(el, { onZoom, onZoomOut }) {
      this.el = el;
      this.onZoom = onZoom;
      this.onZoomOut = onZoomOut;
      this.plot = null;
      this.shape = "";
      this.series = [];
      this.aligned = null;
      this.window = [0, 1];
      window.addEventListener("resize", () => this.resize());
    }

    height() {
      return window.innerWidth < 520 ? 240 : 340;
    }

    resize() {
      if (this.plot) this.plot.setSize({ width: this.el.clientWidth, height: this.height() });
    }

    // `series`: [{ key, label, unit, points: [{ t (ms), v, lo, hi, q }], bucketMs }];
    // `window`: [startMs, endMs] shown whatever the data covers.
    set(series, window) {
      this.series = series;
      this.window = window;
      this.el.dataset.state = series.length ? "drawn" : "empty";
      this.el.dataset.window = `${Math.round(window[0])},${Math.round(window[1])}`;
      if (!series.length) {
        this.destroy();
        this.count();
        return;
      }
      this.aligned = align(series);
      const data = [this.aligned.xs.map((t) => t / 1000), ...this.aligned.ys.map((s) => s.y)];
      const shape = series.map((s) => `${s.key}|${s.unit}`).join(",");
      if (this.plot && shape === this.shape) {
        this.plot.batch(() => {
          this.plot.setData(data, false);
          this.plot.setScale("x", { min: window[0] / 1000, max: window[1] / 1000 });
        });
      } else {
        this.destroy();
        this.shape = shape;
        this.plot = new uPlot(this.options(series), data, this.el);
      }
    }

    destroy() {
      if (this.plot) this.plot.destroy();
      this.plot = null;
      this.shape = "";
    }

    options(series) {
      const units = [...new Set(series.map((s) => s.unit))];
      const scaleOf = (unit) => `u${units.indexOf(unit)}`;
      const scales = { x: { time: true, range: () => [this.window[0] / 1000, this.window[1] / 1000] } };
      for (const u of units) {
        // A flat line gets some room above and below instead of a zero-height axis.
        scales[scaleOf(u)] = {
          range: (_u, min, max) => {
            if (min == null || max == null) return [0, 1];
            if (min === max) return [min - (Math.abs(min) || 1) * 0.05, max + (Math.abs(max) || 1) * 0.05];
            const pad = (max - min) * 0.06;
            return [min - pad, max + pad];
          },
        };
      }
      const axes = [{ stroke: "#6b7385", grid: { stroke: "#e3e6ec" }, ticks: { stroke: "#e3e6ec" } }];
      units.forEach((u, i) => {
        // The unit beside each tick: an axis label would be turned on its side.
        const suffix = u ? ` ${u}` : "";
        axes.push({
          scale: scaleOf(u),
          side: i % 2 ? 1 : 3,
          stroke: "#6b7385",
          grid: { show: i === 0, stroke: "#e3e6ec" },
          ticks: { stroke: "#e3e6ec" },
          values: (_u, ticks) => tickLabels(ticks).map((t) => `${t}${suffix}`),
          size: (_u, values) => 14 + 7 * Math.max(3, ...(values || []).map((v) => String(v).length)),
        });
      });
      return {
        width: this.el.clientWidth,
        height: this.height(),
        scales,
        axes,
        series: [
          { value: "{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}" },
          ...series.map((s, i) => ({
            label: shorten(s.label, 48),
            scale: scaleOf(s.unit),
            stroke: COLOURS[i % COLOURS.length],
            width: 1.5,
            spanGaps: false,
            points: { show: false },
            value: (_u, v) => (v == null ? "—" : `${fmt(v)} ${s.unit}`),
          })),
        ],
        legend: { live: true },
        cursor: { drag: { x: true, y: false, setScale: false }, bind: { dblclick: () => () => null } },
        hooks: {
          draw: [(u) => this.decorate(u)],
          setSelect: [(u) => this.selected(u)],
          ready: [(u) => u.over.addEventListener("dblclick", () => this.onZoomOut())],
        },
      };
    }

    selected(u) {
      const { left, width } = u.select;
      if (width < 4) return;
      const a = u.posToVal(left, "x") * 1000;
      const b = u.posToVal(left + width, "x") * 1000;
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      this.onZoom(Math.round(a), Math.round(b));
    }

    // Bands, lone points and quality marks, over what uPlot drew.
    decorate(u) {
      const { ctx } = u;
      const { xs, ys } = this.aligned;
      const { left, top, width, height } = u.bbox;
      const px = devicePixelRatio || 1;
      const counts = { bandSteps: 0, lonePoints: 0, bad: 0, uncertain: 0 };
      ctx.save();
      ctx.beginPath();
      ctx.rect(left, top, width, height);
      ctx.clip();
      this.series.forEach((s, i) => {
        const colour = COLOURS[i % COLOURS.length];
        const scale = u.series[i + 1].scale;
        const { y, lo, hi, q } = ys[i];
        if (!u.series[i + 1].show) return;
        if (s.bucketMs) {
          // The band: one step per bucket, at least 2 px wide so a lone bucket shows.
          ctx.fillStyle = `${colour}33`;
          const half = s.bucketMs / 2;
          for (let k = 0; k < xs.length; k++) {
            if (lo[k] == null || hi[k] == null) continue;
            let x0 = u.valToPos((xs[k] - half) / 1000, "x", true);
            let x1 = u.valToPos((xs[k] + half) / 1000, "x", true);
            if (x1 - x0 < 2 * px) { const c = (x0 + x1) / 2; x0 = c - px; x1 = c + px; }
            const y0 = u.valToPos(hi[k], scale, true);
            const y1 = u.valToPos(lo[k], scale, true);
            ctx.fillRect(x0, y0, x1 - x0, Math.max(px, y1 - y0));
            counts.bandSteps++;
          }
        }
        // A point with no neighbour on its line would not be drawn by a line at all.
        ctx.fillStyle = colour;
        let prev = null;
        const defined = [];
        for (let k = 0; k < xs.length; k++) if (y[k] !== undefined) defined.push(k);
        defined.forEach((k, j) => {
          if (y[k] == null) { prev = null; return; }
          const next = defined[j + 1];
          const alone = prev == null && (next === undefined || y[next] == null);
          prev = k;
          if (!alone) return;
          ctx.beginPath();
          ctx.arc(u.valToPos(xs[k] / 1000, "x", true), u.valToPos(y[k], scale, true), 3 * px, 0, 2 * Math.PI);
          ctx.fill();
          counts.lonePoints++;
        });
        // Bad readings (no value) as a red tick on the time axis; uncertain ones as an
        // amber ring on the line.
        for (const k of defined) {
          if (q[k] === "bad") {
            const x = u.valToPos(xs[k] / 1000, "x", true);
            ctx.fillStyle = BAD;
            ctx.fillRect(x - px, top + height - 8 * px, 2 * px, 8 * px);
            counts.bad++;
          } else if (q[k] === "uncertain" && y[k] != null) {
            ctx.strokeStyle = UNCERTAIN;
            ctx.lineWidth = 1.5 * px;
            ctx.beginPath();
            ctx.arc(u.valToPos(xs[k] / 1000, "x", true), u.valToPos(y[k], scale, true), 4 * px, 0, 2 * Math.PI);
            ctx.stroke();
            counts.uncertain++;
          }
        }
      });
      ctx.restore();
      this.count(counts);
    }

    count(counts = { bandSteps: 0, lonePoints: 0, bad: 0, uncertain: 0 }) {
      const d = this.el.dataset;
      const segs = this.aligned && this.series.length ? this.aligned.ys.map((s) => segments(s.y)) : [];
      d.series = String(this.series.length);
      d.axes = String(new Set(this.series.map((s) => s.unit)).size);
      d.segments = segs.map((s) => s.runs).join(",");
      d.points = segs.map((s) => s.points).join(",");
      d.bandSteps = String(counts.bandSteps);
      d.lonePoints = String(counts.lonePoints);
      d.badMarks = String(counts.bad);
      d.uncertainMarks = String(counts.uncertain);
    }

    // Canvas x (CSS pixels from the canvas' left edge) of time `ms`, for checks.
    xOf(ms) {
      return this.plot ? this.plot.valToPos(ms / 1000, "x", false) + this.plot.bbox.left / (devicePixelRatio || 1) : null;
    }
  }

  return { Chart, COLOURS, fmt };
})();
