// The memory inspector (/ui): plain ES module, no build step. Every value from the server is
// put into the page as text (never as HTML). Routes live in the URL hash:
//   #/                          users -> cubes
//   #/cube/<cube>?kind&status&q  the memories table (search with q)
//   #/cube/<cube>/recall         recall explained
//   #/cube/<cube>/graph          relations graph (cytoscape.js, loaded on first use)
//   #/memory/<id>                one memory: fields, edit, archive, delete, history timeline
//   #/tasks                      durable tasks: retry, cancel

const view = document.getElementById("view");
const errorBox = document.getElementById("error");
// one colour per score part, the same in every row (unknown parts get a colour from their name)
const PART_COLORS = { vector: "#2f5fd0", bm25: "#e08a1e", impression: "#1e8a4c", time: "#c0392b", session: "#16a085",
  speaker: "#d35400", character: "#7f8c8d", linked: "#2c3e50", neighbour: "#8e44ad" };
const EXTRA_COLORS = ["#b03a8c", "#5d6d7e", "#a0522d", "#117a65"];
const partColor = name => PART_COLORS[name] || EXTRA_COLORS[[...name].reduce((s, c) => s + c.charCodeAt(0), 0) % EXTRA_COLORS.length];

// ------------------------------------------------------------------------------------------
// helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// replaceChildren without the null / false placeholders of conditional children
function put(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter(c => c !== null && c !== undefined && c !== false));
}

async function api(path, options = {}) {
  const init = { method: options.method || "GET", credentials: "same-origin",
                 headers: { "X-Memos-UI": "1", Accept: "application/json" } };
  if (options.body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const reply = await fetch("/ui/api" + path, init);
  let data = null;
  try { data = await reply.json(); } catch { data = null; }
  if (reply.status === 401) { location.reload(); throw new Error("not logged in"); }
  if (!reply.ok) {
    const message = (data && (data.message || data.msg)) || `HTTP ${reply.status}`;
    const err = new Error(message); err.status = reply.status; throw err;
  }
  return data;
}

function showError(err) {
  errorBox.hidden = !err;
  errorBox.textContent = err ? (err.status ? `${err.status}: ` : "") + err.message : "";
}

function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toISOString().replace("T", " ").slice(0, 16);
}

const num = (x, digits = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
const badge = (text, cls) => h("span", { class: `badge ${cls || text}` }, text);
const enc = encodeURIComponent;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || "") };
}

