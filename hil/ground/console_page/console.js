// flightsw ground console: polls the server, draws, and sends commands.
"use strict";

const CONFIRM = new Set(["ABORT", "CAM"]);  // commands that ask before they go
const S = { n: 0, events: 0, t: [], rho: [], vc: [], x: [], y: [], z: [], att: [], mass: [],
            params: {}, dict: null, pending: null };

function el(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

async function post(body) {
  const r = await fetch("/api/command", { method: "POST", body: JSON.stringify(body),
                                          headers: { "Content-Type": "application/json" } });
  const out = await r.json();
  const err = document.getElementById("command-error");
  err.textContent = r.ok ? "" : out.error;
  return out;
}

function rangeText(a) {
  if (a.kind === "enum") return a.choices.join(" | ");
  return `${a.lo} … ${a.hi} ${a.unit === "-" ? "" : a.unit}`.trim();
}

function argInput(cmd, a) {
  const id = `arg-${cmd}-${a.name}`;
  const lab = el("label", { for: id }, `${a.name} (${rangeText(a)})`);
  let input;
  if (a.kind === "enum") {
    input = el("select", { id, name: a.name });
    for (const c of a.choices) input.appendChild(el("option", { value: c }, c));
  } else {
    input = el("input", { id, name: a.name, type: "number", min: a.lo, max: a.hi,
                          step: a.kind === "f64" ? "any" : "1", value: a.lo, required: "" });
  }
  lab.appendChild(input);
  return lab;
}

function send(service, name, args) {
  if (CONFIRM.has(name)) {
    S.pending = { service, name, args };
    document.getElementById("confirm-text").textContent =
      `Send ${name}? ${name === "CAM" ? "An escape burn, then a coast: the approach ends."
                                        : "A guided retreat: the approach ends."}`;
    document.getElementById("confirm").classList.remove("hidden");
    return;
  }
  post({ service, name, args });
}

function buildCommands(dict) {
  const box = document.getElementById("commands");
  for (const c of dict.commands) {
    const f = el("form", { class: "cmd", id: `form-${c.name}` });
    const b = el("button", { type: "submit", id: `cmd-${c.name}`,
                             class: CONFIRM.has(c.name) ? "danger" : "" }, c.name);
    f.appendChild(b);
    f.appendChild(el("div", { class: "help" },
                     `${c.description} — accepted in ${c.states.join(", ")}`));
    for (const a of c.args) f.appendChild(argInput(c.name, a));
    f.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (!f.reportValidity()) return;
      const args = {};
      for (const a of c.args) args[a.name] = f.elements[a.name].value;
      send("function", c.name, args);
    });
    box.appendChild(f);
  }
  // parameter loads (only those the flight software takes in flight)
  const live = dict.parameters.filter((p) => p.live);
  const pf = el("form", { class: "cmd", id: "form-parameter" });
  pf.appendChild(el("button", { type: "submit", id: "cmd-parameter" }, "Load parameter"));
  const sel = el("select", { name: "path", id: "arg-parameter-path" });
  for (const p of live) {
    sel.appendChild(el("option", { value: p.path },
                       `${p.path} (${p.lo ?? "-∞"} … ${p.hi ?? "∞"})`));
  }
  pf.appendChild(el("label", {}, "parameter")).appendChild(sel);
  pf.appendChild(el("label", {}, "value"))
    .appendChild(el("input", { name: "value", type: "number", step: "any", required: "" }));
  pf.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!pf.reportValidity()) return;
    post({ service: "parameter_set", name: pf.elements.path.value,
           args: { value: pf.elements.value.value } });
  });
  box.appendChild(pf);
  const af = el("form", { class: "cmd" });
  af.appendChild(el("button", { type: "submit", id: "cmd-alive" }, "Are you alive?"));
  af.addEventListener("submit", (ev) => { ev.preventDefault(); post({ service: "are_you_alive" }); });
  box.appendChild(af);
}

function layout(title, x, y) {
  // datarevision: the arrays grow in place, so tell Plotly they changed; uirevision keeps
  // the operator's zoom across updates
  return { title: { text: title, font: { size: 13 } }, margin: { l: 55, r: 10, t: 30, b: 40 },
           xaxis: { title: { text: x } }, yaxis: { title: { text: y } },
           showlegend: false, datarevision: S.n, uirevision: title };
}

