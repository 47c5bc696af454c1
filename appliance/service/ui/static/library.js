// The sound library: search, play, add your own sound, remove it.
import { getJSON, send } from "./api.js";
import { el, playSound, seconds, showError } from "./ui.js";

const list = document.getElementById("library");
const search = document.getElementById("library-search");
const form = document.getElementById("sound-form");
const status = document.getElementById("sound-status");

async function refresh() {
  const query = search.value.trim();
  const { templates } = await getJSON(`/api/v1/library?limit=30&q=${encodeURIComponent(query)}`);
  list.replaceChildren(...templates.map((sound) => el("li", {},
    el("button", { type: "button", class: "icon", title: "Play", onclick: () => playSound(sound.id) }, "▶"),
    el("span", { class: "grow" }, sound.description || sound.id,
      el("small", {}, `${sound.category.replaceAll("_", " ")} · ${seconds(sound.duration)} · ${sound.licence}`)),
    sound.origin === "user" ? el("button", { type: "button", onclick: () => remove(sound) }, "Remove") : "")));
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
      status.textContent = `Added “${sound.description || sound.id}” (${sound.category}).`;
      form.reset();
      search.value = sound.description || sound.category;  // list it, with its Remove button
      await refresh();
    } catch (error) {
      status.textContent = error.message;
    }
  };
  const { categories } = await getJSON("/api/v1/categories");
  form.elements.category.replaceChildren(...categories.map((c) =>
    el("option", { value: c.name, title: c.description }, c.name.replaceAll("_", " "))));
  await refresh();
}
