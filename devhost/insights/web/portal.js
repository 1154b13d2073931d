// The portal: the runs list, a run's transaction view, and the router between them and the
// workbook view (workbook.js). Every row comes from KQL sent to the query API.
"use strict";
const { el, put, query, literal, time, ms, epoch, dims, isHostLog } = kit;
const main = document.getElementById("main");
let config = { managementUrl: null, workbooks: [] };
let timer = null;

// One row per root operation: web/runs.kql (the same file the tests run), fetched once.
let RUNS_KQL = null;

function runsQuery(text, status) {
  let kql = RUNS_KQL.trim();
  if (text) {
    const t = literal(text);
    kql = `let matching = union requests, dependencies, traces, exceptions
| where name contains ${t} or message contains ${t} or operation_Id contains ${t}
    or tostring(customDimensions) contains ${t}
| distinct operation_Id;
${kql}
| join kind=inner matching on operation_Id`;
  }
  if (status) kql += `\n| where status == ${literal(status)}`;
  return kql + "\n| order by start desc\n| take 200";
}

function setActive(which) {
  for (const id of ["nav-runs", "nav-workbook"]) {
    document.getElementById(id).classList.toggle("active", id === which);
  }
}

function statusBadge(status) {
  return el("span", { class: `status ${status}`, text: status });
}

// A root request answered with a 4xx/5xx code: Functions counts it a success, as the
// function returned a response (success is the invocation's outcome: azure-webjobs-sdk
// f79ea0b, ApplicationInsightsLogger.LogFunctionResult; devhost/host/requests.py), so the
// status stays and the code is shown beside it.
function refused(code) {
  return /^[45]\d\d$/.test(String(code ?? "")) ? el("span", { class: "code", title: "the root request's result code", text: String(code) }) : null;
}

async function showRuns() {
  setActive("nav-runs");
  const search = el("input", { type: "search", id: "run-filter", placeholder: "Filter: names, instance ids, dimensions, messages" });
  const status = el("select", { id: "status-filter" },
    ["", "Completed", "Failed", "Running"].map((s) => el("option", { value: s, text: s || "All statuses" })));
  const range = el("select", { id: "range-filter" },
    [[3600000, "Last hour"], [86400000, "Last 24 hours"], [604800000, "Last 7 days"], [2592000000, "Last 30 days"]]
      .map(([d, label]) => el("option", { value: d, selected: d === 86400000, text: label })));
  const count = el("span", { class: "muted", id: "run-count" });
  const holder = el("div", { id: "runs" });
  put(main, el("h1", { text: "Runs" }),
    el("div", { class: "toolbar" }, search, status, range, count), holder);
  let last = "";
  let busy = false;
  let again = false;
  async function refresh() {
    // One query in flight: a slow answer is not asked again before it arrives, and a filter
    // changed meanwhile is asked for as soon as it does.
    if (busy) { again = true; return; }
    busy = true;
    let result;
    try {
      result = await query(runsQuery(search.value.trim(), status.value),
        { TimeRange: { durationMs: Number(range.value) } });
    } catch (error) {
      put(holder, el("div", { class: "qerror", text: error.message }));
      return;
    } finally {
      busy = false;
      if (again) { again = false; setTimeout(refresh, 0); }
    }
    const signature = JSON.stringify(result.rows);
    if (signature === last) return;
    last = signature;
    count.textContent = `${result.rows.length} run(s), refreshed live`;
    if (!result.rows.length) {
      put(holder, el("div", { class: "empty", text: "No runs yet: start one, it appears here within a second." }));
      return;
    }
    put(holder, el("table", { class: "grid", id: "runs-table" },
      el("thead", {}, el("tr", {}, ["Start (UTC)", "Root operation", "Status", "Duration", "Instance ids", "Items"].map((h) => el("th", { text: h })))),
      el("tbody", {}, result.rows.map((r) => el("tr", {
        class: "clickable run", dataset: { operation: r.operation_Id, status: r.status },
        onclick: () => { location.hash = `#/run/${r.operation_Id}`; },
      },
      el("td", { class: "mono", text: time(r.start) }),
      el("td", {}, el("a", { href: `#/run/${r.operation_Id}`, text: r.root || "(no root row)" })),
      el("td", {}, statusBadge(r.status), refused(r.rootResultCode)),
      el("td", { text: ms(r.durationMs) }),
      el("td", { class: "mono lines", text: (r.instances || []).filter(Boolean).sort().join("\n") || "—" }),
      el("td", { text: r.items }))))));
  }
  search.addEventListener("input", () => { last = ""; refresh(); });
  status.addEventListener("change", () => { last = ""; refresh(); });
  range.addEventListener("change", () => { last = ""; refresh(); });
  await refresh();
  timer = setInterval(refresh, 1000);
}

