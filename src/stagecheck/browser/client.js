// The migration guide's two client paths, as a page runs them; stagecheck's Python side judges
// what they saw. Nothing here parses SSE: the SSE client hands back the raw body chunks, so the
// rules core judges the bytes the browser received, through stagecheck's own SSE parser.
"use strict";

// Milliseconds since the Unix epoch on the page's monotonic clock (Date.now() may jump).
const stamp = () => performance.timeOrigin + performance.now();

function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function describe(error) {
  return error && error.name ? `${error.name}: ${error.message}` : String(error);
}

// A wait bounded by `ms`: on timeout the controller aborts the fetch and the wait rejects
// with {kind: "idle"}; the whole-stream deadline aborts with {kind: "total"}.
function bounded(promise, ms, controller) {
  let id;
  const timeout = new Promise((_, reject) => {
    id = setTimeout(() => {
      const reason = { kind: "idle" };
      controller.abort(reason);
      reject(reason);
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(id));
}

function ending(error, controller) {
  const reason = controller.signal.aborted ? controller.signal.reason : null;
  if (reason && reason.kind) return { at: stamp(), kind: reason.kind, error: reason.kind };
  if (error && error.kind) return { at: stamp(), kind: error.kind, error: error.kind };
  return { at: stamp(), kind: "network", error: describe(error) };
}

// The guide's SSE client: fetch(POST, use_streaming true) + response.body.getReader().
async function sseStream(o) {
  const record = { sent: stamp(), head: null, chunks: [], end: null };
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort({ kind: "total" }), o.totalMs);
  try {
    const response = await bounded(
      fetch(o.url, {
        method: "POST",
        headers: o.headers,
        body: JSON.stringify(o.body),
        signal: controller.signal,
        cache: "no-store",
      }),
      o.idleMs,
      controller,
    );
    record.head = { at: stamp(), status: response.status, headers: [...response.headers] };
    if (response.body) {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await bounded(reader.read(), o.idleMs, controller);
        const at = stamp();
        if (done) break;
        record.chunks.push({ at, data: toBase64(value) });
      }
    }
    record.end = { at: stamp(), kind: null, error: null };
  } catch (error) {
    record.end = ending(error, controller);
  } finally {
    clearTimeout(deadline);
  }
  return record;
}

function isTerminalOf(text, taskId) {
  try {
    const message = JSON.parse(text);
    return (message.type === "done" || message.type === "error") && message.task_id === taskId;
  } catch (error) {
    return false;
  }
}

// The guide's WebSocket client: POST (202 + task_id), then new WebSocket(ws_url + "?task_id=" + id),
// closed by the client after the task's terminal event.
async function wsStream(o) {
  const record = { sent: stamp(), answer: null, opened: null, messages: [], closed: null };
  const started = performance.now();
  const controller = new AbortController();
  let taskId;
  try {
    const response = await bounded(
      fetch(o.url, { method: "POST", headers: o.headers, body: JSON.stringify(o.body), signal: controller.signal }),
      o.idleMs,
      controller,
    );
    const text = await bounded(response.text(), o.idleMs, controller);
    record.answer = { at: stamp(), status: response.status, headers: [...response.headers], body: text };
    try {
      taskId = JSON.parse(text).task_id;
    } catch (error) {
      taskId = undefined;
    }
  } catch (error) {
    record.answer = { at: stamp(), status: null, headers: [], body: "", error: ending(error, controller) };
    return record;
  }
  if (record.answer.status !== 202 || typeof taskId !== "string") return record;
  const left = Math.max(1, o.totalMs - (performance.now() - started));
  await new Promise((resolve) => {
    let socket;
    let idle;
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      clearTimeout(deadline);
      record.closed = closed;
      resolve();
    };
    const clientClose = (kind) => {
      const at = stamp();
      try {
        socket.close(1000);
      } catch (error) {
        // already closing
      }
      finish({ at, code: kind ? null : 1000, reason: "", byClient: true, kind });
    };
    const rearm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => clientClose("idle"), o.idleMs);
    };
    const deadline = setTimeout(() => clientClose("total"), left);
    try {
      socket = new WebSocket(o.socketUrl + encodeURIComponent(taskId) + o.socketSuffix);
    } catch (error) {
      finish({ at: stamp(), code: null, reason: "", byClient: false, kind: "handshake", error: describe(error) });
      return;
    }
    socket.binaryType = "arraybuffer";
    rearm();
    socket.onopen = () => {
      record.opened = stamp();
      rearm();
    };
    socket.onmessage = (event) => {
      const at = stamp();
      rearm();
      if (typeof event.data === "string") {
        record.messages.push({ at, text: event.data });
        if (isTerminalOf(event.data, taskId)) clientClose(null);
      } else {
        record.messages.push({ at, binary: toBase64(new Uint8Array(event.data)) });
      }
    };
    socket.onclose = (event) => {
      const kind = record.opened === null ? "handshake" : null;
      finish({ at: stamp(), code: event.code, reason: event.reason, byClient: false, kind, clean: event.wasClean });
    };
  });
  return record;
}

window.stagecheck = { sseStream, wsStream, ready: true };