function select(name, value, options, attrs = {}) {
  return h("select", { name, id: attrs.id || name, ...attrs },
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

// ------------------------------------------------------------------------------------------
// sidebar: users -> cubes

let currentCube = null;

async function loadTree() {
  const tree = document.getElementById("tree");
  try {
    const who = await api("/whoami");
    document.getElementById("who").textContent = who.open ? "open server (no API keys)"
      : `key of ${who.unrestricted ? "every user" : who.users.join(", ") || "no user"}`;
    if (who.open) document.getElementById("logout").hidden = true;
    const { users } = await api("/users");
    put(tree, ...(users.length ? users.map(u => h("div", { class: "user", dataset: { user: u.user_id } },
      h("b", {}, u.user_id),
      h("ul", {}, u.cubes.map(c => h("li", {}, h("a", { href: `#/cube/${enc(c)}`, class: c === currentCube ? "active" : null,
        dataset: { cube: c } }, c)))))) : [h("p", { class: "muted" }, "No memories this key may read yet.")]));
    return users;
  } catch (err) { tree.textContent = ""; showError(err); return []; }
}

function markActive() {
  for (const a of document.querySelectorAll("#tree a")) a.classList.toggle("active", a.dataset.cube === currentCube);
}

// ------------------------------------------------------------------------------------------
// views

async function homeView() {
  const users = await loadTree();
  put(view, h("h1", {}, "Users"),
    users.length ? h("table", { id: "users-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "user"), h("th", {}, "cubes"))),
      h("tbody", {}, users.map(u => h("tr", { dataset: { user: u.user_id } }, h("td", {}, u.user_id),
        h("td", {}, u.cubes.map((c, i) => [i ? ", " : "", h("a", { href: `#/cube/${enc(c)}` }, c)]))))))
      : h("p", { class: "muted" }, "Nothing to show: this key may not read any cube that holds memories."));
}

function cubeTabs(cube, active) {
  const tab = (key, label, href) => h("a", { href, class: key === active ? "active" : null, id: `tab-${key}` }, label);
  return [h("h1", {}, "Cube ", h("span", { class: "mono" }, cube)),
    h("div", { class: "tabs" }, tab("memories", "Memories", `#/cube/${enc(cube)}`),
      tab("recall", "Recall explained", `#/cube/${enc(cube)}/recall`),
      tab("graph", "Relations graph", `#/cube/${enc(cube)}/graph`))];
}

async function memoriesView(cube, params) {
  const kind = params.get("kind") || "all", status = params.get("status") || "all";
  const q = params.get("q") || "", search = params.get("search") || "hybrid", filter = params.get("filter") || "";
  const offset = Number(params.get("offset") || 0), limit = 50;
  const form = h("form", { class: "toolbar", id: "memory-filter" },
    h("label", {}, "kind", select("kind", kind, [["all", "all"], ["fact", "fact"], ["preference", "preference"],
      ["tool", "tool"], ["skill", "skill"], ["knowledge", "knowledge"], ["raw", "raw (fast)"]])),
    h("label", {}, "status", select("status", status, [["all", "all"], ["activated", "activated"],
      ["invalid", "invalid"], ["archived", "archived"]])),
    h("label", {}, "search", h("input", { name: "q", id: "q", value: q, placeholder: "words or a question", size: 30 })),
    h("label", {}, "as", select("search", search, [["hybrid", "hybrid (BM25 + vector)"], ["fulltext", "full-text (BM25)"]])),
    h("label", {}, "filter (MemOS DSL, list only)", h("input", { name: "filter", id: "filter", value: filter,
      placeholder: '{"tags": "travel"}', size: 24 })),
    h("button", { type: "submit", id: "apply" }, "Apply"));
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v && !(k === "kind" && v === "all") && !(k === "status" && v === "all")) p.set(k, v);
    if (!p.get("q")) p.delete("search");
    location.hash = `#/cube/${enc(cube)}` + (p.toString() ? "?" + p : "");
  });
  put(view, ...cubeTabs(cube, "memories"), form, h("p", { class: "muted" }, "loading…"));
  const query = new URLSearchParams({ kind, status, offset, limit });
  if (q) { query.set("q", q); query.set("search", search); }
  if (filter && !q) query.set("filter", filter);
  const data = await api(`/cubes/${enc(cube)}/memories?${query}`);
  const searching = Boolean(q);
  const head = ["kind", "status", "memory", "happened", "created", "updated", "impression", "recalls"];
  if (searching) head.push("score");
  const table = h("table", { id: "memories" },
    h("thead", {}, h("tr", {}, head.map(c => h("th", {}, c)))),
    h("tbody", {}, data.items.map(m => h("tr", { dataset: { id: m.id } },
      h("td", {}, badge(m.kind, "kind")), h("td", {}, badge(m.status)),
      h("td", {}, h("a", { href: `#/memory/${enc(m.id)}`, class: "memory-link" }, m.key ? `${m.key}: ${m.memory}` : m.memory)),
      h("td", { class: "when" }, when(m.happened_at)), h("td", { class: "when" }, when(m.created_at)),
      h("td", { class: "when" }, when(m.updated_at)), h("td", { class: "num" }, num(m.impression, 2)),
      h("td", { class: "num" }, m.recall_count),
      searching ? h("td", { class: "num", title: `bm25 ${num(m.bm25)} · distance ${num(m.distance)}` }, num(m.score)) : null))));
  const pager = searching ? h("p", { class: "muted" }, `${data.total} best matches (${search})`) :
    h("div", { class: "pager" },
      h("button", { class: "secondary", disabled: offset <= 0, onclick: () => { params.set("offset", Math.max(0, offset - limit)); location.hash = `#/cube/${enc(cube)}?${params}`; } }, "← newer"),
      h("span", { class: "muted", id: "total" }, `${data.total ? offset + 1 : 0}–${offset + data.items.length} of ${data.total}`),
      h("button", { class: "secondary", disabled: offset + limit >= data.total, onclick: () => { params.set("offset", offset + limit); location.hash = `#/cube/${enc(cube)}?${params}`; } }, "older →"));
  put(view, ...cubeTabs(cube, "memories"), form, data.items.length ? table : h("p", { class: "muted", id: "empty" }, "No memories match."), pager);
}

