// Small helpers shared by the page's modules.

// el("li", {class: "x", onclick: f}, "text", child…) builds an element.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node[name] = value;
    else if (value !== false && value != null) node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== "" && child != null));
  return node;
}

const player = document.getElementById("player");

// Plays one recording of the library (the same element, so a new sound stops the last one).
export function playSound(templateId, url) {
  player.src = url || `/api/v1/library/${encodeURIComponent(templateId)}/audio`;
  player.play().catch(showError);
}

const toast = document.getElementById("toast");
let hideTimer;

export function showError(error) {
  toast.textContent = error.message || String(error);
  toast.hidden = false;
  clearTimeout(hideTimer);
  hideTimer = setTimeout(() => { toast.hidden = true; }, 6000);
}
