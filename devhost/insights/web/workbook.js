// A generic renderer of Azure Monitor workbooks (gallery format Notebook/1.0) on the local
// tables: text items as markdown, parameters, query items run through the query API (which
// substitutes the parameters as the workbook does), each shown as its visualization says,
// conditional visibility and the parameters a grid exports on click. What it does not
// support it says in place.
"use strict";
const workbookView = (() => {
  const { el, put, query, time } = kit;
  const SVG = "http://www.w3.org/2000/svg";

  function markdown(text) {
    // Code spans first: their text is literal (CommonMark 6.1, code spans bind tighter than
    // emphasis), so a `*` inside one starts no emphasis. The odd parts of the split are the
    // spans' contents.
    const emphasis = (s) => s
      .replace(/\*\*([^*]+)\*\*/g, "<b>$1</b>")
      .replace(/\*([^*]+)\*/g, "<i>$1</i>")
      .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_, t, u) => /^(https?:|#|\/)/.test(u) ? `<a href="${u}">${t}</a>` : t);
    const inline = (s) => kit.esc(s).split(/`([^`]+)`/)
      .map((part, i) => (i % 2 ? `<code>${part}</code>` : emphasis(part))).join("");
    const out = [];
    let list = null;
    for (const line of String(text).split("\n")) {
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      const item = /^\s*[-*]\s+(.*)$/.exec(line);
      if (!item && list) { out.push(`<ul>${list.join("")}</ul>`); list = null; }
      if (heading) out.push(`<h${Math.min(heading[1].length + 1, 6)}>${inline(heading[2])}</h${Math.min(heading[1].length + 1, 6)}>`);
      else if (item) (list ??= []).push(`<li>${inline(item[1])}</li>`);
      else if (line.trim()) out.push(`<p>${inline(line)}</p>`);
    }
    if (list) out.push(`<ul>${list.join("")}</ul>`);
    const node = el("div", { class: "md" });
    node.innerHTML = out.join("");
    return node;
  }

  const unsupported = (what) => el("div", { class: "unsupported", text: `Not supported by the local renderer: ${what}` });

  function visible(item, state) {
    const rules = item.conditionalVisibilities || (item.conditionalVisibility ? [item.conditionalVisibility] : []);
    return rules.every((r) => {
      const value = state[r.parameterName]?.text ?? "";
      if (r.comparison === "isEqualTo") return String(value) === String(r.value ?? "");
      if (r.comparison === "isNotEqualTo") return String(value) !== String(r.value ?? "");
      return true;
    });
  }

  // What the query API substitutes: text as it is, a time range as {durationMs}.
  const parameters = (state) => Object.fromEntries(Object.entries(state).map(([k, v]) => [k, v.wire]));

  function grid(result, content, state, rerender) {
    const exportField = content.exportFieldName;
    const exportTo = content.exportParameterName;
    if (!result.rows.length) return el("div", { class: "empty", text: content.noDataMessage || "The query returned no results." });
    const cell = (c, v) => v === null || v === undefined ? "" :
      c.type === "datetime" ? time(v) : typeof v === "object" ? JSON.stringify(v) : String(v);
    return el("table", { class: "grid wb-grid" },
      el("thead", {}, el("tr", {}, result.columns.map((c) => el("th", { text: c.name })))),
      el("tbody", {}, result.rows.map((r) => el("tr", {
        class: `${exportField ? "clickable" : ""}${exportField && state[exportTo]?.text && state[exportTo].text === String(r[exportField]) ? " selected" : ""}`,
        onclick: exportField ? () => { state[exportTo] = { text: String(r[exportField] ?? ""), wire: String(r[exportField] ?? "") }; rerender(); } : null,
      }, result.columns.map((c) => {
        const text = cell(c, r[c.name]);
        // Short values (a status, a number) never break; long ones (ids) wrap anywhere.
        return el("td", { class: `${c.type === "string" ? "mono" : ""}${text.length <= 12 ? " nowrap" : ""}`, text });
      })))));
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }

  function barChart(result) {
    const label = result.columns.find((c) => c.type === "string") || result.columns[0];
    const value = result.columns.find((c) => ["long", "real", "int"].includes(c.type));
    if (!value) return unsupported("a bar chart without a numeric column");
    const rows = result.rows.slice(0, 30);
    const max = Math.max(...rows.map((r) => Number(r[value.name]) || 0), 1);
    const chart = svg("svg", { class: "chart", width: 720, height: rows.length * 24 + 20 });
    rows.forEach((r, i) => {
      const w = ((Number(r[value.name]) || 0) / max) * 420;
      const text = svg("text", { x: 4, y: i * 24 + 25, "font-size": 11 }); text.textContent = String(r[label.name]).slice(0, 36);
      const num = svg("text", { x: 250 + w + 6, y: i * 24 + 25, "font-size": 11 }); num.textContent = String(r[value.name]);
      chart.append(text, svg("rect", { x: 250, y: i * 24 + 14, width: Math.max(w, 1), height: 14, fill: "#0078d4" }), num);
    });
    return chart;
  }

  function timeChart(result) {
    const x = result.columns.find((c) => c.type === "datetime");
    const series = result.columns.filter((c) => ["long", "real", "int"].includes(c.type));
    const split = result.columns.find((c) => c.type === "string");
    if (!x || !series.length) return unsupported("a time chart without a datetime and a numeric column");
    const lines = new Map();
    for (const r of result.rows) {
      for (const s of split ? [series[0]] : series) {
        const key = split ? String(r[split.name]) : s.name;
        if (!lines.has(key)) lines.set(key, []);
        lines.get(key).push([kit.epoch(r[x.name]), Number(r[s.name]) || 0]);
      }
    }
    const all = [...lines.values()].flat();
    const [t0, t1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
    const vmax = Math.max(...all.map((p) => p[1]), 1);
    const W = 720, H = 220, L = 50, B = 30;
    const chart = svg("svg", { class: "chart", width: W, height: H + 20 + lines.size * 14 });
    // A single instant sits in the middle; every point gets a dot (a one-point line is
    // invisible), and the axis says when it starts and ends.
    const px = (t) => t1 === t0 ? (L + W - 10) / 2 : L + ((t - t0) / (t1 - t0)) * (W - L - 10);
    const py = (v) => H - B - (v / vmax) * (H - B - 10);
    chart.append(svg("line", { x1: L, y1: H - B, x2: W - 10, y2: H - B, stroke: "#8a8886" }));
    const top = svg("text", { x: 4, y: 14, "font-size": 11 }); top.textContent = String(vmax); chart.append(top);
    const zero = svg("text", { x: 4, y: H - B, "font-size": 11 }); zero.textContent = "0"; chart.append(zero);
    for (const [t, anchor] of t1 === t0 ? [[t0, "middle"]] : [[t0, "start"], [t1, "end"]]) {
      const label = svg("text", { x: px(t), y: H - B + 14, "font-size": 11, "text-anchor": anchor, fill: "#605e5c" });
      label.textContent = time(new Date(t).toISOString().replace("Z", "")).slice(11, 16) + " UTC";
      chart.append(label);
    }
    const colors = ["#0078d4", "#d13438", "#107c10", "#8764b8", "#ca5010", "#038387"];
    [...lines.entries()].forEach(([key, points], i) => {
      points.sort((a, b) => a[0] - b[0]);
      chart.append(svg("polyline", { points: points.map(([t, v]) => `${px(t)},${py(v)}`).join(" "), fill: "none", stroke: colors[i % colors.length], "stroke-width": 2 }));
      for (const [t, v] of points) chart.append(svg("circle", { cx: px(t), cy: py(v), r: 3, fill: colors[i % colors.length] }));
      const legend = svg("text", { x: L, y: H + 4 + i * 14, "font-size": 11, fill: colors[i % colors.length] }); legend.textContent = key;
      chart.append(legend);
    });
    return chart;
  }

  function tiles(result) {
    const title = result.columns.find((c) => c.type === "string") || result.columns[0];
    const value = result.columns.find((c) => ["long", "real", "int"].includes(c.type)) || result.columns[1] || title;
    return el("div", { class: "tiles" }, result.rows.map((r) => el("div", { class: "tile" },
      el("div", { class: "muted", text: String(r[title.name] ?? "") }), el("div", { class: "v", text: String(r[value.name] ?? "") }))));
  }

  const VISUALS = { table: grid, grid, barchart: barChart, categoricalbar: barChart, timechart: timeChart, linechart: timeChart, tiles };

  async function queryItem(item, state, rerender) {
    const c = item.content;
    const box = el("div", { class: "wb-item", dataset: { name: item.name || "" } }, c.title ? el("div", { class: "title", text: c.title }) : null);
    if (c.queryType !== undefined && c.queryType !== 0) { box.append(unsupported(`queryType ${c.queryType} (only Logs/KQL queries run locally)`)); return box; }
    let result;
    try {
      result = await query(c.query, parameters(state));
    } catch (error) {
      box.append(el("div", { class: "qerror", text: error.message })); return box;
    }
    const kind = c.visualization || "table";
    const draw = VISUALS[kind];
    if (!draw) box.append(unsupported(`visualization "${kind}" (shown as a grid)`), grid(result, c, state, rerender));
    else box.append(draw(result, c, state, rerender));
    return box;
  }

  async function parameterItem(item, state, rerender) {
    const box = el("div", { class: "wb-params wb-item" });
    for (const p of item.content.parameters || []) {
      const label = el("label", {}, p.label || p.name);
      if (p.type === 4) {
        const choices = (p.typeSettings?.selectableValues || [{ durationMs: 3600000 }, { durationMs: 86400000 }]).map((v) => v.durationMs);
        const current = state[p.name]?.wire?.durationMs;
        const select = el("select", { "data-param": p.name, onchange: (e) => { state[p.name] = { text: e.target.value, wire: { durationMs: Number(e.target.value) } }; rerender(); } },
          choices.map((d) => el("option", { value: d, selected: d === current, text: durationLabel(d) })));
        label.append(select);
      } else if (p.type === 1) {
        const input = el("input", { "data-param": p.name, value: state[p.name]?.text ?? "", onchange: (e) => { state[p.name] = { text: e.target.value, wire: e.target.value }; rerender(); } });
        label.append(input);
      } else if (p.type === 2) {
        const select = el("select", { "data-param": p.name, onchange: (e) => { state[p.name] = { text: e.target.value, wire: e.target.value }; rerender(); } });
        let options = [];
        try {
          if (p.query) options = (await query(p.query, parameters(state))).rows.map((r) => Object.values(r));
          else if (p.jsonData) options = JSON.parse(p.jsonData).map((o) => [o.value, o.label ?? o.value]);
        } catch (error) { label.append(el("span", { class: "qerror", text: error.message })); }
        select.append(el("option", { value: "", text: "(any)" }), ...options.map(([v, l]) => el("option", { value: v, selected: state[p.name]?.text === String(v), text: l ?? v })));
        label.append(select);
      } else if (p.type === 5) {
        label.append(el("select", { disabled: "" }, el("option", { text: "this devhost's local Application Insights" })));
      } else {
        label.append(unsupported(`parameter type ${p.type}`));
      }
      box.append(label);
    }
    return box;
  }

  function durationLabel(d) {
    const units = [[86400000, "day"], [3600000, "hour"], [60000, "minute"]];
    for (const [u, w] of units) if (d % u === 0) return `Last ${d / u} ${w}${d / u === 1 ? "" : "s"}`;
    return `Last ${d} ms`;
  }

  function initial(items, state) {
    for (const item of items) {
      if (item.type === 9) {
        for (const p of item.content.parameters || []) {
          if (p.name in state) continue;
          if (p.type === 4) state[p.name] = { text: String(p.value?.durationMs ?? 86400000), wire: { durationMs: p.value?.durationMs ?? 86400000 } };
          else state[p.name] = { text: String(p.value ?? ""), wire: String(p.value ?? "") };
        }
      }
      if (item.type === 12) initial(item.content.items || [], state);
    }
  }

  // The items' queries run side by side (the portal does the same), shown in their order.
  async function renderItems(items, state, rerender) {
    const out = items.filter((item) => visible(item, state)).map(async (item) => {
      if (item.type === 1) return el("div", { class: "wb-item" }, markdown(item.content.json || ""));
      if (item.type === 9) return parameterItem(item, state, rerender);
      if (item.type === 3) return queryItem(item, state, rerender);
      if (item.type === 12) return el("div", { class: "wb-item" }, await renderItems(item.content.items || [], state, rerender));
      return unsupported(`item type ${item.type}${item.name ? ` ("${item.name}")` : ""}`);
    });
    return Promise.all(out);
  }

  async function show(main, name, config) {
    if (!name) {
      put(main, el("div", { class: "empty", text: "No workbook: devhost shows the *.workbook files of the app's dashboards/ folder." }));
      return;
    }
    const response = await fetch(`/insights/api/workbooks/${encodeURIComponent(name)}`);
    const workbook = await response.json();
    if (!response.ok) throw new Error(workbook.error);
    const state = {};
    initial(workbook.items || [], state);
    const body = el("div", { id: "workbook" });
    const picker = config.workbooks.length > 1 ? el("select", { onchange: (e) => { location.hash = `#/workbook/${e.target.value}`; } },
      config.workbooks.map((w) => el("option", { value: w, selected: w === name, text: w }))) : null;
    put(main, el("h1", {}, `Workbook ${name} `, picker), body);
    let generation = 0;
    const rerender = async () => {
      const mine = ++generation;
      const items = await renderItems(workbook.items || [], state, rerender);
      if (mine === generation) put(body, ...items);
    };
    if (workbook.version !== "Notebook/1.0") body.append(unsupported(`workbook version ${workbook.version}`));
    await rerender();
  }

  return { show };
})();