function scoreParts(parts) {
  const all = Object.entries(parts || {});
  if (!all.length) return h("span", { class: "partlist" }, "(no score parts reported)");
  const entries = all.filter(([, v]) => Math.abs(v) >= 0.0005);  // the zero parts: in the tooltip only
  const total = entries.reduce((s, [, v]) => s + Math.abs(v), 0) || 1;
  return h("div", { class: "score-parts", title: all.map(([k, v]) => `${k} ${num(v)}`).join("\n") },
    h("div", { class: "parts" }, entries.map(([k, v], i) => h("span", { title: `${k} ${num(v)}`,
      style: `width:${(100 * Math.abs(v) / total).toFixed(1)}%;background:${partColor(k)}` }))),
    h("div", { class: "partlist" }, entries.map(([k, v], i) => [i ? " · " : "",
      h("span", { class: "part", dataset: { part: k }, style: `border-bottom:2px solid ${partColor(k)}` }, `${k} ${num(v)}`)])));
}

async function recallView(cube, params) {
  const defaults = { query: params.get("query") || "", mode: params.get("mode") || "fast",
    threshold: params.get("threshold") || "0.3", top_k: params.get("top_k") || "9", reference_time: params.get("reference_time") || "" };
  const form = h("form", { class: "toolbar", id: "recall-form" },
    h("label", {}, "query", h("input", { name: "query", id: "recall-query", value: defaults.query, size: 40, required: true })),
    h("label", {}, "mode", select("mode", defaults.mode, [["fast", "fast"], ["fine", "fine (LLM)"], ["mixture", "mixture"]], { id: "recall-mode" })),
    h("label", {}, "threshold", h("input", { name: "threshold", id: "recall-threshold", type: "number", min: 0, max: 1, step: 0.05, value: defaults.threshold })),
    h("label", {}, "top_k", h("input", { name: "top_k", id: "recall-topk", type: "number", min: 1, max: 25, value: defaults.top_k })),
    h("label", {}, "time (reference)", h("input", { name: "reference_time", id: "recall-time", type: "datetime-local", value: defaults.reference_time })),
    h("button", { type: "submit", id: "recall-run" }, "Recall"));
  const out = h("div", { id: "recall-result" });
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = { cube_id: cube, query: f.get("query"), mode: f.get("mode"), threshold: Number(f.get("threshold")),
      top_k: Number(f.get("top_k")) };
    if (f.get("reference_time")) body.reference_time = new Date(f.get("reference_time")).toISOString();
    put(out, h("p", { class: "muted" }, "recalling…"));
    try { showError(null); renderRecall(out, await api("/recall", { method: "POST", body })); }
    catch (err) { put(out); showError(err); }
  });
  put(view, ...cubeTabs(cube, "recall"),
    h("p", { class: "muted" }, "Runs recall as the API would (nothing is reinforced or counted), and again with threshold 0 to show what the threshold cut."),
    form, out);
  if (defaults.query) form.requestSubmit();
}

