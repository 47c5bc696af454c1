// The clip's upload with progress: fetch() cannot report how much of a request body has been
// sent, XMLHttpRequest can. onProgress(fraction, secondsLeft) is called as bytes leave.
import { ApiError, UNREACHABLE, unlock } from "./api.js";
import { lostConnection } from "./connection.js";

function post(path, body, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    const started = performance.now();
    request.open("POST", path);
    request.responseType = "json";
    request.upload.onprogress = (event) => {
      if (!event.lengthComputable || !event.total) return;
      const fraction = event.loaded / event.total;
      const elapsed = (performance.now() - started) / 1000;
      // Time left from the average rate so far; unknown until a little has been sent.
      const left = fraction > 0.02 && elapsed > 0.3 ? (elapsed * (1 - fraction)) / fraction : null;
      onProgress(fraction, left);
    };
    request.onload = () => resolve(request);
    request.onerror = () => {
      lostConnection();
      reject(new ApiError(UNREACHABLE, 0));
    };
    request.send(body);
  });
}

export async function upload(path, body, onProgress) {
  let request = await post(path, body, onProgress);
  if (request.status === 401) {
    await unlock();
    request = await post(path, body, onProgress);
  }
  if (request.status < 200 || request.status >= 300) {
    throw new ApiError(request.response?.error || `${request.status} ${request.statusText}`, request.status);
  }
  return request.response;
}
