// The sound library: search, play, add your own sound, remove it; and the library searched
// in the picker's groups (to add a sound to a result).
import { getJSON, send } from "./api.js";
import { el, playSound, showError } from "./ui.js";
import { categoryName, duration } from "./words.js";

const list = document.getElementById("library");
const search = document.getElementById("library-search");
const form = document.getElementById("sound-form");
const status = document.getElementById("sound-status");

const find = async (query, limit) =>
  (await getJSON(`/api/v1/library?limit=${limit}&q=${encodeURIComponent(query)}`)).templates;

async function refresh() {
  const templates = await find(search.value.trim(), 30);
  list.replaceChildren(...templates.map((sound) => el("li", {},
    el("button", { type: "button", class: "icon", title: "Play", "aria-label": `Play ${sound.description || sound.id}`,
                   onclick: () => playSound(sound.id) }, "▶"),
    el("span", { class: "grow" }, sound.description || sound.id,
      el("small", {}, [categoryName(sound.category), duration(sound.duration), sound.licence, sound.source]
        .filter(Boolean).join(" · "))),
    sound.origin === "user" ? el("button", { type: "button", onclick: () => remove(sound) }, "Remove") : "")));
}

// The library's answer to `query` (best first) in groups by category, for the picker.
export async function soundGroups(query) {
  const groups = new Map();
  for (const sound of await find(query, 60)) {
    if (!groups.has(sound.category)) groups.set(sound.category, { category: sound.category, sounds: [] });
    groups.get(sound.category).sounds.push({ ...sound, user: sound.origin === "user" });
  }
  return [...groups.values()];
}

async function remove(sound) {
  if (!confirm(`Remove “${sound.description || sound.id}” from the library?`)) return;
  await send("DELETE", `/api/v1/library/${encodeURIComponent(sound.id)}`).catch(showError);
  await refresh();
}

export async function initLibrary() {
  let timer;
  search.oninput = () => {
    clearTimeout(timer);
    timer = setTimeout(() => refresh().catch(showError), 250);
  };
  form.onsubmit = async (event) => {
    event.preventDefault();
    status.textContent = "Adding…";
    try {
      const sound = await send("POST", "/api/v1/library", new FormData(form));
      status.textContent = `Added “${sound.description || sound.id}” (${categoryName(sound.category)}).`;
      form.reset();
      search.value = sound.description || sound.category;  // list it, with its Remove button
      await refresh();
    } catch (error) {
      status.textContent = error.message;
    }
  };
  const { categories } = await getJSON("/api/v1/categories");
  form.elements.category.replaceChildren(...categories.map((c) =>
    el("option", { value: c.name, title: c.description }, categoryName(c.name))));
  await refresh();
}