function renderRecall(out, data) {
  const kept = data.items.filter(i => i.kept).length;
  const info = [`${kept} kept, ${data.items.length - kept} cut`, `mode ${data.mode}`, `threshold ${data.threshold}`, `top_k ${data.top_k}`];
  if (data.time_cue) info.push(`time cue “${data.time_cue}” → ${data.time_window.map(when).join(" – ")}`);
  if (data.rewritten_query) info.push(`rewritten: “${data.rewritten_query}”`);
  put(out, 
    h("p", { class: "muted", id: "recall-summary" }, info.join(" · ")),
    data.warnings.length ? h("p", { class: "error" }, data.warnings.join("; ")) : null,
    h("table", { id: "recall-items" },
      h("thead", {}, h("tr", {}, ["#", "", "bucket", "memory", "score", "relativity", "impression", "parts of the score"].map(c => h("th", {}, c)))),
      h("tbody", {}, data.items.map((it, i) => h("tr", { class: it.kept ? "kept" : "cut", dataset: { id: it.memory.id } },
        h("td", { class: "num" }, i + 1),
        h("td", {}, it.kept ? badge("kept") : badge(it.cut === "threshold" ? "below threshold" : "beyond top_k", it.cut)),
        h("td", {}, it.bucket), h("td", {}, h("a", { href: `#/memory/${enc(it.memory.id)}` }, it.memory.memory)),
        h("td", { class: "num" }, num(it.score)), h("td", { class: "num" }, num(it.relativity)),
        h("td", { class: "num" }, num(it.impression)), h("td", {}, scoreParts(it.score_parts)))))),
    h("h2", {}, "memoryPrompt (exactly what would be injected)"),
    h("pre", { class: "prompt", id: "memory-prompt" }, data.memory_prompt || "(empty: nothing passed the threshold)"));
}

let cytoscapeLoading = null;
function loadCytoscape() {
  if (window.cytoscape) return Promise.resolve(window.cytoscape);
  cytoscapeLoading ||= new Promise((resolve, reject) => {
    const s = h("script", { src: "/ui/static/vendor/cytoscape.min.js" });
    s.onload = () => resolve(window.cytoscape); s.onerror = () => reject(new Error("could not load cytoscape.js"));
    document.head.append(s);
  });
  return cytoscapeLoading;
}

async function graphView(cube, params) {
  const status = params.get("status") || "activated";
  const holder = h("div", { id: "graph" });
  const form = h("form", { class: "toolbar" }, h("label", {}, "relations", select("status", status,
    [["activated", "activated"], ["all", "all (with corrected)"], ["invalid", "invalid"]], { id: "graph-status" })));
  form.addEventListener("change", () => { location.hash = `#/cube/${enc(cube)}/graph?status=${enc(form.status.value)}`; });
  put(view, ...cubeTabs(cube, "graph"), form, h("p", { class: "muted", id: "graph-summary" }, "loading…"), holder);
  const [data, cytoscape] = await Promise.all([api(`/cubes/${enc(cube)}/relations?status=${enc(status)}`), loadCytoscape()]);
  document.getElementById("graph-summary").textContent = data.edges.length
    ? `${data.nodes.length} ${data.nodes.length === 1 ? "entity" : "entities"}, ${data.edges.length} ${data.edges.length === 1 ? "relation" : "relations"} (from fine-mode extraction; click an edge for its memory; dashed: corrected)`
    : "No relations in this cube (relations come from fine-mode memorize with a chat model).";
  if (!data.edges.length) { holder.hidden = true; return; }
  const cy = cytoscape({
    container: holder,
    elements: [...data.nodes.map(n => ({ data: { id: "n:" + n.id, label: n.label } })),
      ...data.edges.map(e => ({ data: { id: "e:" + e.id, source: "n:" + e.source, target: "n:" + e.target, label: e.relation,
        status: e.status, memory: e.memory_ids[0] || "" } }))],
    style: [
      { selector: "node", style: { label: "data(label)", "background-color": "#2f5fd0", color: "#1d1d1f", "font-size": 14,
        "text-valign": "bottom", "text-margin-y": 4, width: 18, height: 18 } },
      { selector: "edge", style: { label: "data(label)", "curve-style": "bezier", "target-arrow-shape": "triangle",
        width: 1.5, "line-color": "#9aa5bd", "target-arrow-color": "#9aa5bd", "font-size": 12, color: "#555",
        "text-rotation": "autorotate", "text-background-color": "#fff", "text-background-opacity": 0.8 } },
      { selector: "edge[status != 'activated']", style: { "line-style": "dashed", "line-color": "#d9a3a3" } },
    ],
    layout: { name: "cose", animate: false, nodeRepulsion: 400000, idealEdgeLength: 110, nodeOverlap: 20,
      padding: 30, componentSpacing: 80 },
    maxZoom: 2.5, wheelSensitivity: 0.3,
  });
  cy.on("tap", "edge", ev => { const m = ev.target.data("memory"); if (m) location.hash = `#/memory/${enc(m)}`; });
  window.__inspectorGraph = cy;
}

