// Calls to API v1. A 401 (a request from another machine without the token) asks for the
// token once, logs in (the server keeps it in an HttpOnly cookie) and retries the call.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function errorOf(response) {
  const body = await response.json().catch(() => ({}));
  return new ApiError(body.error || `${response.status} ${response.statusText}`, response.status);
}

export async function api(path, options = {}) {
  let response = await fetch(path, options);
  if (response.status === 401) {
    await unlock();
    response = await fetch(path, options);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function getJSON(path) {
  return (await api(path)).json();
}

export async function send(method, path, body) {
  const options = { method };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.headers = { "Content-Type": "application/json" };
    options.body = JSON.stringify(body);
  }
  const response = await api(path, options);
  return response.status === 204 ? null : response.json();
}

let unlocking = null;

function unlock() {
  unlocking ??= new Promise((resolve) => {
    const dialog = document.getElementById("login");
    const input = document.getElementById("login-token");
    const problem = document.getElementById("login-error");
    dialog.oncancel = (event) => event.preventDefault();  // nothing works without it
    document.getElementById("login-form").onsubmit = async (event) => {
      event.preventDefault();
      const response = await fetch("/api/v1/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: input.value.trim() }),
      });
      if (response.ok) {
        dialog.close();
        unlocking = null;
        resolve();
      } else {
        problem.textContent = (await errorOf(response)).message;
        problem.hidden = false;
      }
    };
    dialog.showModal();
  });
  return unlocking;
}
