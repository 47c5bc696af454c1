// The sound picker: a dialog listing recordings in groups (a category each, the best-fitting
// first), each playable, with a search field. Used to change a placed sound and to add one.
import { FIT, categoryName, duration } from "./words.js";
import { el, playSound } from "./ui.js";

const dialog = document.getElementById("picker");
const title = document.getElementById("picker-title");
const search = document.getElementById("picker-search");
const list = document.getElementById("picker-groups");
const failure = document.getElementById("picker-error");
let session = 0;  // a newer opening or search makes older answers stale

document.getElementById("picker-close").onclick = () => dialog.close();
dialog.addEventListener("close", () => { session++; });

// load(query) → [{category, label?, fit?, sounds: [{id, description, source, licence, duration,
// user, current, audio_url}]}]; onUse(id) applies the choice (the dialog closes when it worked).
export function openPicker({ heading, load, onUse }) {
  const mine = ++session;
  title.textContent = heading;
  search.value = "";
  failure.hidden = true;
  let timer;
  const refresh = async () => {
    list.replaceChildren(el("p", { class: "hint" }, "Finding sounds…"));
    try {
      const groups = await load(search.value.trim());
      if (mine === session) show(groups, onUse);
    } catch (error) {
      if (mine === session) list.replaceChildren(el("p", { class: "error" }, error.message));
    }
  };
  search.oninput = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  };
  dialog.showModal();
  refresh();
}

function show(groups, onUse) {
  const found = groups.filter((group) => group.sounds.length);
  if (!found.length) {
    list.replaceChildren(el("p", { class: "hint" }, "No sound matches; try other words."));
    return;
  }
  list.replaceChildren(...found.map((group) => el("section", { class: "picker-group" },
    el("h3", {}, group.label || categoryName(group.category),
      group.fit ? el("span", { class: `fit fit-${group.fit}` }, FIT[group.fit] || group.fit) : ""),
    el("ul", { class: "list" }, ...group.sounds.map((sound) => row(sound, onUse))))));
}

function row(sound, onUse) {
  const name = sound.description || sound.id;
  const details = [sound.source || (sound.user ? "your own recording" : ""), sound.licence, duration(sound.duration)];
  return el("li", { class: sound.current ? "current" : "" },
    el("button", { type: "button", class: "icon", "aria-label": `Play ${name}`, title: "Play",
                   onclick: () => playSound(sound.id, sound.audio_url) }, "▶"),
    el("span", { class: "grow" }, name, el("small", {}, details.filter(Boolean).join(" · "))),
    sound.current ? el("span", { class: "in-use" }, "in use")
      : el("button", { type: "button", class: "use", value: sound.id,
                       "aria-label": `Use ${name}`, onclick: (event) => use(event.target, sound.id, onUse) }, "Use"));
}

async function use(button, id, onUse) {
  const buttons = [...list.querySelectorAll("button.use")];
  buttons.forEach((b) => { b.disabled = true; });
  button.textContent = "Using…";
  try {
    await onUse(id);
    dialog.close();
  } catch (error) {  // said here: the page's own error line is under the open dialog
    failure.textContent = error.message;
    failure.hidden = false;
    button.textContent = "Use";
    buttons.forEach((b) => { b.disabled = false; });
  }
}