async function memoryView(id) {
  const data = await api(`/memories/${enc(id)}`);
  const m = data.memory;
  currentCube = m.cube_id; markActive();
  const field = (name, value) => [h("dt", {}, name), h("dd", {}, value ?? "–")];
  const link = r => r ? h("a", { href: `#/memory/${enc(r.id)}`, class: "memory-ref" }, r.memory, " ", badge(r.status)) : "–";
  const text = h("textarea", { id: "edit-text", name: "memory" }, m.memory);
  const title = h("input", { id: "edit-key", name: "key", value: m.key, size: 40 });
  const tags = h("input", { id: "edit-tags", name: "tags", value: m.tags.join(", "), size: 40 });
  const reason = h("input", { id: "edit-reason", name: "reason", placeholder: "why (goes into the change log)", size: 40 });
  const act = async (fn, after) => {
    try { showError(null); await fn(); after ? after() : route(); } catch (err) { showError(err); }
  };
  const save = () => act(() => api(`/memories/${enc(id)}`, { method: "PATCH", body: { memory: text.value, key: title.value,
    tags: tags.value.split(",").map(t => t.trim()).filter(Boolean), reason: reason.value } }));
  const setStatus = s => act(() => api(`/memories/${enc(id)}`, { method: "PATCH", body: { status: s, reason: reason.value } }));
  const confirmBox = h("span", { id: "confirm-delete", hidden: true }, "Delete for good? ",
    h("button", { class: "danger", id: "delete-confirm", onclick: () => act(() => api(`/memories/${enc(id)}`, { method: "DELETE" }),
      () => { location.hash = `#/cube/${enc(m.cube_id)}`; }) }, "Yes, delete"),
    " ", h("button", { class: "secondary", onclick: () => { confirmBox.hidden = true; } }, "No"));
  put(view, 
    h("p", {}, h("a", { href: `#/cube/${enc(m.cube_id)}` }, `← cube ${m.cube_id}`)),
    h("h1", { id: "memory-title" }, m.text),
    h("div", { class: "card" }, h("dl", { class: "fields", id: "memory-fields" },
      field("id", h("span", { class: "mono" }, m.id)), field("kind", `${m.kind} (${m.memory_type})`), field("status", badge(m.status)),
      field("user / cube", `${m.user_id} / ${m.cube_id}`), field("session", m.session_id),
      field("happened at", when(m.happened_at)), field("created", when(m.created_at)), field("updated", when(m.updated_at)),
      field("impression", num(m.impression, 3)), field("recalled", `${m.recall_count} times (last ${when(m.last_recalled_at)})`),
      field("mentioned", `${m.mention_count} times`), field("tags", m.tags.join(", ")), field("entities", (m.entities || []).join(", ")),
      field("confidence", m.confidence), field("superseded by", link(data.superseded_by)),
      field("replaced", data.superseded.length ? h("span", {}, data.superseded.map((r, i) => [i ? "; " : "", link(r)])) : "–"))),
    h("h2", {}, "Edit"),
    h("div", { class: "card", id: "edit" },
      h("label", {}, "text", text), h("div", { class: "row" }, h("label", {}, "title", title), h("label", {}, "tags (comma separated)", tags)),
      h("label", {}, "reason", reason),
      h("div", { class: "row" }, h("button", { id: "save", onclick: save }, "Save"),
        m.status === "archived" || m.status === "invalid"
          ? h("button", { class: "secondary", id: "activate", onclick: () => setStatus("activated") }, "Activate")
          : h("button", { class: "secondary", id: "archive", onclick: () => setStatus("archived") }, "Archive"),
        h("button", { class: "danger", id: "delete", onclick: () => { confirmBox.hidden = false; } }, "Delete"), confirmBox)),
    h("h2", {}, "History"),
    h("ol", { class: "timeline", id: "timeline" }, data.timeline.map(e => h("li", { class: `event-${e.event}` },
      h("div", { class: "at" }, when(e.at)),
      e.event === "created" ? [h("div", {}, e.text, e.task_id ? ` by task ${e.task_id}` : ""),
        e.sources && e.sources.length ? h("div", { class: "muted" }, "from message ", e.sources.map((s, i) => [i ? "; " : "",
          `#${s.position ?? "?"} (${s.role || "?"}${s.character ? " " + s.character : ""}${s.chat_time ? ", said " + when(s.chat_time) : ""}${s.message_id ? ", id " + s.message_id : ""})`]),
          ` in session ${e.session_id || "–"}`) : null,
        e.from_memories.length ? h("div", {}, "from raw memories: ", e.from_memories.map((r, i) => [i ? "; " : "", link(r)])) : null]
      : e.event === "replaced" ? h("div", {}, "replaced ", link(e.related))
      : [h("div", { class: "change" }, badge(e.status_before), " → ", badge(e.status_after), " ", e.reason),
        e.related ? h("div", {}, "related: ", link(e.related)) : null]))));
}