// The user's exception in an exceptions row. A host row of a failed invocation may wrap it
// as the Functions host does: its RpcException's message is "Result: Failure\nException:
// <type>: <message>\nStack: <traceback>" (azure-functions-host v4.1037.0,
// Workers/Rpc/RpcException.cs); devhost/insights/view.py reads it the same way.
function userException(x) {
  for (const text of [x.innermostMessage, x.message, x.outerMessage]) {
    const wrapped = /(?:^|\n)Exception: ([A-Za-z_][\w.]*): ([^\n]*)/.exec(text || "");
    if (wrapped) return { type: wrapped[1], message: wrapped[2].trim(), text };
  }
  return { type: x.type || x.outerType || "Exception", message: x.outerMessage || x.message || x.innermostMessage || "", text: "" };
}

// The exceptions rows filed under a span, and the reason a failed span gives.
function failureOf(span, exceptions) {
  const own = exceptions.filter((x) => x.operation_ParentId === span.id);
  if (own.length) return userException(own[0]);
  if (span.success === false) {
    const reason = String(dims(span)["otel.status_description"] || "").split("\n")[0].trim();
    if (reason) return { type: "", message: reason };
    return { type: "", message: `failed (result code ${span.resultCode ?? "?"})` };
  }
  return null;
}

function tree(spans) {
  const byId = new Map(spans.map((s) => [s.id, { span: s, children: [] }]));
  const roots = [];
  for (const node of byId.values()) {
    const parent = byId.get(node.span.operation_ParentId);
    (parent && parent !== node ? parent.children : roots).push(node);
  }
  const order = (a, b) => epoch(a.span.timestamp) - epoch(b.span.timestamp);
  const flat = [];
  const walk = (node, depth) => {
    flat.push({ ...node, depth });
    node.children.sort(order).forEach((c) => walk(c, depth + 1));
  };
  roots.sort(order).forEach((r) => walk(r, 0));
  return flat;
}

