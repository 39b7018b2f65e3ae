/* The desk's whole-ledger verification: start the server-side job, then poll its progress. */
(function () {
  "use strict";
  const form = document.getElementById("verify-ledger-form");
  const bar = document.getElementById("check-progress");
  const message = document.getElementById("check-message");
  if (!form || !bar || !message) return;
  const button = form.querySelector("button");

  function show(state) {
    message.textContent = state.message;
    bar.max = state.total || 1;
    bar.value = state.total ? state.done : (state.ok === null ? 0 : 1);
    message.className = state.running ? "" : state.ok === true ? "verified" : state.ok === false ? "failed" : "";
  }

  async function poll() {
    const response = await fetch(form.dataset.status, { credentials: "same-origin", cache: "no-store" });
    const state = await response.json();
    if (!response.ok) { message.textContent = state.error; button.disabled = false; return; }
    show(state);
    if (state.running) { setTimeout(poll, 250); } else { button.disabled = false; }
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    button.disabled = true;
    const response = await fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": form.elements.csrf_token.value },
    });
    const answer = await response.json().catch(() => ({}));
    if (answer.message || answer.error) message.textContent = answer.message || answer.error;
    if (response.ok || response.status === 409) { poll(); } else { button.disabled = false; }
  });
})();