async function tasksView(params) {
  const status = params.get("status") || "all";
  const form = h("form", { class: "toolbar" }, h("label", {}, "status", select("status", status,
    [["all", "all"], ["waiting", "queued (waiting)"], ["in_progress", "running"], ["failed", "failed"], ["completed", "completed"], ["cancelled", "cancelled"]],
    { id: "task-status" })));
  form.addEventListener("change", () => { location.hash = `#/tasks?status=${enc(form.status.value)}`; });
  put(view, h("h1", {}, "Tasks"), form, h("p", { class: "muted" }, "loading…"));
  const data = await api(`/tasks?status=${enc(status)}`);
  const action = (t, what) => h("button", { class: "secondary", dataset: { action: what },
    onclick: async () => { try { showError(null); await api(`/tasks/${enc(t.id)}/${what}`, { method: "POST" }); route(); } catch (err) { showError(err); } } }, what);
  put(view, h("h1", {}, "Tasks"), form, data.tasks.length ? h("table", { id: "tasks" },
    h("thead", {}, h("tr", {}, ["kind", "user", "status", "attempts", "created", "updated", "error", ""].map(c => h("th", {}, c)))),
    h("tbody", {}, data.tasks.map(t => h("tr", { dataset: { id: t.id } },
      h("td", {}, t.kind), h("td", {}, t.user_id), h("td", {}, badge(t.status)), h("td", { class: "num" }, t.attempts),
      h("td", { class: "when" }, when(t.created_at)), h("td", { class: "when" }, when(t.updated_at)),
      h("td", { class: "mono" }, t.error || ""),
      h("td", {}, ["failed", "cancelled"].includes(t.status) ? action(t, "retry") : null,
        ["waiting", "in_progress"].includes(t.status) ? action(t, "cancel") : null)))))
    : h("p", { class: "muted" }, "No tasks."));
}

// ------------------------------------------------------------------------------------------
// router

let treeLoaded = false;
async function route() {
  const { parts, params } = parseHash();
  showError(null);
  try {
    const home = !["cube", "memory", "tasks"].includes(parts[0]);
    if (!treeLoaded) { treeLoaded = true; if (!home) await loadTree(); }  // the home view loads it itself
    if (parts[0] === "cube" && parts[1]) {
      currentCube = parts[1]; markActive();
      if (parts[2] === "recall") await recallView(parts[1], params);
      else if (parts[2] === "graph") await graphView(parts[1], params);
      else await memoriesView(parts[1], params);
    } else if (parts[0] === "memory" && parts[1]) {
      await memoryView(parts[1]);
    } else if (parts[0] === "tasks") {
      currentCube = null; markActive(); await tasksView(params);
    } else {
      currentCube = null; await homeView();
    }
  } catch (err) {
    put(view, h("p", { class: "muted" }, "Nothing to show."));
    showError(err);
  }
  document.body.dataset.readyMs = performance.now().toFixed(1);  // benchmarks/ui_load.py
  document.body.dataset.ready = location.hash || "#/";
}

window.addEventListener("hashchange", route);
route();