function glideslope() {
  const p = S.params;
  if (!("guidance.v_max_mps" in p)) return [[], [], []];
  const top = Math.max(300, ...S.rho.slice(-1));
  const r = [], v = [], lim = [];
  for (let i = 0; i <= 100; i++) {
    const rho = (top * i) / 100;
    const g = Math.min(p["guidance.v_max_mps"],
                       p["guidance.v_contact_mps"] + p["guidance.glideslope_gain_1ps"] * rho);
    r.push(rho); v.push(g);
    lim.push(p["guidance.speed_limit_factor"] * g + p["guidance.speed_limit_margin_mps"]);
  }
  return [r, v, lim];
}

function draw() {
  const cfg = { displayModeBar: false, responsive: true };
  const [gr, gv, gl] = glideslope();
  Plotly.react("plot-range", [
    { x: S.rho, y: S.vc, mode: "lines", name: "closing speed" },
    { x: gr, y: gv, mode: "lines", line: { dash: "dash" }, name: "glideslope" },
    { x: gr, y: gl, mode: "lines", line: { dash: "dot", color: "#c1121f" }, name: "limit" },
  ], layout("Range rate against the glideslope", "range [m]", "closing speed [m/s]"), cfg);
  Plotly.react("plot-hill", [{ x: S.y, y: S.x, mode: "lines", name: "chaser" }],
               layout("Approach in the Hill frame", "along-track y [m]", "radial x [m]"), cfg);
  Plotly.react("plot-att", [{ x: S.t, y: S.att, mode: "lines" }],
               layout("Attitude error", "mission time [s]", "error [deg]"), cfg);
  const m0 = S.mass.length ? S.mass[0] : 0;
  Plotly.react("plot-prop", [{ x: S.t, y: S.mass.map((m) => m0 - m), mode: "lines" }],
               layout("Propellant used (estimate)", "mission time [s]", "[kg]"), cfg);
}

function update(s) {
  document.getElementById("state").textContent = s.state ?? "—";
  document.getElementById("hold").textContent = s.hold_index ?? "—";
  document.getElementById("met").textContent = s.t_s === null ? "—" : `${s.t_s.toFixed(1)} s`;
  const link = document.getElementById("link");
  link.textContent = s.connected ? "link: up" : "link: lost";
  link.className = s.connected ? "good" : "bad";
  document.getElementById("hold-point").classList.toggle("hidden", !s.waiting);
  if (s.waiting) {
    document.getElementById("hold-text").textContent =
      `Hold point ${s.hold_index}: the vehicle is settled and waiting for GO.`;
  }
  for (const row of s.samples) {
    S.t.push(row[0]); S.rho.push(row[1]); S.vc.push(row[2]);
    S.x.push(row[3]); S.y.push(row[4]); S.z.push(row[5]); S.att.push(row[6]); S.mass.push(row[7]);
  }
  S.n = s.n;
  S.params = s.params;
  const list = document.getElementById("events");
  for (const e of s.events) {
    const li = el("li", { class: e.severity }, `${e.t_s.toFixed(1)} s  ${e.name}: ${e.text}`);
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
  }
  S.events = s.n_events;
  const tb = document.querySelector("#verification tbody");
  tb.replaceChildren(...s.commands.slice().reverse().map((c) => {
    const tr = el("tr", { id: `verif-${c.seq}` });
    tr.appendChild(el("td", {}, String(c.seq)));
    tr.appendChild(el("td", {}, c.name || c.service));
    tr.appendChild(el("td", { class: "stages" }, c.stages.join(" → ")));
    tr.appendChild(el("td", {}, c.reason));
    return tr;
  }));
  const hb = document.querySelector("#health tbody");
  hb.replaceChildren(...Object.entries(s.health).map(([k, v]) => {
    const tr = el("tr");
    tr.appendChild(el("td", {}, k));
    tr.appendChild(el("td", {}, String(v)));
    return tr;
  }));
  if (s.samples.length) draw();
}

async function poll() {
  try {
    const r = await fetch(`/api/snapshot?since=${S.n}&events=${S.events}`);
    if (r.ok) update(await r.json());
  } catch (e) {
    document.getElementById("link").textContent = "console server unreachable";
  }
  setTimeout(poll, 500);
}

async function start() {
  const r = await fetch("/api/dictionary");
  S.dict = await r.json();
  buildCommands(S.dict);
  document.getElementById("go").addEventListener("click", () => post({ service: "function", name: "GO" }));
  document.getElementById("no-go").addEventListener("click", () => post({ service: "function", name: "NO_GO" }));
  document.getElementById("confirm-yes").addEventListener("click", () => {
    document.getElementById("confirm").classList.add("hidden");
    if (S.pending) post(S.pending);
    S.pending = null;
  });
  document.getElementById("confirm-no").addEventListener("click", () => {
    document.getElementById("confirm").classList.add("hidden");
    S.pending = null;
  });
  draw();
  poll();
}

start();
