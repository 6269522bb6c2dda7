"use strict";
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("desk-token") || "";
let me = null;
let selected = null;
let lastMessageId = 0;
let savedReplies = [];
let conversationLanguage = null;

async function api(method, path, body) {
  const res = await fetch("/api/desk" + path, {
    method,
    headers: { "authorization": "Bearer " + token, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401) { logout(data.error || "Please log in"); throw new Error("unauthorized"); }
  if (!res.ok) throw new Error(data.error || ("HTTP " + res.status));
  return data;
}

function show(error) { $("error").textContent = error ? String(error.message || error) : ""; }
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
function ago(ms) { const m = Math.max(0, Math.round((Date.now() - ms) / 60000)); return m < 60 ? m + " min" : Math.floor(m / 60) + " h " + (m % 60) + " min"; }

function logout(message) {
  token = ""; me = null; sessionStorage.removeItem("desk-token");
  $("app").hidden = true; $("login").hidden = false; $("login-error").textContent = message || "";
}

async function login() {
  token = $("token").value.trim() || token;
  try {
    me = await api("GET", "/me");
    sessionStorage.setItem("desk-token", token);
    $("login").hidden = true; $("app").hidden = false;
    $("who").textContent = "Signed in as " + me.name;
    await loadAgents();
    await loadSavedReplies();
    $("crisis-mode").hidden = !me.admin;
    $("erasures-panel").hidden = !me.admin;
    refresh(); loadKpis();
  } catch (e) { if (e.message !== "unauthorized") $("login-error").textContent = e.message; }
}

async function loadAgents() {
  const select = $("transfer-to");
  select.replaceChildren(new Option("back to the queue", "queue"));
  try {
    const { agents } = await api("GET", "/agents");
    for (const a of agents) if (!a.disabled) select.appendChild(new Option("to " + a.name, String(a.id)));
  } catch (e) { show(e); }
}

function renderItems(container, items) {
  container.replaceChildren();
  if (!items.length) { container.appendChild(el("div", "empty", "Nothing here")); return; }
  for (const it of items) {
    const row = el("div", "item" + (it.conversation_id === selected ? " active" : ""));
    row.dataset.id = it.conversation_id;
    const top = el("div", "top");
    top.appendChild(el("strong", "", it.customer_name || it.customer_id));
    top.appendChild(el("span", "label", ago(it.waiting_since)));
    row.appendChild(top);
    const tags = el("div");
    tags.appendChild(el("span", "badge" + (it.priority >= 4 ? " hot" : ""), "P" + it.priority));
    for (const t of [it.channel, it.language, it.reason, it.intent]) if (t) tags.appendChild(el("span", "badge", t));
    if (it.anger != null && it.anger >= 0.5) tags.appendChild(el("span", "badge hot", "anger " + it.anger.toFixed(2)));
    if (it.agent) tags.appendChild(el("span", "badge", "agent " + it.agent));
    row.appendChild(tags);
    row.appendChild(el("div", "last", it.last_message || ""));
    if (it.permalink && it.permalink.startsWith("https://")) {
      const link = el("a", "permalink", "see the post");
      link.href = it.permalink; link.target = "_blank"; link.rel = "noopener noreferrer";
      link.onclick = (e) => e.stopPropagation();
      row.appendChild(link);
    }
    row.onclick = () => open(it.conversation_id);
    container.appendChild(row);
  }
}

async function refresh() {
  if (!me) return;
  try {
    const q = new URLSearchParams();
    if ($("filter-language").value) q.set("language", $("filter-language").value);
    if ($("filter-channel").value) q.set("channel", $("filter-channel").value);
    const data = await api("GET", "/queue?" + q);
    renderItems($("queue"), data.items);
    renderItems($("claimed"), data.claimed);
    if (selected) await loadConversation(false);
    const crisis = await api("GET", "/crisis");
    $("crisis").hidden = crisis.mode === "normal";
    $("crisis").textContent = "Crisis mode: " + crisis.mode;
    if (document.activeElement !== $("crisis-mode")) $("crisis-mode").value = crisis.mode;
    await loadLearning();
    if (me.admin) await loadErasures();
    show("");
  } catch (e) { if (e.message !== "unauthorized") show(e); }
}

async function open(id) {
  selected = id; lastMessageId = 0;
  $("transcript").replaceChildren();
  await loadConversation(true);
  await loadCustomer();
  refresh();
}

// The customer panel: every conversation of the customer on every linked channel, with its
// outcome and ratings; notes and tags; linking another identity of the same person.
function renderCustomer(p) {
  const box = $("customer");
  box.replaceChildren();
  const ids = el("div", "identities");
  for (const i of p.identities) {
    const chip = el("span", "identity", i.channel + ": " + i.customer_id);
    if (p.identities.length > 1) {
      const unlink = el("button", "unlink", "unlink");
      unlink.type = "button";
      unlink.onclick = () => customerAction("DELETE", "/customer/links/" + encodeURIComponent(i.channel) + "/" + encodeURIComponent(i.customer_id));
      chip.appendChild(unlink);
    }
    ids.appendChild(chip);
  }
  box.appendChild(ids);
  box.appendChild(el("div", "label", "language " + (p.language || "?") + (p.tags.length ? " · tags " + p.tags.join(", ") : "")));
  for (const c of p.conversations) {
    const rated = c.csat.length ? " · rated " + c.csat.join(", ") : "";
    const line = el("div", "past", c.channel + " · " + c.outcome.replace("_", " ") + " · " + c.messages + " messages" + rated + " · " + ago(c.last_customer_ms) + " ago");
    line.dataset.channel = c.channel;
    box.appendChild(line);
  }
  $("customer-notes").value = p.notes;
  $("customer-tags").value = p.tags.join(", ");
  $("customer-panel").hidden = false;
}

async function loadCustomer() {
  try { renderCustomer(await api("GET", "/conversations/" + selected + "/customer")); }
  catch (e) { if (e.message !== "unauthorized") show(e); }
}

async function customerAction(method, path, body) {
  try { renderCustomer(await api(method, "/conversations/" + selected + path, body)); show(""); }
  catch (e) { if (e.message !== "unauthorized") show(e); }
}

$("customer-save").onclick = () => {
  const tags = $("customer-tags").value.split(",").map((t) => t.trim()).filter((t) => t);
  customerAction("PUT", "/customer", { notes: $("customer-notes").value, tags });
};
$("customer-link").onsubmit = (e) => {
  e.preventDefault();
  const id = $("link-id").value.trim();
  if (!id) return;
  customerAction("POST", "/customer/links", { channel: $("link-channel").value, customer_id: id })
    .then(() => { if (!$("error").textContent) $("link-id").value = ""; });
};

async function loadConversation(full) {
  const c = await api("GET", "/conversations/" + selected + (full ? "" : "?after=" + lastMessageId));
  $("conversation-title").textContent = (c.customer_name || c.customer_id) + " · " + c.channel + " · " + (c.language || "?");
  const open = c.handoffs.filter((h) => h.resolved_ms == null)[0];
  const holder = open ? open.agent : null;
  $("actions").hidden = false;
  $("reply").hidden = false;
  $("claim").disabled = holder === me.key;
  $("claim").textContent = holder && holder !== me.key ? "Claimed by " + holder : holder === me.key ? "Yours" : "Claim";
  $("resolve").disabled = !open;
  $("transfer").disabled = !open;
  $("conversation-meta").textContent = "status " + c.status + (open ? " · reason " + open.reason : "");
  $("reply-window").textContent = replyWindowText(c.reply_as);
  conversationLanguage = c.language;
  $("send").disabled = c.reply_as && c.reply_as.kind === "nothing";
  for (const m of c.messages) {
    const who = m.author === "customer" ? "customer" : m.author === "bot" ? "bot" : "agent " + (m.agent_name || m.author.slice(6));
    const box = el("div", "msg" + (m.direction === "out" ? " out" : "") + (m.author.startsWith("agent:") ? " agent" : ""));
    const details = [who, new Date(m.created_ms).toLocaleTimeString()];
    if (m.intent) details.push(m.intent + (m.confidence != null ? " " + m.confidence.toFixed(2) : ""));
    if (m.language) details.push(m.language);
    if (m.anger != null) details.push("anger " + m.anger.toFixed(2));
    box.appendChild(el("div", "who", details.join(" · ")));
    box.appendChild(el("div", "", m.text));
    $("transcript").appendChild(box);
    lastMessageId = Math.max(lastMessageId, m.id);
  }
  if (c.messages.length) $("transcript").scrollTop = $("transcript").scrollHeight;
}

// Saved replies: typing "/" and a shortcut in the reply box offers the operator's canned
// answers (the conversation's language first); choosing one puts its text in the box.
async function loadSavedReplies() {
  try { savedReplies = (await api("GET", "/saved-replies")).items; } catch (e) { if (e.message !== "unauthorized") show(e); }
}

function offerSavedReplies() {
  const value = $("reply-text").value;
  const box = $("saved-replies");
  if (!value.startsWith("/")) { box.hidden = true; box.replaceChildren(); return; }
  const typed = value.slice(1).trim().toLowerCase();
  const first = (r) => (r.language === conversationLanguage ? 0 : 1);
  const matches = savedReplies
    .filter((r) => r.rendered !== undefined && r.shortcut.startsWith(typed))
    .sort((a, b) => first(a) - first(b) || a.shortcut.localeCompare(b.shortcut));
  box.replaceChildren(...matches.slice(0, 8).map((r) => {
    const choice = el("button", "saved-reply", "/" + r.shortcut + " (" + r.language + ") " + r.rendered);
    choice.type = "button";
    choice.onclick = () => { $("reply-text").value = r.rendered; box.hidden = true; box.replaceChildren(); $("reply-text").focus(); };
    return choice;
  }));
  box.hidden = matches.length === 0;
}
$("reply-text").oninput = offerSavedReplies;

// What the reply box will send, from the conversation's `reply_as` (the messaging window).
function replyWindowText(how) {
  if (!how || how.kind === "message") return "";
  if (how.kind === "private_reply") return "A public comment: your reply goes to the customer as a private message answering it (Meta allows one per comment, within 7 days).";
  if (how.kind === "human_agent_tag") return "More than 24 hours since the customer wrote: your reply goes out tagged HUMAN_AGENT (allowed up to 7 days).";
  if (how.kind === "template") return "The 24-hour window is closed: your reply goes out as the approved WhatsApp template \u201c" + how.template + "\u201d (" + how.language + "), your text as its variable.";
  return "Nothing can be sent now: " + how.reason;
}

async function act(method, path, body) {
  try { await api(method, "/conversations/" + selected + path, body); show(""); await loadConversation(false); refresh(); loadKpis(); }
  catch (e) { if (e.message !== "unauthorized") show(e); }
}

function bars(rows, max, color) {
  const width = 260, row = 18;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", width); svg.setAttribute("height", rows.length * row + 4);
  rows.forEach(([label, value, shown], i) => {
    const w = max > 0 ? Math.round((value / max) * 70) : 0;
    const y = i * row + 2;
    const t = document.createElementNS(svg.namespaceURI, "text");
    t.setAttribute("x", 0); t.setAttribute("y", y + 12); t.textContent = label; svg.appendChild(t);
    const r = document.createElementNS(svg.namespaceURI, "rect");
    r.setAttribute("x", 100); r.setAttribute("y", y + 2); r.setAttribute("width", w); r.setAttribute("height", 12);
    r.setAttribute("rx", 2); r.setAttribute("fill", color); svg.appendChild(r);
    const v = document.createElementNS(svg.namespaceURI, "text");
    v.setAttribute("x", 104 + w); v.setAttribute("y", y + 12); v.textContent = shown; svg.appendChild(v);
  });
  return svg;
}

function kpiBlock(label, big, chart) {
  const box = el("div", "kpi");
  box.appendChild(el("div", "label", label));
  if (big !== undefined) box.appendChild(el("div", "big", big));
  if (chart) box.appendChild(chart);
  return box;
}

const pct = (x) => x == null ? "–" : Math.round(x * 100) + "%";
const mins = (ms) => ms == null ? "–" : ms < 60000 ? Math.round(ms / 1000) + " s" : Math.round(ms / 60000) + " min";

async function loadKpis() {
  try {
    const k = await api("GET", "/stats");
    const o = k.overall;
    const box = $("kpis");
    box.replaceChildren();
    box.appendChild(kpiBlock("Conversations · handed off", o.conversations + " · " + o.handed_off));
    box.appendChild(kpiBlock("Containment (no human needed)", pct(o.containment_rate)));
    const reasons = Object.entries(o.handoffs_by_reason).map(([r, v]) => [r, v.count, v.count + " (" + pct(v.rate) + ")"]);
    box.appendChild(kpiBlock("Handoffs by reason", undefined, bars(reasons, Math.max(1, ...reasons.map((r) => r[1])), "#2f6fed")));
    const times = [
      ["bot reply p50", o.first_response_ms.bot.p50], ["human reply p50", o.first_response_ms.human.p50],
      ["claim p50", o.time_to_claim_ms.p50], ["resolve p50", o.resolution_ms.p50],
    ].map(([l, v]) => [l, v || 0, mins(v)]);
    box.appendChild(kpiBlock("Response times", undefined, bars(times, Math.max(1, ...times.map((t) => t[1])), "#27ae60")));
    box.appendChild(kpiBlock("CSAT (1–5)", (o.csat.average == null ? "–" : o.csat.average.toFixed(1)) + " from " + o.csat.count));
    if (k.comments && k.comments.total) {
      const c = k.comments;
      const rows = [["received", c.total, String(c.total)], ["private", c.answered_privately, c.answered_privately + " (" + pct(c.share_answered_privately) + ")"], ["public", c.answered_publicly, String(c.answered_publicly)]];
      box.appendChild(kpiBlock("Public comments", undefined, bars(rows, Math.max(1, c.total), "#c0392b")));
    }
    const channels = Object.entries(k.by_channel).map(([c, v]) => [c, v.conversations, v.conversations + " · " + pct(v.containment_rate)]);
    box.appendChild(kpiBlock("By channel (containment)", undefined, bars(channels, Math.max(1, ...channels.map((c) => c[1])), "#8e44ad")));
    const langs = Object.entries(k.by_language).map(([l, v]) => [l, v.conversations, v.conversations + " · " + pct(v.containment_rate)]);
    box.appendChild(kpiBlock("By language (containment)", undefined, bars(langs, Math.max(1, ...langs.map((c) => c[1])), "#e67e22")));
  } catch (e) { if (e.message !== "unauthorized") show(e); }
}

// What the bot was unsure about: the agent picks the intent the customer meant (or
// out_of_scope) and saves it as training data.
async function loadLearning() {
  const { items, intents } = await api("GET", "/learning?limit=10");
  const box = $("learning");
  box.replaceChildren();
  if (!items.length) { box.appendChild(el("div", "empty", "Nothing to review")); return; }
  for (const m of items) {
    const row = el("div", "kpi learn");
    row.appendChild(el("div", "", "“" + m.text + "”"));
    row.appendChild(el("div", "label", "bot guessed " + m.predicted + " (" + Math.round(m.confidence * 100) + "%) · " + (m.language || "?")));
    const pick = el("select");
    pick.setAttribute("aria-label", "Intent of: " + m.text);
    for (const intent of intents) {
      const o = el("option", "", intent);
      o.value = intent;
      if (intent === m.predicted) o.selected = true;
      pick.appendChild(o);
    }
    const b = el("button", "", "Save");
    b.onclick = async () => {
      try { await api("POST", "/learning/" + m.message_id, { intent: pick.value }); refresh(); } catch (e) { show(e); }
    };
    row.appendChild(pick);
    row.appendChild(b);
    box.appendChild(row);
  }
}

async function loadErasures() {
  const { items } = await api("GET", "/erasure-requests");
  const box = $("erasures");
  box.replaceChildren();
  if (!items.length) { box.appendChild(el("div", "empty", "None")); return; }
  for (const r of items) {
    const row = el("div", "kpi");
    row.appendChild(el("div", "", r.channel + " · " + r.customer_id + " · " + ago(r.created_ms) + " ago"));
    const b = el("button", "", "Confirm erasure");
    b.onclick = async () => {
      if (!confirm("Erase everything held about this customer?")) return;
      try { await api("POST", "/erasure-requests/" + r.id + "/confirm", {}); refresh(); } catch (e) { show(e); }
    };
    row.appendChild(b);
    box.appendChild(row);
  }
}

$("crisis-mode").onchange = async () => {
  const mode = $("crisis-mode").value;
  const body = { mode };
  if (mode === "holding") {
    const text = prompt("Holding message sent to every customer before the handoff:");
    if (!text) { refresh(); return; }
    body.message = text;
  }
  try { await api("PUT", "/crisis", body); refresh(); } catch (e) { show(e); }
};
$("login-button").onclick = login;
$("token").onkeydown = (e) => { if (e.key === "Enter") login(); };
$("logout").onclick = () => logout("");
$("filter-language").onchange = refresh;
$("filter-channel").onchange = refresh;
$("claim").onclick = () => act("POST", "/claim");
$("transfer").onclick = () => {
  const to = $("transfer-to").value;
  act("POST", "/transfer", to === "queue" ? { queue: true } : { agent_id: Number(to) });
};
$("resolve").onclick = () => {
  const note = $("note").value.trim();
  act("POST", "/resolve", note ? { note } : {}).then(() => { $("note").value = ""; });
};
$("reply").onsubmit = (e) => {
  e.preventDefault();
  const text = $("reply-text").value.trim();
  if (!text) return;
  act("POST", "/messages", { text }).then(() => { if (!$("error").textContent) $("reply-text").value = ""; });
};
setInterval(refresh, 3000);
setInterval(loadKpis, 30000);
if (token) login(); else logout("");
