// Calls to API v1. A 401 (a request from another machine without the token) asks for the
// token once, logs in (the server keeps it in an HttpOnly cookie) and retries the call. A
// request that cannot reach the appliance shows the connection banner (connection.js); reads
// wait for it to answer again and retry, changes fail with a plain message (they may have
// been applied, so they are not sent twice).
import { lostConnection, whenReachable } from "./connection.js";

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export const UNREACHABLE = "The appliance could not be reached. Try again when it is back.";

export async function errorOf(response) {
  const body = await response.json().catch(() => ({}));
  return new ApiError(body.error || `${response.status} ${response.statusText}`, response.status);
}

async function reach(path, options) {
  for (;;) {
    await whenReachable();
    try {
      return await fetch(path, options);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      lostConnection();
      if ((options.method || "GET") !== "GET") throw new ApiError(UNREACHABLE, 0);
    }
  }
}

export async function api(path, options = {}) {
  let response = await reach(path, options);
  if (response.status === 401) {
    await unlock();
    response = await reach(path, options);
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

// Asks for the token (once for all the calls that need it) and logs in.
export function unlock() {
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
      }).catch(() => null);
      if (response?.ok) {
        dialog.close();
        unlocking = null;
        resolve();
      } else {
        problem.textContent = response ? (await errorOf(response)).message : UNREACHABLE;
        problem.hidden = false;
      }
    };
    dialog.showModal();
  });
  return unlocking;
}
