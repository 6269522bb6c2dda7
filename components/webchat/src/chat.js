"use strict";
const log = document.getElementById("log");
// The session the server issued on the first message; sent with every later call.
let session = localStorage.getItem("chat-session");
let conversation = localStorage.getItem("chat-conversation");
function headers() {
  const h = { "content-type": "application/json" };
  if (session) h.authorization = "Bearer " + session;
  return h;
}
// A session the server no longer knows (erased, or another database): start afresh.
function forget() {
  session = null;
  conversation = null;
  localStorage.removeItem("chat-session");
  localStorage.removeItem("chat-conversation");
}
function add(text, who) {
  const div = document.createElement("div");
  div.className = "msg " + who;
  div.textContent = text;
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return div;
}
let lastId = 0, sending = false;
async function send(text, payload) {
  sending = true;
  try { await post(text, payload); } finally { sending = false; }
}
// Replies from a person (and the rating question) arrive while the customer waits.
async function poll() {
  if (!conversation || sending) return;
  const q = new URLSearchParams({ conversation_id: conversation, after: lastId });
  const res = await fetch("/api/chat?" + q, { headers: headers() });
  if (res.status === 401) { forget(); return; }
  if (!res.ok || sending) return;
  const data = await res.json();
  for (const m of data.messages) add((m.agent_name ? m.agent_name + ": " : "") + m.text, "bot");
  lastId = data.last_message_id;
}
setInterval(() => poll().catch(() => {}), 3000);
async function post(text, payload) {
  add(text, "me");
  const body = { text };
  if (payload) body.payload = payload;
  if (conversation) body.conversation_id = conversation;
  const res = await fetch("/api/chat", { method: "POST", headers: headers(), body: JSON.stringify(body) });
  const data = await res.json();
  if (res.status === 401) forget();
  if (!res.ok) { add("Error: " + (data.error || res.status), "bot"); return; }
  if (data.session) {
    session = data.session;
    localStorage.setItem("chat-session", session);
  }
  conversation = data.conversation_id;
  localStorage.setItem("chat-conversation", conversation);
  lastId = data.last_message_id || lastId;
  for (const reply of data.replies) {
    add(reply.text, "bot");
    if (reply.options) {
      const row = document.createElement("div");
      row.className = "options";
      for (const option of reply.options) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = option.title;
        b.onclick = () => send(option.title, option.payload);
        row.appendChild(b);
      }
      log.appendChild(row);
    }
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = [data.language, data.intent, data.confidence != null ? data.confidence.toFixed(2) : null, data.handoff ? "handed off" : null].filter(Boolean).join(" · ");
  log.appendChild(meta);
}
document.getElementById("form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = document.getElementById("text");
  const text = input.value.trim();
  input.value = "";
  if (text) send(text);
});