// Python frames in an exception's own stack (the app's rows), not quoted in a message.
function hasOwnFrames(exception) {
  let details = exception.details;
  if (typeof details === "string") { try { details = JSON.parse(details); } catch { details = null; } }
  return Array.isArray(details) && details.some((d) => /File "/.test(d.stack || ""));
}

function stackOf(exception) {
  let details = exception.details;
  if (typeof details === "string") { try { details = JSON.parse(details); } catch { details = null; } }
  const parts = Array.isArray(details) ? details.map((d) => d.stack || `${d.typeName}: ${d.message}`) : [];
  const wrapped = userException(exception).text;
  if (wrapped) parts.push(wrapped);
  return parts.join("\n") || `${exception.type}: ${exception.message}`;
}

// A failed orchestration's status carries the activity's exception as the Durable extension
// serializes it (JSON after the first line, its RemoteStackTrace the worker's traceback):
// the tracebacks in it, innermost exception last, for the details pane.
function remoteStacks(text) {
  const at = String(text || "").indexOf('{"$type"');
  if (at < 0) return [];
  let parsed;
  try { parsed = JSON.parse(text.slice(at)); } catch { return []; }
  const stacks = [];
  for (let x = parsed; x && typeof x === "object"; x = x.InnerException) {
    if (x.RemoteStackTrace) stacks.push(x.RemoteStackTrace);
  }
  return stacks;
}

function details(span, logs, exceptions, pane, byId = new Map()) {
  const d = dims(span);
  const columns = Object.entries(span).filter(([k]) => k !== "customDimensions" && k !== "customMeasurements");
  const instance = d["durabletask.task.instance_id"];
  const own = exceptions.filter((x) => x.operation_ParentId === span.id);
  const underLogs = logs.filter((l) => l.operation_ParentId === span.id);
  const reason = span.success === false ? d["otel.status_description"] : null;
  let remote = remoteStacks(reason);
  // Exception rows without frames of their own (the host's rows of the failed invocation:
  // the RpcException quotes the worker's traceback in its message, its .NET stack has none):
  // the traceback the orchestration above it got for the same failure.
  if (!remote.length && own.length && !own.some(hasOwnFrames)) {
    for (let up = byId.get(span.operation_ParentId); up && !remote.length; up = byId.get(up.operation_ParentId)) {
      remote = remoteStacks(dims(up)["otel.status_description"]);
    }
  }
  put(pane,
    el("h2", { text: span.name }),
    span.success === false ? el("div", { class: "failure" }, el("span", { class: "type", text: "Failed" })) : null,
    own.length ? el("h3", { text: `Exceptions (${own.length})` }) : null,
    own.map((x) => el("div", { class: "exception" },
      el("div", {}, el("b", { text: userException(x).type }), ": ", userException(x).message),
      el("pre", { class: "stack", text: stackOf(x) }))),
    remote.length ? el("h3", { text: "Stack (the failed activity's, as the orchestration got it)" }) : null,
    remote.length ? el("pre", { class: "stack", id: "remote-stack", text: remote.join("\n") }) : null,
    reason ? el("h3", { text: "Status description" }) : null,
    reason ? el("pre", { class: "stack", id: "status-description", text: reason }) : null,
    instance && config.managementUrl ? el("p", {},
      "Durable instance: ",
      el("a", { href: `${config.managementUrl}/instances/${encodeURIComponent(instance)}`, target: "_blank", text: "status" }), " · ",
      el("a", { href: `${config.managementUrl}/instances/${encodeURIComponent(instance)}?showHistory=true&showHistoryOutput=true`, target: "_blank", text: "history" })) : null,
    el("h3", { text: "Columns" }),
    el("dl", { class: "kv" }, columns.map(([k, v]) => [el("dt", { text: k }), el("dd", { class: "mono", text: v === null ? "" : String(v) })])),
    el("h3", { text: "customDimensions" }),
    el("dl", { class: "kv" }, Object.entries(d).map(([k, v]) => [el("dt", { text: k }), el("dd", { class: "mono", text: typeof v === "object" ? JSON.stringify(v) : String(v) })])),
    el("h3", { text: `Logs under this row (${underLogs.length})` }),
    underLogs.length ? el("table", { class: "grid" }, el("tbody", {}, underLogs.map((l) => el("tr", {},
      el("td", { class: "mono nowrap", text: time(l.timestamp).slice(11) }),
      el("td", { class: "nowrap", text: ["Verbose", "Information", "Warning", "Error", "Critical"][l.severityLevel] ?? "" }),
      el("td", { text: l.message }))))) : el("p", { class: "muted", text: "none" }));
}

async function showRun(operation) {
  setActive("nav-runs");
  put(main, el("p", { class: "muted", text: "Loading…" }));
  const op = literal(operation);
  const [spans, logs, exceptions] = await Promise.all([
    query(`union requests, dependencies | where operation_Id == ${op} | order by timestamp asc`),
    query(`union traces, customEvents | where operation_Id == ${op} | order by timestamp asc`),
    query(`exceptions | where operation_Id == ${op} | order by timestamp asc`),
  ]).then((all) => all.map((r) => r.rows));
  if (!spans.length) {
    put(main, el("div", { class: "empty", text: `No spans for operation ${operation}.` }));
    return;
  }
  const rows = tree(spans);
  const byId = new Map(spans.map((x) => [x.id, x]));
  const start = Math.min(...spans.map((s) => epoch(s.timestamp)));
  const end = Math.max(...spans.map((s) => epoch(s.timestamp) + (s.duration || 0)));
  const total = Math.max(end - start, 1);
  const pct = (t) => ((t - start) / total) * 100;
  const failed = rows.filter((r) => failureOf(r.span, exceptions));
  // The deepest failure is where it began: an activity's exception, not the orchestration
  // that failed because of it.
  const first = failed.sort((a, b) => b.depth - a.depth)[0];
  const firstFailure = first ? failureOf(first.span, exceptions) : null;
  const showHost = el("input", { type: "checkbox", id: "show-host-logs" });
  const waterfall = el("div", { class: "waterfall", id: "waterfall" });
  // Hidden until a row is selected: the waterfall takes the width until then.
  const pane = el("div", { class: "details", id: "details", hidden: true });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => el("div", { class: "tick", style: `left:${f * 100}%`, text: f === 1 ? "" : ms(total * f) }));
  const hostCount = logs.filter(isHostLog).length;

  function select(row, span) {
    waterfall.querySelectorAll(".wf-row.selected").forEach((x) => x.classList.remove("selected"));
    row.classList.add("selected");
    pane.hidden = false;
    details(span, logs, exceptions, pane, byId);
  }

  function render() {
    const lines = [];
    for (const r of rows) {
      const s = r.span;
      const failure = failureOf(s, exceptions);
      const inst = dims(s)["durabletask.task.instance_id"];
      const row = el("div", {
        class: `wf-row${failure ? " failed" : ""}`, dataset: { id: s.id, name: s.name, failed: failure ? "true" : "false" },
        onclick: () => select(row, s),
      },
      el("div", { class: "name", style: `padding-left:${8 + r.depth * 16}px` },
        el("span", { class: "kind", text: s.itemType === "request" ? "REQ" : "DEP" }),
        el("span", { class: "label", text: s.name }),
        inst ? el("span", { class: "inst mono", text: inst }) : null,
        // The whole message once, on the row where the failure began; the rows it failed
        // with it say only what failed them (the message on hover).
        failure ? el("span", {
          class: "err", title: `${failure.type ? failure.type + ": " : ""}${failure.message}`,
          text: r === first ? `${failure.type ? failure.type + ": " : ""}${failure.message}` : `✗ ${failure.type || "failed"}`,
        }) : null),
      el("div", { class: "dur", text: ms(s.duration) }),
      el("div", { class: "lane" },
        [25, 50, 75].map((p) => el("div", { class: "grid-line", style: `left:${p}%` })),
        el("div", { class: `bar ${s.itemType}${failure ? " failed" : ""}`, title: `${s.name} ${ms(s.duration)}`,
          style: `left:${pct(epoch(s.timestamp))}%;width:${Math.max(((s.duration || 0) / total) * 100, 0.2)}%` })));
      lines.push(row);
      for (const l of logs.filter((x) => x.operation_ParentId === s.id && (showHost.checked || !isHostLog(x)))) {
        lines.push(el("div", { class: `wf-log sev${l.severityLevel ?? 1}` },
          el("div", { class: "msg", style: `padding-left:${30 + r.depth * 16}px`, text: `· ${l.message}` }),
          el("div", {}),
          el("div", { class: "lane" }, el("div", { class: "dot", style: `left:${pct(epoch(l.timestamp))}%` }))));
      }
    }
    put(waterfall,
      el("div", { class: "wf-head" }, el("div", { text: "Operation" }), el("div", { class: "dur", text: "Duration" }), el("div", { class: "axis" }, ticks)),
      ...lines,
      el("div", { class: "legend" },
        el("span", {}, el("i", { style: "background:#0078d4" }), "request (SERVER)"),
        el("span", {}, el("i", { style: "background:#8764b8" }), "dependency (CLIENT, PRODUCER, INTERNAL)"),
        el("span", {}, el("i", { style: "background:#d13438" }), "failed"),
        el("span", {}, `total ${ms(total)}`)));
  }
  showHost.addEventListener("change", render);
  render();
  put(main,
    el("p", {}, el("a", { href: "#/", text: "← Runs" })),
    el("h1", {}, `Transaction ${operation} `, statusBadge(firstFailure ? "Failed" : "Completed")),
    firstFailure ? el("div", {
      class: "failure clickable", id: "failure", title: "select the row where it failed",
      onclick: () => {
        const row = waterfall.querySelector(`.wf-row[data-id="${CSS.escape(first.span.id)}"]`);
        if (row) { select(row, first.span); row.scrollIntoView({ block: "nearest" }); }
      },
    },
      el("div", {}, el("span", { class: "type", text: firstFailure.type || "Failed" }), firstFailure.type ? `: ${firstFailure.message}` : `: ${firstFailure.message}`),
      el("div", { class: "muted", text: `in ${first.span.name}${dims(first.span)["durabletask.task.instance_id"] ? " · " + dims(first.span)["durabletask.task.instance_id"] : ""} — click here for its row and stack` })) : null,
    el("div", { class: "toolbar" }, el("label", {}, showHost, ` show the host's Executing/Executed lines (${hostCount})`)),
    el("div", { class: "layout" }, waterfall, pane));
}

async function route() {
  if (timer) { clearInterval(timer); timer = null; }
  const hash = location.hash || "#/";
  try {
    if (hash.startsWith("#/run/")) await showRun(decodeURIComponent(hash.slice(6)));
    else if (hash.startsWith("#/workbook")) {
      setActive("nav-workbook");
      await workbookView.show(main, decodeURIComponent(hash.slice(11)) || config.workbooks[0], config);
    } else await showRuns();
  } catch (error) {
    put(main, el("div", { class: "qerror", text: String(error.message || error) }));
  }
}

(async () => {
  config = await (await fetch("/insights/api/config")).json();
  RUNS_KQL = await (await fetch("/insights/static/runs.kql")).text();
  window.addEventListener("hashchange", route);
  await route();
})();
