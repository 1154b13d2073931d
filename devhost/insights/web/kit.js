// Shared helpers of the portal's pages: DOM building, the KQL query API, formatting.
"use strict";
const kit = (() => {
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // replaceChildren that skips what a condition left out (null, false) and flattens lists.
  const put = (node, ...children) => node.replaceChildren(
    ...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));

  // KQL only, through the portal's query API (duckdb-kql, read-only). Dynamic columns come
  // back as JSON text and are parsed here, so pages read customDimensions as objects.
  async function query(kql, parameters = {}) {
    const response = await fetch("/insights/api/query", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query: kql, parameters }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    const table = body.tables[0];
    const columns = table.columns;
    const rows = table.rows.map((row) => {
      const out = {};
      columns.forEach((c, i) => {
        let v = row[i];
        if (c.type === "dynamic" && typeof v === "string") {
          try { v = JSON.parse(v); } catch { /* kept as text */ }
        }
        out[c.name] = v;
      });
      return out;
    });
    return { columns, rows };
  }

  // A KQL string literal for any text.
  const literal = (text) => JSON.stringify(String(text));

  const time = (iso) => {
    if (!iso) return "";
    const d = new Date(iso.endsWith("Z") || /[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z");
    return d.toISOString().replace("T", " ").replace("Z", "").slice(0, 23);
  };
  const ms = (n) => (n === null || n === undefined ? "" :
    n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${Number(n).toFixed(1)} ms`);
  const epoch = (iso) => new Date(iso.endsWith("Z") || /[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z").getTime();
  const dims = (row) => (row && typeof row.customDimensions === "object" && row.customDimensions) || {};

  // The Executing/Executed lines the host writes around every invocation, and the host's
  // own categories: folded by default so the app's logs stand out.
  const isHostLog = (row) => /^Execut(ing|ed) 'Functions\./.test(row.message || "") ||
    String(dims(row).Category || "").startsWith("Host.");

  return { esc, el, put, query, literal, time, ms, epoch, dims, isHostLog };
})();
